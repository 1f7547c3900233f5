/* Tracing a run (DESIGN.md §8): which programs its processes executed
 * and which files they opened, seen through seccomp user notification.
 *
 * The sandbox's program installs the policy with tracing rules
 * (seccomp-policy.h) and hands the filter's listener to the launcher
 * over a socket (trace_send_listener). A thread of the launcher
 * (tracer_start) then answers every execve, execveat, open, openat,
 * openat2 and creat of the whole process tree: it reads the path from
 * the caller's memory, checks that the call is still the one notified
 * (seccomp_notify_id_valid), lets the call go on
 * (SECCOMP_USER_NOTIF_FLAG_CONTINUE) and notes the path once, with what
 * stat(2) says of it through the caller's root.
 *
 * What a traced program can and cannot do to the trace: the kernel reads
 * the path again after the launcher did, so a program can race a second
 * thread to open another file than the one noted; it can hide an open
 * that way, never make xrun record another file's content under a path:
 * every digest is computed by the launcher, from the file at the path
 * noted. A path that cannot be read (a bad pointer) is counted, not
 * noted. At most TRACE_MAX_FILES distinct paths are kept; the rest are
 * counted. The thread never waits on the program: a notification whose
 * caller is gone is dropped, and tracer_stop() ends it at once. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define TRACE_MAX_FILES 200000

typedef struct TraceFile {
	char *path;     /* absolute, in the sandbox's view, lexically clean */
	char *exe;      /* the program of the process that opened it first,
	                   as executed (NULL when unknown) */
	bool executed;  /* named by execve/execveat */
	bool read;      /* opened for reading */
	bool written;   /* opened for writing (or created) */
	bool host_view; /* in the system's trees (trace_host_view()): not
	                   looked at while the run ran; stat the host's */
	bool have_stat; /* what stat(2) said through the opener's root */
	bool regular;   /* a regular file */
	dev_t dev;
	ino_t ino;
	uint64_t size;
	int64_t mtime_ns, ctime_ns;
} TraceFile;

/* One execve or execveat, in the order answered: the caller, its
 * parent then, and the file named (an index into tracer_files()). A
 * failed exec (a PATH search's miss) is here too; its file then has no
 * stat. At most TRACE_MAX_EXECS are kept. */
typedef struct TraceExec {
	pid_t pid;
	pid_t ppid; /* 0 when it could not be read */
	size_t file;
} TraceExec;

#define TRACE_MAX_EXECS 4096

typedef struct TraceStats {
	uint64_t notifications; /* calls answered */
	uint64_t unreadable;    /* paths that could not be read */
	uint64_t dropped;       /* distinct paths over TRACE_MAX_FILES */
	bool listener;          /* the listener arrived */
	bool failed;            /* the listener failed; tracing stopped */
} TraceStats;

typedef struct Tracer Tracer;

/* In the sandbox's program, right after the filter is loaded: send the
 * listener fd over sock. Async-signal-safe. -errno. */
int trace_send_listener(int sock, int fd);

/* Start the thread that waits for the listener on sock (taken) and
 * answers it. -errno when the thread cannot start (sock is closed). */
int tracer_start(int sock, Tracer **ret);
/* End the thread (at once) and keep what it saw. */
void tracer_stop(Tracer *t);
/* The files seen, in the order first seen; valid until tracer_free(). */
const TraceFile *tracer_files(const Tracer *t, size_t *ret_n);
/* The execs seen, in order; valid until tracer_free(). */
const TraceExec *tracer_execs(const Tracer *t, size_t *ret_n);
TraceStats tracer_stats(const Tracer *t);
Tracer *tracer_free(Tracer *t);
static inline void tracer_freep(Tracer **t)
{
	tracer_free(*t);
}
#define _cleanup_tracer_ __attribute__((cleanup(tracer_freep)))

/* Whether path lies in the system's trees (/usr, /lib, /bin, /sbin),
 * which the sandbox sees as the host's, read-only. */
bool trace_host_view(const char *path);

/* "/a/./b//../c" as "/a/c": . and .. taken lexically (the trace names
 * what a process asked for; symlinks are resolved where files are
 * hashed). A new string. */
char *trace_clean_path(const char *path);
