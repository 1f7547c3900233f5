#include "config.h"

#include "pin.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <pthread.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <time.h>

#include "util.h"

extern char **environ;

/* Files up to this size are read whole, hashed, and written only when
 * the store lacks them; larger ones are copied into a temp file while
 * they are hashed, in one pass. */
#define SMALL_FILE (256 * 1024)
#define CHUNK (4 << 20)
#define DIRECT_ALIGN 4096 /* O_DIRECT's alignment, 512 or 4096 */
#define DISK_WRITERS 6
/* from two chunks on, a file's copy is written by a thread of its own */
#define PIPELINE_MIN (2 * CHUNK)
#define GIT_LIST_MAX ((size_t)512 << 20)

/* What the walk saw of a file, no more: a million jobs are 48 MB, not
 * the 160 MB of a struct stat each. Once hashed, the stat the file had
 * while it was hashed, and whether the pin table may remember it: the
 * table gets the jobs' entries after the hashing (remember_jobs), so
 * that a million stat keys are not held twice. */
typedef struct Job {
	uint32_t root;
	uint32_t entry_hi; /* entry = entry_hi << 32 | entry_lo */
	uint32_t entry_lo;
	uint32_t mtime_nsec, ctime_nsec;
	uint32_t remember; /* 1: as stored, 2: as hashed only */
	uint64_t dev, ino;
	int64_t size, mtime_sec, ctime_sec;
} Job;

static size_t job_entry(const Job *j)
{
	return (size_t)j->entry_hi << 32 | j->entry_lo;
}

/* The job's stat, as the stat cache takes it. */
static struct stat job_stat(const Job *j)
{
	struct stat st;
	memset(&st, 0, sizeof st);
	st.st_dev = (dev_t)j->dev;
	st.st_ino = (ino_t)j->ino;
	st.st_size = (off_t)j->size;
	st.st_mtim.tv_sec = (time_t)j->mtime_sec;
	st.st_mtim.tv_nsec = (long)j->mtime_nsec;
	st.st_ctim.tv_sec = (time_t)j->ctime_sec;
	st.st_ctim.tv_nsec = (long)j->ctime_nsec;
	st.st_mode = S_IFREG;
	return st;
}

typedef struct Pending {
	char *tmp;
	unsigned char md[SHA256_LEN];
} Pending;

enum { REFLINK_UNKNOWN, REFLINK_YES, REFLINK_NO };

struct Pinner {
	Store *store;
	StatCache *cache;
	PinRoot *roots;
	size_t n_roots;
	int *root_fds; /* the directory each root's paths are relative to */
	char **root_prefix; /* for a file root: its base name */
	Job *jobs;
	size_t n_jobs, cap_jobs;
	uint64_t bytes_total;
	char **warnings;
	char *error;
	/* while running */
	pthread_mutex_t lock;
	size_t next_job;
	bool failed;
	int err;
	int reflink;
	Pending *pending;
	size_t n_pending, cap_pending;
	PackWriter *pack; /* the small new objects, made at the first */
	uint64_t bytes_done, files_done;
};

Pinner *pinner_new(Store *s, StatCache *cache)
{
	Pinner *p = xcalloc(1, sizeof *p);
	p->store = s;
	p->cache = cache;
	pthread_mutex_init(&p->lock, NULL);
	return p;
}

static void pin_root_clear(PinRoot *r)
{
	free(r->path);
	manifest_free(r->manifest);
	for (size_t i = 0; i < r->n_holes; i++)
		free(r->holes[i]);
	free(r->holes);
	free(r->hole_is_dir);
	strv_free(r->skipped);
	strv_free(r->skipped_why);
	strv_free(r->stripped);
	strv_free(r->stripped_what);
}

static void discard_pending(Pinner *p);

Pinner *pinner_free(Pinner *p)
{
	if (!p)
		return NULL;
	for (size_t i = 0; i < p->n_roots; i++) {
		pin_root_clear(&p->roots[i]);
		if (p->root_fds[i] >= 0)
			close(p->root_fds[i]);
		free(p->root_prefix[i]);
	}
	free(p->roots);
	free(p->root_fds);
	free(p->root_prefix);
	free(p->jobs);
	discard_pending(p);
	free(p->pending);
	pack_writer_free(p->pack);
	strv_free(p->warnings);
	free(p->error);
	pthread_mutex_destroy(&p->lock);
	free(p);
	return NULL;
}

size_t pinner_n_roots(const Pinner *p)
{
	return p->n_roots;
}

const PinRoot *pinner_root(const Pinner *p, size_t i)
{
	return i < p->n_roots ? &p->roots[i] : NULL;
}

const char *pinner_error(const Pinner *p)
{
	return p->error;
}

char *const *pinner_warnings(const Pinner *p)
{
	return p->warnings;
}

static int set_error(Pinner *p, int r, const char *fmt, ...) _printf_(3, 4);
static int set_error(Pinner *p, int r, const char *fmt, ...)
{
	va_list ap;
	char *s;
	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		s = NULL;
	va_end(ap);
	pthread_mutex_lock(&p->lock);
	if (!p->failed) {
		p->failed = true;
		p->err = r;
		free(p->error);
		p->error = s;
		s = NULL;
	}
	pthread_mutex_unlock(&p->lock);
	free(s);
	return r;
}

/* The absolute path of a root's entry, for messages. */
static char *entry_path(const Pinner *p, size_t root, const char *rel)
{
	if (!p->roots[root].is_dir)
		return xstrdup(p->roots[root].path);
	return path_join(p->roots[root].path, rel);
}

static const char *file_type_name(mode_t m)
{
	if (S_ISFIFO(m))
		return "a FIFO";
	if (S_ISSOCK(m))
		return "a socket";
	if (S_ISCHR(m))
		return "a character device";
	if (S_ISBLK(m))
		return "a block device";
	return "not a regular file";
}

/* ---- the walk ---- */

typedef struct Walk {
	Pinner *p;
	size_t root;
	const PinAddOptions *opt;
	dev_t *ex_dev;
	ino_t *ex_ino;
	size_t n_ex;
	json_t *dirs;          /* git mode: directories already listed */
	struct StatPool *pool; /* made at the first large directory */
} Walk;

static void add_hole(PinRoot *r, const char *rel, bool is_dir)
{
	r->holes = xrealloc(r->holes, (r->n_holes + 1) * sizeof(char *));
	r->hole_is_dir = xrealloc(r->hole_is_dir, (r->n_holes + 1));
	r->holes[r->n_holes] = xstrdup(rel);
	r->hole_is_dir[r->n_holes] = is_dir;
	r->n_holes++;
}

static bool excluded(const Walk *w, const struct stat *st)
{
	for (size_t i = 0; i < w->n_ex; i++)
		if (w->ex_dev[i] == st->st_dev && w->ex_ino[i] == st->st_ino)
			return true;
	return false;
}

struct stat *pinner_stats(const Pinner *p, size_t i)
{
	size_t n = p->roots[i].manifest->n;
	struct stat *v = xcalloc(n + 1, sizeof *v);
	for (size_t k = 0; k < p->n_jobs; k++)
		if (p->jobs[k].root == i && job_entry(&p->jobs[k]) < n)
			v[job_entry(&p->jobs[k])] = job_stat(&p->jobs[k]);
	return v;
}

static void add_job(Pinner *p, size_t root, size_t entry, const struct stat *st)
{
	if (p->n_jobs == p->cap_jobs) {
		p->cap_jobs = p->cap_jobs ? p->cap_jobs * 2 : 256;
		p->jobs = xrealloc(p->jobs, p->cap_jobs * sizeof *p->jobs);
	}
	p->jobs[p->n_jobs++] = (Job){
	        .root = (uint32_t)root,
	        .entry_hi = (uint32_t)((uint64_t)entry >> 32),
	        .entry_lo = (uint32_t)entry,
	        .dev = (uint64_t)st->st_dev,
	        .ino = (uint64_t)st->st_ino,
	        .size = (int64_t)st->st_size,
	        .mtime_sec = (int64_t)st->st_mtim.tv_sec,
	        .mtime_nsec = (uint32_t)st->st_mtim.tv_nsec,
	        .ctime_sec = (int64_t)st->st_ctim.tv_sec,
	        .ctime_nsec = (uint32_t)st->st_ctim.tv_nsec,
	};
}

