/* Pinning (DESIGN.md §3): a tree's files hashed, copied into the store
 * and described by a manifest, so that a run sees, and a replay gets
 * back, exactly these bytes.
 *
 * A Pinner takes any number of roots (files or directories). Adding a
 * root walks it with openat/fstatat relative to directory descriptors,
 * never following a symlink (links are recorded as links); running the
 * pinner hashes and stores every file on a pool of one thread per CPU,
 * reusing the stat cache's digest for files whose stat key has not
 * changed, and writes each root's manifest. New objects are written as
 * temp files, made durable together with one syncfs, then renamed into
 * place: an error leaves no partial object behind. Nothing in the
 * user's tree is ever modified. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "manifest.h"
#include "statcache.h"
#include "store.h"

typedef struct PinProgress {
	uint64_t bytes_done, bytes_total;
	uint64_t files_done, files_total;
	double elapsed_s;
	bool finished; /* the last call */
} PinProgress;
/* Called from the pinner's own thread about ten times a second once
 * hashing has taken more than a second, and once at the end if it was
 * ever called. */
typedef void (*PinProgressFn)(void *data, const PinProgress *p);

typedef struct PinRoot {
	char *path;    /* absolute, as given */
	bool is_dir;   /* else a single regular file */
	bool from_git; /* the file list came from git ls-files */
	/* --input-ref: hashed (the stat cache first), never stored; only
	 * its manifest goes into the store */
	bool referenced;
	Manifest *manifest;
	/* the root's digest: the manifest's for a directory, the file's
	 * own for a file */
	unsigned char digest[SHA256_LEN];
	unsigned char manifest_digest[SHA256_LEN];
	uint64_t files, bytes;
	/* paths (relative) left out because they are excluded, and what
	 * they are: a view keeps an empty directory or file there as a
	 * mount point */
	char **holes;
	bool *hole_is_dir;
	size_t n_holes;
	/* with keep_going: entries left out (relative paths) and why
	 * ("a FIFO", "an unreadable directory") */
	char **skipped, **skipped_why;
	/* with strip_setid: files whose setuid/setgid bits or file
	 * capabilities the manifest leaves out, and which ("setuid",
	 * "setgid", "capabilities", comma-separated) */
	char **stripped, **stripped_what;
} PinRoot;

typedef struct Pinner Pinner;

Pinner *pinner_new(Store *s, StatCache *cache);
Pinner *pinner_free(Pinner *p);
static inline void pinner_freep(Pinner **p)
{
	pinner_free(*p);
}
#define _cleanup_pinner_ __attribute__((cleanup(pinner_freep)))

typedef struct PinAddOptions {
	char *const *exclude; /* absolute paths left out of the tree */
	char *const *only;    /* relative files to take (git's list), or NULL
	                         for everything */
	bool skip_dot_git;    /* leave out entries named .git and .xrun */
	bool warn_links;      /* warn of links that point out of the tree */
	uint64_t limit;       /* -EFBIG past this many bytes; 0: none */
	bool reference;       /* hash only: the root's files are not stored */
	bool keep_going;      /* skip what a tree cannot hold (FIFOs,
	                         sockets, devices, unreadable directories
	                         and files), naming each in the root's
	                         skipped list, instead of failing */
	bool strip_setid;     /* record files without their setuid and
	                         setgid bits (and say which had them or
	                         file capabilities) */
} PinAddOptions;

/* Walk path (stat calls only) and queue its files. On error the pinner
 * says what with pinner_error(). */
int pinner_add(Pinner *p, const char *path, const PinAddOptions *opt,
               size_t *ret_index);
/* Hash and store every queued file, write the manifests. */
int pinner_run(Pinner *p, PinProgressFn fn, void *data);
size_t pinner_n_roots(const Pinner *p);
const PinRoot *pinner_root(const Pinner *p, size_t i);
/* After pinner_run(): the stat of each of root i's manifest entries as
 * the pinner took it before hashing (zeros for entries that are not
 * regular files), manifest->n of them (caller frees). */
struct stat *pinner_stats(const Pinner *p, size_t i);
/* After a failure: one line that names the file at fault. */
const char *pinner_error(const Pinner *p);
/* Things worth saying that did not stop the pin (a link that points
 * out of its tree). */
char *const *pinner_warnings(const Pinner *p);

/* Build a tree at dest from the store: a manifest's entries (or, with
 * m == NULL, not allowed) made as directories, symlinks and files.
 *   MATERIALIZE_VIEW: files are hard links to the objects (copies for
 *     executable files, whose mode an object cannot carry, and where a
 *     link is refused); holes get empty mount points. dest must not
 *     exist.
 *   MATERIALIZE_RESTORE: files are copies (reflinks where possible) with
 *     their recorded modes; an existing file at a path is an error
 *     (-EEXIST, *ret_error_path says which) unless force.
 * A copy never has the setuid or setgid bit, nor file capabilities, and
 * its bytes are hashed as they are copied: -EBADMSG (*ret_error_path
 * says which file) when an object's bytes no longer match its name.
 * A root that is a single file has a manifest of one entry: pass
 * single_file and the entry becomes dest itself. */
typedef enum {
	MATERIALIZE_VIEW,
	MATERIALIZE_RESTORE,
} MaterializeMode;
int materialize(const Store *s, const Manifest *m, bool single_file,
                const PinRoot *holes, const char *dest, MaterializeMode mode,
                bool force, char **ret_error_path);
/* A view of a directory's manifest m at dest (MATERIALIZE_VIEW) made
 * from the previous view of the same root: each file that prev (that
 * view's manifest, at prev_dest) has at the same path with the same
 * digest and mode is a hard link to the previous view's file, which
 * views never change; only what changed is made from the store. So a
 * tree of a million files with one changed costs links, not a million
 * files written. *ret_linked: how many were linked. */
int materialize_view_from(const Store *s, const Manifest *m,
                          const PinRoot *holes, const char *dest,
                          const Manifest *prev, const char *prev_dest,
                          size_t *ret_linked);
