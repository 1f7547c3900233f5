#include "config.h"
#include "tap.h"

#include <math.h>
#include <openssl/evp.h>
#include <sys/stat.h>

#include "spec.h"
#include "util.h"

static char *tmpdir;

static char *write_tmp(const char *name, const char *content)
{
	if (write_file_atomic(tmpdir, name, content, strlen(content), 0644,
	                      true) < 0) {
		perror(name);
		exit(2);
	}
	return path_join(tmpdir, name);
}

/* An independent SHA-256 (OpenSSL directly), as "sha256:<hex>". */
static char *ref_sha256(const char *p, size_t n)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int len = 0;
	if (!EVP_Digest(p, n, md, &len, EVP_sha256(), NULL))
		return NULL;
	_cleanup_free_ char *hex = hex_encode(md, len);
	return xasprintf("sha256:%s", hex);
}

static void test_param_value_parse(void)
{
	json_auto_t *v = param_value_parse("3");
	ok(json_is_integer(v) && json_integer_value(v) == 3,
	   "'3' -> integer 3");
	json_auto_t *neg = param_value_parse("-7");
	ok(json_is_integer(neg) && json_integer_value(neg) == -7,
	   "'-7' -> integer -7");
	json_auto_t *r = param_value_parse("0.1");
	ok(json_is_real(r) && json_real_value(r) == 0.1, "'0.1' -> real 0.1");
	json_auto_t *e = param_value_parse("1e3");
	ok(json_is_real(e) && json_real_value(e) == 1000.0,
	   "'1e3' -> real 1000");
	json_auto_t *t = param_value_parse("true");
	ok(json_is_true(t), "'true' -> true");
	json_auto_t *f = param_value_parse("false");
	ok(json_is_false(f), "'false' -> false");
	json_auto_t *n = param_value_parse("null");
	ok(json_is_null(n), "'null' -> null");
	json_auto_t *q = param_value_parse("\"3\"");
	ok(json_is_string(q), "'\"3\"' -> a string");
	is_str(json_string_value(q), "3", "'\"3\"' -> string \"3\"");
	json_auto_t *s = param_value_parse("abc");
	is_str(json_string_value(s), "abc", "'abc' -> string abc");
	json_auto_t *a = param_value_parse("[1,2]");
	is_str(json_string_value(a), "[1,2]", "'[1,2]' -> string '[1,2]'");
	json_auto_t *o = param_value_parse("{}");
	is_str(json_string_value(o), "{}", "'{}' -> string '{}'");
	json_auto_t *empty = param_value_parse("");
	is_str(json_string_value(empty), "", "'' -> string ''");
	json_auto_t *tru = param_value_parse("True");
	is_str(json_string_value(tru), "True", "'True' -> string");
	json_auto_t *path = param_value_parse("/data/x.csv");
	is_str(json_string_value(path), "/data/x.csv", "a path -> string");
}

static void test_add_param(void)
{
	_cleanup_run_spec_ RunSpec *s = run_spec_new();
	is_int(run_spec_add_param(s, "lr=0.1"), 0, "add_param lr=0.1");
	is_int(run_spec_add_param(s, "model.depth-x=12"), 0,
	       "add_param with '.', '-' in key");
	is_int(run_spec_add_param(s, "name=a=b"), 0,
	       "add_param: value with '='");
	is_int(run_spec_add_param(s, "empty="), 0, "add_param: empty value");
	is_int(run_spec_add_param(s, "lr=0.2"), -EEXIST,
	       "duplicate -> -EEXIST");
	is_int(run_spec_add_param(s, "novalue"), -EINVAL, "no '=' -> -EINVAL");
	is_int(run_spec_add_param(s, "a b=1"), -EINVAL, "key 'a b' -> -EINVAL");
	is_int(run_spec_add_param(s, "=x"), -EINVAL, "empty key -> -EINVAL");
	is_int(run_spec_add_param(s, "a/b=1"), -EINVAL, "key 'a/b' -> -EINVAL");
	ok(json_real_value(json_object_get(s->params, "lr")) == 0.1,
	   "params.lr is still 0.1 after the duplicate");
	ok(json_integer_value(json_object_get(s->params, "model.depth-x")) ==
	           12,
	   "params.model.depth-x = 12");
	is_str(json_string_value(json_object_get(s->params, "name")), "a=b",
	       "params.name = 'a=b'");
	is_str(json_string_value(json_object_get(s->params, "empty")), "",
	       "params.empty = ''");
	is_int(json_object_size(s->params), 4, "four params");
	ok(param_key_valid("a_B.9-x"), "param_key_valid: letters, digits, _.-");
	ok(!param_key_valid(""), "param_key_valid: empty");
	ok(!param_key_valid("caf\xc3\xa9"), "param_key_valid: non-ASCII");
}

