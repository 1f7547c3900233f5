#include "config.h"

#include "command.h"

#include <fcntl.h>
#include <sys/stat.h>

#include "hash.h"
#include "statcache.h"
#include "util.h"

#define DEFAULT_PATH "/usr/local/bin:/usr/bin:/bin"

Command *command_free(Command *c)
{
	if (!c)
		return NULL;
	free(c->path);
	free(c->executable);
	free(c->script);
	free(c->interpreter);
	strv_free(c->interpreter_args);
	free(c);
	return NULL;
}

static int check_executable(const char *p)
{
	struct stat st;
	if (stat(p, &st) < 0)
		return negative_errno();
	if (S_ISDIR(st.st_mode))
		return -EISDIR;
	if (!S_ISREG(st.st_mode))
		return -EACCES;
	if (access(p, X_OK) < 0)
		return negative_errno();
	return 0;
}

int find_executable(const char *name, const char *cwd, const char *path_env,
                    char **ret)
{
	if (!*name)
		return -ENOENT;
	if (strchr(name, '/')) {
		_cleanup_free_ char *p = path_join(cwd, name);
		int r = check_executable(p);
		if (r < 0)
			return r;
		*ret = TAKE_PTR(p);
		return 0;
	}
	if (!path_env)
		path_env = DEFAULT_PATH;
	int first_error = -ENOENT;
	const char *s = path_env;
	for (;;) {
		size_t n = strcspn(s, ":");
		/* An empty PATH entry means the current directory. */
		_cleanup_free_ char *dir = n ? xstrndup(s, n) : xstrdup(".");
		_cleanup_free_ char *d = path_join(cwd, dir);
		_cleanup_free_ char *p = path_join(d, name);
		int r = check_executable(p);
		if (r == 0) {
			*ret = TAKE_PTR(p);
			return 0;
		}
		if (r == -EACCES && first_error == -ENOENT)
			first_error = r;
		if (!s[n])
			break;
		s += n + 1;
	}
	return first_error;
}

int command_bare_name(const char *name, const char *cwd, const char *path_env,
                      char **ret)
{
	if (!*name || strchr(name, '/'))
		return 0;
	_cleanup_free_ char *found = NULL;
	/* Not runnable from PATH: missing there, or where this user may
	 * not look (root's PATH kept by su). */
	if (find_executable(name, cwd, path_env, &found) == 0)
		return 0;
	_cleanup_free_ char *here = path_join(cwd, name);
	struct stat st;
	if (stat(here, &st) < 0 || !S_ISREG(st.st_mode))
		return 0;
	*ret = xasprintf("./%s", name);
	return 1;
}

/* Read "#!interp arg" like the kernel: the interpreter is the first word,
 * everything after it (trimmed) is one argument. */
static int read_shebang(const char *path, char **ret_interp, char **ret_arg,
                        bool *ret_elf)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return negative_errno();
	char buf[256];
	ssize_t k = read(fd, buf, sizeof buf - 1);
	if (k < 0)
		return negative_errno();
	buf[k] = 0;
	*ret_elf = k >= 4 && memcmp(buf, "\177ELF", 4) == 0;
	*ret_interp = NULL;
	*ret_arg = NULL;
	if (k < 2 || buf[0] != '#' || buf[1] != '!')
		return 0;
	char *line = buf + 2, *nl = strchr(line, '\n');
	if (nl)
		*nl = 0;
	line += strspn(line, " \t");
	size_t n = strcspn(line, " \t");
	if (n == 0)
		return -ENOEXEC;
	char *arg = line + n;
	arg += strspn(arg, " \t");
	size_t alen = strlen(arg);
	while (alen && (arg[alen - 1] == ' ' || arg[alen - 1] == '\t' ||
	                arg[alen - 1] == '\r'))
		alen--;
	*ret_interp = xstrndup(line, n);
	if (alen)
		*ret_arg = xstrndup(arg, alen);
	return 0;
}

bool command_is_python(const char *path)
{
	const char *b = strrchr(path, '/');
	b = b ? b + 1 : path;
	/* python, python3, python3.11, pypy3; not python-config. */
	const char *rest = startswith(b, "python") ? b + 6
	                   : startswith(b, "pypy") ? b + 4
	                                           : NULL;
	return rest && strspn(rest, "0123456789.") == strlen(rest);
}

