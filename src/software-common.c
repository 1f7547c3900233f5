/* Stat keys, small helpers and the cache files of the software capture
 * (software.h). */
#include "config.h"

#include "software.h"

#include <inttypes.h>

#include "util.h"

#define MAX_CACHE_FILE (16u << 20)

json_t *json_string_or_null(const char *s)
{
	return s ? json_bstr(s) : json_null();
}

char *xstrdup_or_null(const char *s)
{
	return s ? xstrdup(s) : NULL;
}

bool streq_ptr(const char *a, const char *b)
{
	return a && b && streq(a, b);
}

void key_from_stat(const struct stat *st, Key *k)
{
	snprintf(k->s, sizeof k->s,
	         "%" PRIu64 ":%" PRIu64 ":%" PRId64 ":%" PRId64 ":%" PRId64,
	         (uint64_t)st->st_dev, (uint64_t)st->st_ino,
	         (int64_t)st->st_size,
	         (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec,
	         (int64_t)st->st_ctim.tv_sec * 1000000000 +
	                 st->st_ctim.tv_nsec);
}

void key_of(const char *path, Key *k)
{
	struct stat st;
	if (stat(path, &st) < 0)
		snprintf(k->s, sizeof k->s, "-");
	else
		key_from_stat(&st, k);
}

bool str_matches(const char *s, const json_t *j)
{
	return streq_ptr(json_string_value(j), s);
}

bool key_matches(const Key *k, const json_t *j)
{
	return str_matches(k->s, j);
}

/* FNV-1a: names the per-query cache file; the file repeats the whole
 * query, so a collision costs a rebuild, never a wrong answer. */
uint64_t fnv1a(const char *s)
{
	uint64_t h = UINT64_C(0xcbf29ce484222325);
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * UINT64_C(0x100000001b3);
	return h;
}

char *readlink_malloc(const char *path)
{
	for (size_t n = 256; n <= PATH_MAX * 4; n *= 2) {
		_cleanup_free_ char *buf = xmalloc(n);
		ssize_t k = readlink(path, buf, n);
		if (k < 0)
			return NULL;
		if ((size_t)k < n) {
			buf[k] = 0;
			return TAKE_PTR(buf);
		}
	}
	return NULL;
}

char *dirname_of(const char *path)
{
	const char *slash = strrchr(path, '/');
	if (!slash)
		return xstrdup(".");
	if (slash == path)
		return xstrdup("/");
	return xstrndup(path, (size_t)(slash - path));
}

const char *basename_of(const char *path)
{
	const char *slash = strrchr(path, '/');
	return slash ? slash + 1 : path;
}

int str_ptr_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* ---- cache files ---- */

json_t *cache_load(const char *dir, const char *name)
{
	_cleanup_free_ char *path = path_join(dir, name);
	_cleanup_free_ char *buf = NULL;
	size_t len;
	if (read_full_file(path, MAX_CACHE_FILE, &buf, &len) < 0)
		return NULL;
	json_t *j = json_loadb(buf, len, 0, NULL);
	if (j && !json_is_object(j)) {
		json_decref(j);
		return NULL;
	}
	return j;
}

/* No fsync: a cache lost in a crash is rebuilt, and the fsync would
 * cost more than the whole warm capture. */
int cache_write(const char *dir, const char *name, const void *p, size_t n)
{
	/* made here, not up front: a warm capture never writes */
	int r = mkdir_p(dir, 0755);
	return r < 0 ? r : write_file_replace(dir, name, p, n, 0644);
}

int cache_write_json(const char *dir, const char *name, const json_t *j)
{
	_cleanup_free_ char *s = json_dumps(j, JSON_COMPACT);
	if (!s)
		return -ENOMEM;
	return cache_write(dir, name, s, strlen(s));
}
