/* RunSpec: everything that decides what a run executes. `run` builds one
 * from the command line, `replay` from a record (replay.c), `sweep` one
 * per combination of its grid (sweep.c). The runner takes nothing else. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "command.h"

typedef enum {
	SEED_GENERATED,
	SEED_OPTION,
	SEED_REPLAY,
} SeedSource;

const char *seed_source_to_string(SeedSource s);

typedef struct RunSpec {
	char **argv;    /* program and arguments, as given */
	char *cwd;      /* absolute working directory */
	char **env_set; /* -e KEY=VALUE, applied over the caller's environment
	                 */
	bool has_seed;
	uint64_t seed;
	SeedSource seed_source;
	json_t *params;      /* merged hyperparameters: {key: typed value} */
	json_t *param_keys;  /* keys given with -p, to catch duplicates */
	char *params_file;   /* --params FILE as given, or NULL */
	char *params_sha256; /* digest of that file's bytes */
	char *name;
	json_t *tags; /* {key: string} */
	char *replay_of;
	/* The sandbox (DESIGN.md §4) and its limits */
	bool no_sandbox; /* --no-sandbox: run on the host */
	bool net;        /* --net: the host's network */
	bool gpu;        /* --gpu: NVIDIA and DRI devices */
	char **outputs;  /* -o: absolute paths the run may write */
	char **inputs;   /* -i: absolute paths pinned and seen read-only */
	/* --input-ref: hashed and recorded like -i, but bound from their
	 * place, not copied into the store */
	char **input_refs;
	char **ro;      /* --ro: absolute host paths shown read-only */
	bool host_home; /* --host-home: the home directories as on the host,
	                   minus the secret stores */
	char **caches;  /* --cache: absolute paths, writable and kept, not
	                   pinned; reads there are observed (DESIGN.md §8) */
	bool no_trace;  /* --no-trace: do not observe the run */
	uint64_t workspace_limit; /* bytes; 0 = the default (1 GiB) */
	uint64_t pids;            /* --pids, 0 = none */
	uint64_t memory;          /* --memory in bytes, 0 = none */
	double timeout_s;         /* --timeout, 0 = none */
	uint64_t max_output;      /* --max-output: bytes captured per stream,
	                           * 0 = all */
	/* --deterministic (DESIGN.md §5): the record says so, and which
	 * variables of env_xrun it set */
	bool deterministic;
	/* Variables xrun sets over the user's environment (the determinism
	 * switches, replay's thread counts): recorded in set_by_xrun, and
	 * only -e overrides them. NAME=VALUE. */
	char **env_xrun;

	/* How the runner makes the run (runner.h): NULL for `run`'s
	 * stages, replay_stages for a replay. */
	const struct RunStages *stages;

	/* What a replay (src/replay.c) gives instead of what `run` finds on
	 * the host; all NULL for `run`. */
	/* The environment to start from instead of the caller's (the
	 * recorded one); env_set still applies over it. */
	char **env_base;
	/* The program as the record resolved it, and the record's command
	 * section: the host's copy of a script may be edited or gone. */
	Command *command;
	json_t *command_json;
	/* {"workspace": pinned|null, "inputs": [pinned…]} from the record:
	 * materialized from the store at their paths instead of pinned
	 * afresh. */
	json_t *pinned;
	/* Outputs are kept under runs/<id>/outputs/<n> and bound at the
	 * paths in outputs (the original's, which are never touched);
	 * output_is_file[n] makes an empty file there, not a directory. */
	bool outputs_redirected;
	bool *output_is_file;
	/* The original's source.git: a replay runs the pinned workspace,
	 * not the current tree, and its record says so. */
	json_t *source_git;
	/* The CPUs the original could use (its record's
	 * threads.affinity): a replay's program gets as many. 0/NULL: not
	 * recorded. */
	int affinity_count;
	char *affinity_list;
	/* A replay's: for each of outputs, the original's before tree (a
	 * pinned object of the record) or null (none recorded: it starts
	 * empty). */
	json_t *output_before;
	/* A replay's: the XRUN_RUN_ID the original's program saw. */
	char *program_run_id;
	/* The original record's outputs and stdout, to compare with after
	 * the run: the record gets "verification". */
	json_t *verify_against;
	/* Knobs `xrun check` turns, one at a time (all off for run and
	 * replay): the sandbox's host name (NULL: "xrun"), the uid the
	 * program has inside the user namespace, its umask, and its
	 * personality without address randomization. */
	char *hostname;
	bool set_inside_uid;
	uid_t inside_uid;
	bool set_umask;
	mode_t umask;
	bool no_aslr;
	/* Host files bound read-only at their own paths, over everything
	 * else (xrun check's helper library, which may lie in a /tmp the
	 * sandbox replaces). */
	char **ro_binds;
} RunSpec;

