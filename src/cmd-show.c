/* xrun show [--json] RUN */
#include "config.h"

#include "annotations.h"
#include "check.h"
#include "cmd.h"
#include "options.h"
#include "format.h"
#include "util.h"

enum {
	OPT_JSON = 256,
};

static const CmdOption show_options[] = {
        {OPT_JSON, "json", NULL,
         "the record as its JSON document, with the tags and notes added since"},
        CMD_OPTION_HELP,
        {0},
};

static const CmdSpec show_cmd = {
        .name = "show",
        .synopsis = "[--json] RUN",
        .about =
                "Print one run's record: readable, or as the JSON document (--json).\n"
                "RUN is a run id, a unique prefix of at least 4 characters, latest,\n"
                "latest~N, or the path of a record file.\n",
        .options = show_options,
};

static const char *str_or(const char *s, const char *dflt)
{
	return s && *s ? s : dflt;
}

static json_t *get(const json_t *o, const char *dotted)
{
	return json_get_path(o, dotted);
}

static const char *gets(const json_t *o, const char *dotted)
{
	return json_string_value(get(o, dotted));
}

static void field(bool color, const char *label, const char *fmt, ...)
        _printf_(3, 4);
static void field(bool color, const char *label, const char *fmt, ...)
{
	va_list ap;
	_cleanup_free_ char *text = NULL;
	printf("%s%-9s%s ", COLOR_BOLD(color), label, COLOR_RESET(color));
	va_start(ap, fmt);
	if (vasprintf(&text, fmt, ap) < 0)
		text = NULL;
	va_end(ap);
	/* A record's strings (a name, argv, a tag) are not the terminal's
	 * commands. */
	_cleanup_free_ char *safe = format_escape(text ? text : "?");
	puts(safe);
}

static void show_params(const json_t *params, bool color)
{
	if (!json_is_object(params) || json_object_size(params) == 0) {
		field(color, "params", "-");
		return;
	}
	_cleanup_free_ char *line = xstrdup("");
	const char *k;
	json_t *v;
	json_object_foreach ((json_t *)params, k, v) {
		_cleanup_free_ char *val =
		        json_is_string(v) ? json_dumps(v, JSON_ENCODE_ANY)
		                          : format_value(v);
		char *n =
		        xasprintf("%s%s%s=%s", line, *line ? "  " : "", k, val);
		free(line);
		line = n;
	}
	field(color, "params", "%s", line);
}

static void show_git(const json_t *rec, bool color)
{
	const json_t *git = get(rec, "source.git");
	if (!json_is_object(git)) {
		field(color, "git", "-");
		return;
	}
	const char *err = gets(git, "error");
	if (err) {
		field(color, "git", "unknown (%s)", err);
		return;
	}
	const char *commit = gets(git, "commit");
	bool dirty = json_is_true(get(git, "dirty"));
	json_int_t untracked = json_integer_value(get(git, "untracked"));
	field(color, "git", "%.12s on %s%s%s", str_or(commit, "(no commit)"),
	      str_or(gets(git, "branch"), "(detached)"), dirty ? ", dirty" : "",
	      untracked ? ", untracked files" : "");
	if (dirty)
		field(color, "", "uncommitted diff %s",
		      format_digest_short(gets(git, "diff_sha256")));
	if (gets(git, "remote"))
		field(color, "", "remote %s", gets(git, "remote"));
}

static void show_host(const json_t *rec, bool color)
{
	const json_t *h = get(rec, "host");
	_cleanup_free_ char *mem = format_bytes(
	        (uint64_t)json_integer_value(get(h, "memory.total_bytes")));
	field(color, "host", "%s: %s %s %s, %s",
	      str_or(gets(h, "hostname"), "?"),
	      str_or(gets(h, "kernel.sysname"), "?"),
	      str_or(gets(h, "kernel.release"), "?"),
	      str_or(gets(h, "kernel.machine"), "?"),
	      str_or(gets(h, "os.pretty_name"), "unknown OS"));
	field(color, "", "%lld x %s, %s, %s %s",
	      (long long)json_integer_value(get(h, "cpu.count")),
	      str_or(gets(h, "cpu.model"), "unknown CPU"), mem,
	      str_or(gets(h, "libc.name"), "libc"),
	      str_or(gets(h, "libc.version"), "?"));
	const json_t *gpus = get(h, "gpus");
	size_t i;
	json_t *g;
	json_array_foreach (gpus, i, g)
		field(color, i ? "" : "gpus", "%s (%s)",
		      str_or(gets(g, "model"), "?"),
		      str_or(gets(g, "bus"), "?"));
	if (gets(h, "nvidia.driver"))
		field(color, "driver", "NVIDIA %s, CUDA %s",
		      gets(h, "nvidia.driver"),
		      str_or(gets(h, "nvidia.cuda"), "-"));
	if (json_is_object(get(h, "slurm")))
		field(color, "slurm", "job %s%s%s on %s (%s)",
		      str_or(gets(h, "slurm.job_id"), "?"),
		      gets(h, "slurm.array_task_id") ? " task " : "",
		      str_or(gets(h, "slurm.array_task_id"), ""),
		      str_or(gets(h, "slurm.node_list"), "?"),
		      str_or(gets(h, "slurm.partition"), "?"));
	if (gets(h, "container"))
		field(color, "container", "%s", gets(h, "container"));
}

