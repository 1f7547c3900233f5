/* xrun: global options, the command table, dispatch. */
#include "config.h"

#include <getopt.h>
#include <jansson.h>
#include <stdint.h>
#include <sys/random.h>
#include <sys/stat.h>

#include "cmd.h"
#include "util.h"

typedef enum {
	STORE_NONE,     /* the command opens nothing */
	STORE_OPTIONAL, /* a RUN may be a record path: a store is optional */
	STORE_REQUIRED, /* must exist */
	STORE_CREATE,   /* found, or created where `git init` would put it */
} StoreMode;

typedef struct Command {
	const char *name;
	int (*fn)(int argc, char **argv, Context *ctx);
	StoreMode store;
	const char *summary;
} CommandEntry;

static const CommandEntry commands[] = {
        {"run", cmd_run, STORE_CREATE, "record and run a program"},
        {"replay", cmd_replay, STORE_CREATE,
         "run a past run again, verify outputs"},
        {"sweep", cmd_sweep, STORE_CREATE,
         "run a program over a grid of params, here or on Slurm"},
        {"diff", cmd_diff, STORE_OPTIONAL, "what differs between two runs"},
        {"show", cmd_show, STORE_OPTIONAL, "one run's record"},
        {"ls", cmd_ls, STORE_REQUIRED, "the runs, newest first"},
        {"log", cmd_log, STORE_OPTIONAL, "a run's captured output"},
        {"checkout", cmd_checkout, STORE_REQUIRED,
         "restore a run's outputs from the store"},
        {"verify", cmd_verify, STORE_REQUIRED,
         "re-hash stored objects and records"},
        {"gc", cmd_gc, STORE_REQUIRED, "delete objects no record references"},
};

static StoreMode current_store_mode = STORE_NONE;

static void usage(FILE *f)
{
	fputs("usage: xrun [GLOBAL OPTIONS] COMMAND [ARGS]\n"
	      "       xrun [GLOBAL OPTIONS] PROGRAM [ARGS]   (same as xrun run "
	      "PROGRAM ARGS)\n"
	      "\n"
	      "Make an ML training run reproducible: record everything that "
	      "decides\n"
	      "its result, run it, and keep what is needed to run it again.\n"
	      "\n"
	      "Commands:\n",
	      f);
	for (size_t i = 0; i < ELEMENTSOF(commands); i++)
		fprintf(f, "  %-8s %s\n", commands[i].name,
		        commands[i].summary);
	fputs("\n"
	      "Global options:\n"
	      "  --store DIR          use the store DIR (default: .xrun found "
	      "like .git;\n"
	      "                       also $XRUN_STORE)\n"
	      "  -q, --quiet          only errors on stderr\n"
	      "  -v, --verbose        say more about what xrun does\n"
	      "  --color=WHEN         auto, always or never\n"
	      "  -h, --help           this help; COMMAND --help for a "
	      "command's\n"
	      "  --version            print the version\n"
	      "\n"
	      "See xrun(1) for the run record, the store and the exit "
	      "statuses.\n",
	      f);
}

bool want_color(const Context *ctx, int fd)
{
	if (ctx->color == COLOR_ALWAYS)
		return true;
	if (ctx->color == COLOR_NEVER)
		return false;
	const char *term = getenv("TERM");
	return isatty(fd) && !getenv("NO_COLOR") && term &&
	       !streq(term, "dumb");
}

int finish_stdout(int status)
{
	if (fflush(stdout) != 0 || ferror(stdout)) {
		if (errno == EPIPE)
			return status;
		log_error_errno(-errno, "cannot write to standard output: %m");
		return status ? status : 1;
	}
	return status;
}

char *unknown_option_message(const char *cmd, int optopt, const char *arg)
{
	if (optopt == 'q' || optopt == 'v')
		return xasprintf("-%c is an option of xrun itself: put it "
		                 "before the command (xrun -%c %s ...)",
		                 optopt, optopt, cmd);
	if (optopt && optopt < 256)
		return xasprintf("unknown or incomplete option '-%c'", optopt);
	return xasprintf("unknown or incomplete option '%s'", arg);
}

int context_find_store(Context *ctx, bool required)
{
	if (ctx->store)
		return 0;
	StoreMode mode = current_store_mode;
	if (required && mode == STORE_OPTIONAL)
		mode = STORE_REQUIRED;
	_cleanup_free_ char *root = NULL;
	bool create = mode == STORE_CREATE;
	int r;
	if (ctx->store_arg)
		root = xstrdup(ctx->store_arg);
	else {
		r = store_discover(ctx->cwd, &root);
		if (r == -ENOENT && create)
			root = store_default_root(ctx->cwd);
		else if (r == -ENOENT) {
			if (mode == STORE_OPTIONAL)
				return 0;
			return log_error_errno(r,
			                       "no xrun store in '%s' or any "
			                       "parent directory; "
			                       "run a program with xrun first, "
			                       "or pass --store DIR",
			                       ctx->cwd);
		}
	}
	bool created = false;
	r = store_open(root, create, &ctx->store, &created);
	if (r == -ENOENT && mode == STORE_OPTIONAL && !ctx->store_arg)
		return 0;
	if (r == -ENOENT && !create)
		return log_error_errno(
		        r,
		        "'%s' is not an xrun store (no runs/ "
		        "directory); check --store or XRUN_STORE",
		        root);
	if (r < 0)
		return log_error_errno(
		        r,
		        "cannot %s the store '%s': %m; check its "
		        "permissions or pass --store DIR",
		        create ? "create" : "open", root);
	if (created)
		log_info("created store '%s'", ctx->store->root);
	return 0;
}

