#include "config.h"

#include "bundle.h"

#include <archive.h>
#include <archive_entry.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <sys/stat.h>

#include "manifest.h"
#include "pin.h"
#include "record-pins.h"
#include "rocrate.h"
#include "util.h"

/* libarchive is loaded when a bundle is written or read, not at each
 * launch: linked, it and what it links (libxml2, ICU, libstdc++,
 * nettle...) cost every start of xrun about a millisecond in the
 * dynamic loader, for the two commands that use it. The functions are
 * archive.h's own (their types taken from it); the soname has been
 * libarchive.so.13 since libarchive 3.0. */
#define LIBARCHIVE_SONAME "libarchive.so.13"
#define LA_FUNCTIONS(X)                          \
	X(archive_entry_filetype)                \
	X(archive_entry_free)                    \
	X(archive_entry_new)                     \
	X(archive_entry_pathname)                \
	X(archive_entry_set_filetype)            \
	X(archive_entry_set_gid)                 \
	X(archive_entry_set_mtime)               \
	X(archive_entry_set_pathname)            \
	X(archive_entry_set_perm)                \
	X(archive_entry_set_size)                \
	X(archive_entry_set_uid)                 \
	X(archive_entry_size)                    \
	X(archive_error_string)                  \
	X(archive_read_data)                     \
	X(archive_read_free)                     \
	X(archive_read_new)                      \
	X(archive_read_next_header)              \
	X(archive_read_open_fd)                  \
	X(archive_read_support_filter_gzip)      \
	X(archive_read_support_filter_none)      \
	X(archive_read_support_filter_zstd)      \
	X(archive_read_support_format_tar)       \
	X(archive_write_add_filter_gzip)         \
	X(archive_write_add_filter_zstd)         \
	X(archive_write_close)                   \
	X(archive_write_data)                    \
	X(archive_write_free)                    \
	X(archive_write_header)                  \
	X(archive_write_new)                     \
	X(archive_write_open_fd)                 \
	X(archive_write_set_bytes_in_last_block) \
	X(archive_write_set_filter_option)       \
	X(archive_write_set_format_pax_restricted)
static struct {
#define LA_FIELD(f) __typeof__(f) *f;
	LA_FUNCTIONS(LA_FIELD)
#undef LA_FIELD
} la;
#define LA(f) (*la.f)

