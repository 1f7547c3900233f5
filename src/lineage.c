#include "config.h"

#include "lineage.h"

#include <dirent.h>
#include <sys/stat.h>

#include "pin.h"
#include "record-pins.h"
#include "util.h"

#define EMPTY_SHA256                                                          \
	"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852" \
	"b855"

struct Lineage {
	json_t *runs;    /* id -> {"name", "status", "argv", "started",
	                    "finished", "replay_of", "reads": [{digest,path}],
	                    "writes": [{digest,path}]} */
	json_t *written; /* digest -> [{"run", "path"}] */
	json_t *read;    /* digest -> [{"run", "path"}] */
	Store *s;
};

typedef struct Collect {
	Lineage *l;
	json_t *reads, *writes; /* this run's */
	bool outputs_only;
	/* Only the reads of these digests (keys), no writes: a run's
	 * parents are found among what other runs wrote, and a million
	 * input files are not each made a JSON object to learn that none
	 * is. NULL: everything. */
	const json_t *only;
} Collect;

static int collect_file(const PinInfo *pin, const char *path,
                        const unsigned char md[SHA256_LEN], uint64_t size,
                        void *data)
{
	Collect *c = data;
	char d[DIGEST_STR_LEN + 1];
	digest_format(md, d);
	if (streq(d, EMPTY_SHA256))
		return 0;
	bool out = pin->role == PIN_OUTPUT;
	if (c->only && !json_object_get(c->only, d))
		return 0;
	json_array_append_new(
	        out ? c->writes : c->reads,
	        json_pack("{s:s,s:s}", "digest", d, "path", path));
	return 0;
}

static int collect_pin(const PinInfo *pin, void *data)
{
	Collect *c = data;
	if (c->outputs_only && pin->role != PIN_OUTPUT)
		return 0;
	if (c->only && (pin->role == PIN_OUTPUT || !json_object_size(c->only)))
		return 0;
	_cleanup_manifest_ Manifest *m = NULL;
	if (manifest_load(c->l->s, pin->manifest, &m) < 0)
		return 0;
	return pins_files(pin, m, collect_file, c);
}

static json_t *run_info(const Record *rec)
{
	const json_t *root = rec->root;
	json_t *o = json_pack(
	        "{s:O,s:s?,s:O,s:O,s:O,s:O}", "name",
	        json_object_get(root, "name") ?: json_null(), "status",
	        record_status(rec), "argv",
	        json_get_path(root, "command.argv") ?: json_null(), "started",
	        json_get_path(root, "times.started") ?: json_null(), "finished",
	        json_get_path(root, "times.finished") ?: json_null(),
	        "replay_of", json_object_get(root, "replay_of") ?: json_null());
	return o;
}

static void set_reads_at(Lineage *l, json_t *info)
{
	const char *of = json_get_string(info, "replay_of");
	const json_t *orig = of ? json_object_get(l->runs, of) : NULL;
	json_t *at = json_object_get(orig ? orig : info, "started");
	json_object_set(info, "reads_at", at ? at : json_null());
}

static void collect(Lineage *l, const Record *rec, bool outputs_only,
                    const json_t *only, json_t **ret_reads, json_t **ret_writes)
{
	Collect c = {.l = l,
	             .reads = json_array(),
	             .writes = json_array(),
	             .outputs_only = outputs_only,
	             .only = only};
	(void)pins_walk(rec, false, collect_pin, &c);
	/* Files the tracer saw the run read outside its pins (DESIGN.md
	 * §8), where the record has them: read all the same. */
	size_t i;
	const json_t *f;
	json_array_foreach (json_get_path(rec->root, "observed.files_read"), i,
	                    f) {
		const char *d = json_get_string(f, "sha256");
		const char *path = json_get_string(f, "path");
		unsigned char md[SHA256_LEN];
		if (outputs_only || !path || digest_parse(d, md) < 0 ||
		    streq(d, EMPTY_SHA256) ||
		    (only && !json_object_get(only, d)))
			continue;
		json_array_append_new(c.reads, json_pack("{s:s,s:s}", "digest",
		                                         d, "path", path));
	}
	*ret_reads = c.reads;
	*ret_writes = c.writes;
}

