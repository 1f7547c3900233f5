/* The sandbox of DESIGN.md §4: new user, mount, pid, ipc, uts, net and
 * cgroup namespaces, a read-only view of the host built on a fresh root
 * and entered with pivot_root, a reaper as pid 1, no capabilities,
 * no_new_privs, and the seccomp policy installed last before execve.
 *
 * The file system view is a plan: a list of mount steps built as data
 * before anything is forked, so that pinning only adds entries and the
 * record can say exactly what the run saw. */
#pragma once

#include <jansson.h>
#include <seccomp.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/types.h>

typedef enum {
	MOUNT_RO_BIND,    /* host source at dest, read-only, with submounts */
	MOUNT_RW_BIND,    /* host source at dest, writable (--output) */
	MOUNT_DEV_BIND,   /* a device node or directory of them (/dev, GPUs) */
	MOUNT_TMPFS,      /* an empty tmpfs with mode */
	MOUNT_PROC,       /* a new /proc for the new pid namespace */
	MOUNT_DEVPTS,     /* a new devpts instance */
	MOUNT_HIDE,       /* source hidden: empty tmpfs over a directory,
	                     /dev/null over a file */
	MOUNT_SYMLINK,    /* dest -> source (in /dev) */
	MOUNT_REMOUNT_RO, /* make dest (a tmpfs made above) read-only */
	MOUNT_NET_SYSFS,  /* source (a path in a sysfs mounted in the run's
	                     network namespace: class/net) read-only at dest;
	                     an empty read-only tmpfs where the kernel
	                     refuses that sysfs */
	MOUNT_OVERLAY,    /* an -o path: overlayfs at dest over
	                     source/before, its writes in source/upper
	                     (source/work is overlayfs's own), all made by
	                     the caller */
	MOUNT_RO_LAYERS,  /* a delta view: a read-only overlayfs at dest
	                     whose lower layers are named by layers,
	                     relative to source (tmp/views) */
} MountKind;

typedef struct MountStep {
	MountKind kind;
	char *source; /* host path, or the symlink's target */
	char *dest;   /* path inside the sandbox */
	mode_t mode;  /* tmpfs root mode */
	char *layers; /* MOUNT_RO_LAYERS: "KEY/v:BASE/v..." */
} MountStep;

typedef struct Sandbox {
	MountStep *mounts;
	size_t n_mounts;
	bool share_net; /* --net */
	/* With --net, the host's abstract unix sockets (X11, some daemons)
	 * would be reachable: a Landlock scope (ABI 6) keeps the program
	 * to its own. Set by sandbox_compile_seccomp where the kernel has
	 * it. */
	bool scope_abstract;
	bool gpu;      /* --gpu */
	uint64_t pids; /* --pids, 0 = no limit */
	uid_t uid;     /* the caller's ids, also inside */
	gid_t gid;
	bool trace; /* trace what the program runs and opens */
	/* xrun check's knobs: another host name (NULL: "xrun"), another
	 * uid inside (set_inside_uid), the program's umask (set_umask),
	 * no address randomization */
	const char *hostname;
	bool set_inside_uid;
	uid_t inside_uid;
	bool set_umask;
	mode_t umask;
	bool no_aslr;
	scmp_filter_ctx seccomp; /* built and compiled before fork */
	char *seccomp_digest;
	/* set by sandbox_spawn */
	pid_t reaper;  /* pid 1 of the sandbox, as the launcher sees it */
	int report_fd; /* read end: setup errors and the program's end */
	int go_fd;     /* write end: one byte starts the program */
	int trace_fd;  /* with trace: where the listener comes (trace.h) */
} Sandbox;

Sandbox *sandbox_new(void);
Sandbox *sandbox_free(Sandbox *sb);
static inline void sandbox_freep(Sandbox **sb)
{
	sandbox_free(*sb);
}
#define _cleanup_sandbox_ __attribute__((cleanup(sandbox_freep)))

void sandbox_add_mount(Sandbox *sb, MountKind kind, const char *source,
                       const char *dest, mode_t mode);
/* A copy of step m (its layers too) at the end of the plan. */
void sandbox_add_step(Sandbox *sb, const MountStep *m);

