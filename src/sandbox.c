#include "config.h"

#include "sandbox.h"

#include <dirent.h>
#include <fcntl.h>
#include <glob.h>
#include <limits.h>
#include <linux/sched.h>
#include <net/if.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <sys/capability.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>

#include "pin.h"
#include "seccomp-policy.h"
#include "trace.h"
#include "util.h"

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

/* Where the two trees live while the view is built: the host's root is
 * moved to OLD, the sandbox's root is assembled at NEW. Both are
 * directories of a private tmpfs that disappears at the final pivot. */
#define OLD "/oldroot"
#define NEW "/newroot"

#define SANDBOX_HOSTNAME "xrun"

static const int forwarded_signals[] = {SIGINT,  SIGTERM, SIGHUP,
                                        SIGQUIT, SIGUSR1, SIGUSR2};

Sandbox *sandbox_new(void)
{
	Sandbox *sb = xcalloc(1, sizeof *sb);
	sb->uid = getuid();
	sb->gid = getgid();
	sb->reaper = -1;
	sb->report_fd = -1;
	sb->go_fd = -1;
	sb->trace_fd = -1;
	return sb;
}

Sandbox *sandbox_free(Sandbox *sb)
{
	if (!sb)
		return NULL;
	for (size_t i = 0; i < sb->n_mounts; i++) {
		free(sb->mounts[i].source);
		free(sb->mounts[i].dest);
		free(sb->mounts[i].layers);
	}
	free(sb->mounts);
	if (sb->seccomp)
		seccomp_release(sb->seccomp);
	free(sb->seccomp_digest);
	if (sb->report_fd >= 0)
		close(sb->report_fd);
	if (sb->go_fd >= 0)
		close(sb->go_fd);
	if (sb->trace_fd >= 0)
		close(sb->trace_fd);
	free(sb);
	return NULL;
}

void sandbox_add_mount(Sandbox *sb, MountKind kind, const char *source,
                       const char *dest, mode_t mode)
{
	sb->mounts =
	        xrealloc(sb->mounts, (sb->n_mounts + 1) * sizeof(MountStep));
	sb->mounts[sb->n_mounts++] = (MountStep){
	        .kind = kind,
	        .source = source ? xstrdup(source) : NULL,
	        .dest = xstrdup(dest),
	        .mode = mode,
	};
}

void sandbox_add_step(Sandbox *sb, const MountStep *m)
{
	sandbox_add_mount(sb, m->kind, m->source, m->dest, m->mode);
	if (m->layers)
		sb->mounts[sb->n_mounts - 1].layers = xstrdup(m->layers);
}

/* Files and directories in a home directory that hold credentials: a
 * training run has no business reading them (DESIGN.md §4). */
static const char *const home_secrets[] = {
        ".ssh",
        ".gnupg",
        ".aws",
        ".kube",
        ".docker",
        ".netrc",
        ".git-credentials",
        ".config/gcloud",
        ".azure",
        ".oci",
        ".config/gh",
        ".pypirc",
        ".config/hub",
        ".terraform.d",
        ".vault-token",
        ".password-store",
        ".config/rclone",
        ".s3cfg",
};

static bool exists(const char *path)
{
	struct stat st;
	return lstat(path, &st) == 0;
}

static void add_dev_nodes(Sandbox *sb)
{
	static const char *const nodes[] = {"null",   "zero",    "full",
	                                    "random", "urandom", "tty"};
	sandbox_add_mount(sb, MOUNT_TMPFS, NULL, "/dev", 0755);
	for (size_t i = 0; i < ELEMENTSOF(nodes); i++) {
		_cleanup_free_ char *p = path_join("/dev", nodes[i]);
		sandbox_add_mount(sb, MOUNT_DEV_BIND, p, p, 0);
	}
	sandbox_add_mount(sb, MOUNT_DEVPTS, NULL, "/dev/pts", 0);
	sandbox_add_mount(sb, MOUNT_SYMLINK, "pts/ptmx", "/dev/ptmx", 0);
	sandbox_add_mount(sb, MOUNT_TMPFS, NULL, "/dev/shm", 01777);
	sandbox_add_mount(sb, MOUNT_SYMLINK, "/proc/self/fd", "/dev/fd", 0);
	sandbox_add_mount(sb, MOUNT_SYMLINK, "/proc/self/fd/0", "/dev/stdin",
	                  0);
	sandbox_add_mount(sb, MOUNT_SYMLINK, "/proc/self/fd/1", "/dev/stdout",
	                  0);
	sandbox_add_mount(sb, MOUNT_SYMLINK, "/proc/self/fd/2", "/dev/stderr",
	                  0);
	if (sb->gpu) {
		glob_t g;
		if (glob("/dev/nvidia*", 0, NULL, &g) == 0) {
			for (size_t i = 0; i < g.gl_pathc; i++)
				sandbox_add_mount(sb, MOUNT_DEV_BIND,
				                  g.gl_pathv[i], g.gl_pathv[i],
				                  0);
			globfree(&g);
		}
		if (exists("/dev/dri"))
			sandbox_add_mount(sb, MOUNT_DEV_BIND, "/dev/dri",
			                  "/dev/dri", 0);
	}
}

int sandbox_plan_default(Sandbox *sb, const char *cwd, char *const *outputs,
                         const char *home)
{
	sandbox_add_mount(sb, MOUNT_RO_BIND, "/", "/", 0);
	sandbox_add_mount(sb, MOUNT_PROC, NULL, "/proc", 0);
	add_dev_nodes(sb);
	sandbox_add_mount(sb, MOUNT_REMOUNT_RO, NULL, "/dev", 0);
	sandbox_add_mount(sb, MOUNT_TMPFS, NULL, "/tmp", 01777);
	/* A read-only mount does not stop connect(2): the sockets in /run
	 * (docker, dbus, the user's ssh and gpg agents under /run/user)
	 * go, but for the resolver's files that /etc/resolv.conf may link
	 * to when the run has the network. */
	sandbox_add_mount(sb, MOUNT_TMPFS, NULL, "/run", 0755);
	static const char *const run_keep[] = {"/run/systemd/resolve",
	                                       "/run/resolvconf"};
	for (size_t i = 0; sb->share_net && i < ELEMENTSOF(run_keep); i++)
		if (exists(run_keep[i]))
			sandbox_add_mount(sb, MOUNT_RO_BIND, run_keep[i],
			                  run_keep[i], 0);
	if (sb->gpu && exists("/run/nvidia-persistenced"))
		sandbox_add_mount(sb, MOUNT_RO_BIND, "/run/nvidia-persistenced",
		                  "/run/nvidia-persistenced", 0);
	sandbox_add_mount(sb, MOUNT_SYMLINK, "/dev/shm", "/run/shm", 0);
	sandbox_add_mount(sb, MOUNT_TMPFS, NULL, "/run/lock", 01777);
	sandbox_add_mount(sb, MOUNT_REMOUNT_RO, NULL, "/run", 0);
	/* The host's /sys lists the host's network interfaces; the run's
	 * network namespace has only lo. */
	static const char *const net_dirs[] = {"class/net",
	                                       "devices/virtual/net"};
	for (size_t i = 0; !sb->share_net && i < ELEMENTSOF(net_dirs); i++) {
		_cleanup_free_ char *p = path_join("/sys", net_dirs[i]);
		if (exists(p))
			sandbox_add_mount(sb, MOUNT_NET_SYSFS, net_dirs[i], p,
			                  0);
	}
	/* The working directory is read-only through the root already;
	 * naming it makes the record say so, and a bind of its own keeps
	 * it visible if it lies under /tmp. */
	if (cwd && !streq(cwd, "/"))
		sandbox_add_mount(sb, MOUNT_RO_BIND, cwd, cwd, 0);
	for (char *const *o = outputs; o && *o; o++)
		sandbox_add_mount(sb, MOUNT_RW_BIND, *o, *o, 0);
	_cleanup_strv_free_ char **secrets = sandbox_secret_paths(home);
	for (char **p = secrets; p && *p; p++)
		sandbox_add_mount(sb, MOUNT_HIDE, *p, *p, 0);
	return 0;
}

