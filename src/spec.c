#include "config.h"

#include "spec.h"

#include <sys/random.h>

#include "hash.h"
#include "util.h"

const char *seed_source_to_string(SeedSource s)
{
	switch (s) {
	case SEED_OPTION:
		return "option";
	case SEED_REPLAY:
		return "replay";
	case SEED_GENERATED:
	default:
		return "generated";
	}
}

RunSpec *run_spec_new(void)
{
	RunSpec *s = xcalloc(1, sizeof *s);
	s->params = json_object();
	s->param_keys = json_object();
	s->tags = json_object();
	return s;
}

RunSpec *run_spec_free(RunSpec *s)
{
	if (!s)
		return NULL;
	strv_free(s->argv);
	free(s->cwd);
	strv_free(s->env_set);
	json_decref(s->params);
	json_decref(s->param_keys);
	free(s->params_file);
	free(s->params_sha256);
	free(s->name);
	json_decref(s->tags);
	free(s->replay_of);
	strv_free(s->outputs);
	strv_free(s->inputs);
	strv_free(s->input_refs);
	strv_free(s->ro);
	strv_free(s->caches);
	strv_free(s->env_xrun);
	strv_free(s->env_base);
	command_free(s->command);
	json_decref(s->command_json);
	json_decref(s->pinned);
	free(s->output_is_file);
	json_decref(s->output_before);
	free(s->program_run_id);
	json_decref(s->verify_against);
	free(s->affinity_list);
	json_decref(s->source_git);
	free(s->hostname);
	strv_free(s->ro_binds);
	free(s);
	return NULL;
}

json_t *param_value_parse(const char *text)
{
	json_error_t err;
	json_t *v = json_loads(text, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES,
	                       &err);
	if (v && (json_is_object(v) || json_is_array(v))) {
		/* Only scalars: "[1,2]" given with -p stays a string. */
		json_decref(v);
		v = NULL;
	}
	return v ? v : json_string(text);
}

char *param_json_text(const json_t *v)
{
	if (json_is_real(v)) {
		char *d = format_double(json_real_value(v));
		/* "1.0" must stay a real: -p reads "1" as an integer. */
		if (d && !strpbrk(d, ".eEn")) {
			char *t = xasprintf("%s.0", d);
			free(d);
			d = t;
		}
		return d;
	}
	char *t = json_dumps_shortest(v, JSON_ENCODE_ANY | JSON_COMPACT);
	return t ? t : xstrdup("null");
}

bool param_key_valid(const char *key)
{
	if (!*key || strlen(key) > 256)
		return false;
	for (const char *p = key; *p; p++)
		if (!(*p >= 'a' && *p <= 'z') && !(*p >= 'A' && *p <= 'Z') &&
		    !(*p >= '0' && *p <= '9') && !strchr("_.-", *p))
			return false;
	return true;
}

int param_assignment(const char *kv, char **ret_key, const char **ret_value)
{
	const char *eq = strchr(kv, '=');
	if (!eq)
		return -EINVAL;
	_cleanup_free_ char *key = xstrndup(kv, (size_t)(eq - kv));
	if (!param_key_valid(key))
		return -EINVAL;
	*ret_key = TAKE_PTR(key);
	*ret_value = eq + 1;
	return 0;
}

int run_spec_add_param(RunSpec *s, const char *kv)
{
	_cleanup_free_ char *key = NULL;
	const char *value;
	if (param_assignment(kv, &key, &value) < 0)
		return -EINVAL;
	if (json_object_get(s->param_keys, key))
		return -EEXIST;
	json_object_set_new(s->param_keys, key, json_true());
	json_object_set_new(s->params, key, param_value_parse(value));
	return 0;
}

int run_spec_load_params(RunSpec *s, const char *path, char **ret_error)
{
	_cleanup_free_ char *text = NULL;
	size_t len;
	int r = read_full_file(path, 64 << 20, &text, &len);
	if (r < 0)
		return r;
	json_error_t err;
	json_auto_t *obj = json_loadb(text, len, JSON_REJECT_DUPLICATES, &err);
	if (!obj) {
		if (ret_error)
			*ret_error =
			        xasprintf("line %d: %s", err.line, err.text);
		return -EBADMSG;
	}
	if (!json_is_object(obj)) {
		if (ret_error)
			*ret_error =
			        xstrdup("the top level is not a JSON object");
		return -EBADMSG;
	}
	const char *key;
	json_t *v;
	/* Check every key before merging any: an error leaves s as it was. */
	json_object_foreach (obj, key, v) {
		if (!param_key_valid(key)) {
			if (ret_error)
				*ret_error = xasprintf(
				        "key '%s' is not a valid param name "
				        "(letters, digits, '_', '.', '-')",
				        key);
			return -EBADMSG;
		}
	}
	json_object_foreach (obj, key, v)
		if (!json_object_get(s->param_keys, key))
			json_object_set(s->params, key, v);
	free(s->params_file);
	s->params_file = xstrdup(path);
	free(s->params_sha256);
	s->params_sha256 = sha256_mem(text, len);
	return 0;
}

static int split_kv(const char *kv, char **ret_key, const char **ret_val)
{
	const char *eq = strchr(kv, '=');
	if (!eq || eq == kv)
		return -EINVAL;
	*ret_key = xstrndup(kv, (size_t)(eq - kv));
	*ret_val = eq + 1;
	return 0;
}

int run_spec_add_env(RunSpec *s, const char *kv)
{
	_cleanup_free_ char *key = NULL;
	const char *val;
	if (split_kv(kv, &key, &val) < 0)
		return -EINVAL;
	s->env_set = strv_push(s->env_set, kv);
	return 0;
}