/* Add a run's files to the indexes (digest -> who wrote or read it). */
static void index_files(json_t *idx, const char *id, const json_t *files)
{
	size_t i;
	const json_t *f;
	json_array_foreach (files, i, f) {
		const char *d = json_get_string(f, "digest");
		const char *path = json_get_string(f, "path");
		if (!d || !path)
			continue;
		json_t *list = json_object_get(idx, d);
		if (!list) {
			list = json_array();
			json_object_set_new(idx, d, list);
		}
		json_array_append_new(
		        list, json_pack("{s:s,s:s}", "run", id, "path", path));
	}
}

static void index_run(Lineage *l, const char *id, json_t *info)
{
	index_files(l->written, id, json_object_get(info, "writes"));
	index_files(l->read, id, json_object_get(info, "reads"));
	json_object_set_new(l->runs, id, info);
}

static json_t *info_of(Lineage *l, const Record *rec, bool outputs_only)
{
	json_t *reads, *writes;
	collect(l, rec, outputs_only, NULL, &reads, &writes);
	json_t *info = run_info(rec);
	json_object_set_new(info, "reads", reads);
	json_object_set_new(info, "writes", writes);
	return info;
}

static Lineage *lineage_alloc(Store *s)
{
	Lineage *l = xcalloc(1, sizeof *l);
	l->runs = json_object();
	l->written = json_object();
	l->read = json_object();
	l->s = s;
	return l;
}

static void lineage_done(Lineage *l)
{
	/* A replay reads what its original read, pinned when the original
	 * started: a file written since (by the original itself, say) is
	 * not what it read. */
	const char *k;
	json_t *v;
	json_object_foreach (l->runs, k, v)
		set_reads_at(l, v);
}

/* The cache of what each ended run wrote (cache/lineage.json): run id ->
 * {"size", "mtime_ns" of its record, "info"}. An ended run does not
 * change; a record that did (its size or time) is read again. The
 * store's cache/ may be written by others: every entry is checked, and
 * one that does not look right is read again from its record. */
#define LINEAGE_CACHE "lineage.json"
#define LINEAGE_CACHE_MAX ((size_t)256 << 20)

static bool files_valid(const json_t *files)
{
	if (!json_is_array(files))
		return false;
	size_t i;
	const json_t *f;
	unsigned char md[SHA256_LEN];
	json_array_foreach (files, i, f)
		if (digest_parse(json_get_string(f, "digest"), md) < 0 ||
		    !json_get_string(f, "path"))
			return false;
	return true;
}

static json_int_t mtime_ns(const struct stat *st)
{
	return (json_int_t)st->st_mtim.tv_sec * 1000000000 +
	       st->st_mtim.tv_nsec;
}

static json_t *cached_info(const json_t *cache, const char *id,
                           const struct stat *st)
{
	const json_t *c = json_object_get(cache, id);
	const json_t *info = json_object_get(c, "info");
	if (!json_is_object(info) ||
	    json_integer_value(json_object_get(c, "size")) != st->st_size ||
	    json_integer_value(json_object_get(c, "mtime_ns")) !=
	            mtime_ns(st) ||
	    !files_valid(json_object_get(info, "writes")) ||
	    !json_is_array(json_object_get(info, "reads")))
		return NULL;
	static const char *const texts[] = {"started", "finished", "replay_of",
	                                    "name", "status"};
	for (size_t i = 0; i < ELEMENTSOF(texts); i++) {
		const json_t *v = json_object_get(info, texts[i]);
		if (!json_is_string(v) && !json_is_null(v))
			return NULL;
	}
	return json_deep_copy(info);
}

