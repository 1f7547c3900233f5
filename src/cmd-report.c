/* xrun report [RUN... | --sweep ID] [-o FILE.html] [--title TEXT] */
#include "config.h"

#include <libgen.h>

#include "annotations.h"
#include "cmd.h"
#include "options.h"
#include "manifest.h"
#include "metrics.h"
#include "pin.h"
#include "report.h"
#include "runset.h"
#include "util.h"

enum {
	OPT_SWEEP = 256,
	OPT_TITLE,
};

static const CmdOption report_options[] = {
        {'o', "output", "FILE",
         "write the report to FILE (replaced atomically); without it, to standard output when that is not a terminal"},
        {OPT_SWEEP, "sweep", "ID", "the runs of sweep ID (or a unique prefix)"},
        {OPT_TITLE, "title", "TEXT", "the page's title (default: xrun report)"},
        CMD_OPTION_HELP,
        {0},
};

static const CmdSpec report_cmd = {
        .name = "report",
        .synopsis = "[RUN... | --sweep ID] [-o FILE.html] [--title TEXT]",
        .about =
                "One self-contained HTML file about the runs (no network needed; it\n"
                "opens from a USB stick): a chart per metric with the curves of every\n"
                "run over the steps, a table of the runs, their params and last\n"
                "metrics (click a header to sort), each run's provenance (command,\n"
                "seed, source, inputs, outputs, software, status, replay verdict,\n"
                "tags and notes), and the difference of any two runs. Without RUN or\n"
                "--sweep: every run of the store.\n",
        .options = report_options,
};

/* Pairwise differences are computed for up to this many runs (780
 * pairs); above it the page gives the xrun diff command instead. */
#define REPORT_DIFF_RUNS 40
/* A run's metric stream is read up to this size. */
#define REPORT_METRICS_MAX (256u << 20)

/* A progress bar on stderr when it is a terminal and the work has
 * already taken a while: short reports print nothing. */
typedef struct Progress {
	bool tty;
	int64_t start;
	bool drawn;
	const char *what;
} Progress;

static void progress_draw(Progress *p, size_t done, size_t total)
{
	if (!p->tty || total == 0)
		return;
	if (!p->drawn && monotonic_ns() - p->start < 300000000)
		return;
	enum { WIDTH = 24 };
	char bar[WIDTH + 1];
	size_t fill = done * WIDTH / total;
	for (size_t i = 0; i < WIDTH; i++)
		bar[i] = i < fill ? '#' : '.';
	bar[WIDTH] = 0;
	fprintf(stderr, "\r\033[Kxrun: %s [%s] %zu/%zu", p->what, bar, done,
	        total);
	fflush(stderr);
	p->drawn = true;
}

static void progress_end(Progress *p)
{
	if (p->drawn) {
		fputs("\r\033[K", stderr);
		fflush(stderr);
	}
	p->drawn = false;
}

static void on_pair(void *data, size_t done, size_t total)
{
	progress_draw(data, done, total);
}

static int load_manifest(void *userdata, int side, const char *digest,
                         Manifest **ret)
{
	(void)side;
	Store *s = userdata;
	unsigned char md[SHA256_LEN];
	if (!s)
		return -ENOENT;
	int r = digest_parse(digest, md);
	if (r < 0)
		return r;
	return manifest_load(s, md, ret);
}

static int write_report(const char *out, const char *html, size_t len)
{
	if (!out) {
		if (fwrite(html, 1, len, stdout) != len)
			return finish_stdout(1);
		return finish_stdout(0);
	}
	_cleanup_free_ char *d1 = xstrdup(out), *d2 = xstrdup(out);
	const char *dir = dirname(d1), *base = basename(d2);
	int r = write_file_atomic_fd(-1, dir, base, html, len, 0644,
	                             access(out, F_OK) == 0, true);
	if (r < 0) {
		log_error_errno(r, "cannot write the report to '%s': %m", out);
		return 1;
	}
	return 0;
}

