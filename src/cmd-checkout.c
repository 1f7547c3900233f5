/* xrun checkout [--force | --clean] RUN [PATH] */
#include "config.h"

#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sys/stat.h>

#include "cmd.h"
#include "options.h"
#include "format.h"
#include "pin.h"
#include "spec.h"
#include "util.h"

enum { OPT_CLEAN = 256 };

static const CmdOption checkout_options[] = {
        {'f', "force", NULL,
         "overwrite files that exist (default: refuse, change nothing); files the run did not produce are left and counted"},
        {OPT_CLEAN, "clean", NULL,
         "as --force, and remove what the run did not produce: each output becomes exactly the run's (links are removed, never followed)"},
        CMD_OPTION_HELP,
        {0},
};

static const CmdSpec checkout_cmd = {
        .name = "checkout",
        .synopsis = "[--force | --clean] RUN [PATH]",
        .about =
                "Restore the outputs of RUN (its -o paths, as they were when it ended)\n"
                "from the store: at their original paths, or with PATH each under\n"
                "PATH by its base name. Files are copies (reflinks where the file\n"
                "system can) with their recorded modes, never with a setuid or\n"
                "setgid bit (files or directories) or file capabilities; each is\n"
                "hashed as it is copied, and a corrupt or missing object stops the\n"
                "checkout, with what it wrote removed. Existing directories are\n"
                "filled in.\n",
        .options = checkout_options,
};

/* One output being checked out. */
typedef struct Target {
	Manifest *m;
	char *dest;
	bool single;
	bool existed; /* dest was there before */
	bool *had;    /* per entry: its path was there before */
	bool started; /* materialize ran (to clean up after) */
} Target;

/* Nothing is written unless everything can be: a file in the way is
 * found before the first write. */
static const char *first_in_way(const Manifest *m, bool single,
                                const char *dest, char **ret_path)
{
	for (size_t i = 0; i < m->n; i++) {
		const ManifestEntry *e = &m->entries[i];
		_cleanup_free_ char *p =
		        single ? xstrdup(dest) : path_join(dest, e->path);
		struct stat st;
		if (lstat(p, &st) < 0)
			continue;
		if (e->kind == ENTRY_DIR && S_ISDIR(st.st_mode))
			continue;
		*ret_path = TAKE_PTR(p);
		return *ret_path;
	}
	return NULL;
}

/* The first file whose object is not in the store, or NULL. */
static const ManifestEntry *first_missing(const Store *s, const Manifest *m)
{
	for (size_t i = 0; i < m->n; i++)
		if (m->entries[i].kind == ENTRY_FILE &&
		    store_object_exists(s, m->entries[i].digest) != 1)
			return &m->entries[i];
	return NULL;
}

static void note_existing(Target *t)
{
	struct stat st;
	t->existed = lstat(t->dest, &st) == 0;
	t->had = xcalloc(t->m->n + 1, sizeof(bool));
	for (size_t i = 0; t->existed && !t->single && i < t->m->n; i++) {
		_cleanup_free_ char *p =
		        path_join(t->dest, t->m->entries[i].path);
		t->had[i] = lstat(p, &st) == 0;
	}
}

/* Undo a checkout that failed part way: what it made goes (a file it
 * replaced under --force stays replaced). */
static void undo(const Target *t)
{
	if (!t->started)
		return;
	if (!t->existed) {
		(void)remove_tree(t->dest);
		return;
	}
	if (t->single)
		return;
	for (size_t i = t->m->n; i-- > 0;) {
		if (t->had[i])
			continue;
		_cleanup_free_ char *p =
		        path_join(t->dest, t->m->entries[i].path);
		struct stat st;
		if (lstat(p, &st) < 0)
			continue;
		if (S_ISDIR(st.st_mode))
			(void)rmdir(p);
		else
			(void)unlink(p);
	}
}

/* What dirfd (the directory at rel of the output) holds that the
 * manifest does not: counted, and with clean removed (a link is removed,
 * never followed; a directory of the run is entered only when it is one
 * here too). */
static void sweep_extra(const Manifest *m, int dirfd, const char *rel,
                        bool clean, size_t *n, char **example, int *ret_err)
{
	DIR *d = fdopendir(dirfd);
	if (!d) {
		close(dirfd);
		return;
	}
	struct dirent *de;
	while ((de = readdir(d))) {
		const char *name = de->d_name;
		if (streq(name, ".") || streq(name, ".."))
			continue;
		_cleanup_free_ char *p =
		        *rel ? xasprintf("%s/%s", rel, name) : xstrdup(name);
		const ManifestEntry *e = manifest_find(m, p);
		struct stat st;
		if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		if (e && e->kind == ENTRY_DIR && S_ISDIR(st.st_mode)) {
			int fd = openat(dirfd, name,
			                O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
			                        O_CLOEXEC);
			if (fd >= 0)
				sweep_extra(m, fd, p, clean, n, example,
				            ret_err);
			continue;
		}
		if (e)
			continue;
		if (clean) {
			int r = remove_tree_at(dirfd, name);
			if (r < 0) {
				if (!*ret_err)
					*ret_err = r;
				if (!*example)
					*example = xstrdup(p);
				continue;
			}
		} else if (!*example)
			*example = xstrdup(p);
		(*n)++;
	}
	closedir(d);
}

