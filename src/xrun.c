/* xrun: global options, the command table, dispatch. */
#include "config.h"

#include <getopt.h>
#include <jansson.h>
#include <stdint.h>
#include <sys/random.h>
#include <sys/stat.h>

#include "cmd.h"
#include "command.h"
#include "util.h"

typedef enum {
	STORE_NONE,     /* the command opens nothing */
	STORE_OPTIONAL, /* a RUN may be a record path: a store is optional */
	STORE_REQUIRED, /* must exist */
	STORE_CREATE,   /* found, or created where `git init` would put it */
} StoreMode;

typedef struct CommandEntry {
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
        {"check", cmd_check, STORE_REQUIRED,
         "name what makes a run's outputs change"},
        {"diff", cmd_diff, STORE_OPTIONAL, "what differs between two runs"},
        {"show", cmd_show, STORE_OPTIONAL, "one run's record"},
        {"ls", cmd_ls, STORE_REQUIRED, "the runs, newest first"},
        {"log", cmd_log, STORE_OPTIONAL, "a run's captured output"},
        {"checkout", cmd_checkout, STORE_REQUIRED,
         "restore a run's outputs from the store"},
        {"verify", cmd_verify, STORE_REQUIRED,
         "re-hash stored objects and records"},
        {"gc", cmd_gc, STORE_REQUIRED, "delete objects no record references"},
        {"rm", cmd_rm, STORE_REQUIRED,
         "delete runs (their objects go at the next gc)"},
        {"report", cmd_report, STORE_OPTIONAL,
         "one HTML file: metric curves, runs table, provenance"},
        {"compare", cmd_compare, STORE_OPTIONAL,
         "runs side by side: the params and metrics that differ"},
        {"metrics", cmd_metrics, STORE_OPTIONAL,
         "a run's metric stream (--follow while it runs)"},
        {"tag", cmd_tag, STORE_REQUIRED,
         "label a run after it ran (beside its record)"},
        {"note", cmd_note, STORE_REQUIRED,
         "add a note to a run (beside its record)"},
        {"export", cmd_export, STORE_REQUIRED,
         "write runs and their objects to one bundle file"},
        {"import", cmd_import, STORE_CREATE,
         "bring the runs of a bundle into this store"},
        {"lineage", cmd_lineage, STORE_REQUIRED,
         "the runs whose outputs a run read, and the reverse"},
        {"attest", cmd_attest, STORE_REQUIRED,
         "signed in-toto/SLSA provenance of a run"},
        {"key", cmd_key, STORE_OPTIONAL,
         "make or show the key that signs records and attestations"},
};

static StoreMode current_store_mode = STORE_NONE;

