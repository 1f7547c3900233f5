/* The store: .xrun/ with runs/<id>/, objects/, cache/ and tmp/ (DESIGN.md
 * §3). Found like git finds .git; created on the first run. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "hash.h"
#include "manifest.h"
#include "record.h"

#define STORE_DIRNAME ".xrun"

typedef struct Store {
	char *root;              /* absolute path of the .xrun directory */
	char *runs;              /* root/runs */
	char *cache;             /* root/cache */
	char *tmp;               /* root/tmp */
	char *objects;           /* root/objects/sha256 */
	char *packs;             /* root/objects/packs */
	int objects_fd;          /* O_PATH of objects, or -1: short lookups */
	struct PackSet *packset; /* the packs' indexes, loaded on demand */
} Store;

/* Walk up from cwd to / looking for a .xrun directory: -ENOENT if none. */
int store_discover(const char *cwd, char **ret_root);
/* Where a new store goes: the top of the git work tree that holds cwd
 * (git_find_top(), as the workspace and the source section find it),
 * else cwd itself. */
char *store_default_root(const char *cwd);
/* Open root; with create, make it and its subdirectories (and report in
 * *ret_created whether it was new). -ENOENT when missing and !create,
 * -ENOTDIR when root is not a directory. */
int store_open(const char *root, bool create, Store **ret, bool *ret_created);
Store *store_free(Store *s);
static inline void store_freep(Store **s)
{
	store_free(*s);
}
#define _cleanup_store_ __attribute__((cleanup(store_freep)))

/* Who owns what a launcher leaves in the store while it works: names
 * that carry its launcher_token() (record.h), which gc checks against
 * the processes of this host and boot (DESIGN.md §3):
 *   tmp/run-<id>-<token>      made before runs/<id>, by its launcher; once
 *                             runs/<id> has a record, the record's
 *                             launcher says the same (gc removes it)
 *   tmp/obj-<token>-<hex>.tmp a temp object
 * and, named for a run id (owned by that run's launcher):
 *   tmp/view-<id>/, tmp/views/.new-<id>-<i>/  a run's views being made */
#define STORE_RUN_MARKER "run-"
#define STORE_TEMP_PREFIX "obj-"
char *store_run_marker(const Store *s, const char *id, const char *token);
/* A new run directory runs/<uuid> (its marker in tmp/ first); mkdir(2)
 * makes it unique even with many writers on many machines. */
int store_new_run(Store *s, char **ret_id, char **ret_dir);
/* The run's record is on disk and names its launcher: the marker goes. */
void store_run_started(const Store *s, const char *id);

/* Delete the run directory runs/<id> (xrun rm): moved into tmp/ in one
 * rename, then removed; its objects stay until gc. -ENOENT, -EINVAL
 * for an id that is not a plain name. */
int store_remove_run(Store *s, const char *id);

/* Every record of the store, newest first (by times.created, then id).
 * Records that cannot be read are skipped and counted in *ret_bad. */
int store_load_all(Store *s, Record ***ret, size_t *ret_n, size_t *ret_bad);
void records_free(Record **v, size_t n);

/* Turn RUN (full id, unique prefix of >= 4 characters, latest, latest~N,
 * a record file or a run directory) into a record path. s may be NULL
 * when there is no store: then only paths work. On error *ret_error
 * gets a one-line message. */
int store_resolve(Store *s, const char *spec, char **ret_path,
                  char **ret_error);

/* Objects (DESIGN.md §3, doc/store-format.md): an object is loose,
 * objects/sha256/ab/cdef…, the file's bytes under the SHA-256 of those
 * bytes, mode 0444, never changed once in place; or packed, a range of
 * a pack objects/packs/<id>.pack that its index <id>.idx names. Writers
 * never lock: each writes a temp file in tmp/ and renames it into place
 * (a pack: its data, then its index); an object already there is kept.
 * The path of the object's loose file (whether it is there or not). */
char *store_object_path(const Store *s, const unsigned char md[SHA256_LEN]);
/* Where an object is, for messages: its loose path, or its pack and
 * offset. */
char *store_object_where(const Store *s, const unsigned char md[SHA256_LEN]);
/* 1 when the object is there (loose or packed), 0 when not, -errno when
 * that cannot be told. */
int store_object_exists(const Store *s, const unsigned char md[SHA256_LEN]);
/* Open an object for reading: its loose file (O_NOFOLLOW), or for a
 * packed one a memory file (memfd) holding its bytes, read from offset
 * 0 like any object. */
int store_object_open(const Store *s, const unsigned char md[SHA256_LEN],
                      int *ret_fd);

/* A packed object: an fd of its pack (the caller closes it), where its
 * bytes are, and the pack's id and mtime. */
typedef struct StoreLoc {
	int fd;
	uint64_t offset, size;
	int64_t mtime_ns;
	char pack[33];
} StoreLoc;
/* 1 and *ret (may be NULL) when md is packed, 0 when no pack holds it;
 * packs other writers added since the last look are found too. */
int store_pack_find(const Store *s, const unsigned char md[SHA256_LEN],
                    StoreLoc *ret);
/* The same for a writer asking whether to store md (no StoreLoc): new
 * packs of other writers are looked for at most every 50 ms. */
