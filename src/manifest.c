#include "config.h"

#include "manifest.h"

#include <inttypes.h>

#include "util.h"

Manifest *manifest_new(void)
{
	return xcalloc(1, sizeof(Manifest));
}

Manifest *manifest_free(Manifest *m)
{
	if (!m)
		return NULL;
	for (size_t i = 0; i < m->n_chunks; i++)
		free(m->chunks[i]);
	free(m->chunks);
	free(m->entries);
	free(m);
	return NULL;
}

/* A copy of s in m's chunks: each chunk twice the last, up to 1 MiB. */
static char *manifest_strdup(Manifest *m, const char *s)
{
	size_t len = strlen(s) + 1;
	if (len > m->chunk_left) {
		if (m->chunk_size < ((size_t)1 << 20))
			m->chunk_size =
			        m->chunk_size ? m->chunk_size * 2 : 4096;
		size_t size = len > m->chunk_size ? len : m->chunk_size;
		m->chunks = xrealloc(m->chunks,
		                     (m->n_chunks + 1) * sizeof *m->chunks);
		m->chunk_at = m->chunks[m->n_chunks++] = xmalloc(size);
		m->chunk_left = size;
	}
	char *p = m->chunk_at;
	memcpy(p, s, len);
	m->chunk_at += len;
	m->chunk_left -= len;
	return p;
}

ManifestEntry *manifest_add(Manifest *m, EntryKind kind, const char *path,
                            mode_t mode, uint64_t size, const char *target)
{
	if (m->n == m->cap) {
		m->cap = m->cap ? m->cap * 2 : 64;
		m->entries = xrealloc(m->entries, m->cap * sizeof *m->entries);
	}
	ManifestEntry *e = &m->entries[m->n++];
	*e = (ManifestEntry){
	        .path = manifest_strdup(m, path),
	        .target = target ? manifest_strdup(m, target) : NULL,
	        .kind = kind,
	        .mode = mode & 07777,
	        .size = size,
	};
	return e;
}

static int cmp_entry(const void *a, const void *b)
{
	return strcmp(((const ManifestEntry *)a)->path,
	              ((const ManifestEntry *)b)->path);
}

const ManifestEntry *manifest_find(const Manifest *m, const char *path)
{
	ManifestEntry key = {.path = (char *)path};
	if (m->n == 0)
		return NULL;
	return bsearch(&key, m->entries, m->n, sizeof *m->entries, cmp_entry);
}

/* Sorted, unique, and every parent a directory listed before it. */
static int check_sorted(const Manifest *m, size_t *ret_bad)
{
	/* The last parent found: siblings, most of a tree, need no search. */
	const char *known = NULL;
	size_t known_len = 0;
	for (size_t i = 0; i < m->n; i++) {
		const ManifestEntry *e = &m->entries[i];
		if (i > 0) {
			int c = strcmp(m->entries[i - 1].path, e->path);
			if (c >= 0) {
				*ret_bad = i;
				return c == 0 ? -EEXIST : -EINVAL;
			}
		}
		const char *slash = strrchr(e->path, '/');
		if (!slash)
			continue;
		size_t len = (size_t)(slash - e->path);
		if (known && len == known_len &&
		    memcmp(known, e->path, len) == 0)
			continue;
		_cleanup_free_ char *parent = xstrndup(e->path, len);
		const ManifestEntry *p = manifest_find(m, parent);
		if (!p || p->kind != ENTRY_DIR) {
			*ret_bad = i;
			return -EINVAL;
		}
		known = e->path;
		known_len = len;
	}
	return 0;
}

static bool is_sorted(const Manifest *m)
{
	for (size_t i = 1; i < m->n; i++)
		if (strcmp(m->entries[i - 1].path, m->entries[i].path) >= 0)
			return false;
	return true;
}

int manifest_sort(Manifest *m)
{
	size_t bad;
	if (!is_sorted(m))
		sort_v(m->entries, m->n, sizeof *m->entries, cmp_entry);
	return check_sorted(m, &bad);
}