int load_run(Context *ctx, const char *spec, Record **ret)
{
	int r = context_find_store(ctx, false);
	if (r < 0)
		return 1;
	_cleanup_free_ char *path = NULL, *err = NULL;
	r = store_resolve(ctx->store, spec, &path, &err);
	if (r < 0) {
		log_error("%s", err);
		return 1;
	}
	r = record_load(path, ret, &err);
	if (r == -EBADMSG || r == -EPROTONOSUPPORT) {
		log_error("cannot read record '%s': %s", path, err);
		return 1;
	}
	if (r < 0) {
		log_error_errno(r, "cannot read record '%s': %m", path);
		return 1;
	}
	return 0;
}

static const CommandEntry *find_command(const char *name)
{
	for (size_t i = 0; i < ELEMENTSOF(commands); i++)
		if (streq(commands[i].name, name))
			return &commands[i];
	return NULL;
}

int main(int argc, char **argv)
{
	enum { OPT_STORE = 256, OPT_COLOR, OPT_VERSION };
	static const struct option opts[] = {
	        {"store", required_argument, NULL, OPT_STORE},
	        {"quiet", no_argument, NULL, 'q'},
	        {"verbose", no_argument, NULL, 'v'},
	        {"color", required_argument, NULL, OPT_COLOR},
	        {"help", no_argument, NULL, 'h'},
	        {"version", no_argument, NULL, OPT_VERSION},
	        {0},
	};
	Context ctx = {.store_arg = getenv("XRUN_STORE"), .color = COLOR_AUTO};
	/* jansson would open /dev/urandom for its hash seed. */
	uint32_t seed;
	if (getrandom(&seed, sizeof seed, GRND_NONBLOCK) == sizeof seed && seed)
		json_object_seed(seed);
	if (ctx.store_arg && !*ctx.store_arg)
		ctx.store_arg = NULL;
	int c;
	opterr = 0;
	/* "+": stop at the first non-option, which is the command or the
	 * program; what follows belongs to them. */
	while ((c = getopt_long(argc, argv, "+qvh", opts, NULL)) != -1) {
		switch (c) {
		case OPT_STORE:
			ctx.store_arg = optarg;
			break;
		case 'q':
			log_level = LOG_QUIET;
			break;
		case 'v':
			log_level = LOG_VERBOSE;
			break;
		case OPT_COLOR:
			if (streq(optarg, "auto"))
				ctx.color = COLOR_AUTO;
			else if (streq(optarg, "always"))
				ctx.color = COLOR_ALWAYS;
			else if (streq(optarg, "never"))
				ctx.color = COLOR_NEVER;
			else {
				log_error(
				        "--color takes auto, always or never, "
				        "not '%s'",
				        optarg);
				return 125;
			}
			break;
		case 'h':
			usage(stdout);
			return finish_stdout(0);
		case OPT_VERSION:
			printf("xrun %s (%s)\n", PACKAGE_VERSION, XRUN_BUILD);
			return finish_stdout(0);
		default:
			if (optopt && optopt < 256)
				log_error("unknown option '-%c'; run options "
				          "go after the command: xrun run "
				          "[OPTIONS] PROGRAM; see xrun --help",
				          optopt);
			else
				log_error(
				        "unknown or incomplete option '%s'; "
				        "run options go after the command: "
				        "xrun run [OPTIONS] PROGRAM; see xrun "
				        "--help",
				        argv[optind - 1]);
			return 125;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return 125;
	}
	char cwd[4096];
	if (!getcwd(cwd, sizeof cwd)) {
		log_error_errno(-errno,
		                "cannot determine the current directory: %m");
		return 125;
	}
	ctx.cwd = cwd;

	const CommandEntry *cmd = find_command(argv[optind]);
	int sub_argc = argc - optind;
	char **sub_argv = argv + optind;
	_cleanup_free_ char **shifted = NULL;
	if (!cmd) {
		/* xrun PROGRAM ARGS: run, with "--" so that the program's own
		 * options are never taken for run's. */
		cmd = find_command("run");
		shifted = xcalloc((size_t)sub_argc + 3, sizeof(char *));
		shifted[0] = (char *)"run";
		shifted[1] = (char *)"--";
		memcpy(shifted + 2, sub_argv,
		       (size_t)sub_argc * sizeof(char *));
		sub_argv = shifted;
		sub_argc += 2;
	}
	current_store_mode = cmd->store;
	optind = 1; /* reset getopt for the command */
	opterr = 1;
	int status = cmd->fn(sub_argc, sub_argv, &ctx);
	store_free(ctx.store);
	return status;
}
