#include "config.h"

#include "sandbox-home.h"

#include <ctype.h>
#include <fcntl.h>
#include <glob.h>
#include <pwd.h>
#include <sys/stat.h>

#include "util.h"

HomePlan *home_plan_free(HomePlan *p)
{
	if (!p)
		return NULL;
	strv_free(p->homes);
	strv_free(p->shown);
	strv_free(p->why);
	strv_free(p->ro);
	strv_free(p->sockets);
	free(p);
	return NULL;
}

static bool below_or_at(const char *path, const char *top)
{
	size_t n = strlen(top);
	if (streq(top, "/"))
		return path[0] == '/';
	return strneq(path, top, n) && (path[n] == '/' || path[n] == 0);
}

static bool is_dir(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static bool exists(const char *path)
{
	struct stat st;
	return lstat(path, &st) == 0;
}

/* Directories a home must neither be nor hold: the system itself. */
static const char *const system_dirs[] = {
        "/usr",   "/etc", "/bin", "/sbin", "/lib",   "/lib32",
        "/lib64", "/opt", "/var", "/proc", "/dev",   "/sys",
        "/tmp",   "/run", "/srv", "/mnt",  "/media", "/boot",
};

static bool usable_home(const char *real)
{
	if (streq(real, "/"))
		return false;
	for (size_t i = 0; i < ELEMENTSOF(system_dirs); i++)
		if (below_or_at(system_dirs[i], real))
			return false;
	static const char *const never_below[] = {"/proc", "/dev", "/sys"};
	for (size_t i = 0; i < ELEMENTSOF(never_below); i++)
		if (below_or_at(real, never_below[i]))
			return false;
	return true;
}

static int cmp_len(const void *a, const void *b)
{
	size_t x = strlen(*(char *const *)a), y = strlen(*(char *const *)b);
	return x < y ? -1 : x > y;
}

char **home_dirs(const char *home_env)
{
	const char *cand[3] = {NULL, home_env, "/root"};
	/* The account lookup may go through NSS: once a run. */
	struct passwd *pw = getpwuid(getuid());
	_cleanup_free_ char *pw_dir =
	        pw && pw->pw_dir ? xstrdup(pw->pw_dir) : NULL;
	cand[0] = pw_dir;
	char **v = xcalloc(1, sizeof(char *));
	for (size_t i = 0; i < ELEMENTSOF(cand); i++) {
		if (!cand[i] || cand[i][0] != '/')
			continue;
		_cleanup_free_ char *real = realpath(cand[i], NULL);
		if (!real || !is_dir(real) || !usable_home(real) ||
		    strv_has(v, real))
			continue;
		v = strv_push(v, real);
	}
	sort_v(v, strv_length(v), sizeof(char *), cmp_len);
	return v;
}

static const char *home_of(char *const *homes, const char *path)
{
	for (char *const *h = homes; h && *h; h++)
		if (below_or_at(path, *h))
			return *h;
	return NULL;
}

/* A Python installation: PREFIX/bin and PREFIX/lib/pythonX.Y (uv's and
 * pyenv's interpreters, a source build in ~/opt). Not ~/.local, which
 * holds much else (~/.local/share). */
static bool python_prefix(const char *p, const char *home)
{
	_cleanup_free_ char *local = path_join(home, ".local");
	_cleanup_free_ char *bin = path_join(p, "bin");
	if (streq(p, local) || !is_dir(bin))
		return false;
	_cleanup_free_ char *pat = path_join(p, "lib/python3*");
	glob_t g;
	if (glob(pat, GLOB_ONLYDIR, NULL, &g) != 0)
		return false;
	globfree(&g);
	return true;
}

/* The prefix that path belongs to: the nearest directory above it (or
 * it) that is a virtualenv (pyvenv.cfg), a conda prefix (conda-meta), a
 * pyenv root (libexec/pyenv, or $PYENV_ROOT) or a Python installation
 * (bin/ and lib/python3.*), below its home; else NULL. */
static char *software_prefix(const char *path, const char *home,
                             const char *pyenv_root)
{
	_cleanup_free_ char *p = xstrdup(path);
	while (strlen(p) > strlen(home)) {
		static const char *const marks[] = {"pyvenv.cfg", "conda-meta",
		                                    "libexec/pyenv"};
		for (size_t i = 0; i < ELEMENTSOF(marks); i++) {
			_cleanup_free_ char *m = path_join(p, marks[i]);
			if (exists(m))
				return TAKE_PTR(p);
		}
		if (pyenv_root && streq(p, pyenv_root))
			return TAKE_PTR(p);
		if (python_prefix(p, home))
			return TAKE_PTR(p);
		char *slash = strrchr(p, '/');
		if (!slash || slash == p)
			break;
		*slash = 0;
	}
	return NULL;
}

/* A virtualenv's base interpreter: "home = DIR" in pyvenv.cfg. */
static char *venv_base(const char *prefix)
{
	_cleanup_free_ char *cfg = path_join(prefix, "pyvenv.cfg");
	_cleanup_free_ char *text = NULL;
	if (read_full_file(cfg, 1 << 16, &text, NULL) < 0)
		return NULL;
	for (char *line = text, *next; line && *line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = 0;
		line += strspn(line, " \t");
		if (!startswith(line, "home"))
			continue;
		char *eq = strchr(line, '=');
		if (!eq)
			continue;
		eq++;
		eq += strspn(eq, " \t");
		size_t n = strcspn(eq, " \t\r");
		eq[n] = 0;
		return *eq == '/' ? xstrdup(eq) : NULL;
	}
	return NULL;
}

typedef struct Found {
	int depth; /* venvs of venvs: a cycle of pyvenv.cfg ends here */
	char **paths;
	char *const *homes;
	const char *pyenv_root;
} Found;

static void add_software(Found *f, const char *path, bool is_dir_entry);
static void add_software_at(Found *f, const char *path, bool dir_entry);

static void add_one(Found *f, const char *p)
{
	const char *home = home_of(f->homes, p);
	if (!home || streq(p, home) || strv_has(f->paths, p))
		return;
	f->paths = strv_push(f->paths, p);
}

static void add_software(Found *f, const char *path, bool dir_entry)
{
	if (!path || path[0] != '/' || f->depth > 4)
		return;
	f->depth++;
	add_software_at(f, path, dir_entry);
	f->depth--;
}

static void add_software_at(Found *f, const char *path, bool dir_entry)
{
	/* The path as named (a shim, a venv's bin/python link) and where
	 * it leads (the interpreter it links to). */
	_cleanup_free_ char *real = realpath(path, NULL);
	const char *both[] = {path, real};
	for (size_t i = 0; i < ELEMENTSOF(both); i++) {
		const char *p = both[i];
		if (!p || (i == 1 && streq(p, path)))
			continue;
		const char *home = home_of(f->homes, p);
		if (!home) {
			/* A virtualenv outside the homes (the project's
			 * .venv) whose base interpreter is in one. */
			_cleanup_free_ char *up = xstrdup(p);
			for (int level = 0; level < 3; level++) {
				_cleanup_free_ char *base = venv_base(up);
				if (base && !below_or_at(base, up)) {
					add_software(f, base, true);
					break;
				}
				char *slash = strrchr(up, '/');
				if (!slash || slash == up)
					break;
				*slash = 0;
			}
			continue;
		}
		_cleanup_free_ char *prefix =
		        software_prefix(p, home, f->pyenv_root);
		if (prefix) {
			if (strv_has(f->paths, prefix))
				continue;
			add_one(f, prefix);
			_cleanup_free_ char *base = venv_base(prefix);
			if (base && !below_or_at(base, prefix))
				add_software(f, base, true);
			continue;
		}
		if (dir_entry) {
			add_one(f, p);
			continue;
		}
		/* A file: the directory it is in (its neighbours are its
		 * libraries or helpers more often than not). */
		_cleanup_free_ char *dir = xstrdup(p);
		char *slash = strrchr(dir, '/');
		if (slash && slash != dir) {
			*slash = 0;
			add_one(f, dir);
		}
	}
}

static void add_path_list(Found *f, const char *list)
{
	if (!list)
		return;
	_cleanup_free_ char *copy = xstrdup(list);
	for (char *e = copy, *next; e; e = next) {
		next = strchr(e, ':');
		if (next)
			*next++ = 0;
		if (*e == '/' && is_dir(e))
			add_software(f, e, true);
	}
}

static bool pythonish(const char *path)
{
	if (!path)
		return false;
	const char *base = strrchr(path, '/');
	base = base ? base + 1 : path;
	return strstr(base, "python") != NULL;
}

char **home_software_paths(const Command *cmd, char *const *env,
                           char *const *homes)
{
	Found f = {.homes = homes,
	           .pyenv_root = strv_env_get(env, "PYENV_ROOT")};
	static const char *const prefixes[] = {"VIRTUAL_ENV", "CONDA_PREFIX",
	                                       "PYENV_ROOT", "PYTHONUSERBASE"};
	for (size_t i = 0; i < ELEMENTSOF(prefixes); i++) {
		const char *v = strv_env_get(env, prefixes[i]);
		if (v && *v == '/' && is_dir(v))
			add_software(&f, v, true);
	}
	add_path_list(&f, strv_env_get(env, "PATH"));
	add_path_list(&f, strv_env_get(env, "PYTHONPATH"));
	add_path_list(&f, strv_env_get(env, "LD_LIBRARY_PATH"));
	bool python = false;
	if (cmd) {
		add_software(&f, cmd->path, false);
		add_software(&f, cmd->executable, false);
		add_software(&f, cmd->interpreter, false);
		python = cmd->python || pythonish(cmd->path) ||
		         pythonish(cmd->executable) ||
		         pythonish(cmd->interpreter);
		for (char **a = cmd->interpreter_args; a && *a; a++)
			python |= pythonish(*a);
	}
	/* pip install --user: ~/.local/lib/pythonX.Y (site.USER_SITE),
	 * without asking the interpreter (a process per run). */
	for (char *const *h = homes; python && h && *h; h++) {
		_cleanup_free_ char *pat = path_join(*h, ".local/lib/python*");
		glob_t g;
		if (glob(pat, GLOB_ONLYDIR, NULL, &g) != 0)
			continue;
		for (size_t i = 0; i < g.gl_pathc; i++)
			add_one(&f, g.gl_pathv[i]);
		globfree(&g);
	}
	/* One bind for a path and what lies below it. */
	char **out = xcalloc(1, sizeof(char *));
	sort_v(f.paths, strv_length(f.paths), sizeof(char *), cmp_len);
	for (char **p = f.paths; p && *p; p++) {
		bool covered = false;
		for (char **q = out; *q && !covered; q++)
			covered = below_or_at(*p, *q);
		if (!covered)
			out = strv_push(out, *p);
	}
	strv_free(f.paths);
	return out;
}

/* Recorded: what is bound into a home, and every --ro. */
static void show(HomePlan *p, const char *path, const char *why)
{
	if (!home_of(p->homes, path) && !streq(why, "--ro"))
		return;
	for (size_t i = 0; p->shown && p->shown[i]; i++)
		if (streq(p->shown[i], path))
			return;
	p->shown = strv_push(p->shown, path);
	p->why = strv_push(p->why, why);
}

/* A tmpfs over dir, inserted at the end of the plan, with the steps
 * before it that bind or hide something below dir applied again above
 * it (the working directory, outputs, hidden secrets). */
static void private_dir(Sandbox *sb, const char *dir, mode_t mode)
{
	size_t before = sb->n_mounts;
	sandbox_add_mount(sb, MOUNT_TMPFS, NULL, dir, mode);
	for (size_t i = 0; i < before; i++) {
		MountStep m = sb->mounts[i];
		if (m.kind != MOUNT_RO_BIND && m.kind != MOUNT_RW_BIND &&
		    m.kind != MOUNT_DEV_BIND && m.kind != MOUNT_HIDE &&
		    m.kind != MOUNT_RO_LAYERS)
			continue;
		if (below_or_at(m.dest, dir))
			sandbox_add_step(sb, &m);
	}
}

/* Does the plan show the host's path: is the last step that covers it
 * a bind of the host's own tree there (not a tmpfs, a hidden path, a
 * pinned view)? */
static bool plan_shows(const Sandbox *sb, const char *path)
{
	const MountStep *best = NULL;
	for (size_t i = 0; i < sb->n_mounts; i++) {
		const MountStep *m = &sb->mounts[i];
		if (m->kind == MOUNT_SYMLINK || m->kind == MOUNT_REMOUNT_RO)
			continue;
		if (below_or_at(path, m->dest) &&
		    (!best || strlen(m->dest) >= strlen(best->dest)))
			best = m;
	}
	return best &&
	       (best->kind == MOUNT_RO_BIND || best->kind == MOUNT_RW_BIND ||
	        best->kind == MOUNT_DEV_BIND) &&
	       best->source && streq(best->source, best->dest);
}

char **host_socket_paths(const Sandbox *sb)
{
	char **v = xcalloc(1, sizeof(char *));
	_cleanup_fclose_ FILE *f = fopen("/proc/net/unix", "re");
	if (!f)
		return v;
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	size_t count = 0;
	/* "Num RefCount Protocol Flags Type St Inode Path": the path is
	 * the eighth field, absent for unnamed and '@' for abstract
	 * sockets (which live in the network namespace: the run's own). */
	while ((n = getline(&line, &cap, f)) > 0) {
		if (line[n - 1] == '\n')
			line[n - 1] = 0;
		char *p = line;
		for (int field = 0; field < 7 && p; field++) {
			p += strspn(p, " ");
			p = strchr(p, ' ');
		}
		if (!p)
			continue;
		p += strspn(p, " ");
		if (*p != '/' || below_or_at(p, "/proc") ||
		    (sb && !plan_shows(sb, p)) || strv_has(v, p))
			continue;
		struct stat st;
		if (lstat(p, &st) < 0 || !S_ISSOCK(st.st_mode))
			continue;
		v = strv_push(v, p);
		/* A host with more sockets than this where the view shows
		 * them is not one the sandbox's set-up should scale with;
		 * the README says what remains. */
		if (++count >= 4096)
			break;
	}
	free(line);
	return v;
}

int sandbox_plan_home(Sandbox *sb, const HomeRequest *req, HomePlan **ret)
{
	HomePlan *p = xcalloc(1, sizeof *p);
	p->private_home = !req->host_home;
	p->homes = req->host_home ? xcalloc(1, sizeof(char *))
	                          : home_dirs(req->home_env);
	for (char **h = p->homes; *h; h++)
		private_dir(sb, *h, 0755);
	size_t binds_from = sb->n_mounts;
	if (p->homes[0]) {
		if (req->cwd)
			show(p, req->cwd, "workspace");
		for (char *const *o = req->outputs; o && *o; o++)
			show(p, *o, "output");
		for (char *const *i = req->inputs; i && *i; i++)
			show(p, *i, "input");
		_cleanup_strv_free_ char **sw =
		        home_software_paths(req->cmd, req->env, p->homes);
		for (char **s = sw; *s; s++) {
			bool covered = false;
			for (size_t i = 0; p->shown && p->shown[i]; i++)
				covered |= below_or_at(*s, p->shown[i]);
			if (covered)
				continue;
			show(p, *s, "software");
			sandbox_add_mount(sb, MOUNT_RO_BIND, *s, *s, 0);
		}
	}
	for (char *const *r = req->ro; r && *r; r++) {
		show(p, *r, "--ro");
		sandbox_add_mount(sb, MOUNT_RO_BIND, *r, *r, 0);
	}
	/* An output or a hidden secret below a software or --ro bind is
	 * applied again above it. */
	for (size_t k = binds_from, end = sb->n_mounts; k < end; k++) {
		const char *top = sb->mounts[k].dest;
		for (size_t i = 0; i < binds_from; i++) {
			MountStep m = sb->mounts[i];
			if ((m.kind == MOUNT_RW_BIND || m.kind == MOUNT_HIDE) &&
			    below_or_at(m.dest, top) && !streq(m.dest, top))
				sandbox_add_mount(sb, m.kind, m.source, m.dest,
				                  m.mode);
		}
	}
	p->ro = req->ro ? strv_copy(req->ro) : NULL;
	/* Sockets: /var/tmp is the run's own, as /tmp is; the sockets the
	 * host has bound elsewhere are covered where the view shows them. */
	if (is_dir("/var/tmp"))
		private_dir(sb, "/var/tmp", 01777);
	_cleanup_strv_free_ char **socks = host_socket_paths(sb);
	for (char **s = socks; *s; s++) {
		sandbox_add_mount(sb, MOUNT_HIDE, *s, *s, 0);
		p->sockets = strv_push(p->sockets, *s);
	}
	*ret = p;
	return 0;
}

void sandbox_plan_home_seal(Sandbox *sb, HomePlan *p)
{
	if (!p)
		return;
	/* The pinned views (the workspace and inputs as pinned, a
	 * replay's outputs) that went into a home are shown too. */
	for (size_t i = 0; i < sb->n_mounts; i++) {
		const MountStep *m = &sb->mounts[i];
		if ((m->kind == MOUNT_RO_BIND || m->kind == MOUNT_RW_BIND ||
		     m->kind == MOUNT_RO_LAYERS) &&
		    m->source && !streq(m->source, m->dest) &&
		    home_of(p->homes, m->dest) &&
		    !below_or_at(m->dest, "/proc"))
			show(p, m->dest,
			     m->kind == MOUNT_RW_BIND ? "output" : "pinned");
	}
	/* A home that a later step covers (a home inside the workspace,
	 * whose pinned view is bound over it) is not private: it is shown
	 * as the view has it, and there is no tmpfs left to seal. */
	char **sealed = xcalloc(1, sizeof(char *));
	for (char **h = p->homes; h && *h; h++) {
		size_t at = sb->n_mounts;
		for (size_t i = 0; i < sb->n_mounts && at == sb->n_mounts; i++)
			if (sb->mounts[i].kind == MOUNT_TMPFS &&
			    streq(sb->mounts[i].dest, *h))
				at = i;
		bool covered = at == sb->n_mounts;
		for (size_t i = at + 1; i < sb->n_mounts && !covered; i++) {
			const MountStep *m = &sb->mounts[i];
			covered = m->kind != MOUNT_SYMLINK &&
			          m->kind != MOUNT_REMOUNT_RO &&
			          below_or_at(*h, m->dest);
		}
		if (covered)
			continue;
		sealed = strv_push(sealed, *h);
		sandbox_add_mount(sb, MOUNT_REMOUNT_RO, NULL, *h, 0);
	}
	strv_free(p->homes);
	p->homes = sealed;
}

json_t *home_plan_to_json(const HomePlan *p)
{
	json_t *dirs = json_array(), *shown = json_array(), *ro = json_array();
	for (char **h = p->homes; h && *h; h++)
		json_array_append_new(dirs, json_bstr(*h));
	for (size_t i = 0; p->shown && p->shown[i]; i++)
		json_array_append_new(shown, json_pack("{s:o,s:s}", "path",
		                                       json_bstr(p->shown[i]),
		                                       "why", p->why[i]));
	for (char **r = p->ro; r && *r; r++)
		json_array_append_new(ro, json_bstr(*r));
	return json_pack("{s:b,s:o,s:o,s:o,s:I}", "private", p->private_home,
	                 "dirs", dirs, "shown", shown, "ro", ro,
	                 "sockets_hidden", (json_int_t)strv_length(p->sockets));
}

static bool path_char_end(char c)
{
	return c == 0 || isspace((unsigned char)c) || strchr("'\"`,;:)]}>", c);
}

char **home_plan_hidden_mentions(const HomePlan *p, const char *text,
                                 const char *home_env, size_t max)
{
	char **found = NULL;
	if (!p || !p->private_home || !p->homes || !p->homes[0] || !text)
		return NULL;
	size_t count = 0;
	for (const char *s = text; *s && count < max; s++) {
		bool tilde = s[0] == '~' && s[1] == '/';
		if (s[0] != '/' && !tilde)
			continue;
		if (s != text && !path_char_end(s[-1]) && s[-1] != '=' &&
		    s[-1] != '(' && s[-1] != '[')
			continue;
		size_t n = 0;
		while (!path_char_end(s[n]))
			n++;
		_cleanup_free_ char *raw = xstrndup(s, n);
		s += n - 1;
		/* A trailing '.' ends a sentence, not the path. */
		while (n > 1 && raw[n - 1] == '.')
			raw[--n] = 0;
		_cleanup_free_ char *path =
		        tilde ? (home_env && *home_env == '/'
		                         ? xasprintf("%s%s", home_env, raw + 1)
		                         : NULL)
		              : xstrdup(raw);
		if (!path || !home_of(p->homes, path) || strv_has(found, path))
			continue;
		/* A home itself, or a directory on the way to what is
		 * shown, is in the view (as a mount point). */
		bool shown = strv_has(p->homes, path);
		for (size_t i = 0; p->shown && p->shown[i] && !shown; i++)
			shown = below_or_at(path, p->shown[i]) ||
			        below_or_at(p->shown[i], path);
		if (shown || !exists(path))
			continue;
		found = strv_push(found, path);
		count++;
	}
	return found;
}
