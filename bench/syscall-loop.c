/* A tight loop of one cheap system call, for bench/seccomp-cost.sh.
 *
 *   syscall-loop N getppid   N x getppid(): allowed whatever its
 *                            arguments, so the kernel's seccomp cache
 *                            (Linux 5.11+) may skip the filter
 *   syscall-loop N ioctl     N x ioctl(-1, FIONREAD): the filter looks at
 *                            the request, so it runs every time */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	if (argc != 3) {
		fputs("usage: syscall-loop N getppid|ioctl\n", stderr);
		return 2;
	}
	long n = strtol(argv[1], NULL, 10);
	int ioctl_mode = strcmp(argv[2], "ioctl") == 0;
	if (!ioctl_mode && strcmp(argv[2], "getppid") != 0) {
		fprintf(stderr, "syscall-loop: unknown call '%s'\n", argv[2]);
		return 2;
	}
	int v;
	/* syscall(2), not the libc wrappers: nothing cached, nothing
	 * skipped. */
	for (long i = 0; i < n; i++)
		if (ioctl_mode)
			syscall(SYS_ioctl, -1, (unsigned long)FIONREAD, &v);
		else
			syscall(SYS_getppid);
	return 0;
}
