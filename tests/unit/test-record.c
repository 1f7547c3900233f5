#include "config.h"
#include "tap.h"

#include <dirent.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "hash.h"
#include "record.h"
#include "util.h"

#define ID "0b7e3e5a-6a43-4a8e-9d65-2f1f0c6e9b11"

static char *make_tmpdir(void)
{
	char *d = xstrdup("/tmp/xrun-test-record.XXXXXX");
	if (!mkdtemp(d)) {
		perror("mkdtemp");
		exit(2);
	}
	return d;
}

static void rm_rf(const char *path)
{
	struct stat st;
	if (lstat(path, &st) < 0)
		return;
	if (S_ISDIR(st.st_mode)) {
		DIR *d = opendir(path);
		struct dirent *de;
		while (d && (de = readdir(d))) {
			if (streq(de->d_name, ".") || streq(de->d_name, ".."))
				continue;
			_cleanup_free_ char *p = path_join(path, de->d_name);
			rm_rf(p);
		}
		if (d)
			closedir(d);
		rmdir(path);
	} else
		unlink(path);
}

static size_t count_entries(const char *dir)
{
	size_t n = 0;
	DIR *d = opendir(dir);
	struct dirent *de;
	while (d && (de = readdir(d)))
		if (!streq(de->d_name, ".") && !streq(de->d_name, ".."))
			n++;
	if (d)
		closedir(d);
	return n;
}

/* Parse text; return the error code and keep the error message. */
static int parse(const char *text, char **ret_error)
{
	json_t *root = NULL;
	*ret_error = NULL;
	int r = record_parse(text, strlen(text), &root, ret_error);
	json_decref(root);
	return r;
}

