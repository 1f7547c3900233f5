#include "config.h"

#include "runner.h"

#include <fcntl.h>
#include <inttypes.h>
#include <sys/random.h>
#include <gnu/libc-version.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "attest.h"
#include "capture.h"
#include "cgroup.h"
#include "command.h"
#include "hash.h"
#include "observe.h"
#include "pin.h"
#include "replay.h"
#include "run-outputs.h"
#include "run-pins.h"
#include "sandbox.h"
#include "sandbox-home.h"
#include "statcache.h"
#include "trace.h"
#include "util.h"

extern char **environ;

/* Signals a user sends to "the run": passed on to the program. */
static const int forwarded_signals[] = {SIGINT,  SIGTERM, SIGHUP,
                                        SIGQUIT, SIGUSR1, SIGUSR2};

static PinProgressFn progress_fn;
static void *progress_data;
static RunnerNoticeFn notice_fn;

void runner_set_notice(RunnerNoticeFn fn)
{
	notice_fn = fn;
}

void runner_set_progress(PinProgressFn fn, void *data)
{
	progress_fn = fn;
	progress_data = data;
}

void run_outcome_clear(RunOutcome *o)
{
	free(o->id);
	free(o->record_path);
	free(o->error);
	strv_free(o->warnings);
	json_decref(o->verification);
	strv_free(o->unpinned);
	memset(o, 0, sizeof *o);
}

#define warn(o, ...) ((o)->warnings = strv_pushf((o)->warnings, __VA_ARGS__))

static int fail(RunOutcome *o, int r, int exit_status, const char *fmt, ...)
        _printf_(4, 5);
static int fail(RunOutcome *o, int r, int exit_status, const char *fmt, ...)
{
	va_list ap;
	char *s;
	errno = r < 0 ? -r : r;
	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		s = NULL;
	va_end(ap);
	free(o->error);
	o->error = s;
	o->exit_status = exit_status;
	return r < 0 ? r : -EIO;
}

bool env_name_reserved(const char *name)
{
	static const char *const names[] = {
	        "XRUN_RUN_ID",  "XRUN_SEED",   "XRUN_PARAMS",
	        "XRUN_METRICS", "XRUN_OUTPUT", "XRUN_REPLAY_ID",
	};
	for (size_t i = 0; i < ELEMENTSOF(names); i++)
		if (streq(name, names[i]))
			return true;
	return startswith(name, "XRUN_PARAM_");
}

/* Set NAME=VALUE (entry), replacing an existing NAME. */
static char **env_put(char **env, const char *entry)
{
	const char *eq = strchr(entry, '=');
	size_t n = (size_t)(eq - entry);
	for (char **e = env; e && *e; e++)
		if (strneq(*e, entry, n) && (*e)[n] == '=') {
			free(*e);
			*e = xstrdup(entry);
			return env;
		}
	return strv_push(env, entry);
}

/* The environment as the user decided it: the caller's (a replay's:
 * the recorded one), then -e, minus the names xrun sets itself. This is
 * what the record keeps. */
static char **user_environment(const RunSpec *spec)
{
	char **env = xcalloc(1, sizeof(char *));
	for (char **e = spec->env_base ? spec->env_base : environ; *e; e++) {
		const char *eq = strchr(*e, '=');
		if (!eq)
			continue;
		_cleanup_free_ char *name = xstrndup(*e, (size_t)(eq - *e));
		if (!env_name_reserved(name))
			env = strv_push(env, *e);
	}
	for (char **e = spec->env_set; e && *e; e++) {
		_cleanup_free_ char *name = xstrndup(*e, strcspn(*e, "="));
		if (!env_name_reserved(name))
			env = env_put(env, *e);
	}
	return env;
}

/* What xrun adds on top (DESIGN.md §1), as an object for the record and
 * appended to env for the program. */
static json_t *xrun_variables(const RunSpec *spec, const char *id,
                              const char *dir, uint64_t seed, char *const *env,
                              RunOutcome *o)
{
	json_t *v = json_object();
	_cleanup_free_ char *seedstr = xasprintf("%" PRIu64, seed);
	_cleanup_free_ char *params = path_join(dir, "params.json");
	_cleanup_free_ char *metrics = path_join(dir, "metrics.jsonl");
	/* A replay's program sees the original's id, as the original's
	 * did: it may name its outputs by it. */
	json_object_set_new(
	        v, "XRUN_RUN_ID",
	        json_string(spec->program_run_id ? spec->program_run_id : id));
	if (spec->program_run_id)
		json_object_set_new(v, "XRUN_REPLAY_ID", json_string(id));
	json_object_set_new(v, "XRUN_SEED", json_string(seedstr));
	json_object_set_new(v, "XRUN_PARAMS", json_bstr(params));
	json_object_set_new(v, "XRUN_METRICS", json_bstr(metrics));
	if (spec->outputs && spec->outputs[0])
		json_object_set_new(v, "XRUN_OUTPUT",
		                    json_bstr(spec->outputs[0]));
	const char *key;
	json_t *val;
	json_object_foreach (spec->params, key, val) {
		_cleanup_free_ char *name = param_env_name(key);
		_cleanup_free_ char *text = param_value_to_env(val);
		/* One entry longer than the kernel takes fails execve with
		 * E2BIG ("Argument list too long"): such a param is left
		 * out of the environment; params.json has it. */
		if (strlen(name) + 1 + strlen(text) > ENV_ENTRY_MAX) {
			if (o)
				warn(o,
				     "param '%s' is %zu bytes, too big for the "
				     "environment (at most %d bytes a "
				     "variable): %s is not set; the program "
				     "reads it from the file $XRUN_PARAMS",
				     key, strlen(text), ENV_ENTRY_MAX, name);
			continue;
		}
		json_object_set_new(v, name, json_bstr(text));
	}
	/* Python's hash seed must fit 32 bits; a user's own setting wins. */
	if (!strv_env_get(env, "PYTHONHASHSEED")) {
		_cleanup_free_ char *h =
		        xasprintf("%" PRIu64, seed % 4294967296u);
		json_object_set_new(v, "PYTHONHASHSEED", json_string(h));
	}
	/* The determinism switches and pinned thread counts: over the
	 * caller's environment, under an explicit -e. */
	for (char **e = spec->env_xrun; e && *e; e++) {
		_cleanup_free_ char *name = xstrndup(*e, strcspn(*e, "="));
		if (!strv_env_get(spec->env_set, name) && strchr(*e, '='))
			json_object_set_new(v, name,
			                    json_bstr(strchr(*e, '=') + 1));
	}
	return v;
}

/* Which switches of DESIGN.md §5 the run got: the record's
 * "determinism". */
static json_t *determinism_json(const RunSpec *spec, json_t *xvars)
{
	json_t *set = json_object();
	for (char **e = spec->env_xrun; e && *e; e++) {
		_cleanup_free_ char *name = xstrndup(*e, strcspn(*e, "="));
		json_t *v = json_object_get(xvars, name);
		if (v)
			json_object_set(set, name, v);
	}
	json_t *h = json_object_get(xvars, "PYTHONHASHSEED");
	if (h && spec->deterministic)
		json_object_set(set, "PYTHONHASHSEED", h);
	return json_pack("{s:b,s:o}", "deterministic", spec->deterministic,
	                 "variables", set);
}

static int create_file(const char *dir, const char *name, int extra_flags,
                       int *ret_fd)
{
	_cleanup_free_ char *p = path_join(dir, name);
	int fd = open(p,
	              O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC |
	                      extra_flags,
	              0644);
	if (fd < 0)
		return negative_errno();
	if (ret_fd)
		*ret_fd = fd;
	else
		close(fd);
	return 0;
}

