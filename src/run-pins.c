#include "config.h"

#include "run-pins.h"

#include "du.h"
#include "format.h"
#include "git.h"
#include "hash.h"
#include "view-delta.h"

#include <fcntl.h>
#include <inttypes.h>

#include <sys/stat.h>

#include "util.h"

/* "; the largest: 'data/train/' 2.9 GiB, ..." for a workspace over its
 * limit, or "" when nothing can be said. */
static char *largest_text(const char *top, char *const *files,
                          char *const *exclude)
{
	DuOptions opt = {.only = files, .exclude = exclude};
	DuEntry *e = NULL;
	size_t n = 0;
	bool truncated = false;
	if (du_largest(top, &opt, 3, &e, &n, &truncated) < 0 || n == 0) {
		du_entries_free(e, n);
		return xstrdup("");
	}
	char *text = xstrdup("; the largest: ");
	for (size_t i = 0; i < n; i++) {
		/* Small ones beside a big one say nothing. */
		if (i > 0 && e[i].bytes < e[0].bytes / 20)
			break;
		_cleanup_free_ char *b = format_bytes(e[i].bytes);
		char *t = xasprintf("%s%s'%s' %s%s", text, i ? ", " : "",
		                    e[i].path, truncated ? "at least " : "", b);
		free(text);
		text = t;
	}
	du_entries_free(e, n);
	return text;
}

struct RunPins {
	Pinner *pinner;
	StatCache *cache;
	bool has_workspace;
	size_t workspace;
	size_t *inputs;
	size_t n_inputs;
	bool pinned;      /* every root hashed and stored */
	char *view_dir;   /* tmp/view-<id>, removed at the end */
	json_t *restored; /* a replay's: the record's pinned roots */
	char **warnings;
};

RunPins *run_pins_free(RunPins *p)
{
	if (!p)
		return NULL;
	if (p->view_dir)
		(void)remove_tree(p->view_dir);
	free(p->view_dir);
	json_decref(p->restored);
	pinner_free(p->pinner);
	stat_cache_free(p->cache);
	free(p->inputs);
	strv_free(p->warnings);
	free(p);
	return NULL;
}

char *const *run_pins_warnings(const RunPins *p)
{
	return p ? p->warnings : NULL;
}

static int cmp_len(const void *a, const void *b)
{
	size_t x = strlen(*(char *const *)a), y = strlen(*(char *const *)b);
	return x < y ? -1 : x > y;
}

/* The paths the sandbox hides (secret stores in the home directory): a
 * workspace never copies them into the store, with or without the
 * sandbox. */
static char **hidden_paths(Sandbox *sb, const char *home)
{
	if (!sb)
		return sandbox_secret_paths(home);
	char **v = xcalloc(1, sizeof(char *));
	for (size_t i = 0; i < sb->n_mounts; i++)
		if (sb->mounts[i].kind == MOUNT_HIDE)
			v = strv_push(v, sb->mounts[i].dest);
	return v;
}

/* The name of root's shared view: what it holds (the tree, whether it is
 * one file, the mount points left in it) and whose it is (its files and
 * directories belong to the user who made it). */
static char *view_key(const PinRoot *root)
{
	Hasher *h = hasher_new();
	char head[64];
	int n = snprintf(head, sizeof head, "xrun-view-1 uid %u %s\n",
	                 (unsigned)getuid(), root->is_dir ? "dir" : "file");
	hasher_update(h, head, (size_t)n);
	hasher_update(h, root->manifest_digest, SHA256_LEN);
	for (size_t k = 0; k < root->n_holes; k++) {
		hasher_update(h, root->hole_is_dir[k] ? "d" : "f", 1);
		hasher_update(h, root->holes[k], strlen(root->holes[k]) + 1);
	}
	unsigned char md[SHA256_LEN];
	hasher_finish_raw(h, md);
	return hex_encode(md, SHA256_LEN);
}

/* Take the view in dir: it must be what xrun makes (a directory of this
 * user's holding v, a directory or a file; nothing a link could send
 * elsewhere), and its mtime says it was used now. -ENOENT when there is
 * none; -EPERM when something else is there (the caller makes a view of
 * its own instead). */
static int take_view(const char *dir)
{
	struct stat st;
	if (lstat(dir, &st) < 0)
		return negative_errno();
	if (!S_ISDIR(st.st_mode) || st.st_uid != getuid())
		return -EPERM;
	_cleanup_free_ char *v = path_join(dir, "v");
	if (lstat(v, &st) < 0) {
		int r = negative_errno();
		return r == -ENOENT ? -EPERM : r;
	}
	if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode))
		return -EPERM;
	if (utimensat(AT_FDCWD, dir, NULL, AT_SYMLINK_NOFOLLOW) < 0)
		return negative_errno();
	return 0;
}

