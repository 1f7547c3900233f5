/* Supervising the program (DESIGN.md §1): its output copied to the
 * terminal and into the run directory, hashed as it goes; the user's
 * signals forwarded (a repeated one kills); --timeout; the sandbox's
 * reports read. It touches the program's pipes, the run directory's
 * stdout and stderr, and nothing of the record: run-record.c turns what
 * it learned into the record's "result". */
#pragma once

#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/types.h>

#include "cgroup.h"
#include "hash.h"
#include "sandbox.h"

/* One captured stream: the program writes into a pipe, the launcher
 * copies to the terminal and to the run's file and hashes as it goes.
 * The file is created with the first byte: a run that prints nothing
 * has no file (each inode costs a launch more than its write would). */
typedef struct Stream {
	int pipe_fd;      /* read end, -1 at EOF */
	int file_fd;      /* runs/<id>/stdout or stderr, -1 until output */
	const char *dir;  /* the run directory */
	const char *name; /* "stdout" or "stderr" */
	int tty_fd;       /* xrun's own stdout/stderr, -1 once it failed */
	Hasher *hash;
	uint64_t bytes;    /* what the program wrote (all of it is hashed) */
	uint64_t max;      /* --max-output: what is kept at most, 0 = all */
	uint64_t captured; /* what the file holds */
	int error;         /* first error writing the capture file */
	/* Whether the program said it met a read-only file system (the
	 * working directory, in the sandbox): worth a hint about -o. */
	bool saw_erofs;
	char tail[32]; /* the last bytes, for a message split by a read */
	size_t tail_len;
} Stream;

/* A stream of the run directory dir, copied to tty_fd, keeping at most
 * max bytes (0: all); no pipe yet. */
void stream_init(Stream *s, const char *dir, const char *name, int tty_fd,
                 uint64_t max);
/* Read what the pipe has and pass it on (bufsz bytes of scratch). */
void stream_pump(Stream *s, char *buf, size_t bufsz);

/* The program under supervision, and what supervising it learned. */
typedef struct Supervised {
	pid_t pid; /* the program, or the sandbox's pid 1 */
	int wstatus;
	struct rusage ru;
	int forwarded;     /* the first signal the user sent, or 0 */
	int n_int, n_term; /* SIGINTs and SIGTERMs sent to xrun so far */
	bool killed;       /* xrun killed the sandbox at the user's word */
	Sandbox *sb;       /* NULL with --no-sandbox */
	int report_fd;     /* the sandbox's reports, -1 once at EOF */
	SandboxReport report;
	bool have_report;
	double timeout_s;
	bool timed_out;
	bool reaped;   /* pid (the program or pid 1) waited for */
	RunCgroup *cg; /* --memory, --pids as root */
	uint64_t memory;
	int64_t started_ns, finished_ns, mono_start, mono_end;
	Stream out, err;
} Supervised;

/* The signals a user sends to "the run" (passed on to the program),
 * and SIGCHLD: held from the launcher's start, read from a signalfd. */
void supervise_signal_mask(sigset_t *mask);
/* Where the supervision says something the user must know at once
 * (a third ^C kills the program); NULL for nothing. */
void supervise_set_notice(void (*fn)(const char *msg));
/* Copy output and forward signals (read from sfd) until the program has
 * exited and both pipes are drained. */
void supervise(Supervised *x, int sfd);
/* Wait for pid (the sandbox's pid 1 on its way out) unless done. */
void supervised_reap(Supervised *x);

/* A thread beside the program. It makes the start record's directory
 * entry durable while the program runs (nobody waits for that: the
 * final record's directory sync covers it too), then holds the start
 * record open until the final record has replaced it, and lets go of it
 * while the launcher syncs the directory: freeing its blocks can cost a
 * device round trip (ext4 mounted with discard), and needs none of the
 * launcher's time. */
typedef struct Finisher {
	char *dir;
	int start_fd; /* the start record, or -1 */
	pthread_t thread;
	bool started;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool release;
} Finisher;

void finisher_start(Finisher *f, const char *dir, const char *record);
/* The final record is in place (or will not be): the start record can
 * go. */
void finisher_release(Finisher *f);
void finisher_done(Finisher *f);

/* SIGTERM -> "TERM", "unknown" for none. */
const char *signal_name(int sig);
/* dir/name made anew (O_EXCL, O_NOFOLLOW), 0644; its descriptor in
 * *ret_fd, or closed when ret_fd is NULL. */
int run_file_create(const char *dir, const char *name, int extra_flags,
                    int *ret_fd);
