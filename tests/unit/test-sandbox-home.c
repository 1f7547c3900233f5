/* The private home's plan as data (src/sandbox-home.c): which homes, which
 * software is found under them, the order of the steps, and which paths a
 * failed run's stderr names that the sandbox hides. The plan is applied by
 * the integration tests (t0112, t0113). */
#include "config.h"
#include "tap.h"

#include <sys/stat.h>

#include "sandbox-home.h"
#include "util.h"

static char *tmpdir;

static void touch(const char *path)
{
	FILE *f = fopen(path, "we");
	if (f)
		fclose(f);
}

static int find_step(const Sandbox *sb, MountKind kind, const char *dest)
{
	for (size_t i = 0; i < sb->n_mounts; i++)
		if (sb->mounts[i].kind == kind &&
		    streq(sb->mounts[i].dest, dest))
			return (int)i;
	return -1;
}

static void test_home_dirs(void)
{
	_cleanup_strv_free_ char **h = home_dirs("/usr");
	ok(!strv_has(h, "/usr"), "home_dirs: HOME=/usr is never made private");
	strv_free(h);
	h = home_dirs("/");
	ok(!strv_has(h, "/"), "home_dirs: HOME=/ is never made private");
	strv_free(h);
	h = home_dirs(tmpdir);
	_cleanup_free_ char *real = realpath(tmpdir, NULL);
	ok(strv_has(h, real), "home_dirs: $HOME is one of them (%s)", real);
}

