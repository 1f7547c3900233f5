/* Numbers in output files, for `xrun check`: NumPy's .npy (the header
 * is a small Python dict literal), .npz (a zip of .npy members; stored
 * members are read, compressed ones are named "not compared"), and CSV;
 * and metric streams (metrics.jsonl). */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "util.h"

/* ---- the running largest difference ---- */

typedef struct Diff {
	uint64_t values, differing, nan_mismatch;
	double max_abs, max_rel;
	char where[96];
	bool have;
} Diff;

/* Count a pair of values; true when it is the largest difference yet
 * (the caller says where it is). */
static bool diff_add(Diff *d, double a, double b)
{
	d->values++;
	if (a == b || (isnan(a) && isnan(b)))
		return false;
	d->differing++;
	if (isnan(a) || isnan(b) || isinf(a) || isinf(b)) {
		d->nan_mismatch++;
		return false;
	}
	double abs_d = fabs(a - b);
	double scale = fabs(a) > fabs(b) ? fabs(a) : fabs(b);
	double rel = scale > 0 ? abs_d / scale : 0;
	if (rel > d->max_rel)
		d->max_rel = rel;
	if (!d->have || abs_d > d->max_abs) {
		d->max_abs = abs_d;
		d->have = true;
		return true;
	}
	return false;
}

static json_t *diff_json(const Diff *d)
{
	json_t *j = json_pack("{s:I,s:I}", "values", (json_int_t)d->values,
	                      "differing", (json_int_t)d->differing);
	json_object_set_new(j, "max_abs",
	                    d->have ? json_real(d->max_abs) : json_null());
	json_object_set_new(j, "max_rel",
	                    d->have ? json_real(d->max_rel) : json_null());
	if (d->have)
		json_object_set_new(j, "where", json_string(d->where));
	if (d->nan_mismatch)
		json_object_set_new(j, "nan_or_inf_mismatch",
		                    json_integer((json_int_t)d->nan_mismatch));
	return j;
}

static json_t *note(const char *fmt, const char *arg)
{
	_cleanup_free_ char *t = xasprintf(fmt, arg);
	return json_pack("{s:s}", "note", t);
}

/* ---- .npy ---- */

typedef struct Npy {
	char kind; /* f, i, u, b */
	int size;  /* bytes per value */
	bool swap; /* big-endian data */
	bool fortran;
	char shape[64];
	uint64_t count;
	const unsigned char *data;
} Npy;

/* The value of 'key' in the header dict: the text after its colon. */
static const char *dict_value(const char *h, size_t n, const char *key)
{
	size_t k = strlen(key);
	for (size_t i = 0; i + k + 2 < n; i++)
		if ((h[i] == '\'' || h[i] == '"') &&
		    strneq(h + i + 1, key, k) && h[i + 1 + k] == h[i]) {
			const char *p = h + i + k + 2;
			while (p < h + n && (*p == ' ' || *p == ':'))
				p++;
			return p;
		}
	return NULL;
}

