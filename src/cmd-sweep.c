/* xrun sweep [RUN OPTIONS] -p K=V1,V2 … [-j N | --slurm [--sbatch-arg ARG]…]
 *            [--] PROGRAM [ARGS] */
#include "config.h"

#include <ctype.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <uuid/uuid.h>

#include "capture.h"
#include "cmd.h"
#include "options.h"
#include "run-pins.h"
#include "runner.h"
#include "spec.h"
#include "sweep.h"
#include "util.h"

extern char **environ;

enum {
	OPT_PARAMS_GRID = 512,
	OPT_SLURM,
	OPT_SBATCH_ARG,
};

/* Its own options; the run options are taken too (run_options_shared). */
static const CmdOption sweep_options[] = {
        {'p', "param", "KEY=V1,V2,…",
         "the values of one param, each a JSON scalar if it parses as one, else a string; write \\, for a comma inside a value and \\\\ for a backslash; each KEY once"},
        {OPT_PARAMS_GRID, "params-grid", "FILE",
         "a JSON object {\"KEY\": [V1, V2, …], …}"},
        {'j', "jobs", "N", "run N combinations at once (default 1)"},
        {OPT_SLURM, "slurm", NULL,
         "submit one Slurm job array (sbatch --array), task i running combination i, and print the job id"},
        {OPT_SBATCH_ARG, "sbatch-arg", "ARG", "pass ARG to sbatch; repeatable"},
        CMD_OPTION_HELP,
        {0},
};

static const CmdSpec sweep_cmd = {
        .name = "sweep",
        .synopsis =
                "[RUN OPTIONS] -p KEY=V1,V2,… [-p …]\n"
                "                  [--params-grid FILE] [-j N | --slurm [--sbatch-arg ARG]…]\n"
                "                  [--] PROGRAM [ARGS]",
        .about =
                "Run PROGRAM once for each combination of the listed param values\n"
                "(their cartesian product), each an ordinary run tagged with the\n"
                "sweep's id (tag sweep) and the combination's index (tag sweep_index).\n",
        .options = sweep_options,
        .shared = run_options,
        .after =
                "RUN OPTIONS are those of xrun run (see xrun run --help); --params FILE\n"
                "gives the params every combination shares.\n"
                "\n"
                "Combination i: the first KEY varies slowest, the last fastest, as\n"
                "nested loops over the keys in order would give them; --params-grid\n"
                "keys come before -p keys. The workspace and the inputs are pinned once\n"
                "before the first run or the submission. List a sweep's runs with\n"
                "xrun ls --sweep ID.\n"
                "\n"
                "Exit status: 0 when every run succeeded, 1 when one did not, 125 when\n"
                "xrun failed before running or submitting, 130 when interrupted.\n",
        .stop_at_operand = true,
        .runs_program = true,
};

typedef struct SweepOpts {
	Grid *grid;
	const char *grid_file;
	bool slurm;
	char **sbatch_args;
	uint64_t jobs;
} SweepOpts;

static int sweep_option(int c, const char *arg, void *data)
{
	SweepOpts *so = data;
	int r;
	switch (c) {
	case 'p':
		r = grid_add_list(so->grid, arg);
		if (r == -EEXIST) {
			_cleanup_free_ char *key =
			        xstrndup(arg, strcspn(arg, "="));
			log_error(
			        "param '%s' listed twice; list all its values "
			        "in one -p %s=V1,V2,…",
			        key, key);
			return 125;
		}
		if (r < 0 && !strchr(arg, '='))
			return cmd_usage_error(
			        &sweep_cmd,
			        "-p takes KEY=V1,V2,…: '%s' has no '=VALUES'",
			        arg);
		if (r < 0)
			return cmd_usage_error(
			        &sweep_cmd,
			        "-p takes KEY=V1,V2,… with a key of letters, digits, '_', '.' or '-', not '%s'",
			        arg);
		return 0;
	case OPT_PARAMS_GRID:
		so->grid_file = arg;
		return 0;
	case OPT_SLURM:
		so->slurm = true;
		return 0;
	case OPT_SBATCH_ARG:
		so->sbatch_args = strv_push(so->sbatch_args, arg);
		return 0;
	case 'j':
		if (parse_u64(arg, &so->jobs) < 0 || so->jobs < 1 ||
		    so->jobs > 1024)
			return cmd_usage_error(
			        &sweep_cmd,
			        "-j takes a number of runs at once from 1 to 1024, not '%s'",
			        arg);
		return 0;
	}
	return RUN_OPTION_NOT_MINE;
}

