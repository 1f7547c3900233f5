/* xrun check [--factors LIST] [-j N] [--json] RUN */
#include "config.h"

#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uuid/uuid.h>

#include "check.h"
#include "cmd.h"
#include "options.h"
#include "format.h"
#include "replay.h"
#include "runner.h"
#include "spec.h"
#include "util.h"

enum { OPT_FACTORS = 256, OPT_JSON, OPT_FORCE };

static const CmdOption check_options[] = {
        {OPT_FACTORS, "factors", "LIST",
         "only these factors (comma-separated; default all)"},
        {'j', "jobs", "N", "run N replays at once (default 1)"},
        {OPT_JSON, "json", NULL,
         "the report as JSON (schemas/check-report.schema.json)"},
        {OPT_FORCE, "force", NULL,
         "check a record edited after xrun wrote it, or one whose environment preloads code (LD_PRELOAD, ...)"},
        CMD_OPTION_HELP,
        {0},
};

static const CmdSpec check_cmd = {
        .name = "check",
        .synopsis = "[--factors LIST] [-j N] [--json] RUN",
        .about =
                "Find what makes RUN's outputs change. RUN is replayed twice as it\n"
                "is (two replays that differ: the run is nondeterministic by itself),\n"
                "then once per factor with that factor alone changed, each replay\n"
                "compared with the first: outputs, stdout, exit status, metric\n"
                "streams, and the size of numeric differences in .npy, .npz and CSV\n"
                "files. A factor that cannot be changed here is 'not tested', with\n"
                "the reason. The replays are runs tagged check=ID and check_factor=F;\n"
                "the summary is kept in the store (checks/ID.json) and shown by\n"
                "xrun show RUN.\n"
                "\n"
                "Factors: threads, cpu-features, aslr, hashseed, env-order, locale,\n"
                "timezone, time, hostname, umask, user, cwd-path, file-order.\n",
        .options = check_options,
        .after =
                "Exit status: 0 when every tested factor gives the same outputs, 1 when\n"
                "something differs, 2 on error, 130 when interrupted.\n",
};

#define RED(c) ((c) ? "\033[31m" : "")

typedef struct Job {
	char *label;               /* baseline-1, baseline-2, or the factor */
	const CheckFactor *factor; /* NULL for a baseline */
	RunSpec *spec;             /* NULL when not tested */
	char *how;                 /* what was changed */
	char *why;                 /* why not tested */
	pid_t pid;
	int result_fd;
	bool done;
	json_t *result; /* {"id", "status", "exit_status", "error"} */
	Record *rec;
	json_t *comparison;
} Job;

static void job_clear(Job *j)
{
	free(j->label);
	run_spec_free(j->spec);
	free(j->how);
	free(j->why);
	if (j->result_fd >= 0)
		close(j->result_fd);
	json_decref(j->result);
	record_free(j->rec);
	json_decref(j->comparison);
}

/* The replay itself, in a child of its own: the runner holds signals,
 * the CPUs and the terminal per process, and factors run side by side.
 * It reports {"id", "status", "exit_status", "error"} on fd. */
_noreturn_ static void job_child(Store *s, Job *j, int fd)
{
	/* Out of the terminal's process group: a ^C reaches the check,
	 * which passes it on once. */
	(void)setpgid(0, 0);
	int null = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (null >= 0) {
		dup2(null, STDIN_FILENO);
		dup2(null, STDOUT_FILENO);
		dup2(null, STDERR_FILENO);
	}
	cpu_set_t cpus;
	if (replay_affinity(j->spec, &cpus) > 0)
		(void)sched_setaffinity(0, sizeof cpus, &cpus);
	runner_set_notice(NULL);
	RunOutcome o;
	int r = runner_run(s, j->spec, &o);
	json_t *res = json_pack("{s:s?,s:s?,s:i,s:s?,s:b}", "id", o.id,
	                        "status", o.status, "exit_status",
	                        o.exit_status, "error", o.error, "ran", r == 0);
	_cleanup_free_ char *t = json_dumps(res, JSON_COMPACT);
	if (t)
		(void)write_all(fd, t, strlen(t));
	_exit(0);
}

