/* Provenance you can verify (DESIGN.md §10).
 *
 * A run's attestation is an in-toto Statement v1 whose subjects are the
 * run's output files (name: the path the run wrote, digest: sha256) and
 * whose predicate is SLSA Provenance v1: buildDefinition (buildType
 * ATTEST_BUILD_TYPE; externalParameters argv, cwd, params, seed;
 * internalParameters sandbox, determinism, threads; resolvedDependencies
 * workspace, inputs, git commit, executable, script, shared libraries,
 * Python distributions, what the tracer observed, each with its
 * digest), runDetails (builder.id with xrun's version; metadata
 * invocationId = run id, startedOn, finishedOn; byproducts: the record
 * file's sha256, stdout, stderr and each output's manifest). It is
 * signed in a DSSE envelope (payloadType application/vnd.in-toto+json,
 * the signature over DSSE's pre-authentication encoding).
 *
 * Signing: Ed25519 through libcrypto, a PKCS#8 PEM key file made by
 * `xrun key generate`: no other program to run, one small key that
 * works offline and in batch jobs, and the key type DSSE and Sigstore
 * tooling verify. The key is XRUN_SIGNING_KEY, else the store's
 * keys/signing.pem. With a key, every record is signed as it is
 * written: runs/<id>/record.sig, a DSSE envelope without its payload
 * (the record's bytes stay as they are). */
#pragma once

#include <jansson.h>
#include <stdbool.h>

#include "record.h"
#include "store.h"

#define ATTEST_STATEMENT_TYPE "https://in-toto.io/Statement/v1"
#define ATTEST_PREDICATE_TYPE "https://slsa.dev/provenance/v1"
#define ATTEST_PAYLOAD_TYPE "application/vnd.in-toto+json"
#define ATTEST_BUILD_TYPE "urn:xrun:slsa:buildtype:run:v1"
#define ATTEST_BUILDER_ID "urn:xrun:slsa:builder:launcher"
#define RECORD_SIG_PAYLOAD_TYPE "application/vnd.xrun.run-record+json"
#define RECORD_SIG_NAME "record.sig"
#define SIGNING_KEY_NAME "signing.pem"

typedef struct SigningKey SigningKey;
/* Load a PEM key file: an Ed25519 private key (signs and verifies) or
 * public key (verifies). -EINVAL for any other key or not a key. */
int signing_key_load(const char *path, SigningKey **ret);
SigningKey *signing_key_free(SigningKey *k);
static inline void signing_key_freep(SigningKey **k)
{
	signing_key_free(*k);
}
#define _cleanup_signing_key_ __attribute__((cleanup(signing_key_freep)))
/* "sha256:" and the hex SHA-256 of the public key's DER encoding. */
const char *signing_key_id(const SigningKey *k);
bool signing_key_private(const SigningKey *k);
/* The public key as PEM text. */
char *signing_key_public_pem(const SigningKey *k);
/* Make a new key: path (mode 0600, never over an existing file) and
 * path.pub beside it. -EEXIST when path exists. */
int signing_key_generate(const char *path, SigningKey **ret);
/* The configured key's path: $XRUN_SIGNING_KEY, else store_root's
 * keys/signing.pem when it exists; -ENOENT when neither. */
int signing_key_path(const char *store_root, char **ret);

/* DSSE: sign payload (the envelope carries it, base64), or check an
 * envelope: -EBADMSG when it is not one, -EKEYREJECTED when no
 * signature verifies with k; on success the payload decoded. */
int dsse_sign(const SigningKey *k, const char *type, const void *payload,
              size_t n, json_t **ret);
int dsse_verify(const SigningKey *k, const json_t *env, char **ret_type,
                char **ret_payload, size_t *ret_len);

/* The Statement of rec (see above). -errno when a manifest it needs
 * cannot be read (*ret_error names it). */
int attest_statement(Store *s, const Record *rec, json_t **ret,
                     char **ret_error);
/* Check a Statement against s: the run it names is there, its record
 * has the bytes attested, every subject, manifest and stored file it
 * lists is in s and intact. Each problem is a line of *ret_problems
 * (empty when none); *ret_run gets the run id. -EBADMSG when stmt is
 * not an xrun attestation. */
int attest_check(Store *s, const json_t *stmt, char ***ret_problems,
                 char **ret_run);

/* Sign rec's record file as it is now into record.sig, with the key
 * configured for its store (the store is the record's ../..). 0 when
 * no key is configured (nothing done), 1 when signed, -errno. */
int record_sign(const Record *rec);
/* 1 when record.sig verifies rec's file with k, -ENOENT when there is
 * none, -EKEYREJECTED when it does not verify (the record or the
 * signature changed, or another key signed), -EBADMSG when it is not a
 * signature. */
int record_signature_check(const SigningKey *k, const Record *rec);