static void test_parse(void)
{
	const char *valid = "{\"schema\": \"xrun/run-record/1\", \"id\": \"" ID
	                    "\", \"status\": \"succeeded\"}";
	json_t *root = NULL;
	char *err = NULL;
	int r = record_parse(valid, strlen(valid), &root, &err);
	is_int(r, 0, "record_parse: minimal valid record");
	ok(json_is_object(root), "record_parse: returns the object");
	is_str(json_get_string(root, "id"), ID, "record_parse: id kept");
	ok(err == NULL, "record_parse: no error text on success");
	json_decref(root);

	/* len is honoured: what follows the object is not looked at. */
	_cleanup_free_ char *padded = xasprintf("%s garbage", valid);
	root = NULL;
	is_int(record_parse(padded, strlen(valid), &root, NULL), 0,
	       "record_parse: only len bytes are parsed");
	json_decref(root);
	root = NULL;
	is_int(record_parse(padded, strlen(padded), &root, NULL), -EBADMSG,
	       "record_parse: trailing garbage -> -EBADMSG");

	r = parse("{\n\"schema\": \"xrun/run-record/1\",\n oops }", &err);
	is_int(r, -EBADMSG, "record_parse: invalid JSON -> -EBADMSG");
	ok(err && strstr(err, "line 3"),
	   "invalid JSON: error names line 3 (%s)", err ? err : "(null)");
	free(err);

	r = parse("", &err);
	is_int(r, -EBADMSG, "record_parse: empty text -> -EBADMSG");
	free(err);

	r = parse("[{\"schema\": \"xrun/run-record/1\"}]", &err);
	is_int(r, -EBADMSG, "record_parse: top-level array -> -EBADMSG");
	ok(err && *err, "top-level array: error text (%s)",
	   err ? err : "(null)");
	free(err);

	r = parse("\"xrun/run-record/1\"", &err);
	is_int(r, -EBADMSG, "record_parse: top-level string -> -EBADMSG");
	free(err);

	r = parse("{\"id\": \"" ID "\", \"status\": \"succeeded\"}", &err);
	is_int(r, -EBADMSG, "record_parse: missing schema -> -EBADMSG");
	ok(err && strstr(err, "schema"),
	   "missing schema: error mentions schema");
	free(err);

	r = parse("{\"schema\": 1, \"id\": \"" ID
	          "\", \"status\": \"succeeded\"}",
	          &err);
	is_int(r, -EBADMSG, "record_parse: non-string schema -> -EBADMSG");
	free(err);

	r = parse("{\"schema\": \"xrun/run-record/2\", \"id\": \"" ID
	          "\", \"status\": \"succeeded\"}",
	          &err);
	is_int(r, -EPROTONOSUPPORT,
	       "record_parse: schema 2 -> -EPROTONOSUPPORT");
	ok(err && strstr(err, "upgrade"), "schema 2: error says upgrade (%s)",
	   err ? err : "(null)");
	free(err);

	/* A newer record is recognised by its schema alone. */
	r = parse("{\"schema\": \"xrun/run-record/17\", \"whatever\": []}",
	          &err);
	is_int(r, -EPROTONOSUPPORT,
	       "record_parse: schema 17 with other fields -> -EPROTONOSUPPORT");
	free(err);

	r = parse("{\"schema\": \"other/thing\", \"id\": \"" ID
	          "\", \"status\": \"succeeded\"}",
	          &err);
	is_int(r, -EBADMSG, "record_parse: other/thing -> -EBADMSG");
	ok(err && strstr(err, "other/thing"), "unknown schema: named in error");
	free(err);

	static const char *const not_newer[] = {
	        "xrun/run-record/0",   "xrun/run-record/",
	        "xrun/run-record/2x",  "xrun/run-record/-2",
	        "xrun/run-record/1.1",
	};
	for (size_t i = 0; i < ELEMENTSOF(not_newer); i++) {
		_cleanup_free_ char *t =
		        xasprintf("{\"schema\": \"%s\", \"id\": \"" ID
		                  "\", \"status\": \"succeeded\"}",
		                  not_newer[i]);
		r = parse(t, &err);
		is_int(r, -EBADMSG, "record_parse: schema '%s' -> -EBADMSG",
		       not_newer[i]);
		free(err);
	}

	r = parse("{\"schema\": \"xrun/run-record/1\", \"id\": \"" ID
	          "\", \"status\": \"succeeded\", \"status\": \"failed\"}",
	          &err);
	is_int(r, -EBADMSG, "record_parse: duplicate keys -> -EBADMSG");
	free(err);

	r = parse("{\"schema\": \"xrun/run-record/1\", \"id\": \"" ID
	          "\", \"status\": \"finished\"}",
	          &err);
	is_int(r, -EBADMSG, "record_parse: unknown status -> -EBADMSG");
	ok(err && strstr(err, "status"), "bad status: error mentions status");
	free(err);

	r = parse("{\"schema\": \"xrun/run-record/1\", \"id\": \"" ID "\"}",
	          &err);
	is_int(r, -EBADMSG, "record_parse: missing status -> -EBADMSG");
	free(err);

	r = parse("{\"schema\": \"xrun/run-record/1\", \"id\": \"abc\", "
	          "\"status\": \"succeeded\"}",
	          &err);
	is_int(r, -EBADMSG, "record_parse: short id -> -EBADMSG");
	free(err);

	r = parse("{\"schema\": \"xrun/run-record/1\", \"status\": "
	          "\"succeeded\"}",
	          &err);
	is_int(r, -EBADMSG, "record_parse: missing id -> -EBADMSG");
	free(err);

	root = NULL;
	is_int(record_parse("[]", 2, &root, NULL), -EBADMSG,
	       "record_parse: NULL ret_error is allowed");
	ok(root == NULL, "record_parse: nothing returned on error");
}

static json_t *minimal_root(const char *status)
{
	return json_pack("{s:s,s:s,s:s,s:{s:s}}", "schema", RECORD_SCHEMA, "id",
	                 ID, "status", status, "times", "created",
	                 "2026-11-22T13:28:34.123456Z");
}