/* The most deltas a view is layered on (its overlayfs has one more
 * layer); past it the next view is made whole. */
#define VIEW_MAX_DEPTH 4

/* cache/view-last-HASH: the key of the view last made for a root (by
 * this user, at this path), whose files the next one links to. */
static char *last_name(const PinRoot *root)
{
	Hasher *h = hasher_new();
	char head[64];
	int n = snprintf(head, sizeof head, "xrun-view-last uid %u\n",
	                 (unsigned)getuid());
	hasher_update(h, head, (size_t)n);
	hasher_update(h, root->path, strlen(root->path));
	unsigned char md[SHA256_LEN];
	hasher_finish_raw(h, md);
	_cleanup_free_ char *hex = hex_encode(md, 16);
	return xasprintf("view-last-%s", hex);
}

/* A view's key as a file names it: 64 hex digits, nothing else. */
static int read_key(const char *dir, const char *name, char **ret)
{
	_cleanup_free_ char *p = path_join(dir, name);
	_cleanup_free_ char *key = NULL;
	int r = read_one_line(p, &key);
	if (r < 0)
		return r;
	if (strlen(key) != 64 || strspn(key, "0123456789abcdef") != 64)
		return -EBADMSG;
	*ret = TAKE_PTR(key);
	return 0;
}

/* The layers of the view KEY in views, top first ("KEY/v:BASE/v:..."),
 * each below the top taken (gc leaves them while it is used): a delta
 * view names its base in tmp/views/KEY/base. *ret_depth: how many
 * deltas (0: a plain view, *ret_layers NULL); *ret_bottom: the plain
 * view at the bottom. -errno when a base is gone or the chain is too
 * long. */
static int view_layers(const char *views, const char *key, char **ret_layers,
                       size_t *ret_depth, char **ret_bottom)
{
	_cleanup_free_ char *layers = xasprintf("%s/v", key);
	_cleanup_free_ char *cur = xstrdup(key);
	size_t depth = 0;
	for (;;) {
		_cleanup_free_ char *dir = path_join(views, cur);
		_cleanup_free_ char *base = NULL;
		int r = read_key(dir, "base", &base);
		if (r == -ENOENT)
			break;
		if (r < 0)
			return r;
		if (++depth > VIEW_MAX_DEPTH)
			return -ELOOP;
		_cleanup_free_ char *bdir = path_join(views, base);
		r = take_view(bdir);
		if (r < 0)
			return r == -ENOENT ? -ESTALE : r;
		char *l = xasprintf("%s:%s/v", layers, base);
		free(layers);
		layers = l;
		free(cur);
		cur = TAKE_PTR(base);
	}
	*ret_depth = depth;
	if (ret_layers)
		*ret_layers = depth ? TAKE_PTR(layers) : NULL;
	if (ret_bottom)
		*ret_bottom = TAKE_PTR(cur);
	return 0;
}

/* Whether delta views can be mounted here: not where XRUN_VIEW_DELTA
 * is "off"; else as found once per boot and user (cache/layers-UID-v1
 * keeps the answer), and a warning the first time it is refused. */
static bool deltas_usable(RunPins *p, Store *s)
{
	const char *env = getenv("XRUN_VIEW_DELTA");
	if (env && streq(env, "off"))
		return false;
	_cleanup_free_ char *boot = NULL, *text = NULL;
	_cleanup_free_ char *name =
	        xasprintf("layers-%u-v1", (unsigned)getuid());
	_cleanup_free_ char *path = s->cache ? path_join(s->cache, name) : NULL;
	size_t len = 0;
	int r = 1;
	if (path && read_boot_id(&boot) == 0 &&
	    read_full_file(path, 256, &text, &len) == 0) {
		size_t n = strlen(boot);
		if (len > n + 1 && strneq(text, boot, n) && text[n] == ' ')
			r = -(int)strtol(text + n + 1, NULL, 10);
	}
	bool probed = r > 0;
	if (probed) {
		_cleanup_free_ char *probe =
		        xasprintf("%s/views/.probe-%d", s->tmp, (int)getpid());
		(void)remove_tree(probe);
		r = mkdir(probe, 0700) < 0 ? negative_errno()
		                           : sandbox_probe_layers(probe);
		(void)remove_tree(probe);
	}
	if (path && boot && probed) {
		_cleanup_free_ char *line = xasprintf("%s %d\n", boot, -r);
		(void)write_file_replace(s->cache, name, line, strlen(line),
		                         0644);
	}
	if (r < 0 && p)
		p->warnings = strv_pushf(
		        p->warnings,
		        "overlayfs cannot layer a view over another here (%s): "
		        "a changed tree's view is made whole, by links",
		        strerror(-r));
	return r == 0;
}