bool manifest_path_valid(const char *path)
{
	if (!path || !*path || path[0] == '/')
		return false;
	for (const char *p = path;;) {
		size_t n = strcspn(p, "/");
		if (n == 0 || (n == 1 && p[0] == '.') ||
		    (n == 2 && p[0] == '.' && p[1] == '.'))
			return false;
		p += n;
		if (!*p)
			return true;
		p++;
	}
}

/* A growing text buffer. */
typedef struct Buf {
	char *p;
	size_t len, cap;
} Buf;

static void buf_reserve(Buf *b, size_t more)
{
	if (b->len + more + 1 <= b->cap)
		return;
	while (b->len + more + 1 > b->cap)
		b->cap = b->cap ? b->cap * 2 : 4096;
	b->p = xrealloc(b->p, b->cap);
}

static void buf_add(Buf *b, const char *s, size_t n)
{
	buf_reserve(b, n);
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = 0;
}

static void buf_escaped(Buf *b, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	buf_reserve(b, strlen(s) * 4);
	for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
		char *w = b->p + b->len;
		if (*c == '\\') {
			w[0] = '\\', w[1] = '\\';
			b->len += 2;
		} else if (*c == '\t') {
			w[0] = '\\', w[1] = 't';
			b->len += 2;
		} else if (*c == '\n') {
			w[0] = '\\', w[1] = 'n';
			b->len += 2;
		} else if (*c < 0x20 || *c == 0x7f) {
			w[0] = '\\', w[1] = 'x', w[2] = hex[*c >> 4],
			w[3] = hex[*c & 15];
			b->len += 4;
		} else {
			w[0] = (char)*c;
			b->len += 1;
		}
	}
	b->p[b->len] = 0;
}

/* Decimal digits of v at the end of buf[21]; returns where they start. */
static char *format_u64(uint64_t v, char *end)
{
	char *p = end;
	do
		*--p = (char)('0' + v % 10);
	while (v /= 10);
	return p;
}

static void format_entry(Buf *bp, const ManifestEntry *e);

int manifest_format(const Manifest *m, char **ret, size_t *ret_len)
{
	Buf b = {0};
	buf_add(&b, MANIFEST_HEADER, strlen(MANIFEST_HEADER));
	for (size_t i = 0; i < m->n; i++)
		format_entry(&b, &m->entries[i]);
	*ret = b.p;
	*ret_len = b.len;
	return 0;
}

int manifest_format_each(const Manifest *m,
                         int (*fn)(void *data, const char *p, size_t n),
                         void *data)
{
	Buf b = {0};
	buf_add(&b, MANIFEST_HEADER, strlen(MANIFEST_HEADER));
	int r = 0;
	for (size_t i = 0; i < m->n && r == 0; i++) {
		format_entry(&b, &m->entries[i]);
		if (b.len >= 60000) {
			r = fn(data, b.p, b.len);
			b.len = 0;
		}
	}
	if (r == 0 && b.len)
		r = fn(data, b.p, b.len);
	free(b.p);
	return r;
}

static void format_entry(Buf *bp, const ManifestEntry *e)
{
	/* kind TAB mode (4 octal digits) TAB size TAB digest-or-"-"
	 * TAB path [TAB target] */
	char head[8 + 21 + DIGEST_STR_LEN + 2];
	char *w = head;
	unsigned mode = (unsigned)(e->mode & 07777);
	*w++ = (char)e->kind;
	*w++ = '\t';
	for (int shift = 9; shift >= 0; shift -= 3)
		*w++ = (char)('0' + ((mode >> shift) & 7));
	*w++ = '\t';
	char num[21];
	char *d = format_u64(e->size, num + sizeof num);
	memcpy(w, d, (size_t)(num + sizeof num - d));
	w += num + sizeof num - d;
	*w++ = '\t';
	if (e->kind == ENTRY_FILE) {
		char digest[DIGEST_STR_LEN + 1];
		digest_format(e->digest, digest);
		memcpy(w, digest, DIGEST_STR_LEN);
		w += DIGEST_STR_LEN;
	} else
		*w++ = '-';
	*w++ = '\t';
	buf_add(bp, head, (size_t)(w - head));
	buf_escaped(bp, e->path);
	if (e->kind == ENTRY_LINK) {
		buf_add(bp, "\t", 1);
		buf_escaped(bp, e->target ? e->target : "");
	}
	buf_add(bp, "\n", 1);
}