/* Lexically, does a link at rel with this target stay inside the tree? */
static bool link_stays_inside(const char *rel, const char *target)
{
	if (target[0] == '/')
		return false;
	long depth = 0;
	for (const char *c = rel; *c; c++)
		depth += *c == '/';
	for (const char *t = target; *t;) {
		size_t n = strcspn(t, "/");
		if (n == 2 && t[0] == '.' && t[1] == '.') {
			if (--depth < 0)
				return false;
		} else if (n > 0 && !(n == 1 && t[0] == '.'))
			depth++;
		t += n;
		if (*t)
			t++;
	}
	return true;
}

/* One entry at rel (dirfd/name): record it, or fail naming it. */
static int walk_entry(Walk *w, int dirfd, const char *name, const char *rel,
                      const struct stat *st, bool contents);

/* One step of a directory's walk, in the order its key sorts: an entry
 * is listed at its name, and a directory's contents follow at name
 * plus "/", so that the walk lists the tree in the manifest's order
 * (bytewise by path: "a", "a-b", "a/c") and nothing is sorted again. */
typedef struct Step {
	char *key;   /* name, or name + "/" for the contents */
	bool inside; /* the directory's contents, not its entry */
	struct stat st;
} Step;

static int cmp_step(const void *a, const void *b)
{
	return strcmp(((const Step *)a)->key, ((const Step *)b)->key);
}

static void steps_free(Step *steps, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(steps[i].key);
	free(steps);
}

static void add_step(Step **steps, size_t *n, size_t *cap, char *key,
                     bool inside, const struct stat *st)
{
	if (*n == *cap) {
		*cap = *cap ? *cap * 2 : 64;
		*steps = xrealloc(*steps, *cap * sizeof **steps);
	}
	(*steps)[(*n)++] = (Step){.key = key, .inside = inside, .st = *st};
}

static int walk_dir(Walk *w, int dirfd, const char *name, const char *rel);

static int walk_steps(Walk *w, int dfd, const char *rel, Step *steps, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		Step *st = &steps[i];
		if (st->inside)
			st->key[strlen(st->key) - 1] = 0; /* the name again */
		_cleanup_free_ char *sub =
		        rel[0] ? xasprintf("%s/%s", rel, st->key)
		               : xstrdup(st->key);
		int r = st->inside ? (walk_dir(w, dfd, st->key, sub) < 0
		                              ? w->p->err
		                              : 0)
		                   : walk_entry(w, dfd, st->key, sub, &st->st,
		                                false);
		if (r < 0)
			return r;
	}
	return 0;
}

/* The stat calls of a large directory are shared out among a few
 * threads: on an unchanged tree they are most of a re-pin's time. The
 * threads are started at the first directory of STAT_PARALLEL_MIN
 * entries (a small workspace never starts one) and wait for the next
 * directory between batches; they only call fstatat. */
#define STAT_PARALLEL_MIN 64
static unsigned cpu_count(void);
#define STAT_GRAB 16
/* stat calls stop getting faster well before a big machine's cores */
#define STAT_THREADS_MAX 16

typedef struct StatPool {
	pthread_t *threads;
	unsigned n_threads;
	pthread_mutex_t lock;
	pthread_cond_t work, done;
	uint64_t gen; /* the batch's number; 0: none yet */
	bool quit;
	unsigned busy; /* threads still on the batch */
	/* the batch */
	int dfd;
	char **names;
	struct stat *sts;
	int *errs;
	size_t n, next;
} StatPool;

/* fstatat names[from..to) in dfd: sts[i], or errs[i] the errno. */
static void stat_range(int dfd, char **names, struct stat *sts, int *errs,
                       size_t from, size_t to)
{
	for (size_t i = from; i < to; i++)
		errs[i] =
		        fstatat(dfd, names[i], &sts[i], AT_SYMLINK_NOFOLLOW) < 0
		                ? errno
		                : 0;
}

static void stat_some(StatPool *sp)
{
	for (;;) {
		size_t i = __atomic_fetch_add(&sp->next, STAT_GRAB,
		                              __ATOMIC_RELAXED);
		if (i >= sp->n)
			return;
		size_t end = i + STAT_GRAB < sp->n ? i + STAT_GRAB : sp->n;
		stat_range(sp->dfd, sp->names, sp->sts, sp->errs, i, end);
	}
}

static void *stat_thread(void *arg)
{
	StatPool *sp = arg;
	uint64_t seen = 0;
	pthread_mutex_lock(&sp->lock);
	for (;;) {
		while (!sp->quit && sp->gen == seen)
			pthread_cond_wait(&sp->work, &sp->lock);
		if (sp->quit)
			break;
		seen = sp->gen;
		pthread_mutex_unlock(&sp->lock);
		stat_some(sp);
		pthread_mutex_lock(&sp->lock);
		if (--sp->busy == 0)
			pthread_cond_signal(&sp->done);
	}
	pthread_mutex_unlock(&sp->lock);
	return NULL;
}

static StatPool *stat_pool_new(void)
{
	unsigned n = cpu_count();
	if (n < 2)
		return NULL;
	if (n > STAT_THREADS_MAX)
		n = STAT_THREADS_MAX;
	StatPool *sp = xcalloc(1, sizeof *sp);
	pthread_mutex_init(&sp->lock, NULL);
	pthread_cond_init(&sp->work, NULL);
	pthread_cond_init(&sp->done, NULL);
	sp->threads = xcalloc(n - 1, sizeof *sp->threads);
	while (sp->n_threads < n - 1 &&
	       thread_start(&sp->threads[sp->n_threads], stat_thread, sp))
		sp->n_threads++;
	return sp;
}

static void stat_pool_free(StatPool *sp)
{
	if (!sp)
		return;
	pthread_mutex_lock(&sp->lock);
	sp->quit = true;
	pthread_cond_broadcast(&sp->work);
	pthread_mutex_unlock(&sp->lock);
	for (unsigned i = 0; i < sp->n_threads; i++)
		pthread_join(sp->threads[i], NULL);
	pthread_cond_destroy(&sp->work);
	pthread_cond_destroy(&sp->done);
	pthread_mutex_destroy(&sp->lock);
	free(sp->threads);
	free(sp);
}

/* fstatat each name in dfd: sts[i], or errs[i] the errno. */
static void stat_names(Walk *w, int dfd, char **names, size_t n,
                       struct stat *sts, int *errs)
{
	if (n >= STAT_PARALLEL_MIN && !w->pool)
		w->pool = stat_pool_new();
	StatPool *sp = w->pool;
	if (n < STAT_PARALLEL_MIN || !sp || sp->n_threads == 0) {
		stat_range(dfd, names, sts, errs, 0, n);
		return;
	}
	pthread_mutex_lock(&sp->lock);
	sp->dfd = dfd;
	sp->names = names;
	sp->sts = sts;
	sp->errs = errs;
	sp->n = n;
	sp->next = 0;
	sp->busy = sp->n_threads;
	sp->gen++;
	pthread_cond_broadcast(&sp->work);
	pthread_mutex_unlock(&sp->lock);
	stat_some(sp);
	pthread_mutex_lock(&sp->lock);
	while (sp->busy > 0)
		pthread_cond_wait(&sp->done, &sp->lock);
	pthread_mutex_unlock(&sp->lock);
}

static void skip_entry(Walk *w, const char *rel, const char *why)
{
	PinRoot *root = &w->p->roots[w->root];
	root->skipped = strv_push(root->skipped, rel);
	root->skipped_why = strv_push(root->skipped_why, why);
}

