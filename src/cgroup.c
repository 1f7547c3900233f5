#include "config.h"

#include "cgroup.h"

#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <time.h>

#include "util.h"

#ifndef CGROUP2_SUPER_MAGIC
#define CGROUP2_SUPER_MAGIC 0x63677270
#endif

/* The launcher's cgroup path in the hierarchy of a controller:
 * "N:memory:/p" (v1) or "0::/p" (v2), from /proc/self/cgroup. */
static int own_cgroup(int version, const char *ctrl, char **ret)
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
				if (n == strlen(ctrl) && strneq(p, ctrl, n))
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
		return negative_errno();
	return write_all(fd, value, strlen(value));
}

static bool v2_has_controller(const char *mount, const char *ctrl)
{
	_cleanup_free_ char *p = path_join(mount, "cgroup.controllers");
	_cleanup_free_ char *s = NULL;
	if (read_one_line(p, &s) < 0)
		return false;
	size_t len = strlen(ctrl);
	for (char *w = s; *w;) {
		size_t n = strcspn(w, " ");
		if (n == len && strneq(w, ctrl, n))
			return true;
		w += n + (w[n] == ' ');
	}
	return false;
}

/* The launcher's cgroup in the v1 hierarchy of ctrl (version 1) or in
 * the v2 hierarchy (version 2), with the run's below it. */
static int make_dir(int version, const char *mount, const char *ctrl,
                    const char *name, CgroupDir *ret)
{
	_cleanup_free_ char *own = NULL;
	int r = own_cgroup(version, ctrl, &own);
	if (r < 0)
		return r;
	_cleanup_free_ char *parent = xasprintf("%s%s", mount, own);
	_cleanup_free_ char *dir = path_join(parent, name);
	if (mkdir(dir, 0755) < 0 && errno != EEXIST)
		return negative_errno();
	ret->dir = TAKE_PTR(dir);
	ret->parent = TAKE_PTR(parent);
	ret->version = version;
	return 0;
}

static void dir_done(CgroupDir *d)
{
	if (!d->dir)
		return;
	/* The last processes of a killed namespace may take a moment to
	 * be released. */
	for (int i = 0; i < 100; i++) {
		if (rmdir(d->dir) == 0 || errno != EBUSY)
			break;
		nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL);
	}
	free(d->dir);
	free(d->parent);
	*d = (CgroupDir){0};
}

static const char *const v2_mounts[] = {"/sys/fs/cgroup",
                                        "/sys/fs/cgroup/unified"};

/* One controller's cgroup with its limits written; v2 reuses `shared`
 * (the other controller's v2 directory) since a process is in one v2
 * cgroup only. */
static int make_limited(const char *ctrl, const char *name,
                        const char *const files[2], const char *value,
                        const CgroupDir *shared, CgroupDir *ret)
{
	int r = -ENOENT;
	_cleanup_free_ char *v1 = xasprintf("/sys/fs/cgroup/%s", ctrl);
	if (!is_cgroup2(v1) && access(v1, F_OK) == 0) {
		r = make_dir(1, v1, ctrl, name, ret);
		if (r == 0) {
			r = write_value(ret->dir, files[0], value);
			if (r == 0)
				return 0;
			dir_done(ret);
		}
	}
	for (size_t i = 0; i < ELEMENTSOF(v2_mounts); i++) {
		if (!is_cgroup2(v2_mounts[i]) ||
		    !v2_has_controller(v2_mounts[i], ctrl))
			continue;
		int r2;
		if (shared && shared->dir && shared->version == 2) {
			ret->dir = xstrdup(shared->dir);
			ret->parent = xstrdup(shared->parent);
			ret->version = 2;
			r2 = 0;
		} else
			r2 = make_dir(2, v2_mounts[i], ctrl, name, ret);
		if (r2 == 0) {
			r2 = write_value(ret->dir, files[1], value);
			/* the controller not enabled for children */
			if (r2 == -ENOENT)
				r2 = -EOPNOTSUPP;
			if (r2 == 0)
				return 0;
			if (shared && shared->dir &&
			    streq(shared->dir, ret->dir)) {
				free(ret->dir);
				free(ret->parent);
				*ret = (CgroupDir){0};
			} else
				dir_done(ret);
		}
		if (r == -ENOENT)
			r = r2;
	}
	return r;
}

