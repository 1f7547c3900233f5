/* A replay's RunSpec from a record (replay.c:replay_spec), section by
 * section: the command and its seed, the recorded environment (a
 * redacted variable, xrun's own, the CPUs), the pinned files, the
 * outputs at their original paths, the sandbox as the original had it;
 * what the user is warned of; a record that cannot be replayed; and
 * the loader variables a replay refuses. */
#include "config.h"
#include "tap.h"

#include <unistd.h>

#include "hash.h"
#include "record.h"
#include "replay.h"
#include "runner.h"
#include "spec.h"
#include "util.h"

static const char record_text[] =
        "{\"id\": \"12345678-aaaa-bbbb-cccc-1234567890ab\","
        " \"name\": \"baseline\","
        " \"tags\": {\"team\": \"vision\"},"
        " \"params\": {\"lr\": 0.1, \"layers\": 3},"
        " \"seed\": {\"value\": \"42\", \"source\": \"generated\"},"
        " \"command\": {\"argv\": [\"/bin/sh\", \"-c\", \"true\"],"
        "   \"cwd\": \"/tmp\", \"executable\": {\"path\": \"/bin/sh\","
        "   \"sha256\": \"sha256:0\"}},"
        " \"environment\": {\"variables\": {\"PATH\": \"/usr/bin:/bin\","
        "   \"API_TOKEN\": {\"redacted\": \"sha256:00\"}},"
        "   \"set_by_xrun\": {\"XRUN_RUN_ID\": \"seen-id\","
        "   \"XRUN_OUTPUT\": \"/tmp/xrun-first-out\"}},"
        " \"determinism\": {\"deterministic\": true, \"variables\":"
        "   {\"CUBLAS_WORKSPACE_CONFIG\": \":4096:8\","
        "   \"PYTHONHASHSEED\": \"42\"}},"
        " \"threads\": {\"affinity\": {\"count\": 2, \"list\": \"0-1\"}},"
        " \"source\": {\"workspace\": {\"path\": \"/tmp/ws\"},"
        "   \"git\": {\"commit\": \"abc\"}},"
        " \"outputs\": [{\"path\": \"/tmp/xrun-model\", \"kind\": \"file\","
        "   \"before\": {\"path\": \"/tmp/xrun-model\", \"files\": 0}},"
        "   {\"path\": \"relative\", \"kind\": \"directory\"}],"
        " \"sandbox\": {\"enabled\": false, \"network\": \"host\","
        "   \"home\": {\"private\": true,"
        "   \"ro\": [\"/etc\", \"/nonexistent-xrun-ro\"]},"
        "   \"limits\": {\"memory_bytes\": 1048576, \"pids\": 64,"
        "   \"timeout_s\": 2.5}},"
        " \"result\": {\"stdout\": {\"sha256\": \"sha256:1\"}}}";

static Record *record_of(const char *text)
{
	json_error_t e;
	json_t *root = json_loads(text, 0, &e);
	if (!root)
		printf("# %s\n", e.text);
	return root ? record_new(root, "/tmp") : NULL;
}

static bool has_line(char **v, const char *a, const char *b)
{
	for (char **p = v; p && *p; p++)
		if (strstr(*p, a) && (!b || strstr(*p, b)))
			return true;
	return false;
}

