/* The least a re-pin of an unchanged tree can cost: walk it and stat
 * every entry (fstatat relative to each directory, as xrun's walk does),
 * the stat calls of each directory shared among T threads. No hashing,
 * no table, no manifest. bench/pin-million.sh times it beside xrun's
 * re-pin.
 *
 *   stat-floor DIR [THREADS] */
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct Batch {
	int dfd;
	char **names;
	size_t n;
	size_t next;
	struct stat *sts;
} Batch;

static unsigned long files;

static void *stat_some(void *arg)
{
	Batch *b = arg;
	for (;;) {
		size_t i = __atomic_fetch_add(&b->next, 16, __ATOMIC_RELAXED);
		if (i >= b->n)
			return NULL;
		size_t end = i + 16 < b->n ? i + 16 : b->n;
		for (; i < end; i++)
			fstatat(b->dfd, b->names[i], &b->sts[i],
			        AT_SYMLINK_NOFOLLOW);
	}
}

static void walk(int dfd, unsigned threads)
{
	DIR *d = fdopendir(dfd);
	if (!d)
		return;
	size_t n = 0, cap = 1024;
	char **names = malloc(cap * sizeof *names);
	struct dirent *de;
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (n == cap)
			names = realloc(names, (cap *= 2) * sizeof *names);
		names[n++] = strdup(de->d_name);
	}
	Batch b = {.dfd = dirfd(d), .names = names, .n = n,
	           .sts = calloc(n + 1, sizeof(struct stat))};
	pthread_t t[64];
	unsigned k = 0;
	if (n >= 64)
		for (; k + 1 < threads && k < 64; k++)
			pthread_create(&t[k], NULL, stat_some, &b);
	stat_some(&b);
	for (unsigned i = 0; i < k; i++)
		pthread_join(t[i], NULL);
	for (size_t i = 0; i < n; i++) {
		if (S_ISDIR(b.sts[i].st_mode)) {
			int sub = openat(dirfd(d), names[i],
			                 O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
			if (sub >= 0)
				walk(sub, threads);
		} else
			files++;
		free(names[i]);
	}
	free(names);
	free(b.sts);
	closedir(d);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fputs("usage: stat-floor DIR [THREADS]\n", stderr);
		return 2;
	}
	unsigned threads = argc > 2 ? (unsigned)atoi(argv[2]) : 2;
	int fd = open(argv[1], O_RDONLY | O_DIRECTORY);
	if (fd < 0) {
		perror(argv[1]);
		return 1;
	}
	walk(fd, threads ? threads : 1);
	printf("%lu files\n", files);
	return 0;
}
