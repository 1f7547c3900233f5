/* The software section of the run record: the shared libraries the
 * program loads, the Python distributions it can import, and the BLAS and
 * LAPACK implementations Debian's alternatives select.
 *
 * This runs before every launch and must cost well under a millisecond,
 * so what is expensive (reading ELF files, hashing libraries, reading
 * dpkg's database, starting Python) is cached under cache_dir, and a
 * warm capture only stats files:
 *
 *   software-v1-<hash>.json  one per query (executable, interpreter,
 *                            cwd, LD_LIBRARY_PATH, LD_PRELOAD, Python
 *                            variables): the resolved libraries with the
 *                            stat keys that prove the answer still holds,
 *                            the Python section, the BLAS packages.
 *   software-libs-v1.json    sha256 and package of every library seen,
 *                            by path and stat key, shared by the queries
 *                            so that a new program does not rehash libc;
 *                            read only when a query's own file misses.
 *   dpkg-so-index-v1         path -> package and version for every shared
 *                            object dpkg installed, sorted for binary
 *                            search; rebuilt (about 15 ms) when dpkg's
 *                            status file or info directory changes.
 *
 * All three are written without fsync (write_file_replace()):
 * a crash or a concurrent xrun leaves an old or a new file, never a torn
 * one, and anything unreadable is simply rebuilt.
 *
 * Its parts, one topic a file, are listed in software.h. */
#include "config.h"

#include "capture.h"
#include "capture-software-internal.h"
#include "software.h"

#include <fcntl.h>
#include <inttypes.h>

#include "hash.h"
#include "util.h"

extern char **environ;

/* ---- libraries ---- */

typedef struct Lib {
	char *path;
	char *soname;
	Key key;
	char *sha256;
	char *package; /* NULL: no package owns it */
	char *version;
	bool have_package; /* package looked up (for the current dpkg) */
} Lib;

typedef struct LibList {
	Lib *v;
	size_t n, cap;
} LibList;

static void lib_list_done(LibList *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free(l->v[i].path);
		free(l->v[i].soname);
		free(l->v[i].sha256);
		free(l->v[i].package);
		free(l->v[i].version);
	}
	free(l->v);
	*l = (LibList){0};
}

static Lib *lib_list_add(LibList *l, const char *path, const char *soname)
{
	for (size_t i = 0; i < l->n; i++)
		if (streq(l->v[i].path, path))
			return NULL;
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 16;
		l->v = xrealloc(l->v, l->cap * sizeof *l->v);
	}
	Lib *lib = &l->v[l->n++];
	*lib = (Lib){.path = xstrdup(path), .soname = xstrdup(soname)};
	return lib;
}

static int lib_cmp(const void *a, const void *b)
{
	return strcmp(((const Lib *)a)->path, ((const Lib *)b)->path);
}

/* ---- the capture ---- */

void ctx_done(Ctx *c)
{
	free(c->dpkg_key);
	dpkg_index_free(c->dpkg);
	json_decref(c->shared);
}

static json_t *ctx_shared(Ctx *c)
{
	if (c->shared_tried)
		return c->shared;
	c->shared_tried = true;
	json_t *j = c->cache_dir ? cache_load(c->cache_dir, SOFTWARE_LIBS_CACHE)
	                         : NULL;
	if (!j || !json_is_object(json_object_get(j, "libs")) ||
	    json_object_size(json_object_get(j, "libs")) > 8192) {
		json_decref(j);
		j = json_pack("{s:s,s:{}}", "dpkg", c->dpkg_key, "libs");
	}
	if (!str_matches(c->dpkg_key, json_object_get(j, "dpkg"))) {
		/* packages known for another dpkg state are unknown now */
		const char *path;
		json_t *e;
		json_object_foreach (json_object_get(j, "libs"), path, e) {
			json_object_del(e, "package");
			json_object_del(e, "package_version");
		}
		json_object_set_new(j, "dpkg", json_string(c->dpkg_key));
		c->shared_dirty = true;
	}
	c->shared = j;
	return j;
}

/* Fill in a library's sha256 and package: from the query's cache (e, a
 * library of the cached section, and ekey, its stat key; its package
 * only when pkg_valid) if the stat key still holds, else from the shared
 * cache, else by hashing the file and asking dpkg. */
