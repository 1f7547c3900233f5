#include "config.h"

#include "hash.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"

/* The SHA256_* functions, not EVP: EVP_MD_fetch in OpenSSL 3 builds the
 * default provider's whole table of digests and their names before it
 * returns SHA-256, and that (with the page faults it takes and the
 * cleanup at exit) was half a millisecond of every launch, a sixth of
 * xrun's whole overhead. SHA256_* are the same libcrypto code (SHA-NI,
 * AVX2) without the provider machinery. They are deprecated since 3.0,
 * but not removed; a libcrypto built without them gets EVP. */
#if defined(HAVE_SHA256_INIT) && !defined(OPENSSL_NO_DEPRECATED_3_0)
#define OPENSSL_SUPPRESS_DEPRECATED 1
#include <openssl/crypto.h>
#include <openssl/sha.h>

struct Hasher {
	SHA256_CTX ctx;
};

Hasher *hasher_new(void)
{
	Hasher *h = xcalloc(1, sizeof *h);
	if (SHA256_Init(&h->ctx) != 1) {
		fputs("xrun: cannot initialize SHA-256 from libcrypto\n",
		      stderr);
		abort();
	}
	return h;
}

void hasher_update(Hasher *h, const void *p, size_t n)
{
	SHA256_Update(&h->ctx, p, n);
}

Hasher *hasher_free(Hasher *h)
{
	if (!h)
		return NULL;
	OPENSSL_cleanse(&h->ctx, sizeof h->ctx);
	free(h);
	return NULL;
}

static void hasher_final(Hasher *h, unsigned char md[SHA256_LEN])
{
	SHA256_Final(md, &h->ctx);
}

#else
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <pthread.h>

struct Hasher {
	EVP_MD_CTX *ctx;
};

/* libcrypto's default start-up reads openssl.cnf and registers every
 * cipher and digest by name; SHA-256 needs none of it, so fetch just
 * that, once, and free nothing at exit. */
static EVP_MD *sha256_md;
static pthread_once_t md_once = PTHREAD_ONCE_INIT;

static void fetch_md(void)
{
	OPENSSL_init_crypto(OPENSSL_INIT_NO_LOAD_CONFIG |
	                            OPENSSL_INIT_NO_ADD_ALL_CIPHERS |
	                            OPENSSL_INIT_NO_ADD_ALL_DIGESTS |
	                            OPENSSL_INIT_NO_ATEXIT,
	                    NULL);
	sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
}

Hasher *hasher_new(void)
{
	Hasher *h = xcalloc(1, sizeof *h);
	pthread_once(&md_once, fetch_md);
	h->ctx = EVP_MD_CTX_new();
	if (!h->ctx || !sha256_md ||
	    EVP_DigestInit_ex(h->ctx, sha256_md, NULL) != 1) {
		fputs("xrun: cannot initialize SHA-256 from libcrypto\n",
		      stderr);
		abort();
	}
	return h;
}

static void hasher_final(Hasher *h, unsigned char md[SHA256_LEN])
{
	unsigned int len = 0;
	EVP_DigestFinal_ex(h->ctx, md, &len);
}
#endif

char *hasher_finish(Hasher *h)
{
	unsigned char md[SHA256_LEN];
	hasher_final(h, md);
	hasher_free(h);
	_cleanup_free_ char *hex = hex_encode(md, SHA256_LEN);
	return xasprintf("sha256:%s", hex);
}

void hasher_finish_raw(Hasher *h, unsigned char ret_md[SHA256_LEN])
{
	hasher_final(h, ret_md);
	hasher_free(h);
}

void digest_format(const unsigned char md[SHA256_LEN],
                   char buf[DIGEST_STR_LEN + 1])
{
	static const char hex[] = "0123456789abcdef";
	memcpy(buf, "sha256:", 7);
	for (size_t i = 0; i < SHA256_LEN; i++) {
		buf[7 + 2 * i] = hex[md[i] >> 4];
		buf[7 + 2 * i + 1] = hex[md[i] & 15];
	}
	buf[DIGEST_STR_LEN] = 0;
}

static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

int digest_parse(const char *s, unsigned char ret_md[SHA256_LEN])
{
	unsigned char md[SHA256_LEN];
	if (!s || strlen(s) != DIGEST_STR_LEN || !strneq(s, "sha256:", 7))
		return -EINVAL;
	for (size_t i = 0; i < SHA256_LEN; i++) {
		int hi = hex_value(s[7 + 2 * i]), lo = hex_value(s[8 + 2 * i]);
		if (hi < 0 || lo < 0)
			return -EINVAL;
		md[i] = (unsigned char)(hi << 4 | lo);
	}
	memcpy(ret_md, md, SHA256_LEN);
	return 0;
}

char *sha256_mem(const void *p, size_t n)
{
	Hasher *h = hasher_new();
	hasher_update(h, p, n);
	return hasher_finish(h);
}

/* Read in to its end in chunks of chunk bytes, each into h (unless
 * NULL) and written to out (unless -1); the bytes read in *ret_size. */
static int pump(int in, int out, size_t chunk, Hasher *h, uint64_t *ret_size)
{
	_cleanup_free_ char *buf = xmalloc(chunk);
	uint64_t total = 0;
	for (;;) {
		ssize_t k = read(in, buf, chunk);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			return negative_errno();
		}
		if (k == 0)
			break;
		if (h)
			hasher_update(h, buf, (size_t)k);
		if (out >= 0) {
			int r = write_all(out, buf, (size_t)k);
			if (r < 0)
				return r;
		}
		total += (uint64_t)k;
	}
	*ret_size = total;
	return 0;
}

int sha256_fd(int fd, char **ret, uint64_t *ret_size)
{
	_cleanup_hasher_ Hasher *h = hasher_new();
	uint64_t total;
	int r = pump(fd, -1, 1 << 18, h, &total);
	if (r < 0)
		return r;
	*ret = hasher_finish(TAKE_PTR(h));
	if (ret_size)
		*ret_size = total;
	return 0;
}

int sha256_file(const char *path, char **ret, uint64_t *ret_size)
{
	/* Only regular files: a path from a record may name a FIFO or a
	 * device, which would block or never end (O_NONBLOCK keeps the
	 * open itself from waiting for a FIFO's writer). */
	_cleanup_close_ int fd =
	        open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return negative_errno();
	struct stat st;
	if (fstat(fd, &st) < 0)
		return negative_errno();
	if (!S_ISREG(st.st_mode))
		return S_ISDIR(st.st_mode) ? -EISDIR : -EINVAL;
	(void)posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	return sha256_fd(fd, ret, ret_size);
}

int copy_and_hash(int in, int out, unsigned char ret_md[SHA256_LEN],
                  uint64_t *ret_size)
{
	_cleanup_hasher_ Hasher *h = ret_md ? hasher_new() : NULL;
	uint64_t total;
	int r = pump(in, out, 4 << 20, h, &total);
	if (r < 0)
		return r;
	if (h)
		hasher_finish_raw(TAKE_PTR(h), ret_md);
	if (ret_size)
		*ret_size = total;
	return 0;
}
