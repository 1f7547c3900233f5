/* xrun run [OPTIONS] [--] PROGRAM [ARGS] */
#include "config.h"

#include <inttypes.h>
#include <sys/stat.h>

#include "capture.h"
#include "cmd.h"
#include "format.h"
#include "options.h"
#include "runner.h"
#include "spec.h"
#include "util.h"

enum {
	OPT_SEED = 256,
	OPT_PARAMS,
	OPT_TAG,
	OPT_NET,
	OPT_GPU,
	OPT_NO_SANDBOX,
	OPT_MEMORY,
	OPT_PIDS,
	OPT_TIMEOUT,
	OPT_DETERMINISTIC,
	OPT_WORKSPACE_LIMIT,
	OPT_PINNED_FROM,
	OPT_MAX_OUTPUT,
	OPT_INPUT_REF,
	OPT_RO,
	OPT_HOST_HOME,
	OPT_CACHE,
	OPT_NO_TRACE,
};

/* The run options: xrun run's, and every command's that builds a RunSpec
 * from a command line (sweep adds its own, cmd-sweep.c). */
const CmdOption run_options[] = {
        {OPT_SEED, "seed", "N",
         "the run's seed (0..2^64-1; default: random); exported as XRUN_SEED and PYTHONHASHSEED"},
        {'p', "param", "KEY=VALUE",
         "a hyperparameter; VALUE is a JSON scalar if it parses as one, else a string; repeatable; exported as XRUN_PARAM_<KEY> with KEY's case kept (-p lr=0.1 is $XRUN_PARAM_lr, not _LR)"},
        {OPT_PARAMS, "params", "FILE",
         "a JSON object of hyperparameters; -p overrides"},
        {'n', "name", "NAME", "a name for the run"},
        {OPT_TAG, "tag", "KEY=VALUE", "a label; repeatable"},
        {'e', "env", "KEY=VALUE", "set a variable for the program; repeatable"},
        {'i', "input", "PATH",
         "pin a file or directory: hashed, stored, seen read-only by the run as it was now; repeatable"},
        {'o', "output", "PATH",
         "a path the run may write (made as a directory when missing), kept in the store after the run; repeatable"},
        {OPT_INPUT_REF, "input-ref", "PATH",
         "like -i, hashed and recorded, but bound read-only from its place, not copied into the store (data too big to copy); a replay re-hashes it and refuses when it changed; repeatable"},
        {OPT_WORKSPACE_LIMIT, "workspace-limit", "SIZE",
         "pin a workspace of at most SIZE (default 1G, or $XRUN_WORKSPACE_LIMIT)"},
        {OPT_NET, "net", NULL,
         "give the run the host's network (default: loopback only)"},
        {OPT_GPU, "gpu", NULL, "pass NVIDIA and DRI devices through"},
        {OPT_MEMORY, "memory", "SIZE",
         "at most SIZE of memory (512M, 4G); needs a memory cgroup; recorded as oom when hit"},
        {OPT_PIDS, "pids", "N", "at most N processes"},
        {OPT_TIMEOUT, "timeout", "DURATION",
         "TERM after DURATION (90, 30m, 2h), KILL 2s later; recorded as timeout"},
        {OPT_MAX_OUTPUT, "max-output", "SIZE",
         "keep at most SIZE of each of stdout and stderr in the store (64K, 100M); the rest passes to the terminal only; recorded as truncated"},
        {OPT_DETERMINISTIC, "deterministic", NULL,
         "CUBLAS_WORKSPACE_CONFIG=:4096:8, TF_DETERMINISTIC_OPS=1, NVIDIA_TF32_OVERRIDE=0, TZ=UTC, and OMP_, OPENBLAS_ and MKL_NUM_THREADS at the CPU count (-e overrides); recorded"},
        {OPT_RO, "ro", "PATH",
         "show PATH read-only in the sandbox (a file or directory in the home, which is hidden otherwise); repeatable, recorded"},
        {OPT_HOST_HOME, "host-home", NULL,
         "show the home directories as on the host, minus the secret stores (~/.ssh, ~/.aws...)"},
        {OPT_NO_SANDBOX, "no-sandbox", NULL,
         "run on the host; the record says so"},
        {OPT_CACHE, "cache", "PATH",
         "a directory the run may write, kept between runs, neither pinned nor an output (model and pip caches); its reads are recorded"},
        {OPT_NO_TRACE, "no-trace", NULL,
         "do not record the programs, libraries and files the run really used"},
        /* a sweep's tasks: the files pinned at submission */
        {OPT_PINNED_FROM, "pinned-from", "FILE", NULL},
        /* xrun's global options, also after the command name */
        {GLOBAL_OPT_STORE, "store", "DIR", NULL},
        {'q', "quiet", NULL, NULL},
        {'v', "verbose", NULL, NULL},
        {GLOBAL_OPT_COLOR, "color", "WHEN", NULL},
        CMD_OPTION_HELP,
        {0},
};

