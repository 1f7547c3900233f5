#include "config.h"

#include "trace.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <poll.h>
#include <pthread.h>
#include <seccomp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include "util.h"

int trace_send_listener(int sock, int fd)
{
	char byte = 't';
	struct iovec iov = {.iov_base = &byte, .iov_len = 1};
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	memset(&u, 0, sizeof u);
	struct msghdr msg = {.msg_iov = &iov,
	                     .msg_iovlen = 1,
	                     .msg_control = u.buf,
	                     .msg_controllen = sizeof u.buf};
	struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &fd, sizeof fd);
	ssize_t n;
	do
		n = sendmsg(sock, &msg, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	return n == 1 ? 0 : -errno;
}

/* ---- the paths seen: an array in order, and an index over it ---- */

typedef struct ExeOf {
	pid_t pid;
	char *exe;
} ExeOf;

struct Tracer {
	int sock, stop_fd, listener;
	pthread_t thread;
	bool running;
	bool stopping, done; /* atomics between tracer_stop() and the thread */
	TraceFile *files;
	size_t n, cap;
	size_t *slots; /* index + 1 into files; 0 is empty */
	size_t n_slots;
	ExeOf *exes; /* the last program each pid executed */
	size_t n_exes;
	TraceExec *execs; /* every exec, in order */
	size_t n_execs;
	TraceStats stats;
};

