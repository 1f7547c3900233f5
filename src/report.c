/* The HTML report: see report.h. The page is built top to bottom into
 * a memory stream: head (style), the runs table, the charts, the runs'
 * provenance, the difference of two runs, then the data and the small
 * script that sorts, hovers and picks the two runs. */
#include "config.h"

#include <stdio.h>

#include <stdarg.h>

#include "annotations.h"
#include "format.h"
#include "report.h"
#include "runtable.h"
#include "spec.h"
#include "util.h"

/* Escaping */

char *report_html_escape(const char *s)
{
	_cleanup_free_ char *e = format_escape(s ? s : "");
	size_t n = 0;
	for (const char *p = e; *p; p++)
		n += strchr("&<>\"'", *p) ? 6 : 1;
	char *out = xmalloc(n + 1), *o = out;
	for (const char *p = e; *p; p++) {
		const char *rep = *p == '&'    ? "&amp;"
		                  : *p == '<'  ? "&lt;"
		                  : *p == '>'  ? "&gt;"
		                  : *p == '"'  ? "&quot;"
		                  : *p == '\'' ? "&#39;"
		                               : NULL;
		if (rep) {
			memcpy(o, rep, strlen(rep));
			o += strlen(rep);
		} else
			*o++ = *p;
	}
	*o = 0;
	return out;
}

char *report_json_for_script(const char *json)
{
	size_t n = strlen(json);
	char *out = xmalloc(6 * n + 1), *o = out;
	for (const char *p = json; *p; p++) {
		const unsigned char *u = (const unsigned char *)p;
		if (*p == '<' || *p == '>' || *p == '&') {
			o += snprintf(o, 7, "\\u%04x", (unsigned)*u);
		} else if (u[0] == 0xe2 && u[1] == 0x80 &&
		           (u[2] == 0xa8 || u[2] == 0xa9)) {
			o += snprintf(o, 7, "\\u%04x", 0x2000u + u[2] - 0x80u);
			p += 2;
		} else
			*o++ = *p;
	}
	*o = 0;
	return out;
}

/* Output helpers: h() escaped text, raw text as it is. */
static void h(FILE *f, const char *s)
{
	_cleanup_free_ char *e = report_html_escape(s);
	fputs(e, f);
}

static void hf(FILE *f, const char *fmt, ...) _printf_(2, 3);
static void hf(FILE *f, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	_cleanup_free_ char *s = NULL;
	if (vasprintf(&s, fmt, ap) < 0)
		s = NULL;
	va_end(ap);
	h(f, s);
}

static const char *gets_(const json_t *o, const char *dotted)
{
	const json_t *v = json_get_path(o, dotted);
	return json_is_string(v) ? json_string_value(v) : NULL;
}

static char *number_text(double d)
{
	char buf[FORMAT_DOUBLE_MAX];
	format_double_shortest(d, buf);
	return xstrdup(buf);
}

/* Colours and dashes of the curves: run i gets palette[i % 10], and a
 * dash pattern of its own for each further ten. */
static const char *const palette[] = {
        "#4e79a7", "#f28e2b", "#e15759", "#59a14f", "#b07aa1",
        "#76b7b2", "#edc948", "#ff9da7", "#9c755f", "#7f7f7f",
};
static const char *const dashes[] = {"", "6 3", "2 3", "8 3 2 3"};

static const char *run_color(size_t i)
{
	return palette[i % ELEMENTSOF(palette)];
}

static const char *run_dash(size_t i)
{
	return dashes[(i / ELEMENTSOF(palette)) % ELEMENTSOF(dashes)];
}

/* "3f2a91c0 lr=0.1 bs=32": the short id, the name, and the params that
 * differ between the runs: what tells the curves apart. */
static char *run_label(const Record *r, const RunTable *t)
{
	const char *id = record_id(r);
	_cleanup_free_ char *s = xstrndup(id ? id : "?", 8);
	const char *name = json_get_string(r->root, "name");
	if (name) {
		char *n = xasprintf("%s %s", s, name);
		free(s);
		s = n;
	}
	for (size_t i = 0; i < t->nparams; i++) {
		if (!t->params[i].differs)
			continue;
		const json_t *v = runtable_param(r, t->params[i].key);
		_cleanup_free_ char *vt =
		        !v                  ? xstrdup("-")
		        : json_is_string(v) ? xstrdup(json_string_value(v))
		                            : param_json_text(v);
		char *n = xasprintf("%s %s=%s", s, t->params[i].key, vt);
		free(s);
		s = n;
		if (strlen(s) > 80)
			break;
	}
	return TAKE_PTR(s);
}

/* Axes: "nice" ticks (1, 2 or 5 times a power of ten), without libm. */
static bool is_finite(double x)
{
	return x - x == 0; /* false for infinities and NaN */
}

/* The power of ten at or below x > 0 (a normal double). */
static double pow10_floor(double x)
{
	double m = 1;
	while (m <= x / 10)
		m *= 10;
	while (m > x && m / 10 > 0)
		m /= 10;
	return m;
}

static double nice_step(double range, int target)
{
	double raw = range / target;
	if (!(raw > 1e-300) || !is_finite(raw))
		return range > 0 && is_finite(range) ? range : 1;
	double mag = pow10_floor(raw), f = raw / mag;
	return (f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10) * mag;
}

/* x rounded down (up) to a multiple of step; x itself where the
 * quotient is beyond what an integer holds exactly. */
static double floor_to(double x, double step)
{
	double q = x / step;
	if (!(q < 9e15 && q > -9e15))
		return x;
	long long k = (long long)q;
	if ((double)k > q)
		k--;
	return (double)k * step;
}

static double ceil_to(double x, double step)
{
	double q = x / step;
	if (!(q < 9e15 && q > -9e15))
		return x;
	long long k = (long long)q;
	if ((double)k < q)
		k++;
	return (double)k * step;
}

typedef struct Axis {
	double lo, hi, step;
} Axis;

/* An axis from lo to hi (finite), widened to whole ticks where that
 * can be done; hi > lo always. Positions are computed on halves, so
 * that hi - lo near the largest double cannot overflow. */
static Axis axis_for(double lo, double hi, bool integer)
{
	if (!(hi > lo)) {
		double pad = lo == 0 ? 1 : (lo < 0 ? -lo : lo) / 10;
		lo -= pad;
		hi += pad;
		if (!is_finite(lo) || !is_finite(hi) || !(hi > lo))
			return (Axis){-1, 1, 1};
	}
	double half = hi / 2 - lo / 2;
	double step = nice_step(2 * half, 5);
	if (integer && step < 1)
		step = 1;
	double a = floor_to(lo, step), b = ceil_to(hi, step);
	if (!is_finite(a) || !is_finite(b) || !(b > a) ||
	    !is_finite(b / 2 - a / 2))
		return (Axis){lo, hi, half / 2.5};
	return (Axis){a, b, step};
}