static int la_load(char **ret_error)
{
	static void *handle;
	if (handle)
		return 0;
	void *h = dlopen(LIBARCHIVE_SONAME, RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		*ret_error =
		        xasprintf("cannot load libarchive (%s): %s; install "
		                  "it (Debian: libarchive13)",
		                  LIBARCHIVE_SONAME, dlerror());
		return -ELIBACC;
	}
#define LA_SYM(f)                                                           \
	if (!(la.f = (__typeof__(la.f))dlsym(h, #f))) {                     \
		*ret_error = xasprintf("'%s' has no %s: libarchive 3.3 or " \
		                       "later is needed",                   \
		                       LIBARCHIVE_SONAME, #f);              \
		dlclose(h);                                                 \
		return -ELIBBAD;                                            \
	}
	LA_FUNCTIONS(LA_SYM)
#undef LA_SYM
	handle = h;
	return 0;
}

/* The files of a run directory that travel, in the order they go. */
static const char *const run_files[] = {"metrics.jsonl", "params.json",
                                        "record.json", "stderr", "stdout"};
#define INDEX_MAX ((size_t)256 << 20)
enum { CHUNK = 1 << 20 };

static bool run_file_name(const char *n)
{
	for (size_t i = 0; i < ELEMENTSOF(run_files); i++)
		if (streq(n, run_files[i]))
			return true;
	return false;
}

static char *short_digest(const unsigned char md[SHA256_LEN])
{
	char d[DIGEST_STR_LEN + 1];
	digest_format(md, d);
	return xstrndup(d, 7 + 12);
}

/* What the runs need: digest -> {"manifest": bool, "path", "run"}, and
 * the inputs bound by reference. */
typedef struct Needs {
	json_t *objects;
	json_t *referenced;
	const char *run;
	ManifestLoadFn load;
	void *data;
	char *error;
} Needs;

static void need(Needs *n, const unsigned char md[SHA256_LEN], bool manifest,
                 const char *path)
{
	char d[DIGEST_STR_LEN + 1];
	digest_format(md, d);
	if (json_object_get(n->objects, d))
		return;
	json_object_set_new(n->objects, d,
	                    json_pack("{s:b,s:s,s:s}", "manifest", manifest,
	                              "path", path, "run", n->run));
}

static int need_file(const PinInfo *pin, const char *path,
                     const unsigned char md[SHA256_LEN], uint64_t size,
                     void *data)
{
	need(data, md, false, path);
	return 0;
}

static int need_pin(const PinInfo *pin, void *data)
{
	Needs *n = data;
	need(n, pin->manifest, true, pin->path);
	if (pin->referenced) {
		char d[DIGEST_STR_LEN + 1];
		digest_format(pin->manifest, d);
		json_array_append_new(
		        n->referenced,
		        json_pack("{s:s,s:O,s:s,s:O}", "run", n->run, "path",
		                  json_object_get(pin->pinned, "path"),
		                  "manifest", d, "digest",
		                  json_object_get(pin->pinned, "digest")));
		return 0;
	}
	_cleanup_manifest_ Manifest *m = NULL;
	int r = n->load(n->data, pin->manifest, &m);
	if (r < 0) {
		_cleanup_free_ char *sd = short_digest(pin->manifest);
		n->error = xasprintf(
		        "the manifest %s of '%s' (%s of run %.8s) %s", sd,
		        pin->path, pin_role_name(pin->role), n->run,
		        r == -ENOENT    ? "is missing"
		        : r == -EBADMSG ? "is corrupt"
		                        : strerror(-r));
		return r;
	}
	return pins_files(pin, m, need_file, n);
}

static int needs_of(Needs *n, const Record *rec)
{
	n->run = record_id(rec);
	return pins_walk(rec, true, need_pin, n);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int cmp_rec(const void *a, const void *b)
{
	return strcmp(record_id(*(Record *const *)a) ?: "",
	              record_id(*(Record *const *)b) ?: "");
}

/* The keys of a JSON object, sorted (borrowed from it). */
static const char **sorted_keys(const json_t *o, size_t *ret_n)
{
	size_t n = json_object_size(o), i = 0;
	const char **v = xcalloc(n + 1, sizeof *v);
	const char *k;
	json_t *x;
	json_object_foreach ((json_t *)o, k, x)
		v[i++] = k;
	sort_v(v, n, sizeof *v, cmp_str);
	*ret_n = n;
	return v;
}

/* --- writing --- */

typedef struct Writer {
	struct archive *a;
	unsigned char *buf;
	char **error;
} Writer;

static int archive_failed(Writer *w, const char *what)
{
	*w->error =
	        xasprintf("cannot write %s to the bundle: %s", what,
	                  LA(archive_error_string)(w->a) ?: "unknown error");
	return -EIO;
}

static int write_header(Writer *w, const char *name, uint64_t size)
{
	struct archive_entry *e = LA(archive_entry_new)();
	LA(archive_entry_set_pathname)(e, name);
	LA(archive_entry_set_filetype)(e, AE_IFREG);
	LA(archive_entry_set_perm)(e, 0644);
	LA(archive_entry_set_size)(e, (la_int64_t)size);
	LA(archive_entry_set_mtime)(e, 0, 0);
	LA(archive_entry_set_uid)(e, 0);
	LA(archive_entry_set_gid)(e, 0);
	int r = LA(archive_write_header)(w->a, e);
	LA(archive_entry_free)(e);
	return r == ARCHIVE_OK ? 0 : archive_failed(w, name);
}

static int write_mem(Writer *w, const char *name, const void *p, size_t n)
{
	int r = write_header(w, name, n);
	if (r < 0)
		return r;
	if (n && LA(archive_write_data)(w->a, p, n) != (la_ssize_t)n)
		return archive_failed(w, name);
	return 0;
}

/* Copy fd (size bytes, as its header says) into the archive, hashing;
 * ret_md may be NULL. -EBADMSG when the file changed size meanwhile. */
static int write_fd(Writer *w, const char *name, int fd, uint64_t size,
                    unsigned char ret_md[SHA256_LEN])
{
	int r = write_header(w, name, size);
	if (r < 0)
		return r;
	_cleanup_hasher_ Hasher *h = hasher_new();
	uint64_t done = 0;
	while (done < size) {
		size_t want =
		        size - done < CHUNK ? (size_t)(size - done) : CHUNK;
		ssize_t k = read(fd, w->buf, want);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return negative_errno();
		if (k == 0)
			return -EBADMSG;
		hasher_update(h, w->buf, (size_t)k);
		if (LA(archive_write_data)(w->a, w->buf, (size_t)k) != k)
			return archive_failed(w, name);
		done += (uint64_t)k;
	}
	if (ret_md) {
		hasher_finish_raw(h, ret_md);
		h = NULL;
	}
	return 0;
}

/* The run files of rec that exist: name -> {"sha256", "size"}. */
static int run_files_of(const Record *rec, json_t *files, char **ret_error)
{
	for (size_t i = 0; i < ELEMENTSOF(run_files); i++) {
		_cleanup_free_ char *p = path_join(rec->dir, run_files[i]);
		_cleanup_close_ int fd =
		        open(p, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		if (fd < 0 && errno == ENOENT)
			continue;
		if (fd < 0) {
			int r = negative_errno();
			*ret_error = xasprintf("cannot open '%s': %s", p,
			                       strerror(-r));
			return r;
		}
		_cleanup_free_ char *sum = NULL;
		uint64_t size = 0;
		int r = sha256_fd(fd, &sum, &size);
		if (r < 0) {
			*ret_error = xasprintf("cannot read '%s': %s", p,
			                       strerror(-r));
			return r;
		}
		json_object_set_new(files, run_files[i],
		                    json_pack("{s:s,s:I}", "sha256", sum,
		                              "size", (json_int_t)size));
	}
	return 0;
}

static int write_run_files(Writer *w, const Record *rec, const json_t *files)
{
	size_t n;
	_cleanup_free_ const char **names = sorted_keys(files, &n);
	for (size_t i = 0; i < n; i++) {
		const json_t *f = json_object_get(files, names[i]);
		_cleanup_free_ char *p = path_join(rec->dir, names[i]);
		_cleanup_free_ char *name =
		        xasprintf("runs/%s/%s", record_id(rec), names[i]);
		_cleanup_close_ int fd =
		        open(p, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		if (fd < 0) {
			int r = negative_errno();
			*w->error = xasprintf("cannot open '%s': %s", p,
			                      strerror(-r));
			return r;
		}
		uint64_t size = (uint64_t)json_integer_value(
		        json_object_get(f, "size"));
		unsigned char md[SHA256_LEN];
		int r = write_fd(w, name, fd, size, md);
		if (r == 0) {
			char d[DIGEST_STR_LEN + 1];
			digest_format(md, d);
			if (!streq(d, json_get_string(f, "sha256")))
				r = -EBADMSG;
		}
		if (r == -EBADMSG)
			*w->error = xasprintf("'%s' changed while it was "
			                      "exported; try again",
			                      p);
		if (r < 0)
			return r;
	}
	return 0;
}

static int write_object(Writer *w, Store *s, const char *digest,
                        const json_t *info)
{
	unsigned char md[SHA256_LEN];
	if (digest_parse(digest, md) < 0)
		return -EINVAL;
	_cleanup_close_ int fd = -1;
	int r = store_object_open(s, md, &fd);
	struct stat st;
	if (r == 0 && fstat(fd, &st) < 0)
		r = negative_errno();
	if (r == 0) {
		unsigned char got[SHA256_LEN];
		_cleanup_free_ char *hex = hex_encode(md, SHA256_LEN);
		_cleanup_free_ char *name =
		        xasprintf("objects/sha256/%.2s/%s", hex, hex + 2);
		r = write_fd(w, name, fd, (uint64_t)st.st_size, got);
		if (r == -EIO)
			return r;
		if (r == 0 && memcmp(got, md, SHA256_LEN) != 0)
			r = -EBADMSG;
	}
	if (r < 0) {
		_cleanup_free_ char *sd = short_digest(md);
		*w->error = xasprintf(
		        "object %s ('%s', run %.8s) %s; see xrun verify", sd,
		        json_get_string(info, "path"),
		        json_get_string(info, "run"),
		        r == -ENOENT    ? "is missing from the store"
		        : r == -EBADMSG ? "is corrupt in the store"
		                        : strerror(-r));
		return r;
	}
	return 0;
}

static int writer_open(Writer *w, BundleCompression comp, int fd)
{
	w->a = LA(archive_write_new)();
	if (!w->a)
		return -ENOMEM;
	/* pax only where ustar cannot say it (long names, sizes over 8 GiB);
	 * no uname/gname, no atime or ctime: nothing of this machine. */
	int r = LA(archive_write_set_format_pax_restricted)(w->a);
	if (r == ARCHIVE_OK && comp == BUNDLE_ZSTD)
		r = LA(archive_write_add_filter_zstd)(w->a);
	else if (r == ARCHIVE_OK) {
		r = LA(archive_write_add_filter_gzip)(w->a);
		/* gzip stores the time it wrote the header unless told not
		 * to. */
		if (r == ARCHIVE_OK)
			r = LA(archive_write_set_filter_option)(
			        w->a, "gzip", "timestamp", NULL);
	}
	/* No padding of the last block, whatever fd is: libarchive pads
	 * for pipes and devices only, and the bytes must not depend on
	 * where they go. */
	if (r == ARCHIVE_OK)
		r = LA(archive_write_set_bytes_in_last_block)(w->a, 1);
	if (r == ARCHIVE_OK)
		r = LA(archive_write_open_fd)(w->a, fd);
	if (r != ARCHIVE_OK)
		return archive_failed(w, "the header");
	return 0;
}

int bundle_export(Store *s, Record *const *in, size_t n_in,
                  BundleCompression comp, int fd, BundleStats *ret_stats,
                  char **ret_error)
{
	*ret_error = NULL;
	int r = la_load(ret_error);
	if (r < 0)
		return r;
	/* Runs by id, each once. */
	_cleanup_free_ Record **recs = xcalloc(n_in + 1, sizeof *recs);
	memcpy(recs, in, n_in * sizeof *recs);
	sort_v(recs, n_in, sizeof *recs, cmp_rec);
	size_t n = 0;
	for (size_t i = 0; i < n_in; i++)
		if (n == 0 || !streq(record_id(recs[n - 1]) ?: "",
		                     record_id(recs[i]) ?: ""))
			recs[n++] = recs[i];

	json_auto_t *objects = json_object();
	json_auto_t *referenced = json_array();
	json_auto_t *runs = json_array();
	Needs needs = {.objects = objects,
	               .referenced = referenced,
	               .load = pins_load_from_store,
	               .data = s};
	for (size_t i = 0; i < n; i++) {
		r = needs_of(&needs, recs[i]);
		if (r < 0) {
			*ret_error = TAKE_PTR(needs.error);
			return r;
		}
		json_t *files = json_object();
		json_array_append_new(runs, json_pack("{s:s,s:o}", "id",
		                                      record_id(recs[i]),
		                                      "files", files));
		r = run_files_of(recs[i], files, ret_error);
		if (r < 0)
			return r;
	}
	/* Objects by digest, each with its size. */
	size_t n_obj;
	_cleanup_free_ const char **digests = sorted_keys(objects, &n_obj);
	json_auto_t *olist = json_array();
	uint64_t bytes = 0;
	for (size_t i = 0; i < n_obj; i++) {
		const json_t *info = json_object_get(objects, digests[i]);
		unsigned char md[SHA256_LEN];
		(void)digest_parse(digests[i], md);
		/* Loose or packed: the store's own reader says. */
		_cleanup_close_ int ofd = -1;
		struct stat st;
		if (store_object_open(s, md, &ofd) < 0 || fstat(ofd, &st) < 0 ||
		    !S_ISREG(st.st_mode)) {
			_cleanup_free_ char *sd = short_digest(md);
			*ret_error = xasprintf(
			        "object %s ('%s', run %.8s) is missing from "
			        "the store; see xrun verify",
			        sd, json_get_string(info, "path"),
			        json_get_string(info, "run"));
			return -ENOENT;
		}
		bytes += (uint64_t)st.st_size;
		json_array_append_new(
		        olist,
		        json_pack("{s:s,s:I,s:b}", "digest", digests[i], "size",
		                  (json_int_t)st.st_size, "manifest",
		                  json_is_true(
		                          json_object_get(info, "manifest"))));
	}
	json_auto_t *crate = NULL;
	r = rocrate_describe(recs, n, pins_load_from_store, s, &crate);
	if (r < 0) {
		*ret_error =
		        xasprintf("cannot describe the runs: %s", strerror(-r));
		return r;
	}
	_cleanup_free_ char *crate_text =
	        json_dumps(crate, JSON_INDENT(1) | JSON_SORT_KEYS);
	_cleanup_free_ char *crate_sum =
	        sha256_mem(crate_text, strlen(crate_text));
	json_auto_t *index =
	        json_pack("{s:s,s:O,s:O,s:O,s:{s:s,s:I}}", "format",
	                  BUNDLE_FORMAT, "runs", runs, "objects", olist,
	                  "referenced", referenced, BUNDLE_CRATE, "sha256",
	                  crate_sum, "size", (json_int_t)strlen(crate_text));
	_cleanup_free_ char *index_text =
	        json_dumps(index, JSON_INDENT(1) | JSON_SORT_KEYS);

	_cleanup_free_ unsigned char *buf = xmalloc(CHUNK);
	Writer w = {.buf = buf, .error = ret_error};
	r = writer_open(&w, comp, fd);
	if (r == 0)
		r = write_mem(&w, BUNDLE_INDEX, index_text, strlen(index_text));
	if (r == 0)
		r = write_mem(&w, BUNDLE_CRATE, crate_text, strlen(crate_text));
	for (size_t i = 0; i < n && r == 0; i++)
		r = write_run_files(
		        &w, recs[i],
		        json_object_get(json_array_get(runs, i), "files"));
	for (size_t i = 0; i < n_obj && r == 0; i++)
		r = write_object(&w, s, digests[i],
		                 json_object_get(objects, digests[i]));
	if (r == 0 && LA(archive_write_close)(w.a) != ARCHIVE_OK)
		r = archive_failed(&w, "the end");
	if (w.a)
		LA(archive_write_free)(w.a);
	if (r < 0)
		return r;
	if (ret_stats)
		*ret_stats = (BundleStats){.runs = n,
		                           .objects = n_obj,
		                           .object_bytes = bytes,
		                           .referenced =
		                                   json_array_size(referenced)};
	return 0;
}

/* --- reading --- */

void bundle_import_done(BundleImport *b)
{
	strv_free(b->imported);
	strv_free(b->present);
	strv_free(b->referenced);
	*b = (BundleImport){0};
}

typedef struct Staging {
	Store *s;
	char *dir;       /* tmp/obj-<token>-<hex>.import */
	json_t *files;   /* entry name -> {"sha256", "size"} (not objects) */
	json_t *objects; /* "sha256:…" -> staged path */
} Staging;

static bool hex64(const char *s)
{
	for (int i = 0; i < 64; i++)
		if (!((s[i] >= '0' && s[i] <= '9') ||
		      (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return s[64] == 0;
}

/* What an entry name stands for: 'o' an object (its digest in md), 'r'
 * a run file, 'i' the index or the crate, 0 nothing a bundle holds. */
static int entry_kind(const char *name, unsigned char md[SHA256_LEN])
{
	if (streq(name, BUNDLE_INDEX) || streq(name, BUNDLE_CRATE))
		return 'i';
	if (startswith(name, "objects/sha256/") && strlen(name) == 15 + 65 &&
	    name[17] == '/') {
		char d[7 + 65] = "sha256:";
		memcpy(d + 7, name + 15, 2);
		memcpy(d + 9, name + 18, 62);
		d[71] = 0;
		return hex64(d + 7) && digest_parse(d, md) == 0 ? 'o' : 0;
	}
	if (startswith(name, "runs/") && strlen(name) > 5 + 36 + 1 &&
	    name[5 + 36] == '/') {
		_cleanup_free_ char *id = xstrndup(name + 5, 36);
		return run_id_valid(id) && run_file_name(name + 5 + 37) ? 'r'
		                                                        : 0;
	}
	return 0;
}

static int stage_entry(Staging *st, struct archive *a, const char *name,
                       int kind, const unsigned char md[SHA256_LEN],
                       uint64_t size, unsigned char *buf, char **ret_error)
{
	_cleanup_free_ char *p = NULL;
	if (kind == 'o') {
		_cleanup_free_ char *hex = hex_encode(md, SHA256_LEN);
		p = xasprintf("%s/%s", st->dir, hex);
	} else if (kind == 'r') {
		_cleanup_free_ char *rd = xasprintf("%s/%.41s", st->dir, name);
		if (mkdir(rd, 0755) < 0 && errno != EEXIST)
			return negative_errno();
		p = xasprintf("%s/%s", st->dir, name);
	} else
		p = xasprintf("%s/%s", st->dir, name);
	_cleanup_close_ int fd =
	        open(p, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
	             kind == 'o' ? 0444 : 0644);
	if (fd < 0 && errno == EEXIST) {
		*ret_error = xasprintf("it holds '%s' twice", name);
		return -EBADMSG;
	}
	if (fd < 0)
		return negative_errno();
	_cleanup_hasher_ Hasher *h = hasher_new();
	uint64_t total = 0;
	for (;;) {
		la_ssize_t k = LA(archive_read_data)(a, buf, CHUNK);
		if (k < 0) {
			*ret_error = xasprintf("'%s' cannot be read: %s", name,
			                       LA(archive_error_string)(a)
			                               ?: "unknown error");
			return -EBADMSG;
		}
		if (k == 0)
			break;
		hasher_update(h, buf, (size_t)k);
		int r = write_all(fd, buf, (size_t)k);
		if (r < 0)
			return r;
		total += (uint64_t)k;
	}
	if (total != size) {
		*ret_error = xasprintf("'%s' is cut short", name);
		return -EBADMSG;
	}
	if (fsync(fd) < 0)
		return negative_errno();
	unsigned char got[SHA256_LEN];
	hasher_finish_raw(h, got);
	h = NULL;
	char d[DIGEST_STR_LEN + 1];
	digest_format(got, d);
	if (kind == 'o') {
		if (memcmp(got, md, SHA256_LEN) != 0) {
			char want[DIGEST_STR_LEN + 1];
			digest_format(md, want);
			*ret_error = xasprintf("object %.19s does not match "
			                       "its content (%.19s)",
			                       want, d);
			return -EBADMSG;
		}
		json_object_set_new(st->objects, d, json_string(p));
	} else
		json_object_set_new(st->files, name,
		                    json_pack("{s:s,s:I}", "sha256", d, "size",
		                              (json_int_t)total));
	return 0;
}

static int read_archive(Staging *st, int fd, char **ret_error)
{
	struct archive *a = LA(archive_read_new)();
	if (!a)
		return -ENOMEM;
	LA(archive_read_support_filter_gzip)(a);
	LA(archive_read_support_filter_zstd)(a);
	LA(archive_read_support_filter_none)(a);
	LA(archive_read_support_format_tar)(a);
	int r = 0;
	if (LA(archive_read_open_fd)(a, fd, CHUNK) != ARCHIVE_OK) {
		*ret_error =
		        xasprintf("it cannot be read (damaged, or not "
		                  "a bundle): %s",
		                  LA(archive_error_string)(a) ?: "unknown");
		LA(archive_read_free)(a);
		return -EBADMSG;
	}
	_cleanup_free_ unsigned char *buf = xmalloc(CHUNK);
	struct archive_entry *e;
	_cleanup_free_ char *last = NULL;
	for (;;) {
		int k = LA(archive_read_next_header)(a, &e);
		if (k == ARCHIVE_EOF)
			break;
		if (k != ARCHIVE_OK) {
			*ret_error = xasprintf(
			        "it is damaged%s%s%s: %s",
			        last ? " after '" : "", last ? last : "",
			        last ? "'" : "",
			        LA(archive_error_string)(a) ?: "unknown error");
			r = -EBADMSG;
			break;
		}
		const char *name = LA(archive_entry_pathname)(e);
		unsigned char md[SHA256_LEN];
		int kind = name ? entry_kind(name, md) : 0;
		if (!kind || LA(archive_entry_filetype)(e) != AE_IFREG ||
		    LA(archive_entry_size)(e) < 0) {
			*ret_error = xasprintf("it holds '%s', which is no "
			                       "part of an xrun bundle",
			                       name ? name : "?");
			r = -EBADMSG;
			break;
		}
		free(last);
		last = xstrdup(name);
		uint64_t size = (uint64_t)LA(archive_entry_size)(e);
		if ((kind == 'i' && size > INDEX_MAX) ||
		    (kind == 'r' && endswith(name, "/record.json") &&
		     size > RECORD_MAX_SIZE)) {
			*ret_error = xasprintf("'%s' is too large", name);
			r = -EBADMSG;
			break;
		}
		r = stage_entry(st, a, name, kind, md, size, buf, ret_error);
		if (r < 0)
			break;
	}
	LA(archive_read_free)(a);
	return r;
}

/* Manifests while importing: staged, else in the store. */
static int load_staged(void *data, const unsigned char md[SHA256_LEN],
                       Manifest **ret)
{
	Staging *st = data;
	char d[DIGEST_STR_LEN + 1];
	digest_format(md, d);
	const char *p = json_string_value(json_object_get(st->objects, d));
	if (!p)
		return manifest_load(st->s, md, ret);
	_cleanup_free_ char *text = NULL;
	size_t len;
	int r = read_full_file(p, MANIFEST_MAX, &text, &len);
	if (r < 0)
		return r;
	return manifest_parse(text, len, ret, NULL);
}

static int check_file(Staging *st, const char *name, const json_t *want,
                      char **ret_error)
{
	const json_t *got = json_object_get(st->files, name);
	if (!got) {
		*ret_error = xasprintf("'%s' is missing", name);
		return -EBADMSG;
	}
	if (!json_equal((json_t *)json_object_get(got, "sha256"),
	                (json_t *)json_object_get(want, "sha256")) ||
	    !json_equal((json_t *)json_object_get(got, "size"),
	                (json_t *)json_object_get(want, "size"))) {
		*ret_error = xasprintf("'%s' does not match the digest the "
		                       "index gives it",
		                       name);
		return -EBADMSG;
	}
	return 0;
}

/* The bundle's index (*ret_index): its format, the crate, the objects
 * it lists against those staged. *listed counts the files checked. */
static int check_index(Staging *st, json_t **ret_index, size_t *listed,
                       char **ret_error)
{
	if (!json_object_get(st->files, BUNDLE_INDEX)) {
		*ret_error = xstrdup("it has no " BUNDLE_INDEX
		                     ": it is not an xrun bundle");
		return -EBADMSG;
	}
	_cleanup_free_ char *ip = path_join(st->dir, BUNDLE_INDEX);
	json_error_t jerr;
	json_auto_t *index = json_load_file(ip, JSON_REJECT_DUPLICATES, &jerr);
	const char *format = json_get_string(index, "format");
	if (!index || !format || !startswith(format, "xrun/bundle/")) {
		*ret_error =
		        xasprintf("its " BUNDLE_INDEX " is not an xrun "
		                  "bundle index%s%s",
		                  index ? "" : ": ", index ? "" : jerr.text);
		return -EBADMSG;
	}
	if (!streq(format, BUNDLE_FORMAT)) {
		*ret_error = xasprintf("it is of format '%s', which this "
		                       "xrun cannot read; upgrade xrun",
		                       format);
		return -EPROTONOSUPPORT;
	}
	*listed = 1; /* the index */
	int r = check_file(st, BUNDLE_CRATE,
	                   json_object_get(index, BUNDLE_CRATE), ret_error);
	if (r < 0)
		return r;
	(*listed)++;
	const json_t *v;
	size_t i;
	json_array_foreach (json_object_get(index, "objects"), i, v) {
		const char *d = json_get_string(v, "digest");
		if (!d || !json_object_get(st->objects, d)) {
			*ret_error = xasprintf("object %.19s is missing",
			                       d ? d : "?");
			return -EBADMSG;
		}
	}
	if (json_array_size(json_object_get(index, "objects")) !=
	    json_object_size(st->objects)) {
		*ret_error = xstrdup("it holds objects its index does not "
		                     "list");
		return -EBADMSG;
	}
	*ret_index = TAKE_PTR(index);
	return 0;
}

/* One run the index lists (v): its files, its record (which must be
 * the run's, as sealed), what it needs (into needs). */
static int check_run(Staging *st, const json_t *v, char *const *ids,
                     Needs *needs, size_t *listed, char **ret_error)
{
	const char *id = json_get_string(v, "id");
	if (!id || !run_id_valid(id) || strv_has(ids, id)) {
		*ret_error = xasprintf("its index names a run '%s' "
		                       "that cannot be",
		                       id ? id : "?");
		return -EBADMSG;
	}
	const json_t *files = json_object_get(v, "files");
	if (!json_object_get(files, "record.json")) {
		*ret_error = xasprintf("run %.8s has no record", id);
		return -EBADMSG;
	}
	const char *fname;
	const json_t *f;
	json_object_foreach ((json_t *)files, fname, f) {
		_cleanup_free_ char *name = xasprintf("runs/%s/%s", id, fname);
		int r = check_file(st, name, f, ret_error);
		if (r < 0)
			return r;
		(*listed)++;
	}
	_cleanup_free_ char *rp =
	        xasprintf("%s/runs/%s/record.json", st->dir, id);
	_cleanup_record_ Record *rec = NULL;
	_cleanup_free_ char *err = NULL;
	int r = record_load(rp, &rec, &err);
	if (r < 0) {
		*ret_error = xasprintf("the record of run %.8s cannot "
		                       "be read: %s",
		                       id, err ? err : strerror(-r));
		return -EBADMSG;
	}
	if (!streq(record_id(rec) ?: "", id)) {
		*ret_error = xasprintf("the record of run %.8s says it "
		                       "is run '%s'",
		                       id, record_id(rec) ?: "?");
		return -EBADMSG;
	}
	if (record_check_digest(rec) == -EBADMSG) {
		*ret_error = xasprintf("the record of run %.8s does not "
		                       "match its record_sha256: it was "
		                       "edited",
		                       id);
		return -EBADMSG;
	}
	r = needs_of(needs, rec);
	if (r < 0) {
		*ret_error = TAKE_PTR(needs->error);
		if (!*ret_error)
			*ret_error = xasprintf("a manifest of run %.8s "
			                       "cannot be read",
			                       id);
		return -EBADMSG;
	}
	return 0;
}

/* Every object a record needs: in the bundle or the store. What runs
 * read by reference is said in res. */
static int check_needs(Staging *st, const Needs *needs, BundleImport *res,
                       char **ret_error)
{
	const char *d;
	const json_t *v;
	json_object_foreach (needs->objects, d, v) {
		unsigned char md[SHA256_LEN];
		if (json_object_get(st->objects, d) ||
		    (digest_parse(d, md) == 0 &&
		     store_object_exists(st->s, md) > 0))
			continue;
		*ret_error = xasprintf("object %.19s ('%s', run %.8s) is "
		                       "neither in it nor in the store",
		                       d, json_get_string(v, "path"),
		                       json_get_string(v, "run"));
		return -EBADMSG;
	}
	size_t i;
	json_array_foreach (needs->referenced, i, v) {
		_cleanup_free_ char *p =
		        json_bytes_decode(json_object_get(v, "path"), NULL);
		res->referenced = strv_pushf(
		        res->referenced,
		        "run %.8s reads '%s' by reference (%s): it is not in "
		        "the bundle, and its replay needs it there",
		        json_get_string(v, "run"), p ? p : "?",
		        json_get_string(v, "digest") ?: "?");
	}
	return 0;
}

/* A run already here: the same record is nothing to do (res->present),
 * another is a conflict. *ret_move: the runs to move in. */
static int check_present(Staging *st, char *const *ids, BundleImport *res,
                         char ***ret_move, char **ret_error)
{
	_cleanup_strv_free_ char **move = NULL;
	for (char *const *id = ids; id && *id; id++) {
		_cleanup_free_ char *here =
		        xasprintf("%s/%s/record.json", st->s->runs, *id);
		_cleanup_free_ char *a = NULL, *b = NULL;
		size_t len_a, len_b;
		if (read_full_file(here, RECORD_MAX_SIZE, &a, &len_a) < 0) {
			_cleanup_free_ char *dir = path_join(st->s->runs, *id);
			struct stat sb;
			if (lstat(dir, &sb) == 0) {
				*ret_error = xasprintf(
				        "run %.8s is in the store already, "
				        "without a readable record; xrun rm "
				        "it first",
				        *id);
				return -EEXIST;
			}
			move = strv_push(move, *id);
			continue;
		}
		_cleanup_free_ char *rp =
		        xasprintf("%s/runs/%s/record.json", st->dir, *id);
		if (read_full_file(rp, RECORD_MAX_SIZE, &b, &len_b) < 0 ||
		    len_a != len_b || memcmp(a, b, len_a) != 0) {
			*ret_error = xasprintf("run %.8s is in the store "
			                       "already, with another record; "
			                       "xrun rm it first to replace it",
			                       *id);
			return -EEXIST;
		}
		res->present = strv_push(res->present, *id);
	}
	*ret_move = TAKE_PTR(move);
	return 0;
}

/* Every check before anything moves. ret_runs: the ids to move in. */
static int check_bundle(Staging *st, BundleImport *res, char ***ret_runs,
                        char **ret_error)
{
	json_auto_t *index = NULL;
	size_t listed = 0;
	int r = check_index(st, &index, &listed, ret_error);
	if (r < 0)
		return r;
	_cleanup_strv_free_ char **ids = NULL;
	Needs needs = {.objects = json_object(),
	               .referenced = json_array(),
	               .load = load_staged,
	               .data = st};
	const json_t *v;
	size_t i;
	json_array_foreach (json_object_get(index, "runs"), i, v) {
		r = check_run(st, v, ids, &needs, &listed, ret_error);
		if (r < 0)
			goto out;
		ids = strv_push(ids, json_get_string(v, "id"));
	}
	if (listed != json_object_size(st->files)) {
		*ret_error = xstrdup("it holds files its index does not list");
		r = -EBADMSG;
		goto out;
	}
	r = check_needs(st, &needs, res, ret_error);
	if (r >= 0)
		r = check_present(st, ids, res, ret_runs, ret_error);
out:
	json_decref(needs.objects);
	json_decref(needs.referenced);
	return r;
}

static int move_in(Staging *st, char **runs, BundleImport *res)
{
	const char *d;
	json_t *v;
	json_object_foreach (st->objects, d, v) {
		unsigned char md[SHA256_LEN];
		if (digest_parse(d, md) < 0)
			return -EINVAL;
		res->objects++;
		if (store_object_exists(st->s, md) > 0)
			continue;
		int r = store_object_commit(st->s, json_string_value(v), md);
		if (r < 0)
			return r;
		res->objects_new++;
	}
	int r = store_sync(st->s);
	if (r < 0)
		return r;
	/* Objects first: a crash now leaves objects no record needs, which
	 * gc deletes; never a record without its objects. */
	for (char **id = runs; id && *id; id++) {
		_cleanup_free_ char *from =
		        xasprintf("%s/runs/%s", st->dir, *id);
		_cleanup_free_ char *to = path_join(st->s->runs, *id);
		if (renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE) <
		    0) {
			if (errno == EEXIST || errno == ENOTEMPTY)
				return -EEXIST;
			return negative_errno();
		}
		(void)fsync_dir(to);
		res->imported = strv_push(res->imported, *id);
	}
	return fsync_dir(st->s->runs);
}

int bundle_import(Store *s, int fd, BundleImport *ret, char **ret_error)
{
	*ret_error = NULL;
	*ret = (BundleImport){0};
	int r = la_load(ret_error);
	if (r < 0)
		return r;
	_cleanup_free_ char *token = NULL;
	if (launcher_token(&token) < 0)
		token = xstrdup("unknown");
	unsigned char rnd[8];
	if (getentropy(rnd, sizeof rnd) < 0)
		return negative_errno();
	_cleanup_free_ char *hex = hex_encode(rnd, sizeof rnd);
	/* Named like a temp object, so that gc removes it when this
	 * process dies before it does. */
	Staging st = {.s = s,
	              .dir = xasprintf("%s/" STORE_TEMP_PREFIX "%s-%s.import",
	                               s->tmp, token, hex),
	              .files = json_object(),
	              .objects = json_object()};
	r = mkdir(st.dir, 0700) < 0 ? negative_errno() : 0;
	_cleanup_free_ char *runs_dir = path_join(st.dir, "runs");
	if (r == 0 && mkdir(runs_dir, 0755) < 0)
		r = negative_errno();
	_cleanup_strv_free_ char **move = NULL;
	if (r == 0)
		r = read_archive(&st, fd, ret_error);
	if (r == 0)
		r = check_bundle(&st, ret, &move, ret_error);
	if (r == 0) {
		r = move_in(&st, move, ret);
		if (r < 0 && !*ret_error)
			*ret_error = xasprintf("cannot move it into the store: "
			                       "%s",
			                       strerror(-r));
	}
	(void)remove_tree(st.dir);
	free(st.dir);
	json_decref(st.files);
	json_decref(st.objects);
	if (r < 0 && !*ret_error)
		*ret_error = xstrdup(strerror(-r));
	return r;
}
