/* The determinism check (DESIGN.md §9): a replay's RunSpec changed in one
 * factor at a time, and the comparison of two replays' records (outputs,
 * stdout, exit, metric streams, the size of numeric differences).
 * `xrun check` (cmd-check.c) runs the replays through the runner, like
 * `xrun replay`; nothing here runs or prints anything. */
#pragma once

#include <jansson.h>
#include <stdbool.h>

#include "record.h"
#include "spec.h"
#include "store.h"

typedef struct CheckFactor {
	const char *name;
	const char *what; /* what is varied, for --help */
	const char *fix;  /* the fix to try when outputs depend on it */
} CheckFactor;

/* Every factor, in the order they are reported. */
extern const CheckFactor check_factors[];
extern const size_t check_n_factors;
const CheckFactor *check_factor_find(const char *name);

/* Change spec (replay_spec()'s of rec) in factor f alone. 0, with
 * *ret_how saying what was changed ("OMP_NUM_THREADS=1, 1 CPU"), or
 * -EOPNOTSUPP when this factor cannot be varied here, with *ret_why
 * saying why. helper_dir is where xrun's own helper libraries lie
 * (xrun-disorder.so), or NULL. */
int check_factor_apply(const CheckFactor *f, const Record *rec,
                       const char *helper_dir, RunSpec *spec, char **ret_how,
                       char **ret_why);

/* Compare replay b with replay a (both records of this store): a JSON
 * object {"same": bool, "exit": {...}|absent, "stdout": bool,
 * "files": [{"path", "a", "b", "numeric": {...}|absent,
 * "note"}], "metrics": [{"name", "step", "a", "b"}]}. Files whose
 * numbers can be read (.npy, stored .npz members, CSV) get the largest
 * absolute and relative difference. */
json_t *check_compare(Store *s, const Record *a, const Record *b);

/* The numeric difference of two files' bytes, by the name's suffix:
 * {"values", "differing", "max_abs", "max_rel", "where"} or {"note"}
 * saying why they were not compared; NULL for a kind of file that holds
 * no numbers xrun can read. */
json_t *numeric_compare(const char *name, const char *a, size_t na,
                        const char *b, size_t nb);

/* The first step at which two metrics.jsonl streams differ, per metric:
 * a JSON array of {"name", "step", "a", "b"} (a or b null where one
 * stream ended), earliest first. */
json_t *metrics_divergence(const char *text_a, const char *text_b);

/* The check's summary, kept as STORE/checks/<id>.json (written
 * atomically; the directory is made on demand). -errno. */
int check_save(const Store *s, const char *id, const json_t *report);

/* The latest check of each run: {run id: summary}, from
 * STORE/checks/ (unreadable summaries are skipped); an empty object
 * when there are none. */
json_t *check_latest_by_run(const Store *s);

/* A check's result in a few words for listings: "deterministic",
 * "depends on threads, hashseed", "nondeterministic by itself",
 * "interrupted". */
char *check_short(const json_t *summary);

/* Whether the loader refused a preloaded library in replay r (its
 * captured stderr says "cannot be preloaded"): then the factor that
 * preloaded it did not change anything. */
bool check_preload_failed(const Record *r);