/* The chart geometry, in the SVG's own units. */
enum { CW = 640, CH = 300, ML = 64, MR = 16, MT = 12, MB = 40 };

static double frac(const Axis *a, double x)
{
	return (x / 2 - a->lo / 2) / (a->hi / 2 - a->lo / 2);
}

static double px(const Axis *a, double x)
{
	return ML + frac(a, x) * (CW - ML - MR);
}

static double py(const Axis *a, double y)
{
	return CH - MB - frac(a, y) * (CH - MT - MB);
}

/* At most this many ticks on an axis (a step too small for the axis's
 * magnitude stops earlier). */
#define TICKS_MAX 24

static void tick_label(FILE *f, double v, double step)
{
	/* Enough digits for the step, no noise from binary fractions. */
	if (v > -step / 1e6 && v < step / 1e6)
		v = 0;
	char buf[64];
	snprintf(buf, sizeof buf, "%.6g", v);
	h(f, buf);
}

/* Metric names over every run, in the order they first come. */
static char **metric_names(const ReportRun *runs, size_t n)
{
	char **v = NULL;
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; runs[i].metrics && j < runs[i].metrics->n;
		     j++) {
			const char *name = runs[i].metrics->series[j].name;
			if (!strv_has(v, name))
				v = strv_push(v, name);
		}
	return v;
}

/* The axes of metric's chart over the n runs: the range of their steps
 * and values. */
static void chart_axes(const ReportRun *runs, size_t n, const char *metric,
                       Axis *ret_x, Axis *ret_y)
{
	double x0 = 0, x1 = 0, y0 = 0, y1 = 0;
	bool any = false, integer_steps = true;
	for (size_t i = 0; i < n; i++) {
		const MetricSeries *s = metrics_find(runs[i].metrics, metric);
		for (size_t k = 0; s && k < s->n; k++) {
			double x = s->step[k], y = s->value[k];
			if (!any)
				x0 = x1 = x, y0 = y1 = y, any = true;
			x0 = x < x0 ? x : x0;
			x1 = x > x1 ? x : x1;
			y0 = y < y0 ? y : y0;
			y1 = y > y1 ? y : y1;
			if (!(x < 9e15 && x > -9e15) ||
			    x != (double)(long long)x)
				integer_steps = false;
		}
	}
	*ret_x = axis_for(x0, x1, integer_steps);
	*ret_y = axis_for(y0, y1, false);
}

/* Ticks and grid lines, then the axes; the labels stay inside the
 * margins. */
static void chart_grid(FILE *f, const Axis *ax, const Axis *ay)
{
	fputs("<g class=\"grid\">\n", f);
	for (int k = 0; k <= TICKS_MAX; k++) {
		double v = ay->lo + k * ay->step;
		if (v > ay->hi + ay->step / 2 || (k && v == ay->lo))
			break;
		double y = py(ay, v);
		fprintf(f,
		        "<line x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\"/>"
		        "<text class=\"ytick\" x=\"%d\" y=\"%.1f\">",
		        ML, CW - MR, y, y, ML - 6, y + 4);
		tick_label(f, v, ay->step);
		fputs("</text>\n", f);
	}
	for (int k = 0; k <= TICKS_MAX; k++) {
		double v = ax->lo + k * ax->step;
		if (v > ax->hi + ax->step / 2 || (k && v == ax->lo))
			break;
		double x = px(ax, v);
		fprintf(f,
		        "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%d\" y2=\"%d\"/>"
		        "<text class=\"xtick\" x=\"%.1f\" y=\"%d\">",
		        x, x, MT, CH - MB, x, CH - MB + 16);
		tick_label(f, v, ax->step);
		fputs("</text>\n", f);
	}
	fprintf(f,
	        "</g>\n<g class=\"axes\"><line x1=\"%d\" x2=\"%d\" y1=\"%d\" "
	        "y2=\"%d\"/><line x1=\"%d\" x2=\"%d\" y1=\"%d\" y2=\"%d\"/>"
	        "<text class=\"xlabel\" x=\"%d\" y=\"%d\">step</text></g>\n",
	        ML, CW - MR, CH - MB, CH - MB, ML, ML, MT, CH - MB,
	        (ML + CW - MR) / 2, CH - 4);
}

/* Run i's curve s (at most max_points of it, the last always), and its
 * points as drawn into series. */
static void chart_curve(FILE *f, const MetricSeries *s, size_t i,
                        const char *label, const char *metric, const Axis *ax,
                        const Axis *ay, size_t max_points, json_t *series)
{
	size_t stride = (s->n + max_points - 1) / max_points;
	json_t *xs = json_array(), *ys = json_array();
	fprintf(f,
	        "<g class=\"series\" data-run=\"%zu\">"
	        "<polyline class=\"curve\" data-run=\"%zu\" "
	        "data-total=\"%zu\" fill=\"none\" stroke=\"%s\" "
	        "stroke-dasharray=\"%s\" points=\"",
	        i, i, s->n, run_color(i), run_dash(i));
	size_t drawn = 0;
	for (size_t k = 0; k < s->n; k++) {
		if (k % stride && k + 1 != s->n)
			continue;
		fprintf(f, "%s%.2f,%.2f", drawn ? " " : "", px(ax, s->step[k]),
		        py(ay, s->value[k]));
		json_array_append_new(xs, json_real(s->step[k]));
		json_array_append_new(ys, json_real(s->value[k]));
		drawn++;
	}
	fprintf(f, "\" data-points=\"%zu\"/>\n", drawn);
	/* Few points: each a dot with its value on hover, also without the
	 * script (and in print). */
	if (drawn <= 60)
		for (size_t k = 0; k < s->n; k++) {
			_cleanup_free_ char *st = number_text(s->step[k]);
			_cleanup_free_ char *vt = number_text(s->value[k]);
			fprintf(f,
			        "<circle class=\"pt\" cx=\"%.2f\" "
			        "cy=\"%.2f\" r=\"2.5\" fill=\"%s\">"
			        "<title>",
			        px(ax, s->step[k]), py(ay, s->value[k]),
			        run_color(i));
			hf(f, "%s · step %s: %s = %s", label, st, metric, vt);
			fputs("</title></circle>\n", f);
		}
	fputs("</g>\n", f);
	json_array_append_new(series,
	                      json_pack("{s:I,s:o,s:o}", "run", (json_int_t)i,
	                                "x", xs, "y", ys));
}

