#include "config.h"

#include "attest.h"

#include <fcntl.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <sys/stat.h>

#include "manifest.h"
#include "pin.h"
#include "record-pins.h"
#include "refs.h"
#include "util.h"

#define KEY_FILE_MAX ((size_t)64 << 10)
#define ENVELOPE_MAX ((size_t)256 << 20)

struct SigningKey {
	EVP_PKEY *pkey;
	bool private;
	char id[7 + 65];
};

SigningKey *signing_key_free(SigningKey *k)
{
	if (!k)
		return NULL;
	EVP_PKEY_free(k->pkey);
	free(k);
	return NULL;
}

static SigningKey *key_wrap(EVP_PKEY *pkey, bool private)
{
	SigningKey *k = xcalloc(1, sizeof *k);
	k->pkey = pkey;
	k->private = private;
	unsigned char *der = NULL;
	int n = i2d_PUBKEY(pkey, &der);
	if (n > 0) {
		unsigned char md[SHA256_LEN];
		Hasher *h = hasher_new();
		hasher_update(h, der, (size_t)n);
		hasher_finish_raw(h, md);
		digest_format(md, k->id);
	}
	OPENSSL_free(der);
	return k;
}

const char *signing_key_id(const SigningKey *k)
{
	return k->id;
}

bool signing_key_private(const SigningKey *k)
{
	return k->private;
}

int signing_key_load(const char *path, SigningKey **ret)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return negative_errno();
	_cleanup_free_ char *text = NULL;
	size_t len;
	int r = read_full_fd(fd, KEY_FILE_MAX, &text, &len);
	if (r < 0)
		return r;
	bool private = true;
	BIO *b = BIO_new_mem_buf(text, (int)len);
	EVP_PKEY *pkey =
	        b ? PEM_read_bio_PrivateKey(b, NULL, NULL, NULL) : NULL;
	BIO_free(b);
	if (!pkey) {
		private = false;
		b = BIO_new_mem_buf(text, (int)len);
		pkey = b ? PEM_read_bio_PUBKEY(b, NULL, NULL, NULL) : NULL;
		BIO_free(b);
	}
	explicit_bzero(text, len);
	if (!pkey)
		return -EINVAL;
	if (EVP_PKEY_id(pkey) != EVP_PKEY_ED25519) {
		EVP_PKEY_free(pkey);
		return -EINVAL;
	}
	*ret = key_wrap(pkey, private);
	return 0;
}

char *signing_key_public_pem(const SigningKey *k)
{
	BIO *b = BIO_new(BIO_s_mem());
	if (!b)
		return NULL;
	char *out = NULL;
	if (PEM_write_bio_PUBKEY(b, k->pkey) == 1) {
		char *p;
		long n = BIO_get_mem_data(b, &p);
		out = xstrndup(p, (size_t)n);
	}
	BIO_free(b);
	return out;
}

static int write_new_file(const char *path, const char *text, mode_t mode)
{
	_cleanup_close_ int fd =
	        open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
	             mode);
	if (fd < 0)
		return negative_errno();
	int r = write_all(fd, text, strlen(text));
	if (r == 0 && fsync(fd) < 0)
		r = negative_errno();
	if (r < 0)
		(void)unlink(path);
	return r;
}