char **sandbox_secret_paths(const char *home)
{
	/* $HOME, or the account's home directory when it is unset (the
	 * account lookup may go through NSS: not on every run). */
	if (!home || home[0] != '/') {
		struct passwd *pw = getpwuid(getuid());
		home = pw ? pw->pw_dir : NULL;
	}
	char **v = xcalloc(1, sizeof(char *));
	if (!home || home[0] != '/')
		return v;
	_cleanup_close_ int dir = open(home, O_PATH | O_DIRECTORY | O_CLOEXEC);
	for (size_t i = 0; dir >= 0 && i < ELEMENTSOF(home_secrets); i++) {
		/* Most are absent: one stat says so, where resolving the
		 * path would read every link on the way. */
		struct stat st;
		if (fstatat(dir, home_secrets[i], &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		_cleanup_free_ char *p = path_join(home, home_secrets[i]);
		/* A secret kept elsewhere and linked into the home (stow,
		 * chezmoi, home-manager) is hidden where it lives; a
		 * dangling link hides nothing. */
		_cleanup_free_ char *real = realpath(p, NULL);
		if (real && !streq(real, "/"))
			v = strv_push(v, real);
	}
	return v;
}

void sandbox_plan_store(Sandbox *sb, const char *store_root, const char *params,
                        const char *metrics)
{
	/* An empty read-only tmpfs over the store, with only this run's
	 * params (read-only) and metrics file (writable) at their paths. */
	sandbox_add_mount(sb, MOUNT_TMPFS, NULL, store_root, 0755);
	sandbox_add_mount(sb, MOUNT_RO_BIND, params, params, 0);
	sandbox_add_mount(sb, MOUNT_RW_BIND, metrics, metrics, 0);
	sandbox_add_mount(sb, MOUNT_REMOUNT_RO, NULL, store_root, 0);
}

static bool path_below(const char *path, const char *top)
{
	size_t n = strlen(top);
	return strneq(path, top, n) && (path[n] == '/' || path[n] == 0);
}

void sandbox_plan_pinned(Sandbox *sb, char *const *views, char *const *layers,
                         char *const *dests)
{
	size_t before = sb->n_mounts;
	for (size_t i = 0; views && views[i]; i++) {
		bool over = layers && layers[i] && layers[i][0];
		sandbox_add_mount(sb, over ? MOUNT_RO_LAYERS : MOUNT_RO_BIND,
		                  views[i], dests[i], 0);
		if (over)
			sb->mounts[sb->n_mounts - 1].layers =
			        xstrdup(layers[i]);
	}
	for (size_t i = 0; i < before; i++) {
		MountStep m = sb->mounts[i];
		if (m.kind != MOUNT_RW_BIND && m.kind != MOUNT_HIDE &&
		    m.kind != MOUNT_OVERLAY)
			continue;
		for (size_t k = 0; dests && dests[k]; k++)
			if (path_below(m.dest, dests[k])) {
				sandbox_add_mount(sb, m.kind, m.source, m.dest,
				                  m.mode);
				break;
			}
	}
}

/* The deepest step before index n whose dest holds path (or is it). */
static const MountStep *container_of(const Sandbox *sb, size_t n,
                                     const char *path)
{
	const MountStep *best = NULL;
	for (size_t i = 0; i < n; i++) {
		const MountStep *m = &sb->mounts[i];
		if (m->kind == MOUNT_SYMLINK || m->kind == MOUNT_REMOUNT_RO)
			continue;
		if ((streq(m->dest, "/") || path_below(path, m->dest)) &&
		    (!best || strlen(m->dest) >= strlen(best->dest)))
			best = m;
	}
	return best;
}

static int cmp_len(const void *a, const void *b)
{
	size_t x = strlen(*(char *const *)a), y = strlen(*(char *const *)b);
	return x < y ? -1 : x > y;
}

/* Is path the dest of a step that makes its own file system there
 * (/proc, /dev, /tmp, /run)? */
static bool planned_fs(const Sandbox *sb, const char *path)
{
	for (size_t i = 0; i < sb->n_mounts; i++)
		if ((sb->mounts[i].kind == MOUNT_TMPFS ||
		     sb->mounts[i].kind == MOUNT_PROC) &&
		    streq(sb->mounts[i].dest, path))
			return true;
	return false;
}

/* Room at dir, inserted before step at: a tmpfs over it that holds the
 * host's entries again (directories and files bound read-only, links
 * as links), so that a mount point for a path that is gone can be made
 * beside them. The steps below dir (hidden secrets, outputs, views)
 * all come after it, and dir is made read-only at the end. */
static void make_room_at(Sandbox *sb, size_t at, const char *dir)
{
	struct stat st;
	if (stat(dir, &st) < 0)
		return;
	Sandbox add = {0};
	sandbox_add_mount(&add, MOUNT_TMPFS, NULL, dir, st.st_mode & 07777);
	DIR *d = opendir(dir);
	struct dirent *de;
	while (d && (de = readdir(d))) {
		if (streq(de->d_name, ".") || streq(de->d_name, ".."))
			continue;
		_cleanup_free_ char *p = path_join(dir, de->d_name);
		if (planned_fs(sb, p))
			continue; /* made by its own step */
		char target[PATH_MAX];
		ssize_t n = readlink(p, target, sizeof target - 1);
		if (n >= 0) {
			target[n] = 0;
			sandbox_add_mount(&add, MOUNT_SYMLINK, target, p, 0);
		} else
			sandbox_add_mount(&add, MOUNT_RO_BIND, p, p, 0);
	}
	if (d)
		closedir(d);
	sb->mounts = xrealloc(sb->mounts, (sb->n_mounts + add.n_mounts) *
	                                          sizeof(MountStep));
	memmove(sb->mounts + at + add.n_mounts, sb->mounts + at,
	        (sb->n_mounts - at) * sizeof(MountStep));
	memcpy(sb->mounts + at, add.mounts, add.n_mounts * sizeof(MountStep));
	sb->n_mounts += add.n_mounts;
	free(add.mounts);
	sandbox_add_mount(sb, MOUNT_REMOUNT_RO, NULL, dir, 0);
}

void sandbox_plan_make_room(Sandbox *sb)
{
	_cleanup_strv_free_ char **rooms = NULL;
	for (size_t i = 0; i < sb->n_mounts; i++) {
		const MountStep *m = &sb->mounts[i];
		if (m->kind != MOUNT_RO_BIND && m->kind != MOUNT_RW_BIND &&
		    m->kind != MOUNT_TMPFS && m->kind != MOUNT_OVERLAY)
			continue;
		if (exists(m->dest) || streq(m->dest, "/"))
			continue;
		const MountStep *c = container_of(sb, i, m->dest);
		/* Inside a tmpfs of the plan a mount point can be made;
		 * inside a view the view has it. Only the host's own tree
		 * (read-only) lacks it. */
		if (!c || c->kind != MOUNT_RO_BIND || !c->source ||
		    !streq(c->source, c->dest))
			continue;
		_cleanup_free_ char *p = xstrdup(m->dest);
		while (!exists(p)) {
			char *slash = strrchr(p, '/');
			if (!slash)
				break;
			*(slash == p ? slash + 1 : slash) = 0;
		}
		if (!strv_has(rooms, p))
			rooms = strv_push(rooms, p);
	}
	if (!rooms)
		return;
	size_t n = strv_length(rooms);
	sort_v(rooms, n, sizeof(char *), cmp_len);
	for (size_t k = 0; k < n; k++) {
		/* Before the first step below the room (which its tmpfs
		 * would otherwise cover), after what it stands on. */
		size_t at = sb->n_mounts;
		for (size_t i = 1; i < sb->n_mounts; i++)
			if ((streq(rooms[k], "/") ||
			     path_below(sb->mounts[i].dest, rooms[k])) &&
			    !streq(sb->mounts[i].dest, rooms[k])) {
				at = i;
				break;
			}
		make_room_at(sb, at, rooms[k]);
	}
}

/* Landlock (ABI 6, Linux 6.12): scoping abstract unix sockets. The
 * ruleset's attribute has grown; Debian 12's headers stop before
 * "scoped". */
#define LANDLOCK_ABI_SCOPE 6
#define LANDLOCK_SCOPE_ABSTRACT_UNIX 1ULL
struct landlock_scope_attr {
	/* cppcheck-suppress unusedStructMember */
	uint64_t handled_access_fs;
	/* cppcheck-suppress unusedStructMember */
	uint64_t handled_access_net;
	/* cppcheck-suppress unusedStructMember */
	uint64_t scoped;
};

static int landlock_abi(void)
{
#ifdef SYS_landlock_create_ruleset
	long abi =
	        syscall(SYS_landlock_create_ruleset, NULL, 0, 1U /* VERSION */);
	return abi < 0 ? 0 : (int)abi;
#else
	return 0;
#endif
}

int sandbox_compile_seccomp(Sandbox *sb)
{
	sb->scope_abstract =
	        sb->share_net && landlock_abi() >= LANDLOCK_ABI_SCOPE;
	scmp_filter_ctx ctx = NULL;
	int r = seccomp_policy_build_traced(sb->trace, &ctx);
	if (r < 0)
		return r;
	char *digest = NULL;
	r = seccomp_policy_digest(&digest);
	if (r < 0) {
		seccomp_release(ctx);
		return r;
	}
	if (sb->seccomp)
		seccomp_release(sb->seccomp);
	free(sb->seccomp_digest);
	sb->seccomp = ctx;
	sb->seccomp_digest = digest;
	return 0;
}

static const char *mount_kind_name(MountKind k)
{
	switch (k) {
	case MOUNT_RO_BIND:
		return "ro-bind";
	case MOUNT_RW_BIND:
		return "bind";
	case MOUNT_DEV_BIND:
		return "dev-bind";
	case MOUNT_TMPFS:
		return "tmpfs";
	case MOUNT_PROC:
		return "proc";
	case MOUNT_DEVPTS:
		return "devpts";
	case MOUNT_HIDE:
		return "hide";
	case MOUNT_SYMLINK:
		return "symlink";
	case MOUNT_REMOUNT_RO:
		return "remount-ro";
	case MOUNT_NET_SYSFS:
		return "net-sysfs";
	case MOUNT_OVERLAY:
		return "overlay";
	case MOUNT_RO_LAYERS:
		return "ro-overlay";
	}
	return "unknown";
}

json_t *sandbox_to_json(const Sandbox *sb, uint64_t memory, double timeout_s)
{
	json_t *ns =
	        json_pack("[s,s,s,s,s]", "user", "mount", "pid", "ipc", "uts");
	if (!sb->share_net)
		json_array_append_new(ns, json_string("net"));
	json_array_append_new(ns, json_string("cgroup"));
	json_t *mounts = json_array();
	for (size_t i = 0; i < sb->n_mounts; i++) {
		const MountStep *m = &sb->mounts[i];
		json_t *j =
		        json_pack("{s:s,s:o}", "type", mount_kind_name(m->kind),
		                  "dest", json_bstr(m->dest));
		if (m->source)
			json_object_set_new(j, "source", json_bstr(m->source));
		if (m->kind == MOUNT_TMPFS) {
			char mode[8];
			snprintf(mode, sizeof mode, "%04o", (unsigned)m->mode);
			json_object_set_new(j, "mode", json_string(mode));
		}
		json_array_append_new(mounts, j);
	}
	json_t *limits = json_object();
	json_object_set_new(limits, "memory_bytes",
	                    memory ? json_integer((json_int_t)memory)
	                           : json_null());
	json_object_set_new(limits, "pids",
	                    sb->pids ? json_integer((json_int_t)sb->pids)
	                             : json_null());
	json_object_set_new(limits, "timeout_s",
	                    timeout_s > 0 ? json_real(timeout_s) : json_null());
	/* xrun check's knobs, where set: what the program had. */
	const char *host = sb->hostname ? sb->hostname : SANDBOX_HOSTNAME;
	json_int_t uid_inside = sb->set_inside_uid ? sb->inside_uid : sb->uid;
	json_t *j = json_pack(
	        "{s:b,s:o,s:s,s:s,s:{s:I,s:I},s:o,s:{s:s,s:s},s:[],s:"
	        "b,s:b,s:o}",
	        "enabled", 1, "namespaces", ns, "network",
	        sb->share_net ? "host" : "loopback", "hostname", host, "ids",
	        "uid", uid_inside, "gid", (json_int_t)sb->gid, "mounts", mounts,
	        "seccomp", "profile", SECCOMP_POLICY_NAME, "digest",
	        sb->seccomp_digest ? sb->seccomp_digest : "", "capabilities",
	        "no_new_privs", 1, "gpu", sb->gpu, "limits", limits);
	/* Abstract unix sockets live in the network namespace: the run's
	 * own, or the host's with --net, scoped by Landlock where the
	 * kernel can. */
	json_object_set_new(j, "abstract_unix_sockets",
	                    json_string(!sb->share_net ? "own network namespace"
	                                : sb->scope_abstract
	                                        ? "scoped (landlock)"
	                                        : "host"));
	return j;
}

/* ---- inside: the sandbox's pid 1, then the program ---- */

/* The child reports the first step that failed and exits; it never
 * prints: the launcher owns the terminal and the words. */
typedef struct Child {
	int report_fd;
	const Sandbox *sb;
} Child;

_noreturn_ static void child_fail(const Child *c, int err, const char *fmt, ...)
        _printf_(3, 4);
static void child_fail(const Child *c, int err, const char *fmt, ...)
{
	SandboxReport rep = {.kind = REPORT_SETUP_FAILED, .err = err};
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(rep.what, sizeof rep.what, fmt, ap);
	va_end(ap);
	(void)!write(c->report_fd, &rep, sizeof rep);
	_exit(125);
}

static int write_text(const char *path, const char *text)
{
	_cleanup_close_ int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return negative_errno();
	return write_all(fd, text, strlen(text));
}

static void map_ids(const Child *c)
{
	char line[64];
	int r = write_text("/proc/self/setgroups", "deny");
	if (r < 0 && r != -ENOENT)
		child_fail(c, -r, "writing /proc/self/setgroups");
	snprintf(line, sizeof line, "%u %u 1\n",
	         (unsigned)(c->sb->set_inside_uid ? c->sb->inside_uid
	                                          : c->sb->uid),
	         (unsigned)c->sb->uid);
	r = write_text("/proc/self/uid_map", line);
	if (r < 0)
		child_fail(c, -r, "writing /proc/self/uid_map");
	snprintf(line, sizeof line, "%u %u 1\n", (unsigned)c->sb->gid,
	         (unsigned)c->sb->gid);
	r = write_text("/proc/self/gid_map", line);
	if (r < 0)
		child_fail(c, -r, "writing /proc/self/gid_map");
}

/* Flags the kernel locks on mounts that came from a more privileged
 * namespace: a remount must repeat them or it fails with EPERM. */
static unsigned long locked_flags(const char *path)
{
	static const struct {
		unsigned long st, ms;
	} map[] = {
	        {ST_NOSUID, MS_NOSUID},         {ST_NODEV, MS_NODEV},
	        {ST_NOEXEC, MS_NOEXEC},         {ST_NOATIME, MS_NOATIME},
	        {ST_NODIRATIME, MS_NODIRATIME}, {ST_RELATIME, MS_RELATIME},
	        {ST_RDONLY, MS_RDONLY},
	};
	struct statvfs sv;
	unsigned long f = 0;
	if (statvfs(path, &sv) < 0)
		return 0;
	for (size_t i = 0; i < ELEMENTSOF(map); i++)
		if (sv.f_flag & map[i].st)
			f |= map[i].ms;
	return f;
}

/* mountinfo escapes space, tab, newline and backslash as \ooo. */
static void unescape_octal(char *s)
{
	char *w = s;
	for (char *p = s; *p; p++) {
		if (p[0] == '\\' && p[1] >= '0' && p[1] <= '3' && p[2] >= '0' &&
		    p[2] <= '7' && p[3] >= '0' && p[3] <= '7') {
			*w++ = (char)((p[1] - '0') * 64 + (p[2] - '0') * 8 +
			              (p[3] - '0'));
			p += 3;
		} else
			*w++ = *p;
	}
	*w = 0;
}

/* Make the mount at top and every mount below it read-only, nosuid and
 * nodev, keeping what the kernel has locked: one mount_setattr(2) where
 * the kernel has it (5.12), else one remount per mount. */
static int remount_tree_ro_walk(const char *top, unsigned long extra);
static int remount_tree_ro(const char *top, unsigned long extra)
{
	struct mount_attr attr = {
	        .attr_set = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID |
	                    ((extra & MS_NODEV) ? MOUNT_ATTR_NODEV : 0) |
	                    ((extra & MS_NOEXEC) ? MOUNT_ATTR_NOEXEC : 0),
	};
	if (syscall(SYS_mount_setattr, AT_FDCWD, top, AT_RECURSIVE, &attr,
	            sizeof attr) == 0)
		return 0;
	if (errno != ENOSYS)
		return negative_errno();
	return remount_tree_ro_walk(top, extra);
}

static int remount_tree_ro_walk(const char *top, unsigned long extra)
{
	_cleanup_free_ char *info = NULL;
	int r = read_full_file(OLD "/proc/self/mountinfo", 16 << 20, &info,
	                       NULL);
	if (r < 0)
		return r;
	size_t n = strlen(top);
	for (char *line = info, *next; line && *line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = 0;
		/* id parent major:minor root mountpoint ... */
		char *f = line;
		for (int i = 0; i < 4 && f; i++) {
			f = strchr(f, ' ');
			if (f)
				f++;
		}
		if (!f)
			continue;
		char *end = strchr(f, ' ');
		if (end)
			*end = 0;
		unescape_octal(f);
		if (!strneq(f, top, n) || (f[n] != 0 && f[n] != '/' && n > 1))
			continue;
		unsigned long flags = MS_BIND | MS_REMOUNT | MS_RDONLY |
		                      MS_NOSUID | extra | locked_flags(f);
		if (mount(NULL, f, NULL, flags, NULL) < 0) {
			/* A mount point hidden under another mount, or one
			 * this user cannot reach, is not visible anyway. */
			if (errno == EACCES || errno == ENOENT ||
			    (errno == EINVAL && !streq(f, top)))
				continue;
			return negative_errno();
		}
	}
	return 0;
}

/* path below the new or the old root; a path too long for PATH_MAX
 * there would be too long for the kernel too. */
static void below(const Child *c, char *buf, size_t size, const char *top,
                  const char *path)
{
	int n = snprintf(buf, size, "%s%s", top, streq(path, "/") ? "" : path);
	if (n < 0 || (size_t)n >= size)
		child_fail(c, ENAMETOOLONG, "placing %s", path);
}

/* A mount point inside a tmpfs the plan made (/dev): create it with the
 * type of what goes there. */
static int make_mount_point(const char *dest, const char *source)
{
	struct stat st;
	if (lstat(dest, &st) == 0)
		return 0;
	bool dir = true;
	if (source && stat(source, &st) == 0)
		dir = S_ISDIR(st.st_mode);
	if (dir)
		return mkdir_p(dest, 0755);
	_cleanup_free_ char *parent = xstrdup(dest);
	*strrchr(parent, '/') = 0;
	int r = mkdir_p(parent, 0755);
	if (r < 0)
		return r;
	int fd = open(dest, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0)
		return negative_errno();
	close(fd);
	return 0;
}

static void protect_proc(const Child *c, const char *proc)
{
	/* The caller's uid may be root's: keep the kernel's knobs under
	 * /proc out of reach even so. */
	static const char *const ro[] = {"sys", "sysrq-trigger", "irq", "bus",
	                                 "fs"};
	for (size_t i = 0; i < ELEMENTSOF(ro); i++) {
		char p[PATH_MAX];
		int n = snprintf(p, sizeof p, "%s/%s", proc, ro[i]);
		if (n < 0 || (size_t)n >= sizeof p || !exists(p))
			continue;
		if (mount(p, p, NULL, MS_BIND | MS_REC, NULL) < 0)
			child_fail(c, errno, "binding %s", p);
		int r = remount_tree_ro(p, MS_NODEV | MS_NOEXEC);
		if (r < 0)
			child_fail(c, -r, "making %s read-only", p);
	}
}

/* A sysfs mounted now shows the network namespace of the one who mounts
 * it: the run's, with only lo. Its part m->source goes read-only over
 * dest. The kernel refuses a new sysfs in a user namespace where the
 * host's /sys has parts covered by other mounts (a container's masked
 * paths): then an empty read-only tmpfs hides the host's interfaces. */
static void net_sysfs(const Child *c, const MountStep *m, const char *dest)
{
	static const char stage[] = "/net-sysfs";
	char src[PATH_MAX];
	int n = snprintf(src, sizeof src, "%s/%s", stage, m->source);
	if (n < 0 || (size_t)n >= sizeof src)
		child_fail(c, ENAMETOOLONG, "sysfs path %s", m->source);
	if (mkdir(stage, 0755) < 0 && errno != EEXIST)
		child_fail(c, errno, "creating %s", stage);
	bool fresh =
	        mount("sysfs", stage, "sysfs",
	              MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_RDONLY, NULL) == 0;
	if (fresh) {
		if (mount(src, dest, NULL, MS_BIND, NULL) < 0)
			child_fail(c, errno, "binding the run's sysfs at %s",
			           m->dest);
		if (umount2(stage, MNT_DETACH) < 0)
			child_fail(c, errno, "detaching %s", stage);
	} else if (mount("tmpfs", dest, "tmpfs",
	                 MS_NOSUID | MS_NODEV | MS_NOEXEC,
	                 "mode=0755,size=4k") < 0)
		child_fail(c, errno, "hiding %s", m->dest);
	if (mount(NULL, dest, NULL,
	          MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV |
	                  MS_NOEXEC,
	          NULL) < 0)
		child_fail(c, errno, "making %s read-only", m->dest);
}

/* overlayfs at dest over dir/before, writing to dir/upper. The layers
 * are named relative to dir, so that no path needs escaping in the
 * options; userxattr lets a user namespace mount it (and keeps
 * redirects and metacopy off: what the upper layer holds is all that
 * changed). */
static int mount_overlay(const char *dir, const char *dest)
{
	_cleanup_close_ int here =
	        open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (here < 0 || chdir(dir) < 0)
		return negative_errno();
	int r = mount("overlay", dest, "overlay", MS_NOSUID | MS_NODEV,
	              "lowerdir=before,upperdir=upper,workdir=work,userxattr") <
	                        0
	                ? negative_errno()
	                : 0;
	if (fchdir(here) < 0 && r == 0)
		r = negative_errno();
	return r;
}

/* A delta view at dest: a read-only overlayfs of layers, named
 * relative to views (tmp/views), so that no path needs escaping in the
 * options. */
static int mount_layers(const char *views, const char *layers, const char *dest)
{
	_cleanup_close_ int here =
	        open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (here < 0 || chdir(views) < 0)
		return negative_errno();
	_cleanup_free_ char *opts = xasprintf("lowerdir=%s,userxattr", layers);
	int r = mount("overlay", dest, "overlay",
	              MS_RDONLY | MS_NOSUID | MS_NODEV, opts) < 0
	                ? negative_errno()
	                : 0;
	if (fchdir(here) < 0 && r == 0)
		r = negative_errno();
	return r;
}

/* In a new user namespace (this user mapped to itself), with the
 * current directory scratch: fn's -errno, or 0. */
static int in_user_ns(const char *scratch, int (*fn)(void))
{
	uid_t uid = getuid();
	gid_t gid = getgid();
	pid_t pid = fork();
	if (pid < 0)
		return negative_errno();
	if (pid == 0) {
		char map[64];
		if (unshare(CLONE_NEWUSER | CLONE_NEWNS) < 0)
			_exit(errno);
		snprintf(map, sizeof map, "%u %u 1", (unsigned)uid,
		         (unsigned)uid);
		if (write_text("/proc/self/setgroups", "deny") < 0 ||
		    write_text("/proc/self/uid_map", map) < 0)
			_exit(errno);
		snprintf(map, sizeof map, "%u %u 1", (unsigned)gid,
		         (unsigned)gid);
		if (write_text("/proc/self/gid_map", map) < 0)
			_exit(errno);
		if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
		    chdir(scratch) < 0)
			_exit(errno);
		int r = fn();
		_exit(r < 0 ? -r : 0);
	}
	int st;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return negative_errno();
	if (!WIFEXITED(st))
		return -EIO;
	return WEXITSTATUS(st) ? -WEXITSTATUS(st) : 0;
}

/* Two layers, the upper one's whiteout hiding the lower one's file. */
static int probe_layers(void)
{
	int r = mount_layers(".", "a/v:b/v", "m");
	if (r < 0)
		return r;
	struct stat st;
	if (lstat("m/f", &st) == 0 || errno != ENOENT || lstat("m/g", &st) < 0)
		return -ENOTSUP;
	return 0;
}

int sandbox_probe_layers(const char *scratch)
{
	static const char *const sub[] = {"a", "a/v", "b", "b/v", "m"};
	for (size_t i = 0; i < ELEMENTSOF(sub); i++) {
		_cleanup_free_ char *p = path_join(scratch, sub[i]);
		if (mkdir(p, 0700) < 0)
			return negative_errno();
	}
	int r = 0;
	static const char *const files[] = {"b/v/f", "b/v/g"};
	for (size_t i = 0; i < ELEMENTSOF(files) && r == 0; i++) {
		_cleanup_free_ char *p = path_join(scratch, files[i]);
		int fd = open(p, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
		if (fd < 0)
			r = negative_errno();
		else
			close(fd);
	}
	_cleanup_free_ char *w = path_join(scratch, "a/v/f");
	if (r == 0 && mknod(w, S_IFCHR, makedev(0, 0)) < 0)
		r = negative_errno();
	if (r == 0)
		r = in_user_ns(scratch, probe_layers);
	(void)remove_tree(scratch);
	return r;
}

static int probe_overlay(void)
{
	return mount_overlay(".", "m");
}

int sandbox_probe_overlay(const char *scratch)
{
	static const char *const sub[] = {"before", "upper", "work", "m"};
	for (size_t i = 0; i < ELEMENTSOF(sub); i++) {
		_cleanup_free_ char *p = path_join(scratch, sub[i]);
		if (mkdir(p, 0700) < 0)
			return negative_errno();
	}
	int r = in_user_ns(scratch, probe_overlay);
	(void)remove_tree(scratch);
	return r;
}

/* tmp/views of a view's top layer (tmp/views/KEY/v), in place. */
static char *views_of(char *top)
{
	for (int k = 0; k < 2; k++) {
		char *sl = strrchr(top, '/');
		if (sl && sl != top)
			*sl = 0;
	}
	return top;
}

static void apply_step(const Child *c, const MountStep *m)
{
	char dest[PATH_MAX], src[PATH_MAX];
	struct stat st;
	int r;
	below(c, dest, sizeof dest, NEW, m->dest);
	if (m->source && m->kind != MOUNT_SYMLINK && m->kind != MOUNT_NET_SYSFS)
		below(c, src, sizeof src, OLD, m->source);
	switch (m->kind) {
	case MOUNT_RO_BIND:
	case MOUNT_RW_BIND:
	case MOUNT_DEV_BIND:
		r = make_mount_point(dest, src);
		if (r < 0)
			child_fail(c, -r, "creating mount point %s", m->dest);
		if (mount(src, dest, NULL, MS_BIND | MS_REC, NULL) < 0)
			child_fail(c, errno, "binding %s", m->source);
		if (m->kind == MOUNT_RO_BIND)
			r = remount_tree_ro(dest, MS_NODEV);
		else
			r = mount(NULL, dest, NULL,
			          MS_BIND | MS_REMOUNT | MS_NOSUID |
			                  (m->kind == MOUNT_RW_BIND ? MS_NODEV
			                                            : 0) |
			                  (locked_flags(dest) & ~MS_RDONLY),
			          NULL) < 0
			            ? -errno
			            : 0;
		if (r < 0)
			child_fail(c, -r, "remounting %s", m->dest);
		break;
	case MOUNT_TMPFS: {
		char opts[32];
		snprintf(opts, sizeof opts, "mode=%04o", (unsigned)m->mode);
		r = make_mount_point(dest, NULL);
		if (r < 0)
			child_fail(c, -r, "creating mount point %s", m->dest);
		if (mount("tmpfs", dest, "tmpfs", MS_NOSUID | MS_NODEV, opts) <
		    0)
			child_fail(c, errno, "mounting a tmpfs on %s", m->dest);
		break;
	}
	case MOUNT_PROC:
		if (mount("proc", dest, "proc",
		          MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
			child_fail(c, errno, "mounting a new /proc on %s",
			           m->dest);
		protect_proc(c, dest);
		break;
	case MOUNT_DEVPTS:
		r = make_mount_point(dest, NULL);
		if (r < 0)
			child_fail(c, -r, "creating mount point %s", m->dest);
		if (mount("devpts", dest, "devpts", MS_NOSUID | MS_NOEXEC,
		          "newinstance,ptmxmode=0666,mode=620") < 0)
			child_fail(c, errno, "mounting devpts on %s", m->dest);
		break;
	case MOUNT_HIDE:
		if (stat(dest, &st) < 0)
			break; /* nothing to hide */
		if (S_ISDIR(st.st_mode)) {
			if (mount("tmpfs", dest, "tmpfs",
			          MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_RDONLY,
			          "mode=0000,size=4k") < 0)
				child_fail(c, errno, "hiding %s", m->dest);
		} else {
			if (mount(OLD "/dev/null", dest, NULL, MS_BIND, NULL) <
			            0 ||
			    mount(NULL, dest, NULL,
			          MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID |
			                  MS_NODEV | MS_NOEXEC,
			          NULL) < 0)
				child_fail(c, errno, "hiding %s", m->dest);
		}
		break;
	case MOUNT_SYMLINK:
		if (!m->source)
			child_fail(c, EINVAL, "symlink %s has no target",
			           m->dest);
		if (symlink(m->source, dest) < 0 && errno != EEXIST)
			child_fail(c, errno, "creating symlink %s", m->dest);
		break;
	case MOUNT_OVERLAY:
		r = make_mount_point(dest, NULL);
		if (r < 0)
			child_fail(c, -r, "creating mount point %s", m->dest);
		r = mount_overlay(src, dest);
		if (r < 0)
			child_fail(c, -r, "mounting an overlay on %s", m->dest);
		break;
	case MOUNT_RO_LAYERS:
		r = make_mount_point(dest, NULL);
		if (r < 0)
			child_fail(c, -r, "creating mount point %s", m->dest);
		r = mount_layers(views_of(src), m->layers ? m->layers : "",
		                 dest);
		if (r < 0)
			child_fail(c, -r, "mounting the view of %s", m->dest);
		break;
	case MOUNT_REMOUNT_RO:
		if (mount(NULL, dest, NULL,
		          MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID |
		                  (locked_flags(dest) & MS_NODEV),
		          NULL) < 0)
			child_fail(c, errno, "making %s read-only", m->dest);
		break;
	case MOUNT_NET_SYSFS:
		net_sysfs(c, m, dest);
		break;
	}
}

/* A private tmpfs becomes the root, the host's root moves below it, the
 * plan builds the new tree beside it, and a last pivot leaves only the
 * new tree. */
static void build_root(const Child *c)
{
	if (mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) < 0)
		child_fail(c, errno, "making mount propagation slave");
	if (mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755") <
	    0)
		child_fail(c, errno, "mounting the staging tmpfs");
	if (chdir("/tmp") < 0 || mkdir("/tmp" OLD, 0755) < 0 ||
	    mkdir("/tmp" NEW, 0755) < 0)
		child_fail(c, errno, "preparing the staging tmpfs");
	if (syscall(SYS_pivot_root, "/tmp", "/tmp" OLD) < 0)
		child_fail(c, errno, "pivot_root into the staging tmpfs");
	if (chdir("/") < 0)
		child_fail(c, errno, "chdir /");
	for (size_t i = 0; i < c->sb->n_mounts; i++)
		apply_step(c, &c->sb->mounts[i]);
	if (umount2(OLD, MNT_DETACH) < 0)
		child_fail(c, errno, "detaching the host's root");
	if (chdir(NEW) < 0)
		child_fail(c, errno, "chdir " NEW);
	if (syscall(SYS_pivot_root, ".", ".") < 0)
		child_fail(c, errno, "pivot_root into the new root");
	if (umount2(".", MNT_DETACH) < 0)
		child_fail(c, errno, "detaching the staging tmpfs");
	if (chdir("/") < 0)
		child_fail(c, errno, "chdir / in the new root");
}

static void loopback_up(const Child *c)
{
	_cleanup_close_ int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct ifreq ifr;
	memset(&ifr, 0, sizeof ifr);
	memcpy(ifr.ifr_name, "lo", 3);
	if (s < 0 || ioctl(s, SIOCGIFFLAGS, &ifr) < 0)
		child_fail(c, errno, "reading the loopback interface");
	ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
	if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0)
		child_fail(c, errno, "bringing the loopback interface up");
}

static void drop_capabilities(const Child *c)
{
	for (int cap = 0; cap <= CAP_LAST_CAP || CAP_IS_SUPPORTED(cap); cap++)
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL)
			child_fail(c, errno,
			           "dropping capability %d from the "
			           "bounding set",
			           cap);
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 &&
	    errno != EINVAL)
		child_fail(c, errno, "clearing ambient capabilities");
	cap_t none = cap_init();
	if (!none || cap_set_proc(none) < 0)
		child_fail(c, errno, "dropping capabilities");
	cap_free(none);
}