static int npy_parse(const unsigned char *p, size_t n, Npy *ret,
                     const char **ret_why)
{
	if (n < 10 || memcmp(p, "\x93NUMPY", 6) != 0) {
		*ret_why = "not a .npy file";
		return -EBADMSG;
	}
	size_t hlen, start;
	if (p[6] == 1) {
		hlen = p[8] | (size_t)p[9] << 8;
		start = 10;
	} else if ((p[6] == 2 || p[6] == 3) && n >= 12) {
		hlen = p[8] | (size_t)p[9] << 8 | (size_t)p[10] << 16 |
		       (size_t)p[11] << 24;
		start = 12;
	} else {
		*ret_why = "a .npy format version xrun cannot read";
		return -EBADMSG;
	}
	if (hlen > n - start) {
		*ret_why = "a truncated .npy header";
		return -EBADMSG;
	}
	const char *h = (const char *)p + start;
	Npy npy = {0};
	const char *d = dict_value(h, hlen, "descr");
	const char *f = dict_value(h, hlen, "fortran_order");
	const char *s = dict_value(h, hlen, "shape");
	if (!d || !s || (*d != '\'' && *d != '"') ||
	    (size_t)(h + hlen - d) < 5) {
		*ret_why = "a .npy header without descr or shape";
		return -EBADMSG;
	}
	char endian = d[1];
	npy.kind = d[2];
	npy.size = (int)strtol(d + 3, NULL, 10);
	npy.swap = endian == '>';
	npy.fortran = f && startswith(f, "True");
	if (!strchr("<>|=", endian) || !strchr("fiub", npy.kind) ||
	    !(npy.size == 1 || npy.size == 2 || npy.size == 4 ||
	      npy.size == 8) ||
	    (npy.kind == 'f' && npy.size < 4)) {
		*ret_why = "a .npy of a dtype xrun cannot compare (only "
		           "floats, integers and booleans)";
		return -ENOTSUP;
	}
	if (*s != '(') {
		*ret_why = "a .npy header with a bad shape";
		return -EBADMSG;
	}
	const char *end = memchr(s, ')', (size_t)(h + hlen - s));
	if (!end || (size_t)(end - s) >= sizeof npy.shape) {
		*ret_why = "a .npy header with a bad shape";
		return -EBADMSG;
	}
	memcpy(npy.shape, s, (size_t)(end - s) + 1);
	npy.count = 1;
	for (const char *q = s + 1; q < end;) {
		if (isdigit((unsigned char)*q)) {
			char *e;
			unsigned long long v = strtoull(q, &e, 10);
			if (v && npy.count > UINT64_MAX / v) {
				*ret_why = "a .npy too big";
				return -EBADMSG;
			}
			npy.count *= v;
			q = e;
		} else
			q++;
	}
	size_t data = start + hlen;
	if (npy.count > (n - data) / (size_t)npy.size) {
		*ret_why = "a truncated .npy file";
		return -EBADMSG;
	}
	npy.data = p + data;
	*ret = npy;
	return 0;
}

static double npy_value(const Npy *a, uint64_t i)
{
	unsigned char b[8];
	memcpy(b, a->data + i * (size_t)a->size, (size_t)a->size);
	if (a->swap)
		for (int k = 0; k < a->size / 2; k++) {
			unsigned char t = b[k];
			b[k] = b[a->size - 1 - k];
			b[a->size - 1 - k] = t;
		}
	switch (a->kind) {
	case 'f':
		if (a->size == 4) {
			float v;
			memcpy(&v, b, 4);
			return v;
		} else {
			double v;
			memcpy(&v, b, 8);
			return v;
		}
	case 'i':
		if (a->size == 1)
			return (int8_t)b[0];
		if (a->size == 2) {
			int16_t v;
			memcpy(&v, b, 2);
			return v;
		}
		if (a->size == 4) {
			int32_t v;
			memcpy(&v, b, 4);
			return v;
		} else {
			int64_t v;
			memcpy(&v, b, 8);
			return (double)v;
		}
	default: /* u, b */
		if (a->size == 1)
			return b[0];
		if (a->size == 2) {
			uint16_t v;
			memcpy(&v, b, 2);
			return v;
		}
		if (a->size == 4) {
			uint32_t v;
			memcpy(&v, b, 4);
			return v;
		} else {
			uint64_t v;
			memcpy(&v, b, 8);
			return (double)v;
		}
	}
}

/* Compare two .npy files into d; a note (static text) when they cannot
 * be compared value by value. */
static const char *npy_compare(const char *a, size_t na, const char *b,
                               size_t nb, const char *member, Diff *d)
{
	Npy x, y;
	const char *why = NULL;
	if (npy_parse((const unsigned char *)a, na, &x, &why) < 0 ||
	    npy_parse((const unsigned char *)b, nb, &y, &why) < 0)
		return why;
	if (!streq(x.shape, y.shape))
		return "the arrays' shapes differ";
	if (x.fortran != y.fortran)
		return "one array is in Fortran order, the other not";
	for (uint64_t i = 0; i < x.count; i++)
		if (diff_add(d, npy_value(&x, i), npy_value(&y, i)))
			snprintf(d->where, sizeof d->where, "%s[%" PRIu64 "]",
			         member ? member : "", i);
	return NULL;
}

