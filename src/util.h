/* Small helpers shared by every part of xrun: cleanup attributes,
 * allocation that cannot fail, logging, string and file helpers. */
#pragma once

#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#define _unused_ __attribute__((unused))
#define _noreturn_ __attribute__((noreturn))
#define _printf_(a, b) __attribute__((format(printf, a, b)))
#define _nonnull_return_ __attribute__((returns_nonnull))
#define _cleanup_(f) __attribute__((cleanup(f)))

#define ELEMENTSOF(x) (sizeof(x) / sizeof((x)[0]))
#define streq(a, b) (strcmp((a), (b)) == 0)
#define strneq(a, b, n) (strncmp((a), (b), (n)) == 0)

/* Hand ownership on: return the pointer and leave NULL behind so the
 * cleanup attribute of the old owner does nothing. */
#ifdef __CPPCHECK__
/* cppcheck reads a statement expression's "(p) = NULL" as done before
 * the value is used; to it, taking a pointer is reading it. */
#define TAKE_PTR(p) (p)
#else
#define TAKE_PTR(p)                      \
	({                               \
		__typeof__(p) _p_ = (p); \
		(p) = NULL;              \
		_p_;                     \
	})
#endif
#define TAKE_FD(fd)              \
	({                       \
		int _fd_ = (fd); \
		(fd) = -1;       \
		_fd_;            \
	})

static inline void freep(void *p)
{
	free(*(void **)p);
}
static inline void closep(int *fd)
{
	if (*fd >= 0) {
		int saved = errno;
		close(*fd);
		errno = saved;
	}
}
static inline void fclosep(FILE **f)
{
	if (*f)
		fclose(*f);
}
void strv_free(char **v);
static inline void strv_freep(char ***v)
{
	strv_free(*v);
}

#define _cleanup_free_ _cleanup_(freep)
#define _cleanup_close_ _cleanup_(closep)
#define _cleanup_fclose_ _cleanup_(fclosep)
#define _cleanup_strv_free_ _cleanup_(strv_freep)

/* -errno after a call that failed: that call set errno, so it is never
 * 0, but a static analyzer cannot know it (and a 0 would pass a failure
 * off as success): -EIO then. */
static inline int negative_errno(void)
{
	int e = errno, r = e > 0 ? -e : -EIO;
#ifdef __clang_analyzer__
	__builtin_assume(r < 0); /* clang 14 cannot negate a symbol */
#endif
	return r;
}

/* qsort() of nothing: an empty vector may be NULL, which qsort's
 * contract forbids even with n == 0 (UBSan says so). */
static inline void sort_v(void *base, size_t n, size_t size,
                          int (*cmp)(const void *, const void *))
{
	if (n > 1)
		qsort(base, n, size, cmp);
}

/* Allocation failure is not something xrun can recover from usefully. */
void *xmalloc(size_t n) _nonnull_return_;
void *xmalloc_aligned(size_t align, size_t n) _nonnull_return_;
void *xcalloc(size_t n, size_t m) _nonnull_return_;
void *xrealloc(void *p, size_t n) _nonnull_return_;
char *xstrdup(const char *s) _nonnull_return_;
char *xstrndup(const char *s, size_t n) _nonnull_return_;
char *xasprintf(const char *fmt, ...) _printf_(1, 2) _nonnull_return_;
char *xvasprintf(const char *fmt, va_list ap) _printf_(1, 0) _nonnull_return_;

/* Logging: only cmd-*.c and xrun.c should call these; library code
 * returns -errno instead. log_error_errno() returns r (negative) so it
 * can be used as `return log_error_errno(r, ...)`; %m prints strerror(-r). */
enum { LOG_QUIET = 0, LOG_NORMAL = 1, LOG_VERBOSE = 2 };
extern int log_level;
void log_info(const char *fmt, ...) _printf_(1, 2);
void log_warn(const char *fmt, ...) _printf_(1, 2);
void log_debug(const char *fmt, ...) _printf_(1, 2);
int log_error(const char *fmt, ...) _printf_(1, 2);
int log_error_errno(int r, const char *fmt, ...) _printf_(2, 3);
void log_warn_errno(int r, const char *fmt, ...) _printf_(2, 3);

/* Strings */
bool startswith(const char *s, const char *prefix);
bool endswith(const char *s, const char *suffix);
bool utf8_valid(const char *s, size_t n);
char *path_join(const char *a, const char *b) _nonnull_return_;
static inline size_t strv_length(char *const *v)
{
	size_t n = 0;
	while (v && v[n])
		n++;
	return n;
}
char **strv_copy(char *const *v);
/* Whether s is one of v's strings (v may be NULL). */
bool strv_has(char *const *v, const char *s);
/* Append a copy of s (v may be NULL); returns the new vector. */
char **strv_push(char **v, const char *s) _nonnull_return_;
/* strv_push of a formatted string */
char **strv_pushf(char **v, const char *fmt, ...)
        _printf_(2, 3) _nonnull_return_;
char **strv_vpushf(char **v, const char *fmt, va_list ap) _printf_(2, 0);
/* The value of NAME in an environment vector (NAME=VALUE entries), or
 * NULL; the first entry wins, as for getenv(3). */
const char *strv_env_get(char *const *envp, const char *name);
char *hex_encode(const unsigned char *p, size_t n);
char *base64_encode(const unsigned char *p, size_t n);
/* Parse an unsigned 64-bit decimal number; the whole string must match. */
int parse_u64(const char *s, uint64_t *ret);
/* "90", "90s", "1.5m", "2h", "1d", "500ms": seconds > 0. */
int parse_duration(const char *s, double *ret_s);
/* "512M", "2G", "1.5GiB", "4096": bytes (K, M, G, T are powers of 1024). */
int parse_size(const char *s, uint64_t *ret);

