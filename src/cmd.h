/* The commands. Each cmd_* declares its options in a table and parses
 * them with options.h (`run` and `sweep` through run_options_parse())
 * and returns the process exit status; the cmd-*.c files and xrun.c are
 * the only code that prints. */
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
int cmd_sweep(int argc, char **argv, Context *ctx);
/* "xrun: the run read N files outside its pins (...)": DESIGN.md §8. */
void print_unpinned(char *const *paths);
int cmd_rm(int argc, char **argv, Context *ctx);
int cmd_report(int argc, char **argv, Context *ctx);
int cmd_compare(int argc, char **argv, Context *ctx);
int cmd_metrics(int argc, char **argv, Context *ctx);
int cmd_tag(int argc, char **argv, Context *ctx);
int cmd_note(int argc, char **argv, Context *ctx);
/* Print the file path of run r as it grows (log -f), until r's record is
 * final; returns the exit status (cmd-metrics.c). */
int follow_run_output(const Record *r, const char *path);
int cmd_export(int argc, char **argv, Context *ctx);
int cmd_import(int argc, char **argv, Context *ctx);
int cmd_lineage(int argc, char **argv, Context *ctx);
int cmd_attest(int argc, char **argv, Context *ctx);
int cmd_key(int argc, char **argv, Context *ctx);
/* xrun verify --attestation FILE (cmd-attest.c): an exit status. */
int verify_attestation(Context *ctx, const char *file, const char *key);
/* The signatures of recs with --key FILE or the configured key, each
 * problem a line on stdout; the number of problems. */
size_t verify_signatures(Context *ctx, Record *const *recs, size_t n,
                         const char *key);
int cmd_check(int argc, char **argv, Context *ctx);

/* The options of `run` (cmd-run.c), shared by every command that builds
 * a RunSpec from a command line (`run`, `sweep`). A command adds its own
 * options in its CmdSpec (options.h), with run_options as its shared
 * table; fn sees every option first and returns 0 when it took
 * it, RUN_OPTION_NOT_MINE to leave it to the run options, or an exit
 * status. */
enum { RUN_OPTION_NOT_MINE = 1000, RUN_OPTIONS_HELP = -1 };
struct CmdSpec;
struct CmdOption;
typedef struct RunOptionsExtra {
	const struct CmdSpec *cmd; /* its name, options and usage */
	int (*fn)(int c, const char *arg, void *data);
	void *data;
} RunOptionsExtra;
typedef struct RunSpec RunSpec;
/* Parse argv into spec (its argv and cwd included). Returns 0, an exit
 * status (the error printed), or RUN_OPTIONS_HELP after --help. */
int run_options_parse(int argc, char **argv, Context *ctx, RunSpec *spec,
                      const RunOptionsExtra *extra);

/* The global options (--store, -q, -v, --color), also accepted after
 * the command name: getopt values for a command's option table. */
enum { GLOBAL_OPT_STORE = 900, GLOBAL_OPT_COLOR };
/* Apply global option c (GLOBAL_OPT_*, 'q', 'v'): 0, an exit status
 * (the error printed), or RUN_OPTION_NOT_MINE when c is none. */
int global_option(Context *ctx, int c, const char *arg);

/* The runner's outcome as run, replay and sweep report it: warnings,
 * error, then one line, "xrun: LABEL ID[ of OF] STATUS (exit N) in Ts[:
 * VERDICT]; record PATH" (brief: "xrun: LABEL ID STATUS"), or that the
 * run was recorded as failed or could not be recorded in full. */
typedef struct OutcomeLine {
	const char *label;   /* "run", "replay", "sweep ID [i/n] run" */
	const char *of;      /* a replay's original, or NULL */
	const char *verdict; /* "reproduced", or NULL */
	bool brief;
	bool messages_said; /* report_outcome_messages() was called */
} OutcomeLine;
struct RunOutcome;
/* The warnings and the error alone, and (unpinned) the files the run
 * read outside its pins. */
void report_outcome_messages(const struct RunOutcome *o, bool unpinned);
void report_outcome(const Context *ctx, int r, const struct RunOutcome *o,
                    const OutcomeLine *line);

/* The runs of RUN arguments, or of --sweep ID, or every run of the store
 * without either (compare, report): 0, or an exit status after saying
 * why (none to WHAT included). */
int select_runs(Context *ctx, char **args, size_t n_args, const char *sweep,
                const char *what, Record ***ret, size_t *ret_n);

/* Shared by the commands */
/* What one step of a command returns to go on to the next; any other
 * value is the command's exit status. */
enum { CMD_GO_ON = -1 };
bool want_color(const Context *ctx, int fd);
/* Open ctx->store as the command table's mode says (required: one must
 * exist). Returns 0, with ctx->store left NULL when an optional store does
 * not exist (a RUN given as a record path needs none), or -errno after
 * printing the error. */
int context_find_store(Context *ctx, bool required);
/* Resolve RUN and load it; prints the error. Returns 0 or an exit status. */
int load_run(Context *ctx, const char *spec, Record **ret);
/* One warning line when rec no longer matches its record_sha256 (edited
 * after xrun sealed it); true when so. */
bool warn_if_edited(const Record *rec);
/* One line for each input file of rec that is an output of another run
 * of the store (xrun lineage's parents), with label in the first
 * column, after header (may be NULL) when there is one; nothing without
 * a store. Returns the number of lines. */
size_t print_parent_runs(Context *ctx, const Record *rec, const char *header,
                         const char *label);
/* Flush stdout and report a failed write (git's run_builtin). */
int finish_stdout(int status);
/* What getopt_long refused, for "xrun CMD: ...; see xrun CMD --help":
 * the option as typed, or that -q/-v belong before CMD. */
char *unknown_option_message(const char *cmd, int optopt, const char *arg);