static const CmdSpec run_cmd = {
        .name = "run",
        .synopsis = "[OPTIONS] [--] PROGRAM [ARGS]\n       xrun PROGRAM [ARGS]",
        .about =
                "Record everything that decides the run's result, run PROGRAM, and\n"
                "finalize the record in the store (.xrun/runs/<id>/record.json).\n",
        .options = run_options,
        .after =
                "The program runs in a sandbox: new namespaces, the host read-only,\n"
                "private /tmp and /var/tmp, no capabilities, a seccomp filter, the\n"
                "home directories empty but for what the run needs (workspace,\n"
                "inputs, outputs, the software it runs on, --ro paths), host unix\n"
                "sockets and the store hidden. The workspace (the git work\n"
                "tree, or the working directory) and every input are pinned into the\n"
                "store and the run sees them read-only, exactly as they were when it\n"
                "started.\n"
                "\n"
                "Exit status: the program's; 128+N when it died of signal N; 125 when\n"
                "xrun failed before starting it; 126/127 when it cannot be executed or\n"
                "is not found.\n",
        .stop_at_operand = true,
        .runs_program = true,
};

/* The progress of pinning on stderr, when it is a terminal. */
static void draw_progress(void *data, const PinProgress *p)
{
	(void)data;
	if (p->finished) {
		fputs("\r\033[K", stderr);
		fflush(stderr);
		return;
	}
	enum { WIDTH = 24 };
	double frac = p->bytes_total
	                      ? (double)p->bytes_done / (double)p->bytes_total
	                      : 1.0;
	if (frac > 1)
		frac = 1;
	char bar[WIDTH + 1];
	int fill = (int)(frac * WIDTH);
	for (int i = 0; i < WIDTH; i++)
		bar[i] = i < fill ? '#' : '.';
	bar[WIDTH] = 0;
	double mib = 1024.0 * 1024.0;
	double rate = p->elapsed_s > 0
	                      ? (double)p->bytes_done / mib / p->elapsed_s
	                      : 0;
	fprintf(stderr,
	        "\r\033[Kxrun: pinning [%s] %.0f/%.0f MiB, %" PRIu64 "/%" PRIu64
	        " files, %.0f MiB/s",
	        bar, (double)p->bytes_done / mib, (double)p->bytes_total / mib,
	        p->files_done, p->files_total, rate);
	fflush(stderr);
}

void print_unpinned(char *const *paths)
{
	size_t n = strv_length(paths);
	fprintf(stderr, "xrun: the run read %zu file%s outside its pins (", n,
	        n == 1 ? "" : "s");
	for (size_t i = 0; i < n && i < 3; i++) {
		_cleanup_free_ char *e = format_escape(paths[i]);
		fprintf(stderr, "%s%s", i ? ", " : "", e);
	}
	fprintf(stderr, "%s): pin %s with -i to replay %s exactly\n",
	        n > 3 ? ", …" : "", n == 1 ? "it" : "them",
	        n == 1 ? "it" : "them");
}

/* argv and params are recorded as given (a replay must run the same
 * command): a secret there is in the record for good. Say so. */
static void warn_secrets(const RunSpec *spec)
{
	for (size_t i = 1; spec->argv && spec->argv[i]; i++) {
		const char *kind = secret_value_kind(spec->argv[i]);
		if (kind)
			log_warn("argument %zu of the command looks like %s; "
			         "the "
			         "record keeps argv exactly, for replay: pass "
			         "secrets with -e NAME=VALUE, which the record "
			         "keeps only as a hash",
			         i, kind);
	}
	const char *k;
	json_t *v;
	json_object_foreach (spec->params, k, v) {
		const char *kind =
		        json_is_string(v)
		                ? secret_value_kind(json_string_value(v))
		                : NULL;
		if (!kind && env_name_is_secret(k))
			kind = "a secret (by its name)";
		if (kind)
			log_warn("param '%s' looks like %s; the record and "
			         "params.json keep params exactly, for replay: "
			         "pass secrets with -e NAME=VALUE, which the "
			         "record keeps only as a hash",
			         k, kind);
	}
}