int run_cgroup_create(const char *name, uint64_t memory, uint64_t pids,
                      RunCgroup **ret, const char **ret_what)
{
	RunCgroup *cg = xcalloc(1, sizeof *cg);
	char value[32];
	int r = 0;
	if (memory) {
		static const char *const files[2] = {"memory.limit_in_bytes",
		                                     "memory.max"};
		snprintf(value, sizeof value, "%" PRIu64, memory);
		r = make_limited("memory", name, files, value, NULL,
		                 &cg->memory);
		if (r == 0) {
			/* No swapping around the limit. */
			if (cg->memory.version == 2)
				(void)write_value(cg->memory.dir,
				                  "memory.swap.max", "0");
			else
				(void)write_value(cg->memory.dir,
				                  "memory.memsw.limit_in_bytes",
				                  value);
		} else
			*ret_what = "memory";
	}
	if (r == 0 && pids) {
		static const char *const files[2] = {"pids.max", "pids.max"};
		snprintf(value, sizeof value, "%" PRIu64, pids);
		r = make_limited("pids", name, files, value,
		                 cg->memory.dir ? &cg->memory : NULL,
		                 &cg->pids);
		if (r < 0)
			*ret_what = "pids";
	}
	if (r < 0) {
		run_cgroup_free(cg);
		return r;
	}
	*ret = cg;
	return 0;
}

static int move_self(const char *dir)
{
	char pid[24];
	snprintf(pid, sizeof pid, "%d", (int)getpid());
	return write_value(dir, "cgroup.procs", pid);
}

int run_cgroup_enter(const RunCgroup *cg)
{
	int r = 0;
	if (cg->memory.dir)
		r = move_self(cg->memory.dir);
	if (r == 0 && cg->pids.dir &&
	    !(cg->memory.dir && streq(cg->memory.dir, cg->pids.dir)))
		r = move_self(cg->pids.dir);
	return r;
}

