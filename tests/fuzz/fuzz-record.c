/* The record as `xrun show`, `diff` and `replay` read it: parsed from
 * memory with the checks record_load() makes, then the accessors and the
 * pure functions those commands call on it. */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>

#include "diff.h"
#include "format.h"
#include "record.h"
#include "replay.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void touch_text(const char *s)
{
	/* Reads every byte, so that a dangling pointer shows. */
	volatile size_t n = s ? strlen(s) : 0;
	(void)n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *root = NULL;
	_cleanup_free_ char *err = NULL;
	if (record_parse((const char *)data, size, &root, &err) < 0) {
		touch_text(err);
		return 0;
	}
	_cleanup_record_ Record *rec =
	        record_new(root, "/nonexistent/xrun-fuzz");
	touch_text(record_id(rec));
	touch_text(record_status(rec));
	touch_text(record_created(rec));
	(void)record_check_digest(rec);
	/* The record file is written as its compact text indented: that
	 * must be what jansson itself indents, for any record. */
	_cleanup_free_ char *compact = json_dumps(root, JSON_COMPACT);
	_cleanup_free_ char *indented = json_dumps(root, JSON_INDENT(2));
	if (compact && indented) {
		_cleanup_free_ char *mine = json_indent_compact(compact, NULL);
		if (!streq(mine, indented))
			abort();
	}
	static const char *const paths[] = {
	        "command.argv",
	        "times.created",
	        "result.exit_code",
	        "result.duration_s",
	        "params",
	        "host.cpu.count",
	        "..",
	        "a..b",
	        ".",
	        "source.git.commit",
	};
	for (size_t i = 0; i < ELEMENTSOF(paths); i++) {
		json_t *v = record_get_path(rec, paths[i]);
		_cleanup_free_ char *t = format_value(v);
		touch_text(t);
	}
	_cleanup_free_ char *argv =
	        format_argv(record_get_path(rec, "command.argv"));
	touch_text(argv);
	_cleanup_free_ char *when = format_local_time(record_created(rec));
	touch_text(when);
	json_t *dur = record_get_path(rec, "result.duration_s");
	if (json_is_number(dur)) {
		_cleanup_free_ char *d =
		        format_duration(json_number_value(dur));
		touch_text(d);
	}

	/* diff: the record against itself and against an empty one. */
	DiffOptions opt = {.all = true};
	json_auto_t *empty = json_object();
	json_auto_t *d1 = diff_records(rec->root, rec->root, &opt);
	json_auto_t *d2 = diff_records(empty, rec->root, &opt);
	(void)diff_differs(d1);
	(void)diff_differs(d2);
	_cleanup_free_ char *t1 = diff_format_text(d1, false);
	_cleanup_free_ char *t2 = diff_format_text(d2, true);
	touch_text(t1);
	touch_text(t2);

	/* replay: the RunSpec. It hashes the recorded executable, which a
	 * fuzzer must not point at a device or a FIFO: use one that is
	 * there. */
	json_t *exe = record_get_path(rec, "command.executable");
	if (json_is_object(exe))
		json_object_set_new(exe, "path", json_string("/bin/true"));
	RunSpec *spec = NULL;
	char **warnings = NULL;
	_cleanup_free_ char *rerr = NULL;
	if (replay_spec(rec, NULL, &spec, &warnings, &rerr) == 0) {
		for (char **w = warnings; w && *w; w++)
			touch_text(*w);
		strv_free(warnings);
		run_spec_free(spec);
	}
	touch_text(rerr);
	return 0;
}
