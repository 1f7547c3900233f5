/* xrun attest RUN [-o FILE] [--key FILE]; xrun key generate|show;
 * and what xrun verify checks of signatures (--attestation, record.sig). */
#include "config.h"

#include <fcntl.h>
#include <sys/stat.h>

#include "attest.h"
#include "cmd.h"
#include "options.h"
#include "util.h"

enum { OPT_KEY = 256 };

static const CmdOption attest_options[] = {
        {'o', "output", "FILE", "write to FILE (default: standard output)"},
        {OPT_KEY, "key", "FILE",
         "the private key (default: $XRUN_SIGNING_KEY, else the store's keys/signing.pem; make one with xrun key generate)"},
        CMD_OPTION_HELP,
        {0},
};

static const CmdSpec attest_cmd = {
        .name = "attest",
        .synopsis = "RUN [-o FILE] [--key FILE]",
        .about =
                "Signed provenance of a run: an in-toto Statement v1 whose subjects\n"
                "are the run's output files (path and sha256), with a SLSA\n"
                "Provenance v1 predicate (argv, params and seed; sandbox and\n"
                "determinism; workspace, inputs, program, libraries and Python\n"
                "distributions with their digests; xrun's version, the run id, start\n"
                "and end), in a DSSE envelope signed with an Ed25519 key. Check it\n"
                "with xrun verify --attestation FILE.\n",
        .options = attest_options,
};

static const CmdOption key_options[] = {
        {'o', "output", "FILE", "generate: where the key goes"},
        CMD_OPTION_HELP,
        {0},
};

static const char key_about[] =
        "generate: a new Ed25519 signing key, PEM (PKCS#8), mode 0600, at\n"
        "FILE (default: the store's keys/signing.pem, which xrun then uses:\n"
        "records are signed as they are written, and xrun attest signs\n"
        "with it); the public key goes beside it as FILE.pub and to\n"
        "standard output. Never over an existing file.\n"
        "show: the key id and public key of FILE (default: the configured\n"
        "key, $XRUN_SIGNING_KEY or the store's), to give to those who\n"
        "verify (xrun verify --key PUBLIC.pem).\n";

/* Options before the verb, and after it (xrun key generate -o FILE). */
static const CmdSpec key_cmd = {
        .name = "key",
        .synopsis = "generate [-o FILE]\n       xrun key show [FILE]",
        .about = key_about,
        .options = key_options,
        .stop_at_operand = true,
};
static const CmdSpec key_verb_cmd = {
        .name = "key",
        .synopsis = "generate [-o FILE]\n       xrun key show [FILE]",
        .about = key_about,
        .options = key_options,
};

static const char *key_error(int r)
{
	return r == -EINVAL ? "not an Ed25519 key in PEM form" : strerror(-r);
}

/* The key of --key FILE, else the configured one; prints the error. */
static int find_key(Context *ctx, const char *arg, bool need_private,
                    SigningKey **ret)
{
	_cleanup_free_ char *path = arg ? xstrdup(arg) : NULL;
	if (!path) {
		(void)context_find_store(ctx, false);
		if (signing_key_path(ctx->store ? ctx->store->root : NULL,
		                     &path) < 0) {
			log_error(
			        "no signing key: make one with xrun key "
			        "generate, set XRUN_SIGNING_KEY, or pass --key "
			        "FILE");
			return 2;
		}
	}
	int r = signing_key_load(path, ret);
	if (r < 0) {
		log_error("cannot use the key '%s': %s", path, key_error(r));
		return 2;
	}
	if (need_private && !signing_key_private(*ret)) {
		log_error("'%s' is a public key: signing needs the private "
		          "key",
		          path);
		*ret = signing_key_free(*ret);
		return 2;
	}
	return 0;
}

static int write_output(const char *out, const char *text)
{
	if (!out) {
		fputs(text, stdout);
		return finish_stdout(0);
	}
	_cleanup_free_ char *dir = xstrdup(out);
	char *slash = strrchr(dir, '/');
	const char *name = slash ? slash + 1 : out;
	if (slash)
		*(slash == dir ? slash + 1 : slash) = 0;
	int r = write_file_atomic(slash ? dir : ".", name, text, strlen(text),
	                          0644, true);
	if (r < 0)
		return log_error_errno(r, "cannot write '%s': %m", out), 1;
	return 0;
}

