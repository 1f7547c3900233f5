/* A run's pins (run-pins.c) without a run: the workspace and the
 * inputs pinned into a store, what the record says of them, the views a
 * sandbox is planned with, a replay's restore of the same record, and
 * the errors a user sees (a missing input, a workspace over its limit,
 * a replay without the sandbox). */
#include "config.h"
#include "tap.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "run-pins.h"
#include "sandbox.h"
#include "spec.h"
#include "store.h"
#include "util.h"

static void put_file(const char *dir, const char *name, const char *text)
{
	_cleanup_free_ char *p = path_join(dir, name);
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd >= 0) {
		(void)write_all(fd, text, strlen(text));
		close(fd);
	}
}

static const json_t *input_at(const json_t *rec, const char *path)
{
	size_t i;
	json_t *in;
	json_array_foreach (json_object_get(rec, "inputs"), i, in)
		if (streq(json_get_string(in, "path") ?: "", path))
			return in;
	return NULL;
}

static const MountStep *mount_at(const Sandbox *sb, const char *dest)
{
	for (size_t i = 0; i < sb->n_mounts; i++)
		if (streq(sb->mounts[i].dest, dest))
			return &sb->mounts[i];
	return NULL;
}

int main(void)
{
	char tmpl[] = "/tmp/xrun-test-run-pins.XXXXXX";
	char *dir = mkdtemp(tmpl);
	ok(dir != NULL, "a scratch directory");
	/* A workspace holding its store, two nested inputs and one read by
	 * reference. */
	_cleanup_free_ char *ws = path_join(dir, "ws");
	_cleanup_free_ char *data = path_join(ws, "data");
	_cleanup_free_ char *sub = path_join(data, "sub");
	_cleanup_free_ char *ref = path_join(ws, "ref");
	ok(mkdir(ws, 0755) == 0 && mkdir(data, 0755) == 0 &&
	           mkdir(sub, 0755) == 0 && mkdir(ref, 0755) == 0,
	   "a workspace with data/, data/sub/ and ref/");
	put_file(ws, "train.py", "print('hi')\n");
	put_file(data, "x.bin", "xx");
	put_file(sub, "y.bin", "yyy");
	put_file(ref, "z.txt", "zzzz");
	_cleanup_free_ char *root = path_join(ws, ".xrun");
	Store *s = NULL;
	is_int(store_open(root, true, &s, NULL), 0, "a store in it");

	RunSpec *spec = run_spec_new();
	spec->cwd = xstrdup(ws);
	/* The nested one first: pins take parents first whatever the
	 * order given. */
	spec->inputs = strv_push(strv_push(NULL, sub), data);
	spec->input_refs = strv_push(NULL, ref);

	RunPins *p = NULL;
	_cleanup_free_ char *err = NULL;
	is_int(run_pins_prepare(s, spec, NULL, NULL, NULL, "run-1", NULL, NULL,
	                        &p, &err),
	       0, "prepare: pinned without a sandbox");
	json_auto_t *rec = json_pack("{s:{}}", "source");
	run_pins_record(p, rec);
	const json_t *w =
	        json_object_get(json_object_get(rec, "source"), "workspace");
	is_str(json_get_string(w, "path"), ws, "record: the workspace's path");
	is_int(json_integer_value(json_object_get(w, "files")), 1,
	       "record: the workspace holds train.py alone (not the store, "
	       "not the inputs)");
	is_str(json_get_string(w, "listed_by"), "directory",
	       "record: outside git the directory lists it");
	is_int(json_array_size(json_object_get(rec, "inputs")), 3,
	       "record: three inputs");
	const json_t *in_data = input_at(rec, data);
	const json_t *in_sub = input_at(rec, sub);
	const json_t *in_ref = input_at(rec, ref);
	ok(in_data && in_sub && in_ref, "record: each input by its path");
	is_int(json_integer_value(json_object_get(in_data, "files")), 1,
	       "record: data/ leaves a hole for data/sub/");
	is_int(json_integer_value(json_object_get(in_sub, "bytes")), 3,
	       "record: data/sub/ holds its 3 bytes");
	is_str(json_get_string(in_ref, "storage"), "referenced",
	       "record: --input-ref is referenced");
	is_str(json_get_string(in_data, "storage"), "stored",
	       "record: --input is stored");
	ok(!run_pins_warnings(p), "prepare: no warning");
	run_pins_free(p);
	p = NULL;

	/* With a sandbox: a read-only view over each root; a referenced
	 * one is bound from its place. */
	_cleanup_sandbox_ Sandbox *sb = sandbox_new();
	is_int(run_pins_prepare(s, spec, NULL, sb, NULL, "run-2", NULL, NULL,
	                        &p, &err),
	       0, "views: pinned with a sandbox");
	is_int(sb->n_mounts, 4, "views: one mount per pinned root");
	const MountStep *m = mount_at(sb, data);
	ok(m && m->kind == MOUNT_RO_BIND && !streq(m->source, data),
	   "views: data/ is a read-only view from the store");
	_cleanup_free_ char *xv = m ? path_join(m->source, "x.bin") : NULL;
	_cleanup_free_ char *text = NULL;
	size_t len = 0;
	ok(xv && read_full_file(xv, 64, &text, &len) == 0 && len == 2 &&
	           memcmp(text, "xx", 2) == 0,
	   "views: the view holds data/'s bytes");
	m = mount_at(sb, ref);
	ok(m && streq(m->source, ref), "views: ref/ is bound from its place");
	run_pins_free(p);
	p = NULL;

	/* A replay restores what the record says, and records it again as
	 * the original did. */
	RunSpec *rs = run_spec_new();
	rs->cwd = xstrdup(ws);
	rs->pinned = json_pack("{s:O,s:O}", "workspace", w, "inputs",
	                       json_object_get(rec, "inputs"));
	free(err);
	err = NULL;
	is_int(run_pins_restore(s, rs, NULL, NULL, "run-3", &p, &err), -EINVAL,
	       "restore: refused without a sandbox");
	is_str(err, "a replay needs the sandbox", "restore: ... saying so");
	run_pins_free(p);
	p = NULL;
	free(err);
	err = NULL;
	_cleanup_sandbox_ Sandbox *sb2 = sandbox_new();
	is_int(run_pins_restore(s, rs, NULL, sb2, "run-3", &p, &err), 0,
	       "restore: the record's pins");
	ok(mount_at(sb2, data) && mount_at(sb2, ws),
	   "restore: views over the workspace and the inputs");
	json_auto_t *again = json_pack("{s:{}}", "source");
	run_pins_record(p, again);
	ok(json_equal(json_object_get(again, "inputs"),
	              json_object_get(rec, "inputs")) &&
	           json_equal(json_object_get(json_object_get(again, "source"),
	                                      "workspace"),
	                      (json_t *)w),
	   "restore: recorded as the original was");
	run_pins_free(p);
	p = NULL;
	run_spec_free(rs);

	/* What the user is told. */
	_cleanup_free_ char *gone = path_join(ws, "gone");
	RunSpec *bad = run_spec_new();
	bad->cwd = xstrdup(ws);
	bad->inputs = strv_push(NULL, gone);
	free(err);
	err = NULL;
	is_int(run_pins_prepare(s, bad, NULL, NULL, NULL, "run-4", NULL, NULL,
	                        &p, &err),
	       -ENOENT, "errors: a missing input");
	ok(err && strstr(err, "cannot pin input") && strstr(err, gone),
	   "errors: ... named");
	run_pins_free(p);
	p = NULL;
	strv_free(bad->inputs);
	bad->inputs = NULL;
	bad->workspace_limit = 4;
	free(err);
	err = NULL;
	is_int(run_pins_prepare(s, bad, NULL, NULL, NULL, "run-5", NULL, NULL,
	                        &p, &err),
	       -EFBIG, "errors: a workspace over its limit");
	ok(err && strstr(err, "--workspace-limit") && strstr(err, "--input"),
	   "errors: ... with what to do");
	run_pins_free(p);
	run_spec_free(bad);

	run_spec_free(spec);
	store_free(s);
	char *cmd = xasprintf("rm -rf '%s'", dir);
	ok(system(cmd) == 0, "cleaned up");
	free(cmd);
	return done_testing();
}
