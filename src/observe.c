#include "config.h"

#include "observe.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "capture-software-internal.h"
#include "capture.h"
#include "util.h"

/* Lists in the record are bounded: a run that opens a million files
 * still gets a record of a sane size, and says how many it left out. */
#define MAX_LISTED 10000

/* ---- paths ---- */

static bool below(const char *path, const char *top)
{
	if (!top || !*top)
		return false;
	size_t n = strlen(top);
	while (n > 1 && top[n - 1] == '/')
		n--;
	if (n == 1 && top[0] == '/')
		return true;
	return strneq(path, top, n) && (path[n] == '/' || path[n] == 0);
}

static bool below_any(const char *path, char *const *tops)
{
	for (char *const *t = tops; t && *t; t++)
		if (below(path, *t))
			return true;
	return false;
}

static const char *base_name(const char *p)
{
	const char *s = strrchr(p, '/');
	return s ? s + 1 : p;
}

/* Where the sandbox has views of its own, not the host's. */
static bool sandbox_private(const char *path)
{
	static const char *const dirs[] = {"/proc", "/sys", "/dev", "/tmp",
	                                   "/run"};
	for (size_t i = 0; i < ELEMENTSOF(dirs); i++)
		if (below(path, dirs[i]))
			return true;
	return false;
}

static bool endswith_n(const char *s, size_t n, const char *suffix)
{
	size_t k = strlen(suffix);
	return n >= k && strneq(s + n - k, suffix, k);
}