/* The view KEY, taken: its path (*ret) and, for a delta view, its
 * layers (each taken too). */
static int taken_view(RunPins *p, Store *s, const char *views, const char *key,
                      char **ret, char **ret_layers)
{
	size_t depth = 0;
	_cleanup_free_ char *layers = NULL;
	int r = view_layers(views, key, &layers, &depth, NULL);
	if (r < 0)
		return r;
	if (layers && !deltas_usable(p, s))
		return -EXDEV;
	_cleanup_free_ char *dir = path_join(views, key);
	*ret = path_join(dir, "v");
	*ret_layers = TAKE_PTR(layers);
	return 0;
}

/* A delta view of root at v over the view KEY (whose tree is pm), when
 * few entries differ and the chain below it is short: 0 and
 * *ret_base, or -errno (the caller makes a whole view). */
static int delta_view(RunPins *p, Store *s, const PinRoot *root,
                      const char *views, const char *key, const Manifest *pm,
                      const unsigned char *pmd, const char *v, char **ret_base)
{
	/* Neither view may have mount points left in it (the key of the
	 * one below says it has none): a run would see them as entries. */
	PinRoot plain = {.is_dir = true};
	memcpy(plain.manifest_digest, pmd, SHA256_LEN);
	_cleanup_free_ char *plain_key = view_key(&plain);
	size_t depth = 0;
	if (root->n_holes > 0 || !streq(plain_key, key) ||
	    view_layers(views, key, NULL, &depth, NULL) < 0 ||
	    depth >= VIEW_MAX_DEPTH || !deltas_usable(p, s))
		return -EXDEV;
	int r = view_delta_make(s, root->manifest, pm, v, NULL);
	if (r < 0) {
		(void)remove_tree(v);
		return r;
	}
	*ret_base = xstrdup(key);
	return 0;
}

/* Make the view of root at v: a delta over the view last made for the
 * same root where few entries differ (*ret_base names it); else a whole
 * one, its files that the last one's tree has linked from it (from the
 * plain view at the bottom of its layers): a change costs what changed,
 * and links. Else from the store. */
static int make_view(RunPins *p, Store *s, const PinRoot *root,
                     const char *views, const char *v, char **ret_base)
{
	if (!root->is_dir || !root->path) /* a file; a replay's */
		return materialize(s, root->manifest, !root->is_dir, root, v,
		                   MATERIALIZE_VIEW, false, NULL);
	_cleanup_free_ char *last = last_name(root);
	_cleanup_free_ char *key = NULL, *digest = NULL, *bottom = NULL;
	_cleanup_free_ char *prev = NULL, *mp = NULL;
	unsigned char md[SHA256_LEN];
	Manifest *pm = NULL;
	size_t depth = 0;
	if (read_key(s->cache, last, &key) == 0) {
		prev = path_join(views, key);
		mp = path_join(prev, "manifest");
	}
	/* taken, so that gc leaves it while this one links to it */
	if (prev && take_view(prev) == 0 && read_one_line(mp, &digest) == 0 &&
	    digest_parse(digest, md) == 0 && manifest_load(s, md, &pm) == 0) {
		/* cppcheck-suppress unreadVariable */
		_cleanup_manifest_ Manifest *owned = pm;
		if (delta_view(p, s, root, views, key, pm, md, v, ret_base) ==
		    0)
			return 0;
		if (view_layers(views, key, NULL, &depth, &bottom) == 0 &&
		    depth == 0) {
			_cleanup_free_ char *pv = path_join(prev, "v");
			return materialize_view_from(s, root->manifest, root, v,
			                             pm, pv, NULL);
		}
	}
	if (bottom) {
		/* the files unchanged since the plain view below */
		_cleanup_free_ char *bdir = path_join(views, bottom);
		_cleanup_free_ char *bp = path_join(bdir, "v");
		_cleanup_free_ char *bm = path_join(bdir, "manifest");
		_cleanup_free_ char *bd = NULL;
		Manifest *m = NULL;
		if (read_one_line(bm, &bd) == 0 && digest_parse(bd, md) == 0 &&
		    manifest_load(s, md, &m) == 0) {
			/* cppcheck-suppress unreadVariable */
			_cleanup_manifest_ Manifest *owned = m;
			return materialize_view_from(s, root->manifest, root, v,
			                             m, bp, NULL);
		}
	}
	return materialize(s, root->manifest, false, root, v, MATERIALIZE_VIEW,
	                   false, NULL);
}

