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
/* The tag "sweep_index" of r, or -1. */
long runset_sweep_index(const Record *r);
/* Keep, of the *n records v, the runs of the one sweep whose id starts
 * with prefix, in the sweep's order (the others freed, *n updated), and
 * that sweep's id in *ret_id. -ENOENT when no sweep matches (for the
 * caller to say where to look), -ENOTUNIQ with *ret_error when more than
 * one does; v is left as it was on either. */
int runset_keep_sweep(Record **v, size_t *n, const char *prefix, char **ret_id,
                      char **ret_error);
