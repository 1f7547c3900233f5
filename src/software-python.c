#include "config.h"

#include "software.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/wait.h>

#include "hash.h"
#include "process.h"
#include "util.h"

extern char **environ;

#define MAX_PYTHON_OUTPUT (1u << 20)
#define PYTHON_TIMEOUT_NS (5 * INT64_C(1000000000))

/* ---- Python ---- */

/* sys.path[0] is the script's directory ('' with -c): it depends on the
 * script, not on the installation, so it is left out unless safe_path
 * kept Python from adding it. The user site directory is reported so
 * that creating it, which puts it on sys.path, invalidates the cache. */
static const char python_code[] =
        "import json, sys\n"
        "try:\n"
        "    import site\n"
        "    u = site.getusersitepackages() if site.ENABLE_USER_SITE else "
        "None\n"
        "except Exception:\n"
        "    u = None\n"
        "p = sys.path if getattr(sys.flags, 'safe_path', 0) else sys.path[1:]\n"
        "json.dump({'executable': sys.executable, 'version': sys.version,\n"
        "           'path': p, 'user_site': u}, sys.stdout)\n";

/* The variables that change what Python puts on sys.path. */
const char *const python_vars[N_PYTHON_VARS] = {
        "PYTHONPATH",     "PYTHONHOME",     "PYTHONNOUSERSITE",
        "PYTHONUSERBASE", "PYTHONSAFEPATH", "PYTHONPLATLIBDIR",
        "VIRTUAL_ENV",    "HOME",
};

static int run_python(const char *interp, char *const *envp, json_t **ret)
{
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0)
		return negative_errno();
	_cleanup_close_ int rd = p[0];
	_cleanup_close_ int wr = p[1];

	char *argv[] = {(char *)interp, (char *)"-c", (char *)python_code,
	                NULL};
	SpawnSpec s = {.path = interp,
	               .argv = argv,
	               .envp = envp ? envp : environ,
	               .stdin_fd = SPAWN_NULL,
	               .stdout_fd = wr,
	               .stderr_fd = SPAWN_NULL};
	pid_t pid;
	int k = -spawn_process(&s, &pid);
	close(TAKE_FD(wr));
	if (k != 0)
		return -k;

	/* A sitecustomize that hangs must not hang the launch */
	int64_t deadline = monotonic_ns() + PYTHON_TIMEOUT_NS;
	_cleanup_free_ char *buf = xmalloc(MAX_PYTHON_OUTPUT + 1);
	size_t len = 0;
	int r = 0;
	for (;;) {
		int64_t left = deadline - monotonic_ns();
		if (left <= 0) {
			r = -ETIMEDOUT;
			break;
		}
		struct pollfd pfd = {.fd = rd, .events = POLLIN};
		int n = poll(&pfd, 1, (int)(left / 1000000) + 1);
		if (n < 0 && errno != EINTR) {
			r = negative_errno();
			break;
		}
		if (n <= 0)
			continue;
		if (len == MAX_PYTHON_OUTPUT) {
			r = -EFBIG;
			break;
		}
		ssize_t got = read(rd, buf + len, MAX_PYTHON_OUTPUT - len);
		if (got < 0 && errno != EINTR && errno != EAGAIN) {
			r = negative_errno();
			break;
		}
		if (got == 0)
			break;
		if (got > 0)
			len += (size_t)got;
	}
	if (r < 0)
		kill(pid, SIGKILL);
	int status;
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return r < 0 ? r : negative_errno();
	if (r < 0)
		return r;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		return -ENOEXEC;
	json_t *j = json_loadb(buf, len, 0, NULL);
	if (!json_is_object(j) || !json_is_array(json_object_get(j, "path"))) {
		json_decref(j);
		return -EBADMSG;
	}
	*ret = j;
	return 0;
}

typedef struct Dist {
	char *name, *version;
	size_t order;
} Dist;

static int dist_cmp(const void *a, const void *b)
{
	const Dist *x = a, *y = b;
	int k = strcmp(x->name, y->name);
	if (k)
		return k;
	return x->order < y->order ? -1 : x->order > y->order;
}

