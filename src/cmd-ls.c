/* xrun ls [--json] [--status S] [--limit N] [--metric NAME] [--sort NAME
 * [--asc]] [--sweep ID] */
#include "config.h"

#include <limits.h>

#include "annotations.h"
#include "check.h"
#include "cmd.h"
#include "options.h"
#include "runset.h"
#include "format.h"
#include "spec.h"
#include "util.h"

enum {
	OPT_JSON = 256,
	OPT_STATUS,
	OPT_LIMIT,
	OPT_METRIC,
	OPT_SORT,
	OPT_ASC,
	OPT_SWEEP,
	OPT_TAG,
};

static const CmdOption ls_options[] = {
        {OPT_JSON, "json", NULL,
         "a JSON array of {id, status, verdict, created, duration, name, argv, record}, with metric when one is shown, and sweep_index and params with --sweep, and the tags added with xrun tag as annotation_tags"},
        {OPT_STATUS, "status", "S",
         "only runs with status S (running, succeeded, failed, killed, timeout, oom, interrupted, abandoned)"},
        {OPT_LIMIT, "limit", "N", "at most N runs"},
        {OPT_METRIC, "metric", "NAME",
         "a column with the last value of metric NAME"},
        {OPT_SORT, "sort", "NAME",
         "order by the last value of metric NAME, highest first (and show it); runs without it come last"},
        {OPT_ASC, "asc", NULL, "with --sort, lowest first (for a loss)"},
        {OPT_SWEEP, "sweep", "ID",
         "only the runs of sweep ID (or a unique prefix), in the sweep's order, with their params"},
        {OPT_TAG, "tag", "KEY=VALUE",
         "only runs with this tag (from run --tag or xrun tag); --tag KEY: with any value; repeatable"},
        CMD_OPTION_HELP,
        {0},
};

static const CmdSpec ls_cmd = {
        .name = "ls",
        .synopsis =
                "[--json] [--status S] [--limit N] [--metric NAME]\n"
                "               [--sort NAME [--asc]] [--sweep ID] [--tag KEY=VALUE]",
        .about =
                "List the store's runs, newest first, one line each; a replay's\n"
                "verdict (reproduced or differs) beside its status.\n",
        .options = ls_options,
};

/* The last value of metric name, or NULL. */
static const json_t *metric_last(const Record *r, const char *name)
{
	const json_t *m = json_object_get(
	        json_object_get(json_object_get(r->root, "result"), "metrics"),
	        name);
	const json_t *v = json_object_get(m, "last");
	return json_is_number(v) ? v : NULL;
}

/* A replay's verdict: "reproduced", "differs", or NULL (not a replay,
 * or one that has not compared yet). */
static const char *verdict_of(const Record *r)
{
	const json_t *v = json_object_get(r->root, "verification");
	if (!json_is_object(v))
		return NULL;
	return json_is_true(json_object_get(v, "reproduced")) ? "reproduced"
	                                                      : "differs";
}

static const char *sort_metric;
static bool sort_asc;

/* By the metric, highest first (lowest with --asc); runs without it
 * last; ties keep the store's order, newest first. */
typedef struct Sorted {
	Record *r;
	size_t pos;
} Sorted;

static int cmp_metric(const void *x, const void *y)
{
	const Sorted *sa = x, *sb = y;
	const json_t *a = metric_last(sa->r, sort_metric);
	const json_t *b = metric_last(sb->r, sort_metric);
	double da = a ? json_number_value(a) : 0,
	       db = b ? json_number_value(b) : 0;
	if (!a != !b)
		return !a - !b;
	if (a && da != db)
		return (da < db) == sort_asc ? -1 : 1;
	return sa->pos < sb->pos ? -1 : sa->pos > sb->pos;
}

static void sort_by_metric(Record **v, size_t n)
{
	_cleanup_free_ Sorted *s = xcalloc(n ? n : 1, sizeof *s);
	for (size_t i = 0; i < n; i++)
		s[i] = (Sorted){v[i], i};
	sort_v(s, n, sizeof *s, cmp_metric);
	for (size_t i = 0; i < n; i++)
		v[i] = s[i].r;
}

/* Keep the runs of the one sweep whose id starts with prefix, in the
 * sweep's order; prints the error and returns an exit status when no
 * sweep or more than one matches. */