static int write_params(const RunSpec *spec, const char *dir)
{
	/* 0.1 as 0.1, not 0.10000000000000001: the program and its user
	 * read this file. */
	_cleanup_free_ char *text = json_dumps_shortest(
	        spec->params, JSON_INDENT(2) | JSON_SORT_KEYS);
	if (!text)
		return -ENOMEM;
	size_t n = strlen(text);
	text = xrealloc(text, n + 2);
	text[n++] = '\n';
	_cleanup_close_ int fd = -1;
	int r = create_file(dir, "params.json", 0, &fd);
	if (r < 0)
		return r;
	return write_all(fd, text, n);
}

static json_t *argv_json(char *const *argv)
{
	json_t *a = json_array();
	for (char *const *p = argv; *p; p++)
		json_array_append_new(a, json_bstr(*p));
	return a;
}

static json_t *xrun_section(StatCache *cache)
{
	json_t *x =
	        json_pack("{s:s,s:s,s:s}", "version", PACKAGE_VERSION, "build",
	                  XRUN_BUILD, "libc", gnu_get_libc_version());
	_cleanup_free_ char *digest = NULL;
	char self[4096];
	ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
	if (n > 0) {
		self[n] = 0;
		if (stat_cache_hash(cache, self, &digest, NULL) < 0)
			digest = NULL;
	}
	if (digest)
		json_object_set_new(x, "sha256", json_string(digest));
	return x;
}

/* Build the whole start record; fields the program's end decides are
 * null until finalize. */
static int build_start_record(const RunSpec *spec, const Command *cmd,
                              char *const *user_env, const char *id,
                              uint64_t seed, const char *store_cache,
                              StatCache *cache, GitProbe *git, json_t *xvars,
                              json_t *sandbox, RunOutcome *o, json_t **ret)
{
	json_auto_t *rec = json_object();
	_cleanup_free_ char *created = format_rfc3339(now_ns());
	json_object_set_new(rec, "schema", json_string(RECORD_SCHEMA));
	json_object_set_new(rec, "id", json_string(id));
	json_object_set_new(rec, "name",
	                    spec->name ? json_string(spec->name) : json_null());
	json_object_set(rec, "tags", spec->tags);
	json_object_set_new(rec, "status", json_string("running"));
	json_object_set_new(rec, "replay_of",
	                    spec->replay_of ? json_string(spec->replay_of)
	                                    : json_null());
	json_object_set_new(rec, "times",
	                    json_pack("{s:s,s:n,s:n,s:n}", "created", created,
	                              "started", "finished", "duration"));
	json_t *launcher = NULL;
	int r = launcher_info(&launcher);
	if (r < 0) {
		git_probe_free(git);
		return fail(o, r, 125,
		            "cannot read this process's identity "
		            "from /proc: %m; is /proc mounted?");
	}
	json_object_set_new(rec, "launcher", launcher);

	json_t *command = NULL;
	r = 0;
	if (spec->command_json)
		command = json_deep_copy(spec->command_json);
	else
		r = command_to_json(cmd, cache, &command);
	if (r < 0) {
		git_probe_free(git);
		return fail(o, r, 126, "cannot read '%s': %m", cmd->executable);
	}
	json_object_set_new(command, "argv", argv_json(spec->argv));
	json_object_set_new(command, "cwd", json_bstr(spec->cwd));
	/* Secrets given with -e are kept as in "environment": by the hash
	 * of their value; a replay asks for them again. */
	json_auto_t *env_set =
	        argv_json(spec->env_set ? spec->env_set : (char *[]){NULL});
	json_object_set_new(command, "env_set", env_set_redacted(env_set));
	if (spec->params_file)
		json_object_set_new(command, "params_file",
		                    json_pack("{s:o,s:s}", "path",
		                              json_bstr(spec->params_file),
		                              "sha256", spec->params_sha256));
	else
		json_object_set_new(command, "params_file", json_null());
	json_object_set_new(rec, "command", command);

	_cleanup_free_ char *seedstr = xasprintf("%" PRIu64, seed);
	json_object_set_new(
	        rec, "seed",
	        json_pack("{s:s,s:s}", "value", seedstr, "source",
	                  seed_source_to_string(spec->seed_source)));
	json_object_set(rec, "params", spec->params);

	/* Filled in last (the key keeps its place in the record). */
	json_object_set_new(rec, "environment", json_null());

	json_t *host = NULL;
	r = capture_host(store_cache, &host);
	if (r < 0) {
		warn(o, "cannot capture the host description: %s",
		     strerror(-r));
		host = json_object();
	}
	json_object_set_new(rec, "host", host);

	SoftwareQuery q = {
	        .executable = cmd->script && !cmd->interpreter ? cmd->executable
	                                                       : cmd->path,
	        .interpreter = cmd->interpreter ? cmd->executable : NULL,
	        .python = cmd->python,
	        .envp = user_env,
	        .cwd = spec->cwd,
	        .cache_dir = store_cache,
	};
	json_t *sw = NULL;
	r = capture_software(&q, &sw);
	if (r < 0) {
		warn(o, "cannot capture the software in use: %s", strerror(-r));
		sw = json_object();
	}
	json_object_set_new(rec, "software", sw);

	json_t *source = NULL;
	r = git ? git_probe_finish(git, &source) : -ENOENT;
	if (r < 0 && git) {
		warn(o, "cannot read the git state: %s", strerror(-r));
	}
	if (r < 0)
		source = json_pack("{s:n}", "git");
	if (spec->source_git) /* a replay's: the pinned workspace's */
		json_object_set(source, "git", spec->source_git);
	json_object_set_new(source, "workspace", json_null());
	json_object_set_new(rec, "source", source);

	json_object_set_new(rec, "inputs", json_array());
	json_object_set_new(rec, "outputs", json_array());
	json_object_set(rec, "sandbox", sandbox);
	json_object_set_new(rec, "result", json_null());
	json_object_set_new(rec, "xrun", xrun_section(cache));

	json_t *env = NULL;
	r = capture_environment(user_env, &env);
	if (r < 0)
		return fail(o, r, 125, "cannot capture the environment: %m");
	json_object_set_new(env, "set_by_xrun", json_incref(xvars));
	json_object_set_new(rec, "environment", env);
	json_object_set_new(rec, "determinism", determinism_json(spec, xvars));
	*ret = json_incref(rec);
	return 0;
}

/* One captured stream: the program writes into a pipe, the launcher
 * copies to the terminal and to the run's file and hashes as it goes.
 * The file is created with the first byte: a run that prints nothing
 * has no file (each inode costs a launch more than its write would). */
typedef struct Stream {
	int pipe_fd;      /* read end, -1 at EOF */
	int file_fd;      /* runs/<id>/stdout or stderr, -1 until output */
	const char *dir;  /* the run directory */
	const char *name; /* "stdout" or "stderr" */
	int tty_fd;       /* xrun's own stdout/stderr, -1 once it failed */
	Hasher *hash;
	uint64_t bytes;    /* what the program wrote (all of it is hashed) */
	uint64_t max;      /* --max-output: what is kept at most, 0 = all */
	uint64_t captured; /* what the file holds */
	int error;         /* first error writing the capture file */
	/* Whether the program said it met a read-only file system (the
	 * working directory, in the sandbox): worth a hint about -o. */
	bool saw_erofs;
	char tail[32]; /* the last bytes, for a message split by a read */
	size_t tail_len;
} Stream;

static const char erofs_text[] = "Read-only file system";