/* ---- .npz: a zip archive ---- */

static uint32_t le16(const unsigned char *p)
{
	return p[0] | (uint32_t)p[1] << 8;
}
static uint32_t le32(const unsigned char *p)
{
	return p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}
static uint64_t le64(const unsigned char *p)
{
	return le32(p) | (uint64_t)le32(p + 4) << 32;
}

typedef struct ZipMember {
	char name[256];
	uint32_t method;
	const unsigned char *data;
	uint64_t size;
} ZipMember;

/* The members of a zip in memory, from its central directory (numpy
 * writes ZIP64 sizes). -EBADMSG when it is not one xrun can read. */
static int zip_members(const unsigned char *p, size_t n, ZipMember **ret,
                       size_t *ret_n)
{
	if (n < 22)
		return -EBADMSG;
	size_t eocd = n - 22;
	for (;; eocd--) {
		if (le32(p + eocd) == 0x06054b50)
			break;
		if (eocd == 0 || n - eocd > 22 + 65535)
			return -EBADMSG;
	}
	uint64_t count = le16(p + eocd + 10);
	uint64_t cd = le32(p + eocd + 16);
	if (cd == 0xffffffff && eocd >= 20 &&
	    le32(p + eocd - 20) == 0x07064b50) {
		uint64_t z = le64(p + eocd - 12);
		if (z > n - 56 || le32(p + z) != 0x06064b50)
			return -EBADMSG;
		count = le64(p + z + 32);
		cd = le64(p + z + 48);
	}
	if (count > 100000)
		return -EBADMSG;
	ZipMember *m = xcalloc(count + 1, sizeof *m);
	size_t k = 0;
	for (uint64_t i = 0; i < count; i++) {
		if (cd > n || n - cd < 46 || le32(p + cd) != 0x02014b50)
			goto bad;
		uint32_t method = le16(p + cd + 10);
		uint64_t csize = le32(p + cd + 20);
		uint64_t usize = le32(p + cd + 24);
		size_t nlen = le16(p + cd + 28), xlen = le16(p + cd + 30),
		       clen = le16(p + cd + 32);
		uint64_t off = le32(p + cd + 42);
		if (n - cd - 46 < nlen + xlen + clen)
			goto bad;
		const unsigned char *x = p + cd + 46 + nlen;
		for (size_t j = 0; j + 4 <= xlen;) {
			size_t id = le16(x + j), len = le16(x + j + 2);
			if (j + 4 + len > xlen)
				break;
			if (id == 1) {
				const unsigned char *q = x + j + 4;
				size_t left = len;
				if (usize == 0xffffffff && left >= 8)
					usize = le64(q), q += 8, left -= 8;
				if (csize == 0xffffffff && left >= 8)
					csize = le64(q), q += 8, left -= 8;
				if (off == 0xffffffff && left >= 8)
					off = le64(q);
			}
			j += 4 + len;
		}
		if (off > n || n - off < 30 || le32(p + off) != 0x04034b50)
			goto bad;
		size_t lstart =
		        off + 30 + le16(p + off + 26) + le16(p + off + 28);
		if (lstart > n || csize > n - lstart)
			goto bad;
		snprintf(m[k].name, sizeof m[k].name, "%.*s", (int)nlen,
		         (const char *)p + cd + 46);
		m[k].method = method;
		m[k].data = p + lstart;
		m[k].size = method == 0 ? usize : csize;
		if (method == 0 && usize != csize)
			goto bad;
		k++;
		cd += 46 + nlen + xlen + clen;
	}
	*ret = m;
	*ret_n = k;
	return 0;
bad:
	free(m);
	return -EBADMSG;
}

