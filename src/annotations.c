/* Annotations beside the record: see annotations.h. */
#include "config.h"

#include <fcntl.h>
#include <sys/file.h>

#include "annotations.h"
#include "util.h"

static json_t *annotations_empty(void)
{
	return json_pack("{s:s,s:{},s:[]}", "schema", ANNOTATIONS_SCHEMA,
	                 "tags", "notes");
}

/* The document is ours and well formed: tags an object of strings,
 * notes an array of {time, text} strings. */
static bool annotations_valid(const json_t *a)
{
	if (!json_is_object(a))
		return false;
	const char *schema = json_get_string(a, "schema");
	if (!schema || !streq(schema, ANNOTATIONS_SCHEMA))
		return false;
	const json_t *tags = json_object_get(a, "tags");
	const json_t *notes = json_object_get(a, "notes");
	if (!json_is_object(tags) || !json_is_array(notes))
		return false;
	const char *k;
	json_t *v;
	json_object_foreach ((json_t *)tags, k, v)
		if (!json_is_string(v) || !annotation_key_valid(k))
			return false;
	size_t i;
	json_array_foreach (notes, i, v)
		if (!json_is_string(json_object_get(v, "time")) ||
		    !json_is_string(json_object_get(v, "text")))
			return false;
	return true;
}

int annotations_load(const char *run_dir, json_t **ret)
{
	_cleanup_free_ char *path = path_join(run_dir, ANNOTATIONS_FILE);
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0 && errno == ENOENT) {
		*ret = annotations_empty();
		return 0;
	}
	if (fd < 0)
		return negative_errno();
	_cleanup_free_ char *text = NULL;
	size_t len;
	int r = read_full_fd(fd, ANNOTATIONS_MAX_SIZE, &text, &len);
	if (r < 0)
		return r == -EFBIG ? -EBADMSG : r;
	json_t *a = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL);
	if (!annotations_valid(a)) {
		json_decref(a);
		return -EBADMSG;
	}
	*ret = a;
	return 0;
}

bool annotation_key_valid(const char *key)
{
	size_t n = key ? strlen(key) : 0;
	if (n == 0 || n > 128 || strchr(key, '=') || !utf8_valid(key, n))
		return false;
	for (const unsigned char *p = (const unsigned char *)key; *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			return false;
	return true;
}

static int annotations_save(const char *run_dir, const json_t *a)
{
	_cleanup_free_ char *text =
	        json_dumps(a, JSON_INDENT(2) | JSON_SORT_KEYS);
	if (!text)
		return -ENOMEM;
	size_t n = strlen(text);
	text = xrealloc(text, n + 2);
	text[n++] = '\n';
	text[n] = 0;
	_cleanup_free_ char *path = path_join(run_dir, ANNOTATIONS_FILE);
	bool exists = access(path, F_OK) == 0;
	return write_file_atomic_fd(-1, run_dir, ANNOTATIONS_FILE, text, n,
	                            0644, exists, true);
}

int annotations_update(const char *run_dir, const json_t *set,
                       char *const *unset, const char *note, int64_t now_ns)
{
	const char *k;
	json_t *v;
	json_object_foreach ((json_t *)set, k, v)
		if (!annotation_key_valid(k) || !json_is_string(v) ||
		    !utf8_valid(json_string_value(v), json_string_length(v)))
			return -EINVAL;
	for (size_t i = 0; unset && unset[i]; i++)
		if (!annotation_key_valid(unset[i]))
			return -EINVAL;
	if (note && (!*note || !utf8_valid(note, strlen(note))))
		return -EINVAL;
	/* One writer at a time: the lock is the run directory's own. */
	_cleanup_close_ int dfd =
	        open(run_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (dfd < 0)
		return negative_errno();
	if (flock(dfd, LOCK_EX) < 0)
		return negative_errno();
	json_auto_t *a = NULL;
	int r = annotations_load(run_dir, &a);
	if (r < 0)
		return r;
	json_t *tags = json_object_get(a, "tags");
	json_object_foreach ((json_t *)set, k, v)
		json_object_set_new(tags, k, json_string(json_string_value(v)));
	for (size_t i = 0; unset && unset[i]; i++)
		json_object_del(tags, unset[i]);
	if (note) {
		_cleanup_free_ char *t = format_rfc3339(now_ns);
		json_array_append_new(
		        json_object_get(a, "notes"),
		        json_pack("{s:s,s:s}", "time", t, "text", note));
	}
	return annotations_save(run_dir, a);
	/* The lock goes with dfd. */
}

json_t *annotations_effective_tags(const Record *r, const json_t *ann)
{
	json_t *t = json_object();
	const json_t *own = json_object_get(r->root, "tags");
	const char *k;
	json_t *v;
	json_object_foreach ((json_t *)own, k, v)
		if (json_is_string(v))
			json_object_set(t, k, v);
	json_object_foreach ((json_t *)json_object_get(ann, "tags"), k, v)
		if (json_is_string(v))
			json_object_set(t, k, v);
	return t;
}

bool annotations_match_tag(const Record *r, const json_t *ann, const char *kv)
{
	json_auto_t *t = annotations_effective_tags(r, ann);
	const char *eq = strchr(kv, '=');
	_cleanup_free_ char *key =
	        eq ? xstrndup(kv, (size_t)(eq - kv)) : xstrdup(kv);
	const char *have = json_get_string(t, key);
	if (!have)
		return false;
	return !eq || streq(have, eq + 1);
}
