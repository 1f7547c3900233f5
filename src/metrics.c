/* The metric stream: see metrics.h. */
#include "config.h"

#include <fcntl.h>

#include "metrics.h"
#include "util.h"

Metrics *metrics_new(void)
{
	return xcalloc(1, sizeof(Metrics));
}

Metrics *metrics_free(Metrics *m)
{
	if (!m)
		return NULL;
	for (size_t i = 0; i < m->n; i++) {
		free(m->series[i].name);
		free(m->series[i].step);
		free(m->series[i].value);
	}
	free(m->series);
	free(m);
	return NULL;
}

static MetricSeries *series_get(Metrics *m, const char *name)
{
	for (size_t i = 0; i < m->n; i++)
		if (streq(m->series[i].name, name))
			return &m->series[i];
	m->series = xrealloc(m->series, (m->n + 1) * sizeof *m->series);
	MetricSeries *s = &m->series[m->n++];
	*s = (MetricSeries){.name = xstrdup(name)};
	return s;
}

static void series_push(MetricSeries *s, double step, double value)
{
	if (s->n == s->cap) {
		s->cap = s->cap ? 2 * s->cap : 16;
		s->step = xrealloc(s->step, s->cap * sizeof *s->step);
		s->value = xrealloc(s->value, s->cap * sizeof *s->value);
	}
	s->step[s->n] = step;
	s->value[s->n] = value;
	s->n++;
}

static bool blank(const char *line, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (!strchr(" \t\r\n", line[i]))
			return false;
	return true;
}

int metrics_add_line(Metrics *m, const char *line, size_t len)
{
	if (blank(line, len))
		return 0;
	m->lines++;
	json_auto_t *o = json_loadb(line, len, 0, NULL);
	if (!json_is_object(o)) {
		m->malformed++;
		return -EBADMSG;
	}
	const json_t *stepj = json_object_get(o, "step");
	const char *k;
	json_t *v;
	json_object_foreach (o, k, v) {
		if (!json_is_number(v) || streq(k, "step"))
			continue;
		MetricSeries *s = series_get(m, k);
		double step = json_is_number(stepj) ? json_number_value(stepj)
		                                    : (double)s->n;
		series_push(s, step, json_number_value(v));
	}
	return 1;
}

int metrics_load(const char *path, size_t max, Metrics **ret)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0 && errno != ENOENT)
		return negative_errno();
	Metrics *m = metrics_new();
	if (fd < 0) {
		*ret = m;
		return 0;
	}
	FILE *f = fdopen(fd, "r");
	if (!f) {
		metrics_free(m);
		return negative_errno();
	}
	/* cppcheck-suppress unreadVariable */
	(void)TAKE_FD(fd); /* the FILE owns it now */
	char *line = NULL;
	size_t cap = 0, total = 0;
	ssize_t len;
	while ((len = getline(&line, &cap, f)) > 0) {
		total += (size_t)len;
		if (total > max) {
			m->truncated = true;
			break;
		}
		(void)metrics_add_line(m, line, (size_t)len);
	}
	int r = ferror(f) ? -EIO : 0;
	free(line);
	fclose(f);
	if (r < 0) {
		metrics_free(m);
		return r;
	}
	*ret = m;
	return 0;
}

const MetricSeries *metrics_find(const Metrics *m, const char *name)
{
	for (size_t i = 0; m && i < m->n; i++)
		if (streq(m->series[i].name, name))
			return &m->series[i];
	return NULL;
}

static char *value_text(const json_t *v)
{
	if (json_is_real(v))
		return format_double(json_real_value(v));
	return json_dumps_shortest(v, JSON_COMPACT | JSON_ENCODE_ANY);
}

char *metrics_line_text(const char *line, size_t len)
{
	json_auto_t *o = json_loadb(line, len, 0, NULL);
	if (!json_is_object(o))
		return NULL;
	_cleanup_free_ char *s = xstrdup("");
	const json_t *step = json_object_get(o, "step");
	if (step) {
		_cleanup_free_ char *t = value_text(step);
		char *n = xasprintf("step=%s", t ? t : "?");
		free(s);
		s = n;
	}
	const char *k;
	json_t *v;
	json_object_foreach (o, k, v) {
		if (streq(k, "step"))
			continue;
		_cleanup_free_ char *t = value_text(v);
		char *n = xasprintf("%s%s%s=%s", s, *s ? " " : "", k,
		                    t ? t : "?");
		free(s);
		s = n;
	}
	return TAKE_PTR(s);
}
