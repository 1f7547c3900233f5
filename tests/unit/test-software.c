/* capture_software() against the real system: libraries resolved like
 * ld.so, hashed and owned by their Debian packages, the cache, Python and
 * the BLAS alternatives. Checks that need a tool this machine lacks (cc,
 * dpkg-query, python3, a BLAS alternative) are skipped, never passed. */
#include "config.h"
#include "tap.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>

#include "capture-software-internal.h"
#include "capture.h"
#include "hash.h"
#include "util.h"

extern char **environ;

static char *tmpdir;
static char *cache;

#define skip(...)                               \
	do {                                    \
		tap_n++;                        \
		printf("ok %d # SKIP ", tap_n); \
		printf(__VA_ARGS__);            \
		printf("\n");                   \
	} while (0)

static void rm_rf(const char *path)
{
	struct stat st;
	if (lstat(path, &st) < 0)
		return;
	if (S_ISDIR(st.st_mode)) {
		DIR *d = opendir(path);
		struct dirent *de;
		while (d && (de = readdir(d))) {
			if (streq(de->d_name, ".") || streq(de->d_name, ".."))
				continue;
			_cleanup_free_ char *p = path_join(path, de->d_name);
			rm_rf(p);
		}
		if (d)
			closedir(d);
		rmdir(path);
	} else
		unlink(path);
}

static void put(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || write_all(fd, text, strlen(text)) < 0) {
		perror(path);
		exit(2);
	}
	close(fd);
}

/* First line of a shell command's output, or NULL. */
static char *sh(const char *cmd)
{
	FILE *f = popen(cmd, "r");
	if (!f)
		return NULL;
	char buf[4096];
	char *r = fgets(buf, sizeof buf, f) ? xstrdup(buf) : NULL;
	if (pclose(f) != 0) {
		free(r);
		return NULL;
	}
	if (r)
		r[strcspn(r, "\n")] = 0;
	return r;
}

static bool have(const char *tool)
{
	_cleanup_free_ char *cmd =
	        xasprintf("command -v %s >/dev/null 2>&1 && echo y", tool);
	_cleanup_free_ char *r = sh(cmd);
	return r != NULL;
}

static json_t *capture(const char *exe, const char *interp, bool python,
                       char *const *envp, const char *cache_dir)
{
	SoftwareQuery q = {
	        .executable = exe,
	        .interpreter = interp,
	        .python = python,
	        .envp = envp,
	        .cwd = tmpdir,
	        .cache_dir = cache_dir,
	};
	json_t *j = NULL;
	int r = capture_software(&q, &j);
	if (r < 0) {
		printf("# capture_software(%s): %s\n", exe, strerror(-r));
		return NULL;
	}
	return j;
}

static const json_t *lib_by_soname(const json_t *sw, const char *soname)
{
	size_t i;
	json_t *l;
	json_array_foreach (json_object_get(sw, "libraries"), i, l)
		if (streq(json_get_string(l, "soname"), soname))
			return l;
	return NULL;
}

static const char *lib_path(const json_t *sw, const char *soname)
{
	return json_get_string(lib_by_soname(sw, soname), "path");
}

static char *file_sha256(const char *path)
{
	char *s = NULL;
	if (sha256_file(path, &s, NULL) < 0)
		return NULL;
	return s;
}

/* The digests, recomputed from the documented formulas. */
static void check_digests(const json_t *sw, const char *what)
{
	const json_t *libs = json_object_get(sw, "libraries");
	_cleanup_hasher_ Hasher *h = hasher_new();
	bool sorted = true;
	const char *prev = NULL;
	size_t i;
	json_t *l;
	json_array_foreach (libs, i, l) {
		const char *p = json_get_string(l, "path");
		const char *s = json_get_string(l, "sha256");
		if (prev && strcmp(prev, p) >= 0)
			sorted = false;
		prev = p;
		hasher_update(h, p, strlen(p) + 1);
		hasher_update(h, s, strlen(s));
		hasher_update(h, "\n", 1);
	}
	ok(sorted, "%s: libraries are sorted by path", what);
	_cleanup_free_ char *d = hasher_finish(TAKE_PTR(h));
	is_str(json_get_string(sw, "libraries_sha256"), d,
	       "%s: libraries_sha256 is sha256 of path NUL sha256 NL", what);

	json_auto_t *copy = json_deep_copy(sw);
	json_object_del(copy, "sha256");
	_cleanup_free_ char *dump =
	        json_dumps(copy, JSON_SORT_KEYS | JSON_COMPACT);
	_cleanup_free_ char *all = sha256_mem(dump, strlen(dump));
	is_str(json_get_string(sw, "sha256"), all,
	       "%s: sha256 is the digest of the sorted compact section", what);
}