static json_t *npz_compare(const char *a, size_t na, const char *b, size_t nb)
{
	_cleanup_free_ ZipMember *ma = NULL, *mb = NULL;
	size_t n_a, n_b;
	if (zip_members((const unsigned char *)a, na, &ma, &n_a) < 0 ||
	    zip_members((const unsigned char *)b, nb, &mb, &n_b) < 0)
		return note("%s", "not compared: not a zip archive xrun can "
		                  "read");
	Diff d = {0};
	json_t *notes = json_array();
	for (size_t i = 0; i < n_a; i++) {
		const ZipMember *y = NULL;
		for (size_t k = 0; k < n_b; k++)
			if (streq(ma[i].name, mb[k].name))
				y = &mb[k];
		if (!y) {
			json_array_append_new(
			        notes,
			        json_sprintf("%s: only in one", ma[i].name));
			continue;
		}
		if (ma[i].method != 0 || y->method != 0) {
			json_array_append_new(
			        notes,
			        json_sprintf("%s: not compared (a compressed "
			                     "member: savez_compressed)",
			                     ma[i].name));
			continue;
		}
		char member[256];
		snprintf(member, sizeof member, "%s", ma[i].name);
		if (endswith(member, ".npy"))
			member[strlen(member) - 4] = 0;
		const char *why =
		        npy_compare((const char *)ma[i].data, ma[i].size,
		                    (const char *)y->data, y->size, member, &d);
		if (why)
			json_array_append_new(
			        notes, json_sprintf("%s: %s", ma[i].name, why));
	}
	for (size_t k = 0; k < n_b; k++) {
		bool found = false;
		for (size_t i = 0; i < n_a; i++)
			found = found || streq(ma[i].name, mb[k].name);
		if (!found)
			json_array_append_new(
			        notes,
			        json_sprintf("%s: only in one", mb[k].name));
	}
	json_t *j = diff_json(&d);
	if (json_array_size(notes))
		json_object_set_new(j, "notes", notes);
	else
		json_decref(notes);
	return j;
}

/* ---- CSV ---- */

static bool cell_number(const char *s, size_t n, double *ret)
{
	while (n && isspace((unsigned char)*s))
		s++, n--;
	while (n && isspace((unsigned char)s[n - 1]))
		n--;
	if (n && (*s == '"') && n >= 2 && s[n - 1] == '"')
		s++, n -= 2;
	if (n == 0 || n > 64)
		return false;
	char buf[65];
	memcpy(buf, s, n);
	buf[n] = 0;
	char *e;
	errno = 0;
	double v = strtod(buf, &e);
	if (*e || errno == ERANGE)
		return false;
	*ret = v;
	return true;
}

static json_t *csv_compare(const char *a, size_t na, const char *b, size_t nb,
                           char sep)
{
	Diff d = {0};
	uint64_t text_cells = 0, row = 0;
	const char *pa = a, *pb = b, *ea = a + na, *eb = b + nb;
	bool shape = true;
	while (pa < ea && pb < eb) {
		row++;
		const char *la = memchr(pa, '\n', (size_t)(ea - pa));
		const char *lb = memchr(pb, '\n', (size_t)(eb - pb));
		if (!la)
			la = ea;
		if (!lb)
			lb = eb;
		uint64_t col = 0;
		const char *ca = pa, *cb = pb;
		for (;;) {
			col++;
			const char *sa = memchr(ca, sep, (size_t)(la - ca));
			const char *sb = memchr(cb, sep, (size_t)(lb - cb));
			const char *xa = sa ? sa : la, *xb = sb ? sb : lb;
			double va, vb;
			size_t lena = (size_t)(xa - ca),
			       lenb = (size_t)(xb - cb);
			if (cell_number(ca, lena, &va) &&
			    cell_number(cb, lenb, &vb)) {
				if (diff_add(&d, va, vb))
					snprintf(d.where, sizeof d.where,
					         "row %" PRIu64
					         ", column %" PRIu64,
					         row, col);
			} else if (lena != lenb || memcmp(ca, cb, lena) != 0)
				text_cells++;
			if (!sa || !sb) {
				shape = shape && !sa && !sb;
				break;
			}
			ca = sa + 1;
			cb = sb + 1;
		}
		pa = la + 1;
		pb = lb + 1;
	}
	shape = shape && pa >= ea && pb >= eb;
	json_t *j = diff_json(&d);
	if (text_cells)
		json_object_set_new(j, "text_cells_differing",
		                    json_integer((json_int_t)text_cells));
	if (!shape)
		json_object_set_new(j, "notes",
		                    json_pack("[s]",
		                              "the tables have different "
		                              "numbers of rows or "
		                              "columns"));
	return j;
}