static void chart(FILE *f, const ReportRun *runs, size_t n, size_t chart_i,
                  const char *metric, char *const *labels, size_t max_points,
                  json_t *data)
{
	Axis ax, ay;
	chart_axes(runs, n, metric, &ax, &ay);
	json_t *series = json_array();
	json_array_append_new(json_object_get(data, "charts"),
	                      json_pack("{s:s,s:[f,f,f,f],s:o}", "metric",
	                                metric, "box", ax.lo, ax.hi, ay.lo,
	                                ay.hi, "series", series));
	fprintf(f, "<figure class=\"chart\" id=\"chart-%zu\" data-metric=\"",
	        chart_i);
	h(f, metric);
	fprintf(f, "\" data-chart=\"%zu\">\n<figcaption>", chart_i);
	h(f, metric);
	fputs("</figcaption>\n", f);
	fprintf(f,
	        "<svg viewBox=\"0 0 %d %d\" role=\"img\" "
	        "preserveAspectRatio=\"xMidYMid meet\" aria-label=\"",
	        CW, CH);
	hf(f, "%s over steps", metric);
	fputs("\">\n", f);
	chart_grid(f, &ax, &ay);
	for (size_t i = 0; i < n; i++) {
		const MetricSeries *s = metrics_find(runs[i].metrics, metric);
		if (s && s->n > 0)
			chart_curve(f, s, i, labels[i], metric, &ax, &ay,
			            max_points, series);
	}
	fprintf(f,
	        "<line class=\"cursor\" x1=\"0\" x2=\"0\" y1=\"%d\" "
	        "y2=\"%d\" visibility=\"hidden\"/>\n</svg>\n",
	        MT, CH - MB);
	fputs("<ul class=\"legend\">", f);
	for (size_t i = 0; i < n; i++) {
		if (!metrics_find(runs[i].metrics, metric))
			continue;
		fprintf(f,
		        "<li><svg class=\"swatch\" viewBox=\"0 0 24 8\" "
		        "aria-hidden=\"true\"><line x1=\"0\" x2=\"24\" "
		        "y1=\"4\" "
		        "y2=\"4\" stroke=\"%s\" "
		        "stroke-dasharray=\"%s\"/></svg>",
		        run_color(i), run_dash(i));
		h(f, labels[i]);
		fputs("</li>", f);
	}
	fputs("</ul>\n<div class=\"tip\" hidden></div>\n</figure>\n", f);
}

/* The runs table */

static void cell_attr_value(FILE *f, const json_t *v)
{
	fputs(" data-v=\"", f);
	if (json_is_number(v)) {
		_cleanup_free_ char *t = number_text(json_number_value(v));
		h(f, t);
	} else if (json_is_string(v))
		h(f, json_string_value(v));
	else if (json_is_boolean(v))
		fputs(json_is_true(v) ? "true" : "false", f);
	fputs("\"", f);
}

/* The table's head: the fixed columns, then a param's, a metric's. */
static void runs_table_head(FILE *f, const RunTable *t)
{
	fputs("<div class=\"scroll\"><table id=\"runs-table\" "
	      "class=\"sortable\">\n<thead><tr>",
	      f);
	static const char *const fixed[] = {"run",     "name",     "status",
	                                    "created", "duration", "tags"};
	for (size_t j = 0; j < ELEMENTSOF(fixed); j++)
		if (j != 1 || t->any_name)
			fprintf(f,
			        "<th data-key=\"%s\" scope=\"col\"><button "
			        "type=\"button\">%s</button></th>",
			        fixed[j], fixed[j]);
	for (size_t j = 0; j < t->nparams; j++) {
		fprintf(f, "<th class=\"param%s\" data-key=\"param:",
		        t->params[j].differs ? "" : " same");
		h(f, t->params[j].key);
		fputs("\" scope=\"col\"><button type=\"button\">", f);
		h(f, t->params[j].key);
		fputs("</button></th>", f);
	}
	for (size_t j = 0; j < t->nmetrics; j++) {
		fputs("<th class=\"metric\" data-key=\"metric:", f);
		h(f, t->metrics[j].key);
		fputs("\" scope=\"col\"><button type=\"button\">", f);
		h(f, t->metrics[j].key);
		fputs("</button></th>", f);
	}
	fputs("</tr></thead>\n<tbody>\n", f);
}

/* Run i's status, created, duration and tags cells. */
static void runs_table_state(FILE *f, const ReportRun *run)
{
	const Record *r = run->rec;
	const char *status = record_status(r);
	const char *verdict = runtable_verdict(r);
	fputs("<td", f);
	json_auto_t *st = json_string(status);
	cell_attr_value(f, st);
	fprintf(f, " class=\"status %s\">",
	        streq(status, "succeeded") ? "ok"
	        : streq(status, "running") ? "live"
	                                   : "bad");
	h(f, status);
	if (verdict) {
		fputs(" <span class=\"verdict\">", f);
		h(f, verdict);
		fputs("</span>", f);
	}
	fputs("</td>", f);
	const json_t *created = json_get_path(r->root, "times.created");
	fputs("<td", f);
	cell_attr_value(f, created);
	fputs(">", f);
	_cleanup_free_ char *local =
	        format_local_time(json_string_value(created));
	h(f, local ? local : "");
	fputs("</td>", f);
	const json_t *dur = json_get_path(r->root, "times.duration");
	fputs("<td class=\"num\"", f);
	cell_attr_value(f, json_is_number(dur) ? dur : NULL);
	fputs(">", f);
	_cleanup_free_ char *d =
	        json_is_number(dur) ? format_duration(json_number_value(dur))
	                            : NULL;
	h(f, d ? d : "");
	fputs("</td><td>", f);
	json_auto_t *tags = annotations_effective_tags(r, run->annotations);
	const char *k;
	json_t *v;
	bool first = true;
	json_object_foreach (tags, k, v) {
		if (streq(k, "sweep") || streq(k, "sweep_index"))
			continue;
		fputs(first ? "" : " ", f);
		fputs("<span class=\"tag\">", f);
		hf(f, "%s=%s", k, json_string_value(v));
		fputs("</span>", f);
		first = false;
	}
	fputs("</td>", f);
}

