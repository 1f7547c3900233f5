#include "config.h"

#include "supervise.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util.h"

/* Signals a user sends to "the run": passed on to the program. */
static const int forwarded_signals[] = {SIGINT,  SIGTERM, SIGHUP,
                                        SIGQUIT, SIGUSR1, SIGUSR2};

static void (*notice_fn)(const char *msg);

void supervise_set_notice(void (*fn)(const char *msg))
{
	notice_fn = fn;
}

void supervise_signal_mask(sigset_t *mask)
{
	sigemptyset(mask);
	for (size_t i = 0; i < ELEMENTSOF(forwarded_signals); i++)
		sigaddset(mask, forwarded_signals[i]);
	sigaddset(mask, SIGCHLD);
}

int run_file_create(const char *dir, const char *name, int extra_flags,
                    int *ret_fd)
{
	_cleanup_free_ char *p = path_join(dir, name);
	int fd = open(p,
	              O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC |
	                      extra_flags,
	              0644);
	if (fd < 0)
		return negative_errno();
	if (ret_fd)
		*ret_fd = fd;
	else
		close(fd);
	return 0;
}

void stream_init(Stream *s, const char *dir, const char *name, int tty_fd,
                 uint64_t max)
{
	*s = (Stream){.pipe_fd = -1,
	              .file_fd = -1,
	              .dir = dir,
	              .name = name,
	              .tty_fd = tty_fd,
	              .max = max};
}

static const char erofs_text[] = "Read-only file system";

static void stream_scan(Stream *s, const char *buf, size_t k)
{
	enum { PAT = sizeof erofs_text - 1 };
	if (s->saw_erofs)
		return;
	char joint[2 * PAT];
	size_t head = k < PAT ? k : PAT;
	memcpy(joint, s->tail, s->tail_len);
	memcpy(joint + s->tail_len, buf, head);
	if (memmem(joint, s->tail_len + head, erofs_text, PAT) ||
	    memmem(buf, k, erofs_text, PAT))
		s->saw_erofs = true;
	/* Keep the last PAT - 1 bytes of what was seen so far. */
	size_t keep = PAT - 1;
	if (k >= keep) {
		memcpy(s->tail, buf + k - keep, keep);
		s->tail_len = keep;
	} else {
		size_t old = s->tail_len + k > keep ? keep - k : s->tail_len;
		memmove(s->tail, s->tail + s->tail_len - old, old);
		memcpy(s->tail + old, buf, k);
		s->tail_len = old + k;
	}
}

void stream_pump(Stream *s, char *buf, size_t bufsz)
{
	ssize_t k = read(s->pipe_fd, buf, bufsz);
	if (k < 0) {
		if (errno == EINTR || errno == EAGAIN)
			return;
		k = 0;
	}
	if (k == 0) {
		close(s->pipe_fd);
		s->pipe_fd = -1;
		return;
	}
	if (s->tty_fd >= 0 && write_all(s->tty_fd, buf, (size_t)k) < 0)
		s->tty_fd = -1; /* a closed terminal must not stop capture */
	/* Past --max-output the rest only passes through. */
	size_t keep = (size_t)k;
	if (s->max && s->captured + keep > s->max)
		keep = (size_t)(s->max - s->captured);
	if (!s->error && keep && s->file_fd < 0) {
		int r = run_file_create(s->dir, s->name, O_APPEND, &s->file_fd);
		if (r < 0)
			s->error = r;
	}
	if (!s->error && keep) {
		int r = write_all(s->file_fd, buf, keep);
		if (r < 0) {
			s->error = r;
			off_t end = lseek(s->file_fd, 0, SEEK_END);
			if (end >= 0)
				s->captured = (uint64_t)end;
		} else
			s->captured += keep;
	}
	hasher_update(s->hash, buf, (size_t)k);
	s->bytes += (uint64_t)k;
	stream_scan(s, buf, (size_t)k);
}

const char *signal_name(int sig)
{
	const char *n = sigabbrev_np(sig);
	return n ? n : "unknown";
}

static bool stops_the_program(int sig)
{
	return sig == SIGINT || sig == SIGTERM || sig == SIGHUP ||
	       sig == SIGQUIT;
}

