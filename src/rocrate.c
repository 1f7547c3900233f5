#include "config.h"

#include "rocrate.h"

#include "util.h"

typedef struct Crate {
	json_t *entities; /* @id -> entity */
	json_t *has_part; /* @id -> true: data entities in the bundle */
	json_t *mentions; /* @id -> true */
	ManifestLoadFn load;
	void *data;
} Crate;

static json_t *ref(const char *id)
{
	return json_pack("{s:s}", "@id", id);
}

static char *object_id(const unsigned char md[SHA256_LEN])
{
	_cleanup_free_ char *hex = hex_encode(md, SHA256_LEN);
	return xasprintf("objects/sha256/%.2s/%s", hex, hex + 2);
}

static const char *base_name(const char *path)
{
	const char *s = strrchr(path, '/');
	return s && s[1] ? s + 1 : path;
}

/* A file of a pin: in the bundle unless bound by reference. */
static char *file_entity(Crate *c, const PinInfo *pin, const char *path,
                         const unsigned char md[SHA256_LEN], uint64_t size)
{
	_cleanup_free_ char *hex = hex_encode(md, SHA256_LEN);
	char *id =
	        pin->referenced ? xasprintf("#sha256-%s", hex) : object_id(md);
	if (json_object_get(c->entities, id))
		return id;
	json_t *e = json_pack("{s:s,s:s,s:s,s:s,s:I}", "@id", id, "@type",
	                      pin->referenced ? "CreativeWork" : "File", "name",
	                      base_name(path), "alternateName", path,
	                      "contentSize", (json_int_t)size);
	json_object_set_new(e, "sha256", json_string(hex));
	if (pin->referenced)
		json_object_set_new(
		        e, "description",
		        json_string("bound by reference (--input-ref): "
		                    "not in the bundle"));
	else
		json_object_set_new(c->has_part, id, json_true());
	json_object_set_new(c->entities, id, e);
	return id;
}

typedef struct TreeFiles {
	Crate *c;
	json_t *parts;
} TreeFiles;

static int tree_file(const PinInfo *pin, const char *path,
                     const unsigned char md[SHA256_LEN], uint64_t size,
                     void *data)
{
	TreeFiles *t = data;
	_cleanup_free_ char *id = file_entity(t->c, pin, path, md, size);
	json_array_append_new(t->parts, ref(id));
	return 0;
}

/* The entity of a pin: its file, or a Collection of a directory's. */
static int pin_entity(Crate *c, const PinInfo *pin, char **ret)
{
	_cleanup_manifest_ Manifest *m = NULL;
	int r = c->load(c->data, pin->manifest, &m);
	if (r < 0)
		return r;
	if (pin->single) {
		for (size_t i = 0; i < m->n; i++)
			if (m->entries[i].kind == ENTRY_FILE) {
				*ret = file_entity(c, pin, pin->path,
				                   m->entries[i].digest,
				                   m->entries[i].size);
				return 0;
			}
		return -EBADMSG;
	}
	_cleanup_free_ char *hex = hex_encode(pin->manifest, SHA256_LEN);
	char *id = xasprintf("#tree-sha256-%s", hex);
	if (!json_object_get(c->entities, id)) {
		TreeFiles t = {.c = c, .parts = json_array()};
		r = pins_files(pin, m, tree_file, &t);
		json_t *e = json_pack(
		        "{s:s,s:s,s:s,s:s,s:o}", "@id", id, "@type",
		        "Collection", "name", pin->path, "description",
		        "a directory: its files, each with its original path",
		        "hasPart", t.parts);
		json_object_set_new(e, "sha256", json_string(hex));
		json_object_set_new(c->entities, id, e);
		json_object_set_new(c->mentions, id, json_true());
	}
	*ret = id;
	return r;
}

typedef struct ActionPins {
	Crate *c;
	json_t *object, *result;
} ActionPins;

