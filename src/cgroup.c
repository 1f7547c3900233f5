#include "config.h"

#include "cgroup.h"

#include <fcntl.h>
#include <inttypes.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <time.h>

#include "util.h"

#ifndef CGROUP2_SUPER_MAGIC
#define CGROUP2_SUPER_MAGIC 0x63677270
#endif

/* The launcher's cgroup path in the hierarchy that has the memory
 * controller: "N:memory:/p" (v1) or "0::/p" (v2), from /proc/self/cgroup. */
static int own_cgroup(int version, char **ret)
{
	_cleanup_free_ char *text = NULL;
	int r = read_full_file("/proc/self/cgroup", 1 << 20, &text, NULL);
	if (r < 0)
		return r;
	for (char *line = text, *next; line && *line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = 0;
		char *c1 = strchr(line, ':');
		char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
		if (!c2)
			continue;
		*c2 = 0;
		const char *ctrls = c1 + 1;
		bool match = false;
		if (version == 2)
			match = streq(line, "0") && *ctrls == 0;
		else
			for (const char *p = ctrls; *p;) {
				size_t n = strcspn(p, ",");
				if (n == 6 && strneq(p, "memory", 6))
					match = true;
				p += n + (p[n] == ',');
			}
		if (match) {
			*ret = xstrdup(c2 + 1);
			return 0;
		}
	}
	return -ENOENT;
}

static bool is_cgroup2(const char *path)
{
	struct statfs sf;
	return statfs(path, &sf) == 0 && sf.f_type == CGROUP2_SUPER_MAGIC;
}

static int write_value(const char *dir, const char *file, const char *value)
{
	_cleanup_free_ char *p = path_join(dir, file);
	_cleanup_close_ int fd = open(p, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	return write_all(fd, value, strlen(value));
}

static bool has_memory_controller_v2(const char *mount)
{
	_cleanup_free_ char *p = path_join(mount, "cgroup.controllers");
	_cleanup_free_ char *s = NULL;
	if (read_one_line(p, &s) < 0)
		return false;
	for (char *w = s; *w;) {
		size_t n = strcspn(w, " ");
		if (n == 6 && strneq(w, "memory", 6))
			return true;
		w += n + (w[n] == ' ');
	}
	return false;
}

static int try_create(int version, const char *mount, const char *name,
                      uint64_t limit, MemCgroup **ret)
{
	_cleanup_free_ char *own = NULL;
	int r = own_cgroup(version, &own);
	if (r < 0)
		return r;
	_cleanup_free_ char *parent = xasprintf("%s%s", mount, own);
	_cleanup_free_ char *dir = path_join(parent, name);
	if (mkdir(dir, 0755) < 0)
		return -errno;
	char value[32];
	snprintf(value, sizeof value, "%" PRIu64, limit);
	r = write_value(dir,
	                version == 2 ? "memory.max" : "memory.limit_in_bytes",
	                value);
	if (r == 0 && version == 2)
		/* No swapping around the limit. */
		(void)write_value(dir, "memory.swap.max", "0");
	if (r == 0 && version == 1)
		(void)write_value(dir, "memory.memsw.limit_in_bytes", value);
	if (r < 0) {
		(void)rmdir(dir);
		/* v2 without the controller enabled for children */
		return r == -ENOENT ? -EOPNOTSUPP : r;
	}
	MemCgroup *cg = xcalloc(1, sizeof *cg);
	cg->dir = TAKE_PTR(dir);
	cg->parent = TAKE_PTR(parent);
	cg->version = version;
	*ret = cg;
	return 0;
}

int memcg_create(const char *name, uint64_t limit, MemCgroup **ret)
{
	int r = -ENOENT;
	if (access("/sys/fs/cgroup/memory/memory.limit_in_bytes", F_OK) == 0) {
		r = try_create(1, "/sys/fs/cgroup/memory", name, limit, ret);
		if (r == 0)
			return 0;
	}
	static const char *const v2[] = {"/sys/fs/cgroup",
	                                 "/sys/fs/cgroup/unified"};
	for (size_t i = 0; i < ELEMENTSOF(v2); i++)
		if (is_cgroup2(v2[i]) && has_memory_controller_v2(v2[i])) {
			int r2 = try_create(2, v2[i], name, limit, ret);
			if (r2 == 0)
				return 0;
			if (r == -ENOENT)
				r = r2;
		}
	return r;
}

static int move_self(const char *dir)
{
	char pid[24];
	snprintf(pid, sizeof pid, "%d", (int)getpid());
	return write_value(dir, "cgroup.procs", pid);
}

int memcg_enter(const MemCgroup *cg)
{
	return move_self(cg->dir);
}

int memcg_leave(const MemCgroup *cg)
{
	return move_self(cg->parent);
}

/* "key N" from a flat-keyed file */
static uint64_t keyed_value(const char *dir, const char *file, const char *key)
{
	_cleanup_free_ char *p = path_join(dir, file);
	_cleanup_free_ char *text = NULL;
	if (read_full_file(p, 1 << 16, &text, NULL) < 0)
		return 0;
	size_t n = strlen(key);
	for (char *line = text; line && *line;) {
		if (strneq(line, key, n) && line[n] == ' ')
			return strtoull(line + n + 1, NULL, 10);
		line = strchr(line, '\n');
		if (line)
			line++;
	}
	return 0;
}

uint64_t memcg_oom_kills(const MemCgroup *cg)
{
	if (cg->version == 2)
		return keyed_value(cg->dir, "memory.events", "oom_kill");
	return keyed_value(cg->dir, "memory.oom_control", "oom_kill");
}

uint64_t memcg_peak(const MemCgroup *cg)
{
	_cleanup_free_ char *p = path_join(
	        cg->dir,
	        cg->version == 2 ? "memory.peak" : "memory.max_usage_in_bytes");
	_cleanup_free_ char *s = NULL;
	if (read_one_line(p, &s) < 0)
		return 0;
	return strtoull(s, NULL, 10);
}

MemCgroup *memcg_destroy(MemCgroup *cg)
{
	if (!cg)
		return NULL;
	/* The last processes of a killed namespace may take a moment to
	 * be released. */
	for (int i = 0; i < 100; i++) {
		if (rmdir(cg->dir) == 0 || errno != EBUSY)
			break;
		nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL);
	}
	free(cg->dir);
	free(cg->parent);
	free(cg);
	return NULL;
}