static int walk_dir(Walk *w, int dirfd, const char *name, const char *rel)
{
	Pinner *p = w->p;
	int fd = openat(dirfd, name,
	                O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		int r = negative_errno();
		if (w->opt->keep_going && rel[0] &&
		    (r == -EACCES || r == -EPERM)) {
			/* Its entry stays, as an empty directory. */
			skip_entry(w, rel, "an unreadable directory");
			return 0;
		}
		_cleanup_free_ char *path = entry_path(p, w->root, rel);
		return set_error(p, r, "cannot read directory '%s': %s", path,
		                 strerror(-r));
	}
	DIR *d = fdopendir(fd);
	if (!d) {
		close(fd);
		return negative_errno();
	}
	int dfd = fd;
	struct dirent *de;
	int r = 0;
	_cleanup_strv_free_ char **names = NULL;
	size_t n_names = 0, cap_names = 0;
	errno = 0;
	while ((de = readdir(d))) {
		if (streq(de->d_name, ".") || streq(de->d_name, ".."))
			continue;
		/* git's own directory, and xrun stores (this one is
		 * excluded anyway; another one is no part of the work) */
		if (w->opt->skip_dot_git && (streq(de->d_name, ".git") ||
		                             streq(de->d_name, STORE_DIRNAME)))
			continue;
		if (n_names + 1 >= cap_names) {
			cap_names = cap_names ? cap_names * 2 : 64;
			names = xrealloc(names, cap_names * sizeof *names);
		}
		names[n_names++] = xstrdup(de->d_name);
		names[n_names] = NULL;
	}
	if (errno && !de) {
		r = negative_errno();
		_cleanup_free_ char *path = entry_path(p, w->root, rel);
		set_error(p, r, "cannot read directory '%s': %s", path,
		          strerror(-r));
	}
	Step *steps = NULL;
	size_t n = 0, cap = 0;
	if (r == 0 && n_names > 0) {
		_cleanup_free_ struct stat *sts =
		        xmalloc(n_names * sizeof *sts);
		_cleanup_free_ int *errs = xmalloc(n_names * sizeof *errs);
		stat_names(w, dfd, names, n_names, sts, errs);
		for (size_t i = 0; i < n_names; i++) {
			if (errs[i] == ENOENT)
				continue; /* gone meanwhile */
			if (errs[i] && w->opt->keep_going) {
				_cleanup_free_ char *sub =
				        rel[0] ? xasprintf("%s/%s", rel,
				                           names[i])
				               : xstrdup(names[i]);
				skip_entry(w, sub, strerror(errs[i]));
				continue;
			}
			if (errs[i]) {
				r = -errs[i];
				_cleanup_free_ char *sub =
				        rel[0] ? xasprintf("%s/%s", rel,
				                           names[i])
				               : xstrdup(names[i]);
				_cleanup_free_ char *path =
				        entry_path(p, w->root, sub);
				set_error(p, r, "cannot read '%s': %s", path,
				          strerror(-r));
				break;
			}
			add_step(&steps, &n, &cap, xstrdup(names[i]), false,
			         &sts[i]);
			/* An excluded directory is a hole: its entry alone,
			 * which walk_entry() drops. */
			if (S_ISDIR(sts[i].st_mode) && !excluded(w, &sts[i]))
				add_step(&steps, &n, &cap,
				         xasprintf("%s/", names[i]), true,
				         &sts[i]);
		}
	}
	if (r == 0) {
		if (n > 1)
			sort_v(steps, n, sizeof *steps, cmp_step);
		r = walk_steps(w, dfd, rel, steps, n);
	}
	steps_free(steps, n);
	closedir(d);
	return r;
}

static int check_limit(Walk *w)
{
	PinRoot *root = &w->p->roots[w->root];
	if (w->opt->limit && root->bytes > w->opt->limit)
		return set_error(w->p, -EFBIG, "limit");
	return 0;
}

/* The mode a run's output is recorded with: never setuid or setgid.
 * File capabilities are not recorded at all (the store keeps bytes and
 * modes only); a file that had them is named too. */
static mode_t strip_setid(Walk *w, int dirfd, const char *name, const char *rel,
                          mode_t mode)
{
	PinRoot *root = &w->p->roots[w->root];
	char what[64] = "";
	if (mode & S_ISUID)
		strcat(what, "setuid");
	if (mode & S_ISGID)
		strcat(what, what[0] ? ",setgid" : "setgid");
	char proc[64];
	snprintf(proc, sizeof proc, "/proc/self/fd/%d", dirfd);
	_cleanup_free_ char *path = path_join(proc, name);
	if (lgetxattr(path, "security.capability", NULL, 0) >= 0)
		strcat(what, what[0] ? ",capabilities" : "capabilities");
	if (what[0]) {
		root->stripped = strv_push(root->stripped, rel);
		root->stripped_what = strv_push(root->stripped_what, what);
	}
	return mode & ~(mode_t)(S_ISUID | S_ISGID);
}

/* contents: walk a directory's contents now (else walk_dir() has a step
 * for them). */
static int walk_entry(Walk *w, int dirfd, const char *name, const char *rel,
                      const struct stat *st, bool contents)
{
	Pinner *p = w->p;
	PinRoot *root = &p->roots[w->root];
	if (excluded(w, st))
		return 0; /* a hole: see add_holes() */
	if (S_ISDIR(st->st_mode)) {
		manifest_add(root->manifest, ENTRY_DIR, rel, st->st_mode, 0,
		             NULL);
		if (contents)
			return walk_dir(w, dirfd, name, rel) < 0 ? p->err : 0;
		return 0;
	}
	if (S_ISLNK(st->st_mode)) {
		char buf[4097];
		ssize_t n = readlinkat(dirfd, name, buf, sizeof buf - 1);
		if (n < 0) {
			int r = negative_errno();
			_cleanup_free_ char *path = entry_path(p, w->root, rel);
			return set_error(p, r, "cannot read symlink '%s': %s",
			                 path, strerror(-r));
		}
		buf[n] = 0;
		if (n == 0 || memchr(buf, 0, (size_t)n))
			return 0;
		manifest_add(root->manifest, ENTRY_LINK, rel, 0777, (uint64_t)n,
		             buf);
		root->files++;
		if (w->opt->warn_links && !link_stays_inside(rel, buf)) {
			_cleanup_free_ char *path = entry_path(p, w->root, rel);
			char *msg = xasprintf(
			        "'%s' is a symlink to '%s', outside the pinned "
			        "tree: it is recorded as a link, and what it "
			        "points to is not pinned",
			        path, buf);
			p->warnings = strv_push(p->warnings, msg);
			free(msg);
		}
		return 0;
	}
	if (S_ISREG(st->st_mode)) {
		if (w->opt->keep_going &&
		    faccessat(dirfd, name, R_OK, AT_EACCESS) < 0 &&
		    (errno == EACCES || errno == EPERM)) {
			skip_entry(w, rel, "an unreadable file");
			return 0;
		}
		mode_t mode = st->st_mode;
		if (w->opt->strip_setid)
			mode = strip_setid(w, dirfd, name, rel, mode);
		manifest_add(root->manifest, ENTRY_FILE, rel, mode,
		             (uint64_t)st->st_size, NULL);
		add_job(p, w->root, root->manifest->n - 1, st);
		root->files++;
		root->bytes += (uint64_t)st->st_size;
		p->bytes_total += (uint64_t)st->st_size;
		return check_limit(w);
	}
	if (w->opt->keep_going) {
		skip_entry(w, rel, file_type_name(st->st_mode));
		return 0;
	}
	_cleanup_free_ char *path = entry_path(p, w->root, rel);
	return set_error(p, -EINVAL,
	                 "'%s' is %s: a pinned tree may hold only regular "
	                 "files, directories and symlinks; remove it or move "
	                 "it out of the tree",
	                 path, file_type_name(st->st_mode));
}

/* git mode: make sure every parent directory of rel is listed and is a
 * real directory; false when one is not (a symlink, gone). */
