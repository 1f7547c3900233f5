/* Live probe of the seccomp policy: call each filtered system call with
 * arguments the kernel rejects (bad descriptors, NULL pointers, bogus
 * flags) and print "name ERRNO". Under the filter EPERM (ENOSYS for
 * clone3 and the new mount API) means the filter answered; without it the
 * kernel's own EBADF, EFAULT or EINVAL shows the call got through. The
 * arguments are chosen so that no call can do anything even unfiltered
 * and as root. (The idea is bubblewrap's tests/try-syscall.c.)
 *
 *   try-syscall [list]  every probe
 *   try-syscall tiocsti ioctl(0, TIOCSTI, NULL), also with bit 32 set
 *   try-syscall int80   getpid through the i386 entry (int $0x80)
 *   try-syscall x32     getpid with the x32 bit set
 *   try-syscall fork    fork and wait
 *   try-syscall thread  pthread_create (glibc: clone3, then clone) */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define BOGUS 0x7fff0000ul /* flags no call defines */

static void report(const char *name, long r)
{
	if (r < 0)
		printf("%s %s\n", name, strerrorname_np(errno));
	else
		printf("%s OK\n", name);
}

#define P(label, ...)                        \
	static long probe_##label(void)      \
	{                                    \
		return syscall(__VA_ARGS__); \
	}
/* clone with a namespace flag, made invalid by CLONE_THREAD without
 * CLONE_SIGHAND so that even unfiltered nothing is created. */
#define PCLONE(label, flag) \
	P(label, SYS_clone, CLONE_THREAD | (flag), 0, 0, 0, 0)

P(mount, SYS_mount, NULL, NULL, NULL, 0, NULL)
P(umount2, SYS_umount2, NULL, BOGUS)
P(pivot_root, SYS_pivot_root, NULL, NULL)
P(chroot, SYS_chroot, NULL)
P(unshare, SYS_unshare, CLONE_PARENT_SETTID)
P(setns, SYS_setns, -1, 0)
PCLONE(clone_newuser, CLONE_NEWUSER)
PCLONE(clone_newns, CLONE_NEWNS)
PCLONE(clone_newpid, CLONE_NEWPID)
PCLONE(clone_newnet, CLONE_NEWNET)
PCLONE(clone_newuts, CLONE_NEWUTS)
PCLONE(clone_newipc, CLONE_NEWIPC)
PCLONE(clone_newcgroup, CLONE_NEWCGROUP)
PCLONE(clone_plain, 0)
P(clone3, SYS_clone3, NULL, 0)
P(fsopen, SYS_fsopen, NULL, 0)
P(fsconfig, SYS_fsconfig, -1, 0, NULL, NULL, 0)
P(fsmount, SYS_fsmount, -1, BOGUS, 0)
P(fspick, SYS_fspick, -1, NULL, BOGUS)
P(open_tree, SYS_open_tree, -1, NULL, BOGUS)
P(move_mount, SYS_move_mount, -1, NULL, -1, NULL, BOGUS)
P(mount_setattr, SYS_mount_setattr, -1, NULL, BOGUS, NULL, 0)
P(init_module, SYS_init_module, NULL, 0, NULL)
P(finit_module, SYS_finit_module, -1, NULL, BOGUS)
P(delete_module, SYS_delete_module, NULL, 0)
#ifdef SYS_create_module
P(create_module, SYS_create_module, NULL, 0)
#endif
#ifdef SYS_query_module
P(query_module, SYS_query_module, NULL, 0, NULL, 0, NULL)
#endif
#ifdef SYS_get_kernel_syms
P(get_kernel_syms, SYS_get_kernel_syms, NULL)
#endif
P(kexec_load, SYS_kexec_load, 0, 0, NULL, BOGUS)
#ifdef SYS_kexec_file_load
P(kexec_file_load, SYS_kexec_file_load, -1, -1, 0, NULL, BOGUS)
#endif
/* Without the magic numbers reboot does nothing: EINVAL. */
P(reboot, SYS_reboot, 0, 0, 0, NULL)
P(bpf, SYS_bpf, 9999, NULL, 0)
P(perf_event_open, SYS_perf_event_open, NULL, 0, -1, -1, 0)
#ifdef SYS_lookup_dcookie
P(lookup_dcookie, SYS_lookup_dcookie, 0, NULL, 0)
#endif
P(syslog, SYS_syslog, 9999, NULL, 0)
#ifdef SYS_iopl
P(iopl, SYS_iopl, 4)
#endif
#ifdef SYS_ioperm
P(ioperm, SYS_ioperm, 0x10000, 1, 1)
#endif
#ifdef SYS_uselib
P(uselib, SYS_uselib, NULL)
#endif
#ifdef SYS_nfsservctl
P(nfsservctl, SYS_nfsservctl, 0, NULL, NULL)
#endif
/* pid 0 is nobody to ptrace: ESRCH; 0x4242 is no request. */
P(ptrace, SYS_ptrace, 0x4242, 0, NULL, NULL)
P(process_vm_readv, SYS_process_vm_readv, 0, NULL, 0, NULL, 0, 1)
P(process_vm_writev, SYS_process_vm_writev, 0, NULL, 0, NULL, 0, 1)
P(keyctl, SYS_keyctl, 9999, 0, 0, 0, 0)
P(add_key, SYS_add_key, NULL, NULL, NULL, 0, 0)
P(request_key, SYS_request_key, NULL, NULL, NULL, 0)
P(userfaultfd, SYS_userfaultfd, 0x40000000)
P(io_uring_setup, SYS_io_uring_setup, 0, NULL)
P(io_uring_enter, SYS_io_uring_enter, -2, 0, 0, 0, NULL, 0)
P(io_uring_register, SYS_io_uring_register, -2, 0, NULL, 0)
P(clock_settime, SYS_clock_settime, 0x7fff, NULL)
P(clock_adjtime, SYS_clock_adjtime, 0x7fff, NULL)
P(settimeofday, SYS_settimeofday, (void *)1, NULL)
P(adjtimex, SYS_adjtimex, NULL)
#ifdef SYS_stime
P(stime, SYS_stime, NULL)
#endif
P(swapon, SYS_swapon, NULL, -1)
P(swapoff, SYS_swapoff, NULL)
/* acct(NULL) would turn accounting off: a bad pointer instead. */
P(acct, SYS_acct, (void *)1)
P(quotactl, SYS_quotactl, -1, NULL, 0, NULL)
#ifdef SYS_quotactl_fd
P(quotactl_fd, SYS_quotactl_fd, -1, 0, 0, NULL)
#endif
P(open_by_handle_at, SYS_open_by_handle_at, -1, NULL, 0)
P(ioctl_tiocsti, SYS_ioctl, -1, TIOCSTI, NULL)
P(ioctl_tiocsti_high, SYS_ioctl, -1, 0x100000000ul | TIOCSTI, NULL)
P(ioctl_tioclinux, SYS_ioctl, -1, TIOCLINUX, NULL)
P(ioctl_tioclinux_high, SYS_ioctl, -1, 0xffffffff00000000ul | TIOCLINUX, NULL)
/* Allowed: the answer must be the kernel's, under the filter or not. */
P(ioctl_fionread, SYS_ioctl, -1, FIONREAD, NULL)
P(name_to_handle_at, SYS_name_to_handle_at, -1, NULL, NULL, NULL, BOGUS)
P(mbind, SYS_mbind, NULL, 0, 0x7fff, NULL, 0, 0)
P(set_mempolicy, SYS_set_mempolicy, 0x7fff, NULL, 0)
P(get_mempolicy, SYS_get_mempolicy, NULL, NULL, 0, NULL, BOGUS)
P(migrate_pages, SYS_migrate_pages, -1, 0, NULL, NULL)
P(move_pages, SYS_move_pages, 0, 0, NULL, NULL, NULL, BOGUS)
P(getppid, SYS_getppid)