static void test_spec(void)
{
	Record *rec = record_of(record_text);
	ok(rec != NULL, "spec: a record");
	RunSpec *spec = NULL;
	char **w = NULL;
	char *err = NULL;
	is_int(replay_spec(rec, NULL, &spec, &w, &err), 0, "spec: made");
	if (!spec)
		return;
	/* The command, its seed, params, name and tags. */
	ok(strv_length(spec->argv) == 3 && streq(spec->argv[2], "true"),
	   "command: argv");
	is_str(spec->cwd, "/tmp", "command: cwd");
	ok(spec->has_seed && spec->seed == 42 &&
	           spec->seed_source == SEED_REPLAY,
	   "command: the recorded seed, as a replay's");
	ok(json_equal(spec->params, json_object_get(rec->root, "params")),
	   "command: the params");
	is_str(spec->name, "baseline", "command: the name");
	is_str(json_get_string(spec->tags, "team"), "vision",
	       "command: the tags");
	is_str(spec->replay_of, record_id(rec), "command: replay_of");
	_cleanup_free_ char *sh = NULL;
	ok(sha256_file("/bin/sh", &sh, NULL) == 0 &&
	           streq(json_get_string(json_object_get(spec->command_json,
	                                                 "executable"),
	                                 "sha256")
	                         ?: "",
	                 sh),
	   "command: the executable hashed again, as it is here");
	is_str(spec->command ? spec->command->executable : NULL, "/bin/sh",
	       "command: the program as the record resolved it");

	/* The environment. */
	is_str(strv_env_get(spec->env_base, "PATH"), "/usr/bin:/bin",
	       "environment: the recorded one");
	ok(!strv_env_get(spec->env_base, "API_TOKEN"),
	   "environment: a redacted variable is not made up");
	ok(has_line(w, "API_TOKEN was redacted", "-e KEY=VALUE"),
	   "environment: ... and the warning says to give it with -e");
	is_str(strv_env_get(spec->env_xrun, "CUBLAS_WORKSPACE_CONFIG"),
	       ":4096:8", "environment: xrun's determinism switches again");
	ok(!strv_env_get(spec->env_xrun, "PYTHONHASHSEED"),
	   "environment: PYTHONHASHSEED comes from the seed, not from here");
	ok(spec->deterministic, "environment: --deterministic");
	ok(spec->affinity_count == 2 && streq(spec->affinity_list, "0-1"),
	   "environment: as many CPUs as the original");

	/* The pinned files and the outputs. */
	is_str(json_get_string(json_object_get(spec->pinned, "workspace"),
	                       "path"),
	       "/tmp/ws", "pins: the record's workspace");
	ok(json_is_array(json_object_get(spec->pinned, "inputs")) &&
	           json_array_size(json_object_get(spec->pinned, "inputs")) ==
	                   0,
	   "pins: no inputs: an empty list");
	is_str(json_get_string(spec->source_git, "commit"), "abc",
	       "pins: the git state they were pinned in");
	ok(spec->outputs_redirected, "outputs: kept in the replay's run");
	is_int(strv_length(spec->outputs), 2,
	       "outputs: XRUN_OUTPUT and the recorded one (not the "
	       "relative path)");
	is_str(spec->outputs[0], "/tmp/xrun-first-out",
	       "outputs: the first -o, which no output recorded, first");
	ok(json_is_null(json_array_get(spec->output_before, 0)),
	   "outputs: ... starting empty");
	is_str(spec->outputs[1], "/tmp/xrun-model",
	       "outputs: the recorded one");
	ok(spec->output_is_file[1] && !spec->output_is_file[0],
	   "outputs: a file stays a file");
	ok(json_is_object(json_array_get(spec->output_before, 1)),
	   "outputs: ... from the original's before tree");
	is_str(spec->program_run_id, "seen-id",
	       "outputs: the XRUN_RUN_ID the program saw");

	/* The sandbox. */
	ok(has_line(w, "without the sandbox", NULL),
	   "sandbox: a warning that the original ran without it");
	ok(spec->net && !spec->gpu && !spec->host_home,
	   "sandbox: the network, no GPU, a private home");
	ok(strv_length(spec->ro) == 1 && streq(spec->ro[0], "/etc"),
	   "sandbox: --ro paths that exist here");
	ok(has_line(w, "/nonexistent-xrun-ro", "gone from this host"),
	   "sandbox: ... and a warning for one that is gone");
	ok(spec->memory == 1048576 && spec->pids == 64 &&
	           spec->timeout_s == 2.5,
	   "sandbox: the limits");
	is_str(json_get_string(spec->verify_against, "id"), record_id(rec),
	       "verify: against the original");
	ok(spec->stages == &replay_stages, "stages: a replay's");
	strv_free(w);
	w = NULL;
	run_spec_free(spec);
	spec = NULL;

	/* -e gives a redacted value: no warning unless it differs. */
	char token[] = "API_TOKEN=secret";
	char *env_set[] = {token, NULL};
	is_int(replay_spec(rec, env_set, &spec, &w, &err), 0,
	       "environment: -e API_TOKEN=...");
	ok(!has_line(w, "API_TOKEN was redacted", NULL) &&
	           has_line(w, "API_TOKEN with -e is not the original's", NULL),
	   "environment: ... a value whose digest differs is said");
	is_str(strv_env_get(spec->env_set, "API_TOKEN"), "secret",
	       "environment: ... and set");
	strv_free(w);
	w = NULL;
	run_spec_free(spec);
	spec = NULL;
	record_free(rec);
}

static void test_bad_records(void)
{
	Record *rec = record_of("{\"id\": \"x\", \"seed\": {\"value\": \"1\"},"
	                        " \"command\": {\"cwd\": \"/\"}}");
	RunSpec *spec = NULL;
	char **w = NULL;
	char *err = NULL;
	is_int(replay_spec(rec, NULL, &spec, &w, &err), -EBADMSG,
	       "bad: no argv");
	ok(err && strstr(err, "lacks the command's argv"), "bad: ... said");
	ok(!spec, "bad: ... and no spec");
	free(err);
	err = NULL;
	record_free(rec);

	rec = record_of("{\"id\": \"x\", \"seed\": {\"value\": \"1\"},"
	                " \"command\": {\"cwd\": \"/\", \"argv\": [\"p\"],"
	                " \"executable\": {\"path\": \"/nonexistent/p\"}}}");
	is_int(replay_spec(rec, NULL, &spec, &w, &err), -ENOENT,
	       "bad: a program gone from this machine");
	ok(err && strstr(err, "cannot read the program's executable") &&
	           strstr(err, "/nonexistent/p"),
	   "bad: ... named");
	free(err);
	record_free(rec);
}

static void test_loader_variables(void)
{
	RunSpec *spec = run_spec_new();
	spec->env_base = strv_push(NULL, "LD_PRELOAD=/tmp/a.so");
	spec->env_xrun = strv_push(NULL, "LD_AUDIT=/tmp/b.so");
	unsetenv("LD_PRELOAD");
	unsetenv("LD_AUDIT");
	size_t pos = 0;
	is_str(replay_loader_variable(spec, &pos), "LD_PRELOAD",
	       "loader: the recorded LD_PRELOAD first");
	is_str(replay_loader_variable(spec, &pos), "LD_AUDIT",
	       "loader: then xrun's LD_AUDIT");
	ok(!replay_loader_variable(spec, &pos), "loader: then none");
	setenv("LD_PRELOAD", "/tmp/a.so", 1);
	pos = 0;
	is_str(replay_loader_variable(spec, &pos), "LD_AUDIT",
	       "loader: the same value as here is no news");
	unsetenv("LD_PRELOAD");
	run_spec_free(spec);
}

int main(void)
{
	test_spec();
	test_bad_records();
	test_loader_variables();
	return done_testing();
}