static void forward_signal(const Supervised *x, int sig)
{
	/* The sandbox's pid 1 passes it on to the program's group, and a
	 * SIGCONT after the signals that end a program. */
	if (x->sb) {
		(void)kill(x->pid, sig);
		return;
	}
	/* The program leads its own session and process group: signal the
	 * whole group, as a terminal would. A stopped program would keep
	 * the signal pending for good: it is continued to take it. */
	if (kill(-x->pid, sig) < 0)
		(void)kill(x->pid, sig);
	if (stops_the_program(sig) && kill(-x->pid, SIGCONT) < 0)
		(void)kill(x->pid, SIGCONT);
}

/* --timeout: TERM first, as a user would, then KILL after a grace
 * period; with a sandbox the KILL takes its whole pid namespace. */
enum { TIMEOUT_GRACE_MS = 2000 };

static void kill_all(const Supervised *x)
{
	if (x->sb)
		(void)kill(x->pid, SIGKILL);
	else if (kill(-x->pid, SIGKILL) < 0)
		(void)kill(x->pid, SIGKILL);
}

static void notice(const char *fmt, ...) _printf_(1, 2);
static void notice(const char *fmt, ...)
{
	if (!notice_fn)
		return;
	va_list ap;
	va_start(ap, fmt);
	_cleanup_free_ char *msg = xvasprintf(fmt, ap);
	va_end(ap);
	notice_fn(msg);
}

/* A signal the user sent to xrun: forwarded (with SIGCONT, so that a
 * stopped program takes it). A program that does not end is killed,
 * with everything in its sandbox, at the second SIGTERM (a supervisor
 * that repeats itself means it) or the third SIGINT (after the second,
 * xrun says that the next one kills). */
static void user_signal(Supervised *x, int sig)
{
	if (!x->forwarded)
		x->forwarded = sig;
	x->n_int += sig == SIGINT;
	x->n_term += sig == SIGTERM;
	if (x->n_term >= 2 || x->n_int >= 3 || x->n_int + x->n_term >= 3) {
		if (!x->killed)
			notice("SIG%s again: killing the program and "
			       "everything it started",
			       signal_name(sig));
		x->killed = true;
		kill_all(x);
		return;
	}
	forward_signal(x, sig);
	if (sig == SIGINT && x->n_int == 2)
		notice("the program is still running after two SIGINTs "
		       "(it may ignore them); a third kills it and "
		       "everything it started");
}

static void read_reports(Supervised *x)
{
	while (x->report_fd >= 0) {
		SandboxReport rep;
		int r = sandbox_read_report(x->report_fd, &rep);
		if (r == -EAGAIN)
			return;
		if (r < 0) {
			close(x->report_fd);
			x->report_fd = -1;
			return;
		}
		/* A failure says more than the exit that follows it. */
		if (!x->have_report || (x->report.kind == REPORT_EXITED &&
		                        rep.kind != REPORT_EXITED))
			x->report = rep;
		x->have_report = true;
	}
}

/* Copy output and forward signals until the program has exited and both
 * pipes are drained. */