/* 'text' with every ' closed, escaped and reopened: one shell word. */
static char *shell_quote(const char *text)
{
	size_t n = 2;
	for (const char *p = text; *p; p++)
		n += *p == '\'' ? 4 : 1;
	char *q = xmalloc(n + 1), *o = q;
	*o++ = '\'';
	for (const char *p = text; *p; p++) {
		if (*p == '\'') {
			memcpy(o, "'\\''", 4);
			o += 4;
		} else
			*o++ = *p;
	}
	*o++ = '\'';
	*o = 0;
	return q;
}

/* "--NAME=VALUE" for each of values, after a. */
static char **push_option_each(char **a, const char *name, char *const *values)
{
	for (char *const *v = values; v && *v; v++)
		a = strv_pushf(a, "--%s=%s", name, *v);
	return a;
}

/* The run options a task gives `xrun run` to build the spec the sweep
 * built, params and the sweep's tags aside. */
static char **run_spec_to_args(const RunSpec *spec)
{
	char **a = NULL;
	char buf[64];
	if (spec->has_seed) {
		snprintf(buf, sizeof buf, "--seed=%" PRIu64, spec->seed);
		a = strv_push(a, buf);
	}
	if (spec->name) {
		_cleanup_free_ char *s = xasprintf("--name=%s", spec->name);
		a = strv_push(a, s);
	}
	const char *k;
	json_t *v;
	json_object_foreach (spec->tags, k, v) {
		_cleanup_free_ char *s =
		        xasprintf("--tag=%s=%s", k, json_string_value(v));
		a = strv_push(a, s);
	}
	for (char **e = spec->env_set; e && *e; e++) {
		/* Secrets reach the task through sbatch's environment,
		 * never through job.sh (see secret_env_args). */
		_cleanup_free_ char *red = env_entry_redacted(*e, strlen(*e));
		if (red)
			continue;
		_cleanup_free_ char *s = xasprintf("--env=%s", *e);
		a = strv_push(a, s);
	}
	a = push_option_each(a, "input", spec->inputs);
	a = push_option_each(a, "input-ref", spec->input_refs);
	a = push_option_each(a, "output", spec->outputs);
	a = push_option_each(a, "ro", spec->ro);
	if (spec->host_home)
		a = strv_push(a, "--host-home");
	if (spec->net)
		a = strv_push(a, "--net");
	if (spec->gpu)
		a = strv_push(a, "--gpu");
	if (spec->no_sandbox)
		a = strv_push(a, "--no-sandbox");
	if (spec->no_trace)
		a = strv_push(a, "--no-trace");
	a = push_option_each(a, "cache", spec->caches);
	if (spec->deterministic)
		a = strv_push(a, "--deterministic");
	if (spec->memory) {
		snprintf(buf, sizeof buf, "--memory=%" PRIu64, spec->memory);
		a = strv_push(a, buf);
	}
	if (spec->pids) {
		snprintf(buf, sizeof buf, "--pids=%" PRIu64, spec->pids);
		a = strv_push(a, buf);
	}
	if (spec->timeout_s > 0) {
		_cleanup_free_ char *d = format_double(spec->timeout_s);
		_cleanup_free_ char *s = xasprintf("--timeout=%s", d);
		a = strv_push(a, s);
	}
	if (spec->workspace_limit) {
		snprintf(buf, sizeof buf, "--workspace-limit=%" PRIu64,
		         spec->workspace_limit);
		a = strv_push(a, buf);
	}
	return a;
}

/* The params of combination i: the shared ones (--params) under the
 * grid's. */
static json_t *combination_params(const RunSpec *spec, const Grid *g, size_t i)
{
	json_t *p = spec->params ? json_deep_copy(spec->params) : json_object();
	json_auto_t *c = grid_combination(g, i);
	json_object_update(p, c);
	return p;
}

static char *new_uuid(void)
{
	uuid_t u;
	char id[37];
	uuid_generate_random(u);
	uuid_unparse_lower(u, id);
	return xstrdup(id);
}

/* Run argv with stdout into *ret_out (at most 1 MiB); stderr passes
 * through unless quiet. Returns the wait status, or -errno when it
 * cannot start. */
static int run_capture(char *const *argv, bool quiet, char **ret_out)
{
	int fds[2];
	if (pipe2(fds, O_CLOEXEC) < 0)
		return negative_errno();
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, fds[1], STDOUT_FILENO);
	if (quiet)
		posix_spawn_file_actions_addopen(&fa, STDERR_FILENO,
		                                 "/dev/null", O_WRONLY, 0);
	pid_t pid;
	int r = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(fds[1]);
	if (r != 0) {
		close(fds[0]);
		return -r;
	}
	_cleanup_free_ char *out = NULL;
	r = read_full_fd(fds[0], 1 << 20, &out, NULL);
	close(fds[0]);
	int st;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return negative_errno();
	if (r < 0)
		return r;
	*ret_out = TAKE_PTR(out);
	return st;
}