static char tolower_ascii(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

static bool is_shared_object(const char *path)
{
	const char *b = base_name(path);
	const char *so = strstr(b, ".so");
	return so && (so[3] == 0 || so[3] == '.');
}

/* ---- Python distributions, by site directory ---- */

typedef struct Dist {
	char *name, *version;
	char **tops; /* top-level names it installs */
	bool used;
	char *interpreter;
	char *package, *package_version;
	unsigned package_tries;
	char *meta; /* its .dist-info or .egg-info, whose package is its own */
} Dist;

typedef struct Site {
	char *dir;
	Dist *dists;
	size_t n;
} Site;

static char *read_small(int dir, const char *name, size_t max)
{
	_cleanup_close_ int fd =
	        openat(dir, name, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW);
	if (fd < 0)
		return NULL;
	char *buf = NULL;
	if (read_full_fd(fd, max, &buf, NULL) < 0) {
		/* too big: what fits is enough for headers */
		free(buf);
		return NULL;
	}
	return buf;
}

static char **tops_add(char **tops, const char *name, size_t n)
{
	if (n == 0 || n > 255)
		return tops;
	_cleanup_free_ char *t = xstrndup(name, n);
	for (char **p = tops; p && *p; p++)
		if (streq(*p, t))
			return tops;
	return strv_push(tops, t);
}

/* One *.dist-info or *.egg-info: its name, version and top-level names
 * (top_level.txt, else the first components of RECORD). */
static void dist_read(int dfd, const char *entry, Dist *d)
{
	bool dir_info = endswith(entry, ".dist-info");
	_cleanup_free_ char *meta =
	        xasprintf("%s/%s", entry, dir_info ? "METADATA" : "PKG-INFO");
	_cleanup_free_ char *text = read_small(dfd, meta, 1u << 20);
	if (!text) {
		free(text);
		text = read_small(dfd, entry, 1u << 20); /* egg-info file */
	}
	python_metadata_fields(text, &d->name, &d->version);
	if (!d->name) {
		const char *dash = strchr(entry, '-');
		d->name = xstrndup(entry, dash ? (size_t)(dash - entry)
		                               : strcspn(entry, "."));
	}
	_cleanup_free_ char *tl_path = xasprintf("%s/top_level.txt", entry);
	_cleanup_free_ char *tl = read_small(dfd, tl_path, 1u << 20);
	for (char *line = tl; line && *line;) {
		size_t n = strcspn(line, "\r\n");
		d->tops = tops_add(d->tops, line, n);
		line += n;
		line += strspn(line, "\r\n");
	}
	if (!d->tops) {
		_cleanup_free_ char *rp = xasprintf("%s/RECORD", entry);
		_cleanup_free_ char *rec = read_small(dfd, rp, 64u << 20);
		for (char *line = rec; line && *line;) {
			size_t n = strcspn(line, "/,\r\n");
			if (line[n] == '/' && !strneq(line, "..", 2) &&
			    !(n > 10 &&
			      strneq(line + n - 10, ".dist-info", 10)))
				d->tops = tops_add(d->tops, line, n);
			else if (line[n] == ',' && n > 3 &&
			         strneq(line + n - 3, ".py", 3))
				d->tops = tops_add(d->tops, line, n - 3);
			line += strcspn(line, "\n");
			line += strspn(line, "\n");
		}
	}
	/* A name in its import spelling, when nothing else says. */
	if (!d->tops) {
		_cleanup_free_ char *t = xstrdup(d->name);
		for (char *p = t; *p; p++)
			*p = *p == '-' || *p == '.' ? '_' : tolower_ascii(*p);
		d->tops = strv_push(NULL, t);
	}
}

static void site_scan(Site *s)
{
	_cleanup_close_ int dfd =
	        open(s->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return;
	DIR *d = fdopendir(dup(dfd));
	if (!d)
		return;
	struct dirent *de;
	size_t cap = 0;
	while ((de = readdir(d))) {
		if (!endswith(de->d_name, ".dist-info") &&
		    !endswith(de->d_name, ".egg-info"))
			continue;
		if (s->n == cap) {
			cap = cap ? cap * 2 : 64;
			s->dists = xrealloc(s->dists, cap * sizeof *s->dists);
		}
		Dist *x = &s->dists[s->n++];
		*x = (Dist){.meta = path_join(s->dir, de->d_name)};
		dist_read(dfd, de->d_name, x);
	}
	closedir(d);
}

/* "/usr/lib/python3/dist-packages/numpy/core/x.so": the site directory
 * and the top-level name ("numpy"), or false. */
static bool site_split(const char *path, char **ret_dir, char **ret_top)
{
	const char *m = NULL;
	for (const char *p = path; (p = strstr(p, "-packages/")); p++)
		if ((p - path >= 5 && strneq(p - 5, "/site", 5)) ||
		    (p - path >= 5 && strneq(p - 5, "/dist", 5)))
			m = p + 10;
	if (!m || !*m)
		return false;
	size_t n = strcspn(m, "/");
	/* "six.py", "_cffi_backend.cpython-311-x86_64-linux-gnu.so" */
	size_t dot = strcspn(m, ".");
	if (m[n] == 0 && dot < n)
		n = dot;
	if (n == 0 || (m[n] == '/' && (endswith_n(m, n, ".dist-info") ||
	                               endswith_n(m, n, ".egg-info"))))
		return false;
	*ret_dir = xstrndup(path, (size_t)(m - 1 - path));
	*ret_top = xstrndup(m, n);
	return true;
}

/* ---- the whole ---- */

typedef struct Obs {
	const ObserveQuery *q;
	Packages *pk;
	Site *sites;
	size_t n_sites;
	char **pins;
	char **software; /* the home's software prefixes the sandbox showed */
	json_t *pkgs;    /* name -> version | null */
	json_t *programs, *shared, *read, *sys_read, *written;
	size_t left_out;
} Obs;

static Site *site_of(Obs *o, const char *dir)
{
	for (size_t i = 0; i < o->n_sites; i++)
		if (streq(o->sites[i].dir, dir))
			return &o->sites[i];
	if (o->n_sites >= 64)
		return NULL;
	o->sites = xrealloc(o->sites, (o->n_sites + 1) * sizeof *o->sites);
	Site *s = &o->sites[o->n_sites++];
	*s = (Site){.dir = xstrdup(dir)};
	site_scan(s);
	return s;
}

/* The distribution a file of a site directory belongs to; NULL for
 * another file, and for one in a site directory that no distribution
 * owns (*ret_in_site then says which). */
static Dist *dist_of(Obs *o, const char *path, bool *ret_in_site)
{
	_cleanup_free_ char *dir = NULL, *top = NULL;
	bool in_site = site_split(path, &dir, &top);
	if (ret_in_site)
		*ret_in_site = in_site;
	if (!in_site)
		return NULL;
	Site *s = site_of(o, dir);
	for (size_t i = 0; s && i < s->n; i++)
		for (char **t = s->dists[i].tops; t && *t; t++)
			if (streq(*t, top))
				return &s->dists[i];
	return NULL;
}

static bool owner(Obs *o, const char *path, char **ret_pkg, char **ret_ver);

/* A distribution is imported once any of its files is opened. */
static void dist_use(Obs *o, Dist *d, const TraceFile *f)
{
	if (!d)
		return;
	if (!d->used) {
		d->used = true;
		d->interpreter = f->exe ? xstrdup(f->exe) : NULL;
		/* Debian splits a distribution (python3-sklearn and
		 * python3-sklearn-lib): its metadata names the one. */
		owner(o, d->meta, &d->package, &d->package_version);
	}
	/* Its package, from a file dpkg lists: not the byte code that
	 * Debian compiles at install time. */
	if (!d->package && d->package_tries < 4 &&
	    !strstr(f->path, "/__pycache__/")) {
		d->package_tries++;
		owner(o, f->path, &d->package, &d->package_version);
	}
}

static bool owner(Obs *o, const char *path, char **ret_pkg, char **ret_ver)
{
	*ret_pkg = *ret_ver = NULL;
	if (!o->pk)
		return false;
	if (!packages_owner(o->pk, path, ret_pkg, ret_ver))
		return false;
	if (!json_object_get(o->pkgs, *ret_pkg))
		json_object_set_new(o->pkgs, *ret_pkg,
		                    *ret_ver ? json_string(*ret_ver)
		                             : json_null());
	return true;
}

static json_t *str_or_null(const char *s)
{
	return s ? json_string(s) : json_null();
}

static char *digest_of(Obs *o, const char *path, uint64_t *ret_size)
{
	char *d = NULL;
	if (stat_cache_hash(o->q->stat_cache, path, &d, ret_size) < 0)
		return NULL;
	return d;
}

/* The interpreter a script names on its first line, or NULL. */
static char *shebang_of(const char *path)
{
	_cleanup_close_ int fd =
	        open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return NULL;
	char buf[256];
	ssize_t n = read(fd, buf, sizeof buf - 1);
	if (n < 3 || buf[0] != '#' || buf[1] != '!')
		return NULL;
	buf[n] = 0;
	char *p = buf + 2;
	p += strspn(p, " \t");
	size_t len = strcspn(p, " \t\r\n");
	if (len == 0 || p[0] != '/')
		return NULL;
	return xstrndup(p, len);
}

static void add_program(Obs *o, const char *path)
{
	size_t i;
	json_t *e;
	json_array_foreach (o->programs, i, e)
		if (streq(json_get_string(e, "path"), path))
			return;
	_cleanup_free_ char *real = realpath(path, NULL);
	_cleanup_free_ char *pkg = NULL, *ver = NULL;
	owner(o, path, &pkg, &ver);
	_cleanup_free_ char *digest = digest_of(o, path, NULL);
	_cleanup_free_ char *shebang = shebang_of(path);
	json_array_append_new(
	        o->programs,
	        json_pack("{s:s,s:o,s:o,s:o,s:o,s:o}", "path", path,
	                  "real_path", str_or_null(real ? real : path),
	                  "sha256", str_or_null(digest), "package",
	                  str_or_null(pkg), "package_version", str_or_null(ver),
	                  "shebang", str_or_null(shebang)));
	/* The kernel runs a script's interpreter without an execve the
	 * filter could see. */
	if (shebang && json_array_size(o->programs) < 64)
		add_program(o, shebang);
}

static json_t *dist_json(const Dist *d)
{
	return d ? json_pack("{s:s,s:o}", "name", d->name, "version",
	                     str_or_null(d->version))
	         : json_null();
}

static void add_shared(Obs *o, const TraceFile *f)
{
	if (json_array_size(o->shared) >= MAX_LISTED) {
		o->left_out++;
		return;
	}
	_cleanup_free_ char *real = realpath(f->path, NULL);
	_cleanup_free_ char *pkg = NULL, *ver = NULL;
	owner(o, f->path, &pkg, &ver);
	Dist *d = dist_of(o, f->path, NULL);
	dist_use(o, d, f);
	_cleanup_free_ char *digest = digest_of(o, f->path, NULL);
	json_array_append_new(
	        o->shared,
	        json_pack("{s:s,s:s,s:o,s:o,s:o,s:o}", "path", f->path,
	                  "real_path", real ? real : f->path, "sha256",
	                  str_or_null(digest), "package", str_or_null(pkg),
	                  "package_version", str_or_null(ver), "distribution",
	                  dist_json(d)));
}

static void add_read(Obs *o, json_t *list, const TraceFile *f, bool cache)
{
	if (json_array_size(list) >= MAX_LISTED) {
		o->left_out++;
		return;
	}
	struct stat st;
	bool exists = stat(f->path, &st) == 0;
	uint64_t size = exists ? (uint64_t)st.st_size : 0;
	_cleanup_free_ char *digest =
	        exists ? digest_of(o, f->path, &size) : NULL;
	/* Changed while the run had it: not the file the run opened, or
	 * written since. */
	bool changed = !exists || !digest;
	if (exists && f->have_stat) {
		int64_t m = (int64_t)st.st_mtim.tv_sec * 1000000000 +
		            st.st_mtim.tv_nsec;
		int64_t c = (int64_t)st.st_ctim.tv_sec * 1000000000 +
		            st.st_ctim.tv_nsec;
		changed |= st.st_dev != f->dev || st.st_ino != f->ino ||
		           (uint64_t)st.st_size != f->size ||
		           m != f->mtime_ns || c != f->ctime_ns;
	}
	json_array_append_new(list,
	                      json_pack("{s:s,s:I,s:o,s:b,s:b}", "path",
	                                f->path, "size", (json_int_t)size,
	                                "sha256", str_or_null(digest),
	                                "changed", changed, "cache", cache));
}

/* Under the prefix of the Python that opened it (/X/bin/python3.11 opens
 * /X/lib/python3.11/...): the interpreter's own library. */
static bool interpreter_file(const TraceFile *f)
{
	if (!f->exe || !strstr(base_name(f->exe), "python"))
		return false;
	_cleanup_free_ char *real = realpath(f->exe, NULL);
	const char *exe = real ? real : f->exe;
	const char *bin = strstr(exe, "/bin/");
	if (!bin)
		return false;
	_cleanup_free_ char *lib =
	        xasprintf("%.*slib/", (int)(bin + 1 - exe), exe);
	return startswith(f->path, lib);
}

/* A file of the system's trees, as the host has it now (the sandbox
 * saw the same, read-only). */
static TraceFile host_stat(const TraceFile *f)
{
	TraceFile h = *f;
	struct stat st;
	if (stat(f->path, &st) == 0 && !S_ISDIR(st.st_mode)) {
		h.have_stat = true;
		h.regular = S_ISREG(st.st_mode);
		h.dev = st.st_dev;
		h.ino = st.st_ino;
		h.size = (uint64_t)st.st_size;
		h.mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 +
		             st.st_mtim.tv_nsec;
		h.ctime_ns = (int64_t)st.st_ctim.tv_sec * 1000000000 +
		             st.st_ctim.tv_nsec;
	}
	return h;
}

static void classify(Obs *o, const TraceFile *traced)
{
	const ObserveQuery *q = o->q;
	TraceFile hf = traced->host_view ? host_stat(traced) : *traced;
	const TraceFile *f = &hf;
	/* An execve that found no file (a PATH search) ran nothing. */
	if (f->executed && f->have_stat)
		add_program(o, f->path);
	if (sandbox_private(f->path) || below(f->path, q->store_root))
		return;
	bool cache = below_any(f->path, q->caches);
	if (!cache && below_any(f->path, o->pins))
		return;
	/* No file when the launcher looked: the open failed (Python
	 * probes many names), or the file was gone at once. */
	if (!f->have_stat || !f->regular)
		return;
	if (!f->read) {
		if (f->written && json_array_size(o->written) < MAX_LISTED)
			json_array_append_new(o->written, json_string(f->path));
		return;
	}
	if (f->executed)
		return; /* a script read by its interpreter */
	if (is_shared_object(f->path)) {
		add_shared(o, f);
		return;
	}
	if (cache) {
		add_read(o, o->read, f, true);
		return;
	}
	bool in_site;
	Dist *d = dist_of(o, f->path, &in_site);
	if (d) {
		dist_use(o, d, f);
		return;
	}
	if (interpreter_file(f) || below_any(f->path, o->software))
		return;
	_cleanup_free_ char *pkg = NULL, *ver = NULL;
	if (owner(o, f->path, &pkg, &ver))
		return;
	/* A file of a site directory that no distribution owns (a ".pth"
	 * file or sitecustomize.py, which site.py reads at every start) is
	 * the Python environment's configuration, as /etc is the system's:
	 * recorded, not the run's data. */
	add_read(o, below(f->path, "/etc") || in_site ? o->sys_read : o->read,
	         f, false);
}

static json_t *alt_json(const char *path, const char *real, const json_t *so)
{
	_cleanup_free_ char *impl = software_blas_implementation(real);
	return json_pack("{s:s,s:s,s:O,s:O}", "path", path, "implementation",
	                 impl, "package", json_object_get(so, "package"),
	                 "package_version",
	                 json_object_get(so, "package_version"));
}

/* The BLAS and LAPACK among the shared objects loaded. */
static void find_blas(json_t *shared, json_t **ret_blas, json_t **ret_lapack)
{
	*ret_blas = *ret_lapack = NULL;
	size_t i;
	json_t *e;
	json_array_foreach (shared, i, e) {
		const char *path = json_get_string(e, "path");
		const char *real = json_get_string(e, "real_path");
		const char *b = base_name(path);
		if (!*ret_lapack && (startswith(b, "liblapack") ||
		                     startswith(b, "libmkl_lapack")))
			*ret_lapack = alt_json(path, real, e);
		else if (!*ret_blas && (startswith(b, "libblas") ||
		                        startswith(b, "libopenblas") ||
		                        startswith(b, "libmkl_rt") ||
		                        startswith(b, "libblis") ||
		                        startswith(b, "libflexiblas") ||
		                        startswith(b, "libcblas")))
			*ret_blas = alt_json(path, real, e);
	}
	if (!*ret_blas)
		*ret_blas = json_null();
	if (!*ret_lapack)
		*ret_lapack = json_null();
}

static int json_path_cmp(const void *a, const void *b)
{
	return strcmp(json_get_string(*(json_t *const *)a, "path"),
	              json_get_string(*(json_t *const *)b, "path"));
}

static int json_name_cmp(const void *a, const void *b)
{
	return strcmp(json_get_string(*(json_t *const *)a, "name"),
	              json_get_string(*(json_t *const *)b, "name"));
}

static json_t *sorted(json_t *arr, int (*cmp)(const void *, const void *))
{
	size_t n = json_array_size(arr);
	json_t **v = xcalloc(n ? n : 1, sizeof *v);
	for (size_t i = 0; i < n; i++)
		v[i] = json_incref(json_array_get(arr, i));
	sort_v(v, n, sizeof *v, cmp);
	json_t *out = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(out, v[i]);
	free(v);
	json_decref(arr);
	return out;
}

static char **pinned_roots(const json_t *rec)
{
	char **v = NULL;
	const char *ws = json_get_string(
	        json_object_get(json_object_get(rec, "source"), "workspace"),
	        "path");
	if (ws)
		v = strv_push(v, ws);
	const char *const lists[] = {"inputs", "outputs"};
	for (size_t k = 0; k < ELEMENTSOF(lists); k++) {
		size_t i;
		json_t *e;
		json_array_foreach (json_object_get(rec, lists[k]), i, e)
			if (json_get_string(e, "path"))
				v = strv_push(v, json_get_string(e, "path"));
	}
	return v;
}

/* The software prefixes the private home showed (pyenv, a virtualenv,
 * conda): what a program reads there is its software (a pyenv shim's
 * plugin scripts, say), as a package's files are, not its data. */
static char **software_roots(const json_t *rec)
{
	char **v = NULL;
	size_t i;
	json_t *e;
	json_array_foreach (
	        json_object_get(json_object_get(json_object_get(rec, "sandbox"),
	                                        "home"),
	                        "shown"),
	        i, e) {
		const char *why = json_get_string(e, "why");
		const char *path = json_get_string(e, "path");
		if (why && path && streq(why, "software"))
			v = strv_push(v, path);
	}
	return v;
}

static json_t *caches_json(char *const *caches)
{
	json_t *a = json_array();
	for (char *const *c = caches; c && *c; c++)
		json_array_append_new(a, json_string(*c));
	return a;
}

json_t *observe_untraced(const char *reason, char *const *caches)
{
	return json_pack("{s:b,s:s,s:o}", "traced", 0, "reason", reason,
	                 "caches", caches_json(caches));
}

static const json_t *program_of(Obs *o, const char *path)
{
	size_t i;
	json_t *e;
	json_array_foreach (o->programs, i, e)
		if (streq(json_get_string(e, "path"), path))
			return e;
	return NULL;
}

/* "python3.11 (python3.11 3.11.2-6)": a program and its package. */
static json_t *program_label(const json_t *e)
{
	const char *real = json_get_string(e, "real_path");
	const char *pkg = json_get_string(e, "package");
	const char *ver = json_get_string(e, "package_version");
	return pkg ? json_sprintf("%s (%s %s)", base_name(real), pkg,
	                          ver ? ver : "?")
	           : json_string(base_name(real));
}

/* "python3 (bash script; bash 5.2.15-2)": a script and the interpreter
 * that ran it, given or NULL. */
static json_t *script_label(const json_t *e, const json_t *interp)
{
	const char *name = base_name(json_get_string(e, "real_path"));
	if (!interp)
		return json_sprintf("%s (script)", name);
	const char *iname = base_name(json_get_string(interp, "real_path"));
	const char *pkg = json_get_string(interp, "package");
	const char *ver = json_get_string(interp, "package_version");
	return pkg ? json_sprintf("%s (%s script; %s %s)", name, iname, pkg,
	                          ver ? ver : "?")
	           : json_sprintf("%s (%s script)", name, iname);
}

/* The main program: the last exec of the interpreter that imported the
 * Python distributions, else the last exec that ran a file. */
static ssize_t main_exec(Obs *o, const TraceExec *ev, size_t n,
                         const TraceFile *files, const char *interp)
{
	for (size_t i = n; interp && i-- > 0;)
		if (streq(files[ev[i].file].path, interp))
			return (ssize_t)i;
	for (size_t i = n; i-- > 0;)
		if (program_of(o, files[ev[i].file].path))
			return (ssize_t)i;
	return -1;
}

/* The execs that led to the main program, in order: those of its own
 * process before it (a shim's env, bash, then python), then, from the
 * exec its parent had made when it started this process, the same up
 * the tree. Helpers a wrapper ran on the side (a shim's readlink and
 * basename) are in `programs`, not here. NULL without a trace of execs
 * (the stack is then every program, in order). */
static size_t *main_chain(Obs *o, const TraceExec *ev, size_t n,
                          const TraceFile *files, const char *interp,
                          size_t *ret_n)
{
	*ret_n = 0;
	ssize_t cur = main_exec(o, ev, n, files, interp);
	if (cur < 0)
		return NULL;
	size_t *rev = xcalloc(n, sizeof *rev), k = 0;
	for (size_t guard = 0; cur >= 0 && guard < n; guard++) {
		pid_t pid = ev[cur].pid;
		ssize_t first = cur;
		for (ssize_t j = cur; j >= 0; j--)
			if (ev[j].pid == pid) {
				if (k < n &&
				    program_of(o, files[ev[j].file].path))
					rev[k++] = (size_t)j;
				first = j;
			}
		pid_t ppid = ev[first].ppid;
		cur = -1;
		for (ssize_t j = first - 1; ppid > 0 && j >= 0; j--)
			if (ev[j].pid == ppid) {
				cur = j;
				break;
			}
	}
	for (size_t i = 0; i < k / 2; i++) {
		size_t t = rev[i];
		rev[i] = rev[k - 1 - i];
		rev[k - 1 - i] = t;
	}
	*ret_n = k;
	return rev;
}

static json_t *stack_json(Obs *o, json_t *python, json_t *blas)
{
	json_t *st = json_array();
	size_t i;
	json_t *e;
	size_t n_ev, n_files, n_chain;
	const TraceExec *ev = tracer_execs(o->q->tracer, &n_ev);
	const TraceFile *files = tracer_files(o->q->tracer, &n_files);
	const char *interp = NULL;
	json_array_foreach (python, i, e)
		if (!interp)
			interp = json_get_string(e, "interpreter");
	_cleanup_free_ size_t *chain =
	        main_chain(o, ev, n_ev, files, interp, &n_chain);
	/* A script with its interpreter: the one its shebang names, or,
	 * through env, the program env ran next (not itself a script). */
	for (size_t c = 0; chain && c < n_chain; c++) {
		const TraceExec *x = &ev[chain[c]];
		const json_t *p = program_of(o, files[x->file].path);
		const char *shebang = json_get_string(p, "shebang");
		if (!shebang) {
			json_array_append_new(st, program_label(p));
			continue;
		}
		const json_t *by = program_of(o, shebang);
		if (streq(base_name(shebang), "env")) {
			by = NULL;
			const TraceExec *y =
			        c + 1 < n_chain ? &ev[chain[c + 1]] : NULL;
			const json_t *next =
			        y && y->pid == x->pid
			                ? program_of(o, files[y->file].path)
			                : NULL;
			if (next && !json_get_string(next, "shebang")) {
				by = next;
				c++;
			}
		}
		json_array_append_new(st, script_label(p, by));
	}
	if (!chain)
		json_array_foreach (o->programs, i, e)
			json_array_append_new(st, program_label(e));
	json_array_foreach (python, i, e)
		json_array_append_new(
		        st, json_sprintf("%s %s", json_get_string(e, "name"),
		                         json_get_string(e, "version")
		                                 ? json_get_string(e, "version")
		                                 : "?"));
	if (json_is_object(blas)) {
		const char *impl = json_get_string(blas, "implementation");
		const char *pkg = json_get_string(blas, "package");
		const char *ver = json_get_string(blas, "package_version");
		json_array_append_new(st, pkg ? json_sprintf("BLAS %s (%s %s)",
		                                             impl, pkg,
		                                             ver ? ver : "?")
		                              : json_sprintf("BLAS %s", impl));
	}
	return st;
}

int observe_section(const ObserveQuery *q, json_t **ret)
{
	Obs o = {.q = q,
	         .pk = packages_open(q->cache_dir),
	         .pins = pinned_roots(q->record),
	         .software = software_roots(q->record),
	         .pkgs = json_object(),
	         .programs = json_array(),
	         .shared = json_array(),
	         .read = json_array(),
	         .sys_read = json_array(),
	         .written = json_array()};
	size_t n;
	const TraceFile *files = tracer_files(q->tracer, &n);
	for (size_t i = 0; i < n; i++)
		classify(&o, &files[i]);

	json_t *python = json_array();
	for (size_t i = 0; i < o.n_sites; i++) {
		Site *s = &o.sites[i];
		for (size_t k = 0; k < s->n; k++) {
			Dist *d = &s->dists[k];
			if (d->used)
				json_array_append_new(
				        python,
				        json_pack("{s:s,s:o,s:s,s:o,s:o,s:o}",
				                  "name", d->name, "version",
				                  str_or_null(d->version),
				                  "location", s->dir,
				                  "interpreter",
				                  str_or_null(d->interpreter),
				                  "package",
				                  str_or_null(d->package),
				                  "package_version",
				                  str_or_null(
				                          d->package_version)));
			free(d->name);
			free(d->version);
			strv_free(d->tops);
			free(d->interpreter);
			free(d->package);
			free(d->package_version);
			free(d->meta);
		}
		free(s->dists);
		free(s->dir);
	}
	free(o.sites);
	python = sorted(python, json_name_cmp);
	o.shared = sorted(o.shared, json_path_cmp);
	json_t *blas, *lapack;
	find_blas(o.shared, &blas, &lapack);

	json_t *pkgs = json_array();
	const char *name;
	json_t *v;
	json_object_foreach (o.pkgs, name, v)
		json_array_append_new(pkgs, json_pack("{s:s,s:O}", "name", name,
		                                      "version", v));
	pkgs = sorted(pkgs, json_name_cmp);

	TraceStats ts = tracer_stats(q->tracer);
	json_t *sec = json_pack(
	        "{s:b,s:I,s:I,s:I,s:I,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,"
	        "s:o}",
	        "traced", 1, "calls", (json_int_t)ts.notifications,
	        "unreadable", (json_int_t)ts.unreadable, "dropped",
	        (json_int_t)ts.dropped, "left_out", (json_int_t)o.left_out,
	        "stack", stack_json(&o, python, blas), "programs", o.programs,
	        "shared_objects", o.shared, "python", python, "blas", blas,
	        "lapack", lapack, "packages", pkgs, "files_read",
	        sorted(o.read, json_path_cmp), "system_files_read",
	        sorted(o.sys_read, json_path_cmp), "files_written", o.written,
	        "caches", caches_json(q->caches));
	json_decref(o.pkgs);
	strv_free(o.pins);
	strv_free(o.software);
	packages_free(o.pk);
	if (!sec)
		return -ENOMEM;
	*ret = sec;
	return 0;
}

char **observe_unpinned_paths(const json_t *observed)
{
	char **v = NULL;
	size_t i;
	json_t *e;
	json_array_foreach (json_object_get(observed, "files_read"), i, e)
		if (json_get_string(e, "path") &&
		    !json_is_true(json_object_get(e, "cache")))
			v = strv_push(v, json_get_string(e, "path"));
	return v;
}