static void test_save_load(void)
{
	_cleanup_free_ char *dir = make_tmpdir();
	mode_t old = umask(022);
	json_t *root = minimal_root("succeeded");
	json_object_set_new(root, "bytes", json_bytes("\xff\x00", 2));
	json_object_set_new(root, "text",
	                    json_string("h\xc3\xa9 \"quoted\"\n"));
	json_object_set_new(
	        root, "params",
	        json_pack("{s:f,s:f}", "lr", 0.05, "sum", 0.1 + 0.2));
	_cleanup_record_ Record *rec = record_new(root, dir);
	_cleanup_free_ char *path = path_join(dir, "record.json");
	is_str(rec->dir, dir, "record_new: dir");
	is_str(rec->path, path, "record_new: path is dir/record.json");
	is_int(record_save(rec, true), 0, "record_save: ok");
	is_int(count_entries(dir), 1, "record_save: only record.json in dir");
	struct stat st;
	ok(stat(path, &st) == 0 && (st.st_mode & 0777) == 0644,
	   "record_save: mode 0644");
	_cleanup_free_ char *text = NULL;
	size_t n = 0;
	ok(read_full_file(path, 1 << 20, &text, &n) == 0 && n > 0 &&
	           text[n - 1] == '\n',
	   "record_save: file ends with a newline");

	_cleanup_free_ char *jansson =
	        json_dumps_shortest(rec->root, JSON_INDENT(2));
	ok(text && jansson && strlen(text) == strlen(jansson) + 1 &&
	           strneq(text, jansson, strlen(jansson)),
	   "record_save: the file is jansson's indented text, digest last");
	ok(text && strstr(text, "\"lr\": 0.05,") &&
	           strstr(text, "\"sum\": 0.30000000000000004"),
	   "record_save: each real in its shortest form (0.05, not "
	   "0.050000000000000003)");

	_cleanup_record_ Record *loaded = NULL;
	char *err = NULL;
	is_int(record_load(path, &loaded, &err), 0, "record_load: ok");
	is_int(loaded ? record_check_digest(loaded) : -1, 1,
	       "record_check_digest: a saved record matches");
	if (loaded) {
		json_t *keep = json_incref(json_object_get(loaded->root, "id"));
		json_object_set_new(loaded->root, "id", json_string("x"));
		is_int(record_check_digest(loaded), -EBADMSG,
		       "record_check_digest: a changed value does not");
		json_object_set_new(loaded->root, "id", keep);
		/* How records before 0.2 were digested: keys sorted. */
		json_t *own = json_incref(
		        json_object_get(loaded->root, "record_sha256"));
		json_object_del(loaded->root, "record_sha256");
		_cleanup_free_ char *sorted =
		        json_dumps(loaded->root, JSON_COMPACT | JSON_SORT_KEYS);
		_cleanup_free_ char *old_digest =
		        sha256_mem(sorted, strlen(sorted));
		json_object_set_new(loaded->root, "record_sha256",
		                    json_string(old_digest));
		is_int(record_check_digest(loaded), 1,
		       "record_check_digest: an older record's sorted digest "
		       "matches");
		/* How records before the shortest reals were digested:
		 * every real in 17 digits. */
		json_object_del(loaded->root, "record_sha256");
		_cleanup_free_ char *long_reals =
		        json_dumps(loaded->root, JSON_COMPACT);
		ok(long_reals && strstr(long_reals, "0.050000000000000003"),
		   "(jansson's own dump gives 0.05 17 digits)");
		_cleanup_free_ char *long_digest =
		        sha256_mem(long_reals, strlen(long_reals));
		json_object_set_new(loaded->root, "record_sha256",
		                    json_string(long_digest));
		is_int(record_check_digest(loaded), 1,
		       "record_check_digest: an older record's 17-digit "
		       "digest matches");
		json_object_set_new(loaded->root, "record_sha256", own);
	}
	ok(loaded && json_equal(loaded->root, rec->root),
	   "record_load: same JSON as saved");
	is_str(loaded ? loaded->path : NULL, path, "record_load: path");
	is_str(loaded ? loaded->dir : NULL, dir, "record_load: dir");
	is_str(loaded ? record_id(loaded) : NULL, ID, "record_id");
	is_str(loaded ? record_created(loaded) : NULL,
	       "2026-11-22T13:28:34.123456Z", "record_created");

	/* Saving again replaces the file. */
	json_object_set_new(rec->root, "status", json_string("failed"));
	is_int(record_save(rec, true), 0, "record_save: second save");
	_cleanup_record_ Record *again = NULL;
	ok(record_load(path, &again, NULL) == 0 &&
	           streq(record_stored_status(again), "failed"),
	   "record_load: sees the second save");
	is_int(count_entries(dir), 1, "record_save: still one file");

	/* Relative path: dir is ".". */
	_cleanup_free_ char *cwd = getcwd(NULL, 0);
	if (chdir(dir) == 0) {
		_cleanup_record_ Record *rel = NULL;
		ok(record_load("record.json", &rel, NULL) == 0 && rel &&
		           streq(rel->dir, ".") &&
		           streq(rel->path, "record.json"),
		   "record_load: relative path, dir '.'");
		if (chdir(cwd) < 0)
			perror("chdir");
	} else
		ok(0, "chdir to temp dir");

	_cleanup_free_ char *missing = path_join(dir, "nope/record.json");
	Record *none = NULL;
	is_int(record_load(missing, &none, NULL), -ENOENT,
	       "record_load: missing file -> -ENOENT");

	_cleanup_free_ char *bad = path_join(dir, "bad.json");
	ok(write_file_atomic(dir, "bad.json", "{\"schema\": ", 11, 0644,
	                     true) == 0,
	   "write a corrupt record");
	err = NULL;
	is_int(record_load(bad, &none, &err), -EBADMSG,
	       "record_load: corrupt file -> -EBADMSG");
	ok(err && strstr(err, "line"), "record_load: error text (%s)",
	   err ? err : "(null)");
	free(err);

	_cleanup_free_ char *newer = path_join(dir, "newer.json");
	const char *nt = "{\"schema\": \"xrun/run-record/2\"}";
	ok(write_file_atomic(dir, "newer.json", nt, strlen(nt), 0644, true) ==
	           0,
	   "write a newer record");
	err = NULL;
	is_int(record_load(newer, &none, &err), -EPROTONOSUPPORT,
	       "record_load: newer schema -> -EPROTONOSUPPORT");
	free(err);
	umask(old);
	rm_rf(dir);
}

