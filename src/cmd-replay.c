/* xrun replay [OPTIONS] RUN */
#include "config.h"

#include <sched.h>
#include <sys/stat.h>

#include "capture.h"
#include "cmd.h"
#include "options.h"
#include "replay.h"
#include "runner.h"
#include "spec.h"
#include "util.h"

extern char **environ;

enum {
	OPT_STRICT = 256,
	OPT_DRY_RUN,
	OPT_FORCE,
	OPT_NO_SANDBOX,
	OPT_NO_TRACE,
};

static const CmdOption replay_options[] = {
        {'e', "env", "KEY=VALUE",
         "set a variable (a redacted one, say); repeatable"},
        {'n', "name", "NAME",
         "a name for the replay (default: the original's)"},
        {OPT_STRICT, "strict", NULL,
         "refuse to run when this machine differs from the original's (kernel, libc, libraries, Python distributions, BLAS, CPU, GPU), or when a file the original read outside its pins changed"},
        {OPT_NO_TRACE, "no-trace", NULL,
         "do not record what the replay really used"},
        {OPT_DRY_RUN, "dry-run", NULL,
         "print the plan and the differences, run nothing"},
        {OPT_FORCE, "force", NULL,
         "replay a record whose digest no longer matches (edited by hand), or whose environment makes the loader load other code (LD_PRELOAD, ...)"},
        {OPT_NO_SANDBOX, "no-sandbox", NULL, NULL},
        CMD_OPTION_HELP,
        {0},
};

static const CmdSpec replay_cmd = {
        .name = "replay",
        .synopsis = "[OPTIONS] RUN",
        .about =
                "Run RUN again exactly, from its record and the store alone: the same\n"
                "argv, working directory, seed, params and environment, the workspace\n"
                "and inputs as they were pinned (read-only, at their original paths,\n"
                "also when the originals changed or are gone), outputs at their\n"
                "original paths but kept in the replay's own run directory. Then\n"
                "compare every output file and stdout with the original's and say\n"
                "'reproduced' or name each file that differs.\n"
                "\n"
                "RUN is a run id, a unique prefix of it, latest, latest~N, a run\n"
                "directory or a record file (also from another store: the objects it\n"
                "needs are copied into this one).\n",
        .options = replay_options,
        .after =
                "Exit status: the program's, as for xrun run; 3 when it succeeded but\n"
                "an output or stdout differs from the original's; 125 when xrun failed\n"
                "(a missing or corrupt object, a tampered record, a difference with\n"
                "--strict, no sandbox).\n",
        .runs_program = true,
};

/* The store a record file lies in (.../STORE/runs/<id>/record.json),
 * when it is not s. */
static Store *origin_store(const Store *s, const Record *rec)
{
	_cleanup_free_ char *dir = realpath(rec->dir, NULL);
	if (!dir)
		return NULL;
	char *slash = strrchr(dir, '/');
	if (!slash || slash == dir)
		return NULL;
	*slash = 0;
	slash = strrchr(dir, '/');
	if (!slash || !streq(slash + 1, "runs") || slash == dir)
		return NULL;
	*slash = 0;
	_cleanup_free_ char *mine = realpath(s->root, NULL);
	if (mine && streq(mine, dir))
		return NULL;
	Store *o = NULL;
	if (store_open(dir, false, &o, NULL) < 0)
		return NULL;
	return o;
}

