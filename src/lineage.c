#include "config.h"

#include "lineage.h"

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
	const char *id;
	json_t *reads, *writes; /* this run's */
	bool index;             /* add to l->written / l->read */
	bool outputs_only;
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
	json_array_append_new(
	        out ? c->writes : c->reads,
	        json_pack("{s:s,s:s}", "digest", d, "path", path));
	if (!c->index)
		return 0;
	json_t *idx = out ? c->l->written : c->l->read;
	json_t *list = json_object_get(idx, d);
	if (!list) {
		list = json_array();
		json_object_set_new(idx, d, list);
	}
	json_array_append_new(
	        list, json_pack("{s:s,s:s}", "run", c->id, "path", path));
	return 0;
}

static int collect_pin(const PinInfo *pin, void *data)
{
	Collect *c = data;
	if (c->outputs_only && pin->role != PIN_OUTPUT)
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

static void collect(Lineage *l, const Record *rec, bool index,
                    bool outputs_only, json_t **ret_reads, json_t **ret_writes)
{
	Collect c = {.l = l,
	             .id = record_id(rec),
	             .reads = json_array(),
	             .writes = json_array(),
	             .index = index,
	             .outputs_only = outputs_only};
	(void)pins_walk(rec, false, collect_pin, &c);
	*ret_reads = c.reads;
	*ret_writes = c.writes;
}

int lineage_new(Store *s, bool parents_only, Lineage **ret)
{
	Record **recs;
	size_t n, bad;
	int r = store_load_all(s, &recs, &n, &bad);
	if (r < 0)
		return r;
	Lineage *l = xcalloc(1, sizeof *l);
	l->runs = json_object();
	l->written = json_object();
	l->read = json_object();
	l->s = s;
	for (size_t i = 0; i < n; i++) {
		const char *id = record_id(recs[i]);
		if (!id || json_object_get(l->runs, id))
			continue;
		json_t *reads, *writes;
		collect(l, recs[i], true, parents_only, &reads, &writes);
		json_t *info = run_info(recs[i]);
		json_object_set_new(info, "reads", reads);
		json_object_set_new(info, "writes", writes);
		json_object_set_new(l->runs, id, info);
	}
	records_free(recs, n);
	/* A replay reads what its original read, pinned when the original
	 * started: a file written since (by the original itself, say) is
	 * not what it read. */
	const char *k;
	json_t *v;
	json_object_foreach (l->runs, k, v)
		set_reads_at(l, v);
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
	collect(l, rec, false, false, &reads, &writes);
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
	qsort(v, n, sizeof *v, cmp_edges);
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
