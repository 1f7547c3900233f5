#include "config.h"

#include "refs.h"

#include <fcntl.h>
#include <pthread.h>
#include <sched.h>

#include "manifest.h"
#include "pin.h"
#include "util.h"

RefSet *ref_set_new(void)
{
	RefSet *s = xcalloc(1, sizeof *s);
	s->index = json_object();
	return s;
}

RefSet *ref_set_free(RefSet *s)
{
	if (!s)
		return NULL;
	json_decref(s->index);
	for (size_t i = 0; i < s->n; i++) {
		free(s->refs[i].runs);
		free(s->refs[i].example);
		free(s->refs[i].parents);
	}
	free(s->refs);
	strv_free(s->problems);
	free(s);
	return NULL;
}

bool ref_set_has(const RefSet *set, const unsigned char md[SHA256_LEN])
{
	char d[DIGEST_STR_LEN + 1];
	digest_format(md, d);
	return json_object_get(set->index, d) != NULL;
}

static ObjectRef *add_ref(RefSet *set, const unsigned char md[SHA256_LEN],
                          bool manifest, const char *run, const char *path)
{
	char d[DIGEST_STR_LEN + 1];
	digest_format(md, d);
	json_t *pos = json_object_get(set->index, d);
	ObjectRef *r;
	if (pos) {
		r = &set->refs[json_integer_value(pos)];
		if (!strstr(r->runs, run)) {
			char *runs = xasprintf("%s, %s", r->runs, run);
			free(r->runs);
			r->runs = runs;
		}
		return r;
	}
	if (set->n == set->cap) {
		set->cap = set->cap ? set->cap * 2 : 256;
		set->refs = xrealloc(set->refs, set->cap * sizeof *set->refs);
	}
	r = &set->refs[set->n];
	*r = (ObjectRef){.manifest = manifest,
	                 .runs = xstrdup(run),
	                 .example = xstrdup(path)};
	memcpy(r->md, md, SHA256_LEN);
	json_object_set_new(set->index, d, json_integer((json_int_t)set->n));
	set->n++;
	return r;
}

static void add_pinned(RefSet *set, const Store *s, const json_t *pinned,
                       const char *run)
{
	unsigned char md[SHA256_LEN];
	const char *mds =
	        json_string_value(json_object_get(pinned, "manifest"));
	_cleanup_free_ char *root =
	        json_bytes_decode(json_object_get(pinned, "path"), NULL);
	if (!root)
		root = xstrdup("?");
	if (digest_parse(mds, md) < 0)
		return;
	ObjectRef *mr = add_ref(set, md, true, run, root);
	size_t mi = (size_t)(mr - set->refs);
	/* An input referenced in place (--input-ref): its manifest is
	 * stored, its files are not. */
	const char *storage =
	        json_string_value(json_object_get(pinned, "storage"));
	if (mr->listed || (storage && streq(storage, "referenced")))
		return; /* its files are in already, or none are stored */
	mr->listed = true;
	Manifest *m = NULL;
	int r = manifest_load(s, md, &m);
	if (r < 0) {
		mr->state = r;
		char *p = xasprintf("the manifest %s of '%s' (run %s) %s", mds,
		                    root, run,
		                    r == -ENOENT    ? "is missing"
		                    : r == -EBADMSG ? "is corrupt"
		                                    : strerror(-r));
		set->problems = strv_push(set->problems, p);
		free(p);
		return;
	}
	bool single =
	        streq(json_string_value(json_object_get(pinned, "kind")) ?: "",
	              "file");
	for (size_t i = 0; i < m->n; i++) {
		const ManifestEntry *e = &m->entries[i];
		if (e->kind != ENTRY_FILE)
			continue;
		_cleanup_free_ char *path =
		        single ? xstrdup(root) : path_join(root, e->path);
		ObjectRef *fr = add_ref(set, e->digest, false, run, path);
		if (fr->n_parents == 0 ||
		    fr->parents[fr->n_parents - 1] != mi) {
			fr->parents = xrealloc(fr->parents,
			                       (fr->n_parents + 1) *
			                               sizeof *fr->parents);
			fr->parents[fr->n_parents++] = mi;
		}
	}
	manifest_free(m);
}