/* Interpreters whose first non-option argument names a script file. */
static bool takes_script_argument(const char *path)
{
	static const char *const names[] = {
	        "sh",   "bash",    "dash",  "zsh", "ksh",   "perl", "ruby",
	        "node", "Rscript", "julia", "lua", "tclsh", "php",
	};
	const char *b = strrchr(path, '/');
	b = b ? b + 1 : path;
	if (command_is_python(b))
		return true;
	/* The name itself or with a version: bash, perl5.36, not shuf. */
	for (size_t i = 0; i < ELEMENTSOF(names); i++) {
		size_t n = strlen(names[i]);
		if (strneq(b, names[i], n) &&
		    strspn(b + n, "0123456789.") == strlen(b + n))
			return true;
	}
	return false;
}

static char *script_argument(char *const *args, const char *cwd)
{
	for (size_t i = 0; args[i]; i++) {
		const char *a = args[i];
		/* -c and -m run code that is not in a file of its own. */
		if (streq(a, "-c") || streq(a, "-m") || streq(a, "-e") ||
		    streq(a, "--"))
			return NULL;
		if (a[0] == '-')
			continue;
		_cleanup_free_ char *p = path_join(cwd, a);
		struct stat st;
		if (stat(p, &st) == 0 && S_ISREG(st.st_mode))
			return TAKE_PTR(p);
		return NULL;
	}
	return NULL;
}

int command_resolve(char *const *argv, const char *cwd, const char *path_env,
                    Command **ret)
{
	Command *c = xcalloc(1, sizeof *c);
	_cleanup_command_ Command *owned = c;
	int r = find_executable(argv[0], cwd, path_env, &c->path);
	if (r < 0)
		return r;
	_cleanup_free_ char *file = xstrdup(c->path);
	/* The kernel follows up to four levels of interpreters. */
	for (int depth = 0;; depth++) {
		if (depth > 4)
			return -ELOOP;
		_cleanup_free_ char *interp = NULL, *arg = NULL;
		bool elf = false;
		r = read_shebang(file, &interp, &arg, &elf);
		if (r < 0)
			return r;
		if (elf) {
			c->executable = TAKE_PTR(file);
			break;
		}
		if (!interp)
			return -ENOEXEC;
		if (depth == 0) {
			c->script = xstrdup(c->path);
			c->interpreter = xstrdup(interp);
			if (arg)
				c->interpreter_args = strv_push(NULL, arg);
		}
		const char *b = strrchr(interp, '/');
		if (b && streq(b, "/env") && arg) {
			/* "#!/usr/bin/env [-S] python3 -u": the program is
			 * the first word that is not an option of env. */
			_cleanup_free_ char *words = xstrdup(arg);
			const char *prog = NULL;
			for (char *p = words; *p && !prog;) {
				p += strspn(p, " \t");
				char *w = p;
				p += strcspn(p, " \t");
				if (*p)
					*p++ = 0;
				if (*w && w[0] != '-' && !strchr(w, '='))
					prog = w;
			}
			if (!prog)
				return -ENOEXEC;
			free(file);
			file = NULL;
			r = find_executable(prog, cwd, path_env, &file);
			if (r < 0)
				return r;
			continue;
		}
		r = check_executable(interp);
		if (r < 0)
			return r;
		free(file);
		file = xstrdup(interp);
	}
	if (!c->script && takes_script_argument(c->executable))
		c->script = script_argument(argv + 1, cwd);
	c->python = command_is_python(c->executable);
	*ret = TAKE_PTR(owned);
	return 0;
}

static int file_json(const char *path, StatCache *cache, json_t **ret)
{
	_cleanup_free_ char *digest = NULL;
	int r = stat_cache_hash(cache, path, &digest, NULL);
	if (r < 0)
		return r;
	*ret = json_pack("{s:o,s:s}", "path", json_bstr(path), "sha256",
	                 digest);
	return 0;
}

int command_to_json(const Command *c, StatCache *cache, json_t **ret)
{
	json_auto_t *o = json_object();
	json_t *exe, *script = NULL;
	int r = file_json(c->executable, cache, &exe);
	if (r < 0)
		return r;
	json_object_set_new(o, "executable", exe);
	if (c->script) {
		r = file_json(c->script, cache, &script);
		if (r < 0)
			return r;
	}
	json_object_set_new(o, "script", script ? script : json_null());
	if (c->interpreter) {
		json_t *args = json_array();
		for (char **a = c->interpreter_args; a && *a; a++)
			json_array_append_new(args, json_bstr(*a));
		json_object_set_new(o, "interpreter",
		                    json_pack("{s:o,s:o}", "path",
		                              json_bstr(c->interpreter), "args",
		                              args));
	} else
		json_object_set_new(o, "interpreter", json_null());
	*ret = json_incref(o);
	return 0;
}
