/* Packs of small objects (doc/store-format.md): objects/packs/<id>.pack
 * holds many objects' bytes one after another, <id>.idx says where each
 * is. A pack is written whole by one writer (a pin), then its index is
 * renamed into place last: an object is in the store once an index
 * names it, and a pack without an index is a writer that died. */
#include "config.h"

#include <dirent.h>
#include <endian.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "store.h"
#include "util.h"

#define PACK_MAGIC "XRUNPAK1"
#define IDX_MAGIC "XRUNIDX1"
#define IDX_HEAD (32 + 256 * 4)
#define IDX_ENTRY (SHA256_LEN + 16)

typedef struct Pack {
	char *id;
	int fd;             /* the .pack, open for reading */
	const uint8_t *map; /* the .idx, mapped */
	size_t map_len;
	uint64_t n, pack_size;
	int64_t mtime_ns; /* the index's */
} Pack;

struct PackSet {
	pthread_rwlock_t lock;
	Pack *packs;
	size_t n;
	bool scanned;
	/* the packs directory when last scanned, to see new packs */
	struct timespec dir_mtime;
	ino_t dir_ino;
	bool dir_racy;      /* changed in the same clock tick: scan again */
	int64_t scanned_ns; /* when */
};

static uint64_t get_le64(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, 8);
	return le64toh(v);
}

static uint32_t get_le32(const uint8_t *p)
{
	uint32_t v;
	memcpy(&v, p, 4);
	return le32toh(v);
}

static void put_le64(uint8_t *p, uint64_t v)
{
	v = htole64(v);
	memcpy(p, &v, 8);
}

static void put_le32(uint8_t *p, uint32_t v)
{
	v = htole32(v);
	memcpy(p, &v, 4);
}

static void pack_clear(Pack *p)
{
	free(p->id);
	if (p->fd >= 0)
		close(p->fd);
	if (p->map)
		munmap((void *)p->map, p->map_len);
}

PackSet *pack_set_new(void)
{
	PackSet *ps = xcalloc(1, sizeof *ps);
	pthread_rwlock_init(&ps->lock, NULL);
	return ps;
}

void pack_set_free(PackSet *ps)
{
	if (!ps)
		return;
	for (size_t i = 0; i < ps->n; i++)
		pack_clear(&ps->packs[i]);
	free(ps->packs);
	pthread_rwlock_destroy(&ps->lock);
	free(ps);
}

static bool valid_id(const char *id, size_t len)
{
	if (len != 32)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!((id[i] >= '0' && id[i] <= '9') ||
		      (id[i] >= 'a' && id[i] <= 'f')))
			return false;
	return true;
}

/* Map dirfd/<id>.idx and open <id>.pack: -EBADMSG when the index is not
 * one (or its pack is shorter than it says). */
static int pack_open(int dirfd, const char *id, Pack *ret)
{
	char name[64];
	snprintf(name, sizeof name, "%s.idx", id);
	_cleanup_close_ int ifd =
	        openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (ifd < 0)
		return negative_errno();
	struct stat st;
	if (fstat(ifd, &st) < 0)
		return negative_errno();
	if (!S_ISREG(st.st_mode) || st.st_size < IDX_HEAD + SHA256_LEN)
		return -EBADMSG;
	size_t len = (size_t)st.st_size;
	void *map = mmap(NULL, len, PROT_READ, MAP_SHARED, ifd, 0);
	if (map == MAP_FAILED)
		return negative_errno();
	const uint8_t *m = map;
	uint64_t n = get_le64(m + 8);
	if (memcmp(m, IDX_MAGIC, 8) != 0 ||
	    n > (len - IDX_HEAD - SHA256_LEN) / IDX_ENTRY ||
	    len != IDX_HEAD + n * IDX_ENTRY + SHA256_LEN ||
	    get_le32(m + 32 + 255 * 4) != n) {
		munmap(map, len);
		return -EBADMSG;
	}
	snprintf(name, sizeof name, "%s.pack", id);
	int pfd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	struct stat pst;
	if (pfd < 0 || fstat(pfd, &pst) < 0 ||
	    (uint64_t)pst.st_size < get_le64(m + 16)) {
		int r = pfd < 0 ? negative_errno() : -EBADMSG;
		if (pfd >= 0)
			close(pfd);
		munmap(map, len);
		return r;
	}
	*ret = (Pack){
	        .id = xstrdup(id),
	        .fd = pfd,
	        .map = m,
	        .map_len = len,
	        .n = n,
	        .pack_size = get_le64(m + 16),
	        .mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 +
	                    st.st_mtim.tv_nsec,
	};
	return 0;
}

