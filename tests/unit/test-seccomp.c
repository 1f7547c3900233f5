/* The seccomp policy without running it: the filter against a golden
 * pseudo-code file, its digest, and the compiled program run through a
 * small classic-BPF interpreter; then loaded for real in forked children.
 *
 *   test-seccomp --print-golden   writes what the golden file should hold
 *                                 (make update-golden) */
#include "config.h"
#include "tap.h"

#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "hash.h"
#include "seccomp-policy.h"
#include "util.h"

#define GOLDEN "tests/data/seccomp-x86_64.pfc"
#define GOLDEN_TRACED "tests/data/seccomp-x86_64-traced.pfc"

static void die(const char *what, int r)
{
	printf("Bail out! %s: %s\n", what, strerror(r < 0 ? -r : r));
	exit(2);
}

static scmp_filter_ctx build_traced(bool trace)
{
	scmp_filter_ctx ctx;
	int r = seccomp_policy_build_traced(trace, &ctx);
	if (r < 0)
		die("seccomp_policy_build", r);
	return ctx;
}

static scmp_filter_ctx build(void)
{
	return build_traced(false);
}

/* What an export writes, through a memfd. */
static char *export_filter(scmp_filter_ctx ctx, bool pfc, size_t *ret_len)
{
	_cleanup_close_ int fd = memfd_create("test", MFD_CLOEXEC);
	if (fd < 0)
		die("memfd_create", errno);
	int r = pfc ? seccomp_export_pfc(ctx, fd) : seccomp_export_bpf(ctx, fd);
	if (r < 0)
		die("seccomp_export", r);
	if (lseek(fd, 0, SEEK_SET) < 0)
		die("lseek", errno);
	char *buf;
	r = read_full_fd(fd, 1 << 20, &buf, ret_len);
	if (r < 0)
		die("read", r);
	return buf;
}

/* The golden file's first line names the policy and the libseccomp that
 * wrote it: another libseccomp prints other pseudo-code. */
static char *golden_header(void)
{
	const struct scmp_version *v = seccomp_version();
	return xasprintf("# %s x86_64 libseccomp %u.%u.%u\n",
	                 SECCOMP_POLICY_NAME, v->major, v->minor, v->micro);
}

static int print_golden(bool trace)
{
	_cleanup_free_ char *header = golden_header();
	scmp_filter_ctx ctx = build_traced(trace);
	_cleanup_free_ char *pfc = export_filter(ctx, true, NULL);
	seccomp_release(ctx);
	fputs(header, stdout);
	fputs(pfc, stdout);
	return fflush(stdout) == 0 ? 0 : 1;
}

static void test_golden(scmp_filter_ctx ctx, const char *file)
{
#if defined(__x86_64__)
	const char *srcdir = getenv("top_srcdir");
	_cleanup_free_ char *path = path_join(srcdir ? srcdir : ".", file);
	_cleanup_free_ char *golden = NULL;
	int r = read_full_file(path, 1 << 20, &golden, NULL);
	if (r < 0)
		die(path, r);
	_cleanup_free_ char *header = golden_header();
	char *nl = strchr(golden, '\n');
	if (!nl)
		die("golden file without a header line", EINVAL);
	if (!strneq(golden, header, (size_t)(nl + 1 - golden))) {
		tap_n++;
		printf("ok %d # SKIP the golden file was written by another "
		       "libseccomp or policy: %.*s\n",
		       tap_n, (int)(nl - golden), golden);
		return;
	}
	_cleanup_free_ char *pfc = export_filter(ctx, true, NULL);
	const char *want = nl + 1;
	ok(streq(pfc, want),
	   "the filter matches %s (if the policy changed on "
	   "purpose: make update-golden)",
	   file);
	if (!streq(pfc, want)) {
		/* The first line that differs, not two whole files. */
		const char *g = pfc, *w = want;
		int line = 2;
		while (*g && *g == *w) {
			if (*g == '\n')
				line++;
			g++, w++;
		}
		while (g > pfc && g[-1] != '\n')
			g--, w--;
		printf("#   line %d: got '%.*s', expected '%.*s'\n", line,
		       (int)strcspn(g, "\n"), g, (int)strcspn(w, "\n"), w);
	}
#else
	tap_n++;
	printf("ok %d # SKIP the golden file is for x86_64\n", tap_n);
#endif
}

