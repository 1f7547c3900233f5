#include "config.h"

#include "run-record.h"

#include <errno.h>
#include <fcntl.h>
#include <gnu/libc-version.h>
#include <inttypes.h>
#include <stdarg.h>
#include <sys/wait.h>
#include <unistd.h>

#include "attest.h"
#include "capture.h"
#include "util.h"

extern char **environ;

int run_outcome_fail(RunOutcome *o, int r, int exit_status, const char *fmt,
                     ...)
{
	va_list ap;
	errno = r < 0 ? -r : r; /* for %m */
	va_start(ap, fmt);
	char *s = xvasprintf(fmt, ap);
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
char **env_put(char **env, const char *entry)
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
char **user_environment(const RunSpec *spec)
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
json_t *xrun_variables(const RunSpec *spec, const char *id, const char *dir,
                       uint64_t seed, char *const *env, RunOutcome *o)
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
				run_outcome_warn(
				        o,
				        "param '%s' is %zu bytes, too big for "
				        "the "
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

int write_params(const RunSpec *spec, const char *dir)
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
	int r = run_file_create(dir, "params.json", 0, &fd);
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

/* The record's "command": the program as resolved (or as a replay's
 * record has it), argv, cwd, -e (redacted) and --params. */
static int command_section(const StartFacts *f, RunOutcome *o, json_t **ret)
{
	const RunSpec *spec = f->spec;
	json_t *command = NULL;
	int r = 0;
	if (spec->command_json)
		command = json_deep_copy(spec->command_json);
	else
		r = command_to_json(f->cmd, f->cache, &command);
	if (r < 0)
		return run_outcome_fail(o, r, 126, "cannot read '%s': %m",
		                        f->cmd->executable);
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
	*ret = command;
	return 0;
}

/* "host" and "software": what cannot be captured is a warning and an
 * empty section. */
static void host_and_software(const StartFacts *f, RunOutcome *o, json_t *rec)
{
	const Command *cmd = f->cmd;
	json_t *host = NULL;
	int r = capture_host(f->store_cache, &host);
	if (r < 0) {
		run_outcome_warn(o, "cannot capture the host description: %s",
		                 strerror(-r));
		host = json_object();
	}
	json_object_set_new(rec, "host", host);

	SoftwareQuery q = {
	        .executable = cmd->script && !cmd->interpreter ? cmd->executable
	                                                       : cmd->path,
	        .interpreter = cmd->interpreter ? cmd->executable : NULL,
	        .python = cmd->python,
	        .envp = f->user_env,
	        .cwd = f->spec->cwd,
	        .cache_dir = f->store_cache,
	};
	json_t *sw = NULL;
	r = capture_software(&q, &sw);
	if (r < 0) {
		run_outcome_warn(o, "cannot capture the software in use: %s",
		                 strerror(-r));
		sw = json_object();
	}
	json_object_set_new(rec, "software", sw);
}

/* "source": the git probe's answer (git is consumed), or a replay's
 * source.git; the workspace comes with the pins. */
static json_t *source_section(const StartFacts *f, GitProbe *git, RunOutcome *o)
{
	json_t *source = NULL;
	int r = git ? git_probe_finish(git, &source) : -ENOENT;
	if (r < 0 && git)
		run_outcome_warn(o, "cannot read the git state: %s",
		                 strerror(-r));
	if (r < 0)
		source = json_pack("{s:n}", "git");
	if (f->spec->source_git) /* a replay's: the pinned workspace's */
		json_object_set(source, "git", f->spec->source_git);
	json_object_set_new(source, "workspace", json_null());
	return source;
}

/* Build the whole start record; fields the program's end decides are
 * null until finalize. */
int build_start_record(const StartFacts *f, RunOutcome *o, json_t **ret)
{
	const RunSpec *spec = f->spec;
	GitProbe *git = f->git;
	json_auto_t *rec = json_object();
	_cleanup_free_ char *created = format_rfc3339(now_ns());
	json_object_set_new(rec, "schema", json_string(RECORD_SCHEMA));
	json_object_set_new(rec, "id", json_string(f->id));
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
		return run_outcome_fail(o, r, 125,
		                        "cannot read this process's identity "
		                        "from /proc: %m; is /proc mounted?");
	}
	json_object_set_new(rec, "launcher", launcher);

	json_t *command = NULL;
	r = command_section(f, o, &command);
	if (r < 0) {
		git_probe_free(git);
		return r;
	}
	json_object_set_new(rec, "command", command);

	_cleanup_free_ char *seedstr = xasprintf("%" PRIu64, f->seed);
	json_object_set_new(
	        rec, "seed",
	        json_pack("{s:s,s:s}", "value", seedstr, "source",
	                  seed_source_to_string(spec->seed_source)));
	json_object_set(rec, "params", spec->params);

	/* Filled in last (the key keeps its place in the record). */
	json_object_set_new(rec, "environment", json_null());
	host_and_software(f, o, rec);
	json_object_set_new(rec, "source", source_section(f, git, o));
	json_object_set_new(rec, "inputs", json_array());
	json_object_set_new(rec, "outputs", json_array());
	json_object_set(rec, "sandbox", f->sandbox);
	json_object_set_new(rec, "result", json_null());
	json_object_set_new(rec, "xrun", xrun_section(f->cache));

	json_t *env = NULL;
	r = capture_environment(f->user_env, &env);
	if (r < 0)
		return run_outcome_fail(o, r, 125,
		                        "cannot capture the environment: %m");
	json_object_set_new(env, "set_by_xrun", json_incref(f->xvars));
	json_object_set_new(rec, "environment", env);
	json_object_set_new(rec, "determinism",
	                    determinism_json(spec, f->xvars));
	*ret = json_incref(rec);
	return 0;
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

/* The captured streams, when the program never ran (the sandbox may
 * still have said something). */
void stdio_results(json_t *rec, Supervised *x)
{
	json_t *res = json_object_get(rec, "result");
	json_object_set_new(res, "stdout", stream_json("stdout", &x->out));
	json_object_set_new(res, "stderr", stream_json("stderr", &x->err));
}

void finalize_record(json_t *rec, Supervised *x, const char *dir, RunOutcome *o)
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
		run_outcome_warn(
		        o,
		        "%d line%s of '%s' %s not a JSON object and %s skipped",
		        malformed, malformed == 1 ? "" : "s", mpath,
		        malformed == 1 ? "is" : "are",
		        malformed == 1 ? "was" : "were");
	/* Output the store could not keep: the run's exit status says so
	 * (125), and the record how much it holds. */
	const Stream *const streams[] = {&x->out, &x->err};
	for (size_t i = 0; i < ELEMENTSOF(streams); i++)
		if (streams[i]->error && !o->error)
			run_outcome_fail(
			        o, streams[i]->error, 125,
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
void finalize_not_started(json_t *rec, int exit_code, const char *cause)
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
void sign_record(const Record *rec, RunOutcome *o)
{
	static bool warned; /* once for the start and the final record */
	int r = record_sign(rec);
	if (r < 0 && !warned) {
		warned = true;
		run_outcome_warn(o,
		                 "cannot sign the record '%s': %s; check "
		                 "XRUN_SIGNING_KEY "
		                 "or the store's keys/signing.pem",
		                 rec->path, strerror(-r));
	}
}

/* A save after the start record: when it fails, the record on disk
 * still reads running, and the caller must not say otherwise. */
void save_final(Record *rec, RunOutcome *o)
{
	if (record_save(rec, true) < 0)
		o->record_lost = true;
	else
		sign_record(rec, o);
}
