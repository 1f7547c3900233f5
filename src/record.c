#include "config.h"

#include "record.h"

#include <fcntl.h>
#include <pthread.h>
#include <sys/utsname.h>

#include "hash.h"
#include "util.h"

static const char *const statuses[] = {
        "running", "succeeded", "failed",      "killed",
        "timeout", "oom",       "interrupted", "abandoned",
};

bool status_valid(const char *s)
{
	for (size_t i = 0; s && i < ELEMENTSOF(statuses); i++)
		if (streq(s, statuses[i]))
			return true;
	return false;
}

Record *record_new(json_t *root, const char *dir)
{
	Record *r = xcalloc(1, sizeof *r);
	r->root = root;
	r->dir = xstrdup(dir);
	r->path = path_join(dir, "record.json");
	r->next_fd = -1;
	return r;
}

Record *record_free(Record *r)
{
	if (!r)
		return NULL;
	json_decref(r->root);
	if (r->next_fd >= 0)
		close(r->next_fd);
	free(r->path);
	free(r->dir);
	free(r);
	return NULL;
}

/* A run id as libuuid writes it: 8-4-4-4-12 lowercase hex digits. It
 * names a directory, so nothing else may pass. */
bool run_id_valid(const char *id)
{
	if (strlen(id) != 36)
		return false;
	for (size_t i = 0; i < 36; i++) {
		char c = id[i];
		bool dash = i == 8 || i == 13 || i == 18 || i == 23;
		if (dash ? c != '-'
		         : !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
			return false;
	}
	return true;
}

int record_parse(const char *text, size_t len, json_t **ret, char **ret_error)
{
	json_error_t err;
	json_auto_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &err);
	if (!root) {
		if (ret_error)
			*ret_error =
			        xasprintf("not valid JSON (line %d, column "
			                  "%d: %s)",
			                  err.line, err.column, err.text);
		return -EBADMSG;
	}
	if (!json_is_object(root)) {
		if (ret_error)
			*ret_error = xstrdup("not a JSON object");
		return -EBADMSG;
	}
	const char *schema = json_get_string(root, "schema");
	if (!schema) {
		if (ret_error)
			*ret_error = xstrdup("no \"schema\" field: not an xrun "
			                     "run record");
		return -EBADMSG;
	}
	if (!streq(schema, RECORD_SCHEMA)) {
		uint64_t v;
		if (startswith(schema, RECORD_SCHEMA_PREFIX) &&
		    parse_u64(schema + strlen(RECORD_SCHEMA_PREFIX), &v) == 0 &&
		    v > 1) {
			if (ret_error)
				*ret_error = xasprintf(
				        "written with schema '%s', newer than "
				        "this xrun understands (%s); upgrade "
				        "xrun to read it",
				        schema, RECORD_SCHEMA);
			return -EPROTONOSUPPORT;
		}
		if (ret_error)
			*ret_error = xasprintf("unknown schema '%s'", schema);
		return -EBADMSG;
	}
	/* The fields every command relies on; the rest is read defensively. */
	const char *id = json_get_string(root, "id");
	if (!id || !run_id_valid(id)) {
		if (ret_error)
			*ret_error = xstrdup("missing or malformed \"id\"");
		return -EBADMSG;
	}
	if (!status_valid(json_get_string(root, "status"))) {
		if (ret_error)
			*ret_error = xstrdup("missing or unknown \"status\"");
		return -EBADMSG;
	}
	*ret = json_incref(root);
	return 0;
}

int record_load(const char *path, Record **ret, char **ret_error)
{
	_cleanup_free_ char *text = NULL;
	size_t len;
	int r = read_full_file(path, RECORD_MAX_SIZE, &text, &len);
	if (r < 0)
		return r;
	json_t *root;
	r = record_parse(text, len, &root, ret_error);
	if (r < 0)
		return r;
	_cleanup_free_ char *dir = xstrdup(path);
	char *slash = strrchr(dir, '/');
	if (slash)
		*(slash == dir ? slash + 1 : slash) = 0;
	else {
		free(dir);
		dir = xstrdup(".");
	}
	Record *rec = record_new(root, dir);
	free(rec->path);
	rec->path = xstrdup(path);
	rec->saved = true;
	*ret = rec;
	return 0;
}

/* The text a record's digest covers: the record without its
 * "record_sha256", compact, in the record's own key order, reals in their
 * shortest form; with sorted, its keys sorted, and with !shortest, reals
 * in jansson's 17 digits (how earlier builds digested records, still
 * accepted). Reformatting the file leaves it alone; changing a value does
 * not. */