static void test_bin_true(void)
{
	json_auto_t *sw = capture("/bin/true", NULL, false, environ, cache);
	ok(sw, "capture /bin/true");
	if (!sw)
		return;
	const json_t *libc = lib_by_soname(sw, "libc.so.6");
	const json_t *ldso = lib_by_soname(sw, "ld-linux-x86-64.so.2");
	ok(libc, "libc.so.6 is found");
	ok(ldso, "the dynamic loader is listed");
	is_str(json_get_string(ldso, "path"), "/lib64/ld-linux-x86-64.so.2",
	       "the loader is listed by its PT_INTERP path");
	if (!libc || !ldso)
		return;
	_cleanup_free_ char *h1 = file_sha256(json_get_string(libc, "path"));
	_cleanup_free_ char *h2 = file_sha256(json_get_string(ldso, "path"));
	is_str(json_get_string(libc, "sha256"), h1, "libc's sha256");
	is_str(json_get_string(ldso, "sha256"), h2, "the loader's sha256");
	check_digests(sw, "/bin/true");
	ok(json_is_null(json_object_get(sw, "python")),
	   "no python section for a C program");

	if (!have("dpkg-query")) {
		skip("dpkg-query is not installed");
		skip("dpkg-query is not installed");
		return;
	}
	_cleanup_free_ char *v = sh("dpkg-query -W -f='${Version}' libc6");
	is_str(json_get_string(libc, "package"), "libc6",
	       "libc.so.6 belongs to libc6 (no :amd64)");
	is_str(json_get_string(libc, "package_version"), v,
	       "with the version dpkg-query reports");
}

static void test_cache(void)
{
	json_auto_t *cold = capture("/bin/true", NULL, false, environ, NULL);
	json_auto_t *warm = capture("/bin/true", NULL, false, environ, cache);
	json_auto_t *warm2 = capture("/bin/true", NULL, false, environ, cache);
	ok(cold && warm && json_equal(cold, warm),
	   "the cached answer equals the uncached one");
	ok(warm2 && json_equal(warm, warm2), "and stays the same");

	/* Every cache file garbled, then truncated: silently rebuilt */
	const char *garbage[] = {"{\"query\": 5, \"section\": [1,2", ""};
	for (size_t g = 0; g < ELEMENTSOF(garbage); g++) {
		DIR *d = opendir(cache);
		struct dirent *de;
		int n = 0;
		while (d && (de = readdir(d))) {
			if (de->d_name[0] == '.')
				continue;
			_cleanup_free_ char *p = path_join(cache, de->d_name);
			put(p, garbage[g]);
			n++;
		}
		if (d)
			closedir(d);
		ok(n >= 3, "%d cache files to corrupt", n);
		json_auto_t *again =
		        capture("/bin/true", NULL, false, environ, cache);
		ok(again && json_equal(cold, again),
		   "a corrupt cache is rebuilt (%s)",
		   *garbage[g] ? "garbage" : "empty");
		json_auto_t *again2 =
		        capture("/bin/true", NULL, false, environ, cache);
		ok(again2 && json_equal(cold, again2), "and then used");
	}

	/* Well under a millisecond is the budget for a warm capture */
	enum { N = 200 };
	int64_t t0 = monotonic_ns();
	for (int i = 0; i < N; i++) {
		json_auto_t *j =
		        capture("/bin/true", NULL, false, environ, cache);
	}
	printf("# warm capture of /bin/true: %.0f us\n",
	       (double)(monotonic_ns() - t0) / N / 1000);
}

