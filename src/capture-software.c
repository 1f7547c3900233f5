/* The software section of the run record: the shared libraries the
 * program loads, the Python distributions it can import, and the BLAS and
 * LAPACK implementations Debian's alternatives select.
 *
 * This runs before every launch and must cost well under a millisecond,
 * so what is expensive (reading ELF files, hashing libraries, reading
 * dpkg's database, starting Python) is cached under cache_dir, and a
 * warm capture only stats files:
 *
 *   software-v1-<hash>.json  one per query (executable, interpreter,
 *                            cwd, LD_LIBRARY_PATH, LD_PRELOAD, Python
 *                            variables): the resolved libraries with the
 *                            stat keys that prove the answer still holds,
 *                            the Python section, the BLAS packages.
 *   software-libs-v1.json    sha256 and package of every library seen,
 *                            by path and stat key, shared by the queries
 *                            so that a new program does not rehash libc;
 *                            read only when a query's own file misses.
 *   dpkg-so-index-v1         path -> package and version for every shared
 *                            object dpkg installed, sorted for binary
 *                            search; rebuilt (about 15 ms) when dpkg's
 *                            status file or info directory changes.
 *
 * All three are written without fsync (write_file_replace()):
 * a crash or a concurrent xrun leaves an old or a new file, never a torn
 * one, and anything unreadable is simply rebuilt. */
#include "config.h"

#include "capture.h"
#include "capture-software-internal.h"

#include <ctype.h>
#include <dirent.h>
#include <elf.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#ifdef HAVE_SYS_PLATFORM_X86_H
#include <sys/platform/x86.h>
#endif
#include <sys/auxv.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "hash.h"
#include "util.h"

extern char **environ;

#if defined(__x86_64__)
#define MULTIARCH "x86_64-linux-gnu"
#define ELF_MACHINE EM_X86_64
/* FLAG_ELF_LIBC6 | FLAG_X8664_LIB64: the only entries x86-64 ld.so takes */
#define LDCACHE_FLAGS 0x0303
#elif defined(__aarch64__)
#define MULTIARCH "aarch64-linux-gnu"
#define ELF_MACHINE EM_AARCH64
#define LDCACHE_FLAGS 0x0a03 /* FLAG_ELF_LIBC6 | FLAG_AARCH64_LIB64 */
#else
#error "capture-software.c knows the dynamic loader of x86-64 and aarch64 only"
#endif

/* Debian's ld.so expands $LIB to the multiarch directory, not to "lib64"
 * (LD_DEBUG=libs shows it). */
#define DST_LIB "lib/" MULTIARCH

#define DPKG_STATUS "/var/lib/dpkg/status"
#define DPKG_INFO "/var/lib/dpkg/info"
#define LDSO_CACHE "/etc/ld.so.cache"

#define MAX_CACHE_FILE (16u << 20)
#define MAX_ELF_TABLE (16u << 20)
#define MAX_PYTHON_OUTPUT (1u << 20)
#define PYTHON_TIMEOUT_NS (5 * INT64_C(1000000000))

static const char *const default_dirs[] = {
        "/lib/" MULTIARCH,
        "/usr/lib/" MULTIARCH,
        "/lib64",
        "/usr/lib64",
        "/lib",
        "/usr/lib",
};

static inline void closedirp(DIR **d)
{
	if (*d)
		closedir(*d);
}

static json_t *json_string_or_null(const char *s)
{
	return s ? json_bstr(s) : json_null();
}

static char *xstrdup_or_null(const char *s)
{
	return s ? xstrdup(s) : NULL;
}

static bool streq_ptr(const char *a, const char *b)
{
	return a && b && streq(a, b);
}

/* Whether a file is still the one we looked at, without reading it:
 * device, inode, size, and mtime and ctime in nanoseconds (ctime catches
 * writers that restore mtime, like cp -p and tar). "-" stands for a
 * missing file, so that creating it is a change too. */
typedef struct Key {
	char s[120];
} Key;

