#include "config.h"

#include "view-delta.h"

#include "pin.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "util.h"

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool entries_equal(const ManifestEntry *a, const ManifestEntry *b)
{
	if (a->kind != b->kind || a->mode != b->mode)
		return false;
	if (a->kind == ENTRY_FILE)
		return memcmp(a->digest, b->digest, SHA256_LEN) == 0;
	if (a->kind == ENTRY_LINK)
		return streq(a->target ? a->target : "",
		             b->target ? b->target : "");
	return true;
}

/* Is path a directory of m (bsearch: m is sorted by path)? "" is. */
static bool is_dir_of(const Manifest *m, const char *path)
{
	if (!path[0])
		return true;
	size_t lo = 0, hi = m->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(m->entries[mid].path, path);
		if (c == 0)
			return m->entries[mid].kind == ENTRY_DIR;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

/* Every directory above path, onto dirs (duplicates are harmless). */
static char **push_parents(char **dirs, const char *path)
{
	for (const char *sl = strchr(path, '/'); sl; sl = strchr(sl + 1, '/')) {
		_cleanup_free_ char *up = xstrndup(path, (size_t)(sl - path));
		dirs = strv_push(dirs, up);
	}
	return dirs;
}

/* The differences: which entries of m the delta holds (keep[i]), and
 * the paths of prev that get whiteouts. */
static size_t diff_trees(const Manifest *m, const Manifest *prev, bool *keep,
                         char ***whiteouts)
{
	size_t i = 0, j = 0, changes = 0;
	while (i < m->n || j < prev->n) {
		int c = i >= m->n      ? 1
		        : j >= prev->n ? -1
		                       : strcmp(m->entries[i].path,
		                                prev->entries[j].path);
		if (c < 0) { /* added */
			keep[i++] = true;
			changes++;
		} else if (c > 0) { /* deleted: a whiteout where the parent
			               is still a directory (else what hides
			               the parent hides it) */
			const char *p = prev->entries[j++].path;
			const char *sl = strrchr(p, '/');
			_cleanup_free_ char *up =
			        sl ? xstrndup(p, (size_t)(sl - p))
			           : xstrdup("");
			if (is_dir_of(m, up))
				*whiteouts = strv_push(*whiteouts, p);
			changes++;
		} else {
			if (!entries_equal(&m->entries[i], &prev->entries[j])) {
				keep[i] = true;
				changes++;
			}
			i++;
			j++;
		}
	}
	return changes;
}

/* A whiteout at path below root: parents made writable for it, and
 * their modes put back. */
static int make_whiteout(int rootfd, const char *path)
{
	const char *name;
	_cleanup_close_ int dfd = open_parent_beneath(rootfd, path, &name);
	if (dfd < 0)
		return dfd;
	struct stat st;
	if (fstat(dfd, &st) < 0)
		return negative_errno();
	bool ro = (st.st_mode & 0300) != 0300;
	if (ro && fchmod(dfd, (st.st_mode & 07777) | 0300) < 0)
		return negative_errno();
	int r = mknodat(dfd, name, S_IFCHR, makedev(0, 0)) < 0
	                ? negative_errno()
	                : 0;
	if (ro && fchmod(dfd, st.st_mode & 07777) < 0 && r == 0)
		r = negative_errno();
	return r;
}

int view_delta_make(const Store *s, const Manifest *m, const Manifest *prev,
                    const char *dest, size_t *ret_changes)
{
	_cleanup_free_ bool *keep = xcalloc(m->n ? m->n : 1, sizeof *keep);
	_cleanup_strv_free_ char **whiteouts = NULL, **dirs = NULL;
	size_t changes = diff_trees(m, prev, keep, &whiteouts);
	if (ret_changes)
		*ret_changes = changes;
	if (changes > m->n / 8)
		return -E2BIG;
	for (size_t i = 0; i < m->n; i++)
		if (keep[i])
			dirs = push_parents(dirs, m->entries[i].path);
	for (size_t k = 0; whiteouts && whiteouts[k]; k++)
		dirs = push_parents(dirs, whiteouts[k]);
	size_t nd = dirs ? strv_length(dirs) : 0;
	if (dirs)
		qsort(dirs, nd, sizeof *dirs, cmp_str);
	_cleanup_manifest_ Manifest *sub = manifest_new();
	for (size_t i = 0; i < m->n; i++) {
		const ManifestEntry *e = &m->entries[i];
		const char *key = e->path;
		if (!keep[i] &&
		    !(e->kind == ENTRY_DIR && dirs &&
		      bsearch(&key, dirs, nd, sizeof *dirs, cmp_str)))
			continue;
		ManifestEntry *n = manifest_add(sub, e->kind, e->path, e->mode,
		                                e->size, e->target);
		memcpy(n->digest, e->digest, SHA256_LEN);
	}
	int r = materialize(s, sub, false, NULL, dest, MATERIALIZE_VIEW, false,
	                    NULL);
	if (r < 0)
		return r;
	_cleanup_close_ int rootfd =
	        open(dest, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (rootfd < 0)
		return negative_errno();
	for (size_t k = 0; whiteouts && whiteouts[k] && r == 0; k++)
		r = make_whiteout(rootfd, whiteouts[k]);
	return r;
}
