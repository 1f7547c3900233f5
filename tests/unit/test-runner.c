/* The runner's stages (runner.c) and the stage sets that tell a run, a
 * sweep's task and a replay apart: what each stage leaves behind when it
 * fails, and that a run that got as far as its start record is kept. */
#include "config.h"
#include "tap.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "record.h"
#include "replay.h"
#include "runner.h"
#include "spec.h"
#include "store.h"
#include "util.h"

static int count_runs(const Store *s)
{
	DIR *d = opendir(s->runs);
	if (!d)
		return -1;
	int n = 0;
	struct dirent *de;
	while ((de = readdir(d)))
		n += de->d_name[0] != '.';
	closedir(d);
	return n;
}

static RunSpec *spec_for(const char *dir, char *const *argv)
{
	RunSpec *s = run_spec_new();
	s->argv = strv_copy(argv);
	s->cwd = xstrdup(dir);
	/* The unit tests run where a sandbox may not be had; the stages
	 * around it are what is tested here. */
	s->no_sandbox = true;
	return s;
}

int main(void)
{
	char tmpl[] = "/tmp/xrun-test-runner.XXXXXX";
	char *dir = mkdtemp(tmpl);
	ok(dir != NULL, "a scratch directory");
	_cleanup_free_ char *root = path_join(dir, ".xrun");
	Store *s = NULL;
	is_int(store_open(root, true, &s, NULL), 0, "a new store");

	/* The stage sets: fresh for run, restored pins for a sweep's task,
	 * restored pins, recorded outputs and a verification for a
	 * replay. */
	ok(run_stages_fresh.host_cwd && run_stages_fresh.probe_git &&
	           !run_stages_fresh.verify && !run_stages_fresh.plan_last,
	   "run: the host's cwd, git asked, nothing after the program");
	ok(run_stages_pinned.pin == runner_pin_restored &&
	           run_stages_pinned.outputs == run_stages_fresh.outputs &&
	           !run_stages_pinned.host_cwd,
	   "a sweep's task: pins restored, outputs checked on the host");
	ok(replay_stages.pin == runner_pin_restored && replay_stages.verify &&
	           !replay_stages.probe_git && !replay_stages.host_cwd &&
	           replay_stages.outputs != run_stages_fresh.outputs,
	   "a replay: pins restored, its own outputs, a verification");

	/* A replay's outputs stage refuses to run without the sandbox. */
	_cleanup_run_spec_ RunSpec *rs = run_spec_new();
	rs->no_sandbox = true;
	char **outs = NULL;
	_cleanup_free_ char *why = NULL;
	is_int(replay_stages.outputs(rs, &outs, &why), -EINVAL,
	       "a replay's outputs need the sandbox");
	ok(why && strstr(why, "needs the sandbox"), "... and it says so");
	rs->no_sandbox = false;
	rs->outputs = strv_push(NULL, "/nonexistent/out");
	is_int(replay_stages.outputs(rs, &outs, &why), 0,
	       "a replay's outputs are taken as recorded");
	is_str(outs ? outs[0] : NULL, "/nonexistent/out",
	       "... never looked for on the host");
	strv_free(outs);

	/* resolve_command fails: 127, and no run directory. */
	RunOutcome o;
	char nf[] = "xrun-no-such-program-here";
	char *notfound[] = {nf, NULL};
	_cleanup_run_spec_ RunSpec *s1 = spec_for(dir, notfound);
	ok(runner_run(s, s1, &o) < 0, "a missing program fails the run");
	is_int(o.exit_status, 127, "... with 127");
	ok(o.error && strstr(o.error, "command not found"),
	   "... saying 'command not found'");
	ok(!o.id, "... before any run directory");
	is_int(count_runs(s), 0, "... and none is left");
	run_outcome_clear(&o);

	/* prepare_outputs fails: an output through a symlink. */
	_cleanup_free_ char *link = path_join(dir, "link");
	ok(symlink("/tmp", link) == 0, "a symlink to /tmp");
	_cleanup_free_ char *out = path_join(link, "out");
	char tr[] = "/bin/true";
	char *truth[] = {tr, NULL};
	_cleanup_run_spec_ RunSpec *s2 = spec_for(dir, truth);
	is_int(run_spec_add_output(s2, out, dir), 0, "-o through the symlink");
	ok(runner_run(s, s2, &o) < 0, "an output through a symlink fails");
	is_int(o.exit_status, 125, "... with 125");
	is_int(count_runs(s), 0, "... leaving no run directory");
	run_outcome_clear(&o);

	/* All stages: a run that ran is recorded, final. */
	char a0[] = "/bin/sh", a1[] = "-c", a2[] = "echo hi; exit 3";
	char *sh[] = {a0, a1, a2, NULL};
	_cleanup_run_spec_ RunSpec *s3 = spec_for(dir, sh);
	s3->has_seed = true;
	s3->seed = 42;
	is_int(runner_run(s, s3, &o), 0, "a program that ran: 0");
	is_int(o.exit_code, 3, "its exit code");
	is_int(o.exit_status, 3, "xrun's exit status is the program's");
	is_str(o.status, "failed", "status failed");
	is_int(count_runs(s), 1, "one run directory");
	Record *rec = NULL;
	_cleanup_free_ char *err = NULL;
	ok(o.record_path && record_load(o.record_path, &rec, &err) == 0,
	   "its record loads");
	if (rec) {
		is_str(json_string_value(json_object_get(rec->root, "status")),
		       "failed", "the record is final");
		is_str(json_string_value(json_object_get(
		               json_object_get(rec->root, "seed"), "value")),
		       "42", "the seed given is the seed recorded");
		is_int(json_integer_value(json_object_get(
		               json_object_get(
		                       json_object_get(rec->root, "result"),
		                       "stdout"),
		               "bytes")),
		       3, "stdout captured");
	}
	record_free(rec);
	run_outcome_clear(&o);

	/* A file without x: refused when the command is resolved (no run
	 * directory) or at execve (recorded as failed), 126 either way. */
	_cleanup_free_ char *noexec = path_join(dir, "noexec");
	int fd = open(noexec, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	ok(fd >= 0 && write(fd, "#!/bin/sh\n", 10) == 10, "a script");
	if (fd >= 0)
		close(fd);
	char *ne[] = {noexec, NULL};
	_cleanup_run_spec_ RunSpec *s4 = spec_for(dir, ne);
	int r = runner_run(s, s4, &o);
	ok(r < 0, "a file that cannot be executed fails the run");
	is_int(o.exit_status, 126, "... with 126");
	is_int(count_runs(s), 1 + (o.id != NULL),
	       "... recorded only once its start record was written");
	run_outcome_clear(&o);

	char *cmd = xasprintf("rm -rf '%s'", dir);
	ok(system(cmd) == 0, "cleaned up");
	free(cmd);
	store_free(s);
	return done_testing();
}
