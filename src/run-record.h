/* The run's record as the runner builds it (doc/run-record.md): the
 * start record from the RunSpec and what capture finds, the final one
 * from what supervising the program learned. It reads the host (through
 * capture.h) and writes nothing but JSON, except write_params() (the
 * run directory's params.json) and the record's signature. */
#pragma once

#include <jansson.h>
#include <stdint.h>

#include "capture.h"
#include "command.h"
#include "record.h"
#include "runner.h"
#include "spec.h"
#include "statcache.h"
#include "supervise.h"
#include "util.h"

/* o->error gets the message, o->exit_status exit_status; returns r
 * (-EIO when r is not negative). */
int run_outcome_fail(RunOutcome *o, int r, int exit_status, const char *fmt,
                     ...) _printf_(4, 5);
#define run_outcome_warn(o, ...) \
	((o)->warnings = strv_pushf((o)->warnings, __VA_ARGS__))

/* Set NAME=VALUE (entry), replacing an existing NAME. */
char **env_put(char **env, const char *entry);
/* The environment as the user decided it: the caller's (a replay's:
 * the recorded one), then -e, minus the names xrun sets itself. This is
 * what the record keeps. */
char **user_environment(const RunSpec *spec);
/* What xrun adds on top (DESIGN.md §1), as an object for the record and
 * to append to env for the program; o (may be NULL) gets a warning for
 * each param too big for the environment. */
json_t *xrun_variables(const RunSpec *spec, const char *id, const char *dir,
                       uint64_t seed, char *const *env, RunOutcome *o);
/* dir/params.json, the params as the program reads them. */
int write_params(const RunSpec *spec, const char *dir);

/* What the start record is made of besides what capture finds. */
typedef struct StartFacts {
	const RunSpec *spec;
	const Command *cmd;
	char *const *user_env; /* user_environment() */
	const char *id;
	uint64_t seed;
	const char *store_cache; /* the store's cache directory */
	StatCache *cache;
	GitProbe *git; /* consumed (finished or freed); NULL: "git": null */
	json_t *xvars; /* xrun_variables() */
	json_t *sandbox;
} StartFacts;
/* The whole start record; fields the program's end decides are null
 * until finalize_record(). On failure o says why. */
int build_start_record(const StartFacts *f, RunOutcome *o, json_t **ret);

/* The program's end into rec's "result", "status" and "times"; o gets
 * the status, exit code and duration. */
void finalize_record(json_t *rec, Supervised *x, const char *dir,
                     RunOutcome *o);
/* The program could not be started after the start record was written:
 * the record still says what happened. exit_code is what xrun exits
 * with: 125 when the sandbox failed, 126/127 when execve did. */
void finalize_not_started(json_t *rec, int exit_code, const char *cause);
/* The captured streams, when the program never ran (the sandbox may
 * still have said something). */
void stdio_results(json_t *rec, Supervised *x);
/* With a signing key configured, each record is signed as it is written
 * (attest.h): runs/<id>/record.sig beside it. */
void sign_record(const Record *rec, RunOutcome *o);
/* A save after the start record: when it fails, the record on disk
 * still reads running, and o->record_lost says so. */
void save_final(Record *rec, RunOutcome *o);
