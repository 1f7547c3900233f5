/* xrun run [OPTIONS] [--] PROGRAM [ARGS] */
#include "config.h"

#include <getopt.h>
#include <inttypes.h>
#include <sys/stat.h>

#include "capture.h"
#include "cmd.h"
#include "format.h"
#include "runner.h"
#include "spec.h"
#include "util.h"

static const char run_usage[] =
        "usage: xrun run [OPTIONS] [--] PROGRAM [ARGS]\n"
        "       xrun PROGRAM [ARGS]\n"
        "\n"
        "Record everything that decides the run's result, run PROGRAM, and\n"
        "finalize the record in the store (.xrun/runs/<id>/record.json).\n"
        "\n"
        "Options:\n"
        "  --seed N              the run's seed (0..2^64-1; default: random);\n"
        "                        exported as XRUN_SEED and PYTHONHASHSEED\n"
        "  -p, --param KEY=VALUE a hyperparameter; VALUE is a JSON scalar if "
        "it\n"
        "                        parses as one, else a string; repeatable;\n"
        "                        exported as XRUN_PARAM_<KEY> with KEY's "
        "case\n"
        "                        kept (-p lr=0.1 is $XRUN_PARAM_lr, not "
        "_LR)\n"
        "  --params FILE         a JSON object of hyperparameters; -p "
        "overrides\n"
        "  -n, --name NAME       a name for the run\n"
        "  --tag KEY=VALUE       a label; repeatable\n"
        "  -e, --env KEY=VALUE   set a variable for the program; repeatable\n"
        "  -i, --input PATH      pin a file or directory: hashed, stored, "
        "seen\n"
        "                        read-only by the run as it was now; "
        "repeatable\n"
        "  -o, --output PATH     a path the run may write (made as a "
        "directory\n"
        "                        when missing), kept in the store after "
        "the\n"
        "                        run; repeatable\n"
        "  --input-ref PATH      like -i, hashed and recorded, but bound "
        "read-only\n"
        "                        from its place, not copied into the "
        "store (data\n"
        "                        too big to copy); a replay re-hashes it "
        "and\n"
        "                        refuses when it changed; repeatable\n"
        "  --workspace-limit SIZE  pin a workspace of at most SIZE (default "
        "1G,\n"
        "                        or $XRUN_WORKSPACE_LIMIT)\n"
        "  --net                 give the run the host's network "
        "(default:\n"
        "                        loopback only)\n"
        "  --gpu                 pass NVIDIA and DRI devices through\n"
        "  --memory SIZE         at most SIZE of memory (512M, 4G); "
        "needs a\n"
        "                        memory cgroup; recorded as oom when hit\n"
        "  --pids N              at most N processes\n"
        "  --timeout DURATION    TERM after DURATION (90, 30m, 2h), KILL "
        "2s later;\n"
        "                        recorded as timeout\n"
        "  --max-output SIZE     keep at most SIZE of each of stdout and "
        "stderr\n"
        "                        in the store (64K, 100M); the rest passes "
        "to\n"
        "                        the terminal only; recorded as "
        "truncated\n"
        "  --deterministic       CUBLAS_WORKSPACE_CONFIG=:4096:8,\n"
        "                        TF_DETERMINISTIC_OPS=1, "
        "NVIDIA_TF32_OVERRIDE=0,\n"
        "                        TZ=UTC, and OMP_, OPENBLAS_ and "
        "MKL_NUM_THREADS\n"
        "                        at the CPU count (-e overrides); recorded\n"
        "  --ro PATH             show PATH read-only in the sandbox (a\n"
        "                        file or directory in the home, which is\n"
        "                        hidden otherwise); repeatable, recorded\n"
        "  --host-home           show the home directories as on the host,\n"
        "                        minus the secret stores (~/.ssh, ~/.aws...)\n"
        "  --no-sandbox          run on the host; the record says so\n"
        "  --cache PATH          a directory the run may write, kept between\n"
        "                        runs, neither pinned nor an output (model\n"
        "                        and pip caches); its reads are recorded\n"
        "  --no-trace            do not record the programs, libraries and\n"
        "                        files the run really used\n"
        "  -h, --help            this help\n"
        "\n"
        "The program runs in a sandbox: new namespaces, the host read-only,\n"
        "private /tmp and /var/tmp, no capabilities, a seccomp filter, the\n"
        "home directories empty but for what the run needs (workspace,\n"
        "inputs, outputs, the software it runs on, --ro paths), host unix\n"
        "sockets and the store hidden. The workspace (the git "
        "work\n"
        "tree, or the working directory) and every input are pinned into "
        "the\n"
        "store and the run sees them read-only, exactly as they were when "
        "it\n"
        "started.\n"

        "\n"
        "Exit status: the program's; 128+N when it died of signal N; 125 when\n"
        "xrun failed before starting it; 126/127 when it cannot be executed "
        "or\n"
        "is not found.\n";

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

