/* xrun diff [--json] [--all] RUN_A RUN_B */
#include "config.h"

#include "cmd.h"
#include "options.h"
#include "diff.h"
#include "pin.h"
#include "util.h"

enum {
	OPT_JSON = 256,
	OPT_ALL,
};

static const CmdOption diff_options[] = {
        {OPT_JSON, "json", NULL,
         "the difference as a JSON document (schemas/run-diff.schema.json)"},
        {OPT_ALL, "all", NULL,
         "show every section and field, also what is the same"},
        CMD_OPTION_HELP,
        {0},
};

static const CmdSpec diff_cmd = {
        .name = "diff",
        .synopsis = "[--json] [--all] RUN_A RUN_B",
        .about =
                "What differs between two runs, section by section: status and result,\n"
                "params, metrics, seed, command, source, inputs and outputs down to each\n"
                "file, environment, software, host and sandbox. Run ids, times, durations\n"
                "and resource usage never make runs differ.\n",
        .options = diff_options,
        .after =
                "RUN is a run id, a unique prefix of at least 4 characters, latest,\n"
                "latest~N, or the path of a record file.\n"
                "Exit status: 0 when nothing differs, 1 when something does, 2 on error.\n",
};

typedef struct Loader {
	Store *own[2]; /* the store each record lives in, when it is one */
	Store *ctx;    /* the store of the command line, or NULL */
} Loader;

static int load_manifest(void *userdata, int side, const char *digest,
                         Manifest **ret)
{
	Loader *l = userdata;
	unsigned char md[SHA256_LEN];
	int r = digest_parse(digest, md);
	if (r < 0)
		return r;
	Store *stores[] = {l->own[side], l->ctx};
	r = -ENOENT;
	for (size_t i = 0; i < ELEMENTSOF(stores); i++) {
		if (!stores[i] || (i == 1 && stores[0] && stores[1] &&
		                   streq(stores[0]->root, stores[1]->root)))
			continue;
		r = manifest_load(stores[i], md, ret);
		if (r >= 0)
			return r;
	}
	if (r < 0)
		log_debug("manifest %s not available: %s", digest,
		          strerror(-r));
	return r;
}

/* A record at STORE/runs/ID/record.json reads its manifests from STORE,
 * wherever STORE is. */
static Store *record_store(const Record *rec)
{
	if (!rec->dir)
		return NULL;
	_cleanup_free_ char *runs = path_join(rec->dir, "..");
	_cleanup_free_ char *real = realpath(runs, NULL);
	if (!real || !endswith(real, "/runs"))
		return NULL;
	real[strlen(real) - strlen("/runs")] = 0;
	Store *s = NULL;
	if (store_open(*real ? real : "/", false, &s, NULL) < 0)
		return NULL;
	return s;
}

/* When one run replays the other: that, and the replay's verdict (the
 * relation is no difference: a replay is meant to have another id). */
static void print_replay_relation(const Record *a, const Record *b)
{
	const Record *orig = a, *rep = b;
	const char *of = json_get_string(b->root, "replay_of");
	if (!of || !record_id(a) || !streq(of, record_id(a))) {
		orig = b, rep = a;
		of = json_get_string(a->root, "replay_of");
		if (!of || !record_id(b) || !streq(of, record_id(b)))
			return;
	}
	const json_t *v = json_object_get(rep->root, "verification");
	const char *verdict = !json_is_object(v) ? "not verified"
	                      : json_is_true(json_object_get(v, "reproduced"))
	                              ? "reproduced"
	                              : "differs";
	printf("replay\n  %.8s replays %.8s: %s\n", record_id(rep),
	       record_id(orig), verdict);
	size_t i;
	json_t *f;
	json_array_foreach (json_object_get(v, "files"), i, f)
		if (!json_is_true(json_object_get(f, "match")))
			printf("  differs: %s\n",
			       json_get_string(f, "path")
			               ? json_get_string(f, "path")
			               : "?");
	if (json_is_object(v) &&
	    !json_is_true(
	            json_object_get(json_object_get(v, "stdout"), "match")))
		printf("  differs: stdout\n");
}

int cmd_diff(int argc, char **argv, Context *ctx)
{
	bool json = false;
	DiffOptions opt = {0};
	_cleanup_cmd_parser_ CmdParser opt_parser;
	cmd_parser_init(&opt_parser, &diff_cmd, argc, argv);
	int c;
	while ((c = cmd_option_next(&opt_parser)) > 0) {
		switch (c) {
		case OPT_JSON:
			json = true;
			break;
		case OPT_ALL:
			opt.all = true;
			break;
		}
	}
	if (c < 0)
		return opt_parser.status;
	if (optind != argc - 2)
		return cmd_usage_error(&diff_cmd, "diff takes two RUNs");
	_cleanup_record_ Record *a = NULL, *b = NULL;
	if (load_run(ctx, argv[optind], &a) ||
	    load_run(ctx, argv[optind + 1], &b))
		return 2;
	(void)warn_if_edited(a);
	(void)warn_if_edited(b);
	/* What a reader should believe: a dead launcher's record reads as
	 * abandoned, as in xrun show. */
	json_object_set_new(a->root, "status", json_string(record_status(a)));
	json_object_set_new(b->root, "status", json_string(record_status(b)));

	Loader l = {.own = {record_store(a), record_store(b)},
	            .ctx = ctx->store};
	opt.load_manifest = load_manifest;
	opt.userdata = &l;
	json_auto_t *d = diff_records(a->root, b->root, &opt);
	store_free(l.own[0]);
	store_free(l.own[1]);
	json_object_set_new(json_object_get(d, "a"), "record",
	                    json_bstr(a->path));
	json_object_set_new(json_object_get(d, "b"), "record",
	                    json_bstr(b->path));

	if (json) {
		if (json_dumpf_shortest(d, stdout, JSON_INDENT(2)) == 0)
			putchar('\n');
	} else {
		print_replay_relation(a, b);
		if (!print_parent_runs(ctx, a, "parents", "  a"))
			(void)print_parent_runs(ctx, b, "parents", "  b");
		else
			(void)print_parent_runs(ctx, b, NULL, "  b");
		_cleanup_free_ char *text =
		        diff_format_text(d, want_color(ctx, STDOUT_FILENO));
		fputs(text, stdout);
	}
	int st = diff_differs(d) ? 1 : 0;
	if (fflush(stdout) != 0 || ferror(stdout)) {
		if (errno == EPIPE)
			return st;
		log_error_errno(-errno, "cannot write to standard output: %m");
		return 2;
	}
	return st;
}