static int job_start(Store *s, Job *j)
{
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0)
		return negative_errno();
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0) {
		int r = negative_errno();
		close(p[0]);
		close(p[1]);
		return r;
	}
	if (pid == 0) {
		close(p[0]);
		job_child(s, j, p[1]);
	}
	close(p[1]);
	(void)setpgid(pid, pid);
	j->pid = pid;
	j->result_fd = p[0];
	return 0;
}

static void job_finish(Job *j, int wstatus)
{
	_cleanup_free_ char *t = NULL;
	(void)read_full_fd(j->result_fd, 1 << 20, &t, NULL);
	close(j->result_fd);
	j->result_fd = -1;
	j->done = true;
	j->pid = 0;
	json_t *res = t ? json_loads(t, 0, NULL) : NULL;
	if (!res) {
		char why[128];
		if (WIFSIGNALED(wstatus))
			snprintf(why, sizeof why,
			         "the replay's launcher died of signal %d",
			         WTERMSIG(wstatus));
		else
			snprintf(why, sizeof why,
			         "the replay's launcher ended without a word "
			         "(exit %d)",
			         WEXITSTATUS(wstatus));
		res = json_pack("{s:s,s:b}", "error", why, "ran", 0);
	}
	j->result = res;
}

static volatile sig_atomic_t interrupted;

/* Run the jobs [from, to) at most n_par at once. A SIGINT, SIGTERM or
 * SIGHUP goes on to the running replays (the runner records them as
 * interrupted) and no more start. */
static int run_jobs(Store *s, Job *jobs, size_t from, size_t to, int n_par,
                    const sigset_t *mask)
{
	size_t next = from;
	int running = 0, failed = 0;
	for (;;) {
		while (!interrupted && !failed && running < n_par &&
		       next < to) {
			Job *j = &jobs[next++];
			if (!j->spec)
				continue;
			/* One that cannot start: wait for the others, then
			 * say why. */
			failed = job_start(s, j);
			if (failed == 0)
				running++;
		}
		if (running == 0)
			return failed;
		siginfo_t si;
		int sig = sigwaitinfo(mask, &si);
		if (sig < 0)
			continue;
		if (sig != SIGCHLD) {
			interrupted = sig;
			for (size_t i = from; i < to; i++)
				if (jobs[i].pid > 0)
					(void)kill(jobs[i].pid, sig);
			continue;
		}
		int st;
		pid_t pid;
		while ((pid = waitpid(-1, &st, WNOHANG)) > 0)
			for (size_t i = from; i < to; i++)
				if (jobs[i].pid == pid) {
					job_finish(&jobs[i], st);
					running--;
				}
	}
}

/* Load each finished job's record; an error line for one that did not
 * run. */
static int job_load(Store *s, Job *j, char **ret_error)
{
	const char *id = json_get_string(j->result, "id");
	if (!json_is_true(json_object_get(j->result, "ran")) || !id) {
		const char *e = json_get_string(j->result, "error");
		*ret_error = xasprintf("the %s replay failed: %s", j->label,
		                       e ? e : "no reason given");
		return -EIO;
	}
	_cleanup_free_ char *dir = path_join(s->runs, id);
	_cleanup_free_ char *path = path_join(dir, "record.json");
	_cleanup_free_ char *err = NULL;
	int r = record_load(path, &j->rec, &err);
	if (r < 0) {
		*ret_error =
		        xasprintf("cannot read the %s replay's record "
		                  "'%s': %s",
		                  j->label, path, err ? err : strerror(-r));
		return r;
	}
	return 0;
}

/* ---- the report ---- */