/* Run r's param and metric cells. */
static void runs_table_values(FILE *f, const Record *r, const RunTable *t)
{
	for (size_t j = 0; j < t->nparams; j++) {
		const json_t *p = runtable_param(r, t->params[j].key);
		fprintf(f, "<td class=\"%s\"", json_is_number(p) ? "num" : "");
		cell_attr_value(f, p);
		fputs(">", f);
		_cleanup_free_ char *pt =
		        !p                  ? NULL
		        : json_is_string(p) ? xstrdup(json_string_value(p))
		                            : param_json_text(p);
		h(f, pt ? pt : "");
		fputs("</td>", f);
	}
	for (size_t j = 0; j < t->nmetrics; j++) {
		const json_t *m = runtable_metric(r, t->metrics[j].key);
		fputs("<td class=\"num\"", f);
		cell_attr_value(f, m);
		fputs(">", f);
		if (m) {
			char buf[64];
			snprintf(buf, sizeof buf, "%.6g", json_number_value(m));
			h(f, buf);
		}
		fputs("</td>", f);
	}
}

static void runs_table(FILE *f, const ReportRun *runs, size_t n,
                       const RunTable *t)
{
	runs_table_head(f, t);
	for (size_t i = 0; i < n; i++) {
		const Record *r = runs[i].rec;
		const char *id = record_id(r);
		fprintf(f, "<tr data-run=\"%zu\"><td data-v=\"", i);
		h(f, id);
		fprintf(f,
		        "\"><svg class=\"swatch\" viewBox=\"0 0 24 8\" "
		        "aria-hidden=\"true\"><line x1=\"0\" x2=\"24\" "
		        "y1=\"4\" y2=\"4\" stroke=\"%s\" "
		        "stroke-dasharray=\"%s\"/></svg><a href=\"#run-%zu\">",
		        run_color(i), run_dash(i), i);
		_cleanup_free_ char *short_id = xstrndup(id ? id : "?", 8);
		h(f, short_id);
		fputs("</a></td>", f);
		const json_t *name = json_object_get(r->root, "name");
		if (t->any_name) {
			fputs("<td", f);
			cell_attr_value(f, name);
			fputs(">", f);
			h(f,
			  json_is_string(name) ? json_string_value(name) : "");
			fputs("</td>", f);
		}
		runs_table_state(f, &runs[i]);
		runs_table_values(f, r, t);
		fputs("</tr>\n", f);
	}
	fputs("</tbody></table></div>\n", f);
}

/* Each run's provenance */

static void dt(FILE *f, const char *label)
{
	fputs("<dt>", f);
	h(f, label);
	fputs("</dt><dd>", f);
}

static void pins(FILE *f, const char *label, const json_t *list)
{
	if (!json_is_array(list) || json_array_size(list) == 0)
		return;
	dt(f, label);
	fputs("<ul class=\"plain\">", f);
	size_t i;
	json_t *p;
	json_array_foreach (list, i, p) {
		_cleanup_free_ char *path =
		        json_bytes_decode(json_object_get(p, "path"), NULL);
		const json_t *bytes = json_object_get(p, "bytes");
		_cleanup_free_ char *b =
		        json_is_integer(bytes)
		                ? format_bytes(
		                          (uint64_t)json_integer_value(bytes))
		                : NULL;
		fputs("<li><code>", f);
		h(f, path ? path : "?");
		fputs("</code> ", f);
		hf(f, "%s, %lld file%s, %s, ",
		   json_get_string(p, "kind") ? json_get_string(p, "kind")
		                              : "?",
		   (long long)json_integer_value(json_object_get(p, "files")),
		   json_integer_value(json_object_get(p, "files")) == 1 ? ""
		                                                        : "s",
		   b ? b : "?");
		fputs("<code class=\"digest\">", f);
		h(f, format_digest_short(json_get_string(p, "digest")));
		fputs("</code>", f);
		const json_t *ch = json_object_get(p, "changes");
		if (json_is_object(ch)) {
			fputs(" ", f);
			hf(f, "(%zu added, %zu modified, %zu deleted)",
			   json_array_size(json_object_get(ch, "added")),
			   json_array_size(json_object_get(ch, "modified")),
			   json_array_size(json_object_get(ch, "deleted")));
		}
		fputs("</li>", f);
	}
	fputs("</ul></dd>\n", f);
}

static void verdict_html(FILE *f, const json_t *rec)
{
	const json_t *v = json_object_get(rec, "verification");
	if (!json_is_object(v))
		return;
	bool ok = json_is_true(json_object_get(v, "reproduced"));
	dt(f, "verdict");
	fprintf(f, "<span class=\"%s\">%s</span> ", ok ? "ok" : "bad",
	        ok ? "reproduced" : "differs");
	hf(f, "(replay of %.8s)",
	   json_get_string(v, "original") ? json_get_string(v, "original")
	                                  : "?");
	size_t i;
	json_t *x;
	bool list = false;
	json_array_foreach (json_object_get(v, "files"), i, x) {
		if (json_is_true(json_object_get(x, "match")))
			continue;
		if (!list)
			fputs("<ul class=\"plain\">", f);
		list = true;
		fputs("<li>differs: <code>", f);
		h(f, json_get_string(x, "path") ? json_get_string(x, "path")
		                                : "?");
		fputs("</code></li>", f);
	}
	if (json_is_object(json_object_get(v, "stdout")) &&
	    !json_is_true(json_get_path(v, "stdout.match"))) {
		if (!list)
			fputs("<ul class=\"plain\">", f);
		list = true;
		fputs("<li>differs: stdout</li>", f);
	}
	if (list)
		fputs("</ul>", f);
	fputs("</dd>\n", f);
}

static void software(FILE *f, const json_t *rec)
{
	const json_t *sw = json_object_get(rec, "software");
	if (!json_is_object(sw))
		return;
	dt(f, "software");
	const json_t *libs = json_object_get(sw, "libraries");
	const json_t *dists = json_get_path(sw, "python.distributions");
	hf(f, "%zu shared libraries", json_array_size(libs));
	if (gets_(sw, "python.version")) {
		const char *pv = gets_(sw, "python.version");
		hf(f, ", Python %.*s with %zu distributions",
		   (int)strcspn(pv, " "), pv, json_array_size(dists));
	}
	if (gets_(sw, "blas.implementation"))
		hf(f, ", BLAS %s", gets_(sw, "blas.implementation"));
	fputs(" <code class=\"digest\">", f);
	h(f, format_digest_short(json_get_string(sw, "sha256")));
	fputs("</code>", f);
	if (json_array_size(libs) + json_array_size(dists) > 0) {
		fputs("<details><summary>list</summary><ul class=\"plain "
		      "cols\">",
		      f);
		size_t i;
		json_t *x;
		json_array_foreach (dists, i, x) {
			fputs("<li>", f);
			hf(f, "%s %s",
			   json_get_string(x, "name")
			           ? json_get_string(x, "name")
			           : "?",
			   json_get_string(x, "version")
			           ? json_get_string(x, "version")
			           : "");
			fputs("</li>", f);
		}
		json_array_foreach (libs, i, x) {
			const char *so = json_get_string(x, "soname");
			fputs("<li>", f);
			hf(f, "%s %s %s", so ? so : "?",
			   json_get_string(x, "package")
			           ? json_get_string(x, "package")
			           : "",
			   json_get_string(x, "package_version")
			           ? json_get_string(x, "package_version")
			           : "");
			fputs("</li>", f);
		}
		fputs("</ul></details>", f);
	}
	fputs("</dd>\n", f);
}