/* tmp/views/KEY/v: made once (in tmp/views/.new-ID-I, then renamed into
 * place, so that a view under its name is whole), then reused by every
 * run of the same tree. Its directory's mtime says when a run last took
 * it (gc keeps the views used within its grace period, those they are
 * layered on, and all of them while any run is live). *ret_layers: NULL
 * for a plain view, else the layers to mount (view_layers); a delta
 * view where deltas cannot be mounted is -EXDEV (the caller makes a
 * view of its own). */
static int shared_view(RunPins *p, Store *s, const PinRoot *root,
                       const char *id, size_t i, char **ret, char **ret_layers)
{
	_cleanup_free_ char *views = path_join(s->tmp, "views");
	_cleanup_free_ char *key = view_key(root);
	_cleanup_free_ char *dir = path_join(views, key);
	*ret_layers = NULL;
	int r = take_view(dir);
	if (r == 0)
		return taken_view(p, s, views, key, ret, ret_layers);
	if (r != -ENOENT)
		return r;
	if (mkdir(views, 0755) < 0 && errno != EEXIST)
		return negative_errno();
	_cleanup_free_ char *tmp = xasprintf("%s/.new-%s-%zu", views, id, i);
	if (mkdir(tmp, 0755) < 0)
		return negative_errno();
	_cleanup_free_ char *v = path_join(tmp, "v");
	_cleanup_free_ char *base = NULL;
	r = make_view(p, s, root, views, v, &base);
	if (r == 0) {
		/* what it holds, for the next view of this root */
		char d[DIGEST_STR_LEN + 1];
		digest_format(root->manifest_digest, d);
		r = write_file_replace(tmp, "manifest", d, strlen(d), 0644);
	}
	if (r == 0 && base)
		r = write_file_replace(tmp, "base", base, strlen(base), 0644);
	if (r == 0 &&
	    renameat2(AT_FDCWD, tmp, AT_FDCWD, dir, RENAME_NOREPLACE) < 0) {
		r = negative_errno();
		/* No RENAME_NOREPLACE here: a directory is not renamed over
		 * one that holds something either. */
		if ((r == -EINVAL || r == -ENOSYS) && rename(tmp, dir) == 0)
			r = 0;
	}
	if (r == -EEXIST || r == -ENOTEMPTY) {
		/* Another run made it first: take theirs. */
		(void)remove_tree(tmp);
		r = take_view(dir);
	} else if (r < 0)
		(void)remove_tree(tmp);
	if (r == 0 && root->is_dir && root->path) {
		_cleanup_free_ char *last = last_name(root);
		(void)write_file_replace(s->cache, last, key, strlen(key),
		                         0644);
	}
	return r == 0 ? taken_view(p, s, views, key, ret, ret_layers) : r;
}

/* The inputs by their real paths (a link to the data is mounted where
 * it points), parents before what they hold; those of --input-ref also
 * in *ret_refs. */
static int real_inputs(const RunSpec *spec, char ***ret_inputs,
                       char ***ret_refs, char **ret_error)
{
	_cleanup_strv_free_ char **inputs = NULL, **refs = NULL;
	for (int ref = 0; ref < 2; ref++)
		for (char *const *i = ref ? spec->input_refs : spec->inputs;
		     i && *i; i++) {
			char *real = realpath(*i, NULL);
			if (!real) {
				int r = negative_errno();
				*ret_error = xasprintf("cannot pin input '%s': "
				                       "%s",
				                       *i, strerror(-r));
				return r;
			}
			inputs = strv_push(inputs, real);
			if (ref)
				refs = strv_push(refs, real);
			free(real);
		}
	size_t n_inputs = strv_length(inputs);
	if (n_inputs)
		sort_v(inputs, n_inputs, sizeof(char *), cmp_len);
	*ret_inputs = TAKE_PTR(inputs);
	*ret_refs = TAKE_PTR(refs);
	return 0;
}

/* The files git lists in the work tree top (*ret_files; NULL, with a
 * warning, when git cannot list them: the whole directory is pinned). */
static void workspace_files(RunPins *p, const char *top, char ***ret_files)
{
	int r = git_workspace_files(top, ret_files);
	if (r == -EPERM) {
		char *w = xasprintf("git refuses the work tree '%s': it "
		                    "belongs to another user (git's "
		                    "safe.directory check), so its whole "
		                    "directory is pinned and the record "
		                    "has "
		                    "no commit or diff; if you trust it, "
		                    "run: git "
		                    "config --global --add safe.directory "
		                    "'%s'",
		                    top, top);
		p->warnings = strv_push(p->warnings, w);
		free(w);
	} else if (r < 0) {
		char *w = xasprintf("cannot list the git work tree '%s' "
		                    "with git ls-files (%s): its whole "
		                    "directory is pinned instead",
		                    top, strerror(-r));
		p->warnings = strv_push(p->warnings, w);
		free(w);
	}
}