static char *num_text(const json_t *v)
{
	if (json_is_integer(v))
		return xasprintf("%" JSON_INTEGER_FORMAT,
		                 json_integer_value(v));
	if (json_is_real(v))
		return format_double(json_real_value(v));
	return xstrdup("(none)");
}

/* Where two replays differ, one line each, into lines. */
static char **where_lines(char **lines, const json_t *cmp)
{
	json_t *ex = json_object_get(cmp, "exit");
	if (ex) {
		_cleanup_free_ char *a =
		        json_dumps(json_object_get(ex, "a"), JSON_COMPACT);
		_cleanup_free_ char *b =
		        json_dumps(json_object_get(ex, "b"), JSON_COMPACT);
		lines = strv_pushf(lines, "exit: %s vs %s", a ? a : "?",
		                   b ? b : "?");
	}
	if (!json_is_true(json_object_get(cmp, "stdout")))
		lines = strv_push(lines, "stdout differs");
	size_t i;
	json_t *f;
	json_array_foreach (json_object_get(cmp, "files"), i, f) {
		_cleanup_free_ char *p =
		        format_escape(json_get_string(f, "path"));
		json_t *num = json_object_get(f, "numeric");
		const char *note = json_get_string(num, "note");
		if (json_is_null(json_object_get(f, "a")) ||
		    json_is_null(json_object_get(f, "b"))) {
			lines = strv_pushf(lines, "'%s' is in only one of them",
			                   p);
			continue;
		}
		if (!num) {
			lines = strv_pushf(lines, "'%s' differs", p);
			continue;
		}
		if (note) {
			lines = strv_pushf(lines, "'%s' differs (%s)", p, note);
			continue;
		}
		json_t *ma = json_object_get(num, "max_abs");
		if (json_is_real(ma)) {
			char a[32], r[32];
			snprintf(a, sizeof a, "%.3g", json_number_value(ma));
			snprintf(r, sizeof r, "%.3g",
			         json_number_value(
			                 json_object_get(num, "max_rel")));
			lines = strv_pushf(
			        lines,
			        "'%s': %" JSON_INTEGER_FORMAT
			        " of %" JSON_INTEGER_FORMAT
			        " values differ, largest absolute difference "
			        "%s (at %s), largest relative %s",
			        p,
			        json_integer_value(
			                json_object_get(num, "differing")),
			        json_integer_value(
			                json_object_get(num, "values")),
			        a, json_get_string(num, "where"), r);
		} else if (json_integer_value(json_object_get(num, "values")))
			lines = strv_pushf(
			        lines,
			        "'%s' differs, but not in its numbers "
			        "(%" JSON_INTEGER_FORMAT " compared)",
			        p,
			        json_integer_value(
			                json_object_get(num, "values")));
		else
			lines = strv_pushf(lines, "'%s' differs", p);
		json_t *notes = json_object_get(num, "notes");
		size_t k;
		json_t *n;
		json_array_foreach (notes, k, n)
			lines = strv_pushf(lines, "'%s': %s", p,
			                   json_string_value(n));
	}
	json_array_foreach (json_object_get(cmp, "metrics"), i, f) {
		_cleanup_free_ char *a = num_text(json_object_get(f, "a"));
		_cleanup_free_ char *b = num_text(json_object_get(f, "b"));
		_cleanup_free_ char *name =
		        format_escape(json_get_string(f, "name"));
		lines = strv_pushf(
		        lines,
		        "%s differs from step %" JSON_INTEGER_FORMAT
		        ": %s vs %s",
		        name, json_integer_value(json_object_get(f, "step")), a,
		        b);
	}
	return lines;
}

