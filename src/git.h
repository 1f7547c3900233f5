/* Finding the git work tree, and running git on it, one way for all of
 * xrun: the store's default place (.xrun beside .git), the workspace the
 * run pins (git ls-files) and the record's source section (git status,
 * git diff-index) must agree on which repository they mean.
 *
 * The work tree is found as git finds it from a directory: the nearest
 * directory at or above it (its physical path) that holds .git, a
 * directory or a file (a linked worktree's or a submodule's), stopping at
 * a file-system boundary unless GIT_DISCOVERY_ACROSS_FILESYSTEM is true.
 * git runs in that directory with git_environment(): whatever in the
 * caller's environment would point git at another repository (GIT_DIR,
 * GIT_WORK_TREE, GIT_INDEX_FILE, GIT_COMMON_DIR, GIT_OBJECT_DIRECTORY,
 * GIT_ALTERNATE_OBJECT_DIRECTORIES, GIT_CEILING_DIRECTORIES) is left
 * out, so that git discovers the same work tree from there. git's own
 * checks stay on (safe.directory: git refuses a repository that another
 * user owns). */
#pragma once

/* The top of the work tree holding dir, as above; envp (NULL: environ)
 * gives GIT_DISCOVERY_ACROSS_FILESYSTEM. Returns 1 and *ret, 0 when dir
 * is in no work tree, or -errno when dir cannot be resolved. */
int git_find_top(const char *dir, char *const *envp, char **ret);

/* envp (NULL: environ) as git gets it: without the variables above and
 * LC_ALL, with LC_ALL=C (messages that parse) and GIT_OPTIONAL_LOCKS=0
 * (nothing written to the repository). A new strv. */
char **git_environment(char *const *envp);

/* git from envp's PATH (NULL: environ's), as the program would find it;
 * relative PATH entries are skipped (a ./git in the user's tree is not
 * run). NULL when there is none. */
char *git_find(char *const *envp);

/* The files of the work tree at top (tracked, and untracked but not
 * ignored), relative to top: git ls-files, with git_environment(NULL).
 * -ENOENT when git is not there, -EPERM when git refuses the repository
 * as owned by another user (its safe.directory check), -EIO when git
 * fails otherwise. */
int git_workspace_files(const char *top, char ***ret);