/* --net shares the host's network namespace, and with it the host's
 * abstract unix sockets: the Landlock scope lets the program reach only
 * those made inside the sandbox (checked to exist before fork). */
static void scope_abstract_sockets(const Child *c)
{
#ifdef SYS_landlock_create_ruleset
	struct landlock_scope_attr attr = {
	        .scoped = LANDLOCK_SCOPE_ABSTRACT_UNIX};
	int fd = (int)syscall(SYS_landlock_create_ruleset, &attr, sizeof attr,
	                      0U);
	if (fd < 0)
		child_fail(c, errno, "creating a Landlock ruleset");
	if (syscall(SYS_landlock_restrict_self, fd, 0U) < 0)
		child_fail(c, errno,
		           "scoping abstract unix sockets (Landlock)");
	close(fd);
#else
	child_fail(c, ENOSYS, "scoping abstract unix sockets (Landlock)");
#endif
}

typedef struct Exec {
	const char *path;
	char *const *argv;
	char *const *envp;
	const char *cwd;
	int out_fd, err_fd;
	int go_fd;    /* one byte from the launcher: execve */
	int trace_fd; /* where the tracing listener goes, or -1 */
} Exec;

/* The program's side: everything it must not inherit is taken away, the
 * seccomp filter last, then execve. */
