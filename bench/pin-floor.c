/* The least a first pin of a tree of small files can cost, measured
 * with a bare C program (issue 22: where a target cannot be met, show
 * the floor): walk the tree (readdir + fstatat), then on every core
 * open, read and SHA-256 (libcrypto, as xrun) each file. Two modes:
 *
 *   pin-floor hash DIR [THREADS]        read + hash every file
 *   pin-floor pack DIR PACK [THREADS]   the same, and append every file
 *                                       to one file PACK (made anew),
 *                                       then one fsync of it
 *
 * No manifest, no index, no stat cache, no store: what remains of a
 * pin when everything xrun adds is taken away. THREADS defaults to the
 * number of CPUs. bench/pin-throughput.sh times it beside xrun. */
#include <dirent.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int top_fd;
static char **files;
static size_t n_files, cap_files, next_file;
static int pack_fd = -1;
static off_t pack_end;
static pthread_mutex_t pack_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned long long bytes;

static void walk(int dfd, const char *rel)
{
	DIR *d = fdopendir(dfd);
	if (!d)
		return;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		struct stat st;
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW))
			continue;
		char *path = malloc(strlen(rel) + strlen(de->d_name) + 2);
		sprintf(path, "%s%s%s", rel, *rel ? "/" : "", de->d_name);
		if (S_ISDIR(st.st_mode)) {
			int sub = openat(dirfd(d), de->d_name,
			                 O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
			if (sub >= 0)
				walk(sub, path);
			free(path);
		} else if (S_ISREG(st.st_mode)) {
			if (n_files == cap_files) {
				cap_files = cap_files ? cap_files * 2 : 4096;
				files = realloc(files,
				                cap_files * sizeof *files);
			}
			files[n_files++] = path;
		} else
			free(path);
	}
	closedir(d);
}

static void *work(void *arg)
{
	(void)arg;
	size_t cap = 1 << 16;
	char *buf = malloc(cap);
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned long long mine = 0;
	for (;;) {
		size_t i = __atomic_fetch_add(&next_file, 1, __ATOMIC_RELAXED);
		if (i >= n_files)
			break;
		int fd = openat(top_fd, files[i],
		                O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		if (fd < 0)
			continue;
		size_t len = 0;
		ssize_t k;
		while ((k = read(fd, buf + len, cap - len)) > 0) {
			len += (size_t)k;
			if (len == cap)
				buf = realloc(buf, cap *= 2);
		}
		close(fd);
		unsigned char md[32];
		EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
		EVP_DigestUpdate(ctx, buf, len);
		EVP_DigestFinal_ex(ctx, md, NULL);
		mine += len;
		if (pack_fd >= 0) {
			pthread_mutex_lock(&pack_lock);
			off_t at = pack_end;
			pack_end += (off_t)len;
			pthread_mutex_unlock(&pack_lock);
			if (pwrite(pack_fd, buf, len, at) != (ssize_t)len) {
				perror("pwrite");
				exit(1);
			}
		}
	}
	__atomic_fetch_add(&bytes, mine, __ATOMIC_RELAXED);
	EVP_MD_CTX_free(ctx);
	free(buf);
	return NULL;
}

int main(int argc, char **argv)
{
	int pack = argc > 1 && !strcmp(argv[1], "pack");
	if (argc < 3 || (!pack && strcmp(argv[1], "hash")) ||
	    (pack && argc < 4)) {
		fputs("usage: pin-floor hash DIR [THREADS]\n"
		      "       pin-floor pack DIR PACK [THREADS]\n",
		      stderr);
		return 2;
	}
	const char *nt = argv[pack ? 4 : 3];
	long threads = nt ? atol(nt) : sysconf(_SC_NPROCESSORS_ONLN);
	if (threads < 1)
		threads = 1;
	if (threads > 64)
		threads = 64;
	int fd = open(argv[2], O_RDONLY | O_DIRECTORY);
	if (fd < 0) {
		perror(argv[2]);
		return 1;
	}
	if (pack) {
		pack_fd = open(argv[3], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
		               0644);
		if (pack_fd < 0) {
			perror(argv[3]);
			return 1;
		}
	}
	top_fd = fd;
	walk(dup(fd), "");
	pthread_t t[64];
	for (long k = 1; k < threads; k++)
		pthread_create(&t[k], NULL, work, NULL);
	work(NULL);
	for (long k = 1; k < threads; k++)
		pthread_join(t[k], NULL);
	if (pack_fd >= 0 && (fsync(pack_fd) || close(pack_fd))) {
		perror("fsync");
		return 1;
	}
	printf("%zu files, %llu bytes\n", n_files, bytes);
	return 0;
}