static pid_t dead_pid(void)
{
	pid_t pid = fork();
	if (pid < 0) {
		perror("fork");
		exit(2);
	}
	if (pid == 0)
		_exit(0);
	int status;
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR) {
			perror("waitpid");
			exit(2);
		}
	return pid;
}

static void test_status(void)
{
	json_t *launcher = NULL;
	is_int(launcher_info(&launcher), 0, "launcher_info: ok");
	ok(json_is_object(launcher), "launcher_info: an object");
	ok(json_integer_value(json_object_get(launcher, "pid")) == getpid(),
	   "launcher_info: pid is ours");
	ok(json_is_integer(json_object_get(launcher, "start_time")) &&
	           json_integer_value(json_object_get(launcher, "start_time")) >
	                   0,
	   "launcher_info: start_time");
	ok(json_get_string(launcher, "boot_id") &&
	           strlen(json_get_string(launcher, "boot_id")) == 36,
	   "launcher_info: boot_id");
	ok(json_get_string(launcher, "hostname") != NULL,
	   "launcher_info: hostname");

	json_t *root = minimal_root("running");
	json_object_set(root, "launcher", launcher);
	_cleanup_record_ Record *rec = record_new(root, "/nonexistent");
	is_str(record_stored_status(rec), "running", "stored status running");
	is_str(record_status(rec), "running",
	       "record_status: running with our own launcher -> running");

	json_t *l = json_object_get(rec->root, "launcher");
	json_object_set_new(l, "pid", json_integer(dead_pid()));
	is_str(record_status(rec), "abandoned",
	       "record_status: launcher pid dead -> abandoned");
	is_str(record_stored_status(rec), "running",
	       "record_stored_status: still running");

	/* Same pid, but another start time: the pid was reused. */
	json_object_set_new(l, "pid", json_integer(getpid()));
	json_int_t st =
	        json_integer_value(json_object_get(launcher, "start_time"));
	json_object_set_new(l, "start_time", json_integer(st + 1));
	is_str(record_status(rec), "abandoned",
	       "record_status: pid reused (start_time differs) -> abandoned");
	json_object_set_new(l, "start_time", json_integer(st));
	is_str(record_status(rec), "running",
	       "record_status: restored -> running");

	json_object_set_new(
	        l, "boot_id",
	        json_string("00000000-0000-0000-0000-000000000000"));
	is_str(record_status(rec), "abandoned",
	       "record_status: other boot_id -> abandoned");
	json_object_set(l, "boot_id", json_object_get(launcher, "boot_id"));

	/* Another host: cannot be checked, assumed alive, even when its pid
	 * would be dead here. */
	json_object_set_new(l, "hostname",
	                    json_string("some-other-host.invalid"));
	json_object_set_new(l, "pid", json_integer(dead_pid()));
	is_str(record_status(rec), "running",
	       "record_status: other hostname -> running");

	json_object_del(rec->root, "launcher");
	is_str(record_status(rec), "running",
	       "record_status: no launcher -> running");

	/* Only running records turn into abandoned. */
	json_t *dead = json_deep_copy(launcher);
	json_object_set_new(dead, "pid", json_integer(dead_pid()));
	json_object_set_new(rec->root, "launcher", dead);
	json_object_set_new(rec->root, "status", json_string("succeeded"));
	is_str(record_status(rec), "succeeded",
	       "record_status: succeeded stays succeeded");
	json_decref(launcher);
}