static void key_from_stat(const struct stat *st, Key *k)
{
	snprintf(k->s, sizeof k->s,
	         "%" PRIu64 ":%" PRIu64 ":%" PRId64 ":%" PRId64 ":%" PRId64,
	         (uint64_t)st->st_dev, (uint64_t)st->st_ino,
	         (int64_t)st->st_size,
	         (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec,
	         (int64_t)st->st_ctim.tv_sec * 1000000000 +
	                 st->st_ctim.tv_nsec);
}

static void key_of(const char *path, Key *k)
{
	struct stat st;
	if (stat(path, &st) < 0)
		snprintf(k->s, sizeof k->s, "-");
	else
		key_from_stat(&st, k);
}

static bool str_matches(const char *s, const json_t *j)
{
	return streq_ptr(json_string_value(j), s);
}

static bool key_matches(const Key *k, const json_t *j)
{
	return str_matches(k->s, j);
}

/* FNV-1a: names the per-query cache file; the file repeats the whole
 * query, so a collision costs a rebuild, never a wrong answer. */
static uint64_t fnv1a(const char *s)
{
	uint64_t h = UINT64_C(0xcbf29ce484222325);
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * UINT64_C(0x100000001b3);
	return h;
}

static char *readlink_malloc(const char *path)
{
	for (size_t n = 256; n <= PATH_MAX * 4; n *= 2) {
		_cleanup_free_ char *buf = xmalloc(n);
		ssize_t k = readlink(path, buf, n);
		if (k < 0)
			return NULL;
		if ((size_t)k < n) {
			buf[k] = 0;
			return TAKE_PTR(buf);
		}
	}
	return NULL;
}

static char *dirname_of(const char *path)
{
	const char *slash = strrchr(path, '/');
	if (!slash)
		return xstrdup(".");
	if (slash == path)
		return xstrdup("/");
	return xstrndup(path, (size_t)(slash - path));
}

static const char *basename_of(const char *path)
{
	const char *slash = strrchr(path, '/');
	return slash ? slash + 1 : path;
}

/* ---- cache files ---- */

static json_t *cache_load(const char *dir, const char *name)
{
	_cleanup_free_ char *path = path_join(dir, name);
	_cleanup_free_ char *buf = NULL;
	size_t len;
	if (read_full_file(path, MAX_CACHE_FILE, &buf, &len) < 0)
		return NULL;
	json_t *j = json_loadb(buf, len, 0, NULL);
	if (j && !json_is_object(j)) {
		json_decref(j);
		return NULL;
	}
	return j;
}

/* No fsync: a cache lost in a crash is rebuilt, and the fsync would
 * cost more than the whole warm capture. */
static int cache_write(const char *dir, const char *name, const void *p,
                       size_t n)
{
	/* made here, not up front: a warm capture never writes */
	int r = mkdir_p(dir, 0755);
	return r < 0 ? r : write_file_replace(dir, name, p, n, 0644);
}

static int cache_write_json(const char *dir, const char *name, const json_t *j)
{
	_cleanup_free_ char *s = json_dumps(j, JSON_COMPACT);
	if (!s)
		return -ENOMEM;
	return cache_write(dir, name, s, strlen(s));
}

/* ---- ELF ---- */

typedef struct ElfInfo {
	char *interp;
	char *soname;
	char *rpath;
	char *runpath;
	char **needed;
	bool nodeflib;
	dev_t dev;
	ino_t ino;
} ElfInfo;

static ElfInfo *elf_info_free(ElfInfo *e)
{
	if (!e)
		return NULL;
	free(e->interp);
	free(e->soname);
	free(e->rpath);
	free(e->runpath);
	strv_free(e->needed);
	free(e);
	return NULL;
}
static inline void elf_info_freep(ElfInfo **e)
{
	elf_info_free(*e);
}

static int pread_full(int fd, void *buf, size_t n, uint64_t off)
{
	size_t done = 0;
	while (done < n) {
		ssize_t k = pread(fd, (char *)buf + done, n - done,
		                  (off_t)(off + done));
		if (k < 0) {
			if (errno == EINTR)
				continue;
			return negative_errno();
		}
		if (k == 0)
			return -ENOEXEC; /* truncated */
		done += (size_t)k;
	}
	return 0;
}

/* DT_STRTAB is an address in the loaded image; the PT_LOAD segments say
 * where that is in the file. */
static bool elf_vaddr_to_offset(const Elf64_Phdr *ph, size_t n, uint64_t addr,
                                uint64_t *ret)
{
	for (size_t i = 0; i < n; i++)
		if (ph[i].p_type == PT_LOAD && addr >= ph[i].p_vaddr &&
		    addr - ph[i].p_vaddr < ph[i].p_filesz) {
			*ret = addr - ph[i].p_vaddr + ph[i].p_offset;
			return true;
		}
	return false;
}

static char *strtab_get(const char *tab, uint64_t size, uint64_t off)
{
	if (off >= size || !memchr(tab + off, 0, size - off))
		return NULL;
	return xstrdup(tab + off);
}

/* What ld.so reads of an object: PT_INTERP and the DT_NEEDED, DT_SONAME,
 * DT_RPATH, DT_RUNPATH and DF_1_NODEFLIB of PT_DYNAMIC. -ENOEXEC for
 * anything that is not an ELF object the loader of this machine would
 * take (a script, a 32-bit library), so the search goes on past it. */
static int elf_read(const char *path, ElfInfo **ret)
{
	*ret = NULL;
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return negative_errno();
	struct stat st;
	if (fstat(fd, &st) < 0)
		return negative_errno();
	if (!S_ISREG(st.st_mode))
		return -ENOEXEC;

	Elf64_Ehdr eh;
	int r = pread_full(fd, &eh, sizeof eh, 0);
	if (r < 0)
		return r;
	if (memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 ||
	    eh.e_ident[EI_CLASS] != ELFCLASS64 ||
	    eh.e_ident[EI_DATA] != ELFDATA2LSB || eh.e_machine != ELF_MACHINE ||
	    (eh.e_type != ET_EXEC && eh.e_type != ET_DYN) ||
	    eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_phnum == 0 ||
	    eh.e_phnum == PN_XNUM)
		return -ENOEXEC;

	size_t nph = eh.e_phnum;
	_cleanup_free_ Elf64_Phdr *ph = xcalloc(nph, sizeof *ph);
	r = pread_full(fd, ph, nph * sizeof *ph, eh.e_phoff);
	if (r < 0)
		return r;

	_cleanup_(elf_info_freep) ElfInfo *e = xcalloc(1, sizeof *e);
	e->dev = st.st_dev;
	e->ino = st.st_ino;
	const Elf64_Phdr *dyn = NULL;
	for (size_t i = 0; i < nph; i++) {
		if (ph[i].p_type == PT_INTERP && !e->interp &&
		    ph[i].p_filesz > 1 && ph[i].p_filesz <= PATH_MAX) {
			_cleanup_free_ char *s = xmalloc(ph[i].p_filesz + 1);
			r = pread_full(fd, s, ph[i].p_filesz, ph[i].p_offset);
			if (r < 0)
				return r;
			s[ph[i].p_filesz] = 0;
			e->interp = xstrdup(s);
		} else if (ph[i].p_type == PT_DYNAMIC && !dyn)
			dyn = &ph[i];
	}
	if (!dyn) {
		/* statically linked */
		*ret = TAKE_PTR(e);
		return 0;
	}
	if (dyn->p_filesz > MAX_ELF_TABLE)
		return -ENOEXEC;
	size_t ndyn = dyn->p_filesz / sizeof(Elf64_Dyn);
	_cleanup_free_ Elf64_Dyn *d = xcalloc(ndyn ? ndyn : 1, sizeof *d);
	r = pread_full(fd, d, ndyn * sizeof *d, dyn->p_offset);
	if (r < 0)
		return r;

	uint64_t strtab = 0, strsz = 0;
	bool have_strtab = false;
	for (size_t i = 0; i < ndyn && d[i].d_tag != DT_NULL; i++) {
		if (d[i].d_tag == DT_STRTAB) {
			strtab = d[i].d_un.d_ptr;
			have_strtab = true;
		} else if (d[i].d_tag == DT_STRSZ)
			strsz = d[i].d_un.d_val;
		else if (d[i].d_tag == DT_FLAGS_1)
			e->nodeflib = d[i].d_un.d_val & DF_1_NODEFLIB;
	}
	uint64_t off;
	if (!have_strtab || strsz == 0 || strsz > MAX_ELF_TABLE ||
	    !elf_vaddr_to_offset(ph, nph, strtab, &off))
		return -ENOEXEC;
	_cleanup_free_ char *tab = xmalloc(strsz);
	r = pread_full(fd, tab, strsz, off);
	if (r < 0)
		return r;

	for (size_t i = 0; i < ndyn && d[i].d_tag != DT_NULL; i++) {
		char **slot = NULL;
		switch (d[i].d_tag) {
		case DT_NEEDED: {
			_cleanup_free_ char *s =
			        strtab_get(tab, strsz, d[i].d_un.d_val);
			if (s)
				e->needed = strv_push(e->needed, s);
			continue;
		}
		case DT_SONAME:
			slot = &e->soname;
			break;
		case DT_RPATH:
			slot = &e->rpath;
			break;
		case DT_RUNPATH:
			slot = &e->runpath;
			break;
		default:
			continue;
		}
		if (!*slot)
			*slot = strtab_get(tab, strsz, d[i].d_un.d_val);
	}
	/* ld.so ignores DT_RPATH in an object that has DT_RUNPATH */
	if (e->runpath) {
		free(e->rpath);
		e->rpath = NULL;
	}
	*ret = TAKE_PTR(e);
	return 0;
}

/* ---- /etc/ld.so.cache, glibc's "glibc-ld.so.cache1.1" format ---- */

struct ldcache_header {
	char magic[17];  /* "glibc-ld.so.cache" */
	char version[3]; /* "1.1" */
	uint32_t nlibs;
	uint32_t len_strings;
	uint8_t flags;
	uint8_t padding[3];
	uint32_t extension_offset;
	uint32_t unused[3];
};
struct ldcache_entry {
	int32_t flags;
	uint32_t key, value; /* string offsets from the start of the header */
	uint32_t osversion;
	uint64_t hwcap;
};
_Static_assert(sizeof(struct ldcache_header) == 48, "ld.so.cache header");
_Static_assert(sizeof(struct ldcache_entry) == 24, "ld.so.cache entry");

typedef struct LdCache {
	char *data;
	const char *base; /* the new-format part, where offsets point */
	size_t base_size;
	uint32_t nlibs;
} LdCache;

static void ldcache_load(LdCache *c)
{
	size_t size;
	if (read_full_file(LDSO_CACHE, 64u << 20, &c->data, &size) < 0)
		return;
	size_t off = 0;
	/* Caches written before glibc 2.32 start with the old format */
	if (size >= 16 && memcmp(c->data, "ld.so-1.7.0", 11) == 0) {
		uint32_t n;
		memcpy(&n, c->data + 12, sizeof n);
		off = ((16 + (size_t)n * 12) + 7) & ~(size_t)7;
	}
	struct ldcache_header h;
	if (off > size || size - off < sizeof h)
		return;
	memcpy(&h, c->data + off, sizeof h);
	if (memcmp(h.magic, "glibc-ld.so.cache", 17) != 0 ||
	    memcmp(h.version, "1.1", 3) != 0 ||
	    (size - off - sizeof h) / sizeof(struct ldcache_entry) < h.nlibs)
		return;
	c->base = c->data + off;
	c->base_size = size - off;
	c->nlibs = h.nlibs;
}

/* Entries for glibc-hwcaps subdirectories (hwcap != 0) are passed over:
 * Debian 12 ships none, and choosing among them needs the CPU's ISA
 * level as ld.so computes it. */
static const char *ldcache_lookup(const LdCache *c, const char *name)
{
	for (uint32_t i = 0; c->base && i < c->nlibs; i++) {
		struct ldcache_entry e;
		memcpy(&e,
		       c->base + sizeof(struct ldcache_header) + i * sizeof e,
		       sizeof e);
		if (e.flags != LDCACHE_FLAGS || e.hwcap != 0 ||
		    e.key >= c->base_size || e.value >= c->base_size)
			continue;
		const char *k = c->base + e.key, *v = c->base + e.value;
		if (!memchr(k, 0, c->base_size - e.key) ||
		    !memchr(v, 0, c->base_size - e.value))
			continue;
		if (streq(k, name))
			return v;
	}
	return NULL;
}

/* ---- resolving like ld.so ---- */

typedef struct Obj {
	char *path;   /* as ld.so opens it, not realpath'd */
	char *name;   /* the name it was asked for by */
	char *origin; /* what $ORIGIN expands to in its paths */
	ElfInfo *elf;
	ssize_t loader; /* index of the object whose DT_NEEDED loaded it */
} Obj;

typedef struct Resolver {
	const char *cwd;
	const char *llp;     /* LD_LIBRARY_PATH */
	const char *preload; /* LD_PRELOAD */
	LdCache *ldcache;
	bool *ldcache_loaded;
	char ***miss_dirs; /* directories probed in vain, for the cache */
	Obj *objs;
	size_t n, cap;
	char **names; /* names already satisfied */
} Resolver;

static void resolver_done(Resolver *r)
{
	for (size_t i = 0; i < r->n; i++) {
		free(r->objs[i].path);
		free(r->objs[i].name);
		free(r->objs[i].origin);
		elf_info_free(r->objs[i].elf);
	}
	free(r->objs);
	strv_free(r->names);
}

static void resolver_add(Resolver *r, char *path, const char *name,
                         char *origin, ElfInfo *e, ssize_t loader)
{
	if (r->n == r->cap) {
		r->cap = r->cap ? r->cap * 2 : 16;
		r->objs = xrealloc(r->objs, r->cap * sizeof *r->objs);
	}
	r->objs[r->n++] = (Obj){.path = path,
	                        .name = name ? xstrdup(name) : NULL,
	                        .origin = origin,
	                        .elf = e,
	                        .loader = loader};
	if (name && !strv_has(r->names, name))
		r->names = strv_push(r->names, name);
	if (e->soname && !strv_has(r->names, e->soname))
		r->names = strv_push(r->names, e->soname);
}

/* Length of "$NAME" or "${NAME}" at p (just after the '$'), or 0. */
static size_t dst_match(const char *p, const char *name)
{
	size_t n = strlen(name);
	if (strneq(p, name, n) && !isalnum((unsigned char)p[n]) && p[n] != '_')
		return n;
	if (p[0] == '{' && strneq(p + 1, name, n) && p[n + 1] == '}')
		return n + 2;
	return 0;
}

/* $ORIGIN, $LIB and $PLATFORM as ld.so expands them; NULL when $ORIGIN
 * is wanted and unknown (ld.so drops such a path element too). */
static char *expand_dst(const char *s, const char *origin)
{
	if (!strchr(s, '$'))
		return xstrdup(s);
	const char *platform = (const char *)getauxval(AT_PLATFORM);
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	if (!f)
		return NULL;
	bool ok = true;
	for (const char *p = s; *p;) {
		size_t k;
		if (*p != '$') {
			fputc(*p++, f);
		} else if ((k = dst_match(p + 1, "ORIGIN"))) {
			if (!origin)
				ok = false;
			fputs(origin ? origin : "", f);
			p += 1 + k;
		} else if ((k = dst_match(p + 1, "LIB"))) {
			fputs(DST_LIB, f);
			p += 1 + k;
		} else if ((k = dst_match(p + 1, "PLATFORM"))) {
			fputs(platform ? platform : "", f);
			p += 1 + k;
		} else {
			fputc(*p++, f);
		}
	}
	fclose(f);
	if (!ok) {
		free(buf);
		return NULL;
	}
	return buf;
}

static char *absolute(const char *cwd, const char *p)
{
	if (!*p)
		return xstrdup(cwd ? cwd : ".");
	return cwd ? path_join(cwd, p) : xstrdup(p);
}

static void note_miss(Resolver *r, const char *dir)
{
	if (!strv_has(*r->miss_dirs, dir))
		*r->miss_dirs = strv_push(*r->miss_dirs, dir);
}

#if defined(__x86_64__) && defined(HAVE_SYS_PLATFORM_X86_H)
/* The levels as glibc's ld.so decides them (dl-hwcaps-subdirs.c), from
 * the CPU features it has already probed: no cpuid here. libgcc's
 * __builtin_cpu_supports would link a constructor that runs a dozen
 * cpuid instructions at every start, each a trap to the hypervisor in
 * a VM. */
/* glibc's own CPU_FEATURE_ACTIVE shifts a signed 1 by up to 31 bits,
 * which is undefined for bit 31 (AVX512VL); the same lookup, unsigned. */
static bool feature_active(unsigned idx)
{
	enum { BITS = 8 * sizeof(unsigned), LEAF = 4 * BITS };
	const struct cpuid_feature *f =
	        __x86_get_cpuid_feature_leaf(idx / LEAF);
	unsigned reg = (idx % LEAF) / BITS, bit = idx % BITS;
	return (f->active_array[reg] >> bit) & 1u;
}
#undef CPU_FEATURE_ACTIVE
#define CPU_FEATURE_ACTIVE(name) feature_active(x86_cpu_##name)

static int x86_64_level(void)
{
	if (!(CPU_FEATURE_ACTIVE(CMPXCHG16B) &&
	      CPU_FEATURE_ACTIVE(LAHF64_SAHF64) && CPU_FEATURE_ACTIVE(POPCNT) &&
	      CPU_FEATURE_ACTIVE(SSE3) && CPU_FEATURE_ACTIVE(SSE4_1) &&
	      CPU_FEATURE_ACTIVE(SSE4_2) && CPU_FEATURE_ACTIVE(SSSE3)))
		return 1;
	if (!(CPU_FEATURE_ACTIVE(AVX) && CPU_FEATURE_ACTIVE(AVX2) &&
	      CPU_FEATURE_ACTIVE(BMI1) && CPU_FEATURE_ACTIVE(BMI2) &&
	      CPU_FEATURE_ACTIVE(F16C) && CPU_FEATURE_ACTIVE(FMA) &&
	      CPU_FEATURE_ACTIVE(LZCNT) && CPU_FEATURE_ACTIVE(MOVBE) &&
	      CPU_FEATURE_ACTIVE(OSXSAVE)))
		return 2;
	if (!(CPU_FEATURE_ACTIVE(AVX512F) && CPU_FEATURE_ACTIVE(AVX512BW) &&
	      CPU_FEATURE_ACTIVE(AVX512CD) && CPU_FEATURE_ACTIVE(AVX512DQ) &&
	      CPU_FEATURE_ACTIVE(AVX512VL)))
		return 3;
	return 4;
}
#elif defined(__x86_64__)
static int x86_64_level(void)
{
	__builtin_cpu_init();
	return __builtin_cpu_supports("x86-64-v4")   ? 4
	       : __builtin_cpu_supports("x86-64-v3") ? 3
	       : __builtin_cpu_supports("x86-64-v2") ? 2
	                                             : 1;
}
#endif

/* The glibc-hwcaps subdirectories ld.so tries first in every directory,
 * best first, that this CPU can run. */
static const char *const *hwcaps_subdirs(void)
{
	static const char *dirs[4];
	static bool done;
	if (!done) {
		size_t n = 0;
#if defined(__x86_64__)
		int level = x86_64_level();
		if (level >= 4)
			dirs[n++] = "glibc-hwcaps/x86-64-v4";
		if (level >= 3)
			dirs[n++] = "glibc-hwcaps/x86-64-v3";
		if (level >= 2)
			dirs[n++] = "glibc-hwcaps/x86-64-v2";
#endif
		dirs[n] = NULL;
		done = true;
	}
	return dirs;
}

static bool try_file(const char *path, ElfInfo **ret)
{
	return elf_read(path, ret) == 0 && *ret;
}

static bool try_dir(Resolver *r, const char *dir, const char *name,
                    char **ret_path, ElfInfo **ret_elf)
{
	/* One stat saves the three hwcaps probes in directories without
	 * glibc-hwcaps, which is nearly all of them. */
	_cleanup_free_ char *hw = path_join(dir, "glibc-hwcaps");
	struct stat st;
	if (stat(hw, &st) == 0 && S_ISDIR(st.st_mode)) {
		for (const char *const *h = hwcaps_subdirs(); *h; h++) {
			_cleanup_free_ char *sub = path_join(dir, *h);
			_cleanup_free_ char *p = path_join(sub, name);
			if (try_file(p, ret_elf)) {
				*ret_path = TAKE_PTR(p);
				return true;
			}
			note_miss(r, sub);
		}
	}
	_cleanup_free_ char *p = path_join(dir, name);
	if (try_file(p, ret_elf)) {
		*ret_path = TAKE_PTR(p);
		return true;
	}
	note_miss(r, dir);
	return false;
}

static bool try_list(Resolver *r, const char *list, const char *seps,
                     const char *origin, const char *name, char **ret_path,
                     ElfInfo **ret_elf)
{
	_cleanup_free_ char *copy = xstrdup(list);
	for (char *tok = copy, *next; tok; tok = next) {
		next = tok + strcspn(tok, seps);
		if (*next)
			*next++ = 0;
		else
			next = NULL;
		_cleanup_free_ char *exp = expand_dst(tok, origin);
		if (!exp)
			continue;
		_cleanup_free_ char *dir = absolute(r->cwd, exp);
		if (try_dir(r, dir, name, ret_path, ret_elf))
			return true;
	}
	return false;
}

/* ld.so's search for one DT_NEEDED name of objs[loader] (_dl_map_object):
 * DT_RPATH of the loader and of its loaders up to the executable, unless
 * the loader has DT_RUNPATH; LD_LIBRARY_PATH; the loader's DT_RUNPATH;
 * /etc/ld.so.cache; the default directories unless -z nodeflib. A name
 * with a slash is a path. A library that is not found is left out. */
static void load_name(Resolver *r, size_t loader, const char *name)
{
	if (!*name || strv_has(r->names, name))
		return;
	const Obj *l = &r->objs[loader];
	_cleanup_free_ char *path = NULL;
	_cleanup_(elf_info_freep) ElfInfo *e = NULL;
	bool found = false;
	if (strchr(name, '/')) {
		_cleanup_free_ char *exp = expand_dst(name, l->origin);
		if (exp) {
			path = absolute(r->cwd, exp);
			found = try_file(path, &e);
		}
	} else {
		if (!l->elf->runpath)
			for (ssize_t k = (ssize_t)loader; !found && k >= 0;
			     k = r->objs[k].loader) {
				const Obj *o = &r->objs[k];
				if (o->elf->rpath)
					found = try_list(r, o->elf->rpath, ":",
					                 o->origin, name, &path,
					                 &e);
			}
		if (!found && r->llp)
			found = try_list(r, r->llp, ":;", r->objs[0].origin,
			                 name, &path, &e);
		if (!found && l->elf->runpath)
			found = try_list(r, l->elf->runpath, ":", l->origin,
			                 name, &path, &e);
		if (!found) {
			if (!*r->ldcache_loaded) {
				ldcache_load(r->ldcache);
				*r->ldcache_loaded = true;
			}
			const char *p = ldcache_lookup(r->ldcache, name);
			if (p && try_file(p, &e)) {
				path = xstrdup(p);
				found = true;
			}
		}
		for (size_t i = 0; !found && !l->elf->nodeflib &&
		                   i < ELEMENTSOF(default_dirs);
		     i++)
			found = try_dir(r, default_dirs[i], name, &path, &e);
	}
	if (!found)
		return;
	/* The same file under another name is the same object to ld.so */
	for (size_t i = 0; i < r->n; i++)
		if (r->objs[i].elf->dev == e->dev &&
		    r->objs[i].elf->ino == e->ino) {
			r->names = strv_push(r->names, name);
			return;
		}
	char *origin = dirname_of(path);
	resolver_add(r, TAKE_PTR(path), name, origin, TAKE_PTR(e),
	             (ssize_t)loader);
}

/* Breadth first from the executable, like _dl_map_object_deps: its
 * PT_INTERP first (ld.so is loaded before anything and satisfies the
 * DT_NEEDED on ld-linux-x86-64.so.2 of libc), then LD_PRELOAD, then
 * each object's DT_NEEDED in order. -ENOEXEC when exe is no ELF
 * executable of this machine. */
static int resolve(Resolver *r, const char *exe)
{
	ElfInfo *e;
	int k = elf_read(exe, &e);
	if (k < 0)
		return k;
	/* The executable's $ORIGIN comes from /proc/self/exe: resolved */
	_cleanup_free_ char *real = realpath(exe, NULL);
	resolver_add(r, xstrdup(exe), NULL, dirname_of(real ? real : exe), e,
	             -1);
	if (e->interp) {
		ElfInfo *ie;
		if (try_file(e->interp, &ie)) {
			resolver_add(r, xstrdup(e->interp),
			             ie->soname ? NULL : basename_of(e->interp),
			             dirname_of(e->interp), ie, 0);
			r->names = strv_push(r->names, e->interp);
		}
	}
	if (r->preload) {
		_cleanup_free_ char *copy = xstrdup(r->preload);
		for (char *tok = copy, *next; tok; tok = next) {
			next = tok + strcspn(tok, " :");
			if (*next)
				*next++ = 0;
			else
				next = NULL;
			load_name(r, 0, tok);
		}
	}
	for (size_t i = 0; i < r->n; i++) {
		char **needed = r->objs[i].elf->needed;
		for (size_t j = 0; needed && needed[j]; j++)
			load_name(r, i, needed[j]);
	}
	return 0;
}

/* ---- libraries ---- */

typedef struct Lib {
	char *path;
	char *soname;
	Key key;
	char *sha256;
	char *package; /* NULL: no package owns it */
	char *version;
	bool have_package; /* package looked up (for the current dpkg) */
} Lib;

typedef struct LibList {
	Lib *v;
	size_t n, cap;
} LibList;

static void lib_list_done(LibList *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free(l->v[i].path);
		free(l->v[i].soname);
		free(l->v[i].sha256);
		free(l->v[i].package);
		free(l->v[i].version);
	}
	free(l->v);
	*l = (LibList){0};
}