/* With no controlling terminal vhangup has nothing to hang up; in a new
 * session there is none, so unfiltered it does nothing either. */
static long probe_vhangup(void)
{
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		if (setsid() < 0)
			_exit(255);
		_exit(syscall(SYS_vhangup) < 0 ? errno : 0);
	}
	int st;
	if (waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) ||
	    WEXITSTATUS(st) == 255) {
		errno = ECHILD;
		return -1;
	}
	errno = WEXITSTATUS(st);
	return errno ? -1 : 0;
}

static const struct {
	const char *name;
	long (*probe)(void);
} probes[] = {
#define E(label)                      \
	{                             \
#label, probe_##label \
	}
        E(mount),
        E(umount2),
        E(pivot_root),
        E(chroot),
        E(unshare),
        E(setns),
        {"clone:NEWUSER", probe_clone_newuser},
        {"clone:NEWNS", probe_clone_newns},
        {"clone:NEWPID", probe_clone_newpid},
        {"clone:NEWNET", probe_clone_newnet},
        {"clone:NEWUTS", probe_clone_newuts},
        {"clone:NEWIPC", probe_clone_newipc},
        {"clone:NEWCGROUP", probe_clone_newcgroup},
        {"clone:plain", probe_clone_plain},
        E(clone3),
        E(fsopen),
        E(fsconfig),
        E(fsmount),
        E(fspick),
        E(open_tree),
        E(move_mount),
        E(mount_setattr),
        E(init_module),
        E(finit_module),
        E(delete_module),
#ifdef SYS_create_module
        E(create_module),
#endif
#ifdef SYS_query_module
        E(query_module),
#endif
#ifdef SYS_get_kernel_syms
        E(get_kernel_syms),
#endif
        E(kexec_load),
#ifdef SYS_kexec_file_load
        E(kexec_file_load),
#endif
        E(reboot),
        E(bpf),
        E(perf_event_open),
#ifdef SYS_lookup_dcookie
        E(lookup_dcookie),
#endif
        E(syslog),
#ifdef SYS_iopl
        E(iopl),
#endif
#ifdef SYS_ioperm
        E(ioperm),
#endif
#ifdef SYS_uselib
        E(uselib),
#endif
#ifdef SYS_nfsservctl
        E(nfsservctl),
#endif
        E(ptrace),
        E(process_vm_readv),
        E(process_vm_writev),
        E(keyctl),
        E(add_key),
        E(request_key),
        E(userfaultfd),
        E(io_uring_setup),
        E(io_uring_enter),
        E(io_uring_register),
        E(clock_settime),
        E(clock_adjtime),
        E(settimeofday),
        E(adjtimex),
#ifdef SYS_stime
        E(stime),
#endif
        E(swapon),
        E(swapoff),
        E(acct),
        E(quotactl),
#ifdef SYS_quotactl_fd
        E(quotactl_fd),
#endif
        E(vhangup),
        E(open_by_handle_at),
        {"ioctl:TIOCSTI", probe_ioctl_tiocsti},
        {"ioctl:TIOCSTI-high", probe_ioctl_tiocsti_high},
        {"ioctl:TIOCLINUX", probe_ioctl_tioclinux},
        {"ioctl:TIOCLINUX-high", probe_ioctl_tioclinux_high},
        {"ioctl:FIONREAD", probe_ioctl_fionread},
        E(name_to_handle_at),
        E(mbind),
        E(set_mempolicy),
        E(get_mempolicy),
        E(migrate_pages),
        E(move_pages),
        E(getppid),
#undef E
};

