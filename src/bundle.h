/* Bundles (DESIGN.md §10): runs carried to another store in one tar
 * archive (libarchive), gzip- or zstd-compressed:
 *
 *   xrun-bundle.json             the index: format, runs and the digest
 *                                and size of each of their files, every
 *                                object, the inputs bound by reference
 *   ro-crate-metadata.json       RO-Crate 1.1, Process Run Crate profile
 *   runs/<id>/record.json        and params.json, metrics.jsonl, stdout,
 *                                stderr where the run has them
 *   objects/sha256/ab/cdef…      every object the runs' replay needs
 *
 * The same runs give the same bytes: entries in that order (runs by id,
 * objects by digest), owner 0, mode 0644, mtime 0, no other times, no
 * names of users, and compressed without a time stamp; so the bundle's
 * digest names it. Files of inputs bound by reference (--input-ref) are
 * listed, never carried: their manifests are.
 *
 * Import is all or nothing: every entry is written into a staging
 * directory in the store's tmp/ and hashed, every object checked against
 * its name, every run file against the index, every record against its
 * record_sha256, every manifest parsed and every object a record needs
 * found (in the bundle or the store), before the first object or run
 * moves into place. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "record.h"
#include "store.h"

#define BUNDLE_FORMAT "xrun/bundle/1"
#define BUNDLE_INDEX "xrun-bundle.json"
#define BUNDLE_CRATE "ro-crate-metadata.json"

typedef enum {
	BUNDLE_GZIP,
	BUNDLE_ZSTD,
} BundleCompression;

typedef struct BundleStats {
	size_t runs;
	size_t objects;
	uint64_t object_bytes;
	size_t referenced; /* inputs bound by reference, listed only */
} BundleStats;

/* Write the bundle of recs (their order and duplicates do not matter)
 * from s to fd. -ENOENT / -EBADMSG when an object is missing or
 * corrupt in s, -EIO when the archive cannot be written; *ret_error
 * names what (the object, its path and run). */
int bundle_export(Store *s, Record *const *recs, size_t n,
                  BundleCompression comp, int fd, BundleStats *ret_stats,
                  char **ret_error);

typedef struct BundleImport {
	char **imported;   /* run ids moved into the store */
	char **present;    /* run ids already there, with the same record */
	char **referenced; /* "run 1234abcd reads '/data' by reference
	                      (sha256:…)" */
	size_t objects, objects_new;
} BundleImport;
void bundle_import_done(BundleImport *b);

/* Import the bundle read from fd (name: how to call it in messages)
 * into s. -EBADMSG for a bundle that is damaged, not a bundle, or
 * refers to what it does not hold; -EEXIST when a run of it is in s
 * with another record; other -errno from the store. *ret_error names
 * what is wrong. Nothing lands in s unless everything checks. */
int bundle_import(Store *s, int fd, BundleImport *ret, char **ret_error);
