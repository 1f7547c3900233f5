/* xrun replay [OPTIONS] RUN */
#include "config.h"

#include <getopt.h>
#include <sched.h>
#include <sys/stat.h>

#include "capture.h"
#include "cmd.h"
#include "replay.h"
#include "runner.h"
#include "spec.h"
#include "util.h"

extern char **environ;

static const char replay_usage[] =
        "usage: xrun replay [OPTIONS] RUN\n"
        "\n"
        "Run RUN again exactly, from its record and the store alone: the same\n"
        "argv, working directory, seed, params and environment, the "
        "workspace\n"
        "and inputs as they were pinned (read-only, at their original "
        "paths,\n"
        "also when the originals changed or are gone), outputs at their\n"
        "original paths but kept in the replay's own run directory. Then\n"
        "compare every output file and stdout with the original's and say\n"
        "'reproduced' or name each file that differs.\n"
        "\n"
        "RUN is a run id, a unique prefix of it, latest, latest~N, a run\n"
        "directory or a record file (also from another store: the objects "
        "it\n"
        "needs are copied into this one).\n"
        "\n"
        "Options:\n"
        "  -e, --env KEY=VALUE   set a variable (a redacted one, say); "
        "repeatable\n"
        "  -n, --name NAME       a name for the replay (default: the "
        "original's)\n"
        "  --strict              refuse to run when this machine differs "
        "from\n"
        "                        the original's (kernel, libc, libraries, "
        "Python\n"
        "                        distributions, BLAS, CPU, GPU), or when a "
        "file\n"
        "                        the original read outside its pins "
        "changed\n"
        "  --no-trace            do not record what the replay really used\n"
        "  --dry-run             print the plan and the differences, run "
        "nothing\n"
        "  --force               replay a record whose digest no longer "
        "matches\n"
        "                        (edited by hand), or whose environment "
        "makes\n"
        "                        the loader load other code (LD_PRELOAD, "
        "...)\n"
        "  -h, --help            this help\n"
        "\n"
        "Exit status: the program's, as for xrun run; 3 when it succeeded "
        "but\n"
        "an output or stdout differs from the original's; 125 when xrun "
        "failed\n"
        "(a missing or corrupt object, a tampered record, a difference "
        "with\n"
        "--strict, no sandbox).\n";

static int bad_usage(const char *fmt, const char *arg)
{
	char msg[1024];
	snprintf(msg, sizeof msg, fmt, arg);
	log_error("%s; see xrun replay --help", msg);
	return 125;
}

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

