/* The home directories in the sandbox (DESIGN.md §4, issue 16): a deny
 * list of secret stores always misses one (~/.npmrc, ~/.pgpass,
 * ~/.cache/huggingface/token, ~/.bash_history), so each home directory
 * (the account's from the password database, $HOME, and /root) is by
 * default an empty tmpfs, read-only once the view is built, with only
 * what the run needs bound into it read-only: the workspace, the
 * outputs (writable), the inputs' views, the software the program runs
 * on (PATH entries under home, a virtualenv, conda or pyenv prefix, the
 * user site-packages) and --ro paths. --host-home keeps the host's home
 * with the secret stores hidden, as before.
 *
 * Also here: the host's unix sockets. A read-only mount does not stop
 * connect(2), and seccomp cannot read the address; so /var/tmp becomes
 * a private tmpfs as /tmp is, and every socket file the kernel lists in
 * /proc/net/unix that the view would still show (through the host root,
 * the working directory, an output, a --ro path) is covered with
 * /dev/null. */
#pragma once

#include <jansson.h>
#include <stdbool.h>

#include "command.h"
#include "sandbox.h"

typedef struct HomePlan {
	bool private_home; /* false with --host-home */
	char **homes;      /* the home directories made private */
	char **shown;      /* what is bound into them (or views go to) */
	char **why;        /* for each shown: workspace, output, input,
	                      software, --ro, pinned (a view) */
	char **ro;         /* --ro paths */
	char **sockets;    /* host socket files covered */
} HomePlan;

HomePlan *home_plan_free(HomePlan *p);
static inline void home_plan_freep(HomePlan **p)
{
	home_plan_free(*p);
}
#define _cleanup_home_plan_ __attribute__((cleanup(home_plan_freep)))

typedef struct HomeRequest {
	const char *home_env; /* the run's $HOME, or NULL */
	const char *cwd;      /* the working directory, NULL for a replay */
	char *const *outputs; /* -o paths (absolute) */
	char *const *inputs;  /* -i paths (absolute) */
	char *const *ro;      /* --ro paths (absolute) */
	const Command *cmd;   /* the program as resolved */
	char *const *env;     /* the program's environment */
	bool host_home;       /* --host-home */
} HomeRequest;

/* The home directories of DESIGN.md §4, real paths of directories that
 * exist, outermost first: the account's, $HOME (home_env) and /root.
 * Never "/" or a system directory (/usr, /etc, /var...), nor one below
 * /proc, /dev or /sys. */
char **home_dirs(const char *home_env);

/* The software under the homes that the program runs on, from the
 * command, its interpreter and the environment (PATH, VIRTUAL_ENV,
 * CONDA_PREFIX, PYENV_ROOT, PYTHONPATH, PYTHONUSERBASE,
 * LD_LIBRARY_PATH): each path mapped to its prefix (a directory holding
 * pyvenv.cfg or conda-meta, a pyenv root), else the directory itself;
 * the user site-packages for a Python program. Paths equal to a home are
 * left out (they would show all of it). */
char **home_software_paths(const Command *cmd, char *const *env,
                           char *const *homes);

/* Add the private homes to the plan (after sandbox_plan_default): a
 * tmpfs over each home, the workspace, outputs and hidden secrets below
 * it applied again, then the software and --ro binds, then /var/tmp's
 * tmpfs and the host's sockets covered. The homes stay writable (mount
 * points for the pinned views are made in them) until
 * sandbox_plan_home_seal(). */
int sandbox_plan_home(Sandbox *sb, const HomeRequest *req, HomePlan **ret);
/* The homes made read-only: call when the plan is otherwise complete.
 * The pinned views bound into a home join p->shown; a home that a later
 * step covers (one inside the workspace, under its pinned view) leaves
 * p->homes: it is shown as that step has it. */
void sandbox_plan_home_seal(Sandbox *sb, HomePlan *p);

/* The record's sandbox.home: {"private": bool, "dirs": [...], "shown":
 * [{"path", "why"}...], "ro": [...], "sockets_hidden": n}. */
json_t *home_plan_to_json(const HomePlan *p);

/* Paths that text (the run's stderr) mentions that exist on the host
 * but lie in a private home outside what was shown: the run tried to
 * open what the sandbox hides. At most max, NULL for none. */
char **home_plan_hidden_mentions(const HomePlan *p, const char *text,
                                 const char *home_env, size_t max);

/* The absolute paths of unix socket files bound on this host (from
 * /proc/net/unix) that exist as sockets and that the plan sb shows
 * (all of them when sb is NULL); at most 4096. */
char **host_socket_paths(const Sandbox *sb);
