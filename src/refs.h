/* The objects that records reference (for verify and gc): each record's
 * inputs, outputs and workspace, their manifests and every file those
 * list. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "record.h"
#include "store.h"

/* One referenced object. */
typedef struct ObjectRef {
	unsigned char md[SHA256_LEN];
	bool manifest;
	char *runs;    /* "1234abcd, 9f00aa11": the runs that reference it */
	char *example; /* one path it stands for */
	int state;     /* verify: 0, -ENOENT missing, -EBADMSG corrupt */
	/* A file's: the manifests that list it (positions in refs). A
	 * manifest is read once, however many runs share it: the runs that
	 * need the file are those of its manifests. */
	size_t *parents;
	size_t n_parents;
	bool listed; /* a manifest whose files are in the set */
} ObjectRef;

typedef struct RefSet {
	json_t *index; /* "sha256:…" -> position in refs */
	ObjectRef *refs;
	size_t n, cap;
	char **problems; /* manifests that could not be read */
} RefSet;

RefSet *ref_set_new(void);
RefSet *ref_set_free(RefSet *s);
static inline void ref_set_freep(RefSet **s)
{
	ref_set_free(*s);
}
#define _cleanup_ref_set_ __attribute__((cleanup(ref_set_freep)))

/* Add what rec references; a manifest that is missing or corrupt is
 * itself a reference (state set) and adds a line to problems. */
void ref_set_add_record(RefSet *set, const Store *s, const Record *rec);
bool ref_set_has(const RefSet *set, const unsigned char md[SHA256_LEN]);
/* Every run that needs r ("1234abcd, 9f00aa11"): its own and those of
 * the manifests that list it. */
char *ref_runs(const RefSet *set, const ObjectRef *r);

/* Re-hash objects on all CPUs: states[i] is 0, -ENOENT or -EBADMSG (or
 * another -errno); bytes gets the total read. */
void objects_verify(const Store *s, const unsigned char (*mds)[SHA256_LEN],
                    size_t n, int *states, uint64_t *ret_bytes);
