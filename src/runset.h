/* The runs a command over many runs works on (report, compare): the
 * RUNs named, the runs of one sweep, or every run of the store. */
#pragma once

#include <stddef.h>

#include "record.h"
#include "store.h"

/* Records for specs (RUN as store_resolve() reads it: ids, prefixes,
 * latest~N, record files; each run once, in the order given), else the
 * runs of the sweep whose id starts with sweep (in the sweep's order),
 * else every run of s, newest first. s may be NULL when every spec is a
 * record file. Errors: -ENOENT (no such run or sweep), -ENOTUNIQ (an
 * ambiguous sweep prefix), -EBADMSG (a record that cannot be read), and
 * the store's; *ret_error gets a one-line message that says what to do. */
int runset_select(Store *s, char *const *specs, size_t nspecs,
                  const char *sweep, Record ***ret, size_t *ret_n,
                  char **ret_error);

/* The tag "sweep" of r, or NULL. */
const char *runset_sweep_of(const Record *r);
