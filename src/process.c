#include "config.h"

#include "process.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util.h"

/* What the new process does between clone and execve. It runs on a stack
 * of its own in the caller's memory while the caller waits
 * (CLONE_VFORK): system calls only, no allocation, no locks. */
typedef struct SpawnChild {
	const SpawnSpec *spec;
	int err; /* its errno when it could not exec */
} SpawnChild;

static int std_fd(int fd, int target)
{
	if (fd == SPAWN_INHERIT)
		return 0;
	if (fd == SPAWN_NULL) {
		fd = open("/dev/null",
		          (target ? O_WRONLY : O_RDONLY) | O_CLOEXEC);
		if (fd < 0)
			return -1;
		/* dup2 onto itself would keep O_CLOEXEC. */
		if (fd == target)
			return fcntl(fd, F_SETFD, 0);
	}
	return dup2(fd, target) < 0 ? -1 : 0;
}

static int spawn_child(void *p)
{
	SpawnChild *c = p;
	const SpawnSpec *s = c->spec;
	/* The signals xrun catches, ignores or forwards start at their
	 * defaults; caught ones are reset by execve anyway. All signals
	 * stay blocked until then, so no handler of the caller runs here. */
	static const int defaults[] = {SIGINT,  SIGTERM, SIGHUP,  SIGQUIT,
	                               SIGUSR1, SIGUSR2, SIGPIPE, SIGCHLD};
	struct sigaction dfl = {.sa_handler = SIG_DFL};
	for (size_t i = 0; i < ELEMENTSOF(defaults); i++)
		(void)sigaction(defaults[i], &dfl, NULL);
	sigset_t none;
	sigemptyset(&none);
	if ((s->new_session && setsid() < 0) ||
	    std_fd(s->stdin_fd, STDIN_FILENO) < 0 ||
	    std_fd(s->stdout_fd, STDOUT_FILENO) < 0 ||
	    std_fd(s->stderr_fd, STDERR_FILENO) < 0 ||
	    (s->cwd && chdir(s->cwd) < 0) ||
	    sigprocmask(SIG_SETMASK, &none, NULL) < 0)
		goto fail;
	execve(s->path, s->argv, s->envp);
fail:
	c->err = errno ? errno : EINVAL;
	_exit(127);
}

int spawn_process(const SpawnSpec *s, pid_t *ret)
{
	SpawnChild c = {.spec = s};
	/* The child's few system calls need little stack. Not the caller's
	 * own: what the child leaves there (AddressSanitizer's poisoned
	 * frames, for one) would meet the caller's later frames. One stack
	 * serves all; the lock is held only until the child has exec'd. */
	enum { STACK = 32768 };
	static _Alignas(64) char stack[STACK];
	static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	pthread_mutex_lock(&lock);
	pid_t pid = clone(spawn_child, stack + STACK,
	                  CLONE_VM | CLONE_VFORK | SIGCHLD, &c);
	int err = pid < 0 ? errno : 0;
	pthread_mutex_unlock(&lock);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (pid < 0)
		return -err;
	if (c.err) {
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
			;
		return -c.err;
	}
	*ret = pid;
	return 0;
}
