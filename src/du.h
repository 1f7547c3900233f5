/* What makes a tree big, as du(1) would say it: for a workspace over its
 * limit, the few entries that hold most of its bytes, so that the user
 * knows what to declare with --input or list in .gitignore.
 *
 * Sizes are the files' apparent sizes (st_size), what the workspace limit
 * counts; directories are the sum of the files below them. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct DuEntry {
	char *path; /* relative to the top; a directory ends in '/' */
	uint64_t bytes;
} DuEntry;

typedef struct DuOptions {
	char *const *only;    /* relative files to count (git's list), or
	                         NULL for everything below top */
	char *const *exclude; /* absolute paths left out */
	int max_entries;      /* stop after this many files (0: 1,000,000);
	                         sizes are then lower bounds */
} DuOptions;

/* The at most n largest entries directly below top, largest first, each
 * followed down while one entry below it holds 80% or more of its bytes
 * (data/ 3 GiB becomes data/train/ 2.9 GiB). Entries named .git and .xrun
 * are left out, as the workspace pin leaves them out. *ret_truncated says
 * whether the walk stopped at max_entries. Returns 0 or -errno (top
 * cannot be read). */
int du_largest(const char *top, const DuOptions *opt, size_t n, DuEntry **ret,
               size_t *ret_n, bool *ret_truncated);
void du_entries_free(DuEntry *e, size_t n);