static bool in_path(const char *prog)
{
	const char *path = getenv("PATH");
	if (!path || !*path)
		path = "/usr/local/bin:/usr/bin:/bin";
	_cleanup_free_ char *copy = xstrdup(path);
	for (char *dir = copy, *next; dir; dir = next) {
		next = strchr(dir, ':');
		if (next)
			*next++ = 0;
		_cleanup_free_ char *p = path_join(*dir ? dir : ".", prog);
		if (access(p, X_OK) == 0)
			return true;
	}
	return false;
}

/* The cluster's MaxArraySize from `scontrol show config`; Slurm's
 * default, 1001, when it cannot be read. */
static uint64_t max_array_size(void)
{
	char *argv[] = {(char *)"scontrol", (char *)"show", (char *)"config",
	                NULL};
	_cleanup_free_ char *out = NULL;
	int st = run_capture(argv, true, &out);
	if (st < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0 || !out)
		return 1001;
	for (char *line = out, *next; line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = 0;
		if (!startswith(line, "MaxArraySize"))
			continue;
		char *eq = strchr(line, '=');
		uint64_t n;
		if (eq && parse_u64(eq + 1 + strspn(eq + 1, " "), &n) == 0)
			return n;
	}
	return 1001;
}

static bool shell_name(const char *name, size_t n)
{
	if (!n || (name[0] >= '0' && name[0] <= '9'))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)name[i]) && name[i] != '_')
			return false;
	return true;
}

/* The -e secrets of a sweep: their names, checked to be shell variable
 * names (job.sh expands them from the job's environment). -EINVAL names
 * the first that is not in *ret_bad. */
static int secret_env_names(const RunSpec *spec, char ***ret,
                            const char **ret_bad)
{
	char **names = NULL;
	for (char **e = spec->env_set; e && *e; e++) {
		_cleanup_free_ char *red = env_entry_redacted(*e, strlen(*e));
		if (!red)
			continue;
		size_t n = strcspn(*e, "=");
		if (!shell_name(*e, n)) {
			strv_free(names);
			*ret_bad = *e;
			return -EINVAL;
		}
		_cleanup_free_ char *name = xstrndup(*e, n);
		names = strv_push(names, name);
	}
	*ret = names;
	return 0;
}

static char *job_script(const Context *ctx, const RunSpec *spec, const Grid *g,
                        size_t n, const char *id, const char *self)
{
	char *s = xasprintf("#!/bin/sh\n"
	                    "# xrun sweep %s: array task i runs combination i "
	                    "(grid.json).\n"
	                    "case \"${SLURM_ARRAY_TASK_ID:-}\" in\n",
	                    id);
	for (size_t i = 0; i < n; i++) {
		json_auto_t *p = combination_params(spec, g, i);
		_cleanup_free_ char *line = xasprintf("%zu) set --", i);
		const char *k;
		json_t *v;
		json_object_foreach (p, k, v) {
			_cleanup_free_ char *j = param_json_text(v);
			_cleanup_free_ char *kv = xasprintf("%s=%s", k, j);
			_cleanup_free_ char *q = shell_quote(kv);
			char *t = xasprintf("%s -p %s", line, q);
			free(line);
			line = t;
		}
		char *t = xasprintf("%s%s ;;\n", s, line);
		free(s);
		s = t;
	}
	/* Every task sees the files as they were pinned at submission,
	 * whatever happens to them while the job waits in the queue. */
	_cleanup_free_ char *grid_path =
	        xasprintf("%s/sweeps/%s/grid.json", ctx->store->root, id);
	_cleanup_free_ char *qgrid = shell_quote(grid_path);
	_cleanup_free_ char *pinned_from =
	        spec->no_sandbox ? xstrdup("")
	                         : xasprintf(" --pinned-from %s", qgrid);
	_cleanup_free_ char *qcwd = shell_quote(spec->cwd);
	_cleanup_free_ char *qself = shell_quote(self);
	_cleanup_free_ char *qstore = shell_quote(ctx->store->root);
	_cleanup_free_ char *tag = xasprintf("sweep=%s", id);
	_cleanup_free_ char *qtag = shell_quote(tag);
	char *t = xasprintf(
	        "%s*) echo \"xrun: task '${SLURM_ARRAY_TASK_ID:-}' is not "
	        "in sweep %s; submit job.sh as a job array "
	        "(--array=0-%zu)\" >&2\n"
	        "   exit 125 ;;\n"
	        "esac\n"
	        "cd %s || exit 125\n"
	        "exec %s --store %s run%s --tag %s --tag "
	        "\"sweep_index=$SLURM_ARRAY_TASK_ID\"",
	        s, id, n - 1, qcwd, qself, qstore, pinned_from, qtag);
	free(s);
	s = t;
	_cleanup_strv_free_ char **args = run_spec_to_args(spec);
	for (char **a = args; a && *a; a++) {
		_cleanup_free_ char *q = shell_quote(*a);
		t = xasprintf("%s %s", s, q);
		free(s);
		s = t;
	}
	/* A secret's value is not written here: sbatch exports it from
	 * xrun's environment to the job's (its default, --export=ALL). */
	_cleanup_strv_free_ char **secrets = NULL;
	const char *bad;
	if (secret_env_names(spec, &secrets, &bad) < 0)
		secrets = NULL;
	for (char **e = secrets; e && *e; e++) {
		t = xasprintf("%s \"--env=%s=${%s?is not in the job's "
		              "environment: submit with sbatch --export=ALL, "
		              "the default}\"",
		              s, *e, *e);
		free(s);
		s = t;
	}
	t = xasprintf("%s \"$@\" --", s);
	free(s);
	s = t;
	for (char **a = spec->argv; *a; a++) {
		_cleanup_free_ char *q = shell_quote(*a);
		t = xasprintf("%s %s", s, q);
		free(s);
		s = t;
	}
	t = xasprintf("%s\n", s);
	free(s);
	return t;
}

