/* SHA-256 over memory, file descriptors and files (OpenSSL libcrypto EVP).
 * Digests are written as "sha256:<64 hex digits>" everywhere in xrun. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#define SHA256_LEN 32
#define DIGEST_STR_LEN (7 + 64) /* "sha256:" + hex, without the NUL */

typedef struct Hasher Hasher;

Hasher *hasher_new(void);
void hasher_update(Hasher *h, const void *p, size_t n);
/* Finish and return "sha256:…" (caller frees); the hasher is freed. */
char *hasher_finish(Hasher *h);
/* Finish into the raw 32 bytes; the hasher is freed. */
void hasher_finish_raw(Hasher *h, unsigned char ret_md[SHA256_LEN]);
/* "sha256:<hex>" of a raw digest, into buf (DIGEST_STR_LEN + 1 bytes). */
void digest_format(const unsigned char md[SHA256_LEN],
                   char buf[DIGEST_STR_LEN + 1]);
/* Parse "sha256:<64 lowercase hex>": -EINVAL for anything else. */
int digest_parse(const char *s, unsigned char ret_md[SHA256_LEN]);
Hasher *hasher_free(Hasher *h);
static inline void hasher_freep(Hasher **h)
{
	hasher_free(*h);
}
#define _cleanup_hasher_ __attribute__((cleanup(hasher_freep)))

char *sha256_mem(const void *p, size_t n);
/* Hash everything readable from fd; returns -errno on a read error.
 * ret_size may be NULL. */
int sha256_fd(int fd, char **ret, uint64_t *ret_size);
int sha256_file(const char *path, char **ret, uint64_t *ret_size);
/* Copy in to out (from in's current offset) while hashing what is
 * copied, in large sequential chunks; md may be NULL, and out -1 to only
 * hash. */
int copy_and_hash(int in, int out, unsigned char ret_md[SHA256_LEN],
                  uint64_t *ret_size);