static char *header_value(const char *line, const char *name)
{
	size_t n = strlen(name);
	if (!strneq(line, name, n))
		return NULL;
	line += n;
	while (*line == ' ' || *line == '\t')
		line++;
	size_t len = strcspn(line, "\r\n");
	while (len && line[len - 1] == ' ')
		len--;
	return xstrndup(line, len);
}

void python_metadata_fields(char *text, char **name, char **version)
{
	for (char *line = text, *next; line && *line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = 0;
		if (!*line || streq(line, "\r"))
			break;
		if (!*name)
			*name = header_value(line, "Name:");
		if (!*version)
			*version = header_value(line, "Version:");
	}
}

/* Name: and Version: from the RFC 822 headers of METADATA or PKG-INFO;
 * they come first, so the first 16 KiB do. */
static void read_metadata(int dirfd_, const char *path, char **name,
                          char **version)
{
	_cleanup_close_ int fd =
	        openat(dirfd_, path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return;
	char buf[16385];
	size_t len = 0;
	while (len < sizeof buf - 1) {
		ssize_t k = read(fd, buf + len, sizeof buf - 1 - len);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			break;
		len += (size_t)k;
	}
	buf[len] = 0;
	python_metadata_fields(buf, name, version);
}

/* "numpy-1.24.2.dist-info", "foo-1.0-py3.11.egg-info" */
static void parse_dist_dirname(const char *entry, char **name, char **version)
{
	const char *dot = strrchr(entry, '.');
	const char *dash = strchr(entry, '-');
	if (!*name)
		*name = xstrndup(
		        entry,
		        (size_t)((dash && dash < dot ? dash : dot) - entry));
	if (!*version && dash && dash < dot) {
		const char *end = strchr(dash + 1, '-');
		if (!end || end > dot)
			end = dot;
		*version = xstrndup(dash + 1, (size_t)(end - dash - 1));
	}
}

static void scan_dists(const char *dir, Dist **v, size_t *n, size_t *cap)
{
	_cleanup_(closedirp) DIR *d = opendir(dir);
	if (!d)
		return;
	char **entries = NULL;
	size_t ne = 0, ce = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (!endswith(de->d_name, ".dist-info") &&
		    !endswith(de->d_name, ".egg-info"))
			continue;
		if (ne == ce) {
			ce = ce ? ce * 2 : 64;
			entries = xrealloc(entries, ce * sizeof *entries);
		}
		entries[ne++] = xstrdup(de->d_name);
	}
	/* readdir order is arbitrary; make ties within a directory stable */
	if (ne)
		sort_v(entries, ne, sizeof *entries, str_ptr_cmp);
	for (size_t i = 0; i < ne; i++) {
		char *name = NULL, *version = NULL;
		struct stat st;
		if (fstatat(dirfd(d), entries[i], &st, 0) == 0) {
			_cleanup_free_ char *meta = NULL;
			if (!S_ISDIR(st.st_mode))
				meta = xstrdup(entries[i]); /* egg-info file */
			else
				meta = path_join(
				        entries[i],
				        endswith(entries[i], ".dist-info")
				                ? "METADATA"
				                : "PKG-INFO");
			read_metadata(dirfd(d), meta, &name, &version);
		}
		parse_dist_dirname(entries[i], &name, &version);
		if (*n == *cap) {
			*cap = *cap ? *cap * 2 : 128;
			*v = xrealloc(*v, *cap * sizeof **v);
		}
		(*v)[*n] = (Dist){.name = name,
		                  .version = version ? version : xstrdup(""),
		                  .order = *n};
		(*n)++;
		free(entries[i]);
	}
	free(entries);
}

/* distributions_sha256 = sha256 of the concatenation of
 * name "==" version "\n" over the distributions sorted by name. */