static uint64_t fnv1a(const char *s)
{
	uint64_t h = 1469598103934665603ULL;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

static void index_grow(Tracer *t)
{
	size_t n = t->n_slots ? t->n_slots * 2 : 1024;
	size_t *slots = xcalloc(n, sizeof *slots);
	for (size_t i = 0; i < t->n; i++) {
		size_t k = fnv1a(t->files[i].path) & (n - 1);
		while (slots[k])
			k = (k + 1) & (n - 1);
		slots[k] = i + 1;
	}
	free(t->slots);
	t->slots = slots;
	t->n_slots = n;
}

/* The entry for path, made when new; NULL over the limit. */
static TraceFile *file_of(Tracer *t, const char *path, bool *ret_new)
{
	*ret_new = false;
	if (2 * (t->n + 1) > t->n_slots)
		index_grow(t);
	size_t k = fnv1a(path) & (t->n_slots - 1);
	while (t->slots[k]) {
		TraceFile *f = &t->files[t->slots[k] - 1];
		if (streq(f->path, path))
			return f;
		k = (k + 1) & (t->n_slots - 1);
	}
	if (t->n >= TRACE_MAX_FILES) {
		t->stats.dropped++;
		return NULL;
	}
	if (t->n == t->cap) {
		t->cap = t->cap ? t->cap * 2 : 1024;
		t->files = xrealloc(t->files, t->cap * sizeof *t->files);
	}
	TraceFile *f = &t->files[t->n];
	*f = (TraceFile){.path = xstrdup(path)};
	t->slots[k] = ++t->n;
	*ret_new = true;
	return f;
}

static ExeOf *exe_of(Tracer *t, pid_t pid)
{
	for (size_t i = 0; i < t->n_exes; i++)
		if (t->exes[i].pid == pid)
			return &t->exes[i];
	return NULL;
}

static void set_exe(Tracer *t, pid_t pid, const char *exe)
{
	ExeOf *e = exe_of(t, pid);
	if (!e) {
		/* A run has few processes that exec; bounded all the same. */
		if (t->n_exes >= 4096)
			return;
		t->exes = xrealloc(t->exes, (t->n_exes + 1) * sizeof *t->exes);
		e = &t->exes[t->n_exes++];
		*e = (ExeOf){.pid = pid};
	}
	free(e->exe);
	e->exe = xstrdup(exe);
}

bool trace_host_view(const char *path)
{
	static const char *const trees[] = {"/usr/",   "/lib/", "/lib64/",
	                                    "/lib32/", "/bin/", "/sbin/"};
	for (size_t i = 0; i < ELEMENTSOF(trees); i++)
		if (startswith(path, trees[i]))
			return true;
	return false;
}

char *trace_clean_path(const char *path)
{
	size_t len = strlen(path);
	char *out = xmalloc(len + 2);
	size_t o = 0;
	const char *p = path;
	while (*p) {
		while (*p == '/')
			p++;
		const char *end = strchrnul(p, '/');
		size_t n = (size_t)(end - p);
		if (n == 0 || (n == 1 && p[0] == '.')) {
			/* nothing */
		} else if (n == 2 && p[0] == '.' && p[1] == '.') {
			while (o > 0 && out[o - 1] != '/')
				o--;
			if (o > 0)
				o--;
		} else {
			out[o++] = '/';
			memcpy(out + o, p, n);
			o += n;
		}
		p = end;
	}
	if (o == 0)
		out[o++] = '/';
	out[o] = 0;
	return out;
}

/* ---- reading the caller ---- */

/* A NUL-terminated string at addr in pid, page by page (a path may end
 * just before an unmapped page). -errno. */
static int read_string(pid_t pid, uint64_t addr, char *buf, size_t size)
{
	size_t got = 0;
	long page = sysconf(_SC_PAGESIZE);
	while (got < size - 1) {
		uint64_t at = addr + got;
		size_t chunk = (size_t)page - (size_t)(at % (uint64_t)page);
		if (chunk > size - 1 - got)
			chunk = size - 1 - got;
		struct iovec local = {.iov_base = buf + got, .iov_len = chunk};
		struct iovec remote = {.iov_base = (void *)(uintptr_t)at,
		                       .iov_len = chunk};
		ssize_t n = process_vm_readv(pid, &local, 1, &remote, 1, 0);
		if (n <= 0)
			return n < 0 ? -errno : -EFAULT;
		void *nul = memchr(buf + got, 0, (size_t)n);
		got += (size_t)n;
		if (nul)
			return 0;
	}
	return -ENAMETOOLONG;
}

static int read_mem(pid_t pid, uint64_t addr, void *buf, size_t size)
{
	struct iovec local = {.iov_base = buf, .iov_len = size};
	struct iovec remote = {.iov_base = (void *)(uintptr_t)addr,
	                       .iov_len = size};
	ssize_t n = process_vm_readv(pid, &local, 1, &remote, 1, 0);
	return n == (ssize_t)size ? 0 : n < 0 ? -errno : -EFAULT;
}

/* Where a relative path starts: the caller's working directory or the
 * directory its dirfd names, as the caller sees it. */
static char *base_of(pid_t pid, int dirfd)
{
	char link[64];
	if (dirfd == AT_FDCWD)
		snprintf(link, sizeof link, "/proc/%d/cwd", (int)pid);
	else
		snprintf(link, sizeof link, "/proc/%d/fd/%d", (int)pid, dirfd);
	char buf[PATH_MAX];
	ssize_t n = readlink(link, buf, sizeof buf - 1);
	if (n <= 0 || buf[0] != '/')
		return NULL;
	buf[n] = 0;
	return xstrdup(buf);
}

typedef struct Call {
	bool exec, read, write;
	int dirfd;
	uint64_t path;
} Call;

static int nr_execve, nr_execveat, nr_open, nr_openat, nr_openat2, nr_creat;
static pthread_once_t numbers_once = PTHREAD_ONCE_INIT;

static void resolve_numbers(void)
{
	nr_execve = seccomp_syscall_resolve_name("execve");
	nr_execveat = seccomp_syscall_resolve_name("execveat");
	nr_open = seccomp_syscall_resolve_name("open");
	nr_openat = seccomp_syscall_resolve_name("openat");
	nr_openat2 = seccomp_syscall_resolve_name("openat2");
	nr_creat = seccomp_syscall_resolve_name("creat");
}

static bool decode(const struct seccomp_notif *req, Call *c)
{
	const __u64 *a = req->data.args;
	*c = (Call){.dirfd = AT_FDCWD};
	pthread_once(&numbers_once, resolve_numbers);
	int nr = req->data.nr;
	uint64_t flags = 0;
	if (nr == nr_execve) {
		c->exec = true;
		c->path = a[0];
		return true;
	}
	if (nr == nr_execveat) {
		c->exec = true;
		c->dirfd = (int)a[0];
		c->path = a[1];
		return true;
	}
	if (nr == nr_open) {
		c->path = a[0];
		flags = a[1];
	} else if (nr == nr_openat) {
		c->dirfd = (int)a[0];
		c->path = a[1];
		flags = a[2];
	} else if (nr == nr_openat2) {
		c->dirfd = (int)a[0];
		c->path = a[1];
		struct open_how how;
		if (read_mem(req->pid, a[2], &how, sizeof how.flags) < 0)
			return false;
		flags = how.flags;
	} else if (nr == nr_creat) {
		c->path = a[0];
		flags = O_WRONLY | O_CREAT;
	} else
		return false;
	if ((flags & O_PATH) != 0)
		return false; /* names a file without reading it */
	int acc = (int)(flags & O_ACCMODE);
	c->read = acc == O_RDONLY || acc == O_RDWR;
	c->write = acc == O_WRONLY || acc == O_RDWR ||
	           (flags & (O_CREAT | O_TRUNC)) != 0;
	return true;
}

/* What the caller named, absolute and clean; NULL when it cannot be
 * read or the call is no longer waiting. */
static char *path_of(int listener, const struct seccomp_notif *req,
                     const Call *c)
{
	_cleanup_free_ char *buf = xmalloc(PATH_MAX);
	if (read_string(req->pid, c->path, buf, PATH_MAX) < 0 || !buf[0])
		return NULL;
	_cleanup_free_ char *base = NULL;
	if (buf[0] != '/') {
		base = base_of(req->pid, c->dirfd);
		if (!base)
			return NULL;
	}
	/* The pid may have died and been reused while it was read. */
	if (seccomp_notify_id_valid(listener, req->id) != 0)
		return NULL;
	if (!base)
		return trace_clean_path(buf);
	_cleanup_free_ char *joined = xasprintf("%s/%s", base, buf);
	return trace_clean_path(joined);
}

/* The parent of pid; 0 when it is gone. */
static pid_t parent_of(pid_t pid)
{
	unsigned long long ppid;
	return proc_stat_field(pid, 4, &ppid) == 0 ? (pid_t)ppid : 0;
}

static void note_exec(Tracer *t, pid_t pid, const TraceFile *f)
{
	if (t->n_execs >= TRACE_MAX_EXECS)
		return;
	if (t->n_execs % 64 == 0)
		t->execs = xrealloc(t->execs,
		                    (t->n_execs + 64) * sizeof *t->execs);
	t->execs[t->n_execs++] = (TraceExec){.pid = pid,
	                                     .ppid = parent_of(pid),
	                                     .file = (size_t)(f - t->files)};
}

static void note(Tracer *t, pid_t pid, const Call *c, const char *path)
{
	bool fresh;
	TraceFile *f = file_of(t, path, &fresh);
	if (f && fresh) {
		ExeOf *e = exe_of(t, pid);
		f->exe = e ? xstrdup(e->exe) : NULL;
		/* The file as the caller sees it, through its root; but the
		 * system's trees are the host's own, read-only, and are
		 * looked at from the host when the run is over: a stat as
		 * dear as the open, spared on most of a Python's calls. */
		f->host_view = trace_host_view(path);
		_cleanup_free_ char *at =
		        f->host_view
		                ? NULL
		                : xasprintf("/proc/%d/root%s", (int)pid, path);
		struct stat st;
		if (at && stat(at, &st) == 0 && !S_ISDIR(st.st_mode)) {
			f->have_stat = true;
			f->regular = S_ISREG(st.st_mode);
			f->dev = st.st_dev;
			f->ino = st.st_ino;
			f->size = (uint64_t)st.st_size;
			f->mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 +
			              st.st_mtim.tv_nsec;
			f->ctime_ns = (int64_t)st.st_ctim.tv_sec * 1000000000 +
			              st.st_ctim.tv_nsec;
		}
	}
	if (f) {
		f->executed |= c->exec;
		f->read |= c->read;
		f->written |= c->write;
		if (c->exec)
			note_exec(t, pid, f);
	}
	if (c->exec)
		set_exe(t, pid, path);
}

static void answer(Tracer *t, int listener, struct seccomp_notif *req,
                   struct seccomp_notif_resp *resp)
{
	Call c;
	_cleanup_free_ char *path = NULL;
	bool known = decode(req, &c);
	if (known) {
		path = path_of(listener, req, &c);
		if (!path)
			t->stats.unreadable++;
	}
	/* Noted before the call goes on: the caller is alive and waiting,
	 * so its root shows the file as the call will find it (a short
	 * program is gone right after). */
	if (path)
		note(t, req->pid, &c, path);
	resp->id = req->id;
	resp->val = 0;
	resp->error = 0;
	resp->flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
	/* -ENOENT: the caller is gone (killed while it waited). */
	(void)seccomp_notify_respond(listener, resp);
	t->stats.notifications++;
}

static int receive_listener(Tracer *t)
{
	struct pollfd p[2] = {{.fd = t->sock, .events = POLLIN},
	                      {.fd = t->stop_fd, .events = POLLIN}};
	for (;;) {
		int n = poll(p, 2, -1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (p[1].revents)
			return -ECANCELED;
		break;
	}
	char byte;
	struct iovec iov = {.iov_base = &byte, .iov_len = 1};
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct msghdr msg = {.msg_iov = &iov,
	                     .msg_iovlen = 1,
	                     .msg_control = u.buf,
	                     .msg_controllen = sizeof u.buf};
	ssize_t n = recvmsg(t->sock, &msg, MSG_CMSG_CLOEXEC);
	if (n != 1)
		return n < 0 ? -errno : -ENODATA;
	struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
	if (!c || c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS ||
	    c->cmsg_len != CMSG_LEN(sizeof(int)))
		return -EBADMSG;
	int fd;
	memcpy(&fd, CMSG_DATA(c), sizeof fd);
	return fd;
}

/* Wake-ups on the current CPU, both ways (Linux 6.6): a traced call
 * hands its CPU straight to this thread and back, instead of waking it
 * elsewhere. Older kernels refuse it, and work as before. */
#ifndef SECCOMP_IOCTL_NOTIF_SET_FLAGS
#define SECCOMP_IOCTL_NOTIF_SET_FLAGS SECCOMP_IOW(4, __u64)
#endif
#ifndef SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP
#define SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP (1UL << 0)
#endif

/* The thread waits in the receive ioctl itself (a poll first would cost
 * a wake-up more per call, and lose the synchronous one); tracer_stop()
 * interrupts it with this signal, whose handler does nothing. */
#define STOP_SIGNAL (SIGRTMIN + 4)
static pthread_once_t stop_signal_once = PTHREAD_ONCE_INIT;

static void stop_signal_handler(int sig)
{
	(void)sig;
}

static void stop_signal_install(void)
{
	struct sigaction sa = {.sa_handler = stop_signal_handler};
	sigemptyset(&sa.sa_mask);
	(void)sigaction(STOP_SIGNAL, &sa, NULL); /* no SA_RESTART */
}

static void *tracer_thread(void *p)
{
	Tracer *t = p;
	sigset_t stop;
	sigemptyset(&stop);
	sigaddset(&stop, STOP_SIGNAL);
	pthread_sigmask(SIG_UNBLOCK, &stop, NULL);
	int fd = receive_listener(t);
	if (fd < 0) {
		__atomic_store_n(&t->done, true, __ATOMIC_RELEASE);
		return NULL;
	}
	t->listener = fd;
	t->stats.listener = true;
	(void)ioctl(fd, SECCOMP_IOCTL_NOTIF_SET_FLAGS,
	            SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP, 0);
	/* The kernel may know a longer request than this libseccomp's. */
	struct seccomp_notif_sizes sizes = {0};
	size_t req_size = sizeof(struct seccomp_notif);
	size_t resp_size = sizeof(struct seccomp_notif_resp);
	if (syscall(SYS_seccomp, SECCOMP_GET_NOTIF_SIZES, 0, &sizes) == 0) {
		if (sizes.seccomp_notif > req_size)
			req_size = sizes.seccomp_notif;
		if (sizes.seccomp_notif_resp > resp_size)
			resp_size = sizes.seccomp_notif_resp;
	}
	_cleanup_free_ struct seccomp_notif *req = xcalloc(1, req_size);
	_cleanup_free_ struct seccomp_notif_resp *resp = xcalloc(1, resp_size);
	unsigned failures = 0;
	while (!__atomic_load_n(&t->stopping, __ATOMIC_ACQUIRE)) {
		/* The kernel refuses a request buffer that is not zeroed. */
		memset(req, 0, req_size);
		if (ioctl(fd, SECCOMP_IOCTL_NOTIF_RECV, req) == 0) {
			failures = 0;
			answer(t, fd, req, resp);
			continue;
		}
		/* EINTR: tracer_stop(), or another signal. */
		if (errno == EINTR)
			continue;
		/* ENOENT: the caller died while it waited, or no process is
		 * left under the filter, and the ioctl no longer waits: poll
		 * says which (POLLHUP), without spinning. Anything else,
		 * again and again, is a listener gone wrong: closing it
		 * fails the waiting calls (ENOSYS) rather than spin. */
		if (errno != ENOENT && ++failures > 1000) {
			t->stats.failed = true;
			break;
		}
		struct pollfd pf = {.fd = fd, .events = POLLIN};
		if (poll(&pf, 1, -1) > 0 && !(pf.revents & POLLIN) &&
		    (pf.revents & (POLLHUP | POLLERR | POLLNVAL)))
			break;
	}
	/* Calls still waiting fail rather than wait for nobody. */
	close(fd);
	t->listener = -1;
	__atomic_store_n(&t->done, true, __ATOMIC_RELEASE);
	return NULL;
}

int tracer_start(int sock, Tracer **ret)
{
	Tracer *t = xcalloc(1, sizeof *t);
	t->sock = sock;
	t->listener = -1;
	pthread_once(&stop_signal_once, stop_signal_install);
	t->stop_fd = eventfd(0, EFD_CLOEXEC);
	if (t->stop_fd < 0) {
		int r = -errno;
		tracer_free(t);
		return r;
	}
	int r = -pthread_create(&t->thread, NULL, tracer_thread, t);
	if (r < 0) {
		tracer_free(t);
		return r;
	}
	t->running = true;
	*ret = t;
	return 0;
}

void tracer_stop(Tracer *t)
{
	if (!t || !t->running)
		return;
	__atomic_store_n(&t->stopping, true, __ATOMIC_RELEASE);
	uint64_t one = 1;
	(void)!write(t->stop_fd, &one, sizeof one);
	/* The signal may land just before the thread enters the ioctl:
	 * again until it is out. */
	while (!__atomic_load_n(&t->done, __ATOMIC_ACQUIRE)) {
		(void)pthread_kill(t->thread, STOP_SIGNAL);
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 20 * 1000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		if (pthread_timedjoin_np(t->thread, NULL, &ts) == 0) {
			t->running = false;
			return;
		}
	}
	pthread_join(t->thread, NULL);
	t->running = false;
}

const TraceFile *tracer_files(const Tracer *t, size_t *ret_n)
{
	*ret_n = t ? t->n : 0;
	return t ? t->files : NULL;
}

const TraceExec *tracer_execs(const Tracer *t, size_t *ret_n)
{
	*ret_n = t ? t->n_execs : 0;
	return t ? t->execs : NULL;
}

TraceStats tracer_stats(const Tracer *t)
{
	return t ? t->stats : (TraceStats){0};
}

Tracer *tracer_free(Tracer *t)
{
	if (!t)
		return NULL;
	tracer_stop(t);
	for (size_t i = 0; i < t->n; i++) {
		free(t->files[i].path);
		free(t->files[i].exe);
	}
	free(t->files);
	free(t->slots);
	for (size_t i = 0; i < t->n_exes; i++)
		free(t->exes[i].exe);
	free(t->exes);
	free(t->execs);
	if (t->sock >= 0)
		close(t->sock);
	if (t->stop_fd >= 0)
		close(t->stop_fd);
	if (t->listener >= 0)
		close(t->listener);
	free(t);
	return NULL;
}