static int lineage_from_cache(Store *s, Lineage **ret)
{
	DIR *d = opendir(s->runs);
	if (!d)
		return negative_errno();
	Lineage *l = lineage_alloc(s);
	_cleanup_free_ char *text = NULL;
	size_t len = 0;
	_cleanup_free_ char *cp = path_join(s->cache, LINEAGE_CACHE);
	json_auto_t *cache = NULL;
	if (read_full_file(cp, LINEAGE_CACHE_MAX, &text, &len) == 0)
		cache = json_loadb(text, len, 0, NULL);
	const json_t *old = json_object_get(cache, "runs");
	json_auto_t *fresh = json_object();
	bool changed = false;
	struct dirent *de;
	while ((de = readdir(d))) {
		const char *id = de->d_name;
		if (!run_id_valid(id))
			continue;
		_cleanup_free_ char *rp =
		        xasprintf("%s/%s/record.json", s->runs, id);
		struct stat st;
		if (lstat(rp, &st) < 0 || !S_ISREG(st.st_mode))
			continue;
		json_t *info = cached_info(old, id, &st);
		if (!info) {
			Record *rec = NULL;
			if (record_load(rp, &rec, NULL) < 0)
				continue;
			const char *stored = record_stored_status(rec);
			bool ended = stored && !streq(stored, "running");
			info = info_of(l, rec, true);
			record_free(rec);
			if (!ended) { /* it will change: not cached */
				index_run(l, id, info);
				continue;
			}
			changed = true;
		}
		json_object_set_new(fresh, id,
		                    json_pack("{s:I,s:I,s:O}", "size",
		                              (json_int_t)st.st_size,
		                              "mtime_ns", mtime_ns(&st), "info",
		                              info));
		index_run(l, id, info);
	}
	closedir(d);
	if (changed || json_object_size(fresh) != json_object_size(old)) {
		json_auto_t *doc =
		        json_pack("{s:i,s:O}", "version", 1, "runs", fresh);
		_cleanup_free_ char *out = json_dumps(doc, JSON_COMPACT);
		/* Only a cache: another user's store may not let us write. */
		if (out)
			(void)write_file_replace(s->cache, LINEAGE_CACHE, out,
			                         strlen(out), 0644);
	}
	lineage_done(l);
	*ret = l;
	return 0;
}

int lineage_new(Store *s, bool parents_only, Lineage **ret)
{
	if (parents_only)
		return lineage_from_cache(s, ret);
	Record **recs;
	size_t n, bad;
	int r = store_load_all(s, &recs, &n, &bad);
	if (r < 0)
		return r;
	Lineage *l = lineage_alloc(s);
	for (size_t i = 0; i < n; i++) {
		const char *id = record_id(recs[i]);
		if (!id || json_object_get(l->runs, id))
			continue;
		index_run(l, id, info_of(l, recs[i], false));
	}
	records_free(recs, n);
	lineage_done(l);
	*ret = l;
	return 0;
}

Lineage *lineage_free(Lineage *l)
{
	if (!l)
		return NULL;
	json_decref(l->runs);
	json_decref(l->written);
	json_decref(l->read);
	free(l);
	return NULL;
}

/* Whether the run that wrote had finished when the one that read
 * started (RFC 3339 UTC of one format: the text orders as the time). */
static bool before(const json_t *writer, const json_t *reader)
{
	const char *f = json_get_string(writer, "finished");
	const char *s = json_get_string(reader, "reads_at");
	return f && s && strcmp(f, s) <= 0;
}

static json_t *edge_for(json_t *edges, const char *from, const char *to)
{
	size_t i;
	json_t *e;
	json_array_foreach (edges, i, e)
		if (streq(json_get_string(e, "from"), from) &&
		    streq(json_get_string(e, "to"), to))
			return e;
	e = json_pack("{s:s,s:s,s:[]}", "from", from, "to", to, "files");
	json_array_append_new(edges, e);
	return e;
}

static void add_file(json_t *edge, const char *digest, const char *output,
                     const char *input)
{
	json_t *files = json_object_get(edge, "files");
	size_t i;
	json_t *f;
	json_array_foreach (files, i, f)
		if (streq(json_get_string(f, "output"), output) &&
		    streq(json_get_string(f, "input"), input))
			return;
	json_array_append_new(files,
	                      json_pack("{s:s,s:s,s:s}", "digest", digest,
	                                "output", output, "input", input));
}

/* The edges into reader (id, its info) from the runs that wrote what it
 * read. */
static void parents_edges(Lineage *l, const char *id, const json_t *info,
                          json_t *edges)
{
	size_t i, j;
	json_t *f, *w;
	json_array_foreach (json_object_get(info, "reads"), i, f) {
		const char *d = json_get_string(f, "digest");
		json_array_foreach (json_object_get(l->written, d), j, w) {
			const char *from = json_get_string(w, "run");
			if (streq(from, id) ||
			    !before(json_object_get(l->runs, from), info))
				continue;
			add_file(edge_for(edges, from, id), d,
			         json_get_string(w, "path"),
			         json_get_string(f, "path"));
		}
	}
}