int signing_key_generate(const char *path, SigningKey **ret)
{
	EVP_PKEY *pkey = NULL;
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_id(EVP_PKEY_ED25519, NULL);
	if (!ctx || EVP_PKEY_keygen_init(ctx) != 1 ||
	    EVP_PKEY_keygen(ctx, &pkey) != 1) {
		EVP_PKEY_CTX_free(ctx);
		return -EIO;
	}
	EVP_PKEY_CTX_free(ctx);
	_cleanup_signing_key_ SigningKey *k = key_wrap(pkey, true);
	BIO *b = BIO_new(BIO_s_mem());
	if (!b ||
	    PEM_write_bio_PrivateKey(b, pkey, NULL, NULL, 0, NULL, NULL) != 1) {
		BIO_free(b);
		return -EIO;
	}
	char *p;
	long n = BIO_get_mem_data(b, &p);
	_cleanup_free_ char *pem = xstrndup(p, (size_t)n);
	BIO_free(b);
	int r = write_new_file(path, pem, 0600);
	explicit_bzero(pem, strlen(pem));
	if (r < 0)
		return r;
	_cleanup_free_ char *pub = signing_key_public_pem(k);
	_cleanup_free_ char *pub_path = xasprintf("%s.pub", path);
	(void)unlink(pub_path);
	r = pub ? write_new_file(pub_path, pub, 0644) : -EIO;
	if (r < 0) {
		(void)unlink(path);
		return r;
	}
	*ret = TAKE_PTR(k);
	return 0;
}

int signing_key_path(const char *store_root, char **ret)
{
	const char *env = getenv("XRUN_SIGNING_KEY");
	if (env && *env) {
		*ret = xstrdup(env);
		return 0;
	}
	if (!store_root)
		return -ENOENT;
	_cleanup_free_ char *p =
	        xasprintf("%s/keys/" SIGNING_KEY_NAME, store_root);
	if (access(p, F_OK) < 0)
		return -ENOENT;
	*ret = TAKE_PTR(p);
	return 0;
}

/* DSSE's pre-authentication encoding:
 * "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body */
static unsigned char *pae(const char *type, const void *body, size_t n,
                          size_t *ret_len)
{
	_cleanup_free_ char *head =
	        xasprintf("DSSEv1 %zu %s %zu ", strlen(type), type, n);
	size_t h = strlen(head);
	unsigned char *m = xmalloc(h + n + 1);
	memcpy(m, head, h);
	if (n)
		memcpy(m + h, body, n);
	*ret_len = h + n;
	return m;
}

static int ed25519_sign(const SigningKey *k, const unsigned char *m, size_t n,
                        char **ret_b64)
{
	if (!k->private)
		return -EINVAL;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned char sig[64];
	size_t siglen = sizeof sig;
	int ok = ctx &&
	         EVP_DigestSignInit(ctx, NULL, NULL, NULL, k->pkey) == 1 &&
	         EVP_DigestSign(ctx, sig, &siglen, m, n) == 1;
	EVP_MD_CTX_free(ctx);
	if (!ok)
		return -EIO;
	*ret_b64 = base64_encode(sig, siglen);
	return 0;
}

/* Base64 (standard alphabet, padded) -> bytes; NULL when malformed. */
static unsigned char *b64_decode(const char *s, size_t *ret_len)
{
	size_t n = strlen(s);
	if (n % 4 || n > INT32_MAX)
		return NULL;
	unsigned char *out = xmalloc(n / 4 * 3 + 1);
	int k = n ? EVP_DecodeBlock(out, (const unsigned char *)s, (int)n) : 0;
	if (k < 0) {
		free(out);
		return NULL;
	}
	/* EVP_DecodeBlock counts the padding as zero bytes. */
	size_t pad = (n && s[n - 1] == '=') + (n > 1 && s[n - 2] == '=');
	*ret_len = (size_t)k - pad;
	return out;
}

static bool ed25519_verify(const SigningKey *k, const unsigned char *m,
                           size_t n, const char *sig_b64)
{
	size_t siglen;
	_cleanup_free_ unsigned char *sig = b64_decode(sig_b64, &siglen);
	if (!sig || siglen != 64)
		return false;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	bool ok = ctx &&
	          EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, k->pkey) == 1 &&
	          EVP_DigestVerify(ctx, sig, siglen, m, n) == 1;
	EVP_MD_CTX_free(ctx);
	return ok;
}

int dsse_sign(const SigningKey *k, const char *type, const void *payload,
              size_t n, json_t **ret)
{
	size_t mlen;
	_cleanup_free_ unsigned char *m = pae(type, payload, n, &mlen);
	_cleanup_free_ char *sig = NULL;
	int r = ed25519_sign(k, m, mlen, &sig);
	if (r < 0)
		return r;
	_cleanup_free_ char *body = base64_encode(payload, n);
	*ret = json_pack("{s:s,s:s,s:[{s:s,s:s}]}", "payloadType", type,
	                 "payload", body, "signatures", "keyid", k->id, "sig",
	                 sig);
	return 0;
}