static const char *usage_cmd = "run";

static int bad_usage(const char *fmt, const char *arg)
{
	char msg[1024];
	snprintf(msg, sizeof msg, fmt, arg);
	log_error("%s; see xrun %s --help", msg, usage_cmd);
	return 125;
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

static void print_summary(const Context *ctx, const RunOutcome *o)
{
	if (log_level < LOG_NORMAL || !o->id)
		return;
	const char *rec = o->record_path;
	size_t n = strlen(ctx->cwd);
	/* Show the record relative to the current directory when it is
	 * below it: shorter, and still a path the user can open. */
	if (strneq(rec, ctx->cwd, n) && rec[n] == '/')
		rec += n + 1;
	char how[64];
	if (o->signal)
		snprintf(how, sizeof how, "signal %d", o->signal);
	else
		snprintf(how, sizeof how, "exit %d", o->exit_code);
	fprintf(stderr, "xrun: run %.8s %s (%s) in %.2fs; record %s\n", o->id,
	        o->status, how, o->duration_s, rec);
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

int run_options_parse(int argc, char **argv, Context *ctx, RunSpec *spec,
                      const RunOptionsExtra *extra)
{
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
	static const struct option run_opts[] = {
	        {"seed", required_argument, NULL, OPT_SEED},
	        {"param", required_argument, NULL, 'p'},
	        {"params", required_argument, NULL, OPT_PARAMS},
	        {"input", required_argument, NULL, 'i'},
	        {"input-ref", required_argument, NULL, OPT_INPUT_REF},
	        {"output", required_argument, NULL, 'o'},
	        {"name", required_argument, NULL, 'n'},
	        {"tag", required_argument, NULL, OPT_TAG},
	        {"env", required_argument, NULL, 'e'},
	        {"net", no_argument, NULL, OPT_NET},
	        {"gpu", no_argument, NULL, OPT_GPU},
	        {"memory", required_argument, NULL, OPT_MEMORY},
	        {"pids", required_argument, NULL, OPT_PIDS},
	        {"timeout", required_argument, NULL, OPT_TIMEOUT},
	        {"max-output", required_argument, NULL, OPT_MAX_OUTPUT},
	        {"deterministic", no_argument, NULL, OPT_DETERMINISTIC},
	        {"no-sandbox", no_argument, NULL, OPT_NO_SANDBOX},
	        {"ro", required_argument, NULL, OPT_RO},
	        {"host-home", no_argument, NULL, OPT_HOST_HOME},
	        {"cache", required_argument, NULL, OPT_CACHE},
	        {"no-trace", no_argument, NULL, OPT_NO_TRACE},
	        {"workspace-limit", required_argument, NULL,
	         OPT_WORKSPACE_LIMIT},
	        /* a sweep's tasks: the files pinned at submission */
	        {"pinned-from", required_argument, NULL, OPT_PINNED_FROM},
	        /* xrun's global options, also after the command name */
	        {"store", required_argument, NULL, GLOBAL_OPT_STORE},
	        {"quiet", no_argument, NULL, 'q'},
	        {"verbose", no_argument, NULL, 'v'},
	        {"color", required_argument, NULL, GLOBAL_OPT_COLOR},
	        {0},
	};
	/* The run options, then the command's own, then --help. */
	size_t n_run = ELEMENTSOF(run_opts) - 1, n_extra = 0;
	while (extra && extra->options[n_extra].name)
		n_extra++;
	_cleanup_free_ struct option *opts =
	        xcalloc(n_run + n_extra + 2, sizeof *opts);
	memcpy(opts, run_opts, n_run * sizeof *opts);
	if (n_extra)
		memcpy(opts + n_run, extra->options, n_extra * sizeof *opts);
	opts[n_run + n_extra] = (struct option){"help", no_argument, NULL, 'h'};
	_cleanup_free_ char *shortopts =
	        xasprintf("+p:i:o:n:e:hqv%s",
	                  extra && extra->shortopts ? extra->shortopts : "");
	usage_cmd = extra ? extra->cmd : "run";
	const char *params_file = NULL;
	int c, r;
	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, shortopts, opts, NULL)) != -1) {
		if (extra && c != 'h') {
			r = extra->fn(c, optarg, extra->data);
			if (r == 0)
				continue;
			if (r != RUN_OPTION_NOT_MINE)
				return r;
		}
		switch (c) {
		case OPT_SEED:
			if (parse_u64(optarg, &spec->seed) < 0)
				return bad_usage("--seed takes a number from 0 "
				                 "to 18446744073709551615, not "
				                 "'%s'",
				                 optarg);
			spec->has_seed = true;
			spec->seed_source = SEED_OPTION;
			break;
		case 'p':
			r = run_spec_add_param(spec, optarg);
			if (r == -EEXIST)
				return bad_usage(
				        "param given twice: '%s'; give "
				        "each -p key once",
				        optarg);
			if (r < 0 && !strchr(optarg, '='))
				return bad_usage("-p takes KEY=VALUE: '%s' has "
				                 "no '=VALUE'",
				                 optarg);
			if (r < 0)
				return bad_usage(
				        "-p takes KEY=VALUE with a key "
				        "of letters, digits, '_', '.' "
				        "or '-', not '%s'",
				        optarg);
			break;
		case OPT_PARAMS:
			params_file = optarg;
			break;
		case 'n':
			if (!utf8_valid(optarg, strlen(optarg)))
				return bad_usage("--name must be UTF-8 text: "
				                 "'%s'",
				                 optarg);
			free(spec->name);
			spec->name = xstrdup(optarg);
			break;
		case OPT_TAG:
			if (run_spec_add_tag(spec, optarg) < 0)
				return bad_usage("--tag takes KEY=VALUE in "
				                 "UTF-8, not '%s'",
				                 optarg);
			break;
		case 'e':
			if (run_spec_add_env(spec, optarg) < 0)
				return bad_usage("-e takes KEY=VALUE, not '%s'",
				                 optarg);
			break;
		case OPT_NET:
			spec->net = true;
			break;
		case OPT_GPU:
			spec->gpu = true;
			break;
		case OPT_NO_SANDBOX:
			spec->no_sandbox = true;
			break;
		case OPT_HOST_HOME:
			spec->host_home = true;
			break;
		case OPT_RO: {
			struct stat st;
			_cleanup_free_ char *p =
			        path_normalize(ctx->cwd, optarg);
			if (!*optarg || stat(p, &st) < 0)
				return bad_usage(
				        "--ro takes an existing path to "
				        "show read-only, not '%s'",
				        optarg);
			if (!strv_has(spec->ro, p))
				spec->ro = strv_push(spec->ro, p);
			break;
		}
		case OPT_NO_TRACE:
			spec->no_trace = true;
			break;
		case OPT_CACHE:
			r = run_spec_add_cache(spec, optarg, ctx->cwd);
			if (r == -EEXIST)
				return bad_usage("cache given twice: '%s'",
				                 optarg);
			if (r < 0)
				return bad_usage("--cache takes a directory "
				                 "other than '/', not '%s'",
				                 optarg);
			break;
		case 'i':
			r = run_spec_add_input(spec, optarg, ctx->cwd);
			if (r == -EEXIST)
				return bad_usage("input given twice: '%s'",
				                 optarg);
			if (r < 0)
				return bad_usage("-i takes a path other than "
				                 "'/', not '%s'",
				                 optarg);
			break;
		case OPT_INPUT_REF:
			r = run_spec_add_input_ref(spec, optarg, ctx->cwd);
			if (r == -EEXIST)
				return bad_usage("input given twice: '%s'",
				                 optarg);
			if (r < 0)
				return bad_usage(
				        "--input-ref takes a path other "
				        "than '/', not '%s'",
				        optarg);
			break;
		case OPT_PINNED_FROM: {
			json_error_t jerr;
			json_auto_t *j = json_load_file(optarg, 0, &jerr);
			json_t *pinned = json_object_get(j, "pinned");
			if (!json_is_object(pinned) ||
			    !json_is_array(json_object_get(pinned, "inputs")))
				return bad_usage(
				        "--pinned-from takes a sweep's "
				        "grid.json with its pinned "
				        "files, not '%s'",
				        optarg);
			json_decref(spec->pinned);
			spec->pinned = json_incref(pinned);
			break;
		}
		case OPT_WORKSPACE_LIMIT:
			if (parse_size(optarg, &spec->workspace_limit) < 0)
				return bad_usage(
				        "--workspace-limit takes a size "
				        "like 512M, 4G or 1.5GiB, not '%s'",
				        optarg);
			break;
		case 'o':
			r = run_spec_add_output(spec, optarg, ctx->cwd);
			if (r == -EEXIST)
				return bad_usage("output given twice: '%s'",
				                 optarg);
			if (r < 0)
				return bad_usage("-o takes a path other than "
				                 "'/', not '%s'",
				                 optarg);
			break;
		case OPT_PIDS:
			if (parse_u64(optarg, &spec->pids) < 0 ||
			    spec->pids < 1 || spec->pids > 4194304)
				return bad_usage("--pids takes a number of "
				                 "processes from 1 to 4194304, "
				                 "not '%s'",
				                 optarg);
			break;
		case OPT_TIMEOUT:
			if (parse_duration(optarg, &spec->timeout_s) < 0)
				return bad_usage("--timeout takes a duration "
				                 "like 90, 90s, 30m, 2h or 1d, "
				                 "not '%s'",
				                 optarg);
			break;
		case OPT_MEMORY:
			if (parse_size(optarg, &spec->memory) < 0 ||
			    spec->memory < 1024 * 1024)
				return bad_usage("--memory takes a size of at "
				                 "least 1M, like 512M, 4G or "
				                 "1.5GiB, not '%s'",
				                 optarg);
			break;
		case OPT_MAX_OUTPUT:
			if (parse_size(optarg, &spec->max_output) < 0 ||
			    spec->max_output == 0)
				return bad_usage("--max-output takes a size of "
				                 "at least 1 byte, like 64K, "
				                 "100M or 1G, not '%s'",
				                 optarg);
			break;
		case OPT_DETERMINISTIC:
			if (!spec->deterministic)
				run_spec_set_deterministic(
				        spec, sysconf(_SC_NPROCESSORS_ONLN));
			break;
		case GLOBAL_OPT_STORE:
		case GLOBAL_OPT_COLOR:
		case 'q':
		case 'v':
			r = global_option(ctx, c, optarg);
			if (r)
				return r;
			break;
		case 'h':
			fputs(extra ? extra->usage : run_usage, stdout);
			r = finish_stdout(0);
			return r ? r : RUN_OPTIONS_HELP;
		default: {
			_cleanup_free_ char *msg = unknown_option_message(
			        usage_cmd, optopt, argv[optind - 1]);
			return bad_usage("%s", msg);
		}
		}
	}
	if (spec->no_sandbox && spec->pids)
		return bad_usage("%s", "--pids needs the sandbox: its process "
		                       "count is kept per user namespace; drop "
		                       "--no-sandbox or --pids");
	if (optind >= argc)
		return bad_usage("no program to run: xrun %s [OPTIONS] "
		                 "PROGRAM [ARGS]",
		                 usage_cmd);
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
		return bad_usage("XRUN_WORKSPACE_LIMIT takes a size like 512M, "
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
	for (char **w = o.warnings; w && *w; w++)
		log_warn("%s", *w);
	if (o.error)
		log_error("%s", o.error);
	if (o.id)
		log_debug("run %s: record %s; recording took %.2f ms before "
		          "the program started",
		          o.id, o.record_path, o.setup_ms);
	if (o.unpinned && log_level >= LOG_NORMAL)
		print_unpinned(o.unpinned);
	if (r == 0)
		print_summary(ctx, &o);
	else if (o.record_path && o.record_lost)
		fprintf(stderr,
		        "xrun: run %.8s could not be recorded in full: its "
		        "record %s still reads running\n",
		        o.id, o.record_path);
	else if (o.record_path && log_level >= LOG_NORMAL)
		fprintf(stderr,
		        "xrun: run %.8s recorded as failed; record %s\n", o.id,
		        o.record_path);
	int status = o.exit_status;
	run_outcome_clear(&o);
	return status;
}
