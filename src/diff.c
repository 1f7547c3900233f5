/* What differs between two run records: see diff.h, doc/run-diff.md. */
#include "config.h"

#include <inttypes.h>
#include <math.h>

#include "diff.h"

#include "capture.h"
#include "format.h"
#include "hash.h"
#include "spec.h"
#include "util.h"

/* The summary counts differences by what they are ("3 params, 1 input
 * file"); the sections whose fields make one whole (status, seed,
 * command, …) are named without a number. */
typedef struct Unit {
	const char *noun, *plural;
	bool bare;
	size_t count;
} Unit;

typedef struct Builder {
	const DiffOptions *opt;
	json_t *sections;
	Unit units[24];
	size_t n_units;
} Builder;

typedef struct Section {
	Builder *b;
	json_t *obj;
	json_t *items;
	const char *noun, *plural; /* the section's default unit */
	bool bare;
} Section;

static const json_t *get(const json_t *o, const char *dotted)
{
	return json_get_path(o, dotted);
}

static const json_t *get_obj(const json_t *o, const char *dotted)
{
	const json_t *v = get(o, dotted);
	return json_is_object(v) ? v : NULL;
}

static void unit_add(Builder *b, const char *noun, const char *plural,
                     bool bare, size_t n)
{
	for (size_t i = 0; i < b->n_units; i++)
		if (streq(b->units[i].noun, noun)) {
			b->units[i].count += n;
			return;
		}
	if (b->n_units == ELEMENTSOF(b->units))
		return;
	b->units[b->n_units++] = (Unit){
	        .noun = noun, .plural = plural, .bare = bare, .count = n};
}

static Section section_begin(Builder *b, const char *name, const char *noun,
                             const char *plural, bool bare)
{
	Section s = {.b = b, .noun = noun, .plural = plural, .bare = bare};
	s.obj = json_pack("{s:b,s:[]}", "differ", 0, "items");
	s.items = json_object_get(s.obj, "items");
	json_object_set_new(b->sections, name, s.obj);
	return s;
}

/* An item comparing old and new (either may be NULL: absent). NULL when
 * both are absent. */
static json_t *item_new(const char *key, const json_t *old, const json_t *new)
{
	if (!old && !new)
		return NULL;
	const char *change = !old                   ? "added"
	                     : !new                 ? "removed"
	                     : json_equal(old, new) ? "same"
	                                            : "changed";
	json_t *it = json_pack("{s:s,s:s}", "key", key, "change", change);
	if (old)
		json_object_set(it, "old", (json_t *)old);
	if (new)
		json_object_set(it, "new", (json_t *)new);
	return it;
}

static bool item_differs(const json_t *it)
{
	return !streq(json_get_string(it, "change"), "same");
}

/* Keep the item when it differs or with --all; count it unless it is
 * volatile (never makes runs differ). Steals item. */
static void section_add_unit(Section *s, json_t *it, bool volatile_,
                             const char *noun, const char *plural, bool bare,
                             size_t count)
{
	if (!it)
		return;
	bool differs = item_differs(it) && !volatile_;
	if (volatile_)
		json_object_set_new(it, "volatile", json_true());
	if (!differs && !s->b->opt->all) {
		json_decref(it);
		return;
	}
	json_array_append_new(s->items, it);
	if (differs) {
		json_object_set_new(s->obj, "differ", json_true());
		unit_add(s->b, noun, plural, bare, count);
	}
}

static void section_add(Section *s, json_t *it, bool volatile_)
{
	section_add_unit(s, it, volatile_, s->noun, s->plural, s->bare, 1);
}

/* A field at a dotted path: a missing field reads as null, but a field
 * missing from both records is left out. */
static void field(Section *s, const char *key, const json_t *a, const json_t *b,
                  const char *dotted, bool volatile_)
{
	const json_t *va = get(a, dotted), *vb = get(b, dotted);
	if (!va && !vb)
		return;
	section_add(s,
	            item_new(key, va ? va : json_null(), vb ? vb : json_null()),
	            volatile_);
}

static void add_delta(json_t *it, const json_t *old, const json_t *new)
{
	if (!json_is_number(old) || !json_is_number(new) ||
	    json_equal(old, new))
		return;
	double o = json_number_value(old), n = json_number_value(new);
	json_int_t d;
	if (json_is_integer(old) && json_is_integer(new) &&
	    !__builtin_sub_overflow(json_integer_value(new),
	                            json_integer_value(old), &d))
		json_object_set_new(it, "delta", json_integer(d));
	else if (isfinite(n - o))
		json_object_set_new(it, "delta", json_real(n - o));
	else
		return;
	double pct = (n - o) / fabs(o) * 100;
	json_object_set_new(it, "percent",
	                    o != 0 && isfinite(pct) ? json_real(pct)
	                                            : json_null());
}

static int cmp_str(const void *x, const void *y)
{
	return strcmp(*(const char *const *)x, *(const char *const *)y);
}

/* The keys of two objects (either may be NULL), sorted, each once. The
 * strings belong to the objects. */
static const char **union_keys(const json_t *a, const json_t *b, size_t *ret_n)
{
	size_t n = 0, cap = json_object_size(a) + json_object_size(b) + 1;
	const char **v = xcalloc(cap, sizeof *v);
	const char *k;
	json_t *x;
	json_object_foreach ((json_t *)a, k, x)
		v[n++] = k;
	json_object_foreach ((json_t *)b, k, x)
		if (!json_object_get(a, k))
			v[n++] = k;
	sort_v(v, n, sizeof *v, cmp_str);
	*ret_n = n;
	return v;
}