static json_t *factor_json(const Job *j)
{
	json_t *o = json_pack("{s:s}", "name", j->label);
	if (!j->spec) {
		json_object_set_new(o, "result", json_string("not tested"));
		json_object_set_new(o, "why", json_string(j->why));
		return o;
	}
	json_object_set_new(o, "how", json_string(j->how ? j->how : ""));
	if (!j->rec) {
		json_object_set_new(o, "result", json_string("not tested"));
		json_object_set_new(o, "why",
		                    json_string("the check was interrupted "
		                                "before this replay ended"));
		const char *id = json_get_string(j->result, "id");
		if (id)
			json_object_set_new(o, "replay", json_string(id));
		return o;
	}
	json_object_set_new(o, "replay", json_string(record_id(j->rec)));
	bool same = json_is_true(json_object_get(j->comparison, "same"));
	json_object_set_new(o, "result",
	                    json_string(same ? "same" : "differs"));
	json_object_set(o, "comparison", j->comparison);
	return o;
}

static char *verdict_text(const json_t *report)
{
	if (json_is_false(json_get_path(report, "baseline.same")))
		return xstrdup("nondeterministic by itself: two unchanged "
		               "replays differ; seed every random generator "
		               "from $XRUN_SEED, do not read the clock or "
		               "os.urandom into results, and pin thread counts "
		               "(--deterministic)");
	char *names = NULL, *fixes = NULL;
	size_t i, tested = 0, skipped = 0;
	json_t *f;
	json_array_foreach (json_object_get(report, "factors"), i, f) {
		const char *r = json_get_string(f, "result");
		if (streq(r, "not tested")) {
			skipped++;
			continue;
		}
		tested++;
		if (!streq(r, "differs"))
			continue;
		const char *name = json_get_string(f, "name");
		const CheckFactor *cf = check_factor_find(name);
		char *t = xasprintf("%s%s%s", names ? names : "",
		                    names ? ", " : "", name);
		free(names);
		names = t;
		t = xasprintf("%s%s%s", fixes ? fixes : "", fixes ? "; " : "",
		              cf ? cf->fix : "");
		free(fixes);
		fixes = t;
	}
	if (names) {
		char *v = xasprintf("depends on %s: %s", names, fixes);
		free(names);
		free(fixes);
		return v;
	}
	if (tested == 0)
		return xasprintf("no factor could be tested (%zu not "
		                 "tested); the two unchanged replays match",
		                 skipped);
	return xasprintf("deterministic under every tested factor (%zu "
	                 "tested, %zu not tested)",
	                 tested, skipped);
}

static void print_report(const json_t *report, Job *jobs, size_t n_jobs,
                         bool color)
{
	printf("check %.8s of run %.8s\n", json_get_string(report, "id"),
	       json_get_string(report, "run"));
	const char *bres =
	        json_is_true(json_get_path(report, "baseline.same")) ? "same"
	        : json_is_false(json_get_path(report, "baseline.same"))
	                ? "differs"
	                : "not tested";
	printf("  %-13s %s%-10s%s  two unchanged replays\n", "baseline",
	       streq(bres, "differs") ? RED(color) : "", bres,
	       streq(bres, "differs") ? COLOR_RESET(color) : "");
	size_t i;
	json_t *f;
	json_array_foreach (json_object_get(report, "factors"), i, f) {
		const char *r = json_get_string(f, "result");
		const char *detail = streq(r, "not tested")
		                             ? json_get_string(f, "why")
		                             : json_get_string(f, "how");
		printf("  %-13s %s%-10s%s  %s\n", json_get_string(f, "name"),
		       streq(r, "differs") ? RED(color) : "", r,
		       streq(r, "differs") ? COLOR_RESET(color) : "",
		       detail ? detail : "");
	}
	json_t *bc = json_get_path(report, "baseline.comparison");
	if (json_is_false(json_get_path(report, "baseline.same"))) {
		printf("\nbaseline: the two unchanged replays differ:\n");
		_cleanup_strv_free_ char **l = where_lines(NULL, bc);
		for (char **p = l; p && *p; p++)
			printf("  %s\n", *p);
	}
	for (size_t k = 0; k < n_jobs; k++) {
		Job *j = &jobs[k];
		if (!j->factor || !j->comparison ||
		    json_is_true(json_object_get(j->comparison, "same")))
			continue;
		printf("\n%s: differs:\n", j->label);
		_cleanup_strv_free_ char **l = where_lines(NULL, j->comparison);
		for (char **p = l; p && *p; p++)
			printf("  %s\n", *p);
	}
	printf("\nverdict: %s\n", json_get_string(report, "verdict"));
}