/* A tiny library and programs that find it through $ORIGIN. */
static void test_origin(void)
{
	if (!have("cc")) {
		for (int i = 0; i < 7; i++)
			skip("no C compiler");
		return;
	}
	_cleanup_free_ char *cmd = xasprintf(
	        "cd '%s' && mkdir -p lib llp && "
	        "echo 'int xrun_t(void) { return 1; }' >t.c && "
	        "echo 'int xrun_t(void); int main(void) { return xrun_t() - 1; "
	        "}' >m.c && "
	        "cc -shared -fPIC -Wl,-soname,libxrunt.so.1 -o "
	        "lib/libxrunt.so.1 t.c && "
	        "cp lib/libxrunt.so.1 llp/ && echo 'int other;' >>t.c && "
	        "cc -shared -fPIC -Wl,-soname,libxrunt.so.1 -o "
	        "llp/libxrunt.so.1 t.c && "
	        "ln -sf libxrunt.so.1 lib/libxrunt.so && "
	        "cc -o runpath m.c -Llib -lxrunt -Wl,-rpath,'$ORIGIN/lib' "
	        "-Wl,--enable-new-dtags && "
	        "cc -o rpath m.c -Llib -lxrunt -Wl,-rpath,'$ORIGIN/lib' "
	        "-Wl,--disable-new-dtags && "
	        "./runpath && ./rpath && echo built",
	        tmpdir);
	_cleanup_free_ char *built = sh(cmd);
	ok(built && streq(built, "built"), "test programs are built");
	if (!built) {
		for (int i = 0; i < 6; i++)
			skip("the test programs did not build");
		return;
	}
	_cleanup_free_ char *real = realpath(tmpdir, NULL);
	_cleanup_free_ char *runpath = path_join(tmpdir, "runpath");
	_cleanup_free_ char *rpath = path_join(tmpdir, "rpath");
	_cleanup_free_ char *want = xasprintf("%s/lib/libxrunt.so.1", real);
	_cleanup_free_ char *want_llp =
	        xasprintf("%s/llp/libxrunt.so.1", tmpdir);

	json_auto_t *sw = capture(runpath, NULL, false, environ, cache);
	is_str(lib_path(sw, "libxrunt.so.1"), want,
	       "DT_RUNPATH $ORIGIN/lib finds the library");
	ok(json_is_null(json_object_get(lib_by_soname(sw, "libxrunt.so.1"),
	                                "package")),
	   "a library no package installed has package null");

	_cleanup_free_ char *llp = xasprintf("LD_LIBRARY_PATH=%s/llp", tmpdir);
	char *envp[] = {llp, NULL};
	json_auto_t *sw2 = capture(runpath, NULL, false, envp, cache);
	is_str(lib_path(sw2, "libxrunt.so.1"), want_llp,
	       "LD_LIBRARY_PATH comes before DT_RUNPATH");
	json_auto_t *sw3 = capture(rpath, NULL, false, envp, cache);
	is_str(lib_path(sw3, "libxrunt.so.1"), want,
	       "DT_RPATH comes before LD_LIBRARY_PATH");

	/* A rebuilt library is rehashed although the path is the same */
	_cleanup_free_ char *before = xstrdup(
	        json_get_string(lib_by_soname(sw, "libxrunt.so.1"), "sha256"));
	_cleanup_free_ char *rebuild = xasprintf(
	        "cd '%s' && echo 'int more;' >>t.c && "
	        "cc -shared -fPIC -Wl,-soname,libxrunt.so.1 -o "
	        "lib/libxrunt.so.1.new t.c && "
	        "mv lib/libxrunt.so.1.new lib/libxrunt.so.1 && echo ok",
	        tmpdir);
	_cleanup_free_ char *rebuilt = sh(rebuild);
	json_auto_t *sw4 = capture(runpath, NULL, false, environ, cache);
	_cleanup_free_ char *now = file_sha256(want);
	const char *after =
	        json_get_string(lib_by_soname(sw4, "libxrunt.so.1"), "sha256");
	ok(rebuilt && after && !streq(after, before) && streq(after, now),
	   "a replaced library is hashed again");

	/* A library appearing earlier on the search path wins at once */
	_cleanup_free_ char *shadow = xasprintf(
	        "cd '%s' && mkdir -p lib/glibc-hwcaps/x86-64-v2 && "
	        "cp llp/libxrunt.so.1 lib/glibc-hwcaps/x86-64-v2/ && echo ok",
	        tmpdir);
	_cleanup_free_ char *shadowed = sh(shadow);
	if (__builtin_cpu_supports("x86-64-v2") && shadowed) {
		json_auto_t *sw5 =
		        capture(runpath, NULL, false, environ, cache);
		_cleanup_free_ char *hw = xasprintf(
		        "%s/lib/glibc-hwcaps/x86-64-v2/libxrunt.so.1", real);
		is_str(lib_path(sw5, "libxrunt.so.1"), hw,
		       "glibc-hwcaps subdirectories come first, and a new "
		       "one invalidates the cache");
	} else
		skip("this CPU is not x86-64-v2");
}