/* An array of objects as an object keyed by one member (a string, or the
 * compact JSON of a byte string that is not UTF-8); the first wins. */
static json_t *index_by(const json_t *arr, const char *member)
{
	json_t *idx = json_object();
	size_t i;
	json_t *e;
	json_array_foreach (arr, i, e) {
		const json_t *k = json_object_get(e, member);
		if (!json_is_object(e) || !k)
			continue;
		_cleanup_free_ char *dumped =
		        json_is_string(k)
		                ? NULL
		                : json_dumps(k, JSON_COMPACT | JSON_SORT_KEYS |
		                                        JSON_ENCODE_ANY);
		const char *key = dumped ? dumped : json_string_value(k);
		if (key && !json_object_get(idx, key))
			json_object_set(idx, key, e);
	}
	return idx;
}

static bool is_redacted(const json_t *v)
{
	return json_is_object(v) && json_object_get(v, "redacted");
}

/* A plain value that the current rules would redact (a record written
 * by an older xrun). */
static bool looks_secret(const char *name, const json_t *v)
{
	return env_name_is_secret(name) ||
	       (json_is_string(v) && env_value_is_secret(json_string_value(v)));
}

enum { KEYED_PLAIN, KEYED_DELTA, KEYED_METRIC, KEYED_SECRET };

/* Compare two objects key by key. */
static void keyed(Section *s, const json_t *a, const json_t *b, int how,
                  const char *noun, const char *plural)
{
	if (!json_is_object(a))
		a = NULL;
	if (!json_is_object(b))
		b = NULL;
	size_t n;
	_cleanup_free_ const char **keys = union_keys(a, b, &n);
	for (size_t i = 0; i < n; i++) {
		const json_t *va = json_object_get(a, keys[i]);
		const json_t *vb = json_object_get(b, keys[i]);
		json_t *it;
		if (how == KEYED_SECRET &&
		    (is_redacted(va) || is_redacted(vb) ||
		     looks_secret(keys[i], va) || looks_secret(keys[i], vb))) {
			/* Compared by hash, never shown. */
			it = item_new(keys[i], va, vb);
			json_object_del(it, "old");
			json_object_del(it, "new");
			json_object_set_new(it, "redacted", json_true());
		} else
			it = item_new(keys[i], va, vb);
		if (how == KEYED_DELTA)
			add_delta(it, va, vb);
		else if (how == KEYED_METRIC)
			add_delta(it, json_object_get(va, "last"),
			          json_object_get(vb, "last"));
		section_add_unit(s, it, false, noun, plural, false, 1);
	}
}

/* ---- pinned trees ---- */

static json_t *entry_json(const ManifestEntry *e)
{
	const char *kind = e->kind == ENTRY_FILE  ? "file"
	                   : e->kind == ENTRY_DIR ? "directory"
	                                          : "link";
	char mode[8];
	snprintf(mode, sizeof mode, "%04o", (unsigned)(e->mode & 07777));
	json_t *j = json_pack("{s:s,s:s,s:I}", "kind", kind, "mode", mode,
	                      "size", (json_int_t)e->size);
	if (e->kind == ENTRY_FILE) {
		char d[DIGEST_STR_LEN + 1];
		digest_format(e->digest, d);
		json_object_set_new(j, "digest", json_string(d));
	}
	if (e->kind == ENTRY_LINK && e->target)
		json_object_set_new(j, "target", json_bstr(e->target));
	return j;
}

static bool entry_equal(const ManifestEntry *x, const ManifestEntry *y)
{
	if (x->kind != y->kind || x->mode != y->mode || x->size != y->size)
		return false;
	if (x->kind == ENTRY_FILE)
		return memcmp(x->digest, y->digest, SHA256_LEN) == 0;
	if (x->kind == ENTRY_LINK)
		return streq(x->target ? x->target : "",
		             y->target ? y->target : "");
	return true;
}

static void file_item(json_t *files, const ManifestEntry *x,
                      const ManifestEntry *y)
{
	const char *change = !x ? "added" : !y ? "removed" : "changed";
	const ManifestEntry *either = x ? x : y;
	/* Callers pass at least one entry; cppcheck cannot know that. */
	/* cppcheck-suppress nullPointerRedundantCheck */
	json_t *it = json_pack("{s:o,s:s}", "path", json_bstr(either->path),
	                       "change", change);
	if (x)
		json_object_set_new(it, "old", entry_json(x));
	if (y)
		json_object_set_new(it, "new", entry_json(y));
	json_array_append_new(files, it);
}

/* One merge pass over two sorted manifests: the files and links that
 * changed, were added or were removed (directories are implied by their
 * contents and are listed only when a path changes kind). Returns the
 * number of unchanged entries. */
static uint64_t merge_manifests(const Manifest *ma, const Manifest *mb,
                                json_t *files)
{
	size_t i = 0, j = 0;
	uint64_t same = 0;
	while (i < ma->n || j < mb->n) {
		const ManifestEntry *x = i < ma->n ? &ma->entries[i] : NULL;
		const ManifestEntry *y = j < mb->n ? &mb->entries[j] : NULL;
		if (!x && !y)
			break; /* not reached: the loop's condition */
		int c = !x ? 1 : !y ? -1 : strcmp(x->path, y->path);
		if (c < 0) {
			if (x->kind != ENTRY_DIR)
				file_item(files, x, NULL);
			i++;
		} else if (c > 0) {
			if (y->kind != ENTRY_DIR)
				file_item(files, NULL, y);
			j++;
		} else {
			if (x->kind == ENTRY_DIR && y->kind == ENTRY_DIR)
				;
			else if (entry_equal(x, y))
				same++;
			else
				file_item(files, x, y);
			i++;
			j++;
		}
	}
	return same;
}