_noreturn_ static void exec_program(const Child *c, const Exec *e)
{
	sigset_t all;
	sigemptyset(&all);
	for (int sig = 1; sig < NSIG; sig++)
		signal(sig, SIG_DFL);
	sigprocmask(SIG_SETMASK, &all, NULL);
	if (setsid() < 0)
		child_fail(c, errno, "starting a new session");
	if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0)
		child_fail(c, errno, "setting the parent-death signal");
	if (dup2(e->out_fd, STDOUT_FILENO) < 0 ||
	    dup2(e->err_fd, STDERR_FILENO) < 0)
		child_fail(c, errno, "connecting stdout and stderr");
	if (chdir(e->cwd) < 0)
		child_fail(c, errno, "entering the working directory %s",
		           e->cwd);
	if (c->sb->pids) {
		struct rlimit rl = {c->sb->pids, c->sb->pids};
		if (setrlimit(RLIMIT_NPROC, &rl) < 0)
			child_fail(c, errno, "setting the process limit");
	}
	if (c->sb->set_umask)
		umask(c->sb->umask);
	if (c->sb->no_aslr && personality(ADDR_NO_RANDOMIZE) < 0)
		child_fail(c, errno, "turning address randomization off");
	/* Every inherited descriptor but 0-2 goes at execve; the report
	 * pipe stays open until then to carry an execve error. */
	if (syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC) < 0)
		child_fail(c, errno, "closing inherited file descriptors");
	drop_capabilities(c);
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		child_fail(c, errno, "setting no_new_privs");
	if (c->sb->scope_abstract)
		scope_abstract_sockets(c);
	int r = seccomp_policy_load(c->sb->seccomp);
	if (r < 0)
		child_fail(c, -r, "installing the seccomp filter");
	/* The tracer's listener goes to the launcher, which answers from
	 * here on: the wait below and the execve are not traced. */
	if (r > 0) {
		if (e->trace_fd < 0 || trace_send_listener(e->trace_fd, r) < 0)
			child_fail(c, errno, "handing the trace to xrun");
		close(r);
		close(e->trace_fd);
	}
	/* Everything is ready but the start record: wait for it. EOF: the
	 * launcher gave up (or died), and the program never runs. */
	char byte = 0;
	ssize_t n;
	do
		n = read(e->go_fd, &byte, 1);
	while (n < 0 && errno == EINTR);
	if (n != 1 || byte != 'g')
		_exit(0);
	execve(e->path, e->argv, e->envp);
	SandboxReport rep = {.kind = REPORT_EXEC_FAILED, .err = errno};
	(void)!write(c->report_fd, &rep, sizeof rep);
	_exit(errno == ENOENT ? 127 : 126);
}