static bool walk_parents(Walk *w, int topfd, const char *rel)
{
	PinRoot *root = &w->p->roots[w->root];
	_cleanup_free_ char *dir = xstrdup(rel);
	for (char *s = strchr(dir, '/'); s; s = strchr(s + 1, '/')) {
		*s = 0;
		if (!json_object_get(w->dirs, dir)) {
			struct stat st;
			if (fstatat(topfd, dir, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
			    !S_ISDIR(st.st_mode))
				return false;
			if (excluded(w, &st)) {
				json_object_set_new(w->dirs, dir, json_false());
				return false;
			}
			manifest_add(root->manifest, ENTRY_DIR, dir, st.st_mode,
			             0, NULL);
			json_object_set_new(w->dirs, dir, json_true());
		} else if (!json_is_true(json_object_get(w->dirs, dir)))
			return false;
		*s = '/';
	}
	return true;
}

static int walk_list(Walk *w, int topfd)
{
	/* The files' stat calls first, shared out like a directory's. */
	size_t n = 0;
	for (char *const *f = w->opt->only; *f; f++)
		n++;
	_cleanup_free_ char **valid = xcalloc(n + 1, sizeof *valid);
	size_t n_valid = 0;
	for (char *const *f = w->opt->only; *f; f++)
		if (manifest_path_valid(*f))
			valid[n_valid++] = *f;
	_cleanup_free_ struct stat *sts = xcalloc(n_valid + 1, sizeof *sts);
	_cleanup_free_ int *errs = xcalloc(n_valid + 1, sizeof *errs);
	stat_names(w, topfd, valid, n_valid, sts, errs);
	for (size_t i = 0; i < n_valid; i++) {
		const char *f = valid[i];
		if (!walk_parents(w, topfd, f))
			continue;
		if (manifest_find(w->p->roots[w->root].manifest, f))
			continue; /* a directory listed by a deeper path */
		if (errs[i] == ENOENT)
			continue; /* deleted, still in the index */
		if (errs[i]) {
			int r = -errs[i];
			_cleanup_free_ char *path =
			        entry_path(w->p, w->root, f);
			return set_error(w->p, r, "cannot read '%s': %s", path,
			                 strerror(-r));
		}
		const struct stat *st = &sts[i];
		_cleanup_free_ char *dir = xstrdup(f);
		char *slash = strrchr(dir, '/');
		const char *name = f;
		_cleanup_close_ int pfd = -1;
		/* The parent is opened for what is read through it: a
		 * link's target, a directory's contents. */
		if (slash && (S_ISLNK(st->st_mode) || S_ISDIR(st->st_mode))) {
			*slash = 0;
			name = slash + 1;
			pfd = openat(topfd, dir,
			             O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
			                     O_CLOEXEC);
			if (pfd < 0)
				continue;
		}
		/* A submodule is listed as its directory: walk it. */
		int r = walk_entry(w, pfd >= 0 ? pfd : topfd, name, f, st,
		                   true);
		if (r < 0)
			return r;
		if (S_ISDIR(st->st_mode))
			json_object_set_new(w->dirs, f, json_true());
	}
	/* Entries came in git's order (and directories as met): sorting
	 * happens once, when the manifest is written. */
	return 0;
}

/* Every excluded path below the root is a hole in its view, whether
 * the walk met it or not (git lists no empty directory). */
static void add_holes(PinRoot *root, char *const *exclude)
{
	size_t n = strlen(root->path);
	for (char *const *e = exclude; e && *e; e++) {
		struct stat st;
		if (!strneq(*e, root->path, n) || (*e)[n] != '/' ||
		    !manifest_path_valid(*e + n + 1) || lstat(*e, &st) < 0)
			continue;
		add_hole(root, *e + n + 1, S_ISDIR(st.st_mode));
	}
}

int pinner_add(Pinner *p, const char *path, const PinAddOptions *opt,
               size_t *ret_index)
{
	struct stat st;
	if (lstat(path, &st) < 0) {
		int r = negative_errno();
		return set_error(p, r, "cannot pin '%s': %s", path,
		                 strerror(-r));
	}
	if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode))
		return set_error(p, -EINVAL,
		                 S_ISLNK(st.st_mode)
		                         ? "'%s' is a symlink: pin what it "
		                           "points to instead"
		                         : "'%s' cannot be pinned: only "
		                           "regular files and directories can",
		                 path);
	size_t i = p->n_roots++;
	p->roots = xrealloc(p->roots, p->n_roots * sizeof *p->roots);
	p->root_fds = xrealloc(p->root_fds, p->n_roots * sizeof(int));
	p->root_prefix = xrealloc(p->root_prefix, p->n_roots * sizeof(char *));
	PinRoot *root = &p->roots[i];
	*root = (PinRoot){
	        .path = xstrdup(path),
	        .is_dir = S_ISDIR(st.st_mode),
	        .from_git = opt->only != NULL,
	        .referenced = opt->reference,
	        .manifest = manifest_new(),
	};
	p->root_fds[i] = -1;
	p->root_prefix[i] = NULL;

	Walk w = {.p = p, .root = i, .opt = opt};
	size_t n_ex = strv_length(opt->exclude);
	_cleanup_free_ dev_t *ex_dev = xcalloc(n_ex + 1, sizeof(dev_t));
	_cleanup_free_ ino_t *ex_ino = xcalloc(n_ex + 1, sizeof(ino_t));
	for (size_t k = 0; k < n_ex; k++) {
		struct stat es;
		if (lstat(opt->exclude[k], &es) == 0) {
			ex_dev[w.n_ex] = es.st_dev;
			ex_ino[w.n_ex] = es.st_ino;
			w.n_ex++;
		}
	}
	w.ex_dev = ex_dev;
	w.ex_ino = ex_ino;

	if (!root->is_dir) {
		/* A file: its manifest holds one entry, its base name, and
		 * its paths are relative to the directory that holds it. */
		_cleanup_free_ char *dir = xstrdup(path);
		char *slash = strrchr(dir, '/');
		const char *base = path;
		if (slash) {
			base = path + (slash - dir) + 1;
			if (slash == dir)
				dir[1] = 0;
			else
				*slash = 0;
		}
		p->root_prefix[i] = xstrdup(base);
		p->root_fds[i] = open(slash ? dir : ".",
		                      O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (p->root_fds[i] < 0) {
			int r = negative_errno();
			return set_error(p, r, "cannot pin '%s': %s", path,
			                 strerror(-r));
		}
		mode_t mode = st.st_mode;
		if (opt->strip_setid)
			mode = strip_setid(&w, p->root_fds[i], base, base,
			                   mode);
		manifest_add(root->manifest, ENTRY_FILE, base, mode,
		             (uint64_t)st.st_size, NULL);
		add_job(p, i, 0, &st);
		root->files = 1;
		root->bytes = (uint64_t)st.st_size;
		p->bytes_total += (uint64_t)st.st_size;
		if (ret_index)
			*ret_index = i;
		return check_limit(&w);
	}
	p->root_fds[i] =
	        open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (p->root_fds[i] < 0) {
		int r = negative_errno();
		return set_error(p, r, "cannot read directory '%s': %s", path,
		                 strerror(-r));
	}
	int r;
	if (opt->only) {
		w.dirs = json_object();
		r = walk_list(&w, p->root_fds[i]);
		json_decref(w.dirs);
	} else
		r = walk_dir(&w, p->root_fds[i], ".", "");
	stat_pool_free(w.pool);
	if (r < 0)
		return p->err ? p->err : r;
	add_holes(root, opt->exclude);
	if (ret_index)
		*ret_index = i;
	return 0;
}

/* ---- hashing and storing, on a pool of threads ---- */

