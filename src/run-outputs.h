/* A run's -o paths (DESIGN.md §1, §5): each belongs to its run.
 *
 * At start each output's existing content is pinned as the run's
 * *before* tree. The program sees it at the output's path, writable,
 * and its writes go to a space of the run's own,
 * runs/<id>/outputs/.space/<n>: an overlayfs (mounted in the sandbox's
 * user namespace) with a snapshot of the before tree as its lower
 * layer and the space's upper layer, or, where the kernel refuses
 * overlayfs, a copy of the before tree bound there. No other run sees
 * those writes, a parallel one of the same sweep included.
 *
 * After the run the final tree (the before tree with the upper layer's
 * changes: whiteouts delete, opaque directories hide what was below)
 * is pinned, and the record has it, the before tree and what changed.
 * A run then publishes its final tree to the output's path (one run at
 * a time per path: the last to finish wins it); a replay keeps it in
 * runs/<id>/outputs/<n>. Outputs never carry setuid or setgid bits or
 * file capabilities out of a run; FIFOs, sockets, devices and
 * unreadable entries are left out, each named in the record.
 *
 * Paths of outputs are resolved without following symlinks. */
#pragma once

#include <jansson.h>
#include <stdbool.h>

#include "pin.h"
#include "sandbox.h"
#include "spec.h"
#include "store.h"

/* Make path (absolute, normalized) an output: each component must be a
 * directory or missing (made as a directory, through no link), the last
 * may be a regular file. A symlink anywhere is refused: -ELOOP with a
 * message naming what it points to and what to pass instead. */
int output_resolve(const char *path, char **ret_error);

typedef struct RunOutputs RunOutputs;

RunOutputs *run_outputs_free(RunOutputs *o);
static inline void run_outputs_freep(RunOutputs **o)
{
	run_outputs_free(*o);
}
#define _cleanup_run_outputs_ __attribute__((cleanup(run_outputs_freep)))

/* Pin each of outputs' before tree (a replay's: from the store, as
 * spec->output_before says) and make its space under run_dir; with a
 * sandbox, plan the mounts that show it at its path. *ret is set even on
 * failure (its warnings may say something). */
int run_outputs_prepare(Store *s, const RunSpec *spec, char *const *outputs,
                        const char *run_dir, const char *id, Sandbox *sb,
                        RunOutputs **ret, char **ret_error);
char *const *run_outputs_warnings(const RunOutputs *o);

/* After the program: pin each final tree, set rec's "outputs", publish
 * (a run: to the output's path; a replay: to runs/<id>/outputs/<n>) and
 * remove the spaces. What could not be done is a warning. */
void run_outputs_finish(RunOutputs *o, Store *s, PinProgressFn fn, void *data,
                        json_t *rec, char ***warnings);