static void test_accessors(void)
{
	json_t *root = minimal_root("failed");
	json_object_set_new(root, "a", json_pack("{s:{s:i}}", "b", "c", 7));
	_cleanup_record_ Record *rec = record_new(root, "/x");
	json_t *c = record_get_path(rec, "times.created");
	is_str(json_string_value(c), "2026-11-22T13:28:34.123456Z",
	       "record_get_path(times.created)");
	ok(json_is_object(record_get_path(rec, "times")),
	   "record_get_path(times) is the object");
	is_int(json_integer_value(record_get_path(rec, "a.b.c")), 7,
	       "record_get_path: three levels");
	ok(record_get_path(rec, "times.nope") == NULL,
	   "record_get_path: missing key -> NULL");
	ok(record_get_path(rec, "status.x") == NULL,
	   "record_get_path: through a string -> NULL");
	ok(record_get_path(rec, "nope.x.y") == NULL,
	   "record_get_path: missing parent -> NULL");

	/* Mistyped fields read as NULL. */
	json_object_set_new(rec->root, "id", json_integer(5));
	json_object_set_new(rec->root, "times", json_string("yesterday"));
	ok(record_id(rec) == NULL, "record_id: non-string -> NULL");
	ok(record_created(rec) == NULL,
	   "record_created: times not object -> NULL");
	json_object_set_new(rec->root, "status", json_integer(1));
	ok(record_stored_status(rec) == NULL && record_status(rec) == NULL,
	   "record_status: non-string -> NULL");
	_cleanup_record_ Record *empty = record_new(json_object(), "/x");
	ok(record_id(empty) == NULL && record_created(empty) == NULL &&
	           record_status(empty) == NULL,
	   "accessors on an empty object -> NULL");
}

static void test_status_valid(void)
{
	static const char *const good[] = {
	        "running", "succeeded", "failed",      "killed",
	        "timeout", "oom",       "interrupted", "abandoned",
	};
	for (size_t i = 0; i < ELEMENTSOF(good); i++)
		ok(status_valid(good[i]), "status_valid(%s)", good[i]);
	static const char *const bad[] = {"", "RUNNING", "done", "running "};
	for (size_t i = 0; i < ELEMENTSOF(bad); i++)
		ok(!status_valid(bad[i]), "!status_valid('%s')", bad[i]);
	ok(!status_valid(NULL), "!status_valid(NULL)");
}

/* The launcher's identity in file names: its own token is alive; a
 * child that exited, another start time, another boot are not; another
 * host cannot be told; malformed names are not tokens. */
static void test_launcher_token(void)
{
	char *t = NULL;
	ok(launcher_token(&t) == 0 && t, "launcher_token");
	long pid = 0;
	unsigned long long start = 0;
	char boot[9], host[9];
	size_t n = t ? launcher_token_parse(t, &pid, &start, boot, host) : 0;
	ok(t && n == strlen(t) && pid == (long)getpid(),
	   "launcher_token_parse reads it back (%s)", t ? t : "");
	is_int(t ? launcher_token_alive(t) : -1, 1, "this process is alive");
	char buf[128];
	snprintf(buf, sizeof buf, "%ld-%llu-%s-%s", pid, start + 1, boot, host);
	is_int(launcher_token_alive(buf), 0,
	       "the same pid with another start time is gone");
	snprintf(buf, sizeof buf, "%ld-%llu-%s-%s", pid, start,
	         boot[0] == '0' ? "11111111" : "00000000", host);
	is_int(launcher_token_alive(buf), 0, "another boot is gone");
	snprintf(buf, sizeof buf, "%ld-%llu-%s-%s", pid, start, boot,
	         host[0] == '0' ? "11111111" : "00000000");
	is_int(launcher_token_alive(buf), -EREMOTE,
	       "another host cannot be told");
	pid_t child = fork();
	if (child == 0)
		_exit(0);
	int st;
	waitpid(child, &st, 0);
	snprintf(buf, sizeof buf, "%ld-%llu-%s-%s", (long)child, start, boot,
	         host);
	is_int(launcher_token_alive(buf), 0, "a process that exited is gone");
	static const char *const bad[] = {
	        "",
	        "x-1-00000000-00000000",
	        "1-x-00000000-00000000",
	        "1-1-0000000-00000000",
	        "1-1-0000000g-00000000",
	        "0-1-00000000-00000000",
	};
	for (size_t i = 0; i < ELEMENTSOF(bad); i++)
		is_int(launcher_token_alive(bad[i]), -EINVAL,
		       "'%s' is not a token", bad[i]);
	/* a token followed by more of a name */
	snprintf(buf, sizeof buf, "%s-00aa.tmp", t ? t : "");
	ok(t && launcher_token_parse(buf, NULL, NULL, NULL, NULL) == strlen(t),
	   "a token is found at the start of a longer name");
	free(t);
}

int main(void)
{
	test_parse();
	test_save_load();
	test_status();
	test_accessors();
	test_status_valid();
	test_launcher_token();
	return done_testing();
}