static void children_edges(Lineage *l, const char *id, const json_t *info,
                           json_t *edges)
{
	size_t i, j;
	json_t *f, *rd;
	json_array_foreach (json_object_get(info, "writes"), i, f) {
		const char *d = json_get_string(f, "digest");
		json_array_foreach (json_object_get(l->read, d), j, rd) {
			const char *to = json_get_string(rd, "run");
			if (streq(to, id) ||
			    !before(info, json_object_get(l->runs, to)))
				continue;
			add_file(edge_for(edges, id, to), d,
			         json_get_string(f, "path"),
			         json_get_string(rd, "path"));
		}
	}
}

json_t *lineage_parents(Lineage *l, const Record *rec)
{
	json_t *reads, *writes;
	/* the reads that some run wrote: no others make an edge */
	collect(l, rec, false, l->written, &reads, &writes);
	json_t *info = run_info(rec);
	json_object_set_new(info, "reads", reads);
	json_object_set_new(info, "writes", writes);
	set_reads_at(l, info);
	json_auto_t *edges = json_array();
	parents_edges(l, record_id(rec) ?: "", info, edges);
	json_decref(info);
	json_t *out = json_array();
	size_t i;
	json_t *e;
	json_array_foreach (edges, i, e) {
		const char *from = json_get_string(e, "from");
		const json_t *p = json_object_get(l->runs, from);
		json_array_append_new(
		        out,
		        json_pack("{s:s,s:O,s:O,s:O}", "run", from, "name",
		                  json_object_get(p, "name") ?: json_null(),
		                  "replay_of",
		                  json_object_get(p, "replay_of")
		                          ?: json_null(),
		                  "files", json_object_get(e, "files")));
	}
	return out;
}

static int cmp_edges(const void *a, const void *b)
{
	const json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
	int c = strcmp(json_get_string(x, "from"), json_get_string(y, "from"));
	return c ? c
	         : strcmp(json_get_string(x, "to"), json_get_string(y, "to"));
}

static json_t *sorted_edges(json_t *edges)
{
	size_t n = json_array_size(edges);
	_cleanup_free_ json_t **v = xcalloc(n + 1, sizeof *v);
	for (size_t i = 0; i < n; i++)
		v[i] = json_array_get(edges, i);
	sort_v(v, n, sizeof *v, cmp_edges);
	json_t *out = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append(out, v[i]);
	return out;
}

/* Breadth first from id, up (parents) or down (children). */
static json_t *walk(Lineage *l, const char *id, bool up, json_t *seen_runs)
{
	json_auto_t *edges = json_array();
	json_auto_t *queue = json_pack("[s]", id);
	json_auto_t *done = json_object();
	for (size_t q = 0; q < json_array_size(queue); q++) {
		const char *cur = json_string_value(json_array_get(queue, q));
		if (json_object_get(done, cur))
			continue;
		json_object_set_new(done, cur, json_true());
		size_t before_n = json_array_size(edges);
		const json_t *info = json_object_get(l->runs, cur);
		if (up)
			parents_edges(l, cur, info, edges);
		else
			children_edges(l, cur, info, edges);
		for (size_t i = before_n; i < json_array_size(edges); i++) {
			const char *next = json_get_string(
			        json_array_get(edges, i), up ? "from" : "to");
			json_array_append_new(queue, json_string(next));
			json_object_set(seen_runs, next,
			                json_object_get(l->runs, next));
		}
	}
	return sorted_edges(edges);
}

json_t *lineage_graph(Lineage *l, const char *id)
{
	const json_t *info = json_object_get(l->runs, id);
	if (!info)
		return NULL;
	json_t *runs = json_object();
	json_object_set(runs, id, (json_t *)info);
	json_t *up = walk(l, id, true, runs);
	json_t *down = walk(l, id, false, runs);
	/* Only what describes the runs, not the files they hold. */
	const char *k;
	json_t *v;
	json_t *clean = json_object();
	json_object_foreach (runs, k, v) {
		json_t *c = json_deep_copy(v);
		json_object_del(c, "reads");
		json_object_del(c, "reads_at");
		json_object_del(c, "writes");
		json_object_set_new(clean, k, c);
	}
	json_decref(runs);
	return json_pack("{s:s,s:o,s:o,s:o}", "run", id, "runs", clean,
	                 "upstream", up, "downstream", down);
}
