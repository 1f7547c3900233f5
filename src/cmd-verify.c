/* xrun verify [RUN | --all] */
#include "config.h"

#include <inttypes.h>

#include "cmd.h"
#include "options.h"
#include "format.h"
#include "refs.h"
#include "util.h"

enum {
	OPT_ALL = 256,
	OPT_ATTESTATION,
	OPT_KEY,
};

static const CmdOption verify_options[] = {
        {OPT_ALL, "all", NULL,
         "every record and every object of the store (the default without RUN)"},
        {OPT_ATTESTATION, "attestation", "FILE",
         "check an envelope of xrun attest against this store"},
        {OPT_KEY, "key", "FILE",
         "the key to check signatures with (a public key will do)"},
        CMD_OPTION_HELP,
        {0},
};

static const CmdSpec verify_cmd = {
        .name = "verify",
        .synopsis = "[RUN | --all] [--key FILE]\n"
                    "       xrun verify --attestation FILE [--key FILE]",
        .about =
                "Re-hash the stored objects a run references (its workspace, inputs\n"
                "and outputs, their manifests and every file they list) and report\n"
                "each one that is missing or whose bytes no longer match its name.\n"
                "With --all (the default without RUN), every record of the store is\n"
                "read and every object in the store is re-hashed, referenced or not.\n"
                "\n"
                "A record edited after xrun sealed it (its record_sha256 no longer\n"
                "matches) is reported too.\n"
                "\n"
                "Where a signing key is configured ($XRUN_SIGNING_KEY, the store's\n"
                "keys/signing.pem, or --key FILE, a public key will do), each\n"
                "record's signature (record.sig) is checked too.\n"
                "--attestation FILE checks an envelope of xrun attest: its\n"
                "signature, and the record, outputs, manifests and input files it\n"
                "names against this store, naming each that changed.\n"
                "\n"
                "Exit status: 0 when everything is intact, 1 when an object is\n"
                "missing or corrupt or a record cannot be read or was edited, 2 on\n"
                "other errors.\n",
        .options = verify_options,
};

bool warn_if_edited(const Record *rec)
{
	if (record_check_digest(rec) != -EBADMSG)
		return false;
	log_warn("record '%s' no longer matches its digest: it was edited "
	         "after it was sealed",
	         rec->path);
	return true;
}

