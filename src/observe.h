/* The record's "observed" section (DESIGN.md §8): what a traced run
 * really used, made from the tracer's list of files (trace.h).
 *
 *   "traced": true,
 *   "calls": int, "unreadable": int, "dropped": int,
 *   "programs": [ {"path","real_path","sha256"|null,"package"|null,
 *                  "package_version"|null,"shebang"|null} ]  in exec order
 *   "shared_objects": [ {"path","real_path","sha256"|null,"package"|null,
 *                  "package_version"|null,"distribution"|null} ] by path
 *   "python": [ {"name","version","location","interpreter"|null,
 *                "package"|null,"package_version"|null} ]      by name
 *   "blas", "lapack": {"path","implementation","package"|null,
 *                      "package_version"|null} | null
 *   "packages": [ {"name","version"|null} ]     Debian packages used
 *   "files_read": [ {"path","size","sha256"|null,"changed": bool,
 *                    "cache": bool} ]  outside pins, packages and /etc
 *   "system_files_read": same shape, read under /etc and not a package's
 *   "files_written": [ path ]          outside pins, /tmp and /dev
 *   "stack": [ str ]                   "sh (dash 0.5.12-2)" …
 * "openblas-pthread" "caches": [ path ]                 --cache or, untraced:
 * {"traced": false, "reason": str, "caches": [path]}. */
#pragma once

#include <jansson.h>

#include "statcache.h"
#include "trace.h"

typedef struct ObserveQuery {
	const Tracer *tracer;
	const json_t *record;   /* pinned roots: workspace, inputs, outputs */
	char *const *caches;    /* --cache paths (absolute) */
	const char *store_root; /* never reported */
	const char *cache_dir;  /* the store's cache (package index) */
	StatCache *stat_cache;  /* digests */
} ObserveQuery;

int observe_section(const ObserveQuery *q, json_t **ret);
json_t *observe_untraced(const char *reason, char *const *caches);

/* The paths of "files_read" (NULL-terminated, caller frees), from a
 * record's observed section; NULL when there are none. */
char **observe_unpinned_paths(const json_t *observed);
