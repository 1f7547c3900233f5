/* Lineage (DESIGN.md §10): runs linked by equal file digests. Run P is
 * a parent of run C when a file of C's inputs or workspace (or one the
 * tracer saw it read, where the record says) has the
 * digest of a file of P's outputs and P had finished when C started.
 * Only digests, from the records and the manifests of one store: no
 * server, no names. Empty files link nothing (every run has some). */
#pragma once

#include <jansson.h>
#include <stdbool.h>

#include "record.h"
#include "store.h"

typedef struct Lineage Lineage;

/* Index every record of s (records that cannot be read are skipped,
 * manifests that cannot be loaded leave their pin out). With
 * parents_only, only what runs wrote (enough for lineage_parents(),
 * without reading each run's workspace manifest). */
int lineage_new(Store *s, bool parents_only, Lineage **ret);
Lineage *lineage_free(Lineage *l);
static inline void lineage_freep(Lineage **l)
{
	lineage_free(*l);
}
#define _cleanup_lineage_ __attribute__((cleanup(lineage_freep)))

/* The direct parents of rec (which need not be in the store): an array
 * of {"run", "name", "replay_of", "files": [{"digest", "output",
 * "input"}]}, by run id. */
json_t *lineage_parents(Lineage *l, const Record *rec);

/* The whole lineage of run id, both ways, transitively:
 *   {"run": id,
 *    "runs": {id: {"name", "status", "argv", "started", "finished",
 *                  "replay_of"}},
 *    "upstream":   [{"from", "to", "files": [{"digest", "output",
 *                                             "input"}]}],
 *    "downstream": [...the same]}
 * Edges run from the run whose output was read to the run that read
 * it, sorted by (from, to). NULL when id is not in the index. */
json_t *lineage_graph(Lineage *l, const char *id);
