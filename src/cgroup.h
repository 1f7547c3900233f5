/* --memory: a memory cgroup of the run's own, below the launcher's, in
 * the v1 memory hierarchy or in a v2 hierarchy with the memory controller
 * delegated to this user. The program starts inside it (the launcher
 * steps in for the fork and back out), the kernel's OOM killer acts
 * within it, and its counters say afterwards whether it did. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

typedef struct MemCgroup {
	char *dir;    /* the run's cgroup directory */
	char *parent; /* the launcher's own cgroup directory */
	int version;  /* 1 or 2 */
} MemCgroup;

/* Create the cgroup `name` with the limit. -ENOENT when no memory
 * hierarchy is mounted, -EACCES/-EPERM/-EROFS when this user may not
 * create cgroups there. */
int memcg_create(const char *name, uint64_t limit, MemCgroup **ret);
/* Move the calling process into the cgroup, or back to its own. */
int memcg_enter(const MemCgroup *cg);
int memcg_leave(const MemCgroup *cg);
/* How many processes the OOM killer killed in the cgroup (0 when the
 * kernel does not say). */
uint64_t memcg_oom_kills(const MemCgroup *cg);
/* The highest memory use the cgroup saw, in bytes (0 when unknown). */
uint64_t memcg_peak(const MemCgroup *cg);
/* Remove the cgroup (its processes are gone) and free cg. */
MemCgroup *memcg_destroy(MemCgroup *cg);
static inline void memcg_destroyp(MemCgroup **cg)
{
	memcg_destroy(*cg);
}
