#include "config.h"

#include "software.h"
#include "capture-software-internal.h"

#include <fcntl.h>
#include <sys/mman.h>

#include "util.h"

#define DPKG_STATUS "/var/lib/dpkg/status"
#define DPKG_INFO "/var/lib/dpkg/info"

/* ---- dpkg: which package installed a path ---- */

typedef struct PkgVer {
	char *name, *arch, *version;
} PkgVer;

static int pkgver_cmp(const void *a, const void *b)
{
	const PkgVer *x = a, *y = b;
	int k = strcmp(x->name, y->name);
	return k ? k : strcmp(x->arch, y->arch);
}

static void pkgvers_free(PkgVer *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(v[i].name);
		free(v[i].arch);
		free(v[i].version);
	}
	free(v);
}

/* Installed packages from the status file, sorted by name and arch. */
static PkgVer *dpkg_read_status(size_t *ret_n)
{
	_cleanup_free_ char *buf = NULL;
	if (read_full_file(DPKG_STATUS, 256u << 20, &buf, NULL) < 0) {
		*ret_n = 0;
		return NULL;
	}
	PkgVer *v = NULL;
	size_t n = 0, cap = 0;
	const char *name = NULL, *arch = NULL, *version = NULL, *status = NULL;
	for (char *line = buf, *next; line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = 0;
		if (*line) {
			if (startswith(line, "Package: "))
				name = line + 9;
			else if (startswith(line, "Architecture: "))
				arch = line + 14;
			else if (startswith(line, "Version: "))
				version = line + 9;
			else if (startswith(line, "Status: "))
				status = line + 8;
			if (next)
				continue;
		}
		/* end of a stanza: packages that are gone or left only their
		 * conffiles own no files */
		if (name && version && status &&
		    !endswith(status, " not-installed") &&
		    !endswith(status, " config-files")) {
			if (n == cap) {
				cap = cap ? cap * 2 : 512;
				v = xrealloc(v, cap * sizeof *v);
			}
			v[n++] = (PkgVer){.name = xstrdup(name),
			                  .arch = xstrdup(arch ? arch : ""),
			                  .version = xstrdup(version)};
		}
		name = arch = version = status = NULL;
	}
	if (n)
		sort_v(v, n, sizeof *v, pkgver_cmp);
	*ret_n = n;
	return v;
}