/* Any signature of env that verifies m with k. */
static bool any_signature(const SigningKey *k, const json_t *env,
                          const unsigned char *m, size_t n)
{
	size_t i;
	const json_t *s;
	json_array_foreach (json_object_get(env, "signatures"), i, s) {
		const char *sig = json_get_string(s, "sig");
		if (sig && ed25519_verify(k, m, n, sig))
			return true;
	}
	return false;
}

int dsse_verify(const SigningKey *k, const json_t *env, char **ret_type,
                char **ret_payload, size_t *ret_len)
{
	const char *type = json_get_string(env, "payloadType");
	const char *body = json_get_string(env, "payload");
	if (!type || !body ||
	    !json_array_size(json_object_get(env, "signatures")))
		return -EBADMSG;
	size_t n;
	_cleanup_free_ unsigned char *payload = b64_decode(body, &n);
	if (!payload)
		return -EBADMSG;
	size_t mlen;
	_cleanup_free_ unsigned char *m = pae(type, payload, n, &mlen);
	if (!any_signature(k, env, m, mlen))
		return -EKEYREJECTED;
	payload[n] = 0;
	*ret_type = xstrdup(type);
	*ret_payload = (char *)TAKE_PTR(payload);
	*ret_len = n;
	return 0;
}

/* --- the Statement --- */

static json_t *sha256_map(const char *digest)
{
	if (!digest || !startswith(digest, "sha256:"))
		return json_object();
	return json_pack("{s:s}", "sha256", digest + 7);
}

static char *file_uri(const char *path)
{
	return xasprintf("file://%s", path);
}

typedef struct Build {
	Store *s;
	json_t *subjects, *deps, *byproducts;
	char *error;
} Build;

static int subject_file(const PinInfo *pin, const char *path,
                        const unsigned char md[SHA256_LEN], uint64_t size,
                        void *data)
{
	Build *b = data;
	_cleanup_free_ char *hex = hex_encode(md, SHA256_LEN);
	json_array_append_new(b->subjects,
	                      json_pack("{s:s,s:{s:s}}", "name", path, "digest",
	                                "sha256", hex));
	return 0;
}

static int statement_pin(const PinInfo *pin, void *data)
{
	Build *b = data;
	char md[DIGEST_STR_LEN + 1];
	digest_format(pin->manifest, md);
	const char *kind = json_get_string(pin->pinned, "kind");
	json_t *notes = json_pack(
	        "{s:s,s:s,s:s,s:O,s:O}", "role", pin_role_name(pin->role),
	        "kind", kind ? kind : "?", "manifest", md, "files",
	        json_object_get(pin->pinned, "files") ?: json_null(), "bytes",
	        json_object_get(pin->pinned, "bytes") ?: json_null());
	if (pin->referenced)
		json_object_set_new(notes, "storage",
		                    json_string("referenced"));
	_cleanup_free_ char *uri = file_uri(pin->path);
	json_t *d =
	        json_pack("{s:s,s:s,s:o,s:o}", "name", pin_role_name(pin->role),
	                  "uri", uri, "digest",
	                  sha256_map(json_get_string(pin->pinned, "digest")),
	                  "annotations", notes);
	if (pin->role != PIN_OUTPUT) {
		json_array_append_new(b->deps, d);
		return 0;
	}
	json_object_set_new(d, "name", json_string("output manifest"));
	json_object_set_new(d, "digest", json_pack("{s:s}", "sha256", md + 7));
	json_array_append_new(b->byproducts, d);
	_cleanup_manifest_ Manifest *m = NULL;
	int r = manifest_load(b->s, pin->manifest, &m);
	if (r < 0) {
		b->error = xasprintf("the manifest %.19s of output '%s' %s", md,
		                     pin->path,
		                     r == -ENOENT    ? "is missing"
		                     : r == -EBADMSG ? "is corrupt"
		                                     : strerror(-r));
		return r;
	}
	return pins_files(pin, m, subject_file, b);
}