/* ---- the command ---- */

static int parse_factors(const char *list, bool want[])
{
	_cleanup_free_ char *copy = xstrdup(list);
	char *rest = copy;
	bool any = false;
	for (char *t; (t = strsep(&rest, ","));) {
		if (!*t)
			continue;
		if (streq(t, "all")) {
			for (size_t i = 0; i < check_n_factors; i++)
				want[i] = true;
			any = true;
			continue;
		}
		const CheckFactor *f = check_factor_find(t);
		if (!f) {
			log_error("unknown factor '%s'; the factors are "
			          "threads, cpu-features, aslr, hashseed, "
			          "env-order, locale, timezone, time, "
			          "hostname, umask, user, cwd-path, file-order "
			          "(see xrun check --help)",
			          t);
			return 2;
		}
		want[f - check_factors] = true;
		any = true;
	}
	if (!any)
		return cmd_usage_error(
		        &check_cmd,
		        "--factors takes a comma-separated list, not "
		        "'%s'",
		        list);
	return 0;
}

/* Where xrun's helper libraries lie: beside the running xrun (a build
 * tree), else the installed libexec directory. */
static char *helper_dir(void)
{
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	if (n > 0) {
		exe[n] = 0;
		char *slash = strrchr(exe, '/');
		if (slash) {
			*slash = 0;
			_cleanup_free_ char *p =
			        path_join(exe, "xrun-disorder.so");
			if (access(p, R_OK) == 0)
				return xstrdup(exe);
		}
	}
	return xstrdup(XRUN_LIBEXECDIR);
}

/* The checks replay does before a replay: a record edited by hand, a
 * recorded environment that preloads code. 0, or the exit status. */
static int check_record(const Record *rec, const RunSpec *spec, bool force)
{
	int r = record_check_digest(rec);
	if (r == -EBADMSG && !force) {
		log_error("record '%s' was changed after xrun wrote it (its "
		          "record_sha256 no longer matches its content); pass "
		          "--force to check it anyway",
		          rec->path);
		return 2;
	}
	if (r < 0 && r != -EBADMSG) {
		log_error_errno(r, "cannot check record '%s': %m", rec->path);
		return 2;
	}
	size_t pos = 0;
	const char *var = force ? NULL : replay_loader_variable(spec, &pos);
	if (var) {
		log_error("record '%s' sets %s for the program: its replays "
		          "would load code the record names; check it and "
		          "pass --force to check it anyway",
		          rec->path, var);
		return 2;
	}
	return 0;
}

static RunSpec *job_spec(const Record *rec, const char *check_id,
                         const char *label)
{
	RunSpec *spec = NULL;
	_cleanup_strv_free_ char **warnings = NULL;
	_cleanup_free_ char *err = NULL;
	if (replay_spec(rec, NULL, &spec, &warnings, &err) < 0)
		return NULL;
	json_object_set_new(spec->tags, "check", json_string(check_id));
	json_object_set_new(spec->tags, "check_factor", json_string(label));
	return spec;
}

/* One check, from the command line to the report: the steps of
 * cmd_check() fill it in order, check_done() frees it. */
typedef struct Check {
	bool want[64]; /* the factors asked for */
	bool json, force;
	uint64_t n_par;
	Store *store;
	Record *rec;    /* the run checked */
	RunSpec *probe; /* its replay's spec, as the check's replays start */
	char id[37];
	Job *jobs; /* two baselines, then the factors asked for */
	size_t n_jobs;
	char *created;
	json_t *bcmp; /* the two baselines compared, or NULL */
	char *error;  /* why a baseline's replay could not be loaded */
	int r;        /* the replays' status: 0 or -errno */
} Check;

