/* The tracer on its own (src/trace.h): a child under the traced policy
 * opens files and executes a program; the launcher's thread must see
 * each, once, with what stat says, and must never wedge on a caller
 * that dies, a bad pointer or a flood. */
#include "config.h"
#include "tap.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "capture.h"
#include "seccomp-policy.h"
#include "trace.h"
#include "util.h"

static void test_clean(void)
{
	static const char *const cases[][2] = {
	        {"/a/./b//c", "/a/b/c"}, {"/a/b/../c", "/a/c"},
	        {"/../../x", "/x"},      {"/", "/"},
	        {"/a/b/", "/a/b"},       {"/a/..", "/"},
	};
	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		_cleanup_free_ char *c = trace_clean_path(cases[i][0]);
		is_str(c, cases[i][1], "clean '%s'", cases[i][0]);
	}
}

static const TraceFile *find(const Tracer *t, const char *path)
{
	size_t n;
	const TraceFile *f = tracer_files(t, &n);
	for (size_t i = 0; i < n; i++)
		if (streq(f[i].path, path))
			return &f[i];
	return NULL;
}

/* The child: the filter, the listener to the parent, then the work. */
_noreturn_ static void child(scmp_filter_ctx ctx, int sock, const char *dir)
{
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		_exit(90);
	int fd = seccomp_policy_load(ctx);
	if (fd <= 0 || trace_send_listener(sock, fd) < 0)
		_exit(91);
	close(fd);
	close(sock);
	if (chdir(dir) < 0)
		_exit(92);
	/* a relative read, a write, a directory, a bad pointer */
	int r = open("data.txt", O_RDONLY | O_CLOEXEC);
	if (r < 0)
		_exit(93);
	close(r);
	r = open("new.txt", O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	if (r < 0)
		_exit(94);
	close(r);
	r = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	close(r);
	if (syscall(SYS_openat, AT_FDCWD, (void *)1, O_RDONLY) != -1 ||
	    errno != EFAULT)
		_exit(95);
	/* a flood of probes that fail */
	for (int i = 0; i < 2000; i++) {
		char p[64];
		snprintf(p, sizeof p, "/nonexistent/%d", i);
		(void)open(p, O_RDONLY | O_CLOEXEC);
	}
	/* a caller killed while it may be waiting */
	for (int i = 0; i < 20; i++) {
		pid_t k = fork();
		if (k == 0)
			for (;;)
				(void)close(open("data.txt", O_RDONLY));
		kill(k, SIGKILL);
		waitpid(k, NULL, 0);
	}
	execl("/bin/true", "true", (char *)NULL);
	_exit(96);
}

static void test_trace(void)
{
	char dir[] = "/tmp/xrun-test-trace.XXXXXX";
	if (!mkdtemp(dir)) {
		printf("Bail out! mkdtemp: %s\n", strerror(errno));
		exit(2);
	}
	_cleanup_free_ char *data = path_join(dir, "data.txt");
	_cleanup_free_ char *created = path_join(dir, "new.txt");
	write_file_replace(dir, "data.txt", "hello\n", 6, 0644);

	scmp_filter_ctx ctx = NULL;
	is_int(seccomp_policy_build_traced(true, &ctx), 0,
	       "the traced policy builds");
	int sp[2];
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) < 0) {
		printf("Bail out! socketpair: %s\n", strerror(errno));
		exit(2);
	}
	Tracer *t = NULL;
	is_int(tracer_start(sp[0], &t), 0, "the tracer starts");
	pid_t pid = fork();
	if (pid == 0)
		child(ctx, sp[1], dir);
	close(sp[1]);
	int st;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	is_int(WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st), 0,
	       "the traced child ran to its end");
	tracer_stop(t);
	TraceStats s = tracer_stats(t);
	ok(s.listener, "the listener arrived");
	const TraceFile *f = find(t, data);
	ok(f && f->read && !f->written && f->have_stat && f->regular &&
	           f->size == 6,
	   "a relative open is noted absolute, read, with its stat");
	f = find(t, created);
	ok(f && f->written, "a file created is noted as written");
	ok(!find(t, dir), "a directory opened is not noted");
	f = find(t, "/bin/true");
	ok(f && f->executed, "the program executed is noted");
	size_t n_ev;
	const TraceExec *ev = tracer_execs(t, &n_ev);
	size_t n_files;
	const TraceFile *files = tracer_files(t, &n_files);
	ok(n_ev == 1 && ev[0].file < n_files &&
	           streq(files[ev[0].file].path, "/bin/true"),
	   "the exec is in the exec log, naming its file (%zu execs)", n_ev);
	ok(n_ev == 1 && ev[0].pid == pid && ev[0].ppid == getpid(),
	   "... with the caller's pid and its parent's");
	ok(s.unreadable >= 1, "a bad pointer is counted unreadable (%llu)",
	   (unsigned long long)s.unreadable);
	ok(s.notifications >= 2000, "the flood was answered (%llu calls)",
	   (unsigned long long)s.notifications);
	f = find(t, "/nonexistent/7");
	ok(f && !f->have_stat, "a failed probe has no stat");
	tracer_free(t);
	seccomp_release(ctx);
	unlink(data);
	unlink(created);
	rmdir(dir);
}

/* Which package owns a path: built from dpkg's lists the first time,
 * then from the cached index through its table of contents. */
static void test_packages(void)
{
	if (access("/var/lib/dpkg/status", R_OK) < 0) {
		ok(1, "# SKIP no dpkg here");
		return;
	}
	char dir[] = "/tmp/xrun-test-pkg.XXXXXX";
	if (!mkdtemp(dir)) {
		printf("Bail out! mkdtemp: %s\n", strerror(errno));
		exit(2);
	}
	_cleanup_free_ char *want_pkg = NULL;
	for (int pass = 0; pass < 2; pass++) {
		Packages *p = packages_open(dir);
		char *pkg = NULL, *ver = NULL;
		ok(packages_owner(p, "/usr/bin/dpkg", &pkg, &ver) &&
		           streq(pkg, "dpkg") && ver && *ver,
		   "%s: /usr/bin/dpkg is dpkg's (%s %s)",
		   pass ? "from the cached index" : "building the index",
		   pkg ? pkg : "-", ver ? ver : "-");
		free(pkg);
		free(ver);
		ok(packages_owner(p, "/bin/dpkg", &pkg, &ver) &&
		           streq(pkg, "dpkg"),
		   "... and under its /bin spelling");
		free(pkg);
		free(ver);
		ok(!packages_owner(p, "/usr/bin/no-such-program", &pkg, &ver) &&
		           !pkg && !ver,
		   "... a path no package lists has no owner");
		/* "/." sorts first of all dpkg's paths: the table's first
		 * entry. */
		ok(packages_owner(p, "/.", &pkg, &ver) && pkg,
		   "... the index's first path is found (%s)", pkg ? pkg : "-");
		free(pkg);
		free(ver);
		packages_free(p);
	}
	_cleanup_free_ char *cmd = xasprintf("rm -rf '%s'", dir);
	(void)!system(cmd);
}

int main(void)
{
	test_clean();
	test_packages();
	test_trace();
	return done_testing();
}