/* Pin the workspace and the inputs once, so that their objects are in
 * the store (and their hashes in the stat cache) before any run starts:
 * {"workspace": …, "inputs": […]} as the records give them. */
static int pin_once(Context *ctx, const RunSpec *spec, const char *id,
                    json_t **ret)
{
	_cleanup_run_pins_ RunPins *pins = NULL;
	_cleanup_free_ char *err = NULL;
	_cleanup_free_ char *pin_id = xasprintf("sweep-%s", id);
	int r = run_pins_prepare(ctx->store, spec, NULL, NULL, getenv("HOME"),
	                         pin_id, NULL, NULL, &pins, &err);
	for (char *const *w = run_pins_warnings(pins); w && *w; w++)
		log_warn("%s", *w);
	if (r < 0) {
		log_error("cannot pin the sweep's files: %s",
		          err ? err : strerror(-r));
		return 125;
	}
	json_auto_t *rec = json_pack("{s:{}}", "source");
	run_pins_record(pins, rec);
	json_t *ws =
	        json_object_get(json_object_get(rec, "source"), "workspace");
	json_t *in = json_object_get(rec, "inputs");
	*ret = json_pack("{s:O,s:O}", "workspace", ws ? ws : json_null(),
	                 "inputs", in ? in : json_array());
	return 0;
}

static volatile sig_atomic_t stop_signal;
enum { MAX_CHILDREN = 1024 };
static pid_t children[MAX_CHILDREN];

static void on_signal(int sig)
{
	stop_signal = sig;
	/* Ctrl-C reaches the runs through the terminal already. */
	if (sig == SIGINT)
		return;
	for (size_t i = 0; i < ELEMENTSOF(children); i++)
		if (children[i] > 0)
			kill(children[i], sig);
}

/* -j N: each run's output, line by line, prefixed with its index (as
 * parallel --tag does), so that parallel runs' lines do not mix. */
typedef struct Tagged {
	pid_t pid; /* 0: free slot; -1: reaped, output still draining */
	size_t index;
	int status;
	int fd[2]; /* its stdout and stderr, -1 at EOF */
	char *buf[2];
	size_t len[2];
} Tagged;

enum { TAG_LINE_MAX = 64 * 1024 };

static void tag_emit(const Tagged *t, int k, const char *line, size_t n)
{
	FILE *f = k == 0 ? stdout : stderr;
	fprintf(f, "[%zu] ", t->index);
	fwrite(line, 1, n, f);
	if (!n || line[n - 1] != '\n')
		fputc('\n', f);
	fflush(f);
}

/* Read what fd k of t has; emit each whole line (and, at EOF or past
 * TAG_LINE_MAX, what is left). */
