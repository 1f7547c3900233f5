/* What the runner pins for a run (DESIGN.md §3): the workspace (the git
 * work tree of the working directory, or the working directory) and each
 * --input before the program starts, read-only views of them for the
 * sandbox, and the --output paths after it ends; and how the record
 * describes them. Kept apart from runner.c so that the pipeline reads as
 * one sequence. */
#pragma once

#include <jansson.h>

#include "pin.h"
#include "sandbox.h"
#include "spec.h"
#include "store.h"

/* The workspace bound when the spec gives none: 1 GiB. */
#define WORKSPACE_LIMIT_DEFAULT ((uint64_t)1 << 30)

typedef struct RunPins RunPins;

RunPins *run_pins_free(RunPins *p);
static inline void run_pins_freep(RunPins **p)
{
	run_pins_free(*p);
}
#define _cleanup_run_pins_ __attribute__((cleanup(run_pins_freep)))

/* Pin the workspace and the inputs; with sb, build their views under
 * the store's tmp/view-<id>/ and add them to sb's plan. The views are
 * removed by run_pins_free(). On error *ret_error gets one line naming
 * the file at fault; *ret (possibly partial) is still set so that its
 * warnings can be read. outputs are the resolved --output paths; home
 * may be NULL. */
int run_pins_prepare(Store *s, const RunSpec *spec, char *const *outputs,
                     Sandbox *sb, const char *home, const char *id,
                     PinProgressFn fn, void *data, RunPins **ret,
                     char **ret_error);
char *const *run_pins_warnings(const RunPins *p);
/* Fill the record's inputs and source.workspace. */
void run_pins_record(const RunPins *p, json_t *rec);
/* A replay's pins: the record's workspace and inputs (spec->pinned),
 * whose objects must be in s, materialized as views under tmp/view-<id>
 * with mount points for the outputs (at their original paths), and
 * added to sb's plan; run_pins_record() then records them as the
 * original did. Errors as run_pins_prepare(). */
int run_pins_restore(Store *s, const RunSpec *spec, char *const *outputs,
                     Sandbox *sb, const char *id, RunPins **ret,
                     char **ret_error);
/* The record's description of a pinned root. */
json_t *pin_root_json(const PinRoot *r);