static void test_load_params(void)
{
	_cleanup_run_spec_ RunSpec *s = run_spec_new();
	is_int(run_spec_add_param(s, "lr=0.5"), 0, "-p lr=0.5 before the file");
	const char *text = "{\"lr\": 0.1, \"epochs\": 10, \"opt\": {\"name\": "
	                   "\"adam\"}}\n";
	_cleanup_free_ char *f = write_tmp("params.json", text);
	char *err = NULL;
	is_int(run_spec_load_params(s, f, &err), 0, "load_params: object file");
	ok(err == NULL, "load_params: no error text");
	ok(json_real_value(json_object_get(s->params, "lr")) == 0.5,
	   "load_params: -p lr=0.5 given before keeps precedence");
	ok(json_integer_value(json_object_get(s->params, "epochs")) == 10,
	   "load_params: epochs merged from the file");
	is_str(json_get_string(json_object_get(s->params, "opt"), "name"),
	       "adam", "load_params: nested value merged as is");
	is_str(s->params_file, f, "load_params: params_file");
	_cleanup_free_ char *want = ref_sha256(text, strlen(text));
	is_str(s->params_sha256, want,
	       "load_params: params_sha256 of the bytes");
	ok(s->params_sha256 && startswith(s->params_sha256, "sha256:") &&
	           strlen(s->params_sha256) == 71,
	   "params_sha256 is sha256: and 64 hex digits");

	/* -p after the file still overrides, and is not a duplicate. */
	is_int(run_spec_add_param(s, "epochs=3"), 0,
	       "-p epochs=3 after the file");
	ok(json_integer_value(json_object_get(s->params, "epochs")) == 3,
	   "-p after the file overrides the file");

	_cleanup_run_spec_ RunSpec *t = run_spec_new();
	_cleanup_free_ char *arr = write_tmp("arr.json", "[1, 2]");
	err = NULL;
	is_int(run_spec_load_params(t, arr, &err), -EBADMSG,
	       "load_params: array -> -EBADMSG");
	ok(err && *err, "load_params: non-object error text (%s)",
	   err ? err : "(null)");
	free(err);
	ok(t->params_file == NULL && json_object_size(t->params) == 0,
	   "load_params: nothing set after an error");

	_cleanup_free_ char *bad = write_tmp("bad.json", "{\"a\": 1,\n oops}");
	err = NULL;
	is_int(run_spec_load_params(t, bad, &err), -EBADMSG,
	       "load_params: invalid JSON -> -EBADMSG");
	ok(err && strstr(err, "2"), "load_params: error names the line (%s)",
	   err ? err : "(null)");
	free(err);

	_cleanup_free_ char *dup =
	        write_tmp("dup.json", "{\"a\": 1, \"a\": 2}");
	err = NULL;
	is_int(run_spec_load_params(t, dup, &err), -EBADMSG,
	       "load_params: duplicate keys -> -EBADMSG");
	free(err);

	_cleanup_free_ char *badkey = write_tmp("badkey.json", "{\"a b\": 1}");
	err = NULL;
	is_int(run_spec_load_params(t, badkey, &err), -EBADMSG,
	       "load_params: invalid key -> -EBADMSG");
	ok(err && strstr(err, "a b"), "load_params: error names the key");
	free(err);

	_cleanup_free_ char *missing = path_join(tmpdir, "missing.json");
	err = NULL;
	is_int(run_spec_load_params(t, missing, &err), -ENOENT,
	       "load_params: missing file -> -ENOENT");
	free(err);
	ok(json_object_size(t->params) == 0, "load_params: still no params");
}