static char *record_compact(json_t *root, bool sorted, bool shortest)
{
	/* Out for the dump and back in, rather than a deep copy of the
	 * whole record on every save. */
	json_t *own = json_incref(json_object_get(root, "record_sha256"));
	json_object_del(root, "record_sha256");
	size_t flags = JSON_COMPACT | (sorted ? JSON_SORT_KEYS : 0);
	char *text = shortest ? json_dumps_shortest(root, flags)
	                      : json_dumps(root, flags);
	if (own)
		json_object_set_new(root, "record_sha256", own);
	return text;
}

int record_check_digest(const Record *r)
{
	const char *want = json_get_string(r->root, "record_sha256");
	if (!want)
		return 0;
	for (int i = 0; i < 4; i++) {
		_cleanup_free_ char *text =
		        record_compact(r->root, i & 2, !(i & 1));
		if (!text)
			return -ENOMEM;
		_cleanup_free_ char *got = sha256_mem(text, strlen(text));
		if (streq(got, want))
			return 1;
	}
	return -EBADMSG;
}

int record_save(Record *r, bool sync_dir)
{
	/* One dump serves both: the digest covers the compact text, and
	 * the file is that text indented, with the digest as its last
	 * member (where json_object_set_new puts it). */
	json_object_del(r->root, "record_sha256");
	_cleanup_free_ char *compact =
	        json_dumps_shortest(r->root, JSON_COMPACT);
	if (!compact)
		return -ENOMEM;
	size_t clen = strlen(compact);
	_cleanup_free_ char *digest = sha256_mem(compact, clen);
	json_object_set_new(r->root, "record_sha256", json_string(digest));
	/* compact ends with '}': the member goes in before it. */
	_cleanup_free_ char *whole = xmalloc(clen + strlen(digest) + 32);
	char *p = mempcpy(whole, compact, clen - 1);
	p = stpcpy(p,
	           clen > 2 ? ",\"record_sha256\":\"" : "\"record_sha256\":\"");
	p = stpcpy(p, digest);
	strcpy(p, "\"}");
	size_t n;
	_cleanup_free_ char *text = json_indent_compact(whole, &n);
	text[n++] = '\n';
	text[n] = 0;
	int fd = r->next_fd;
	r->next_fd = -1;
	int ret = write_file_atomic_fd(fd, r->dir, "record.json", text, n, 0644,
	                               r->saved, sync_dir);
	if (ret == 0) {
		r->saved = true;
		r->saved_len = n;
	}
	return ret;
}

void record_prepare_save(Record *r)
{
	if (r->next_fd < 0) {
		int fd = open_unnamed(r->dir, 0644);
		r->next_fd = fd < 0 ? -1 : fd;
	}
}

int record_reserve(Record *r)
{
	if (r->next_fd < 0) {
		int fd = open_unnamed(r->dir, 0644);
		if (fd < 0)
			return fd;
		r->next_fd = fd;
	}
	/* Blocks, not a size: the save writes from offset 0 and cuts the
	 * file to what it wrote. */
	off_t want = (off_t)(2 * r->saved_len + (64 << 10));
	int e = posix_fallocate(r->next_fd, 0, want);
	return e ? -e : 0;
}

const char *record_id(const Record *r)
{
	return json_get_string(r->root, "id");
}

const char *record_stored_status(const Record *r)
{
	return json_get_string(r->root, "status");
}

json_t *record_get_path(const Record *r, const char *dotted)
{
	return json_get_path(r->root, dotted);
}

const char *record_created(const Record *r)
{
	return json_string_value(record_get_path(r, "times.created"));
}

/* Whether process pid, started at start (clock ticks after boot), is
 * still there. A /proc that hides it (hidepid) counts as there. */
static bool process_alive(long pid, unsigned long long start)
{
	unsigned long long st;
	int r = proc_stat_field(pid, 22, &st); /* start, in clock ticks */
	if (r == -ENOENT || r == -ESRCH)
		return false;
	if (r < 0)
		return true;
	return st == start;
}

/* The first 8 hex digits of the SHA-256 of this host's name. */
static int host_tag(char ret[9])
{
	struct utsname u;
	if (uname(&u) < 0)
		return negative_errno();
	_cleanup_free_ char *d = sha256_mem(u.nodename, strlen(u.nodename));
	const char *hex = strchr(d, ':') ? strchr(d, ':') + 1 : d;
	snprintf(ret, 9, "%.8s", hex);
	return 0;
}

