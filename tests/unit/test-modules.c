/* Unit tests of modules the integration tests reach only through whole
 * runs: the stat cache (statcache.c), a sweep's grid (sweep.c), the
 * object references of records (refs.c), the run's cgroup (cgroup.c,
 * where this machine lets us make one), the runs of one sweep
 * (runset.c) and the text show and report share (format.c). */
#include "config.h"
#include "tap.h"

#include <ctype.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cgroup.h"
#include "hash.h"
#include "record.h"
#include "format.h"
#include "refs.h"
#include "runset.h"
#include "spec.h"
#include "statcache.h"
#include "store.h"
#include "sweep.h"
#include "util.h"

static void put_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd >= 0) {
		(void)write_all(fd, text, strlen(text));
		close(fd);
	}
}

static void test_statcache(const char *dir)
{
	_cleanup_free_ char *cache = path_join(dir, "cache");
	_cleanup_free_ char *f = path_join(dir, "f");
	ok(mkdir(cache, 0755) == 0, "statcache: a cache directory");
	put_file(f, "hello\n");
	StatCache *c = stat_cache_new(cache);
	char *d = NULL;
	uint64_t size = 0;
	is_int(stat_cache_hash(c, f, &d, &size), 0, "statcache: hash a file");
	is_str(d,
	       "sha256:5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2"
	       "e846f6be03",
	       "statcache: its SHA-256");
	is_int(size, 6, "statcache: its size");
	free(d);
	/* Another content under the same name: a new stat key, a new
	 * digest (never the cached one). */
	put_file(f, "bye\n");
	d = NULL;
	is_int(stat_cache_hash(c, f, &d, NULL), 0, "statcache: hash again");
	ok(d && !strstr(d, "5891b5b5"), "statcache: a changed file is re-read");
	free(d);
	is_int(stat_cache_save(c), 0, "statcache: saved");
	stat_cache_free(c);
	_cleanup_free_ char *missing = path_join(dir, "nope");
	c = stat_cache_new(NULL);
	d = NULL;
	is_int(stat_cache_hash(c, missing, &d, NULL), -ENOENT,
	       "statcache: a missing file is -ENOENT");
	struct stat st;
	unsigned char md[SHA256_LEN];
	bool stored = true;
	ok(stat(f, &st) == 0 && !stat_cache_lookup(c, &st, md, &stored),
	   "statcache: without a cache directory nothing is remembered");
	stat_cache_free(c);
}

static void test_grid(void)
{
	Grid *g = grid_new();
	is_int(grid_size(g), 0, "grid: empty");
	is_int(grid_add_list(g, "lr=0.1,0.01"), 0, "grid: -p lr=0.1,0.01");
	is_int(grid_add_list(g, "opt=adam,sg\\,d"), 0,
	       "grid: a comma inside a value");
	is_int(grid_add_list(g, "lr=1"), -EEXIST, "grid: a key twice");
	is_int(grid_add_list(g, "novalues"), -EINVAL, "grid: no '='");
	is_int(grid_size(g), 4, "grid: 2 x 2 combinations");
	json_t *c = grid_combination(g, 1);
	ok(json_real_value(json_object_get(c, "lr")) == 0.1,
	   "grid: the first key varies slowest");
	is_str(json_string_value(json_object_get(c, "opt")), "sg,d",
	       "grid: the last fastest, the escape undone");
	json_decref(c);
	grid_free(g);
}

static void test_param_assignment(void)
{
	char *key = NULL;
	const char *value = NULL;
	is_int(param_assignment("lr=0.1=x", &key, &value), 0,
	       "params: KEY=VALUE");
	ok(key && streq(key, "lr") && streq(value, "0.1=x"),
	   "params: ... split at the first '='");
	free(key);
	key = NULL;
	is_int(param_assignment("=1", &key, &value), -EINVAL, "params: no key");
	is_int(param_assignment("a b=1", &key, &value), -EINVAL,
	       "params: a key with a space");
	is_int(param_assignment("lr", &key, &value), -EINVAL, "params: no '='");
	ok(!key, "params: nothing allocated on refusal");
}

static Record *sweep_run(const char *sweep, const char *index)
{
	json_t *root = json_pack("{s:s,s:{s:s,s:s}}", "id", index, "tags",
	                         "sweep", sweep, "sweep_index", index);
	return record_new(root, "/tmp");
}

static void test_runset_sweep(void)
{
	/* Two sweeps and a run of none, the sweep's runs out of order. */
	Record **v = xcalloc(5, sizeof *v);
	v[0] = sweep_run("aaaa1111", "2");
	v[1] = sweep_run("bbbb2222", "0");
	v[2] = sweep_run("aaaa1111", "0");
	v[3] = record_new(json_pack("{s:s}", "id", "solo"), "/tmp");
	v[4] = sweep_run("aaaa1111", "1");
	size_t n = 5;
	char *id = NULL, *err = NULL;
	is_int(runset_keep_sweep(v, &n, "", &id, &err), -ENOTUNIQ,
	       "sweep: a prefix of two sweeps");
	ok(err && strstr(err, "ambiguous") && strstr(err, "give more"),
	   "sweep: ... said, with what to do");
	is_int(n, 5, "sweep: ... and the runs left as they were");
	free(err);
	err = NULL;
	is_int(runset_keep_sweep(v, &n, "cccc", &id, &err), -ENOENT,
	       "sweep: no such sweep");
	ok(!err && n == 5, "sweep: ... the caller says where to look");
	is_int(runset_keep_sweep(v, &n, "aaaa", &id, &err), 0,
	       "sweep: one sweep by a prefix");
	is_str(id, "aaaa1111", "sweep: ... its whole id");
	ok(n == 3 && runset_sweep_index(v[0]) == 0 &&
	           runset_sweep_index(v[1]) == 1 &&
	           runset_sweep_index(v[2]) == 2,
	   "sweep: its runs, in the sweep's order");
	records_free(v, n);
	Record *solo = record_new(json_pack("{s:s}", "id", "solo"), "/tmp");
	is_int(runset_sweep_index(solo), -1, "sweep: no index: -1");
	record_free(solo);
	free(id);
}