static Lib *lib_list_add(LibList *l, const char *path, const char *soname)
{
	for (size_t i = 0; i < l->n; i++)
		if (streq(l->v[i].path, path))
			return NULL;
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 16;
		l->v = xrealloc(l->v, l->cap * sizeof *l->v);
	}
	Lib *lib = &l->v[l->n++];
	*lib = (Lib){.path = xstrdup(path), .soname = xstrdup(soname)};
	return lib;
}

static int lib_cmp(const void *a, const void *b)
{
	return strcmp(((const Lib *)a)->path, ((const Lib *)b)->path);
}

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

static int str_ptr_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
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

typedef struct DpkgIndex {
	char *data;
	char **lines;
	size_t n;
} DpkgIndex;

static DpkgIndex *dpkg_index_free(DpkgIndex *x)
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

/* ---- the capture ---- */

typedef struct Ctx {
	const SoftwareQuery *q;
	char *const *envp;
	const char *cache_dir; /* NULL: no caching */
	char *dpkg_key;        /* status file + info directory */
	bool have_dpkg;
	DpkgIndex *dpkg;
	bool dpkg_tried;
	json_t *shared; /* software-libs-v1.json, loaded on a miss */
	bool shared_tried, shared_dirty;
} Ctx;

static void ctx_done(Ctx *c)
{
	free(c->dpkg_key);
	dpkg_index_free(c->dpkg);
	json_decref(c->shared);
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
static void package_of(Ctx *c, const char *path, char **ret_pkg,
                       char **ret_version)
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

static json_t *ctx_shared(Ctx *c)
{
	if (c->shared_tried)
		return c->shared;
	c->shared_tried = true;
	json_t *j = c->cache_dir ? cache_load(c->cache_dir, SOFTWARE_LIBS_CACHE)
	                         : NULL;
	if (!j || !json_is_object(json_object_get(j, "libs")) ||
	    json_object_size(json_object_get(j, "libs")) > 8192) {
		json_decref(j);
		j = json_pack("{s:s,s:{}}", "dpkg", c->dpkg_key, "libs");
	}
	if (!str_matches(c->dpkg_key, json_object_get(j, "dpkg"))) {
		/* packages known for another dpkg state are unknown now */
		const char *path;
		json_t *e;
		json_object_foreach (json_object_get(j, "libs"), path, e) {
			json_object_del(e, "package");
			json_object_del(e, "package_version");
		}
		json_object_set_new(j, "dpkg", json_string(c->dpkg_key));
		c->shared_dirty = true;
	}
	c->shared = j;
	return j;
}

/* Fill in a library's sha256 and package: from the query's cache (e, a
 * library of the cached section, and ekey, its stat key; its package
 * only when pkg_valid) if the stat key still holds, else from the shared
 * cache, else by hashing the file and asking dpkg. */
static int lib_fill(Ctx *c, Lib *lib, const json_t *e, const json_t *ekey,
                    bool pkg_valid)
{
	const char *sha = json_get_string(e, "sha256");
	if (sha && key_matches(&lib->key, ekey)) {
		lib->sha256 = xstrdup(sha);
		json_t *p = json_object_get(e, "package");
		if (pkg_valid && p) {
			lib->package = xstrdup_or_null(json_string_value(p));
			lib->version = xstrdup_or_null(
			        json_get_string(e, "package_version"));
			lib->have_package = true;
		}
	}
	json_t *shared = NULL;
	if (!lib->sha256) {
		shared = json_object_get(ctx_shared(c), "libs");
		json_t *s = json_object_get(shared, lib->path);
		sha = json_get_string(s, "sha256");
		if (sha && key_matches(&lib->key, json_object_get(s, "key"))) {
			lib->sha256 = xstrdup(sha);
			json_t *p = json_object_get(s, "package");
			if (p) {
				lib->package =
				        xstrdup_or_null(json_string_value(p));
				lib->version = xstrdup_or_null(
				        json_get_string(s, "package_version"));
				lib->have_package = true;
			}
		}
	}
	if (!lib->sha256) {
		/* hash what we stat: the key then describes these bytes */
		_cleanup_close_ int fd =
		        open(lib->path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
		struct stat st;
		if (fd < 0)
			return negative_errno();
		if (fstat(fd, &st) < 0)
			return negative_errno();
		key_from_stat(&st, &lib->key);
		int r = sha256_fd(fd, &lib->sha256, NULL);
		if (r < 0)
			return r;
	}
	if (!lib->have_package) {
		package_of(c, lib->path, &lib->package, &lib->version);
		lib->have_package = true;
	}
	if (!shared)
		return 0;
	json_t *s = json_pack(
	        "{s:s,s:s,s:o,s:o}", "key", lib->key.s, "sha256", lib->sha256,
	        "package", json_string_or_null(lib->package), "package_version",
	        json_string_or_null(lib->version));
	if (!json_equal(s, json_object_get(shared, lib->path))) {
		json_object_set_new(shared, lib->path, s);
		c->shared_dirty = true;
	} else
		json_decref(s);
	return 0;
}

static const json_t *cached_lib(const json_t *cached, const char *path)
{
	const json_t *libs = json_object_get(json_object_get(cached, "section"),
	                                     "libraries");
	size_t i;
	json_t *v;
	json_array_foreach (libs, i, v)
		if (streq_ptr(json_get_string(v, "path"), path))
			return v;
	return NULL;
}

/* Whether the query's cached libraries still hold: the executable and
 * interpreter, ld.so.cache, each library, and each directory the search
 * went through in vain all have the stat keys they had. */
static bool libs_cache_valid(const json_t *cached, const Key *exe,
                             const Key *interp, const Key *ldcache)
{
	if (!cached || !key_matches(exe, json_object_get(cached, "exe")) ||
	    !key_matches(interp, json_object_get(cached, "interp")) ||
	    !key_matches(ldcache, json_object_get(cached, "ldcache")))
		return false;
	const json_t *dirs = json_object_get(cached, "dirs");
	const json_t *keys = json_object_get(cached, "lib_keys");
	const json_t *libs = json_object_get(json_object_get(cached, "section"),
	                                     "libraries");
	if (!json_is_object(dirs) || !json_is_object(keys) ||
	    !json_is_array(libs) ||
	    json_array_size(libs) != json_object_size(keys))
		return false;
	const char *path;
	json_t *v;
	json_object_foreach ((json_t *)dirs, path, v) {
		Key k;
		key_of(path, &k);
		if (!key_matches(&k, v))
			return false;
	}
	json_object_foreach ((json_t *)keys, path, v) {
		Key k;
		key_of(path, &k);
		if (!key_matches(&k, v))
			return false;
	}
	return true;
}

/* The cached libraries, with packages looked up again if dpkg changed. */
static bool libs_from_cache(Ctx *c, const json_t *cached, LibList *out)
{
	const json_t *keys = json_object_get(cached, "lib_keys");
	const json_t *libs = json_object_get(json_object_get(cached, "section"),
	                                     "libraries");
	bool pkg_valid =
	        str_matches(c->dpkg_key, json_object_get(cached, "dpkg"));
	size_t i;
	json_t *v;
	json_array_foreach (libs, i, v) {
		const char *path = json_get_string(v, "path");
		const char *soname = json_get_string(v, "soname");
		const char *key = json_get_string(keys, path ? path : "");
		if (!path || !soname || !key)
			goto fail;
		Lib *lib = lib_list_add(out, path, soname);
		if (!lib)
			goto fail;
		snprintf(lib->key.s, sizeof lib->key.s, "%s", key);
		if (lib_fill(c, lib, v, json_object_get(keys, path),
		             pkg_valid) < 0)
			goto fail;
	}
	return true;
fail:
	lib_list_done(out);
	return false;
}

static void libs_resolve(Ctx *c, const json_t *cached, char ***miss_dirs,
                         LibList *out)
{
	const SoftwareQuery *q = c->q;
	LdCache ldcache = {0};
	bool ldcache_loaded = false;
	const char *mains[] = {q->executable, q->interpreter};
	for (size_t m = 0; m < ELEMENTSOF(mains); m++) {
		if (!mains[m])
			continue;
		Resolver r = {
		        .cwd = q->cwd,
		        .llp = strv_env_get(c->envp, "LD_LIBRARY_PATH"),
		        .preload = strv_env_get(c->envp, "LD_PRELOAD"),
		        .ldcache = &ldcache,
		        .ldcache_loaded = &ldcache_loaded,
		        .miss_dirs = miss_dirs,
		};
		/* not ELF (a script): only its interpreter loads libraries */
		if (resolve(&r, mains[m]) == 0)
			for (size_t i = 1; i < r.n; i++) {
				const Obj *o = &r.objs[i];
				lib_list_add(out, o->path,
				             o->elf->soname ? o->elf->soname
				                            : o->name);
			}
		resolver_done(&r);
	}
	free(ldcache.data);

	/* reuse what the query's old entry knew about unchanged files */
	const json_t *keys = json_object_get(cached, "lib_keys");
	bool pkg_valid =
	        str_matches(c->dpkg_key, json_object_get(cached, "dpkg"));
	size_t keep = 0;
	for (size_t i = 0; i < out->n; i++) {
		Lib *lib = &out->v[i];
		key_of(lib->path, &lib->key);
		if (lib_fill(c, lib, cached_lib(cached, lib->path),
		             json_object_get(keys, lib->path), pkg_valid) < 0) {
			/* vanished since the search: as if not found */
			free(lib->path);
			free(lib->soname);
			free(lib->sha256);
			free(lib->package);
			free(lib->version);
			continue;
		}
		out->v[keep++] = *lib;
	}
	out->n = keep;
}

static json_t *libs_keys_json(const LibList *libs)
{
	json_t *o = json_object();
	for (size_t i = 0; i < libs->n; i++)
		json_object_set_new(o, libs->v[i].path,
		                    json_string(libs->v[i].key.s));
	return o;
}

/* libraries_sha256 = sha256 of the concatenation, over the libraries
 * sorted by path (strcmp), of path "\0" sha256 "\n", where sha256 is
 * the "sha256:<hex>" string: the set of files, independent of order. */
static json_t *libs_section(LibList *libs, char **ret_digest)
{
	if (libs->n > 1)
		qsort(libs->v, libs->n, sizeof *libs->v, lib_cmp);
	_cleanup_hasher_ Hasher *h = hasher_new();
	json_t *a = json_array();
	for (size_t i = 0; i < libs->n; i++) {
		const Lib *l = &libs->v[i];
		hasher_update(h, l->path, strlen(l->path) + 1);
		hasher_update(h, l->sha256, strlen(l->sha256));
		hasher_update(h, "\n", 1);
		json_array_append_new(
		        a, json_pack("{s:o,s:o,s:s,s:o,s:o}", "path",
		                     json_bstr(l->path), "soname",
		                     json_bstr(l->soname), "sha256", l->sha256,
		                     "package", json_string_or_null(l->package),
		                     "package_version",
		                     json_string_or_null(l->version)));
	}
	*ret_digest = hasher_finish(TAKE_PTR(h));
	return a;
}

/* ---- Python ---- */

/* sys.path[0] is the script's directory ('' with -c): it depends on the
 * script, not on the installation, so it is left out unless safe_path
 * kept Python from adding it. The user site directory is reported so
 * that creating it, which puts it on sys.path, invalidates the cache. */
static const char python_code[] =
        "import json, sys\n"
        "try:\n"
        "    import site\n"
        "    u = site.getusersitepackages() if site.ENABLE_USER_SITE else "
        "None\n"
        "except Exception:\n"
        "    u = None\n"
        "p = sys.path if getattr(sys.flags, 'safe_path', 0) else sys.path[1:]\n"
        "json.dump({'executable': sys.executable, 'version': sys.version,\n"
        "           'path': p, 'user_site': u}, sys.stdout)\n";

/* The variables that change what Python puts on sys.path. */
static const char *const python_vars[] = {
        "PYTHONPATH",     "PYTHONHOME",     "PYTHONNOUSERSITE",
        "PYTHONUSERBASE", "PYTHONSAFEPATH", "PYTHONPLATLIBDIR",
        "VIRTUAL_ENV",    "HOME",
};

static int run_python(const char *interp, char *const *envp, json_t **ret)
{
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0)
		return negative_errno();
	_cleanup_close_ int rd = p[0];
	_cleanup_close_ int wr = p[1];

	char *argv[] = {(char *)interp, (char *)"-c", (char *)python_code,
	                NULL};
	SpawnSpec s = {.path = interp,
	               .argv = argv,
	               .envp = envp ? envp : environ,
	               .stdin_fd = SPAWN_NULL,
	               .stdout_fd = wr,
	               .stderr_fd = SPAWN_NULL};
	pid_t pid;
	int k = -spawn_process(&s, &pid);
	close(TAKE_FD(wr));
	if (k != 0)
		return -k;

	/* A sitecustomize that hangs must not hang the launch */
	int64_t deadline = monotonic_ns() + PYTHON_TIMEOUT_NS;
	_cleanup_free_ char *buf = xmalloc(MAX_PYTHON_OUTPUT + 1);
	size_t len = 0;
	int r = 0;
	for (;;) {
		int64_t left = deadline - monotonic_ns();
		if (left <= 0) {
			r = -ETIMEDOUT;
			break;
		}
		struct pollfd pfd = {.fd = rd, .events = POLLIN};
		int n = poll(&pfd, 1, (int)(left / 1000000) + 1);
		if (n < 0 && errno != EINTR) {
			r = negative_errno();
			break;
		}
		if (n <= 0)
			continue;
		if (len == MAX_PYTHON_OUTPUT) {
			r = -EFBIG;
			break;
		}
		ssize_t got = read(rd, buf + len, MAX_PYTHON_OUTPUT - len);
		if (got < 0 && errno != EINTR && errno != EAGAIN) {
			r = negative_errno();
			break;
		}
		if (got == 0)
			break;
		if (got > 0)
			len += (size_t)got;
	}
	if (r < 0)
		kill(pid, SIGKILL);
	int status;
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return r < 0 ? r : negative_errno();
	if (r < 0)
		return r;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		return -ENOEXEC;
	json_t *j = json_loadb(buf, len, 0, NULL);
	if (!json_is_object(j) || !json_is_array(json_object_get(j, "path"))) {
		json_decref(j);
		return -EBADMSG;
	}
	*ret = j;
	return 0;
}

typedef struct Dist {
	char *name, *version;
	size_t order;
} Dist;

static int dist_cmp(const void *a, const void *b)
{
	const Dist *x = a, *y = b;
	int k = strcmp(x->name, y->name);
	if (k)
		return k;
	return x->order < y->order ? -1 : x->order > y->order;
}

static char *header_value(const char *line, const char *name)
{
	size_t n = strlen(name);
	if (!strneq(line, name, n))
		return NULL;
	line += n;
	while (*line == ' ' || *line == '\t')
		line++;
	size_t len = strlen(line);
	while (len && (line[len - 1] == ' ' || line[len - 1] == '\r'))
		len--;
	return xstrndup(line, len);
}

/* Name: and Version: from the RFC 822 headers of METADATA or PKG-INFO;
 * they come first, so the first 16 KiB do. */
static void read_metadata(int dirfd_, const char *path, char **name,
                          char **version)
{
	_cleanup_close_ int fd =
	        openat(dirfd_, path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return;
	char buf[16385];
	size_t len = 0;
	while (len < sizeof buf - 1) {
		ssize_t k = read(fd, buf + len, sizeof buf - 1 - len);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			break;
		len += (size_t)k;
	}
	buf[len] = 0;
	for (char *line = buf, *next; line && *line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = 0;
		if (!*line || streq(line, "\r"))
			break;
		if (!*name)
			*name = header_value(line, "Name:");
		if (!*version)
			*version = header_value(line, "Version:");
	}
}

/* "numpy-1.24.2.dist-info", "foo-1.0-py3.11.egg-info" */
static void parse_dist_dirname(const char *entry, char **name, char **version)
{
	const char *dot = strrchr(entry, '.');
	const char *dash = strchr(entry, '-');
	if (!*name)
		*name = xstrndup(
		        entry,
		        (size_t)((dash && dash < dot ? dash : dot) - entry));
	if (!*version && dash && dash < dot) {
		const char *end = strchr(dash + 1, '-');
		if (!end || end > dot)
			end = dot;
		*version = xstrndup(dash + 1, (size_t)(end - dash - 1));
	}
}

static void scan_dists(const char *dir, Dist **v, size_t *n, size_t *cap)
{
	_cleanup_(closedirp) DIR *d = opendir(dir);
	if (!d)
		return;
	char **entries = NULL;
	size_t ne = 0, ce = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (!endswith(de->d_name, ".dist-info") &&
		    !endswith(de->d_name, ".egg-info"))
			continue;
		if (ne == ce) {
			ce = ce ? ce * 2 : 64;
			entries = xrealloc(entries, ce * sizeof *entries);
		}
		entries[ne++] = xstrdup(de->d_name);
	}
	/* readdir order is arbitrary; make ties within a directory stable */
	if (ne)
		qsort(entries, ne, sizeof *entries, str_ptr_cmp);
	for (size_t i = 0; i < ne; i++) {
		char *name = NULL, *version = NULL;
		struct stat st;
		if (fstatat(dirfd(d), entries[i], &st, 0) == 0) {
			_cleanup_free_ char *meta = NULL;
			if (!S_ISDIR(st.st_mode))
				meta = xstrdup(entries[i]); /* egg-info file */
			else
				meta = path_join(
				        entries[i],
				        endswith(entries[i], ".dist-info")
				                ? "METADATA"
				                : "PKG-INFO");
			read_metadata(dirfd(d), meta, &name, &version);
		}
		parse_dist_dirname(entries[i], &name, &version);
		if (*n == *cap) {
			*cap = *cap ? *cap * 2 : 128;
			*v = xrealloc(*v, *cap * sizeof **v);
		}
		(*v)[*n] = (Dist){.name = name,
		                  .version = version ? version : xstrdup(""),
		                  .order = *n};
		(*n)++;
		free(entries[i]);
	}
	free(entries);
}

/* distributions_sha256 = sha256 of the concatenation of
 * name "==" version "\n" over the distributions sorted by name. */
static json_t *python_section(const json_t *info, const char *interp)
{
	const json_t *path = json_object_get(info, "path");
	Dist *v = NULL;
	size_t n = 0, cap = 0, i;
	json_t *p;
	json_t *paths = json_array();
	json_array_foreach (path, i, p) {
		if (!json_is_string(p))
			continue;
		json_array_append(paths, p);
		scan_dists(json_string_value(p), &v, &n, &cap);
	}
	/* first on sys.path wins, as importlib.metadata finds it */
	if (n)
		qsort(v, n, sizeof *v, dist_cmp);
	_cleanup_hasher_ Hasher *h = hasher_new();
	json_t *dists = json_array();
	for (i = 0; i < n; i++) {
		if (i == 0 || !streq(v[i].name, v[i - 1].name)) {
			json_array_append_new(
			        dists,
			        json_pack("{s:o,s:o}", "name",
			                  json_bstr(v[i].name), "version",
			                  json_bstr(v[i].version)));
			hasher_update(h, v[i].name, strlen(v[i].name));
			hasher_update(h, "==", 2);
			hasher_update(h, v[i].version, strlen(v[i].version));
			hasher_update(h, "\n", 1);
		}
	}
	for (i = 0; i < n; i++) {
		free(v[i].name);
		free(v[i].version);
	}
	free(v);
	_cleanup_free_ char *digest = hasher_finish(TAKE_PTR(h));
	const char *exe = json_get_string(info, "executable");
	return json_pack("{s:o,s:o,s:o,s:o,s:s}", "executable",
	                 json_bstr(exe && *exe ? exe : interp), "version",
	                 json_string_or_null(json_get_string(info, "version")),
	                 "paths", paths, "distributions", dists,
	                 "distributions_sha256", digest);
}

/* Every sys.path entry and the user site directory, by stat key: a pip
 * install or uninstall changes its directory's mtime. */
static json_t *python_dirs(const json_t *info)
{
	json_t *dirs = json_object();
	const json_t *path = json_object_get(info, "path");
	size_t i;
	json_t *p;
	json_array_foreach (path, i, p) {
		if (!json_is_string(p))
			continue;
		Key k;
		key_of(json_string_value(p), &k);
		json_object_set_new(dirs, json_string_value(p),
		                    json_string(k.s));
	}
	const char *u = json_get_string(info, "user_site");
	if (u) {
		Key k;
		key_of(u, &k);
		json_object_set_new(dirs, u, json_string(k.s));
	}
	return dirs;
}

static bool python_cache_valid(const json_t *cached, const Key *interp)
{
	const json_t *cp = json_object_get(cached, "python");
	const json_t *dirs = json_object_get(cp, "dirs");
	const json_t *sec =
	        json_object_get(json_object_get(cached, "section"), "python");
	if (!json_is_object(dirs) ||
	    !key_matches(interp, json_object_get(cp, "interp")) ||
	    !(json_is_object(sec) || json_is_null(sec)))
		return false;
	const char *dir;
	json_t *v;
	json_object_foreach ((json_t *)dirs, dir, v) {
		Key k;
		key_of(dir, &k);
		if (!key_matches(&k, v))
			return false;
	}
	return true;
}

static json_t *capture_python(Ctx *c, const json_t *cached, const Key *ik,
                              json_t *cache_out)
{
	const SoftwareQuery *q = c->q;
	const char *interp = q->interpreter ? q->interpreter : q->executable;
	if (python_cache_valid(cached, ik)) {
		json_object_set(cache_out, "python",
		                json_object_get(cached, "python"));
		return json_incref(json_object_get(
		        json_object_get(cached, "section"), "python"));
	}
	json_auto_t *info = NULL;
	int r = run_python(interp, c->envp, &info);
	if (r == -ETIMEDOUT)
		return json_null(); /* not cached: may be quicker next time */
	if (r < 0) {
		/* Not a Python that runs: cached, or every launch would pay
		 * for trying, until the interpreter changes */
		json_object_set_new(
		        cache_out, "python",
		        json_pack("{s:s,s:{}}", "interp", ik->s, "dirs"));
		return json_null();
	}
	json_object_set_new(cache_out, "python",
	                    json_pack("{s:s,s:o}", "interp", ik->s, "dirs",
	                              python_dirs(info)));
	return python_section(info, interp);
}

/* ---- BLAS and LAPACK ---- */

char *software_blas_implementation(const char *path)
{
	_cleanup_free_ char *dir = dirname_of(path);
	const char *d = basename_of(dir);
	if (streq(d, "blas") || streq(d, "lapack"))
		return xstrdup("reference");
	if (!streq(d, MULTIARCH) && !streq(d, "lib") && !streq(d, "lib64") &&
	    *d && !streq(d, "/"))
		return xstrdup(d); /* openblas-pthread, blis-openmp, atlas… */
	const char *f = basename_of(path);
	if (startswith(f, "lib"))
		f += 3;
	return xstrndup(f, strcspn(f, "."));
}

/* Debian selects BLAS and LAPACK through the alternatives
 * /etc/alternatives/libblas.so.3-<triplet>, which
 * /usr/lib/<triplet>/libblas.so.3 points to. "alternative" is the
 * alternative's link target, "path" the file it all ends in. realpath()
 * costs a readlink per path component, so the cache keeps it, valid
 * while both links read the same and the file they end in has the same
 * stat key. */
typedef struct Alt {
	const char *lib;     /* "libblas" */
	const char *section; /* "blas" */
	char *alt_link, *ma_link;
	char *alt, *link; /* what the two links say */
	Key key;          /* of the file they end in */
	bool exists;
} Alt;

static void alt_init(Alt *a, const char *lib, const char *section)
{
	*a = (Alt){.lib = lib, .section = section};
	a->alt_link = xasprintf("/etc/alternatives/%s.so.3-" MULTIARCH, lib);
	a->ma_link = xasprintf("/usr/lib/" MULTIARCH "/%s.so.3", lib);
	a->alt = readlink_malloc(a->alt_link);
	a->link = readlink_malloc(a->ma_link);
	key_of(a->ma_link, &a->key);
	if (streq(a->key.s, "-"))
		key_of(a->alt_link, &a->key);
	a->exists = !streq(a->key.s, "-");
}

static void alt_done(Alt *a)
{
	free(a->alt_link);
	free(a->ma_link);
	free(a->alt);
	free(a->link);
}

static bool str_or_null_matches(const char *s, const json_t *j)
{
	return s ? str_matches(s, j) : json_is_null(j);
}

static bool alt_cache_valid(const json_t *cached, const Alt *a)
{
	const json_t *e =
	        json_object_get(json_object_get(cached, "alts"), a->lib);
	const json_t *sec =
	        json_object_get(json_object_get(cached, "section"), a->section);
	if (!a->exists)
		return json_is_null(e) && json_is_null(sec);
	return json_is_object(e) && json_is_object(sec) &&
	       json_get_string(sec, "path") &&
	       key_matches(&a->key, json_object_get(e, "key")) &&
	       str_or_null_matches(a->alt, json_object_get(e, "alternative")) &&
	       str_or_null_matches(a->link, json_object_get(e, "link"));
}

static json_t *capture_alternative(Ctx *c, const Alt *a, const json_t *cached,
                                   json_t *cache_out)
{
	json_t *alts = json_object_get(cache_out, "alts");
	if (!a->exists) {
		json_object_set_new(alts, a->lib, json_null());
		return json_null();
	}
	const json_t *sec =
	        json_object_get(json_object_get(cached, "section"), a->section);
	_cleanup_free_ char *real = NULL;
	json_t *pkg = NULL, *ver = NULL;
	if (alt_cache_valid(cached, a)) {
		real = xstrdup(json_get_string(sec, "path"));
		if (str_matches(c->dpkg_key, json_object_get(cached, "dpkg")) &&
		    json_object_get(sec, "package") &&
		    json_object_get(sec, "package_version")) {
			pkg = json_incref(json_object_get(sec, "package"));
			ver = json_incref(
			        json_object_get(sec, "package_version"));
		}
	} else {
		real = realpath(a->ma_link, NULL);
		if (!real)
			real = realpath(a->alt_link, NULL);
		if (!real) {
			json_object_set_new(alts, a->lib, json_null());
			return json_null();
		}
	}
	if (!pkg) {
		_cleanup_free_ char *p = NULL, *v = NULL;
		package_of(c, a->alt ? a->alt : real, &p, &v);
		if (!p)
			package_of(c, real, &p, &v);
		pkg = json_string_or_null(p);
		ver = json_string_or_null(v);
	}
	_cleanup_free_ char *impl =
	        software_blas_implementation(a->alt ? a->alt : real);
	json_object_set_new(alts, a->lib,
	                    json_pack("{s:o,s:o,s:s}", "alternative",
	                              json_string_or_null(a->alt), "link",
	                              json_string_or_null(a->link), "key",
	                              a->key.s));
	return json_pack("{s:o,s:o,s:s,s:o,s:o}", "alternative",
	                 json_string_or_null(a->alt), "path", json_bstr(real),
	                 "implementation", impl, "package", pkg,
	                 "package_version", ver);
}

/* ---- entry point ---- */

/* Everything the answer depends on that a stat cannot see. */
static char *query_string(const SoftwareQuery *q, char *const *envp)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	if (!f)
		abort();
	fprintf(f, "exe=%s\n", q->executable);
	fprintf(f, "interpreter=%s\n", q->interpreter ? q->interpreter : "");
	fprintf(f, "cwd=%s\n", q->cwd ? q->cwd : "");
	fprintf(f, "python=%d\n", q->python);
	const char *vars[ELEMENTSOF(python_vars) + 2] = {"LD_LIBRARY_PATH",
	                                                 "LD_PRELOAD"};
	size_t nv = 2;
	if (q->python)
		for (size_t i = 0; i < ELEMENTSOF(python_vars); i++)
			vars[nv++] = python_vars[i];
	for (size_t i = 0; i < nv; i++) {
		const char *v = strv_env_get(envp, vars[i]);
		if (v)
			fprintf(f, "%s=%s\n", vars[i], v);
		else
			fprintf(f, "%s unset\n", vars[i]);
	}
	fclose(f);
	return buf;
}