/* LD_LIBRARY_PATH comes before /etc/ld.so.cache: a copy of libc there is
 * the one /bin/true would load. */
static void test_ld_library_path(void)
{
	_cleanup_free_ char *dir = path_join(tmpdir, "libc-copy");
	_cleanup_free_ char *cmd =
	        xasprintf("mkdir -p '%s' && cp /lib/x86_64-linux-gnu/libc.so.6 "
	                  "'%s'/ && echo ok",
	                  dir, dir);
	_cleanup_free_ char *copied = sh(cmd);
	if (!copied) {
		skip("cannot copy libc.so.6");
		return;
	}
	_cleanup_free_ char *llp =
	        xasprintf("LD_LIBRARY_PATH=/nonexistent:%s", dir);
	char *envp[] = {llp, NULL};
	json_auto_t *sw = capture("/bin/true", NULL, false, envp, cache);
	_cleanup_free_ char *want = path_join(dir, "libc.so.6");
	is_str(lib_path(sw, "libc.so.6"), want,
	       "LD_LIBRARY_PATH wins over ld.so.cache");
}

static bool dists_sorted(const json_t *dists)
{
	const char *prev = NULL;
	size_t i;
	json_t *d;
	json_array_foreach (dists, i, d) {
		const char *n = json_get_string(d, "name");
		if (!n || !json_get_string(d, "version") ||
		    (prev && strcmp(prev, n) >= 0))
			return false;
		prev = n;
	}
	return true;
}

static void test_python(void)
{
	const char *py = "/usr/bin/python3";
	if (access(py, X_OK) < 0) {
		for (int i = 0; i < 9; i++)
			skip("no %s", py);
		return;
	}
	json_auto_t *sw = capture(py, NULL, true, environ, cache);
	const json_t *p = json_object_get(sw, "python");
	ok(json_is_object(p), "python section for %s", py);
	const char *v = json_get_string(p, "version");
	ok(v && startswith(v, "3."), "python version '%s'", v ? v : "(null)");
	const json_t *dists = json_object_get(p, "distributions");
	ok(json_array_size(dists) > 0, "%zu distributions",
	   json_array_size(dists));
	ok(dists_sorted(dists), "distributions sorted by name, each once");

	_cleanup_hasher_ Hasher *h = hasher_new();
	size_t i;
	json_t *d;
	json_array_foreach (dists, i, d) {
		_cleanup_free_ char *line =
		        xasprintf("%s==%s\n", json_get_string(d, "name"),
		                  json_get_string(d, "version"));
		hasher_update(h, line, strlen(line));
	}
	_cleanup_free_ char *dd = hasher_finish(TAKE_PTR(h));
	is_str(json_get_string(p, "distributions_sha256"), dd,
	       "distributions_sha256 over name==version lines");
	bool no_empty = true;
	json_array_foreach (json_object_get(p, "paths"), i, d)
		if (!*json_string_value(d))
			no_empty = false;
	ok(no_empty && json_array_size(json_object_get(p, "paths")) > 0,
	   "sys.path without the script's directory");

	json_auto_t *warm = capture(py, NULL, true, environ, cache);
	ok(json_equal(sw, warm), "python: warm equals cold");

	/* A script run by python3 lists the interpreter's libraries */
	_cleanup_free_ char *script = path_join(tmpdir, "train.py");
	put(script, "#!/usr/bin/python3\nprint(1)\n");
	json_auto_t *s = capture(script, py, true, environ, cache);
	ok(json_equal(json_object_get(s, "libraries"),
	              json_object_get(sw, "libraries")),
	   "a script lists its interpreter's libraries");
	ok(json_equal(json_object_get(s, "python"), p),
	   "and the same python section");

	enum { N = 200 };
	int64_t t0 = monotonic_ns();
	for (int k = 0; k < N; k++) {
		json_auto_t *j = capture(py, NULL, true, environ, cache);
	}
	printf("# warm capture of %s (python): %.0f us\n", py,
	       (double)(monotonic_ns() - t0) / N / 1000);
}