static void stream_scan(Stream *s, const char *buf, size_t k)
{
	enum { PAT = sizeof erofs_text - 1 };
	if (s->saw_erofs)
		return;
	char joint[2 * PAT];
	size_t head = k < PAT ? k : PAT;
	memcpy(joint, s->tail, s->tail_len);
	memcpy(joint + s->tail_len, buf, head);
	if (memmem(joint, s->tail_len + head, erofs_text, PAT) ||
	    memmem(buf, k, erofs_text, PAT))
		s->saw_erofs = true;
	/* Keep the last PAT - 1 bytes of what was seen so far. */
	size_t keep = PAT - 1;
	if (k >= keep) {
		memcpy(s->tail, buf + k - keep, keep);
		s->tail_len = keep;
	} else {
		size_t old = s->tail_len + k > keep ? keep - k : s->tail_len;
		memmove(s->tail, s->tail + s->tail_len - old, old);
		memcpy(s->tail + old, buf, k);
		s->tail_len = old + k;
	}
}

static void stream_pump(Stream *s, char *buf, size_t bufsz)
{
	ssize_t k = read(s->pipe_fd, buf, bufsz);
	if (k < 0) {
		if (errno == EINTR || errno == EAGAIN)
			return;
		k = 0;
	}
	if (k == 0) {
		close(s->pipe_fd);
		s->pipe_fd = -1;
		return;
	}
	if (s->tty_fd >= 0 && write_all(s->tty_fd, buf, (size_t)k) < 0)
		s->tty_fd = -1; /* a closed terminal must not stop capture */
	/* Past --max-output the rest only passes through. */
	size_t keep = (size_t)k;
	if (s->max && s->captured + keep > s->max)
		keep = (size_t)(s->max - s->captured);
	if (!s->error && keep && s->file_fd < 0) {
		int r = create_file(s->dir, s->name, O_APPEND, &s->file_fd);
		if (r < 0)
			s->error = r;
	}
	if (!s->error && keep) {
		int r = write_all(s->file_fd, buf, keep);
		if (r < 0) {
			s->error = r;
			off_t end = lseek(s->file_fd, 0, SEEK_END);
			if (end >= 0)
				s->captured = (uint64_t)end;
		} else
			s->captured += keep;
	}
	hasher_update(s->hash, buf, (size_t)k);
	s->bytes += (uint64_t)k;
	stream_scan(s, buf, (size_t)k);
}

static const char *signal_name(int sig)
{
	const char *n = sigabbrev_np(sig);
	return n ? n : "unknown";
}

typedef struct Exec {
	pid_t pid; /* the program, or the sandbox's pid 1 */
	int wstatus;
	struct rusage ru;
	int forwarded;     /* the first signal the user sent, or 0 */
	int n_int, n_term; /* SIGINTs and SIGTERMs sent to xrun so far */
	bool killed;       /* xrun killed the sandbox at the user's word */
	Sandbox *sb;       /* NULL with --no-sandbox */
	int report_fd;     /* the sandbox's reports, -1 once at EOF */
	SandboxReport report;
	bool have_report;
	double timeout_s;
	bool timed_out;
	bool reaped;   /* pid (the program or pid 1) waited for */
	RunCgroup *cg; /* --memory, --pids as root */
	uint64_t memory;
	int64_t started_ns, finished_ns, mono_start, mono_end;
	Stream out, err;
} Exec;

static int spawn_program(const RunSpec *spec, const Command *cmd,
                         char *const *env, int out_w, int err_w, pid_t *ret)
{
	/* A session of its own: the terminal's ^C reaches xrun, which
	 * forwards it, instead of racing the program. */
	SpawnSpec s = {.path = cmd->path,
	               .argv = spec->argv,
	               .envp = env,
	               .cwd = spec->cwd,
	               .stdin_fd = SPAWN_INHERIT,
	               .stdout_fd = out_w,
	               .stderr_fd = err_w,
	               .new_session = true};
	return spawn_process(&s, ret);
}

/* A thread beside the program. It makes the start record's directory
 * entry durable while the program runs (nobody waits for that: the
 * final record's directory sync covers it too), then holds the start
 * record open until the final record has replaced it, and lets go of it
 * while the launcher syncs the directory: freeing its blocks can cost a
 * device round trip (ext4 mounted with discard), and needs none of the
 * launcher's time. */
typedef struct Finisher {
	char *dir;
	int start_fd; /* the start record, or -1 */
	pthread_t thread;
	bool started;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool release;
} Finisher;

static void *finisher_thread(void *p)
{
	Finisher *f = p;
	(void)fsync_dir(f->dir);
	pthread_mutex_lock(&f->lock);
	while (!f->release)
		pthread_cond_wait(&f->cond, &f->lock);
	pthread_mutex_unlock(&f->lock);
	if (f->start_fd >= 0)
		close(f->start_fd);
	return NULL;
}

static void finisher_start(Finisher *f, const char *dir, const char *record)
{
	*f = (Finisher){.dir = xstrdup(dir),
	                .start_fd = open(record, O_RDONLY | O_CLOEXEC),
	                .lock = PTHREAD_MUTEX_INITIALIZER,
	                .cond = PTHREAD_COND_INITIALIZER};
	f->started = thread_start(&f->thread, finisher_thread, f);
	if (!f->started)
		(void)fsync_dir(dir);
}

/* The final record is in place (or will not be): the start record can
 * go. */
static void finisher_release(Finisher *f)
{
	if (!f->dir)
		return;
	pthread_mutex_lock(&f->lock);
	f->release = true;
	pthread_cond_signal(&f->cond);
	pthread_mutex_unlock(&f->lock);
}

static void finisher_done(Finisher *f)
{
	if (!f->dir)
		return;
	finisher_release(f);
	if (f->started)
		pthread_join(f->thread, NULL);
	else if (f->start_fd >= 0)
		close(f->start_fd);
	free(f->dir);
	f->dir = NULL;
}

static bool stops_the_program(int sig)
{
	return sig == SIGINT || sig == SIGTERM || sig == SIGHUP ||
	       sig == SIGQUIT;
}

static void forward_signal(const Exec *x, int sig)
{
	/* The sandbox's pid 1 passes it on to the program's group, and a
	 * SIGCONT after the signals that end a program. */
	if (x->sb) {
		(void)kill(x->pid, sig);
		return;
	}
	/* The program leads its own session and process group: signal the
	 * whole group, as a terminal would. A stopped program would keep
	 * the signal pending for good: it is continued to take it. */
	if (kill(-x->pid, sig) < 0)
		(void)kill(x->pid, sig);
	if (stops_the_program(sig) && kill(-x->pid, SIGCONT) < 0)
		(void)kill(x->pid, SIGCONT);
}

/* --timeout: TERM first, as a user would, then KILL after a grace
 * period; with a sandbox the KILL takes its whole pid namespace. */
enum { TIMEOUT_GRACE_MS = 2000 };

static void kill_all(const Exec *x)
{
	if (x->sb)
		(void)kill(x->pid, SIGKILL);
	else if (kill(-x->pid, SIGKILL) < 0)
		(void)kill(x->pid, SIGKILL);
}

static void notice(const char *fmt, ...) _printf_(1, 2);
static void notice(const char *fmt, ...)
{
	if (!notice_fn)
		return;
	va_list ap;
	va_start(ap, fmt);
	_cleanup_free_ char *msg = NULL;
	if (vasprintf(&msg, fmt, ap) < 0)
		msg = NULL;
	va_end(ap);
	if (msg)
		notice_fn(msg);
}