static void source(FILE *f, const json_t *rec)
{
	const json_t *git = json_get_path(rec, "source.git");
	const json_t *ws = json_get_path(rec, "source.workspace");
	if (!json_is_object(git) && !json_is_object(ws))
		return;
	dt(f, "source");
	if (json_is_object(git)) {
		const char *commit = json_get_string(git, "commit");
		hf(f, "git %.12s on %s, %s", commit ? commit : "(no commit)",
		   json_get_string(git, "branch")
		           ? json_get_string(git, "branch")
		           : "(detached)",
		   json_is_true(json_object_get(git, "dirty")) ? "dirty"
		                                               : "clean");
		if (json_get_string(git, "remote"))
			hf(f, ", %s", json_get_string(git, "remote"));
		if (json_is_object(ws))
			fputs("; ", f);
	}
	if (json_is_object(ws)) {
		hf(f, "workspace %lld files ",
		   (long long)json_integer_value(json_object_get(ws, "files")));
		fputs("<code class=\"digest\">", f);
		h(f, format_digest_short(json_get_string(ws, "digest")));
		fputs("</code>", f);
	}
	fputs("</dd>\n", f);
}

static void notes(FILE *f, const json_t *ann)
{
	const json_t *v = json_object_get(ann, "notes");
	if (json_array_size(v) == 0)
		return;
	dt(f, "notes");
	fputs("<ul class=\"plain notes\">", f);
	size_t i;
	json_t *x;
	json_array_foreach (v, i, x) {
		_cleanup_free_ char *when =
		        format_local_time(json_get_string(x, "time"));
		fputs("<li><span class=\"when\">", f);
		h(f, when ? when : "?");
		fputs("</span> ", f);
		h(f, json_get_string(x, "text"));
		fputs("</li>", f);
	}
	fputs("</ul></dd>\n", f);
}

static void metric_summary(FILE *f, const json_t *rec)
{
	const json_t *m = json_get_path(rec, "result.metrics");
	if (json_object_size(m) == 0)
		return;
	dt(f, "metrics");
	fputs("<table class=\"mini\"><thead><tr><th>metric</th><th>last</th>"
	      "<th>min</th><th>max</th><th>count</th></tr></thead><tbody>",
	      f);
	const char *k;
	json_t *x;
	json_object_foreach ((json_t *)m, k, x) {
		fputs("<tr><td>", f);
		h(f, k);
		fputs("</td>", f);
		static const char *const cols[] = {"last", "min", "max",
		                                   "count"};
		for (size_t j = 0; j < ELEMENTSOF(cols); j++) {
			const json_t *v = json_object_get(x, cols[j]);
			char buf[64] = "";
			if (json_is_number(v))
				snprintf(buf, sizeof buf, "%.6g",
				         json_number_value(v));
			fputs("<td class=\"num\">", f);
			h(f, buf);
			fputs("</td>", f);
		}
		fputs("</tr>", f);
	}
	fputs("</tbody></table></dd>\n", f);
}

/* The run's heading, id, status (and verdict), what it replays, when it
 * ran. */
static void provenance_run(FILE *f, const Record *r, size_t i,
                           const char *label)
{
	const json_t *rec = r->root;
	fprintf(f, "<article class=\"run\" id=\"run-%zu\"><h3>", i);
	fprintf(f,
	        "<svg class=\"swatch\" viewBox=\"0 0 24 8\" "
	        "aria-hidden=\"true\"><line x1=\"0\" x2=\"24\" y1=\"4\" "
	        "y2=\"4\" stroke=\"%s\" stroke-dasharray=\"%s\"/></svg>",
	        run_color(i), run_dash(i));
	h(f, label);
	fputs("</h3>\n<dl>\n", f);
	dt(f, "run");
	fputs("<code>", f);
	h(f, record_id(r));
	fputs("</code></dd>\n", f);
	const char *status = record_status(r);
	dt(f, "status");
	fprintf(f, "<span class=\"%s\">",
	        streq(status, "succeeded") ? "ok"
	        : streq(status, "running") ? "live"
	                                   : "bad");
	h(f, status);
	fputs("</span>", f);
	if (gets_(rec, "result.cause")) {
		fputs(": ", f);
		h(f, gets_(rec, "result.cause"));
	}
	fputs("</dd>\n", f);
	verdict_html(f, rec);
	if (json_get_string(rec, "replay_of")) {
		dt(f, "replay of");
		fputs("<code>", f);
		h(f, json_get_string(rec, "replay_of"));
		fputs("</code></dd>\n", f);
	}
	_cleanup_free_ char *when = format_created_ran(rec);
	dt(f, "created");
	h(f, when);
	fputs("</dd>\n", f);
}

/* The command, its program (and script), its seed and params. */
static void provenance_command(FILE *f, const json_t *rec)
{
	_cleanup_free_ char *argv =
	        format_argv(json_get_path(rec, "command.argv"));
	_cleanup_free_ char *cwd =
	        json_bytes_decode(json_get_path(rec, "command.cwd"), NULL);
	dt(f, "command");
	fputs("<code>", f);
	h(f, argv ? argv : "?");
	fputs("</code> in <code>", f);
	h(f, cwd ? cwd : "?");
	fputs("</code></dd>\n", f);
	_cleanup_free_ char *exe = json_bytes_decode(
	        json_get_path(rec, "command.executable.path"), NULL);
	dt(f, "program");
	fputs("<code>", f);
	h(f, exe ? exe : "?");
	fputs("</code> <code class=\"digest\">", f);
	h(f, format_digest_short(gets_(rec, "command.executable.sha256")));
	fputs("</code>", f);
	if (json_is_object(json_get_path(rec, "command.script"))) {
		_cleanup_free_ char *sc = json_bytes_decode(
		        json_get_path(rec, "command.script.path"), NULL);
		fputs(", script <code>", f);
		h(f, sc ? sc : "?");
		fputs("</code> <code class=\"digest\">", f);
		h(f, format_digest_short(gets_(rec, "command.script.sha256")));
		fputs("</code>", f);
	}
	fputs("</dd>\n", f);
	dt(f, "seed");
	hf(f, "%s (%s)",
	   gets_(rec, "seed.value") ? gets_(rec, "seed.value") : "?",
	   gets_(rec, "seed.source") ? gets_(rec, "seed.source") : "?");
	fputs("</dd>\n", f);
	const json_t *params = json_object_get(rec, "params");
	if (json_object_size(params)) {
		dt(f, "params");
		fputs("<ul class=\"plain\">", f);
		const char *k;
		json_t *v;
		json_object_foreach ((json_t *)params, k, v) {
			_cleanup_free_ char *t = param_json_text(v);
			fputs("<li><code>", f);
			hf(f, "%s=%s", k, t ? t : "?");
			fputs("</code></li>", f);
		}
		fputs("</ul></dd>\n", f);
	}
}