int run_spec_add_tag(RunSpec *s, const char *kv)
{
	_cleanup_free_ char *key = NULL;
	const char *val;
	if (split_kv(kv, &key, &val) < 0)
		return -EINVAL;
	if (!utf8_valid(kv, strlen(kv)))
		return -EILSEQ;
	json_object_set_new(s->tags, key, json_string(val));
	return 0;
}

char *param_value_to_env(const json_t *v)
{
	if (json_is_string(v))
		return xstrdup(json_string_value(v));
	if (json_is_real(v)) {
		/* 1.0 must not read back as the integer 1. */
		_cleanup_free_ char *t = format_double(json_real_value(v));
		if (strspn(t, "-0123456789") == strlen(t))
			return xasprintf("%s.0", t);
		return TAKE_PTR(t);
	}
	return json_dumps_shortest(v, JSON_COMPACT | JSON_ENCODE_ANY);
}

char *param_env_name(const char *key)
{
	char *n = xasprintf("XRUN_PARAM_%s", key);
	for (char *p = n + strlen("XRUN_PARAM_"); *p; p++)
		if (!(*p >= 'a' && *p <= 'z') && !(*p >= 'A' && *p <= 'Z') &&
		    !(*p >= '0' && *p <= '9'))
			*p = '_';
	return n;
}

int param_keys_collide(const json_t *params, const char **ret_a,
                       const char **ret_b)
{
	const char *a, *b;
	json_t *va;
	json_object_foreach ((json_t *)params, a, va) {
		_cleanup_free_ char *na = param_env_name(a);
		json_t *vb;
		json_object_foreach ((json_t *)params, b, vb) {
			if (b == a)
				break;
			_cleanup_free_ char *nb = param_env_name(b);
			if (streq(na, nb)) {
				/* In the order of the keys' names: the
				 * message does not depend on the hash. */
				bool ab = strcmp(a, b) < 0;
				*ret_a = ab ? a : b;
				*ret_b = ab ? b : a;
				return -ENOTUNIQ;
			}
		}
	}
	return 0;
}

int run_spec_seed(const RunSpec *s, uint64_t *ret)
{
	if (s->has_seed) {
		*ret = s->seed;
		return 0;
	}
	uint64_t v;
	if (getrandom(&v, sizeof v, 0) != (ssize_t)sizeof v)
		return negative_errno();
	*ret = v;
	return 0;
}

char *path_normalize(const char *cwd, const char *path)
{
	_cleanup_free_ char *abs =
	        path[0] == '/' ? xstrdup(path) : path_join(cwd, path);
	char *out = xmalloc(strlen(abs) + 2);
	size_t len = 0;
	for (char *p = abs; *p;) {
		while (*p == '/')
			p++;
		size_t n = strcspn(p, "/");
		if (n == 0)
			break;
		if (n == 1 && p[0] == '.') {
			/* nothing */
		} else if (n == 2 && p[0] == '.' && p[1] == '.') {
			while (len > 0 && out[len - 1] != '/')
				len--;
			if (len > 0)
				len--;
		} else {
			out[len++] = '/';
			memcpy(out + len, p, n);
			len += n;
		}
		p += n;
	}
	if (len == 0)
		out[len++] = '/';
	out[len] = 0;
	return out;
}

/* An -i or -o path, absolute and normalized, once. */
static int add_path(char ***v, const char *path, const char *cwd)
{
	if (!*path)
		return -EINVAL;
	_cleanup_free_ char *p = path_normalize(cwd, path);
	if (streq(p, "/"))
		return -EINVAL;
	if (strv_has(*v, p))
		return -EEXIST;
	*v = strv_push(*v, p);
	return 0;
}

int run_spec_add_output(RunSpec *s, const char *path, const char *cwd)
{
	return add_path(&s->outputs, path, cwd);
}

int run_spec_add_cache(RunSpec *s, const char *path, const char *cwd)
{
	return add_path(&s->caches, path, cwd);
}

int run_spec_add_input(RunSpec *s, const char *path, const char *cwd)
{
	_cleanup_free_ char *p = path_normalize(cwd, path);
	if (strv_has(s->input_refs, p))
		return -EEXIST;
	return add_path(&s->inputs, path, cwd);
}

int run_spec_add_input_ref(RunSpec *s, const char *path, const char *cwd)
{
	_cleanup_free_ char *p = path_normalize(cwd, path);
	if (strv_has(s->inputs, p))
		return -EEXIST;
	return add_path(&s->input_refs, path, cwd);
}

void run_spec_set_deterministic(RunSpec *s, long cpus)
{
	static const char *const fixed[] = {
	        "CUBLAS_WORKSPACE_CONFIG=:4096:8",
	        "TF_DETERMINISTIC_OPS=1",
	        "NVIDIA_TF32_OVERRIDE=0",
	        "TZ=UTC",
	};
	static const char *const threads[] = {
	        "OMP_NUM_THREADS",
	        "OPENBLAS_NUM_THREADS",
	        "MKL_NUM_THREADS",
	};
	s->deterministic = true;
	for (size_t i = 0; i < ELEMENTSOF(fixed); i++)
		s->env_xrun = strv_push(s->env_xrun, fixed[i]);
	for (size_t i = 0; i < ELEMENTSOF(threads); i++) {
		_cleanup_free_ char *e =
		        xasprintf("%s=%ld", threads[i], cpus > 0 ? cpus : 1);
		s->env_xrun = strv_push(s->env_xrun, e);
	}
}
