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

/* One verify, as its steps fill it in. */
typedef struct Verify {
	Store *s;
	bool all;
	RefSet *set;
	char **edited; /* the paths of records edited after sealing */
	size_t bad_records, n_runs, bad_sigs;
	/* The objects hashed: digest, state (0 or -errno), referenced by */
	unsigned char (*mds)[SHA256_LEN];
	int *states;
	ObjectRef **who;
	size_t n;
	uint64_t bytes;
	size_t missing, corrupt;
} Verify;

static void verify_done(Verify *v)
{
	ref_set_free(v->set);
	strv_free(v->edited);
	free(v->mds);
	free(v->states);
	free(v->who);
}

/* The records to verify (every one, or RUN's), their references, the
 * edited ones, their signatures: CMD_GO_ON or an exit status. */
static int verify_records(Verify *v, Context *ctx, const char *run,
                          const char *key)
{
	Store *s = v->s;
	if (v->all) {
		Record **recs;
		size_t n;
		int r = store_load_all(s, &recs, &n, &v->bad_records);
		if (r < 0) {
			log_error_errno(r, "cannot list runs in '%s': %m",
			                s->runs);
			return 2;
		}
		for (size_t i = 0; i < n; i++) {
			ref_set_add_record(v->set, s, recs[i]);
			if (record_check_digest(recs[i]) == -EBADMSG)
				v->edited = strv_push(v->edited, recs[i]->path);
		}
		v->n_runs = n;
		v->bad_sigs = verify_signatures(ctx, recs, n, key);
		records_free(recs, n);
	} else {
		_cleanup_record_ Record *rec = NULL;
		int st = load_run(ctx, run, &rec);
		if (st)
			return st;
		ref_set_add_record(v->set, s, rec);
		if (record_check_digest(rec) == -EBADMSG)
			v->edited = strv_push(v->edited, rec->path);
		v->n_runs = 1;
		v->bad_sigs = verify_signatures(ctx, &rec, 1, key);
	}
	return CMD_GO_ON;
}

/* Hash every referenced object, and with --all every object there is.
 * Manifests were hashed when they were read. CMD_GO_ON or 2. */
static int verify_hash(Verify *v)
{
	const RefSet *set = v->set;
	size_t cap = set->n;
	StoredObject *stored = NULL;
	size_t n_stored = 0;
	if (v->all) {
		int r = store_list_objects(v->s, &stored, &n_stored);
		if (r < 0 && r != -ENOENT) {
			log_error_errno(r,
			                "cannot list the objects in '%s': %m",
			                v->s->objects);
			return 2;
		}
		cap += n_stored;
	}
	v->mds = xcalloc(cap + 1, SHA256_LEN);
	v->states = xcalloc(cap + 1, sizeof(int));
	v->who = xcalloc(cap + 1, sizeof(ObjectRef *));
	size_t n = 0;
	for (size_t i = 0; i < set->n; i++) {
		if (set->refs[i].manifest && set->refs[i].state)
			continue; /* see verify_print_manifests() */
		memcpy(v->mds[n], set->refs[i].md, SHA256_LEN);
		v->who[n++] = &set->refs[i];
	}
	for (size_t i = 0; i < n_stored; i++)
		if (!ref_set_has(set, stored[i].md)) {
			memcpy(v->mds[n], stored[i].md, SHA256_LEN);
			v->who[n++] = NULL;
		}
	free(stored);
	v->n = n;
	objects_verify(v->s, (const unsigned char(*)[SHA256_LEN])v->mds, n,
	               v->states, &v->bytes);
	return CMD_GO_ON;
}

/* A manifest that cannot be read, with every run that needs it
 * (set->problems names the first only). */
static void verify_print_manifests(Verify *v)
{
	const RefSet *set = v->set;
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
			v->missing++;
		else
			v->corrupt++;
	}
}

/* Each object missing or corrupt, with the runs that reference it. */
static void verify_print_objects(Verify *v)
{
	for (size_t i = 0; i < v->n; i++) {
		int state = v->states[i];
		if (!state)
			continue;
		char d[DIGEST_STR_LEN + 1];
		digest_format(v->mds[i], d);
		_cleanup_free_ char *path = store_object_where(v->s, v->mds[i]);
		const char *what = state == -ENOENT    ? "missing"
		                   : state == -EBADMSG ? "corrupt"
		                                       : strerror(-state);
		if (state == -ENOENT)
			v->missing++;
		else
			v->corrupt++;
		if (v->who[i]) {
			_cleanup_free_ char *runs = ref_runs(v->set, v->who[i]);
			printf("%s object %s ('%s'), referenced by run%s %s "
			       "for '%s'\n",
			       what, d, path, strchr(runs, ',') ? "s" : "",
			       runs, v->who[i]->example);
		} else
			printf("%s object %s ('%s'), referenced by no run\n",
			       what, d, path);
	}
	/* A pack's index that no longer matches its own digest: its
	 * objects were each checked above, but the index is damaged. */
	_cleanup_strv_free_ char **bad_packs = NULL;
	if (v->all && store_verify_packs(v->s, &bad_packs) == 0)
		for (char **p = bad_packs; p && *p; p++) {
			printf("corrupt pack index '%s/%s.idx': it no longer "
			       "matches its digest\n",
			       v->s->packs, *p);
			v->corrupt++;
		}
}

/* The edited and unreadable records, then the summary on stderr: the
 * exit status. */
static int verify_summary(const Verify *v)
{
	for (char **p = v->edited; p && *p; p++)
		printf("record '%s' no longer matches its digest: it was "
		       "edited after it was sealed\n",
		       *p);
	size_t n = v->n, n_runs = v->n_runs, bad_records = v->bad_records;
	size_t missing = v->missing, corrupt = v->corrupt;
	size_t n_edited = strv_length(v->edited);
	if (bad_records)
		printf("%zu record%s cannot be read; see xrun ls\n",
		       bad_records, bad_records == 1 ? "" : "s");
	size_t problems =
	        missing + corrupt + bad_records + n_edited + v->bad_sigs;
	_cleanup_free_ char *hb = format_bytes(v->bytes);
	if (log_level >= LOG_NORMAL)
		fprintf(stderr,
		        "xrun: verified %zu object%s (%s) of %zu run%s: %s\n",
		        n, n == 1 ? "" : "s", hb, n_runs,
		        n_runs == 1 ? "" : "s",
		        problems == 0 ? "all intact" : "problems found");
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
	return problems > 0 ? 1 : 0;
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
	Verify v = {.s = ctx->store, .all = all, .set = ref_set_new()};
	int st = verify_records(&v, ctx, all ? NULL : argv[optind], key);
	if (st == CMD_GO_ON)
		st = verify_hash(&v);
	if (st == CMD_GO_ON) {
		verify_print_manifests(&v);
		verify_print_objects(&v);
		st = finish_stdout(verify_summary(&v));
	}
	verify_done(&v);
	return st;
}
