#include "config.h"

#include "statcache.h"

#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <sys/stat.h>

#include "hash.h"
#include "util.h"

#define STAT_CACHE_FILE "stat-v1.json"
/* Entries are few (executables, scripts); a cap keeps the file small
 * when many different programs are run. */
#define STAT_CACHE_MAX 4096

struct StatCache {
	char *dir;
	json_t *entries; /* path -> [dev, ino, size, mtime_ns, ctime_ns, digest]
	                  */
	bool loaded, dirty;
};

StatCache *stat_cache_new(const char *cache_dir)
{
	StatCache *c = xcalloc(1, sizeof *c);
	c->dir = cache_dir ? xstrdup(cache_dir) : NULL;
	return c;
}

StatCache *stat_cache_free(StatCache *c)
{
	if (!c)
		return NULL;
	free(c->dir);
	json_decref(c->entries);
	free(c);
	return NULL;
}

static void load(StatCache *c)
{
	if (c->loaded)
		return;
	c->loaded = true;
	if (c->dir) {
		_cleanup_free_ char *p = path_join(c->dir, STAT_CACHE_FILE);
		_cleanup_free_ char *text = NULL;
		size_t len;
		if (read_full_file(p, 64 << 20, &text, &len) == 0)
			c->entries = json_loadb(text, len, 0, NULL);
	}
	/* Anything unreadable or odd is simply rebuilt. */
	if (!json_is_object(c->entries)) {
		json_decref(c->entries);
		c->entries = json_object();
	}
}

static int64_t ts_ns(struct timespec t)
{
	return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static json_t *key_of(const struct stat *st)
{
	return json_pack("[I,I,I,I,I]", (json_int_t)st->st_dev,
	                 (json_int_t)st->st_ino, (json_int_t)st->st_size,
	                 ts_ns(st->st_mtim), ts_ns(st->st_ctim));
}

static bool same_key(const json_t *entry, const struct stat *st)
{
	json_auto_t *k = key_of(st);
	if (!json_is_array(entry) || json_array_size(entry) != 6)
		return false;
	for (size_t i = 0; i < 5; i++)
		if (!json_equal(json_array_get(entry, i), json_array_get(k, i)))
			return false;
	return true;
}

int stat_cache_hash(StatCache *c, const char *path, char **ret_digest,
                    uint64_t *ret_size)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return -errno;
	struct stat before, after;
	if (fstat(fd, &before) < 0)
		return -errno;
	if (c && c->dir) {
		load(c);
		json_t *e = json_object_get(c->entries, path);
		const char *d = json_string_value(json_array_get(e, 5));
		if (d && same_key(e, &before)) {
			*ret_digest = xstrdup(d);
			if (ret_size)
				*ret_size = (uint64_t)before.st_size;
			return 0;
		}
	}
	(void)posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	char *digest;
	uint64_t size;
	int r = sha256_fd(fd, &digest, &size);
	if (r < 0)
		return r;
	/* Cache only what was stable while we read it, and not files
	 * changed in the last two seconds: an edit within the same clock
	 * tick could otherwise leave the key unchanged (git's "racy"
	 * entries). */
	if (c && c->dir && fstat(fd, &after) == 0 &&
	    ts_ns(before.st_mtim) == ts_ns(after.st_mtim) &&
	    ts_ns(before.st_ctim) == ts_ns(after.st_ctim) &&
	    before.st_size == after.st_size &&
	    now_ns() - ts_ns(after.st_ctim) > 2 * (int64_t)1000000000) {
		if (json_object_size(c->entries) >= STAT_CACHE_MAX)
			json_object_clear(c->entries);
		json_t *e = key_of(&after);
		json_array_append_new(e, json_string(digest));
		json_object_set_new(c->entries, path, e);
		c->dirty = true;
	}
	*ret_digest = digest;
	if (ret_size)
		*ret_size = size;
	return 0;
}

int stat_cache_save(StatCache *c)
{
	if (!c || !c->dir || !c->dirty)
		return 0;
	_cleanup_free_ char *text = json_dumps(c->entries, JSON_COMPACT);
	if (!text)
		return -ENOMEM;
	unsigned char rnd[6];
	if (getentropy(rnd, sizeof rnd) < 0)
		return -errno;
	_cleanup_free_ char *hex = hex_encode(rnd, sizeof rnd);
	_cleanup_free_ char *tmp =
	        xasprintf("%s/.%s.%s.tmp", c->dir, STAT_CACHE_FILE, hex);
	_cleanup_free_ char *dst = path_join(c->dir, STAT_CACHE_FILE);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
	              0644);
	if (fd < 0)
		return -errno;
	int r = write_all(fd, text, strlen(text));
	if (close(fd) < 0 && r == 0)
		r = -errno;
	/* Concurrent writers each rename a whole file: last one wins. */
	if (r == 0 && rename(tmp, dst) < 0)
		r = -errno;
	if (r < 0)
		unlink(tmp);
	else
		c->dirty = false;
	return r;
}