static int action_pin(const PinInfo *pin, void *data)
{
	ActionPins *a = data;
	_cleanup_free_ char *id = NULL;
	int r = pin_entity(a->c, pin, &id);
	if (r < 0)
		return r;
	json_array_append_new(pin->role == PIN_OUTPUT ? a->result : a->object,
	                      ref(id));
	return 0;
}

static char *shell_words(const json_t *argv)
{
	char *s = xstrdup("");
	size_t i;
	const json_t *v;
	json_array_foreach (argv, i, v) {
		_cleanup_free_ char *w = json_bytes_decode(v, NULL);
		bool plain = w && *w && !w[strcspn(w, " \t\n'\"\\$`*?;&|<>()")];
		char *n = xasprintf("%s%s%s%s%s", s, i ? " " : "",
		                    plain ? "" : "'", w ? w : "?",
		                    plain ? "" : "'");
		free(s);
		s = n;
	}
	return s;
}

/* The program: the script a shebang or an interpreter ran, else the
 * executable. */
static char *instrument(Crate *c, const Record *rec)
{
	const json_t *cmd = json_object_get(rec->root, "command");
	const json_t *p = json_object_get(cmd, "script");
	if (!json_get_string(p, "sha256"))
		p = json_object_get(cmd, "executable");
	const char *path = json_get_string(p, "path");
	const char *sha = json_get_string(p, "sha256");
	if (!path)
		path = "unknown";
	char *id =
	        xasprintf("#program-%s",
	                  sha && startswith(sha, "sha256:") ? sha + 7 : path);
	if (!json_object_get(c->entities, id)) {
		json_t *e = json_pack("{s:s,s:s,s:s,s:s}", "@id", id, "@type",
		                      "SoftwareApplication", "name",
		                      base_name(path), "alternateName", path);
		if (sha && startswith(sha, "sha256:"))
			json_object_set_new(e, "sha256", json_string(sha + 7));
		json_object_set_new(c->entities, id, e);
	}
	return id;
}

static int describe_run(Crate *c, const Record *rec)
{
	const char *id = record_id(rec);
	_cleanup_free_ char *aid = xasprintf("urn:uuid:%s", id);
	_cleanup_free_ char *prog = instrument(c, rec);
	ActionPins a = {.c = c, .object = json_array(), .result = json_array()};
	int r = pins_walk(rec, false, action_pin, &a);
	if (r < 0) {
		json_decref(a.object);
		json_decref(a.result);
		return r;
	}
	const char *status = record_status(rec);
	bool ok = status && streq(status, "succeeded");
	const char *name = json_get_string(rec->root, "name");
	_cleanup_free_ char *title =
	        name ? xasprintf("xrun run %.8s (%s)", id, name)
	             : xasprintf("xrun run %.8s", id);
	_cleanup_free_ char *desc =
	        shell_words(json_get_path(rec->root, "command.argv"));
	json_t *e = json_pack("{s:s,s:s,s:s,s:s,s:s,s:o,s:o,s:o,s:s}", "@id",
	                      aid, "@type", "CreateAction", "name", title,
	                      "description", desc, "identifier", id,
	                      "instrument", ref(prog), "object", a.object,
	                      "result", a.result, "actionStatus",
	                      ok ? "http://schema.org/CompletedActionStatus"
	                         : "http://schema.org/FailedActionStatus");
	const char *started =
	        json_get_string(json_object_get(rec->root, "times"), "started");
	const char *finished = json_get_string(
	        json_object_get(rec->root, "times"), "finished");
	if (started)
		json_object_set_new(e, "startTime", json_string(started));
	if (finished)
		json_object_set_new(e, "endTime", json_string(finished));
	if (!ok) {
		const char *cause = json_get_string(
		        json_object_get(rec->root, "result"), "cause");
		json_object_set_new(e, "error",
		                    json_string(cause    ? cause
		                                : status ? status
		                                         : "unknown"));
	}
	_cleanup_free_ char *rid = xasprintf("runs/%s/record.json", id);
	json_object_set_new(e, "subjectOf", ref(rid));
	json_object_set_new(c->entities, aid, e);
	json_object_set_new(c->mentions, aid, json_true());
	json_object_set_new(c->entities, rid,
	                    json_pack("{s:s,s:s,s:s,s:s,s:s}", "@id", rid,
	                              "@type", "File", "name", "record.json",
	                              "encodingFormat", "application/json",
	                              "description",
	                              "the xrun run record "
	                              "(schemas/run-record.schema.json)"));
	json_object_set_new(c->has_part, rid, json_true());
	return 0;
}

