/* src/diff.c: the diff document and its text, from records built here. */
#include "config.h"

#include <math.h>

#include "diff.h"
#include "tap.h"
#include "util.h"

static json_t *record(void)
{
	json_error_t e;
	json_t *r = json_loads(
	        "{\"schema\": \"xrun/run-record/1\", \"id\": \"a\","
	        " \"status\": \"succeeded\","
	        " \"times\": {\"created\": \"t1\", \"duration\": 1.5},"
	        " \"params\": {\"lr\": 0.1, \"n\": 3, \"opt\": \"sgd\"},"
	        " \"seed\": {\"value\": \"1\", \"source\": \"option\"},"
	        " \"environment\": {\"variables\": {\"HOME\": \"/root\","
	        "   \"API_TOKEN\": {\"redacted\": \"sha256:"
	        "11111111111111111111111111111111111111111111111111111111111111"
	        "11"
	        "\"}}},"
	        " \"outputs\": [{\"path\": \"/p/out\", \"kind\": \"directory\","
	        "   \"digest\": \"sha256:"
	        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	        "aa"
	        "\", \"files\": 3, \"bytes\": 30, \"manifest\": \"sha256:"
	        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	        "aa"
	        "\"}],"
	        " \"result\": {\"exit_code\": 0, \"signal\": null,"
	        "   \"rusage\": {\"user_s\": 1.0},"
	        "   \"stdout\": {\"sha256\": \"sha256:"
	        "55555555555555555555555555555555555555555555555555555555555555"
	        "55"
	        "\", \"bytes\": 10},"
	        "   \"metrics\": {\"loss\": {\"last\": 0.5, \"min\": 0.5, "
	        "\"max\": 2, \"count\": 10}}}}",
	        0, &e);
	if (!r)
		printf("# %s\n", e.text);
	return r;
}

static const json_t *item(const json_t *d, const char *section, const char *key)
{
	size_t i;
	json_t *it;
	json_array_foreach (
	        json_object_get(json_object_get(json_object_get(d, "sections"),
	                                        section),
	                        "items"),
	        i, it)
		if (streq(json_string_value(json_object_get(it, "key")), key))
			return it;
	return NULL;
}

static const char *change(const json_t *d, const char *section, const char *key)
{
	return json_string_value(
	        json_object_get(item(d, section, key), "change"));
}

static const char *summary(const json_t *d)
{
	return json_string_value(
	        json_object_get(json_object_get(d, "summary"), "text"));
}

static Manifest *tree(int which)
{
	Manifest *m = manifest_new();
	ManifestEntry *e;
	manifest_add(m, ENTRY_DIR, "sub", 0755, 0, NULL);
	e = manifest_add(m, ENTRY_FILE, "same.txt", 0644, 10, NULL);
	memset(e->digest, 1, SHA256_LEN);
	e = manifest_add(m, ENTRY_FILE, "sub/changed.txt", 0644, 10, NULL);
	memset(e->digest, which ? 3 : 2, SHA256_LEN);
	e = manifest_add(m, ENTRY_FILE, which ? "sub/new.txt" : "old.txt", 0644,
	                 5, NULL);
	memset(e->digest, 4, SHA256_LEN);
	manifest_add(m, ENTRY_LINK, "link", 0777, 3, which ? "abc" : "xyz");
	if (which)
		manifest_add(m, ENTRY_DIR, "newdir", 0755, 0, NULL);
	manifest_sort(m);
	return m;
}

static int loads;
static int loader(void *userdata, int side, const char *digest, Manifest **ret)
{
	loads++;
	if (userdata)
		return -ENOENT;
	(void)digest;
	*ret = tree(side);
	return 0;
}

static const json_t *file(const json_t *it, const char *path)
{
	size_t i;
	json_t *f;
	json_array_foreach (json_object_get(it, "files"), i, f)
		if (streq(json_string_value(json_object_get(f, "path")), path))
			return f;
	return NULL;
}