static void dpkg_state(Ctx *c)
{
	Key s, i;
	key_of(DPKG_STATUS, &s);
	key_of(DPKG_INFO, &i);
	c->have_dpkg = !streq(s.s, "-") && !streq(i.s, "-");
	c->dpkg_key = xasprintf("%s|%s", s.s, i.s);
}

/* The cached section as it is, if nothing it was made from changed:
 * a warm capture is this and nothing else, about 15 stat and readlink
 * calls and the parse of one small file. */
static json_t *cache_hit(Ctx *c, const json_t *cached, const Key *exe,
                         const Key *interp, const Key *ldcache,
                         const Key *python, const Alt *alts, size_t nalts)
{
	const json_t *sec = json_object_get(cached, "section");
	if (!json_is_string(json_object_get(sec, "sha256")) ||
	    !str_matches(c->dpkg_key, json_object_get(cached, "dpkg")) ||
	    !libs_cache_valid(cached, exe, interp, ldcache))
		return NULL;
	if (c->q->python ? !python_cache_valid(cached, python)
	                 : !json_is_null(json_object_get(sec, "python")))
		return NULL;
	for (size_t i = 0; i < nalts; i++)
		if (!alt_cache_valid(cached, &alts[i]))
			return NULL;
	return json_incref((json_t *)sec);
}

