/* xrun gc [--dry-run] [--grace DURATION] */
#include "config.h"

#include <dirent.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <sys/stat.h>

#include "cmd.h"
#include "format.h"
#include "pin.h"
#include "refs.h"
#include "statcache.h"
#include "util.h"

#define GC_GRACE_S 3600.0

static const char gc_usage[] =
        "usage: xrun gc [--dry-run] [--grace DURATION]\n"
        "\n"
        "Delete the stored objects that no record references (through its\n"
        "workspace, inputs or outputs), views no run took within the grace\n"
        "period (while no run is live), and leftovers of runs that died in\n"
        "tmp/. Objects younger than the grace period (default 1h) are kept,\n"
        "so that the pins of runs starting meanwhile survive; gc refuses to\n"
        "run while a run directory younger than that has no record yet, or\n"
        "when a record or a referenced manifest cannot be read.\n"
        "\n"
        "Options:\n"
        "  -n, --dry-run         say what would be deleted, delete nothing\n"
        "  --grace DURATION      keep what is younger than DURATION (90s, "
        "30m,\n"
        "                        2h; 0 keeps nothing back)\n";

static int64_t mtime_ns(const struct stat *st)
{
	return (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
}

/* A run directory without a record, younger than the grace period: a
 * launcher between its first pin and its start record. */
static char *run_being_set_up(const Store *s, int64_t cutoff)
{
	DIR *d = opendir(s->runs);
	if (!d)
		return NULL;
	char *found = NULL;
	struct dirent *de;
	while (!found && (de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		struct stat st, rs;
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) <
		            0 ||
		    !S_ISDIR(st.st_mode) || mtime_ns(&st) < cutoff)
			continue;
		_cleanup_free_ char *rec =
		        xasprintf("%s/record.json", de->d_name);
		if (fstatat(dirfd(d), rec, &rs, AT_SYMLINK_NOFOLLOW) < 0)
			found = path_join(s->runs, de->d_name);
	}
	closedir(d);
	return found;
}

/* tmp/views/: the views runs share. One is removed when no run is live
 * (a live run's view is its program's file system) and none took it
 * within the grace period; it is renamed out of the way first and looked
 * at again, so that a run taking it meanwhile (which touches it first)
 * keeps it. Views half made by dead launchers (.new-*) or half removed
 * by an interrupted gc (.del-*) go too, once older than the grace. */
static void sweep_views(const Store *s, int64_t cutoff, bool any_live,
                        bool dry_run, size_t *ret_n)
{
	_cleanup_free_ char *views = path_join(s->tmp, "views");
	DIR *d = opendir(views);
	if (!d)
		return;
	struct dirent *de;
	while ((de = readdir(d))) {
		const char *n = de->d_name;
		/* half made by a dead launcher, or half removed by a gc */
		bool partial = startswith(n, ".new-") || startswith(n, ".del-");
		if (!partial && (strlen(n) != 64 || any_live))
			continue;
		struct stat st;
		if (fstatat(dirfd(d), n, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
		    mtime_ns(&st) >= cutoff)
			continue;
		if (dry_run) {
			(*ret_n)++;
			continue;
		}
		_cleanup_free_ char *p = path_join(views, n);
		if (partial) {
			if (remove_tree(p) == 0)
				(*ret_n)++;
			continue;
		}
		_cleanup_free_ char *del =
		        xasprintf("%s/.del-%s-%d", views, n, (int)getpid());
		if (rename(p, del) < 0)
			continue;
		if (stat(del, &st) == 0 && mtime_ns(&st) >= cutoff) {
			/* Taken meanwhile: back in place (a directory is not
			 * renamed over one that holds something). */
			if (renameat2(AT_FDCWD, del, AT_FDCWD, p,
			              RENAME_NOREPLACE) == 0 ||
			    ((errno == EINVAL || errno == ENOSYS) &&
			     rename(del, p) == 0))
				continue;
		}
		if (remove_tree(del) == 0)
			(*ret_n)++;
	}
	closedir(d);
}

/* tmp/: temp objects and views that dead launchers left behind (a live
 * run's view is its program's file system, however old). live: the ids
 * of the runs whose records say running and whose launchers are there
 * (or on another host, where that cannot be told). */
static void sweep_tmp(const Store *s, int64_t cutoff, char *const *live,
                      bool dry_run, size_t *ret_n)
{
	sweep_views(s, cutoff, live != NULL, dry_run, ret_n);
	DIR *d = opendir(s->tmp);
	if (!d)
		return;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (!startswith(de->d_name, "obj-") &&
		    !startswith(de->d_name, "view-"))
			continue;
		struct stat st;
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) <
		            0 ||
		    mtime_ns(&st) >= cutoff)
			continue;
		if (startswith(de->d_name, "view-") &&
		    strv_has(live, de->d_name + 5))
			continue;
		_cleanup_free_ char *p = path_join(s->tmp, de->d_name);
		if (dry_run || remove_tree(p) == 0)
			(*ret_n)++;
	}
	closedir(d);
}