static void print_plan(const RunSpec *spec, const Record *rec,
                       char *const *diffs)
{
	printf("replay of run %s\n", record_id(rec));
	printf("argv:");
	for (char **a = spec->argv; *a; a++)
		printf(" '%s'", *a);
	printf("\ncwd: '%s'\nseed: %" PRIu64 "\n", spec->cwd, spec->seed);
	_cleanup_free_ char *params = json_dumps_shortest(
	        spec->params, JSON_COMPACT | JSON_SORT_KEYS);
	printf("params: %s\n", params ? params : "{}");
	/* The environment against the caller's. */
	_cleanup_strv_free_ char **env = strv_copy(spec->env_base);
	for (char *const *e = spec->env_set; e && *e; e++)
		env = strv_push(env, *e);
	for (char *const *e = spec->env_xrun; e && *e; e++)
		env = strv_push(env, *e);
	for (char **e = env; *e; e++) {
		_cleanup_free_ char *name = xstrndup(*e, strcspn(*e, "="));
		const char *mine = getenv(name);
		const char *v = strchr(*e, '=') ? strchr(*e, '=') + 1 : "";
		const char *last = strv_env_get(env, name);
		if (last != v)
			continue; /* set again later in the list */
		if (!mine)
			printf("env: + %s\n", *e);
		else if (!streq(mine, v))
			printf("env: ~ %s (here: %s)\n", *e, mine);
	}
	for (char **e = environ; *e; e++) {
		_cleanup_free_ char *name = xstrndup(*e, strcspn(*e, "="));
		if (!strv_env_get(env, name) && !startswith(name, "XRUN_"))
			printf("env: - %s\n", name);
	}
	json_t *ws = json_object_get(spec->pinned, "workspace");
	if (json_is_object(ws))
		printf("mount: '%s' read-only from the store (%s)\n",
		       json_get_string(ws, "path"),
		       json_get_string(ws, "manifest"));
	size_t i;
	json_t *in;
	json_array_foreach (json_object_get(spec->pinned, "inputs"), i, in)
		printf("mount: '%s' read-only from the store (%s)\n",
		       json_get_string(in, "path"),
		       json_get_string(in, "manifest"));
	for (size_t k = 0; spec->outputs && spec->outputs[k]; k++)
		printf("mount: '%s' writable, kept in the replay's "
		       "runs/<id>/outputs/%zu\n",
		       spec->outputs[k], k);
	cpu_set_t cpus;
	if (replay_affinity(spec, &cpus) > 0) {
		_cleanup_free_ char *list = cpu_list_format(&cpus);
		printf("cpus: %d (%s), as the original's %d (%s)\n",
		       CPU_COUNT(&cpus), list, spec->affinity_count,
		       spec->affinity_list);
	}
	for (char *const *d = diffs; d && *d; d++)
		printf("differs: %s\n", *d);
	if (!diffs || !*diffs)
		printf("differs: nothing\n");
}

/* The verdict: reproduced, or each file that differs. */
static bool report_verification(const json_t *v)
{
	bool ok = json_is_true(json_object_get(v, "reproduced"));
	size_t i, n = 0;
	json_t *f;
	json_array_foreach (json_object_get(v, "files"), i, f) {
		if (json_is_true(json_object_get(f, "match"))) {
			n++;
			continue;
		}
		json_t *e = json_object_get(f, "expected");
		json_t *a = json_object_get(f, "actual");
		fprintf(stderr, "xrun: differs: '%s' (%s, was %s)\n",
		        json_get_string(f, "path"),
		        json_is_string(a) ? json_string_value(a) : "missing",
		        json_is_string(e) ? json_string_value(e) : "not there");
	}
	json_t *so = json_object_get(v, "stdout");
	if (!json_is_true(json_object_get(so, "match")))
		fprintf(stderr, "xrun: differs: stdout\n");
	if (ok)
		fprintf(stderr,
		        "xrun: reproduced: %zu output file%s and stdout "
		        "match run %.8s\n",
		        n, n == 1 ? "" : "s",
		        json_get_string(v, "original")
		                ? json_get_string(v, "original")
		                : "?");
	return ok;
}

/* The supervision's word that cannot wait for the end (a third ^C
 * kills). */
static void say_now(const char *msg)
{
	log_warn("%s", msg);
}