/* A classic-BPF interpreter for what libseccomp emits, to ask the
 * compiled program what it does with a call without loading it. */
static uint32_t bpf_run(const struct sock_filter *prog, size_t len,
                        const struct seccomp_data *d)
{
	uint32_t a = 0, x = 0, mem[BPF_MEMWORDS] = {0};
	for (size_t pc = 0; pc < len; pc++) {
		const struct sock_filter *f = &prog[pc];
		uint32_t k = f->k;
		switch (f->code) {
		case BPF_LD | BPF_W | BPF_ABS:
			if (k > sizeof *d - 4 || k % 4)
				return 0xdeadbeef;
			memcpy(&a, (const char *)d + k, 4);
			break;
		case BPF_LD | BPF_MEM:
			a = mem[k % BPF_MEMWORDS];
			break;
		case BPF_LDX | BPF_MEM:
			x = mem[k % BPF_MEMWORDS];
			break;
		case BPF_ST:
			mem[k % BPF_MEMWORDS] = a;
			break;
		case BPF_STX:
			mem[k % BPF_MEMWORDS] = x;
			break;
		case BPF_ALU | BPF_AND | BPF_K:
			a &= k;
			break;
		case BPF_MISC | BPF_TAX:
			x = a;
			break;
		case BPF_MISC | BPF_TXA:
			a = x;
			break;
		case BPF_JMP | BPF_JA:
			pc += k;
			break;
		case BPF_JMP | BPF_JEQ | BPF_K:
			pc += a == k ? f->jt : f->jf;
			break;
		case BPF_JMP | BPF_JGT | BPF_K:
			pc += a > k ? f->jt : f->jf;
			break;
		case BPF_JMP | BPF_JGE | BPF_K:
			pc += a >= k ? f->jt : f->jf;
			break;
		case BPF_JMP | BPF_JSET | BPF_K:
			pc += (a & k) ? f->jt : f->jf;
			break;
		case BPF_RET | BPF_K:
			return k;
		case BPF_RET | BPF_A:
			return a;
		default:
			return 0xdeadbeef; /* an instruction this test lacks */
		}
	}
	return 0xdeadbeef;
}

static const struct sock_filter *prog;
static size_t prog_len;

static uint32_t verdict(uint32_t arch, int nr, uint64_t a0, uint64_t a1)
{
	struct seccomp_data d = {.nr = nr, .arch = arch, .args = {a0, a1}};
	return bpf_run(prog, prog_len, &d);
}

static int nr_of(const char *name)
{
	int nr = seccomp_syscall_resolve_name(name);
	if (nr < 0)
		die(name, ENOENT);
	return nr;
}