static void tag_read(Tagged *t, int k)
{
	char chunk[4096];
	ssize_t r = read(t->fd[k], chunk, sizeof chunk);
	if (r < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (r <= 0) {
		if (t->len[k])
			tag_emit(t, k, t->buf[k], t->len[k]);
		t->len[k] = 0;
		close(t->fd[k]);
		t->fd[k] = -1;
		return;
	}
	t->buf[k] = xrealloc(t->buf[k], t->len[k] + (size_t)r);
	memcpy(t->buf[k] + t->len[k], chunk, (size_t)r);
	t->len[k] += (size_t)r;
	size_t start = 0;
	for (size_t i = 0; i < t->len[k]; i++)
		if (t->buf[k][i] == '\n') {
			tag_emit(t, k, t->buf[k] + start, i + 1 - start);
			start = i + 1;
		}
	if (t->len[k] - start >= TAG_LINE_MAX) {
		tag_emit(t, k, t->buf[k] + start, t->len[k] - start);
		start = t->len[k];
	}
	memmove(t->buf[k], t->buf[k] + start, t->len[k] - start);
	t->len[k] -= start;
}

/* A local sweep's runs, as run_local() starts and reaps them. */
typedef struct Local {
	Context *ctx;
	RunSpec *spec;
	const Grid *g;
	size_t n; /* the combinations */
	const char *id;
	uint64_t jobs; /* at once */
	bool tag;      /* each line tagged with its run's index (-j N) */
	size_t slots;
	Tagged *tags;
	size_t next, running, failed, done;
} Local;

static void close_pipes(int fds[2][2])
{
	for (int k = 0; k < 4; k++)
		if (fds[k / 2][k % 2] >= 0)
			close(fds[k / 2][k % 2]);
}

/* The child's part: run combination i and exit with its status. */
_noreturn_ static void local_child(Local *l, size_t i, int fds[2][2])
{
	RunSpec *spec = l->spec;
	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	signal(SIGHUP, SIG_DFL);
	if (l->tag) {
		dup2(fds[0][1], STDOUT_FILENO);
		dup2(fds[1][1], STDERR_FILENO);
	}
	json_t *params = combination_params(spec, l->g, i);
	json_decref(spec->params);
	spec->params = params;
	_cleanup_free_ char *t1 = xasprintf("sweep=%s", l->id);
	_cleanup_free_ char *t2 = xasprintf("sweep_index=%zu", i);
	run_spec_add_tag(spec, t1);
	run_spec_add_tag(spec, t2);
	RunOutcome o;
	int ran = runner_run(l->ctx->store, spec, &o);
	_cleanup_free_ char *label =
	        xasprintf("sweep %.8s [%zu/%zu] run", l->id, i + 1, l->n);
	report_outcome(l->ctx, ran, &o,
	               &(OutcomeLine){.label = label, .brief = true});
	fflush(stdout);
	fflush(stderr);
	_exit(o.exit_status);
}

/* Start the next combination's run; on failure no more start. */
static void local_start(Local *l)
{
	size_t i = l->next++;
	Tagged *t = NULL;
	int fds[2][2] = {{-1, -1}, {-1, -1}};
	for (size_t k = 0; l->tag && k < l->slots && !t; k++)
		if (l->tags[k].pid == 0)
			t = &l->tags[k];
	if (l->tag && (!t || pipe2(fds[0], O_CLOEXEC) < 0 ||
	               pipe2(fds[1], O_CLOEXEC) < 0)) {
		log_error_errno(-errno,
		                "cannot make a pipe for run %zu: "
		                "%m",
		                i);
		close_pipes(fds);
		stop_signal = SIGTERM;
		l->failed++;
		return;
	}
	pid_t pid = fork();
	if (pid < 0) {
		log_error_errno(-errno, "cannot fork: %m");
		close_pipes(fds);
		stop_signal = SIGTERM;
		l->failed++;
		return;
	}
	if (pid == 0)
		local_child(l, i, fds);
	if (l->tag) {
		close(fds[0][1]);
		close(fds[1][1]);
		*t = (Tagged){
		        .pid = pid, .index = i, .fd = {fds[0][0], fds[1][0]}};
	}
	for (size_t k = 0; k < ELEMENTSOF(children); k++)
		if (children[k] == 0) {
			children[k] = pid;
			break;
		}
	l->running++;
}

/* -j N: pass on the runs' output as it comes; a run is done when it
 * has exited and its output is all out. True, with its wait status in
 * *ret_st, when one is done. */
static bool local_reap_tagged(Local *l, int *ret_st)
{
	Tagged *tags = l->tags;
	int st;
	struct pollfd pfd[2 * ELEMENTSOF(children)];
	size_t np = 0;
	for (size_t k = 0; k < l->slots; k++)
		for (int f = 0; f < 2; f++)
			if (tags[k].pid && tags[k].fd[f] >= 0)
				pfd[np++] = (struct pollfd){.fd = tags[k].fd[f],
				                            .events = POLLIN};
	if (np && poll(pfd, np, 100) > 0)
		for (size_t p = 0; p < np; p++) {
			if (!pfd[p].revents)
				continue;
			for (size_t k = 0; k < l->slots; k++)
				for (int f = 0; f < 2; f++)
					if (tags[k].pid &&
					    tags[k].fd[f] == pfd[p].fd)
						tag_read(&tags[k], f);
		}
	pid_t pid = waitpid(-1, &st, WNOHANG);
	if (pid == 0 && np == 0)
		pid = waitpid(-1, &st, 0);
	for (size_t k = 0; pid > 0 && k < l->slots; k++)
		if (tags[k].pid == pid) {
			tags[k].pid = -1;
			tags[k].status = st;
		}
	for (size_t c = 0; pid > 0 && c < ELEMENTSOF(children); c++)
		if (children[c] == pid)
			children[c] = 0;
	for (size_t k = 0; k < l->slots; k++)
		if (tags[k].pid == -1 && tags[k].fd[0] < 0 &&
		    tags[k].fd[1] < 0) {
			*ret_st = tags[k].status;
			free(tags[k].buf[0]);
			free(tags[k].buf[1]);
			tags[k] = (Tagged){0};
			return true;
		}
	return false;
}

static int run_local(Context *ctx, RunSpec *spec, const Grid *g, size_t n,
                     const char *id, uint64_t jobs)
{
	struct sigaction sa = {.sa_handler = on_signal};
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	/* On Ctrl-C the sweep only stops starting new runs. */
	struct sigaction old_int;
	sigaction(SIGINT, NULL, &old_int);
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);

	size_t slots = jobs < MAX_CHILDREN ? (size_t)jobs : MAX_CHILDREN;
	_cleanup_free_ Tagged *tags = xcalloc(slots, sizeof *tags);
	Local l = {.ctx = ctx,
	           .spec = spec,
	           .g = g,
	           .n = n,
	           .id = id,
	           .jobs = jobs,
	           .tag = jobs > 1,
	           .slots = slots,
	           .tags = tags};
	fflush(stdout);
	fflush(stderr);
	while ((l.next < n && !stop_signal) || l.running > 0) {
		if (l.next < n && !stop_signal && l.running < l.jobs) {
			local_start(&l);
			continue;
		}
		int st;
		pid_t pid;
		if (l.tag) {
			if (!local_reap_tagged(&l, &st))
				continue;
			pid = 0;
		} else {
			pid = wait(&st);
			if (pid < 0) {
				if (errno == EINTR)
					continue;
				break;
			}
		}
		for (size_t k = 0; pid > 0 && k < ELEMENTSOF(children); k++)
			if (children[k] == pid)
				children[k] = 0;
		l.running--;
		l.done++;
		if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
			l.failed++;
	}
	sigaction(SIGINT, &old_int, NULL);
	if (log_level >= LOG_NORMAL)
		fprintf(stderr,
		        "xrun: sweep %.8s: %zu of %zu runs succeeded%s; xrun "
		        "ls "
		        "--sweep %.8s lists them\n",
		        id, l.done - l.failed, n,
		        stop_signal ? ", interrupted" : "", id);
	if (stop_signal)
		return 128 + stop_signal;
	return l.failed ? 1 : 0;
}