/* What replay was asked for. */
typedef struct ReplayOptions {
	bool strict, dry_run, force, no_trace;
	char **env_set; /* -e KEY=VALUE */
	const char *name;
} ReplayOptions;

static int replay_parse(ReplayOptions *ro, int argc, char **argv)
{
	_cleanup_cmd_parser_ CmdParser opt_parser;
	cmd_parser_init(&opt_parser, &replay_cmd, argc, argv);
	int c;
	while ((c = cmd_option_next(&opt_parser)) > 0) {
		switch (c) {
		case 'e':
			if (!strchr(opt_parser.arg, '=') ||
			    opt_parser.arg[0] == '=')
				return cmd_usage_error(
				        &replay_cmd,
				        "-e takes KEY=VALUE, not '%s'",
				        opt_parser.arg);
			ro->env_set = strv_push(ro->env_set, opt_parser.arg);
			break;
		case 'n':
			if (!utf8_valid(opt_parser.arg, strlen(opt_parser.arg)))
				return cmd_usage_error(
				        &replay_cmd,
				        "--name must be UTF-8 text: "
				        "'%s'",
				        opt_parser.arg);
			ro->name = opt_parser.arg;
			break;
		case OPT_STRICT:
			ro->strict = true;
			break;
		case OPT_DRY_RUN:
			ro->dry_run = true;
			break;
		case OPT_FORCE:
			ro->force = true;
			break;
		case OPT_NO_TRACE:
			ro->no_trace = true;
			break;
		case OPT_NO_SANDBOX:
			return cmd_usage_error(
			        &replay_cmd,
			        "%s: a replay sees the pinned files and writes "
			        "its outputs at their original paths only "
			        "inside the sandbox; check the original's "
			        "outputs with xrun checkout instead",
			        "--no-sandbox cannot replay");
		}
	}
	if (c < 0)
		return opt_parser.status;
	if (argc - optind != 1)
		return cmd_usage_error(&replay_cmd, "%s",
		                       "replay takes one RUN");
	return CMD_GO_ON;
}

/* The replay's RunSpec from rec, once the replay policy (replay.c)
 * allows it: CMD_GO_ON, or 125 after saying why not. */
static int replay_prepare(const ReplayOptions *ro, const Record *rec,
                          RunSpec **ret_spec)
{
	_cleanup_strv_free_ char **policy = NULL;
	_cleanup_free_ char *why = NULL;
	int r = replay_check_record(rec, ro->force, &policy, &why);
	for (char **w = policy; w && *w; w++)
		log_warn("%s", *w);
	if (r < 0) {
		log_error("%s", why);
		return 125;
	}
	const char *status = record_status(rec);
	if (status && (streq(status, "running") || streq(status, "abandoned")))
		log_warn("run %.8s is %s: it has no outputs to compare with",
		         record_id(rec), status);

	_cleanup_run_spec_ RunSpec *spec = NULL;
	_cleanup_strv_free_ char **warnings = NULL;
	_cleanup_free_ char *err = NULL;
	r = replay_spec(rec, ro->env_set, &spec, &warnings, &err);
	for (char **w = warnings; w && *w; w++)
		log_warn("%s", *w);
	if (r < 0) {
		log_error("cannot replay '%s': %s", rec->path, err);
		return 125;
	}
	strv_free(TAKE_PTR(policy));
	r = replay_check_loader(rec, spec, ro->force, &policy, &why);
	for (char **w = policy; w && *w; w++)
		log_warn("%s", *w);
	if (r < 0) {
		log_error("%s", why);
		return 125;
	}
	if (ro->name) {
		free(spec->name);
		spec->name = xstrdup(ro->name);
	}
	spec->no_trace = ro->no_trace;
	*ret_spec = TAKE_PTR(spec);
	return CMD_GO_ON;
}

/* How this machine and the files read outside the pins differ from the
 * original's, each said (the machine's unless dry_run, which prints
 * them in its plan). */