static void test_program(void)
{
	const uint32_t native = seccomp_arch_native();
	const uint32_t eperm = SECCOMP_RET_ERRNO | EPERM;
	const uint32_t enosys = SECCOMP_RET_ERRNO | ENOSYS;
	is_int(verdict(native, nr_of("getppid"), 0, 0), SECCOMP_RET_ALLOW,
	       "program: getppid allowed");
	is_int(verdict(native, nr_of("mount"), 0, 0), eperm,
	       "program: mount EPERM");
	is_int(verdict(native, nr_of("clone3"), 0, 0), enosys,
	       "program: clone3 ENOSYS");
	is_int(verdict(native, nr_of("open_tree"), 0, 0), enosys,
	       "program: open_tree ENOSYS");
	is_int(verdict(native, nr_of("mbind"), 0, 0), SECCOMP_RET_ALLOW,
	       "program: mbind allowed");
	is_int(verdict(native, nr_of("set_mempolicy"), 0, 0), SECCOMP_RET_ALLOW,
	       "program: set_mempolicy allowed");
	is_int(verdict(native, nr_of("ioctl"), 0, TIOCSTI), eperm,
	       "program: ioctl TIOCSTI EPERM");
	is_int(verdict(native, nr_of("ioctl"), 0, 0x100000000ull | TIOCSTI),
	       eperm, "program: ioctl TIOCSTI with high bits EPERM");
	is_int(verdict(native, nr_of("ioctl"), 0,
	               0xffffffff00000000ull | TIOCLINUX),
	       eperm, "program: ioctl TIOCLINUX with high bits EPERM");
	is_int(verdict(native, nr_of("ioctl"), 0, FIONREAD), SECCOMP_RET_ALLOW,
	       "program: ioctl FIONREAD allowed");
	const uint64_t fork_flags =
	        CLONE_CHILD_CLEARTID | CLONE_CHILD_SETTID | SIGCHLD;
	const uint64_t thread_flags =
	        CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND |
	        CLONE_THREAD | CLONE_SYSVSEM | CLONE_SETTLS |
	        CLONE_PARENT_SETTID | CLONE_CHILD_CLEARTID;
	is_int(verdict(native, nr_of("clone"), fork_flags, 0),
	       SECCOMP_RET_ALLOW, "program: clone as fork allowed");
	is_int(verdict(native, nr_of("clone"), thread_flags, 0),
	       SECCOMP_RET_ALLOW, "program: clone as pthread_create allowed");
	static const uint64_t ns_flags[] = {
	        CLONE_NEWUSER, CLONE_NEWNS,  CLONE_NEWPID,   CLONE_NEWNET,
	        CLONE_NEWUTS,  CLONE_NEWIPC, CLONE_NEWCGROUP};
	int denied = 0;
	for (size_t i = 0; i < ELEMENTSOF(ns_flags); i++)
		denied += verdict(native, nr_of("clone"),
		                  fork_flags | ns_flags[i], 0) == eperm;
	is_int(denied, ELEMENTSOF(ns_flags),
	       "program: clone with any namespace flag EPERM");
	uint32_t foreign =
	        native == SCMP_ARCH_X86_64 ? SCMP_ARCH_X86 : SCMP_ARCH_X86_64;
	is_int(verdict(foreign, 20, 0, 0), SECCOMP_RET_KILL_PROCESS,
	       "program: another architecture is killed");
#if defined(__x86_64__)
	/* Not in the pseudo-code: libseccomp adds it to every x86_64 filter
	 * without x32 in it. */
	is_int(verdict(native, 0x40000000 | nr_of("getpid"), 0, 0),
	       SECCOMP_RET_KILL_PROCESS, "program: an x32 call is killed");
	is_int(verdict(native, -1, 0, 0), SECCOMP_RET_ALLOW,
	       "program: syscall(-1) still reaches the kernel (ENOSYS)");
#else
	tap_n++;
	printf("ok %d # SKIP x32 is an x86_64 matter\n", tap_n);
	tap_n++;
	printf("ok %d # SKIP x32 is an x86_64 matter\n", tap_n);
#endif
}

/* Load the filter in a child and report, as its exit status, which of the
 * probes did not behave. */
static int child_probe(scmp_filter_ctx ctx)
{
	if (seccomp_policy_load(ctx) < 0)
		return 1;
	int bad = 0;
	if (prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1)
		bad |= 2;
	if (syscall(SYS_mount, NULL, NULL, NULL, 0, NULL) >= 0 ||
	    errno != EPERM)
		bad |= 4;
	if (syscall(SYS_clone3, NULL, 0) >= 0 || errno != ENOSYS)
		bad |= 8;
	if (syscall(SYS_ioctl, -1, 0x100000000ul | TIOCSTI, NULL) >= 0 ||
	    errno != EPERM)
		bad |= 16;
	if (syscall(SYS_ioctl, -1, FIONREAD, NULL) >= 0 || errno != EBADF)
		bad |= 32;
	if (getppid() <= 0)
		bad |= 64;
	return bad;
}

