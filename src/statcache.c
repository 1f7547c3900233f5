#include "config.h"

#include "statcache.h"

#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "hash.h"
#include "util.h"

#define STAT_CACHE_FILE "stat-v1.json"
/* Entries are few (executables, scripts); a cap keeps the file small
 * when many different programs are run. */
#define STAT_CACHE_MAX 4096

/* The pin table (doc/store-format.md): a file made to be mapped as it
 * is, a hash index of u32 over fixed entries, so that loading it costs
 * nothing that grows with it, and a re-pin touches only the pages of the
 * files it looks up. What pins learn is appended to a log beside it
 * (one write a pin), and folded into a new table when the log grows. */
#define PIN_TABLE_FILE "pin-v3.bin"
#define PIN_LOG_FILE "pin-v3.log"
#define PIN_TABLE_MAGIC "xrunpin3"
#define PIN_HEAD 64
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

/* A log record: the entry and a check of it (a torn append is no
 * entry). */
typedef struct PinLogged {
	PinKey k;
	uint64_t check;
} PinLogged;

struct StatCache {
	char *dir;
	json_t *entries; /* path -> [dev, ino, size, mtime_ns, ctime_ns, digest]
	                  */
	bool loaded, dirty;
	pthread_mutex_t lock;
	/* the table on disk, mapped: index[n_index] of entry number + 1
	 * (0: empty), open addressing on (dev, ino); base[n_base] */
	void *map;
	size_t map_len;
	const uint32_t *index;
	const PinKey *base;
	size_t n_index, n_base;
	size_t n_log; /* records in the log when it was read */
	/* what this process learned, and the log's entries: keys[n_used]
	 * (fresh[i]: to be logged), found through slots[n_slots] of index
	 * + 1 (0: empty), open addressing on (dev, ino): 88 bytes an entry */
	PinKey *keys;
	unsigned char *fresh;
	uint32_t *slots;
	size_t n_slots, n_used, cap_keys;
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
	free(c->keys);
	free(c->fresh);
	if (c->map)
		munmap(c->map, c->map_len);
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

static void pin_grow(StatCache *c)
{
	free(c->slots);
	c->n_slots = c->n_slots ? c->n_slots * 2 : 1024;
	c->slots = xcalloc(c->n_slots, sizeof *c->slots);
	size_t mask = c->n_slots - 1;
	for (size_t k = 0; k < c->n_used; k++) {
		size_t i = slot_hash(c->keys[k].dev, c->keys[k].ino) & mask;
		while (c->slots[i])
			i = (i + 1) & mask;
		c->slots[i] = (uint32_t)k + 1;
	}
}

/* The entry of (dev, ino) in memory, or NULL; *ret_i: its slot, or the
 * empty one where it would go. */
static PinKey *pin_slot(const StatCache *c, uint64_t dev, uint64_t ino,
                        size_t *ret_i)
{
	size_t mask = c->n_slots - 1;
	size_t i = slot_hash(dev, ino) & mask;
	while (c->slots[i]) {
		PinKey *k = &c->keys[c->slots[i] - 1];
		if (k->dev == dev && k->ino == ino) {
			*ret_i = i;
			return k;
		}
		i = (i + 1) & mask;
	}
	*ret_i = i;
	return NULL;
}

static void pin_insert(StatCache *c, const PinKey *k, bool fresh)
{
	if ((c->n_used + 1) * 2 > c->n_slots)
		pin_grow(c);
	size_t i;
	PinKey *have = pin_slot(c, k->dev, k->ino, &i);
	if (have) {
		*have = *k;
		if (fresh)
			c->fresh[have - c->keys] = 1;
		return;
	}
	if (c->n_used == c->cap_keys) {
		c->cap_keys = c->cap_keys ? c->cap_keys * 2 : 1024;
		c->keys = xrealloc(c->keys, c->cap_keys * sizeof *c->keys);
		c->fresh = xrealloc(c->fresh, c->cap_keys);
	}
	c->keys[c->n_used] = *k;
	c->fresh[c->n_used] = fresh;
	c->slots[i] = (uint32_t)++c->n_used;
}

/* The entry for (dev, ino): what this process or the log knows, else
 * the mapped table's. */
static const PinKey *pin_find(const StatCache *c, uint64_t dev, uint64_t ino)
{
	size_t i;
	const PinKey *k = pin_slot(c, dev, ino, &i);
	if (k || !c->n_index)
		return k;
	size_t mask = c->n_index - 1;
	for (size_t x = slot_hash(dev, ino) & mask;; x = (x + 1) & mask) {
		uint32_t v = c->index[x];
		if (v == 0 || v > c->n_base)
			return NULL;
		const PinKey *b = &c->base[v - 1];
		if (b->dev == dev && b->ino == ino)
			return b;
	}
}

static uint64_t log_check(const PinKey *k)
{
	uint64_t h = 0xcbf29ce484222325u;
	const unsigned char *p = (const unsigned char *)k;
	for (size_t i = 0; i < sizeof *k; i++)
		h = (h ^ p[i]) * 0x100000001b3u;
	return h;
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

/* Map the table: no entry is read or inserted here. */
static void map_table(StatCache *c)
{
	_cleanup_free_ char *p = path_join(c->dir, PIN_TABLE_FILE);
	_cleanup_close_ int fd =
	        open(p, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0 || st.st_size < PIN_HEAD)
		return;
	size_t len = (size_t)st.st_size;
	void *map = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED)
		return;
	const unsigned char *m = map;
	uint64_t n, n_index, esize;
	memcpy(&n, m + 8, 8);
	memcpy(&n_index, m + 16, 8);
	memcpy(&esize, m + 24, 8);
	/* anything odd: rebuilt */
	if (memcmp(m, PIN_TABLE_MAGIC, 8) != 0 || esize != sizeof(PinKey) ||
	    n > PIN_TABLE_MAX || n_index == 0 ||
	    (n_index & (n_index - 1)) != 0 || n >= n_index ||
	    n_index > 4 * (uint64_t)PIN_TABLE_MAX ||
	    len != PIN_HEAD + n_index * 4 + n * sizeof(PinKey)) {
		munmap(map, len);
		return;
	}
	c->map = map;
	c->map_len = len;
	c->index = (const uint32_t *)(m + PIN_HEAD);
	c->base = (const PinKey *)(m + PIN_HEAD + n_index * 4);
	c->n_index = (size_t)n_index;
	c->n_base = (size_t)n;
}

/* The log's records, into the table in memory (not fresh: they are
 * logged already). */
static void read_log(StatCache *c)
{
	_cleanup_free_ char *p = path_join(c->dir, PIN_LOG_FILE);
	_cleanup_close_ int fd =
	        open(p, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0 ||
	    (uint64_t)st.st_size > (uint64_t)PIN_TABLE_MAX * sizeof(PinLogged))
		return;
	_cleanup_free_ char *buf = NULL;
	size_t len;
	if (read_full_fd(fd, (size_t)st.st_size, &buf, &len) < 0)
		return;
	size_t n = len / sizeof(PinLogged);
	c->n_log = n;
	for (size_t i = 0; i < n; i++) {
		PinLogged l;
		memcpy(&l, buf + i * sizeof l, sizeof l);
		if (l.check == log_check(&l.k))
			pin_insert(c, &l.k, false);
	}
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
	map_table(c);
	read_log(c);
}

bool stat_cache_lookup(StatCache *c, const struct stat *st,
                       unsigned char ret_md[SHA256_LEN], bool *ret_stored)
{
	*ret_stored = false;
	if (!c || !c->dir)
		return false;
	pthread_mutex_lock(&c->lock);
	pin_load(c);
	const PinKey *k =
	        pin_find(c, (uint64_t)st->st_dev, (uint64_t)st->st_ino);
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
	const PinKey *k =
	        pin_find(c, (uint64_t)st->st_dev, (uint64_t)st->st_ino);
	if (k && c->token && k->seen != c->token) {
		PinKey seen = *k;
		seen.seen = c->token;
		pin_insert(c, &seen, true);
		c->pin_dirty = true;
	}
	pthread_mutex_unlock(&c->lock);
}

int stat_cache_new_gc_token(const char *cache_dir)
{
	int r = mkdir_p(cache_dir, 0755);
	return r < 0 ? r : write_gc_token(cache_dir, true);
}

bool stat_cache_stable(const struct stat *before, const struct stat *after)
{
	return before->st_dev == after->st_dev &&
	       before->st_ino == after->st_ino &&
	       before->st_size == after->st_size &&
	       ts_ns(before->st_mtim) == ts_ns(after->st_mtim) &&
	       ts_ns(before->st_ctim) == ts_ns(after->st_ctim) &&
	       now_ns() - ts_ns(after->st_ctim) > 2 * (int64_t)1000000000;
}

void stat_cache_remember(StatCache *c, const struct stat *before,
                         const struct stat *after,
                         const unsigned char md[SHA256_LEN], bool storing)
{
	if (c && c->dir && stat_cache_stable(before, after))
		stat_cache_add(c, after, md, storing);
}

void stat_cache_add(StatCache *c, const struct stat *st,
                    const unsigned char md[SHA256_LEN], bool storing)
{
	if (!c || !c->dir)
		return;
	PinKey k = {
	        .dev = (uint64_t)st->st_dev,
	        .ino = (uint64_t)st->st_ino,
	        .size = (uint64_t)st->st_size,
	        .mtime_ns = ts_ns(st->st_mtim),
	        .ctime_ns = ts_ns(st->st_ctim),
	};
	memcpy(k.md, md, SHA256_LEN);
	pthread_mutex_lock(&c->lock);
	pin_load(c);
	if (c->n_used < PIN_TABLE_MAX) {
		/* 2: fresh, and its object is being stored */
		pin_insert(c, &k, true);
		if (storing) {
			size_t i;
			PinKey *e = pin_slot(c, k.dev, k.ino, &i);
			c->fresh[e - c->keys] = 2;
		}
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
		pin_insert(c, &k, true);
		c->pin_dirty = true;
	}
	pthread_mutex_unlock(&c->lock);
}

/* A new table of every entry (the mapped one's, overridden by what is
 * in memory), replacing the old and its log. Written as it is made,
 * through a small buffer: only its index is held whole. */
static int write_table(StatCache *c)
{
	size_t n = 0;
	for (size_t i = 0; i < c->n_base; i++) {
		size_t x;
		if (!pin_slot(c, c->base[i].dev, c->base[i].ino, &x))
			n++;
	}
	n += c->n_used;
	if (n > PIN_TABLE_MAX)
		n = PIN_TABLE_MAX;
	size_t n_index = 1024;
	while (n_index < 2 * (n + 1))
		n_index *= 2;
	_cleanup_free_ uint32_t *index = xcalloc(n_index, sizeof *index);
	unsigned char rnd[6];
	if (getentropy(rnd, sizeof rnd) < 0)
		return negative_errno();
	_cleanup_free_ char *hex = hex_encode(rnd, sizeof rnd);
	/* .NAME.PID.HEX.tmp: gc takes it when the process is gone */
	_cleanup_free_ char *tmp =
	        xasprintf("%s/." PIN_TABLE_FILE ".%ld.%s.tmp", c->dir,
	                  (long)getpid(), hex);
	_cleanup_close_ int fd =
	        open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
	             0644);
	if (fd < 0)
		return negative_errno();
	unsigned char head[PIN_HEAD] = {0};
	memcpy(head, PIN_TABLE_MAGIC, 8);
	uint64_t h[3] = {n, n_index, sizeof(PinKey)};
	memcpy(head + 8, h, sizeof h);
	off_t at = PIN_HEAD + (off_t)(n_index * 4);
	enum { STAGE = 8192 };
	_cleanup_free_ PinKey *stage = xmalloc(STAGE * sizeof *stage);
	size_t staged = 0, k = 0;
	int r = 0;
	for (size_t pass = 0; pass < 2 && r == 0; pass++) {
		size_t m = pass == 0 ? c->n_used : c->n_base;
		for (size_t i = 0; i < m && k < n && r == 0; i++) {
			const PinKey *e;
			if (pass == 0)
				e = &c->keys[i];
			else {
				size_t x;
				e = &c->base[i];
				if (pin_slot(c, e->dev, e->ino, &x))
					continue; /* overridden */
			}
			size_t x = slot_hash(e->dev, e->ino) & (n_index - 1);
			while (index[x])
				x = (x + 1) & (n_index - 1);
			index[x] = (uint32_t)++k;
			stage[staged++] = *e;
			if (staged == STAGE) {
				if (pwrite(fd, stage, staged * sizeof *stage,
				           at) !=
				    (ssize_t)(staged * sizeof *stage))
					r = errno ? -errno : -EIO;
				at += (off_t)(staged * sizeof *stage);
				staged = 0;
			}
		}
	}
	if (r == 0 && staged &&
	    pwrite(fd, stage, staged * sizeof *stage, at) !=
	            (ssize_t)(staged * sizeof *stage))
		r = errno ? -errno : -EIO;
	if (r == 0 && (pwrite(fd, head, PIN_HEAD, 0) != PIN_HEAD ||
	               pwrite(fd, index, n_index * 4, PIN_HEAD) !=
	                       (ssize_t)(n_index * 4)))
		r = errno ? -errno : -EIO;
	_cleanup_free_ char *dst = path_join(c->dir, PIN_TABLE_FILE);
	if (r == 0 && rename(tmp, dst) < 0)
		r = negative_errno();
	if (r < 0) {
		(void)unlink(tmp);
		return r;
	}
	_cleanup_free_ char *log = path_join(c->dir, PIN_LOG_FILE);
	(void)unlink(log);
	/* the tables of older xruns, replaced by this */
	_cleanup_free_ char *v1 = path_join(c->dir, "pin-v1.bin");
	_cleanup_free_ char *v2 = path_join(c->dir, "pin-v2.bin");
	(void)unlink(v1);
	(void)unlink(v2);
	return 0;
}

