/* A cache of file digests keyed on what stat(2) says about the file
 * (device, inode, size, mtime_ns, ctime_ns), so that hashing a file that
 * has not changed costs one stat call. Kept in the store's cache
 * directory; losing it only costs time. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>

#include "hash.h"

typedef struct StatCache StatCache;

/* cache_dir may be NULL: then nothing is cached and every file hashed. */
StatCache *stat_cache_new(const char *cache_dir);
StatCache *stat_cache_free(StatCache *c);
static inline void stat_cache_freep(StatCache **c)
{
	stat_cache_free(*c);
}
#define _cleanup_stat_cache_ __attribute__((cleanup(stat_cache_freep)))

/* "sha256:…" of path's bytes, from the cache when the file's stat key
 * matches, else by reading it. -errno when it cannot be read. */
int stat_cache_hash(StatCache *c, const char *path, char **ret_digest,
                    uint64_t *ret_size);
/* Write the cache back if it changed (temp file + rename; no fsync: a
 * cache lost in a crash is rebuilt). */
int stat_cache_save(StatCache *c);

/* The table for pinned trees, keyed on the stat key alone (device,
 * inode, size, mtime_ns, ctime_ns; no path), so that re-pinning an
 * unchanged tree of many files costs one stat call per file. A flat file
 * of fixed records in the cache directory, loaded on first use. Both
 * calls are safe from many threads. */
bool stat_cache_lookup(StatCache *c, const struct stat *st,
                       unsigned char ret_md[SHA256_LEN], bool *ret_stored);
/* Remember st's digest: only when the file was stable while it was read
 * (before and after are its stat before and after reading) and its
 * ctime is more than two seconds old, as for stat_cache_hash(). */
void stat_cache_remember(StatCache *c, const struct stat *before,
                         const struct stat *after,
                         const unsigned char md[SHA256_LEN], bool storing);
/* stat_cache_remember() in two steps, for a caller that keeps the stat
 * until later (a pin notes its million files after their hashing, from
 * its jobs, rather than hold each twice): whether a file hashed between
 * the stat calls before and after may be remembered, decided when it
 * was hashed; then, any time later, remember it under st (after). */
bool stat_cache_stable(const struct stat *before, const struct stat *after);
void stat_cache_add(StatCache *c, const struct stat *st,
                    const unsigned char md[SHA256_LEN], bool storing);
/* The objects of the entries remembered with storing are in the store
 * now (the pin committed them): noted as seen, as stat_cache_seen()
 * would, so that the next pin needs no look for them either. */
void stat_cache_stored(StatCache *c);

/* Remember now's digest md on the word of a caller that hashed the same
 * file as hashed and knows nothing wrote it since (its link count alone
 * changed: same device, inode, size and mtime; a file whose writer is
 * gone). The caller decides whether the hash was safe from writes in the
 * same clock tick (stat_cache_remember's two seconds). */
void stat_cache_vouch(StatCache *c, const struct stat *hashed,
                      const struct stat *now,
                      const unsigned char md[SHA256_LEN]);

/* Whether a hit's object is in the store, without a stat of it: the
 * table notes, per entry, the gc token under which its object was last
 * seen there (*ret_stored of stat_cache_lookup: the token is still the
 * store's). stat_cache_seen() notes it for st's entry, once the object
 * was found. Objects leave a store only through xrun gc, which calls
 * stat_cache_new_gc_token() before it deletes any: every note is void
 * from then on. The token is read when the table is loaded; a pin
 * loads it after its run directory exists, and gc deletes no object
 * while a live launcher's run directory has no record (cmd-gc.c), so a
 * pin that read the old token never meets a gc deleting under it. A gc
 * on a full file system removes the token instead of renewing it: the
 * next reader makes a new one, and every note is void just the same. */
void stat_cache_seen(StatCache *c, const struct stat *st);
int stat_cache_new_gc_token(const char *cache_dir);