static int lib_fill(Ctx *c, Lib *lib, const json_t *e, const json_t *ekey,
                    bool pkg_valid)
{
	const char *sha = json_get_string(e, "sha256");
	if (sha && key_matches(&lib->key, ekey)) {
		lib->sha256 = xstrdup(sha);
		json_t *p = json_object_get(e, "package");
		if (pkg_valid && p) {
			lib->package = xstrdup_or_null(json_string_value(p));
			lib->version = xstrdup_or_null(
			        json_get_string(e, "package_version"));
			lib->have_package = true;
		}
	}
	json_t *shared = NULL;
	if (!lib->sha256) {
		shared = json_object_get(ctx_shared(c), "libs");
		json_t *s = json_object_get(shared, lib->path);
		sha = json_get_string(s, "sha256");
		if (sha && key_matches(&lib->key, json_object_get(s, "key"))) {
			lib->sha256 = xstrdup(sha);
			json_t *p = json_object_get(s, "package");
			if (p) {
				lib->package =
				        xstrdup_or_null(json_string_value(p));
				lib->version = xstrdup_or_null(
				        json_get_string(s, "package_version"));
				lib->have_package = true;
			}
		}
	}
	if (!lib->sha256) {
		/* hash what we stat: the key then describes these bytes */
		_cleanup_close_ int fd =
		        open(lib->path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
		struct stat st;
		if (fd < 0)
			return negative_errno();
		if (fstat(fd, &st) < 0)
			return negative_errno();
		key_from_stat(&st, &lib->key);
		int r = sha256_fd(fd, &lib->sha256, NULL);
		if (r < 0)
			return r;
	}
	if (!lib->have_package) {
		package_of(c, lib->path, &lib->package, &lib->version);
		lib->have_package = true;
	}
	if (!shared)
		return 0;
	json_t *s = json_pack(
	        "{s:s,s:s,s:o,s:o}", "key", lib->key.s, "sha256", lib->sha256,
	        "package", json_string_or_null(lib->package), "package_version",
	        json_string_or_null(lib->version));
	if (!json_equal(s, json_object_get(shared, lib->path))) {
		json_object_set_new(shared, lib->path, s);
		c->shared_dirty = true;
	} else
		json_decref(s);
	return 0;
}

static const json_t *cached_lib(const json_t *cached, const char *path)
{
	const json_t *libs = json_object_get(json_object_get(cached, "section"),
	                                     "libraries");
	size_t i;
	json_t *v;
	json_array_foreach (libs, i, v)
		if (streq_ptr(json_get_string(v, "path"), path))
			return v;
	return NULL;
}

/* Whether the query's cached libraries still hold: the executable and
 * interpreter, ld.so.cache, each library, and each directory the search
 * went through in vain all have the stat keys they had. */
static bool libs_cache_valid(const json_t *cached, const Key *exe,
                             const Key *interp, const Key *ldcache)
{
	if (!cached || !key_matches(exe, json_object_get(cached, "exe")) ||
	    !key_matches(interp, json_object_get(cached, "interp")) ||
	    !key_matches(ldcache, json_object_get(cached, "ldcache")))
		return false;
	const json_t *dirs = json_object_get(cached, "dirs");
	const json_t *keys = json_object_get(cached, "lib_keys");
	const json_t *libs = json_object_get(json_object_get(cached, "section"),
	                                     "libraries");
	if (!json_is_object(dirs) || !json_is_object(keys) ||
	    !json_is_array(libs) ||
	    json_array_size(libs) != json_object_size(keys))
		return false;
	const char *path;
	json_t *v;
	json_object_foreach ((json_t *)dirs, path, v) {
		Key k;
		key_of(path, &k);
		if (!key_matches(&k, v))
			return false;
	}
	json_object_foreach ((json_t *)keys, path, v) {
		Key k;
		key_of(path, &k);
		if (!key_matches(&k, v))
			return false;
	}
	return true;
}

/* The cached libraries, with packages looked up again if dpkg changed. */
static bool libs_from_cache(Ctx *c, const json_t *cached, LibList *out)
{
	const json_t *keys = json_object_get(cached, "lib_keys");
	const json_t *libs = json_object_get(json_object_get(cached, "section"),
	                                     "libraries");
	bool pkg_valid =
	        str_matches(c->dpkg_key, json_object_get(cached, "dpkg"));
	size_t i;
	json_t *v;
	json_array_foreach (libs, i, v) {
		const char *path = json_get_string(v, "path");
		const char *soname = json_get_string(v, "soname");
		const char *key = json_get_string(keys, path ? path : "");
		if (!path || !soname || !key)
			goto fail;
		Lib *lib = lib_list_add(out, path, soname);
		if (!lib)
			goto fail;
		snprintf(lib->key.s, sizeof lib->key.s, "%s", key);
		if (lib_fill(c, lib, v, json_object_get(keys, path),
		             pkg_valid) < 0)
			goto fail;
	}
	return true;
fail:
	lib_list_done(out);
	return false;
}

static void libs_resolve(Ctx *c, const json_t *cached, char ***miss_dirs,
                         LibList *out)
{
	const SoftwareQuery *q = c->q;
	LdCache ldcache = {0};
	bool ldcache_loaded = false;
	const char *mains[] = {q->executable, q->interpreter};
	for (size_t m = 0; m < ELEMENTSOF(mains); m++) {
		if (!mains[m])
			continue;
		Resolver r = {
		        .cwd = q->cwd,
		        .llp = strv_env_get(c->envp, "LD_LIBRARY_PATH"),
		        .preload = strv_env_get(c->envp, "LD_PRELOAD"),
		        .ldcache = &ldcache,
		        .ldcache_loaded = &ldcache_loaded,
		        .miss_dirs = miss_dirs,
		};
		/* not ELF (a script): only its interpreter loads libraries */
		if (ldso_resolve(&r, mains[m]) == 0)
			for (size_t i = 1; i < r.n; i++) {
				const Obj *o = &r.objs[i];
				lib_list_add(out, o->path,
				             o->elf->soname ? o->elf->soname
				                            : o->name);
			}
		resolver_done(&r);
	}
	free(ldcache.data);

	/* reuse what the query's old entry knew about unchanged files */
	const json_t *keys = json_object_get(cached, "lib_keys");
	bool pkg_valid =
	        str_matches(c->dpkg_key, json_object_get(cached, "dpkg"));
	size_t keep = 0;
	for (size_t i = 0; i < out->n; i++) {
		Lib *lib = &out->v[i];
		key_of(lib->path, &lib->key);
		if (lib_fill(c, lib, cached_lib(cached, lib->path),
		             json_object_get(keys, lib->path), pkg_valid) < 0) {
			/* vanished since the search: as if not found */
			free(lib->path);
			free(lib->soname);
			free(lib->sha256);
			free(lib->package);
			free(lib->version);
			continue;
		}
		out->v[keep++] = *lib;
	}
	out->n = keep;
}

static json_t *libs_keys_json(const LibList *libs)
{
	json_t *o = json_object();
	for (size_t i = 0; i < libs->n; i++)
		json_object_set_new(o, libs->v[i].path,
		                    json_string(libs->v[i].key.s));
	return o;
}

/* libraries_sha256 = sha256 of the concatenation, over the libraries
 * sorted by path (strcmp), of path "\0" sha256 "\n", where sha256 is
 * the "sha256:<hex>" string: the set of files, independent of order. */
static json_t *libs_section(LibList *libs, char **ret_digest)
{
	if (libs->n > 1)
		sort_v(libs->v, libs->n, sizeof *libs->v, lib_cmp);
	_cleanup_hasher_ Hasher *h = hasher_new();
	json_t *a = json_array();
	for (size_t i = 0; i < libs->n; i++) {
		const Lib *l = &libs->v[i];
		hasher_update(h, l->path, strlen(l->path) + 1);
		hasher_update(h, l->sha256, strlen(l->sha256));
		hasher_update(h, "\n", 1);
		json_array_append_new(
		        a, json_pack("{s:o,s:o,s:s,s:o,s:o}", "path",
		                     json_bstr(l->path), "soname",
		                     json_bstr(l->soname), "sha256", l->sha256,
		                     "package", json_string_or_null(l->package),
		                     "package_version",
		                     json_string_or_null(l->version)));
	}
	*ret_digest = hasher_finish(TAKE_PTR(h));
	return a;
}

/* ---- entry point ---- */

/* Everything the answer depends on that a stat cannot see. */
static char *query_string(const SoftwareQuery *q, char *const *envp)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	if (!f)
		abort();
	fprintf(f, "exe=%s\n", q->executable);
	fprintf(f, "interpreter=%s\n", q->interpreter ? q->interpreter : "");
	fprintf(f, "cwd=%s\n", q->cwd ? q->cwd : "");
	fprintf(f, "python=%d\n", q->python);
	const char *vars[ELEMENTSOF(python_vars) + 2] = {"LD_LIBRARY_PATH",
	                                                 "LD_PRELOAD"};
	size_t nv = 2;
	if (q->python)
		for (size_t i = 0; i < ELEMENTSOF(python_vars); i++)
			vars[nv++] = python_vars[i];
	for (size_t i = 0; i < nv; i++) {
		const char *v = strv_env_get(envp, vars[i]);
		if (v)
			fprintf(f, "%s=%s\n", vars[i], v);
		else
			fprintf(f, "%s unset\n", vars[i]);
	}
	fclose(f);
	return buf;
}