static int submit(Context *ctx, RunSpec *spec, const Grid *g, size_t n,
                  const char *id, const char *dir, char **sbatch_args)
{
	_cleanup_free_ char *self = realpath("/proc/self/exe", NULL);
	if (!self) {
		log_error_errno(-errno, "cannot find xrun's own binary: %m");
		return 125;
	}
	_cleanup_strv_free_ char **secrets = NULL;
	const char *bad = NULL;
	if (secret_env_names(spec, &secrets, &bad) < 0) {
		log_error(
		        "-e %.*s holds a secret, which --slurm passes through "
		        "sbatch's environment, never in job.sh; give it a "
		        "name of letters, digits and '_'",
		        (int)strcspn(bad, "="), bad);
		return 125;
	}
	for (char **e = spec->env_set; e && *e; e++) {
		_cleanup_free_ char *red = env_entry_redacted(*e, strlen(*e));
		_cleanup_free_ char *name = xstrndup(*e, strcspn(*e, "="));
		if (red && setenv(name, strchr(*e, '=') + 1, 1) < 0) {
			log_error_errno(-errno,
			                "cannot pass -e %s to sbatch: %m",
			                name);
			return 125;
		}
	}
	_cleanup_free_ char *script = job_script(ctx, spec, g, n, id, self);
	/* Only its owner reads the job script: it names the store, the
	 * workspace and the command. */
	int r = write_file_atomic(dir, "job.sh", script, strlen(script), 0700,
	                          true);
	if (r < 0) {
		log_error_errno(r, "cannot write '%s/job.sh': %m", dir);
		return 125;
	}
	_cleanup_free_ char *array = xasprintf("--array=0-%zu", n - 1);
	_cleanup_free_ char *name = xasprintf("--job-name=xrun-sweep-%.8s", id);
	_cleanup_free_ char *out = xasprintf("--output=%s/task-%%a.out", dir);
	_cleanup_free_ char *job = path_join(dir, "job.sh");
	char **argv = NULL;
	argv = strv_push(argv, "sbatch");
	argv = strv_push(argv, "--parsable");
	argv = strv_push(argv, array);
	argv = strv_push(argv, name);
	argv = strv_push(argv, out);
	for (char **a = sbatch_args; a && *a; a++)
		argv = strv_push(argv, *a);
	argv = strv_push(argv, job);
	_cleanup_free_ char *jobid = NULL;
	int st = run_capture(argv, false, &jobid);
	strv_free(argv);
	if (st < 0) {
		log_error_errno(st, "cannot run sbatch: %m");
		return 125;
	}
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		log_error("sbatch failed (see its message above); the job "
		          "script is '%s'",
		          job);
		return 125;
	}
	if (jobid)
		jobid[strcspn(jobid, ";\n")] = 0;
	if (!jobid || !*jobid) {
		log_error("sbatch printed no job id (it runs with --parsable); "
		          "check 'squeue --me', the job script is '%s'",
		          job);
		return 125;
	}
	r = write_file_atomic(dir, "job_id", jobid, strlen(jobid), 0644, true);
	if (r < 0)
		log_warn("cannot write '%s/job_id': %s", dir, strerror(-r));
	printf("Submitted job %s for sweep %s (%zu tasks)\n", jobid, id, n);
	return finish_stdout(0);
}

