/* Starting the programs xrun runs: the user's (with --no-sandbox), git,
 * the Python that describes itself. The sandbox starts its own through
 * clone(2) in sandbox.c. */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

/* Start a program the way posix_spawn(3) would, without its reset of
 * every signal one system call at a time in the child while the caller
 * waits: clone(CLONE_VM | CLONE_VFORK), the signals xrun handles back
 * to their defaults, an empty signal mask, the standard descriptors,
 * the directory, a new session if asked, execve. A negative errno when
 * the program could not be started (ENOENT, EACCES, ENOEXEC...). */
#define SPAWN_INHERIT (-1) /* the caller's descriptor */
#define SPAWN_NULL (-2)    /* /dev/null */
typedef struct SpawnSpec {
	const char *path;
	char *const *argv;
	char *const *envp;
	const char *cwd; /* NULL: the caller's */
	int stdin_fd, stdout_fd, stderr_fd;
	bool new_session;
} SpawnSpec;
int spawn_process(const SpawnSpec *s, pid_t *ret);