/* The default view: host root read-only, new /proc, minimal /dev, private
 * /tmp, the working directory read-only (none when cwd is NULL: a
 * replay's comes from its view), outputs writable, the secret
 * stores under home hidden, GPU devices with gpu. Outputs must exist
 * (the caller creates them). */
int sandbox_plan_default(Sandbox *sb, const char *cwd, char *const *outputs,
                         const char *home);
/* The real paths of the credential stores in home (the account's home
 * directory when home is NULL or relative) that exist: what the
 * default plan hides. A NULL-terminated vector. */
char **sandbox_secret_paths(const char *home);
/* The store hidden but for this run's params file (read-only) and
 * metrics file (writable), which must exist. */
void sandbox_plan_store(Sandbox *sb, const char *store_root, const char *params,
                        const char *metrics);

/* Pinned trees (DESIGN.md §3): each views[i] bound read-only over
 * dests[i], after the default plan and before the store is hidden.
 * --output binds and hidden paths that lie below a pinned path are
 * applied again after the views, so that a view neither covers an output
 * nor uncovers a secret. */
/* Each view read-only at its dest: a bind, or where layers[i] is not ""
 * (layers may be NULL) an overlay of those layers below views[i]. */
void sandbox_plan_pinned(Sandbox *sb, char *const *views, char *const *layers,
                         char *const *dests);

/* A replay's pinned trees and outputs go at paths that may be gone
 * from the host (moved, deleted), where the read-only host root has no
 * mount point for them. For each such path, the nearest directory that
 * exists gets a tmpfs holding its host entries again (bound read-only),
 * the secrets below it hidden again, and it is made read-only once the
 * mount points are in. Call after the plan is complete. */
void sandbox_plan_make_room(Sandbox *sb);

/* Can overlayfs be mounted in a new user namespace here (Linux 5.11,
 * the userxattr option)? Tried once in scratch, an empty directory of
 * the store's file system, which is left as it was. 0, or -errno of the
 * refusal. */
int sandbox_probe_overlay(const char *scratch);

/* Can a delta view be mounted (a read-only overlayfs of two layers,
 * the upper one's 0/0 character device hiding a file of the lower one)
 * in a new user namespace here? Tried in scratch (a new directory of
 * the store's file system, removed after). 0, or -errno. */
int sandbox_probe_layers(const char *scratch);

/* Compile the seccomp policy into sb (before fork, so the child only
 * issues system calls). */
int sandbox_compile_seccomp(Sandbox *sb);

/* The record's "sandbox" section. */
json_t *sandbox_to_json(const Sandbox *sb, uint64_t memory, double timeout_s);

/* What the sandbox reports on report_fd. */
typedef enum {
	REPORT_SETUP_FAILED = 1, /* the sandbox could not be built */
	REPORT_EXEC_FAILED,      /* execve failed: err */
	REPORT_EXITED,           /* the program ended: wstatus, rusage */
} ReportKind;

typedef struct SandboxReport {
	int32_t kind;
	int32_t err;     /* errno */
	int32_t wstatus; /* as from wait4 */
	struct rusage ru;
	char what[240]; /* the step that failed */
} SandboxReport;

/* Start the sandbox: its namespaces are made and its view built while
 * the launcher goes on (writing the start record, say); the program, with
 * argv and envp in cwd and stdout and stderr on out_fd and err_fd, starts
 * at sandbox_go(). On success sb->reaper and sb->report_fd are set; the
 * launcher waits for the reaper and reads its reports. Returns -errno
 * when the namespaces cannot be made (nothing was started). */
int sandbox_start(Sandbox *sb, const char *path, char *const argv[],
                  char *const envp[], const char *cwd, int out_fd, int err_fd);
/* Let the program start. */
void sandbox_go(Sandbox *sb);
/* Never start it: pid 1 exits, and is waited for. */
void sandbox_abort(Sandbox *sb);

/* Read one report; -ENODATA at EOF without one. */
int sandbox_read_report(int fd, SandboxReport *ret);

/* When user namespaces cannot be made: one line naming the cause and the
 * setting to change (caller frees). */
char *sandbox_explain_failure(int err);
