#include "config.h"

#include "store.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <uuid/uuid.h>

#include "util.h"

Store *store_free(Store *s)
{
	if (!s)
		return NULL;
	free(s->root);
	free(s->runs);
	free(s->cache);
	free(s->tmp);
	free(s);
	return NULL;
}

static bool is_dir(const char *p)
{
	struct stat st;
	return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static bool exists(const char *p)
{
	struct stat st;
	return lstat(p, &st) == 0;
}

/* Parent of an absolute path, in place; false at "/". */
static bool path_up(char *p)
{
	char *slash = strrchr(p, '/');
	if (!slash || (slash == p && !p[1]))
		return false;
	if (slash == p)
		slash[1] = 0;
	else
		*slash = 0;
	return true;
}

int store_discover(const char *cwd, char **ret_root)
{
	_cleanup_free_ char *dir = xstrdup(cwd);
	do {
		_cleanup_free_ char *cand = path_join(dir, STORE_DIRNAME);
		if (is_dir(cand)) {
			*ret_root = TAKE_PTR(cand);
			return 0;
		}
	} while (path_up(dir));
	return -ENOENT;
}

char *store_default_root(const char *cwd)
{
	_cleanup_free_ char *dir = xstrdup(cwd);
	do {
		_cleanup_free_ char *git = path_join(dir, ".git");
		if (exists(git))
			return path_join(dir, STORE_DIRNAME);
	} while (path_up(dir));
	return path_join(cwd, STORE_DIRNAME);
}

static int make_dir(const char *p)
{
	if (mkdir(p, 0755) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

int store_open(const char *root, bool create, Store **ret, bool *ret_created)
{
	bool created = false;
	struct stat st;
	if (stat(root, &st) < 0) {
		if (errno != ENOENT || !create)
			return -errno;
		if (mkdir(root, 0755) < 0 && errno != EEXIST)
			return -errno;
		created = true;
	} else if (!S_ISDIR(st.st_mode))
		return -ENOTDIR;

	Store *s = xcalloc(1, sizeof *s);
	_cleanup_store_ Store *owned = s;
	if (root[0] == '/')
		s->root = xstrdup(root);
	else {
		char cwd[4096];
		if (!getcwd(cwd, sizeof cwd))
			return -errno;
		s->root = path_join(cwd, root);
	}
	s->runs = path_join(s->root, "runs");
	s->cache = path_join(s->root, "cache");
	s->tmp = path_join(s->root, "tmp");
	/* The subdirectories are made once; later runs only check. */
	if (create && (created || !is_dir(s->runs) || !is_dir(s->cache))) {
		_cleanup_free_ char *objects = path_join(s->root, "objects");
		_cleanup_free_ char *sha = path_join(objects, "sha256");
		const char *dirs[] = {s->runs, objects, sha, s->cache, s->tmp};
		for (size_t i = 0; i < ELEMENTSOF(dirs); i++) {
			int r = make_dir(dirs[i]);
			if (r < 0)
				return r;
		}
		if (created) {
			/* Keep the store out of git status and of the
			 * workspace a later run pins. */
			static const char ignore[] = "# created by xrun\n*\n";
			_cleanup_free_ char *gi =
			        path_join(s->root, ".gitignore");
			_cleanup_close_ int fd = open(
			        gi, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
			        0644);
			if (fd >= 0)
				(void)write_all(fd, ignore, sizeof ignore - 1);
		}
	} else if (!is_dir(s->runs))
		return -ENOENT;
	if (ret_created)
		*ret_created = created;
	*ret = TAKE_PTR(owned);
	return 0;
}

int store_new_run(Store *s, char **ret_id, char **ret_dir)
{
	for (int tries = 0; tries < 8; tries++) {
		uuid_t u;
		char id[37];
		uuid_generate_random(u);
		uuid_unparse_lower(u, id);
		_cleanup_free_ char *dir = path_join(s->runs, id);
		if (mkdir(dir, 0755) < 0) {
			if (errno == EEXIST)
				continue;
			return -errno;
		}
		*ret_id = xstrdup(id);
		*ret_dir = TAKE_PTR(dir);
		return 0;
	}
	return -EEXIST;
}

static bool looks_like_id(const char *name)
{
	if (strlen(name) != 36)
		return false;
	for (const char *p = name; *p; p++)
		if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f') ||
		      *p == '-'))
			return false;
	return true;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int list_ids(Store *s, char ***ret)
{
	DIR *d = opendir(s->runs);
	if (!d)
		return -errno;
	char **ids = xcalloc(1, sizeof(char *));
	struct dirent *de;
	while ((de = readdir(d)))
		if (looks_like_id(de->d_name))
			ids = strv_push(ids, de->d_name);
	closedir(d);
	/* Directory order is arbitrary; lists for people should not be. */
	qsort(ids, strv_length(ids), sizeof(char *), cmp_str);
	*ret = ids;
	return 0;
}

void records_free(Record **v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		record_free(v[i]);
	free(v);
}

static int cmp_newest_first(const void *a, const void *b)
{
	const Record *x = *(Record *const *)a, *y = *(Record *const *)b;
	const char *cx = record_created(x), *cy = record_created(y);
	/* RFC 3339 UTC strings of one format sort like the times they are. */
	int c = strcmp(cy ? cy : "", cx ? cx : "");
	return c ? c : strcmp(record_id(y), record_id(x));
}

int store_load_all(Store *s, Record ***ret, size_t *ret_n, size_t *ret_bad)
{
	_cleanup_strv_free_ char **ids = NULL;
	int r = list_ids(s, &ids);
	if (r < 0)
		return r;
	size_t n = strv_length(ids), k = 0, bad = 0;
	Record **v = xcalloc(n + 1, sizeof(Record *));
	for (size_t i = 0; i < n; i++) {
		_cleanup_free_ char *dir = path_join(s->runs, ids[i]);
		_cleanup_free_ char *p = path_join(dir, "record.json");
		Record *rec;
		int r2 = record_load(p, &rec, NULL);
		/* A directory without a record is a launcher that died
		 * before the program started: not a run. */
		if (r2 == -ENOENT)
			continue;
		if (r2 < 0) {
			bad++;
			continue;
		}
		v[k++] = rec;
	}
	qsort(v, k, sizeof *v, cmp_newest_first);
	*ret = v;
	*ret_n = k;
	if (ret_bad)
		*ret_bad = bad;
	return 0;
}

static int resolve_latest(Store *s, const char *spec, char **ret_path,
                          char **ret_error)
{
	uint64_t back = 0;
	if (spec[6] == '~' && parse_u64(spec + 7, &back) < 0) {
		*ret_error = xasprintf("'%s' is not a run: use latest or "
		                       "latest~N with a number N",
		                       spec);
		return -EINVAL;
	}
	Record **v;
	size_t n;
	int r = store_load_all(s, &v, &n, NULL);
	if (r < 0) {
		*ret_error = xasprintf("cannot list runs in '%s': %s", s->runs,
		                       strerror(-r));
		return r;
	}
	if (back >= n) {
		*ret_error =
		        n == 0 ? xstrdup("the store has no runs yet")
		               : xasprintf("'%s' does not exist: the store "
		                           "has %zu run%s",
		                           spec, n, n == 1 ? "" : "s");
		records_free(v, n);
		return -ENOENT;
	}
	*ret_path = xstrdup(v[back]->path);
	records_free(v, n);
	return 0;
}

int store_resolve(Store *s, const char *spec, char **ret_path, char **ret_error)
{
	struct stat st;
	bool pathlike = strchr(spec, '/') || endswith(spec, ".json");
	if (pathlike || (stat(spec, &st) == 0 && !looks_like_id(spec))) {
		if (stat(spec, &st) < 0) {
			*ret_error = xasprintf("cannot open record '%s': %s",
			                       spec, strerror(errno));
			return -errno;
		}
		*ret_path = S_ISDIR(st.st_mode) ? path_join(spec, "record.json")
		                                : xstrdup(spec);
		return 0;
	}
	if (!s) {
		*ret_error = xasprintf("no store found to look up run '%s'; "
		                       "pass --store DIR or a record file",
		                       spec);
		return -ENOENT;
	}
	if (streq(spec, "latest") || startswith(spec, "latest~"))
		return resolve_latest(s, spec, ret_path, ret_error);
	size_t len = strlen(spec);
	if (len < 4) {
		*ret_error = xasprintf("'%s' is too short: give at least 4 "
		                       "characters of a run id",
		                       spec);
		return -EINVAL;
	}
	_cleanup_strv_free_ char **ids = NULL;
	int r = list_ids(s, &ids);
	if (r < 0) {
		*ret_error = xasprintf("cannot list runs in '%s': %s", s->runs,
		                       strerror(-r));
		return r;
	}
	const char *found = NULL;
	size_t matches = 0;
	_cleanup_free_ char *cands = xstrdup("");
	for (char **id = ids; *id; id++) {
		if (!strneq(*id, spec, len))
			continue;
		matches++;
		found = *id;
		char *c = xasprintf("%s%s%s", cands, *cands ? ", " : "", *id);
		free(cands);
		cands = c;
	}
	if (matches == 0) {
		*ret_error =
		        xasprintf("no run matches '%s' in '%s'; see xrun ls",
		                  spec, s->root);
		return -ENOENT;
	}
	if (matches > 1) {
		*ret_error = xasprintf("'%s' is ambiguous: it matches %s; give "
		                       "more characters",
		                       spec, cands);
		return -ENOTUNIQ;
	}
	_cleanup_free_ char *dir = path_join(s->runs, found);
	*ret_path = path_join(dir, "record.json");
	return 0;
}