static json_t *tree_summary(const json_t *t)
{
	if (!json_is_object(t))
		return NULL;
	json_t *j = json_object();
	static const char *const keys[] = {"kind", "digest", "files", "bytes"};
	for (size_t i = 0; i < ELEMENTSOF(keys); i++) {
		json_t *v = json_object_get(t, keys[i]);
		if (v)
			json_object_set(j, keys[i], v);
	}
	return j;
}

static Manifest *load_manifest(const Builder *b, int side, const json_t *t)
{
	const char *d = json_get_string(t, "manifest");
	Manifest *m = NULL;
	if (!d || !b->opt->load_manifest ||
	    b->opt->load_manifest(b->opt->userdata, side, d, &m) < 0)
		return NULL;
	return m;
}

/* A pinned root of each record (either may be NULL), down to its files
 * when both manifests can be read. */
static void tree(Section *s, const char *key, const json_t *ta,
                 const json_t *tb, const char *noun, const char *plural)
{
	json_auto_t *sa = tree_summary(ta), *sb = tree_summary(tb);
	json_t *it = item_new(key, sa, sb);
	if (!it)
		return;
	size_t count = 1;
	const char *change = json_get_string(it, "change");
	if (streq(change, "same")) {
		json_object_set_new(
		        it, "files_unchanged",
		        json_integer(json_integer_value(get(sa, "files"))));
	} else if (streq(change, "changed") &&
	           json_equal(get(sa, "digest"), get(sb, "digest"))) {
		/* Same bytes; only the counts in the record disagree. */
	} else if (streq(change, "changed")) {
		_cleanup_manifest_ Manifest *ma = load_manifest(s->b, 0, ta);
		_cleanup_manifest_ Manifest *mb =
		        ma ? load_manifest(s->b, 1, tb) : NULL;
		if (ma && mb) {
			json_t *files = json_array();
			uint64_t same = merge_manifests(ma, mb, files);
			count = json_array_size(files) ? json_array_size(files)
			                               : 1;
			json_object_set_new(it, "files", files);
			json_object_set_new(it, "files_unchanged",
			                    json_integer((json_int_t)same));
			json_object_set_new(it, "file_details",
			                    json_string("compared"));
		} else
			json_object_set_new(it, "file_details",
			                    json_string("unavailable"));
	} else {
		json_int_t f = json_integer_value(
		        get(streq(change, "added") ? sb : sa, "files"));
		count = f > 0 ? (size_t)f : 1;
	}
	section_add_unit(s, it, false, noun, plural, false, count);
}

/* inputs and outputs: arrays of pinned roots, matched by path. */
static void trees(Section *s, const json_t *a, const json_t *b,
                  const char *noun, const char *plural)
{
	json_auto_t *ia = index_by(json_is_array(a) ? a : NULL, "path");
	json_auto_t *ib = index_by(json_is_array(b) ? b : NULL, "path");
	size_t n;
	_cleanup_free_ const char **keys = union_keys(ia, ib, &n);
	for (size_t i = 0; i < n; i++)
		tree(s, keys[i], json_object_get(ia, keys[i]),
		     json_object_get(ib, keys[i]), noun, plural);
}

static json_t *stream_summary(const json_t *st)
{
	if (!json_is_object(st))
		return NULL;
	json_t *j = json_object();
	json_t *v;
	if ((v = json_object_get(st, "sha256")))
		json_object_set(j, "sha256", v);
	if ((v = json_object_get(st, "bytes")))
		json_object_set(j, "bytes", v);
	return j;
}

/* ---- the sections, in their order ---- */

static void diff_run(Builder *b, const json_t *a, const json_t *bb)
{
	/* Labels, times and resource usage: shown with --all, never a
	 * difference. */
	Section s = section_begin(b, "run", "run field", "run fields", false);
	static const char *const f[][2] = {
	        {"id", "id"},
	        {"name", "name"},
	        {"tags", "tags"},
	        {"replay_of", "replay_of"},
	        {"created", "times.created"},
	        {"started", "times.started"},
	        {"finished", "times.finished"},
	        {"duration", "times.duration"},
	        {"user time", "result.rusage.user_s"},
	        {"system time", "result.rusage.sys_s"},
	        {"max RSS KiB", "result.rusage.max_rss_kb"},
	        {"launcher host", "launcher.hostname"},
	        {"launcher pid", "launcher.pid"},
	        {"boot id", "launcher.boot_id"},
	};
	for (size_t i = 0; i < ELEMENTSOF(f); i++)
		field(&s, f[i][0], a, bb, f[i][1], true);
}

static void diff_status(Builder *b, const json_t *a, const json_t *bb)
{
	Section s = section_begin(b, "status", "status", "status", true);
	field(&s, "status", a, bb, "status", false);
	field(&s, "exit code", a, bb, "result.exit_code", false);
	field(&s, "signal", a, bb, "result.signal", false);
	field(&s, "forwarded signal", a, bb, "result.forwarded_signal", false);
	field(&s, "cause", a, bb, "result.cause", true);
}

static void diff_params(Builder *b, const json_t *a, const json_t *bb)
{
	Section s = section_begin(b, "params", "param", "params", false);
	keyed(&s, get(a, "params"), get(bb, "params"), KEYED_DELTA, "param",
	      "params");
}

