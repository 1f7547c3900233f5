/* Annotations: tags and notes that people add to a run after it ran
 * (xrun tag, xrun note; DESIGN.md §11). They live beside the sealed
 * record, in runs/<id>/annotations.json, so that the record itself never
 * changes and its record_sha256 stays valid:
 *
 *   {"schema": "xrun/annotations/1",
 *    "tags": {"KEY": "VALUE", ...},
 *    "notes": [{"time": "RFC 3339 UTC", "text": "..."}, ...]}
 *
 * Writers take an flock(2) on the run directory, read, change and
 * replace the file atomically (write_file_atomic_fd), so two writers at
 * once never lose each other's change. Readers need no lock. A file that
 * does not parse reads as -EBADMSG; a missing file as no annotations. */
#pragma once

#include <jansson.h>
#include <stdbool.h>

#include "record.h"

#define ANNOTATIONS_FILE "annotations.json"
#define ANNOTATIONS_SCHEMA "xrun/annotations/1"
#define ANNOTATIONS_MAX_SIZE (16u << 20)

/* The annotations of the run in run_dir: always an object with "tags"
 * (an object of strings) and "notes" (an array), empty when the run has
 * none. -EBADMSG when the file is not such a document, else -errno. */
int annotations_load(const char *run_dir, json_t **ret);

/* A tag key people can type and a shell can complete: not empty, at most
 * 128 bytes, no '=', no control characters, valid UTF-8. */
bool annotation_key_valid(const char *key);

/* Change the annotations of the run in run_dir under its lock: set every
 * tag of set (an object of strings; may be NULL), remove the keys of
 * unset (may be NULL), append a note with text note at time now_ns (may
 * be NULL). -EINVAL for a bad key or text that is not UTF-8, -EBADMSG
 * when the file there is not one xrun wrote (it is left as it is), else
 * -errno (-EACCES: the run directory belongs to someone else). */
int annotations_update(const char *run_dir, const json_t *set,
                       char *const *unset, const char *note, int64_t now_ns);

/* The run's tags as people see them: the record's own, overlaid by the
 * annotations' (a new reference). */
json_t *annotations_effective_tags(const Record *r, const json_t *ann);

/* Whether the effective tags hold KEY=VALUE (kv as typed after ls --tag;
 * "KEY" alone: the key is there with any value). */
bool annotations_match_tag(const Record *r, const json_t *ann, const char *kv);
