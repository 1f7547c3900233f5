/* A sweep's grid: parsing -p lists and --params-grid files, and the
 * cartesian product. */
#include "config.h"

#include <errno.h>
#include <string.h>

#include "spec.h"
#include "sweep.h"
#include "util.h"

Grid *grid_new(void)
{
	Grid *g = xcalloc(1, sizeof *g);
	g->axes = json_object();
	return g;
}

Grid *grid_free(Grid *g)
{
	if (!g)
		return NULL;
	json_decref(g->axes);
	free(g);
	return NULL;
}

int grid_add_list(Grid *g, const char *kv)
{
	_cleanup_free_ char *key = NULL;
	const char *value;
	if (param_assignment(kv, &key, &value) < 0)
		return -EINVAL;
	if (json_object_get(g->axes, key))
		return -EEXIST;
	json_auto_t *values = json_array();
	size_t n = strlen(value);
	_cleanup_free_ char *buf = xmalloc(n + 1);
	size_t k = 0;
	for (const char *p = value;; p++) {
		if (*p == '\\' && (p[1] == ',' || p[1] == '\\')) {
			buf[k++] = *++p;
			continue;
		}
		if (*p == ',' || !*p) {
			buf[k] = 0;
			json_array_append_new(values, param_value_parse(buf));
			k = 0;
			if (!*p)
				break;
			continue;
		}
		buf[k++] = *p;
	}
	json_object_set(g->axes, key, values);
	return 0;
}

static int grid_error(char **ret_error, int r, const char *fmt, const char *arg)
{
	if (ret_error)
		*ret_error = xasprintf(fmt, arg);
	return r;
}

int grid_load_file(Grid *g, const char *path, char **ret_error)
{
	_cleanup_free_ char *text = NULL;
	int r = read_full_file(path, 16 << 20, &text, NULL);
	if (r < 0)
		return r;
	json_error_t err;
	json_auto_t *root = json_loads(text, JSON_REJECT_DUPLICATES, &err);
	if (!root)
		return grid_error(ret_error, -EBADMSG, "%s", err.text);
	if (!json_is_object(root))
		return grid_error(ret_error, -EBADMSG, "%s",
		                  "not a JSON object");
	const char *key;
	json_t *v;
	json_object_foreach (root, key, v) {
		if (!param_key_valid(key))
			return grid_error(ret_error, -EBADMSG,
			                  "'%s' is not a param key (letters, "
			                  "digits, '_', '.' or '-')",
			                  key);
		if (!json_is_array(v) || json_array_size(v) == 0)
			return grid_error(ret_error, -EBADMSG,
			                  "'%s' must list its values: "
			                  "[v1, v2, …]",
			                  key);
		size_t i;
		json_t *x;
		json_array_foreach (v, i, x)
			if (json_is_object(x) || json_is_array(x))
				return grid_error(ret_error, -EBADMSG,
				                  "the values of '%s' must be "
				                  "scalars (numbers, strings, "
				                  "booleans or null)",
				                  key);
		if (json_object_get(g->axes, key))
			return grid_error(ret_error, -EEXIST, "%s", key);
	}
	json_object_foreach (root, key, v)
		json_object_set(g->axes, key, v);
	return 0;
}

long grid_size(const Grid *g)
{
	if (json_object_size(g->axes) == 0)
		return 0;
	long n = 1;
	const char *key;
	json_t *v;
	json_object_foreach (g->axes, key, v) {
		n *= (long)json_array_size(v);
		if (n > GRID_MAX)
			return -E2BIG;
	}
	return n;
}

json_t *grid_combination(const Grid *g, size_t i)
{
	/* Mixed radix, the last key the lowest digit. */
	size_t n = json_object_size(g->axes);
	_cleanup_free_ size_t *pick = xcalloc(n ? n : 1, sizeof *pick);
	const char **keys = xcalloc(n ? n : 1, sizeof *keys);
	size_t k = 0;
	const char *key;
	json_t *v;
	json_object_foreach (g->axes, key, v)
		keys[k++] = key;
	for (size_t j = n; j-- > 0;) {
		size_t len = json_array_size(json_object_get(g->axes, keys[j]));
		pick[j] = i % len;
		i /= len;
	}
	json_t *c = json_object();
	for (size_t j = 0; j < n; j++)
		json_object_set(
		        c, keys[j],
		        json_array_get(json_object_get(g->axes, keys[j]),
		                       pick[j]));
	free(keys);
	return c;
}