static char **replay_machine_differences(const ReplayOptions *ro,
                                         const Record *rec, const RunSpec *spec,
                                         const Store *s)
{
	char **diffs = NULL;
	int r = replay_differences(rec, spec, s->cache, &diffs);
	if (r < 0)
		log_warn_errno(r, "cannot compare this machine with the "
		                  "original's: %m");
	if (!ro->dry_run)
		for (char **d = diffs; d && *d; d++)
			log_warn("differs from the original's machine: %s", *d);
	/* Files read outside the pins: the replay reads what is there now. */
	_cleanup_strv_free_ char **changed =
	        replay_unpinned_changes(rec, s->cache);
	for (char **d = changed; d && *d; d++) {
		log_warn("%s; the replay reads it as it is now (pin it with -i "
		         "to replay it exactly)",
		         *d);
		diffs = strv_push(diffs, *d);
	}
	return diffs;
}

/* Run the replay and say its verdict: the exit status. */
static int replay_go(const Context *ctx, Store *s, const Record *rec,
                     RunSpec *spec)
{
	/* As many CPUs as the original could use: the program and all it
	 * starts inherit the launcher's affinity. */
	cpu_set_t cpus;
	int r = replay_affinity(spec, &cpus);
	if (r > 0 && sched_setaffinity(0, sizeof cpus, &cpus) < 0)
		log_warn_errno(-errno,
		               "cannot give the replay the original's %d "
		               "CPUs: %m; thread counts may differ",
		               spec->affinity_count);

	RunOutcome o;
	runner_set_notice(say_now);
	r = runner_run(s, spec, &o);
	report_outcome_messages(&o, true);
	int exit_status = o.exit_status;
	bool reproduced = false;
	if (r == 0 && o.verification)
		reproduced = report_verification(o.verification);
	if (r == 0 && exit_status == 0 && !reproduced)
		exit_status = 3;
	report_outcome(ctx, r, &o,
	               &(OutcomeLine){.label = "replay",
	                              .of = record_id(rec),
	                              .messages_said = true,
	                              .verdict = reproduced
	                                                 ? "reproduced"
	                                                 : "not reproduced"});
	run_outcome_clear(&o);
	return exit_status;
}

/* Replay RUN as ro says: the exit status. */
static int replay_run(const ReplayOptions *ro, Context *ctx, const char *run)
{
	if (context_find_store(ctx, true) < 0)
		return 125;
	Store *s = ctx->store;
	_cleanup_record_ Record *rec = NULL;
	if (load_run(ctx, run, &rec))
		return 125;
	_cleanup_run_spec_ RunSpec *spec = NULL;
	int st = replay_prepare(ro, rec, &spec);
	if (st != CMD_GO_ON)
		return st;
	_cleanup_strv_free_ char **diffs =
	        replay_machine_differences(ro, rec, spec, s);

	_cleanup_store_ Store *origin = origin_store(s, rec);
	_cleanup_free_ char *err = NULL;
	int r = replay_check_objects(s, origin, rec, &err);
	if (r < 0) {
		log_error("%s", err);
		return 125;
	}
	if (ro->dry_run) {
		print_plan(spec, rec, diffs);
		return finish_stdout(0);
	}
	if (ro->strict && diffs && *diffs) {
		log_error("this machine differs from the one run %.8s ran on "
		          "(%zu difference%s above); --strict refuses to "
		          "replay; drop --strict to replay anyway",
		          record_id(rec), strv_length(diffs),
		          strv_length(diffs) == 1 ? "" : "s");
		return 125;
	}
	return replay_go(ctx, s, rec, spec);
}

int cmd_replay(int argc, char **argv, Context *ctx)
{
	ReplayOptions ro = {0};
	int st = replay_parse(&ro, argc, argv);
	if (st == CMD_GO_ON)
		st = replay_run(&ro, ctx, argv[optind]);
	strv_free(ro.env_set);
	return st;
}