int capture_software(const SoftwareQuery *q, json_t **ret)
{
	if (!q || !q->executable)
		return -EINVAL;
	Ctx c = {.q = q,
	         .envp = q->envp ? q->envp : environ,
	         .cache_dir = q->cache_dir};
	dpkg_state(&c);

	_cleanup_free_ char *query = query_string(q, c.envp);
	if (!utf8_valid(query, strlen(query)))
		c.cache_dir = NULL; /* JSON cannot hold the key */
	_cleanup_free_ char *name = xasprintf(
	        SOFTWARE_CACHE_PREFIX "%016" PRIx64 ".json", fnv1a(query));
	json_auto_t *cached =
	        c.cache_dir ? cache_load(c.cache_dir, name) : NULL;
	if (cached && !streq_ptr(json_get_string(cached, "query"), query)) {
		json_decref(cached);
		cached = NULL;
	}

	Key exe, interp, ldcache, python = {""};
	key_of(q->executable, &exe);
	if (q->interpreter)
		key_of(q->interpreter, &interp);
	else
		snprintf(interp.s, sizeof interp.s, "none");
	key_of(LDSO_CACHE, &ldcache);
	if (q->python)
		python = q->interpreter ? interp : exe;
	Alt alts[2];
	alt_init(&alts[0], "libblas", "blas");
	alt_init(&alts[1], "liblapack", "lapack");

	json_t *hit = cache_hit(&c, cached, &exe, &interp, &ldcache, &python,
	                        alts, ELEMENTSOF(alts));
	if (hit) {
		for (size_t i = 0; i < ELEMENTSOF(alts); i++)
			alt_done(&alts[i]);
		ctx_done(&c);
		*ret = hit;
		return 0;
	}

	LibList libs = {0};
	_cleanup_strv_free_ char **miss_dirs = NULL;
	json_auto_t *dirs = NULL;
	if (libs_cache_valid(cached, &exe, &interp, &ldcache) &&
	    libs_from_cache(&c, cached, &libs)) {
		dirs = json_incref(json_object_get(cached, "dirs"));
	} else {
		libs_resolve(&c, cached, &miss_dirs, &libs);
		dirs = json_object();
		for (char **d = miss_dirs; d && *d; d++) {
			Key k;
			key_of(*d, &k);
			json_object_set_new(dirs, *d, json_string(k.s));
		}
	}

	json_auto_t *cache_out =
	        json_pack("{s:s,s:s,s:s,s:s,s:s,s:O,s:o,s:{}}", "query", query,
	                  "exe", exe.s, "interp", interp.s, "ldcache",
	                  ldcache.s, "dpkg", c.dpkg_key, "dirs", dirs,
	                  "lib_keys", libs_keys_json(&libs), "alts");

	_cleanup_free_ char *libs_digest = NULL;
	json_auto_t *sw = json_object();
	json_object_set_new(sw, "libraries", libs_section(&libs, &libs_digest));
	json_object_set_new(sw, "libraries_sha256", json_string(libs_digest));
	lib_list_done(&libs);
	json_object_set_new(
	        sw, "python",
	        q->python ? capture_python(&c, cached, &python, cache_out)
	                  : json_null());
	for (size_t i = 0; i < ELEMENTSOF(alts); i++) {
		json_object_set_new(
		        sw, alts[i].section,
		        capture_alternative(&c, &alts[i], cached, cache_out));
		alt_done(&alts[i]);
	}

	_cleanup_free_ char *dump =
	        json_dumps(sw, JSON_SORT_KEYS | JSON_COMPACT);
	if (!dump) {
		ctx_done(&c);
		return -ENOMEM;
	}
	_cleanup_free_ char *digest = sha256_mem(dump, strlen(dump));
	json_object_set_new(sw, "sha256", json_string(digest));

	if (c.cache_dir && cache_out) {
		/* Failing to write a cache only costs time next run */
		json_object_set(cache_out, "section", sw);
		if (!json_equal(cached, cache_out))
			(void)cache_write_json(c.cache_dir, name, cache_out);
	}
	if (c.cache_dir && c.shared && c.shared_dirty)
		(void)cache_write_json(c.cache_dir, SOFTWARE_LIBS_CACHE,
		                       c.shared);
	ctx_done(&c);
	*ret = TAKE_PTR(sw);
	return 0;
}