static void show_software(const json_t *rec, bool color)
{
	const json_t *sw = get(rec, "software");
	field(color, "software", "%zu shared libraries (%s)",
	      json_array_size(get(sw, "libraries")),
	      format_digest_short(gets(sw, "libraries_sha256")));
	if (json_is_object(get(sw, "python")))
		field(color, "", "python %.*s with %zu distributions",
		      /* sys.version: "3.11.2 (main, …) [GCC …]" */
		      (int)strcspn(str_or(gets(sw, "python.version"), "?"),
		                   " "),
		      str_or(gets(sw, "python.version"), "?"),
		      json_array_size(get(sw, "python.distributions")));
	if (json_is_object(get(sw, "blas")))
		field(color, "", "BLAS %s (%s %s)",
		      str_or(gets(sw, "blas.implementation"), "?"),
		      str_or(gets(sw, "blas.package"), "?"),
		      str_or(gets(sw, "blas.package_version"), ""));
}

/* What the run really used (DESIGN.md §8): the stack through any
 * wrapper, and each file read outside the pins. */
static void show_observed(const json_t *rec, bool color)
{
	const json_t *ob = get(rec, "observed");
	if (!json_is_object(ob))
		return;
	if (!json_is_true(get(ob, "traced"))) {
		field(color, "observed", "not traced (%s)",
		      str_or(gets(ob, "reason"), "?"));
		return;
	}
	_cleanup_free_ char *stack = xstrdup("");
	size_t i;
	json_t *e;
	json_array_foreach (get(ob, "stack"), i, e) {
		char *n = xasprintf("%s%s%s", stack, i ? " → " : "",
		                    str_or(json_string_value(e), "?"));
		free(stack);
		stack = n;
	}
	field(color, "observed", "%s", stack);
	field(color, "",
	      "%zu programs, %zu shared objects, %zu Python "
	      "distributions, %zu Debian packages",
	      json_array_size(get(ob, "programs")),
	      json_array_size(get(ob, "shared_objects")),
	      json_array_size(get(ob, "python")),
	      json_array_size(get(ob, "packages")));
	json_array_foreach (get(ob, "files_read"), i, e) {
		_cleanup_free_ char *bytes = format_bytes(
		        (uint64_t)json_integer_value(get(e, "size")));
		field(color,
		      json_is_true(get(e, "cache")) ? "cache" : "unpinned",
		      "%s  %s  %s%s", str_or(gets(e, "path"), "?"), bytes,
		      format_digest_short(gets(e, "sha256")),
		      json_is_true(get(e, "changed"))
		              ? "  (changed while the run had it)"
		              : "");
	}
}

static void show_result(const json_t *rec, bool color)
{
	const json_t *res = get(rec, "result");
	if (!json_is_object(res)) {
		field(color, "result", "-");
		return;
	}
	_cleanup_free_ char *rss = format_bytes(
	        (uint64_t)json_integer_value(get(res, "rusage.max_rss_kb")) *
	        1024);
	field(color, "result", "%s; user %.2fs, sys %.2fs, max RSS %s",
	      str_or(gets(res, "cause"), "?"),
	      json_number_value(get(res, "rusage.user_s")),
	      json_number_value(get(res, "rusage.sys_s")), rss);
	static const char *const streams[] = {"stdout", "stderr"};
	for (size_t i = 0; i < ELEMENTSOF(streams); i++) {
		const json_t *s = get(res, streams[i]);
		if (!json_is_object(s))
			continue;
		_cleanup_free_ char *b = format_bytes(
		        (uint64_t)json_integer_value(get(s, "bytes")));
		field(color, streams[i], "%s %s", b,
		      format_digest_short(gets(s, "sha256")));
	}
	const json_t *metrics = get(res, "metrics");
	const char *k;
	json_t *m;
	bool first = true;
	json_object_foreach ((json_t *)metrics, k, m) {
		_cleanup_free_ char *last = format_value(get(m, "last"));
		_cleanup_free_ char *mn = format_value(get(m, "min"));
		_cleanup_free_ char *mx = format_value(get(m, "max"));
		field(color, first ? "metrics" : "",
		      "%s %s (min %s, max %s, %lld values)", k, last, mn, mx,
		      (long long)json_integer_value(get(m, "count")));
		first = false;
	}
}