int cmd_report(int argc, char **argv, Context *ctx)
{
	const char *out = NULL, *sweep = NULL, *title = NULL;
	_cleanup_cmd_parser_ CmdParser opt_parser;
	cmd_parser_init(&opt_parser, &report_cmd, argc, argv);
	int c;
	while ((c = cmd_option_next(&opt_parser)) > 0) {
		switch (c) {
		case 'o':
			out = opt_parser.arg;
			break;
		case OPT_SWEEP:
			sweep = opt_parser.arg;
			break;
		case OPT_TITLE:
			title = opt_parser.arg;
			break;
		}
	}
	if (c < 0)
		return opt_parser.status;
	if (sweep && optind < argc)
		return cmd_usage_error(
		        &report_cmd,
		        "report takes RUNs or --sweep ID, not both");
	if (out && (!*out || endswith(out, "/"))) {
		log_error("-o takes a file name, not '%s'", out);
		return 2;
	}
	if (!out && isatty(STDOUT_FILENO)) {
		log_error("the report is an HTML file: give -o FILE.html, or "
		          "redirect standard output");
		return 2;
	}
	if (title && !utf8_valid(title, strlen(title))) {
		log_error("--title takes UTF-8 text");
		return 2;
	}
	Record **v = NULL;
	size_t n = 0;
	int st = select_runs(ctx, argv + optind, (size_t)(argc - optind), sweep,
	                     "report", &v, &n);
	if (st)
		return st;
	int r;
	Progress prog = {.tty = isatty(STDERR_FILENO) &&
	                        log_level >= LOG_NORMAL,
	                 .start = monotonic_ns(),
	                 .what = "reading runs"};
	ReportRun *runs = xcalloc(n, sizeof *runs);
	size_t bad_metrics = 0;
	for (size_t i = 0; i < n; i++) {
		(void)warn_if_edited(v[i]);
		runs[i].rec = v[i];
		json_t *a = NULL;
		r = annotations_load(v[i]->dir, &a);
		if (r < 0)
			log_warn_errno(r,
			               "cannot read the annotations of run %s "
			               "(%m); the report leaves them out",
			               record_id(v[i]));
		runs[i].annotations = a;
		Metrics *m = NULL;
		_cleanup_free_ char *mp = path_join(v[i]->dir, "metrics.jsonl");
		r = metrics_load(mp, REPORT_METRICS_MAX, &m);
		if (r < 0)
			log_warn_errno(r,
			               "cannot read '%s' (%m); run %s has no "
			               "curves in the report",
			               mp, record_id(v[i]));
		else
			bad_metrics += m->malformed;
		runs[i].metrics = m;
		progress_draw(&prog, i + 1, n);
	}
	prog.what = "comparing runs";
	_cleanup_free_ char *sweep_title =
	        sweep && !title ? xasprintf("xrun report: sweep %.8s",
	                                    runset_sweep_of(v[0])
	                                            ? runset_sweep_of(v[0])
	                                            : sweep)
	                        : NULL;
	if (sweep_title)
		title = sweep_title;
	_cleanup_free_ char *stamp = format_rfc3339(now_ns());
	/* "2026-12-07 00:54:05 UTC": to the second. */
	_cleanup_free_ char *now =
	        xasprintf("%.10s %.8s UTC", stamp, stamp + 11);
	ReportOptions opt = {
	        .title = title,
	        .generated = now,
	        .max_diff_runs = REPORT_DIFF_RUNS,
	        .load_manifest = load_manifest,
	        .userdata = ctx->store,
	        .progress = on_pair,
	        .progress_data = &prog,
	};
	_cleanup_free_ char *html = NULL;
	size_t len = 0;
	r = report_render(runs, n, &opt, &html, &len);
	progress_end(&prog);
	for (size_t i = 0; i < n; i++) {
		json_decref((json_t *)runs[i].annotations);
		metrics_free((Metrics *)runs[i].metrics);
	}
	free(runs);
	records_free(v, n);
	if (r < 0) {
		log_error_errno(r, "cannot make the report: %m");
		return 1;
	}
	if (bad_metrics)
		log_warn("%zu metric line%s %s not a JSON object; left out",
		         bad_metrics, bad_metrics == 1 ? "" : "s",
		         bad_metrics == 1 ? "is" : "are");
	st = write_report(out, html, len);
	if (st == 0 && out && log_level >= LOG_NORMAL)
		log_info("report of %zu run%s in '%s'", n, n == 1 ? "" : "s",
		         out);
	return st;
}
