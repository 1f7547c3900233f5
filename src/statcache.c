#include "config.h"

#include "statcache.h"

#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <pthread.h>
#include <sys/stat.h>

#include "hash.h"
#include "util.h"

#define STAT_CACHE_FILE "stat-v1.json"
/* Entries are few (executables, scripts); a cap keeps the file small
 * when many different programs are run. */
#define STAT_CACHE_MAX 4096

#define PIN_TABLE_FILE "pin-v2.bin"
#define PIN_TABLE_MAGIC "xrunpin2"
/* 80 bytes an entry: 10 million files is an 800 MB table. */
#define PIN_TABLE_MAX (10u * 1000 * 1000)
/* Written by xrun gc, anew, before it deletes any object. */
#define GC_TOKEN_FILE "gc-token"

typedef struct PinKey {
	uint64_t dev, ino, size;
	int64_t mtime_ns, ctime_ns;
	unsigned char md[SHA256_LEN];
	/* The gc token under which the object was last seen in the store:
	 * while it is still the store's, no gc has run since, and the
	 * object is there without a stat of it. 0: not known. */
	uint64_t seen;
} PinKey;

struct StatCache {
	char *dir;
	json_t *entries; /* path -> [dev, ino, size, mtime_ns, ctime_ns, digest]
	                  */
	bool loaded, dirty;
	/* the pin table: open addressing on (dev, ino) */
	pthread_mutex_t lock;
	PinKey *slots;
	unsigned char *used;
	size_t n_slots, n_used;
	bool pin_loaded, pin_dirty;
	uint64_t token; /* the store's gc token when the table was loaded */
};

StatCache *stat_cache_new(const char *cache_dir)
{
	StatCache *c = xcalloc(1, sizeof *c);
	c->dir = cache_dir ? xstrdup(cache_dir) : NULL;
	pthread_mutex_init(&c->lock, NULL);
	return c;
}