int cmd_replay(int argc, char **argv, Context *ctx)
{
	enum {
		OPT_STRICT = 256,
		OPT_DRY_RUN,
		OPT_FORCE,
		OPT_NO_SANDBOX,
		OPT_NO_TRACE
	};
	static const struct option opts[] = {
	        {"env", required_argument, NULL, 'e'},
	        {"name", required_argument, NULL, 'n'},
	        {"strict", no_argument, NULL, OPT_STRICT},
	        {"dry-run", no_argument, NULL, OPT_DRY_RUN},
	        {"force", no_argument, NULL, OPT_FORCE},
	        {"no-sandbox", no_argument, NULL, OPT_NO_SANDBOX},
	        {"no-trace", no_argument, NULL, OPT_NO_TRACE},
	        {"help", no_argument, NULL, 'h'},
	        {0},
	};
	bool strict = false, dry_run = false, force = false, no_trace = false;
	_cleanup_strv_free_ char **env_set = NULL;
	const char *name = NULL;
	int c;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+e:n:h", opts, NULL)) != -1) {
		switch (c) {
		case 'e':
			if (!strchr(optarg, '=') || optarg[0] == '=')
				return bad_usage("-e takes KEY=VALUE, not '%s'",
				                 optarg);
			env_set = strv_push(env_set, optarg);
			break;
		case 'n':
			if (!utf8_valid(optarg, strlen(optarg)))
				return bad_usage("--name must be UTF-8 text: "
				                 "'%s'",
				                 optarg);
			name = optarg;
			break;
		case OPT_STRICT:
			strict = true;
			break;
		case OPT_DRY_RUN:
			dry_run = true;
			break;
		case OPT_FORCE:
			force = true;
			break;
		case OPT_NO_TRACE:
			no_trace = true;
			break;
		case OPT_NO_SANDBOX:
			return bad_usage(
			        "%s: a replay sees the pinned files and writes "
			        "its outputs at their original paths only "
			        "inside the sandbox; check the original's "
			        "outputs with xrun checkout instead",
			        "--no-sandbox cannot replay");
		case 'h':
			fputs(replay_usage, stdout);
			return finish_stdout(0);
		default: {
			_cleanup_free_ char *msg = unknown_option_message(
			        "replay", optopt, argv[optind - 1]);
			return bad_usage("%s", msg);
		}
		}
	}
	if (argc - optind != 1)
		return bad_usage("%s", "replay takes one RUN");
	if (context_find_store(ctx, true) < 0)
		return 125;
	Store *s = ctx->store;
	_cleanup_record_ Record *rec = NULL;
	if (load_run(ctx, argv[optind], &rec))
		return 125;

	int r = record_check_digest(rec);
	if (r == -EBADMSG && !force) {
		log_error("record '%s' was changed after xrun wrote it (its "
		          "record_sha256 no longer matches its content); a "
		          "replay of it would not be the run that happened; "
		          "pass --force to replay it anyway",
		          rec->path);
		return 125;
	}
	if (r == -EBADMSG)
		log_warn("record '%s' was changed after xrun wrote it; "
		         "replaying it anyway (--force)",
		         rec->path);
	else if (r == 0)
		log_warn("record '%s' has no record_sha256 (an older xrun "
		         "wrote it): it cannot be checked for changes",
		         rec->path);
	else if (r < 0)
		return log_error_errno(r, "cannot check record '%s': %m",
		                       rec->path),
		       125;
	const char *status = record_status(rec);
	if (status && (streq(status, "running") || streq(status, "abandoned")))
		log_warn("run %.8s is %s: it has no outputs to compare with",
		         record_id(rec), status);

	_cleanup_run_spec_ RunSpec *spec = NULL;
	_cleanup_strv_free_ char **warnings = NULL;
	_cleanup_free_ char *err = NULL;
	r = replay_spec(rec, env_set, &spec, &warnings, &err);
	for (char **w = warnings; w && *w; w++)
		log_warn("%s", *w);
	if (r < 0) {
		log_error("cannot replay '%s': %s", rec->path, err);
		return 125;
	}
	/* The recorded environment is the record's word: variables that
	 * make the loader run code the record names are not replayed
	 * without being asked for, unless this environment has the same
	 * value (GPU machines often set LD_LIBRARY_PATH for the driver's
	 * libraries: replaying it loads nothing this shell would not). */
	static const char *const loader_vars[] = {
	        "LD_PRELOAD", "LD_LIBRARY_PATH", "LD_AUDIT"};
	for (size_t i = 0; i < ELEMENTSOF(loader_vars); i++) {
		const char *v = strv_env_get(spec->env_base, loader_vars[i]);
		if (!v)
			v = strv_env_get(spec->env_xrun, loader_vars[i]);
		if (!v)
			continue;
		const char *here = getenv(loader_vars[i]);
		if (here && streq(here, v))
			continue;
		if (!force) {
			log_error(
			        "record '%s' sets %s for the program: a "
			        "replay would load code the record names; "
			        "check it and pass --force to replay it anyway",
			        rec->path, loader_vars[i]);
			return 125;
		}
		log_warn("record '%s' sets %s for the program; replaying "
		         "it anyway (--force)",
		         rec->path, loader_vars[i]);
	}
	if (name) {
		free(spec->name);
		spec->name = xstrdup(name);
	}
	spec->no_trace = no_trace;

	_cleanup_strv_free_ char **diffs = NULL;
	r = replay_differences(rec, spec, s->cache, &diffs);
	if (r < 0)
		log_warn_errno(r, "cannot compare this machine with the "
		                  "original's: %m");
	if (!dry_run)
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

	_cleanup_store_ Store *origin = origin_store(s, rec);
	free(err);
	err = NULL;
	r = replay_check_objects(s, origin, rec, &err);
	if (r < 0) {
		log_error("%s", err);
		return 125;
	}
	if (dry_run) {
		print_plan(spec, rec, diffs);
		return finish_stdout(0);
	}
	if (strict && diffs && *diffs) {
		log_error("this machine differs from the one run %.8s ran on "
		          "(%zu difference%s above); --strict refuses to "
		          "replay; drop --strict to replay anyway",
		          record_id(rec), strv_length(diffs),
		          strv_length(diffs) == 1 ? "" : "s");
		return 125;
	}

	/* As many CPUs as the original could use: the program and all it
	 * starts inherit the launcher's affinity. */
	cpu_set_t cpus;
	r = replay_affinity(spec, &cpus);
	if (r > 0 && sched_setaffinity(0, sizeof cpus, &cpus) < 0)
		log_warn_errno(-errno,
		               "cannot give the replay the original's %d "
		               "CPUs: %m; thread counts may differ",
		               spec->affinity_count);

	RunOutcome o;
	runner_set_notice(say_now);
	r = runner_run(s, spec, &o);
	for (char **w = o.warnings; w && *w; w++)
		log_warn("%s", *w);
	if (o.error)
		log_error("%s", o.error);
	if (o.unpinned && log_level >= LOG_NORMAL)
		print_unpinned(o.unpinned);
	int exit_status = o.exit_status;
	bool reproduced = false;
	if (r == 0 && o.verification)
		reproduced = report_verification(o.verification);
	if (r == 0 && exit_status == 0 && !reproduced)
		exit_status = 3;
	if (o.id && log_level >= LOG_NORMAL) {
		const char *path = o.record_path;
		size_t n = strlen(ctx->cwd);
		if (strneq(path, ctx->cwd, n) && path[n] == '/')
			path += n + 1;
		char how[64];
		if (o.signal)
			snprintf(how, sizeof how, "signal %d", o.signal);
		else
			snprintf(how, sizeof how, "exit %d", o.exit_code);
		if (r == 0)
			fprintf(stderr,
			        "xrun: replay %.8s of %.8s %s (%s) in %.2fs: "
			        "%s; record %s\n",
			        o.id, record_id(rec), o.status, how,
			        o.duration_s,
			        reproduced ? "reproduced" : "not reproduced",
			        path);
		else if (o.record_lost)
			fprintf(stderr,
			        "xrun: replay %.8s could not be recorded in "
			        "full: its record %s still reads running\n",
			        o.id, path);
		else
			fprintf(stderr,
			        "xrun: replay %.8s recorded as failed; record "
			        "%s\n",
			        o.id, path);
	}
	run_outcome_clear(&o);
	return exit_status;
}