/* pid 1: start the program, pass the user's signals on, reap whatever
 * ends, and when the program ends report how and exit, which takes
 * every process it left behind down with the namespace. */
_noreturn_ static void reap(const Child *c, const Exec *e)
{
	sigset_t mask;
	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	for (size_t i = 0; i < ELEMENTSOF(forwarded_signals); i++)
		sigaddset(&mask, forwarded_signals[i]);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	int sfd = signalfd(-1, &mask, SFD_CLOEXEC);
	if (sfd < 0)
		child_fail(c, errno, "creating the reaper's signalfd");
	pid_t pid = fork();
	if (pid < 0)
		child_fail(c, errno, "starting the program");
	if (pid == 0)
		exec_program(c, e);
	close(e->out_fd);
	close(e->err_fd);
	close(e->go_fd);
	if (e->trace_fd >= 0)
		close(e->trace_fd);
	for (;;) {
		struct signalfd_siginfo si;
		ssize_t n = read(sfd, &si, sizeof si);
		if (n != (ssize_t)sizeof si) {
			if (n < 0 && errno == EINTR)
				continue;
			_exit(125);
		}
		if (si.ssi_signo != SIGCHLD) {
			if (kill(-pid, (int)si.ssi_signo) < 0)
				(void)kill(pid, (int)si.ssi_signo);
			/* A stopped program keeps these pending until it is
			 * continued: continue it (issue 16.7). */
			if (si.ssi_signo != SIGUSR1 &&
			    si.ssi_signo != SIGUSR2 && kill(-pid, SIGCONT) < 0)
				(void)kill(pid, SIGCONT);
			continue;
		}
		for (;;) {
			int st;
			struct rusage ru;
			pid_t w = wait4(-1, &st, WNOHANG, &ru);
			if (w <= 0)
				break;
			if (w != pid)
				continue;
			SandboxReport rep = {.kind = REPORT_EXITED,
			                     .wstatus = st};
			/* Everything the program's tree used, not only the
			 * first process. */
			if (getrusage(RUSAGE_CHILDREN, &rep.ru) < 0)
				rep.ru = ru;
			(void)!write(c->report_fd, &rep, sizeof rep);
			_exit(0);
		}
	}
}