static int run_child(scmp_filter_ctx ctx)
{
	fflush(stdout);
	pid_t pid = fork();
	if (pid < 0)
		die("fork", errno);
	if (pid == 0)
		_exit(child_probe(ctx));
	int status;
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			die("waitpid", errno);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* The traced policy: the same denials, and exec and the open family
 * (not of a directory) wait on the listener (DESIGN.md §8). */
static void test_traced(void)
{
	scmp_filter_ctx ctx = build_traced(true);
	test_golden(ctx, GOLDEN_TRACED);
	size_t n;
	_cleanup_free_ char *bpf = export_filter(ctx, false, &n);
	prog = (const struct sock_filter *)bpf;
	prog_len = n / sizeof(struct sock_filter);
	const uint32_t native = seccomp_arch_native();
	const uint32_t eperm = SECCOMP_RET_ERRNO | EPERM;
	is_int(verdict(native, nr_of("execve"), 0, 0), SECCOMP_RET_USER_NOTIF,
	       "traced: execve is notified");
	is_int(verdict(native, nr_of("execveat"), 0, 0), SECCOMP_RET_USER_NOTIF,
	       "traced: execveat is notified");
	struct seccomp_data d = {.nr = nr_of("openat"),
	                         .arch = native,
	                         .args = {AT_FDCWD, 0, O_RDONLY}};
	is_int(bpf_run(prog, prog_len, &d), SECCOMP_RET_USER_NOTIF,
	       "traced: openat of a file is notified");
	d.args[2] = O_RDONLY | O_DIRECTORY | O_CLOEXEC;
	is_int(bpf_run(prog, prog_len, &d), SECCOMP_RET_ALLOW,
	       "traced: openat of a directory is not");
	is_int(verdict(native, nr_of("open"), 0, O_WRONLY | O_CREAT),
	       SECCOMP_RET_USER_NOTIF, "traced: open for writing is notified");
	is_int(verdict(native, nr_of("openat2"), 0, 0), SECCOMP_RET_USER_NOTIF,
	       "traced: openat2 is notified");
	is_int(verdict(native, nr_of("mount"), 0, 0), eperm,
	       "traced: mount is still denied");
	is_int(verdict(native, nr_of("getppid"), 0, 0), SECCOMP_RET_ALLOW,
	       "traced: getppid is still allowed");
	_cleanup_free_ char *dt = NULL;
	is_int(seccomp_policy_digest(&dt), 0, "traced: digest");
	_cleanup_free_ char *want = sha256_mem(bpf, n);
	is_str(dt, want, "traced: the digest is the traced program's");
	prog = NULL;
	prog_len = 0;
	seccomp_release(ctx);
}

int main(int argc, char **argv)
{
	if (argc > 1 && streq(argv[1], "--print-golden"))
		return print_golden(false);
	if (argc > 1 && streq(argv[1], "--print-golden-traced"))
		return print_golden(true);

	test_traced();

	scmp_filter_ctx ctx = build();
	ok(ctx != NULL, "seccomp_policy_build gives a filter");
	test_golden(ctx, GOLDEN);

	_cleanup_free_ char *d1 = NULL, *d2 = NULL;
	is_int(seccomp_policy_digest(&d1), 0, "seccomp_policy_digest");
	is_int(seccomp_policy_digest(&d2), 0, "... twice");
	ok(d1 && strlen(d1) == DIGEST_STR_LEN && startswith(d1, "sha256:") &&
	           strspn(d1 + 7, "0123456789abcdef") == 64,
	   "the digest is sha256:<64 hex>: %s", d1 ? d1 : "(null)");
	is_str(d1, d2, "the digest is stable");

	size_t n1, n2;
	_cleanup_free_ char *bpf1 = export_filter(ctx, false, &n1);
	scmp_filter_ctx ctx2 = build();
	_cleanup_free_ char *bpf2 = export_filter(ctx2, false, &n2);
	ok(n1 == n2 && memcmp(bpf1, bpf2, n1) == 0,
	   "two builds compile to the same program");
	_cleanup_free_ char *d3 = sha256_mem(bpf1, n1);
	is_str(d3, d1, "the digest is that of the exported program");
	ok(n1 % sizeof(struct sock_filter) == 0 &&
	           n1 / sizeof(struct sock_filter) <= BPF_MAXINSNS,
	   "the program has %zu instructions", n1 / sizeof(struct sock_filter));

	prog = (const struct sock_filter *)bpf1;
	prog_len = n1 / sizeof(struct sock_filter);
	test_program();

	/* ctx2 was built last: the no-allocation path; ctx the other. */
	is_int(run_child(ctx2), 0,
	       "loaded from the program compiled at build: calls filtered");
	is_int(run_child(ctx), 0,
	       "loaded through seccomp_load: calls filtered the same");

	seccomp_release(ctx);
	seccomp_release(ctx2);
	return done_testing();
}
