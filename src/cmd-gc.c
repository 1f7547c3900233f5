/* xrun gc [--dry-run] [--grace DURATION] */
#include "config.h"

#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sys/stat.h>
#include <time.h>

#include "cgroup.h"
#include "cmd.h"
#include "options.h"
#include "format.h"
#include "pin.h"
#include "refs.h"
#include "statcache.h"
#include "util.h"

#define GC_GRACE_S 3600.0

enum { OPT_GRACE = 256 };

static const CmdOption gc_options[] = {
        {'n', "dry-run", NULL, "say what would be deleted, delete nothing"},
        {OPT_GRACE, "grace", "DURATION",
         "keep what is younger than DURATION (90s, 30m, 2h; 0 keeps nothing back)"},
        CMD_OPTION_HELP,
        {0},
};

static const CmdSpec gc_cmd = {
        .name = "gc",
        .synopsis = "[--dry-run] [--grace DURATION]",
        .about =
                "Delete the stored objects that no record references (through its\n"
                "workspace, inputs or outputs), views no run took within the grace\n"
                "period (while no run is live), and, at once, what launchers that\n"
                "died left: run directories without a record, temp files and views\n"
                "in tmp/, empty xrun-<id> cgroups. A launcher is alive while a\n"
                "process of its pid and start time runs in this boot; what a live\n"
                "one uses is never touched. Objects younger than the grace period\n"
                "(default 1h) are kept, so that the pins of runs starting meanwhile\n"
                "survive. No object is deleted while a live launcher is setting up\n"
                "a run (gc waits up to 5s for it), or when a record or a\n"
                "referenced manifest cannot be read.\n",
        .options = gc_options,
};

