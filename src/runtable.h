/* The runs × params × metrics table of report and compare (DESIGN.md
 * §11): its columns, and which of them differ between the runs. Pure
 * functions over records. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "record.h"

typedef struct RunColumn {
	char *key;
	bool differs; /* some two runs have different values (or one none) */
} RunColumn;

typedef struct RunTable {
	RunColumn *params; /* every param key of the runs, sorted */
	size_t nparams;
	RunColumn *metrics; /* every metric of the runs' summaries, sorted */
	size_t nmetrics;
	bool name_differs, status_differs, any_name;
} RunTable;

RunTable *runtable_new(Record *const *v, size_t n);
RunTable *runtable_free(RunTable *t);
static inline void runtable_freep(RunTable **t)
{
	runtable_free(*t);
}
#define _cleanup_runtable_ __attribute__((cleanup(runtable_freep)))

/* A param's value in r, or NULL. */
const json_t *runtable_param(const Record *r, const char *key);
/* The last value of a metric in r's summary, or NULL. */
const json_t *runtable_metric(const Record *r, const char *key);
/* A replay's verdict: "reproduced", "differs", or NULL. */
const char *runtable_verdict(const Record *r);