static int open_beneath(int dirfd, const char *rel)
{
	struct open_how how = {
	        .flags = O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY,
	        .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
	                   RESOLVE_NO_MAGICLINKS,
	};
	int fd = (int)syscall(SYS_openat2, dirfd, rel, &how, sizeof how);
	if (fd >= 0 || errno != ENOSYS)
		return fd;
	/* Before Linux 5.6: the last component at least is not followed. */
	return openat(dirfd, rel, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
}

static void add_pending(Pinner *p, char *tmp, const unsigned char md[32])
{
	pthread_mutex_lock(&p->lock);
	if (p->n_pending == p->cap_pending) {
		p->cap_pending = p->cap_pending ? p->cap_pending * 2 : 64;
		p->pending = xrealloc(p->pending,
		                      p->cap_pending * sizeof *p->pending);
	}
	p->pending[p->n_pending].tmp = tmp;
	memcpy(p->pending[p->n_pending].md, md, SHA256_LEN);
	p->n_pending++;
	pthread_mutex_unlock(&p->lock);
}

static void count(Pinner *p, uint64_t bytes, uint64_t files)
{
	__atomic_fetch_add(&p->bytes_done, bytes, __ATOMIC_RELAXED);
	__atomic_fetch_add(&p->files_done, files, __ATOMIC_RELAXED);
}

/* Large objects are written with O_DIRECT: the copy goes from the
 * buffer to the disk without a second copy of the file in the page
 * cache, and each thread's wait for the disk overlaps the others'
 * hashing. Buffered writes of a gigabyte cost more in page allocation
 * than the disk takes to write it, and then syncfs waits for all of it
 * at the end. Where the store's file system refuses O_DIRECT, or a read
 * came back short of a block, the rest is written through the cache. */
static void direct_off(int tfd, bool *direct)
{
	if (*direct)
		(void)fcntl(tfd, F_SETFL, 0);
	*direct = false;
}

static int write_chunk(int tfd, const char *buf, size_t k, bool *direct)
{
	if (k % DIRECT_ALIGN != 0)
		direct_off(tfd, direct);
	if (*direct) {
		ssize_t w = write(tfd, buf, k);
		if (w == (ssize_t)k)
			return 0;
		if (w < 0 && errno != EINVAL && errno != EINTR)
			return negative_errno();
		direct_off(tfd, direct);
		if (w > 0) {
			buf += w;
			k -= (size_t)w;
		}
	}
	return write_all(tfd, buf, k);
}

/* A large file's copy is written by a thread of its own, a chunk
 * behind the reading and hashing: one file then copies at the speed of
 * its hash rather than of its hash and its write one after the other
 * (a single 1 GiB file: 1.5 s -> see NEWS). The two take turns with two
 * buffers. */
typedef struct Writer {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int fd;
	bool direct;
	const char *buf; /* the chunk to write; NULL: none */
	size_t len;
	bool quit;
	int err; /* the first error, sticky */
} Writer;

static void *writer_thread(void *arg)
{
	Writer *w = arg;
	pthread_mutex_lock(&w->lock);
	for (;;) {
		while (!w->buf && !w->quit)
			pthread_cond_wait(&w->cond, &w->lock);
		if (!w->buf)
			break;
		const char *buf = w->buf;
		size_t len = w->len;
		pthread_mutex_unlock(&w->lock);
		int r = w->err ? 0 : write_chunk(w->fd, buf, len, &w->direct);
		pthread_mutex_lock(&w->lock);
		if (r < 0 && !w->err)
			w->err = r;
		w->buf = NULL;
		pthread_cond_broadcast(&w->cond);
	}
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

/* Wait until the writer has written what it was given; its error. */
static int writer_wait(Writer *w)
{
	pthread_mutex_lock(&w->lock);
	while (w->buf)
		pthread_cond_wait(&w->cond, &w->lock);
	int r = w->err;
	pthread_mutex_unlock(&w->lock);
	return r;
}

static void writer_give(Writer *w, const char *buf, size_t len)
{
	pthread_mutex_lock(&w->lock);
	w->buf = buf;
	w->len = len;
	pthread_cond_broadcast(&w->cond);
	pthread_mutex_unlock(&w->lock);
}

static bool writer_start(Writer *w, int fd, bool direct)
{
	*w = (Writer){.fd = fd, .direct = direct};
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->cond, NULL);
	bool ok = thread_start(&w->thread, writer_thread, w);
	if (!ok) {
		pthread_cond_destroy(&w->cond);
		pthread_mutex_destroy(&w->lock);
	}
	return ok;
}

static int writer_stop(Writer *w)
{
	int r = writer_wait(w);
	pthread_mutex_lock(&w->lock);
	w->quit = true;
	pthread_cond_broadcast(&w->cond);
	pthread_mutex_unlock(&w->lock);
	pthread_join(w->thread, NULL);
	pthread_cond_destroy(&w->cond);
	pthread_mutex_destroy(&w->lock);
	return r;
}

/* Read fd from the start into tfd (or only hash it, tfd < 0), hashing,
 * counting progress as it goes. size: what the walk saw, to choose. */
static int copy_counting(Pinner *p, int fd, int tfd, char *buf, uint64_t size,
                         unsigned char md[SHA256_LEN], uint64_t *ret_size)
{
	Hasher *h = hasher_new();
	uint64_t total = 0;
	int r = 0;
	bool direct = tfd >= 0 && fcntl(tfd, F_SETFL, O_DIRECT) == 0;
	/* (the buffer is aligned for it: see worker()) */
	Writer w;
	bool piped = tfd >= 0 && size >= PIPELINE_MIN &&
	             writer_start(&w, tfd, direct);
	_cleanup_free_ char *other =
	        piped ? xmalloc_aligned(DIRECT_ALIGN, CHUNK) : NULL;
	char *cur = buf;
	for (;;) {
		ssize_t k = read(fd, cur, CHUNK);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			r = negative_errno();
			break;
		}
		if (k == 0)
			break;
		hasher_update(h, cur, (size_t)k);
		if (piped) {
			/* the other buffer is free once its write is done */
			if ((r = writer_wait(&w)) < 0)
				break;
			writer_give(&w, cur, (size_t)k);
			cur = cur == buf ? other : buf;
		} else if (tfd >= 0 &&
		           (r = write_chunk(tfd, cur, (size_t)k, &direct)) < 0)
			break;
		total += (uint64_t)k;
		count(p, (uint64_t)k, 0);
	}
	if (piped) {
		int wr = writer_stop(&w);
		if (r == 0)
			r = wr;
	}
	if (r < 0) {
		hasher_free(h);
		return r;
	}
	hasher_finish_raw(h, md);
	*ret_size = total;
	return 0;
}

typedef enum { FAIL_READ, FAIL_STORE } FailKind;

static int job_fail(Pinner *p, const Job *j, FailKind kind, int r)
{
	const ManifestEntry *e =
	        &p->roots[j->root].manifest->entries[job_entry(j)];
	_cleanup_free_ char *path = entry_path(p, j->root, e->path);
	if (kind == FAIL_STORE)
		return set_error(p, r, "cannot store '%s' in '%s': %s%s", path,
		                 p->store->root, strerror(-r),
		                 r == -ENOSPC || r == -EDQUOT
		                         ? "; free space there, or choose "
		                           "another store with --store DIR"
		                         : "");
	if (r == -EAGAIN)
		return set_error(p, r,
		                 "'%s' changed while it was being pinned; run "
		                 "again once nothing writes to it",
		                 path);
	return set_error(p, r, "cannot read '%s': %s", path, strerror(-r));
}

/* The job's file, opened beneath its root: its fd, and its stat in
 * *before, or job_fail()'s error (-EAGAIN, to be walked again, when it
 * is no longer the regular file the walk saw). */
static int open_job(Pinner *p, const Job *j, const char *rel,
                    struct stat *before)
{
	memset(before, 0, sizeof *before);
	int fd = open_beneath(p->root_fds[j->root], rel);
	if (fd < 0)
		return job_fail(p, j, FAIL_READ,
		                errno == ELOOP || errno == EXDEV ? -EAGAIN
		                                                 : -errno);
	int r = fstat(fd, before) < 0 ? -errno : 0;
	if (r == 0 &&
	    (!S_ISREG(before->st_mode) || (uint64_t)before->st_dev != j->dev ||
	     (uint64_t)before->st_ino != j->ino))
		r = -EAGAIN;
	if (r < 0) {
		close(fd);
		return job_fail(p, j, FAIL_READ, r);
	}
	return fd;
}

/* The file was hashed between the stat calls before and after: its
 * job keeps after, to be remembered once the pool is done, when it was
 * stable (stat_cache_stable). */
static void job_hashed(Job *j, const struct stat *before,
                       const struct stat *after, bool storing)
{
	if (!stat_cache_stable(before, after))
		return;
	j->size = (int64_t)after->st_size;
	j->mtime_sec = (int64_t)after->st_mtim.tv_sec;
	j->mtime_nsec = (uint32_t)after->st_mtim.tv_nsec;
	j->ctime_sec = (int64_t)after->st_ctim.tv_sec;
	j->ctime_nsec = (uint32_t)after->st_ctim.tv_nsec;
	j->remember = storing ? 1 : 2;
}

/* A file of a referenced root: its digest, from the stat cache or read
 * (never stored). */
static int hash_job(Pinner *p, Job *j, ManifestEntry *e, const char *rel,
                    char *buf)
{
	unsigned char md[SHA256_LEN];
	bool stored;
	struct stat jst = job_stat(j);
	if (stat_cache_lookup(p->cache, &jst, md, &stored)) {
		memcpy(e->digest, md, SHA256_LEN);
		count(p, (uint64_t)j->size, 1);
		return 0;
	}
	struct stat before, after;
	_cleanup_close_ int fd = open_job(p, j, rel, &before);
	if (fd < 0)
		return fd;
	(void)posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	uint64_t size = 0;
	int r = copy_counting(p, fd, -1, buf, (uint64_t)before.st_size, md,
	                      &size);
	if (r < 0)
		return job_fail(p, j, FAIL_READ, r);
	if (fstat(fd, &after) == 0)
		job_hashed(j, &before, &after, false);
	memcpy(e->digest, md, SHA256_LEN);
	e->size = size;
	count(p, 0, 1);
	return 0;
}

/* The pin's pack, made by the first thread that needs it. */
static int pack_of(Pinner *p)
{
	pthread_mutex_lock(&p->lock);
	int r = 0;
	if (!p->pack)
		r = pack_writer_new(p->store, &p->pack);
	pthread_mutex_unlock(&p->lock);
	return r;
}