static int64_t mtime_ns(const struct stat *st)
{
	return (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
}

/* Who is behind what the store holds, decided by the launchers' pid,
 * start time and boot id (record.h), not by age. Age (the grace period)
 * decides only for what a launcher on another host made, and for what
 * carries no owner (written by an xrun before owners were named). */
typedef struct Owners {
	const Store *s;
	int64_t cutoff;
	json_t *markers;   /* run id -> launcher_token_alive() of its marker */
	json_t *live;      /* run id -> true: its launcher is at work */
	json_t *dead;      /* run id -> true: its launcher is gone */
	char **setting_up; /* run directories whose live launcher has not
	                    * written their record yet */
	char **orphans;    /* run directories without a record whose
	                    * launcher is gone */
} Owners;

static void owners_clear(Owners *o)
{
	json_decref(o->markers);
	json_decref(o->live);
	json_decref(o->dead);
	strv_free(o->setting_up);
	strv_free(o->orphans);
	*o = (Owners){0};
}

static int aged_state(const struct stat *st, int64_t cutoff)
{
	return mtime_ns(st) < cutoff ? 0 : 1;
}

/* tmp/run-<id>-<token>: the owners of the run directories. */
static void read_markers(Owners *o)
{
	json_decref(o->markers);
	o->markers = json_object();
	DIR *d = opendir(o->s->tmp);
	if (!d)
		return;
	struct dirent *de;
	while ((de = readdir(d))) {
		const char *n = de->d_name;
		if (!startswith(n, STORE_RUN_MARKER))
			continue;
		n += strlen(STORE_RUN_MARKER);
		if (strlen(n) < 38 || n[36] != '-')
			continue;
		_cleanup_free_ char *id = xstrndup(n, 36);
		if (!run_id_valid(id))
			continue;
		int alive = launcher_token_alive(n + 37);
		if (alive < 0) {
			struct stat st;
			if (fstatat(dirfd(d), de->d_name, &st,
			            AT_SYMLINK_NOFOLLOW) < 0)
				continue;
			alive = aged_state(&st, o->cutoff);
		}
		json_t *old = json_object_get(o->markers, id);
		/* Two markers for one id: either one alive keeps it. */
		if (!old || alive > json_integer_value(old))
			json_object_set_new(o->markers, id,
			                    json_integer(alive));
	}
	closedir(d);
}

static bool has_record(const Store *s, const char *id)
{
	_cleanup_free_ char *p = xasprintf("%s/%s/record.json", s->runs, id);
	struct stat st;
	return lstat(p, &st) == 0 || errno != ENOENT;
}

/* The run directories without a record: being set up by a live
 * launcher, or left by a dead one. */
static void find_unrecorded(Owners *o)
{
	strv_free(o->setting_up);
	strv_free(o->orphans);
	o->setting_up = o->orphans = NULL;
	read_markers(o);
	DIR *d = opendir(o->s->runs);
	if (!d)
		return;
	struct dirent *de;
	while ((de = readdir(d))) {
		const char *id = de->d_name;
		struct stat st;
		if (!run_id_valid(id) || has_record(o->s, id) ||
		    fstatat(dirfd(d), id, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
		    !S_ISDIR(st.st_mode))
			continue;
		json_t *m = json_object_get(o->markers, id);
		int alive;
		if (m)
			alive = (int)json_integer_value(m);
		else if (has_record(o->s, id))
			continue; /* started meanwhile: its marker went */
		else
			alive = aged_state(&st, o->cutoff);
		if (alive)
			o->setting_up = strv_push(o->setting_up, id);
		else
			o->orphans = strv_push(o->orphans, id);
	}
	closedir(d);
}

/* Wait a little for the launchers setting up runs: their pins are not
 * in any record yet. */
static void wait_for_setups(Owners *o)
{
	for (int i = 0; i < 50 && o->setting_up; i++) {
		nanosleep(&(struct timespec){0, 100 * 1000 * 1000}, NULL);
		find_unrecorded(o);
	}
}

static void owners_add_records(Owners *o, Record **recs, size_t n)
{
	o->live = json_object();
	o->dead = json_object();
	for (size_t i = 0; i < n; i++) {
		const char *id = record_id(recs[i]);
		const char *st = record_status(recs[i]);
		if (!id)
			continue;
		json_object_set_new(st && streq(st, "running") ? o->live
		                                               : o->dead,
		                    id, json_true());
	}
	for (char **p = o->setting_up; p && *p; p++)
		json_object_set_new(o->live, *p, json_true());
	for (char **p = o->orphans; p && *p; p++)
		json_object_set_new(o->dead, *p, json_true());
	const char *id;
	json_t *v;
	json_object_foreach (o->markers, id, v)
		if (!json_object_get(o->live, id) &&
		    !json_object_get(o->dead, id))
			json_object_set_new(json_integer_value(v) ? o->live
			                                          : o->dead,
			                    id, json_true());
}

/* Whether what is named for run id (its view) belongs to a live run:
 * 1, 0, or by age for an id this store does not know. */
static int run_alive(const Owners *o, const char *id, const struct stat *st)
{
	if (json_object_get(o->live, id))
		return 1;
	if (json_object_get(o->dead, id))
		return 0;
	return aged_state(st, o->cutoff);
}

/* The owner of a name that holds a launcher token at t: 1, 0, or by
 * age where it cannot be told. */
static int token_alive(const char *t, const struct stat *st, int64_t cutoff)
{
	int alive = launcher_token_parse(t, NULL, NULL, NULL, NULL)
	                    ? launcher_token_alive(t)
	                    : -EINVAL;
	return alive >= 0 ? alive : aged_state(st, cutoff);
}

static bool listed(char *const *v, const char *s)
{
	for (; v && *v; v++)
		if (streq(*v, s))
			return true;
	return false;
}

/* The views that the views taken within the grace period are layered
 * on (tmp/views/KEY/base, and its base's...): kept with them. */
static char **layered_bases(DIR *d, const char *views, int64_t cutoff)
{
	char **keep = NULL;
	struct dirent *de;
	while ((de = readdir(d))) {
		struct stat st;
		if (strlen(de->d_name) != 64 ||
		    fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) <
		            0 ||
		    mtime_ns(&st) < cutoff)
			continue;
		_cleanup_free_ char *cur = xstrdup(de->d_name);
		for (int depth = 0; depth < 8; depth++) {
			_cleanup_free_ char *dir = path_join(views, cur);
			_cleanup_free_ char *bp = path_join(dir, "base");
			char *base = NULL;
			if (read_one_line(bp, &base) < 0)
				break;
			keep = strv_push(keep, base);
			free(cur);
			cur = base;
		}
	}
	rewinddir(d);
	return keep;
}

/* tmp/views/: the views runs share. One is removed when no run is live
 * (a live run's view is its program's file system) and none took it
 * within the grace period; it is renamed out of the way first and looked
 * at again, so that a run taking it meanwhile (which touches it first)
 * keeps it, and so are the views a kept one is layered on. Views half
 * made by launchers that died (.new-<id>-<i>) or
 * half removed by a gc that died (.del-<key>-<token>) go at once. */
static void sweep_views(const Owners *o, bool any_live, bool dry_run,
                        size_t *ret_n)
{
	const Store *s = o->s;
	_cleanup_free_ char *views = path_join(s->tmp, "views");
	DIR *d = opendir(views);
	if (!d)
		return;
	_cleanup_free_ char *token = NULL;
	if (launcher_token(&token) < 0)
		token = xasprintf("%d", (int)getpid());
	_cleanup_strv_free_ char **bases =
	        any_live ? NULL : layered_bases(d, views, o->cutoff);
	struct dirent *de;
	while ((de = readdir(d))) {
		const char *n = de->d_name;
		bool partial = startswith(n, ".new-") || startswith(n, ".del-");
		if (!partial &&
		    (strlen(n) != 64 || any_live || listed(bases, n)))
			continue;
		struct stat st;
		if (fstatat(dirfd(d), n, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		if (startswith(n, ".new-")) {
			_cleanup_free_ char *id = xstrndup(n + 5, 36);
			if (run_alive(o, id, &st))
				continue;
		} else if (startswith(n, ".del-")) {
			const char *t = strlen(n) > 70 ? n + 70 : "";
			if (token_alive(t, &st, o->cutoff))
				continue;
		} else if (mtime_ns(&st) >= o->cutoff)
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
		        xasprintf("%s/.del-%s-%s", views, n, token);
		if (rename(p, del) < 0)
			continue;
		if (stat(del, &st) == 0 && mtime_ns(&st) >= o->cutoff) {
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

/* tmp/: what launchers that died left there, at once: temp objects
 * (obj-<token>-…), the markers of their run directories (run-<id>-<token>;
 * a marker whose run has a record goes too: the record names its
 * launcher), and their views (view-<id>). */
static void sweep_tmp(const Owners *o, bool dry_run, size_t *ret_n)
{
	const Store *s = o->s;
	sweep_views(o, json_object_size(o->live) > 0, dry_run, ret_n);
	DIR *d = opendir(s->tmp);
	if (!d)
		return;
	struct dirent *de;
	while ((de = readdir(d))) {
		const char *n = de->d_name;
		struct stat st;
		if (!startswith(n, STORE_TEMP_PREFIX) &&
		    !startswith(n, "view-") && !startswith(n, STORE_RUN_MARKER))
			continue;
		if (fstatat(dirfd(d), n, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		if (startswith(n, STORE_TEMP_PREFIX)) {
			if (token_alive(n + strlen(STORE_TEMP_PREFIX), &st,
			                o->cutoff))
				continue;
		} else if (startswith(n, "view-")) {
			if (run_alive(o, n + 5, &st))
				continue;
		} else {
			const char *id = n + strlen(STORE_RUN_MARKER);
			_cleanup_free_ char *rid = xstrndup(id, 36);
			if (!has_record(s, rid) &&
			    token_alive(strlen(id) > 37 ? id + 37 : "", &st,
			                o->cutoff))
				continue;
		}
		_cleanup_free_ char *p = path_join(s->tmp, n);
		if (dry_run || remove_tree(p) == 0)
			(*ret_n)++;
	}
	closedir(d);
}

/* cache/.NAME.PID.HEX.tmp: a cache file being replaced (util.c's
 * temp_path()) by a process that is gone. The name holds a pid only: a
 * pid that is in use again keeps it, which errs on the safe side. */
static void sweep_cache(const Store *s, bool dry_run, size_t *ret_n)
{
	DIR *d = opendir(s->cache);
	if (!d)
		return;
	struct dirent *de;
	while ((de = readdir(d))) {
		const char *n = de->d_name;
		if (n[0] != '.' || !endswith(n, ".tmp"))
			continue;
		/* .NAME.PID.HEX.tmp: the pid is the third field from the end */
		_cleanup_free_ char *copy = xstrdup(n);
		copy[strlen(copy) - 4] = 0;
		char *hex = strrchr(copy, '.');
		if (!hex || hex == copy)
			continue;
		*hex = 0;
		char *pid = strrchr(copy, '.');
		uint64_t v;
		if (!pid || parse_u64(pid + 1, &v) < 0 || v == 0 ||
		    v > INT32_MAX)
			continue;
		char proc[32];
		snprintf(proc, sizeof proc, "/proc/%" PRIu64, v);
		if (access(proc, F_OK) == 0 || errno != ENOENT)
			continue;
		if (dry_run || unlinkat(dirfd(d), n, 0) == 0)
			(*ret_n)++;
	}
	closedir(d);
}

/* Run directories that launchers which died left without a record. */
static void remove_orphans(const Owners *o, bool dry_run, size_t *ret_n)
{
	for (char **id = o->orphans; id && *id; id++) {
		if (has_record(o->s, *id))
			continue;
		_cleanup_free_ char *p = path_join(o->s->runs, *id);
		if (dry_run || remove_tree(p) == 0)
			(*ret_n)++;
	}
}

/* The cgroups xrun-<id> of this store's runs whose launchers are gone
 * (a cgroup of a run this store does not know may be another store's). */
static void sweep_cgroups(const Owners *o, bool dry_run, size_t *ret_n)
{
	_cleanup_strv_free_ char **cgs = run_cgroup_list();
	for (char **p = cgs; p && *p; p++) {
		const char *id = strrchr(*p, '/') + 1 + strlen("xrun-");
		if (!json_object_get(o->dead, id) ||
		    json_object_get(o->live, id))
			continue;
		if (dry_run || run_cgroup_remove(*p) == 0)
			(*ret_n)++;
	}
}

/* A new gc token before anything is deleted (statcache.h). On a full
 * file system, where no new file can be written, the old one is
 * removed instead: a store without a token voids every note just the
 * same. */
static int renew_gc_token(const Store *s)
{
	int r = stat_cache_new_gc_token(s->cache);
	if (r != -ENOSPC && r != -EDQUOT)
		return r;
	_cleanup_free_ char *p = path_join(s->cache, "gc-token");
	if (unlink(p) < 0 && errno != ENOENT)
		return r;
	return fsync_dir(s->cache) < 0 ? r : 0;
}

typedef struct GcKeep {
	const RefSet *set;
	int64_t cutoff;
	size_t kept, young;
} GcKeep;

/* Whether a packed object stays: referenced, or younger than the grace
 * period (its pack's). */
static bool gc_keep(void *data, const StoredObject *o)
{
	GcKeep *k = data;
	if (ref_set_has(k->set, o->md)) {
		k->kept++;
		return true;
	}
	if (o->mtime_ns >= k->cutoff) {
		k->young++;
		return true;
	}
	return false;
}

/* What a gc deletes and keeps, as its steps count it. */
typedef struct GcTally {
	Store *s;
	bool dry_run;
	int64_t cutoff; /* objects younger than this stay */
	size_t removed, kept, young, failed, tmp_removed;
	uint64_t freed;
} GcTally;

/* Every object the records reference, into set, and the records'
 * runs into own. Returns CMD_GO_ON, or an exit status after saying why
 * nothing may be deleted. */
static int gc_references(Store *s, Owners *own, RefSet *set)
{
	Record **recs;
	size_t n_recs, bad = 0;
	int r = store_load_all(s, &recs, &n_recs, &bad);
	if (r < 0) {
		log_error_errno(r, "cannot list runs in '%s': %m", s->runs);
		return 2;
	}
	for (size_t i = 0; i < n_recs; i++)
		ref_set_add_record(set, s, recs[i]);
	owners_add_records(own, recs, n_recs);
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
	return CMD_GO_ON;
}

/* What launchers that died left: at once, whatever its age. Returns
 * CMD_GO_ON, or 1 while a run is being set up (its pins are in no
 * record yet). */
static int gc_leftovers(GcTally *t, Owners *own)
{
	Store *s = t->s;
	size_t orphans = 0, cgroups = 0;
	remove_orphans(own, t->dry_run, &orphans);
	sweep_cgroups(own, t->dry_run, &cgroups);
	sweep_tmp(own, t->dry_run, &t->tmp_removed);
	sweep_cache(s, t->dry_run, &t->tmp_removed);
	if (orphans || cgroups)
		log_info("%s %zu run director%s and %zu cgroup%s that "
		         "launchers which died left behind",
		         t->dry_run ? "would remove" : "removed", orphans,
		         orphans == 1 ? "y" : "ies", cgroups,
		         cgroups == 1 ? "" : "s");
	if (own->setting_up) {
		log_error("a run is being set up in '%s/%s' by a live "
		          "launcher and has no record yet; its pins are not "
		          "known, so no object was deleted: run gc again once "
		          "it has started",
		          s->runs, own->setting_up[0]);
		return 1;
	}
	return CMD_GO_ON;
}

/* Delete the loose objects that no record references and that are
 * older than the grace period. Returns CMD_GO_ON or 2. */
static int gc_loose(GcTally *t, const RefSet *set)
{
	Store *s = t->s;
	StoredObject *objs = NULL;
	size_t n_objs = 0;
	int r = store_list_objects(s, &objs, &n_objs);
	if (r < 0) {
		log_error_errno(r, "cannot list the objects in '%s': %m",
		                s->objects);
		return 2;
	}
	for (size_t i = 0; i < n_objs; i++) {
		if (objs[i].packed)
			continue; /* see gc_packed() */
		if (ref_set_has(set, objs[i].md)) {
			t->kept++;
			continue;
		}
		if (objs[i].mtime_ns >= t->cutoff) {
			t->young++;
			continue;
		}
		_cleanup_free_ char *p = store_object_path(s, objs[i].md);
		if (!t->dry_run && unlink(p) < 0) {
			if (errno != ENOENT) {
				log_warn_errno(-errno, "cannot delete '%s': %m",
				               p);
				t->failed++;
			}
			continue;
		}
		if (log_level >= LOG_VERBOSE) {
			char d[DIGEST_STR_LEN + 1];
			digest_format(objs[i].md, d);
			printf("%s %s\n",
			       t->dry_run ? "would delete" : "deleted", d);
		}
		t->removed++;
		t->freed += objs[i].size;
	}
	free(objs);
	return CMD_GO_ON;
}

/* Packed objects: the packs that hold one no run references (and older
 * than the grace period) are rewritten without it; the new pack is
 * durable before an old one goes. */
static void gc_packed(GcTally *t, const RefSet *set)
{
	Store *s = t->s;
	GcKeep keep = {.set = set, .cutoff = t->cutoff};
	size_t p_removed = 0, p_packs = 0, p_orphans = 0;
	uint64_t p_freed = 0;
	int r = store_sweep_packs(s, t->cutoff, t->dry_run, &p_orphans);
	if (r >= 0)
		r = store_repack(s, gc_keep, &keep, t->dry_run, &p_removed,
		                 &p_freed, &p_packs);
	if (r < 0) {
		log_error_errno(r,
		                "cannot repack the objects in '%s': %m; no "
		                "packed object was deleted",
		                s->packs);
		t->failed++;
	}
	t->removed += p_removed;
	t->freed += p_freed;
	t->kept += keep.kept;
	t->young += keep.young;
	if (p_packs || p_orphans)
		log_info("%s %zu pack%s into one, and %zu pack%s that a "
		         "writer which died left without an index",
		         t->dry_run ? "would rewrite" : "rewrote", p_packs,
		         p_packs == 1 ? "" : "s", p_orphans,
		         p_orphans == 1 ? "" : "s");
}

int cmd_gc(int argc, char **argv, Context *ctx)
{
	bool dry_run = false;
	double grace = GC_GRACE_S;
	_cleanup_cmd_parser_ CmdParser opt_parser;
	cmd_parser_init(&opt_parser, &gc_cmd, argc, argv);
	int c;
	while ((c = cmd_option_next(&opt_parser)) > 0) {
		switch (c) {
		case 'n':
			dry_run = true;
			break;
		case OPT_GRACE:
			if (streq(opt_parser.arg, "0"))
				grace = 0;
			else if (parse_duration(opt_parser.arg, &grace) < 0)
				return cmd_usage_error(
				        &gc_cmd,
				        "--grace takes a duration like 90s, 30m, 2h or 0, not '%s'",
				        opt_parser.arg);
			break;
		}
	}
	if (c < 0)
		return opt_parser.status;
	if (optind != argc)
		return cmd_usage_error(&gc_cmd, "gc takes no RUN");
	if (context_find_store(ctx, true) < 0)
		return 2;
	Store *s = ctx->store;
	int64_t start = now_ns();
	GcTally t = {.s = s,
	             .dry_run = dry_run,
	             .cutoff = start - (int64_t)(grace * 1e9)};
	/* First a new gc token: pins take an object noted under the old one
	 * as stored without looking (statcache.h). Then the look for runs
	 * being set up, which covers a pin that read the old token. */
	if (!dry_run) {
		int r = renew_gc_token(s);
		if (r < 0) {
			log_error_errno(
			        r,
			        "cannot write '%s/gc-token': %m; nothing "
			        "was deleted",
			        s->cache);
			return 2;
		}
	}
	_cleanup_(owners_clear) Owners own = {.s = s, .cutoff = t.cutoff};
	find_unrecorded(&own);
	if (!dry_run)
		wait_for_setups(&own);
	_cleanup_ref_set_ RefSet *set = ref_set_new();
	int st = gc_references(s, &own, set);
	if (st == CMD_GO_ON)
		st = gc_leftovers(&t, &own);
	if (st == CMD_GO_ON)
		st = gc_loose(&t, set);
	if (st != CMD_GO_ON)
		return st;
	gc_packed(&t, set);
	_cleanup_free_ char *hb = format_bytes(t.freed);
	printf("%s %zu object%s (%s)%s; kept %zu referenced object%s and %zu "
	       "younger than the grace period\n",
	       dry_run ? "would delete" : "deleted", t.removed,
	       t.removed == 1 ? "" : "s", hb,
	       t.tmp_removed ? " and unused views and leftovers in tmp/" : "",
	       t.kept, t.kept == 1 ? "" : "s", t.young);
	return finish_stdout(t.failed ? 1 : 0);
}
