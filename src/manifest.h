/* A manifest lists every entry of a pinned directory: its path relative
 * to the directory, kind, mode, size, digest and symlink target. Its
 * text is canonical (one form per tree), so the SHA-256 of that text is
 * the directory's digest, and it is stored as an object like any file.
 *
 * The format, one entry per line, fields separated by one TAB:
 *
 *   xrun-manifest 1
 *   KIND MODE SIZE DIGEST PATH [TARGET]
 *
 * KIND is f (regular file), d (directory) or l (symlink); MODE four
 * octal digits (the permission bits, 07777); SIZE decimal bytes (a
 * link's: the length of its target; a directory's: 0); DIGEST
 * "sha256:<hex>" for a file and "-" otherwise; PATH relative, '/'
 * separated, without empty, "." or ".." components; TARGET only for a
 * link. In PATH and TARGET a backslash, TAB, newline and every other
 * byte below 0x20 or 0x7f are escaped as \\, \t, \n and \xHH; other
 * bytes (UTF-8 or not) are themselves. Lines are sorted by the bytes of
 * the unescaped PATH; every entry's parent directory is listed as a d
 * entry before it. Manifests come from the store, which other users may
 * write: manifest_parse() treats its input as hostile. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "hash.h"

#define MANIFEST_HEADER "xrun-manifest 1\n"
/* A manifest larger than this is refused rather than parsed. */
#define MANIFEST_MAX ((size_t)1 << 30)

typedef enum {
	ENTRY_FILE = 'f',
	ENTRY_DIR = 'd',
	ENTRY_LINK = 'l',
} EntryKind;

typedef struct ManifestEntry {
	char *path;
	char *target; /* links only */
	EntryKind kind;
	mode_t mode; /* & 07777 */
	uint64_t size;
	unsigned char digest[SHA256_LEN]; /* files only */
} ManifestEntry;

typedef struct Manifest {
	ManifestEntry *entries;
	size_t n, cap;
	/* the entries' paths and targets, packed end to end in chunks (a
	 * million paths cost their bytes, not a malloc each): owned by the
	 * manifest, never freed one by one */
	char **chunks;
	size_t n_chunks;
	char *chunk_at;
	size_t chunk_left, chunk_size;
} Manifest;

Manifest *manifest_new(void);
Manifest *manifest_free(Manifest *m);
static inline void manifest_freep(Manifest **m)
{
	manifest_free(*m);
}
#define _cleanup_manifest_ __attribute__((cleanup(manifest_freep)))

/* Append an entry (copies path and target); returns it so that a file's
 * digest can be filled in later. */
ManifestEntry *manifest_add(Manifest *m, EntryKind kind, const char *path,
                            mode_t mode, uint64_t size, const char *target);
/* Sort by path; -EEXIST when a path is listed twice, -EINVAL when an
 * entry's parent is not a listed directory. */
int manifest_sort(Manifest *m);
/* The canonical text (sorted first with manifest_sort). */
int manifest_format(const Manifest *m, char **ret, size_t *ret_len);
/* The same text, given to fn a piece at a time (about 64 KiB), never
 * whole: fn's error stops it. */
int manifest_format_each(const Manifest *m,
                         int (*fn)(void *data, const char *p, size_t n),
                         void *data);
/* Parse untrusted text: -EBADMSG for anything that is not a canonical
 * manifest; *ret_line (may be NULL) gets the 1-based line at fault. */
int manifest_parse(const char *text, size_t len, Manifest **ret,
                   size_t *ret_line);
/* The entry at path, or NULL (binary search; the manifest is sorted). */
const ManifestEntry *manifest_find(const Manifest *m, const char *path);
uint64_t manifest_files(const Manifest *m);
uint64_t manifest_bytes(const Manifest *m);
/* A relative path as a manifest accepts it. */
bool manifest_path_valid(const char *path);
