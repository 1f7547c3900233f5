/* The one pipeline every run goes through: RunSpec -> start record ->
 * execute -> finalize. `run`, `replay` and `sweep` all end here, so
 * whatever running learns, replaying gets too. */
#pragma once

#include "pin.h"
#include "run-pins.h"
#include "sandbox.h"
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

/* What tells one kind of run from another: a choice of stages, not
 * tests of its fields in the runner. `run` and `sweep` run with
 * run_stages_fresh (a RunSpec whose stages is NULL); a replay with
 * replay_stages (replay.h). */
typedef struct RunStages {
	/* The paths the run may write, from spec->outputs (a strv in
	 * *ret); on failure *ret_why may say why in one line. */
	int (*outputs)(const RunSpec *spec, char ***ret, char **ret_why);
	/* Whether the sandbox binds the host's working directory (a
	 * replay's comes from its pinned workspace instead). */
	bool host_cwd;
	/* Whether git is asked about the working directory (a replay's
	 * record keeps the original's source.git). */
	bool probe_git;
	/* Pin the workspace and inputs, or restore them, planning their
	 * views into sb (NULL with --no-sandbox); run_pins_prepare()'s
	 * errors. */
	int (*pin)(Store *s, const RunSpec *spec, char *const *outputs,
	           Sandbox *sb, const char *home, const char *id, RunPins **ret,
	           char **ret_error);
	/* The sandbox's last step after the store is planned, or NULL. */
	void (*plan_last)(Sandbox *sb);
	/* After the program, before the final record is saved: the
	 * record's "verification" (NULL: none). */
	json_t *(*verify)(Store *s, const RunSpec *spec, const json_t *rec);
} RunStages;

/* `run`: everything found on the host and pinned afresh. */
extern const RunStages run_stages_fresh;
/* A sweep's task (spec->pinned from the sweep): the pins restored. */
extern const RunStages run_stages_pinned;
/* The pin stage of both: spec->pinned restored (run_pins_restore()). */
int runner_pin_restored(Store *s, const RunSpec *spec, char *const *outputs,
                        Sandbox *sb, const char *home, const char *id,
                        RunPins **ret, char **ret_error);

/* Returns 0 when the program ran (whatever its status), or -errno when
 * xrun failed; o->error and o->exit_status say what and how to exit
 * (125 for xrun's failures, 126/127 when the program cannot be run). */
int runner_run(Store *s, const RunSpec *spec, RunOutcome *o);

/* Variables xrun sets for the program itself (DESIGN.md §1); they are
 * derived from the record, so the recorded environment leaves them out. */
bool env_name_reserved(const char *name);
