#include "config.h"

#include "seccomp-policy.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "hash.h"
#include "util.h"

#define EPERM_ SCMP_ACT_ERRNO(EPERM)
/* ENOSYS, not EPERM, where a caller has an older call to fall back to:
 * glibc retries clone3 as clone, util-linux the new mount API as mount. */
#define ENOSYS_ SCMP_ACT_ERRNO(ENOSYS)

/* clone's flags are its first argument everywhere but s390, where the
 * stack pointer comes first. */
#if defined(__s390__) || defined(__s390x__)
#define CLONE_FLAGS_ARG 1
#else
#define CLONE_FLAGS_ARG 0
#endif

typedef struct PolicyRule {
	const char *name;
	uint32_t action;
	/* With has_arg, the rule applies only when
	 * (arg[arg.arg] & arg.datum_a) == arg.datum_b. */
	bool has_arg;
	struct scmp_arg_cmp arg;
	/* For readers of the table; nothing prints it. */
	/* cppcheck-suppress unusedStructMember */
	const char *why;
} PolicyRule;

#define DENY(n, w)                                        \
	{                                                 \
		.name = (n), .action = EPERM_, .why = (w) \
	}
#define NOSYS(n, w)                                        \
	{                                                  \
		.name = (n), .action = ENOSYS_, .why = (w) \
	}
#define DENY_MASKED(n, i, mask, val, w)                         \
	{                                                       \
		.name = (n), .action = EPERM_, .has_arg = true, \
		.arg = {.arg = (i),                             \
		        .op = SCMP_CMP_MASKED_EQ,               \
		        .datum_a = (mask),                      \
		        .datum_b = (val)},                      \
		.why = (w)                                      \
	}
/* One rule per namespace flag: libseccomp cannot say "any of these bits",
 * and rules for one call are or-ed together. */