/* One pinned root: path, files, bytes, digest (and, for an input
 * bound from its place, that it is referenced, not stored). */
static void show_pinned(bool color, const char *label, const json_t *p)
{
	_cleanup_free_ char *path =
	        json_bytes_decode(json_object_get(p, "path"), NULL);
	json_int_t files = json_integer_value(get(p, "files"));
	_cleanup_free_ char *bytes =
	        format_bytes((uint64_t)json_integer_value(get(p, "bytes")));
	const char *storage = gets(p, "storage");
	field(color, label, "%s  %lld file%s, %s  %s%s", str_or(path, "?"),
	      (long long)files, files == 1 ? "" : "s", bytes,
	      format_digest_short(gets(p, "digest")),
	      storage && streq(storage, "referenced") ? "  (referenced)" : "");
}

static void show_pins(const json_t *rec, bool color)
{
	const json_t *ws = get(rec, "source.workspace");
	if (json_is_object(ws))
		show_pinned(color, "workspace", ws);
	static const struct {
		const char *key, *label;
	} lists[] = {{"inputs", "input"}, {"outputs", "output"}};
	for (size_t k = 0; k < ELEMENTSOF(lists); k++) {
		size_t i;
		json_t *p;
		json_array_foreach (get(rec, lists[k].key), i, p)
			show_pinned(color, lists[k].label, p);
	}
}

/* A replay's verdict, and each file that differs. */
static void show_verification(const json_t *rec, bool color)
{
	const json_t *v = get(rec, "verification");
	if (!json_is_object(v))
		return;
	bool ok = json_is_true(get(v, "reproduced"));
	size_t i, n = 0;
	json_t *f;
	json_array_foreach (get(v, "files"), i, f)
		n += json_is_true(json_object_get(f, "match"));
	if (ok)
		field(color, "verdict",
		      "%sreproduced%s: %zu output file%s and stdout match %.8s",
		      status_color("succeeded", color), COLOR_RESET(color), n,
		      n == 1 ? "" : "s", str_or(gets(v, "original"), "?"));
	else
		field(color, "verdict", "%sdiffers%s from %.8s",
		      status_color("failed", color), COLOR_RESET(color),
		      str_or(gets(v, "original"), "?"));
	json_array_foreach (get(v, "files"), i, f) {
		if (json_is_true(json_object_get(f, "match")))
			continue;
		const json_t *e = json_object_get(f, "expected");
		const json_t *a = json_object_get(f, "actual");
		field(color, "", "differs: %s (%.19s, was %.19s)",
		      str_or(gets(f, "path"), "?"),
		      json_is_string(a) ? json_string_value(a) : "missing",
		      json_is_string(e) ? json_string_value(e) : "not there");
	}
	if (!json_is_true(get(v, "stdout.match")))
		field(color, "", "differs: stdout");
}

/* Tags and notes added after the run (xrun tag, xrun note). */
static void show_annotations(const Record *r, bool color)
{
	json_auto_t *a = NULL;
	int k = annotations_load(r->dir, &a);
	if (k < 0) {
		log_warn_errno(k, "cannot read the annotations of run %s: %m",
		               record_id(r));
		return;
	}
	const char *key;
	json_t *v;
	json_object_foreach (json_object_get(a, "tags"), key, v) {
		_cleanup_free_ char *t =
		        xasprintf("%s=%s", key, json_string_value(v));
		_cleanup_free_ char *e = format_escape(t);
		field(color, "tag", "%s (added)", e);
	}
	size_t i;
	json_array_foreach (json_object_get(a, "notes"), i, v) {
		_cleanup_free_ char *when =
		        format_local_time(json_get_string(v, "time"));
		_cleanup_free_ char *e =
		        format_escape(json_get_string(v, "text"));
		field(color, "note", "%s  %s", when ? when : "?", e);
	}
}

