/* The runs of report and compare: see runset.h. */
#include "config.h"

#include <limits.h>

#include "runset.h"
#include "util.h"

const char *runset_sweep_of(const Record *r)
{
	return json_get_string(json_object_get(r->root, "tags"), "sweep");
}

long runset_sweep_index(const Record *r)
{
	const char *t = json_get_string(json_object_get(r->root, "tags"),
	                                "sweep_index");
	uint64_t n;
	return t && parse_u64(t, &n) == 0 && n < LONG_MAX ? (long)n : -1;
}

typedef struct Indexed {
	Record *r;
	size_t pos;
} Indexed;

static int cmp_sweep_index(const void *x, const void *y)
{
	const Indexed *a = x, *b = y;
	long ia = runset_sweep_index(a->r), ib = runset_sweep_index(b->r);
	if (ia != ib)
		return ia < ib ? -1 : 1;
	return a->pos < b->pos ? -1 : a->pos > b->pos;
}

int runset_keep_sweep(Record **v, size_t *n, const char *prefix, char **ret_id,
                      char **ret_error)
{
	const char *found = NULL;
	for (size_t i = 0; i < *n; i++) {
		const char *id = runset_sweep_of(v[i]);
		if (!id || !startswith(id, prefix))
			continue;
		if (found && !streq(found, id)) {
			*ret_error = xasprintf("sweep '%s' is ambiguous: %s, "
			                       "%s …; give more of the id",
			                       prefix, found, id);
			return -ENOTUNIQ;
		}
		found = id;
	}
	if (!found)
		return -ENOENT;
	_cleanup_free_ char *want = xstrdup(found);
	_cleanup_free_ Indexed *s = xcalloc(*n ? *n : 1, sizeof *s);
	size_t k = 0;
	for (size_t i = 0; i < *n; i++) {
		const char *id = runset_sweep_of(v[i]);
		if (id && streq(id, want))
			s[k] = (Indexed){v[i], k}, k++;
		else
			record_free(v[i]);
	}
	sort_v(s, k, sizeof *s, cmp_sweep_index);
	for (size_t i = 0; i < k; i++)
		v[i] = s[i].r;
	*n = k;
	*ret_id = TAKE_PTR(want);
	return 0;
}

static int select_sweep(Record **v, size_t n, const char *prefix, Record ***ret,
                        size_t *ret_n, char **ret_error)
{
	_cleanup_free_ char *id = NULL;
	int r = runset_keep_sweep(v, &n, prefix, &id, ret_error);
	if (r == -ENOENT)
		*ret_error = xasprintf(
		        "no runs of a sweep '%s' in the store; the id is what "
		        "xrun sweep printed (xrun ls shows the runs)",
		        prefix);
	if (r < 0) {
		records_free(v, n);
		return r;
	}
	*ret = v;
	*ret_n = n;
	return 0;
}

int runset_select(Store *s, char *const *specs, size_t nspecs,
                  const char *sweep, Record ***ret, size_t *ret_n,
                  char **ret_error)
{
	int r;
	if (nspecs == 0) {
		if (!s) {
			*ret_error = xstrdup("no xrun store here: name the "
			                     "runs' record files, or pass "
			                     "--store DIR");
			return -ENOENT;
		}
		Record **v;
		size_t n, bad;
		r = store_load_all(s, &v, &n, &bad);
		if (r < 0) {
			*ret_error = xasprintf("cannot list runs in '%s': %s",
			                       s->runs, strerror(-r));
			return r;
		}
		if (sweep)
			return select_sweep(v, n, sweep, ret, ret_n, ret_error);
		*ret = v;
		*ret_n = n;
		return 0;
	}
	Record **v = xcalloc(nspecs, sizeof *v);
	size_t n = 0;
	for (size_t i = 0; i < nspecs; i++) {
		_cleanup_free_ char *path = NULL, *err = NULL;
		r = store_resolve(s, specs[i], &path, &err);
		if (r < 0) {
			*ret_error = TAKE_PTR(err);
			records_free(v, n);
			return r;
		}
		Record *rec = NULL;
		r = record_load(path, &rec, &err);
		if (r < 0) {
			*ret_error =
			        err ? xasprintf("cannot read record '%s': %s",
			                        path, err)
			            : xasprintf("cannot read record '%s': %s",
			                        path, strerror(-r));
			records_free(v, n);
			return r == -EPROTONOSUPPORT ? -EBADMSG : r;
		}
		bool dup = false;
		for (size_t j = 0; j < n && !dup; j++)
			dup = record_id(v[j]) && record_id(rec) &&
			      streq(record_id(v[j]), record_id(rec));
		if (dup)
			record_free(rec);
		else
			v[n++] = rec;
	}
	*ret = v;
	*ret_n = n;
	return 0;
}