static int list(void)
{
	for (size_t i = 0; i < sizeof probes / sizeof probes[0]; i++) {
		errno = 0;
		report(probes[i].name, probes[i].probe());
	}
	return 0;
}

static int tiocsti(void)
{
	/* A NULL character pointer: even a terminal on fd 0 unfiltered
	 * gets nothing typed into it (EFAULT). */
	report("tiocsti", syscall(SYS_ioctl, 0, TIOCSTI, NULL));
	report("tiocsti-high",
	       syscall(SYS_ioctl, 0, 0x100000000ul | TIOCSTI, NULL));
	return 0;
}

static int int80(void)
{
#if defined(__x86_64__)
	/* Flush first: under the filter this process dies right here. */
	fflush(stdout);
	long r = 20; /* getpid in the i386 table */
	__asm__ volatile("int $0x80" : "+a"(r) : : "memory");
	if (r < 0) {
		errno = (int)-r;
		r = -1;
	}
	report("int80", r);
	return 0;
#else
	puts("int80 UNSUPPORTED");
	return 0;
#endif
}

static int x32(void)
{
#if defined(__x86_64__)
	fflush(stdout);
	report("x32", syscall(0x40000000 | SYS_getpid));
#else
	puts("x32 UNSUPPORTED");
#endif
	return 0;
}

static int do_fork(void)
{
	pid_t pid = fork();
	if (pid == 0)
		_exit(7);
	int st;
	if (pid < 0 || waitpid(pid, &st, 0) < 0)
		report("fork", -1);
	else
		printf("fork %s\n", WIFEXITED(st) && WEXITSTATUS(st) == 7
		                            ? "OK"
		                            : "BADCHILD");
	return 0;
}

static void *thread_main(void *arg)
{
	return arg;
}

static int thread(void)
{
	static int token;
	pthread_t t;
	void *res = NULL;
	int r = pthread_create(&t, NULL, thread_main, &token);
	if (r == 0)
		r = pthread_join(t, &res);
	if (r != 0) {
		errno = r;
		report("thread", -1);
	} else
		printf("thread %s\n", res == &token ? "OK" : "BADRESULT");
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
	const char *mode = argc > 1 ? argv[1] : "list";
	int r;
	if (strcmp(mode, "list") == 0)
		r = list();
	else if (strcmp(mode, "tiocsti") == 0)
		r = tiocsti();
	else if (strcmp(mode, "int80") == 0)
		r = int80();
	else if (strcmp(mode, "x32") == 0)
		r = x32();
	else if (strcmp(mode, "fork") == 0)
		r = do_fork();
	else if (strcmp(mode, "thread") == 0)
		r = thread();
	else {
		fprintf(stderr, "try-syscall: unknown mode '%s'\n", mode);
		return 2;
	}
	if (fflush(stdout) != 0)
		return 1;
	return r;
}