static void test_format(void)
{
	json_t *rec = json_pack("{s:{s:s,s:f}}", "times", "created",
	                        "2026-01-02T03:04:05Z", "duration", 3.25);
	_cleanup_free_ char *when = format_created_ran(rec);
	ok(when && strstr(when, ", ran ") && isdigit(when[0]),
	   "format: created, and how long it ran");
	json_object_del(json_object_get(rec, "times"), "duration");
	_cleanup_free_ char *started = format_created_ran(rec);
	ok(started && !strstr(started, "ran"),
	   "format: no duration, nothing about it");
	json_decref(rec);
	json_t *none = json_object();
	_cleanup_free_ char *unknown = format_created_ran(none);
	is_str(unknown, "?", "format: no time: '?'");
	json_decref(none);
	is_str(format_digest_short("sha256:0123456789abcdef0123"),
	       "sha256:0123456789ab", "format: a digest, short");
	is_str(format_digest_short(NULL), "-", "format: no digest: '-'");
}

static void test_refs(const char *dir)
{
	_cleanup_free_ char *root = path_join(dir, "store");
	Store *s = NULL;
	is_int(store_open(root, true, &s, NULL), 0, "refs: a store");
	unsigned char md[SHA256_LEN];
	is_int(store_put_mem(s, "data\n", 5, md), 0, "refs: an object");
	char dg[DIGEST_STR_LEN + 1];
	digest_format(md, dg);
	/* A record whose output's manifest is not in the store: still a
	 * reference (gc must not take what it names), and a problem. */
	unsigned char gone[SHA256_LEN];
	memset(gone, 0xab, sizeof gone);
	char gd[DIGEST_STR_LEN + 1];
	digest_format(gone, gd);
	json_t *root_json = json_pack("{s:s,s:s,s:[],s:[{s:s,s:s}],s:{s:n}}",
	                              "schema", RECORD_SCHEMA, "id",
	                              "12345678-aaaa-bbbb-cccc-1234567890ab",
	                              "inputs", "outputs", "path", "/out",
	                              "manifest", gd, "source", "workspace");
	_cleanup_free_ char *rdir = path_join(dir, "run");
	ok(mkdir(rdir, 0755) == 0, "refs: a run directory");
	Record *rec = record_new(root_json, rdir);
	RefSet *set = ref_set_new();
	ref_set_add_record(set, s, rec);
	ok(ref_set_has(set, gone),
	   "refs: a record's output manifest is referenced");
	ok(set->problems && set->problems[0] &&
	           strstr(set->problems[0], "is missing") &&
	           strstr(set->problems[0], "12345678"),
	   "refs: ... missing, which is said with the run");
	unsigned char other[SHA256_LEN] = {0};
	ok(!ref_set_has(set, other), "refs: another object is not");
	int state = 1;
	uint64_t bytes = 0;
	objects_verify(s, (const unsigned char(*)[SHA256_LEN])md, 1, &state,
	               &bytes);
	is_int(state, 0, "refs: an intact object verifies");
	objects_verify(s, (const unsigned char(*)[SHA256_LEN])other, 1, &state,
	               &bytes);
	is_int(state, -ENOENT, "refs: a missing one is -ENOENT");
	ref_set_free(set);
	record_free(rec);
	store_free(s);
}

static void test_cgroup(void)
{
	RunCgroup *cg = NULL;
	const char *what = NULL;
	_cleanup_free_ char *name = xasprintf("xrun-unit-%d", (int)getpid());
	int r = run_cgroup_create(name, 64u << 20, 0, &cg, &what);
	if (r < 0) {
		ok(r == -ENOENT || r == -EACCES || r == -EPERM || r == -EROFS ||
		           r == -EOPNOTSUPP,
		   "cgroup: none here, and the error says why (%s: %s)",
		   what ? what : "?", strerror(-r));
		ok(what && streq(what, "memory"),
		   "cgroup: the controller that failed is named");
		return;
	}
	ok(cg && cg->memory.dir, "cgroup: a memory cgroup made");
	is_int(run_cgroup_oom_kills(cg), 0, "cgroup: no OOM kill yet");
	_cleanup_free_ char *dir = xstrdup(cg->memory.dir);
	run_cgroup_free(cg);
	ok(access(dir, F_OK) < 0, "cgroup: freed, it is removed");
}

int main(void)
{
	char tmpl[] = "/tmp/xrun-test-modules.XXXXXX";
	char *dir = mkdtemp(tmpl);
	ok(dir != NULL, "a scratch directory");
	test_statcache(dir);
	test_grid();
	test_refs(dir);
	test_cgroup();
	test_param_assignment();
	test_runset_sweep();
	test_format();
	char *cmd = xasprintf("rm -rf '%s'", dir);
	ok(system(cmd) == 0, "cleaned up");
	free(cmd);
	return done_testing();
}
