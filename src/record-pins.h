/* What a record pinned, walked the same way by export, lineage and
 * attest: the workspace, each input and each output, and every tree a
 * pin carries inside it (an output's before tree), each with its
 * manifest; and the files such a manifest lists, with their digests.
 * No policy and no printing: callers decide what a pin means to them. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "manifest.h"
#include "record.h"
#include "store.h"

typedef enum {
	PIN_WORKSPACE,
	PIN_INPUT,
	PIN_OUTPUT,
} PinRole;

typedef struct PinInfo {
	PinRole role;
	size_t index;         /* position in inputs / outputs */
	const json_t *pinned; /* the record's object (path, kind, manifest…) */
	char *path;           /* its path, decoded */
	bool single;          /* kind "file": the manifest lists one entry */
	bool referenced;      /* --input-ref: files not in the store */
	bool nested;          /* a tree inside a pin (an output's before) */
	unsigned char manifest[SHA256_LEN];
} PinInfo;

/* Call fn for every pin of rec with a valid manifest digest, in record
 * order (workspace, inputs, outputs); with nested, also for the trees
 * pins carry inside them. fn returns 0 to go on or a negative errno to
 * stop (returned). */
typedef int (*PinFn)(const PinInfo *pin, void *data);
int pins_walk(const Record *rec, bool nested, PinFn fn, void *data);

/* Where manifests come from: a store, or a bundle being imported. */
typedef int (*ManifestLoadFn)(void *data, const unsigned char md[SHA256_LEN],
                              Manifest **ret);
int pins_load_from_store(void *store, const unsigned char md[SHA256_LEN],
                         Manifest **ret);

/* Every regular file of pin: its path as the run saw it (absolute), its
 * digest and size. fn as above. */
typedef int (*PinFileFn)(const PinInfo *pin, const char *path,
                         const unsigned char md[SHA256_LEN], uint64_t size,
                         void *data);
int pins_files(const PinInfo *pin, const Manifest *m, PinFileFn fn, void *data);

/* "role" as a word: "workspace", "input", "output". */
const char *pin_role_name(PinRole role);