static void test_env(void)
{
	_cleanup_free_ char *a = param_env_name("lr");
	is_str(a, "XRUN_PARAM_lr", "param_env_name(lr)");
	_cleanup_free_ char *b = param_env_name("model.depth-x");
	is_str(b, "XRUN_PARAM_model_depth_x", "param_env_name(model.depth-x)");
	_cleanup_free_ char *c = param_env_name("A_9");
	is_str(c, "XRUN_PARAM_A_9", "param_env_name keeps [A-Za-z0-9_]");
	json_auto_t *pk = json_pack("{s:i,s:i,s:i}", "lr", 1, "a.b", 2, "x", 3);
	const char *ka = NULL, *kb = NULL;
	is_int(param_keys_collide(pk, &ka, &kb), 0,
	       "param_keys_collide: distinct names");
	json_object_set_new(pk, "a-b", json_integer(4));
	is_int(param_keys_collide(pk, &ka, &kb), -ENOTUNIQ,
	       "param_keys_collide: a.b and a-b are both XRUN_PARAM_a_b");
	ok(ka && kb && streq(ka, "a-b") && streq(kb, "a.b"),
	   "param_keys_collide: names both keys, in order");

	json_auto_t *s = json_string("hello world");
	_cleanup_free_ char *es = param_value_to_env(s);
	is_str(es, "hello world", "param_value_to_env: string raw, unquoted");
	json_auto_t *i = json_integer(42);
	_cleanup_free_ char *ei = param_value_to_env(i);
	is_str(ei, "42", "param_value_to_env: integer");
	json_auto_t *r = json_real(0.1);
	_cleanup_free_ char *er = param_value_to_env(r);
	is_str(er, "0.1", "param_value_to_env: 0.1");
	json_auto_t *r5 = json_real(1e-05);
	_cleanup_free_ char *er5 = param_value_to_env(r5);
	is_str(er5, "1e-05", "param_value_to_env: 1e-05 in shortest form");
	json_auto_t *t = json_true();
	_cleanup_free_ char *et = param_value_to_env(t);
	is_str(et, "true", "param_value_to_env: true");
	json_auto_t *f = json_false();
	_cleanup_free_ char *ef = param_value_to_env(f);
	is_str(ef, "false", "param_value_to_env: false");
	json_auto_t *n = json_null();
	_cleanup_free_ char *en = param_value_to_env(n);
	is_str(en, "null", "param_value_to_env: null");

	/* BUG (src/spec.c, param_value_to_env/format_double): non-strings
	 * are documented to be written "as JSON", but a real with an integral
	 * value goes through format_double and comes out as "1", which reads
	 * back as the integer 1: -p x=1.0 reaches the program as an int. */
	json_auto_t *one = json_real(1.0);
	_cleanup_free_ char *eone = param_value_to_env(one);
	json_auto_t *back =
	        eone ? json_loads(eone, JSON_DECODE_ANY, NULL) : NULL;
	ok(json_is_real(back),
	   "param_value_to_env(1.0) reads back as a JSON real (got '%s')",
	   eone ? eone : "(null)");
}

static void test_format_double(void)
{
	_cleanup_free_ char *a = format_double(0.1);
	is_str(a, "0.1", "format_double(0.1)");
	_cleanup_free_ char *b = format_double(1.0 / 3);
	ok(b && strtod(b, NULL) == 1.0 / 3,
	   "format_double(1/3) reads back (%s)", b ? b : "(null)");
	_cleanup_free_ char *c = format_double(2.5);
	is_str(c, "2.5", "format_double(2.5)");
	_cleanup_free_ char *d = format_double(-0.001);
	is_str(d, "-0.001", "format_double(-0.001)");
	_cleanup_free_ char *e = format_double(1e300);
	is_str(e, "1e+300", "format_double(1e300)");
	_cleanup_free_ char *g = format_double(0.1 + 0.2);
	ok(g && strtod(g, NULL) == 0.1 + 0.2 && !streq(g, "0.3"),
	   "format_double(0.1+0.2) reads back and is not 0.3 (%s)",
	   g ? g : "(null)");
	static const double samples[] = {1e-7, 123456.789, 6.02214076e23,
	                                 2.2250738585072014e-308, 0.7};
	for (size_t i = 0; i < ELEMENTSOF(samples); i++) {
		_cleanup_free_ char *s = format_double(samples[i]);
		ok(s && strtod(s, NULL) == samples[i],
		   "format_double round trip %s", s ? s : "(null)");
	}
}

