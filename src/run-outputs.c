#include "config.h"

#include "run-outputs.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>

#include "hash.h"
#include "run-pins.h"
#include "util.h"

/* How a run's writes are kept apart from the output's path. */
typedef enum {
	ISOLATE_OVERLAY, /* overlayfs: before (lower) + upper */
	ISOLATE_COPY,    /* a copy of before, bound writable */
	ISOLATE_NONE,    /* --no-sandbox: the program writes the path */
} Isolation;

static const char *const isolation_names[] = {"overlay", "copy", "none"};

typedef struct Output {
	char *path;   /* where the program sees it */
	char *space;  /* runs/<id>/outputs/.space/<n> */
	char *keep;   /* a replay's runs/<id>/outputs/<n>, else NULL */
	bool is_file; /* a single regular file */
	bool nested;  /* inside another output: part of its tree */
	Manifest *before;
	json_t *before_json;    /* the pinned before tree, as recorded */
	struct stat *before_st; /* per entry of before, as pinned */
	bool before_from_path;  /* before_st are the path's own files' */
	/* After the run: the final tree, and what the run's own layer held
	 * (with the stat of each as pinned) */
	Manifest *final, *up;
	struct stat *up_st;
	char **skipped, **skipped_why;
	char **stripped, **stripped_what;
} Output;

struct RunOutputs {
	Output *o;
	size_t n;
	Isolation how;
	bool replay;
	bool keep_spaces; /* something went wrong: leave them to look at */
	int64_t start_ns; /* when the before trees were pinned */
	StatCache *cache; /* the run's, for its pins; saved at the end */
	char *id;
	char *spaces; /* runs/<id>/outputs/.space */
	char **warnings;
};

static void warnf(RunOutputs *ro, const char *fmt, ...) _printf_(2, 3);
static void warnf(RunOutputs *ro, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	ro->warnings = strv_vpushf(ro->warnings, fmt, ap);
	va_end(ap);
}

static void spaces_remove(RunOutputs *ro)
{
	if (!ro->spaces || ro->keep_spaces)
		return;
	(void)remove_tree(ro->spaces);
	/* A run's outputs/ held nothing else; a replay's holds its
	 * outputs. */
	char *slash = strrchr(ro->spaces, '/');
	*slash = 0;
	(void)rmdir(ro->spaces);
	free(ro->spaces);
	ro->spaces = NULL;
}

RunOutputs *run_outputs_free(RunOutputs *ro)
{
	if (!ro)
		return NULL;
	for (size_t i = 0; i < ro->n; i++) {
		Output *o = &ro->o[i];
		free(o->path);
		free(o->space);
		free(o->keep);
		manifest_free(o->before);
		json_decref(o->before_json);
		free(o->before_st);
		manifest_free(o->final);
		manifest_free(o->up);
		free(o->up_st);
		strv_free(o->skipped);
		strv_free(o->skipped_why);
		strv_free(o->stripped);
		strv_free(o->stripped_what);
	}
	free(ro->o);
	spaces_remove(ro);
	stat_cache_free(ro->cache);
	free(ro->id);
	free(ro->spaces);
	strv_free(ro->warnings);
	free(ro);
	return NULL;
}

char *const *run_outputs_warnings(const RunOutputs *ro)
{
	return ro ? ro->warnings : NULL;
}

/* ---- resolving a path without links ---- */

static char *link_message(const char *path, const char *at, int dirfd,
                          const char *name)
{
	char target[4096];
	ssize_t n = readlinkat(dirfd, name, target, sizeof target - 1);
	if (n < 0)
		n = 0;
	target[n] = 0;
	_cleanup_free_ char *real = realpath(at, NULL);
	const char *rest = path + strlen(at);
	_cleanup_free_ char *instead =
	        real ? xasprintf("%s%s", real, rest) : NULL;
	if (streq(at, path))
		return xasprintf("output '%s' is a symbolic link to '%s'; xrun "
		                 "does not write through links: pass %s%s%s "
		                 "instead",
		                 path, target, instead ? "-o '" : "",
		                 instead ? instead : "the real path",
		                 instead ? "'" : "");
	return xasprintf("'%s' in output '%s' is a symbolic link to '%s'; "
	                 "xrun does not write through links: pass %s%s%s "
	                 "instead",
	                 at, path, target, instead ? "-o '" : "",
	                 instead ? instead : "the real path",
	                 instead ? "'" : "");
}

