/* Hostile programs for the sandbox catalogue (t0110/t0111): each mode
 * tries one thing a training run must not be able to do, or one thing it
 * must still be able to do, and prints what happened as "OK" or the
 * errno's name, so that the test compares words, not exit statuses.
 *
 *   hostile write PATH        create PATH and write to it
 *   hostile read PATH         print PATH's content, or the errno
 *   hostile stat PATH         OK when PATH exists (lstat)
 *   hostile remount           mount(2) MS_REMOUNT|MS_BIND of / read-write
 *   hostile serve PORTFILE    a TCP server on 127.0.0.1: writes its port
 *                             to PORTFILE, answers "hello" to everyone
 *   hostile connect PORT      connect to 127.0.0.1:PORT, print the answer
 *   hostile loopback          a server and a client on 127.0.0.1, both
 *                             in this process
 *   hostile userve ADDR FILE  the same server on a unix socket (ADDR, or
 *                             the abstract name after a leading '@');
 *                             writes "ready" to FILE once it listens
 *   hostile uconnect ADDR     connect to that socket, print the answer
 *   hostile ptrace PID        PTRACE_ATTACH and process_vm_readv on PID
 *   hostile pids              the numeric entries of /proc
 *   hostile ids               real and effective uid, as a setuid copy
 *                             sees them
 *   hostile fds               the open descriptors
 *   hostile bomb SECS MAX     a fork bomb: every process forks as fast as
 *                             it can until SECS pass or MAX forks were
 *                             made; prints forks, failures and the most
 *                             processes alive at once (this one counted)
 *   hostile ignore-term       ignore SIGTERM, say ready, sleep
 *   hostile wait-int          say ready, wait for SIGINT, exit 130
 *   hostile daemon TAG        setsid and fork twice; the grandchild
 *                             becomes "sleep 300" with argv[0]
 *                             "xrun-hostile-daemon-TAG" */
#include "config.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stddef.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char *ename(int e)
{
	const char *n = strerrorname_np(e);
	return n ? n : "UNKNOWN";
}

/* No atoi (STYLE.md): a bad number is 0, which every mode refuses. */
static int num(const char *s)
{
	char *end;
	long v = strtol(s, &end, 10);
	return *s && !*end && v > 0 && v < 1 << 30 ? (int)v : 0;
}

static int report(const char *what, int r)
{
	if (r < 0)
		printf("%s %s\n", what, ename(errno));
	else
		printf("%s OK\n", what);
	return 0;
}

static int do_write(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return report("write", -1);
	int r = write(fd, "hostile\n", 8) == 8 ? 0 : -1;
	if (close(fd) < 0)
		r = -1;
	return report("write", r);
}

static int do_read(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return report("read", -1);
	char buf[4096];
	ssize_t n;
	printf("read OK\n");
	while ((n = read(fd, buf, sizeof buf)) > 0)
		fwrite(buf, 1, (size_t)n, stdout);
	if (n < 0)
		report("read", -1);
	close(fd);
	return 0;
}

static int do_stat(const char *path)
{
	struct stat st;
	return report("stat", lstat(path, &st));
}

static int do_remount(void)
{
	return report("remount",
	              mount(NULL, "/", NULL, MS_REMOUNT | MS_BIND, NULL));
}

static int listen_local(int *ret_port)
{
	int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t len = sizeof a;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof a) < 0 ||
	    listen(s, 16) < 0 ||
	    getsockname(s, (struct sockaddr *)&a, &len) < 0)
		return -1;
	*ret_port = ntohs(a.sin_port);
	return s;
}

static int connect_local(int port)
{
	int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = {.sin_family = AF_INET,
	                        .sin_port = htons((uint16_t)port)};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (s < 0 || connect(s, (struct sockaddr *)&a, sizeof a) < 0)
		return -1;
	return s;
}

static int do_serve(const char *portfile)
{
	int port;
	int s = listen_local(&port);
	if (s < 0)
		return report("serve", -1);
	FILE *f = fopen(portfile, "we");
	if (!f || fprintf(f, "%d\n", port) < 0 || fclose(f) != 0)
		return report("serve", -1);
	for (;;) {
		int c = accept4(s, NULL, NULL, SOCK_CLOEXEC);
		if (c < 0)
			continue;
		(void)!write(c, "hello\n", 6);
		close(c);
	}
}

