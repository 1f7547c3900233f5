/* What differs between two run records (DESIGN.md §6): pure functions
 * from two parsed records to a diff document, and from that document to
 * text. Nothing here prints or opens files; the manifests of pinned
 * trees come through a callback, so that the caller decides which
 * stores to read.
 *
 * The diff document is the JSON that `xrun diff --json` prints
 * (schemas/run-diff.schema.json, doc/run-diff.md): sections in a fixed
 * order, each a list of items {key, change, old, new, ...}. Records are
 * treated as untrusted: a missing section or a field of the wrong type
 * reads as absent, never as an error. */
#pragma once

#include <jansson.h>
#include <stdbool.h>

#include "manifest.h"

#define DIFF_SCHEMA "xrun/run-diff/1"

/* Load the manifest object named digest ("sha256:…") for record side 0
 * (A) or 1 (B). Return 0 and set *ret, or a negative errno when it is
 * not available (the diff then falls back to the trees' digests). */
typedef int (*DiffManifestLoader)(void *userdata, int side, const char *digest,
                                  Manifest **ret);

typedef struct DiffOptions {
	bool all; /* also list what is the same, and the volatile fields */
	DiffManifestLoader load_manifest; /* may be NULL */
	void *userdata;
} DiffOptions;

/* The diff document of records a and b (each a JSON object; anything
 * else reads as an empty record). Never fails. */
json_t *diff_records(const json_t *a, const json_t *b, const DiffOptions *opt);
/* Whether anything that decides a result differs (exit status 1). */
bool diff_differs(const json_t *diff);
/* The document as text for people: sections, aligned columns, a summary
 * line; ANSI colour with color. Control characters and bytes that are
 * not UTF-8 in values are escaped, so a record cannot write to the
 * terminal. */
char *diff_format_text(const json_t *diff, bool color);