void supervise(Supervised *x, int sfd)
{
	enum { BUFSZ = 1 << 16 };
	_cleanup_free_ char *buf = xmalloc(BUFSZ);
	bool exited = false;
	int64_t deadline =
	        x->timeout_s > 0 ? x->mono_start + (int64_t)(x->timeout_s * 1e9)
	                         : -1;
	while (!exited || x->out.pipe_fd >= 0 || x->err.pipe_fd >= 0) {
		struct pollfd p[4] = {
		        {.fd = sfd, .events = POLLIN},
		        {.fd = x->out.pipe_fd, .events = POLLIN},
		        {.fd = x->err.pipe_fd, .events = POLLIN},
		        {.fd = x->report_fd, .events = POLLIN},
		};
		/* Once the program is gone, take what is buffered but do not
		 * wait for forks it left holding the pipes. */
		int timeout = exited ? 0 : -1;
		if (!exited && deadline >= 0) {
			int64_t left = deadline - monotonic_ns();
			timeout = left > 0 ? (int)(left / 1000000 + 1) : 0;
		}
		int n = poll(p, 4, timeout);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (n == 0 && exited)
			break;
		if (!exited && deadline >= 0 && monotonic_ns() >= deadline) {
			if (!x->timed_out) {
				x->timed_out = true;
				forward_signal(x, SIGTERM);
				deadline = monotonic_ns() +
				           (int64_t)TIMEOUT_GRACE_MS * 1000000;
			} else {
				kill_all(x);
				deadline = -1;
			}
		}
		if (p[1].revents)
			stream_pump(&x->out, buf, BUFSZ);
		if (p[2].revents)
			stream_pump(&x->err, buf, BUFSZ);
		if (p[3].revents)
			read_reports(x);
		if (p[0].revents & POLLIN) {
			struct signalfd_siginfo si;
			if (read(sfd, &si, sizeof si) != (ssize_t)sizeof si)
				continue;
			int sig = (int)si.ssi_signo;
			if (sig != SIGCHLD) {
				if (sig == SIGINT || sig == SIGTERM)
					user_signal(x, sig);
				else {
					if (!x->forwarded)
						x->forwarded = sig;
					forward_signal(x, sig);
				}
				continue;
			}
		}
		/* The report of the program's end comes before pid 1 exits;
		 * the namespaces' teardown then overlaps the finalizing, and
		 * pid 1 is reaped at the end. */
		if (!exited && x->have_report &&
		    x->report.kind == REPORT_EXITED) {
			exited = true;
			x->finished_ns = now_ns();
			x->mono_end = monotonic_ns();
		}
		if (!exited) {
			pid_t w = wait4(x->pid, &x->wstatus, WNOHANG, &x->ru);
			if (w == x->pid) {
				x->reaped = true;
				exited = true;
				x->finished_ns = now_ns();
				x->mono_end = monotonic_ns();
				/* pid 1 wrote its last report before it
				 * exited: it is in the pipe now. */
				if (x->report_fd >= 0) {
					fcntl(x->report_fd, F_SETFL,
					      O_NONBLOCK);
					read_reports(x);
				}
			}
		}
	}
	Stream *const streams[] = {&x->out, &x->err};
	for (size_t i = 0; i < ELEMENTSOF(streams); i++)
		if (streams[i]->pipe_fd >= 0) {
			close(streams[i]->pipe_fd);
			streams[i]->pipe_fd = -1;
		}
}

/* pid 1 reported the program's end and is on its way out, taking the
 * namespaces with it: collect it. */
void supervised_reap(Supervised *x)
{
	if (x->reaped)
		return;
	int st;
	while (waitpid(x->pid, &st, 0) < 0 && errno == EINTR)
		;
	x->reaped = true;
}

static void *finisher_thread(void *p)
{
	Finisher *f = p;
	(void)fsync_dir(f->dir);
	pthread_mutex_lock(&f->lock);
	while (!f->release)
		pthread_cond_wait(&f->cond, &f->lock);
	pthread_mutex_unlock(&f->lock);
	if (f->start_fd >= 0)
		close(f->start_fd);
	return NULL;
}

void finisher_start(Finisher *f, const char *dir, const char *record)
{
	*f = (Finisher){.dir = xstrdup(dir),
	                .start_fd = open(record, O_RDONLY | O_CLOEXEC),
	                .lock = PTHREAD_MUTEX_INITIALIZER,
	                .cond = PTHREAD_COND_INITIALIZER};
	f->started = thread_start(&f->thread, finisher_thread, f);
	if (!f->started)
		(void)fsync_dir(dir);
}

/* The final record is in place (or will not be): the start record can
 * go. */
void finisher_release(Finisher *f)
{
	if (!f->dir)
		return;
	pthread_mutex_lock(&f->lock);
	f->release = true;
	pthread_cond_signal(&f->cond);
	pthread_mutex_unlock(&f->lock);
}

void finisher_done(Finisher *f)
{
	if (!f->dir)
		return;
	finisher_release(f);
	if (f->started)
		pthread_join(f->thread, NULL);
	else if (f->start_fd >= 0)
		close(f->start_fd);
	free(f->dir);
	f->dir = NULL;
}