static void diff_metrics(Builder *b, const json_t *a, const json_t *bb)
{
	Section s = section_begin(b, "metrics", "metric", "metrics", false);
	keyed(&s, get(a, "result.metrics"), get(bb, "result.metrics"),
	      KEYED_METRIC, "metric", "metrics");
	field(&s, "malformed lines", a, bb, "result.metrics_malformed_lines",
	      true);
}

static void diff_seed(Builder *b, const json_t *a, const json_t *bb)
{
	Section s = section_begin(b, "seed", "seed", "seed", true);
	field(&s, "seed", a, bb, "seed.value", false);
	field(&s, "source", a, bb, "seed.source", true);
}

static void diff_command(Builder *b, const json_t *a, const json_t *bb)
{
	Section s = section_begin(b, "command", "command", "command", true);
	static const char *const f[][2] = {
	        {"argv", "command.argv"},
	        {"cwd", "command.cwd"},
	        {"executable", "command.executable.path"},
	        {"executable sha256", "command.executable.sha256"},
	        {"script", "command.script.path"},
	        {"script sha256", "command.script.sha256"},
	        {"interpreter", "command.interpreter"},
	};
	for (size_t i = 0; i < ELEMENTSOF(f); i++)
		field(&s, f[i][0], a, bb, f[i][1], false);
	/* A record written before -e secrets were redacted has them in
	 * plain: never print them. */
	const json_t *sa = get(a, "command.env_set"),
	             *sb = get(bb, "command.env_set");
	json_auto_t *ra = json_pack("{s:{s:o}}", "command", "env_set",
	                            sa ? env_set_redacted(sa) : json_null());
	json_auto_t *rb = json_pack("{s:{s:o}}", "command", "env_set",
	                            sb ? env_set_redacted(sb) : json_null());
	field(&s, "env_set", ra, rb, "command.env_set", false);
	field(&s, "params_file", a, bb, "command.params_file", false);
}

static void diff_source(Builder *b, const json_t *a, const json_t *bb)
{
	Section s = section_begin(b, "source", "source", "source", true);
	static const char *const f[][2] = {
	        {"commit", "source.git.commit"},
	        {"branch", "source.git.branch"},
	        {"remote", "source.git.remote"},
	        {"dirty", "source.git.dirty"},
	        {"untracked files", "source.git.untracked"},
	        {"dirty diff", "source.git.diff_sha256"},
	        {"git error", "source.git.error"},
	};
	for (size_t i = 0; i < ELEMENTSOF(f); i++)
		field(&s, f[i][0], a, bb, f[i][1], false);
	tree(&s, "workspace", get_obj(a, "source.workspace"),
	     get_obj(bb, "source.workspace"), "workspace file",
	     "workspace files");
}

static bool both_traced(const json_t *a, const json_t *bb);
static json_t *observed_map(const json_t *rec, const char *list,
                            const char *key, const char *value,
                            const char *prefix);

static void diff_inputs(Builder *b, const json_t *a, const json_t *bb)
{
	Section s =
	        section_begin(b, "inputs", "input file", "input files", false);
	trees(&s, get(a, "inputs"), get(bb, "inputs"), "input file",
	      "input files");
	/* Files read outside the pins, by digest. */
	if (both_traced(a, bb)) {
		json_auto_t *ra = observed_map(a, "observed.files_read", "path",
		                               "sha256", "unpinned ");
		json_auto_t *rb = observed_map(bb, "observed.files_read",
		                               "path", "sha256", "unpinned ");
		keyed(&s, ra, rb, KEYED_PLAIN, "input file", "input files");
	}
}

static void diff_outputs(Builder *b, const json_t *a, const json_t *bb)
{
	Section s = section_begin(b, "outputs", "output file", "output files",
	                          false);
	trees(&s, get(a, "outputs"), get(bb, "outputs"), "output file",
	      "output files");
	/* The captured streams are outputs too: compared by digest. */
	static const char *const streams[] = {"stdout", "stderr"};
	for (size_t i = 0; i < ELEMENTSOF(streams); i++) {
		char path[32];
		snprintf(path, sizeof path, "result.%s", streams[i]);
		json_auto_t *sa = stream_summary(get(a, path));
		json_auto_t *sb = stream_summary(get(bb, path));
		json_t *it = item_new(streams[i], sa, sb);
		if (it && streq(json_get_string(it, "change"), "changed") &&
		    json_equal(get(sa, "sha256"), get(sb, "sha256")))
			json_object_set_new(it, "change", json_string("same"));
		section_add(&s, it, false);
	}
}

static void diff_environment(Builder *b, const json_t *a, const json_t *bb)
{
	Section s =
	        section_begin(b, "environment", "variable", "variables", false);
	keyed(&s, get(a, "environment.variables"),
	      get(bb, "environment.variables"), KEYED_SECRET, "variable",
	      "variables");
	field(&s, "undecodable", a, bb, "environment.undecodable", false);
}

static void diff_observed_software(Section *s, const json_t *a,
                                   const json_t *bb);