/* Read the peer's answer: "connect OK hello". */
static int answer(int s)
{
	char buf[64] = "";
	ssize_t n = read(s, buf, sizeof buf - 1);
	if (n < 0)
		return report("connect", -1);
	buf[n > 0 ? n : 0] = 0;
	buf[strcspn(buf, "\n")] = 0;
	printf("connect OK %s\n", buf);
	return 0;
}

static int do_connect(const char *port)
{
	int s = connect_local(num(port));
	if (s < 0)
		return report("connect", -1);
	return answer(s);
}

static socklen_t unix_addr(const char *addr, struct sockaddr_un *ret)
{
	memset(ret, 0, sizeof *ret);
	ret->sun_family = AF_UNIX;
	size_t n = strlen(addr);
	if (n >= sizeof ret->sun_path)
		n = sizeof ret->sun_path - 1;
	memcpy(ret->sun_path, addr, n);
	if (addr[0] == '@')
		ret->sun_path[0] =
		        0; /* abstract: no file, bound to the netns */
	return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
}

static int do_userve(const char *addr, const char *readyfile)
{
	struct sockaddr_un a;
	socklen_t len = unix_addr(addr, &a);
	int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0 || bind(s, (struct sockaddr *)&a, len) < 0 ||
	    listen(s, 16) < 0)
		return report("userve", -1);
	FILE *f = fopen(readyfile, "we");
	if (!f || fputs("ready\n", f) < 0 || fclose(f) != 0)
		return report("userve", -1);
	for (;;) {
		int c = accept4(s, NULL, NULL, SOCK_CLOEXEC);
		if (c < 0)
			continue;
		(void)!write(c, "hello\n", 6);
		close(c);
	}
	return 0;
}

static int do_uconnect(const char *addr)
{
	struct sockaddr_un a;
	socklen_t len = unix_addr(addr, &a);
	int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0 || connect(s, (struct sockaddr *)&a, len) < 0)
		return report("connect", -1);
	return answer(s);
}

static int do_loopback(void)
{
	int port;
	int s = listen_local(&port);
	if (s < 0)
		return report("listen", -1);
	int c = connect_local(port);
	if (c < 0)
		return report("connect", -1);
	int a = accept4(s, NULL, NULL, SOCK_CLOEXEC);
	if (a < 0 || write(a, "hello\n", 6) != 6)
		return report("accept", -1);
	close(a);
	return answer(c);
}

static int do_ptrace(const char *pidstr)
{
	pid_t pid = (pid_t)num(pidstr);
	report("ptrace", (int)ptrace(PTRACE_ATTACH, pid, NULL, NULL));
	char here[16], there[16];
	struct iovec l = {here, sizeof here}, r = {there, sizeof there};
	/* Any address will do: the call must be refused before it is
	 * looked at. */
	r.iov_base = (void *)0x400000;
	report("process_vm_readv", (int)process_vm_readv(pid, &l, 1, &r, 1, 0));
	return 0;
}

static int do_pids(void)
{
	DIR *d = opendir("/proc");
	if (!d)
		return report("pids", -1);
	struct dirent *e;
	const char *sep = "";
	while ((e = readdir(d))) {
		if (strspn(e->d_name, "0123456789") != strlen(e->d_name))
			continue;
		printf("%s%s", sep, e->d_name);
		sep = " ";
	}
	printf("\n");
	closedir(d);
	return 0;
}

static int do_ids(void)
{
	printf("uid %d euid %d\n", (int)getuid(), (int)geteuid());
	return 0;
}

static int do_fds(void)
{
	const char *sep = "";
	for (int fd = 0; fd < 4096; fd++)
		if (fcntl(fd, F_GETFD) >= 0) {
			printf("%s%d", sep, fd);
			sep = " ";
		}
	printf("\n");
	return 0;
}

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct bomb {
	atomic_int forks, failures, alive, max_alive;
};

static void bomb_alive(struct bomb *b, int delta)
{
	int now = atomic_fetch_add(&b->alive, delta) + delta;
	int max = atomic_load(&b->max_alive);
	while (now > max &&
	       !atomic_compare_exchange_weak(&b->max_alive, &max, now))
		;
}

/* Every process forks until the deadline or until MAX forks were made by
 * all of them together, then waits for its children; so the bomb ends on
 * its own, whatever the limit. */