static json_t *python_section(const json_t *info, const char *interp)
{
	const json_t *path = json_object_get(info, "path");
	Dist *v = NULL;
	size_t n = 0, cap = 0, i;
	json_t *p;
	json_t *paths = json_array();
	json_array_foreach (path, i, p) {
		if (!json_is_string(p))
			continue;
		json_array_append(paths, p);
		scan_dists(json_string_value(p), &v, &n, &cap);
	}
	/* first on sys.path wins, as importlib.metadata finds it */
	if (n)
		sort_v(v, n, sizeof *v, dist_cmp);
	_cleanup_hasher_ Hasher *h = hasher_new();
	json_t *dists = json_array();
	for (i = 0; i < n; i++) {
		if (i == 0 || !streq(v[i].name, v[i - 1].name)) {
			json_array_append_new(
			        dists,
			        json_pack("{s:o,s:o}", "name",
			                  json_bstr(v[i].name), "version",
			                  json_bstr(v[i].version)));
			hasher_update(h, v[i].name, strlen(v[i].name));
			hasher_update(h, "==", 2);
			hasher_update(h, v[i].version, strlen(v[i].version));
			hasher_update(h, "\n", 1);
		}
	}
	for (i = 0; i < n; i++) {
		free(v[i].name);
		free(v[i].version);
	}
	free(v);
	_cleanup_free_ char *digest = hasher_finish(TAKE_PTR(h));
	const char *exe = json_get_string(info, "executable");
	return json_pack("{s:o,s:o,s:o,s:o,s:s}", "executable",
	                 json_bstr(exe && *exe ? exe : interp), "version",
	                 json_string_or_null(json_get_string(info, "version")),
	                 "paths", paths, "distributions", dists,
	                 "distributions_sha256", digest);
}

/* Every sys.path entry and the user site directory, by stat key: a pip
 * install or uninstall changes its directory's mtime. */
static json_t *python_dirs(const json_t *info)
{
	json_t *dirs = json_object();
	const json_t *path = json_object_get(info, "path");
	size_t i;
	json_t *p;
	json_array_foreach (path, i, p) {
		if (!json_is_string(p))
			continue;
		Key k;
		key_of(json_string_value(p), &k);
		json_object_set_new(dirs, json_string_value(p),
		                    json_string(k.s));
	}
	const char *u = json_get_string(info, "user_site");
	if (u) {
		Key k;
		key_of(u, &k);
		json_object_set_new(dirs, u, json_string(k.s));
	}
	return dirs;
}

bool python_cache_valid(const json_t *cached, const Key *interp)
{
	const json_t *cp = json_object_get(cached, "python");
	const json_t *dirs = json_object_get(cp, "dirs");
	const json_t *sec =
	        json_object_get(json_object_get(cached, "section"), "python");
	if (!json_is_object(dirs) ||
	    !key_matches(interp, json_object_get(cp, "interp")) ||
	    !(json_is_object(sec) || json_is_null(sec)))
		return false;
	const char *dir;
	json_t *v;
	json_object_foreach ((json_t *)dirs, dir, v) {
		Key k;
		key_of(dir, &k);
		if (!key_matches(&k, v))
			return false;
	}
	return true;
}

json_t *capture_python(Ctx *c, const json_t *cached, const Key *ik,
                       json_t *cache_out)
{
	const SoftwareQuery *q = c->q;
	const char *interp = q->interpreter ? q->interpreter : q->executable;
	if (python_cache_valid(cached, ik)) {
		json_object_set(cache_out, "python",
		                json_object_get(cached, "python"));
		return json_incref(json_object_get(
		        json_object_get(cached, "section"), "python"));
	}
	json_auto_t *info = NULL;
	int r = run_python(interp, c->envp, &info);
	if (r == -ETIMEDOUT)
		return json_null(); /* not cached: may be quicker next time */
	if (r < 0) {
		/* Not a Python that runs: cached, or every launch would pay
		 * for trying, until the interpreter changes */
		json_object_set_new(
		        cache_out, "python",
		        json_pack("{s:s,s:{}}", "interp", ik->s, "dirs"));
		return json_null();
	}
	json_object_set_new(cache_out, "python",
	                    json_pack("{s:s,s:o}", "interp", ik->s, "dirs",
	                              python_dirs(info)));
	return python_section(info, interp);
}