StatCache *stat_cache_free(StatCache *c)
{
	if (!c)
		return NULL;
	free(c->dir);
	json_decref(c->entries);
	free(c->slots);
	free(c->used);
	pthread_mutex_destroy(&c->lock);
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
		return negative_errno();
	struct stat before, after;
	if (fstat(fd, &before) < 0)
		return negative_errno();
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

static uint64_t slot_hash(uint64_t dev, uint64_t ino)
{
	uint64_t h = ino * 0x9e3779b97f4a7c15u ^ dev * 0xc2b2ae3d27d4eb4fu;
	return h ^ (h >> 29);
}

static void pin_insert(StatCache *c, const PinKey *k);

static void pin_grow(StatCache *c)
{
	PinKey *old = c->slots;
	unsigned char *old_used = c->used;
	size_t old_n = c->n_slots;
	c->n_slots = old_n ? old_n * 2 : 1024;
	c->slots = xcalloc(c->n_slots, sizeof *c->slots);
	c->used = xcalloc(c->n_slots, 1);
	c->n_used = 0;
	for (size_t i = 0; i < old_n; i++)
		if (old_used[i])
			pin_insert(c, &old[i]);
	free(old);
	free(old_used);
}

static PinKey *pin_slot(const StatCache *c, uint64_t dev, uint64_t ino,
                        size_t *ret_i)
{
	size_t mask = c->n_slots - 1;
	size_t i = slot_hash(dev, ino) & mask;
	while (c->used[i]) {
		if (c->slots[i].dev == dev && c->slots[i].ino == ino)
			break;
		i = (i + 1) & mask;
	}
	*ret_i = i;
	return c->used[i] ? &c->slots[i] : NULL;
}

static void pin_insert(StatCache *c, const PinKey *k)
{
	if ((c->n_used + 1) * 2 > c->n_slots)
		pin_grow(c);
	size_t i;
	if (!pin_slot(c, k->dev, k->ino, &i)) {
		c->used[i] = 1;
		c->n_used++;
	}
	c->slots[i] = *k;
}

/* durable: gc's, before it deletes (a pin's may be lost: see below) */
static int write_gc_token(const char *cache_dir, bool durable)
{
	uint64_t v = 0;
	while (v == 0 || v == UINT64_MAX)
		if (getentropy(&v, sizeof v) < 0)
			return negative_errno();
	char text[32];
	int n = snprintf(text, sizeof text, "%016" PRIx64 "\n", v);
	return durable ? write_file_atomic(cache_dir, GC_TOKEN_FILE, text,
	                                   (size_t)n, 0644, true)
	               : write_file_replace(cache_dir, GC_TOKEN_FILE, text,
	                                    (size_t)n, 0644);
}

/* The store's gc token; a store without one (no gc yet) gets one, with
 * no need for it to be durable: a token lost is a new one, and notes
 * under the old are void. 0 (nothing is known) when it cannot be had. */
static uint64_t read_gc_token(const char *cache_dir)
{
	_cleanup_free_ char *path = path_join(cache_dir, GC_TOKEN_FILE);
	for (int tries = 0; tries < 2; tries++) {
		_cleanup_free_ char *text = NULL;
		int r = read_one_line(path, &text);
		if (r == -ENOENT && tries == 0 &&
		    write_gc_token(cache_dir, false) == 0)
			continue;
		if (r < 0)
			return 0;
		char *end;
		errno = 0;
		unsigned long long v = strtoull(text, &end, 16);
		return errno || *end || !*text ? 0 : (uint64_t)v;
	}
	return 0;
}

static void pin_load(StatCache *c)
{
	if (c->pin_loaded)
		return;
	c->pin_loaded = true;
	pin_grow(c);
	if (!c->dir)
		return;
	/* Read before the table, and (by the callers) after the run
	 * directory exists: see stat_cache_new_gc_token(). */
	c->token = read_gc_token(c->dir);
	_cleanup_free_ char *p = path_join(c->dir, PIN_TABLE_FILE);
	_cleanup_close_ int fd =
	        open(p, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0 || st.st_size < 8 ||
	    (uint64_t)st.st_size > 8 + (uint64_t)PIN_TABLE_MAX * sizeof(PinKey))
		return;
	_cleanup_free_ char *buf = NULL;
	size_t len;
	if (read_full_fd(fd, (size_t)st.st_size, &buf, &len) < 0 || len < 8 ||
	    memcmp(buf, PIN_TABLE_MAGIC, 8) != 0)
		return; /* rebuilt */
	size_t n = (len - 8) / sizeof(PinKey);
	while (c->n_slots < 2 * (n + 1))
		pin_grow(c);
	for (size_t i = 0; i < n; i++) {
		PinKey k;
		memcpy(&k, buf + 8 + i * sizeof k, sizeof k);
		pin_insert(c, &k);
	}
}

bool stat_cache_lookup(StatCache *c, const struct stat *st,
                       unsigned char ret_md[SHA256_LEN], bool *ret_stored)
{
	*ret_stored = false;
	if (!c || !c->dir)
		return false;
	pthread_mutex_lock(&c->lock);
	pin_load(c);
	size_t i;
	const PinKey *k =
	        pin_slot(c, (uint64_t)st->st_dev, (uint64_t)st->st_ino, &i);
	bool hit = k && k->size == (uint64_t)st->st_size &&
	           k->mtime_ns == ts_ns(st->st_mtim) &&
	           k->ctime_ns == ts_ns(st->st_ctim);
	if (hit) {
		memcpy(ret_md, k->md, SHA256_LEN);
		*ret_stored = k->seen != 0 && k->seen == c->token;
	}
	pthread_mutex_unlock(&c->lock);
	return hit;
}

void stat_cache_seen(StatCache *c, const struct stat *st)
{
	if (!c || !c->dir)
		return;
	pthread_mutex_lock(&c->lock);
	pin_load(c);
	size_t i;
	PinKey *k = pin_slot(c, (uint64_t)st->st_dev, (uint64_t)st->st_ino, &i);
	if (k && c->token && k->seen != c->token) {
		k->seen = c->token;
		c->pin_dirty = true;
	}
	pthread_mutex_unlock(&c->lock);
}

int stat_cache_new_gc_token(const char *cache_dir)
{
	int r = mkdir_p(cache_dir, 0755);
	return r < 0 ? r : write_gc_token(cache_dir, true);
}

void stat_cache_remember(StatCache *c, const struct stat *before,
                         const struct stat *after,
                         const unsigned char md[SHA256_LEN])
{
	if (!c || !c->dir)
		return;
	if (before->st_dev != after->st_dev ||
	    before->st_ino != after->st_ino ||
	    before->st_size != after->st_size ||
	    ts_ns(before->st_mtim) != ts_ns(after->st_mtim) ||
	    ts_ns(before->st_ctim) != ts_ns(after->st_ctim) ||
	    now_ns() - ts_ns(after->st_ctim) <= 2 * (int64_t)1000000000)
		return;
	PinKey k = {
	        .dev = (uint64_t)after->st_dev,
	        .ino = (uint64_t)after->st_ino,
	        .size = (uint64_t)after->st_size,
	        .mtime_ns = ts_ns(after->st_mtim),
	        .ctime_ns = ts_ns(after->st_ctim),
	};
	memcpy(k.md, md, SHA256_LEN);
	pthread_mutex_lock(&c->lock);
	pin_load(c);
	if (c->n_used < PIN_TABLE_MAX) {
		pin_insert(c, &k);
		c->pin_dirty = true;
	}
	pthread_mutex_unlock(&c->lock);
}

void stat_cache_vouch(StatCache *c, const struct stat *hashed,
                      const struct stat *now,
                      const unsigned char md[SHA256_LEN])
{
	if (!c || !c->dir || hashed->st_dev != now->st_dev ||
	    hashed->st_ino != now->st_ino || hashed->st_size != now->st_size ||
	    ts_ns(hashed->st_mtim) != ts_ns(now->st_mtim))
		return;
	PinKey k = {
	        .dev = (uint64_t)now->st_dev,
	        .ino = (uint64_t)now->st_ino,
	        .size = (uint64_t)now->st_size,
	        .mtime_ns = ts_ns(now->st_mtim),
	        .ctime_ns = ts_ns(now->st_ctim),
	};
	memcpy(k.md, md, SHA256_LEN);
	pthread_mutex_lock(&c->lock);
	pin_load(c);
	if (c->n_used < PIN_TABLE_MAX) {
		pin_insert(c, &k);
		c->pin_dirty = true;
	}
	pthread_mutex_unlock(&c->lock);
}

static int pin_save(StatCache *c)
{
	if (!c->pin_dirty)
		return 0;
	size_t len = 8 + c->n_used * sizeof(PinKey), off = 8;
	_cleanup_free_ char *buf = xmalloc(len);
	memcpy(buf, PIN_TABLE_MAGIC, 8);
	for (size_t i = 0; i < c->n_slots; i++)
		if (c->used[i]) {
			memcpy(buf + off, &c->slots[i], sizeof(PinKey));
			off += sizeof(PinKey);
		}
	int r = write_file_replace(c->dir, PIN_TABLE_FILE, buf, len, 0644);
	if (r == 0) {
		c->pin_dirty = false;
		/* the table of xrun before the gc token, replaced by this */
		_cleanup_free_ char *old = path_join(c->dir, "pin-v1.bin");
		(void)unlink(old);
	}
	return r;
}

int stat_cache_save(StatCache *c)
{
	if (!c || !c->dir)
		return 0;
	pthread_mutex_lock(&c->lock);
	int r = pin_save(c);
	pthread_mutex_unlock(&c->lock);
	if (!c->dirty)
		return r;
	_cleanup_free_ char *text = json_dumps(c->entries, JSON_COMPACT);
	if (!text)
		return -ENOMEM;
	int r2 = write_file_replace(c->dir, STAT_CACHE_FILE, text, strlen(text),
	                            0644);
	if (r2 == 0)
		c->dirty = false;
	return r < 0 ? r : r2;
}