/* After a checkout of a directory: say what it holds that the run did
 * not produce, or with clean remove it. 0, or 1 when something could
 * not be removed. */
static int report_extra(const Target *t, const char *run, bool clean)
{
	if (t->single || !t->existed)
		return 0;
	int fd = open(t->dest, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return 0;
	size_t n = 0;
	_cleanup_free_ char *example = NULL;
	int err = 0;
	sweep_extra(t->m, fd, "", clean, &n, &example, &err);
	if (err) {
		log_error_errno(err, "cannot remove '%s/%s': %m", t->dest,
		                example);
		return 1;
	}
	if (n == 0)
		return 0;
	if (clean)
		log_info("removed %zu path%s from '%s' that run %s did not "
		         "produce",
		         n, n == 1 ? "" : "s", t->dest, run);
	else
		log_warn("'%s' still holds %zu path%s that run %s did not "
		         "produce (such as '%s'); pass --clean to remove them",
		         t->dest, n, n == 1 ? "" : "s", run, example);
	return 0;
}

/* The setuid and setgid bits the run's files had, which a checkout
 * never restores. */
static void report_stripped(const Target *t)
{
	size_t n = 0;
	const char *example = NULL;
	for (size_t i = 0; i < t->m->n; i++) {
		const ManifestEntry *e = &t->m->entries[i];
		if (e->kind != ENTRY_LINK && (e->mode & 06000)) {
			n++;
			example = example ? example : e->path;
		}
	}
	if (n == 0)
		return;
	_cleanup_free_ char *p =
	        t->single ? xstrdup(t->dest) : path_join(t->dest, example);
	log_warn("stripped the setuid/setgid bits of %zu path%s (such as "
	         "'%s'): a checkout never restores them",
	         n, n == 1 ? "" : "s", p);
}

/* The first directory of path that does not exist (what a mkdir_p of
 * path would make first), or NULL. */
static char *first_missing_dir(const char *path)
{
	_cleanup_free_ char *p = xstrdup(path);
	char *found = NULL;
	for (;;) {
		struct stat st;
		if (lstat(p, &st) == 0)
			break;
		free(found);
		found = xstrdup(p);
		char *slash = strrchr(p, '/');
		if (!slash || slash == p)
			break;
		*slash = 0;
	}
	return found;
}

/* Check one output of rec before anything is written: its manifest,
 * its objects, what is in the way of t->dest (under into, when given).
 * Returns 0 or 1 after saying why. */
static int checkout_prepare(Context *ctx, const Record *rec, const json_t *o,
                            const char *into, bool force, Target *t)
{
	_cleanup_free_ char *path =
	        json_bytes_decode(json_object_get(o, "path"), NULL);
	unsigned char md[SHA256_LEN];
	if (!path || path[0] != '/' ||
	    digest_parse(json_string_value(json_object_get(o, "manifest")),
	                 md) < 0) {
		log_error("the record '%s' has a malformed output", rec->path);
		return 1;
	}
	const char *base = strrchr(path, '/') + 1;
	t->dest = into ? path_join(into, base) : xstrdup(path);
	t->single = streq(json_string_value(json_object_get(o, "kind")) ?: "",
	                  "file");
	int r = manifest_load(ctx->store, md, &t->m);
	if (r < 0) {
		char d[DIGEST_STR_LEN + 1];
		digest_format(md, d);
		log_error_errno(r,
		                "cannot read the manifest %s of '%s': %s; "
		                "nothing was checked out; see xrun verify",
		                d, path,
		                r == -EBADMSG ? "it is corrupt"
		                              : "it is missing");
		return 1;
	}
	const ManifestEntry *miss = first_missing(ctx->store, t->m);
	if (miss) {
		char d[DIGEST_STR_LEN + 1];
		digest_format(miss->digest, d);
		_cleanup_free_ char *p =
		        t->single ? xstrdup(path) : path_join(path, miss->path);
		log_error("the object %s of '%s' is missing from the "
		          "store; nothing was checked out; see xrun "
		          "verify",
		          d, p);
		return 1;
	}
	_cleanup_free_ char *way = NULL;
	if (!force && first_in_way(t->m, t->single, t->dest, &way)) {
		log_error("'%s' exists; pass --force to overwrite it, "
		          "or give a PATH to check out into",
		          way);
		return 1;
	}
	return 0;
}

/* Write one prepared output: 0, or 1 after saying why. */
static int checkout_write(Context *ctx, Target *t, bool force)
{
	note_existing(t);
	t->started = true;
	_cleanup_free_ char *bad = NULL;
	int r = materialize(ctx->store, t->m, t->single, NULL, t->dest,
	                    MATERIALIZE_RESTORE, force, &bad);
	if (r == -EBADMSG && bad) {
		const char *rel = t->single ? NULL : bad + strlen(t->dest) + 1;
		const ManifestEntry *e =
		        rel ? manifest_find(t->m, rel) : &t->m->entries[0];
		char d[DIGEST_STR_LEN + 1] = "?";
		if (e && e->kind == ENTRY_FILE)
			digest_format(e->digest, d);
		_cleanup_free_ char *obj =
		        e && e->kind == ENTRY_FILE
		                ? store_object_where(ctx->store, e->digest)
		                : xstrdup("?");
		log_error("the object %s ('%s') for '%s' is corrupt: "
		          "its bytes no longer match its digest; "
		          "nothing was checked out; see xrun verify",
		          d, obj, bad);
		return 1;
	} else if (r < 0) {
		log_error_errno(r, "cannot check out '%s': %m",
		                bad ? bad : t->dest);
		return 1;
	}
	return 0;
}

/* Check out the n outputs outs of rec (into, when given): every one
 * is checked before any is written, and a failure undoes what was
 * written. Returns 0 or 1. */
static int checkout_outputs(Context *ctx, const Record *rec, const json_t *outs,
                            const char *into, bool force, Target *ts, size_t n)
{
	int status = 0;
	for (size_t i = 0; i < n && !status; i++)
		status = checkout_prepare(ctx, rec, json_array_get(outs, i),
		                          into, force, &ts[i]);
	_cleanup_free_ char *made_into = NULL;
	if (into && !status) {
		made_into = first_missing_dir(into);
		int r = mkdir_p(into, 0755);
		if (r < 0) {
			log_error_errno(r, "cannot create '%s': %m", into);
			status = 1;
		}
	}
	for (size_t i = 0; i < n && !status; i++) {
		status = checkout_write(ctx, &ts[i], force);
		if (status) {
			for (size_t k = 0; k <= i; k++)
				undo(&ts[k]);
			if (made_into)
				(void)remove_tree(made_into);
			break;
		}
	}
	return status;
}

int cmd_checkout(int argc, char **argv, Context *ctx)
{
	bool force = false, clean = false;
	_cleanup_cmd_parser_ CmdParser opt_parser;
	cmd_parser_init(&opt_parser, &checkout_cmd, argc, argv);
	int c;
	while ((c = cmd_option_next(&opt_parser)) > 0) {
		switch (c) {
		case 'f':
			force = true;
			break;
		case OPT_CLEAN:
			clean = force = true;
			break;
		}
	}
	if (c < 0)
		return opt_parser.status;
	if (argc - optind < 1 || argc - optind > 2)
		return cmd_usage_error(
		        &checkout_cmd,
		        "checkout takes RUN and an optional PATH");
	if (context_find_store(ctx, true) < 0)
		return 2;
	_cleanup_record_ Record *rec = NULL;
	int st = load_run(ctx, argv[optind], &rec);
	if (st)
		return st;
	(void)warn_if_edited(rec);
	char run[9];
	snprintf(run, sizeof run, "%.8s", record_id(rec));
	_cleanup_free_ char *into =
	        argc - optind == 2 ? path_normalize(ctx->cwd, argv[optind + 1])
	                           : NULL;
	const json_t *outs = json_object_get(rec->root, "outputs");
	if (json_array_size(outs) == 0) {
		log_error("run %s has no outputs to check out; only -o paths "
		          "are kept",
		          run);
		return 1;
	}
	size_t n = json_array_size(outs);
	_cleanup_free_ Target *ts = xcalloc(n + 1, sizeof(Target));
	int status = checkout_outputs(ctx, rec, outs, into, force, ts, n);
	for (size_t i = 0; i < n && !status; i++) {
		Target *t = &ts[i];
		if (report_extra(t, run, clean))
			status = 1;
		report_stripped(t);
		_cleanup_free_ char *hb = format_bytes(manifest_bytes(t->m));
		log_info("checked out '%s' (%" PRIu64 " file%s, %s) from run "
		         "%s",
		         t->dest, manifest_files(t->m),
		         manifest_files(t->m) == 1 ? "" : "s", hb, run);
	}
	for (size_t i = 0; i < n; i++) {
		manifest_free(ts[i].m);
		free(ts[i].dest);
		free(ts[i].had);
	}
	return finish_stdout(status);
}