static bool have_pack(const PackSet *ps, const char *id)
{
	for (size_t i = 0; i < ps->n; i++)
		if (streq(ps->packs[i].id, id))
			return true;
	return false;
}

static void add_pack(PackSet *ps, const Pack *p)
{
	ps->packs = xrealloc(ps->packs, (ps->n + 1) * sizeof *ps->packs);
	ps->packs[ps->n++] = *p;
}

/* (write lock held) Load the indexes not loaded yet; drop those whose
 * index is gone (a gc repacked them: their objects are in a newer pack,
 * which this scan loads). */
static int scan_locked(const Store *s, PackSet *ps)
{
	int dfd = open(s->packs, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0) {
		ps->scanned = true;
		return errno == ENOENT ? 0 : negative_errno();
	}
	struct stat st;
	if (fstat(dfd, &st) == 0) {
		ps->dir_mtime = st.st_mtim;
		ps->dir_ino = st.st_ino;
		/* a change later in the same tick leaves the mtime as it is */
		ps->dir_racy =
		        now_ns() - ((int64_t)st.st_mtim.tv_sec * 1000000000 +
		                    st.st_mtim.tv_nsec) <
		        1000000000;
	}
	ps->scanned_ns = now_ns();
	DIR *d = fdopendir(dfd);
	if (!d) {
		close(dfd);
		return negative_errno();
	}
	char **seen = NULL;
	struct dirent *de;
	while ((de = readdir(d))) {
		size_t len = strlen(de->d_name);
		if (len < 5 || !endswith(de->d_name, ".idx") ||
		    !valid_id(de->d_name, len - 4))
			continue;
		_cleanup_free_ char *id = xstrndup(de->d_name, len - 4);
		seen = strv_push(seen, id);
		if (have_pack(ps, id))
			continue;
		Pack p;
		if (pack_open(dirfd(d), id, &p) == 0)
			add_pack(ps, &p);
	}
	closedir(d);
	/* An index gone is a pack a gc replaced: its fd still reads, but
	 * its objects are elsewhere now (or deleted). */
	size_t k = 0;
	for (size_t i = 0; i < ps->n; i++) {
		if (strv_has(seen, ps->packs[i].id))
			ps->packs[k++] = ps->packs[i];
		else
			pack_clear(&ps->packs[i]);
	}
	ps->n = k;
	strv_free(seen);
	ps->scanned = true;
	return 0;
}

/* eager: a reader, who needs the object: a directory that changed in
 * the tick of the last scan is read again at once. A writer asking
 * whether to store an object reads it again at most every 50 ms (a
 * pin's misses are a million): what it misses meanwhile is stored
 * twice, which gc folds. */
static bool dir_changed(const Store *s, const PackSet *ps, bool eager)
{
	if (!ps->scanned)
		return true;
	if (ps->dir_racy &&
	    (eager || now_ns() - ps->scanned_ns > 50 * 1000 * 1000))
		return true;
	struct stat st;
	if (stat(s->packs, &st) < 0)
		return ps->dir_ino != 0;
	return st.st_ino != ps->dir_ino ||
	       st.st_mtim.tv_sec != ps->dir_mtime.tv_sec ||
	       st.st_mtim.tv_nsec != ps->dir_mtime.tv_nsec;
}