static void show_readable(const Record *r, bool color)
{
	const json_t *rec = r->root;
	const char *status = record_status(r);
	field(color, "run", "%s", record_id(r));
	if (gets(rec, "name"))
		field(color, "name", "%s", gets(rec, "name"));
	const char *k;
	json_t *v;
	json_object_foreach (get(rec, "tags"), k, v)
		field(color, "tag", "%s=%s", k,
		      str_or(json_string_value(v), "?"));
	_cleanup_free_ char *status_safe = format_escape(status);
	printf("%s%-9s%s %s%s%s\n", COLOR_BOLD(color), "status",
	       COLOR_RESET(color), status_color(status, color),
	       status_safe ? status_safe : "?", COLOR_RESET(color));
	if (gets(rec, "replay_of"))
		field(color, "replay of", "%s", gets(rec, "replay_of"));
	_cleanup_free_ char *when = format_created_ran(rec);
	field(color, "created", "%s", when);
	_cleanup_free_ char *argv = format_argv(get(rec, "command.argv"));
	field(color, "command", "%s", argv);
	_cleanup_free_ char *cwd =
	        json_bytes_decode(get(rec, "command.cwd"), NULL);
	field(color, "cwd", "%s", str_or(cwd, "?"));
	_cleanup_free_ char *exe =
	        json_bytes_decode(get(rec, "command.executable.path"), NULL);
	field(color, "program", "%s %s", str_or(exe, "?"),
	      format_digest_short(gets(rec, "command.executable.sha256")));
	if (json_is_object(get(rec, "command.script"))) {
		_cleanup_free_ char *s = json_bytes_decode(
		        get(rec, "command.script.path"), NULL);
		field(color, "script", "%s %s", str_or(s, "?"),
		      format_digest_short(gets(rec, "command.script.sha256")));
	}
	field(color, "seed", "%s (%s)", str_or(gets(rec, "seed.value"), "?"),
	      str_or(gets(rec, "seed.source"), "?"));
	show_params(get(rec, "params"), color);
	show_git(rec, color);
	show_host(rec, color);
	show_software(rec, color);
	show_observed(rec, color);
	field(color, "env", "%zu variables, %zu redacted (%s)",
	      json_object_size(get(rec, "environment.variables")),
	      json_array_size(get(rec, "environment.redacted")),
	      format_digest_short(gets(rec, "environment.sha256")));
	field(color, "sandbox", "%s",
	      json_is_true(get(rec, "sandbox.enabled")) ? "enabled"
	                                                : "disabled");
	if (json_is_object(get(rec, "threads.affinity")))
		field(color, "cpus", "%lld (%s)",
		      (long long)json_integer_value(
		              get(rec, "threads.affinity.count")),
		      str_or(gets(rec, "threads.affinity.list"), "?"));
	show_pins(rec, color);
	show_result(rec, color);
	show_verification(rec, color);
	show_annotations(r, color);
	field(color, "record", "%s", r->path);
}

/* The latest `xrun check` of the run (check.h), when there is one. */
static void show_check(const Store *s, const Record *r, bool color)
{
	json_auto_t *all = check_latest_by_run(s);
	json_t *c = json_object_get(all, record_id(r));
	if (!c)
		return;
	_cleanup_free_ char *what = check_short(c);
	field(color, "check",
	      "%s (check %.8s, %s; its report: %s/checks/%s.json)", what,
	      str_or(json_get_string(c, "id"), "?"),
	      str_or(json_get_string(c, "finished"), "?"), s->root,
	      str_or(json_get_string(c, "id"), "?"));
}

int cmd_show(int argc, char **argv, Context *ctx)
{
	bool json = false;
	_cleanup_cmd_parser_ CmdParser opt_parser;
	cmd_parser_init(&opt_parser, &show_cmd, argc, argv);
	int c;
	while ((c = cmd_option_next(&opt_parser)) > 0) {
		switch (c) {
		case OPT_JSON:
			json = true;
			break;
		}
	}
	if (c < 0)
		return opt_parser.status;
	if (optind != argc - 1)
		return cmd_usage_error(&show_cmd, "show takes one RUN");
	_cleanup_record_ Record *r = NULL;
	int st = load_run(ctx, argv[optind], &r);
	if (st)
		return st;
	(void)warn_if_edited(r);
	if (json) {
		/* What a reader should believe: a dead launcher's record
		 * reads as abandoned (the file is left as it is). */
		json_object_set_new(r->root, "status",
		                    json_string(record_status(r)));
		if (json_dumpf_shortest(r->root, stdout, JSON_INDENT(2)) == 0)
			putchar('\n');
	} else {
		show_readable(r, want_color(ctx, STDOUT_FILENO));
		(void)print_parent_runs(ctx, r, NULL, "parent");
		if (ctx->store)
			show_check(ctx->store, r,
			           want_color(ctx, STDOUT_FILENO));
	}
	return finish_stdout(0);
}
