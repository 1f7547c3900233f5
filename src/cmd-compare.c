/* xrun compare [RUN... | --sweep ID] [--csv | --json] [--all] */
#include "config.h"

#include "cmd.h"
#include "options.h"
#include "format.h"
#include "runset.h"
#include "runtable.h"
#include "spec.h"
#include "util.h"

enum {
	OPT_SWEEP = 256,
	OPT_CSV,
	OPT_JSON,
	OPT_ALL,
};

static const CmdOption compare_options[] = {
        {OPT_SWEEP, "sweep", "ID",
         "the runs of sweep ID (or a unique prefix), in the sweep's order"},
        {OPT_CSV, "csv", NULL,
         "comma-separated values (RFC 4180), full run ids"},
        {OPT_JSON, "json", NULL,
         "{\"params\": [...], \"metrics\": [...], \"runs\": [{id, name, status, verdict, params, metrics}]}"},
        {OPT_ALL, "all", NULL,
         "every column, also those that are the same for every run"},
        CMD_OPTION_HELP,
        {0},
};

static const CmdSpec compare_cmd = {
        .name = "compare",
        .synopsis = "[RUN... | --sweep ID] [--csv | --json] [--all]",
        .about =
                "The runs side by side: one row per run, a column per param and per\n"
                "metric (its last value). Only the columns whose values differ between\n"
                "the runs are shown, unless --all. Without RUN or --sweep: every run of\n"
                "the store, newest first.\n",
        .options = compare_options,
        .after =
                "RUN is a run id, a unique prefix of at least 4 characters, latest,\n"
                "latest~N, or the path of a record file.\n",
};

enum { OUT_TEXT, OUT_CSV, OUT_JSON };

/* The columns to show: fixed ones, then params, then metrics. */
typedef struct Col {
	const char *head;
	int kind; /* COL_* */
	const char *key;
} Col;
enum { COL_ID, COL_NAME, COL_STATUS, COL_PARAM, COL_METRIC };

static Col *plan_columns(const RunTable *t, bool all, size_t *ret_n)
{
	Col *c = xcalloc(3 + t->nparams + t->nmetrics, sizeof *c);
	size_t n = 0;
	c[n++] = (Col){"run", COL_ID, NULL};
	if (t->any_name && (all || t->name_differs))
		c[n++] = (Col){"name", COL_NAME, NULL};
	if (all || t->status_differs)
		c[n++] = (Col){"status", COL_STATUS, NULL};
	for (size_t i = 0; i < t->nparams; i++)
		if (all || t->params[i].differs)
			c[n++] = (Col){t->params[i].key, COL_PARAM,
			               t->params[i].key};
	for (size_t i = 0; i < t->nmetrics; i++)
		if (all || t->metrics[i].differs)
			c[n++] = (Col){t->metrics[i].key, COL_METRIC,
			               t->metrics[i].key};
	*ret_n = n;
	return c;
}

/* A param's text: strings bare, the rest as -p would read it back. */
static char *param_text(const json_t *v)
{
	if (!v)
		return NULL;
	if (json_is_string(v))
		return xstrdup(json_string_value(v));
	return param_json_text(v);
}

/* A cell as text: full precision for csv, short for the terminal. */
static char *cell(const Record *r, const Col *c, bool full)
{
	const char *s;
	switch (c->kind) {
	case COL_ID:
		s = record_id(r);
		return s ? (full ? xstrdup(s) : xstrndup(s, 8)) : NULL;
	case COL_NAME:
		s = json_get_string(r->root, "name");
		return s ? xstrdup(s) : NULL;
	case COL_STATUS: {
		const char *v = runtable_verdict(r);
		return xasprintf("%s%s%s", record_status(r), v ? " " : "",
		                 v ? v : "");
	}
	case COL_PARAM:
		return param_text(runtable_param(r, c->key));
	default: {
		const json_t *m = runtable_metric(r, c->key);
		if (!m)
			return NULL;
		if (full)
			return format_double(json_number_value(m));
		return xasprintf("%.6g", json_number_value(m));
	}
	}
}