static void diff_software(Builder *b, const json_t *a, const json_t *bb)
{
	Section s = section_begin(b, "software", "software", "software", true);
	json_auto_t *la = index_by(get(a, "software.libraries"), "path");
	json_auto_t *lb = index_by(get(bb, "software.libraries"), "path");
	keyed(&s, la, lb, KEYED_PLAIN, "library", "libraries");

	field(&s, "python", a, bb, "software.python.executable", false);
	field(&s, "python version", a, bb, "software.python.version", false);
	json_auto_t *da = json_object(), *db = json_object();
	json_t *src[2] = {da, db};
	const json_t *rec[2] = {a, bb};
	for (int side = 0; side < 2; side++) {
		size_t i;
		json_t *d;
		json_array_foreach (
		        get(rec[side], "software.python.distributions"), i, d) {
			const char *name = json_get_string(d, "name");
			json_t *v = json_object_get(d, "version");
			_cleanup_free_ char *key =
			        name ? xasprintf("python/%s", name) : NULL;
			if (key && !json_object_get(src[side], key))
				json_object_set(src[side], key,
				                v ? v : json_null());
		}
	}
	keyed(&s, da, db, KEYED_PLAIN, "Python distribution",
	      "Python distributions");

	static const char *const f[][2] = {
	        {"blas", "software.blas.implementation"},
	        {"blas version", "software.blas.package_version"},
	        {"lapack", "software.lapack.implementation"},
	        {"lapack version", "software.lapack.package_version"},
	        {"xrun version", "xrun.version"},
	        {"xrun sha256", "xrun.sha256"},
	};
	for (size_t i = 0; i < ELEMENTSOF(f); i++)
		field(&s, f[i][0], a, bb, f[i][1], false);
	diff_observed_software(&s, a, bb);
}

/* Both runs traced (DESIGN.md §8): what one observed and the other did
 * not is then a difference, not a gap in the record. */
static bool both_traced(const json_t *a, const json_t *bb)
{
	return json_is_true(get(a, "observed.traced")) &&
	       json_is_true(get(bb, "observed.traced"));
}

/* An observed list as {prefix + member key: member value}. */
static json_t *observed_map(const json_t *rec, const char *list,
                            const char *key, const char *value,
                            const char *prefix)
{
	json_t *m = json_object();
	size_t i;
	json_t *e;
	json_array_foreach (get(rec, list), i, e) {
		const char *k = json_get_string(e, key);
		json_t *v = json_object_get(e, value);
		_cleanup_free_ char *name =
		        k ? xasprintf("%s%s", prefix, k) : NULL;
		if (name && !json_object_get(m, name))
			json_object_set(m, name, v ? v : json_null());
	}
	return m;
}

/* The software the runs really used, by package: "numpy 1.24.2 →
 * 1.26.4". */
static void diff_observed_software(Section *s, const json_t *a,
                                   const json_t *bb)
{
	if (!both_traced(a, bb))
		return;
	json_auto_t *pa = observed_map(a, "observed.python", "name", "version",
	                               "imported ");
	json_auto_t *pb = observed_map(bb, "observed.python", "name", "version",
	                               "imported ");
	keyed(s, pa, pb, KEYED_PLAIN, "Python distribution",
	      "Python distributions");
	json_auto_t *da = observed_map(a, "observed.packages", "name",
	                               "version", "package ");
	json_auto_t *db = observed_map(bb, "observed.packages", "name",
	                               "version", "package ");
	keyed(s, da, db, KEYED_PLAIN, "package", "packages");
	field(s, "observed blas", a, bb, "observed.blas.implementation", false);
	field(s, "observed blas version", a, bb,
	      "observed.blas.package_version", false);
}

static json_t *gpu_models(const json_t *rec)
{
	const json_t *g = get(rec, "host.gpus");
	if (!json_is_array(g))
		return NULL;
	json_t *v = json_array();
	size_t i;
	json_t *e;
	json_array_foreach (g, i, e) {
		json_t *m = json_object_get(e, "model");
		json_array_append(v, m ? m : json_null());
	}
	return v;
}

static void diff_host(Builder *b, const json_t *a, const json_t *bb)
{
	Section s = section_begin(b, "host", "host", "host", true);
	static const char *const f[][2] = {
	        {"kernel", "host.kernel.release"},
	        {"kernel version", "host.kernel.version"},
	        {"machine", "host.kernel.machine"},
	        {"os", "host.os.pretty_name"},
	        {"cpu", "host.cpu.model"},
	        {"cpus", "host.cpu.count"},
	        {"cpu flags", "host.cpu.flags_sha256"},
	        {"memory", "host.memory.total_bytes"},
	        {"libc", "host.libc.version"},
	        {"nvidia driver", "host.nvidia.driver"},
	        {"cuda", "host.nvidia.cuda"},
	};
	for (size_t i = 0; i < ELEMENTSOF(f); i++)
		field(&s, f[i][0], a, bb, f[i][1], false);
	json_auto_t *ga = gpu_models(a), *gb = gpu_models(bb);
	if (ga || gb)
		section_add(&s,
		            item_new("gpus", ga ? ga : json_null(),
		                     gb ? gb : json_null()),
		            false);
	field(&s, "hostname", a, bb, "host.hostname", true);
	field(&s, "container", a, bb, "host.container", true);
	field(&s, "slurm", a, bb, "host.slurm", true);
}

static void diff_sandbox(Builder *b, const json_t *a, const json_t *bb)
{
	Section s = section_begin(b, "sandbox", "sandbox", "sandbox", true);
	static const char *const f[][2] = {
	        {"enabled", "sandbox.enabled"},
	        {"network", "sandbox.network"},
	        {"namespaces", "sandbox.namespaces"},
	        {"gpu", "sandbox.gpu"},
	        {"memory limit", "sandbox.limits.memory_bytes"},
	        {"pids limit", "sandbox.limits.pids"},
	        {"timeout", "sandbox.limits.timeout_s"},
	        {"seccomp", "sandbox.seccomp.profile"},
	        {"seccomp digest", "sandbox.seccomp.digest"},
	        {"capabilities", "sandbox.capabilities"},
	        {"no_new_privs", "sandbox.no_new_privs"},
	};
	for (size_t i = 0; i < ELEMENTSOF(f); i++)
		field(&s, f[i][0], a, bb, f[i][1], false);
	/* The mount plan names the run's own directories: it differs
	 * between any two runs. */
	field(&s, "mounts", a, bb, "sandbox.mounts", true);
	field(&s, "reason", a, bb, "sandbox.reason", true);
}