int cmd_gc(int argc, char **argv, Context *ctx)
{
	enum { OPT_GRACE = 256 };
	static const struct option opts[] = {
	        {"dry-run", no_argument, NULL, 'n'},
	        {"grace", required_argument, NULL, OPT_GRACE},
	        {"help", no_argument, NULL, 'h'},
	        {0},
	};
	bool dry_run = false;
	double grace = GC_GRACE_S;
	int c;
	while ((c = getopt_long(argc, argv, "nh", opts, NULL)) != -1) {
		switch (c) {
		case 'n':
			dry_run = true;
			break;
		case OPT_GRACE:
			if (streq(optarg, "0"))
				grace = 0;
			else if (parse_duration(optarg, &grace) < 0) {
				log_error("--grace takes a duration like 90s, "
				          "30m, 2h or 0, not '%s'",
				          optarg);
				return 2;
			}
			break;
		case 'h':
			fputs(gc_usage, stdout);
			return finish_stdout(0);
		default:
			fputs(gc_usage, stderr);
			return 2;
		}
	}
	if (optind != argc) {
		log_error("gc takes no RUN; see xrun gc --help");
		return 2;
	}
	if (context_find_store(ctx, true) < 0)
		return 2;
	Store *s = ctx->store;
	int64_t start = now_ns();
	int64_t cutoff = start - (int64_t)(grace * 1e9);
	/* First a new gc token: pins take an object noted under the old one
	 * as stored without looking (statcache.h). Then the check for runs
	 * being set up, which covers a pin that read the old token. */
	if (!dry_run) {
		int r = stat_cache_new_gc_token(s->cache);
		if (r < 0) {
			log_error_errno(
			        r,
			        "cannot write '%s/gc-token': %m; nothing "
			        "was deleted",
			        s->cache);
			return 2;
		}
	}
	_cleanup_free_ char *busy = run_being_set_up(s, cutoff);
	if (busy) {
		log_error("a run is being set up in '%s' and has no record "
		          "yet; its pins are not known: run gc again once it "
		          "has started",
		          busy);
		return 1;
	}
	Record **recs;
	size_t n_recs, bad = 0;
	int r = store_load_all(s, &recs, &n_recs, &bad);
	if (r < 0) {
		log_error_errno(r, "cannot list runs in '%s': %m", s->runs);
		return 2;
	}
	_cleanup_ref_set_ RefSet *set = ref_set_new();
	_cleanup_strv_free_ char **live = NULL;
	for (size_t i = 0; i < n_recs; i++) {
		ref_set_add_record(set, s, recs[i]);
		const char *st = record_status(recs[i]);
		if (st && streq(st, "running") && record_id(recs[i]))
			live = strv_push(live, record_id(recs[i]));
	}
	records_free(recs, n_recs);
	if (bad) {
		log_error("%zu record%s cannot be read, so what %s reference%s "
		          "is not known; nothing was deleted; see xrun verify",
		          bad, bad == 1 ? "" : "s", bad == 1 ? "it" : "they",
		          bad == 1 ? "s" : "");
		return 1;
	}
	if (set->problems) {
		for (char **p = set->problems; *p; p++)
			log_error("%s", *p);
		log_error("the files these manifests list are not known; "
		          "nothing was deleted; see xrun verify");
		return 1;
	}
	StoredObject *objs = NULL;
	size_t n_objs = 0;
	r = store_list_objects(s, &objs, &n_objs);
	if (r < 0) {
		log_error_errno(r, "cannot list the objects in '%s': %m",
		                s->objects);
		return 2;
	}
	size_t removed = 0, kept = 0, young = 0, failed = 0;
	uint64_t freed = 0;
	for (size_t i = 0; i < n_objs; i++) {
		if (ref_set_has(set, objs[i].md)) {
			kept++;
			continue;
		}
		if (objs[i].mtime_ns >= cutoff) {
			young++;
			continue;
		}
		_cleanup_free_ char *p = store_object_path(s, objs[i].md);
		if (!dry_run && unlink(p) < 0) {
			if (errno != ENOENT) {
				log_warn_errno(-errno, "cannot delete '%s': %m",
				               p);
				failed++;
			}
			continue;
		}
		if (log_level >= LOG_VERBOSE) {
			char d[DIGEST_STR_LEN + 1];
			digest_format(objs[i].md, d);
			printf("%s %s\n", dry_run ? "would delete" : "deleted",
			       d);
		}
		removed++;
		freed += objs[i].size;
	}
	free(objs);
	size_t tmp_removed = 0;
	sweep_tmp(s, cutoff, live, dry_run, &tmp_removed);
	_cleanup_free_ char *hb = format_bytes(freed);
	printf("%s %zu object%s (%s)%s; kept %zu referenced object%s and %zu "
	       "younger than the grace period\n",
	       dry_run ? "would delete" : "deleted", removed,
	       removed == 1 ? "" : "s", hb,
	       tmp_removed ? " and unused views and leftovers in tmp/" : "",
	       kept, kept == 1 ? "" : "s", young);
	return finish_stdout(failed ? 1 : 0);
}