static void usage(FILE *f)
{
	fputs("usage: xrun [GLOBAL OPTIONS] COMMAND [ARGS]\n"
	      "       xrun [GLOBAL OPTIONS] [RUN OPTIONS] PROGRAM [ARGS]\n"
	      "                  (same as xrun run [RUN OPTIONS] PROGRAM ARGS; "
	      "a "
	      "bare\n"
	      "                  name not in PATH but in the working directory "
	      "runs\n"
	      "                  as ./name)\n"
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
	      "--store, -q, -v and --color may also follow the command name\n"
	      "(xrun diff --color=never A B).\n"
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
	(void)cmd;
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

/* Levenshtein distance, for "did you mean"; capped at 3. */
static size_t edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	if (la > 32 || lb > 32)
		return 3;
	size_t d[33][33];
	for (size_t i = 0; i <= la; i++)
		d[i][0] = i;
	for (size_t j = 0; j <= lb; j++)
		d[0][j] = j;
	for (size_t i = 1; i <= la; i++)
		for (size_t j = 1; j <= lb; j++) {
			size_t sub = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
			size_t del = d[i - 1][j] + 1, ins = d[i][j - 1] + 1;
			d[i][j] = sub < del ? (sub < ins ? sub : ins)
			                    : (del < ins ? del : ins);
		}
	return d[la][lb] < 3 ? d[la][lb] : 3;
}

/* The command name word is a near miss of, when it is neither a file
 * here nor a program in PATH (`xrun lss`, `xrun shwo`; not `xrun sh`). */
static const char *near_miss(const char *word, const char *cwd)
{
	if (strchr(word, '/') || word[0] == '-')
		return NULL;
	const char *best = NULL;
	size_t best_d = 3;
	for (size_t i = 0; i < ELEMENTSOF(commands); i++) {
		size_t d = edit_distance(word, commands[i].name);
		if (d < best_d) {
			best_d = d;
			best = commands[i].name;
		}
	}
	if (!best)
		return NULL;
	struct stat st;
	_cleanup_free_ char *here = path_join(cwd, word);
	_cleanup_free_ char *found = NULL;
	if (lstat(here, &st) == 0 ||
	    find_executable(word, cwd, getenv("PATH"), &found) == 0)
		return NULL;
	return best;
}

int global_option(Context *ctx, int c, const char *arg)
{
	switch (c) {
	case GLOBAL_OPT_STORE:
		ctx->store_arg = arg;
		return 0;
	case 'q':
		log_level = LOG_QUIET;
		return 0;
	case 'v':
		log_level = LOG_VERBOSE;
		return 0;
	case GLOBAL_OPT_COLOR:
		if (streq(arg, "auto"))
			ctx->color = COLOR_AUTO;
		else if (streq(arg, "always"))
			ctx->color = COLOR_ALWAYS;
		else if (streq(arg, "never"))
			ctx->color = COLOR_NEVER;
		else {
			log_error("--color takes auto, always or never, not "
			          "'%s'",
			          arg);
			return 125;
		}
		return 0;
	}
	return RUN_OPTION_NOT_MINE;
}

/* Is argv[*i] a global option (with its value)? Applies it and moves *i
 * past it: 1; 0 when it is none; an exit status on a bad value. */
static int take_global(Context *ctx, char **argv, int argc, int *i)
{
	static const struct {
		const char *name;
		int c;
		bool arg;
	} g[] = {
	        {"--store", GLOBAL_OPT_STORE, true},
	        {"--color", GLOBAL_OPT_COLOR, true},
	        {"--quiet", 'q', false},
	        {"-q", 'q', false},
	        {"--verbose", 'v', false},
	        {"-v", 'v', false},
	};
	const char *a = argv[*i];
	for (size_t k = 0; k < ELEMENTSOF(g); k++) {
		size_t n = strlen(g[k].name);
		if (!strneq(a, g[k].name, n))
			continue;
		const char *val = NULL;
		if (a[n] == '=' && g[k].arg)
			val = a + n + 1;
		else if (a[n])
			continue;
		else if (g[k].arg) {
			if (*i + 1 >= argc) {
				log_error("%s needs a value; see xrun --help",
				          g[k].name);
				return -125;
			}
			val = argv[++*i];
		}
		int r = global_option(ctx, g[k].c, val);
		if (r)
			return -r;
		(*i)++;
		return 1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	Context ctx = {.store_arg = getenv("XRUN_STORE"), .color = COLOR_AUTO};
	/* jansson would open /dev/urandom for its hash seed. */
	uint32_t seed;
	if (getrandom(&seed, sizeof seed, GRND_NONBLOCK) == sizeof seed && seed)
		json_object_seed(seed);
	if (ctx.store_arg && !*ctx.store_arg)
		ctx.store_arg = NULL;
	/* The global options, up to the command, the program or a run
	 * option (the shorthand xrun -o out train.sh). */
	int i = 1;
	while (i < argc) {
		const char *a = argv[i];
		if (streq(a, "-h") || streq(a, "--help")) {
			usage(stdout);
			return finish_stdout(0);
		}
		if (streq(a, "--version")) {
			printf("xrun %s (%s)\n", PACKAGE_VERSION, XRUN_BUILD);
			return finish_stdout(0);
		}
		int r = take_global(&ctx, argv, argc, &i);
		if (r < 0)
			return -r;
		if (r == 0)
			break;
	}
	if (i >= argc) {
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

	const CommandEntry *cmd = find_command(argv[i]);
	int sub_argc = argc - i;
	char **sub_argv = argv + i;
	_cleanup_free_ char **shifted = NULL;
	if (!cmd) {
		const char *miss =
		        argv[i][0] != '-' ? near_miss(argv[i], cwd) : NULL;
		if (miss) {
			log_error("'%s' is not an xrun command; did you mean "
			          "'%s'? (to run a program of that name: xrun "
			          "run -- %s)",
			          argv[i], miss, argv[i]);
			return 125;
		}
		/* xrun PROGRAM ARGS: run, with "--" so that the program's
		 * own options are never taken for run's; xrun -o out
		 * PROGRAM ARGS: run's options come first, run stops at the
		 * program. */
		cmd = find_command("run");
		bool options = argv[i][0] == '-' && argv[i][1];
		shifted = xcalloc((size_t)sub_argc + 3, sizeof(char *));
		shifted[0] = (char *)"run";
		if (!options)
			shifted[1] = (char *)"--";
		memcpy(shifted + (options ? 1 : 2), sub_argv,
		       (size_t)sub_argc * sizeof(char *));
		sub_argv = shifted;
		sub_argc += options ? 1 : 2;
	} else if (cmd->fn != cmd_run && cmd->fn != cmd_sweep) {
		/* Global options after the command name: taken out before
		 * "--" (run and sweep take them among their own options,
		 * which stop at the program). */
		shifted = xcalloc((size_t)sub_argc + 1, sizeof(char *));
		int n = 0;
		shifted[n++] = sub_argv[0];
		bool rest = false;
		for (int k = 1; k < sub_argc;) {
			if (!rest && streq(sub_argv[k], "--"))
				rest = true;
			int r = rest ? 0
			             : take_global(&ctx, sub_argv, sub_argc,
			                           &k);
			if (r < 0)
				return -r;
			if (r == 0)
				shifted[n++] = sub_argv[k++];
		}
		sub_argv = shifted;
		sub_argc = n;
	}
	current_store_mode = cmd->store;
	optind = 1; /* reset getopt for the command */
	opterr = 1;
	int status = cmd->fn(sub_argc, sub_argv, &ctx);
	store_free(ctx.store);
	return status;
}