static void test_software(void)
{
	_cleanup_free_ char *home = path_join(tmpdir, "h");
	_cleanup_free_ char *venv = path_join(home, "venv");
	_cleanup_free_ char *venv_bin = path_join(venv, "bin");
	_cleanup_free_ char *cfg = path_join(venv, "pyvenv.cfg");
	_cleanup_free_ char *pyenv = path_join(home, ".pyenv");
	_cleanup_free_ char *shims = path_join(pyenv, "shims");
	_cleanup_free_ char *libexec = path_join(pyenv, "libexec");
	_cleanup_free_ char *pyenv_bin = path_join(libexec, "pyenv");
	_cleanup_free_ char *bin = path_join(home, "bin");
	_cleanup_free_ char *site = path_join(home, ".local/lib/python3.11");
	_cleanup_free_ char *data = path_join(home, "data");
	_cleanup_free_ char *csv = path_join(data, "x.csv");
	mkdir_p(venv_bin, 0755);
	mkdir_p(shims, 0755);
	mkdir_p(libexec, 0755);
	mkdir_p(bin, 0755);
	mkdir_p(site, 0755);
	mkdir_p(data, 0755);
	touch(cfg);
	touch(pyenv_bin);
	touch(csv);
	_cleanup_free_ char *path = xasprintf("PATH=%s:%s:%s:/usr/bin:%s",
	                                      shims, venv_bin, bin, home);
	char *env[] = {path, NULL};
	char *homes[] = {home, NULL};
	Command cmd = {.path = (char *)"/usr/bin/python3",
	               .executable = (char *)"/usr/bin/python3",
	               .python = true};
	_cleanup_strv_free_ char **sw = home_software_paths(&cmd, env, homes);
	ok(strv_has(sw, pyenv),
	   "software: a shims dir in PATH -> the pyenv root");
	ok(strv_has(sw, venv), "software: a venv's bin in PATH -> the venv");
	ok(strv_has(sw, bin), "software: ~/bin in PATH -> itself");
	ok(strv_has(sw, site),
	   "software: a Python program -> ~/.local/lib/pythonX.Y");
	ok(!strv_has(sw, home),
	   "software: the home itself (in PATH) is not shown");
	ok(!strv_has(sw, shims), "software: nothing below a prefix on its own");
	ok(!strv_has(sw, "/usr/bin"), "software: nothing outside the homes");

	/* A venv whose base interpreter is a Python installation in the
	 * home (uv, a source build): the installation's prefix too. */
	_cleanup_free_ char *uv = path_join(home, ".local/share/uv/cpython");
	_cleanup_free_ char *uv_bin = path_join(uv, "bin");
	_cleanup_free_ char *uv_lib = path_join(uv, "lib/python3.12");
	_cleanup_free_ char *venv2 = path_join(tmpdir, "proj/.venv");
	_cleanup_free_ char *venv2_bin = path_join(venv2, "bin");
	_cleanup_free_ char *cfg2 = path_join(venv2, "pyvenv.cfg");
	mkdir_p(uv_bin, 0755);
	mkdir_p(uv_lib, 0755);
	mkdir_p(venv2_bin, 0755);
	_cleanup_free_ char *cfg_text = xasprintf("home = %s\n", uv_bin);
	FILE *f = fopen(cfg2, "we");
	if (f) {
		fputs(cfg_text, f);
		fclose(f);
	}
	_cleanup_free_ char *venv_env = xasprintf("VIRTUAL_ENV=%s", venv2);
	char *env2[] = {venv_env, NULL};
	_cleanup_strv_free_ char **sw2 = home_software_paths(NULL, env2, homes);
	ok(strv_has(sw2, uv),
	   "software: a venv's base installation in the home");
	_cleanup_free_ char *local = path_join(home, ".local");
	ok(!strv_has(sw2, local), "software: never all of ~/.local");

	/* The plan: the home's tmpfs, the output below it again, the
	 * software bound, the seal last. */
	_cleanup_free_ char *out = path_join(home, "out");
	mkdir_p(out, 0755);
	_cleanup_sandbox_ Sandbox *sb = sandbox_new();
	sandbox_add_mount(sb, MOUNT_RO_BIND, "/", "/", 0);
	sandbox_add_mount(sb, MOUNT_RW_BIND, out, out, 0);
	char *outs[] = {out, NULL};
	char *ro[] = {data, NULL};
	HomeRequest req = {.home_env = home,
	                   .cwd = "/",
	                   .outputs = outs,
	                   .ro = ro,
	                   .cmd = &cmd,
	                   .env = env};
	_cleanup_home_plan_ HomePlan *p = NULL;
	is_int(sandbox_plan_home(sb, &req, &p), 0, "sandbox_plan_home");
	_cleanup_free_ char *real_home = realpath(home, NULL);
	int t = find_step(sb, MOUNT_TMPFS, real_home);
	ok(t > 0, "plan: a tmpfs over the home");
	int o = -1;
	for (size_t i = (size_t)(t > 0 ? t : 0); i < sb->n_mounts; i++)
		if (sb->mounts[i].kind == MOUNT_RW_BIND &&
		    streq(sb->mounts[i].dest, out))
			o = (int)i;
	ok(o > t, "plan: the output is bound again above it");
	ok(find_step(sb, MOUNT_RO_BIND, pyenv) > t,
	   "plan: the pyenv root bound");
	ok(find_step(sb, MOUNT_RO_BIND, data) > t, "plan: --ro bound");
	sandbox_plan_home_seal(sb, p);
	ok(sb->mounts[sb->n_mounts - 1].kind == MOUNT_REMOUNT_RO,
	   "plan: the home is made read-only last");

	/* A failed run's stderr. */
	_cleanup_free_ char *hidden = path_join(home, "secret.txt");
	touch(hidden);
	_cleanup_free_ char *text = xasprintf(
	        "Traceback:\nFileNotFoundError: [Errno 2] No such file or "
	        "directory: '%s'\nopen ~/secret.txt: denied\n%s/gone.csv\n"
	        "reading %s/x.csv.\n",
	        hidden, home, data);
	_cleanup_strv_free_ char **m =
	        home_plan_hidden_mentions(p, text, real_home, 5);
	ok(m && strv_has(m, hidden), "mentions: a quoted path that is hidden");
	is_int((int)strv_length(m), 1,
	       "mentions: once; not a missing file, not a --ro one");
	json_auto_t *j = home_plan_to_json(p);
	ok(json_is_true(json_object_get(j, "private")), "json: private");
	ok(json_array_size(json_object_get(j, "ro")) == 1, "json: ro");
}

int main(void)
{
	tmpdir = xstrdup("/tmp/xrun-test-home.XXXXXX");
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 2;
	}
	test_home_dirs();
	test_software();
	_cleanup_free_ char *cmd = xasprintf("rm -rf '%s'", tmpdir);
	if (system(cmd) != 0)
		fprintf(stderr, "# could not remove %s\n", tmpdir);
	free(tmpdir);
	return done_testing();
}