static int cmp_int(const void *a, const void *b)
{
	return *(const int *)a - *(const int *)b;
}

/* pid 1 keeps its own stdio, the pipes it was given, and nothing else of
 * the launcher's (capture files, the git probe's pipes, a signalfd). */
static void close_other_fds(int *keep, size_t n)
{
	sort_v(keep, n, sizeof *keep, cmp_int);
	unsigned from = 3;
	for (size_t i = 0; i < n; i++) {
		if (keep[i] < (int)from)
			continue;
		if ((unsigned)keep[i] > from)
			(void)syscall(SYS_close_range, from,
			              (unsigned)keep[i] - 1, 0U);
		from = (unsigned)keep[i] + 1;
	}
	(void)syscall(SYS_close_range, from, ~0U, 0U);
}

static void close_fds(int rep[2], int go[2], int tr[2])
{
	int *const all[] = {rep, go, tr};
	for (size_t i = 0; i < ELEMENTSOF(all); i++)
		for (size_t k = 0; k < 2; k++)
			if (all[i][k] >= 0)
				close(all[i][k]);
}

int sandbox_start(Sandbox *sb, const char *path, char *const argv[],
                  char *const envp[], const char *cwd, int out_fd, int err_fd)
{
	int rep[2] = {-1, -1}, go[2] = {-1, -1}, tr[2] = {-1, -1};
	if (pipe2(rep, O_CLOEXEC) < 0 || pipe2(go, O_CLOEXEC) < 0 ||
	    (sb->trace &&
	     socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, tr) < 0)) {
		int r = negative_errno();
		close_fds(rep, go, tr);
		return r;
	}
	/* Like fork(2), with the user and pid namespaces made in the same
	 * step (pid 1 must be born in its namespace); the child makes the
	 * others itself, off the launcher's path. The launcher is
	 * single-threaded here, so the child may allocate. */
	pid_t pid = (pid_t)syscall(SYS_clone,
	                           CLONE_NEWUSER | CLONE_NEWPID | SIGCHLD, NULL,
	                           NULL, NULL, NULL);
	if (pid < 0) {
		int r = negative_errno();
		close_fds(rep, go, tr);
		return r;
	}
	if (pid == 0) {
		Child c = {.report_fd = rep[1], .sb = sb};
		Exec e = {path, argv, envp, cwd, out_fd, err_fd, go[0], tr[1]};
		int keep[] = {rep[1], go[0], out_fd, err_fd, tr[1]};
		close_other_fds(keep, ELEMENTSOF(keep));
		if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0)
			child_fail(&c, errno,
			           "setting the parent-death signal");
		map_ids(&c);
		int flags = CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWUTS |
		            CLONE_NEWCGROUP;
		if (!sb->share_net)
			flags |= CLONE_NEWNET;
		if (unshare(flags) < 0)
			child_fail(&c, errno, "creating the namespaces");
		build_root(&c);
		const char *host =
		        sb->hostname ? sb->hostname : SANDBOX_HOSTNAME;
		if (sethostname(host, strlen(host)) < 0)
			child_fail(&c, errno, "setting the host name");
		if (!sb->share_net)
			loopback_up(&c);
		/* The view is ready; the program is made ready too, and
		 * starts when the launcher has made the start record
		 * durable. */
		reap(&c, &e);
	}
	close(rep[1]);
	close(go[0]);
	if (tr[1] >= 0)
		close(tr[1]);
	sb->trace_fd = tr[0];
	sb->reaper = pid;
	sb->report_fd = rep[0];
	sb->go_fd = go[1];
	return 0;
}