/* What a run is given: its seed, params, name, tags, environment.
 * Returns 0, an exit status, or RUN_OPTION_NOT_MINE. */
static int param_option(const CmdSpec *cmd, RunSpec *spec, int c,
                        const char *optarg, const char **params_file)
{
	int r;
	switch (c) {
	case OPT_SEED:
		if (parse_u64(optarg, &spec->seed) < 0)
			return cmd_usage_error(cmd,
			                       "--seed takes a number from 0 "
			                       "to 18446744073709551615, not "
			                       "'%s'",
			                       optarg);
		spec->has_seed = true;
		spec->seed_source = SEED_OPTION;
		return 0;
	case 'p':
		r = run_spec_add_param(spec, optarg);
		if (r == -EEXIST)
			return cmd_usage_error(cmd,
			                       "param given twice: '%s'; give "
			                       "each -p key once",
			                       optarg);
		if (r < 0 && !strchr(optarg, '='))
			return cmd_usage_error(cmd,
			                       "-p takes KEY=VALUE: '%s' has "
			                       "no '=VALUE'",
			                       optarg);
		if (r < 0)
			return cmd_usage_error(cmd,
			                       "-p takes KEY=VALUE with a key "
			                       "of letters, digits, '_', '.' "
			                       "or '-', not '%s'",
			                       optarg);
		return 0;
	case OPT_PARAMS:
		*params_file = optarg;
		return 0;
	case 'n':
		if (!utf8_valid(optarg, strlen(optarg)))
			return cmd_usage_error(cmd,
			                       "--name must be UTF-8 text: "
			                       "'%s'",
			                       optarg);
		free(spec->name);
		spec->name = xstrdup(optarg);
		return 0;
	case OPT_TAG:
		if (run_spec_add_tag(spec, optarg) < 0)
			return cmd_usage_error(cmd,
			                       "--tag takes KEY=VALUE in "
			                       "UTF-8, not '%s'",
			                       optarg);
		return 0;
	case 'e':
		if (run_spec_add_env(spec, optarg) < 0)
			return cmd_usage_error(
			        cmd, "-e takes KEY=VALUE, not '%s'", optarg);
		return 0;
	}
	return RUN_OPTION_NOT_MINE;
}

/* What it reads and writes: inputs, outputs, caches, the workspace's
 * limit, a sweep task's pins. Returns 0, an exit status, or
 * RUN_OPTION_NOT_MINE. */
static int files_option(const CmdSpec *cmd, Context *ctx, RunSpec *spec, int c,
                        const char *optarg)
{
	int r;
	switch (c) {
	case OPT_CACHE:
		r = run_spec_add_cache(spec, optarg, ctx->cwd);
		if (r == -EEXIST)
			return cmd_usage_error(cmd, "cache given twice: '%s'",
			                       optarg);
		if (r < 0)
			return cmd_usage_error(
			        cmd,
			        "--cache takes a directory other than '/', not '%s'",
			        optarg);
		return 0;
	case 'i':
		r = run_spec_add_input(spec, optarg, ctx->cwd);
		if (r == -EEXIST)
			return cmd_usage_error(cmd, "input given twice: '%s'",
			                       optarg);
		if (r < 0)
			return cmd_usage_error(cmd,
			                       "-i takes a path other than "
			                       "'/', not '%s'",
			                       optarg);
		return 0;
	case OPT_INPUT_REF:
		r = run_spec_add_input_ref(spec, optarg, ctx->cwd);
		if (r == -EEXIST)
			return cmd_usage_error(cmd, "input given twice: '%s'",
			                       optarg);
		if (r < 0)
			return cmd_usage_error(cmd,
			                       "--input-ref takes a path other "
			                       "than '/', not '%s'",
			                       optarg);
		return 0;
	case OPT_PINNED_FROM: {
		json_error_t jerr;
		json_auto_t *j = json_load_file(optarg, 0, &jerr);
		json_t *pinned = json_object_get(j, "pinned");
		if (!json_is_object(pinned) ||
		    !json_is_array(json_object_get(pinned, "inputs")))
			return cmd_usage_error(cmd,
			                       "--pinned-from takes a sweep's "
			                       "grid.json with its pinned "
			                       "files, not '%s'",
			                       optarg);
		json_decref(spec->pinned);
		spec->pinned = json_incref(pinned);
		spec->stages = &run_stages_pinned;
		return 0;
	}
	case OPT_WORKSPACE_LIMIT:
		if (parse_size(optarg, &spec->workspace_limit) < 0)
			return cmd_usage_error(
			        cmd,
			        "--workspace-limit takes a size "
			        "like 512M, 4G or 1.5GiB, not '%s'",
			        optarg);
		return 0;
	case 'o':
		r = run_spec_add_output(spec, optarg, ctx->cwd);
		if (r == -EEXIST)
			return cmd_usage_error(cmd, "output given twice: '%s'",
			                       optarg);
		if (r < 0)
			return cmd_usage_error(cmd,
			                       "-o takes a path other than "
			                       "'/', not '%s'",
			                       optarg);
		return 0;
	}
	return RUN_OPTION_NOT_MINE;
}