static void check_done(Check *ck)
{
	json_decref(ck->bcmp);
	free(ck->created);
	for (size_t i = 0; i < ck->n_jobs; i++)
		job_clear(&ck->jobs[i]);
	free(ck->jobs);
	free(ck->error);
	run_spec_free(ck->probe);
	record_free(ck->rec);
}

/* The options and RUN's operand index (optind). */
static int check_parse(Check *ck, int argc, char **argv)
{
	bool any_factor = false;
	ck->n_par = 1;
	_cleanup_cmd_parser_ CmdParser opt_parser;
	cmd_parser_init(&opt_parser, &check_cmd, argc, argv);
	int c;
	while ((c = cmd_option_next(&opt_parser)) > 0) {
		switch (c) {
		case OPT_FACTORS: {
			int st = parse_factors(opt_parser.arg, ck->want);
			if (st)
				return st;
			any_factor = true;
			break;
		}
		case 'j':
			if (parse_u64(opt_parser.arg, &ck->n_par) < 0 ||
			    ck->n_par == 0 || ck->n_par > 64)
				return cmd_usage_error(
				        &check_cmd,
				        "-j takes a number from 1 to "
				        "64, not '%s'",
				        opt_parser.arg);
			break;
		case OPT_JSON:
			ck->json = true;
			break;
		case OPT_FORCE:
			ck->force = true;
			break;
		}
	}
	if (c < 0)
		return opt_parser.status;
	if (argc - optind != 1)
		return cmd_usage_error(&check_cmd, "%s", "check takes one RUN");
	if (!any_factor)
		for (size_t i = 0; i < check_n_factors; i++)
			ck->want[i] = true;
	return CMD_GO_ON;
}

/* Load RUN and make sure it can be replayed here. */
static int check_load(Check *ck, Context *ctx, const char *run)
{
	if (context_find_store(ctx, true) < 0)
		return 2;
	ck->store = ctx->store;
	if (load_run(ctx, run, &ck->rec))
		return 2;
	const Record *rec = ck->rec;
	const char *status = record_status(rec);
	if (status &&
	    (streq(status, "running") || streq(status, "abandoned"))) {
		log_error("run %.8s is %s: check a run that has ended",
		          record_id(rec), status);
		return 2;
	}
	if (json_is_string(json_object_get(rec->root, "replay_of")) &&
	    json_object_get(json_object_get(rec->root, "tags"), "check"))
		log_warn("run %.8s is itself one of a check's replays",
		         record_id(rec));

	uuid_t u;
	uuid_generate_random(u);
	uuid_unparse_lower(u, ck->id);

	_cleanup_strv_free_ char **warnings = NULL;
	_cleanup_free_ char *err = NULL;
	int r = replay_spec(rec, NULL, &ck->probe, &warnings, &err);
	for (char **w = warnings; w && *w; w++)
		log_warn("%s", *w);
	if (r < 0) {
		log_error("cannot replay '%s': %s", rec->path, err);
		return 2;
	}
	int st = check_record(rec, ck->probe, ck->force);
	if (st)
		return st;
	_cleanup_strv_free_ char **diffs = NULL;
	free(err);
	err = NULL;
	if (replay_check_objects(ck->store, NULL, rec, &err) < 0) {
		log_error("%s", err);
		return 2;
	}
	if (replay_differences(rec, ck->probe, ck->store->cache, &diffs) == 0)
		for (char **d = diffs; d && *d; d++)
			log_warn("differs from the original's machine: "
			         "%s",
			         *d);
	return CMD_GO_ON;
}

