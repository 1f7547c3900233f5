#include "config.h"

#include "capture.h"

#include <ctype.h>

#include "hash.h"
#include "util.h"

bool env_name_is_secret(const char *name)
{
	static const char *const words[] = {
	        "TOKEN",      "SECRET", "PASSWORD", "PASSWD",  "KEY",
	        "CREDENTIAL", "AUTH",   "COOKIE",   "SESSION",
	};
	char up[256];
	size_t n = 0;
	for (; n < sizeof up - 1 && name[n]; n++)
		up[n] = (char)toupper((unsigned char)name[n]);
	up[n] = 0;
	for (size_t i = 0; i < ELEMENTSOF(words); i++)
		if (strstr(up, words[i]))
			return true;
	return false;
}

int capture_environment(char *const *envp, json_t **ret)
{
	json_auto_t *vars = json_object();
	json_auto_t *redacted = json_array();
	json_auto_t *undecodable = json_array();
	for (char *const *e = envp; e && *e; e++) {
		const char *eq = strchr(*e, '=');
		size_t len = strlen(*e);
		if (!eq || eq == *e || !utf8_valid(*e, (size_t)(eq - *e))) {
			/* Object keys must be UTF-8: keep the whole entry. */
			_cleanup_free_ char *b =
			        base64_encode((const unsigned char *)*e, len);
			json_array_append_new(undecodable, json_string(b));
			continue;
		}
		_cleanup_free_ char *name = xstrndup(*e, (size_t)(eq - *e));
		const char *value = eq + 1;
		/* getenv(3) and the program see the first of duplicates. */
		if (json_object_get(vars, name))
			continue;
		json_t *v;
		if (env_name_is_secret(name)) {
			_cleanup_free_ char *d =
			        sha256_mem(value, strlen(value));
			v = json_pack("{s:s}", "redacted", d);
			json_array_append_new(redacted, json_string(name));
		} else
			v = json_bstr(value);
		json_object_set_new(vars, name, v);
	}
	/* The digest covers the recorded form, so it is the same for the
	 * same environment whatever order the variables came in. */
	json_auto_t *both = json_pack("{s:O,s:O}", "variables", vars,
	                              "undecodable", undecodable);
	_cleanup_free_ char *dump =
	        json_dumps(both, JSON_SORT_KEYS | JSON_COMPACT);
	_cleanup_free_ char *digest = sha256_mem(dump, strlen(dump));
	*ret = json_pack("{s:O,s:O,s:O,s:s}", "variables", vars, "redacted",
	                 redacted, "undecodable", undecodable, "sha256",
	                 digest);
	return *ret ? 0 : -ENOMEM;
}