int main(void)
{
	json_auto_t *a = record(), *b = record();
	ok(a && b, "test records parse");
	DiffOptions opt = {0};

	/* Identical, and only volatile fields differing. */
	json_t *d = diff_records(a, b, &opt);
	ok(!diff_differs(d), "a record against itself: no difference");
	is_str(summary(d), "no differences", "... and the summary says so");
	json_decref(d);
	json_object_set_new(b, "id", json_string("b"));
	json_object_set_new(json_object_get(b, "times"), "duration",
	                    json_real(9));
	json_object_set_new(
	        json_object_get(json_object_get(b, "result"), "rusage"),
	        "user_s", json_real(7));
	json_object_set_new(json_object_get(b, "seed"), "source",
	                    json_string("generated"));
	d = diff_records(a, b, &opt);
	ok(!diff_differs(d),
	   "ids, durations, rusage, seed source: no difference");
	ok(item(d, "run", "id") == NULL, "... and not listed without --all");
	json_decref(d);
	opt.all = true;
	d = diff_records(a, b, &opt);
	ok(!diff_differs(d), "--all: still no difference");
	is_str(change(d, "run", "id"), "changed",
	       "--all lists the id, changed");
	ok(json_is_true(json_object_get(item(d, "run", "id"), "volatile")),
	   "... marked volatile");
	is_str(change(d, "params", "lr"), "same", "--all lists same params");
	json_decref(d);
	opt.all = false;

	/* Params: changed, added, removed, with deltas. */
	json_t *p = json_object_get(b, "params");
	json_object_set_new(p, "lr", json_real(0.2));
	json_object_set_new(p, "n", json_integer(0));
	json_object_del(p, "opt");
	json_object_set_new(p, "momentum", json_real(0.9));
	json_object_set_new(json_object_get(a, "params"), "big",
	                    json_integer(INT64_MIN));
	json_object_set_new(p, "big", json_integer(INT64_MAX));
	d = diff_records(a, b, &opt);
	ok(diff_differs(d), "changed params differ");
	is_str(change(d, "params", "lr"), "changed", "lr changed");
	ok(json_real_value(json_object_get(item(d, "params", "lr"), "delta")) >
	           0.099,
	   "... delta +0.1");
	ok(fabs(json_real_value(
	                json_object_get(item(d, "params", "lr"), "percent")) -
	        100) < 1e-9,
	   "... +100%%");
	is_int(json_integer_value(
	               json_object_get(item(d, "params", "n"), "delta")),
	       -3, "an integer delta stays an integer");
	ok(json_is_real(json_object_get(item(d, "params", "big"), "delta")),
	   "an integer delta that would overflow is a real");
	is_str(change(d, "params", "opt"), "removed", "opt removed");
	is_str(change(d, "params", "momentum"), "added", "momentum added");
	is_str(summary(d), "5 params differ", "summary: 5 params differ");
	json_decref(d);
	json_object_set_new(json_object_get(a, "params"), "n", json_integer(0));
	json_object_set_new(p, "n", json_integer(5));
	d = diff_records(a, b, &opt);
	ok(json_is_null(json_object_get(item(d, "params", "n"), "percent")),
	   "no percentage of a change from 0");
	json_decref(d);
	json_object_set(b, "params", json_object_get(a, "params"));

	/* A redacted secret: compared, never shown. */
	json_object_set_new(
	        json_object_get(json_object_get(b, "environment"), "variables"),
	        "API_TOKEN",
	        json_pack("{s:s}", "redacted",
	                  "sha256:2222222222222222222222222222222222222222"
	                  "222222222222222222222222"));
	d = diff_records(a, b, &opt);
	ok(diff_differs(d), "a changed secret differs");
	const json_t *it = item(d, "environment", "API_TOKEN");
	ok(it && json_is_true(json_object_get(it, "redacted")) &&
	           !json_object_get(it, "old") && !json_object_get(it, "new"),
	   "... redacted, neither value in the document");
	_cleanup_free_ char *text = diff_format_text(d, false);
	ok(strstr(text, "changed (redacted)") && !strstr(text, "222222") &&
	           !strstr(text, "111111"),
	   "... the text says changed (redacted) and no hash");
	json_decref(d);
	free(TAKE_PTR(text));

	/* Bytes that would reach the terminal are escaped. */
	json_object_set_new(
	        json_object_get(json_object_get(b, "environment"), "variables"),
	        "HOME", json_bytes("/r\033[31m\xe9\x80\xc2\x9b", 11));
	d = diff_records(a, b, &opt);
	text = diff_format_text(d, false);
	ok(strstr(text, "/r\\x1b[31m\\xe9\\x80\\xc2\\x9b") != NULL,
	   "control characters and non-UTF-8 bytes are escaped");
	ok(!strchr(text, '\033'), "... no escape character reaches the text");
	json_decref(d);
	free(TAKE_PTR(text));
	json_object_set(b, "environment", json_object_get(a, "environment"));

	/* Trees: down to the files when both manifests load. */
	json_t *o = json_array_get(json_object_get(b, "outputs"), 0);
	json_object_set_new(
	        o, "digest",
	        json_string("sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
	                    "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"));
	opt.load_manifest = loader;
	d = diff_records(a, b, &opt);
	it = item(d, "outputs", "/p/out");
	is_int(loads, 2, "both manifests loaded");
	is_str(json_string_value(json_object_get(it, "file_details")),
	       "compared", "the files were compared");
	is_int(json_array_size(json_object_get(it, "files")), 4,
	       "changed, added, removed files and the changed link");
	is_str(json_string_value(
	               json_object_get(file(it, "sub/changed.txt"), "change")),
	       "changed", "sub/changed.txt changed");
	is_str(json_string_value(
	               json_object_get(file(it, "sub/new.txt"), "change")),
	       "added", "sub/new.txt added");
	is_str(json_string_value(
	               json_object_get(file(it, "old.txt"), "change")),
	       "removed", "old.txt removed");
	ok(file(it, "newdir") == NULL && file(it, "sub") == NULL,
	   "directories are not listed");
	is_int(json_integer_value(json_object_get(it, "files_unchanged")), 1,
	       "one unchanged file");
	is_str(summary(d), "4 output files differ",
	       "summary: 4 output files differ");
	json_decref(d);
	opt.userdata = (void *)1; /* the loader fails */
	d = diff_records(a, b, &opt);
	it = item(d, "outputs", "/p/out");
	is_str(json_string_value(json_object_get(it, "file_details")),
	       "unavailable", "no manifests: file details unavailable");
	is_str(summary(d), "1 output file differs", "... counted as one");
	text = diff_format_text(d, false);
	ok(strstr(text, "file details unavailable") != NULL,
	   "... and the text says so");
	json_decref(d);
	free(TAKE_PTR(text));
	opt.userdata = NULL;
	json_object_set(b, "outputs", json_object_get(a, "outputs"));

	/* stdout is an output. */
	json_object_set_new(
	        json_object_get(json_object_get(b, "result"), "stdout"),
	        "sha256",
	        json_string("sha256:6666666666666666666666666666"
	                    "666666666666666666666666666666666666"));
	d = diff_records(a, b, &opt);
	is_str(change(d, "outputs", "stdout"), "changed",
	       "another stdout digest is a changed output");
	json_decref(d);

	/* Odd records: never a crash, anything odd reads as absent. */
	static const char *const odd[] = {
	        "null",
	        "[]",
	        "{}",
	        "{\"params\": [1], \"result\": 3, \"environment\": "
	        "{\"variables\": []}}",
	        "{\"outputs\": [1, {\"path\": 2}, {\"path\": \"/x\", "
	        "\"manifest\": 5}], \"inputs\": {\"a\": 1}}",
	        "{\"result\": {\"metrics\": {\"m\": 1, \"n\": {\"last\": "
	        "\"x\"}}}, \"software\": {\"libraries\": [null, {}], "
	        "\"python\": {\"distributions\": [1, {\"name\": 2}]}}}",
	        "{\"host\": {\"gpus\": [1, null]}, \"sandbox\": 1, "
	        "\"source\": {\"workspace\": [], \"git\": \"x\"}}",
	};
	for (size_t i = 0; i < ELEMENTSOF(odd); i++) {
		json_auto_t *x = json_loads(odd[i], JSON_DECODE_ANY, NULL);
		for (int all = 0; all < 2; all++) {
			opt.all = all;
			json_t *d1 = diff_records(a, x, &opt);
			json_t *d2 = diff_records(x, a, &opt);
			json_t *d3 = diff_records(x, x, &opt);
			_cleanup_free_ char *t1 = diff_format_text(d1, true);
			_cleanup_free_ char *t2 = diff_format_text(d2, false);
			ok(d1 && d2 && d3 && t1 && t2 && !diff_differs(d3),
			   "odd record %zu%s: a diff, and none with itself", i,
			   all ? " (--all)" : "");
			json_decref(d1);
			json_decref(d2);
			json_decref(d3);
		}
	}
	return done_testing();
}