/* A signal the user sent to xrun: forwarded (with SIGCONT, so that a
 * stopped program takes it). A program that does not end is killed,
 * with everything in its sandbox, at the second SIGTERM (a supervisor
 * that repeats itself means it) or the third SIGINT (after the second,
 * xrun says that the next one kills). */
static void user_signal(Exec *x, int sig)
{
	if (!x->forwarded)
		x->forwarded = sig;
	x->n_int += sig == SIGINT;
	x->n_term += sig == SIGTERM;
	if (x->n_term >= 2 || x->n_int >= 3 || x->n_int + x->n_term >= 3) {
		if (!x->killed)
			notice("SIG%s again: killing the program and "
			       "everything it started",
			       signal_name(sig));
		x->killed = true;
		kill_all(x);
		return;
	}
	forward_signal(x, sig);
	if (sig == SIGINT && x->n_int == 2)
		notice("the program is still running after two SIGINTs "
		       "(it may ignore them); a third kills it and "
		       "everything it started");
}

static void read_reports(Exec *x)
{
	while (x->report_fd >= 0) {
		SandboxReport rep;
		int r = sandbox_read_report(x->report_fd, &rep);
		if (r == -EAGAIN)
			return;
		if (r < 0) {
			close(x->report_fd);
			x->report_fd = -1;
			return;
		}
		/* A failure says more than the exit that follows it. */
		if (!x->have_report || (x->report.kind == REPORT_EXITED &&
		                        rep.kind != REPORT_EXITED))
			x->report = rep;
		x->have_report = true;
	}
}

/* Copy output and forward signals until the program has exited and both
 * pipes are drained. */
static void supervise(Exec *x, int sfd)
{
	enum { BUFSZ = 1 << 16 };
	_cleanup_free_ char *buf = xmalloc(BUFSZ);
	bool exited = false;
	int64_t deadline =
	        x->timeout_s > 0 ? x->mono_start + (int64_t)(x->timeout_s * 1e9)
	                         : -1;
	while (!exited || x->out.pipe_fd >= 0 || x->err.pipe_fd >= 0) {
		struct pollfd p[4] = {
		        {.fd = sfd, .events = POLLIN},
		        {.fd = x->out.pipe_fd, .events = POLLIN},
		        {.fd = x->err.pipe_fd, .events = POLLIN},
		        {.fd = x->report_fd, .events = POLLIN},
		};
		/* Once the program is gone, take what is buffered but do not
		 * wait for forks it left holding the pipes. */
		int timeout = exited ? 0 : -1;
		if (!exited && deadline >= 0) {
			int64_t left = deadline - monotonic_ns();
			timeout = left > 0 ? (int)(left / 1000000 + 1) : 0;
		}
		int n = poll(p, 4, timeout);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (n == 0 && exited)
			break;
		if (!exited && deadline >= 0 && monotonic_ns() >= deadline) {
			if (!x->timed_out) {
				x->timed_out = true;
				forward_signal(x, SIGTERM);
				deadline = monotonic_ns() +
				           (int64_t)TIMEOUT_GRACE_MS * 1000000;
			} else {
				kill_all(x);
				deadline = -1;
			}
		}
		if (p[1].revents)
			stream_pump(&x->out, buf, BUFSZ);
		if (p[2].revents)
			stream_pump(&x->err, buf, BUFSZ);
		if (p[3].revents)
			read_reports(x);
		if (p[0].revents & POLLIN) {
			struct signalfd_siginfo si;
			if (read(sfd, &si, sizeof si) != (ssize_t)sizeof si)
				continue;
			int sig = (int)si.ssi_signo;
			if (sig != SIGCHLD) {
				if (sig == SIGINT || sig == SIGTERM)
					user_signal(x, sig);
				else {
					if (!x->forwarded)
						x->forwarded = sig;
					forward_signal(x, sig);
				}
				continue;
			}
		}
		/* The report of the program's end comes before pid 1 exits;
		 * the namespaces' teardown then overlaps the finalizing, and
		 * pid 1 is reaped at the end. */
		if (!exited && x->have_report &&
		    x->report.kind == REPORT_EXITED) {
			exited = true;
			x->finished_ns = now_ns();
			x->mono_end = monotonic_ns();
		}
		if (!exited) {
			pid_t w = wait4(x->pid, &x->wstatus, WNOHANG, &x->ru);
			if (w == x->pid) {
				x->reaped = true;
				exited = true;
				x->finished_ns = now_ns();
				x->mono_end = monotonic_ns();
				/* pid 1 wrote its last report before it
				 * exited: it is in the pipe now. */
				if (x->report_fd >= 0) {
					fcntl(x->report_fd, F_SETFL,
					      O_NONBLOCK);
					read_reports(x);
				}
			}
		}
	}
	Stream *const streams[] = {&x->out, &x->err};
	for (size_t i = 0; i < ELEMENTSOF(streams); i++)
		if (streams[i]->pipe_fd >= 0) {
			close(streams[i]->pipe_fd);
			streams[i]->pipe_fd = -1;
		}
}

/* Summaries of $XRUN_METRICS: per numeric key, last/min/max/count. */
static json_t *metrics_summary(const char *path, int *ret_malformed)
{
	json_t *sum = json_object();
	*ret_malformed = 0;
	_cleanup_fclose_ FILE *f = fopen(path, "re");
	if (!f)
		return sum;
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	while ((len = getline(&line, &cap, f)) > 0) {
		if (len == 1 && line[0] == '\n')
			continue;
		json_auto_t *obj = json_loadb(line, (size_t)len, 0, NULL);
		if (!json_is_object(obj)) {
			(*ret_malformed)++;
			continue;
		}
		const char *key;
		json_t *v;
		json_object_foreach (obj, key, v) {
			if (!json_is_number(v) || streq(key, "step"))
				continue;
			double d = json_number_value(v);
			json_t *m = json_object_get(sum, key);
			if (!m) {
				m = json_pack("{s:f,s:f,s:f,s:I}", "last", d,
				              "min", d, "max", d, "count",
				              (json_int_t)0);
				json_object_set_new(sum, key, m);
			}
			json_object_set_new(m, "last", json_real(d));
			if (d < json_real_value(json_object_get(m, "min")))
				json_object_set_new(m, "min", json_real(d));
			if (d > json_real_value(json_object_get(m, "max")))
				json_object_set_new(m, "max", json_real(d));
			json_object_set_new(
			        m, "count",
			        json_integer(json_integer_value(json_object_get(
			                             m, "count")) +
			                     1));
		}
	}
	free(line);
	return sum;
}