static void add_program(json_t *deps, const json_t *p, const char *name)
{
	const char *path = json_get_string(p, "path");
	const char *sha = json_get_string(p, "sha256");
	if (!path || !sha)
		return;
	_cleanup_free_ char *uri = file_uri(path);
	json_array_append_new(deps,
	                      json_pack("{s:s,s:s,s:o}", "name", name, "uri",
	                                uri, "digest", sha256_map(sha)));
}

static void add_software(json_t *deps, const json_t *rec)
{
	const json_t *git = json_get_path(rec, "source.git");
	const char *commit = json_get_string(git, "commit");
	if (commit) {
		const char *remote = json_get_string(git, "remote");
		_cleanup_free_ char *uri =
		        xasprintf("git+%s", remote ? remote : "file:.");
		json_t *d =
		        json_pack("{s:s,s:s,s:{s:s}}", "name", "source", "uri",
		                  uri, "digest", "gitCommit", commit);
		json_t *notes = json_object();
		json_object_set(notes, "dirty",
		                json_object_get(git, "dirty") ?: json_null());
		json_object_set(notes, "branch",
		                json_object_get(git, "branch") ?: json_null());
		json_object_set_new(d, "annotations", notes);
		json_array_append_new(deps, d);
	}
	const json_t *cmd = json_object_get(rec, "command");
	add_program(deps, json_object_get(cmd, "executable"), "executable");
	add_program(deps, json_object_get(cmd, "script"), "script");
	size_t i;
	const json_t *v;
	json_array_foreach (json_get_path(rec, "software.libraries"), i, v) {
		const char *path = json_get_string(v, "path");
		const char *sha = json_get_string(v, "sha256");
		if (!path || !sha)
			continue;
		_cleanup_free_ char *uri = file_uri(path);
		json_t *d = json_pack("{s:s,s:s,s:o}", "name",
		                      json_get_string(v, "soname") ?: path,
		                      "uri", uri, "digest", sha256_map(sha));
		const char *pkg = json_get_string(v, "package");
		if (pkg)
			json_object_set_new(
			        d, "annotations",
			        json_pack("{s:s,s:O}", "package", pkg,
			                  "package_version",
			                  json_object_get(v, "package_version")
			                          ?: json_null()));
		json_array_append_new(deps, d);
	}
	json_array_foreach (json_get_path(rec, "software.python.distributions"),
	                    i, v) {
		const char *name = json_get_string(v, "name");
		const char *version = json_get_string(v, "version");
		if (!name || !version)
			continue;
		_cleanup_free_ char *uri =
		        xasprintf("pkg:pypi/%s@%s", name, version);
		json_array_append_new(
		        deps, json_pack("{s:s,s:s}", "name", name, "uri", uri));
	}
	/* What the tracer saw (DESIGN.md §8), where the record has it: any
	 * entry with a path and a sha256. */
	const char *key;
	const json_t *list;
	json_object_foreach ((json_t *)json_object_get(rec, "observed"), key,
	                     list) {
		json_array_foreach (list, i, v) {
			const char *path = json_get_string(v, "path");
			const char *sha = json_get_string(v, "sha256");
			if (!sha)
				sha = json_get_string(v, "digest");
			if (!path || !sha)
				continue;
			_cleanup_free_ char *uri = file_uri(path);
			json_array_append_new(
			        deps,
			        json_pack("{s:s,s:s,s:o,s:{s:s}}", "name", path,
			                  "uri", uri, "digest", sha256_map(sha),
			                  "annotations", "observed", key));
		}
	}
}

