/* xrun metrics [--follow] [--json] RUN */
#include "config.h"

#include <getopt.h>

#include "cmd.h"
#include "follow.h"
#include "format.h"
#include "metrics.h"
#include "util.h"

static const char metrics_usage[] =
        "usage: xrun metrics [-f|--follow] [--json] RUN\n"
        "\n"
        "The metric stream of RUN: each JSON line the program appended to\n"
        "$XRUN_METRICS, as \"step=3 loss=0.25 acc=0.9\".\n"
        "  -f, --follow   keep printing what the run writes until its "
        "record is\n"
        "                 final (it ended, or its launcher is gone)\n"
        "  --json         the lines as JSON, one object a line\n";

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
	static const struct option opts[] = {
	        {"follow", no_argument, NULL, 'f'},
	        {"json", no_argument, NULL, 'j'},
	        {"help", no_argument, NULL, 'h'},
	        {0},
	};
	Follower f = {0};
	int c;
	while ((c = getopt_long(argc, argv, "hf", opts, NULL)) != -1) {
		switch (c) {
		case 'f':
			f.follow = true;
			break;
		case 'j':
			f.json = true;
			break;
		case 'h':
			fputs(metrics_usage, stdout);
			return finish_stdout(0);
		default:
			fputs(metrics_usage, stderr);
			return 2;
		}
	}
	if (optind != argc - 1) {
		log_error("metrics takes one RUN; see xrun metrics --help");
		return 2;
	}
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