static json_t *side_json(const json_t *rec)
{
	json_t *j = json_object();
	const json_t *v;
	if ((v = get(rec, "id")))
		json_object_set(j, "id", (json_t *)v);
	if ((v = get(rec, "times.created")))
		json_object_set(j, "created", (json_t *)v);
	return j;
}

static json_t *summary(const Builder *b, bool *ret_differ)
{
	json_t *counts = json_array();
	_cleanup_free_ char *text = xstrdup("");
	size_t total = 0;
	for (size_t i = 0; i < b->n_units; i++) {
		const Unit *u = &b->units[i];
		const char *noun = u->count == 1 ? u->noun : u->plural;
		json_array_append_new(counts,
		                      json_pack("{s:s,s:I}", "what",
		                                u->bare ? u->noun : noun,
		                                "count", (json_int_t)u->count));
		char *t = u->bare ? xasprintf("%s%s%s", text, i ? ", " : "",
		                              u->noun)
		                  : xasprintf("%s%s%zu %s", text, i ? ", " : "",
		                              u->count, noun);
		free(text);
		text = t;
		total += u->count;
	}
	_cleanup_free_ char *t =
	        total == 0 ? xstrdup("no differences")
	                   : xasprintf("%s %s", text,
	                               total == 1 ? "differs" : "differ");
	*ret_differ = total > 0;
	return json_pack("{s:o,s:s}", "counts", counts, "text", t);
}

json_t *diff_records(const json_t *a, const json_t *b, const DiffOptions *opt)
{
	static const DiffOptions none = {0};
	Builder bl = {.opt = opt ? opt : &none, .sections = json_object()};
	if (!json_is_object(a))
		a = NULL;
	if (!json_is_object(b))
		b = NULL;
	diff_run(&bl, a, b);
	diff_status(&bl, a, b);
	diff_params(&bl, a, b);
	diff_metrics(&bl, a, b);
	diff_seed(&bl, a, b);
	diff_command(&bl, a, b);
	diff_source(&bl, a, b);
	diff_inputs(&bl, a, b);
	diff_outputs(&bl, a, b);
	diff_environment(&bl, a, b);
	diff_software(&bl, a, b);
	diff_host(&bl, a, b);
	diff_sandbox(&bl, a, b);
	bool differ;
	json_t *sum = summary(&bl, &differ);
	return json_pack("{s:s,s:o,s:o,s:b,s:o,s:o}", "schema", DIFF_SCHEMA,
	                 "a", side_json(a), "b", side_json(b), "differ", differ,
	                 "sections", bl.sections, "summary", sum);
}

bool diff_differs(const json_t *diff)
{
	return json_is_true(json_object_get(diff, "differ"));
}

/* ---- text ---- */

#define KEY_WIDTH_MAX 32
#define VALUE_WIDTH_MAX 32

static void put_hex(FILE *f, unsigned char c)
{
	fprintf(f, "\\x%02x", c);
}

/* s for a terminal: valid UTF-8 passes, control characters (C0, DEL,
 * C1) and bytes that are not UTF-8 become \xHH. */
static void put_escaped(FILE *f, const unsigned char *s, size_t n)
{
	size_t i = 0;
	while (i < n) {
		unsigned char c = s[i];
		if (c < 0x80) {
			if (c < 0x20 || c == 0x7f)
				put_hex(f, c);
			else
				fputc(c, f);
			i++;
			continue;
		}
		size_t len = c >= 0xc2 && c <= 0xdf   ? 2
		             : c >= 0xe0 && c <= 0xef ? 3
		             : c >= 0xf0 && c <= 0xf4 ? 4
		                                      : 0;
		bool valid = len && i + len <= n;
		for (size_t k = 1; valid && k < len; k++)
			valid = (s[i + k] & 0xc0) == 0x80;
		if (valid && len > 2) {
			unsigned char d = s[i + 1];
			valid = !(c == 0xe0 && d < 0xa0) &&
			        !(c == 0xed && d > 0x9f) &&
			        !(c == 0xf0 && d < 0x90) &&
			        !(c == 0xf4 && d > 0x8f);
		}
		/* C1 controls, U+0080..U+009F. */
		if (valid && len == 2 && c == 0xc2 && s[i + 1] < 0xa0)
			valid = false;
		if (!valid) {
			put_hex(f, c);
			i++;
			continue;
		}
		fwrite(s + i, 1, len, f);
		i += len;
	}
}

static char *escape_bytes(const char *s, size_t n)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	if (!f)
		abort();
	put_escaped(f, (const unsigned char *)s, n);
	fclose(f);
	return buf;
}

static size_t text_width(const char *s)
{
	size_t w = 0;
	for (; *s; s++)
		w += ((unsigned char)*s & 0xc0) != 0x80;
	return w;
}

static bool is_digest(const char *s)
{
	return startswith(s, "sha256:") && strlen(s) == DIGEST_STR_LEN;
}

static char *short_str(const char *s)
{
	/* "sha256:" and 12 hex digits are plenty for people. */
	if (is_digest(s))
		return xstrndup(s, 19);
	return escape_bytes(s, strlen(s));
}

