/* capture_host() against what the system's own tools say, and the git
 * probe against temporary repositories and git's own answers. */
#include "config.h"

#include <gnu/libc-version.h>
#include <limits.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <time.h>

#include "capture.h"
#include "tap.h"
#include "util.h"

extern char **environ;

/* stdout of a shell command, trailing newlines removed; NULL on failure. */
static char *sh_out(const char *fmt, ...) _printf_(1, 2);
static char *sh_out(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	_cleanup_free_ char *cmd = NULL;
	if (vasprintf(&cmd, fmt, ap) < 0)
		cmd = NULL;
	va_end(ap);
	if (!cmd)
		return NULL;
	FILE *f = popen(cmd, "r");
	if (!f)
		return NULL;
	size_t cap = 4096, len = 0;
	char *buf = xmalloc(cap);
	size_t k;
	while ((k = fread(buf + len, 1, cap - len - 1, f)) > 0) {
		len += k;
		if (cap - len < 2)
			buf = xrealloc(buf, cap *= 2);
	}
	buf[len] = 0;
	if (pclose(f) != 0) {
		free(buf);
		return NULL;
	}
	while (len && buf[len - 1] == '\n')
		buf[--len] = 0;
	return buf;
}

static int sh(const char *fmt, ...) _printf_(1, 2);
static int sh(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	_cleanup_free_ char *cmd = NULL;
	if (vasprintf(&cmd, fmt, ap) < 0)
		cmd = NULL;
	va_end(ap);
	return cmd ? system(cmd) : -1;
}

static const char *jstr(json_t *o, const char *path_a, const char *path_b)
{
	json_t *v = json_object_get(o, path_a);
	if (path_b)
		v = json_object_get(v, path_b);
	return json_string_value(v);
}

/* Like tap.h's is_str, which cannot be used: its variable _c shadows the
 * one ok() declares, so ok() reads an uninitialized value. */