static int pin_save(StatCache *c)
{
	if (!c->pin_dirty)
		return 0;
	size_t n_fresh = 0;
	for (size_t i = 0; i < c->n_used; i++)
		n_fresh += c->fresh[i];
	/* A log as large as a quarter of the table (or with no table): a
	 * new table, which folds the log in. */
	size_t n_log = c->n_log + n_fresh;
	if (c->n_base == 0 || n_log > 4096 + c->n_base / 4) {
		int r = write_table(c);
		if (r < 0)
			return r;
		/* What was learned is in the new table now: map it, and let
		 * the memory go. */
		c->pin_dirty = false;
		if (c->map)
			munmap(c->map, c->map_len);
		c->map = NULL;
		c->index = NULL;
		c->base = NULL;
		c->n_index = c->n_base = c->n_log = 0;
		free(c->keys);
		free(c->fresh);
		free(c->slots);
		c->keys = NULL;
		c->fresh = NULL;
		c->slots = NULL;
		c->n_used = c->cap_keys = c->n_slots = 0;
		pin_grow(c);
		map_table(c);
		return 0;
	}
	_cleanup_free_ PinLogged *recs = xcalloc(n_fresh + 1, sizeof *recs);
	size_t k = 0;
	for (size_t i = 0; i < c->n_used; i++)
		if (c->fresh[i]) {
			recs[k].k = c->keys[i];
			recs[k].check = log_check(&recs[k].k);
			k++;
		}
	_cleanup_free_ char *p = path_join(c->dir, PIN_LOG_FILE);
	_cleanup_close_ int fd =
	        open(p, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW,
	             0644);
	if (fd < 0)
		return negative_errno();
	/* One write: appends of other pins do not interleave with it. */
	int r = write_all(fd, recs, k * sizeof *recs);
	if (r == 0) {
		c->pin_dirty = false;
		memset(c->fresh, 0, c->n_used);
	}
	return r;
}

void stat_cache_stored(StatCache *c)
{
	if (!c || !c->dir)
		return;
	pthread_mutex_lock(&c->lock);
	for (size_t i = 0; c->token && i < c->n_used; i++)
		if (c->fresh[i] == 2)
			c->keys[i].seen = c->token;
	pthread_mutex_unlock(&c->lock);
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