static void add_run_file(json_t *byproducts, const Record *rec,
                         const char *name)
{
	_cleanup_free_ char *p = path_join(rec->dir, name);
	_cleanup_free_ char *sum = NULL;
	if (sha256_file(p, &sum, NULL) < 0)
		return;
	json_array_append_new(byproducts, json_pack("{s:s,s:o}", "name", name,
	                                            "digest", sha256_map(sum)));
}

int attest_statement(Store *s, const Record *rec, json_t **ret,
                     char **ret_error)
{
	const json_t *root = rec->root;
	const char *id = record_id(rec);
	Build b = {.s = s,
	           .subjects = json_array(),
	           .deps = json_array(),
	           .byproducts = json_array()};
	add_run_file(b.byproducts, rec, "record.json");
	int r = pins_walk(rec, false, statement_pin, &b);
	if (r < 0) {
		*ret_error = b.error ? b.error : xstrdup(strerror(-r));
		json_decref(b.subjects);
		json_decref(b.deps);
		json_decref(b.byproducts);
		return r;
	}
	add_software(b.deps, root);
	add_run_file(b.byproducts, rec, "stdout");
	add_run_file(b.byproducts, rec, "stderr");
	json_t *ext = json_pack(
	        "{s:O,s:O,s:O,s:O}", "argv",
	        json_get_path(root, "command.argv") ?: json_null(), "cwd",
	        json_get_path(root, "command.cwd") ?: json_null(), "params",
	        json_object_get(root, "params") ?: json_null(), "seed",
	        json_get_path(root, "seed.value") ?: json_null());
	json_t *internal = json_pack(
	        "{s:O,s:O,s:O}", "sandbox",
	        json_object_get(root, "sandbox") ?: json_null(), "determinism",
	        json_object_get(root, "determinism") ?: json_null(), "threads",
	        json_object_get(root, "threads") ?: json_null());
	json_t *pred = json_pack(
	        "{s:{s:s,s:o,s:o,s:o},s:{s:{s:s,s:{s:s,s:s}},s:{s:s,s:O,s:O},"
	        "s:o}}",
	        "buildDefinition", "buildType", ATTEST_BUILD_TYPE,
	        "externalParameters", ext, "internalParameters", internal,
	        "resolvedDependencies", b.deps, "runDetails", "builder", "id",
	        ATTEST_BUILDER_ID "@" PACKAGE_VERSION, "version", "xrun",
	        PACKAGE_VERSION, "build", XRUN_BUILD, "metadata",
	        "invocationId", id, "startedOn",
	        json_get_path(root, "times.started") ?: json_null(),
	        "finishedOn",
	        json_get_path(root, "times.finished") ?: json_null(),
	        "byproducts", b.byproducts);
	*ret = json_pack("{s:s,s:o,s:s,s:o}", "_type", ATTEST_STATEMENT_TYPE,
	                 "subject", b.subjects, "predicateType",
	                 ATTEST_PREDICATE_TYPE, "predicate", pred);
	return *ret ? 0 : -ENOMEM;
}

/* --- checking a Statement against the store --- */

static char *problem_of(int r)
{
	return xstrdup(r == -ENOENT    ? "is missing from the store"
	               : r == -EBADMSG ? "is corrupt in the store (its bytes "
	                                 "no longer match its digest)"
	                               : strerror(-r));
}

static int object_state(const Store *s, const char *hex_or_digest,
                        unsigned char ret_md[SHA256_LEN])
{
	_cleanup_free_ char *d =
	        startswith(hex_or_digest, "sha256:")
	                ? xstrdup(hex_or_digest)
	                : xasprintf("sha256:%s", hex_or_digest);
	if (digest_parse(d, ret_md) < 0)
		return -EINVAL;
	int state = 0;
	objects_verify(s, (const unsigned char(*)[SHA256_LEN])ret_md, 1, &state,
	               NULL);
	return state;
}

typedef struct Check {
	Store *s;
	char **problems;
	json_t *checked; /* digests already re-hashed */
} Check;

