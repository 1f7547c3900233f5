/* The sandbox's mount plan as data: what the default view holds, in which
 * order, and what the record says of it. The plan is applied by the
 * integration tests (t0110, t0111); here it is only built. */
#include "config.h"
#include "tap.h"

#include <sys/stat.h>

#include "sandbox.h"
#include "util.h"

static char *tmpdir;

/* The index of the first step of kind on dest, or -1. */
static int find_step(const Sandbox *sb, MountKind kind, const char *dest)
{
	for (size_t i = 0; i < sb->n_mounts; i++)
		if (sb->mounts[i].kind == kind &&
		    streq(sb->mounts[i].dest, dest))
			return (int)i;
	return -1;
}

static void touch(const char *path)
{
	FILE *f = fopen(path, "we");
	if (f)
		fclose(f);
}

static void test_default_plan(void)
{
	_cleanup_free_ char *home = path_join(tmpdir, "home");
	_cleanup_free_ char *elsewhere = path_join(tmpdir, "dotfiles");
	_cleanup_free_ char *ssh = path_join(home, ".ssh");
	_cleanup_free_ char *netrc = path_join(home, ".netrc");
	_cleanup_free_ char *netrc_real = path_join(elsewhere, "netrc");
	_cleanup_free_ char *aws = path_join(home, ".aws");
	_cleanup_free_ char *proj = path_join(tmpdir, "proj");
	_cleanup_free_ char *out = path_join(proj, "out");
	mkdir_p(ssh, 0700);
	mkdir_p(elsewhere, 0755);
	mkdir_p(out, 0755);
	touch(netrc_real);
	(void)symlink(netrc_real, netrc);
	(void)symlink("/nonexistent/aws", aws);

	_cleanup_sandbox_ Sandbox *sb = sandbox_new();
	char *outputs[] = {out, NULL};
	ok(sandbox_plan_default(sb, proj, outputs, home) == 0, "plan built");
	ok(sb->n_mounts > 0 && sb->mounts[0].kind == MOUNT_RO_BIND &&
	           streq(sb->mounts[0].dest, "/") &&
	           streq(sb->mounts[0].source, "/"),
	   "first the host's root, read-only");
	int proc = find_step(sb, MOUNT_PROC, "/proc");
	int dev = find_step(sb, MOUNT_TMPFS, "/dev");
	int tmp = find_step(sb, MOUNT_TMPFS, "/tmp");
	int run = find_step(sb, MOUNT_TMPFS, "/run");
	int cwd = find_step(sb, MOUNT_RO_BIND, proj);
	int o = find_step(sb, MOUNT_RW_BIND, out);
	ok(proc > 0 && dev > 0 && tmp > 0 && run > 0,
	   "a new /proc, and tmpfs on /dev, /tmp and /run");
	ok(find_step(sb, MOUNT_REMOUNT_RO, "/dev") > dev,
	   "/dev is made read-only after it is filled");
	ok(find_step(sb, MOUNT_TMPFS, "/dev/shm") > dev &&
	           sb->mounts[find_step(sb, MOUNT_TMPFS, "/dev/shm")].mode ==
	                   01777,
	   "a 1777 /dev/shm");
	ok(sb->mounts[tmp].mode == 01777, "a 1777 /tmp");
	static const char *const nodes[] = {"/dev/null",    "/dev/zero",
	                                    "/dev/full",    "/dev/random",
	                                    "/dev/urandom", "/dev/tty"};
	bool all = true;
	for (size_t i = 0; i < ELEMENTSOF(nodes); i++)
		all = all && find_step(sb, MOUNT_DEV_BIND, nodes[i]) > dev;
	ok(all, "null, zero, full, random, urandom and tty");
	ok(find_step(sb, MOUNT_DEV_BIND, "/dev/dri") < 0,
	   "no GPU devices without --gpu");
	ok(cwd > tmp && cwd > run, "the working directory after /tmp and /run");
	ok(o > cwd, "the output after the working directory, writable");
	ok(find_step(sb, MOUNT_HIDE, ssh) > o, "~/.ssh hidden, last");
	ok(find_step(sb, MOUNT_HIDE, netrc) < 0 &&
	           find_step(sb, MOUNT_HIDE, netrc_real) > o,
	   "a linked ~/.netrc is hidden where it lives");
	ok(find_step(sb, MOUNT_HIDE, aws) < 0 &&
	           find_step(sb, MOUNT_HIDE, "/nonexistent/aws") < 0,
	   "a dangling link hides nothing");

	_cleanup_free_ char *store = path_join(proj, ".xrun");
	_cleanup_free_ char *params = path_join(store, "runs/r/params.json");
	_cleanup_free_ char *metrics = path_join(store, "runs/r/metrics.jsonl");
	size_t before = sb->n_mounts;
	sandbox_plan_store(sb, store, params, metrics);
	ok(sb->n_mounts == before + 4 &&
	           sb->mounts[before].kind == MOUNT_TMPFS &&
	           streq(sb->mounts[before].dest, store) &&
	           sb->mounts[before + 1].kind == MOUNT_RO_BIND &&
	           streq(sb->mounts[before + 1].dest, params) &&
	           sb->mounts[before + 2].kind == MOUNT_RW_BIND &&
	           streq(sb->mounts[before + 2].dest, metrics) &&
	           sb->mounts[before + 3].kind == MOUNT_REMOUNT_RO,
	   "the store: empty, but for params (read-only) and metrics");

	sb->pids = 64;
	json_auto_t *j = sandbox_to_json(sb, 1 << 30, 2.5);
	ok(json_is_true(json_object_get(j, "enabled")), "json: enabled");
	is_str(json_string_value(json_object_get(j, "network")), "loopback",
	       "json: loopback network");
	ok(json_array_size(json_object_get(j, "mounts")) == sb->n_mounts,
	   "json: every mount step");
	json_t *first = json_array_get(json_object_get(j, "mounts"), 0);
	is_str(json_string_value(json_object_get(first, "type")), "ro-bind",
	       "json: the first step's type");
	json_t *lim = json_object_get(j, "limits");
	ok(json_integer_value(json_object_get(lim, "pids")) == 64 &&
	           json_integer_value(json_object_get(lim, "memory_bytes")) ==
	                   1 << 30 &&
	           json_real_value(json_object_get(lim, "timeout_s")) == 2.5,
	   "json: the limits");
	json_t *ns = json_object_get(j, "namespaces");
	bool has_net = false;
	size_t i;
	json_t *v;
	json_array_foreach (ns, i, v)
		has_net = has_net || streq(json_string_value(v), "net");
	ok(has_net && json_array_size(ns) == 7, "json: seven namespaces");

	sb->share_net = true;
	json_auto_t *j2 = sandbox_to_json(sb, 0, 0);
	is_str(json_string_value(json_object_get(j2, "network")), "host",
	       "json: --net shares the host's network");
	ok(json_array_size(json_object_get(j2, "namespaces")) == 6,
	   "json: ... without a net namespace");
	ok(json_is_null(
	           json_object_get(json_object_get(j2, "limits"), "timeout_s")),
	   "json: no timeout is null");
}