void sandbox_go(Sandbox *sb)
{
	/* A pid 1 that failed has reported why and gone: EPIPE says
	 * nothing more. */
	(void)!write(sb->go_fd, "g", 1);
	close(sb->go_fd);
	sb->go_fd = -1;
}

void sandbox_abort(Sandbox *sb)
{
	if (sb->go_fd >= 0) {
		close(sb->go_fd);
		sb->go_fd = -1;
	}
	if (sb->reaper > 0) {
		int st;
		while (waitpid(sb->reaper, &st, 0) < 0 && errno == EINTR)
			;
		sb->reaper = -1;
	}
}

int sandbox_read_report(int fd, SandboxReport *ret)
{
	SandboxReport rep;
	ssize_t n;
	do
		n = read(fd, &rep, sizeof rep);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return negative_errno();
	if (n != (ssize_t)sizeof rep)
		return -ENODATA;
	rep.what[sizeof rep.what - 1] = 0;
	*ret = rep;
	return 0;
}

static long read_sysctl(const char *path)
{
	_cleanup_free_ char *s = NULL;
	if (read_one_line(path, &s) < 0)
		return -1;
	return strtol(s, NULL, 10);
}

/* The mount ID of the mount at "/" in a mountinfo file (a process sees
 * mounts relative to its root), 0 when there is none: a chroot into a
 * directory that is not a mount point; -1 when it cannot be read. */