static void test_env_tag_seed(void)
{
	_cleanup_run_spec_ RunSpec *s = run_spec_new();
	is_int(run_spec_add_env(s, "A=1"), 0, "add_env A=1");
	is_int(run_spec_add_env(s, "B="), 0, "add_env B= (empty value)");
	is_int(run_spec_add_env(s, "C=x=y"), 0, "add_env C=x=y");
	is_int(run_spec_add_env(s, "=x"), -EINVAL, "add_env =x -> -EINVAL");
	is_int(run_spec_add_env(s, "noeq"), -EINVAL, "add_env noeq -> -EINVAL");
	is_int(strv_length(s->env_set), 3, "env_set has three entries");
	is_str(s->env_set[0], "A=1", "env_set[0]");
	is_str(s->env_set[2], "C=x=y", "env_set[2]");

	is_int(run_spec_add_tag(s, "team=vision"), 0, "add_tag team=vision");
	is_int(run_spec_add_tag(s, "note=a=b"), 0, "add_tag note=a=b");
	is_int(run_spec_add_tag(s, "=x"), -EINVAL, "add_tag =x -> -EINVAL");
	is_int(run_spec_add_tag(s, "noeq"), -EINVAL, "add_tag noeq -> -EINVAL");
	is_str(json_string_value(json_object_get(s->tags, "team")), "vision",
	       "tags.team");
	is_str(json_string_value(json_object_get(s->tags, "note")), "a=b",
	       "tags.note");
	is_int(json_object_size(s->tags), 2, "two tags");

	ok(!s->has_seed, "no seed at first");
	uint64_t a = 0, b = 0;
	is_int(run_spec_seed(s, &a), 0, "run_spec_seed: ok");
	is_int(run_spec_seed(s, &b), 0, "run_spec_seed again: ok");
	ok(a != b, "without --seed each call draws a seed");
	ok(!s->has_seed, "run_spec_seed leaves the spec as it was");
	is_int(s->seed_source, SEED_GENERATED, "no seed given: generated");
	is_str(seed_source_to_string(s->seed_source), "generated",
	       "seed_source_to_string(generated)");

	_cleanup_run_spec_ RunSpec *o = run_spec_new();
	o->has_seed = true;
	o->seed = 1234;
	o->seed_source = SEED_OPTION;
	uint64_t v = 0;
	is_int(run_spec_seed(o, &v), 0, "run_spec_seed with --seed: ok");
	ok(v == 1234 && o->seed_source == SEED_OPTION,
	   "run_spec_seed gives the given seed");

	is_str(seed_source_to_string(SEED_OPTION), "option",
	       "seed_source_to_string(option)");
	is_str(seed_source_to_string(SEED_REPLAY), "replay",
	       "seed_source_to_string(replay)");
	is_str(seed_source_to_string(SEED_GENERATED), "generated",
	       "seed_source_to_string(generated)");
}

static void test_outputs(void)
{
	static const struct {
		const char *cwd, *path, *want;
	} norm[] = {
	        {"/w", "out", "/w/out"},          {"/w", "out/", "/w/out"},
	        {"/w", "./a//b/./c", "/w/a/b/c"}, {"/w/x", "../y", "/w/y"},
	        {"/w", "/abs/../p", "/p"},        {"/", "..", "/"},
	        {"/w", "a/../..", "/"},
	};
	for (size_t i = 0; i < ELEMENTSOF(norm); i++) {
		_cleanup_free_ char *n =
		        path_normalize(norm[i].cwd, norm[i].path);
		is_str(n, norm[i].want, "path_normalize(%s, %s)", norm[i].cwd,
		       norm[i].path);
	}
	_cleanup_run_spec_ RunSpec *s = run_spec_new();
	ok(run_spec_add_output(s, "out", "/w") == 0, "-o out");
	ok(run_spec_add_output(s, "/w/out/", "/w") == -EEXIST,
	   "-o twice, spelled another way: -EEXIST");
	ok(run_spec_add_output(s, "..", "/w") == -EINVAL, "-o / is refused");
	ok(run_spec_add_output(s, "", "/w") == -EINVAL, "-o '' is refused");
	ok(strv_length(s->outputs) == 1 && streq(s->outputs[0], "/w/out"),
	   "one output, absolute");
}

int main(void)
{
	tmpdir = xstrdup("/tmp/xrun-test-spec.XXXXXX");
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 2;
	}
	test_param_value_parse();
	test_add_param();
	test_load_params();
	test_env();
	test_format_double();
	test_env_tag_seed();
	test_outputs();

	static const char *const files[] = {"params.json", "arr.json",
	                                    "bad.json", "dup.json",
	                                    "badkey.json"};
	for (size_t i = 0; i < ELEMENTSOF(files); i++) {
		_cleanup_free_ char *p = path_join(tmpdir, files[i]);
		unlink(p);
	}
	if (rmdir(tmpdir) < 0)
		perror("rmdir");
	free(tmpdir);
	return done_testing();
}