static void test_root_cwd(void)
{
	_cleanup_sandbox_ Sandbox *sb = sandbox_new();
	ok(sandbox_plan_default(sb, "/", NULL, NULL) == 0, "plan for cwd /");
	size_t ro = 0;
	for (size_t i = 0; i < sb->n_mounts; i++)
		ro += sb->mounts[i].kind == MOUNT_RO_BIND &&
		      streq(sb->mounts[i].dest, "/");
	ok(ro == 1, "no second bind of / over /proc, /dev and /tmp");
}

static void test_explain(void)
{
	_cleanup_free_ char *a = sandbox_explain_failure(EPERM);
	_cleanup_free_ char *b = sandbox_explain_failure(ENOSPC);
	ok(strstr(a, "--no-sandbox") && !strchr(a, '\n'),
	   "EPERM: one line that names --no-sandbox");
	ok(strstr(b, "user.max_user_namespaces") != NULL,
	   "ENOSPC: names user.max_user_namespaces");
}

int main(void)
{
	tmpdir = xstrdup("/tmp/xrun-test-sandbox.XXXXXX");
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 2;
	}
	test_default_plan();
	test_root_cwd();
	test_explain();
	_cleanup_free_ char *cmd = xasprintf("rm -rf '%s'", tmpdir);
	if (system(cmd) != 0)
		fprintf(stderr, "# could not remove %s\n", tmpdir);
	free(tmpdir);
	return done_testing();
}
