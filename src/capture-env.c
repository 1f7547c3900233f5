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

/* Names that hold secrets without a secret's word in them. */
static const char *const secret_names[] = {
        "SSHPASS",   "MYSQL_PWD",   "PGPASS",    "SENTRY_DSN", "DATABASE_URL",
        "REDIS_URL", "MONGODB_URI", "MONGO_URL", "AMQP_URL",
};
/* ... or one of these words: CI_JOB_JWT, GH_PAT, SLACK_WEBHOOK_URL,
 * SENTRY_DSN, MYSQL_PWD (PWD alone is the working directory). */
static const char *const secret_words_more[] = {
        "JWT", "PAT", "WEBHOOK", "WEBHOOKS", "DSN", "PWD", "SAS", "OTP",
};
/* ... or it ends with one of these: AZURE_STORAGE_CONNECTION_STRING. */
static const char *const secret_tails[] = {
        "CONNECTION_STRING",
        "CONNECTIONSTRING",
        "CONN_STR",
        "PRIVATE_KEY",
};

static bool name_has_more_secret_words(const char *up)
{
	for (size_t i = 0; i < ELEMENTSOF(secret_names); i++)
		if (streq(up, secret_names[i]))
			return true;
	size_t n = strlen(up);
	for (size_t i = 0; i < ELEMENTSOF(secret_tails); i++) {
		size_t k = strlen(secret_tails[i]);
		if (n >= k && streq(up + n - k, secret_tails[i]) &&
		    (n == k || strchr("_-.", up[n - k - 1])))
			return true;
	}
	if (streq(up, "PWD"))
		return false;
	for (const char *w = up, *end; *w; w = end + (*end != 0)) {
		size_t len = strcspn(w, "_-.");
		end = w + len;
		for (size_t i = 0; len && i < ELEMENTSOF(secret_words_more);
		     i++)
			if (strlen(secret_words_more[i]) == len &&
			    strneq(w, secret_words_more[i], len))
				return true;
	}
	return false;
}

