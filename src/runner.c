/* The launcher (DESIGN.md §1, §4): one run as a list of named stages
 * over one Launch, read top to bottom in run_blocked(). Each stage fills
 * in its part of the Launch and says what failed in the RunOutcome;
 * launch_done() undoes whatever a failed run leaves. What tells a run
 * from a replay is its RunStages (runner.h): how the pins are made and
 * where the outputs go, not tests of replay fields here. The record is
 * built in run-record.c, the program supervised in supervise.c. */
#include "config.h"

#include "runner.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/stat.h>

#include "capture.h"
#include "cgroup.h"
#include "command.h"
#include "hash.h"
#include "observe.h"
#include "pin.h"
#include "process.h"
#include "run-outputs.h"
#include "run-pins.h"
#include "run-record.h"
#include "sandbox.h"
#include "sandbox-home.h"
#include "statcache.h"
#include "trace.h"
#include "supervise.h"
#include "util.h"

static PinProgressFn progress_fn;
static void *progress_data;

void runner_set_notice(RunnerNoticeFn fn)
{
	supervise_set_notice(fn);
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

/* A run's -o paths, as `run` takes them: each checked on the host,
 * through no symlink (a run writes only where it was told). */
static int host_outputs(const RunSpec *spec, char ***ret, char **ret_why)
{
	_cleanup_strv_free_ char **outputs = NULL;
	for (char **p = spec->outputs; p && *p; p++) {
		int r = output_resolve(*p, ret_why);
		if (r < 0)
			return r;
		outputs = strv_push(outputs, *p);
	}
	*ret = TAKE_PTR(outputs);
	return 0;
}

/* The workspace and inputs pinned afresh from the host. */
static int pin_fresh(Store *s, const RunSpec *spec, char *const *outputs,
                     Sandbox *sb, const char *home, const char *id,
                     RunPins **ret, char **ret_error)
{
	return run_pins_prepare(s, spec, outputs, sb, home, id, progress_fn,
	                        progress_data, ret, ret_error);
}

int runner_pin_restored(Store *s, const RunSpec *spec, char *const *outputs,
                        Sandbox *sb, const char *home, const char *id,
                        RunPins **ret, char **ret_error)
{
	(void)home;
	return run_pins_restore(s, spec, outputs, sb, id, ret, ret_error);
}

const RunStages run_stages_fresh = {
        .outputs = host_outputs,
        .host_cwd = true,
        .probe_git = true,
        .pin = pin_fresh,
};

/* A sweep's task: its workspace and inputs as the sweep pinned them at
 * submission, seen at their paths (the working directory too). */
const RunStages run_stages_pinned = {
        .outputs = host_outputs,
        .host_cwd = false,
        .probe_git = true,
        .pin = runner_pin_restored,
        .plan_last = sandbox_plan_make_room,
};

/* One run as it goes: each stage fills in its part. */
typedef struct Launch {
	Store *store;
	const RunSpec *spec;
	const RunStages *stages;
	RunOutcome *o;
	int64_t setup_start;
	char **env; /* the user's environment, as recorded */
	Command *cmd_owned;
	const Command *cmd;
	char **outputs;
	Sandbox *sb;    /* NULL with --no-sandbox */
	HomePlan *home; /* the home directories the sandbox shows */
	Tracer *tracer; /* what the program really uses (observe.h) */
	json_t *sandbox_json;
	GitProbe *git;
	char *id, *dir;
	RunCgroup *cg;
	RunPins *pins;
	RunOutputs *outs;
	/* A failure to pin or to make room waits for the start record,
	 * which says so. */
	int pin_r;
	char *pin_error;
	uint64_t seed;
	json_t *xvars;
	char **prog_env; /* env and xrun's own variables */
	int outp[2], errp[2];
	int spawn_err; /* sandbox_start()'s */
	Supervised x;
	StatCache *cache; /* the start record's, and the observing's */
	Record *rec;
	bool recorded; /* the start record is on disk: the run is kept */
	int sfd;
	Finisher fin;
} Launch;

static void launch_init(Launch *l, Store *s, const RunSpec *spec, RunOutcome *o)
{
	memset(o, 0, sizeof *o);
	o->exit_status = 125;
	*l = (Launch){
	        .store = s,
	        .spec = spec,
	        .stages = spec->stages ? spec->stages : &run_stages_fresh,
	        .o = o,
	        .setup_start = monotonic_ns(),
	        .outp = {-1, -1},
	        .errp = {-1, -1},
	        .x = {.out = {.pipe_fd = -1, .file_fd = -1},
	              .err = {.pipe_fd = -1, .file_fd = -1},
	              .report_fd = -1},
	        .sfd = -1,
	        .fin = {.start_fd = -1},
	};
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

/* The one cleanup: a run that failed before its start record leaves
 * no run directory behind (and no sandbox waiting for its go). */
static void launch_done(Launch *l)
{
	if (l->dir && !l->recorded && l->sb)
		sandbox_abort(l->sb);
	if (l->x.report_fd >= 0)
		close(l->x.report_fd);
	close_pipe(l->outp);
	close_pipe(l->errp);
	if (l->dir && !l->recorded)
		remove_run_dir(l->dir);
	hasher_free(l->x.out.hash);
	hasher_free(l->x.err.hash);
	finisher_done(&l->fin);
	if (l->sfd >= 0)
		close(l->sfd);
	record_free(l->rec);
	stat_cache_free(l->cache);
	strv_free(l->prog_env);
	json_decref(l->xvars);
	run_outputs_free(l->outs);
	free(l->pin_error);
	run_pins_free(l->pins);
	run_cgroup_free(l->cg);
	free(l->id);
	free(l->dir);
	git_probe_free(l->git);
	json_decref(l->sandbox_json);
	tracer_free(l->tracer);
	home_plan_free(l->home);
	sandbox_free(l->sb);
	strv_free(l->outputs);
	command_free(l->cmd_owned);
	strv_free(l->env);
}

#define fail(l, r, status, ...) run_outcome_fail((l)->o, r, status, __VA_ARGS__)
#define warn(l, ...) run_outcome_warn((l)->o, __VA_ARGS__)

/* The program as the record will name it: found on the user's PATH, or
 * as a replay's record resolved it. */
static int resolve_command(Launch *l)
{
	const RunSpec *spec = l->spec;
	l->env = user_environment(spec);
	if (spec->command) {
		l->cmd = spec->command;
		return 0;
	}
	int r = command_resolve(spec->argv, spec->cwd,
	                        strv_env_get(l->env, "PATH"), &l->cmd_owned);
	l->cmd = l->cmd_owned;
	if (r == -ENOENT)
		return fail(l, r, 127, "'%s': command not found",
		            spec->argv[0]);
	if (r < 0)
		return fail(l, r, 126, "cannot run '%s': %m", spec->argv[0]);
	return 0;
}

/* Outputs exist before the run so that they can be bound into the
 * sandbox (a missing one is made as a directory, later). */
static int prepare_outputs(Launch *l)
{
	_cleanup_free_ char *why = NULL;
	int r = l->stages->outputs(l->spec, &l->outputs, &why);
	if (r < 0)
		return fail(l, r, 125, "%s", why ? why : strerror(-r));
	return 0;
}

/* --cache: made if missing, writable in the sandbox at its real path,
 * and neither pinned nor an output. */
static int plan_caches(Sandbox *sb, char *const *caches)
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

static int plan_sandbox(Launch *l)
{
	const RunSpec *spec = l->spec;
	if (spec->no_sandbox) {
		l->sandbox_json = json_pack("{s:b,s:s}", "enabled", 0, "reason",
		                            "--no-sandbox");
		return 0;
	}
	l->sb = sandbox_new();
	l->sb->share_net = spec->net;
	l->sb->gpu = spec->gpu;
	l->sb->pids = spec->pids;
	l->sb->trace = !spec->no_trace;
	l->sb->hostname = spec->hostname;
	l->sb->set_inside_uid = spec->set_inside_uid;
	l->sb->inside_uid = spec->inside_uid;
	l->sb->set_umask = spec->set_umask;
	l->sb->umask = spec->umask;
	l->sb->no_aslr = spec->no_aslr;
	/* A replay's working directory and outputs come from its views and
	 * its run directory, not from the host. */
	int r = sandbox_plan_default(l->sb,
	                             l->stages->host_cwd ? spec->cwd : NULL,
	                             NULL, strv_env_get(l->env, "HOME"));
	/* The home directories: empty but for what the run needs. */
	_cleanup_strv_free_ char **home_inputs =
	        strv_copy(spec->inputs ? spec->inputs : (char *[]){NULL});
	for (char **p = spec->input_refs; p && *p; p++)
		home_inputs = strv_push(home_inputs, *p);
	HomeRequest hr = {
	        .home_env = strv_env_get(l->env, "HOME"),
	        .cwd = spec->cwd,
	        .outputs = l->outputs, /* each an overlay at its path */
	        .inputs = home_inputs,
	        .ro = spec->ro,
	        .cmd = l->cmd,
	        .env = l->env,
	        .host_home = spec->host_home,
	};
	if (r == 0)
		r = sandbox_plan_home(l->sb, &hr, &l->home);
	if (r == 0)
		r = sandbox_compile_seccomp(l->sb);
	if (r < 0)
		return fail(l, r, 125, "cannot prepare the sandbox: %m");
	r = plan_caches(l->sb, spec->caches);
	if (r < 0)
		return fail(l, r, 125,
		            "cannot prepare the --cache directories: %m; check "
		            "that they can be created and written");
	return 0;
}

/* git runs beside the rest of the capture; no git, "git": null. */
static void start_git_probe(Launch *l)
{
	if (!l->stages->probe_git ||
	    git_probe_start(l->spec->cwd, l->env, &l->git) < 0)
		l->git = NULL;
}

/* runs/<id>, and the run's cgroup where --memory or (as root) --pids
 * need one. */
static int open_run_dir(Launch *l)
{
	const RunSpec *spec = l->spec;
	int r = store_new_run(l->store, &l->id, &l->dir);
	if (r < 0)
		return fail(l, r, 125,
		            "cannot create a run directory in '%s': %m; check "
		            "its permissions or choose another store with "
		            "--store DIR",
		            l->store->runs);
	/* The kernel does not count processes against RLIMIT_NPROC for
	 * uid 0: root's --pids needs the pids controller. */
	uint64_t cg_pids = getuid() == 0 ? spec->pids : 0;
	if (!spec->memory && !cg_pids)
		return 0;
	_cleanup_free_ char *name = xasprintf("xrun-%s", l->id);
	const char *what = "memory";
	r = run_cgroup_create(name, spec->memory, cg_pids, &l->cg, &what);
	if (r < 0)
		return fail(l, r, 125,
		            "--%s needs a %s cgroup, and none can be made "
		            "here: %m; run as root, or in a cgroup v2 with the "
		            "%s controller delegated to you, or drop --%s",
		            what, what, what, what);
	return 0;
}

/* The workspace and the inputs pinned (or restored), then each
 * output's before tree and its own space; their views join the
 * sandbox's plan before the store is hidden. A failure is recorded once
 * the start record is written. */
static void pin(Launch *l)
{
	l->pin_r = l->stages->pin(l->store, l->spec, l->outputs, l->sb,
	                          strv_env_get(l->env, "HOME"), l->id, &l->pins,
	                          &l->pin_error);
	for (char *const *w = run_pins_warnings(l->pins); w && *w; w++)
		warn(l, "%s", *w);
	if (l->pin_r < 0)
		return;
	l->pin_r = run_outputs_prepare(l->store, l->spec, l->outputs, l->dir,
	                               l->id, l->sb, &l->outs, &l->pin_error);
	for (char *const *w = run_outputs_warnings(l->outs); w && *w; w++)
		warn(l, "%s", *w);
}

/* The store hidden, params.json and metrics.jsonl bound (mounted
 * after the views, which leave mount points for them). */
static void plan_store(Launch *l)
{
	if (!l->sb)
		return;
	_cleanup_free_ char *params = path_join(l->dir, "params.json");
	_cleanup_free_ char *metrics = path_join(l->dir, "metrics.jsonl");
	sandbox_plan_store(l->sb, l->store->root, params, metrics);
	for (char **b = l->spec->ro_binds; b && *b; b++)
		sandbox_add_mount(l->sb, MOUNT_RO_BIND, *b, *b, 0);
	if (l->stages->plan_last)
		l->stages->plan_last(l->sb);
	sandbox_plan_home_seal(l->sb, l->home);
	l->sandbox_json =
	        sandbox_to_json(l->sb, l->spec->memory, l->spec->timeout_s);
	json_object_set_new(l->sandbox_json, "home",
	                    home_plan_to_json(l->home));
}

/* The seed, and the program's environment: the recorded one plus
 * xrun's own variables. */
static int program_environment(Launch *l)
{
	int r = run_spec_seed(l->spec, &l->seed);
	if (r < 0)
		return fail(l, r, 125, "cannot draw a seed: %m");
	l->xvars =
	        xrun_variables(l->spec, l->id, l->dir, l->seed, l->env, l->o);
	l->prog_env = strv_copy(l->env);
	const char *name;
	json_t *val;
	json_object_foreach (l->xvars, name, val) {
		_cleanup_free_ char *v = json_bytes_decode(val, NULL);
		_cleanup_free_ char *e = xasprintf("%s=%s", name, v);
		l->prog_env = env_put(l->prog_env, e);
	}
	return 0;
}

/* params.json, metrics.jsonl (the sandbox binds both: they exist before
 * it starts) and the pipes the program's output comes through. */
static int prepare_run_files(Launch *l)
{
	const RunSpec *spec = l->spec;
	stream_init(&l->x.out, l->dir, "stdout", STDOUT_FILENO,
	            spec->max_output);
	stream_init(&l->x.err, l->dir, "stderr", STDERR_FILENO,
	            spec->max_output);
	l->x.sb = l->sb;
	l->x.timeout_s = spec->timeout_s;
	l->x.cg = l->cg;
	l->x.memory = spec->memory;
	int r = write_params(spec, l->dir);
	if (r == 0 && l->sb)
		r = run_file_create(l->dir, "metrics.jsonl", 0, NULL);
	if (r == 0 &&
	    (pipe2(l->outp, O_CLOEXEC) < 0 || pipe2(l->errp, O_CLOEXEC) < 0))
		r = negative_errno();
	if (r < 0)
		return fail(l, r, 125,
		            "cannot prepare the run in '%s': %m; the program "
		            "was not started",
		            l->dir);
	/* A closed terminal must not kill the launcher mid-capture. */
	signal(SIGPIPE, SIG_IGN);
	return 0;
}

static void enter_cgroup(Launch *l)
{
	int r;
	if (l->cg && (r = run_cgroup_enter(l->cg)) < 0)
		warn(l,
		     "cannot enter the run's cgroup: %s; the run has no "
		     "memory or process limit",
		     strerror(-r));
}

/* The sandbox is built while the record is captured and written: on two
 * cores the two take turns less than they overlap. Its program starts
 * only at go(), once the start record is on disk. The sandbox is born
 * in the run's cgroup: the launcher steps in for the clone and out. */
static void start_sandbox(Launch *l)
{
	if (!l->sb || l->pin_r < 0)
		return;
	enter_cgroup(l);
	l->spawn_err =
	        sandbox_start(l->sb, l->cmd->path, l->spec->argv, l->prog_env,
	                      l->spec->cwd, l->outp[1], l->errp[1]);
	if (l->cg)
		run_cgroup_leave(l->cg);
	if (l->spawn_err == 0) {
		l->x.pid = l->sb->reaper;
		l->x.report_fd = TAKE_FD(l->sb->report_fd);
		if (l->sb->trace_fd >= 0 &&
		    tracer_start(TAKE_FD(l->sb->trace_fd), &l->tracer) < 0)
			l->tracer = NULL;
	}
}

static int write_start_record(Launch *l)
{
	json_t *rec_json = NULL;
	StatCache *cache = l->cache = stat_cache_new(l->store->cache);
	StartFacts f = {.spec = l->spec,
	                .cmd = l->cmd,
	                .user_env = l->env,
	                .id = l->id,
	                .seed = l->seed,
	                .store_cache = l->store->cache,
	                .cache = cache,
	                .git = TAKE_PTR(l->git),
	                .xvars = l->xvars,
	                .sandbox = l->sandbox_json};
	int r = build_start_record(&f, l->o, &rec_json);
	(void)stat_cache_save(cache);
	if (r == 0)
		run_pins_record(l->pins, rec_json);
	json_t *threads = NULL;
	if (r == 0 && capture_threads(l->prog_env, &threads) == 0)
		json_object_set_new(rec_json, "threads", threads);
	/* The directory is synced after the program has started, while it
	 * runs: until then a crash loses the record, it cannot tear it. */
	if (r == 0) {
		l->rec = record_new(rec_json, l->dir);
		r = record_save(l->rec, false);
	}
	if (r == 0)
		sign_record(l->rec, l->o);
	if (r < 0 && l->o->error) /* build_start_record said why */
		return r;
	if (r < 0)
		return fail(l, r, 125,
		            "cannot write the start record in '%s': %m; the "
		            "program was not started",
		            l->dir);
	l->recorded = true;
	l->o->id = xstrdup(l->id);
	l->o->record_path = xstrdup(l->rec->path);
	store_run_started(l->store, l->id);
	return 0;
}

/* A run that cannot start after its start record is written is
 * recorded as failed with why: the record is final, the error o's. */
static int not_started(Launch *l, int r, int code, const char *why,
                       const char *msg)
{
	l->o->status = "failed";
	finalize_not_started(l->rec->root, code, why);
	save_final(l->rec, l->o);
	return fail(l, r, code, "%s", msg);
}

/* The final record's room, before the program starts; then a pinning
 * failure met earlier is recorded. */
static int reserve_final_record(Launch *l)
{
	int room = l->pin_r < 0 ? 0 : record_reserve(l->rec);
	if (room == -ENOSPC || room == -EDQUOT) {
		l->pin_r = room;
		free(l->pin_error);
		l->pin_error = xasprintf("there is no room in '%s' for the "
		                         "run's final record: %s; free space "
		                         "there",
		                         l->dir, strerror(-room));
		if (l->sb)
			sandbox_abort(l->sb);
		if (l->x.report_fd >= 0)
			close(l->x.report_fd);
		l->x.report_fd = -1;
	}
	if (l->pin_r == 0)
		return 0;
	close_pipe(l->outp);
	close_pipe(l->errp);
	_cleanup_free_ char *msg =
	        xasprintf("%s; the program was not started", l->pin_error);
	return not_started(l, l->pin_r, 125, l->pin_error, msg);
}

/* The program starts: the sandbox's waiting pid 1 is let go, or (with
 * --no-sandbox) the program is spawned, in the run's cgroup. */
static int go(Launch *l)
{
	sigset_t mask;
	supervise_signal_mask(&mask);
	l->sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	l->x.out.hash = hasher_new();
	l->x.err.hash = hasher_new();
	l->x.out.pipe_fd = TAKE_FD(l->outp[0]);
	l->x.err.pipe_fd = TAKE_FD(l->errp[0]);
	l->x.started_ns = now_ns();
	l->x.mono_start = monotonic_ns();
	l->o->setup_ms = (double)(l->x.mono_start - l->setup_start) / 1e6;
	int r;
	if (l->sb) {
		r = l->spawn_err;
		if (r == 0)
			sandbox_go(l->sb);
	} else {
		enter_cgroup(l);
		/* A session of its own: the terminal's ^C reaches xrun,
		 * which forwards it, instead of racing the program. */
		SpawnSpec s = {.path = l->cmd->path,
		               .argv = l->spec->argv,
		               .envp = l->prog_env,
		               .cwd = l->spec->cwd,
		               .stdin_fd = SPAWN_INHERIT,
		               .stdout_fd = l->outp[1],
		               .stderr_fd = l->errp[1],
		               .new_session = true};
		r = spawn_process(&s, &l->x.pid);
		if (l->cg)
			run_cgroup_leave(l->cg);
	}
	close_pipe(l->outp);
	close_pipe(l->errp);
	if (r == 0)
		return 0;
	if (l->x.out.pipe_fd >= 0)
		close(TAKE_FD(l->x.out.pipe_fd));
	if (l->x.err.pipe_fd >= 0)
		close(TAKE_FD(l->x.err.pipe_fd));
	l->x.out.hash = hasher_free(l->x.out.hash);
	l->x.err.hash = hasher_free(l->x.err.hash);
	if (l->sb) {
		_cleanup_free_ char *why = sandbox_explain_failure(-r);
		_cleanup_free_ char *msg = xasprintf(
		        "cannot create the sandbox: %s; the program was not "
		        "started",
		        why);
		return not_started(l, r, 125, why, msg);
	}
	int code = r == -ENOENT ? 127 : 126;
	_cleanup_free_ char *msg = xasprintf("cannot run '%s': %s",
	                                     l->spec->argv[0], strerror(-r));
	return not_started(l, r, code, strerror(-r), msg);
}

/* Until the program has ended and its output is drained; the captured
 * output is durable before the record that vouches for its digest (no
 * output, no file, nothing to sync; the new file's name is made durable
 * by the final record's directory sync). */
static void supervise_program(Launch *l)
{
	finisher_start(&l->fin, l->dir, l->rec->path);
	record_prepare_save(l->rec);
	supervise(&l->x, l->sfd);
	if (l->x.report_fd >= 0)
		close(TAKE_FD(l->x.report_fd));
	Stream *const streams[] = {&l->x.out, &l->x.err};
	for (size_t i = 0; i < ELEMENTSOF(streams); i++) {
		Stream *st = streams[i];
		if (st->file_fd < 0)
			continue;
		if (fdatasync(st->file_fd) < 0 && !st->error)
			st->error = negative_errno();
		close(st->file_fd);
	}
}

/* The sandbox or execve failed before the program ran: the sandbox's
 * report says which. */
static int check_started(Launch *l)
{
	Supervised *x = &l->x;
	if (!l->sb || !x->have_report)
		return 0;
	if (x->report.kind == REPORT_EXITED) {
		x->wstatus = x->report.wstatus;
		x->ru = x->report.ru;
		return 0;
	}
	int err = x->report.err;
	bool setup = x->report.kind == REPORT_SETUP_FAILED;
	int code = setup ? 125 : err == ENOENT ? 127 : 126;
	_cleanup_free_ char *why =
	        setup ? xasprintf("the sandbox could not be built: %s: %s",
	                          x->report.what, strerror(err))
	              : xasprintf("%s", strerror(err));
	_cleanup_free_ char *hint = setup && (err == EPERM || err == EACCES)
	                                    ? sandbox_explain_failure(err)
	                                    : NULL;
	finalize_not_started(l->rec->root, code, why);
	stdio_results(l->rec->root, x);
	l->o->status = "failed";
	/* Best effort: the error below is what the user is told. */
	save_final(l->rec, l->o);
	supervised_reap(x);
	if (setup)
		return fail(l, -err, 125, "%s%s%s; the program was not started",
		            why, hint ? "; " : "", hint ? hint : "");
	if (err == E2BIG)
		return fail(l, -err, code,
		            "cannot run '%s': its arguments and environment "
		            "together are too big for execve (%s); pass large "
		            "values in a file (params are in $XRUN_PARAMS)",
		            l->spec->argv[0], strerror(err));
	return fail(l, -err, code, "cannot run '%s': %s", l->spec->argv[0],
	            strerror(err));
}

/* The record's "observed" section (DESIGN.md §8), and the files read
 * outside the pins for the summary. */
static void observe_run(Launch *l, json_t *rec)
{
	const RunSpec *spec = l->spec;
	json_t *obs = NULL;
	if (spec->no_sandbox)
		obs = observe_untraced("--no-sandbox", spec->caches);
	else if (spec->no_trace)
		obs = observe_untraced("--no-trace", spec->caches);
	else if (!l->tracer || !tracer_stats(l->tracer).listener)
		obs = observe_untraced("the tracer did not start",
		                       spec->caches);
	else {
		ObserveQuery q = {.tracer = l->tracer,
		                  .record = rec,
		                  .caches = spec->caches,
		                  .store_root = l->store->root,
		                  .cache_dir = l->store->cache,
		                  .stat_cache = l->cache};
		if (observe_section(&q, &obs) < 0)
			obs = observe_untraced("out of memory", spec->caches);
		(void)stat_cache_save(l->cache);
	}
	l->o->unpinned = observe_unpinned_paths(obs);
	json_object_set_new(rec, "observed", obs);
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
		run_outcome_warn(
		        o,
		        "the run tried to open '%s', which the sandbox "
		        "hides (it is in a home directory): pin it with "
		        "-i %s, or show it read-only with --ro %s",
		        shown, shown, shown);
	}
}

/* The outputs pinned and published, the final record written in place
 * of the start record. */
static int finalize(Launch *l)
{
	RunOutcome *o = l->o;
	Record *rec = l->rec;
	run_outputs_finish(l->outs, l->store, progress_fn, progress_data,
	                   rec->root, &o->warnings);
	tracer_stop(l->tracer);
	observe_run(l, rec->root);
	finalize_record(rec->root, &l->x, l->dir, o);
	if (l->home && !streq(o->status, "succeeded"))
		warn_hidden(o, l->home, l->dir, strv_env_get(l->env, "HOME"));
	if (l->sb && (l->x.out.saw_erofs || l->x.err.saw_erofs))
		warn(l, "the program met a read-only file system: in the "
		        "sandbox only the -o paths, /tmp and /dev/shm are "
		        "writable; name what it writes with -o PATH (xrun run "
		        "-o out ...)");
	if (l->stages->verify) {
		json_t *v = l->stages->verify(l->store, l->spec, rec->root);
		json_object_set_new(rec->root, "verification", v);
		o->verification = json_incref(v);
	}
	int r = record_save(rec, false);
	if (r == 0)
		sign_record(rec, o);
	finisher_release(&l->fin);
	if (r == 0)
		r = fsync_dir(l->dir);
	supervised_reap(&l->x);
	if (r < 0) {
		/* The program ran, but what it did is not kept: say so, and
		 * that the record still reads "running". */
		o->record_lost = true;
		fail(l, r, 125,
		     "the program ended (%s) but its final record could not be "
		     "written in '%s': %m; the record still reads running "
		     "(shown as abandoned); free space there",
		     o->status, l->dir);
		return r;
	}
	return 0;
}

/* The run, stage by stage. Until the start record is written a failure
 * leaves nothing behind; after it, the record says how the run ended. */
static int run_blocked(Store *s, const RunSpec *spec, RunOutcome *o)
{
	_cleanup_(launch_done) Launch l;
	launch_init(&l, s, spec, o);
	int r;

	if ((r = resolve_command(&l)) < 0)
		return r;
	if ((r = prepare_outputs(&l)) < 0)
		return r;
	if ((r = plan_sandbox(&l)) < 0)
		return r;
	start_git_probe(&l);
	if ((r = open_run_dir(&l)) < 0)
		return r;
	pin(&l);
	plan_store(&l);
	if ((r = program_environment(&l)) < 0)
		return r;
	if ((r = prepare_run_files(&l)) < 0)
		return r;
	start_sandbox(&l);
	if ((r = write_start_record(&l)) < 0)
		return r;

	/* Recorded from here on. */
	if ((r = reserve_final_record(&l)) < 0)
		return r;
	if ((r = go(&l)) < 0)
		return r;
	supervise_program(&l);
	if ((r = check_started(&l)) < 0)
		return r;
	return finalize(&l);
}

int runner_run(Store *s, const RunSpec *spec, RunOutcome *o)
{
	/* Signals are held from the start: a ^C while the record is being
	 * written must not leave half a run behind; it is forwarded to the
	 * program as soon as it runs (and then recorded as interrupted). */
	sigset_t mask, old;
	supervise_signal_mask(&mask);
	sigprocmask(SIG_BLOCK, &mask, &old);
	int r = run_blocked(s, spec, o);
	sigprocmask(SIG_SETMASK, &old, NULL);
	return r;
}
