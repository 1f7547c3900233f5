/* The commands. Each cmd_* parses its own options and is the only code
 * that prints; it returns the process exit status. */
#pragma once

#include <stdbool.h>

#include "store.h"

typedef struct Context {
	const char *store_arg; /* --store DIR or $XRUN_STORE, or NULL */
	int color;             /* COLOR_AUTO / ALWAYS / NEVER */
	Store *store;          /* opened by main as the command table asks */
	char *cwd;
} Context;

enum { COLOR_AUTO, COLOR_ALWAYS, COLOR_NEVER };

int cmd_run(int argc, char **argv, Context *ctx);
int cmd_show(int argc, char **argv, Context *ctx);
int cmd_ls(int argc, char **argv, Context *ctx);
int cmd_log(int argc, char **argv, Context *ctx);
int cmd_replay(int argc, char **argv, Context *ctx);
int cmd_diff(int argc, char **argv, Context *ctx);
int cmd_verify(int argc, char **argv, Context *ctx);
int cmd_gc(int argc, char **argv, Context *ctx);
int cmd_checkout(int argc, char **argv, Context *ctx);

/* Shared by the commands */
bool want_color(const Context *ctx, int fd);
/* Open the store for reading when one exists; NULL with no error when
 * none does (a RUN given as a record path needs none). */
int context_find_store(Context *ctx, bool required);
/* Resolve RUN and load it; prints the error. Returns 0 or an exit status. */
int load_run(Context *ctx, const char *spec, Record **ret);
/* Flush stdout and report a failed write (git's run_builtin). */
int finish_stdout(int status);