/* The plan: two baselines, then one replay per factor. */
static void check_plan(Check *ck)
{
	const Record *rec = ck->rec;
	_cleanup_free_ char *helpers = helper_dir();
	ck->jobs = xcalloc(2 + check_n_factors, sizeof *ck->jobs);
	Job *jobs = ck->jobs;
	size_t k = 0;
	for (int b = 1; b <= 2; b++, k++) {
		jobs[k].label = xasprintf("baseline-%d", b);
		jobs[k].result_fd = -1;
		jobs[k].spec = job_spec(rec, ck->id, jobs[k].label);
	}
	for (size_t i = 0; i < check_n_factors; i++) {
		if (!ck->want[i])
			continue;
		Job *j = &jobs[k++];
		j->result_fd = -1;
		j->factor = &check_factors[i];
		j->label = xstrdup(j->factor->name);
		j->spec = job_spec(rec, ck->id, j->label);
		if (j->spec &&
		    check_factor_apply(j->factor, rec, helpers, j->spec,
		                       &j->how, &j->why) < 0) {
			j->spec = run_spec_free(j->spec);
		}
	}
	ck->n_jobs = k;

	if (!ck->json && log_level >= LOG_NORMAL)
		fprintf(stderr,
		        "xrun: check %.8s of run %.8s: 2 unchanged replays, "
		        "then %zu factor%s, %" PRIu64 " at a time\n",
		        ck->id, record_id(rec), ck->n_jobs - 2,
		        ck->n_jobs - 2 == 1 ? "" : "s", ck->n_par);
}

/* Judge each factor's replay against the first baseline. */
static void check_compare_factors(Check *ck)
{
	Job *jobs = ck->jobs;
	for (size_t i = 2; ck->r == 0 && i < ck->n_jobs; i++) {
		if (!jobs[i].done)
			continue;
		if (interrupted && !json_get_string(jobs[i].result, "id"))
			continue;
		/* A factor whose replay xrun could not run (the sandbox
		 * refused its knob, say) is not tested, and says why. */
		char *why = NULL;
		if (job_load(ck->store, &jobs[i], &why) < 0) {
			free(jobs[i].why);
			jobs[i].why = why;
			jobs[i].spec = run_spec_free(jobs[i].spec);
			continue;
		}
		if (check_preload_failed(jobs[i].rec)) {
			free(jobs[i].why);
			jobs[i].why = xasprintf(
			        "the loader could not preload %s's library in "
			        "the sandbox (its stderr says so): nothing was "
			        "changed",
			        jobs[i].label);
			jobs[i].spec = run_spec_free(jobs[i].spec);
			continue;
		}
		jobs[i].comparison =
		        check_compare(ck->store, jobs[0].rec, jobs[i].rec);
	}
}

/* The baselines, then (when they agree) the factors, with SIGCHLD and
 * the stopping signals blocked (run_jobs() waits for them). */
static void check_run(Check *ck)
{
	Store *s = ck->store;
	Job *jobs = ck->jobs;
	ck->created = format_rfc3339(now_ns());
	sigset_t mask, old;
	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGHUP);
	sigprocmask(SIG_BLOCK, &mask, &old);
	int r = run_jobs(s, jobs, 0, 2, (int)ck->n_par, &mask);
	for (size_t i = 0; r == 0 && !interrupted && i < 2; i++)
		r = job_load(s, &jobs[i], &ck->error);
	if (r == 0 && !interrupted) {
		ck->bcmp = check_compare(s, jobs[0].rec, jobs[1].rec);
		/* Against a baseline that differs from itself no factor can
		 * be judged. */
		if (!json_is_true(json_object_get(ck->bcmp, "same")))
			for (size_t i = 2; i < ck->n_jobs; i++)
				if (jobs[i].spec) {
					jobs[i].spec =
					        run_spec_free(jobs[i].spec);
					free(jobs[i].how);
					jobs[i].how = NULL;
					jobs[i].why = xstrdup(
					        "not run: the two unchanged "
					        "replays already differ");
				}
		r = run_jobs(s, jobs, 2, ck->n_jobs, (int)ck->n_par, &mask);
	}
	ck->r = r;
	check_compare_factors(ck);
	sigprocmask(SIG_SETMASK, &old, NULL);
}