static char *value_text(const json_t *v);

static char *bytes_text(const json_t *v)
{
	json_int_t n = json_integer_value(v);
	return format_bytes(n > 0 ? (uint64_t)n : 0);
}

static char *object_text(const json_t *v)
{
	const json_t *x;
	if (json_object_get(v, "base64") && json_object_size(v) == 1) {
		size_t n;
		_cleanup_free_ char *raw = json_bytes_decode(v, &n);
		return raw ? escape_bytes(raw, n) : xstrdup("?");
	}
	if (json_object_get(v, "redacted"))
		return xstrdup("(redacted)");
	if ((x = json_object_get(v, "last")))
		return value_text(x);
	if (json_object_get(v, "files") && json_object_get(v, "bytes")) {
		/* A pinned tree. */
		json_int_t files =
		        json_integer_value(json_object_get(v, "files"));
		_cleanup_free_ char *b =
		        bytes_text(json_object_get(v, "bytes"));
		_cleanup_free_ char *d =
		        value_text(json_object_get(v, "digest"));
		return xasprintf("%" JSON_INTEGER_FORMAT " file%s, %s, %s",
		                 files, files == 1 ? "" : "s", b, d);
	}
	if (json_object_get(v, "soname")) {
		/* A shared library. */
		_cleanup_free_ char *ver =
		        value_text(json_object_get(v, "package_version"));
		_cleanup_free_ char *d =
		        value_text(json_object_get(v, "sha256"));
		return xasprintf("%s %s", ver, d);
	}
	if (json_object_get(v, "kind") && json_object_get(v, "mode")) {
		/* A manifest entry. */
		const char *kind = json_get_string(v, "kind");
		const char *mode = json_get_string(v, "mode");
		if (kind && streq(kind, "link")) {
			_cleanup_free_ char *t =
			        value_text(json_object_get(v, "target"));
			return xasprintf("link to %s", t);
		}
		if (kind && streq(kind, "directory"))
			return xasprintf("directory %s", mode ? mode : "?");
		_cleanup_free_ char *b = bytes_text(json_object_get(v, "size"));
		_cleanup_free_ char *d =
		        value_text(json_object_get(v, "digest"));
		return xasprintf("%s %s %s", mode ? mode : "?", b, d);
	}
	if (json_object_get(v, "sha256") && json_object_get(v, "bytes")) {
		/* A captured stream. */
		_cleanup_free_ char *b =
		        bytes_text(json_object_get(v, "bytes"));
		_cleanup_free_ char *d =
		        value_text(json_object_get(v, "sha256"));
		return xasprintf("%s %s", b, d);
	}
	_cleanup_free_ char *s = json_dumps_shortest(
	        v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
	return s ? escape_bytes(s, strlen(s)) : xstrdup("?");
}

/* One value, short, on one line. */
static char *value_text(const json_t *v)
{
	if (!v || json_is_null(v))
		return xstrdup("-");
	if (json_is_string(v))
		return short_str(json_string_value(v));
	if (json_is_real(v))
		return format_double(json_real_value(v));
	if (json_is_integer(v))
		return xasprintf("%" JSON_INTEGER_FORMAT,
		                 json_integer_value(v));
	if (json_is_object(v))
		return object_text(v);
	if (json_is_array(v)) {
		/* A list of byte strings (argv, namespaces, GPU models). */
		_cleanup_free_ char *s = xstrdup("");
		size_t i;
		json_t *e;
		json_array_foreach (v, i, e) {
			_cleanup_free_ char *t = value_text(e);
			char *n = xasprintf("%s%s%s", s, i ? " " : "", t);
			free(s);
			s = n;
		}
		return xasprintf("[%s]", s);
	}
	return xstrdup(json_is_true(v) ? "true" : "false");
}

static char *delta_text(const json_t *it)
{
	const json_t *d = json_object_get(it, "delta");
	if (!d)
		return NULL;
	const json_t *p = json_object_get(it, "percent");
	_cleanup_free_ char *ds =
	        json_is_integer(d) ? xasprintf("%+" JSON_INTEGER_FORMAT,
	                                       json_integer_value(d))
	                           : xasprintf("%+.6g", json_real_value(d));
	if (json_is_number(p))
		return xasprintf("%s (%+.1f%%)", ds, json_number_value(p));
	return TAKE_PTR(ds);
}

static char *pair_text(const char *label, const json_t *o, const json_t *n)
{
	_cleanup_free_ char *a = value_text(o), *b = value_text(n);
	if (json_equal(o, n) || (!o && !n))
		return xasprintf("%s %s", label, a);
	return xasprintf("%s %s → %s", label, a, b);
}

/* What follows old → new: the delta, a metric's range, what is known
 * of a tree's files. */
static char *extra_text(const json_t *it)
{
	_cleanup_free_ char *delta = delta_text(it);
	const json_t *o = json_object_get(it, "old"),
	             *n = json_object_get(it, "new");
	const char *details = json_get_string(it, "file_details");
	if (json_object_get(o, "last") && json_object_get(n, "last")) {
		_cleanup_free_ char *mn =
		        pair_text("min", json_object_get(o, "min"),
		                  json_object_get(n, "min"));
		_cleanup_free_ char *mx =
		        pair_text("max", json_object_get(o, "max"),
		                  json_object_get(n, "max"));
		_cleanup_free_ char *ct =
		        pair_text("count", json_object_get(o, "count"),
		                  json_object_get(n, "count"));
		return xasprintf("%s%s%s, %s, %s", delta ? delta : "",
		                 delta ? "  " : "", mn, mx, ct);
	}
	if (details && streq(details, "unavailable"))
		return xstrdup("(file details unavailable: manifests not in "
		               "the store)");
	json_int_t unchanged =
	        json_integer_value(json_object_get(it, "files_unchanged"));
	if (json_is_array(json_object_get(it, "files")) && unchanged > 0)
		return xasprintf("(%" JSON_INTEGER_FORMAT " unchanged)",
		                 unchanged);
	return TAKE_PTR(delta);
}

typedef struct Line {
	char marker;
	char *key, *old, *new, *extra;
} Line;

static Line line_of(const json_t *it, const char *keyname)
{
	const char *change = json_get_string(it, "change");
	const json_t *keyv = json_object_get(it, keyname);
	Line l = {.marker = ' '};
	l.key = json_is_string(keyv)
	                ? escape_bytes(json_string_value(keyv),
	                               strlen(json_string_value(keyv)))
	                : value_text(keyv);
	bool vol = json_is_true(json_object_get(it, "volatile"));
	bool red = json_is_true(json_object_get(it, "redacted"));
	if (!change)
		change = "same";
	if (streq(change, "added")) {
		l.marker = '+';
		l.new = red ? xstrdup("(redacted)")
		            : value_text(json_object_get(it, "new"));
	} else if (streq(change, "removed")) {
		l.marker = '-';
		l.old = red ? xstrdup("(redacted)")
		            : value_text(json_object_get(it, "old"));
	} else if (streq(change, "changed")) {
		l.marker = vol ? ' ' : '~';
		if (red)
			l.new = xstrdup("changed (redacted)");
		else {
			l.old = value_text(json_object_get(it, "old"));
			l.new = value_text(json_object_get(it, "new"));
		}
	} else if (red)
		l.old = xstrdup("(redacted)");
	else
		l.old = value_text(json_object_get(it, "old"));
	l.extra = extra_text(it);
	return l;
}

static void line_free(Line *l)
{
	free(l->key);
	free(l->old);
	free(l->new);
	free(l->extra);
}

static const char *marker_color(char m, bool color)
{
	if (!color || m == ' ')
		return "";
	return m == '+' ? "\033[32m" : m == '-' ? "\033[31m" : "\033[33m";
}

static void pad(FILE *f, size_t have, size_t want)
{
	for (; have < want; have++)
		fputc(' ', f);
}

static void put_files(FILE *f, const json_t *files, bool color);

/* The lines in aligned columns; with items, each item's files follow
 * its line. */
static void put_lines(FILE *f, Line *lines, size_t n, int indent, bool color,
                      const json_t *items)
{
	size_t kw = 0, ow = 0;
	for (size_t i = 0; i < n; i++) {
		size_t w = text_width(lines[i].key);
		if (w > kw)
			kw = w;
		if (lines[i].old && lines[i].new) {
			w = text_width(lines[i].old);
			if (w > ow)
				ow = w;
		}
	}
	kw = kw > KEY_WIDTH_MAX ? KEY_WIDTH_MAX : kw;
	ow = ow > VALUE_WIDTH_MAX ? VALUE_WIDTH_MAX : ow;
	for (size_t i = 0; i < n; i++) {
		Line *l = &lines[i];
		fprintf(f, "%*s%s%c%s %s", indent, "",
		        marker_color(l->marker, color), l->marker,
		        COLOR_RESET(color && l->marker != ' '), l->key);
		pad(f, text_width(l->key), kw);
		fputs("  ", f);
		if (l->old && l->new) {
			fputs(l->old, f);
			pad(f, text_width(l->old), ow);
			fprintf(f, " → %s", l->new);
		} else
			fputs(l->old ? l->old : l->new ? l->new : "", f);
		if (l->extra && *l->extra)
			fprintf(f, "  %s", l->extra);
		fputc('\n', f);
		if (items)
			put_files(f,
			          json_object_get(json_array_get(items, i),
			                          "files"),
			          color);
	}
}

static void put_files(FILE *f, const json_t *files, bool color)
{
	size_t n = json_array_size(files);
	if (!n)
		return;
	Line *lines = xcalloc(n, sizeof *lines);
	for (size_t i = 0; i < n; i++)
		lines[i] = line_of(json_array_get(files, i), "path");
	put_lines(f, lines, n, 6, color, NULL);
	for (size_t i = 0; i < n; i++)
		line_free(&lines[i]);
	free(lines);
}

char *diff_format_text(const json_t *diff, bool color)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	if (!f)
		abort();
	const char *name;
	json_t *sec;
	json_object_foreach ((json_t *)json_object_get(diff, "sections"), name,
	                     sec) {
		const json_t *items = json_object_get(sec, "items");
		size_t n = json_array_size(items);
		if (!n)
			continue;
		fprintf(f, "%s%s%s\n", COLOR_BOLD(color), name,
		        COLOR_RESET(color));
		Line *lines = xcalloc(n, sizeof *lines);
		for (size_t i = 0; i < n; i++)
			lines[i] = line_of(json_array_get(items, i), "key");
		put_lines(f, lines, n, 2, color, items);
		for (size_t i = 0; i < n; i++)
			line_free(&lines[i]);
		free(lines);
	}
	const char *sum =
	        json_get_string(json_object_get(diff, "summary"), "text");
	fprintf(f, "%s%s%s\n", COLOR_BOLD(color), sum ? sum : "?",
	        COLOR_RESET(color));
	fclose(f);
	return buf;
}