/* The host, the sandbox, the tags (the record's and those added
 * since). */
static void provenance_host(FILE *f, const ReportRun *run)
{
	const json_t *rec = run->rec->root;
	const json_t *host = json_object_get(rec, "host");
	if (json_is_object(host)) {
		dt(f, "host");
		hf(f, "%s, %s, %s × %lld, Linux %s",
		   json_get_string(host, "hostname")
		           ? json_get_string(host, "hostname")
		           : "?",
		   gets_(host, "os.pretty_name") ? gets_(host, "os.pretty_name")
		                                 : "?",
		   gets_(host, "cpu.model") ? gets_(host, "cpu.model") : "?",
		   (long long)json_integer_value(
		           json_get_path(host, "cpu.count")),
		   gets_(host, "kernel.release") ? gets_(host, "kernel.release")
		                                 : "?");
		fputs("</dd>\n", f);
	}
	dt(f, "sandbox");
	h(f, json_is_true(json_get_path(rec, "sandbox.enabled")) ? "enabled"
	                                                         : "disabled");
	fputs("</dd>\n", f);
	json_auto_t *tags =
	        annotations_effective_tags(run->rec, run->annotations);
	if (json_object_size(tags)) {
		dt(f, "tags");
		const char *k;
		json_t *v;
		json_object_foreach (tags, k, v) {
			fputs("<span class=\"tag\">", f);
			hf(f, "%s=%s", k, json_string_value(v));
			fputs("</span> ", f);
		}
		fputs("</dd>\n", f);
	}
}

static void provenance(FILE *f, const ReportRun *run, size_t i,
                       const char *label)
{
	const Record *r = run->rec;
	const json_t *rec = r->root;
	provenance_run(f, r, i, label);
	provenance_command(f, rec);
	source(f, rec);
	pins(f, "inputs", json_object_get(rec, "inputs"));
	pins(f, "outputs", json_object_get(rec, "outputs"));
	software(f, rec);
	provenance_host(f, run);
	notes(f, run->annotations);
	metric_summary(f, rec);
	dt(f, "record");
	fputs("<code>", f);
	h(f, r->path);
	fputs("</code></dd>\n</dl></article>\n", f);
}

/* The page's style: one column on a phone, black on white in print. */
static const char style[] =
        ":root{--fg:#1d1d1f;--muted:#5f6368;--line:#dadce0;--bg:#fff}\n"
        "*{box-sizing:border-box}\n"
        "body{font:15px/1.45 system-ui,-apple-system,\"Segoe UI\",Roboto,"
        "\"DejaVu Sans\",sans-serif;color:var(--fg);background:var(--bg);"
        "margin:0 auto;max-width:1200px;padding:0 16px 48px}\n"
        "header{border-bottom:1px solid var(--line)}\n"
        "h1{font-size:1.5em;margin:16px 0 4px}\n"
        "h2{font-size:1.2em;margin:28px 0 10px;border-bottom:1px solid "
        "var(--line)}\n"
        "h3{font-size:1.05em;margin:0 0 6px}\n"
        "nav{margin:8px 0}nav a{margin-right:14px}\n"
        "code{font:13px/1.35 ui-monospace,\"DejaVu Sans Mono\",monospace;"
        "word-break:break-all}\n"
        ".muted{color:var(--muted)}\n"
        ".scroll{overflow-x:auto;-webkit-overflow-scrolling:touch}\n"
        "table{border-collapse:collapse;font-size:14px}\n"
        "th,td{padding:4px 8px;border-bottom:1px solid var(--line);"
        "text-align:left;white-space:nowrap;vertical-align:top}\n"
        "td.num{text-align:right;font-variant-numeric:tabular-nums}\n"
        "th button{font:inherit;font-weight:600;background:none;border:0;"
        "padding:0;cursor:pointer;color:inherit}\n"
        "th[aria-sort=ascending] button::after{content:\" \\25B2\"}\n"
        "th[aria-sort=descending] button::after{content:\" \\25BC\"}\n"
        "th.same button{color:var(--muted);font-weight:400}\n"
        ".ok{color:#2e7d32}.bad{color:#c62828}.live{color:#0277bd}\n"
        ".verdict{font-style:italic}\n"
        ".tag{display:inline-block;background:#eef2f7;border-radius:4px;"
        "padding:0 5px;margin:1px 2px;font-size:13px}\n"
        ".charts{display:grid;grid-template-columns:repeat(auto-fill,"
        "minmax(min(100%,460px),1fr));gap:16px}\n"
        "figure.chart{margin:0;position:relative;border:1px solid "
        "var(--line);border-radius:6px;padding:8px}\n"
        "figcaption{font-weight:600;margin-bottom:4px}\n"
        "figure svg{width:100%;height:auto;display:block}\n"
        ".grid line{stroke:#eceff1}.axes line{stroke:#80868b}\n"
        ".cursor{stroke:#9aa0a6;stroke-dasharray:3 3}\n"
        "svg text{font-size:12px;fill:#5f6368}\n"
        ".ytick{text-anchor:end}.xtick,.xlabel{text-anchor:middle}\n"
        ".curve{stroke-width:2;stroke-linejoin:round}\n"
        ".legend{list-style:none;padding:0;margin:6px 0 0;font-size:13px;"
        "display:flex;flex-wrap:wrap;gap:2px 14px}\n"
        "svg.swatch{width:24px;height:8px;display:inline-block;"
        "vertical-align:middle;margin-right:4px}\n"
        "svg.swatch line{stroke-width:3}\n"
        ".tip{position:absolute;top:34px;right:14px;background:"
        "rgba(255,255,255,.95);border:1px solid var(--line);"
        "border-radius:4px;padding:4px 8px;font:12px/1.4 ui-monospace,"
        "monospace;white-space:pre;pointer-events:none}\n"
        "article.run{border:1px solid var(--line);border-radius:6px;"
        "padding:10px 12px;margin:12px 0}\n"
        "dl{display:grid;grid-template-columns:max-content minmax(0,1fr);"
        "gap:4px 14px;margin:0}\n"
        "dt{color:var(--muted)}dd{margin:0;min-width:0}\n"
        "ul.plain{list-style:none;padding:0;margin:0}\n"
        "ul.cols{columns:2 260px;font-size:13px}\n"
        "table.mini td,table.mini th{padding:1px 8px}\n"
        "pre#diff-out{background:#f8f9fa;border:1px solid var(--line);"
        "border-radius:6px;padding:10px;overflow-x:auto;font-size:13px}\n"
        "pre:empty{display:none}\n"
        ".controls select{font:inherit;max-width:100%;margin:0 8px 8px 0}\n"
        "@media (max-width:640px){body{padding:0 10px 32px;font-size:14px}"
        "dl{grid-template-columns:minmax(0,1fr)}dt{margin-top:6px}"
        ".charts{grid-template-columns:minmax(0,1fr)}"
        "nav a{display:inline-block;margin:2px 10px 2px 0}}\n"
        "@media print{body{max-width:none;padding:0;font-size:10pt;"
        "color:#000}nav,.controls,.tip,.cursor,noscript{display:none}"
        "a{color:inherit;text-decoration:none}.scroll{overflow:visible}"
        "table{font-size:8pt}th,td{white-space:normal}"
        "figure.chart,article.run,tr{break-inside:avoid;"
        "page-break-inside:avoid}.charts{grid-template-columns:1fr 1fr}"
        "summary{display:none}}\n";

