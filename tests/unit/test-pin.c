/* Pinning (pin.c) and the replay's policy (replay.c) without a run:
 * a tree pinned, pinned again to the same digest, restored byte for
 * byte; a limit and an exclusion; a record edited after it was sealed
 * and a recorded LD_PRELOAD refused unless forced. */
#include "config.h"
#include "tap.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hash.h"
#include "manifest.h"
#include "pin.h"
#include "record.h"
#include "replay.h"
#include "spec.h"
#include "statcache.h"
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

static int pin_tree(Store *s, const char *path, const PinAddOptions *opt,
                    unsigned char ret_md[SHA256_LEN], uint64_t *ret_files)
{
	Pinner *p = pinner_new(s, NULL);
	size_t i = 0;
	int r = pinner_add(p, path, opt, &i);
	if (r == 0)
		r = pinner_run(p, NULL, NULL);
	if (r == 0) {
		const PinRoot *root = pinner_root(p, i);
		memcpy(ret_md, root->digest, SHA256_LEN);
		*ret_files = root->files;
	}
	pinner_free(p);
	return r;
}

static void test_pin(const char *dir)
{
	_cleanup_free_ char *root = path_join(dir, "store");
	Store *s = NULL;
	is_int(store_open(root, true, &s, NULL), 0, "pin: a store");
	_cleanup_free_ char *tree = path_join(dir, "tree");
	_cleanup_free_ char *sub = path_join(tree, "sub");
	ok(mkdir(tree, 0755) == 0 && mkdir(sub, 0755) == 0, "pin: a tree");
	put_file(tree, "a.txt", "alpha\n");
	put_file(sub, "b.txt", "beta\n");
	_cleanup_free_ char *lnk = path_join(tree, "link");
	ok(symlink("a.txt", lnk) == 0, "pin: a symlink in it");

	unsigned char md1[SHA256_LEN], md2[SHA256_LEN];
	uint64_t files = 0;
	PinAddOptions opt = {0};
	is_int(pin_tree(s, tree, &opt, md1, &files), 0, "pin: pinned");
	is_int(files, 3, "pin: three entries (two files and the link)");
	is_int(pin_tree(s, tree, &opt, md2, &files), 0, "pin: pinned again");
	ok(memcmp(md1, md2, SHA256_LEN) == 0,
	   "pin: the same tree, the same digest");

	/* Restored from the store: the same bytes and the same link. */
	Manifest *m = NULL;
	is_int(manifest_load(s, md1, &m), 0, "pin: its manifest loads");
	_cleanup_free_ char *back = path_join(dir, "back");
	_cleanup_free_ char *err = NULL;
	is_int(materialize(s, m, false, NULL, back, MATERIALIZE_RESTORE, false,
	                   &err),
	       0, "pin: restored");
	_cleanup_free_ char *bb = path_join(back, "sub/b.txt");
	_cleanup_free_ char *text = NULL;
	size_t len = 0;
	ok(read_full_file(bb, 1024, &text, &len) == 0 && len == 5 &&
	           memcmp(text, "beta\n", 5) == 0,
	   "pin: a file's bytes come back");
	_cleanup_free_ char *bl = path_join(back, "link");
	char target[64] = "";
	ssize_t n = readlink(bl, target, sizeof target - 1);
	ok(n == 5 && strneq(target, "a.txt", 5), "pin: the link comes back");
	manifest_free(m);

	/* Another byte: another digest. An exclusion: a hole, also
	 * another digest. A limit below the tree: -EFBIG. */
	put_file(tree, "a.txt", "alphA\n");
	is_int(pin_tree(s, tree, &opt, md2, &files), 0, "pin: a changed tree");
	ok(memcmp(md1, md2, SHA256_LEN) != 0, "pin: ... another digest");
	char *excl[] = {sub, NULL};
	PinAddOptions ex = {.exclude = excl};
	is_int(pin_tree(s, tree, &ex, md2, &files), 0,
	       "pin: with an exclusion");
	is_int(files, 2, "pin: ... the excluded directory's file is left out");
	PinAddOptions lim = {.limit = 4};
	is_int(pin_tree(s, tree, &lim, md2, &files), -EFBIG,
	       "pin: over --workspace-limit: -EFBIG");
	store_free(s);
}

static void test_replay_policy(const char *dir)
{
	_cleanup_free_ char *rdir = path_join(dir, "run");
	ok(mkdir(rdir, 0755) == 0, "replay: a run directory");
	json_t *root = json_pack("{s:s,s:s}", "schema", RECORD_SCHEMA, "id",
	                         "12345678-aaaa-bbbb-cccc-1234567890ab");
	Record *rec = record_new(root, rdir);
	is_int(record_save(rec, false), 0, "replay: a sealed record");
	char **w = NULL;
	_cleanup_free_ char *why = NULL;
	is_int(replay_check_record(rec, false, &w, &why), 0,
	       "replay: a sealed record passes");
	ok(!w, "replay: ... without a warning");
	json_object_set_new(rec->root, "id", json_string("edited"));
	is_int(replay_check_record(rec, false, &w, &why), -EBADMSG,
	       "replay: an edited record is refused");
	ok(why && strstr(why, "--force"), "replay: ... saying --force");
	is_int(replay_check_record(rec, true, &w, &why), 0,
	       "replay: --force replays it");
	ok(w && strstr(w[0], "anyway"), "replay: ... with a warning");
	strv_free(w);
	w = NULL;

	RunSpec *spec = run_spec_new();
	spec->env_base = strv_push(NULL, "LD_PRELOAD=/tmp/evil.so");
	unsetenv("LD_PRELOAD");
	free(why);
	why = NULL;
	is_int(replay_check_loader(rec, spec, false, &w, &why), -EPERM,
	       "replay: a recorded LD_PRELOAD is refused");
	ok(why && strstr(why, "LD_PRELOAD"), "replay: ... naming it");
	setenv("LD_PRELOAD", "/tmp/evil.so", 1);
	is_int(replay_check_loader(rec, spec, false, &w, &why), 0,
	       "replay: the same value as here is no news");
	unsetenv("LD_PRELOAD");
	is_int(replay_check_loader(rec, spec, true, &w, &why), 0,
	       "replay: --force replays it");
	ok(w && strstr(w[0], "anyway"), "replay: ... with a warning");
	strv_free(w);
	run_spec_free(spec);
	record_free(rec);
}

int main(void)
{
	char tmpl[] = "/tmp/xrun-test-pin.XXXXXX";
	char *dir = mkdtemp(tmpl);
	ok(dir != NULL, "a scratch directory");
	test_pin(dir);
	test_replay_policy(dir);
	char *cmd = xasprintf("rm -rf '%s'", dir);
	ok(system(cmd) == 0, "cleaned up");
	free(cmd);
	return done_testing();
}