bool env_name_is_secret(const char *name)
{
	char up[256];
	size_t n = 0;
	for (; n < sizeof up - 1 && name[n]; n++)
		up[n] = (char)toupper((unsigned char)name[n]);
	up[n] = 0;
	if (name_has_more_secret_words(up))
		return true;
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

/* A URL with a password: scheme://user:password@host... anywhere in
 * value. */
static bool has_url_password(const char *value)
{
	for (const char *p = strstr(value, "://"); p;
	     p = strstr(p + 3, "://")) {
		const char *start = p;
		while (start > value &&
		       (isalnum((unsigned char)start[-1]) || start[-1] == '+' ||
		        start[-1] == '-' || start[-1] == '.'))
			start--;
		if (start == p)
			continue;
		const char *a = p + 3;
		size_t authority = strcspn(a, "/?# \t\"'");
		const char *at = memrchr(a, '@', authority);
		if (at && memchr(a, ':', (size_t)(at - a)))
			return true;
	}
	return false;
}

/* Well-known token formats: a prefix at the start of a word, then at
 * least min characters of the token's alphabet. */
typedef struct TokenFormat {
	const char *prefix;
	size_t min;
	const char *extra; /* characters besides letters and digits */
	bool mixed;        /* needs two of lower, upper, digit: no word */
	const char *what;
} TokenFormat;

static const TokenFormat token_formats[] = {
        {"ghp_", 30, "", false, "a GitHub token"},
        {"gho_", 30, "", false, "a GitHub token"},
        {"ghu_", 30, "", false, "a GitHub token"},
        {"ghs_", 30, "", false, "a GitHub token"},
        {"ghr_", 30, "", false, "a GitHub token"},
        {"github_pat_", 20, "_", true, "a GitHub token"},
        {"glpat-", 20, "_-", true, "a GitLab token"},
        {"hf_", 30, "", true, "a Hugging Face token"},
        {"sk-", 20, "_-", true, "an API key (sk-)"},
        {"sk_live_", 20, "", true, "a Stripe key"},
        {"rk_live_", 20, "", true, "a Stripe key"},
        {"xoxa-", 10, "-", true, "a Slack token"},
        {"xoxb-", 10, "-", true, "a Slack token"},
        {"xoxp-", 10, "-", true, "a Slack token"},
        {"xoxo-", 10, "-", true, "a Slack token"},
        {"xoxr-", 10, "-", true, "a Slack token"},
        {"xoxs-", 10, "-", true, "a Slack token"},
        {"xoxe-", 10, "-", true, "a Slack token"},
        {"AIza", 35, "_-", true, "a Google API key"},
        {"npm_", 36, "", true, "an npm token"},
        {"pypi-", 50, "_-", true, "a PyPI token"},
};

static bool in_alphabet(char c, const char *extra)
{
	return isalnum((unsigned char)c) || (c && strchr(extra, c));
}

static bool word_start(const char *value, const char *p)
{
	return p == value || !isalnum((unsigned char)p[-1]);
}

static bool token_at(const char *p, const TokenFormat *f)
{
	size_t k = strlen(f->prefix);
	if (!strneq(p, f->prefix, k))
		return false;
	size_t n = 0;
	bool lower = false, upper = false, digit = false;
	for (const char *q = p + k; in_alphabet(*q, f->extra); q++, n++) {
		lower |= islower((unsigned char)*q) != 0;
		upper |= isupper((unsigned char)*q) != 0;
		digit |= isdigit((unsigned char)*q) != 0;
	}
	if (n < f->min)
		return false;
	return !f->mixed || lower + upper + digit >= 2;
}

/* AKIA/ASIA and 16 capitals or digits: an AWS access key id. */
static bool aws_key_at(const char *p)
{
	if (!strneq(p, "AKIA", 4) && !strneq(p, "ASIA", 4))
		return false;
	size_t n = 0;
	for (const char *q = p + 4;
	     (*q >= 'A' && *q <= 'Z') || (*q >= '0' && *q <= '9'); q++)
		n++;
	return n == 16 && !isalnum((unsigned char)p[4 + n]);
}

/* Three base64url segments, the first a JSON object ("eyJ"): a JSON Web
 * Token. */
static bool jwt_at(const char *p)
{
	if (!strneq(p, "eyJ", 3))
		return false;
	size_t seg[3] = {0};
	int i = 0;
	for (const char *q = p; i < 3; q++) {
		if (in_alphabet(*q, "_-"))
			seg[i]++;
		else if (*q == '.' && i < 2)
			i++;
		else
			break;
	}
	return seg[0] >= 10 && seg[1] >= 10 && seg[2] >= 10;
}

const char *secret_value_kind(const char *value)
{
	if (has_url_password(value))
		return "a URL with a password";
	if (strstr(value, "AccountKey=") || strstr(value, "SharedAccessKey=") ||
	    strstr(value, "SharedAccessSignature="))
		return "an Azure connection string";
	if (strstr(value, "-----BEGIN") && strstr(value, "PRIVATE KEY"))
		return "a private key";
	if (strstr(value, "hooks.slack.com/services/") ||
	    strstr(value, "discord.com/api/webhooks/"))
		return "a webhook URL";
	for (const char *p = value; *p; p++) {
		if (!word_start(value, p))
			continue;
		if (aws_key_at(p))
			return "an AWS access key id";
		if (jwt_at(p))
			return "a JSON Web Token";
		for (size_t i = 0; i < ELEMENTSOF(token_formats); i++)
			if (token_at(p, &token_formats[i]))
				return token_formats[i].what;
	}
	return NULL;
}

bool env_value_is_secret(const char *value)
{
	return secret_value_kind(value) != NULL;
}

char *env_entry_redacted(const char *entry, size_t len)
{
	const char *eq = memchr(entry, '=', len);
	if (!eq || strlen(entry) != len)
		return NULL;
	_cleanup_free_ char *name = xstrndup(entry, (size_t)(eq - entry));
	if (!env_name_is_secret(name) && !env_value_is_secret(eq + 1))
		return NULL;
	_cleanup_free_ char *d = sha256_mem(eq + 1, strlen(eq + 1));
	return xasprintf("%s=(redacted %s)", name, d);
}

json_t *env_set_redacted(const json_t *env_set)
{
	if (!json_is_array(env_set))
		return json_incref((json_t *)env_set);
	json_t *out = json_array();
	size_t i;
	json_t *e;
	json_array_foreach (env_set, i, e) {
		size_t n = 0;
		_cleanup_free_ char *s = json_bytes_decode(e, &n);
		_cleanup_free_ char *r = s ? env_entry_redacted(s, n) : NULL;
		json_array_append_new(out, r ? json_string(r) : json_incref(e));
	}
	return out;
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