static void bomb_loop(struct bomb *b, int64_t deadline, int max)
{
	while (now_ms() < deadline) {
		if (atomic_fetch_add(&b->forks, 1) >= max) {
			atomic_fetch_sub(&b->forks, 1);
			usleep(10000);
			continue;
		}
		pid_t pid = fork();
		if (pid == 0) {
			bomb_alive(b, 1);
			bomb_loop(b, deadline, max);
			bomb_alive(b, -1);
			_exit(0);
		}
		if (pid < 0) {
			atomic_fetch_sub(&b->forks, 1);
			atomic_fetch_add(&b->failures, 1);
			usleep(1000);
		}
	}
	while (wait(NULL) > 0 || errno == EINTR)
		;
}

static int do_bomb(const char *secs, const char *max)
{
	struct bomb *b = mmap(NULL, sizeof *b, PROT_READ | PROT_WRITE,
	                      MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (b == MAP_FAILED)
		return report("bomb", -1);
	bomb_alive(b, 1);
	bomb_loop(b, now_ms() + (int64_t)num(secs) * 1000, num(max));
	printf("forks %d failures %d max_alive %d\n", atomic_load(&b->forks),
	       atomic_load(&b->failures), atomic_load(&b->max_alive));
	return 0;
}

static int do_ignore_term(void)
{
	signal(SIGTERM, SIG_IGN);
	printf("ready\n");
	fflush(stdout);
	for (;;)
		pause();
	return 0;
}

static volatile sig_atomic_t got_int;
static void on_int(int sig)
{
	got_int = sig;
}

static int do_wait_int(void)
{
	struct sigaction sa = {.sa_handler = on_int};
	sigaction(SIGINT, &sa, NULL);
	printf("ready\n");
	fflush(stdout);
	while (!got_int)
		pause();
	printf("got SIGINT\n");
	fflush(stdout);
	return 130;
}

static int do_daemon(const char *tag)
{
	char argv0[128];
	snprintf(argv0, sizeof argv0, "xrun-hostile-daemon-%s", tag);
	pid_t pid = fork();
	if (pid < 0)
		return report("daemon", -1);
	if (pid == 0) {
		setsid();
		if (fork() != 0)
			_exit(0);
		int null = open("/dev/null", O_RDWR | O_CLOEXEC);
		dup2(null, 0);
		dup2(null, 1);
		dup2(null, 2);
		execl("/bin/sleep", argv0, "300", (char *)NULL);
		_exit(127);
	}
	waitpid(pid, NULL, 0);
	printf("daemon started\n");
	return 0;
}

/* Built with --enable-asan, this helper runs under the seccomp filter,
 * which denies ptrace: LeakSanitizer's check at exit would die of that
 * and turn every run into a failure. xrun itself keeps the check. */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
	return "detect_leaks=0";
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "";
	const char *a1 = argc > 2 ? argv[2] : NULL;
	const char *a2 = argc > 3 ? argv[3] : NULL;
	int r = -1;
	if (strcmp(mode, "write") == 0 && a1)
		r = do_write(a1);
	else if (strcmp(mode, "read") == 0 && a1)
		r = do_read(a1);
	else if (strcmp(mode, "stat") == 0 && a1)
		r = do_stat(a1);
	else if (strcmp(mode, "remount") == 0)
		r = do_remount();
	else if (strcmp(mode, "serve") == 0 && a1)
		r = do_serve(a1);
	else if (strcmp(mode, "connect") == 0 && a1)
		r = do_connect(a1);
	else if (strcmp(mode, "userve") == 0 && a1 && a2)
		r = do_userve(a1, a2);
	else if (strcmp(mode, "uconnect") == 0 && a1)
		r = do_uconnect(a1);
	else if (strcmp(mode, "loopback") == 0)
		r = do_loopback();
	else if (strcmp(mode, "ptrace") == 0 && a1)
		r = do_ptrace(a1);
	else if (strcmp(mode, "pids") == 0)
		r = do_pids();
	else if (strcmp(mode, "ids") == 0)
		r = do_ids();
	else if (strcmp(mode, "fds") == 0)
		r = do_fds();
	else if (strcmp(mode, "bomb") == 0 && a1 && a2)
		r = do_bomb(a1, a2);
	else if (strcmp(mode, "ignore-term") == 0)
		r = do_ignore_term();
	else if (strcmp(mode, "wait-int") == 0)
		r = do_wait_int();
	else if (strcmp(mode, "daemon") == 0 && a1)
		r = do_daemon(a1);
	if (r < 0) {
		fprintf(stderr, "hostile: unknown mode or missing argument\n");
		return 2;
	}
	if (fflush(stdout) != 0)
		return 1;
	return r;
}