/* The script: sorting, hover values, the two runs to compare, and a
 * hook for tests (#sort=KEY, #sort=KEY:desc, #diff=I-J in the URL). It
 * reads the data from the JSON element and only ever sets textContent. */
static const char script[] =
        "(function(){\"use strict\";\n"
        "var data=JSON.parse(document.getElementById(\"xrun-data\")."
        "textContent);\n"
        "var G=data.geometry;\n"
        "function key(row,i){var c=row.cells[i];"
        "return c?(c.getAttribute(\"data-v\")||\"\"):\"\";}\n"
        "function sortBy(th){var tr=th.parentNode,"
        "idx=Array.prototype.indexOf.call(tr.children,th);"
        "var asc=th.getAttribute(\"aria-sort\")!==\"ascending\";"
        "Array.prototype.forEach.call(tr.children,function(o){"
        "o.removeAttribute(\"aria-sort\");});"
        "th.setAttribute(\"aria-sort\",asc?\"ascending\":\"descending\");"
        "var body=th.closest(\"table\").tBodies[0];"
        "var rows=Array.prototype.slice.call(body.rows);"
        "rows.sort(function(a,b){var x=key(a,idx),y=key(b,idx);"
        "if(x===y)return 0;if(x===\"\")return 1;if(y===\"\")return -1;"
        "var nx=Number(x),ny=Number(y),c;"
        "if(!isNaN(nx)&&!isNaN(ny))c=nx-ny;else c=x<y?-1:1;"
        "return asc?c:-c;});"
        "rows.forEach(function(r){body.appendChild(r);});}\n"
        "document.querySelectorAll(\"table.sortable th\").forEach("
        "function(th){var b=th.querySelector(\"button\");"
        "if(b)b.addEventListener(\"click\",function(){sortBy(th);});});\n"
        "document.querySelectorAll(\"figure.chart\").forEach(function(fig)"
        "{var ch=data.charts[+fig.getAttribute(\"data-chart\")];"
        "var svg=fig.querySelector(\"svg\"),tip=fig.querySelector(\".tip\"),"
        "cur=svg.querySelector(\".cursor\");"
        "function at(ev){var pt=svg.createSVGPoint();pt.x=ev.clientX;"
        "pt.y=ev.clientY;var m=svg.getScreenCTM();if(!m)return;"
        "var p=pt.matrixTransform(m.inverse());"
        "var w=G.width-G.left-G.right,b=ch.box;"
        "var x=b[0]+(p.x-G.left)/w*(b[1]-b[0]);var best=null;"
        "ch.series.forEach(function(s){s.x.forEach(function(v){"
        "if(best===null||Math.abs(v-x)<Math.abs(best-x))best=v;});});"
        "if(best===null)return;"
        "var lines=[ch.metric+\" at step \"+best];"
        "ch.series.forEach(function(s){var k=s.x.indexOf(best);"
        "if(k>=0)lines.push(data.runs[s.run].label+\": \"+s.y[k]);});"
        "tip.textContent=lines.join(\"\\n\");tip.hidden=false;"
        "var cx=G.left+(best-b[0])/(b[1]-b[0])*w;"
        "cur.setAttribute(\"x1\",cx);cur.setAttribute(\"x2\",cx);"
        "cur.setAttribute(\"visibility\",\"visible\");}\n"
        "svg.addEventListener(\"pointermove\",at);"
        "svg.addEventListener(\"pointerleave\",function(){tip.hidden=true;"
        "cur.setAttribute(\"visibility\",\"hidden\");});});\n"
        "var A=document.getElementById(\"diff-a\"),"
        "B=document.getElementById(\"diff-b\"),"
        "out=document.getElementById(\"diff-out\");\n"
        "function showDiff(){if(!A||!B)return;var i=+A.value,j=+B.value;"
        "if(i===j){out.textContent=\"choose two different runs\";return;}"
        "var lo=Math.min(i,j),hi=Math.max(i,j);"
        "var t=data.diffs[lo+\"-\"+hi];"
        "var head=\"xrun diff \"+data.runs[lo].id+\" \"+data.runs[hi].id+"
        "\"\\n\\n\";"
        "out.textContent=head+(t===undefined?\"(not computed for this "
        "many runs: run the command above)\":t);}\n"
        "if(A&&B){A.addEventListener(\"change\",showDiff);"
        "B.addEventListener(\"change\",showDiff);"
        "if(data.runs.length>1){B.value=\"1\";showDiff();}}\n"
        "var m=/^#sort=(.*?)(:desc)?$/.exec(location.hash);"
        "if(m){var want=decodeURIComponent(m[1]);"
        "document.querySelectorAll(\"#runs-table th\").forEach(function(th)"
        "{if(th.getAttribute(\"data-key\")===want){"
        "th.querySelector(\"button\").click();"
        "if(m[2])th.querySelector(\"button\").click();}});}\n"
        "var d=/^#diff=([0-9]+)-([0-9]+)$/.exec(location.hash);"
        "if(d&&A&&B){A.value=d[1];B.value=d[2];showDiff();}\n"
        "document.documentElement.setAttribute(\"data-ready\",\"1\");\n"
        "})();\n";