json_t *numeric_compare(const char *name, const char *a, size_t na,
                        const char *b, size_t nb)
{
	if (endswith(name, ".npy")) {
		Diff d = {0};
		const char *why = npy_compare(a, na, b, nb, NULL, &d);
		if (why)
			return note("not compared: %s", why);
		return diff_json(&d);
	}
	if (endswith(name, ".npz"))
		return npz_compare(a, na, b, nb);
	if (endswith(name, ".csv"))
		return csv_compare(a, na, b, nb, ',');
	if (endswith(name, ".tsv"))
		return csv_compare(a, na, b, nb, '\t');
	return NULL;
}

/* ---- metric streams ---- */

/* {name: [[step, value], ...]} of one metrics.jsonl text. */
static json_t *metric_series(const char *text)
{
	json_t *series = json_object();
	json_t *counts = json_object();
	for (const char *p = text; p && *p;) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);
		json_t *o = json_loadb(p, len, 0, NULL);
		p = nl ? nl + 1 : NULL;
		if (!json_is_object(o)) {
			json_decref(o);
			continue;
		}
		json_t *step = json_object_get(o, "step");
		const char *key;
		json_t *v;
		json_object_foreach (o, key, v) {
			if (streq(key, "step") || !json_is_number(v))
				continue;
			json_t *c = json_object_get(counts, key);
			json_int_t n = c ? json_integer_value(c) : 0;
			json_object_set_new(counts, key, json_integer(n + 1));
			json_t *s = json_is_integer(step) ? json_incref(step)
			                                  : json_integer(n);
			json_t *arr = json_object_get(series, key);
			if (!arr) {
				arr = json_array();
				json_object_set_new(series, key, arr);
			}
			json_array_append_new(arr, json_pack("[o,O]", s, v));
		}
		json_decref(o);
	}
	json_decref(counts);
	return series;
}

json_t *metrics_divergence(const char *text_a, const char *text_b)
{
	json_auto_t *sa = metric_series(text_a);
	json_auto_t *sb = metric_series(text_b);
	json_t *out = json_array();
	json_auto_t *names = json_object();
	const char *key;
	json_t *v;
	json_object_foreach (sa, key, v)
		json_object_set_new(names, key, json_true());
	json_object_foreach (sb, key, v)
		json_object_set_new(names, key, json_true());
	json_object_foreach (names, key, v) {
		json_t *x = json_object_get(sa, key);
		json_t *y = json_object_get(sb, key);
		size_t nx = json_array_size(x), ny = json_array_size(y);
		for (size_t i = 0; i < nx || i < ny; i++) {
			json_t *px = json_array_get(x, i);
			json_t *py = json_array_get(y, i);
			if (px && py && json_equal(px, py))
				continue;
			json_t *step = json_array_get(px ? px : py, 0);
			json_array_append_new(
			        out, json_pack("{s:s,s:O,s:O,s:O}", "name", key,
			                       "step", step, "a",
			                       px ? json_array_get(px, 1)
			                          : json_null(),
			                       "b",
			                       py ? json_array_get(py, 1)
			                          : json_null()));
			break;
		}
	}
	/* Earliest first. */
	size_t n = json_array_size(out);
	for (size_t i = 1; i < n; i++)
		for (size_t k = i; k > 0; k--) {
			json_int_t s1 = json_integer_value(json_object_get(
			        json_array_get(out, k - 1), "step"));
			json_int_t s2 = json_integer_value(json_object_get(
			        json_array_get(out, k), "step"));
			if (s1 <= s2)
				break;
			json_t *t = json_incref(json_array_get(out, k));
			json_array_set(out, k, json_array_get(out, k - 1));
			json_array_set_new(out, k - 1, t);
		}
	return out;
}