static int do_job(Pinner *p, Job *j, char *buf)
{
	ManifestEntry *e = &p->roots[j->root].manifest->entries[job_entry(j)];
	const char *rel =
	        p->root_prefix[j->root] ? p->root_prefix[j->root] : e->path;
	if (p->roots[j->root].referenced)
		return hash_job(p, j, e, rel, buf);
	unsigned char md[SHA256_LEN];
	int r;
	bool stored;
	struct stat jst = job_stat(j);
	if (stat_cache_lookup(p->cache, &jst, md, &stored)) {
		r = stored ? 1 : store_object_exists(p->store, md);
		if (r < 0)
			return job_fail(p, j, FAIL_STORE, r);
		if (r > 0) {
			if (!stored)
				stat_cache_seen(p->cache, &jst);
			memcpy(e->digest, md, SHA256_LEN);
			count(p, (uint64_t)j->size, 1);
			return 0;
		}
	}
	struct stat before, after;
	_cleanup_close_ int fd = open_job(p, j, rel, &before);
	if (fd < 0)
		return fd;
	uint64_t size = 0;
	if (before.st_size <= SMALL_FILE) {
		/* Small: read whole, write only what the store lacks. */
		_cleanup_free_ char *data = NULL;
		size_t len;
		r = read_full_fd(fd, SMALL_FILE * 4, &data, &len);
		if (r < 0)
			return job_fail(p, j, FAIL_READ, r);
		Hasher *h = hasher_new();
		hasher_update(h, data, len);
		hasher_finish_raw(h, md);
		size = len;
		count(p, len, 0);
		r = store_object_exists(p->store, md);
		if (r < 0)
			return job_fail(p, j, FAIL_STORE, r);
		if (r == 0 && len < store_pack_threshold()) {
			/* into this pin's pack */
			r = pack_of(p);
			if (r == 0)
				r = pack_writer_add(p->pack, md, data, len);
			if (r < 0)
				return job_fail(p, j, FAIL_STORE, r);
		} else if (r == 0) {
			char *tmp = NULL;
			_cleanup_close_ int tfd = -1;
			r = store_temp_create(p->store, &tmp, &tfd);
			if (r < 0)
				return job_fail(p, j, FAIL_STORE, r);
			r = write_all(tfd, data, len);
			if (r < 0) {
				(void)unlink(tmp);
				free(tmp);
				return job_fail(p, j, FAIL_STORE, r);
			}
			add_pending(p, tmp, md);
		}
	} else {
		(void)posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
		char *tmp = NULL;
		_cleanup_close_ int tfd = -1;
		r = store_temp_create(p->store, &tmp, &tfd);
		if (r < 0)
			return job_fail(p, j, FAIL_STORE, r);
		int reflink = __atomic_load_n(&p->reflink, __ATOMIC_RELAXED);
		bool cloned = false;
		if (reflink != REFLINK_NO) {
			r = reflink_fd(fd, tfd);
			cloned = r == 0;
			__atomic_store_n(&p->reflink,
			                 cloned ? REFLINK_YES : REFLINK_NO,
			                 __ATOMIC_RELAXED);
		}
		/* A clone shares the blocks: hash the clone, which cannot
		 * change under us; else copy while hashing. */
		uint64_t seen = (uint64_t)before.st_size;
		r = cloned ? copy_counting(p, tfd, -1, buf, seen, md, &size)
		           : copy_counting(p, fd, tfd, buf, seen, md, &size);
		if (r < 0) {
			(void)unlink(tmp);
			free(tmp);
			/* which side failed: a read error is the user's file,
			 * anything on write is the store */
			return job_fail(p, j,
			                r == -ENOSPC || r == -EDQUOT ||
			                                r == -EROFS
			                        ? FAIL_STORE
			                        : FAIL_READ,
			                r);
		}
		r = store_object_exists(p->store, md);
		if (r != 0) {
			(void)unlink(tmp);
			free(tmp);
			if (r < 0)
				return job_fail(p, j, FAIL_STORE, r);
		} else
			add_pending(p, tmp, md);
	}
	if (fstat(fd, &after) == 0)
		job_hashed(j, &before, &after, true);
	memcpy(e->digest, md, SHA256_LEN);
	e->size = size;
	count(p, 0, 1);
	return 0;
}

static void *worker(void *arg)
{
	Pinner *p = arg;
	_cleanup_free_ char *buf = xmalloc_aligned(DIRECT_ALIGN, CHUNK);
	for (;;) {
		pthread_mutex_lock(&p->lock);
		bool stop = p->failed || p->next_job >= p->n_jobs;
		size_t i = p->next_job++;
		pthread_mutex_unlock(&p->lock);
		if (stop)
			break;
		(void)do_job(p, &p->jobs[i], buf);
	}
	return NULL;
}

static unsigned cpu_count(void)
{
	cpu_set_t set;
	if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0)
		return (unsigned)CPU_COUNT(&set);
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n > 0 ? (unsigned)n : 1;
}

/* Larger files first: the pool ends together instead of one thread
 * hashing the biggest file alone at the end. */
static int cmp_job_size(const void *a, const void *b)
{
	int64_t x = ((const Job *)a)->size, y = ((const Job *)b)->size;
	return x < y ? 1 : x > y ? -1 : 0;
}

/* The large files first, largest first; the small ones after, as the
 * walk met them (sorting 20,000 of them costs more than it saves). */
static void order_jobs(Pinner *p)
{
	size_t n_large = 0;
	for (size_t i = 0; i < p->n_jobs; i++)
		n_large += p->jobs[i].size > SMALL_FILE;
	if (n_large == 0)
		return;
	Job *sorted = xmalloc(p->n_jobs * sizeof *sorted);
	size_t large = 0, small = n_large;
	for (size_t i = 0; i < p->n_jobs; i++)
		sorted[p->jobs[i].size > SMALL_FILE ? large++ : small++] =
		        p->jobs[i];
	sort_v(sorted, n_large, sizeof *sorted, cmp_job_size);
	free(p->jobs);
	p->jobs = sorted;
	p->cap_jobs = p->n_jobs;
}

static void progress_now(Pinner *p, PinProgressFn fn, void *data, int64_t start,
                         bool finished)
{
	PinProgress pr = {
	        .bytes_done = __atomic_load_n(&p->bytes_done, __ATOMIC_RELAXED),
	        .bytes_total = p->bytes_total,
	        .files_done = __atomic_load_n(&p->files_done, __ATOMIC_RELAXED),
	        .files_total = p->n_jobs,
	        .elapsed_s = (double)(monotonic_ns() - start) / 1e9,
	        .finished = finished,
	};
	fn(data, &pr);
}

static int run_pool(Pinner *p, PinProgressFn fn, void *data)
{
	if (p->n_jobs == 0)
		return 0;
	order_jobs(p);
	/* A thread per core hashes; with large files, a few more keep
	 * writes queued at the disk while those hash. */
	unsigned n = cpu_count();
	if (p->jobs[0].size > SMALL_FILE)
		n += DISK_WRITERS;
	if (n > p->n_jobs)
		n = (unsigned)p->n_jobs;
	_cleanup_free_ pthread_t *t = xcalloc(n, sizeof *t);
	unsigned started = 0;
	/* Few jobs: this thread does them, no pool to start. */
	if (n > 1 || fn)
		for (; started < n; started++)
			if (pthread_create(&t[started], NULL, worker, p) != 0)
				break;
	if (started == 0) {
		worker(p);
		return 0;
	}
	int64_t start = monotonic_ns();
	bool shown = false;
	while (fn) {
		struct timespec ts = {0, 100 * 1000 * 1000};
		nanosleep(&ts, NULL);
		pthread_mutex_lock(&p->lock);
		bool done = p->failed || p->next_job >= p->n_jobs;
		pthread_mutex_unlock(&p->lock);
		bool all = __atomic_load_n(&p->files_done, __ATOMIC_RELAXED) >=
		           p->n_jobs;
		if (monotonic_ns() - start > 1000000000 && !all) {
			progress_now(p, fn, data, start, false);
			shown = true;
		}
		if (done && all)
			break;
		if (p->failed)
			break;
	}
	for (unsigned i = 0; i < started; i++)
		pthread_join(t[i], NULL);
	if (fn && shown)
		progress_now(p, fn, data, start, true);
	return 0;
}

/* The loose objects and the pack: one syncfs for the whole batch
 * instead of an fsync per file; then the renames (the pack's index last
 * of all), then once more for the names. */
static int commit_batch(Pinner *p)
{
	int r = store_sync(p->store);
	for (size_t i = 0; r == 0 && i < p->n_pending; i++) {
		r = store_object_commit(p->store, p->pending[i].tmp,
		                        p->pending[i].md);
		if (r == 0) {
			free(p->pending[i].tmp);
			p->pending[i].tmp = xstrdup("");
		}
	}
	if (r == 0 && p->pack)
		r = pack_writer_commit(p->pack, false);
	if (r == 0)
		r = store_sync(p->store);
	return r;
}