static void diff_section(FILE *f, size_t n, char *const *labels, bool computed)
{
	fputs("<section id=\"diff\"><h2>Difference of two runs</h2>\n", f);
	if (n < 2) {
		fputs("<p class=\"muted\">One run: nothing to compare.</p>"
		      "</section>\n",
		      f);
		return;
	}
	fputs("<div class=\"controls\"><label>A <select id=\"diff-a\">", f);
	for (size_t k = 0; k < 2; k++) {
		if (k)
			fputs("</select></label><label>B <select "
			      "id=\"diff-b\">",
			      f);
		for (size_t i = 0; i < n; i++) {
			fprintf(f, "<option value=\"%zu\">", i);
			h(f, labels[i]);
			fputs("</option>", f);
		}
	}
	fputs("</select></label></div>\n", f);
	if (!computed)
		fputs("<p class=\"muted\">Too many runs to compute every "
		      "pair here: the page gives the command.</p>\n",
		      f);
	fputs("<noscript><p>Choosing two runs needs JavaScript; xrun diff "
	      "A B says the same.</p></noscript>\n"
	      "<pre id=\"diff-out\"></pre></section>\n",
	      f);
}

static void pair_diffs(const ReportRun *runs, size_t n,
                       const ReportOptions *opt, json_t *diffs)
{
	size_t total = n * (n - 1) / 2, done = 0;
	DiffOptions dopt = {.load_manifest = opt->load_manifest,
	                    .userdata = opt->userdata};
	for (size_t i = 0; i < n; i++)
		for (size_t j = i + 1; j < n; j++) {
			json_auto_t *d = diff_records(runs[i].rec->root,
			                              runs[j].rec->root, &dopt);
			_cleanup_free_ char *text = diff_format_text(d, false);
			char key[64];
			snprintf(key, sizeof key, "%zu-%zu", i, j);
			json_object_set_new(diffs, key,
			                    json_string(text ? text : ""));
			if (opt->progress)
				opt->progress(opt->progress_data, ++done,
				              total);
		}
}

int report_render(const ReportRun *runs, size_t n, const ReportOptions *opt,
                  char **ret, size_t *ret_len)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	if (!f)
		return negative_errno();
	_cleanup_free_ Record **recs = xcalloc(n ? n : 1, sizeof *recs);
	for (size_t i = 0; i < n; i++)
		recs[i] = (Record *)runs[i].rec;
	_cleanup_runtable_ RunTable *t = runtable_new(recs, n);
	_cleanup_strv_free_ char **labels = NULL;
	json_auto_t *data = json_pack(
	        "{s:[],s:[],s:{},s:{s:i,s:i,s:i,s:i,s:i,s:i}}", "runs",
	        "charts", "diffs", "geometry", "width", CW, "height", CH,
	        "left", ML, "right", MR, "top", MT, "bottom", MB);
	for (size_t i = 0; i < n; i++) {
		labels = strv_push(labels, "");
		free(labels[i]);
		labels[i] = run_label(runs[i].rec, t);
		json_array_append_new(json_object_get(data, "runs"),
		                      json_pack("{s:s,s:s,s:s}", "id",
		                                record_id(runs[i].rec)
		                                        ? record_id(runs[i].rec)
		                                        : "?",
		                                "label", labels[i], "color",
		                                run_color(i)));
	}
	const char *title = opt->title ? opt->title : "xrun report";
	fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n"
	      "<meta charset=\"utf-8\">\n"
	      "<meta name=\"viewport\" content=\"width=device-width, "
	      "initial-scale=1\">\n"
	      /* Nothing leaves the file: no fetch, no image, no font. */
	      "<meta http-equiv=\"Content-Security-Policy\" "
	      "content=\"default-src 'none'; style-src 'unsafe-inline'; "
	      "script-src 'unsafe-inline'; img-src data:\">\n"
	      "<meta name=\"generator\" content=\"xrun " PACKAGE_VERSION
	      "\">\n<title>",
	      f);
	h(f, title);
	fprintf(f, "</title>\n<style>\n%s</style>\n</head>\n<body>\n", style);
	fputs("<header><h1>", f);
	h(f, title);
	fputs("</h1><p class=\"muted\">", f);
	hf(f, "%zu run%s, %zu metric%s", n, n == 1 ? "" : "s", t->nmetrics,
	   t->nmetrics == 1 ? "" : "s");
	if (opt->generated)
		hf(f, "; written %s by xrun %s", opt->generated,
		   PACKAGE_VERSION);
	fputs("</p>\n<nav><a href=\"#runs\">Runs</a><a "
	      "href=\"#metrics\">Metrics</a><a "
	      "href=\"#provenance\">Provenance</a><a "
	      "href=\"#diff\">Difference</a></nav></header>\n",
	      f);
	fputs("<section id=\"runs\"><h2>Runs</h2>\n<p class=\"muted\">Click "
	      "a header to sort; params in grey are the same for every "
	      "run; metrics are the last value.</p>\n",
	      f);
	runs_table(f, runs, n, t);
	fputs("</section>\n<section id=\"metrics\"><h2>Metrics</h2>\n", f);
	_cleanup_strv_free_ char **names = metric_names(runs, n);
	if (!names)
		fputs("<p class=\"muted\">No run wrote metrics (JSON lines "
		      "appended to $XRUN_METRICS).</p>\n",
		      f);
	else
		fputs("<div class=\"charts\">\n", f);
	size_t max_points = opt->max_points ? opt->max_points : 2000;
	for (size_t k = 0; names && names[k]; k++)
		chart(f, runs, n, k, names[k], labels, max_points, data);
	if (names)
		fputs("</div>\n", f);
	fputs("</section>\n<section id=\"provenance\"><h2>Provenance</h2>\n",
	      f);
	for (size_t i = 0; i < n; i++)
		provenance(f, &runs[i], i, labels[i]);
	fputs("</section>\n", f);
	bool computed = n >= 2 && n <= opt->max_diff_runs;
	if (computed)
		pair_diffs(runs, n, opt, json_object_get(data, "diffs"));
	diff_section(f, n, labels, computed);
	_cleanup_free_ char *json = json_dumps_shortest(data, JSON_COMPACT);
	_cleanup_free_ char *safe = report_json_for_script(json ? json : "{}");
	fprintf(f,
	        "<script type=\"application/json\" id=\"xrun-data\">%s"
	        "</script>\n<script>\n%s</script>\n</body>\n</html>\n",
	        safe, script);
	if (fclose(f) != 0) {
		free(buf);
		return -ENOMEM;
	}
	*ret = buf;
	if (ret_len)
		*ret_len = len;
	return 0;
}