void run_cgroup_leave(const RunCgroup *cg)
{
	if (cg->memory.dir)
		(void)move_self(cg->memory.parent);
	if (cg->pids.dir)
		(void)move_self(cg->pids.parent);
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

uint64_t run_cgroup_oom_kills(const RunCgroup *cg)
{
	if (!cg->memory.dir)
		return 0;
	if (cg->memory.version == 2)
		return keyed_value(cg->memory.dir, "memory.events", "oom_kill");
	return keyed_value(cg->memory.dir, "memory.oom_control", "oom_kill");
}

RunCgroup *run_cgroup_free(RunCgroup *cg)
{
	if (!cg)
		return NULL;
	bool same = cg->memory.dir && cg->pids.dir &&
	            streq(cg->memory.dir, cg->pids.dir);
	dir_done(&cg->memory);
	if (same) {
		free(cg->pids.dir);
		free(cg->pids.parent);
	} else
		dir_done(&cg->pids);
	free(cg);
	return NULL;
}

/* The xrun-* directories in parent. */
static char **list_in(char **v, const char *parent)
{
	DIR *d = opendir(parent);
	if (!d)
		return v;
	struct dirent *de;
	while ((de = readdir(d)))
		if (startswith(de->d_name, "xrun-") && de->d_type == DT_DIR) {
			_cleanup_free_ char *p = path_join(parent, de->d_name);
			if (!strv_has(v, p))
				v = strv_push(v, p);
		}
	closedir(d);
	return v;
}

char **run_cgroup_list(void)
{
	char **v = xcalloc(1, sizeof(char *));
	static const char *const ctrls[] = {"memory", "pids"};
	for (size_t i = 0; i < ELEMENTSOF(ctrls); i++) {
		_cleanup_free_ char *v1 =
		        xasprintf("/sys/fs/cgroup/%s", ctrls[i]);
		_cleanup_free_ char *own = NULL;
		if (!is_cgroup2(v1) && access(v1, F_OK) == 0 &&
		    own_cgroup(1, ctrls[i], &own) == 0) {
			_cleanup_free_ char *parent =
			        xasprintf("%s%s", v1, own);
			v = list_in(v, parent);
		}
	}
	for (size_t i = 0; i < ELEMENTSOF(v2_mounts); i++) {
		_cleanup_free_ char *own = NULL;
		if (is_cgroup2(v2_mounts[i]) &&
		    own_cgroup(2, NULL, &own) == 0) {
			_cleanup_free_ char *parent =
			        xasprintf("%s%s", v2_mounts[i], own);
			v = list_in(v, parent);
		}
	}
	return v;
}

int run_cgroup_remove(const char *dir)
{
	return rmdir(dir) < 0 ? negative_errno() : 0;
}

/* The quota of one cgroup directory: v2's cpu.max ("max 100000" or
 * "200000 100000"), v1's cpu.cfs_quota_us (-1: none) and period. */
static bool dir_quota(int version, const char *dir, int64_t *quota,
                      uint64_t *period)
{
	_cleanup_free_ char *line = NULL;
	if (version == 2) {
		_cleanup_free_ char *p = path_join(dir, "cpu.max");
		if (read_one_line(p, &line) < 0)
			return false;
		char *sp = strchr(line, ' ');
		if (!sp)
			return false;
		*sp = 0;
		*quota = streq(line, "max") ? -1 : strtoll(line, NULL, 10);
		*period = strtoull(sp + 1, NULL, 10);
		return *period > 0;
	}
	_cleanup_free_ char *q = path_join(dir, "cpu.cfs_quota_us");
	_cleanup_free_ char *p = path_join(dir, "cpu.cfs_period_us");
	_cleanup_free_ char *pl = NULL;
	if (read_one_line(q, &line) < 0 || read_one_line(p, &pl) < 0)
		return false;
	*quota = strtoll(line, NULL, 10);
	*period = strtoull(pl, NULL, 10);
	return *period > 0;
}

int cgroup_cpu_quota(CpuQuota *ret)
{
	/* v2 where a hierarchy has the cpu controller, else v1's cpu
	 * hierarchy (a hybrid host has both mounts). */
	static const char *const v1_mounts[] = {"/sys/fs/cgroup/cpu",
	                                        "/sys/fs/cgroup/cpu,cpuacct"};
	const char *mount = NULL;
	int version = 0;
	for (size_t i = 0; i < ELEMENTSOF(v2_mounts) && !mount; i++)
		if (is_cgroup2(v2_mounts[i]) &&
		    v2_has_controller(v2_mounts[i], "cpu"))
			mount = v2_mounts[i], version = 2;
	for (size_t i = 0; i < ELEMENTSOF(v1_mounts) && !mount; i++)
		if (!is_cgroup2(v1_mounts[i]) &&
		    access(v1_mounts[i], F_OK) == 0)
			mount = v1_mounts[i], version = 1;
	if (!mount)
		return -ENOENT;
	_cleanup_free_ char *own = NULL;
	int r = own_cgroup(version, "cpu", &own);
	if (r < 0)
		return r;
	/* The tightest quota on the way up to the root applies. */
	CpuQuota q = {.version = version, .quota_us = -1, .period_us = 0};
	_cleanup_free_ char *walk = xstrdup(own);
	for (;;) {
		_cleanup_free_ char *dir = xasprintf("%s%s", mount, walk);
		int64_t quota;
		uint64_t period;
		if (dir_quota(version, dir, &quota, &period)) {
			if (!q.period_us)
				q.period_us = period;
			if (quota > 0 &&
			    (q.quota_us < 0 ||
			     (double)quota / (double)period <
			             (double)q.quota_us /
			                     (double)q.period_us)) {
				q.quota_us = quota;
				q.period_us = period;
			}
		}
		char *slash = strrchr(walk, '/');
		if (!slash || streq(walk, "/") || !*walk)
			break;
		slash[slash == walk ? 1 : 0] = 0;
	}
	if (!q.period_us)
		return -ENOENT;
	q.cgroup = TAKE_PTR(own);
	*ret = q;
	return 0;
}
