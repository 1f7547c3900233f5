/* Resolving the program of a run the way execve(2) and a shell would:
 * PATH search, shebang interpreters (also via /usr/bin/env), and the
 * script an interpreter is given on its command line. */
#pragma once

#include <jansson.h>
#include <stdbool.h>

typedef struct Command {
	char *path;        /* argv[0] resolved (absolute, not realpath'd) */
	char *executable;  /* the ELF the kernel finally runs (absolute) */
	char *script;      /* the script file, or NULL */
	char *interpreter; /* shebang interpreter as written, or NULL */
	char **interpreter_args; /* shebang arguments (NULL-terminated) */
	bool python;             /* executable is a Python interpreter */
} Command;

Command *command_free(Command *c);
static inline void command_freep(Command **c)
{
	command_free(*c);
}
#define _cleanup_command_ __attribute__((cleanup(command_freep)))

/* Look up name like execvp(3): containing '/' relative to cwd, else each
 * entry of path_env (NULL means the default PATH). -ENOENT when nothing
 * is found, -EACCES when found but not executable. */
int find_executable(const char *name, const char *cwd, const char *path_env,
                    char **ret);

/* `xrun train.sh`: a bare name (no '/') that PATH does not give (not
 * there, or not executable there) but
 * that is a regular file in cwd runs as "./name" (in *ret: 1); 0 and
 * *ret untouched otherwise. */
int command_bare_name(const char *name, const char *cwd, const char *path_env,
                      char **ret);

/* Is this the path of a Python interpreter (python, python3.11, pypy3)? */
bool command_is_python(const char *path);

/* -ENOENT, -EACCES as above, -ENOEXEC when a file is neither ELF nor a
 * script with a usable shebang, -ELOOP for too deep interpreter chains. */
int command_resolve(char *const *argv, const char *cwd, const char *path_env,
                    Command **ret);

/* {"argv", "cwd", "executable": {"path","sha256"}, "script": {…}|null,
 *  "interpreter": {"path","args"}|null}; argv and cwd are added by the
 * caller. -errno when a file cannot be hashed. */
typedef struct StatCache StatCache;
int command_to_json(const Command *c, StatCache *cache, json_t **ret);