#define DENY_CLONE_NS(f)                                \
	DENY_MASKED("clone", CLONE_FLAGS_ARG, (f), (f), \
	            "a new " #f " namespace from inside the sandbox")
/* ioctl's request is an unsigned int in the kernel, which ignores the
 * upper half of the register: compare the low 32 bits only, or
 * 0x100005412 slips past (Flatpak's CVE-2019-10063). */
#define DENY_IOCTL(req, w) DENY_MASKED("ioctl", 1, 0xffffffffu, (req), (w))

/* The policy. The default is allow: training code and its libraries
 * (CUDA, NCCL, PyTorch, JAX) use a wide and changing set of calls, so
 * only what lets a run leave or change the sandbox or the host is
 * refused. NUMA calls (mbind, set_mempolicy, get_mempolicy,
 * migrate_pages, move_pages) are deliberately absent: CUDA and PyTorch
 * use them. name_to_handle_at stays allowed: a handle is useless without
 * open_by_handle_at. Names this libseccomp does not know, or that the
 * native architecture lacks, are skipped. */
static const PolicyRule policy[] = {
        /* mounts and namespaces */
        DENY("mount", "mounts change what the sandbox sees"),
        DENY("umount", "mounts change what the sandbox sees"),
        DENY("umount2", "mounts change what the sandbox sees"),
        DENY("pivot_root", "mounts change what the sandbox sees"),
        DENY("chroot", "a chroot inside the sandbox can escape it"),
        DENY("unshare", "new namespaces regain capabilities"),
        DENY("setns", "entering another namespace leaves the sandbox"),
        DENY_CLONE_NS(CLONE_NEWUSER),
        DENY_CLONE_NS(CLONE_NEWNS),
        DENY_CLONE_NS(CLONE_NEWPID),
        DENY_CLONE_NS(CLONE_NEWNET),
        DENY_CLONE_NS(CLONE_NEWUTS),
        DENY_CLONE_NS(CLONE_NEWIPC),
        DENY_CLONE_NS(CLONE_NEWCGROUP),
        /* CLONE_NEWTIME (0x80) is not checked on clone: there it is part of
         * the exit signal; unshare and clone3 are refused whole. */
        NOSYS("clone3", "its flags live in memory a filter cannot read"),
        NOSYS("fsopen", "the new mount API"),
        NOSYS("fsconfig", "the new mount API"),
        NOSYS("fsmount", "the new mount API"),
        NOSYS("fspick", "the new mount API"),
        NOSYS("open_tree", "the new mount API"),
        NOSYS("move_mount", "the new mount API"),
        NOSYS("mount_setattr", "the new mount API"),

        /* the kernel itself */
        DENY("init_module", "loading kernel code"),
        DENY("finit_module", "loading kernel code"),
        DENY("delete_module", "unloading kernel code"),
        DENY("create_module", "obsolete module call"),
        DENY("query_module", "obsolete module call"),
        DENY("get_kernel_syms", "obsolete module call"),
        DENY("kexec_load", "replacing the running kernel"),
        DENY("kexec_file_load", "replacing the running kernel"),
        DENY("reboot", "rebooting the host"),
        DENY("bpf", "kernel programs; a large attack surface"),
        DENY("perf_event_open", "profiling other processes and the kernel"),
        DENY("lookup_dcookie", "kernel profiling"),
        DENY("syslog", "the kernel log"),
        DENY("iopl", "direct hardware port access"),
        DENY("ioperm", "direct hardware port access"),
        DENY("uselib", "obsolete; an old source of exploits"),
        DENY("nfsservctl", "obsolete"),

        /* other processes */
        DENY("ptrace", "reading and changing other processes"),
        DENY("process_vm_readv", "reading other processes' memory"),
        DENY("process_vm_writev", "changing other processes' memory"),

        /* the host's keyrings */
        DENY("keyctl", "keyrings are not namespaced"),
        DENY("add_key", "keyrings are not namespaced"),
        DENY("request_key", "keyrings are not namespaced"),

        /* attack surface without a use in training */
        DENY("userfaultfd", "stalls kernel code at will; exploit aid"),
        DENY("io_uring_setup", "bypasses this filter for the calls it runs"),
        DENY("io_uring_enter", "bypasses this filter for the calls it runs"),
        DENY("io_uring_register", "bypasses this filter for the calls it runs"),

        /* host-wide state */
        DENY("clock_settime", "the host's clock"),
        DENY("clock_adjtime", "the host's clock"),
        DENY("settimeofday", "the host's clock"),
        DENY("adjtimex", "the host's clock"),
        DENY("stime", "the host's clock"),
        DENY("swapon", "the host's swap"),
        DENY("swapoff", "the host's swap"),
        DENY("acct", "the host's process accounting"),
        DENY("quotactl", "the host's disk quotas"),
        DENY("quotactl_fd", "the host's disk quotas"),
        DENY("vhangup", "hangs up the terminal"),
        DENY("open_by_handle_at", "opens files by handle, around mounts"),

        /* terminals */
        DENY_IOCTL(TIOCSTI, "types into the terminal the run came from"),
        DENY_IOCTL(TIOCLINUX, "types into the console"),
};

/* Tracing (DESIGN.md §8, src/trace.h): the calls that execute a
 * program or open a file stop for the launcher, which reads the path and
 * lets them go on. Opening a directory (os.listdir, the import system's
 * scans) is not asked about: it reads no file's content, and it is a
 * tenth of Python's opens. arg is the index of the flags argument, or -1
 * where the call has none that a filter can read. */
typedef struct TraceRule {
	const char *name;
	int flags_arg;
} TraceRule;

static const TraceRule trace_rules[] = {
        {"execve", -1}, {"execveat", -1}, {"open", 1},
        {"openat", 2},  {"openat2", -1},  {"creat", -1},
};

static int trace_add_rules(scmp_filter_ctx ctx)
{
	for (size_t i = 0; i < ELEMENTSOF(trace_rules); i++) {
		const TraceRule *t = &trace_rules[i];
		int nr = seccomp_syscall_resolve_name(t->name);
		if (nr < 0)
			continue;
		int r = t->flags_arg < 0
		                ? seccomp_rule_add(ctx, SCMP_ACT_NOTIFY, nr, 0)
		                : seccomp_rule_add(
		                          ctx, SCMP_ACT_NOTIFY, nr, 1,
		                          (struct scmp_arg_cmp){
		                                  .arg = (unsigned)t->flags_arg,
		                                  .op = SCMP_CMP_MASKED_EQ,
		                                  .datum_a = O_DIRECTORY,
		                                  .datum_b = 0});
		if (r < 0)
			return r;
	}
	return 0;
}

static int policy_add_rules(scmp_filter_ctx ctx)
{
	for (size_t i = 0; i < ELEMENTSOF(policy); i++) {
		const PolicyRule *p = &policy[i];
		int nr = seccomp_syscall_resolve_name(p->name);
		/* Unknown to this libseccomp, or a pseudo-number for a call
		 * the native architecture does not have. */
		if (nr < 0)
			continue;
		int r = p->has_arg ? seccomp_rule_add(ctx, p->action, nr, 1,
		                                      p->arg)
		                   : seccomp_rule_add(ctx, p->action, nr, 0);
		if (r < 0)
			return r;
	}
	return 0;
}

static void seccomp_releasep(scmp_filter_ctx *ctx)
{
	if (*ctx)
		seccomp_release(*ctx);
}
#define _cleanup_seccomp_ _cleanup_(seccomp_releasep)

static int policy_new(bool trace, scmp_filter_ctx *ret)
{
	_cleanup_seccomp_ scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
	if (!ctx)
		return -ENOMEM;
	/* Other architectures' calls (i386 through int 0x80 on x86_64) have
	 * other numbers and would pass every rule: kill them. x32 calls
	 * (nr | 0x40000000) need no rule of ours: libseccomp 2.5 sends every
	 * such number but -1 to this same action in any x86_64 filter
	 * without the x32 architecture. It does not show in the pseudo-code;
	 * test-seccomp checks the compiled program. */
	int r = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH,
	                         SCMP_ACT_KILL_PROCESS);
	if (r < 0)
		return r;
	/* A binary tree over the call number: a call with argument rules
	 * (ioctl, clone) is found in a few jumps instead of after every
	 * denied call; others are allowed from the kernel's seccomp cache
	 * without running the program at all (bench/seccomp-cost.sh). */
	r = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2);
	if (r < 0)
		return r;
	r = policy_add_rules(ctx);
	if (r == 0 && trace)
		r = trace_add_rules(ctx);
	if (r < 0)
		return r;
	*ret = TAKE_PTR(ctx);
	return 0;
}

