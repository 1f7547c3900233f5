#include "config.h"

#include "software.h"
#include "capture-software-internal.h"

#include <fcntl.h>

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
		qsort(v, n, sizeof *v, pkgver_cmp);
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
static char *dpkg_index_build(const char *header, size_t *ret_len)
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
			if (!is_shared_object_path(line))
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
		qsort(lines, n, sizeof *lines, str_ptr_cmp);
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
	char *data = dpkg_index_build(header, &len);
	if (c->cache_dir)
		(void)cache_write(c->cache_dir, SOFTWARE_DPKG_INDEX, data, len);
	c->dpkg = dpkg_index_parse(data, header);
	return c->dpkg;
}

/* Debian 12 is usr-merged: dpkg may list /lib/x/libc.so.6 or
 * /usr/lib/x/libc.so.6 for the same file, and a symlink's target under
 * yet another name. Try the path, its other spelling, its realpath and
 * that one's other spelling. */
void package_of(Ctx *c, const char *path, char **ret_pkg, char **ret_version)
{
	*ret_pkg = *ret_version = NULL;
	DpkgIndex *x = ctx_dpkg(c);
	if (!x)
		return;
	_cleanup_free_ char *real = realpath(path, NULL);
	const char *bases[] = {path, real};
	for (size_t i = 0; i < ELEMENTSOF(bases); i++) {
		if (!bases[i])
			continue;
		if (dpkg_index_find(x, bases[i], ret_pkg, ret_version))
			return;
		_cleanup_free_ char *alt =
		        startswith(bases[i], "/usr/")
		                ? xstrdup(bases[i] + 4)
		                : xasprintf("/usr%s", bases[i]);
		if (dpkg_index_find(x, alt, ret_pkg, ret_version))
			return;
	}
}

void dpkg_state(Ctx *c)
{
	Key s, i;
	key_of(DPKG_STATUS, &s);
	key_of(DPKG_INFO, &i);
	c->have_dpkg = !streq(s.s, "-") && !streq(i.s, "-");
	c->dpkg_key = xasprintf("%s|%s", s.s, i.s);
}
