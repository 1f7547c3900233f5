/* The runs × params × metrics table: see runtable.h. */
#include "config.h"

#include "runtable.h"
#include "util.h"

const json_t *runtable_param(const Record *r, const char *key)
{
	return json_object_get(json_object_get(r->root, "params"), key);
}

const json_t *runtable_metric(const Record *r, const char *key)
{
	const json_t *m =
	        json_object_get(json_get_path(r->root, "result.metrics"), key);
	const json_t *v = json_object_get(m, "last");
	return json_is_number(v) ? v : NULL;
}

const char *runtable_verdict(const Record *r)
{
	const json_t *v = json_object_get(r->root, "verification");
	if (!json_is_object(v))
		return NULL;
	return json_is_true(json_object_get(v, "reproduced")) ? "reproduced"
	                                                      : "differs";
}

static int cmp_column(const void *a, const void *b)
{
	return strcmp(((const RunColumn *)a)->key, ((const RunColumn *)b)->key);
}

/* The keys of section (params, or result.metrics) over every run,
 * sorted, each with whether its value differs between runs. */
static RunColumn *columns(Record *const *v, size_t n, bool metric,
                          size_t *ret_n)
{
	json_auto_t *keys = json_object();
	for (size_t i = 0; i < n; i++) {
		const json_t *o =
		        metric ? json_get_path(v[i]->root, "result.metrics")
		               : json_object_get(v[i]->root, "params");
		const char *k;
		json_t *x;
		json_object_foreach ((json_t *)o, k, x)
			json_object_set_new(keys, k, json_true());
	}
	size_t m = json_object_size(keys), j = 0;
	RunColumn *c = xcalloc(m ? m : 1, sizeof *c);
	const char *k;
	json_t *x;
	json_object_foreach (keys, k, x) {
		c[j].key = xstrdup(k);
		const json_t *first = NULL;
		for (size_t i = 0; i < n && !c[j].differs; i++) {
			const json_t *val = metric ? runtable_metric(v[i], k)
			                           : runtable_param(v[i], k);
			if (i == 0)
				first = val;
			else if (!first != !val ||
			         (val &&
			          !json_equal((json_t *)first, (json_t *)val)))
				c[j].differs = true;
		}
		j++;
	}
	sort_v(c, m, sizeof *c, cmp_column);
	*ret_n = m;
	return c;
}

static bool strings_differ(Record *const *v, size_t n, bool status)
{
	for (size_t i = 1; i < n; i++) {
		const char *a = status ? record_status(v[0])
		                       : json_get_string(v[0]->root, "name");
		const char *b = status ? record_status(v[i])
		                       : json_get_string(v[i]->root, "name");
		if (!a != !b || (a && !streq(a, b)))
			return true;
	}
	return false;
}

RunTable *runtable_new(Record *const *v, size_t n)
{
	RunTable *t = xcalloc(1, sizeof *t);
	t->params = columns(v, n, false, &t->nparams);
	t->metrics = columns(v, n, true, &t->nmetrics);
	t->name_differs = strings_differ(v, n, false);
	t->status_differs = strings_differ(v, n, true);
	for (size_t i = 0; i < n; i++)
		t->any_name |= json_get_string(v[i]->root, "name") != NULL;
	return t;
}

RunTable *runtable_free(RunTable *t)
{
	if (!t)
		return NULL;
	for (size_t i = 0; i < t->nparams; i++)
		free(t->params[i].key);
	for (size_t i = 0; i < t->nmetrics; i++)
		free(t->metrics[i].key);
	free(t->params);
	free(t->metrics);
	free(t);
	return NULL;
}
