#include "config.h"

#include "store.h"

#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sys/mman.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <uuid/uuid.h>

#include "pin.h"
#include "git.h"
#include "util.h"

Store *store_free(Store *s)
{
	if (!s)
		return NULL;
	free(s->root);
	free(s->runs);
	free(s->cache);
	free(s->tmp);
	free(s->objects);
	free(s->packs);
	pack_set_free(s->packset);
	if (s->objects_fd >= 0)
		close(s->objects_fd);
	free(s);
	return NULL;
}

static bool is_dir(const char *p)
{
	struct stat st;
	return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
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
	_cleanup_free_ char *top = NULL;
	if (git_find_top(cwd, NULL, &top) > 0)
		return path_join(top, STORE_DIRNAME);
	return path_join(cwd, STORE_DIRNAME);
}

static int make_dir(const char *p)
{
	if (mkdir(p, 0755) < 0 && errno != EEXIST)
		return negative_errno();
	return 0;
}

int store_open(const char *root, bool create, Store **ret, bool *ret_created)
{
	bool created = false;
	struct stat st;
	if (stat(root, &st) < 0) {
		if (errno != ENOENT || !create)
			return negative_errno();
		if (mkdir(root, 0755) < 0 && errno != EEXIST)
			return negative_errno();
		created = true;
	} else if (!S_ISDIR(st.st_mode))
		return -ENOTDIR;

	Store *s = xcalloc(1, sizeof *s);
	s->objects_fd = -1;
	_cleanup_store_ Store *owned = s;
	if (root[0] == '/')
		s->root = xstrdup(root);
	else {
		char cwd[4096];
		if (!getcwd(cwd, sizeof cwd))
			return negative_errno();
		s->root = path_join(cwd, root);
	}
	s->runs = path_join(s->root, "runs");
	s->cache = path_join(s->root, "cache");
	s->tmp = path_join(s->root, "tmp");
	s->objects = path_join(s->root, "objects/sha256");
	s->packs = path_join(s->root, "objects/packs");
	s->packset = pack_set_new();
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
	/* A re-pin asks for thousands of objects: from here each is a
	 * two-component lookup instead of a walk from /. */
	s->objects_fd =
	        open(s->objects, O_PATH | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (ret_created)
		*ret_created = created;
	*ret = TAKE_PTR(owned);
	return 0;
}

/* An empty file whose name is path: O_EXCL; tmp/ made where missing. */
static int make_marker(const Store *s, const char *path)
{
	for (int tries = 0; tries < 2; tries++) {
		int fd = open(path,
		              O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
		                      O_CLOEXEC,
		              0444);
		if (fd >= 0) {
			close(fd);
			return 0;
		}
		if (errno != ENOENT || mkdir(s->tmp, 0755) < 0)
			break;
	}
	return negative_errno();
}

char *store_run_marker(const Store *s, const char *id, const char *token)
{
	return xasprintf("%s/" STORE_RUN_MARKER "%s-%s", s->tmp, id, token);
}

void store_run_started(const Store *s, const char *id)
{
	_cleanup_free_ char *token = NULL;
	if (launcher_token(&token) < 0)
		return;
	_cleanup_free_ char *marker = store_run_marker(s, id, token);
	(void)unlink(marker);
}

int store_new_run(Store *s, char **ret_id, char **ret_dir)
{
	_cleanup_free_ char *token = NULL;
	int r = launcher_token(&token);
	if (r < 0)
		return r;
	for (int tries = 0; tries < 8; tries++) {
		uuid_t u;
		char id[37];
		uuid_generate_random(u);
		uuid_unparse_lower(u, id);
		_cleanup_free_ char *dir = path_join(s->runs, id);
		/* The owner first: a directory is never there without it. */
		_cleanup_free_ char *marker = store_run_marker(s, id, token);
		r = make_marker(s, marker);
		if (r == -EEXIST)
			continue;
		if (r < 0)
			return r;
		if (mkdir(dir, 0755) < 0) {
			r = negative_errno();
			(void)unlink(marker);
			if (r == -EEXIST)
				continue;
			return r;
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
		return negative_errno();
	char **ids = xcalloc(1, sizeof(char *));
	struct dirent *de;
	while ((de = readdir(d)))
		if (looks_like_id(de->d_name))
			ids = strv_push(ids, de->d_name);
	closedir(d);
	/* Directory order is arbitrary; lists for people should not be. */
	sort_v(ids, strv_length(ids), sizeof(char *), cmp_str);
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
	if (k > 1)
		sort_v(v, k, sizeof *v, cmp_newest_first);
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
			return negative_errno();
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

char *store_object_path(const Store *s, const unsigned char md[SHA256_LEN])
{
	char d[DIGEST_STR_LEN + 1];
	digest_format(md, d);
	return xasprintf("%s/%.2s/%s", s->objects, d + 7, d + 9);
}

char *store_object_where(const Store *s, const unsigned char md[SHA256_LEN])
{
	StoreLoc loc;
	if (store_object_exists_loose(s, md) != 1 &&
	    store_pack_find(s, md, &loc) == 1) {
		close(loc.fd);
		return xasprintf("%s/%s.pack at %" PRIu64, s->packs, loc.pack,
		                 loc.offset);
	}
	return store_object_path(s, md);
}

int store_object_exists_loose(const Store *s,
                              const unsigned char md[SHA256_LEN])
{
	struct stat st;
	int r;
	if (s->objects_fd >= 0) {
		char d[DIGEST_STR_LEN + 1], rel[DIGEST_STR_LEN + 1];
		digest_format(md, d);
		snprintf(rel, sizeof rel, "%.2s/%s", d + 7, d + 9);
		r = fstatat(s->objects_fd, rel, &st, AT_SYMLINK_NOFOLLOW);
	} else {
		_cleanup_free_ char *p = store_object_path(s, md);
		r = lstat(p, &st);
	}
	if (r == 0)
		return S_ISREG(st.st_mode) ? 1 : -EUCLEAN;
	return errno == ENOENT ? 0 : negative_errno();
}

int store_object_exists(const Store *s, const unsigned char md[SHA256_LEN])
{
	/* The packs loaded first (no system call), then the loose file,
	 * then packs added since. */
	if (store_pack_find_loaded(s, md) > 0)
		return 1;
	int r = store_object_exists_loose(s, md);
	if (r != 0)
		return r;
	return store_pack_find_new(s, md);
}

/* A memory file holding a packed object's bytes, at offset 0. */
static int packed_memfd(const StoreLoc *loc, int *ret_fd)
{
	_cleanup_close_ int fd = memfd_create("xrun-object", MFD_CLOEXEC);
	if (fd < 0)
		return negative_errno();
	_cleanup_free_ char *buf = xmalloc(loc->size + 1);
	int r = store_pack_read(loc, buf);
	if (r == 0)
		r = write_all(fd, buf, loc->size);
	if (r == 0 && lseek(fd, 0, SEEK_SET) < 0)
		r = negative_errno();
	if (r < 0)
		return r;
	/* cppcheck-suppress unreadVariable */
	*ret_fd = TAKE_FD(fd);
	return 0;
}

int store_object_open(const Store *s, const unsigned char md[SHA256_LEN],
                      int *ret_fd)
{
	_cleanup_free_ char *p = store_object_path(s, md);
	int fd = open(p, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
	if (fd >= 0) {
		*ret_fd = fd;
		return 0;
	}
	int r = negative_errno();
	if (r != -ENOENT)
		return r;
	StoreLoc loc;
	r = store_pack_find(s, md, &loc);
	if (r <= 0)
		return r < 0 ? r : -ENOENT;
	r = packed_memfd(&loc, ret_fd);
	close(loc.fd);
	return r;
}

int store_object_hash(const Store *s, const unsigned char md[SHA256_LEN],
                      unsigned char ret_md[SHA256_LEN], uint64_t *ret_bytes)
{
	StoreLoc loc;
	int r = store_object_exists_loose(s, md) == 1
	                ? 0
	                : store_pack_find(s, md, &loc);
	if (r < 0)
		return r;
	if (r == 0) {
		_cleanup_close_ int fd = -1;
		r = store_object_open(s, md, &fd);
		if (r < 0)
			return r;
		(void)posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
		return copy_and_hash(fd, -1, ret_md, ret_bytes);
	}
	/* cppcheck-suppress unreadVariable */
	_cleanup_close_ int pfd = loc.fd;
	_cleanup_free_ char *buf = xmalloc(loc.size + 1);
	r = store_pack_read(&loc, buf);
	if (r < 0)
		return r;
	Hasher *h = hasher_new();
	hasher_update(h, buf, loc.size);
	hasher_finish_raw(h, ret_md);
	if (ret_bytes)
		*ret_bytes = loc.size;
	return 0;
}

int store_temp_create(const Store *s, char **ret_path, int *ret_fd)
{
	*ret_path = NULL;
	*ret_fd = -1;
	/* Named for the launcher, so that gc can tell a dead one's from a
	 * live one's at once. */
	_cleanup_free_ char *token = NULL;
	if (launcher_token(&token) < 0)
		token = xstrdup("unknown");
	for (int tries = 0; tries < 16; tries++) {
		unsigned char rnd[8];
		if (getentropy(rnd, sizeof rnd) < 0)
			return negative_errno();
		_cleanup_free_ char *hex = hex_encode(rnd, sizeof rnd);
		_cleanup_free_ char *p =
		        xasprintf("%s/" STORE_TEMP_PREFIX "%s-%s.tmp", s->tmp,
		                  token, hex);
		int fd = open(
		        p, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
		        0444);
		if (fd < 0) {
			if (errno == EEXIST)
				continue;
			if (errno == ENOENT && mkdir(s->tmp, 0755) == 0)
				continue; /* a store from before tmp/ */
			return negative_errno();
		}
		*ret_path = TAKE_PTR(p);
		*ret_fd = fd;
		return 0;
	}
	return -EEXIST;
}

/* Put tmp in place as dst unless dst exists: an object that exists is
 * kept (DESIGN.md §3). Replacing it would be harmless for its bytes but
 * not for its readers: a link(2) to the old inode racing with the
 * rename fails with ENOENT (a run making its view). */
static int place_object(const char *tmp_path, const char *dst)
{
	if (renameat2(AT_FDCWD, tmp_path, AT_FDCWD, dst, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno == EEXIST) {
		(void)unlink(tmp_path);
		return 0;
	}
	if (errno != EINVAL && errno != ENOSYS)
		return negative_errno();
	/* A file system without RENAME_NOREPLACE (NFS): link, which does
	 * not replace either, else rename. */
	if (link(tmp_path, dst) == 0 || errno == EEXIST) {
		(void)unlink(tmp_path);
		return 0;
	}
	if (errno == ENOENT)
		return -ENOENT;
	return rename(tmp_path, dst) == 0 ? 0 : -errno;
}

int store_object_commit(const Store *s, const char *tmp_path,
                        const unsigned char md[SHA256_LEN])
{
	_cleanup_free_ char *dst = store_object_path(s, md);
	int r = place_object(tmp_path, dst);
	if (r != -ENOENT)
		return r;
	/* The fan-out directory is missing: make it (many writers may race
	 * to), then try once more. */
	_cleanup_free_ char *dir = xstrdup(dst);
	*strrchr(dir, '/') = 0;
	if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
		if (errno != ENOENT)
			return negative_errno();
		r = mkdir_p(dir, 0755);
		if (r < 0)
			return r;
	}
	return place_object(tmp_path, dst);
}

int reflink_fd(int in, int out)
{
	if (ioctl(out, FICLONE, in) == 0)
		return 0;
	/* ext4, tmpfs, NFS without server-side clone, across file systems */
	if (errno == ENOTTY || errno == EINVAL || errno == EXDEV ||
	    errno == EOPNOTSUPP || errno == ENOSYS || errno == EBADF ||
	    errno == EPERM)
		return -EOPNOTSUPP;
	return negative_errno();
}

static int fsync_parent(const char *path)
{
	_cleanup_free_ char *dir = xstrdup(path);
	*strrchr(dir, '/') = 0;
	return fsync_dir(dir);
}

static int put_temp(const Store *s, int fd, const char *tmp, int tfd,
                    unsigned char md[SHA256_LEN], uint64_t *ret_size)
{
	uint64_t size = 0;
	int r = reflink_fd(fd, tfd);
	if (r == 0) {
		/* The clone shares blocks: hash what was cloned. */
		if (lseek(tfd, 0, SEEK_SET) < 0)
			return negative_errno();
		r = copy_and_hash(tfd, -1, md, &size);
	} else if (r == -EOPNOTSUPP) {
		if (lseek(fd, 0, SEEK_SET) < 0 && errno != ESPIPE)
			return negative_errno();
		(void)posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
		r = copy_and_hash(fd, tfd, md, &size);
	}
	if (r < 0)
		return r;
	r = store_object_exists(s, md);
	if (r < 0)
		return r;
	if (r == 0) {
		if (fsync(tfd) < 0)
			return negative_errno();
		r = store_object_commit(s, tmp, md);
		if (r < 0)
			return r;
		_cleanup_free_ char *dst = store_object_path(s, md);
		r = fsync_parent(dst);
		if (r < 0)
			return r;
	} else
		(void)unlink(tmp);
	if (ret_size)
		*ret_size = size;
	return 0;
}

int store_put_fd(const Store *s, int fd, unsigned char ret_md[SHA256_LEN],
                 uint64_t *ret_size)
{
	_cleanup_free_ char *tmp = NULL;
	_cleanup_close_ int tfd = -1;
	int r = store_temp_create(s, &tmp, &tfd);
	if (r < 0)
		return r;
	unsigned char md[SHA256_LEN];
	r = put_temp(s, fd, tmp, tfd, md, ret_size);
	if (r < 0) {
		(void)unlink(tmp);
		return r;
	}
	memcpy(ret_md, md, SHA256_LEN);
	return 0;
}

int store_object_write(const Store *s, const unsigned char md[SHA256_LEN],
                       int (*write_fn)(void *data, int fd), void *data)
{
	_cleanup_free_ char *tmp = NULL;
	_cleanup_close_ int tfd = -1;
	int r = store_temp_create(s, &tmp, &tfd);
	if (r < 0)
		return r;
	r = write_fn(data, tfd);
	if (r == 0 && fsync(tfd) < 0)
		r = negative_errno();
	if (r == 0)
		r = store_object_commit(s, tmp, md);
	if (r < 0) {
		(void)unlink(tmp);
		return r;
	}
	_cleanup_free_ char *dst = store_object_path(s, md);
	return fsync_parent(dst);
}

typedef struct Bytes {
	const void *p;
	size_t n;
} Bytes;

static int write_bytes(void *data, int fd)
{
	const Bytes *b = data;
	return write_all(fd, b->p, b->n);
}

int store_put_mem(const Store *s, const void *p, size_t n,
                  unsigned char ret_md[SHA256_LEN])
{
	unsigned char md[SHA256_LEN];
	Hasher *h = hasher_new();
	hasher_update(h, p, n);
	hasher_finish_raw(h, md);
	int r = store_object_exists(s, md);
	if (r < 0)
		return r;
	if (r == 0) {
		Bytes b = {p, n};
		r = store_object_write(s, md, write_bytes, &b);
		if (r < 0)
			return r;
	}
	memcpy(ret_md, md, SHA256_LEN);
	return 0;
}

int store_object_read(const Store *s, const unsigned char md[SHA256_LEN],
                      size_t max, char **ret, size_t *ret_len)
{
	_cleanup_free_ char *buf = NULL;
	size_t len;
	_cleanup_free_ char *p = store_object_path(s, md);
	_cleanup_close_ int fd =
	        open(p, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
	int r;
	if (fd >= 0)
		r = read_full_fd(fd, max, &buf, &len);
	else if (errno != ENOENT)
		return negative_errno();
	else {
		StoreLoc loc;
		r = store_pack_find(s, md, &loc);
		if (r == 0)
			return -ENOENT;
		if (r < 0)
			return r;
		/* cppcheck-suppress unreadVariable */
		_cleanup_close_ int pfd = loc.fd;
		if (loc.size > max)
			return -EFBIG;
		buf = xmalloc(loc.size + 1);
		len = loc.size;
		r = store_pack_read(&loc, buf);
		if (r == 0)
			buf[len] = 0;
	}
	if (r < 0)
		return r;
	unsigned char got[SHA256_LEN];
	Hasher *h = hasher_new();
	hasher_update(h, buf, len);
	hasher_finish_raw(h, got);
	if (memcmp(got, md, SHA256_LEN) != 0)
		return -EBADMSG;
	*ret = TAKE_PTR(buf);
	if (ret_len)
		*ret_len = len;
	return 0;
}

int store_sync(const Store *s)
{
	_cleanup_close_ int fd =
	        open(s->objects, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return negative_errno();
	if (syncfs(fd) < 0)
		return negative_errno();
	return 0;
}

int store_list_objects(const Store *s, StoredObject **ret, size_t *ret_n)
{
	DIR *top = opendir(s->objects);
	if (!top)
		return negative_errno();
	StoredObject *v = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;
	while ((de = readdir(top))) {
		if (strlen(de->d_name) != 2)
			continue;
		int fd =
		        openat(dirfd(top), de->d_name,
		               O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0)
			continue;
		DIR *d = fdopendir(fd);
		if (!d) {
			close(fd);
			continue;
		}
		struct dirent *e;
		while ((e = readdir(d))) {
			char name[DIGEST_STR_LEN + 1];
			if (strlen(e->d_name) != 62)
				continue;
			snprintf(name, sizeof name, "sha256:%s%s", de->d_name,
			         e->d_name);
			unsigned char md[SHA256_LEN];
			struct stat st;
			if (digest_parse(name, md) < 0 ||
			    fstatat(dirfd(d), e->d_name, &st,
			            AT_SYMLINK_NOFOLLOW) < 0)
				continue;
			if (n == cap) {
				cap = cap ? cap * 2 : 1024;
				v = xrealloc(v, cap * sizeof *v);
			}
			memcpy(v[n].md, md, SHA256_LEN);
			v[n].size = (uint64_t)st.st_size;
			v[n].mtime_ns =
			        (int64_t)st.st_mtim.tv_sec * 1000000000 +
			        st.st_mtim.tv_nsec;
			v[n].packed = false;
			n++;
		}
		closedir(d);
	}
	closedir(top);
	int r = store_list_packed(s, &v, &n, &cap);
	if (r < 0) {
		free(v);
		return r;
	}
	*ret = v;
	*ret_n = n;
	return 0;
}

int store_remove_run(Store *s, const char *id)
{
	if (!*id || strchr(id, '/') || id[0] == '.')
		return -EINVAL;
	_cleanup_free_ char *dir = path_join(s->runs, id);
	/* Out of runs/ in one rename: a reader sees the run or nothing,
	 * and what an interrupted removal leaves lies in tmp/. */
	_cleanup_free_ char *name = xasprintf("rm-%s", id);
	_cleanup_free_ char *gone = path_join(s->tmp, name);
	if (rename(dir, gone) < 0)
		return negative_errno();
	int r = remove_tree(gone);
	(void)fsync_dir(s->runs);
	return r;
}

int manifest_load(const Store *s, const unsigned char md[SHA256_LEN],
                  Manifest **ret)
{
	_cleanup_free_ char *text = NULL;
	size_t len;
	int r = store_object_read(s, md, MANIFEST_MAX, &text, &len);
	if (r < 0)
		return r;
	return manifest_parse(text, len, ret, NULL);
}
