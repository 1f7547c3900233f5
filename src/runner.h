/* The one pipeline every run goes through: RunSpec -> start record ->
 * execute -> finalize. `run`, `replay` and `sweep` all end here, so
 * whatever running learns, replaying gets too. */
#pragma once

#include "pin.h"
#include "spec.h"
#include "store.h"

typedef struct RunOutcome {
	char *id;          /* NULL when no run directory was made */
	char *record_path; /* NULL likewise */
	const char *status;
	int exit_code; /* the program's exit code, or -1 */
	int signal;    /* the signal that ended it, or 0 */
	double duration_s;
	double setup_ms; /* from the runner's start until the program ran */
	int exit_status; /* what xrun should exit with */
	char *error;     /* one line when the runner failed, else NULL */
	char **warnings; /* non-fatal problems met on the way */
	json_t *verification; /* a replay's comparison with the original */
	/* A record that could not be finalized: on disk it still reads
	 * running (and shows as abandoned once the launcher is gone). */
	bool record_lost;
	/* Files the traced run read outside its pins (DESIGN.md §8), or
	 * NULL. */
	char **unpinned;
} RunOutcome;

void run_outcome_clear(RunOutcome *o);

/* Where pinning reports its progress (cmd-run.c draws a bar); NULL for
 * none. */
void runner_set_progress(PinProgressFn fn, void *data);
/* Where the supervision says something the user must know at once
 * (a third ^C kills the program); NULL for nothing. */
typedef void (*RunnerNoticeFn)(const char *msg);
void runner_set_notice(RunnerNoticeFn fn);

/* Returns 0 when the program ran (whatever its status), or -errno when
 * xrun failed; o->error and o->exit_status say what and how to exit
 * (125 for xrun's failures, 126/127 when the program cannot be run). */
int runner_run(Store *s, const RunSpec *spec, RunOutcome *o);

/* Variables xrun sets for the program itself (DESIGN.md §1); they are
 * derived from the record, so the recorded environment leaves them out. */
bool env_name_reserved(const char *name);