static int filter_sweep(Record **v, size_t *n, const char *prefix,
                        char **ret_id)
{
	_cleanup_free_ char *err = NULL;
	int r = runset_keep_sweep(v, n, prefix, ret_id, &err);
	if (r == -ENOTUNIQ) {
		log_error("%s", err);
		return 2;
	}
	if (r < 0) {
		log_error("no runs of a sweep '%s' in the store; the id is "
		          "what xrun sweep printed (tag sweep in the records)",
		          prefix);
		return 1;
	}
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* "lr=0.1 bs=32": the params as KEY=JSON, sorted by key. */
static char *params_text(const Record *r)
{
	_cleanup_free_ char *s = xstrdup("");
	const json_t *p = json_object_get(r->root, "params");
	const char *k;
	json_t *v;
	size_t n = json_object_size(p), i = 0;
	const char **kv = xcalloc(n ? n : 1, sizeof *kv);
	json_object_foreach ((json_t *)p, k, v)
		kv[i++] = k;
	sort_v(kv, n, sizeof *kv, cmp_str);
	for (i = 0; i < n; i++) {
		_cleanup_free_ char *j =
		        param_json_text(json_object_get(p, kv[i]));
		char *t = xasprintf("%s%s%s=%s", s, i ? " " : "", kv[i],
		                    j ? j : "?");
		free(s);
		s = t;
	}
	free(kv);
	return TAKE_PTR(s);
}

/* "[best=yes] ": the tags added with xrun tag, escaped, or NULL. */
static char *annotation_tags_text(const json_t *ann)
{
	const json_t *t = json_object_get(ann, "tags");
	if (json_object_size(t) == 0)
		return NULL;
	_cleanup_free_ char *s = xstrdup("[");
	const char *k;
	json_t *v;
	json_object_foreach ((json_t *)t, k, v) {
		char *n = xasprintf("%s%s%s=%s", s, s[1] ? " " : "", k,
		                    json_string_value(v));
		free(s);
		s = n;
	}
	_cleanup_free_ char *e = format_escape(s);
	return xasprintf("%s] ", e);
}

#define METRIC_WIDTH 12

static char *metric_text(const Record *r, const char *name)
{
	const json_t *m = metric_last(r, name);
	return m ? xasprintf("%*.6g", METRIC_WIDTH, json_number_value(m))
	         : xasprintf("%*s", METRIC_WIDTH, "-");
}

/* What ls was asked for, and what its rows share. */
typedef struct Listing {
	bool json, asc, color;
	const char *want; /* --status */
	uint64_t limit;
	const char *metric, *sort, *sweep;
	char **want_tags;
	int status_width; /* the STATUS column's */
	json_t *checks;   /* the latest xrun check of each run (check.h) */
} Listing;

static int ls_parse(Listing *l, int argc, char **argv)
{
	l->limit = UINT64_MAX;
	_cleanup_cmd_parser_ CmdParser opt_parser;
	cmd_parser_init(&opt_parser, &ls_cmd, argc, argv);
	int c;
	while ((c = cmd_option_next(&opt_parser)) > 0) {
		switch (c) {
		case OPT_JSON:
			l->json = true;
			break;
		case OPT_STATUS:
			if (!status_valid(opt_parser.arg))
				return cmd_usage_error(&ls_cmd,
				                       "unknown status '%s'",
				                       opt_parser.arg);
			l->want = opt_parser.arg;
			break;
		case OPT_LIMIT:
			if (parse_u64(opt_parser.arg, &l->limit) < 0)
				return cmd_usage_error(
				        &ls_cmd,
				        "--limit takes a number, not '%s'",
				        opt_parser.arg);
			break;
		case OPT_METRIC:
			l->metric = opt_parser.arg;
			break;
		case OPT_SORT:
			l->sort = opt_parser.arg;
			break;
		case OPT_ASC:
			l->asc = true;
			break;
		case OPT_SWEEP:
			l->sweep = opt_parser.arg;
			break;
		case OPT_TAG:
			l->want_tags = strv_push(l->want_tags, opt_parser.arg);
			break;
		}
	}
	if (c < 0)
		return opt_parser.status;
	if (optind != argc)
		return cmd_usage_error(&ls_cmd, "ls takes no arguments");
	if (l->asc && !l->sort)
		return cmd_usage_error(
		        &ls_cmd,
		        "--asc orders by a metric: use it with --sort NAME");
	if (!l->metric)
		l->metric = l->sort;
	return CMD_GO_ON;
}

/* What a row shows of a record, in both forms. */
typedef struct RowFields {
	const json_t *dur, *argv;
	const char *name, *verdict;
} RowFields;

static RowFields row_fields(const Record *r)
{
	const json_t *rec = r->root;
	return (RowFields){
	        .dur = json_object_get(json_object_get(rec, "times"),
	                               "duration"),
	        .argv = json_object_get(json_object_get(rec, "command"),
	                                "argv"),
	        .name = json_get_string(rec, "name"),
	        .verdict = verdict_of(r),
	};
}

/* Run r as an element of ls --json, with its annotations ann. */
static json_t *ls_row_json(const Listing *l, const Record *r, const json_t *ann)
{
	const json_t *rec = r->root;
	RowFields rf = row_fields(r);
	const json_t *dur = rf.dur, *argvj = rf.argv;
	const char *name = rf.name, *verdict = rf.verdict;
	json_t *o = json_pack(
	        "{s:s,s:s,s:O,s:O,s:O,s:O,s:s}", "id", record_id(r), "status",
	        record_status(r), "created",
	        json_object_get(json_object_get(rec, "times"), "created")
	                ?: json_null(),
	        "duration", dur ? (json_t *)dur : json_null(), "name",
	        name ? json_object_get(rec, "name") : json_null(), "argv",
	        argvj ? (json_t *)argvj : json_null(), "record", r->path);
	json_object_set_new(o, "verdict",
	                    verdict ? json_string(verdict) : json_null());
	if (json_object_size(json_object_get(ann, "tags")))
		json_object_set(o, "annotation_tags",
		                json_object_get(ann, "tags"));
	json_t *ck = json_object_get(l->checks, record_id(r));
	_cleanup_free_ char *ckr = ck ? check_short(ck) : NULL;
	json_object_set_new(o, "check",
	                    ck ? json_pack("{s:s?,s:s}", "id",
	                                   json_get_string(ck, "id"), "result",
	                                   ckr)
	                       : json_null());
	if (l->metric) {
		const json_t *m = metric_last(r, l->metric);
		json_object_set(o, "metric", m ? (json_t *)m : json_null());
	}
	if (l->sweep) {
		long idx = runset_sweep_index(r);
		json_object_set_new(o, "sweep_index",
		                    idx >= 0 ? json_integer(idx) : json_null());
		const json_t *p = json_object_get(rec, "params");
		json_object_set(o, "params", p ? (json_t *)p : json_null());
	}
	return o;
}

/* Print run r's line, with its annotations ann. */
static void ls_row_print(const Listing *l, const Record *r, const json_t *ann)
{
	const char *status = record_status(r);
	RowFields rf = row_fields(r);
	const json_t *dur = rf.dur, *argvj = rf.argv;
	const char *name = rf.name, *verdict = rf.verdict;
	bool color = l->color;
	int pad = l->status_width - (int)strlen(status) -
	          (verdict ? (int)strlen(verdict) + 1 : 0);
	if (pad < 0)
		pad = 0;
	_cleanup_free_ char *created = format_local_time(record_created(r));
	_cleanup_free_ char *d =
	        json_is_number(dur) ? format_duration(json_number_value(dur))
	                            : xstrdup("-");
	_cleanup_free_ char *cmd = format_argv(argvj);
	_cleanup_free_ char *mt = l->metric ? metric_text(r, l->metric) : NULL;
	/* A record's strings are not the terminal's commands. */
	_cleanup_free_ char *id_safe = format_escape(record_id(r));
	_cleanup_free_ char *st_safe = format_escape(status);
	_cleanup_free_ char *name_safe = format_escape(name);
	_cleanup_free_ char *cmd_raw = format_escape(cmd);
	_cleanup_free_ char *ann_tags = annotation_tags_text(ann);
	_cleanup_free_ char *cmd_safe =
	        xasprintf("%s%s", ann_tags ? ann_tags : "", cmd_raw);
	if (l->sweep) {
		_cleanup_free_ char *pt = params_text(r);
		_cleanup_free_ char *pt_safe = format_escape(pt);
		printf("%.8s  %s%s%s%s%s%*s  %-19s  %9s  %s%s%-4ld "
		       "%s\n",
		       id_safe, status_color(status, color), st_safe,
		       COLOR_RESET(color), verdict ? " " : "",
		       verdict ? verdict : "", pad, "", created ? created : "?",
		       d, mt ? mt : "", mt ? "  " : "", runset_sweep_index(r),
		       pt_safe);
		return;
	}
	json_t *ck = json_object_get(l->checks, record_id(r));
	_cleanup_free_ char *cks = ck ? check_short(ck) : NULL;
	printf("%.8s  %s%s%s%s%s%*s  %-19s  %9s  %s%s%s%s%s%s%s%s\n", id_safe,
	       status_color(status, color), st_safe, COLOR_RESET(color),
	       verdict ? " " : "", verdict ? verdict : "", pad, "",
	       created ? created : "?", d, mt ? mt : "", mt ? "  " : "",
	       name_safe ? name_safe : "", name ? "  " : "", cmd_safe,
	       cks ? "  [check: " : "", cks ? cks : "", cks ? "]" : "");
}

/* The header line, or the JSON array, then one row for each of the n
 * runs v that the filters let through. */
static void ls_rows(Listing *l, Record **v, size_t n)
{
	bool color = l->color;
	const char *metric = l->metric;
	json_auto_t *arr = json_array();
	/* A replay's verdict beside its status: the column grows when one
	 * is listed. */
	l->status_width = 11;
	for (size_t i = 0; i < n; i++)
		if (verdict_of(v[i]))
			l->status_width = 22;
	if (!l->json && n)
		printf("%s%-8s  %-*s  %-19s  %9s  %*.*s%s%s%s\n",
		       COLOR_BOLD(color), "ID", l->status_width,
		       l->status_width > 11 ? "STATUS / VERDICT" : "STATUS",
		       "CREATED", "DURATION", metric ? METRIC_WIDTH : 0,
		       metric ? METRIC_WIDTH : 0, metric ? metric : "",
		       metric ? "  " : "",
		       l->sweep ? "#    PARAMS" : "NAME / COMMAND",
		       COLOR_RESET(color));
	uint64_t shown = 0;
	for (size_t i = 0; i < n && shown < l->limit; i++) {
		if (l->want && !streq(record_status(v[i]), l->want))
			continue;
		/* Tags added after the run live beside its record. */
		json_auto_t *ann = NULL;
		if (annotations_load(v[i]->dir, &ann) < 0)
			ann = NULL;
		bool tagged = true;
		for (size_t t = 0; l->want_tags && l->want_tags[t]; t++)
			tagged = tagged && annotations_match_tag(
			                           v[i], ann, l->want_tags[t]);
		if (!tagged)
			continue;
		shown++;
		if (l->json)
			json_array_append_new(arr, ls_row_json(l, v[i], ann));
		else
			ls_row_print(l, v[i], ann);
	}
	if (l->json && json_dumpf_shortest(arr, stdout, JSON_INDENT(2)) == 0)
		putchar('\n');
}

/* List the store's runs as l says: the exit status. */
static int ls_list(Listing *l, Context *ctx)
{
	if (context_find_store(ctx, true) < 0)
		return 1;
	Record **v;
	size_t n, bad;
	int r = store_load_all(ctx->store, &v, &n, &bad);
	if (r < 0) {
		log_error_errno(r, "cannot list runs in '%s': %m",
		                ctx->store->runs);
		return 1;
	}
	_cleanup_free_ char *sweep_id = NULL;
	if (l->sweep) {
		int st = filter_sweep(v, &n, l->sweep, &sweep_id);
		if (st) {
			records_free(v, n);
			return st;
		}
	}
	if (l->sort) {
		sort_metric = l->sort;
		sort_asc = l->asc;
		sort_by_metric(v, n);
	}
	l->color = want_color(ctx, STDOUT_FILENO);
	json_auto_t *checks = check_latest_by_run(ctx->store);
	l->checks = checks;
	ls_rows(l, v, n);
	records_free(v, n);
	if (bad)
		log_warn("%zu run%s in '%s' could not be read; xrun show ID "
		         "tells why",
		         bad, bad == 1 ? "" : "s", ctx->store->runs);
	return finish_stdout(0);
}

int cmd_ls(int argc, char **argv, Context *ctx)
{
	Listing l = {0};
	int st = ls_parse(&l, argc, argv);
	if (st == CMD_GO_ON)
		st = ls_list(&l, ctx);
	strv_free(l.want_tags);
	return st;
}