/* Append each run of list ("a, b") that runs does not hold yet. */
static char *runs_merge(char *runs, const char *list)
{
	for (const char *p = list; *p;) {
		size_t n = strcspn(p, ",");
		_cleanup_free_ char *one = xstrndup(p, n);
		if (!strstr(runs, one)) {
			char *m = xasprintf("%s%s%s", runs, *runs ? ", " : "",
			                    one);
			free(runs);
			runs = m;
		}
		p += n;
		while (*p == ',' || *p == ' ')
			p++;
	}
	return runs;
}

char *ref_runs(const RefSet *set, const ObjectRef *r)
{
	char *runs = runs_merge(xstrdup(""), r->runs);
	for (size_t i = 0; i < r->n_parents; i++)
		runs = runs_merge(runs, set->refs[r->parents[i]].runs);
	return runs;
}

void ref_set_add_record(RefSet *set, const Store *s, const Record *rec)
{
	char run[9];
	snprintf(run, sizeof run, "%.8s", record_id(rec) ?: "unknown");
	const json_t *ws = json_object_get(json_object_get(rec->root, "source"),
	                                   "workspace");
	if (json_is_object(ws))
		add_pinned(set, s, ws, run);
	static const char *const lists[] = {"inputs", "outputs"};
	for (size_t k = 0; k < ELEMENTSOF(lists); k++) {
		const json_t *a = json_object_get(rec->root, lists[k]);
		size_t i;
		const json_t *v;
		json_array_foreach (a, i, v) {
			add_pinned(set, s, v, run);
			/* An output's before tree: a replay starts from it. */
			const json_t *b = json_object_get(v, "before");
			if (!json_is_object(b))
				continue;
			json_auto_t *bp = json_deep_copy(b);
			json_object_set(bp, "path", json_object_get(v, "path"));
			add_pinned(set, s, bp, run);
		}
	}
}

typedef struct VerifyPool {
	const Store *s;
	const unsigned char (*mds)[SHA256_LEN];
	size_t n;
	int *states;
	size_t next;
	uint64_t bytes;
	pthread_mutex_t lock;
} VerifyPool;

static int verify_one(const Store *s, const unsigned char md[SHA256_LEN],
                      uint64_t *ret_bytes)
{
	unsigned char got[SHA256_LEN];
	int r = store_object_hash(s, md, got, ret_bytes);
	if (r < 0)
		return r;
	return memcmp(got, md, SHA256_LEN) == 0 ? 0 : -EBADMSG;
}

static void *verify_worker(void *arg)
{
	VerifyPool *p = arg;
	for (;;) {
		pthread_mutex_lock(&p->lock);
		size_t i = p->next++;
		pthread_mutex_unlock(&p->lock);
		if (i >= p->n)
			return NULL;
		uint64_t b = 0;
		p->states[i] = verify_one(p->s, p->mds[i], &b);
		__atomic_fetch_add(&p->bytes, b, __ATOMIC_RELAXED);
	}
}

void objects_verify(const Store *s, const unsigned char (*mds)[SHA256_LEN],
                    size_t n, int *states, uint64_t *ret_bytes)
{
	VerifyPool p = {.s = s, .mds = mds, .n = n, .states = states};
	pthread_mutex_init(&p.lock, NULL);
	cpu_set_t set;
	size_t nt = sched_getaffinity(0, sizeof set, &set) == 0
	                    ? (size_t)CPU_COUNT(&set)
	                    : 1;
	if (nt > n)
		nt = n;
	if (nt < 1)
		nt = 1;
	_cleanup_free_ pthread_t *t = xcalloc(nt, sizeof *t);
	size_t started = 0;
	for (; started < nt; started++)
		if (pthread_create(&t[started], NULL, verify_worker, &p) != 0)
			break;
	if (started == 0)
		verify_worker(&p);
	for (size_t i = 0; i < started; i++)
		pthread_join(t[i], NULL);
	pthread_mutex_destroy(&p.lock);
	if (ret_bytes)
		*ret_bytes = p.bytes;
}