int cmd_verify(int argc, char **argv, Context *ctx)
{
	bool all = false;
	const char *attestation = NULL, *key = NULL;
	_cleanup_cmd_parser_ CmdParser opt_parser;
	cmd_parser_init(&opt_parser, &verify_cmd, argc, argv);
	int c;
	while ((c = cmd_option_next(&opt_parser)) > 0) {
		switch (c) {
		case OPT_ALL:
			all = true;
			break;
		case OPT_ATTESTATION:
			attestation = opt_parser.arg;
			break;
		case OPT_KEY:
			key = opt_parser.arg;
			break;
		}
	}
	if (c < 0)
		return opt_parser.status;
	if (attestation && !all && optind == argc)
		return verify_attestation(ctx, attestation, key);
	if (argc - optind > 1 || (all && optind < argc) || attestation)
		return cmd_usage_error(&verify_cmd,
		                       "verify takes one RUN or --all");
	all = optind == argc;
	if (context_find_store(ctx, true) < 0)
		return 2;
	Store *s = ctx->store;
	_cleanup_ref_set_ RefSet *set = ref_set_new();
	size_t bad_records = 0, n_runs = 0, bad_sigs = 0;
	_cleanup_strv_free_ char **edited = NULL;
	if (all) {
		Record **recs;
		size_t n;
		int r = store_load_all(s, &recs, &n, &bad_records);
		if (r < 0) {
			log_error_errno(r, "cannot list runs in '%s': %m",
			                s->runs);
			return 2;
		}
		for (size_t i = 0; i < n; i++) {
			ref_set_add_record(set, s, recs[i]);
			if (record_check_digest(recs[i]) == -EBADMSG)
				edited = strv_push(edited, recs[i]->path);
		}
		n_runs = n;
		bad_sigs = verify_signatures(ctx, recs, n, key);
		records_free(recs, n);
	} else {
		_cleanup_record_ Record *rec = NULL;
		int st = load_run(ctx, argv[optind], &rec);
		if (st)
			return st;
		ref_set_add_record(set, s, rec);
		if (record_check_digest(rec) == -EBADMSG)
			edited = strv_push(edited, rec->path);
		n_runs = 1;
		bad_sigs = verify_signatures(ctx, &rec, 1, key);
	}

	/* What to hash: every referenced object, and with --all every
	 * object there is. Manifests were hashed when they were read. */
	size_t cap = set->n;
	StoredObject *stored = NULL;
	size_t n_stored = 0;
	if (all) {
		int r = store_list_objects(s, &stored, &n_stored);
		if (r < 0 && r != -ENOENT) {
			log_error_errno(r,
			                "cannot list the objects in '%s': %m",
			                s->objects);
			return 2;
		}
		cap += n_stored;
	}
	_cleanup_free_ unsigned char(*mds)[SHA256_LEN] =
	        xcalloc(cap + 1, SHA256_LEN);
	_cleanup_free_ int *states = xcalloc(cap + 1, sizeof(int));
	_cleanup_free_ ObjectRef **who = xcalloc(cap + 1, sizeof(ObjectRef *));
	size_t n = 0;
	for (size_t i = 0; i < set->n; i++) {
		if (set->refs[i].manifest && set->refs[i].state)
			continue; /* reported below */
		memcpy(mds[n], set->refs[i].md, SHA256_LEN);
		who[n++] = &set->refs[i];
	}
	for (size_t i = 0; i < n_stored; i++)
		if (!ref_set_has(set, stored[i].md)) {
			memcpy(mds[n], stored[i].md, SHA256_LEN);
			who[n++] = NULL;
		}
	free(stored);
	uint64_t bytes = 0;
	objects_verify(s, (const unsigned char(*)[SHA256_LEN])mds, n, states,
	               &bytes);

	size_t missing = 0, corrupt = 0;
	/* A manifest that cannot be read, with every run that needs it
	 * (set->problems names the first only). */
	for (size_t i = 0; i < set->n; i++) {
		const ObjectRef *m = &set->refs[i];
		if (!m->manifest || !m->state)
			continue;
		char d[DIGEST_STR_LEN + 1];
		digest_format(m->md, d);
		printf("the manifest %s of '%s' (run%s %s) %s\n", d, m->example,
		       strchr(m->runs, ',') ? "s" : "", m->runs,
		       m->state == -ENOENT    ? "is missing"
		       : m->state == -EBADMSG ? "is corrupt"
		                              : strerror(-m->state));
		if (m->state == -ENOENT)
			missing++;
		else
			corrupt++;
	}
	for (size_t i = 0; i < n; i++) {
		if (!states[i])
			continue;
		char d[DIGEST_STR_LEN + 1];
		digest_format(mds[i], d);
		_cleanup_free_ char *path = store_object_where(s, mds[i]);
		const char *what = states[i] == -ENOENT ? "missing"
		                   : states[i] == -EBADMSG
		                           ? "corrupt"
		                           : strerror(-states[i]);
		if (states[i] == -ENOENT)
			missing++;
		else
			corrupt++;
		if (who[i]) {
			_cleanup_free_ char *runs = ref_runs(set, who[i]);
			printf("%s object %s ('%s'), referenced by run%s %s "
			       "for '%s'\n",
			       what, d, path, strchr(runs, ',') ? "s" : "",
			       runs, who[i]->example);
		} else
			printf("%s object %s ('%s'), referenced by no run\n",
			       what, d, path);
	}
	/* A pack's index that no longer matches its own digest: its
	 * objects were each checked above, but the index is damaged. */
	_cleanup_strv_free_ char **bad_packs = NULL;
	if (all && store_verify_packs(s, &bad_packs) == 0)
		for (char **p = bad_packs; p && *p; p++) {
			printf("corrupt pack index '%s/%s.idx': it no longer "
			       "matches its digest\n",
			       s->packs, *p);
			corrupt++;
		}
	for (char **p = edited; p && *p; p++)
		printf("record '%s' no longer matches its digest: it was "
		       "edited after it was sealed\n",
		       *p);
	size_t n_edited = strv_length(edited);
	if (bad_records)
		printf("%zu record%s cannot be read; see xrun ls\n",
		       bad_records, bad_records == 1 ? "" : "s");
	_cleanup_free_ char *hb = format_bytes(bytes);
	if (log_level >= LOG_NORMAL)
		fprintf(stderr,
		        "xrun: verified %zu object%s (%s) of %zu run%s: %s\n",
		        n, n == 1 ? "" : "s", hb, n_runs,
		        n_runs == 1 ? "" : "s",
		        missing + corrupt + bad_records + n_edited + bad_sigs ==
		                        0
		                ? "all intact"
		                : "problems found");
	if (missing + corrupt)
		fprintf(stderr,
		        "xrun: %zu missing, %zu corrupt; a run that needs them "
		        "cannot be replayed; delete the corrupt object files "
		        "named above, then pin the same files again (xrun run "
		        "-i PATH) to store them anew\n",
		        missing, corrupt);
	if (n_edited)
		fprintf(stderr,
		        "xrun: %zu record%s edited by hand: what %s say%s is "
		        "not what xrun recorded; replay refuses %s without "
		        "--force\n",
		        n_edited, n_edited == 1 ? " was" : "s were",
		        n_edited == 1 ? "it" : "they", n_edited == 1 ? "s" : "",
		        n_edited == 1 ? "it" : "them");
	return finish_stdout(
	        missing + corrupt + bad_records + n_edited + bad_sigs > 0 ? 1
	                                                                  : 0);
}
