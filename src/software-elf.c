#include "config.h"

#include "software.h"

#include <fcntl.h>
#include <elf.h>

#include "util.h"

#define MAX_ELF_TABLE (16u << 20)

/* ---- ELF ---- */

ElfInfo *elf_info_free(ElfInfo *e)
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

int pread_full(int fd, void *buf, size_t n, uint64_t off)
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
int elf_read(const char *path, ElfInfo **ret)
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