static json_t *refs_of(const json_t *set)
{
	json_t *a = json_array();
	const char *k;
	const json_t *v;
	json_object_foreach ((json_t *)set, k, v)
		json_array_append_new(a, ref(k));
	return a;
}

static int cmp_ids(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static json_t *crate_json(const Crate *cr, Record *const *recs, size_t n,
                          const char *published)
{
	Crate c = *cr;
	json_t *graph = json_array();
	json_array_append_new(graph,
	                      json_pack("{s:s,s:s,s:o,s:o}", "@id",
	                                "ro-crate-metadata.json", "@type",
	                                "CreativeWork", "conformsTo",
	                                ref("https://w3id.org/ro/crate/1.1"),
	                                "about", ref("./")));
	_cleanup_free_ char *title =
	        n == 1 ? xasprintf("xrun run %.8s", record_id(recs[0]))
	               : xasprintf("%zu xrun runs", n);
	json_t *root = json_pack(
	        "{s:s,s:s,s:s,s:s,s:s,s:o,s:o,s:o}", "@id", "./", "@type",
	        "Dataset", "name", title, "description",
	        "runs recorded by xrun: their records, and the objects "
	        "(inputs, outputs, workspace) their replay needs",
	        "datePublished", published ? published : "1970-01-01T00:00:00Z",
	        "conformsTo", ref(ROCRATE_PROFILE), "hasPart",
	        refs_of(c.has_part), "mentions", refs_of(c.mentions));
	json_array_append_new(graph, root);
	json_array_append_new(
	        graph, json_pack("{s:s,s:s,s:s,s:s}", "@id", ROCRATE_PROFILE,
	                         "@type", "CreativeWork", "name",
	                         "Process Run Crate", "version", "0.5"));
	/* The rest sorted by @id: the same runs, the same text. */
	size_t k = json_object_size(c.entities), j = 0;
	_cleanup_free_ const char **ids = xcalloc(k ? k : 1, sizeof *ids);
	const char *key;
	json_t *v;
	json_object_foreach (c.entities, key, v)
		ids[j++] = key;
	sort_v(ids, k, sizeof *ids, cmp_ids);
	for (j = 0; j < k; j++)
		json_array_append(graph, json_object_get(c.entities, ids[j]));
	return json_pack("{s:[s,s],s:o}", "@context",
	                 "https://w3id.org/ro/crate/1.1/context",
	                 "https://w3id.org/ro/terms/workflow-run/context",
	                 "@graph", graph);
}

int rocrate_describe(Record *const *recs, size_t n, ManifestLoadFn load,
                     void *data, json_t **ret)
{
	Crate c = {.entities = json_object(),
	           .has_part = json_object(),
	           .mentions = json_object(),
	           .load = load,
	           .data = data};
	const char *published = NULL;
	int r = 0;
	for (size_t i = 0; i < n && r >= 0; i++) {
		r = describe_run(&c, recs[i]);
		const char *f = json_get_string(
		        json_object_get(recs[i]->root, "times"), "finished");
		if (!f)
			f = record_created(recs[i]);
		if (f && (!published || strcmp(f, published) > 0))
			published = f;
	}
	if (r == 0)
		*ret = crate_json(&c, recs, n, published);
	json_decref(c.entities);
	json_decref(c.has_part);
	json_decref(c.mentions);
	return r < 0 ? r : 0;
}