static const char *dpkg_version(const PkgVer *v, size_t n, const char *name,
                                const char *arch)
{
	/* lower bound of name */
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (strcmp(v[mid].name, name) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (size_t i = lo; i < n && streq(v[i].name, name); i++)
		if (!arch || streq(v[i].arch, arch))
			return v[i].version;
	return NULL;
}

/* Only shared objects go into the index: they are all xrun asks about,
 * and they are 2% of dpkg's paths (2,000 of 140,000 here). */
static bool is_shared_object_path(const char *path)
{
	if (path[0] != '/' || !strstr(basename_of(path), ".so"))
		return false;
	for (const char *p = path; *p; p++)
		if ((unsigned char)*p < 0x20)
			return false;
	return true;
}

/* One pass over every info/<package>.list: the sorted lines
 * "path\tpackage\tversion\n" after a header line that names the dpkg
 * state it was built from. The package is named as dpkg-query -S names
 * it, less the ":amd64" of Multi-Arch: same packages. */
static bool is_plain_path(const char *path)
{
	if (path[0] != '/')
		return false;
	for (const char *p = path; *p; p++)
		if ((unsigned char)*p < 0x20)
			return false;
	return true;
}

static char *dpkg_index_build(const char *header, bool all, size_t *ret_len)
{
	size_t npv;
	PkgVer *pv = dpkg_read_status(&npv);
	_cleanup_(closedirp) DIR *d = opendir(DPKG_INFO);
	char **lines = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;
	while (d && (de = readdir(d))) {
		if (!endswith(de->d_name, ".list"))
			continue;
		_cleanup_free_ char *pkg =
		        xstrndup(de->d_name, strlen(de->d_name) - 5);
		char *colon = strchr(pkg, ':');
		const char *arch = NULL;
		if (colon) {
			*colon = 0;
			arch = colon + 1;
		}
		const char *version = dpkg_version(pv, npv, pkg, arch);
		_cleanup_close_ int fd = openat(
		        dirfd(d), de->d_name, O_RDONLY | O_CLOEXEC | O_NOCTTY);
		_cleanup_free_ char *buf = NULL;
		size_t len;
		if (fd < 0 || read_full_fd(fd, 256u << 20, &buf, &len) < 0)
			continue;
		for (char *line = buf, *next; line && *line; line = next) {
			next = strchr(line, '\n');
			if (next)
				*next++ = 0;
			if (all ? !is_plain_path(line)
			        : !is_shared_object_path(line))
				continue;
			if (n == cap) {
				cap = cap ? cap * 2 : 4096;
				lines = xrealloc(lines, cap * sizeof *lines);
			}
			lines[n++] = xasprintf("%s\t%s\t%s", line, pkg,
			                       version ? version : "");
		}
	}
	pkgvers_free(pv, npv);
	/* With no path holding a byte below '\t', sorting whole lines sorts
	 * by path, in the order dpkg_index_find() searches. */
	if (n)
		sort_v(lines, n, sizeof *lines, str_ptr_cmp);
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	if (!f)
		abort();
	fprintf(f, "%s\n", header);
	const char *prev = NULL;
	size_t prev_len = 0;
	for (size_t i = 0; i < n; i++) {
		size_t plen = strcspn(lines[i], "\t");
		/* a path two packages claim: the first, as dpkg-query -S */
		if (!(prev && plen == prev_len && strneq(prev, lines[i], plen)))
			fprintf(f, "%s\n", lines[i]);
		prev = lines[i];
		prev_len = plen;
	}
	fclose(f);
	for (size_t i = 0; i < n; i++)
		free(lines[i]);
	free(lines);
	*ret_len = len;
	return buf;
}

struct DpkgIndex {
	char *data;
	char **lines;
	size_t n;
};

DpkgIndex *dpkg_index_free(DpkgIndex *x)
{
	if (x) {
		free(x->data);
		free(x->lines);
		free(x);
	}
	return NULL;
}

/* Takes data; NULL when its header is not the one expected. */
static DpkgIndex *dpkg_index_parse(char *data, const char *header)
{
	size_t hlen = strlen(header);
	if (!strneq(data, header, hlen) || data[hlen] != '\n') {
		free(data);
		return NULL;
	}
	DpkgIndex *x = xcalloc(1, sizeof *x);
	x->data = data;
	size_t cap = 0;
	for (char *line = data + hlen + 1, *next; *line; line = next) {
		next = strchr(line, '\n');
		if (!next)
			break; /* torn last line: ignored */
		*next++ = 0;
		if (x->n == cap) {
			cap = cap ? cap * 2 : 4096;
			x->lines = xrealloc(x->lines, cap * sizeof *x->lines);
		}
		x->lines[x->n++] = line;
	}
	return x;
}

static int index_cmp(const char *path, const char *line)
{
	size_t n = strcspn(line, "\t");
	int k = strncmp(path, line, n);
	if (k)
		return k;
	return path[n] ? 1 : 0;
}

static bool dpkg_index_find(const DpkgIndex *x, const char *path,
                            char **ret_pkg, char **ret_version)
{
	size_t lo = 0, hi = x->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int k = index_cmp(path, x->lines[mid]);
		if (k == 0) {
			const char *p = x->lines[mid] + strlen(path) + 1;
			const char *tab = strchr(p, '\t');
			if (!tab)
				return false;
			*ret_pkg = xstrndup(p, (size_t)(tab - p));
			*ret_version = tab[1] ? xstrdup(tab + 1) : NULL;
			return true;
		}
		if (k < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return false;
}

static DpkgIndex *ctx_dpkg(Ctx *c)
{
	if (c->dpkg_tried)
		return c->dpkg;
	c->dpkg_tried = true;
	if (!c->have_dpkg)
		return NULL;
	_cleanup_free_ char *header =
	        xasprintf("xrun-dpkg-so-index-v1 %s", c->dpkg_key);
	if (c->cache_dir) {
		_cleanup_free_ char *path =
		        path_join(c->cache_dir, SOFTWARE_DPKG_INDEX);
		char *data = NULL;
		if (read_full_file(path, 256u << 20, &data, NULL) == 0) {
			c->dpkg = dpkg_index_parse(data, header);
			if (c->dpkg)
				return c->dpkg;
		}
	}
	size_t len;
	char *data = dpkg_index_build(header, false, &len);
	if (c->cache_dir)
		(void)cache_write(c->cache_dir, SOFTWARE_DPKG_INDEX, data, len);
	c->dpkg = dpkg_index_parse(data, header);
	return c->dpkg;
}

/* A lookup by one path spelling: true when found. */
typedef bool (*OwnerFindFn)(void *data, const char *path, char **ret_pkg,
                            char **ret_version);

/* Debian 12 is usr-merged: dpkg may list /lib/x/libc.so.6 or
 * /usr/lib/x/libc.so.6 for the same file, and a symlink's target under
 * yet another name. Try the path, its other spelling, its realpath and
 * that one's other spelling: the path as named first, as realpath()
 * costs a readlink per component. */
static bool owner_find(const char *path, OwnerFindFn find, void *data,
                       char **ret_pkg, char **ret_version)
{
	_cleanup_free_ char *real = NULL;
	const char *bases[] = {path, NULL};
	for (size_t i = 0; i < ELEMENTSOF(bases); i++) {
		if (i == 1) {
			real = realpath(path, NULL);
			bases[i] = real;
		}
		if (!bases[i])
			continue;
		if (find(data, bases[i], ret_pkg, ret_version))
			return true;
		_cleanup_free_ char *alt =
		        startswith(bases[i], "/usr/")
		                ? xstrdup(bases[i] + 4)
		                : xasprintf("/usr%s", bases[i]);
		if (find(data, alt, ret_pkg, ret_version))
			return true;
	}
	return false;
}

static bool dpkg_index_find_fn(void *data, const char *path, char **ret_pkg,
                               char **ret_version)
{
	return dpkg_index_find(data, path, ret_pkg, ret_version);
}

void package_of(Ctx *c, const char *path, char **ret_pkg, char **ret_version)
{
	*ret_pkg = *ret_version = NULL;
	DpkgIndex *x = ctx_dpkg(c);
	if (x)
		(void)owner_find(path, dpkg_index_find_fn, x, ret_pkg,
		                 ret_version);
}

void dpkg_state(Ctx *c)
{
	Key s, i;
	key_of(DPKG_STATUS, &s);
	key_of(DPKG_INFO, &i);
	c->have_dpkg = !streq(s.s, "-") && !streq(i.s, "-");
	c->dpkg_key = xasprintf("%s|%s", s.s, i.s);
}

/* ---- which package owns any path (the trace's files) ---- */

/* The index of every path dpkg lists is 15 MB: it is neither read nor
 * mapped whole (a mapping's pages, faulted around and in large folios,
 * count in the launcher's memory). A table of contents beside it, every
 * 256th line's path and offset, leads each lookup to one read of at
 * most 256 lines, searched by bisection over its bytes. */
#define TOC_EVERY 256
#define TOC_MAX_CHUNK (1u << 20)

struct Packages {
	Ctx c;
	char *built;            /* the index, when it was built here */
	const char *body, *end; /* its sorted lines */
	int fd;                 /* else the index file, and its contents: */
	uint64_t file_len;
	char *toc_data;
	char **toc_keys; /* every TOC_EVERY-th path, in order */
	uint64_t *toc_offs;
	size_t toc_n;
	char *chunk; /* the lines read for the last lookup */
	bool loaded;
};

/* "header\n" then "OFFSET\tPATH\n" for every TOC_EVERY-th line. */
static char *toc_build(const char *header, const char *data, size_t len,
                       size_t *ret_len)
{
	char *buf = NULL;
	size_t n = 0;
	FILE *f = open_memstream(&buf, &n);
	if (!f)
		abort();
	fprintf(f, "%s\n", header);
	const char *line = memchr(data, '\n', len);
	size_t k = 0;
	for (line = line ? line + 1 : data + len; line < data + len; k++) {
		const char *eol =
		        memchr(line, '\n', (size_t)(data + len - line));
		if (!eol)
			break;
		if (k % TOC_EVERY == 0)
			fprintf(f, "%zu\t%.*s\n", (size_t)(line - data),
			        (int)strcspn(line, "\t\n"), line);
		line = eol + 1;
	}
	fclose(f);
	*ret_len = n;
	return buf;
}

static bool toc_parse(Packages *p, char *data, const char *header)
{
	size_t hlen = strlen(header);
	if (!strneq(data, header, hlen) || data[hlen] != '\n')
		return false;
	size_t cap = 0;
	for (char *line = data + hlen + 1, *next; *line; line = next) {
		next = strchr(line, '\n');
		if (!next)
			return false;
		*next++ = 0;
		char *tab = strchr(line, '\t');
		uint64_t off;
		if (!tab)
			return false;
		*tab = 0;
		if (parse_u64(line, &off) < 0 || off > p->file_len)
			return false;
		if (p->toc_n == cap) {
			cap = cap ? cap * 2 : 1024;
			p->toc_keys = xrealloc(p->toc_keys,
			                       cap * sizeof *p->toc_keys);
			p->toc_offs = xrealloc(p->toc_offs,
			                       cap * sizeof *p->toc_offs);
		}
		p->toc_keys[p->toc_n] = tab + 1;
		p->toc_offs[p->toc_n++] = off;
	}
	return p->toc_n > 0;
}

static void packages_load(Packages *p)
{
	if (!p->c.have_dpkg)
		return;
	_cleanup_free_ char *header =
	        xasprintf("xrun-dpkg-path-index-v1 %s", p->c.dpkg_key);
	size_t hlen = strlen(header);
	if (p->c.cache_dir) {
		_cleanup_free_ char *path =
		        path_join(p->c.cache_dir, SOFTWARE_DPKG_PATH_INDEX);
		_cleanup_free_ char *tpath = xasprintf("%s.toc", path);
		_cleanup_close_ int fd =
		        open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		struct stat st;
		char *head = xmalloc(hlen + 1);
		bool ok = fd >= 0 && fstat(fd, &st) == 0 &&
		          S_ISREG(st.st_mode) && (size_t)st.st_size > hlen &&
		          pread_full(fd, head, hlen + 1, 0) == 0 &&
		          strneq(head, header, hlen) && head[hlen] == '\n';
		free(head);
		if (ok) {
			p->file_len = (uint64_t)st.st_size;
			if (read_full_file(tpath, 16u << 20, &p->toc_data,
			                   NULL) == 0 &&
			    toc_parse(p, p->toc_data, header)) {
				/* cppcheck-suppress unreadVariable */
				p->fd = TAKE_FD(fd);
				return;
			}
			free(p->toc_data);
			p->toc_data = NULL;
			free(p->toc_keys);
			free(p->toc_offs);
			p->toc_keys = NULL;
			p->toc_offs = NULL;
			p->toc_n = 0;
		}
	}
	size_t len;
	p->built = dpkg_index_build(header, true, &len);
	if (p->c.cache_dir) {
		size_t tlen;
		_cleanup_free_ char *toc =
		        toc_build(header, p->built, len, &tlen);
		_cleanup_free_ char *tname =
		        xasprintf("%s.toc", SOFTWARE_DPKG_PATH_INDEX);
		/* The index first: a table of contents never points into
		 * an older index (their headers must match anyway). */
		if (cache_write(p->c.cache_dir, SOFTWARE_DPKG_PATH_INDEX,
		                p->built, len) == 0)
			(void)cache_write(p->c.cache_dir, tname, toc, tlen);
	}
	p->body = p->built + hlen + 1;
	p->end = p->built + len;
}

/* The line of path, by bisection over byte offsets. */
static bool lines_find(const char *body, const char *end, const char *path,
                       char **ret_pkg, char **ret_version)
{
	const char *lo = body, *hi = end;
	size_t plen = strlen(path);
	while (lo < hi) {
		const char *mid = lo + (hi - lo) / 2;
		/* the start of the line mid is in */
		while (mid > lo && mid[-1] != '\n')
			mid--;
		const char *eol = memchr(mid, '\n', (size_t)(end - mid));
		if (!eol)
			return false;
		const char *tab = memchr(mid, '\t', (size_t)(eol - mid));
		size_t n = tab ? (size_t)(tab - mid) : (size_t)(eol - mid);
		int k = memcmp(path, mid, plen < n ? plen : n);
		if (k == 0)
			k = plen < n ? -1 : plen > n ? 1 : 0;
		if (k == 0) {
			if (!tab)
				return false;
			const char *ver =
			        memchr(tab + 1, '\t', (size_t)(eol - tab - 1));
			if (!ver)
				return false;
			*ret_pkg = xstrndup(tab + 1, (size_t)(ver - tab - 1));
			*ret_version =
			        ver + 1 < eol
			                ? xstrndup(ver + 1,
			                           (size_t)(eol - ver - 1))
			                : NULL;
			return true;
		}
		if (k < 0)
			hi = mid;
		else
			lo = eol + 1;
	}
	return false;
}

static bool packages_find(Packages *p, const char *path, char **ret_pkg,
                          char **ret_version)
{
	if (p->body)
		return lines_find(p->body, p->end, path, ret_pkg, ret_version);
	/* the last entry of the table at or before path */
	size_t lo = 0, hi = p->toc_n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (strcmp(p->toc_keys[mid], path) <= 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == 0)
		return false;
	uint64_t from = p->toc_offs[lo - 1];
	uint64_t to = lo < p->toc_n ? p->toc_offs[lo] : p->file_len;
	if (to <= from || to - from > TOC_MAX_CHUNK)
		return false;
	if (!p->chunk)
		p->chunk = xmalloc(TOC_MAX_CHUNK);
	if (pread_full(p->fd, p->chunk, (size_t)(to - from), from) < 0)
		return false;
	const char *end = p->chunk + (to - from);
	if (end[-1] != '\n')
		return false;
	return lines_find(p->chunk, end, path, ret_pkg, ret_version);
}

static bool packages_find_fn(void *data, const char *path, char **ret_pkg,
                             char **ret_version)
{
	return packages_find(data, path, ret_pkg, ret_version);
}

Packages *packages_open(const char *cache_dir)
{
	Packages *p = xcalloc(1, sizeof *p);
	p->fd = -1;
	p->c = (Ctx){.envp = environ, .cache_dir = cache_dir};
	dpkg_state(&p->c);
	return p;
}

bool packages_owner(Packages *p, const char *path, char **ret_pkg,
                    char **ret_version)
{
	*ret_pkg = *ret_version = NULL;
	if (!p->body && p->fd < 0) {
		if (p->loaded)
			return false;
		p->loaded = true;
		packages_load(p);
		if (!p->body && p->fd < 0)
			return false;
	}
	/* As package_of(). */
	return owner_find(path, packages_find_fn, p, ret_pkg, ret_version);
}

Packages *packages_free(Packages *p)
{
	if (p) {
		ctx_done(&p->c);
		free(p->built);
		if (p->fd >= 0)
			close(p->fd);
		free(p->toc_data);
		free(p->toc_keys);
		free(p->toc_offs);
		free(p->chunk);
		free(p);
	}
	return NULL;
}