/* The BPF program as the kernel will get it. */
static int policy_compile(scmp_filter_ctx ctx, struct sock_filter **ret,
                          size_t *ret_len)
{
	*ret = NULL;
	*ret_len = 0;
	/* libseccomp 2.5 exports only to a file descriptor. */
	_cleanup_close_ int fd = memfd_create("xrun-seccomp", MFD_CLOEXEC);
	if (fd < 0)
		return negative_errno();
	int r = seccomp_export_bpf(ctx, fd);
	if (r < 0)
		return r;
	if (lseek(fd, 0, SEEK_SET) < 0)
		return negative_errno();
	_cleanup_free_ char *buf = NULL;
	size_t n;
	r = read_full_fd(fd, BPF_MAXINSNS * sizeof(struct sock_filter), &buf,
	                 &n);
	if (r < 0)
		return r;
	if (n == 0 || n % sizeof(struct sock_filter) != 0)
		return -EINVAL;
	*ret = (struct sock_filter *)TAKE_PTR(buf);
	*ret_len = n / sizeof(struct sock_filter);
	return 0;
}

/* The program of the filter built last, for a child to load without
 * allocating (malloc after fork in a threaded parent can deadlock). */
static pthread_mutex_t compiled_lock = PTHREAD_MUTEX_INITIALIZER;
static scmp_filter_ctx compiled_ctx;
static struct sock_filter *compiled_prog;
static size_t compiled_len;
static bool compiled_trace;