/* Where and how it runs: the sandbox and its limits, and the global
 * options. Returns 0, an exit status, or
 * RUN_OPTION_NOT_MINE. */
static int sandbox_option(const CmdSpec *cmd, Context *ctx, RunSpec *spec,
                          int c, const char *optarg)
{
	int r;
	switch (c) {
	case OPT_NET:
		spec->net = true;
		return 0;
	case OPT_GPU:
		spec->gpu = true;
		return 0;
	case OPT_NO_SANDBOX:
		spec->no_sandbox = true;
		return 0;
	case OPT_HOST_HOME:
		spec->host_home = true;
		return 0;
	case OPT_NO_TRACE:
		spec->no_trace = true;
		return 0;
	case OPT_RO: {
		struct stat st;
		_cleanup_free_ char *p = path_normalize(ctx->cwd, optarg);
		if (!*optarg || stat(p, &st) < 0)
			return cmd_usage_error(
			        cmd,
			        "--ro takes an existing path to show read-only, not '%s'",
			        optarg);
		if (!strv_has(spec->ro, p))
			spec->ro = strv_push(spec->ro, p);
		return 0;
	}
	case OPT_PIDS:
		if (parse_u64(optarg, &spec->pids) < 0 || spec->pids < 1 ||
		    spec->pids > 4194304)
			return cmd_usage_error(cmd,
			                       "--pids takes a number of "
			                       "processes from 1 to 4194304, "
			                       "not '%s'",
			                       optarg);
		return 0;
	case OPT_TIMEOUT:
		if (parse_duration(optarg, &spec->timeout_s) < 0)
			return cmd_usage_error(cmd,
			                       "--timeout takes a duration "
			                       "like 90, 90s, 30m, 2h or 1d, "
			                       "not '%s'",
			                       optarg);
		return 0;
	case OPT_MEMORY:
		if (parse_size(optarg, &spec->memory) < 0 ||
		    spec->memory < 1024 * 1024)
			return cmd_usage_error(cmd,
			                       "--memory takes a size of at "
			                       "least 1M, like 512M, 4G or "
			                       "1.5GiB, not '%s'",
			                       optarg);
		return 0;
	case OPT_MAX_OUTPUT:
		if (parse_size(optarg, &spec->max_output) < 0 ||
		    spec->max_output == 0)
			return cmd_usage_error(cmd,
			                       "--max-output takes a size of "
			                       "at least 1 byte, like 64K, "
			                       "100M or 1G, not '%s'",
			                       optarg);
		return 0;
	case OPT_DETERMINISTIC:
		if (!spec->deterministic)
			run_spec_set_deterministic(
			        spec, sysconf(_SC_NPROCESSORS_ONLN));
		return 0;
	case GLOBAL_OPT_STORE:
	case GLOBAL_OPT_COLOR:
	case 'q':
	case 'v':
		r = global_option(ctx, c, optarg);
		if (r)
			return r;
		return 0;
	}
	return RUN_OPTION_NOT_MINE;
}