/* The report's "baseline": the two replays' ids and whether they
 * agree. */
static json_t *baseline_json(const Check *ck)
{
	json_t *replays = json_array();
	for (size_t i = 0; i < 2; i++) {
		const Job *j = &ck->jobs[i];
		/* An interrupted replay is a run too. */
		const char *rid = j->rec ? record_id(j->rec)
		                         : json_get_string(j->result, "id");
		json_array_append_new(replays,
		                      rid ? json_string(rid) : json_null());
	}
	json_t *base = json_pack("{s:o}", "replays", replays);
	json_object_set_new(base, "same",
	                    ck->bcmp
	                            ? json_boolean(json_is_true(json_object_get(
	                                      ck->bcmp, "same")))
	                            : json_null());
	if (ck->bcmp)
		json_object_set(base, "comparison", ck->bcmp);
	return base;
}

/* The report (checks/ID.json), with *differs set when the baselines or
 * a factor differ. */
static json_t *check_report(const Check *ck, bool *differs)
{
	json_t *report = json_pack(
	        "{s:s,s:s,s:s,s:s,s:s}", "schema", "xrun/check/1", "id", ck->id,
	        "run", record_id(ck->rec), "created", ck->created, "status",
	        interrupted ? "interrupted" : "complete");
	_cleanup_free_ char *fin = format_rfc3339(now_ns());
	json_object_set_new(report, "finished", json_string(fin));
	json_t *base = baseline_json(ck);
	json_object_set_new(report, "baseline", base);
	json_t *factors = json_array();
	for (size_t i = 2; i < ck->n_jobs; i++)
		json_array_append_new(factors, factor_json(&ck->jobs[i]));
	json_object_set_new(report, "factors", factors);
	_cleanup_free_ char *verdict =
	        interrupted ? xstrdup("interrupted before every replay "
	                              "ended; run the check again")
	                    : verdict_text(report);
	json_object_set_new(report, "verdict", json_string(verdict));
	*differs = false;
	if (json_is_false(json_object_get(base, "same")))
		*differs = true;
	size_t i;
	json_t *f;
	json_array_foreach (factors, i, f)
		*differs = *differs ||
		           streq(json_get_string(f, "result"), "differs");
	json_object_set_new(report, "differs", json_boolean(*differs));
	return report;
}

/* Keep the report in the store and print it: the exit status. */
static int check_finish(Check *ck, const Context *ctx)
{
	if (ck->r < 0 && !interrupted) {
		if (ck->error)
			log_error("%s", ck->error);
		else
			log_error_errno(ck->r,
			                "cannot run the check's replays: %m");
		return 2;
	}
	bool differs;
	json_auto_t *report = check_report(ck, &differs);
	int r = check_save(ck->store, ck->id, report);
	if (r < 0)
		log_warn_errno(r,
		               "cannot keep the check's summary in "
		               "'%s/checks': %m",
		               ck->store->root);
	if (ck->json) {
		if (json_dumpf_shortest(report, stdout, JSON_INDENT(2)) == 0)
			putchar('\n');
	} else
		print_report(report, ck->jobs, ck->n_jobs,
		             want_color(ctx, STDOUT_FILENO));
	if (interrupted)
		log_error("interrupted: %s stopped the check; the "
		          "replays that ran are kept",
		          strsignal(interrupted));
	return interrupted ? 130 : differs ? 1 : 0;
}

int cmd_check(int argc, char **argv, Context *ctx)
{
	Check ck = {0};
	int st = check_parse(&ck, argc, argv);
	if (st == CMD_GO_ON)
		st = check_load(&ck, ctx, argv[optind]);
	if (st == CMD_GO_ON) {
		check_plan(&ck);
		check_run(&ck);
		st = finish_stdout(check_finish(&ck, ctx));
	}
	check_done(&ck);
	return st;
}
