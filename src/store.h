/* The store: .xrun/ with runs/<id>/, objects/, cache/ and tmp/ (DESIGN.md
 * §3). Found like git finds .git; created on the first run. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "record.h"

#define STORE_DIRNAME ".xrun"

typedef struct Store {
	char *root;  /* absolute path of the .xrun directory */
	char *runs;  /* root/runs */
	char *cache; /* root/cache */
	char *tmp;   /* root/tmp */
} Store;

/* Walk up from cwd to / looking for a .xrun directory: -ENOENT if none. */
int store_discover(const char *cwd, char **ret_root);
/* Where a new store goes: the top of the git work tree that holds cwd
 * (the directory with .git), else cwd itself. */
char *store_default_root(const char *cwd);
/* Open root; with create, make it and its subdirectories (and report in
 * *ret_created whether it was new). -ENOENT when missing and !create,
 * -ENOTDIR when root is not a directory. */
int store_open(const char *root, bool create, Store **ret, bool *ret_created);
Store *store_free(Store *s);
static inline void store_freep(Store **s)
{
	store_free(*s);
}
#define _cleanup_store_ __attribute__((cleanup(store_freep)))

/* A new run directory runs/<uuid>; mkdir(2) makes it unique even with
 * many writers on many machines. */
int store_new_run(Store *s, char **ret_id, char **ret_dir);

/* Every record of the store, newest first (by times.created, then id).
 * Records that cannot be read are skipped and counted in *ret_bad. */
int store_load_all(Store *s, Record ***ret, size_t *ret_n, size_t *ret_bad);
void records_free(Record **v, size_t n);

/* Turn RUN (full id, unique prefix of >= 4 characters, latest, latest~N,
 * a record file or a run directory) into a record path. s may be NULL
 * when there is no store: then only paths work. On error *ret_error
 * gets a one-line message. */
int store_resolve(Store *s, const char *spec, char **ret_path,
                  char **ret_error);