/* The workspace: the git work tree, else the working directory;
 * nothing when that is / (it cannot be mounted over). Without the
 * store, the outputs, the inputs and what the sandbox hides. */
static int add_workspace(RunPins *p, Store *s, const RunSpec *spec,
                         char *const *outputs, char *const *inputs, Sandbox *sb,
                         const char *home, char **ret_error)
{
	_cleanup_free_ char *top = NULL;
	bool git = git_find_top(spec->cwd, NULL, &top) > 0;
	if (!git)
		top = xstrdup(spec->cwd);
	if (streq(top, "/"))
		return 0;
	_cleanup_strv_free_ char **files = NULL;
	if (git)
		workspace_files(p, top, &files);
	_cleanup_strv_free_ char **exclude = hidden_paths(sb, home);
	exclude = strv_push(exclude, s->root);
	for (char *const *o = outputs; o && *o; o++)
		exclude = strv_push(exclude, *o);
	for (char *const *i = inputs; i && *i; i++)
		exclude = strv_push(exclude, *i);
	PinAddOptions opt = {
	        .exclude = exclude,
	        .only = files,
	        .skip_dot_git = true,
	        .limit = spec->workspace_limit ? spec->workspace_limit
	                                       : WORKSPACE_LIMIT_DEFAULT,
	};
	int r = pinner_add(p->pinner, top, &opt, &p->workspace);
	if (r == -EFBIG) {
		_cleanup_free_ char *lim = format_bytes(opt.limit);
		_cleanup_free_ char *big = largest_text(top, files, exclude);
		*ret_error = xasprintf(
		        "the workspace '%s' holds more than %s, the "
		        "limit of what a run pins by itself%s; declare "
		        "big data with --input PATH (it is then left "
		        "out of the workspace)%s, or raise the limit "
		        "with --workspace-limit SIZE",
		        top, lim, big,
		        git ? ", list what the run does not read in "
		              ".gitignore"
		            : "");
		return r;
	}
	if (r < 0) {
		*ret_error = xstrdup(pinner_error(p->pinner));
		return r;
	}
	p->has_workspace = true;
	return 0;
}

/* Each input (sorted, parents first), without the store and the
 * outputs; an input holding another leaves a hole for it. */
static int add_inputs(RunPins *p, Store *s, char *const *outputs,
                      char *const *inputs, char *const *refs, char **ret_error)
{
	size_t n_inputs = strv_length(inputs);
	p->inputs = xcalloc(n_inputs + 1, sizeof(size_t));
	for (size_t k = 0; k < n_inputs; k++) {
		_cleanup_strv_free_ char **exclude = NULL;
		for (size_t m = k + 1; m < n_inputs; m++)
			exclude = strv_push(exclude, inputs[m]);
		exclude = strv_push(exclude, s->root);
		for (char *const *o = outputs; o && *o; o++)
			exclude = strv_push(exclude, *o);
		PinAddOptions opt = {.exclude = exclude,
		                     .warn_links = true,
		                     .reference = strv_has(refs, inputs[k])};
		int r = pinner_add(p->pinner, inputs[k], &opt, &p->inputs[k]);
		if (r < 0) {
			*ret_error = xstrdup(pinner_error(p->pinner));
			return r;
		}
		p->n_inputs++;
	}
	return 0;
}

/* The views: a tree of hard links to the objects per pinned root,
 * shared by the runs that pin the same tree (views never change, like
 * the objects). False when one cannot be shared. */
static bool plan_shared_views(RunPins *p, Store *s, Sandbox *sb, const char *id)
{
	_cleanup_strv_free_ char **views = NULL, **dests = NULL;
	_cleanup_strv_free_ char **layers = NULL;
	for (size_t i = 0; i < pinner_n_roots(p->pinner); i++) {
		const PinRoot *root = pinner_root(p->pinner, i);
		_cleanup_free_ char *view = NULL, *l = NULL;
		if (root->referenced) /* bound from its place */
			view = xstrdup(root->path);
		else if (shared_view(p, s, root, id, i, &view, &l) < 0)
			return false;
		views = strv_push(views, view);
		layers = strv_push(layers, l ? l : "");
		dests = strv_push(dests, root->path);
	}
	sandbox_plan_pinned(sb, views, layers, dests);
	return true;
}