static void str_is(const char *got, const char *want, const char *what)
{
	bool same = got && want ? streq(got, want) : got == want;
	ok(same, "%s", what);
	if (!same)
		printf("#   got '%s', expected '%s'\n", got ? got : "(null)",
		       want ? want : "(null)");
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

/* Everything the host section says, checked against the system's own
 * tools; cache_dir: the store cache the CPU description is kept in, or
 * NULL. */
static void test_host(const char *cache_dir)
{
	json_t *h = NULL;
	int r = capture_host(cache_dir, &h);
	is_int(r, 0, "capture_host succeeds (%s)",
	       cache_dir ? "with a cache" : "without a cache");
	if (r < 0)
		return;
	json_auto_t *host = h;

	struct utsname u;
	uname(&u);
	str_is(jstr(host, "hostname", NULL), u.nodename, "hostname");
	_cleanup_free_ char *boot =
	        sh_out("cat /proc/sys/kernel/random/boot_id");
	str_is(jstr(host, "boot_id", NULL), boot, "boot_id");
	_cleanup_free_ char *release = sh_out("uname -r");
	str_is(jstr(host, "kernel", "release"), release,
	       "kernel release is uname -r");
	_cleanup_free_ char *machine = sh_out("uname -m");
	str_is(jstr(host, "kernel", "machine"), machine, "kernel machine");
	str_is(jstr(host, "kernel", "sysname"), "Linux", "kernel sysname");
	ok(jstr(host, "kernel", "version"), "kernel version");

	json_t *os = json_object_get(host, "os");
	if (access("/etc/os-release", F_OK) == 0 ||
	    access("/usr/lib/os-release", F_OK) == 0) {
		_cleanup_free_ char *id =
		        sh_out("sh -c '. /etc/os-release 2>/dev/null || "
		               ". /usr/lib/os-release; printf %%s \"$ID\"'");
		_cleanup_free_ char *pretty = sh_out(
		        "sh -c '. /etc/os-release 2>/dev/null || "
		        ". /usr/lib/os-release; printf %%s \"$PRETTY_NAME\"'");
		str_is(json_string_value(json_object_get(os, "id")), id,
		       "os id as the shell reads it");
		str_is(json_string_value(json_object_get(os, "pretty_name")),
		       pretty, "os pretty_name unquoted as the shell does");
	} else {
		ok(json_is_null(os), "os null without os-release");
	}

	json_t *cpu = json_object_get(host, "cpu");
	is_int(json_integer_value(json_object_get(cpu, "count")),
	       sysconf(_SC_NPROCESSORS_ONLN), "cpu count is the online CPUs");
	_cleanup_free_ char *nproc = sh_out("nproc");
	ok(nproc && json_integer_value(json_object_get(cpu, "count")) >=
	                    strtol(nproc, NULL, 10),
	   "cpu count >= nproc (%s)", nproc ? nproc : "?");
	_cleanup_free_ char *flags_sha = sh_out(
	        "grep -m1 '^flags' /proc/cpuinfo | sed 's/^[^:]*: *//' | "
	        "tr ' \\t' '\\n\\n' | grep -v '^$' | LC_ALL=C sort | "
	        "paste -sd ' ' | tr -d '\\n' | sha256sum | cut -d' ' -f1");
	_cleanup_free_ char *nflags = sh_out("grep -m1 '^flags' /proc/cpuinfo "
	                                     "| sed 's/^[^:]*: *//' | wc -w");
	if (nflags && strtol(nflags, NULL, 10) > 0) {
		_cleanup_free_ char *want = xasprintf("sha256:%s", flags_sha);
		str_is(json_string_value(json_object_get(cpu, "flags_sha256")),
		       want, "cpu flags_sha256 over sorted flags");
		is_int(json_integer_value(json_object_get(cpu, "flags_count")),
		       strtol(nflags, NULL, 10), "cpu flags_count");
		_cleanup_free_ char *model =
		        sh_out("grep -m1 '^model name' /proc/cpuinfo | "
		               "sed 's/^[^:]*: *//'");
		str_is(json_string_value(json_object_get(cpu, "model")), model,
		       "cpu model");
	} else {
		ok(1, "cpu flags # SKIP no flags line in /proc/cpuinfo");
	}

	_cleanup_free_ char *mem =
	        sh_out("awk '/^MemTotal:/ { printf \"%%.0f\", $2 * 1024 }' "
	               "/proc/meminfo");
	json_int_t total = json_integer_value(json_object_get(
	        json_object_get(host, "memory"), "total_bytes"));
	ok(total > 0, "memory total > 0");
	is_int(total, mem ? strtoll(mem, NULL, 10) : -1, "memory is MemTotal");

	const char *libc = jstr(host, "libc", "version");
	str_is(libc, gnu_get_libc_version(), "libc version");
	str_is(jstr(host, "libc", "name"), "glibc", "libc name");
	_cleanup_free_ char *ldd = sh_out("ldd --version 2>&1 | head -n1");
	ok(ldd && libc && strstr(ldd, libc), "ldd --version mentions %s",
	   libc ? libc : "?");

	json_t *gpus = json_object_get(host, "gpus");
	ok(json_is_array(gpus), "gpus is an array");
	if (access("/proc/driver/nvidia", F_OK) < 0) {
		is_int(json_array_size(gpus), 0, "no gpus without the driver");
		ok(json_is_null(json_object_get(host, "nvidia")),
		   "nvidia null without the driver");
	} else {
		ok(json_is_string(json_object_get(
		           json_object_get(host, "nvidia"), "driver")),
		   "nvidia driver version");
	}
	if (access("/.dockerenv", F_OK) == 0)
		str_is(jstr(host, "container", NULL), "docker", "container");
	else
		ok(json_object_get(host, "container"), "container present");
	ok(json_is_null(json_object_get(host, "slurm")),
	   "slurm null without SLURM_JOB_ID");
}

static void test_slurm(void)
{
	setenv("SLURM_JOB_ID", "4242", 1);
	setenv("SLURM_CLUSTER_NAME", "tiger", 1);
	unsetenv("SLURM_JOB_NODELIST");
	setenv("SLURM_NODELIST", "node[01-02]", 1);
	setenv("SLURM_ARRAY_TASK_ID", "7", 1);
	setenv("SLURM_CUSTOM_THING", "x=y", 1);
	json_t *h = NULL;
	is_int(capture_host(NULL, &h), 0, "capture_host under slurm");
	json_auto_t *host = h;
	json_t *s = json_object_get(host, "slurm");
	str_is(jstr(s, "job_id", NULL), "4242", "slurm job_id");
	str_is(jstr(s, "cluster", NULL), "tiger", "slurm cluster");
	str_is(jstr(s, "node_list", NULL), "node[01-02]",
	       "slurm node_list falls back to SLURM_NODELIST");
	str_is(jstr(s, "array_task_id", NULL), "7", "slurm array_task_id");
	ok(json_is_null(json_object_get(s, "partition")),
	   "slurm partition null when unset");
	str_is(jstr(s, "variables", "SLURM_CUSTOM_THING"), "x=y",
	       "slurm variables hold every SLURM_*");
	is_int(json_object_size(s), 10, "slurm has its ten keys");
	unsetenv("SLURM_JOB_ID");
	unsetenv("SLURM_CLUSTER_NAME");
	unsetenv("SLURM_NODELIST");
	unsetenv("SLURM_ARRAY_TASK_ID");
	unsetenv("SLURM_CUSTOM_THING");
}

static void time_host(const char *cache_dir)
{
	enum { N = 201 };
	int64_t t[N];
	for (int i = 0; i < N; i++) {
		json_t *h = NULL;
		int64_t t0 = monotonic_ns();
		capture_host(cache_dir, &h);
		t[i] = monotonic_ns() - t0;
		json_decref(h);
	}
	qsort(t, N, sizeof t[0], cmp_i64);
	printf("# capture_host (%s): median %.1f us, min %.1f us, max %.1f "
	       "us\n",
	       cache_dir ? "cached" : "uncached", t[N / 2] / 1e3, t[0] / 1e3,
	       t[N - 1] / 1e3);
}

/* Run the probe in dir; returns the "git" value (a new reference). */
static json_t *probe(const char *dir, char *const *envp)
{
	GitProbe *p = NULL;
	if (git_probe_start(dir, envp, &p) < 0)
		return NULL;
	json_t *j = NULL;
	if (git_probe_finish(p, &j) < 0)
		return NULL;
	json_t *g = json_incref(json_object_get(j, "git"));
	json_decref(j);
	return g;
}

static bool same_mtime(const struct stat *a, const struct stat *b)
{
	return a->st_mtim.tv_sec == b->st_mtim.tv_sec &&
	       a->st_mtim.tv_nsec == b->st_mtim.tv_nsec &&
	       a->st_ino == b->st_ino && a->st_size == b->st_size;
}

static void test_source(void)
{
	char tmpl[] = "/tmp/xrun-test-git-XXXXXX";
	char *tmp = mkdtemp(tmpl);
	if (!tmp) {
		ok(0, "mkdtemp");
		return;
	}
	/* A predictable git: no user or system configuration. */
	setenv("HOME", tmp, 1);
	setenv("GIT_CONFIG_NOSYSTEM", "1", 1);
	unsetenv("XDG_CONFIG_HOME");
	setenv("GIT_AUTHOR_NAME", "T", 1);
	setenv("GIT_AUTHOR_EMAIL", "t@example.com", 1);
	setenv("GIT_COMMITTER_NAME", "T", 1);
	setenv("GIT_COMMITTER_EMAIL", "t@example.com", 1);

	/* Outside any repository. */
	_cleanup_free_ char *out = xasprintf("%s/outside", tmp);
	mkdir(out, 0755);
	if (sh("git -C %s rev-parse --git-dir >/dev/null 2>&1", out) != 0) {
		json_auto_t *g = probe(out, environ);
		ok(g && json_is_null(g), "outside a work tree: git null");
	} else {
		ok(1, "outside # SKIP %s is inside a git work tree", tmp);
	}
	GitProbe *p = NULL;
	ok(git_probe_start("/nonexistent/dir", environ, &p) < 0,
	   "a missing cwd is an error");

	/* A repository without commits. */
	_cleanup_free_ char *repo = xasprintf("%s/repo", tmp);
	sh("git init -q %s && git -C %s symbolic-ref HEAD refs/heads/trunk",
	   repo, repo);
	{
		json_auto_t *g = probe(repo, environ);
		ok(json_is_object(g), "empty repository: git object");
		str_is(jstr(g, "toplevel", NULL), repo, "toplevel");
		ok(json_is_null(json_object_get(g, "commit")),
		   "no commit yet: commit null");
		str_is(jstr(g, "branch", NULL), "trunk", "unborn branch");
		ok(json_is_false(json_object_get(g, "dirty")), "not dirty");
		is_int(json_integer_value(json_object_get(g, "untracked")), 0,
		       "no untracked files");
		ok(json_is_null(json_object_get(g, "remote")), "no remote");
		ok(json_is_null(json_object_get(g, "diff_sha256")), "no diff");
	}
	sh("cd %s && echo one > a.txt && printf '\\000\\001bin' > b.bin && "
	   "git add a.txt b.bin",
	   repo);
	{
		json_auto_t *g = probe(repo, environ);
		ok(json_is_true(json_object_get(g, "dirty")),
		   "staged files before the first commit: dirty");
		ok(json_is_null(json_object_get(g, "diff_sha256")),
		   "no HEAD to diff against: diff_sha256 null");
		ok(!json_object_get(g, "error"), "no error");
	}

	/* Committed and clean. */
	sh("cd %s && git commit -qm first && mkdir sub", repo);
	_cleanup_free_ char *head = sh_out("git -C %s rev-parse HEAD", repo);
	{
		json_auto_t *g = probe(repo, environ);
		str_is(jstr(g, "commit", NULL), head,
		       "commit is rev-parse HEAD");
		str_is(jstr(g, "branch", NULL), "trunk", "branch");
		ok(json_is_false(json_object_get(g, "dirty")),
		   "clean: not dirty");
		ok(json_is_null(json_object_get(g, "diff_sha256")),
		   "clean: diff_sha256 null");
		is_int(json_object_size(g), 7, "seven keys");
	}

	/* Remotes: origin, then the upstream's remote wins. */
	sh("git -C %s remote add origin /some/path", repo);
	{
		json_auto_t *g = probe(repo, environ);
		str_is(jstr(g, "remote", NULL), "/some/path", "origin's url");
	}
	sh("cd %s && git remote add up/stream "
	   "https://user:secret@example.com/r.git "
	   "&& git update-ref refs/remotes/up/stream/trunk HEAD && "
	   "git config branch.trunk.remote up/stream && "
	   "git config branch.trunk.merge refs/heads/trunk",
	   repo);
	{
		json_auto_t *g = probe(repo, environ);
		str_is(jstr(g, "remote", NULL), "https://example.com/r.git",
		       "the upstream's remote, without credentials");
	}

	/* The config file is read in C: git's syntax, checked against git. */
	_cleanup_free_ char *cfg = xasprintf("%s/cfg", tmp);
	sh("git init -q %s && cd %s && echo a > a && git add a && "
	   "git commit -qm a && cp .git/config .git/config.base",
	   cfg, cfg);
	static const char *const configs[] = {
	        "[remote \"origin\"]\n\turl = /plain/path\n",
	        "[remote \"origin\"] url = \"/quoted  two\" spaces ; comment\n",
	        "[REMOTE \"origin\"]\n\tURL=  a\\\n  b\\tc\\\\d # comment\n",
	        "[remote.ORIGIN]\n\turl = /legacy\n",
	        "[remote \"origin\"]\n\tfetch = x\n[remote \"other\"]\n\turl = "
	        "/o\n"
	        "[remote \"origin\"]\r\n\turl = /second/section\r\n",
	        "[remote \"origin\"]\n\turl = /first\n\turl = /second\n",
	};
	for (size_t i = 0; i < ELEMENTSOF(configs); i++) {
		_cleanup_free_ char *path = xasprintf("%s/.git/config", cfg);
		_cleanup_free_ char *base = xasprintf("%s.base", path);
		_cleanup_free_ char *text = NULL;
		read_full_file(base, 65536, &text, NULL);
		FILE *f = fopen(path, "we");
		fputs(text, f);
		fputs(configs[i], f);
		fclose(f);
		_cleanup_free_ char *want =
		        sh_out("git -C %s config --get-regexp "
		               "'^remote\\.origin\\.url$' "
		               "| head -n1 | cut -d' ' -f2-",
		               cfg);
		json_auto_t *g = probe(cfg, environ);
		_cleanup_free_ char *what =
		        xasprintf("config %zu: remote as git reads it", i);
		str_is(jstr(g, "remote", NULL), want, what);
	}
	/* A linked worktree: .git is a file, the config is the main one's. */
	_cleanup_free_ char *wt = xasprintf("%s/wt", tmp);
	sh("cd %s && git worktree add -q --detach %s", cfg, wt);
	{
		json_auto_t *g = probe(wt, environ);
		str_is(jstr(g, "toplevel", NULL), wt, "worktree: toplevel");
		str_is(jstr(g, "remote", NULL), "/first",
		       "worktree: the main repository's remote");
		ok(json_is_null(json_object_get(g, "branch")) &&
		           json_is_string(json_object_get(g, "commit")),
		   "worktree: detached at a commit");
	}

	/* Dirty: a modified text file, a modified binary file, a file
	 * only touched (stat-dirty, same content), untracked files. */
	_cleanup_free_ char *index = xasprintf("%s/.git/index", repo);
	struct stat before, after;
	/* c.txt old enough not to be racily clean (git compares seconds),
	 * so that touching it makes a stat-only change, which porcelain
	 * `git diff` would write back to the index. */
	sh("cd %s && echo '  x' > c.txt && touch -d 2001-01-01 c.txt && "
	   "git add c.txt && git commit -qm c",
	   repo);
	stat(index, &before);
	struct timespec ms = {0, 20 * 1000 * 1000};
	nanosleep(&ms, NULL);
	sh("cd %s && echo two >> a.txt && printf '\\002' >> b.bin && "
	   "touch c.txt && echo u > u1 && mkdir -p ud/x && echo u > ud/x/f && "
	   "echo u > sub/u2",
	   repo);
	_cleanup_free_ char *subdir = xasprintf("%s/sub", repo);
	{
		json_auto_t *g = probe(subdir, environ);
		stat(index, &after);
		ok(same_mtime(&before, &after),
		   "the probe leaves .git/index alone");
		_cleanup_free_ char *lock = xasprintf("%s.lock", index);
		ok(access(lock, F_OK) < 0, "no index.lock left");
		str_is(jstr(g, "toplevel", NULL), repo,
		       "toplevel from a subdir");
		ok(json_is_true(json_object_get(g, "dirty")), "edited: dirty");
		is_int(json_integer_value(json_object_get(g, "untracked")), 3,
		       "untracked: two files and a directory");
		_cleanup_free_ char *want =
		        sh_out("cd %s && git diff HEAD --binary | sha256sum | "
		               "cut -d' ' -f1",
		               repo);
		_cleanup_free_ char *want_s = xasprintf("sha256:%s", want);
		str_is(jstr(g, "diff_sha256", NULL), want_s,
		       "diff_sha256 is sha256 of git diff HEAD --binary");
	}

	/* A diff much larger than a pipe buffer, and a rename. */
	sh("cd %s && seq 1 200000 > big.txt && git add big.txt && "
	   "git commit -qm big && sed -i 's/$/x/' big.txt && "
	   "git mv c.txt d.txt",
	   repo);
	{
		json_auto_t *g = probe(repo, environ);
		_cleanup_free_ char *want =
		        sh_out("cd %s && git diff --no-renames HEAD --binary | "
		               "sha256sum "
		               "| cut -d' ' -f1",
		               repo);
		_cleanup_free_ char *want_s = xasprintf("sha256:%s", want);
		str_is(jstr(g, "diff_sha256", NULL), want_s,
		       "a 2.6 MB diff is hashed whole (renames as delete+add)");
	}

	/* Detached HEAD. */
	sh("cd %s && git stash -q -u && git checkout -q --detach", repo);
	{
		json_auto_t *g = probe(repo, environ);
		ok(json_is_null(json_object_get(g, "branch")),
		   "detached: branch null");
		ok(json_is_false(json_object_get(g, "dirty")),
		   "stashed: clean again");
		is_int(json_integer_value(json_object_get(g, "untracked")), 0,
		       "stashed: no untracked");
	}

	/* git fails: a .git file pointing nowhere. */
	_cleanup_free_ char *broken = xasprintf("%s/broken", tmp);
	sh("mkdir -p %s && echo 'gitdir: /nonexistent/x' > %s/.git", broken,
	   broken);
	{
		json_auto_t *g = probe(broken, environ);
		str_is(jstr(g, "toplevel", NULL), broken, "broken: toplevel");
		const char *e = jstr(g, "error", NULL);
		ok(e && startswith(e, "fatal: "), "broken: error is git's (%s)",
		   e ? e : "null");
		ok(!json_object_get(g, "commit"), "broken: no commit key");
	}

	/* No git on PATH. */
	{
		char *env[] = {(char *)"PATH=/nonexistent", NULL};
		json_auto_t *g = probe(repo, env);
		ok(g && json_is_null(g), "no git on PATH: git null");
	}

	/* Time start+finish on a small clean repository. */
	_cleanup_free_ char *small = xasprintf("%s/small", tmp);
	sh("git init -q %s && cd %s && echo a > a && git add a && "
	   "git commit -qm a && git remote add origin /x",
	   small, small);
	enum { N = 21 };
	int64_t t[N], ts[N];
	for (int i = 0; i < N; i++) {
		json_t *j = NULL;
		int64_t t0 = monotonic_ns();
		GitProbe *gp = NULL;
		git_probe_start(small, environ, &gp);
		ts[i] = monotonic_ns() - t0;
		git_probe_finish(gp, &j);
		t[i] = monotonic_ns() - t0;
		json_decref(j);
	}
	qsort(t, N, sizeof t[0], cmp_i64);
	qsort(ts, N, sizeof ts[0], cmp_i64);
	printf("# git probe on a small repo: start %.0f us, start+finish "
	       "median %.2f ms (min %.2f, max %.2f)\n",
	       ts[N / 2] / 1e3, t[N / 2] / 1e6, t[0] / 1e6, t[N - 1] / 1e6);
	{
		int64_t t0 = monotonic_ns();
		json_auto_t *g = probe(out, environ);
		printf("# git probe outside a repo: %.1f us\n",
		       (monotonic_ns() - t0) / 1e3);
	}

	sh("rm -rf %s", tmp);
}

static const char *cpu_model(const char *cache_dir)
{
	static char model[256];
	json_t *h = NULL;
	if (capture_host(cache_dir, &h) < 0)
		return "";
	json_auto_t *host = h;
	const char *m = jstr(host, "cpu", "model");
	snprintf(model, sizeof model, "%s", m ? m : "");
	return model;
}

/* The CPU description comes from the cache only under this boot's key,
 * and a stale or broken cache is read again from /proc/cpuinfo. */
static void test_cpu_cache(const char *dir)
{
	struct utsname u;
	uname(&u);
	_cleanup_free_ char *path =
	        xasprintf("%s/cpu-v1-%s.json", dir, u.nodename);
	_cleanup_free_ char *real = xstrdup(cpu_model(NULL));
	_cleanup_free_ char *boot =
	        sh_out("cat /proc/sys/kernel/random/boot_id");
	_cleanup_free_ char *ucode =
	        sh_out("cat /sys/devices/system/cpu/cpu0/microcode/version "
	               "2>/dev/null || echo -");
	ok(access(path, F_OK) == 0, "the first capture wrote %s", path);
	static const char fake[] =
	        "\"cpu\": {\"model\": \"Fake CPU\", \"count\": 1, "
	        "\"flags_sha256\": \"sha256:00\", \"flags_count\": 1}}";
	sh("printf '{\"key\": \"boot %s microcode %s\", %s' > %s", boot, ucode,
	   fake, path);
	str_is(cpu_model(dir), "Fake CPU",
	       "this boot's entry is used without reading /proc/cpuinfo");
	sh("printf '{\"key\": \"boot 0 microcode %s\", %s' > %s", ucode, fake,
	   path);
	str_is(cpu_model(dir), real, "another boot's entry is read again");
	_cleanup_free_ char *kept = sh_out("cat %s", path);
	ok(kept && !strstr(kept, "Fake CPU") && strstr(kept, boot),
	   "and replaced under this boot's key");
	sh("printf '{broken' > %s", path);
	str_is(cpu_model(dir), real, "a broken cache is read again");
	str_is(cpu_model("/nonexistent/cache"), real,
	       "a cache that cannot be written is no error");
}

/* The CPU list format both ways, and capture_threads() against the
 * kernel's Cpus_allowed_list and the environment given. */
static void test_threads(void)
{
	static const struct {
		const char *text;
		int count;
	} lists[] = {{"0", 1}, {"0-3", 4}, {"0,2,4-5", 4}, {"1-2,7,9-11", 6}};
	for (size_t i = 0; i < ELEMENTSOF(lists); i++) {
		cpu_set_t set;
		int r = cpu_list_parse(lists[i].text, &set);
		is_int(r, 0, "cpu list '%s' parses", lists[i].text);
		is_int(CPU_COUNT(&set), lists[i].count, "... %d CPUs",
		       lists[i].count);
		_cleanup_free_ char *back = cpu_list_format(&set);
		is_str(back, lists[i].text, "... and formats back");
	}
	static const char *const bad[] = {"",   "a",  "3-1",  "1,,2",
	                                  "-1", "1-", "99999"};
	for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
		cpu_set_t set;
		ok(cpu_list_parse(bad[i], &set) == -EINVAL,
		   "'%s' is not a CPU list", bad[i]);
	}
	char *env[] = {(char *)"OMP_NUM_THREADS=3", (char *)"PATH=/bin", NULL};
	json_t *t = NULL;
	is_int(capture_threads(env, &t), 0, "capture_threads");
	json_auto_t *tt = t;
	_cleanup_free_ char *kernel =
	        sh_out("sed -n 's/^Cpus_allowed_list:[[:space:]]*//p' "
	               "/proc/%d/status",
	               (int)getpid());
	is_str(json_string_value(json_get_path(t, "affinity.list")), kernel,
	       "affinity.list is the kernel's Cpus_allowed_list");
	is_str(json_string_value(json_get_path(t, "variables.OMP_NUM_THREADS")),
	       "3", "a thread variable that is set: its value");
	ok(json_is_null(json_get_path(t, "variables.MKL_NUM_THREADS")),
	   "one that is unset: null, not invented");
	json_t *q = json_object_get(t, "cpu_quota");
	ok(json_is_null(q) ||
	           (json_is_integer(json_object_get(q, "period_us")) &&
	            json_integer_value(json_object_get(q, "period_us")) > 0),
	   "the cgroup quota: null or a period");
}

int main(void)
{
	test_threads();
	test_host(NULL);
	char tmpl[] = "/tmp/xrun-test-cpu-XXXXXX";
	char *cache = mkdtemp(tmpl);
	if (cache) {
		test_host(cache); /* writes the cache */
		test_host(cache); /* reads it */
		test_cpu_cache(cache);
	} else {
		ok(0, "mkdtemp");
	}
	test_slurm();
	time_host(NULL);
	time_host(cache);
	if (cache)
		sh("rm -rf %s", cache);
	if (sh("git --version >/dev/null 2>&1") == 0)
		test_source();
	else
		ok(1, "git probe # SKIP git is not installed");
	return done_testing();
}
