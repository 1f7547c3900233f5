/* xrun metrics [--follow] [--json] RUN */
#include "config.h"

#include "cmd.h"
#include "options.h"
#include "follow.h"
#include "format.h"
#include "metrics.h"
#include "util.h"

enum {
	OPT_JSON = 256,
};

static const CmdOption metrics_options[] = {
        {'f', "follow", NULL,
         "keep printing what the run writes until its record is final (it ended, or its launcher is gone)"},
        {OPT_JSON, "json", NULL, "the lines as JSON, one object a line"},
        CMD_OPTION_HELP,
        {0},
};

static const CmdSpec metrics_cmd = {
        .name = "metrics",
        .synopsis = "[-f|--follow] [--json] RUN",
        .about =
                "The metric stream of RUN: each JSON line the program appended to\n"
                "$XRUN_METRICS, as \"step=3 loss=0.25 acc=0.9\".\n",
        .options = metrics_options,
};

/* A line longer than this is not a metric line: it is skipped. */
#define LINE_MAX_BYTES (1u << 20)

typedef struct Follower {
	const char *record_path;
	bool follow, json;
	char *buf; /* the partial line so far */
	size_t len;
	bool skipping; /* inside a line too long to keep */
	size_t malformed;
} Follower;

static void emit_line(Follower *f, const char *line, size_t len)
{
	size_t i = 0;
	while (i < len && strchr(" \t\r\n", line[i]))
		i++;
	if (i == len)
		return;
	if (f->json) {
		json_auto_t *o = json_loadb(line, len, 0, NULL);
		_cleanup_free_ char *t =
		        json_is_object(o) ? json_dumps_shortest(o, JSON_COMPACT)
		                          : NULL;
		if (!t) {
			f->malformed++;
			return;
		}
		puts(t);
		return;
	}
	_cleanup_free_ char *t = metrics_line_text(line, len);
	if (!t) {
		f->malformed++;
		return;
	}
	_cleanup_free_ char *safe = format_escape(t);
	puts(safe);
}

static int on_data(void *userdata, const char *p, size_t n)
{
	Follower *f = userdata;
	while (n > 0) {
		const char *nl = memchr(p, '\n', n);
		size_t k = nl ? (size_t)(nl - p) : n;
		if (!f->skipping && f->len + k > LINE_MAX_BYTES) {
			f->skipping = true;
			f->len = 0;
			f->malformed++;
		}
		if (!f->skipping) {
			f->buf = xrealloc(f->buf, f->len + k + 1);
			memcpy(f->buf + f->len, p, k);
			f->len += k;
		}
		if (!nl)
			break;
		if (!f->skipping)
			emit_line(f, f->buf, f->len);
		f->len = 0;
		f->skipping = false;
		p += k + 1;
		n -= k + 1;
	}
	if (fflush(stdout) != 0)
		return negative_errno();
	return 0;
}

static int is_done(void *userdata)
{
	Follower *f = userdata;
	if (!f->follow)
		return 1;
	_cleanup_record_ Record *r = NULL;
	int k = record_load(f->record_path, &r, NULL);
	if (k < 0)
		return k;
	return !streq(record_status(r), "running");
}

static int copy_out(void *userdata, const char *p, size_t n)
{
	(void)userdata;
	if (fwrite(p, 1, n, stdout) != n || fflush(stdout) != 0)
		return negative_errno();
	return 0;
}

int follow_run_output(const Record *r, const char *path)
{
	Follower f = {.record_path = r->path, .follow = true};
	FollowOps ops = {.done = is_done, .data = copy_out, .userdata = &f};
	int k = follow_file(path, &ops);
	if (k == -EPIPE)
		return 0;
	if (k < 0) {
		log_error_errno(k, "cannot follow '%s': %m", path);
		return finish_stdout(1);
	}
	return finish_stdout(0);
}

int cmd_metrics(int argc, char **argv, Context *ctx)
{
	Follower f = {0};
	_cleanup_cmd_parser_ CmdParser opt_parser;
	cmd_parser_init(&opt_parser, &metrics_cmd, argc, argv);
	int c;
	while ((c = cmd_option_next(&opt_parser)) > 0) {
		switch (c) {
		case 'f':
			f.follow = true;
			break;
		case OPT_JSON:
			f.json = true;
			break;
		}
	}
	if (c < 0)
		return opt_parser.status;
	if (optind != argc - 1)
		return cmd_usage_error(&metrics_cmd, "metrics takes one RUN");
	_cleanup_record_ Record *r = NULL;
	int st = load_run(ctx, argv[optind], &r);
	if (st)
		return st;
	f.record_path = r->path;
	_cleanup_free_ char *path = path_join(r->dir, "metrics.jsonl");
	FollowOps ops = {.done = is_done, .data = on_data, .userdata = &f};
	int k = follow_file(path, &ops);
	/* A last line without its newline. */
	if (k >= 0 && f.len && !f.skipping)
		emit_line(&f, f.buf, f.len);
	free(f.buf);
	if (k == -EPIPE)
		return 0;
	if (k < 0) {
		log_error_errno(k, "cannot follow the metrics of run %s: %m",
		                record_id(r));
		return finish_stdout(1);
	}
	if (f.malformed)
		log_warn("%zu line%s of '%s' %s not a JSON object; skipped",
		         f.malformed, f.malformed == 1 ? "" : "s", path,
		         f.malformed == 1 ? "is" : "are");
	return finish_stdout(0);
}