/* Else one view directory for the run. */
static int plan_run_views(RunPins *p, Store *s, Sandbox *sb, const char *id,
                          char **ret_error)
{
	_cleanup_strv_free_ char **views = NULL, **dests = NULL;
	p->view_dir = xasprintf("%s/view-%s", s->tmp, id);
	if (mkdir(p->view_dir, 0755) < 0) {
		int r = negative_errno();
		free(p->view_dir);
		p->view_dir = NULL;
		*ret_error = xasprintf("cannot make the run's view of its "
		                       "pinned files in '%s': %s",
		                       s->tmp, strerror(-r));
		return r;
	}
	for (size_t i = 0; i < pinner_n_roots(p->pinner); i++) {
		const PinRoot *root = pinner_root(p->pinner, i);
		if (root->referenced) {
			views = strv_push(views, root->path);
			dests = strv_push(dests, root->path);
			continue;
		}
		_cleanup_free_ char *view = xasprintf("%s/%zu", p->view_dir, i);
		_cleanup_free_ char *bad = NULL;
		int r = materialize(s, root->manifest, !root->is_dir, root,
		                    view, MATERIALIZE_VIEW, false, &bad);
		if (r < 0) {
			*ret_error = xasprintf(
			        "cannot make the view of '%s' in '%s': %s",
			        root->path, bad ? bad : view, strerror(-r));
			return r;
		}
		views = strv_push(views, view);
		dests = strv_push(dests, root->path);
	}
	sandbox_plan_pinned(sb, views, NULL, dests);
	return 0;
}

int run_pins_prepare(Store *s, const RunSpec *spec, char *const *outputs,
                     Sandbox *sb, const char *home, const char *id,
                     PinProgressFn fn, void *data, RunPins **ret,
                     char **ret_error)
{
	RunPins *p = xcalloc(1, sizeof *p);
	*ret = p;
	p->cache = stat_cache_new(s->cache);
	p->pinner = pinner_new(s, p->cache);

	_cleanup_strv_free_ char **inputs = NULL, **refs = NULL;
	int r = real_inputs(spec, &inputs, &refs, ret_error);
	if (r < 0)
		return r;
	r = add_workspace(p, s, spec, outputs, inputs, sb, home, ret_error);
	if (r < 0)
		return r;
	r = add_inputs(p, s, outputs, inputs, refs, ret_error);
	if (r < 0)
		return r;
	r = pinner_run(p->pinner, fn, data);
	for (char *const *w = pinner_warnings(p->pinner); w && *w; w++)
		p->warnings = strv_push(p->warnings, *w);
	if (r < 0) {
		*ret_error = xstrdup(pinner_error(p->pinner));
		return r;
	}
	p->pinned = true;
	if (!sb || plan_shared_views(p, s, sb, id))
		return 0;
	return plan_run_views(p, s, sb, id, ret_error);
}

json_t *pin_root_json(const PinRoot *r)
{
	char digest[DIGEST_STR_LEN + 1], manifest[DIGEST_STR_LEN + 1];
	digest_format(r->digest, digest);
	digest_format(r->manifest_digest, manifest);
	return json_pack("{s:o,s:s,s:s,s:I,s:I,s:s}", "path",
	                 json_bstr(r->path), "kind",
	                 r->is_dir ? "directory" : "file", "digest", digest,
	                 "files", (json_int_t)r->files, "bytes",
	                 (json_int_t)r->bytes, "manifest", manifest);
}

void run_pins_record(const RunPins *p, json_t *rec)
{
	/* A failed pin records nothing it did not finish. */
	if (!p || !p->pinned)
		return;
	json_t *source = json_object_get(rec, "source");
	if (p->restored) {
		json_t *ws = json_object_get(p->restored, "workspace");
		if (json_is_object(source) && json_is_object(ws))
			json_object_set_new(source, "workspace",
			                    json_deep_copy(ws));
		json_t *in = json_object_get(p->restored, "inputs");
		json_object_set_new(rec, "inputs",
		                    json_is_array(in) ? json_deep_copy(in)
		                                      : json_array());
		return;
	}
	if (p->has_workspace && json_is_object(source)) {
		const PinRoot *ws = pinner_root(p->pinner, p->workspace);
		json_t *j = pin_root_json(ws);
		json_object_del(j, "kind");
		json_object_set_new(
		        j, "listed_by",
		        json_string(ws->from_git ? "git" : "directory"));
		json_object_set_new(source, "workspace", j);
	}
	json_t *inputs = json_array();
	for (size_t k = 0; k < p->n_inputs; k++) {
		const PinRoot *root = pinner_root(p->pinner, p->inputs[k]);
		json_t *j = pin_root_json(root);
		json_object_set_new(j, "storage",
		                    json_string(root->referenced ? "referenced"
		                                                 : "stored"));
		json_array_append_new(inputs, j);
	}
	json_object_set_new(rec, "inputs", inputs);
}

static bool below_strictly(const char *path, const char *top)
{
	size_t n = strlen(top);
	if (streq(top, "/"))
		return path[0] == '/' && path[1];
	return strneq(path, top, n) && path[n] == '/';
}