static int commit_pending(Pinner *p)
{
	if (p->n_pending == 0 && (!p->pack || pack_writer_count(p->pack) == 0))
		return 0;
	/* A pack alone: its own fsyncs, not a syncfs, which waits for
	 * whatever else is being written on the file system. */
	int r = p->n_pending == 0 ? pack_writer_commit(p->pack, true)
	                          : commit_batch(p);
	if (r < 0)
		return set_error(p, r, "cannot store objects in '%s': %s%s",
		                 p->store->root, strerror(-r),
		                 r == -ENOSPC ? "; free space there, or choose "
		                                "another store with --store DIR"
		                              : "");
	for (size_t i = 0; i < p->n_pending; i++)
		free(p->pending[i].tmp);
	p->n_pending = 0;
	return 0;
}

static int hash_piece(void *data, const char *piece, size_t n)
{
	hasher_update(data, piece, n);
	return 0;
}

static int write_piece(void *data, const char *piece, size_t n)
{
	return write_all(*(int *)data, piece, n);
}

static int write_manifest_text(void *data, int fd)
{
	return manifest_format_each(data, write_piece, &fd);
}

/* Store m's text as an object, made a piece at a time: hashed first,
 * then written only where the store lacks it (a manifest of a million
 * files is a hundred megabytes, never held whole). */
static int put_manifest(const Store *s, const Manifest *m,
                        unsigned char ret_md[SHA256_LEN])
{
	Hasher *h = hasher_new();
	int r = manifest_format_each(m, hash_piece, h);
	if (r < 0) {
		hasher_free(h);
		return r;
	}
	unsigned char md[SHA256_LEN];
	hasher_finish_raw(h, md);
	r = store_object_exists(s, md);
	if (r < 0)
		return r;
	if (r == 0) {
		r = store_object_write(s, md, write_manifest_text, (void *)m);
		if (r < 0)
			return r;
	}
	memcpy(ret_md, md, SHA256_LEN);
	return 0;
}

static int write_manifest(Pinner *p, PinRoot *root)
{
	int r = manifest_sort(root->manifest);
	if (r < 0)
		return set_error(p, r, "cannot list '%s': %s", root->path,
		                 strerror(-r));
	r = put_manifest(p->store, root->manifest, root->manifest_digest);
	if (r < 0)
		return set_error(p, r,
		                 "cannot store the manifest of '%s' in "
		                 "'%s': %s",
		                 root->path, p->store->root, strerror(-r));
	if (root->is_dir)
		memcpy(root->digest, root->manifest_digest, SHA256_LEN);
	else
		memcpy(root->digest, root->manifest->entries[0].digest,
		       SHA256_LEN);
	root->bytes = manifest_bytes(root->manifest);
	return 0;
}

/* After a failure no temp file stays behind, and none waits for the
 * pinner to be freed: the store may be full, and the failed run's record
 * is still to be written there. */
static void discard_pending(Pinner *p)
{
	p->pack = pack_writer_free(p->pack);
	for (size_t i = 0; i < p->n_pending; i++) {
		if (p->pending[i].tmp[0])
			(void)unlink(p->pending[i].tmp);
		free(p->pending[i].tmp);
	}
	p->n_pending = 0;
}

/* The pin table gets what the jobs learned (job_hashed), the jobs going
 * from the end as their entries come: a million files' stat keys are
 * never held twice. */
static void remember_jobs(Pinner *p)
{
	enum { SHRINK = 64 * 1024 };
	for (size_t i = p->n_jobs; i-- > 0;) {
		const Job *j = &p->jobs[i];
		if (j->remember) {
			struct stat st = job_stat(j);
			stat_cache_add(p->cache, &st,
			               p->roots[j->root]
			                       .manifest->entries[job_entry(j)]
			                       .digest,
			               j->remember == 1);
		}
		if (i % SHRINK == 0 && i > 0) {
			p->jobs = xrealloc(p->jobs, i * sizeof *p->jobs);
			p->n_jobs = p->cap_jobs = i;
		}
	}
	free(p->jobs);
	p->jobs = NULL;
	p->n_jobs = p->cap_jobs = 0;
}

int pinner_run(Pinner *p, PinProgressFn fn, void *data)
{
	if (p->failed)
		return p->err;
	run_pool(p, fn, data);
	if (p->failed) {
		discard_pending(p);
		return p->err;
	}
	int r = commit_pending(p);
	if (r < 0) {
		discard_pending(p);
		return r;
	}
	/* What a million files need no longer, as soon as they are not:
	 * the pack's list, the jobs (as the table gets their entries), the
	 * table's new entries (saved now) before the manifests are
	 * written. */
	p->pack = pack_writer_free(p->pack);
	remember_jobs(p);
	stat_cache_stored(p->cache);
	(void)stat_cache_save(p->cache);
	for (size_t i = 0; i < p->n_roots; i++) {
		r = write_manifest(p, &p->roots[i]);
		if (r < 0)
			return r;
	}
	return 0;
}

/* ---- views and restores ---- */

/* A copy of object md at dirfd/name with mode, minus the setuid and
 * setgid bits (a copy never carries them, nor file capabilities: the
 * store keeps no extended attributes). The bytes are hashed as they are
 * copied (a clone: as they are cloned from): -EBADMSG, and no file, when
 * they are not the object's. */