int cmd_attest(int argc, char **argv, Context *ctx)
{
	const char *out = NULL, *key = NULL;
	_cleanup_cmd_parser_ CmdParser opt_parser;
	cmd_parser_init(&opt_parser, &attest_cmd, argc, argv);
	int c;
	while ((c = cmd_option_next(&opt_parser)) > 0) {
		if (c == 'o')
			out = opt_parser.arg;
		else if (c == OPT_KEY)
			key = opt_parser.arg;
	}
	if (c < 0)
		return opt_parser.status;
	if (argc - optind != 1)
		return cmd_usage_error(&attest_cmd, "attest takes one RUN");
	if (context_find_store(ctx, true) < 0)
		return 2;
	_cleanup_record_ Record *rec = NULL;
	if (load_run(ctx, argv[optind], &rec))
		return 2;
	const char *status = record_status(rec);
	if (streq(status, "running")) {
		log_error("run %.8s is still running; attest it once it has "
		          "ended",
		          record_id(rec));
		return 2;
	}
	if (record_check_digest(rec) == -EBADMSG) {
		log_error(
		        "the record '%s' no longer matches its record_sha256 "
		        "(edited after xrun wrote it): xrun attests only what "
		        "it recorded",
		        rec->path);
		return 1;
	}
	_cleanup_signing_key_ SigningKey *k = NULL;
	int st = find_key(ctx, key, true, &k);
	if (st)
		return st;
	json_auto_t *stmt = NULL;
	_cleanup_free_ char *err = NULL;
	int r = attest_statement(ctx->store, rec, &stmt, &err);
	if (r < 0) {
		log_error("cannot attest run %.8s: %s; see xrun verify",
		          record_id(rec), err);
		return 1;
	}
	/* in-toto: a Statement is about at least one subject. */
	if (json_array_size(json_object_get(stmt, "subject")) == 0) {
		log_error("run %.8s has no output files to attest; name what a "
		          "run writes with -o PATH",
		          record_id(rec));
		return 1;
	}
	_cleanup_free_ char *payload = json_dumps(stmt, JSON_COMPACT);
	json_auto_t *env = NULL;
	r = dsse_sign(k, ATTEST_PAYLOAD_TYPE, payload, strlen(payload), &env);
	if (r < 0) {
		log_error_errno(r, "cannot sign: %m");
		return 1;
	}
	_cleanup_free_ char *text = json_dumps(env, JSON_INDENT(2));
	char *t = xasprintf("%s\n", text);
	st = write_output(out, t);
	free(t);
	if (!st)
		log_info(
		        "attested run %.8s: %zu output file%s, signed by %.19s",
		        record_id(rec),
		        json_array_size(json_object_get(stmt, "subject")),
		        json_array_size(json_object_get(stmt, "subject")) == 1
		                ? ""
		                : "s",
		        signing_key_id(k));
	return st;
}

int cmd_key(int argc, char **argv, Context *ctx)
{
	const char *out = NULL;
	_cleanup_cmd_parser_ CmdParser opt_parser;
	cmd_parser_init(&opt_parser, &key_cmd, argc, argv);
	int c;
	while ((c = cmd_option_next(&opt_parser)) > 0)
		out = opt_parser.arg; /* -o, the only one */
	if (c < 0)
		return opt_parser.status;
	const char *verb = optind < argc ? argv[optind++] : NULL;
	if (!verb || (!streq(verb, "generate") && !streq(verb, "show")))
		return cmd_usage_error(&key_cmd, "key takes generate or show");
	/* Options after the verb too (xrun key generate -o FILE). */
	cmd_parser_resume(&opt_parser, &key_verb_cmd);
	while ((c = cmd_option_next(&opt_parser)) > 0)
		out = opt_parser.arg;
	if (c < 0)
		return opt_parser.status;
	_cleanup_signing_key_ SigningKey *k = NULL;
	if (streq(verb, "show")) {
		if (argc - optind > 1) {
			log_error("key show takes at most one FILE");
			return 2;
		}
		int st = find_key(ctx, optind < argc ? argv[optind] : out,
		                  false, &k);
		if (st)
			return st;
	} else {
		if (optind < argc)
			return cmd_usage_error(
			        &key_cmd,
			        "key generate takes no FILE but -o FILE");
		_cleanup_free_ char *path = out ? xstrdup(out) : NULL;
		if (!path) {
			if (context_find_store(ctx, true) < 0)
				return 2;
			_cleanup_free_ char *dir =
			        path_join(ctx->store->root, "keys");
			if (mkdir(dir, 0700) < 0 && errno != EEXIST)
				return log_error_errno(-errno,
				                       "cannot make '%s': %m",
				                       dir),
				       2;
			path = path_join(dir, SIGNING_KEY_NAME);
		}
		int r = signing_key_generate(path, &k);
		if (r == -EEXIST) {
			log_error("'%s' exists already: xrun never replaces a "
			          "key; remove it first, or give -o FILE",
			          path);
			return 2;
		}
		if (r < 0) {
			log_error_errno(r, "cannot write the key '%s': %m",
			                path);
			return 2;
		}
		log_info("wrote the private key '%s' (keep it secret) and the "
		         "public key '%s.pub' (give it to those who verify)",
		         path, path);
		if (!out)
			log_info("records of this store are now signed as they "
			         "are written");
	}
	_cleanup_free_ char *pem = signing_key_public_pem(k);
	printf("# key %s\n%s", signing_key_id(k), pem ? pem : "");
	return finish_stdout(0);
}