static void hole_add(PinRoot *h, const char *root, const char *path,
                     bool is_dir)
{
	if (!below_strictly(path, root))
		return;
	const char *rel = path + (streq(root, "/") ? 1 : strlen(root) + 1);
	h->holes = xrealloc(h->holes, (h->n_holes + 1) * sizeof(char *));
	h->hole_is_dir = xrealloc(h->hole_is_dir, h->n_holes + 1);
	h->holes[h->n_holes] = xstrdup(rel);
	h->hole_is_dir[h->n_holes] = is_dir;
	h->n_holes++;
}

/* The mount points a view of root needs: what the original run left
 * out of it (outputs, inputs inside it, the store, hidden secrets) and
 * the working directory. */
static void replay_holes(PinRoot *h, const char *root, const RunSpec *spec,
                         char *const *outputs, const Sandbox *sb,
                         const Store *s, json_t *inputs)
{
	for (size_t k = 0; outputs && outputs[k]; k++)
		hole_add(h, root, outputs[k],
		         !(spec->output_is_file && spec->output_is_file[k]));
	size_t i;
	json_t *in;
	json_array_foreach (inputs, i, in) {
		const char *path = json_get_string(in, "path");
		const char *kind = json_get_string(in, "kind");
		if (path)
			hole_add(h, root, path, !kind || !streq(kind, "file"));
	}
	hole_add(h, root, s->root, true);
	for (size_t k = 0; k < sb->n_mounts; k++)
		if (sb->mounts[k].kind == MOUNT_HIDE) {
			struct stat st;
			bool dir = stat(sb->mounts[k].dest, &st) < 0 ||
			           S_ISDIR(st.st_mode);
			hole_add(h, root, sb->mounts[k].dest, dir);
		}
	hole_add(h, root, spec->cwd, true);
}

static void holes_clear(PinRoot *h)
{
	for (size_t i = 0; i < h->n_holes; i++)
		free(h->holes[i]);
	free(h->holes);
	free(h->hole_is_dir);
	memset(h, 0, sizeof *h);
}

/* What an entry of a manifest is, for comparing two: its digest, link
 * target or "directory". */
static json_t *entries_by_path(const Manifest *m, const char *root,
                               bool is_file)
{
	json_t *o = json_object();
	for (size_t k = 0; k < m->n; k++) {
		const ManifestEntry *e = &m->entries[k];
		_cleanup_free_ char *path =
		        is_file ? xstrdup(root) : path_join(root, e->path);
		char d[DIGEST_STR_LEN + 1];
		if (e->kind == ENTRY_FILE)
			digest_format(e->digest, d);
		_cleanup_free_ char *what =
		        e->kind == ENTRY_FILE   ? xstrdup(d)
		        : e->kind == ENTRY_LINK ? xasprintf("-> %s", e->target)
		                                : xstrdup("directory");
		json_object_set_new(o, path, json_string(what));
	}
	return o;
}

/* A referenced input (--input-ref) of a replay: hashed again where it
 * lies (the stat cache first); 0 when it is what the run saw, else
 * -ESTALE with *ret_error naming each file that changed. */
static int check_reference(RunPins *p, Store *s, const char *path,
                           const Manifest *was, const unsigned char md[32],
                           bool is_file, char *const *exclude, char **ret_error)
{
	if (!p->cache)
		p->cache = stat_cache_new(s->cache);
	_cleanup_pinner_ Pinner *pin = pinner_new(s, p->cache);
	PinAddOptions opt = {.exclude = exclude, .reference = true};
	size_t idx;
	int r = pinner_add(pin, path, &opt, &idx);
	if (r == 0)
		r = pinner_run(pin, NULL, NULL);
	if (r < 0) {
		*ret_error = xasprintf("cannot hash the referenced input "
		                       "'%s' again: %s; a replay needs the "
		                       "files the run saw there",
		                       path, pinner_error(pin));
		return r;
	}
	const PinRoot *now = pinner_root(pin, idx);
	if (memcmp(now->manifest_digest, md, SHA256_LEN) == 0)
		return 0;
	json_auto_t *a = entries_by_path(was, path, is_file);
	json_auto_t *b = entries_by_path(now->manifest, path, is_file);
	_cleanup_free_ char *list = xstrdup("");
	size_t n = 0;
	const char *k;
	json_t *v;
	json_object_foreach (a, k, v) {
		json_t *w = json_object_get(b, k);
		if (w && json_equal(v, w))
			continue;
		char *t = xasprintf("%s%s'%s' (%s)", list, n++ ? ", " : "", k,
		                    w ? "changed" : "gone");
		free(list);
		list = t;
	}
	json_object_foreach (b, k, v)
		if (!json_object_get(a, k)) {
			char *t = xasprintf("%s%s'%s' (new)", list,
			                    n++ ? ", " : "", k);
			free(list);
			list = t;
		}
	*ret_error = xasprintf("the referenced input '%s' is not what the "
	                       "run saw: %s; a replay needs the same files: "
	                       "put them back, or pin a copy with -i",
	                       path, n ? list : "its tree changed");
	return -ESTALE;
}