static void check_object(Check *c, const char *digest, const char *what)
{
	if (json_object_get(c->checked, digest))
		return;
	json_object_set_new(c->checked, digest, json_true());
	unsigned char md[SHA256_LEN];
	int r = object_state(c->s, digest, md);
	if (r == 0)
		return;
	if (r == -EINVAL) {
		c->problems = strv_pushf(c->problems, "%s: '%s' is no digest",
		                         what, digest);
		return;
	}
	char d[DIGEST_STR_LEN + 1];
	digest_format(md, d);
	_cleanup_free_ char *p = problem_of(r);
	c->problems =
	        strv_pushf(c->problems, "%s: object %.19s %s", what, d, p);
}

/* Each stored file a manifest lists. */
static void check_tree(Check *c, const char *manifest, const char *path,
                       bool single, const char *role)
{
	unsigned char md[SHA256_LEN];
	if (digest_parse(manifest, md) < 0)
		return;
	_cleanup_manifest_ Manifest *m = NULL;
	if (manifest_load(c->s, md, &m) < 0)
		return; /* named already, as an object */
	for (size_t i = 0; i < m->n; i++) {
		if (m->entries[i].kind != ENTRY_FILE)
			continue;
		char d[DIGEST_STR_LEN + 1];
		digest_format(m->entries[i].digest, d);
		_cleanup_free_ char *p =
		        single ? xstrdup(path)
		               : path_join(path, m->entries[i].path);
		_cleanup_free_ char *what = xasprintf("%s '%s'", role, p);
		check_object(c, d, what);
	}
}

static const json_t *byproduct(const json_t *stmt, const char *name)
{
	size_t i;
	const json_t *v;
	json_array_foreach (
	        json_get_path(stmt, "predicate.runDetails.byproducts"), i, v)
		if (streq(json_get_string(v, "name") ?: "", name))
			return v;
	return NULL;
}

int attest_check(Store *s, const json_t *stmt, char ***ret_problems,
                 char **ret_run)
{
	const char *type = json_get_string(stmt, "_type");
	const char *ptype = json_get_string(stmt, "predicateType");
	const char *id = json_get_string(
	        json_get_path(stmt, "predicate.runDetails.metadata"),
	        "invocationId");
	if (!type || !streq(type, ATTEST_STATEMENT_TYPE) || !ptype ||
	    !streq(ptype, ATTEST_PREDICATE_TYPE) || !id || !run_id_valid(id))
		return -EBADMSG;
	Check c = {.s = s, .checked = json_object()};
	*ret_run = xstrdup(id);
	/* The record: its bytes as attested. */
	_cleanup_free_ char *dir = path_join(s->runs, id);
	_cleanup_free_ char *rp = path_join(dir, "record.json");
	_cleanup_free_ char *sum = NULL;
	const char *want = json_get_string(
	        json_object_get(byproduct(stmt, "record.json"), "digest"),
	        "sha256");
	int r = sha256_file(rp, &sum, NULL);
	if (r < 0)
		c.problems = strv_pushf(c.problems,
		                        "the record of run %.8s cannot be read "
		                        "('%s': %s)",
		                        id, rp, strerror(-r));
	else if (!want || !streq(sum + 7, want))
		c.problems = strv_pushf(
		        c.problems,
		        "the record of run %.8s ('%s') was changed after it "
		        "was attested",
		        id, rp);
	/* The outputs: each subject's object, and the manifests. */
	size_t i;
	const json_t *v;
	json_array_foreach (json_object_get(stmt, "subject"), i, v) {
		const char *name = json_get_string(v, "name");
		const char *hex =
		        json_get_string(json_object_get(v, "digest"), "sha256");
		if (!name || !hex) {
			c.problems = strv_pushf(c.problems,
			                        "subject %zu has no name or no "
			                        "sha256",
			                        i);
			continue;
		}
		_cleanup_free_ char *d = xasprintf("sha256:%s", hex);
		_cleanup_free_ char *what = xasprintf("output '%s'", name);
		check_object(&c, d, what);
	}
	json_array_foreach (
	        json_get_path(stmt, "predicate.runDetails.byproducts"), i, v) {
		const char *m = json_get_string(
		        json_object_get(v, "annotations"), "manifest");
		if (!m)
			continue;
		const char *uri = json_get_string(v, "uri") ?: "file://?";
		_cleanup_free_ char *what =
		        xasprintf("the manifest of output '%s'", uri + 7);
		check_object(&c, m, what);
	}
	/* Workspace and inputs: their manifests and stored files. */
	json_array_foreach (json_get_path(stmt, "predicate.buildDefinition."
	                                        "resolvedDependencies"),
	                    i, v) {
		const json_t *notes = json_object_get(v, "annotations");
		const char *m = json_get_string(notes, "manifest");
		const char *uri = json_get_string(v, "uri");
		if (!m || !uri || !startswith(uri, "file://"))
			continue;
		const char *role = json_get_string(notes, "role") ?: "input";
		_cleanup_free_ char *what =
		        xasprintf("the manifest of %s '%s'", role, uri + 7);
		check_object(&c, m, what);
		const char *storage = json_get_string(notes, "storage");
		if (storage && streq(storage, "referenced"))
			continue;
		const char *kind = json_get_string(notes, "kind");
		check_tree(&c, m, uri + 7, kind && streq(kind, "file"), role);
	}
	json_decref(c.checked);
	*ret_problems = c.problems ? c.problems : xcalloc(1, sizeof(char *));
	return 0;
}