static long root_mount_id(const char *mountinfo)
{
	_cleanup_fclose_ FILE *f = fopen(mountinfo, "re");
	if (!f)
		return -1;
	char line[4096];
	long id;
	char point[4096];
	while (fgets(line, sizeof line, f))
		if (sscanf(line, "%ld %*d %*s %*s %4095s", &id, point) == 2 &&
		    streq(point, "/"))
			return id;
	return 0;
}

/* Whether this process runs in a chroot, where the kernel refuses new
 * user namespaces (user_namespaces(7), EPERM): no mount at its "/", or,
 * in init's mount namespace, another one than init's. */
static bool in_chroot(void)
{
	long mine = root_mount_id("/proc/self/mountinfo");
	if (mine == 0)
		return true;
	if (mine < 0)
		return false;
	char ns_self[64] = "", ns_init[64] = ""; /* "mnt:[4026531841]" */
	if (readlink("/proc/self/ns/mnt", ns_self, sizeof ns_self - 1) <= 0 ||
	    readlink("/proc/1/ns/mnt", ns_init, sizeof ns_init - 1) <= 0 ||
	    !streq(ns_self, ns_init))
		return false;
	long init = root_mount_id("/proc/1/mountinfo");
	return init > 0 && init != mine;
}

char *sandbox_explain_failure(int err)
{
	if (read_sysctl("/proc/sys/kernel/unprivileged_userns_clone") == 0 &&
	    getuid() != 0)
		return xstrdup("user namespaces are disabled for unprivileged "
		               "users (sysctl kernel.unprivileged_userns_clone "
		               "= 0); set it to 1, or run with --no-sandbox");
	if (read_sysctl("/proc/sys/user/max_user_namespaces") == 0)
		return xstrdup(
		        "user namespaces are disabled (sysctl "
		        "user.max_user_namespaces = 0); raise it, or run "
		        "with --no-sandbox");
	if (read_sysctl("/proc/sys/kernel/apparmor_restrict_unprivileged_"
	                "userns") == 1 &&
	    getuid() != 0)
		return xstrdup(
		        "AppArmor restricts unprivileged user namespaces "
		        "(sysctl kernel.apparmor_restrict_unprivileged_userns "
		        "= 1); set it to 0 or give xrun an AppArmor profile "
		        "that allows userns, or run with --no-sandbox");
	if (err == ENOSPC || err == EUSERS)
		return xstrdup(
		        "the limit on user namespaces is reached (sysctl "
		        "user.max_user_namespaces); raise it, or run "
		        "with --no-sandbox");
	if (err == EPERM && in_chroot())
		return xstrdup(
		        "xrun runs in a chroot, where the kernel refuses "
		        "new user namespaces (user_namespaces(7)); run "
		        "it outside the chroot, in a container with a "
		        "root of its own (pivot_root, as unshare and "
		        "docker do), or with --no-sandbox");
	if (err == EPERM || err == EINVAL || err == ENOSYS)
		return xasprintf("this system does not allow new user "
		                 "namespaces here (%s), as in a container "
		                 "without them; allow them (e.g. docker run "
		                 "--security-opt seccomp=unconfined), or run "
		                 "with --no-sandbox",
		                 strerror(err));
	return xasprintf("cannot create the sandbox's namespaces: %s; run "
	                 "with --no-sandbox to run on the host",
	                 strerror(err));
}