/* Files. All open with O_CLOEXEC; paths from users or records also
 * with O_NOFOLLOW where the caller asks. */
/* Read everything (at most max bytes, else -EFBIG) into a NUL-terminated
 * buffer; ret_len may be NULL. */
int read_full_fd(int fd, size_t max, char **ret, size_t *ret_len);
int read_full_file(const char *path, size_t max, char **ret, size_t *ret_len);
/* Field FIELD (3 or later: 4 is the parent, 22 the start time in clock
 * ticks after boot) of /proc/PID/stat as a number. -errno (-ENOENT: no
 * such process). */
int proc_stat_field(long pid, int field, unsigned long long *ret);
int read_one_line(const char *path, char **ret);
/* /proc/sys/kernel/random/boot_id, read once per process */
int read_boot_id(char **ret);
int write_all(int fd, const void *p, size_t n);
int mkdir_p(const char *path, mode_t mode);
/* Remove path and everything below it, also read-only directories (a
 * view made by materialize()); a missing path is no error. */
int remove_tree(const char *path);
/* The same for name in dirfd; a symlink is removed, never followed. */
int remove_tree_at(int dirfd, const char *name);
/* Write data atomically to dir/name: an unnamed file in dir (O_TMPFILE;
 * where there is none, a temp file opened O_CREAT|O_EXCL|O_NOFOLLOW),
 * fsync, linked or renamed over name, and with sync_dir fsync of dir
 * (callers that pass false must fsync_dir() later: until then a crash
 * may leave the old file, never a torn one). */
int write_file_atomic(const char *dir, const char *name, const void *p,
                      size_t n, mode_t mode, bool sync_dir);
/* The same into fd, an unnamed file made ahead by open_unnamed() (or -1),
 * which it closes; replacing: name exists already (it is then not tried
 * as a first link). */
int write_file_atomic_fd(int fd, const char *dir, const char *name,
                         const void *p, size_t n, mode_t mode, bool replacing,
                         bool sync_dir);
/* An unnamed file in dir (O_TMPFILE), made before its contents are
 * known, so that the inode is not allocated while someone waits; a
 * negative errno where the file system has none. */
int open_unnamed(const char *dir, mode_t mode);
/* The same without any fsync, for caches: a reader sees the old file or
 * the new one whole, but a crash may lose the new one. */
int write_file_replace(const char *dir, const char *name, const void *p,
                       size_t n, mode_t mode);
int fsync_dir(const char *dir);
/* dirfd/rel's parent directory, beneath dirfd and through no link (an
 * fd, or -errno); *name: rel's last component (in rel). */
int open_parent_beneath(int dirfd, const char *rel, const char **name);

/* Time */
/* A helper thread with every signal blocked, so that signals (and a
 * signalfd's) stay with the thread that handles them. */
bool thread_start(pthread_t *t, void *(*fn)(void *), void *arg);
/* The first executable regular file name in path's absolute entries
 * (a default path when NULL), or NULL. */
char *find_in_path(const char *name, const char *path);

int64_t now_ns(void);       /* CLOCK_REALTIME */
int64_t monotonic_ns(void); /* CLOCK_MONOTONIC */
/* RFC 3339 UTC with microseconds: 2026-11-22T13:28:34.123456Z */
char *format_rfc3339(int64_t ns);
int parse_rfc3339(const char *s, int64_t *ret_ns);

/* JSON helpers around jansson */
/* jansson's json_auto_t releases a reference at scope exit. */
/* A byte string as JSON: a plain string when it is valid UTF-8 without
 * NUL, else {"base64": "..."} so nothing is lost. */
json_t *json_bytes(const char *s, size_t n);
static inline json_t *json_bstr(const char *s)
{
	return json_bytes(s, strlen(s));
}
/* Decode json_bytes() back; returns NULL on a malformed value. */
char *json_bytes_decode(const json_t *j, size_t *ret_len);
const char *json_get_string(const json_t *obj, const char *key);
/* The value at a dotted path of object keys ("result.stdout.sha256"),
 * or NULL where a step is missing or not an object. */
json_t *json_get_path(const json_t *o, const char *dotted);
/* Dump compactly or indented; the returned string is owned by the caller. */
/* jansson's JSON_COMPACT text c as JSON_INDENT(2) would have written it
 * (byte for byte), without dumping the values again. */
char *json_indent_compact(const char *c, size_t *ret_len);
char *json_dump_pretty(const json_t *j);
/* json_dumps() and json_dumpf() with every real in the shortest text that
 * reads back as the same double (what format_double_shortest() gives, with
 * ".0" added where that has no '.' or exponent, so that it stays a real):
 * 0.05, not 0.050000000000000003. JSON_REAL_PRECISION in flags is
 * ignored.
 * json_dumpf_shortest() returns 0, or -1 (as jansson's). */
char *json_dumps_shortest(const json_t *v, size_t flags);
int json_dumpf_shortest(const json_t *v, FILE *f, size_t flags);

/* Doubles as text: the shortest of %.15g, %.16g and %.17g that strtod
 * reads back as the same double (Python's repr tries the same): 0.1, not
 * 0.10000000000000001. format_double_shortest() writes it into buf and
 * returns its length; format_double() returns a new string. */
#define FORMAT_DOUBLE_MAX 32
int format_double_shortest(double d, char buf[static FORMAT_DOUBLE_MAX]);
char *format_double(double d);