int run_options_parse(int argc, char **argv, Context *ctx, RunSpec *spec,
                      const RunOptionsExtra *extra)
{
	const CmdSpec *cmd = extra ? extra->cmd : &run_cmd;
	_cleanup_cmd_parser_ CmdParser opt_parser;
	cmd_parser_init(&opt_parser, cmd, argc, argv);
	const char *params_file = NULL;
	int c, r;
	while ((c = cmd_option_next(&opt_parser)) > 0) {
		const char *optarg = opt_parser.arg;
		if (extra) {
			r = extra->fn(c, optarg, extra->data);
			if (r == 0)
				continue;
			if (r != RUN_OPTION_NOT_MINE)
				return r;
		}
		r = param_option(cmd, spec, c, optarg, &params_file);
		if (r == RUN_OPTION_NOT_MINE)
			r = files_option(cmd, ctx, spec, c, optarg);
		if (r == RUN_OPTION_NOT_MINE)
			r = sandbox_option(cmd, ctx, spec, c, optarg);
		if (r != 0 && r != RUN_OPTION_NOT_MINE)
			return r;
	}
	if (c < 0)
		return opt_parser.status ? opt_parser.status : RUN_OPTIONS_HELP;
	if (spec->no_sandbox && spec->pids)
		return cmd_usage_error(cmd, "%s",
		                       "--pids needs the sandbox: its process "
		                       "count is kept per user namespace; drop "
		                       "--no-sandbox or --pids");
	if (optind >= argc)
		return cmd_usage_error(cmd,
		                       "no program to run: xrun %s [OPTIONS] "
		                       "PROGRAM [ARGS]",
		                       cmd->name);
	if (params_file) {
		_cleanup_free_ char *err = NULL;
		r = run_spec_load_params(spec, params_file, &err);
		if (r == -EBADMSG) {
			log_error("params file '%s' is not usable: %s; it must "
			          "hold one JSON object of KEY: VALUE",
			          params_file, err);
			return 125;
		}
		if (r < 0) {
			log_error_errno(r, "cannot read params file '%s': %m",
			                params_file);
			return 125;
		}
	}
	const char *ka, *kb;
	if (param_keys_collide(spec->params, &ka, &kb) < 0) {
		_cleanup_free_ char *var = param_env_name(ka);
		log_error("params '%s' and '%s' would both be %s in the "
		          "program's environment; rename one of them",
		          ka, kb, var);
		return 125;
	}
	/* A missing input is a mistake on the command line: no run. */
	for (char **i = spec->inputs; i && *i; i++) {
		struct stat st;
		if (stat(*i, &st) < 0) {
			log_error_errno(-errno,
			                "cannot pin input '%s': %m; check the "
			                "path given to -i",
			                *i);
			return 125;
		}
	}
	for (char **i = spec->input_refs; i && *i; i++) {
		struct stat st;
		if (stat(*i, &st) < 0) {
			log_error_errno(-errno,
			                "cannot hash input '%s': %m; check the "
			                "path given to --input-ref",
			                *i);
			return 125;
		}
	}
	const char *wl = getenv("XRUN_WORKSPACE_LIMIT");
	if (!spec->workspace_limit && wl && *wl &&
	    parse_size(wl, &spec->workspace_limit) < 0)
		return cmd_usage_error(
		        cmd,
		        "XRUN_WORKSPACE_LIMIT takes a size like 512M, "
		        "4G or 1.5GiB, not '%s'",
		        wl);
	spec->argv = strv_copy(argv + optind);
	warn_secrets(spec);
	spec->cwd = xstrdup(ctx->cwd);
	/* xrun train.sh: the file here, as a shell user would mean it
	 * (recorded as ./train.sh). */
	const char *path = strv_env_get(spec->env_set, "PATH");
	_cleanup_free_ char *here = NULL;
	if (command_bare_name(spec->argv[0], spec->cwd,
	                      path ? path : getenv("PATH"), &here) > 0) {
		log_info("'%s' is not in PATH; running '%s' from the working "
		         "directory",
		         spec->argv[0], here);
		free(spec->argv[0]);
		spec->argv[0] = TAKE_PTR(here);
	}
	return 0;
}

/* The supervision's word that cannot wait for the end (a third ^C
 * kills). */
static void say_now(const char *msg)
{
	log_warn("%s", msg);
}

int cmd_run(int argc, char **argv, Context *ctx)
{
	_cleanup_run_spec_ RunSpec *spec = run_spec_new();
	int r = run_options_parse(argc, argv, ctx, spec, NULL);
	if (r == RUN_OPTIONS_HELP)
		return 0;
	if (r)
		return r;

	if (context_find_store(ctx, true) < 0)
		return 125;

	if (log_level >= LOG_NORMAL && isatty(STDERR_FILENO))
		runner_set_progress(draw_progress, NULL);
	RunOutcome o;
	runner_set_notice(say_now);
	r = runner_run(ctx->store, spec, &o);
	report_outcome(ctx, r, &o, &(OutcomeLine){.label = "run"});
	int status = o.exit_status;
	run_outcome_clear(&o);
	return status;
}
