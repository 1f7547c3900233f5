#include "config.h"

#include "capture.h"

#include <ctype.h>

#include "hash.h"
#include "util.h"

/* A name is a secret's when one of its words (split at '_', '-' and
 * '.', any case) is one of these: HF_TOKEN, AWS_SECRET_ACCESS_KEY,
 * NPM_CONFIG__AUTH. Words, not substrings: TOKENIZERS_PARALLELISM,
 * TIKTOKEN_CACHE_DIR, GIT_AUTHOR_NAME and KEYBOARD are not secrets, and
 * replaying without them would change the run. */
static const char *const secret_words[] = {
        "TOKEN",     "TOKENS", "SECRET",     "SECRETS",     "PASSWORD",
        "PASSWORDS", "PASSWD", "PASS",       "PASSPHRASE",  "KEY",
        "KEYS",      "APIKEY", "CREDENTIAL", "CREDENTIALS", "CREDS",
        "AUTH",      "COOKIE", "COOKIES",    "SESSION",
};
/* ... or its last word ends with one of these: OPENAI_APIKEY,
 * GHTOKEN, DBPASSWORD. */
static const char *const secret_endings[] = {
        "TOKEN",  "SECRET",    "PASSWORD",  "PASSWD",
        "APIKEY", "ACCESSKEY", "SECRETKEY", "PRIVATEKEY",
};

bool env_name_is_secret(const char *name)
{
	char up[256];
	size_t n = 0;
	for (; n < sizeof up - 1 && name[n]; n++)
		up[n] = (char)toupper((unsigned char)name[n]);
	up[n] = 0;
	for (char *w = up, *end; *w; w = end + (*end != 0)) {
		size_t len = strcspn(w, "_-.");
		end = w + len;
		if (!len)
			continue;
		for (size_t i = 0; i < ELEMENTSOF(secret_words); i++)
			if (strlen(secret_words[i]) == len &&
			    strneq(w, secret_words[i], len))
				return true;
		if (*end)
			continue;
		for (size_t i = 0; i < ELEMENTSOF(secret_endings); i++) {
			size_t k = strlen(secret_endings[i]);
			if (len >= k && streq(end - k, secret_endings[i]))
				return true;
		}
	}
	return false;
}

bool env_value_is_secret(const char *value)
{
	/* A URL with a password: scheme://user:password@host... */
	const char *p = strstr(value, "://");
	if (!p || p == value)
		return false;
	for (const char *s = value; s < p; s++)
		if (!isalnum((unsigned char)*s) && *s != '+' && *s != '-' &&
		    *s != '.')
			return false;
	p += 3;
	size_t authority = strcspn(p, "/?#");
	const char *at = memrchr(p, '@', authority);
	return at && memchr(p, ':', (size_t)(at - p)) != NULL;
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
		if (env_name_is_secret(name) || env_value_is_secret(value)) {
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