/* --params-grid FILE into grid: CMD_GO_ON, or 125 after saying why. */
static int sweep_load_grid(Grid *grid, const char *file)
{
	_cleanup_free_ char *err = NULL;
	int r = grid_load_file(grid, file, &err);
	if (r == -EEXIST) {
		log_error("param '%s' listed twice: in '%s' and with -p; "
		          "list it once",
		          err, file);
		return 125;
	}
	if (r == -EBADMSG) {
		log_error("params grid '%s' is not usable: %s; it must "
		          "hold one JSON object {\"KEY\": [V1, V2, …]}",
		          file, err);
		return 125;
	}
	if (r < 0) {
		log_error_errno(r, "cannot read params grid '%s': %m", file);
		return 125;
	}
	return CMD_GO_ON;
}

/* The sweep's grid and mode make sense (its size in *ret_n), before
 * anything is written: CMD_GO_ON, or an exit status after saying why
 * not. */
static int sweep_validate(const SweepOpts *so, const RunSpec *spec, long *ret_n)
{
	const Grid *grid = so->grid;
	if (!so->slurm && so->sbatch_args)
		return cmd_usage_error(&sweep_cmd,
		                       "--sbatch-arg is for --slurm");
	if (so->slurm && so->jobs > 1) {
		log_error("-j is for local sweeps: under --slurm the scheduler "
		          "decides how many tasks run at once (pass "
		          "--sbatch-arg=--array=… limits with %%N instead)");
		return 125;
	}
	long n = grid_size(grid);
	if (n == 0) {
		log_error("the grid is empty: give at least one -p KEY=V1,V2,… "
		          "or --params-grid FILE");
		return 125;
	}
	if (n < 0) {
		log_error("the grid has more than %d combinations; list fewer "
		          "values",
		          GRID_MAX);
		return 125;
	}
	json_auto_t *first = combination_params(spec, grid, 0);
	const char *ka, *kb;
	if (param_keys_collide(first, &ka, &kb) < 0) {
		_cleanup_free_ char *var = param_env_name(ka);
		log_error("params '%s' and '%s' would both be %s in the "
		          "program's environment; rename one of them",
		          ka, kb, var);
		return 125;
	}
	if (so->slurm) {
		if (!in_path("sbatch")) {
			log_error("--slurm needs sbatch, and it is not on the "
			          "PATH; run on a Slurm login node, or drop "
			          "--slurm to run the sweep here");
			return 125;
		}
		uint64_t max = max_array_size();
		/* Array indices go from 0 to MaxArraySize - 1. */
		if ((uint64_t)n > max) {
			log_error("the grid has %ld combinations, and this "
			          "cluster takes at most %" PRIu64
			          " tasks in one job array (MaxArraySize); "
			          "list fewer values, or split the grid into "
			          "sweeps of at most %" PRIu64 " combinations",
			          n, max, max);
			return 125;
		}
	}
	*ret_n = n;
	return CMD_GO_ON;
}