static double tv_seconds(struct timeval tv)
{
	return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

static json_t *stream_json(const char *name, Stream *s)
{
	char *digest = hasher_finish(s->hash);
	s->hash = NULL;
	json_t *j = json_pack("{s:s,s:s,s:I}", "path", name, "sha256", digest,
	                      "bytes", (json_int_t)s->bytes);
	free(digest);
	/* sha256 and bytes are the whole stream's; the file may hold less. */
	if (s->max)
		json_object_set_new(j, "max_output",
		                    json_integer((json_int_t)s->max));
	if (s->captured != s->bytes) {
		json_object_set_new(j, "truncated", json_true());
		json_object_set_new(j, "captured_bytes",
		                    json_integer((json_int_t)s->captured));
	}
	return j;
}

/* pid 1 reported the program's end and is on its way out, taking the
 * namespaces with it: collect it. */
static void reap_sandbox(Exec *x)
{
	if (x->reaped)
		return;
	int st;
	while (waitpid(x->pid, &st, 0) < 0 && errno == EINTR)
		;
	x->reaped = true;
}

/* The captured streams, when the program never ran (the sandbox may
 * still have said something). */
static void stdio_results(json_t *rec, Exec *x)
{
	json_t *res = json_object_get(rec, "result");
	json_object_set_new(res, "stdout", stream_json("stdout", &x->out));
	json_object_set_new(res, "stderr", stream_json("stderr", &x->err));
}

static void finalize_record(json_t *rec, Exec *x, const char *dir,
                            RunOutcome *o)
{
	const char *status;
	json_t *res = json_object();
	if (WIFEXITED(x->wstatus)) {
		o->exit_code = WEXITSTATUS(x->wstatus);
		o->signal = 0;
		o->exit_status = o->exit_code;
		status = o->exit_code == 0 ? "succeeded"
		         : x->forwarded    ? "interrupted"
		                           : "failed";
		json_object_set_new(res, "exit_code",
		                    json_integer(o->exit_code));
		json_object_set_new(res, "signal", json_null());
		_cleanup_free_ char *cause =
		        xasprintf("exited with status %d", o->exit_code);
		json_object_set_new(res, "cause", json_string(cause));
	} else {
		o->exit_code = -1;
		o->signal = WTERMSIG(x->wstatus);
		o->exit_status = 128 + o->signal;
		status = x->forwarded ? "interrupted" : "killed";
		json_object_set_new(res, "exit_code", json_null());
		json_object_set_new(res, "signal", json_integer(o->signal));
		_cleanup_free_ char *cause =
		        xasprintf("killed by signal %d (SIG%s)%s", o->signal,
		                  signal_name(o->signal),
		                  WCOREDUMP(x->wstatus) ? ", core dumped" : "");
		json_object_set_new(res, "cause", json_string(cause));
	}
	if (x->cg && !(WIFEXITED(x->wstatus) && o->exit_code == 0) &&
	    run_cgroup_oom_kills(x->cg) > 0) {
		status = "oom";
		_cleanup_free_ char *cause = xasprintf(
		        "out of memory at the --memory limit of %" PRIu64
		        " bytes; %s",
		        x->memory,
		        json_string_value(json_object_get(res, "cause")));
		json_object_set_new(res, "cause", json_string(cause));
	}
	if (x->timed_out) {
		status = "timeout";
		_cleanup_free_ char *cause = xasprintf(
		        "timed out after %gs; %s", x->timeout_s,
		        json_string_value(json_object_get(res, "cause")));
		json_object_set_new(res, "cause", json_string(cause));
	}
	if (x->forwarded) {
		_cleanup_free_ char *sig =
		        xasprintf("SIG%s", signal_name(x->forwarded));
		json_object_set_new(res, "forwarded_signal", json_string(sig));
	}
	if (x->killed) {
		_cleanup_free_ char *cause = xasprintf(
		        "killed by xrun after %d SIGINT and %d SIGTERM; %s",
		        x->n_int, x->n_term,
		        json_string_value(json_object_get(res, "cause")));
		json_object_set_new(res, "cause", json_string(cause));
	}
	o->status = status;
	o->duration_s = (double)(x->mono_end - x->mono_start) / 1e9;
	json_object_set_new(
	        res, "rusage",
	        json_pack("{s:f,s:f,s:I,s:I,s:I,s:I,s:I,s:I,s:I}", "user_s",
	                  tv_seconds(x->ru.ru_utime), "sys_s",
	                  tv_seconds(x->ru.ru_stime), "max_rss_kb",
	                  (json_int_t)x->ru.ru_maxrss, "minor_faults",
	                  (json_int_t)x->ru.ru_minflt, "major_faults",
	                  (json_int_t)x->ru.ru_majflt, "voluntary_switches",
	                  (json_int_t)x->ru.ru_nvcsw, "involuntary_switches",
	                  (json_int_t)x->ru.ru_nivcsw, "inblock",
	                  (json_int_t)x->ru.ru_inblock, "oublock",
	                  (json_int_t)x->ru.ru_oublock));
	json_object_set_new(res, "stdout", stream_json("stdout", &x->out));
	json_object_set_new(res, "stderr", stream_json("stderr", &x->err));
	int malformed = 0;
	_cleanup_free_ char *mpath = path_join(dir, "metrics.jsonl");
	json_object_set_new(res, "metrics", metrics_summary(mpath, &malformed));
	json_object_set_new(res, "metrics_malformed_lines",
	                    json_integer(malformed));
	if (malformed)
		warn(o, "%d line%s of '%s' %s not a JSON object and %s skipped",
		     malformed, malformed == 1 ? "" : "s", mpath,
		     malformed == 1 ? "is" : "are",
		     malformed == 1 ? "was" : "were");
	/* Output the store could not keep: the run's exit status says so
	 * (125), and the record how much it holds. */
	const Stream *const streams[] = {&x->out, &x->err};
	for (size_t i = 0; i < ELEMENTSOF(streams); i++)
		if (streams[i]->error && !o->error)
			fail(o, streams[i]->error, 125,
			     "the program's %s could not be kept: %s; "
			     "%" PRIu64 " of its %" PRIu64 " bytes are in "
			     "'%s/%s' (the record says so)",
			     streams[i]->name, strerror(-streams[i]->error),
			     streams[i]->captured, streams[i]->bytes, dir,
			     streams[i]->name);

	_cleanup_free_ char *finished = format_rfc3339(x->finished_ns);
	_cleanup_free_ char *started = format_rfc3339(x->started_ns);
	json_t *times = json_object_get(rec, "times");
	json_object_set_new(times, "started", json_string(started));
	json_object_set_new(times, "finished", json_string(finished));
	json_object_set_new(times, "duration", json_real(o->duration_s));
	json_object_set_new(rec, "status", json_string(status));
	json_object_set_new(rec, "result", res);
}

/* The program could not be started after the start record was written:
 * the record still says what happened. exit_code is what xrun exits
 * with: 125 when the sandbox failed, 126/127 when execve did. */
static void finalize_not_started(json_t *rec, int exit_code, const char *cause)
{
	_cleanup_free_ char *now = format_rfc3339(now_ns());
	_cleanup_free_ char *c = xasprintf("could not be started: %s", cause);
	json_t *times = json_object_get(rec, "times");
	json_object_set_new(times, "finished", json_string(now));
	json_object_set_new(rec, "status", json_string("failed"));
	json_object_set_new(rec, "result",
	                    json_pack("{s:i,s:n,s:s}", "exit_code", exit_code,
	                              "signal", "cause", c));
}

/* With a signing key configured, each record is signed as it is written
 * (attest.h): runs/<id>/record.sig beside it. */
static void sign_record(const Record *rec, RunOutcome *o)
{
	static bool warned; /* once for the start and the final record */
	int r = record_sign(rec);
	if (r < 0 && !warned) {
		warned = true;
		warn(o,
		     "cannot sign the record '%s': %s; check XRUN_SIGNING_KEY "
		     "or the store's keys/signing.pem",
		     rec->path, strerror(-r));
	}
}

/* A save after the start record: when it fails, the record on disk
 * still reads running, and the caller must not say otherwise. */
static void save_final(Record *rec, RunOutcome *o)
{
	if (record_save(rec, true) < 0)
		o->record_lost = true;
	else
		sign_record(rec, o);
}

static void close_pipe(int p[2])
{
	for (int i = 0; i < 2; i++)
		if (p[i] >= 0) {
			close(p[i]);
			p[i] = -1;
		}
}

static void remove_run_dir(const char *dir)
{
	static const char *const files[] = {"record.json", "params.json",
	                                    "metrics.jsonl", "stdout",
	                                    "stderr"};
	for (size_t i = 0; i < ELEMENTSOF(files); i++) {
		_cleanup_free_ char *p = path_join(dir, files[i]);
		(void)unlink(p);
	}
	_cleanup_free_ char *outs = path_join(dir, "outputs");
	(void)remove_tree(outs);
	(void)rmdir(dir);
}

/* A failed run whose stderr names a file in a home that the sandbox
 * hides (and that exists on the host) is told how to show it. */
static void warn_hidden(RunOutcome *o, const HomePlan *home, const char *dir,
                        const char *home_env)
{
	_cleanup_free_ char *path = path_join(dir, "stderr");
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return;
	/* The end of the output: where a traceback names the file. */
	enum { TAIL = 64 << 10 };
	off_t size = lseek(fd, 0, SEEK_END);
	off_t from = size > TAIL ? size - TAIL : 0;
	_cleanup_free_ char *buf = xmalloc(TAIL + 1);
	ssize_t n = pread(fd, buf, TAIL, from);
	if (n <= 0)
		return;
	buf[n] = 0;
	_cleanup_strv_free_ char **hidden =
	        home_plan_hidden_mentions(home, buf, home_env, 3);
	size_t hl = home_env ? strlen(home_env) : 0;
	for (char **h = hidden; h && *h; h++) {
		/* ~/data/x.csv, as the user would type it. */
		_cleanup_free_ char *shown =
		        hl > 1 && strneq(*h, home_env, hl) && (*h)[hl] == '/'
		                ? xasprintf("~%s", *h + hl)
		                : xstrdup(*h);
		warn(o,
		     "the run tried to open '%s', which the sandbox hides "
		     "(it is in a home directory): pin it with -i %s, or "
		     "show it read-only with --ro %s",
		     shown, shown, shown);
	}
}

static void signal_mask(sigset_t *mask)
{
	sigemptyset(mask);
	for (size_t i = 0; i < ELEMENTSOF(forwarded_signals); i++)
		sigaddset(mask, forwarded_signals[i]);
	sigaddset(mask, SIGCHLD);
}

static int run_blocked(Store *s, const RunSpec *spec, RunOutcome *o);

/* --cache: made if missing, writable in the sandbox at its real path,
 * and neither pinned nor an output. */
static int runner_plan_caches(Sandbox *sb, char *const *caches)
{
	for (char *const *c = caches; c && *c; c++) {
		int r = mkdir_p(*c, 0755);
		if (r < 0 && r != -EEXIST)
			return r;
		_cleanup_free_ char *real = realpath(*c, NULL);
		if (!real)
			return negative_errno();
		struct stat st;
		if (stat(real, &st) < 0)
			return negative_errno();
		if (!S_ISDIR(st.st_mode))
			return -ENOTDIR;
		sandbox_add_mount(sb, MOUNT_RW_BIND, real, real, 0);
	}
	return 0;
}

/* The record's "observed" section (DESIGN.md §8), and the files read
 * outside the pins for the summary. */
static void observe_run(Store *s, const RunSpec *spec, const Tracer *t,
                        StatCache *cache, json_t *rec, RunOutcome *o)
{
	json_t *obs = NULL;
	if (spec->no_sandbox)
		obs = observe_untraced("--no-sandbox", spec->caches);
	else if (spec->no_trace)
		obs = observe_untraced("--no-trace", spec->caches);
	else if (!t || !tracer_stats(t).listener)
		obs = observe_untraced("the tracer did not start",
		                       spec->caches);
	else {
		ObserveQuery q = {.tracer = t,
		                  .record = rec,
		                  .caches = spec->caches,
		                  .store_root = s->root,
		                  .cache_dir = s->cache,
		                  .stat_cache = cache};
		if (observe_section(&q, &obs) < 0)
			obs = observe_untraced("out of memory", spec->caches);
		(void)stat_cache_save(cache);
	}
	o->unpinned = observe_unpinned_paths(obs);
	json_object_set_new(rec, "observed", obs);
}

int runner_run(Store *s, const RunSpec *spec, RunOutcome *o)
{
	/* Signals are held from the start: a ^C while the record is being
	 * written must not leave half a run behind; it is forwarded to the
	 * program as soon as it runs (and then recorded as interrupted). */
	sigset_t mask, old;
	signal_mask(&mask);
	sigprocmask(SIG_BLOCK, &mask, &old);
	int r = run_blocked(s, spec, o);
	sigprocmask(SIG_SETMASK, &old, NULL);
	return r;
}

static int run_blocked(Store *s, const RunSpec *spec, RunOutcome *o)
{
	memset(o, 0, sizeof *o);
	o->exit_status = 125;
	int64_t setup_start = monotonic_ns();
	_cleanup_strv_free_ char **env = user_environment(spec);

	Command *cmd_raw = NULL;
	int r = spec->command
	                ? 0
	                : command_resolve(spec->argv, spec->cwd,
	                                  strv_env_get(env, "PATH"), &cmd_raw);
	_cleanup_command_ Command *cmd_owned = cmd_raw;
	const Command *cmd = spec->command ? spec->command : cmd_owned;
	if (r == -ENOENT)
		return fail(o, r, 127, "'%s': command not found",
		            spec->argv[0]);
	if (r < 0)
		return fail(o, r, 126, "cannot run '%s': %m", spec->argv[0]);

	/* Outputs exist before the run so that they can be bound into the
	 * sandbox; a missing one is made as a directory. */
	_cleanup_strv_free_ char **outputs = NULL;
	if (spec->outputs_redirected) /* a replay's: not on the host */
		outputs = strv_copy(spec->outputs ? spec->outputs
		                                  : (char *[]){NULL});
	for (char **p = spec->outputs; !spec->outputs_redirected && p && *p;
	     p++) {
		/* Through no symlink: a run writes only where it was told. */
		_cleanup_free_ char *why = NULL;
		r = output_resolve(*p, &why);
		if (r < 0)
			return fail(o, r, 125, "%s", why);
		outputs = strv_push(outputs, *p);
	}

	if (spec->outputs_redirected && spec->no_sandbox)
		return fail(o, -EINVAL, 125,
		            "a replay needs the sandbox: its outputs and "
		            "pinned files are seen at their original paths "
		            "only there");
	_cleanup_sandbox_ Sandbox *sb = NULL;
	_cleanup_home_plan_ HomePlan *home = NULL;
	_cleanup_tracer_ Tracer *tracer = NULL;
	json_auto_t *sandbox_json = NULL;
	if (spec->no_sandbox)
		sandbox_json = json_pack("{s:b,s:s}", "enabled", 0, "reason",
		                         "--no-sandbox");
	else {
		sb = sandbox_new();
		sb->share_net = spec->net;
		sb->gpu = spec->gpu;
		sb->pids = spec->pids;
		sb->trace = !spec->no_trace;
		sb->hostname = spec->hostname;
		sb->set_inside_uid = spec->set_inside_uid;
		sb->inside_uid = spec->inside_uid;
		sb->set_umask = spec->set_umask;
		sb->umask = spec->umask;
		sb->no_aslr = spec->no_aslr;
		/* A replay's working directory and outputs come from its
		 * views and its run directory, not from the host. */
		r = sandbox_plan_default(sb, spec->pinned ? NULL : spec->cwd,
		                         NULL, strv_env_get(env, "HOME"));
		_cleanup_strv_free_ char **home_inputs = strv_copy(
		        spec->inputs ? spec->inputs : (char *[]){NULL});
		for (char **p = spec->input_refs; p && *p; p++)
			home_inputs = strv_push(home_inputs, *p);
		HomeRequest hr = {
		        .home_env = strv_env_get(env, "HOME"),
		        .cwd = spec->cwd,
		        .outputs = outputs, /* each an overlay at its path */
		        .inputs = home_inputs,
		        .ro = spec->ro,
		        .cmd = cmd,
		        .env = env,
		        .host_home = spec->host_home,
		};
		if (r == 0)
			r = sandbox_plan_home(sb, &hr, &home);
		if (r == 0)
			r = sandbox_compile_seccomp(sb);
		if (r < 0)
			return fail(o, r, 125,
			            "cannot prepare the sandbox: %m");
		r = runner_plan_caches(sb, spec->caches);
		if (r < 0)
			return fail(
			        o, r, 125,
			        "cannot prepare the --cache directories: %m; "
			        "check that they can be created and written");
	}

	GitProbe *git = NULL;
	r = spec->source_git ? -ENOENT : git_probe_start(spec->cwd, env, &git);
	if (r < 0)
		git = NULL; /* recorded as "git": null */

	_cleanup_free_ char *id = NULL, *dir = NULL;
	r = store_new_run(s, &id, &dir);
	if (r < 0) {
		git_probe_free(git);
		return fail(o, r, 125,
		            "cannot create a run directory in '%s': %m; check "
		            "its permissions or choose another store with "
		            "--store DIR",
		            s->runs);
	}
	/* The kernel does not count processes against RLIMIT_NPROC for
	 * uid 0: root's --pids needs the pids controller. */
	_cleanup_run_cgroup_ RunCgroup *cg = NULL;
	uint64_t cg_pids = getuid() == 0 ? spec->pids : 0;
	if (spec->memory || cg_pids) {
		_cleanup_free_ char *name = xasprintf("xrun-%s", id);
		const char *what = "memory";
		r = run_cgroup_create(name, spec->memory, cg_pids, &cg, &what);
		if (r < 0) {
			git_probe_free(git);
			remove_run_dir(dir);
			return fail(
			        o, r, 125,
			        "--%s needs a %s cgroup, and none can be "
			        "made here: %m; run as root, or in a cgroup "
			        "v2 with the %s controller delegated to you, "
			        "or drop --%s",
			        what, what, what, what);
		}
	}
	uint64_t seed = spec->seed;
	if (!spec->has_seed &&
	    getrandom(&seed, sizeof seed, 0) != sizeof seed) {
		git_probe_free(git);
		remove_run_dir(dir);
		return fail(o, -errno, 125, "cannot draw a seed: %m");
	}

	/* The workspace and the inputs are pinned, and their views join
	 * the sandbox's plan before the store is hidden. A failure is
	 * recorded below, once the start record is built. */
	_cleanup_run_pins_ RunPins *pins = NULL;
	_cleanup_free_ char *pin_error = NULL;
	int pin_r = spec->pinned
	                    ? run_pins_restore(s, spec, outputs, sb, id, &pins,
	                                       &pin_error)
	                    : run_pins_prepare(s, spec, outputs, sb,
	                                       strv_env_get(env, "HOME"), id,
	                                       progress_fn, progress_data,
	                                       &pins, &pin_error);
	for (char *const *w = run_pins_warnings(pins); w && *w; w++)
		warn(o, "%s", *w);
	/* Each output's before tree, and its own space (mounted after the
	 * views, which leave mount points for it). */
	_cleanup_run_outputs_ RunOutputs *outs = NULL;
	if (pin_r == 0) {
		pin_r = run_outputs_prepare(s, spec, outputs, dir, id, sb,
		                            &outs, &pin_error);
		for (char *const *w = run_outputs_warnings(outs); w && *w; w++)
			warn(o, "%s", *w);
	}

	_cleanup_free_ char *params_path = path_join(dir, "params.json");
	_cleanup_free_ char *metrics_path = path_join(dir, "metrics.jsonl");
	if (sb) {
		sandbox_plan_store(sb, s->root, params_path, metrics_path);
		for (char **b = spec->ro_binds; b && *b; b++)
			sandbox_add_mount(sb, MOUNT_RO_BIND, *b, *b, 0);
		if (spec->pinned)
			sandbox_plan_make_room(sb);
		sandbox_plan_home_seal(sb, home);
		sandbox_json =
		        sandbox_to_json(sb, spec->memory, spec->timeout_s);
		json_object_set_new(sandbox_json, "home",
		                    home_plan_to_json(home));
	}
	json_auto_t *xvars = xrun_variables(spec, id, dir, seed, env, o);
	/* The program's environment: the recorded one plus xrun's own. */
	_cleanup_strv_free_ char **prog_env = strv_copy(env);
	const char *name;
	json_t *val;
	json_object_foreach (xvars, name, val) {
		_cleanup_free_ char *v = json_bytes_decode(val, NULL);
		_cleanup_free_ char *e = xasprintf("%s=%s", name, v);
		prog_env = env_put(prog_env, e);
	}

	Exec x = {.out = {.pipe_fd = -1,
	                  .file_fd = -1,
	                  .dir = dir,
	                  .name = "stdout",
	                  .tty_fd = STDOUT_FILENO,
	                  .max = spec->max_output},
	          .err = {.pipe_fd = -1,
	                  .file_fd = -1,
	                  .dir = dir,
	                  .name = "stderr",
	                  .tty_fd = STDERR_FILENO,
	                  .max = spec->max_output},
	          .sb = sb,
	          .report_fd = -1,
	          .timeout_s = spec->timeout_s,
	          .cg = cg,
	          .memory = spec->memory};
	/* The sandbox binds params.json and metrics.jsonl: both exist
	 * before it starts. */
	r = write_params(spec, dir);
	if (r == 0 && sb)
		r = create_file(dir, "metrics.jsonl", 0, NULL);
	int outp[2] = {-1, -1}, errp[2] = {-1, -1};
	if (r == 0 &&
	    (pipe2(outp, O_CLOEXEC) < 0 || pipe2(errp, O_CLOEXEC) < 0))
		r = negative_errno();
	if (r < 0) {
		git_probe_free(git);
		close_pipe(outp);
		close_pipe(errp);
		remove_run_dir(dir);
		return fail(o, r, 125,
		            "cannot prepare the run in '%s': %m; the program "
		            "was not started",
		            dir);
	}
	/* A closed terminal must not kill the launcher mid-capture. */
	signal(SIGPIPE, SIG_IGN);

	/* The sandbox is built while the record is captured and written:
	 * on two cores the two take turns less than they overlap. Its
	 * program starts only once the start record is on disk. */
	int spawn_err = 0;
	if (sb && pin_r == 0) {
		if (cg && (r = run_cgroup_enter(cg)) < 0)
			warn(o,
			     "cannot enter the run's cgroup: %s; the run has "
			     "no memory or process limit",
			     strerror(-r));
		spawn_err = sandbox_start(sb, cmd->path, spec->argv, prog_env,
		                          spec->cwd, outp[1], errp[1]);
		if (cg)
			run_cgroup_leave(cg);
		if (spawn_err == 0) {
			x.pid = sb->reaper;
			x.report_fd = TAKE_FD(sb->report_fd);
			if (sb->trace_fd >= 0 &&
			    tracer_start(TAKE_FD(sb->trace_fd), &tracer) < 0)
				tracer = NULL;
		}
	}

	json_t *rec_json = NULL;
	_cleanup_stat_cache_ StatCache *cache = stat_cache_new(s->cache);
	r = build_start_record(spec, cmd, env, id, seed, s->cache, cache, git,
	                       xvars, sandbox_json, o, &rec_json);
	(void)stat_cache_save(cache);
	if (r == 0)
		run_pins_record(pins, rec_json);
	json_t *threads = NULL;
	if (r == 0 && capture_threads(prog_env, &threads) == 0)
		json_object_set_new(rec_json, "threads", threads);
	/* The directory is synced after the program has started, while it
	 * runs: until then a crash loses the record, it cannot tear it. */
	_cleanup_record_ Record *rec =
	        r == 0 ? record_new(rec_json, dir) : NULL;
	if (r == 0)
		r = record_save(rec, false);
	if (r == 0)
		sign_record(rec, o);
	if (r < 0) {
		if (sb)
			sandbox_abort(sb);
		if (x.report_fd >= 0)
			close(x.report_fd);
		close_pipe(outp);
		close_pipe(errp);
		remove_run_dir(dir);
		if (o->error) /* build_start_record said why */
			return r;
		return fail(o, r, 125,
		            "cannot write the start record in '%s': %m; the "
		            "program was not started",
		            dir);
	}
	o->id = xstrdup(id);
	o->record_path = xstrdup(rec->path);
	store_run_started(s, id);
	/* The final record's room, before the program starts. */
	int room = pin_r < 0 ? 0 : record_reserve(rec);
	if (room == -ENOSPC || room == -EDQUOT) {
		pin_r = room;
		free(pin_error);
		pin_error = xasprintf("there is no room in '%s' for the run's "
		                      "final record: %s; free space there",
		                      dir, strerror(-room));
		if (sb)
			sandbox_abort(sb);
		if (x.report_fd >= 0)
			close(x.report_fd);
		x.report_fd = -1;
	}
	if (pin_r < 0) {
		close_pipe(outp);
		close_pipe(errp);
		o->status = "failed";
		finalize_not_started(rec->root, 125, pin_error);
		save_final(rec, o);
		return fail(o, pin_r, 125, "%s; the program was not started",
		            pin_error);
	}

	sigset_t mask;
	signal_mask(&mask);
	_cleanup_close_ int sfd =
	        signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);

	x.out.hash = hasher_new();
	x.err.hash = hasher_new();
	x.out.pipe_fd = outp[0];
	x.err.pipe_fd = errp[0];
	x.started_ns = now_ns();
	x.mono_start = monotonic_ns();
	o->setup_ms = (double)(x.mono_start - setup_start) / 1e6;
	if (sb) {
		r = spawn_err;
		if (r == 0)
			sandbox_go(sb);
	} else {
		/* The program is born in the cgroup: the launcher steps in
		 * for the fork and out again. */
		if (cg && (r = run_cgroup_enter(cg)) < 0)
			warn(o,
			     "cannot enter the run's cgroup: %s; the run has "
			     "no memory or process limit",
			     strerror(-r));
		r = spawn_program(spec, cmd, prog_env, outp[1], errp[1],
		                  &x.pid);
		if (cg)
			run_cgroup_leave(cg);
	}
	close(outp[1]);
	close(errp[1]);
	if (r < 0) {
		close(outp[0]);
		close(errp[0]);
		hasher_free(x.out.hash);
		hasher_free(x.err.hash);
		o->status = "failed";
		if (sb) {
			_cleanup_free_ char *why = sandbox_explain_failure(-r);
			finalize_not_started(rec->root, 125, why);
			save_final(rec, o);
			return fail(
			        o, r, 125,
			        "cannot create the sandbox: %s; the program "
			        "was not started",
			        why);
		}
		finalize_not_started(rec->root, r == -ENOENT ? 127 : 126,
		                     strerror(-r));
		save_final(rec, o);
		return fail(o, r, r == -ENOENT ? 127 : 126,
		            "cannot run '%s': %m", spec->argv[0]);
	}
	_cleanup_(finisher_done) Finisher fin = {.start_fd = -1};
	finisher_start(&fin, dir, rec->path);
	record_prepare_save(rec);
	supervise(&x, sfd);
	if (x.report_fd >= 0)
		close(x.report_fd);
	/* The captured output is durable before the record that vouches
	 * for its digest; no output, no file, nothing to sync. The new
	 * file's name is made durable by the final record's directory
	 * sync. */
	Stream *const streams[] = {&x.out, &x.err};
	for (size_t i = 0; i < ELEMENTSOF(streams); i++) {
		Stream *st = streams[i];
		if (st->file_fd < 0)
			continue;
		if (fdatasync(st->file_fd) < 0 && !st->error)
			st->error = negative_errno();
		close(st->file_fd);
	}

	if (sb && x.have_report && x.report.kind != REPORT_EXITED) {
		/* The sandbox or execve failed before the program ran. */
		int err = x.report.err;
		bool setup = x.report.kind == REPORT_SETUP_FAILED;
		int code = setup ? 125 : err == ENOENT ? 127 : 126;
		_cleanup_free_ char *why =
		        setup ? xasprintf("the sandbox could not be built: "
		                          "%s: %s",
		                          x.report.what, strerror(err))
		              : xasprintf("%s", strerror(err));
		_cleanup_free_ char *hint =
		        setup && (err == EPERM || err == EACCES)
		                ? sandbox_explain_failure(err)
		                : NULL;
		finalize_not_started(rec->root, code, why);
		stdio_results(rec->root, &x);
		o->status = "failed";
		/* Best effort: the error below is what the user is told. */
		save_final(rec, o);
		reap_sandbox(&x);
		if (setup)
			return fail(o, -err, 125,
			            "%s%s%s; the program was not "
			            "started",
			            why, hint ? "; " : "", hint ? hint : "");
		if (err == E2BIG)
			return fail(o, -err, code,
			            "cannot run '%s': its arguments and "
			            "environment together are too big for "
			            "execve (%s); pass large values in a file "
			            "(params are in $XRUN_PARAMS)",
			            spec->argv[0], strerror(err));
		return fail(o, -err, code, "cannot run '%s': %s", spec->argv[0],
		            strerror(err));
	}
	if (sb && x.have_report) {
		x.wstatus = x.report.wstatus;
		x.ru = x.report.ru;
	}
	run_outputs_finish(outs, s, progress_fn, progress_data, rec->root,
	                   &o->warnings);
	tracer_stop(tracer);
	observe_run(s, spec, tracer, cache, rec->root, o);
	finalize_record(rec->root, &x, dir, o);
	if (home && !streq(o->status, "succeeded"))
		warn_hidden(o, home, dir, strv_env_get(env, "HOME"));
	if (sb && (x.out.saw_erofs || x.err.saw_erofs))
		warn(o, "the program met a read-only file system: in the "
		        "sandbox only the -o paths, /tmp and /dev/shm are "
		        "writable; name what it writes with -o PATH (xrun run "
		        "-o out ...)");
	if (spec->verify_against) {
		json_t *v =
		        replay_verification(s, spec->verify_against, rec->root);
		json_object_set_new(rec->root, "verification", v);
		o->verification = json_incref(v);
	}
	r = record_save(rec, false);
	if (r == 0)
		sign_record(rec, o);
	finisher_release(&fin);
	if (r == 0)
		r = fsync_dir(dir);
	reap_sandbox(&x);
	if (r < 0) {
		/* The program ran, but what it did is not kept: say so, and
		 * that the record still reads "running". */
		o->record_lost = true;
		fail(o, r, 125,
		     "the program ended (%s) but its final record could not be "
		     "written in '%s': %m; the record still reads running "
		     "(shown as abandoned); free space there",
		     o->status, dir);
		return r;
	}
	return 0;
}