/* The cached section as it is, if nothing it was made from changed:
 * a warm capture is this and nothing else, about 15 stat and readlink
 * calls and the parse of one small file. */
static json_t *cache_hit(Ctx *c, const json_t *cached, const Key *exe,
                         const Key *interp, const Key *ldcache,
                         const Key *python, const Alt *alts, size_t nalts)
{
	const json_t *sec = json_object_get(cached, "section");
	if (!json_is_string(json_object_get(sec, "sha256")) ||
	    !str_matches(c->dpkg_key, json_object_get(cached, "dpkg")) ||
	    !libs_cache_valid(cached, exe, interp, ldcache))
		return NULL;
	if (c->q->python ? !python_cache_valid(cached, python)
	                 : !json_is_null(json_object_get(sec, "python")))
		return NULL;
	for (size_t i = 0; i < nalts; i++)
		if (!alt_cache_valid(cached, &alts[i]))
			return NULL;
	return json_incref((json_t *)sec);
}

int capture_software(const SoftwareQuery *q, json_t **ret)
{
	if (!q || !q->executable)
		return -EINVAL;
	Ctx c = {.q = q,
	         .envp = q->envp ? q->envp : environ,
	         .cache_dir = q->cache_dir};
	dpkg_state(&c);

	_cleanup_free_ char *query = query_string(q, c.envp);
	if (!utf8_valid(query, strlen(query)))
		c.cache_dir = NULL; /* JSON cannot hold the key */
	_cleanup_free_ char *name = xasprintf(
	        SOFTWARE_CACHE_PREFIX "%016" PRIx64 ".json", fnv1a(query));
	json_auto_t *cached =
	        c.cache_dir ? cache_load(c.cache_dir, name) : NULL;
	if (cached && !streq_ptr(json_get_string(cached, "query"), query)) {
		json_decref(cached);
		cached = NULL;
	}

	Key exe, interp, ldcache, python = {""};
	key_of(q->executable, &exe);
	if (q->interpreter)
		key_of(q->interpreter, &interp);
	else
		snprintf(interp.s, sizeof interp.s, "none");
	key_of(LDSO_CACHE, &ldcache);
	if (q->python)
		python = q->interpreter ? interp : exe;
	Alt alts[2];
	alt_init(&alts[0], "libblas", "blas");
	alt_init(&alts[1], "liblapack", "lapack");

	json_t *hit = cache_hit(&c, cached, &exe, &interp, &ldcache, &python,
	                        alts, ELEMENTSOF(alts));
	if (hit) {
		for (size_t i = 0; i < ELEMENTSOF(alts); i++)
			alt_done(&alts[i]);
		ctx_done(&c);
		*ret = hit;
		return 0;
	}

	LibList libs = {0};
	_cleanup_strv_free_ char **miss_dirs = NULL;
	json_auto_t *dirs = NULL;
	if (libs_cache_valid(cached, &exe, &interp, &ldcache) &&
	    libs_from_cache(&c, cached, &libs)) {
		dirs = json_incref(json_object_get(cached, "dirs"));
	} else {
		libs_resolve(&c, cached, &miss_dirs, &libs);
		dirs = json_object();
		for (char **d = miss_dirs; d && *d; d++) {
			Key k;
			key_of(*d, &k);
			json_object_set_new(dirs, *d, json_string(k.s));
		}
	}

	json_auto_t *cache_out =
	        json_pack("{s:s,s:s,s:s,s:s,s:s,s:O,s:o,s:{}}", "query", query,
	                  "exe", exe.s, "interp", interp.s, "ldcache",
	                  ldcache.s, "dpkg", c.dpkg_key, "dirs", dirs,
	                  "lib_keys", libs_keys_json(&libs), "alts");

	_cleanup_free_ char *libs_digest = NULL;
	json_auto_t *sw = json_object();
	json_object_set_new(sw, "libraries", libs_section(&libs, &libs_digest));
	json_object_set_new(sw, "libraries_sha256", json_string(libs_digest));
	lib_list_done(&libs);
	json_object_set_new(
	        sw, "python",
	        q->python ? capture_python(&c, cached, &python, cache_out)
	                  : json_null());
	for (size_t i = 0; i < ELEMENTSOF(alts); i++) {
		json_object_set_new(
		        sw, alts[i].section,
		        capture_alternative(&c, &alts[i], cached, cache_out));
		alt_done(&alts[i]);
	}

	_cleanup_free_ char *dump =
	        json_dumps(sw, JSON_SORT_KEYS | JSON_COMPACT);
	if (!dump) {
		ctx_done(&c);
		return -ENOMEM;
	}
	_cleanup_free_ char *digest = sha256_mem(dump, strlen(dump));
	json_object_set_new(sw, "sha256", json_string(digest));

	if (c.cache_dir && cache_out) {
		/* Failing to write a cache only costs time next run */
		json_object_set(cache_out, "section", sw);
		if (!json_equal(cached, cache_out))
			(void)cache_write_json(c.cache_dir, name, cache_out);
	}
	if (c.cache_dir && c.shared && c.shared_dirty)
		(void)cache_write_json(c.cache_dir, SOFTWARE_LIBS_CACHE,
		                       c.shared);
	ctx_done(&c);
	*ret = TAKE_PTR(sw);
	return 0;
}
