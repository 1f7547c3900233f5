/* An LD_PRELOAD shim for the fault tests: the Nth call of one kind of
 * file system operation fails, in the process that loaded it first (the
 * xrun launcher; not pid 1 of its sandbox, not the program).
 *
 *   FAULT_CALL=write|fsync|rename  FAULT_N=N  FAULT_ERRNO=EIO|ENOSPC
 *
 * write covers write(2); fsync covers fsync(2) and fdatasync(2); rename
 * covers rename(2) and renameat2(2). Built by the test that uses it. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static pid_t owner;
static const char *kind;
static long target, seen;
static int fail_errno = EIO;

__attribute__((constructor)) static void init(void)
{
	const char *n = getenv("FAULT_N");
	const char *e = getenv("FAULT_ERRNO");
	kind = getenv("FAULT_CALL");
	target = n ? strtol(n, NULL, 10) : 0;
	if (e && strcmp(e, "ENOSPC") == 0)
		fail_errno = ENOSPC;
	owner = getpid();
	/* The program started by xrun must not inherit the faults. */
	unsetenv("LD_PRELOAD");
}

static int fault(const char *what)
{
	if (!kind || strcmp(kind, what) != 0 || getpid() != owner)
		return 0;
	if (++seen != target)
		return 0;
	errno = fail_errno;
	return 1;
}

#define REAL(name) ((__typeof__(&name))dlsym(RTLD_NEXT, #name))

ssize_t write(int fd, const void *p, size_t n)
{
	if (fault("write"))
		return -1;
	return REAL(write)(fd, p, n);
}

int fsync(int fd)
{
	if (fault("fsync"))
		return -1;
	return REAL(fsync)(fd);
}

int fdatasync(int fd)
{
	if (fault("fsync"))
		return -1;
	return REAL(fdatasync)(fd);
}

int rename(const char *a, const char *b)
{
	if (fault("rename"))
		return -1;
	return REAL(rename)(a, b);
}

int renameat2(int da, const char *a, int db, const char *b, unsigned flags)
{
	if (fault("rename"))
		return -1;
	return REAL(renameat2)(da, a, db, b, flags);
}