/* The program found once, before any run: one error, not one per
 * combination. CMD_GO_ON, or 127/126 after saying why. */
static int sweep_find_program(const RunSpec *spec)
{
	const char *path = strv_env_get(spec->env_set, "PATH");
	Command *prog = NULL;
	int r = command_resolve(spec->argv, spec->cwd,
	                        path ? path : getenv("PATH"), &prog);
	command_free(prog);
	if (r == -ENOENT) {
		log_error("'%s': command not found; no run was started",
		          spec->argv[0]);
		return 127;
	}
	if (r < 0) {
		log_error_errno(r, "cannot run '%s': %m; no run was started",
		                spec->argv[0]);
		return 126;
	}
	return CMD_GO_ON;
}

/* The sweep's description, dir/grid.json (xrun/sweep/1): 0 or -errno. */
static int sweep_describe(const SweepOpts *so, const RunSpec *spec, long n,
                          const char *id, const json_t *pinned, const char *dir)
{
	json_auto_t *combos = json_array();
	for (long i = 0; i < n; i++)
		json_array_append_new(
		        combos, combination_params(spec, so->grid, (size_t)i));
	_cleanup_free_ char *created = format_rfc3339(now_ns());
	json_auto_t *desc =
	        json_pack("{s:s,s:s,s:s,s:O,s:O,s:I,s:O,s:O,s:s}", "schema",
	                  "xrun/sweep/1", "id", id, "created", created, "grid",
	                  so->grid->axes, "argv", json_null(), "size",
	                  (json_int_t)n, "combinations", combos, "pinned",
	                  pinned, "mode", so->slurm ? "slurm" : "local");
	json_t *av = json_array();
	for (char **a = spec->argv; *a; a++)
		json_array_append_new(av, json_string(*a));
	json_object_set_new(desc, "argv", av);
	_cleanup_free_ char *text = json_dumps_shortest(desc, JSON_INDENT(2));
	return write_file_atomic(dir, "grid.json", text, strlen(text), 0644,
	                         true);
}

int cmd_sweep(int argc, char **argv, Context *ctx)
{
	_cleanup_grid_ Grid *grid = grid_new();
	SweepOpts so = {.grid = grid, .jobs = 1};
	RunOptionsExtra extra = {
	        .cmd = &sweep_cmd,
	        .fn = sweep_option,
	        .data = &so,
	};
	_cleanup_run_spec_ RunSpec *spec = run_spec_new();
	_cleanup_strv_free_ char **sbatch_args = NULL;
	int r = run_options_parse(argc, argv, ctx, spec, &extra);
	sbatch_args = so.sbatch_args;
	if (r == RUN_OPTIONS_HELP)
		return 0;
	if (r)
		return r;
	int st = so.grid_file ? sweep_load_grid(grid, so.grid_file) : CMD_GO_ON;
	long n = 0;
	if (st == CMD_GO_ON)
		st = sweep_validate(&so, spec, &n);
	if (st == CMD_GO_ON)
		st = sweep_find_program(spec);
	if (st != CMD_GO_ON)
		return st;
	if (context_find_store(ctx, true) < 0)
		return 125;

	_cleanup_free_ char *id = new_uuid();
	_cleanup_free_ char *sweeps = path_join(ctx->store->root, "sweeps");
	_cleanup_free_ char *dir = path_join(sweeps, id);
	r = mkdir_p(dir, 0755);
	if (r < 0) {
		log_error_errno(r, "cannot create '%s': %m", dir);
		return 125;
	}
	json_auto_t *pinned = NULL;
	r = pin_once(ctx, spec, id, &pinned);
	if (r)
		return r;
	r = sweep_describe(&so, spec, n, id, pinned, dir);
	if (r < 0) {
		log_error_errno(r, "cannot write '%s/grid.json': %m", dir);
		return 125;
	}
	if (so.slurm)
		return submit(ctx, spec, grid, (size_t)n, id, dir, sbatch_args);
	/* Local runs, too, see the files as the sweep pinned them. */
	if (!spec->no_sandbox) {
		json_decref(spec->pinned);
		spec->pinned = json_incref(pinned);
		spec->stages = &run_stages_pinned;
	}
	if (log_level >= LOG_NORMAL)
		fprintf(stderr,
		        "xrun: sweep %s: %ld runs, %" PRIu64 " at once\n", id,
		        n, so.jobs);
	return run_local(ctx, spec, grid, (size_t)n, id, so.jobs);
}
