/* Replay (DESIGN.md §5): a record -> the RunSpec that runs it again
 * exactly, the checks before (the objects it needs, this machine against
 * the recorded one) and the comparison after. The run itself goes
 * through the same runner as `run`. */
#pragma once

#include <jansson.h>
#include <sched.h>

#include "record.h"
#include "sandbox.h"
#include "runner.h"
#include "spec.h"
#include "store.h"

/* The RunSpec of a replay of rec: argv, cwd, seed (source replay),
 * params, the recorded environment (redacted values left out unless
 * env_set gives them: *ret_warnings says which), the number of CPUs
 * the original could use, the determinism switches, the record's pinned
 * workspace and inputs, outputs redirected into the replay's run directory, the
 * original's sandbox options and limits. On error *ret_error gets one line. */
int replay_spec(const Record *rec, char *const *env_set, RunSpec **ret,
                char ***ret_warnings, char **ret_error);

/* How the runner makes a replay (runner.h): the pins restored from the
 * store, the outputs at the original's paths but kept in the replay's
 * run directory (never on the host), the record's source.git, and the
 * comparison with the original before the final record is saved.
 * replay_spec() sets it. */
extern const RunStages replay_stages;

/* The replay policy, before anything runs. A record whose record_sha256
 * no longer matches (edited by hand) is refused (-EBADMSG) unless
 * force; *warnings (a strv) gets a line when it is replayed anyway or
 * cannot be checked (an older xrun wrote it). */
int replay_check_record(const Record *rec, bool force, char ***warnings,
                        char **ret_error);
/* A recorded environment that makes the loader load code the record
 * names (LD_PRELOAD, LD_LIBRARY_PATH, LD_AUDIT with a value this
 * environment lacks) is refused (-EPERM) unless force. */
int replay_check_loader(const Record *rec, const RunSpec *spec, bool force,
                        char ***warnings, char **ret_error);
/* The next loader variable (from *pos on, which it advances; start at
 * 0) that spec sets for the program to a value this environment does
 * not have, or NULL when none is left. */
const char *replay_loader_variable(const RunSpec *spec, size_t *pos);

/* Every object the replay needs (the manifests of the workspace and
 * inputs and each file they list) is in s and intact; objects s lacks
 * are copied from origin (the store the record came from, may be
 * NULL) when it has them. -ENOENT (missing) or -EBADMSG (corrupt), with
 * *ret_error naming the object and the path it stands for. */
int replay_check_objects(Store *s, const Store *origin, const Record *rec,
                         char **ret_error);

/* The CPUs a replay's program may use: the original's count, its own
 * CPUs where this process may use them all, else the first ones it may.
 * Returns the count in *ret, fewer than spec->affinity_count when this
 * machine has fewer (then all it has); 0 with *ret untouched when the
 * record says nothing (an older xrun wrote it); -errno. */
int replay_affinity(const RunSpec *spec, cpu_set_t *ret);

/* This machine against the record's host and software sections: one
 * line per difference in *ret (a strv, empty when none). */
int replay_differences(const Record *rec, const RunSpec *spec,
                       const char *cache_dir, char ***ret);
/* The files the original read outside its pins (its "observed" section)
 * whose digest is not the recorded one now: one line each ("'/data/x.csv'
 * changed since run 3f2a91c0 read it"), or NULL. */
char **replay_unpinned_changes(const Record *rec, const char *cache_dir);

/* The record's "verification": every output file's digest and stdout's
 * against the original's (expect: {"id", "outputs", "stdout"}). */
json_t *replay_verification(Store *s, const json_t *expect, const json_t *rec);
/* What replay_spec() puts in spec->verify_against. */
json_t *replay_expectation(const Record *rec);
