#include "config.h"

#include "hash.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <string.h>
#include <unistd.h>

#include "util.h"

struct Hasher {
	EVP_MD_CTX *ctx;
};

Hasher *hasher_new(void)
{
	Hasher *h = xcalloc(1, sizeof *h);
	h->ctx = EVP_MD_CTX_new();
	if (!h->ctx || EVP_DigestInit_ex(h->ctx, EVP_sha256(), NULL) != 1) {
		fputs("xrun: cannot initialize SHA-256 from libcrypto\n", stderr);
		abort();
	}
	return h;
}

void hasher_update(Hasher *h, const void *p, size_t n)
{
	EVP_DigestUpdate(h->ctx, p, n);
}

Hasher *hasher_free(Hasher *h)
{
	if (!h)
		return NULL;
	EVP_MD_CTX_free(h->ctx);
	free(h);
	return NULL;
}

char *hasher_finish(Hasher *h)
{
	unsigned char md[SHA256_LEN];
	unsigned int len = 0;
	EVP_DigestFinal_ex(h->ctx, md, &len);
	hasher_free(h);
	_cleanup_free_ char *hex = hex_encode(md, SHA256_LEN);
	return xasprintf("sha256:%s", hex);
}

char *sha256_mem(const void *p, size_t n)
{
	Hasher *h = hasher_new();
	hasher_update(h, p, n);
	return hasher_finish(h);
}

int sha256_fd(int fd, char **ret, uint64_t *ret_size)
{
	enum { BUFSZ = 1 << 18 };
	_cleanup_free_ char *buf = xmalloc(BUFSZ);
	_cleanup_hasher_ Hasher *h = hasher_new();
	uint64_t total = 0;
	for (;;) {
		ssize_t k = read(fd, buf, BUFSZ);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (k == 0)
			break;
		hasher_update(h, buf, (size_t)k);
		total += (uint64_t)k;
	}
	*ret = hasher_finish(TAKE_PTR(h));
	if (ret_size)
		*ret_size = total;
	return 0;
}

int sha256_file(const char *path, char **ret, uint64_t *ret_size)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return -errno;
	(void)posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	return sha256_fd(fd, ret, ret_size);
}
