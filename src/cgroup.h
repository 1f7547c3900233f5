/* The run's own cgroup, for the limits a plain rlimit cannot give:
 * --memory (the memory controller: the kernel's OOM killer acts within
 * it and its counters say afterwards whether it did) and --pids for a
 * caller whose uid is 0 (the kernel does not apply RLIMIT_NPROC to uid 0,
 * the pids controller does). Made below the launcher's own cgroup in the
 * v1 hierarchy of the controller, or in a v2 hierarchy where the
 * controller is delegated to this user. The program is born inside: the
 * launcher steps in for the fork and back out. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

typedef struct CgroupDir {
	char *dir;    /* the run's cgroup */
	char *parent; /* the launcher's own */
	int version;  /* 1 or 2 */
} CgroupDir;

typedef struct RunCgroup {
	CgroupDir memory; /* dir NULL when not limited */
	CgroupDir pids;   /* the same directory as memory under v2 */
} RunCgroup;

/* Make the cgroup `name` with the limits (0 = none). -ENOENT when no
 * hierarchy has the controller, -EACCES/-EPERM/-EROFS when this user may
 * not create cgroups there, -EOPNOTSUPP when v2 does not hand the
 * controller down. *ret_what names the controller that failed. */
int run_cgroup_create(const char *name, uint64_t memory, uint64_t pids,
                      RunCgroup **ret, const char **ret_what);
/* Move the calling process into the cgroup, or back to its own. */
int run_cgroup_enter(const RunCgroup *cg);
void run_cgroup_leave(const RunCgroup *cg);
/* How many processes the OOM killer killed in it (0 when unknown). */
uint64_t run_cgroup_oom_kills(const RunCgroup *cg);
/* The cgroups named xrun-<id> where this process's runs would make
 * theirs (below its own cgroup, in each hierarchy above), as paths: what
 * launchers killed before they removed theirs left. */
char **run_cgroup_list(void);
/* Remove one (rmdir: -EBUSY while a process is in it). */
int run_cgroup_remove(const char *dir);
/* Remove the cgroup (its processes are gone) and free cg. */
RunCgroup *run_cgroup_free(RunCgroup *cg);
static inline void run_cgroup_freep(RunCgroup **cg)
{
	run_cgroup_free(*cg);
}
#define _cleanup_run_cgroup_ __attribute__((cleanup(run_cgroup_freep)))

/* The CPU time the launcher's cgroup allows (the tightest quota of its
 * cgroup and those above it): v2's cpu.max where a v2 hierarchy has
 * the cpu controller, else v1's cpu.cfs_quota_us/cpu.cfs_period_us.
 * quota_us -1: no quota. -ENOENT when neither is there. The caller
 * frees cgroup. */
typedef struct CpuQuota {
	int version;      /* 1 or 2 */
	char *cgroup;     /* the launcher's cgroup in that hierarchy */
	int64_t quota_us; /* per period; -1 = none */
	uint64_t period_us;
} CpuQuota;
int cgroup_cpu_quota(CpuQuota *ret);
