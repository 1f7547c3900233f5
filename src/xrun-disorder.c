/* xrun-disorder.so: the LD_PRELOAD helper of `xrun check`'s file-order
 * factor. readdir(3) gives each directory's entries in the reverse of
 * the order the file system gives them, so that a program that lists a
 * directory without sorting it shows it in its outputs. (disorderfs
 * would do this at the file system, but FUSE cannot be mounted inside
 * xrun's sandbox.) Only the program's own calls are affected: glibc's
 * internal ones (scandir, glob) sort or are not interposed. */
#define _GNU_SOURCE
#include <dirent.h>
#include <dlfcn.h>
#include <pthread.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

typedef struct Listing {
	DIR *dir;
	struct dirent64 **ents;
	size_t n, next;
	struct Listing *more;
} Listing;

static Listing *listings;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static struct dirent64 *(*real_readdir64)(DIR *);
static int (*real_closedir)(DIR *);
static void (*real_rewinddir)(DIR *);

static void resolve(void)
{
	if (!real_readdir64) {
		real_readdir64 = (struct dirent64 * (*)(DIR *))
		        dlsym(RTLD_NEXT, "readdir64");
		real_closedir = (int (*)(DIR *))dlsym(RTLD_NEXT, "closedir");
		real_rewinddir = (void (*)(DIR *))dlsym(RTLD_NEXT, "rewinddir");
	}
}

static void listing_free(Listing *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->ents[i]);
	free(l->ents);
	free(l);
}

/* Unlink d's listing (under lock); NULL when it has none. */
static Listing *take(const DIR *d)
{
	for (Listing **p = &listings; *p; p = &(*p)->more)
		if ((*p)->dir == d) {
			Listing *l = *p;
			*p = l->more;
			return l;
		}
	return NULL;
}

static Listing *read_all(DIR *d)
{
	Listing *l = calloc(1, sizeof *l);
	if (!l)
		return NULL;
	l->dir = d;
	size_t cap = 0;
	struct dirent64 *e;
	while ((e = real_readdir64(d))) {
		if (l->n == cap) {
			cap = cap ? 2 * cap : 64;
			struct dirent64 **v = realloc(l->ents, cap * sizeof *v);
			if (!v)
				break;
			l->ents = v;
		}
		struct dirent64 *c = calloc(1, sizeof *c);
		if (!c)
			break;
		size_t len = strnlen(e->d_name, sizeof c->d_name - 1);
		memcpy(c, e, offsetof(struct dirent64, d_name));
		memcpy(c->d_name, e->d_name, len);
		l->ents[l->n++] = c;
	}
	/* Reverse. */
	for (size_t i = 0; i < l->n / 2; i++) {
		struct dirent64 *t = l->ents[i];
		l->ents[i] = l->ents[l->n - 1 - i];
		l->ents[l->n - 1 - i] = t;
	}
	return l;
}

struct dirent64 *readdir64(DIR *d)
{
	resolve();
	pthread_mutex_lock(&lock);
	Listing *l = take(d);
	if (!l)
		l = read_all(d);
	struct dirent64 *e = NULL;
	if (l) {
		if (l->next < l->n)
			e = l->ents[l->next++];
		l->more = listings;
		listings = l;
	}
	pthread_mutex_unlock(&lock);
	return e;
}

/* On glibc's 64-bit ABIs struct dirent is struct dirent64. */
struct dirent *readdir(DIR *d)
{
	return (struct dirent *)readdir64(d);
}

/* Drop d's shuffled listing, if it has one. */
static void forget(DIR *d)
{
	resolve();
	pthread_mutex_lock(&lock);
	Listing *l = take(d);
	pthread_mutex_unlock(&lock);
	if (l)
		listing_free(l);
}

void rewinddir(DIR *d)
{
	forget(d);
	real_rewinddir(d);
}

int closedir(DIR *d)
{
	forget(d);
	return real_closedir(d);
}
