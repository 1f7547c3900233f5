/* xrun tag RUN [KEY=VALUE...] [--remove KEY]...  and  xrun note RUN [TEXT]
 * The annotations beside a sealed record (annotations.h). */
#include "config.h"

#include "annotations.h"
#include "cmd.h"
#include "options.h"
#include "format.h"
#include "util.h"

enum { OPT_JSON = 256 };

static const CmdOption tag_options[] = {
        {'d', "remove", "KEY", "remove the tag KEY (repeatable)"},
        {OPT_JSON, "json", NULL, "list as a JSON object"},
        CMD_OPTION_HELP,
        {0},
};

static const CmdSpec tag_cmd = {
        .name = "tag",
        .synopsis = "[--json] RUN [KEY=VALUE...] [-d KEY]...",
        .about =
                "Label a run after it ran. The tags are kept beside the record in\n"
                "runs/<id>/annotations.json: the record never changes, so its digest\n"
                "stays valid and xrun verify still passes. show, ls and report show\n"
                "them (over the record's own --tag of the same key), and ls --tag\n"
                "KEY=VALUE finds them. Without KEY=VALUE or -d: list the run's tags.\n",
        .options = tag_options,
        .stop_at_operand = true,
};

static const CmdOption note_options[] = {
        {OPT_JSON, "json", NULL, "list as a JSON array of {time, text}"},
        CMD_OPTION_HELP,
        {0},
};

static const CmdSpec note_cmd = {
        .name = "note",
        .synopsis = "[--json] RUN [TEXT...]",
        .about =
                "Add a note to a run (the words of TEXT joined by spaces), with the\n"
                "time, beside its record in runs/<id>/annotations.json; the record\n"
                "itself never changes. Without TEXT: list the run's notes.\n",
        .options = note_options,
        .stop_at_operand = true,
};

/* The run of RUN in the store, where its annotations can be kept. */
static int load_store_run(Context *ctx, const char *cmd, const char *spec,
                          Record **ret)
{
	_cleanup_record_ Record *r = NULL;
	int st = load_run(ctx, spec, &r);
	if (st)
		return st;
	const char *id = record_id(r);
	_cleanup_free_ char *want =
	        ctx->store && id ? path_join(ctx->store->runs, id) : NULL;
	_cleanup_free_ char *real = r->dir ? realpath(r->dir, NULL) : NULL;
	_cleanup_free_ char *want_real = want ? realpath(want, NULL) : NULL;
	if (!real || !want_real || !streq(real, want_real)) {
		log_error("'%s' is not a run of the store: xrun %s keeps "
		          "annotations in the store; give a run id, or --store "
		          "DIR of the store that holds it",
		          spec, cmd);
		return 1;
	}
	*ret = TAKE_PTR(r);
	return 0;
}

static int update_error(int r, const Record *rec)
{
	if (r == -EBADMSG)
		log_error("'%s/%s' is not an annotations file xrun wrote; move "
		          "it away to start afresh",
		          rec->dir, ANNOTATIONS_FILE);
	else if (r == -EACCES || r == -EPERM || r == -EROFS)
		log_error_errno(
		        r,
		        "cannot write the annotations of run %s in '%s': "
		        "%m; the run belongs to another user, who can "
		        "annotate it",
		        record_id(rec), rec->dir);
	else
		log_error_errno(r, "cannot write the annotations of run %s: %m",
		                record_id(rec));
	return 1;
}

static int load_error(int r, const Record *rec)
{
	if (r == -EBADMSG)
		log_error("'%s/%s' is not an annotations file xrun wrote; move "
		          "it away to start afresh",
		          rec->dir, ANNOTATIONS_FILE);
	else
		log_error_errno(r, "cannot read '%s/%s': %m", rec->dir,
		                ANNOTATIONS_FILE);
	return 1;
}

static int list_tags(const Record *rec, bool json)
{
	json_auto_t *a = NULL;
	int r = annotations_load(rec->dir, &a);
	if (r < 0)
		return load_error(r, rec);
	json_auto_t *t = annotations_effective_tags(rec, a);
	if (json) {
		if (json_dumpf_shortest(t, stdout, JSON_INDENT(2)) == 0)
			putchar('\n');
		return finish_stdout(0);
	}
	const char *k;
	json_t *v;
	json_object_foreach (t, k, v) {
		_cleanup_free_ char *ks = format_escape(k);
		_cleanup_free_ char *vs = format_escape(json_string_value(v));
		printf("%s=%s\n", ks, vs);
	}
	return finish_stdout(0);
}