/* The columns a string takes on a terminal: one per code point (the
 * text is escaped first, so no control characters are left). */
static size_t text_width(const char *s)
{
	size_t w = 0;
	for (; *s; s++)
		w += ((unsigned char)*s & 0xc0) != 0x80;
	return w;
}

#define CELL_MAX 32

/* s cut to CELL_MAX columns with "…" where it was cut. */
static char *fit(char *s)
{
	if (text_width(s) <= CELL_MAX)
		return s;
	size_t w = 0, i = 0;
	for (; s[i]; i++) {
		if (((unsigned char)s[i] & 0xc0) != 0x80 && ++w == CELL_MAX)
			break;
	}
	s[i] = 0;
	char *t = xasprintf("%s…", s);
	free(s);
	return t;
}

/* Numbers line up on the right: metrics, and params whose values are
 * all numbers. */
static bool right_aligned(Record *const *v, size_t n, const Col *c)
{
	if (c->kind == COL_METRIC)
		return true;
	if (c->kind != COL_PARAM)
		return false;
	for (size_t i = 0; i < n; i++) {
		const json_t *p = runtable_param(v[i], c->key);
		if (p && !json_is_number(p))
			return false;
	}
	return true;
}

static void print_text(Record *const *v, size_t n, const Col *c, size_t nc,
                       bool color)
{
	size_t cells = (n + 1) * nc;
	char **t = xcalloc(cells, sizeof *t);
	size_t *w = xcalloc(nc, sizeof *w);
	bool *right = xcalloc(nc, sizeof *right);
	for (size_t j = 0; j < nc; j++) {
		right[j] = right_aligned(v, n, &c[j]);
		t[j] = fit(format_escape(c[j].head));
		w[j] = text_width(t[j]);
	}
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < nc; j++) {
			_cleanup_free_ char *raw = cell(v[i], &c[j], false);
			char *e = raw ? fit(format_escape(raw)) : xstrdup("-");
			t[(i + 1) * nc + j] = e;
			if (text_width(e) > w[j])
				w[j] = text_width(e);
		}
	for (size_t i = 0; i <= n; i++) {
		if (i == 0)
			fputs(COLOR_BOLD(color), stdout);
		bool sep_done = false;
		for (size_t j = 0; j < nc; j++) {
			const char *s = t[i * nc + j];
			size_t pad = w[j] - text_width(s);
			if (j)
				fputs("  ", stdout);
			/* A bar between the params and the metrics. */
			if (c[j].kind == COL_METRIC && !sep_done) {
				fputs("| ", stdout);
				sep_done = true;
			}
			if (right[j])
				printf("%*s", (int)pad, "");
			fputs(s, stdout);
			if (!right[j] && j + 1 < nc)
				printf("%*s", (int)pad, "");
		}
		if (i == 0)
			fputs(COLOR_RESET(color), stdout);
		putchar('\n');
	}
	for (size_t i = 0; i < cells; i++)
		free(t[i]);
	free(t);
	free(w);
	free(right);
}

static void csv_field(const char *s)
{
	if (!s)
		return;
	if (!strpbrk(s, ",\"\r\n")) {
		fputs(s, stdout);
		return;
	}
	putchar('"');
	for (; *s; s++) {
		if (*s == '"')
			putchar('"');
		putchar(*s);
	}
	putchar('"');
}

static void print_csv(Record *const *v, size_t n, const Col *c, size_t nc)
{
	for (size_t j = 0; j < nc; j++) {
		if (j)
			putchar(',');
		_cleanup_free_ char *h =
		        c[j].kind == COL_PARAM ? xasprintf("param:%s", c[j].key)
		        : c[j].kind == COL_METRIC
		                ? xasprintf("metric:%s", c[j].key)
		        : c[j].kind == COL_ID ? xstrdup("run_id")
		                              : xstrdup(c[j].head);
		csv_field(h);
	}
	fputs("\r\n", stdout);
	for (size_t i = 0; i < n; i++) {
		for (size_t j = 0; j < nc; j++) {
			if (j)
				putchar(',');
			_cleanup_free_ char *s = cell(v[i], &c[j], true);
			/* Data, but no control characters for a terminal. */
			_cleanup_free_ char *e = format_escape(s);
			csv_field(e);
		}
		fputs("\r\n", stdout);
	}
}