int store_pack_find_new(const Store *s, const unsigned char md[SHA256_LEN]);
/* 1 when a pack already loaded holds md (no system call), else 0. */
int store_pack_find_loaded(const Store *s, const unsigned char md[SHA256_LEN]);
/* Whether the loose file of md is there: 1, 0, -errno. */
int store_object_exists_loose(const Store *s,
                              const unsigned char md[SHA256_LEN]);
/* Read loc->size bytes of the pack (no hash check) into buf. */
int store_pack_read(const StoreLoc *loc, void *buf);
/* Hash an object's bytes (loose or packed): *ret_md what they hash to,
 * *ret_bytes how many. */
int store_object_hash(const Store *s, const unsigned char md[SHA256_LEN],
                      unsigned char ret_md[SHA256_LEN], uint64_t *ret_bytes);

/* A pack being written by one pin, from many threads: objects appended
 * with pack_writer_add() (an object added twice is stored once), then
 * pack_writer_commit() puts the pack and then its index in place (the
 * caller syncs the file system before the commit, and after it, as for
 * loose objects; with sync the commit fsyncs the pack, its index and
 * their directory itself). The pack's bytes are handed to writeback as
 * they are written (sync_file_range), so that its fsync is short. Freed
 * uncommitted, it leaves nothing. */
typedef struct PackWriter PackWriter;
typedef struct PackSet PackSet;
int pack_writer_new(const Store *s, PackWriter **ret);
PackWriter *pack_writer_free(PackWriter *w);
int pack_writer_add(PackWriter *w, const unsigned char md[SHA256_LEN],
                    const void *data, size_t len);
size_t pack_writer_count(const PackWriter *w);
int pack_writer_commit(PackWriter *w, bool sync);
PackSet *pack_set_new(void);
void pack_set_free(PackSet *ps);
/* Objects below this size go into packs; larger ones stay loose. The
 * environment's XRUN_PACK_THRESHOLD (a size; 0: no packs) overrides it,
 * read once. */
#define STORE_PACK_THRESHOLD (256 * 1024)
size_t store_pack_threshold(void);
/* A new temp file in tmp/ (O_EXCL, mode 0444, open for writing); the
 * caller unlinks it unless it commits it. */
int store_temp_create(const Store *s, char **ret_path, int *ret_fd);
/* Rename a complete temp file, whose data the caller made durable, into
 * place as object md (the fan-out directory is made on demand). */
int store_object_commit(const Store *s, const char *tmp_path,
                        const unsigned char md[SHA256_LEN]);
/* Share in's blocks with out where the file system can (ioctl FICLONE):
 * 0, or -EOPNOTSUPP (and the like) when it cannot. */
int reflink_fd(int in, int out);
/* Store everything readable from fd (from offset 0): reflink where the
 * file system can, else copy; temp file, fsync, rename, fsync of the
 * fan-out directory. */
int store_put_fd(const Store *s, int fd, unsigned char ret_md[SHA256_LEN],
                 uint64_t *ret_size);
int store_put_mem(const Store *s, const void *p, size_t n,
                  unsigned char ret_md[SHA256_LEN]);
/* Object md, which the store lacks, made durably from what write_fn
 * writes into a temp file's fd: fsync, rename into place, fsync of the
 * fan-out directory. The caller hashed the bytes (md) beforehand. */
int store_object_write(const Store *s, const unsigned char md[SHA256_LEN],
                       int (*write_fn)(void *data, int fd), void *data);
/* Read a whole object of at most max bytes and check that its bytes
 * hash to its name: -EBADMSG when they do not. */
int store_object_read(const Store *s, const unsigned char md[SHA256_LEN],
                      size_t max, char **ret, size_t *ret_len);
/* Load and parse the manifest stored as object md (manifest.h):
 * store_object_read()'s errors, and manifest_parse()'s. */
int manifest_load(const Store *s, const unsigned char md[SHA256_LEN],
                  Manifest **ret);
/* Make everything written to the store's file system durable (syncfs),
 * one call for a whole batch of objects. */
int store_sync(const Store *s);

typedef struct StoredObject {
	unsigned char md[SHA256_LEN];
	uint64_t size;
	int64_t mtime_ns; /* a packed object's: its pack index's */
	bool packed;
} StoredObject;
/* Every object under objects/: loose files (names that are not digests
 * are skipped), then every packed one (an object may be listed more
 * than once, loose and in packs). */
int store_list_objects(const Store *s, StoredObject **ret, size_t *ret_n);
/* Append every packed object to *v (of *n, room for *cap). */
int store_list_packed(const Store *s, StoredObject **v, size_t *n, size_t *cap);
/* The packs whose index no longer matches its own digest (their ids). */
int store_verify_packs(const Store *s, char ***ret_bad);
/* gc: rewrite the packs that hold an object keep() says no to, with
 * only the ones it keeps, into one new pack (more than 32 packs are all
 * folded into one); the new pack is durable before an old one goes.
 * *ret_removed / *ret_freed: the objects dropped, *ret_packs: the packs
 * replaced. With dry_run nothing is written. */
int store_repack(const Store *s, bool (*keep)(void *, const StoredObject *),
                 void *data, bool dry_run, size_t *ret_removed,
                 uint64_t *ret_freed, size_t *ret_packs);
/* Packs without an index older than cutoff: a writer that died. */
int store_sweep_packs(const Store *s, int64_t cutoff, bool dry_run,
                      size_t *ret_n);
