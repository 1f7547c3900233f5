/* What xrun measures about a run before it starts: host, software,
 * source and environment. Each function returns 0 and a new JSON object
 * in *ret, or -errno; none of them prints. The shapes are the sections
 * of schemas/run-record.schema.json. Capture must be fast: whatever can be
 * cached is cached under the store's cache directory (cache_dir, may be
 * NULL to disable caching), keyed so that it is rebuilt when the system
 * changes. */
#pragma once

#include <jansson.h>
#include <sched.h>
#include <stdbool.h>

/* host: {
 *   "hostname": str, "boot_id": str,
 *   "kernel": {"sysname","release","version","machine"},
 *   "os": {"id","version_id","pretty_name"} | null      (os-release)
 *   "cpu": {"model": str, "count": int, "flags_sha256": "sha256:…",
 * "flags_count": int}, "memory": {"total_bytes": int}, "libc": {"name":
 * "glibc", "version": "2.36"}, "gpus": [ {"index": int, "model": str, "bus":
 * str, "uuid": str|null} ], "nvidia": {"driver": str, "cuda": str|null} | null,
 *   "container": str | null   ("docker", "podman", "lxc", …),
 *   "slurm": {"cluster","job_id","array_job_id","array_task_id","step_id",
 *             "node_list","partition","cpus_on_node","submit_dir", "variables":
 * {…}} | null
 * } */
int capture_host(const char *cache_dir, json_t **ret);

/* software: {
 *   "libraries": [ {"path", "soname", "sha256", "package": str|null,
 *                   "package_version": str|null} ],   sorted by path
 *   "libraries_sha256": "sha256:…",                    digest of the set
 *   "python": {"executable", "version" (sys.version), "paths": [..],
 *              "distributions": [ {"name","version"} ], "distributions_sha256"}
 * | null, "blas": {"alternative": str|null, "path": str, "implementation": str,
 *            "package": str|null, "package_version": str|null} | null,
 *   "lapack": same shape as "blas" | null,
 *   "sha256": "sha256:…"                               digest of the whole
 * section
 * } */
typedef struct SoftwareQuery {
	const char *executable;  /* absolute path of the ELF that is exec'd */
	const char *interpreter; /* absolute path of the shebang interpreter, or
	                            NULL */
	bool python;           /* the program is run by a Python interpreter */
	char *const *envp;     /* the program's environment (LD_LIBRARY_PATH,
	                          PYTHONPATH…) */
	const char *cwd;       /* the program's working directory */
	const char *cache_dir; /* e.g. ".xrun/cache", or NULL */
} SoftwareQuery;
int capture_software(const SoftwareQuery *q, json_t **ret);

/* Which Debian package installed a path (any file dpkg lists, under its
 * usr-merged spelling or its real path too), from an index of dpkg's
 * file lists cached under cache_dir (may be NULL) and rebuilt when dpkg's
 * state changes. packages_owner() sets *ret_pkg (and *ret_version, NULL
 * when unknown) and returns true, or sets both NULL. */
typedef struct Packages Packages;
Packages *packages_open(const char *cache_dir);
bool packages_owner(Packages *p, const char *path, char **ret_pkg,
                    char **ret_version);
Packages *packages_free(Packages *p);

/* The Name: and Version: of a Python distribution's METADATA or
 * PKG-INFO text (its headers, up to the first blank line), each set
 * where still NULL; text is cut into lines in place. */
void python_metadata_fields(char *text, char **name, char **version);

/* source: the git state of the working directory, measured by running git.
 * git_probe_start() spawns the git processes and returns at once so the
 * rest of capture runs meanwhile; git_probe_finish() collects them.
 * Result: {"git": {"toplevel","commit","branch": str|null,"remote": str|null,
 *                  "dirty": bool, "untracked": int,
 *                  "diff_sha256": "sha256:…"|null} | null}
 * ("git": null outside a work tree or when git is not installed). */
typedef struct GitProbe GitProbe;
int git_probe_start(const char *cwd, char *const *envp, GitProbe **ret);
int git_probe_finish(GitProbe *p, json_t **ret); /* frees p */
GitProbe *git_probe_free(GitProbe *p);

/* environment: {"variables": {NAME: value | {"base64": …} | {"redacted":
 * "sha256:…"}}, "redacted": [NAME…], "undecodable": [ base64 of NAME=VALUE … ],
 *               "sha256": "sha256:…"} */
/* Whether a variable is recorded by the hash of its value only: its name
 * has a secret's word (TOKEN, KEY, PASSWORD, ...), or its value is a URL
 * with a password. */
bool env_name_is_secret(const char *name);
bool env_value_is_secret(const char *value);
/* What a secret-looking value is ("a GitHub token", "a URL with a
 * password", "a JSON Web Token"...), or NULL: URLs with a password,
 * AccountKey=, private keys, webhook URLs, the well-known token prefixes
 * (ghp_, github_pat_, hf_, sk-, xox?-, AKIA, glpat-, ...) and JWTs. */
const char *secret_value_kind(const char *value);
/* NAME=VALUE (len bytes) as "NAME=(redacted sha256:…)" when the name or
 * the value is a secret's, else NULL. */
char *env_entry_redacted(const char *entry, size_t len);
/* A record's command.env_set with each secret entry redacted (a new
 * reference; anything but an array comes back as it is). */
json_t *env_set_redacted(const json_t *env_set);
int capture_environment(char *const *envp, json_t **ret);

/* threads: what decides how many threads the program's libraries start
 * (DESIGN.md §5): {
 *   "affinity": {"count": int, "list": "0-3,8"} | null  (sched_getaffinity)
 *   "cpu_quota": {"version": 1|2, "cgroup": str, "quota_us": int|null,
 *                 "period_us": int, "cpus": real|null} | null
 *   "variables": {NAME: value | null}  each of thread_variables, null when
 *                                       unset
 * } for the calling thread and the environment envp. */
int capture_threads(char *const *envp, json_t **ret);
/* The variables "threads" records, NULL-terminated. */
extern const char *const thread_variables[];
/* A CPU set as the kernel's list format ("0-3,8") and back; -EINVAL
 * for text that is not one, or an empty set. */
char *cpu_list_format(const cpu_set_t *set);
int cpu_list_parse(const char *s, cpu_set_t *ret);
