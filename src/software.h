/* Inside the software capture (capture_software() in capture.h): what
 * its parts share. One part a file:
 *
 *   capture-software.c  the libraries section, the caches of a query, the
 *                       entry point
 *   software-common.c   stat keys and the cache files
 *   software-elf.c      what ld.so reads of an ELF object
 *   software-ldso.c     the loader's search: ld.so.cache, the library
 *                       paths, glibc-hwcaps
 *   software-dpkg.c     which package installed a path
 *   software-python.c   the Python distributions an interpreter imports
 *   software-blas.c     the BLAS and LAPACK alternatives
 *
 * Not an interface for the rest of xrun. */
#pragma once

#include <dirent.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "capture.h"

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

#define LDSO_CACHE "/etc/ld.so.cache"

static inline void closedirp(DIR **d)
{
	if (*d)
		closedir(*d);
}

/* ---- software-common.c ---- */

/* Whether a file is still the one we looked at, without reading it:
 * device, inode, size, and mtime and ctime in nanoseconds (ctime catches
 * writers that restore mtime, like cp -p and tar). "-" stands for a
 * missing file, so that creating it is a change too. */
typedef struct Key {
	char s[120];
} Key;

json_t *json_string_or_null(const char *s);
char *xstrdup_or_null(const char *s);
bool streq_ptr(const char *a, const char *b);
void key_from_stat(const struct stat *st, Key *k);
void key_of(const char *path, Key *k);
bool str_matches(const char *s, const json_t *j);
bool key_matches(const Key *k, const json_t *j);
uint64_t fnv1a(const char *s);
char *readlink_malloc(const char *path);
char *dirname_of(const char *path);
const char *basename_of(const char *path);
int str_ptr_cmp(const void *a, const void *b);
json_t *cache_load(const char *dir, const char *name);
int cache_write(const char *dir, const char *name, const void *p, size_t n);
int cache_write_json(const char *dir, const char *name, const json_t *j);

/* ---- software-elf.c ---- */

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

ElfInfo *elf_info_free(ElfInfo *e);
static inline void elf_info_freep(ElfInfo **e)
{
	elf_info_free(*e);
}
int elf_read(const char *path, ElfInfo **ret);

/* ---- software-ldso.c ---- */

typedef struct LdCache {
	char *data;
	const char *base; /* the new-format part, where offsets point */
	size_t base_size;
	uint32_t nlibs;
} LdCache;

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

void resolver_done(Resolver *r);
/* Breadth first from the executable, like _dl_map_object_deps: its
 * PT_INTERP first (ld.so is loaded before anything and satisfies the
 * DT_NEEDED on ld-linux-x86-64.so.2 of libc), then LD_PRELOAD, then
 * each object's DT_NEEDED in order. -ENOEXEC when exe is no ELF
 * executable of this machine. */
int ldso_resolve(Resolver *r, const char *exe);

/* ---- software-dpkg.c (and the capture's context) ---- */

typedef struct DpkgIndex DpkgIndex;

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

DpkgIndex *dpkg_index_free(DpkgIndex *x);
void dpkg_state(Ctx *c);
void package_of(Ctx *c, const char *path, char **ret_pkg, char **ret_version);
/* Free what a Ctx holds (capture-software.c). */
void ctx_done(Ctx *c);
/* pread(2) until n bytes: 0, -ENOEXEC where the file ends first, or
 * -errno (software-elf.c). */
int pread_full(int fd, void *buf, size_t n, uint64_t off);

/* ---- software-python.c ---- */

#define N_PYTHON_VARS 8
extern const char *const python_vars[N_PYTHON_VARS];
bool python_cache_valid(const json_t *cached, const Key *interp);
json_t *capture_python(Ctx *c, const json_t *cached, const Key *ik,
                       json_t *cache_out);

/* ---- software-blas.c ---- */

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

void alt_init(Alt *a, const char *lib, const char *section);
void alt_done(Alt *a);
bool alt_cache_valid(const json_t *cached, const Alt *a);
json_t *capture_alternative(Ctx *c, const Alt *a, const json_t *cached,
                            json_t *cache_out);