RunSpec *run_spec_new(void);
RunSpec *run_spec_free(RunSpec *s);
static inline void run_spec_freep(RunSpec **s)
{
	run_spec_free(*s);
}
#define _cleanup_run_spec_ __attribute__((cleanup(run_spec_freep)))

/* Parse a -p VALUE: a JSON scalar if the text is one, else a string. */
json_t *param_value_parse(const char *text);
/* -p KEY=VALUE. -EINVAL without '=' or with a bad key, -EEXIST for a key
 * given twice with -p. */
int run_spec_add_param(RunSpec *s, const char *kv);
/* --params FILE: a JSON object; keys already set with -p are kept (-p
 * overrides the file whatever the order on the command line).
 * -EBADMSG when the file is not JSON, not an object or has a key that is
 * not a param key (s is then as it was), and *ret_error (may be NULL)
 * says which; -errno when it cannot be read. */
int run_spec_load_params(RunSpec *s, const char *path, char **ret_error);
bool param_key_valid(const char *key);
/* KEY=VALUE with a valid KEY: the key (allocated) and where the value
 * starts in kv; -EINVAL for anything else. */
int param_assignment(const char *kv, char **ret_key, const char **ret_value);
/* KEY=VALUE for -e and --tag */
int run_spec_add_env(RunSpec *s, const char *kv);
int run_spec_add_tag(RunSpec *s, const char *kv);
/* The text a param gets in XRUN_PARAM_<KEY>: strings raw, others as JSON
 * (reals in their shortest form, 1.0 still a real). */
char *param_value_to_env(const json_t *v);
/* A param value as the JSON text -p reads back to the same value, reals
 * in their shortest form: 0.1, "a,b", true. */
char *param_json_text(const json_t *v);
/* The environment variable name for a param key: XRUN_PARAM_ + key with
 * every character outside [A-Za-z0-9_] turned into '_'. */
char *param_env_name(const char *key);
/* -ENOTUNIQ when two keys of params (a-b, a_b, a.b) have the same
 * variable name: *ret_a and *ret_b are the two keys, in strcmp order. */
int param_keys_collide(const json_t *params, const char **ret_a,
                       const char **ret_b);
/* The most bytes one NAME=VALUE entry of the environment may hold
 * (MAX_ARG_STRLEN, 32 pages, with its NUL): a longer one makes execve
 * fail with E2BIG. */
#define ENV_ENTRY_MAX (32 * 4096 - 1)
/* --deterministic: CUBLAS_WORKSPACE_CONFIG=:4096:8, TF_DETERMINISTIC_OPS=1,
 * NVIDIA_TF32_OVERRIDE=0, TZ=UTC and the three thread counts (OpenMP,
 * OpenBLAS, MKL) at cpus, into env_xrun; PYTHONHASHSEED comes from the
 * seed as for every run. */
void run_spec_set_deterministic(RunSpec *s, long cpus);
/* The run's seed: the one given, else one drawn from getrandom(2). */
int run_spec_seed(const RunSpec *s, uint64_t *ret);
/* PATH made absolute against cwd, with ".", ".." and repeated slashes
 * resolved lexically (the path need not exist). */
char *path_normalize(const char *cwd, const char *path);
/* -o PATH: -EINVAL for "" or "/", -EEXIST when given twice. */
/* --cache PATH: -EINVAL for "/", -EEXIST when given twice. */
int run_spec_add_cache(RunSpec *s, const char *path, const char *cwd);
int run_spec_add_output(RunSpec *s, const char *path, const char *cwd);
/* -i PATH: likewise (also -EEXIST when given with --input-ref). */
int run_spec_add_input(RunSpec *s, const char *path, const char *cwd);
/* --input-ref PATH: likewise. */
int run_spec_add_input_ref(RunSpec *s, const char *path, const char *cwd);