int verify_attestation(Context *ctx, const char *file, const char *key)
{
	_cleanup_free_ char *text = NULL;
	size_t len;
	int r = read_full_file(file, (size_t)256 << 20, &text, &len);
	if (r < 0) {
		log_error_errno(r, "cannot read '%s': %m", file);
		return 2;
	}
	json_error_t jerr;
	json_auto_t *env = json_loadb(text, len, 0, &jerr);
	if (!json_is_object(env) || !json_get_string(env, "payloadType")) {
		printf("'%s' is not a DSSE envelope (%s)\n", file,
		       env ? "no payloadType" : jerr.text);
		return finish_stdout(1);
	}
	if (context_find_store(ctx, true) < 0)
		return 2;
	_cleanup_signing_key_ SigningKey *k = NULL;
	int st = find_key(ctx, key, false, &k);
	if (st)
		return st;
	_cleanup_free_ char *type = NULL, *payload = NULL;
	size_t plen;
	r = dsse_verify(k, env, &type, &payload, &plen);
	if (r == -EKEYREJECTED) {
		printf("the envelope '%s' does not verify with key %.19s: it "
		       "was changed after it was signed, or another key signed "
		       "it\n",
		       file, signing_key_id(k));
		return finish_stdout(1);
	}
	if (r < 0 || !streq(type, ATTEST_PAYLOAD_TYPE)) {
		printf("the envelope '%s' is malformed (%s)\n", file,
		       r < 0 ? "no payload or no signatures"
		             : "its payloadType is not " ATTEST_PAYLOAD_TYPE);
		return finish_stdout(1);
	}
	json_auto_t *stmt = json_loadb(payload, plen, 0, NULL);
	_cleanup_strv_free_ char **problems = NULL;
	_cleanup_free_ char *run = NULL;
	r = attest_check(ctx->store, stmt, &problems, &run);
	if (r < 0) {
		printf("the payload of '%s' is no xrun attestation (in-toto "
		       "Statement v1, SLSA Provenance v1, a run id)\n",
		       file);
		return finish_stdout(1);
	}
	for (char **p = problems; *p; p++)
		printf("%s\n", *p);
	size_t n = strv_length(problems);
	if (n == 0)
		log_info("attestation '%s' of run %.8s: signed by %.19s; the "
		         "record, every output, manifest and input file intact",
		         file, run, signing_key_id(k));
	else
		log_error("attestation '%s' of run %.8s: signed by %.19s, but "
		          "%zu thing%s in the store no longer match%s it",
		          file, run, signing_key_id(k), n, n == 1 ? "" : "s",
		          n == 1 ? "es" : "");
	return finish_stdout(n ? 1 : 0);
}

size_t verify_signatures(Context *ctx, Record *const *recs, size_t n,
                         const char *key)
{
	_cleanup_free_ char *path = key ? xstrdup(key) : NULL;
	if (!path &&
	    signing_key_path(ctx->store ? ctx->store->root : NULL, &path) < 0) {
		for (size_t i = 0; i < n; i++) {
			_cleanup_free_ char *sp =
			        path_join(recs[i]->dir, RECORD_SIG_NAME);
			if (access(sp, F_OK) == 0) {
				log_info("records are signed: set "
				         "XRUN_SIGNING_KEY or pass --key "
				         "PUBLIC.pem to check their "
				         "signatures");
				break;
			}
		}
		return 0;
	}
	_cleanup_signing_key_ SigningKey *k = NULL;
	int r = signing_key_load(path, &k);
	if (r < 0) {
		printf("the key '%s' cannot be used: %s\n", path, key_error(r));
		return 1;
	}
	/* Records written before the key existed have no signature, and
	 * that is no fault; one written since must have one. */
	struct stat kst;
	_cleanup_free_ char *since = NULL;
	if (stat(path, &kst) == 0)
		since = format_rfc3339((int64_t)kst.st_mtim.tv_sec *
		                               1000000000 +
		                       kst.st_mtim.tv_nsec);
	size_t bad = 0, older = 0, good = 0;
	for (size_t i = 0; i < n; i++) {
		r = record_signature_check(k, recs[i]);
		if (r == 1) {
			good++;
			continue;
		}
		const char *created = record_created(recs[i]);
		if (r == -ENOENT && since && created &&
		    strcmp(created, since) < 0) {
			older++;
			continue;
		}
		bad++;
		if (r == -ENOENT)
			printf("record '%s' is not signed (written since the "
			       "key '%s' was made)\n",
			       recs[i]->path, path);
		else if (r == -EKEYREJECTED)
			printf("record '%s': its signature does not verify "
			       "with "
			       "key %.19s: the record was changed after it was "
			       "signed, or another key signed it\n",
			       recs[i]->path, signing_key_id(k));
		else
			printf("record '%s': its %s cannot be read: %s\n",
			       recs[i]->path, RECORD_SIG_NAME,
			       r == -EBADMSG ? "not a signature"
			                     : strerror(-r));
	}
	if (log_level >= LOG_NORMAL)
		fprintf(stderr,
		        "xrun: signatures: %zu verified with key %.19s%s%s%s\n",
		        good, signing_key_id(k), bad ? ", " : "",
		        bad ? "problems found" : "",
		        older ? " (records older than the key are unsigned)"
		              : "");
	return bad;
}