static void print_json(Record *const *v, size_t n, const Col *c, size_t nc)
{
	json_auto_t *doc =
	        json_pack("{s:[],s:[],s:[]}", "params", "metrics", "runs");
	for (size_t j = 0; j < nc; j++)
		if (c[j].kind == COL_PARAM || c[j].kind == COL_METRIC)
			json_array_append_new(
			        json_object_get(doc, c[j].kind == COL_PARAM
			                                     ? "params"
			                                     : "metrics"),
			        json_string(c[j].key));
	for (size_t i = 0; i < n; i++) {
		const char *verdict = runtable_verdict(v[i]);
		const json_t *name = json_object_get(v[i]->root, "name");
		json_t *row = json_pack(
		        "{s:s?,s:O,s:s,s:s?,s:{},s:{}}", "id", record_id(v[i]),
		        "name", json_is_string(name) ? name : json_null(),
		        "status", record_status(v[i]), "verdict", verdict,
		        "params", "metrics");
		for (size_t j = 0; j < nc; j++) {
			if (c[j].kind == COL_PARAM) {
				const json_t *p =
				        runtable_param(v[i], c[j].key);
				json_object_set(json_object_get(row, "params"),
				                c[j].key,
				                p ? (json_t *)p : json_null());
			} else if (c[j].kind == COL_METRIC) {
				const json_t *m =
				        runtable_metric(v[i], c[j].key);
				json_object_set(json_object_get(row, "metrics"),
				                c[j].key,
				                m ? (json_t *)m : json_null());
			}
		}
		json_array_append_new(json_object_get(doc, "runs"), row);
	}
	if (json_dumpf_shortest(doc, stdout, JSON_INDENT(2)) == 0)
		putchar('\n');
}

int cmd_compare(int argc, char **argv, Context *ctx)
{
	const char *sweep = NULL;
	int out = OUT_TEXT;
	bool all = false;
	_cleanup_cmd_parser_ CmdParser opt_parser;
	cmd_parser_init(&opt_parser, &compare_cmd, argc, argv);
	int c;
	while ((c = cmd_option_next(&opt_parser)) > 0) {
		switch (c) {
		case OPT_SWEEP:
			sweep = opt_parser.arg;
			break;
		case OPT_CSV:
		case OPT_JSON:
			if (out != OUT_TEXT)
				return cmd_usage_error(
				        &compare_cmd,
				        "--csv and --json: choose one");
			out = c == OPT_CSV ? OUT_CSV : OUT_JSON;
			break;
		case OPT_ALL:
			all = true;
			break;
		}
	}
	if (c < 0)
		return opt_parser.status;
	if (sweep && optind < argc)
		return cmd_usage_error(
		        &compare_cmd,
		        "compare takes RUNs or --sweep ID, not both");
	Record **v = NULL;
	size_t n = 0;
	int st = select_runs(ctx, argv + optind, (size_t)(argc - optind), sweep,
	                     "compare", &v, &n);
	if (st)
		return st;
	for (size_t i = 0; i < n; i++)
		(void)warn_if_edited(v[i]);
	_cleanup_runtable_ RunTable *t = runtable_new(v, n);
	size_t nc;
	_cleanup_free_ Col *cols = plan_columns(t, all, &nc);
	if (out == OUT_CSV)
		print_csv(v, n, cols, nc);
	else if (out == OUT_JSON)
		print_json(v, n, cols, nc);
	else
		print_text(v, n, cols, nc, want_color(ctx, STDOUT_FILENO));
	records_free(v, n);
	return finish_stdout(0);
}