int seccomp_policy_build(scmp_filter_ctx *ret)
{
	return seccomp_policy_build_traced(false, ret);
}

int seccomp_policy_build_traced(bool trace, scmp_filter_ctx *ret)
{
	_cleanup_seccomp_ scmp_filter_ctx ctx = NULL;
	int r = policy_new(trace, &ctx);
	if (r < 0)
		return r;
	struct sock_filter *prog;
	size_t len;
	r = policy_compile(ctx, &prog, &len);
	if (r < 0)
		return r;

	pthread_mutex_lock(&compiled_lock);
	free(compiled_prog);
	compiled_ctx = ctx;
	compiled_prog = prog;
	compiled_len = len;
	compiled_trace = trace;
	pthread_mutex_unlock(&compiled_lock);

	*ret = TAKE_PTR(ctx);
	return 0;
}

int seccomp_policy_digest(char **ret)
{
	/* The program built last is the policy's: no second compile on
	 * the launch path. */
	pthread_mutex_lock(&compiled_lock);
	if (compiled_prog) {
		*ret = sha256_mem(compiled_prog,
		                  compiled_len * sizeof *compiled_prog);
		pthread_mutex_unlock(&compiled_lock);
		return 0;
	}
	pthread_mutex_unlock(&compiled_lock);
	_cleanup_seccomp_ scmp_filter_ctx ctx = NULL;
	int r = policy_new(false, &ctx);
	if (r < 0)
		return r;
	_cleanup_free_ struct sock_filter *prog = NULL;
	size_t len;
	r = policy_compile(ctx, &prog, &len);
	if (r < 0)
		return r;
	*ret = sha256_mem(prog, len * sizeof *prog);
	return 0;
}

static bool attr_on(scmp_filter_ctx ctx, enum scmp_filter_attr a)
{
	uint32_t v = 0;
	return seccomp_attr_get(ctx, a, &v) == 0 && v != 0;
}

int seccomp_policy_load(scmp_filter_ctx ctx)
{
	/* No lock: in the child only this thread exists, and the program
	 * is the copy fork made. */
	if (!ctx || ctx != compiled_ctx || !compiled_prog) {
		int r = seccomp_load(ctx);
		if (r < 0)
			return r;
		/* A filter with tracing rules has a listener. */
		r = seccomp_notify_fd(ctx);
		return r > 0 ? r : 0;
	}

	/* What seccomp_load() would do, from the program compiled before
	 * the fork. */
	if (attr_on(ctx, SCMP_FLTATR_CTL_NNP) &&
	    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return negative_errno();
	unsigned flags = 0;
	if (attr_on(ctx, SCMP_FLTATR_CTL_TSYNC))
		flags |= SECCOMP_FILTER_FLAG_TSYNC;
	if (attr_on(ctx, SCMP_FLTATR_CTL_LOG))
		flags |= SECCOMP_FILTER_FLAG_LOG;
	if (attr_on(ctx, SCMP_FLTATR_CTL_SSB))
		flags |= SECCOMP_FILTER_FLAG_SPEC_ALLOW;
	if (compiled_trace)
		flags |= SECCOMP_FILTER_FLAG_NEW_LISTENER;
	struct sock_fprog fprog = {
	        .len = (unsigned short)compiled_len,
	        .filter = compiled_prog,
	};
	long fd = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &fprog);
	if (fd < 0)
		return negative_errno();
	return compiled_trace ? (int)fd : 0;
}