static void test_blas(void)
{
	_cleanup_free_ char *impl = NULL;
	impl = software_blas_implementation(
	        "/usr/lib/x86_64-linux-gnu/openblas-pthread/libblas.so.3");
	is_str(impl, "openblas-pthread", "openblas-pthread is recognized");
	free(impl);
	impl = software_blas_implementation(
	        "/usr/lib/x86_64-linux-gnu/blas/libblas.so.3");
	is_str(impl, "reference", "the reference BLAS is recognized");
	free(impl);
	impl = software_blas_implementation(
	        "/usr/lib/x86_64-linux-gnu/libmkl_rt.so");
	is_str(impl, "mkl_rt", "a library in the multiarch dir by its name");

	json_auto_t *sw = capture("/bin/true", NULL, false, environ, cache);
	const char *kinds[][2] = {
	        {"blas", "/etc/alternatives/libblas.so.3-x86_64-linux-gnu"},
	        {"lapack", "/etc/alternatives/liblapack.so.3-x86_64-linux-gnu"},
	};
	for (size_t k = 0; k < ELEMENTSOF(kinds); k++) {
		const json_t *b = json_object_get(sw, kinds[k][0]);
		char target[PATH_MAX];
		ssize_t n = readlink(kinds[k][1], target, sizeof target - 1);
		if (n < 0) {
			ok(json_is_null(b), "no %s alternative: null",
			   kinds[k][0]);
			skip("no %s alternative", kinds[k][0]);
			skip("no %s alternative", kinds[k][0]);
			continue;
		}
		target[n] = 0;
		is_str(json_get_string(b, "alternative"), target,
		       "%s alternative", kinds[k][0]);
		_cleanup_free_ char *real = realpath(kinds[k][1], NULL);
		is_str(json_get_string(b, "path"), real, "%s path",
		       kinds[k][0]);
		if (!have("dpkg-query")) {
			skip("dpkg-query is not installed");
			continue;
		}
		_cleanup_free_ char *cmd = xasprintf(
		        "dpkg-query -S '%s' 2>/dev/null | sed 's/[:,].*//'",
		        target);
		_cleanup_free_ char *pkg = sh(cmd);
		is_str(json_get_string(b, "package"), pkg, "%s package",
		       kinds[k][0]);
	}
}

int main(void)
{
	char tmpl[] = "/tmp/xrun-test-software-XXXXXX";
	tmpdir = mkdtemp(tmpl);
	if (!tmpdir) {
		perror("mkdtemp");
		return 2;
	}
	cache = path_join(tmpdir, ".xrun/cache");

	SoftwareQuery none = {0};
	json_t *j = NULL;
	is_int(capture_software(&none, &j), -EINVAL, "no executable: EINVAL");

	test_bin_true();
	test_cache();
	test_origin();
	test_ld_library_path();
	test_python();
	test_blas();

	rm_rf(tmpdir);
	free(cache);
	return done_testing();
}