static int copy_packed(const StoreLoc *loc, const unsigned char md[SHA256_LEN],
                       int dirfd, const char *name, mode_t mode)
{
	_cleanup_free_ char *buf = xmalloc(loc->size + 1);
	int r = store_pack_read(loc, buf);
	if (r < 0)
		return r;
	unsigned char got[SHA256_LEN];
	Hasher *h = hasher_new();
	hasher_update(h, buf, loc->size);
	hasher_finish_raw(h, got);
	if (memcmp(got, md, SHA256_LEN) != 0)
		return -EBADMSG;
	_cleanup_close_ int out = openat(
	        dirfd, name,
	        O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (out < 0)
		return negative_errno();
	r = write_all(out, buf, loc->size);
	if (r == 0 && fchmod(out, mode & 01777) < 0)
		r = negative_errno();
	if (r < 0)
		(void)unlinkat(dirfd, name, 0);
	return r;
}

static int copy_object(const Store *s, const unsigned char md[SHA256_LEN],
                       int dirfd, const char *name, mode_t mode)
{
	/* A packed object: its bytes straight from the pack. */
	StoreLoc loc;
	int r = store_object_exists_loose(s, md);
	if (r == 0) {
		r = store_pack_find(s, md, &loc);
		if (r == 0)
			return -ENOENT;
		if (r < 0)
			return r;
		r = copy_packed(&loc, md, dirfd, name, mode);
		close(loc.fd);
		return r;
	}
	_cleanup_close_ int in = -1;
	r = store_object_open(s, md, &in);
	if (r < 0)
		return r;
	_cleanup_close_ int out = openat(
	        dirfd, name,
	        O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (out < 0)
		return negative_errno();
	unsigned char got[SHA256_LEN];
	r = reflink_fd(in, out);
	if (r == 0)
		r = copy_and_hash(in, -1, got, NULL);
	else if (r == -EOPNOTSUPP)
		r = copy_and_hash(in, out, got, NULL);
	if (r == 0 && memcmp(got, md, SHA256_LEN) != 0)
		r = -EBADMSG;
	if (r == 0 && fchmod(out, mode & 01777) < 0)
		r = negative_errno();
	if (r < 0)
		(void)unlinkat(dirfd, name, 0);
	return r;
}

static int place_file(const Store *s, const ManifestEntry *e, int dirfd,
                      const char *name, MaterializeMode mode, bool force)
{
	if (mode == MATERIALIZE_RESTORE) {
		struct stat st;
		if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
			if (!force || S_ISDIR(st.st_mode))
				return -EEXIST;
			if (unlinkat(dirfd, name, 0) < 0)
				return negative_errno();
		}
	}
	if (e->kind == ENTRY_LINK)
		return symlinkat(e->target, dirfd, name) < 0 ? -errno : 0;
	/* A packed object has no file to link to: it is copied (once, into
	 * the view that runs of this tree share). */
	if (mode == MATERIALIZE_VIEW && !(e->mode & 0111) &&
	    !store_pack_find_loaded(s, e->digest)) {
		/* relative to the objects' directory: two components to
		 * resolve, not the store's whole path */
		char d[DIGEST_STR_LEN + 1], rel[DIGEST_STR_LEN + 1];
		digest_format(e->digest, d);
		snprintf(rel, sizeof rel, "%.2s/%s", d + 7, d + 9);
		_cleanup_free_ char *obj = store_object_path(s, e->digest);
		if (linkat(s->objects_fd >= 0 ? s->objects_fd : AT_FDCWD,
		           s->objects_fd >= 0 ? rel : obj, dirfd, name, 0) == 0)
			return 0;
		/* protected_hardlinks (another user's object), a full link
		 * count, another file system: a copy will do; and so for an
		 * object packed by another writer since. */
		if (errno != EPERM && errno != EMLINK && errno != EXDEV &&
		    errno != EACCES && errno != ENOENT)
			return negative_errno();
	}
	return copy_object(s, e->digest, dirfd, name, e->mode);
}

/* From a previous view: a hard link to its file at the same path when
 * the previous tree had the same file there (same digest and mode): 1
 * when linked, 0 when not (the caller makes the file), -errno. */
typedef struct Prev {
	const Manifest *m;
	int rootfd;
	size_t next; /* the first entry not below the current path */
	char *cur;   /* the directory cur_fd is open on */
	int cur_fd;
	size_t linked;
} Prev;

static int link_prev(Prev *pv, const ManifestEntry *e, int dfd,
                     const char *name)
{
	while (pv->next < pv->m->n &&
	       strcmp(pv->m->entries[pv->next].path, e->path) < 0)
		pv->next++;
	if (pv->next >= pv->m->n)
		return 0;
	const ManifestEntry *o = &pv->m->entries[pv->next];
	if (!streq(o->path, e->path) || o->kind != ENTRY_FILE ||
	    e->kind != ENTRY_FILE || o->mode != e->mode ||
	    memcmp(o->digest, e->digest, SHA256_LEN) != 0)
		return 0;
	const char *slash = strrchr(e->path, '/');
	size_t dlen = slash ? (size_t)(slash - e->path) : 0;
	if (pv->cur_fd < 0 || strlen(pv->cur) != dlen ||
	    !strneq(pv->cur, e->path, dlen)) {
		const char *ignored;
		int fd = open_parent_beneath(pv->rootfd, e->path, &ignored);
		if (fd < 0)
			return 0;
		if (pv->cur_fd >= 0)
			close(pv->cur_fd);
		pv->cur_fd = fd;
		free(pv->cur);
		pv->cur = xstrndup(e->path, dlen);
	}
	if (linkat(pv->cur_fd, name, dfd, name, 0) == 0) {
		pv->linked++;
		return 1;
	}
	/* a full link count, a previous view gone: made anew */
	return 0;
}

static int materialize_impl(const Store *s, const Manifest *m, bool single_file,
                            const PinRoot *holes, const char *dest,
                            MaterializeMode mode, bool force, Prev *pv,
                            char **ret_error_path);

int materialize(const Store *s, const Manifest *m, bool single_file,
                const PinRoot *holes, const char *dest, MaterializeMode mode,
                bool force, char **ret_error_path)
{
	return materialize_impl(s, m, single_file, holes, dest, mode, force,
	                        NULL, ret_error_path);
}

int materialize_view_from(const Store *s, const Manifest *m,
                          const PinRoot *holes, const char *dest,
                          const Manifest *prev, const char *prev_dest,
                          size_t *ret_linked)
{
	Prev pv = {.m = prev, .cur_fd = -1};
	pv.rootfd = open(prev_dest,
	                 O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	int r = materialize_impl(s, m, false, holes, dest, MATERIALIZE_VIEW,
	                         false, pv.rootfd >= 0 ? &pv : NULL, NULL);
	if (pv.rootfd >= 0)
		close(pv.rootfd);
	if (pv.cur_fd >= 0)
		close(pv.cur_fd);
	free(pv.cur);
	if (ret_linked)
		*ret_linked = pv.linked;
	return r;
}

static int materialize_impl(const Store *s, const Manifest *m, bool single_file,
                            const PinRoot *holes, const char *dest,
                            MaterializeMode mode, bool force, Prev *pv,
                            char **ret_error_path)
{
	if (single_file) {
		if (m->n != 1 || m->entries[0].kind == ENTRY_DIR)
			return -EBADMSG;
		_cleanup_free_ char *dir = xstrdup(dest);
		char *slash = strrchr(dir, '/');
		if (!slash)
			return -EINVAL;
		*slash = 0;
		_cleanup_close_ int dfd = open(
		        dir[0] ? dir : "/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dfd < 0)
			return negative_errno();
		int r = place_file(s, &m->entries[0], dfd, slash + 1, mode,
		                   force);
		if (r < 0 && ret_error_path)
			*ret_error_path = xstrdup(dest);
		return r;
	}
	if (mkdir(dest, 0700) < 0 &&
	    (mode == MATERIALIZE_VIEW || errno != EEXIST))
		return negative_errno();
	_cleanup_close_ int rootfd =
	        open(dest, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (rootfd < 0)
		return negative_errno();
	int r = 0;
	/* The entries come sorted: a directory's files one after another,
	 * and its fd is opened once for them. */
	_cleanup_free_ char *cur = NULL;
	_cleanup_close_ int cur_fd = -1;
	for (size_t i = 0; i < m->n && r == 0; i++) {
		const ManifestEntry *e = &m->entries[i];
		const char *slash = strrchr(e->path, '/');
		const char *name = slash ? slash + 1 : e->path;
		size_t dlen = slash ? (size_t)(slash - e->path) : 0;
		int dfd;
		if (cur_fd >= 0 && strlen(cur) == dlen &&
		    strneq(cur, e->path, dlen))
			dfd = cur_fd;
		else {
			dfd = open_parent_beneath(rootfd, e->path, &name);
			if (dfd >= 0) {
				if (cur_fd >= 0)
					close(cur_fd);
				cur_fd = dfd;
				free(cur);
				cur = xstrndup(e->path, dlen);
			}
		}
		if (dfd < 0) {
			r = dfd;
		} else if (e->kind == ENTRY_DIR) {
			if (mkdirat(dfd, name, 0700) < 0) {
				struct stat st;
				r = negative_errno();
				if (r == -EEXIST &&
				    mode == MATERIALIZE_RESTORE &&
				    fstatat(dfd, name, &st,
				            AT_SYMLINK_NOFOLLOW) == 0 &&
				    S_ISDIR(st.st_mode))
					r = 0;
			}
		} else {
			r = pv ? link_prev(pv, e, dfd, name) : 0;
			r = r == 0  ? place_file(s, e, dfd, name, mode, force)
			    : r < 0 ? r
			            : 0;
		}
		if (r < 0 && ret_error_path)
			*ret_error_path = path_join(dest, e->path);
	}
	for (size_t i = 0; holes && r == 0 && i < holes->n_holes; i++) {
		/* The directories above a mount point, as plain 0755 ones
		 * where the tree has none (an output in a directory git does
		 * not list). */
		_cleanup_free_ char *up = xstrdup(holes->holes[i]);
		for (char *sl = strchr(up, '/'); sl; sl = strchr(sl + 1, '/')) {
			*sl = 0;
			(void)mkdirat(rootfd, up, 0755);
			*sl = '/';
		}
		const char *name;
		_cleanup_close_ int dfd =
		        open_parent_beneath(rootfd, holes->holes[i], &name);
		if (dfd < 0)
			continue; /* below a link: cannot be a mount point */
		if (holes->hole_is_dir[i])
			(void)mkdirat(dfd, name, 0755);
		else {
			int fd = openat(dfd, name,
			                O_WRONLY | O_CREAT | O_EXCL |
			                        O_CLOEXEC | O_NOFOLLOW,
			                0644);
			if (fd >= 0)
				close(fd);
		}
	}
	/* Directory modes last, deepest first: a read-only directory
	 * cannot be filled. */
	for (size_t i = m->n; r == 0 && i-- > 0;) {
		const ManifestEntry *e = &m->entries[i];
		/* A restore never sets the setgid bit (nor setuid). */
		mode_t dmode = mode == MATERIALIZE_RESTORE ? e->mode & 01777
		                                           : e->mode & 07777;
		if (e->kind == ENTRY_DIR &&
		    fchmodat(rootfd, e->path, dmode, 0) < 0)
			r = negative_errno();
	}
	if (r == 0 && fchmod(rootfd, 0755) < 0)
		r = negative_errno();
	return r;
}