int output_resolve(const char *path, char **ret_error)
{
	if (path[0] != '/') {
		*ret_error = xasprintf("output '%s' is not absolute", path);
		return -EINVAL;
	}
	_cleanup_close_ int fd =
	        open("/", O_PATH | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return negative_errno();
	_cleanup_free_ char *copy = xstrdup(path);
	char *p = copy + 1;
	while (*p) {
		char *slash = strchr(p, '/');
		bool last = !slash || !slash[1];
		if (slash)
			*slash = 0;
		_cleanup_free_ char *at =
		        xstrndup(path, (size_t)(p - copy) + strlen(p));
		struct stat st;
		if (fstatat(fd, p, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			int r = negative_errno();
			if (r == -ENOENT) {
				if (mkdirat(fd, p, 0755) < 0 && errno != EEXIST)
					r = negative_errno();
				else if (fstatat(fd, p, &st,
				                 AT_SYMLINK_NOFOLLOW) < 0)
					r = negative_errno();
				else
					r = 0;
			}
			if (r < 0) {
				*ret_error = xasprintf("cannot create output "
				                       "directory '%s': %s",
				                       at, strerror(-r));
				return r;
			}
		}
		if (S_ISLNK(st.st_mode)) {
			*ret_error = link_message(path, at, fd, p);
			return -ELOOP;
		}
		if (!S_ISDIR(st.st_mode) && !(last && S_ISREG(st.st_mode))) {
			*ret_error = xasprintf(
			        "output '%s': '%s' is not a directory%s", path,
			        at, last ? " or a regular file" : "");
			return -ENOTDIR;
		}
		if (last)
			return 0;
		int next = openat(
		        fd, p, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (next < 0) {
			int r = negative_errno();
			*ret_error = xasprintf("cannot open '%s': %s", at,
			                       strerror(-r));
			return r;
		}
		close(fd);
		fd = next;
		p = slash + 1;
	}
	return 0;
}

/* ---- trees: snapshots and copies ---- */

typedef struct Clone {
	bool link;       /* hard links where possible, else copies */
	uint64_t copied; /* bytes copied where a link was refused */
	char **skipped, **why;
	/* What the tree held when it was pinned: each entry met is
	 * checked against it (files by their whole stat, ctime
	 * included) */
	const Manifest *expect;
	const struct stat *expect_st;
	size_t matched;
	bool differs;
} Clone;

static bool same_stat(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino &&
	       a->st_size == b->st_size &&
	       a->st_mtim.tv_sec == b->st_mtim.tv_sec &&
	       a->st_mtim.tv_nsec == b->st_mtim.tv_nsec &&
	       a->st_ctim.tv_sec == b->st_ctim.tv_sec &&
	       a->st_ctim.tv_nsec == b->st_ctim.tv_nsec;
}

/* Is the entry at rel what the pin saw? */
static void clone_expect(Clone *c, const char *rel, const struct stat *st)
{
	if (!c->expect || c->differs)
		return;
	const ManifestEntry *e = manifest_find(c->expect, rel);
	bool ok = false;
	if (e && S_ISREG(st->st_mode))
		ok = e->kind == ENTRY_FILE &&
		     same_stat(&c->expect_st[e - c->expect->entries], st);
	else if (e && S_ISDIR(st->st_mode))
		ok = e->kind == ENTRY_DIR && (st->st_mode & 07777) == e->mode;
	else if (e && S_ISLNK(st->st_mode))
		ok = e->kind == ENTRY_LINK; /* its target: checked below */
	if (ok)
		c->matched++;
	else
		c->differs = true;
}

static int copy_file_at(int sfd, const char *name, int dfd, mode_t mode)
{
	_cleanup_close_ int in =
	        openat(sfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
	if (in < 0)
		return negative_errno();
	_cleanup_close_ int out = openat(
	        dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
	        0600);
	if (out < 0)
		return negative_errno();
	int r = reflink_fd(in, out);
	if (r < 0)
		r = copy_and_hash(in, out, NULL, NULL);
	if (r == 0 && fchmod(out, mode & 0777) < 0)
		r = negative_errno();
	if (r < 0)
		(void)unlinkat(dfd, name, 0);
	return r;
}

static void clone_skip(Clone *c, const char *rel, const char *why)
{
	c->skipped = strv_push(c->skipped, rel);
	c->why = strv_push(c->why, why);
}

/* Copy the tree in sfd into dfd (an empty directory): directories and
 * links as themselves, files as hard links (c->link) or copies; what a
 * tree cannot hold is left out and named. */
static int clone_tree(Clone *c, int sfd, int dfd, const char *rel)
{
	int fd = fcntl(sfd, F_DUPFD_CLOEXEC, 3);
	if (fd < 0)
		return negative_errno();
	DIR *d = fdopendir(fd);
	if (!d) {
		close(fd);
		return negative_errno();
	}
	int r = 0;
	struct dirent *de;
	while (r == 0 && (de = readdir(d))) {
		const char *name = de->d_name;
		if (streq(name, ".") || streq(name, ".."))
			continue;
		_cleanup_free_ char *sub =
		        rel[0] ? xasprintf("%s/%s", rel, name) : xstrdup(name);
		struct stat st;
		if (fstatat(sfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			if (errno != ENOENT)
				clone_skip(c, sub, strerror(errno));
			continue;
		}
		if (S_ISDIR(st.st_mode) || S_ISREG(st.st_mode) ||
		    S_ISLNK(st.st_mode))
			clone_expect(c, sub, &st);
		if (S_ISDIR(st.st_mode)) {
			_cleanup_close_ int s2 =
			        openat(sfd, name,
			               O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
			                       O_CLOEXEC);
			if (mkdirat(dfd, name, 0700) < 0) {
				r = negative_errno();
				break;
			}
			if (s2 < 0) {
				clone_skip(c, sub, "an unreadable directory");
			} else {
				_cleanup_close_ int d2 =
				        openat(dfd, name,
				               O_RDONLY | O_DIRECTORY |
				                       O_NOFOLLOW | O_CLOEXEC);
				if (d2 < 0)
					r = negative_errno();
				else
					r = clone_tree(c, s2, d2, sub);
			}
			if (r == 0 &&
			    fchmodat(dfd, name, st.st_mode & 07777, 0) < 0)
				r = negative_errno();
		} else if (S_ISLNK(st.st_mode)) {
			char target[4097];
			ssize_t n = readlinkat(sfd, name, target,
			                       sizeof target - 1);
			if (n <= 0) {
				clone_skip(c, sub, "an unreadable symlink");
				continue;
			}
			target[n] = 0;
			const ManifestEntry *e =
			        c->expect ? manifest_find(c->expect, sub)
			                  : NULL;
			if (e && (!e->target || !streq(e->target, target)))
				c->differs = true;
			if (symlinkat(target, dfd, name) < 0)
				r = negative_errno();
		} else if (S_ISREG(st.st_mode)) {
			if (c->link && linkat(sfd, name, dfd, name, 0) == 0)
				continue;
			if (c->link && errno != EXDEV && errno != EPERM &&
			    errno != EMLINK && errno != EACCES) {
				r = negative_errno();
				break;
			}
			int k = copy_file_at(sfd, name, dfd, st.st_mode);
			if (k == -EACCES || k == -EPERM)
				clone_skip(c, sub, "an unreadable file");
			else if (k < 0)
				r = k;
			else if (c->link)
				c->copied += (uint64_t)st.st_size;
		} else {
			clone_skip(c, sub,
			           S_ISFIFO(st.st_mode)   ? "a FIFO"
			           : S_ISSOCK(st.st_mode) ? "a socket"
			           : S_ISCHR(st.st_mode)  ? "a character device"
			           : S_ISBLK(st.st_mode)
			                   ? "a block device"
			                   : "not a regular file");
		}
	}
	closedir(d);
	return r;
}

static int open_dir(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	return fd < 0 ? negative_errno() : fd;
}

static int clone_path(Clone *c, const char *from, const char *to)
{
	_cleanup_close_ int s = open_dir(from);
	if (s < 0)
		return s;
	_cleanup_close_ int d = open_dir(to);
	if (d < 0)
		return d;
	return clone_tree(c, s, d, "");
}

/* ---- pinning ---- */

static Manifest *manifest_copy(const Manifest *m)
{
	Manifest *c = manifest_new();
	for (size_t i = 0; m && i < m->n; i++) {
		const ManifestEntry *e = &m->entries[i];
		ManifestEntry *n = manifest_add(c, e->kind, e->path, e->mode,
		                                e->size, e->target);
		memcpy(n->digest, e->digest, SHA256_LEN);
	}
	return c;
}

/* A tree or file pinned: what the record and the rest need of it. */
typedef struct Pinned {
	Manifest *m;
	json_t *json; /* as pin_root_json() makes it, at path shown */
	char **skipped, **skipped_why, **stripped, **stripped_what;
	struct stat *st; /* per entry of m: as the pinner saw it */
} Pinned;

static void pinned_clear(Pinned *p)
{
	free(p->st);
	manifest_free(p->m);
	json_decref(p->json);
	strv_free(p->skipped);
	strv_free(p->skipped_why);
	strv_free(p->stripped);
	strv_free(p->stripped_what);
	memset(p, 0, sizeof *p);
}

static void notes_add(char ***paths, char ***what, char *const *p,
                      char *const *w)
{
	for (size_t i = 0; p && p[i]; i++) {
		*paths = strv_push(*paths, p[i]);
		*what = strv_push(*what, w[i]);
	}
}

/* Pin path (a tree or a file), recorded as shown. */
static int pin_one(Store *s, StatCache *cache, const char *path,
                   const char *shown, PinProgressFn fn, void *data, Pinned *ret,
                   char **ret_error)
{
	_cleanup_pinner_ Pinner *p = pinner_new(s, cache);
	PinAddOptions opt = {.keep_going = true, .strip_setid = true};
	int r = pinner_add(p, path, &opt, NULL);
	if (r == 0)
		r = pinner_run(p, fn, data);
	if (r < 0) {
		*ret_error = xstrdup(pinner_error(p));
		return r;
	}
	const PinRoot *root = pinner_root(p, 0);
	memset(ret, 0, sizeof *ret);
	ret->m = manifest_copy(root->manifest);
	ret->st = pinner_stats(p, 0);
	ret->json = pin_root_json(root);
	json_object_set_new(ret->json, "path", json_bstr(shown));
	notes_add(&ret->skipped, &ret->skipped_why, root->skipped,
	          root->skipped_why);
	notes_add(&ret->stripped, &ret->stripped_what, root->stripped,
	          root->stripped_what);
	return 0;
}

/* ---- before the run ---- */

/* A file output's name: its copy in the space has it too, so that its
 * manifests name it as the path does. */
static const char *base_of(const char *path)
{
	return strrchr(path, '/') + 1;
}

static bool path_below(const char *path, const char *top)
{
	size_t n = strlen(top);
	return strneq(path, top, n) && path[n] == '/';
}

static int make_space(const char *space, bool is_file)
{
	if (mkdir(space, 0700) < 0)
		return negative_errno();
	if (is_file)
		return 0;
	static const char *const sub[] = {"before", "upper", "work"};
	for (size_t i = 0; i < ELEMENTSOF(sub); i++) {
		_cleanup_free_ char *p = path_join(space, sub[i]);
		if (mkdir(p, 0755) < 0)
			return negative_errno();
	}
	return 0;
}

/* The original's before tree (a replay's), or an empty one, at the
 * space's before (or file). */
static int restore_before(Store *s, const Output *o, const json_t *before,
                          char **ret_error)
{
	_cleanup_free_ char *dest =
	        path_join(o->space, o->is_file ? base_of(o->path) : "before");
	const char *mtext = json_get_string(before, "manifest");
	unsigned char md[SHA256_LEN];
	if (!mtext || digest_parse(mtext, md) < 0) {
		if (!o->is_file)
			return 0; /* none recorded: empty */
		int fd = open(dest,
		              O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC |
		                      O_NOFOLLOW,
		              0644);
		if (fd < 0)
			return negative_errno();
		close(fd);
		return 0;
	}
	Manifest *m_raw = NULL;
	int r = manifest_load(s, md, &m_raw);
	_cleanup_manifest_ Manifest *m = m_raw;
	if (r < 0) {
		*ret_error = xasprintf("cannot read the manifest %s of the "
		                       "before tree of '%s': %s",
		                       mtext, o->path, strerror(-r));
		return r;
	}
	_cleanup_free_ char *bad = NULL;
	r = materialize(s, m, o->is_file, NULL, dest, MATERIALIZE_RESTORE,
	                false, &bad);
	if (r < 0)
		*ret_error = xasprintf("cannot restore the before tree of '%s' "
		                       "in '%s': %s",
		                       o->path, bad ? bad : dest, strerror(-r));
	return r;
}

static int publish_lock(Store *s, const char *path);

/* A run's: the output's content now, in its space's before (hard
 * links: nothing is copied where the store shares the file system; a
 * file output is a copy, which the program writes in place). *ret_same:
 * the snapshot is what expect (the path pinned just before) says, entry
 * for entry, stat for stat. */
static int snapshot(RunOutputs *ro, Output *o, const Pinned *expect,
                    bool *ret_same, char **ret_error)
{
	int r;
	*ret_same = false;
	if (o->is_file) {
		_cleanup_free_ char *dir = xstrdup(o->path);
		*strrchr(dir, '/') = 0;
		_cleanup_close_ int sfd = open_dir(dir[0] ? dir : "/");
		_cleanup_close_ int dfd = open_dir(o->space);
		struct stat st, st2;
		r = sfd < 0 ? sfd : dfd < 0 ? dfd : 0;
		if (r == 0 && fstatat(sfd, base_of(o->path), &st,
		                      AT_SYMLINK_NOFOLLOW) < 0)
			r = negative_errno();
		if (r == 0)
			r = copy_file_at(sfd, base_of(o->path), dfd,
			                 st.st_mode);
		if (r < 0) {
			*ret_error = xasprintf("cannot copy output '%s' for "
			                       "the run: %s",
			                       o->path, strerror(-r));
			return r;
		}
		*ret_same = expect->m->n == 1 &&
		            fstatat(sfd, base_of(o->path), &st2,
		                    AT_SYMLINK_NOFOLLOW) == 0 &&
		            same_stat(&st, &st2) &&
		            same_stat(&st, &expect->st[0]);
		return 0;
	}
	Clone c = {.link = true, .expect = expect->m, .expect_st = expect->st};
	_cleanup_free_ char *before = path_join(o->space, "before");
	r = clone_path(&c, o->path, before);
	*ret_same = r == 0 && !c.differs && c.matched == expect->m->n;
	/* The pin named them already where the snapshot is the pin's. */
	if (!*ret_same)
		notes_add(&o->skipped, &o->skipped_why, c.skipped, c.why);
	strv_free(c.skipped);
	strv_free(c.why);
	if (r < 0) {
		*ret_error = xasprintf("cannot take the before tree of output "
		                       "'%s' into '%s': %s",
		                       o->path, before, strerror(-r));
		return r;
	}
	if (c.copied)
		warnf(ro,
		      "the before tree of '%s' was copied for the run: its "
		      "files cannot be linked from the store's file system "
		      "(another file system, or another user's files)",
		      o->path);
	return 0;
}

/* A run's before tree: the path pinned (its stat cache saves hashing
 * what did not change), then its snapshot taken, while no other run
 * publishes to it. Where the snapshot is not what the pin saw (written
 * meanwhile), the snapshot itself is pinned. */
static int pin_before(RunOutputs *ro, Store *s, Output *o, Pinned *b,
                      char **ret_error)
{
	int lock = publish_lock(s, o->path);
	int r = pin_one(s, ro->cache, o->path, o->path, NULL, NULL, b,
	                ret_error);
	bool same = false;
	if (r == 0)
		r = snapshot(ro, o, b, &same, ret_error);
	if (lock >= 0)
		close(lock);
	if (r < 0 || same) {
		o->before_from_path = r == 0;
		return r;
	}
	pinned_clear(b);
	_cleanup_free_ char *from =
	        path_join(o->space, o->is_file ? base_of(o->path) : "before");
	return pin_one(s, ro->cache, from, o->path, NULL, NULL, b, ret_error);
}

/* Whether overlayfs can be mounted here, as found once per boot and
 * user (the store's cache keeps the answer: a probe is a fork and a
 * mount). */
static int overlay_usable(Store *s, const char *run_dir)
{
	_cleanup_free_ char *boot = NULL, *text = NULL;
	_cleanup_free_ char *name =
	        xasprintf("overlay-%u-v1", (unsigned)getuid());
	_cleanup_free_ char *path = s->cache ? path_join(s->cache, name) : NULL;
	size_t len = 0;
	int err = -1;
	if (path && read_boot_id(&boot) == 0 &&
	    read_full_file(path, 256, &text, &len) == 0) {
		size_t n = strlen(boot);
		if (len > n + 1 && strneq(text, boot, n) && text[n] == ' ')
			err = (int)strtol(text + n + 1, NULL, 10);
	}
	if (err >= 0)
		return -err;
	_cleanup_free_ char *probe = path_join(run_dir, "outputs/.probe");
	int r = mkdir(probe, 0700) < 0 ? negative_errno()
	                               : sandbox_probe_overlay(probe);
	(void)remove_tree(probe);
	if (path && boot) {
		_cleanup_free_ char *line = xasprintf("%s %d\n", boot, -r);
		(void)write_file_replace(s->cache, name, line, strlen(line),
		                         0644);
	}
	return r;
}

static Isolation choose_isolation(RunOutputs *ro, Store *s, const char *run_dir)
{
	const char *force = getenv("XRUN_OUTPUT_ISOLATION");
	if (force && streq(force, "copy"))
		return ISOLATE_COPY;
	int r = overlay_usable(s, run_dir);
	if (r == 0)
		return ISOLATE_OVERLAY;
	warnf(ro,
	      "overlayfs cannot be mounted in a user namespace here (%s): "
	      "each output's before tree is copied for the run instead",
	      strerror(-r));
	return ISOLATE_COPY;
}

int run_outputs_prepare(Store *s, const RunSpec *spec, char *const *outputs,
                        const char *run_dir, const char *id, Sandbox *sb,
                        RunOutputs **ret, char **ret_error)
{
	RunOutputs *ro = xcalloc(1, sizeof *ro);
	*ret = ro;
	ro->replay = spec->outputs_redirected;
	ro->id = xstrdup(id);
	ro->start_ns = now_ns();
	ro->cache = stat_cache_new(s->cache);
	ro->how = sb ? ISOLATE_OVERLAY : ISOLATE_NONE;
	size_t n = strv_length(outputs);
	if (n == 0)
		return 0;
	ro->o = xcalloc(n, sizeof(Output));
	_cleanup_free_ char *top = path_join(run_dir, "outputs");
	ro->spaces = path_join(top, ".space");
	if (sb && (mkdir(top, 0755) < 0 || mkdir(ro->spaces, 0700) < 0)) {
		int r = negative_errno();
		*ret_error = xasprintf("cannot make the outputs' space in "
		                       "'%s': %s",
		                       top, strerror(-r));
		return r;
	}
	if (sb)
		ro->how = choose_isolation(ro, s, run_dir);
	for (size_t i = 0; i < n; i++) {
		Output *o = &ro->o[ro->n++];
		o->path = xstrdup(outputs[i]);
		for (size_t k = 0; k < n; k++)
			o->nested =
			        o->nested || path_below(o->path, outputs[k]);
		if (o->nested)
			continue;
		struct stat st;
		o->is_file = ro->replay ? spec->output_is_file &&
		                                  spec->output_is_file[i]
		                        : lstat(o->path, &st) == 0 &&
		                                  S_ISREG(st.st_mode);
		if (ro->replay)
			o->keep = xasprintf("%s/%zu", top, i);
		int r = 0;
		_cleanup_free_ char *pinned_from = NULL;
		if (sb) {
			o->space = xasprintf("%s/%zu", ro->spaces, i);
			r = make_space(o->space, o->is_file);
			if (r < 0) {
				*ret_error = xasprintf(
				        "cannot make the space of output '%s' "
				        "in '%s': %s",
				        o->path, o->space, strerror(-r));
				return r;
			}
			json_t *b = json_array_get(spec->output_before, i);
			r = ro->replay ? restore_before(s, o, b, ret_error) : 0;
			if (r < 0)
				return r;
			pinned_from = path_join(o->space,
			                        o->is_file ? base_of(o->path)
			                                   : "before");
		} else
			pinned_from = xstrdup(o->path);
		Pinned b = {0};
		r = sb && !ro->replay
		            ? pin_before(ro, s, o, &b, ret_error)
		            : pin_one(s, ro->cache, pinned_from, o->path, NULL,
		                      NULL, &b, ret_error);
		if (r < 0) {
			pinned_clear(&b);
			return r;
		}
		o->before = TAKE_PTR(b.m);
		o->before_st = TAKE_PTR(b.st);
		o->before_json = TAKE_PTR(b.json);
		notes_add(&o->skipped, &o->skipped_why, b.skipped,
		          b.skipped_why);
		notes_add(&o->stripped, &o->stripped_what, b.stripped,
		          b.stripped_what);
		pinned_clear(&b);
		if (!sb)
			continue;
		if (o->is_file) {
			_cleanup_free_ char *f =
			        path_join(o->space, base_of(o->path));
			sandbox_add_mount(sb, MOUNT_RW_BIND, f, o->path, 0);
		} else if (ro->how == ISOLATE_OVERLAY) {
			sandbox_add_mount(sb, MOUNT_OVERLAY, o->space, o->path,
			                  0);
		} else {
			_cleanup_free_ char *before =
			        path_join(o->space, "before");
			_cleanup_free_ char *upper =
			        path_join(o->space, "upper");
			Clone c = {.link = false};
			r = clone_path(&c, before, upper);
			strv_free(c.skipped);
			strv_free(c.why);
			if (r < 0) {
				*ret_error = xasprintf(
				        "cannot copy the before tree of '%s' "
				        "into '%s': %s",
				        o->path, upper, strerror(-r));
				return r;
			}
			sandbox_add_mount(sb, MOUNT_RW_BIND, upper, o->path, 0);
		}
	}
	return 0;
}

/* ---- after the run: the final tree ---- */

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool sorted_has(char *const *v, size_t n, const char *s)
{
	return n && bsearch(&s, v, n, sizeof(char *), cmp_str);
}

/* Is a before entry at path gone under what the upper layer says: a
 * whiteout at it or above it, an opaque directory or a non-directory
 * above it? */
static bool hidden_by_upper(const char *path, const Manifest *up,
                            char *const *wh, size_t n_wh, char *const *opq,
                            size_t n_opq)
{
	if (sorted_has(wh, n_wh, path))
		return true;
	_cleanup_free_ char *pre = xstrdup(path);
	for (char *sl = strchr(pre, '/'); sl; sl = strchr(sl + 1, '/')) {
		*sl = 0;
		const ManifestEntry *u = manifest_find(up, pre);
		bool cut = sorted_has(wh, n_wh, pre) ||
		           sorted_has(opq, n_opq, pre) ||
		           (u && u->kind != ENTRY_DIR);
		*sl = '/';
		if (cut)
			return true;
	}
	return false;
}

/* The overlay's result: before, less what the upper layer deletes or
 * hides, plus all it holds. The upper layer's whiteouts (character
 * devices 0/0) are among up's skipped entries: they are taken out of
 * them. */
static Manifest *overlay_result(const Manifest *before, const Manifest *up,
                                const char *upper, Pinned *upp)
{
	_cleanup_strv_free_ char **wh = NULL, **opq = NULL;
	size_t n_wh = 0, n_opq = 0;
	_cleanup_strv_free_ char **skipped = NULL, **why = NULL;
	_cleanup_close_ int ufd = open_dir(upper);
	for (size_t i = 0; upp->skipped && upp->skipped[i]; i++) {
		struct stat st;
		if (ufd >= 0 &&
		    fstatat(ufd, upp->skipped[i], &st, AT_SYMLINK_NOFOLLOW) ==
		            0 &&
		    S_ISCHR(st.st_mode) && st.st_rdev == makedev(0, 0)) {
			wh = strv_push(wh, upp->skipped[i]);
			n_wh++;
		} else {
			skipped = strv_push(skipped, upp->skipped[i]);
			why = strv_push(why, upp->skipped_why[i]);
		}
	}
	strv_free(upp->skipped);
	strv_free(upp->skipped_why);
	upp->skipped = TAKE_PTR(skipped);
	upp->skipped_why = TAKE_PTR(why);
	for (size_t i = 0; i < up->n; i++) {
		const ManifestEntry *e = &up->entries[i];
		char v[4];
		_cleanup_free_ char *p = path_join(upper, e->path);
		if (e->kind == ENTRY_DIR &&
		    lgetxattr(p, "user.overlay.opaque", v, sizeof v) >= 1 &&
		    v[0] == 'y') {
			opq = strv_push(opq, e->path);
			n_opq++;
		}
	}
	if (n_wh)
		sort_v(wh, n_wh, sizeof(char *), cmp_str);
	if (n_opq)
		sort_v(opq, n_opq, sizeof(char *), cmp_str);
	Manifest *m = manifest_new();
	for (size_t i = 0; i < before->n; i++) {
		const ManifestEntry *e = &before->entries[i];
		if (manifest_find(up, e->path) ||
		    hidden_by_upper(e->path, up, wh, n_wh, opq, n_opq))
			continue;
		ManifestEntry *c = manifest_add(m, e->kind, e->path, e->mode,
		                                e->size, e->target);
		memcpy(c->digest, e->digest, SHA256_LEN);
	}
	for (size_t i = 0; i < up->n; i++) {
		const ManifestEntry *e = &up->entries[i];
		ManifestEntry *c = manifest_add(m, e->kind, e->path, e->mode,
		                                e->size, e->target);
		memcpy(c->digest, e->digest, SHA256_LEN);
	}
	if (manifest_sort(m) < 0) {
		manifest_free(m);
		return NULL;
	}
	return m;
}

/* A directory root's record entry for manifest m (stored). */
static int tree_json(Store *s, const Manifest *m, const char *path,
                     json_t **ret)
{
	_cleanup_free_ char *text = NULL;
	size_t len;
	unsigned char md[SHA256_LEN];
	int r = manifest_format(m, &text, &len);
	if (r == 0)
		r = store_put_mem(s, text, len, md);
	if (r < 0)
		return r;
	char d[DIGEST_STR_LEN + 1];
	digest_format(md, d);
	*ret = json_pack("{s:o,s:s,s:s,s:I,s:I,s:s}", "path", json_bstr(path),
	                 "kind", "directory", "digest", d, "files",
	                 (json_int_t)manifest_files(m), "bytes",
	                 (json_int_t)manifest_bytes(m), "manifest", d);
	return 0;
}

#define CHANGES_MAX 10000

static bool entry_same(const ManifestEntry *a, const ManifestEntry *b)
{
	if (a->kind != b->kind || a->mode != b->mode)
		return false;
	if (a->kind == ENTRY_FILE)
		return memcmp(a->digest, b->digest, SHA256_LEN) == 0;
	if (a->kind == ENTRY_LINK)
		return streq(a->target, b->target);
	return true;
}

/* What changed from before to after, by path. A file output's single
 * entry is named by its base name in both. */
static json_t *changes_json(const Manifest *before, const Manifest *after)
{
	json_t *lists[3] = {json_array(), json_array(), json_array()};
	size_t counts[3] = {0, 0, 0};
	size_t i = 0, k = 0;
	while (i < before->n || k < after->n) {
		int c = i == before->n  ? 1
		        : k == after->n ? -1
		                        : strcmp(before->entries[i].path,
		                                 after->entries[k].path);
		int which = -1;
		const char *path = NULL;
		if (c < 0) {
			which = 2, path = before->entries[i++].path;
		} else if (c > 0) {
			which = 0, path = after->entries[k++].path;
		} else {
			if (!entry_same(&before->entries[i],
			                &after->entries[k]))
				which = 1, path = after->entries[k].path;
			i++, k++;
		}
		if (which < 0)
			continue;
		if (counts[which]++ < CHANGES_MAX)
			json_array_append_new(lists[which], json_bstr(path));
	}
	bool complete = counts[0] <= CHANGES_MAX && counts[1] <= CHANGES_MAX &&
	                counts[2] <= CHANGES_MAX;
	return json_pack("{s:o,s:o,s:o,s:b}", "added", lists[0], "modified",
	                 lists[1], "deleted", lists[2], "complete", complete);
}

static json_t *notes_json(char *const *paths, char *const *what,
                          const char *key)
{
	json_t *a = json_array();
	for (size_t i = 0; paths && paths[i]; i++)
		json_array_append_new(a, json_pack("{s:o,s:s}", "path",
		                                   json_bstr(paths[i]), key,
		                                   what[i]));
	return a;
}

/* ---- after the run: publishing ---- */

/* Put a file at pfd/name: src (srcfd/rel) linked where it can be, else
 * copied, then made mode, without file capabilities, and renamed into
 * place. */
static int place_file(int srcfd, const char *rel, int pfd, const char *name,
                      mode_t mode, const char *tmp)
{
	(void)unlinkat(pfd, tmp, 0);
	if (linkat(srcfd, rel, pfd, tmp, 0) < 0) {
		_cleanup_close_ int in =
		        openat(srcfd, rel,
		               O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
		if (in < 0)
			return negative_errno();
		_cleanup_close_ int out = openat(pfd, tmp,
		                                 O_WRONLY | O_CREAT | O_EXCL |
		                                         O_NOFOLLOW | O_CLOEXEC,
		                                 0600);
		if (out < 0)
			return negative_errno();
		int r = reflink_fd(in, out);
		if (r < 0)
			r = copy_and_hash(in, out, NULL, NULL);
		if (r < 0) {
			(void)unlinkat(pfd, tmp, 0);
			return r;
		}
	}
	char proc[64];
	snprintf(proc, sizeof proc, "/proc/self/fd/%d", pfd);
	_cleanup_free_ char *p = path_join(proc, tmp);
	/* Removing is refused without CAP_SETFCAP even where there is
	 * nothing to remove: ask first. */
	bool caps = lgetxattr(p, "security.capability", NULL, 0) >= 0;
	if ((caps && lremovexattr(p, "security.capability") < 0) ||
	    fchmodat(pfd, tmp, mode & 0777 & ~(mode_t)(S_ISUID | S_ISGID), 0) <
	            0 ||
	    renameat(pfd, tmp, pfd, name) < 0) {
		int r = negative_errno();
		(void)unlinkat(pfd, tmp, 0);
		return r;
	}
	return 0;
}

/* A file the run left as it found it stays the same file, but without
 * setuid, setgid or file capabilities. */
static int strip_in_place(int pfd, const char *name, const struct stat *st,
                          mode_t mode)
{
	char proc[64];
	snprintf(proc, sizeof proc, "/proc/self/fd/%d", pfd);
	_cleanup_free_ char *p = path_join(proc, name);
	if (lgetxattr(p, "security.capability", NULL, 0) >= 0 &&
	    lremovexattr(p, "security.capability") < 0)
		return negative_errno();
	if ((st->st_mode & 07777) != (mode & 0777) &&
	    fchmodat(pfd, name, mode & 0777, 0) < 0)
		return negative_errno();
	return 0;
}

/* Remove what target holds that m does not list (regular files,
 * links, directories: what a run may have put there). */
static int remove_extra(int dfd, const char *rel, const Manifest *m)
{
	int fd = fcntl(dfd, F_DUPFD_CLOEXEC, 3);
	if (fd < 0)
		return negative_errno();
	DIR *d = fdopendir(fd);
	if (!d) {
		close(fd);
		return negative_errno();
	}
	int r = 0;
	struct dirent *de;
	while (r == 0 && (de = readdir(d))) {
		if (streq(de->d_name, ".") || streq(de->d_name, ".."))
			continue;
		_cleanup_free_ char *sub =
		        rel[0] ? xasprintf("%s/%s", rel, de->d_name)
		               : xstrdup(de->d_name);
		struct stat st;
		if (fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		if (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode) &&
		    !S_ISLNK(st.st_mode))
			continue;
		const ManifestEntry *e = manifest_find(m, sub);
		if (!e) {
			r = remove_tree_at(dfd, de->d_name);
		} else if (S_ISDIR(st.st_mode) && e->kind == ENTRY_DIR) {
			_cleanup_close_ int sfd =
			        openat(dfd, de->d_name,
			               O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
			                       O_CLOEXEC);
			if (sfd >= 0)
				r = remove_extra(sfd, sub, m);
		}
	}
	closedir(d);
	return r;
}

/* Make target (a directory) hold exactly final: files the run made are
 * linked from upper, those it left as they were from before (the very
 * files the output held, where their links survive). */
static int publish_tree(const Output *o, Isolation how, const Manifest *final,
                        const char *target, const char *id, char **ret_bad)
{
	_cleanup_close_ int tfd = open_dir(target);
	if (tfd < 0)
		return tfd;
	_cleanup_free_ char *bp = path_join(o->space, "before");
	_cleanup_free_ char *up = path_join(o->space, "upper");
	_cleanup_close_ int bfd = open_dir(bp);
	_cleanup_close_ int ufd = open_dir(up);
	if (bfd < 0 || ufd < 0)
		return bfd < 0 ? bfd : ufd;
	_cleanup_free_ char *tmp = xasprintf(".xrun-publish-%s", id);
	int r = 0;
	for (size_t i = 0; r == 0 && i < final->n; i++) {
		const ManifestEntry *e = &final->entries[i];
		const char *name;
		_cleanup_close_ int pfd =
		        open_parent_beneath(tfd, e->path, &name);
		if (pfd < 0) {
			r = pfd;
			*ret_bad = xstrdup(e->path);
			break;
		}
		struct stat st;
		bool have = fstatat(pfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0;
		if (e->kind == ENTRY_DIR) {
			if (have && !S_ISDIR(st.st_mode)) {
				r = remove_tree_at(pfd, name);
				have = false;
			}
			if (r == 0 && !have && mkdirat(pfd, name, 0700) < 0)
				r = negative_errno();
		} else if (e->kind == ENTRY_LINK) {
			char t[4097];
			ssize_t n =
			        have && S_ISLNK(st.st_mode)
			                ? readlinkat(pfd, name, t, sizeof t - 1)
			                : -1;
			if (n >= 0)
				t[n] = 0;
			if (n >= 0 && streq(t, e->target))
				continue;
			if (have && S_ISDIR(st.st_mode))
				r = remove_tree_at(pfd, name);
			(void)unlinkat(pfd, tmp, 0);
			if (r == 0 && (symlinkat(e->target, pfd, tmp) < 0 ||
			               renameat(pfd, tmp, pfd, name) < 0))
				r = negative_errno();
		} else {
			/* Where the run left the file as it found it, the
			 * before snapshot has it; else the run's layer. */
			const ManifestEntry *b =
			        manifest_find(o->before, e->path);
			struct stat ss;
			bool from_upper =
			        how == ISOLATE_OVERLAY
			                ? fstatat(ufd, e->path, &ss,
			                          AT_SYMLINK_NOFOLLOW) == 0
			                : !(b && entry_same(b, e));
			int sfd = from_upper ? ufd : bfd;
			if (fstatat(sfd, e->path, &ss, AT_SYMLINK_NOFOLLOW) <
			            0 ||
			    !S_ISREG(ss.st_mode)) {
				r = -ENOENT;
			} else if (have && S_ISREG(st.st_mode) &&
			           st.st_dev == ss.st_dev &&
			           st.st_ino == ss.st_ino) {
				r = strip_in_place(pfd, name, &st, e->mode);
			} else {
				if (have && S_ISDIR(st.st_mode))
					r = remove_tree_at(pfd, name);
				if (r == 0)
					r = place_file(sfd, e->path, pfd, name,
					               e->mode, tmp);
			}
		}
		if (r < 0)
			*ret_bad = xstrdup(e->path);
	}
	if (r == 0)
		r = remove_extra(tfd, "", final);
	/* Directory modes last, deepest first. */
	for (size_t i = final->n; r == 0 && i-- > 0;) {
		const ManifestEntry *e = &final->entries[i];
		if (e->kind == ENTRY_DIR &&
		    fchmodat(tfd, e->path, e->mode & 07777, 0) < 0)
			r = negative_errno();
	}
	return r;
}

static int publish_file(const Output *o, const char *target, const char *id,
                        mode_t mode)
{
	_cleanup_free_ char *dir = xstrdup(target);
	char *slash = strrchr(dir, '/');
	*slash = 0;
	_cleanup_close_ int pfd = open_dir(dir[0] ? dir : "/");
	_cleanup_close_ int sfd = open_dir(o->space);
	if (pfd < 0 || sfd < 0)
		return pfd < 0 ? pfd : sfd;
	_cleanup_free_ char *tmp = xasprintf(".xrun-publish-%s", id);
	return place_file(sfd, base_of(o->path), pfd, slash + 1, mode, tmp);
}

/* One run at a time publishes to a path: the last to finish wins it. */
static int publish_lock(Store *s, const char *path)
{
	unsigned char md[SHA256_LEN];
	Hasher *h = hasher_new();
	hasher_update(h, path, strlen(path));
	hasher_finish_raw(h, md);
	_cleanup_free_ char *hex = hex_encode(md, SHA256_LEN);
	/* tmp/locks/ holds only lock files, one per published path: gc
	 * leaves them (they are empty, and a lock must stay the same inode
	 * for everyone who takes it). */
	_cleanup_free_ char *locks = path_join(s->tmp, "locks");
	_cleanup_free_ char *lock = xasprintf("%s/publish-%s", locks, hex);
	int fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0 && errno == ENOENT &&
	    (mkdir(locks, 0755) == 0 || errno == EEXIST))
		fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW,
		          0644);
	if (fd < 0)
		return negative_errno();
	while (flock(fd, LOCK_EX) < 0)
		if (errno != EINTR) {
			int r = negative_errno();
			close(fd);
			return r;
		}
	return fd;
}

/* The files a run put at its output paths were hashed as they were
 * pinned, and changed since only in their link count (the snapshot's
 * and the layer's links are gone): the stat cache learns them under
 * their stat now, so that the next run's before tree is not hashed
 * again. A before file counts only where its pin was safe from a write
 * in the same clock tick (stat_cache_remember's rule); a file the run
 * made always (its writer is gone). */
static void vouch_published(RunOutputs *ro)
{
	if (ro->replay || ro->how == ISOLATE_NONE)
		return;
	StatCache *cache = ro->cache;
	for (size_t i = 0; i < ro->n; i++) {
		const Output *o = &ro->o[i];
		if (o->nested || !o->up)
			continue;
		const Manifest *fin = o->final ? o->final : o->up;
		_cleanup_free_ char *dir = xstrdup(o->path);
		if (o->is_file)
			*strrchr(dir, '/') = 0;
		_cleanup_close_ int tfd = open_dir(dir[0] ? dir : "/");
		for (size_t k = 0; tfd >= 0 && k < fin->n; k++) {
			const ManifestEntry *e = &fin->entries[k];
			if (e->kind != ENTRY_FILE)
				continue;
			const char *name;
			_cleanup_close_ int pfd =
			        open_parent_beneath(tfd, e->path, &name);
			struct stat now;
			if (pfd < 0 ||
			    fstatat(pfd, name, &now, AT_SYMLINK_NOFOLLOW) < 0 ||
			    !S_ISREG(now.st_mode))
				continue;
			const ManifestEntry *u = manifest_find(o->up, e->path);
			if (u && u->kind == ENTRY_FILE &&
			    memcmp(u->digest, e->digest, SHA256_LEN) == 0)
				stat_cache_vouch(cache,
				                 &o->up_st[u - o->up->entries],
				                 &now, e->digest);
			const ManifestEntry *b =
			        o->before_from_path
			                ? manifest_find(o->before, e->path)
			                : NULL;
			if (!b || b->kind != ENTRY_FILE ||
			    memcmp(b->digest, e->digest, SHA256_LEN) != 0)
				continue;
			const struct stat *h =
			        &o->before_st[b - o->before->entries];
			int64_t ctime =
			        (int64_t)h->st_ctim.tv_sec * 1000000000 +
			        h->st_ctim.tv_nsec;
			/* Hashed long enough after its last change, or known
			 * to the cache under that very stat already. */
			unsigned char md[SHA256_LEN];
			bool stored;
			if (ctime < ro->start_ns - 2 * (int64_t)1000000000 ||
			    (stat_cache_lookup(cache, h, md, &stored) &&
			     memcmp(md, e->digest, SHA256_LEN) == 0))
				stat_cache_vouch(cache, h, &now, e->digest);
		}
	}
}

/* Output o's final tree, pinned from where the run wrote it (from):
 * into *up, with its JSON in *ret_json; returns the final manifest
 * (up->m, or the overlay's result), or NULL after a warning. */
static Manifest *output_pin(RunOutputs *ro, Output *o, Store *s,
                            const char *from, PinProgressFn fn, void *data,
                            Pinned *up, json_t **ret_json)
{
	_cleanup_free_ char *err = NULL;
	int r = pin_one(s, ro->cache, from, o->path, fn, data, up, &err);
	if (r < 0) {
		warnf(ro, "output '%s' is not kept: %s", o->path, err);
		return NULL;
	}
	Manifest *final = up->m;
	json_t *j = json_incref(up->json);
	if (ro->how == ISOLATE_OVERLAY && !o->is_file) {
		final = overlay_result(o->before, up->m, from, up);
		json_decref(j);
		j = NULL;
		if (!final || tree_json(s, final, o->path, &j) < 0) {
			warnf(ro,
			      "output '%s' is not kept: its final tree "
			      "cannot be made from the run's layer "
			      "'%s'",
			      o->path, from);
			manifest_free(final);
			pinned_clear(up);
			return NULL;
		}
	}
	*ret_json = j;
	return final;
}

/* Output o's record entry j: its before tree, its changes, what was
 * stripped and skipped (each said too). */
static void output_describe(RunOutputs *ro, const Output *o,
                            const Manifest *final, Pinned *up, json_t *j)
{
	/* What was stripped from the final tree: the run's own files and
	 * those it kept from before. */
	for (size_t k = 0; o->stripped && o->stripped[k]; k++)
		if (manifest_find(final, o->stripped[k]) &&
		    !strv_has(up->stripped, o->stripped[k]))
			notes_add(&up->stripped, &up->stripped_what,
			          (char *[]){o->stripped[k], NULL},
			          (char *[]){o->stripped_what[k], NULL});
	notes_add(&up->skipped, &up->skipped_why, o->skipped, o->skipped_why);
	json_t *before = json_deep_copy(o->before_json);
	json_object_del(before, "path");
	json_object_set_new(j, "before", before);
	json_object_set_new(j, "changes", changes_json(o->before, final));
	json_object_set_new(j, "isolation",
	                    json_string(isolation_names[ro->how]));
	if (up->stripped)
		json_object_set_new(
		        j, "stripped",
		        notes_json(up->stripped, up->stripped_what, "what"));
	if (up->skipped)
		json_object_set_new(
		        j, "skipped",
		        notes_json(up->skipped, up->skipped_why, "why"));
	for (size_t k = 0; up->skipped && up->skipped[k]; k++)
		warnf(ro, "output '%s': '%s' (%s) is not kept", o->path,
		      up->skipped[k], up->skipped_why[k]);
	for (size_t k = 0; up->stripped && up->stripped[k]; k++)
		warnf(ro,
		      "output '%s': '%s' had %s: it is kept without "
		      "(no output leaves a run setuid, setgid or with "
		      "file capabilities)",
		      o->path, up->stripped[k], up->stripped_what[k]);
}

/* Publish output o's final tree: a run's to its path, a replay's to
 * its run directory. False (after a warning) when it could not be. */
static bool output_publish(RunOutputs *ro, Output *o, Store *s,
                           const Manifest *final)
{
	const char *target = o->keep ? o->keep : o->path;
	int lock = o->keep ? -1 : publish_lock(s, o->path);
	_cleanup_free_ char *bad = NULL;
	int r;
	if (o->keep && !o->is_file && mkdir(o->keep, 0755) < 0)
		r = negative_errno();
	else if (o->is_file)
		r = publish_file(o, target, ro->id,
		                 final->n ? final->entries[0].mode : 0644);
	else
		r = publish_tree(o, ro->how, final, target, ro->id, &bad);
	if (lock >= 0)
		close(lock);
	if (r < 0) {
		warnf(ro,
		      "cannot put the run's output in "
		      "'%s'%s%s%s: "
		      "%s; it is kept in the store: get it "
		      "with "
		      "xrun checkout %s",
		      target, bad ? " (at '" : "", bad ? bad : "",
		      bad ? "')" : "", strerror(-r), ro->id);
		return false;
	}
	return true;
}

/* One output at the end of the run: pinned, described into arr,
 * published. False when its space must be kept. */
static bool output_finish(RunOutputs *ro, Output *o, Store *s, PinProgressFn fn,
                          void *data, json_t *arr)
{
	_cleanup_free_ char *from =
	        ro->how == ISOLATE_NONE ? xstrdup(o->path)
	        : o->is_file            ? path_join(o->space, base_of(o->path))
	                                : path_join(o->space, "upper");
	Pinned up = {0};
	json_t *j = NULL;
	Manifest *final = output_pin(ro, o, s, from, fn, data, &up, &j);
	if (!final)
		return false;
	output_describe(ro, o, final, &up, j);
	json_array_append_new(arr, j);
	bool ok = ro->how == ISOLATE_NONE || output_publish(ro, o, s, final);
	/* Kept for the stat cache, once the spaces are gone. */
	o->final = final != up.m ? final : NULL;
	o->up = TAKE_PTR(up.m);
	o->up_st = TAKE_PTR(up.st);
	pinned_clear(&up);
	return ok;
}

void run_outputs_finish(RunOutputs *ro, Store *s, PinProgressFn fn, void *data,
                        json_t *rec, char ***warnings)
{
	json_t *arr = json_array();
	json_object_set_new(rec, "outputs", arr);
	bool keep_spaces = false;
	if (ro) { /* the start's were said then */
		strv_free(ro->warnings);
		ro->warnings = NULL;
	}
	for (size_t i = 0; ro && i < ro->n; i++) {
		Output *o = &ro->o[i];
		if (o->nested || !o->before)
			continue;
		if (!output_finish(ro, o, s, fn, data, arr))
			keep_spaces = true;
	}
	if (ro) {
		/* Now, not at the end: the record's syncs come next. */
		ro->keep_spaces = keep_spaces;
		spaces_remove(ro);
		vouch_published(ro);
		/* Once for the run: its pins and what it vouched for. */
		(void)stat_cache_save(ro->cache);
	}
	for (char *const *w = ro ? ro->warnings : NULL; w && *w; w++)
		*warnings = strv_push(*warnings, *w);
	if (ro) {
		strv_free(ro->warnings);
		ro->warnings = NULL;
	}
}