/* (read lock held) The entry of md in pack p, or NULL. */
static const uint8_t *pack_find(const Pack *p, const unsigned char *md)
{
	const uint8_t *fan = p->map + 32;
	uint64_t lo = md[0] ? get_le32(fan + (md[0] - 1) * 4) : 0;
	uint64_t hi = get_le32(fan + md[0] * 4);
	const uint8_t *e = p->map + IDX_HEAD;
	while (lo < hi) {
		uint64_t mid = lo + (hi - lo) / 2;
		int c = memcmp(e + mid * IDX_ENTRY, md, SHA256_LEN);
		if (c == 0)
			return e + mid * IDX_ENTRY;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* (read lock held) */
static bool find_locked(const PackSet *ps, const unsigned char *md,
                        StoreLoc *ret)
{
	/* newest last: look there first, a re-pin's objects are in it */
	for (size_t i = ps->n; i-- > 0;) {
		const Pack *p = &ps->packs[i];
		const uint8_t *e = pack_find(p, md);
		if (!e)
			continue;
		uint64_t off = get_le64(e + SHA256_LEN),
		         size = get_le64(e + SHA256_LEN + 8);
		if (off < 8 || off > p->pack_size || size > p->pack_size - off)
			continue; /* a bad index: not this object */
		if (ret) {
			ret->fd = fcntl(p->fd, F_DUPFD_CLOEXEC, 3);
			ret->offset = off;
			ret->size = size;
			ret->mtime_ns = p->mtime_ns;
			snprintf(ret->pack, sizeof ret->pack, "%s", p->id);
		}
		return true;
	}
	return false;
}

static int find_in_packs(const Store *s, const unsigned char md[SHA256_LEN],
                         StoreLoc *ret, bool eager)
{
	PackSet *ps = s->packset;
	if (ret)
		ret->fd = -1;
	for (int pass = 0; pass < 2; pass++) {
		pthread_rwlock_rdlock(&ps->lock);
		bool found = ps->scanned && find_locked(ps, md, ret);
		bool rescan = !found && dir_changed(s, ps, eager);
		pthread_rwlock_unlock(&ps->lock);
		if (found) {
			if (ret && ret->fd < 0)
				return negative_errno();
			return 1;
		}
		if (!rescan)
			return 0;
		pthread_rwlock_wrlock(&ps->lock);
		int r = scan_locked(s, ps);
		pthread_rwlock_unlock(&ps->lock);
		if (r < 0)
			return r;
	}
	return 0;
}

int store_pack_find(const Store *s, const unsigned char md[SHA256_LEN],
                    StoreLoc *ret)
{
	return find_in_packs(s, md, ret, true);
}

int store_pack_find_new(const Store *s, const unsigned char md[SHA256_LEN])
{
	return find_in_packs(s, md, NULL, false);
}

int store_pack_find_loaded(const Store *s, const unsigned char md[SHA256_LEN])
{
	PackSet *ps = s->packset;
	pthread_rwlock_rdlock(&ps->lock);
	bool found = ps->scanned && find_locked(ps, md, NULL);
	pthread_rwlock_unlock(&ps->lock);
	return found;
}

int store_pack_read(const StoreLoc *loc, void *buf)
{
	size_t done = 0;
	while (done < loc->size) {
		ssize_t k = pread(loc->fd, (char *)buf + done, loc->size - done,
		                  (off_t)(loc->offset + done));
		if (k < 0) {
			if (errno == EINTR)
				continue;
			return negative_errno();
		}
		if (k == 0)
			return -EBADMSG; /* shorter than its index says */
		done += (size_t)k;
	}
	return 0;
}

size_t store_pack_threshold(void)
{
	static size_t v = SIZE_MAX;
	size_t cur = __atomic_load_n(&v, __ATOMIC_RELAXED);
	if (cur != SIZE_MAX)
		return cur;
	const char *e = getenv("XRUN_PACK_THRESHOLD");
	uint64_t n = STORE_PACK_THRESHOLD;
	/* a pin reads files up to STORE_PACK_THRESHOLD whole: no more */
	if (e && streq(e, "0"))
		n = 0;
	else if (e && (parse_size(e, &n) < 0 || n > STORE_PACK_THRESHOLD))
		n = STORE_PACK_THRESHOLD;
	__atomic_store_n(&v, (size_t)n, __ATOMIC_RELAXED);
	return (size_t)n;
}

/* ---- writing a pack ---- */

typedef struct PackEntry {
	unsigned char md[SHA256_LEN];
	uint64_t offset, size;
} PackEntry;

struct PackWriter {
	const Store *s;
	pthread_mutex_t lock;
	char *tmp; /* tmp/obj-…tmp, the pack while it is written */
	int fd;
	uint64_t end;
	PackEntry *entries;
	size_t n, cap;
	/* open addressing on the digest: what this pack holds already */
	uint32_t *slots; /* index + 1; 0: empty */
	size_t n_slots;
	uint64_t kicked; /* writeback started up to here */
	int err;
};

/* A pack's bytes are handed to writeback every so often as they are
 * written, so that the fsync at its commit waits for the last few
 * megabytes only. */
#define PACK_KICK ((uint64_t)8 << 20)

static void writer_rehash(PackWriter *w)
{
	free(w->slots);
	w->n_slots = w->n_slots ? w->n_slots * 2 : 4096;
	w->slots = xcalloc(w->n_slots, sizeof *w->slots);
	for (size_t i = 0; i < w->n; i++) {
		uint64_t h;
		memcpy(&h, w->entries[i].md, 8);
		size_t k = h & (w->n_slots - 1);
		while (w->slots[k])
			k = (k + 1) & (w->n_slots - 1);
		w->slots[k] = (uint32_t)i + 1;
	}
}

int pack_writer_new(const Store *s, PackWriter **ret)
{
	PackWriter *w = xcalloc(1, sizeof *w);
	w->s = s;
	w->fd = -1;
	pthread_mutex_init(&w->lock, NULL);
	int r = store_temp_create(s, &w->tmp, &w->fd);
	if (r < 0) {
		pack_writer_free(w);
		return r;
	}
	r = write_all(w->fd, PACK_MAGIC, 8);
	if (r < 0) {
		pack_writer_free(w);
		return r;
	}
	w->end = 8;
	writer_rehash(w);
	*ret = w;
	return 0;
}

PackWriter *pack_writer_free(PackWriter *w)
{
	if (!w)
		return NULL;
	if (w->fd >= 0)
		close(w->fd);
	if (w->tmp)
		(void)unlink(w->tmp);
	free(w->tmp);
	free(w->entries);
	free(w->slots);
	pthread_mutex_destroy(&w->lock);
	free(w);
	return NULL;
}

/* (lock held) Reserve len bytes for md at the pack's end: its offset
 * in *ret_off, or false when the pack holds md already. */
static bool writer_claim(PackWriter *w, const unsigned char *md, size_t len,
                         uint64_t *ret_off)
{
	uint64_t h;
	memcpy(&h, md, 8);
	size_t k = h & (w->n_slots - 1);
	while (w->slots[k]) {
		if (memcmp(w->entries[w->slots[k] - 1].md, md, SHA256_LEN) == 0)
			return false;
		k = (k + 1) & (w->n_slots - 1);
	}
	if (w->n == w->cap) {
		w->cap = w->cap ? w->cap * 2 : 1024;
		w->entries = xrealloc(w->entries, w->cap * sizeof *w->entries);
	}
	PackEntry *e = &w->entries[w->n];
	memcpy(e->md, md, SHA256_LEN);
	e->offset = w->end;
	e->size = len;
	*ret_off = w->end;
	w->end += len;
	w->slots[k] = (uint32_t)++w->n;
	if (w->n * 2 > w->n_slots)
		writer_rehash(w);
	return true;
}

int pack_writer_add(PackWriter *w, const unsigned char md[SHA256_LEN],
                    const void *data, size_t len)
{
	pthread_mutex_lock(&w->lock);
	int r = w->err;
	if (r == 0 && w->n >= UINT32_MAX / 2)
		r = -EFBIG;
	uint64_t off = 0;
	bool fresh = r == 0 && writer_claim(w, md, len, &off);
	pthread_mutex_unlock(&w->lock);
	if (!fresh)
		return r; /* an error, or twice in one pin */
	/* The bytes outside the lock: each writer has its own range. */
	size_t done = 0;
	while (done < len) {
		ssize_t k = pwrite(w->fd, (const char *)data + done, len - done,
		                   (off_t)(off + done));
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0) {
			r = k < 0 ? negative_errno() : -EIO;
			pthread_mutex_lock(&w->lock);
			if (!w->err)
				w->err = r;
			pthread_mutex_unlock(&w->lock);
			return r;
		}
		done += (size_t)k;
	}
	/* Past the next kick: start writeback of what lies before this
	 * range (ranges below it may still be being written by others;
	 * the fsync at the commit covers whatever this leaves). */
	pthread_mutex_lock(&w->lock);
	uint64_t from = w->kicked;
	bool kick = off >= from + PACK_KICK;
	if (kick)
		w->kicked = off;
	pthread_mutex_unlock(&w->lock);
	if (kick)
		(void)sync_file_range(w->fd, (off_t)from, (off_t)(off - from),
		                      SYNC_FILE_RANGE_WRITE);
	return 0;
}

size_t pack_writer_count(const PackWriter *w)
{
	return w->n;
}

static int cmp_order(const void *a, const void *b, void *data)
{
	const PackEntry *e = data;
	return memcmp(e[*(const uint32_t *)a].md, e[*(const uint32_t *)b].md,
	              SHA256_LEN);
}

/* Write the index of entries[0..n) to fd, in digest order, with its
 * trailing digest, a piece at a time: a million entries' index (48 MB)
 * is never held whole, nor a sorted copy of the entries (the sort is of
 * their numbers). */
static int write_index(int fd, const PackEntry *entries, size_t n,
                       uint64_t pack_size)
{
	enum { PIECE = 64 * 1024 };
	_cleanup_free_ uint32_t *order = xmalloc((n + 1) * sizeof *order);
	for (size_t i = 0; i < n; i++)
		order[i] = (uint32_t)i;
	if (n > 1)
		qsort_r(order, n, sizeof *order, cmp_order, (void *)entries);
	_cleanup_free_ uint8_t *b = xcalloc(1, PIECE + SHA256_LEN);
	memcpy(b, IDX_MAGIC, 8);
	put_le64(b + 8, n);
	put_le64(b + 16, pack_size);
	uint32_t count[256] = {0};
	for (size_t i = 0; i < n; i++)
		count[entries[i].md[0]]++;
	uint32_t sum = 0;
	for (int i = 0; i < 256; i++) {
		sum += count[i];
		put_le32(b + 32 + i * 4, sum);
	}
	_cleanup_hasher_ Hasher *h = hasher_new();
	size_t len = IDX_HEAD;
	int r = 0;
	for (size_t i = 0; i < n && r == 0; i++) {
		if (len + IDX_ENTRY > PIECE) {
			hasher_update(h, b, len);
			r = write_all(fd, b, len);
			len = 0;
		}
		const PackEntry *pe = &entries[order[i]];
		memcpy(b + len, pe->md, SHA256_LEN);
		put_le64(b + len + SHA256_LEN, pe->offset);
		put_le64(b + len + SHA256_LEN + 8, pe->size);
		len += IDX_ENTRY;
	}
	if (r < 0)
		return r;
	hasher_update(h, b, len);
	hasher_finish_raw(TAKE_PTR(h), b + len);
	return write_all(fd, b, len + SHA256_LEN);
}

static int make_packs_dir(const Store *s, bool sync)
{
	if (mkdir(s->packs, 0755) == 0)
		return sync ? fsync_dir(s->objects) : 0;
	if (errno != EEXIST)
		return negative_errno();
	return 0;
}

static int new_pack_id(char id[33])
{
	unsigned char rnd[16];
	if (getentropy(rnd, sizeof rnd) < 0)
		return negative_errno();
	_cleanup_free_ char *hex = hex_encode(rnd, sizeof rnd);
	memcpy(id, hex, 33);
	return 0;
}

/* Put a complete pack (its data in tmp) and then its index into place;
 * with sync durably (the pack, its index and their names), else the
 * caller syncs before and after. */
static int install_pack(const Store *s, const char *tmp, int fd,
                        const PackEntry *entries, size_t n, uint64_t end,
                        bool sync, char ret_id[33])
{
	_cleanup_free_ char *itmp = NULL;
	_cleanup_close_ int ifd = -1;
	int r = store_temp_create(s, &itmp, &ifd);
	if (r < 0)
		return r;
	r = write_index(ifd, entries, n, end);
	if (r == 0 && sync && (fsync(fd) < 0 || fsync(ifd) < 0))
		r = negative_errno();
	if (r == 0)
		r = make_packs_dir(s, sync);
	char id[33];
	if (r == 0)
		r = new_pack_id(id);
	if (r < 0) {
		(void)unlink(itmp);
		return r;
	}
	_cleanup_free_ char *pdst = xasprintf("%s/%s.pack", s->packs, id);
	_cleanup_free_ char *idst = xasprintf("%s/%s.idx", s->packs, id);
	/* Its mtime says now: gc takes a pack without an index for a dead
	 * writer's only when it is older than the grace period. */
	(void)futimens(fd, NULL);
	/* The pack first, its index last: the index is the commit. */
	if (renameat2(AT_FDCWD, tmp, AT_FDCWD, pdst, RENAME_NOREPLACE) < 0 &&
	    (errno != EINVAL || rename(tmp, pdst) < 0)) {
		r = negative_errno();
		(void)unlink(itmp);
		return r;
	}
	if (renameat2(AT_FDCWD, itmp, AT_FDCWD, idst, RENAME_NOREPLACE) < 0 &&
	    (errno != EINVAL || rename(itmp, idst) < 0)) {
		r = negative_errno();
		(void)unlink(itmp);
		(void)unlink(pdst);
		return r;
	}
	memcpy(ret_id, id, 33);
	return sync ? fsync_dir(s->packs) : 0;
}

/* Load a pack this process just wrote (its readers need it now). */
static void load_new(const Store *s, const char *id)
{
	PackSet *ps = s->packset;
	_cleanup_close_ int dfd =
	        open(s->packs, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return;
	pthread_rwlock_wrlock(&ps->lock);
	Pack p;
	if (!have_pack(ps, id) && pack_open(dfd, id, &p) == 0)
		add_pack(ps, &p);
	pthread_rwlock_unlock(&ps->lock);
}

int pack_writer_commit(PackWriter *w, bool sync)
{
	if (w->err)
		return w->err;
	if (w->n == 0) {
		(void)unlink(w->tmp);
		return 0;
	}
	/* no more adds: what they looked up goes before the index is made */
	free(w->slots);
	w->slots = NULL;
	w->n_slots = 0;
	char id[33];
	int r = install_pack(w->s, w->tmp, w->fd, w->entries, w->n, w->end,
	                     sync, id);
	if (r < 0)
		return r;
	free(w->tmp);
	w->tmp = NULL;
	load_new(w->s, id);
	return 0;
}

/* ---- listing, and gc's repack ---- */

static int all_packs(const Store *s)
{
	PackSet *ps = s->packset;
	pthread_rwlock_wrlock(&ps->lock);
	int r = scan_locked(s, ps);
	pthread_rwlock_unlock(&ps->lock);
	return r;
}

/* Object k of pack p, as a listing gives it. */
static StoredObject pack_object(const Pack *p, uint64_t k)
{
	const uint8_t *e = p->map + IDX_HEAD + k * IDX_ENTRY;
	StoredObject o = {.size = get_le64(e + SHA256_LEN + 8),
	                  .mtime_ns = p->mtime_ns,
	                  .packed = true};
	memcpy(o.md, e, SHA256_LEN);
	return o;
}

int store_list_packed(const Store *s, StoredObject **v, size_t *n, size_t *cap)
{
	int r = all_packs(s);
	if (r < 0)
		return r;
	PackSet *ps = s->packset;
	pthread_rwlock_rdlock(&ps->lock);
	for (size_t i = 0; i < ps->n; i++) {
		const Pack *p = &ps->packs[i];
		for (uint64_t k = 0; k < p->n; k++) {
			if (*n == *cap) {
				*cap = *cap ? *cap * 2 : 1024;
				*v = xrealloc(*v, *cap * sizeof **v);
			}
			(*v)[(*n)++] = pack_object(p, k);
		}
	}
	pthread_rwlock_unlock(&ps->lock);
	return 0;
}

int store_verify_packs(const Store *s, char ***ret_bad)
{
	int r = all_packs(s);
	if (r < 0)
		return r;
	PackSet *ps = s->packset;
	char **bad = NULL;
	pthread_rwlock_rdlock(&ps->lock);
	for (size_t i = 0; i < ps->n; i++) {
		const Pack *p = &ps->packs[i];
		unsigned char md[SHA256_LEN];
		Hasher *h = hasher_new();
		hasher_update(h, p->map, p->map_len - SHA256_LEN);
		hasher_finish_raw(h, md);
		if (memcmp(md, p->map + p->map_len - SHA256_LEN, SHA256_LEN) !=
		    0)
			bad = strv_push(bad, p->id);
	}
	pthread_rwlock_unlock(&ps->lock);
	*ret_bad = bad;
	return 0;
}

typedef struct Seen {
	const uint8_t *md;
	size_t pack;
} Seen;

static void mark_duplicates(const PackSet *ps, bool *redo, size_t *n_redo)
{
	uint64_t total = 0;
	for (size_t i = 0; i < ps->n; i++)
		total += ps->packs[i].n;
	if (ps->n < 2 || total == 0)
		return;
	size_t n_slots = 1024;
	while (n_slots < 2 * total)
		n_slots *= 2;
	Seen *slots = xcalloc(n_slots, sizeof *slots);
	for (size_t i = 0; i < ps->n; i++) {
		const Pack *p = &ps->packs[i];
		for (uint64_t k = 0; k < p->n; k++) {
			const uint8_t *md = p->map + IDX_HEAD + k * IDX_ENTRY;
			uint64_t h;
			memcpy(&h, md, 8);
			size_t x = h & (n_slots - 1);
			while (slots[x].md &&
			       memcmp(slots[x].md, md, SHA256_LEN) != 0)
				x = (x + 1) & (n_slots - 1);
			if (!slots[x].md) {
				slots[x] = (Seen){.md = md, .pack = i};
				continue;
			}
			size_t other = slots[x].pack;
			if (other == i)
				continue;
			if (!redo[other]) {
				redo[other] = true;
				(*n_redo)++;
			}
			if (!redo[i]) {
				redo[i] = true;
				(*n_redo)++;
			}
		}
	}
	free(slots);
}

static void free_keeps(bool **keeps, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(keeps[i]);
	free(keeps);
}

/* keep()'s answer for each object of each pack, asked once, into
 * keeps[pack][object]; the packs that lose one are marked in redo.
 * Returns how many are. */
static size_t ask_keep(const PackSet *ps,
                       bool (*keep)(void *, const StoredObject *), void *data,
                       bool *redo, bool **keeps, size_t *ret_removed,
                       uint64_t *ret_freed)
{
	size_t n_redo = 0;
	for (size_t i = 0; i < ps->n; i++) {
		const Pack *p = &ps->packs[i];
		keeps[i] = xcalloc(p->n + 1, sizeof(bool));
		for (uint64_t k = 0; k < p->n; k++) {
			StoredObject o = pack_object(p, k);
			keeps[i][k] = keep(data, &o);
			if (!keeps[i][k]) {
				if (!redo[i])
					n_redo++;
				redo[i] = true;
				(*ret_removed)++;
				*ret_freed += o.size;
			}
		}
	}
	return n_redo;
}

/* Object k of pack p into out, re-hashed on the way: what is copied
 * must still be the object. */
static int copy_packed_object(PackWriter *out, const Pack *p, uint64_t k,
                              char **buf, size_t *buf_len)
{
	const uint8_t *e = p->map + IDX_HEAD + k * IDX_ENTRY;
	StoredObject o = pack_object(p, k);
	StoreLoc loc = {.fd = p->fd,
	                .offset = get_le64(e + SHA256_LEN),
	                .size = o.size};
	if (loc.offset < 8 || loc.offset > p->pack_size ||
	    loc.size > p->pack_size - loc.offset)
		return -EBADMSG;
	if (o.size > *buf_len || !*buf) {
		free(*buf);
		*buf_len = o.size;
		*buf = xmalloc(*buf_len + 1);
	}
	int r = store_pack_read(&loc, *buf);
	if (r < 0)
		return r;
	unsigned char got[SHA256_LEN];
	Hasher *h = hasher_new();
	hasher_update(h, *buf, o.size);
	hasher_finish_raw(h, got);
	if (memcmp(got, o.md, SHA256_LEN) != 0)
		return -EBADMSG;
	uint64_t off;
	if (writer_claim(out, o.md, o.size, &off))
		r = write_all(out->fd, *buf, o.size);
	return r;
}

/* The survivors of the packs to redo, into one new pack, durable (the
 * same object in two packs is written once). */
static int write_survivors(const Store *s, const PackSet *ps, const bool *redo,
                           bool *const *keeps)
{
	PackWriter out = {.s = s, .fd = -1, .end = 8};
	writer_rehash(&out);
	int r = store_temp_create(s, &out.tmp, &out.fd);
	_cleanup_free_ char *buf = NULL;
	size_t buf_len = 0;
	if (r == 0)
		r = write_all(out.fd, PACK_MAGIC, 8);
	for (size_t i = 0; r == 0 && i < ps->n; i++)
		for (uint64_t k = 0; redo[i] && r == 0 && k < ps->packs[i].n;
		     k++)
			if (keeps[i][k])
				r = copy_packed_object(&out, &ps->packs[i], k,
				                       &buf, &buf_len);
	if (r == 0 && out.n > 0) {
		char id[33] = "";
		r = install_pack(s, out.tmp, out.fd, out.entries, out.n,
		                 out.end, true, id);
		if (r == 0) {
			free(out.tmp);
			out.tmp = NULL;
		}
	}
	if (out.fd >= 0)
		close(out.fd);
	if (out.tmp)
		(void)unlink(out.tmp);
	free(out.tmp);
	free(out.entries);
	free(out.slots);
	return r;
}

/* The packs redone go, each index before its pack. Returns how many. */
static size_t remove_redone(const Store *s, const PackSet *ps, const bool *redo)
{
	size_t n = 0;
	for (size_t i = 0; i < ps->n; i++) {
		if (!redo[i])
			continue;
		_cleanup_free_ char *ip =
		        xasprintf("%s/%s.idx", s->packs, ps->packs[i].id);
		_cleanup_free_ char *pp =
		        xasprintf("%s/%s.pack", s->packs, ps->packs[i].id);
		if (unlink(ip) < 0 && errno != ENOENT)
			continue;
		(void)unlink(pp);
		n++;
	}
	(void)fsync_dir(s->packs);
	return n;
}

int store_repack(const Store *s, bool (*keep)(void *, const StoredObject *),
                 void *data, bool dry_run, size_t *ret_removed,
                 uint64_t *ret_freed, size_t *ret_packs)
{
	*ret_removed = 0;
	*ret_freed = 0;
	*ret_packs = 0;
	int r = all_packs(s);
	if (r < 0)
		return r;
	PackSet *ps = s->packset;
	/* gc is the only one that removes packs; this process loads no
	 * new ones meanwhile (the write lock is held throughout). */
	pthread_rwlock_wrlock(&ps->lock);
	bool *redo = xcalloc(ps->n + 1, sizeof(bool));
	bool **keeps = xcalloc(ps->n + 1, sizeof(bool *));
	size_t n_redo =
	        ask_keep(ps, keep, data, redo, keeps, ret_removed, ret_freed);
	/* Packs that hold the same object (writers at once pinned the same
	 * files: each wrote its own) are folded into one. */
	mark_duplicates(ps, redo, &n_redo);
	/* Many packs (one per pin) are folded into one as well: readers
	 * look in each. */
	bool fold = ps->n > 32;
	for (size_t i = 0; fold && i < ps->n; i++)
		if (!redo[i]) {
			redo[i] = true;
			n_redo++;
		}
	/* Only with the survivors durable elsewhere do the old ones go. */
	if (!dry_run && n_redo > 0) {
		r = write_survivors(s, ps, redo, keeps);
		if (r == 0)
			*ret_packs = remove_redone(s, ps, redo);
	}
	free_keeps(keeps, ps->n);
	free(redo);
	pthread_rwlock_unlock(&ps->lock);
	if (r < 0 || dry_run || n_redo == 0)
		return r;
	/* the set is read again at the next lookup */
	pthread_rwlock_wrlock(&ps->lock);
	r = scan_locked(s, ps);
	pthread_rwlock_unlock(&ps->lock);
	return r;
}

int store_sweep_packs(const Store *s, int64_t cutoff, bool dry_run,
                      size_t *ret_n)
{
	DIR *d = opendir(s->packs);
	if (!d)
		return errno == ENOENT ? 0 : negative_errno();
	struct dirent *de;
	while ((de = readdir(d))) {
		size_t len = strlen(de->d_name);
		if (len < 6 || !endswith(de->d_name, ".pack") ||
		    !valid_id(de->d_name, len - 5))
			continue;
		char idx[64];
		snprintf(idx, sizeof idx, "%.*s.idx", (int)(len - 5),
		         de->d_name);
		struct stat st;
		if (fstatat(dirfd(d), idx, &st, AT_SYMLINK_NOFOLLOW) == 0)
			continue;
		/* A pack whose index never came: its writer died, or it is
		 * being put in place right now (young). */
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) <
		            0 ||
		    (int64_t)st.st_mtim.tv_sec * 1000000000 +
		                    st.st_mtim.tv_nsec >=
		            cutoff)
			continue;
		if (dry_run || unlinkat(dirfd(d), de->d_name, 0) == 0)
			(*ret_n)++;
	}
	closedir(d);
	return 0;
}