int cmd_tag(int argc, char **argv, Context *ctx)
{
	_cleanup_strv_free_ char **unset = NULL;
	bool json = false;
	_cleanup_cmd_parser_ CmdParser opt_parser;
	cmd_parser_init(&opt_parser, &tag_cmd, argc, argv);
	int c;
	while ((c = cmd_option_next(&opt_parser)) > 0) {
		switch (c) {
		case 'd':
			if (!annotation_key_valid(opt_parser.arg))
				return cmd_usage_error(
				        &tag_cmd,
				        "bad tag key '%s': give a name without '=' or control characters",
				        opt_parser.arg);
			unset = strv_push(unset, opt_parser.arg);
			break;
		case OPT_JSON:
			json = true;
			break;
		}
	}
	if (c < 0)
		return opt_parser.status;
	if (optind >= argc)
		return cmd_usage_error(&tag_cmd,
		                       "tag takes a RUN and KEY=VALUE pairs");
	const char *spec = argv[optind++];
	json_auto_t *set = json_object();
	for (int i = optind; i < argc; i++) {
		if (streq(argv[i], "-d") || streq(argv[i], "--remove")) {
			if (i + 1 >= argc || !annotation_key_valid(argv[i + 1]))
				return cmd_usage_error(&tag_cmd,
				                       "%s takes a tag KEY",
				                       argv[i]);
			unset = strv_push(unset, argv[++i]);
			continue;
		}
		const char *eq = strchr(argv[i], '=');
		_cleanup_free_ char *key =
		        eq ? xstrndup(argv[i], (size_t)(eq - argv[i])) : NULL;
		if (!eq || !annotation_key_valid(key) ||
		    !utf8_valid(eq + 1, strlen(eq + 1))) {
			_cleanup_free_ char *safe = format_escape(argv[i]);
			return cmd_usage_error(
			        &tag_cmd,
			        "tag takes KEY=VALUE, not '%s' (a KEY without '=' or control characters, UTF-8 text)",
			        safe);
		}
		json_object_set_new(set, key, json_string(eq + 1));
	}
	_cleanup_record_ Record *rec = NULL;
	int st = load_store_run(ctx, "tag", spec, &rec);
	if (st)
		return st;
	if (json_object_size(set) == 0 && !unset)
		return list_tags(rec, json);
	for (size_t i = 0; unset && unset[i]; i++)
		if (json_get_string(json_object_get(rec->root, "tags"),
		                    unset[i]))
			log_warn("tag '%s' is the record's own, which never "
			         "changes: it stays (xrun tag RUN %s=VALUE "
			         "shows another value over it)",
			         unset[i], unset[i]);
	int r = annotations_update(rec->dir, set, unset, NULL, now_ns());
	if (r < 0)
		return update_error(r, rec);
	return finish_stdout(0);
}

int cmd_note(int argc, char **argv, Context *ctx)
{
	bool json = false;
	_cleanup_cmd_parser_ CmdParser opt_parser;
	cmd_parser_init(&opt_parser, &note_cmd, argc, argv);
	int c;
	while ((c = cmd_option_next(&opt_parser)) > 0)
		if (c == OPT_JSON)
			json = true;
	if (c < 0)
		return opt_parser.status;
	if (optind >= argc)
		return cmd_usage_error(&note_cmd,
		                       "note takes a RUN and the TEXT");
	const char *spec = argv[optind++];
	_cleanup_free_ char *text = NULL;
	for (int i = optind; i < argc; i++) {
		char *t = xasprintf("%s%s%s", text ? text : "", text ? " " : "",
		                    argv[i]);
		free(text);
		text = t;
	}
	if (text && (!*text || !utf8_valid(text, strlen(text))))
		return cmd_usage_error(&note_cmd,
		                       "a note is UTF-8 text, and not empty");
	_cleanup_record_ Record *rec = NULL;
	int st = load_store_run(ctx, "note", spec, &rec);
	if (st)
		return st;
	if (!text) {
		json_auto_t *a = NULL;
		int r = annotations_load(rec->dir, &a);
		if (r < 0)
			return load_error(r, rec);
		const json_t *notes = json_object_get(a, "notes");
		if (json) {
			if (json_dumpf_shortest(notes, stdout,
			                        JSON_INDENT(2)) == 0)
				putchar('\n');
			return finish_stdout(0);
		}
		size_t i;
		json_t *n;
		json_array_foreach (notes, i, n) {
			_cleanup_free_ char *when =
			        format_local_time(json_get_string(n, "time"));
			_cleanup_free_ char *safe =
			        format_escape(json_get_string(n, "text"));
			printf("%s  %s\n", when ? when : "?", safe);
		}
		return finish_stdout(0);
	}
	int r = annotations_update(rec->dir, NULL, NULL, text, now_ns());
	if (r < 0)
		return update_error(r, rec);
	return finish_stdout(0);
}