int launcher_token(char **ret)
{
	static char *cached;
	static pid_t cached_pid;
	static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	pthread_mutex_lock(&lock);
	int r = 0;
	if (!cached || cached_pid != getpid()) {
		unsigned long long st = 0;
		_cleanup_free_ char *boot = NULL;
		char host[9];
		r = proc_stat_field((long)getpid(), 22, &st);
		if (r == 0)
			r = read_boot_id(&boot);
		if (r == 0)
			r = host_tag(host);
		if (r == 0) {
			free(cached);
			cached = xasprintf("%ld-%llu-%.8s-%s", (long)getpid(),
			                   st, boot, host);
			cached_pid = getpid();
		}
	}
	if (r == 0)
		*ret = xstrdup(cached);
	pthread_mutex_unlock(&lock);
	return r;
}

size_t launcher_token_parse(const char *s, long *ret_pid,
                            unsigned long long *ret_start, char ret_boot[9],
                            char ret_host[9])
{
	const char *p = s;
	char *end;
	if (*p < '0' || *p > '9')
		return 0;
	errno = 0;
	long pid = strtol(p, &end, 10);
	if (errno || *end != '-' || pid <= 0)
		return 0;
	p = end + 1;
	if (*p < '0' || *p > '9')
		return 0;
	unsigned long long start = strtoull(p, &end, 10);
	if (errno || *end != '-')
		return 0;
	p = end + 1;
	char tags[2][9];
	for (int k = 0; k < 2; k++) {
		for (int i = 0; i < 8; i++, p++) {
			if (!((*p >= '0' && *p <= '9') ||
			      (*p >= 'a' && *p <= 'f')))
				return 0;
			tags[k][i] = *p;
		}
		tags[k][8] = 0;
		if (k == 0 && *p++ != '-')
			return 0;
	}
	if (ret_pid)
		*ret_pid = pid;
	if (ret_start)
		*ret_start = start;
	if (ret_boot)
		memcpy(ret_boot, tags[0], 9);
	if (ret_host)
		memcpy(ret_host, tags[1], 9);
	return (size_t)(p - s);
}

int launcher_token_alive(const char *token)
{
	long pid;
	unsigned long long start;
	char boot[9], host[9], our_host[9];
	if (!launcher_token_parse(token, &pid, &start, boot, host))
		return -EINVAL;
	if (host_tag(our_host) < 0 || !streq(host, our_host))
		return -EREMOTE;
	_cleanup_free_ char *our_boot = NULL;
	if (read_boot_id(&our_boot) < 0)
		return -EREMOTE;
	if (!strneq(our_boot, boot, 8))
		return 0;
	return process_alive(pid, start) ? 1 : 0;
}

static bool launcher_gone(const json_t *launcher)
{
	const char *host = json_get_string(launcher, "hostname");
	const char *boot = json_get_string(launcher, "boot_id");
	json_t *pid = json_object_get(launcher, "pid");
	json_t *start = json_object_get(launcher, "start_time");
	struct utsname u;
	if (!host || !boot || !json_is_integer(pid) || !json_is_integer(start))
		return false;
	/* A launcher on another machine (shared store) cannot be checked
	 * from here; assume it is alive. */
	if (uname(&u) < 0 || !streq(u.nodename, host))
		return false;
	_cleanup_free_ char *our_boot = NULL;
	if (read_boot_id(&our_boot) < 0)
		return false;
	if (!streq(our_boot, boot))
		return true;
	return !process_alive((long)json_integer_value(pid),
	                      (unsigned long long)json_integer_value(start));
}

const char *record_status(const Record *r)
{
	const char *s = record_stored_status(r);
	if (s && streq(s, "running") &&
	    launcher_gone(json_object_get(r->root, "launcher")))
		return "abandoned";
	return s;
}

int launcher_info(json_t **ret)
{
	unsigned long long st = 0;
	int r = proc_stat_field((long)getpid(), 22, &st);
	if (r < 0)
		return r;
	_cleanup_free_ char *boot = NULL;
	r = read_boot_id(&boot);
	if (r < 0)
		return r;
	struct utsname u;
	if (uname(&u) < 0)
		return negative_errno();
	*ret = json_pack("{s:I,s:I,s:s,s:s}", "pid", (json_int_t)getpid(),
	                 "start_time", (json_int_t)st, "boot_id", boot,
	                 "hostname", u.nodename);
	return 0;
}