int run_pins_restore(Store *s, const RunSpec *spec, char *const *outputs,
                     Sandbox *sb, const char *id, RunPins **ret,
                     char **ret_error)
{
	RunPins *p = xcalloc(1, sizeof *p);
	*ret = p;
	p->restored = json_deep_copy(spec->pinned);
	json_t *inputs = json_object_get(p->restored, "inputs");
	json_auto_t *roots = json_array();
	json_t *ws = json_object_get(p->restored, "workspace");
	if (json_is_object(ws))
		json_array_append(roots, ws);
	size_t i;
	json_t *in;
	json_array_foreach (inputs, i, in)
		json_array_append(roots, in);
	if (!sb) {
		*ret_error = xstrdup("a replay needs the sandbox");
		return -EINVAL;
	}
	_cleanup_strv_free_ char **views = NULL, **dests = NULL;
	_cleanup_strv_free_ char **layers = NULL;
	json_t *root;
	json_array_foreach (roots, i, root) {
		const char *path = json_get_string(root, "path");
		const char *kind = json_get_string(root, "kind");
		const char *mtext = json_get_string(root, "manifest");
		unsigned char md[SHA256_LEN];
		if (!path || !mtext || digest_parse(mtext, md) < 0) {
			*ret_error = xstrdup("the record's pinned files are "
			                     "malformed (no path or manifest)");
			return -EBADMSG;
		}
		Manifest *m_raw = NULL;
		int r = manifest_load(s, md, &m_raw);
		_cleanup_manifest_ Manifest *m = m_raw;
		if (r < 0) {
			_cleanup_free_ char *obj = store_object_path(s, md);
			*ret_error = xasprintf("cannot read the manifest %s of "
			                       "'%s' ('%s'): %s",
			                       mtext, path, obj, strerror(-r));
			return r;
		}
		bool is_file = kind && streq(kind, "file");
		const char *storage = json_get_string(root, "storage");
		if (storage && streq(storage, "referenced")) {
			/* Left out of it, as when the run hashed it. */
			_cleanup_strv_free_ char **exclude = NULL;
			size_t k;
			json_t *o;
			json_array_foreach (inputs, k, o) {
				const char *op = json_get_string(o, "path");
				if (op && below_strictly(op, path))
					exclude = strv_push(exclude, op);
			}
			exclude = strv_push(exclude, s->root);
			for (char *const *x = outputs; x && *x; x++)
				exclude = strv_push(exclude, *x);
			r = check_reference(p, s, path, m, md, is_file, exclude,
			                    ret_error);
			if (r < 0)
				return r;
			views = strv_push(views, path);
			layers = strv_push(layers, "");
			dests = strv_push(dests, path);
			continue;
		}
		PinRoot h = {0};
		if (!is_file)
			replay_holes(&h, path, spec, outputs, sb, s, inputs);
		/* The view the original run took, or one like it. */
		h.manifest = m;
		h.is_dir = !is_file;
		memcpy(h.manifest_digest, md, SHA256_LEN);
		_cleanup_free_ char *view = NULL, *bad = NULL, *l = NULL;
		r = shared_view(p, s, &h, id, i, &view, &l);
		if (r < 0) {
			r = 0;
			if (!p->view_dir) {
				p->view_dir =
				        xasprintf("%s/view-%s", s->tmp, id);
				if (mkdir(p->view_dir, 0755) < 0) {
					r = negative_errno();
					free(p->view_dir);
					p->view_dir = NULL;
				}
			}
			free(view);
			view = p->view_dir ? xasprintf("%s/%zu", p->view_dir, i)
			                   : xstrdup(s->tmp);
			if (r == 0)
				r = materialize(s, m, is_file, &h, view,
				                MATERIALIZE_VIEW, false, &bad);
		}
		h.manifest = NULL;
		holes_clear(&h);
		if (r < 0) {
			*ret_error = xasprintf(
			        "cannot make the view of '%s' in '%s': %s",
			        path, bad ? bad : view, strerror(-r));
			return r;
		}
		views = strv_push(views, view);
		layers = strv_push(layers, l ? l : "");
		dests = strv_push(dests, path);
	}
	p->pinned = true;
	sandbox_plan_pinned(sb, views, layers, dests);
	return 0;
}
