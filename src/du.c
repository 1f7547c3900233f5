#include "config.h"

#include "du.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"

typedef struct DuFile {
	char *path; /* relative */
	uint64_t bytes;
} DuFile;

typedef struct Collect {
	const char *top;
	const DuOptions *opt;
	DuFile *files;
	size_t n, cap;
	size_t max;
	bool truncated;
} Collect;

static bool below(const char *path, const char *dir)
{
	size_t n = strlen(dir);
	return strneq(path, dir, n) && (path[n] == '/' || path[n] == 0);
}

static bool excluded(const Collect *c, const char *rel)
{
	if (!c->opt->exclude)
		return false;
	_cleanup_free_ char *abs = path_join(c->top, rel);
	for (char *const *e = c->opt->exclude; *e; e++)
		if (below(abs, *e))
			return true;
	return false;
}

static bool skipped_name(const char *name)
{
	return streq(name, ".git") || streq(name, ".xrun");
}

static void add_file(Collect *c, const char *rel, uint64_t bytes)
{
	if (c->n == c->cap) {
		c->cap = c->cap * 2 + 256;
		c->files = xrealloc(c->files, c->cap * sizeof *c->files);
	}
	c->files[c->n++] = (DuFile){.path = xstrdup(rel), .bytes = bytes};
	if (c->n >= c->max)
		c->truncated = true;
}

/* Every regular file below the directory dfd (at rel), depth first. */
static void walk(Collect *c, int dfd, const char *rel)
{
	DIR *d = fdopendir(dfd);
	if (!d) {
		close(dfd);
		return;
	}
	struct dirent *de;
	while (!c->truncated && (de = readdir(d))) {
		if (streq(de->d_name, ".") || streq(de->d_name, "..") ||
		    skipped_name(de->d_name))
			continue;
		_cleanup_free_ char *sub =
		        rel[0] ? xasprintf("%s/%s", rel, de->d_name)
		               : xstrdup(de->d_name);
		if (excluded(c, sub))
			continue;
		struct stat st;
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		if (S_ISREG(st.st_mode))
			add_file(c, sub, (uint64_t)st.st_size);
		else if (S_ISDIR(st.st_mode)) {
			int fd = openat(dirfd(d), de->d_name,
			                O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
			                        O_CLOEXEC);
			if (fd >= 0)
				walk(c, fd, sub);
		}
	}
	closedir(d);
}

static int cmp_path(const void *a, const void *b)
{
	return strcmp(((const DuFile *)a)->path, ((const DuFile *)b)->path);
}

/* The files [lo, hi) share their path up to off; the group of those that
 * share the next component with files[lo] ends at *ret_end. Returns the
 * component's length; *ret_dir says whether it is a directory. */
static size_t group_at(const DuFile *f, size_t lo, size_t hi, size_t off,
                       size_t *ret_end, bool *ret_dir)
{
	const char *p = f[lo].path + off;
	size_t len = strcspn(p, "/");
	bool dir = p[len] == '/';
	size_t end = lo + 1;
	while (dir && end < hi && strneq(f[end].path + off, p, len + 1))
		end++;
	*ret_end = end;
	*ret_dir = dir;
	return len;
}

static uint64_t sum(const DuFile *f, size_t lo, size_t hi)
{
	uint64_t s = 0;
	for (size_t i = lo; i < hi; i++)
		s += f[i].bytes;
	return s;
}

/* The group [lo, hi), a directory whose contents start at off: followed
 * down while one entry holds 80% or more of it. */
static DuEntry dominant(const DuFile *f, size_t lo, size_t hi, size_t off,
                        uint64_t bytes)
{
	for (;;) {
		size_t best_lo = lo, best_hi = lo, best_len = 0;
		bool best_dir = false;
		uint64_t best = 0;
		for (size_t i = lo; i < hi;) {
			size_t end;
			bool dir;
			size_t len = group_at(f, i, hi, off, &end, &dir);
			uint64_t b = sum(f, i, end);
			if (b > best || best_hi == lo) {
				best = b;
				best_lo = i;
				best_hi = end;
				best_len = len;
				best_dir = dir;
			}
			i = end;
		}
		if (best_hi == lo || best < bytes - bytes / 5 || bytes == 0)
			return (DuEntry){.path = xasprintf("%.*s/",
			                                   (int)(off - 1),
			                                   f[lo].path),
			                 .bytes = bytes};
		if (!best_dir)
			return (DuEntry){.path = xstrdup(f[best_lo].path),
			                 .bytes = best};
		lo = best_lo;
		hi = best_hi;
		off += best_len + 1;
		bytes = best;
	}
}

static int cmp_bytes_desc(const void *a, const void *b)
{
	uint64_t x = ((const DuEntry *)a)->bytes,
	         y = ((const DuEntry *)b)->bytes;
	if (x != y)
		return x < y ? 1 : -1;
	return strcmp(((const DuEntry *)a)->path, ((const DuEntry *)b)->path);
}

void du_entries_free(DuEntry *e, size_t n)
{
	for (size_t i = 0; e && i < n; i++)
		free(e[i].path);
	free(e);
}

int du_largest(const char *top, const DuOptions *opt, size_t n, DuEntry **ret,
               size_t *ret_n, bool *ret_truncated)
{
	Collect c = {
	        .top = top,
	        .opt = opt,
	        .max = opt->max_entries > 0 ? (size_t)opt->max_entries
	                                    : 1000000,
	};
	int topfd = open(top, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (topfd < 0)
		return negative_errno();
	if (opt->only) {
		for (char *const *o = opt->only; *o && !c.truncated; o++) {
			struct stat st;
			if (excluded(&c, *o) ||
			    fstatat(topfd, *o, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
			    !S_ISREG(st.st_mode))
				continue;
			add_file(&c, *o, (uint64_t)st.st_size);
		}
		close(topfd);
	} else
		walk(&c, topfd, "");
	if (c.n)
		sort_v(c.files, c.n, sizeof *c.files, cmp_path);

	DuEntry *all = NULL;
	size_t n_all = 0;
	for (size_t i = 0; i < c.n;) {
		size_t end;
		bool dir;
		size_t len = group_at(c.files, i, c.n, 0, &end, &dir);
		uint64_t b = sum(c.files, i, end);
		all = xrealloc(all, (n_all + 1) * sizeof *all);
		all[n_all++] = dir ? dominant(c.files, i, end, len + 1, b)
		                   : (DuEntry){.path = xstrdup(c.files[i].path),
		                               .bytes = b};
		i = end;
	}
	if (n_all)
		sort_v(all, n_all, sizeof *all, cmp_bytes_desc);
	for (size_t i = n; i < n_all; i++)
		free(all[i].path);
	for (size_t i = 0; i < c.n; i++)
		free(c.files[i].path);
	free(c.files);
	*ret = all;
	*ret_n = n_all < n ? n_all : n;
	if (ret_truncated)
		*ret_truncated = c.truncated;
	return 0;
}
