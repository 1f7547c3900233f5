#include "config.h"

#include "software.h"

#include <ctype.h>
#ifdef HAVE_SYS_PLATFORM_X86_H
#include <sys/platform/x86.h>
#endif
#include <sys/auxv.h>

#include "util.h"

/* Debian's ld.so expands $LIB to the multiarch directory, not to "lib64"
 * (LD_DEBUG=libs shows it). */
#define DST_LIB "lib/" MULTIARCH

static const char *const default_dirs[] = {
        "/lib/" MULTIARCH,
        "/usr/lib/" MULTIARCH,
        "/lib64",
        "/usr/lib64",
        "/lib",
        "/usr/lib",
};

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

void resolver_done(Resolver *r)
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

int ldso_resolve(Resolver *r, const char *exe)
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