static int unhex(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Decode one escaped field [s, end) into out (room for end - s + 1
 * bytes): false on a raw control byte, an unknown escape or an escaped
 * NUL. */
static bool unescape(const char *s, const char *end, char *out)
{
	char *w = out;
	for (const char *p = s; p < end; p++) {
		unsigned char c = (unsigned char)*p;
		if (c < 0x20 || c == 0x7f)
			return false;
		if (c != '\\') {
			*w++ = (char)c;
			continue;
		}
		if (++p >= end)
			return false;
		if (*p == '\\')
			*w++ = '\\';
		else if (*p == 't')
			*w++ = '\t';
		else if (*p == 'n')
			*w++ = '\n';
		else if (*p == 'x' && end - p > 2 && unhex(p[1]) >= 0 &&
		         unhex(p[2]) >= 0) {
			int v = unhex(p[1]) * 16 + unhex(p[2]);
			/* Only what the writer escapes may be escaped: one
			 * spelling per byte keeps the text canonical. */
			if (v == 0 || (v >= 0x20 && v != 0x7f) || v == '\t' ||
			    v == '\n')
				return false;
			*w++ = (char)v;
			p += 2;
		} else
			return false;
	}
	*w = 0;
	return true;
}

/* A size field: decimal, no sign, no leading zero, no overflow. */
static bool parse_size_field(const char *s, const char *end, uint64_t *ret)
{
	size_t sl = (size_t)(end - s);
	if (sl == 0 || sl > 20 || (sl > 1 && s[0] == '0'))
		return false;
	uint64_t v = 0;
	for (const char *p = s; p < end; p++) {
		if (*p < '0' || *p > '9')
			return false;
		uint64_t d = (uint64_t)(*p - '0');
		if (v > (UINT64_MAX - d) / 10)
			return false;
		v = v * 10 + d;
	}
	*ret = v;
	return true;
}

/* Lowercase hex digits' values plus one, 0 for every other byte: a
 * table, not branches, which random digits mispredict half the time. */
static const unsigned char hex_table[256] = {
        ['0'] = 1,  ['1'] = 2,  ['2'] = 3,  ['3'] = 4,  ['4'] = 5,  ['5'] = 6,
        ['6'] = 7,  ['7'] = 8,  ['8'] = 9,  ['9'] = 10, ['a'] = 11, ['b'] = 12,
        ['c'] = 13, ['d'] = 14, ['e'] = 15, ['f'] = 16,
};

/* A file's digest field: "sha256:" and 64 lowercase hex digits. */
static bool parse_digest_field(const char *s, const char *end,
                               unsigned char md[SHA256_LEN])
{
	if (end - s != DIGEST_STR_LEN || memcmp(s, "sha256:", 7) != 0)
		return false;
	const unsigned char *h = (const unsigned char *)s + 7;
	unsigned bad = 0;
	for (size_t i = 0; i < SHA256_LEN; i++) {
		/* an invalid digit: 0 - 1, all ones */
		unsigned hi = hex_table[h[2 * i]] - 1u,
		         lo = hex_table[h[2 * i + 1]] - 1u;
		bad |= hi | lo;
		md[i] = (unsigned char)(hi << 4 | (lo & 15));
	}
	return bad < 16;
}

/* Split [s, end) at TABs into at most max fields. */
static size_t split_tabs(const char *s, const char *end, const char **f,
                         const char **fe, size_t max)
{
	size_t n = 0;
	const char *p = s;
	for (;;) {
		const char *t = memchr(p, '\t', (size_t)(end - p));
		if (n == max)
			return max + 1; /* too many */
		f[n] = p;
		fe[n] = t ? t : end;
		n++;
		if (!t)
			return n;
		p = t + 1;
	}
}

/* One line [s, end); buf: room for twice its length and 2 bytes. */
static int parse_line(Manifest *m, const char *s, const char *end, char *buf)
{
	const char *f[6], *fe[6];
	/* A NUL is never in a canonical line (bytes below 0x20 are escaped),
	 * and the fields below are copied as C strings, which would drop
	 * what follows one: "-\0x" would read as "-". */
	if (memchr(s, 0, (size_t)(end - s)))
		return -EBADMSG;
	size_t n = split_tabs(s, end, f, fe, 6);
	if (n < 5 || n > 6 || fe[0] - f[0] != 1)
		return -EBADMSG;
	EntryKind kind = (EntryKind)f[0][0];
	if (kind != ENTRY_FILE && kind != ENTRY_DIR && kind != ENTRY_LINK)
		return -EBADMSG;
	if ((kind == ENTRY_LINK) != (n == 6))
		return -EBADMSG;
	/* mode: exactly four octal digits */
	if (fe[1] - f[1] != 4)
		return -EBADMSG;
	mode_t mode = 0;
	for (const char *p = f[1]; p < fe[1]; p++) {
		if (*p < '0' || *p > '7')
			return -EBADMSG;
		mode = mode * 8 + (mode_t)(*p - '0');
	}
	uint64_t size;
	if (!parse_size_field(f[2], fe[2], &size))
		return -EBADMSG;
	if (kind == ENTRY_DIR && size != 0)
		return -EBADMSG;
	unsigned char md[SHA256_LEN];
	if (kind == ENTRY_FILE) {
		if (!parse_digest_field(f[3], fe[3], md))
			return -EBADMSG;
	} else if (fe[3] - f[3] != 1 || f[3][0] != '-')
		return -EBADMSG;
	char *path = buf;
	if (!unescape(f[4], fe[4], path) || !manifest_path_valid(path))
		return -EBADMSG;
	char *target = NULL;
	if (kind == ENTRY_LINK) {
		target = path + (fe[4] - f[4]) + 1;
		if (!unescape(f[5], fe[5], target) || !*target ||
		    strlen(target) != size)
			return -EBADMSG;
	}
	ManifestEntry *e = manifest_add(m, kind, path, mode, size, target);
	if (kind == ENTRY_FILE)
		memcpy(e->digest, md, SHA256_LEN);
	return 0;
}

int manifest_parse(const char *text, size_t len, Manifest **ret,
                   size_t *ret_line)
{
	size_t hl = strlen(MANIFEST_HEADER), line = 1;
	if (ret_line)
		*ret_line = 1;
	if (len > MANIFEST_MAX || len < hl || memcmp(text, MANIFEST_HEADER, hl))
		return -EBADMSG;
	_cleanup_manifest_ Manifest *m = manifest_new();
	const char *p = text + hl, *end = text + len;
	size_t cap = 4096;
	_cleanup_free_ char *buf = xmalloc(cap);
	while (p < end) {
		line++;
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t need = nl ? 2 * (size_t)(nl - p) + 2 : 0;
		if (need > cap) {
			cap = need > 2 * cap ? need : 2 * cap;
			free(buf);
			buf = xmalloc(cap);
		}
		int r = nl ? parse_line(m, p, nl, buf) : -EBADMSG;
		if (r < 0) {
			if (ret_line)
				*ret_line = line;
			return r;
		}
		p = nl + 1;
	}
	size_t bad = 0;
	if (check_sorted(m, &bad) < 0) {
		if (ret_line)
			*ret_line = bad + 2;
		return -EBADMSG;
	}
	*ret = TAKE_PTR(m);
	return 0;
}

uint64_t manifest_files(const Manifest *m)
{
	uint64_t n = 0;
	for (size_t i = 0; i < m->n; i++)
		n += m->entries[i].kind != ENTRY_DIR;
	return n;
}

uint64_t manifest_bytes(const Manifest *m)
{
	uint64_t n = 0;
	for (size_t i = 0; i < m->n; i++)
		if (m->entries[i].kind == ENTRY_FILE)
			n += m->entries[i].size;
	return n;
}