/* --- record signatures --- */

static char *store_root_of(const Record *rec)
{
	if (!rec->dir)
		return NULL;
	_cleanup_free_ char *up = path_join(rec->dir, "../..");
	return realpath(up, NULL);
}

int record_sign(const Record *rec)
{
	_cleanup_free_ char *root = store_root_of(rec);
	_cleanup_free_ char *kp = NULL;
	if (signing_key_path(root, &kp) < 0)
		return 0;
	_cleanup_signing_key_ SigningKey *k = NULL;
	int r = signing_key_load(kp, &k);
	if (r < 0)
		return r;
	_cleanup_free_ char *text = NULL;
	size_t len;
	r = read_full_file(rec->path, RECORD_MAX_SIZE, &text, &len);
	if (r < 0)
		return r;
	size_t mlen;
	_cleanup_free_ unsigned char *m =
	        pae(RECORD_SIG_PAYLOAD_TYPE, text, len, &mlen);
	_cleanup_free_ char *sig = NULL;
	r = ed25519_sign(k, m, mlen, &sig);
	if (r < 0)
		return r;
	json_auto_t *env = json_pack("{s:s,s:[{s:s,s:s}]}", "payloadType",
	                             RECORD_SIG_PAYLOAD_TYPE, "signatures",
	                             "keyid", k->id, "sig", sig);
	_cleanup_free_ char *out = json_dumps(env, JSON_INDENT(2));
	size_t n = strlen(out);
	out = xrealloc(out, n + 2);
	out[n++] = '\n';
	r = write_file_atomic(rec->dir, RECORD_SIG_NAME, out, n, 0644, true);
	return r < 0 ? r : 1;
}

int record_signature_check(const SigningKey *k, const Record *rec)
{
	_cleanup_free_ char *sp = path_join(rec->dir, RECORD_SIG_NAME);
	_cleanup_free_ char *st = NULL, *text = NULL;
	size_t sl, len;
	int r = read_full_file(sp, KEY_FILE_MAX, &st, &sl);
	if (r < 0)
		return r;
	json_auto_t *env = json_loadb(st, sl, 0, NULL);
	const char *type = json_get_string(env, "payloadType");
	if (!type || !streq(type, RECORD_SIG_PAYLOAD_TYPE))
		return -EBADMSG;
	r = read_full_file(rec->path, RECORD_MAX_SIZE, &text, &len);
	if (r < 0)
		return r;
	size_t mlen;
	_cleanup_free_ unsigned char *m = pae(type, text, len, &mlen);
	return any_signature(k, env, m, mlen) ? 1 : -EKEYREJECTED;
}
