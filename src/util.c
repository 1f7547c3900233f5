#include "config.h"

#include "util.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>

int log_level = LOG_NORMAL;

void strv_free(char **v)
{
	if (!v)
		return;
	for (char **p = v; *p; p++)
		free(*p);
	free(v);
}

static void vlog(const char *prefix, int r, const char *fmt, va_list ap)
{
	/* %m refers to -r, not to whatever errno happens to be now. */
	if (r < 0)
		errno = -r;
	char buf[4096];
	vsnprintf(buf, sizeof buf, fmt, ap);
	fprintf(stderr, "xrun: %s%s\n", prefix, buf);
}

void log_info(const char *fmt, ...)
{
	if (log_level < LOG_NORMAL)
		return;
	va_list ap;
	va_start(ap, fmt);
	vlog("", 0, fmt, ap);
	va_end(ap);
}

void log_debug(const char *fmt, ...)
{
	if (log_level < LOG_VERBOSE)
		return;
	va_list ap;
	va_start(ap, fmt);
	vlog("", 0, fmt, ap);
	va_end(ap);
}

void log_warn(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vlog("warning: ", 0, fmt, ap);
	va_end(ap);
}

void log_warn_errno(int r, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vlog("warning: ", r, fmt, ap);
	va_end(ap);
}

int log_error(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vlog("", 0, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

int log_error_errno(int r, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vlog("", r, fmt, ap);
	va_end(ap);
	return r < 0 ? r : -r;
}

bool startswith(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

bool endswith(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);
	return a >= b && memcmp(s + a - b, suffix, b) == 0;
}

bool utf8_valid(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s, *end = p + n;
	while (p < end) {
		unsigned c = *p;
		size_t len;
		uint32_t cp;
		if (c == 0)
			return false; /* JSON strings may hold NUL, C callers
			                 not */
		if (c < 0x80) {
			p++;
			continue;
		} else if ((c & 0xe0) == 0xc0) {
			len = 2;
			cp = c & 0x1f;
		} else if ((c & 0xf0) == 0xe0) {
			len = 3;
			cp = c & 0x0f;
		} else if ((c & 0xf8) == 0xf0) {
			len = 4;
			cp = c & 0x07;
		} else
			return false;
		if ((size_t)(end - p) < len)
			return false;
		for (size_t i = 1; i < len; i++) {
			if ((p[i] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (p[i] & 0x3f);
		}
		/* Overlong forms, surrogates and values past U+10FFFF. */
		if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) ||
		    (len == 4 && cp < 0x10000) || cp > 0x10ffff ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		p += len;
	}
	return true;
}

char *path_join(const char *a, const char *b)
{
	if (!a || !*a)
		return xstrdup(b);
	if (b[0] == '/')
		return xstrdup(b);
	bool slash = a[strlen(a) - 1] == '/';
	return xasprintf("%s%s%s", a, slash ? "" : "/", b);
}

char **strv_copy(char *const *v)
{
	size_t n = strv_length(v);
	char **c = xcalloc(n + 1, sizeof(char *));
	for (size_t i = 0; i < n; i++)
		c[i] = xstrdup(v[i]);
	return c;
}

bool strv_has(char *const *v, const char *s)
{
	for (; v && *v; v++)
		if (streq(*v, s))
			return true;
	return false;
}

char **strv_push(char **v, const char *s)
{
	size_t n = strv_length(v);
	v = xrealloc(v, (n + 2) * sizeof(char *));
	v[n] = xstrdup(s);
	v[n + 1] = NULL;
	return v;
}

char **strv_vpushf(char **v, const char *fmt, va_list ap)
{
	char *s;
	if (vasprintf(&s, fmt, ap) < 0)
		return v;
	v = strv_push(v, s);
	free(s);
	return v;
}

char **strv_pushf(char **v, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	v = strv_vpushf(v, fmt, ap);
	va_end(ap);
	return v;
}

const char *strv_env_get(char *const *envp, const char *name)
{
	size_t n = strlen(name);
	for (; envp && *envp; envp++)
		if (strneq(*envp, name, n) && (*envp)[n] == '=')
			return *envp + n + 1;
	return NULL;
}

char *hex_encode(const unsigned char *p, size_t n)
{
	static const char digits[] = "0123456789abcdef";
	char *s = xmalloc(n * 2 + 1);
	for (size_t i = 0; i < n; i++) {
		s[2 * i] = digits[p[i] >> 4];
		s[2 * i + 1] = digits[p[i] & 15];
	}
	s[n * 2] = 0;
	return s;
}

char *base64_encode(const unsigned char *p, size_t n)
{
	static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqr"
	                          "stuvwxyz0123456789+/";
	char *s = xmalloc((n + 2) / 3 * 4 + 1), *o = s;
	size_t i;
	for (i = 0; i + 2 < n; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 |
		             p[i + 2];
		*o++ = tbl[v >> 18];
		*o++ = tbl[(v >> 12) & 63];
		*o++ = tbl[(v >> 6) & 63];
		*o++ = tbl[v & 63];
	}
	if (i < n) {
		uint32_t v = (uint32_t)p[i] << 16 |
		             (i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0);
		*o++ = tbl[v >> 18];
		*o++ = tbl[(v >> 12) & 63];
		*o++ = i + 1 < n ? tbl[(v >> 6) & 63] : '=';
		*o++ = '=';
	}
	*o = 0;
	return s;
}

static int base64_value(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

static char *base64_decode(const char *s, size_t *ret_len)
{
	size_t n = strlen(s);
	if (n % 4)
		return NULL;
	char *out = xmalloc(n / 4 * 3 + 1);
	size_t o = 0;
	for (size_t i = 0; i < n; i += 4) {
		int v[4];
		for (int k = 0; k < 4; k++) {
			v[k] = s[i + k] == '=' ? 0 : base64_value(s[i + k]);
			/* '=' only as padding: in the last group, at the
			 * end, never before a data character. */
			bool bad_pad = s[i + k] == '=' &&
			               (i + 4 < n || k < 2 ||
			                (k == 2 && s[i + 3] != '='));
			if (v[k] < 0 || bad_pad) {
				free(out);
				return NULL;
			}
		}
		uint32_t w = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 |
		             (uint32_t)v[2] << 6 | (uint32_t)v[3];
		out[o++] = (char)(w >> 16);
		if (s[i + 2] != '=')
			out[o++] = (char)(w >> 8);
		if (s[i + 3] != '=')
			out[o++] = (char)w;
	}
	out[o] = 0;
	*ret_len = o;
	return out;
}

int parse_u64(const char *s, uint64_t *ret)
{
	/* strtoull would skip blanks and accept signs: only digits. */
	if (!s || !(*s >= '0' && *s <= '9'))
		return -EINVAL;
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno)
		return negative_errno();
	if (*end)
		return -EINVAL;
	*ret = v;
	return 0;
}

int parse_duration(const char *s, double *ret_s)
{
	static const struct {
		const char *unit;
		double s;
	} units[] = {{"", 1},   {"s", 1},    {"ms", 0.001},
	             {"m", 60}, {"h", 3600}, {"d", 86400}};
	if (!s || !((*s >= '0' && *s <= '9') || *s == '.'))
		return -EINVAL;
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || !(v > 0) || v > 1e9)
		return -EINVAL;
	for (size_t i = 0; i < ELEMENTSOF(units); i++)
		if (streq(end, units[i].unit)) {
			*ret_s = v * units[i].s;
			return 0;
		}
	return -EINVAL;
}

int parse_size(const char *s, uint64_t *ret)
{
	static const char suffixes[] = "KMGT";
	if (!s || !(*s >= '0' && *s <= '9'))
		return -EINVAL;
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || !(v > 0))
		return -EINVAL;
	if (*end) {
		const char *p = strchr(suffixes, *end == 'k' ? 'K' : *end);
		if (!p || !*p)
			return -EINVAL;
		for (const char *q = suffixes; q <= p; q++)
			v *= 1024;
		end++;
		if (streq(end, "iB") || streq(end, "B"))
			end += strlen(end);
		if (*end)
			return -EINVAL;
	}
	if (v < 1 || v > 1.8e19)
		return -EINVAL;
	*ret = (uint64_t)v;
	return 0;
}

int read_full_fd(int fd, size_t max, char **ret, size_t *ret_len)
{
	/* Room for max bytes, one more to notice a longer file, and NUL;
	 * a regular file's size is a good first guess, except that /proc
	 * and /sys files say 0: they get a page, not a read per byte. */
	struct stat st;
	size_t guess = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
	                               st.st_size > 0 &&
	                               (uint64_t)st.st_size < max
	                       ? (size_t)st.st_size + 2
	                       : 4096;
	size_t cap = max < guess ? max + 2 : guess, len = 0;
	_cleanup_free_ char *buf = xmalloc(cap);
	for (;;) {
		if (cap - len < 2) {
			size_t want = cap * 2 > max + 2 ? max + 2 : cap * 2;
			if (want <= cap)
				return -EFBIG;
			cap = want;
			buf = xrealloc(buf, cap);
		}
		ssize_t k = read(fd, buf + len, cap - len - 1);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			return negative_errno();
		}
		if (k == 0)
			break;
		len += (size_t)k;
		if (len > max)
			return -EFBIG;
	}
	buf[len] = 0;
	if (ret_len)
		*ret_len = len;
	*ret = TAKE_PTR(buf);
	return 0;
}

int read_full_file(const char *path, size_t max, char **ret, size_t *ret_len)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return negative_errno();
	return read_full_fd(fd, max, ret, ret_len);
}

int read_one_line(const char *path, char **ret)
{
	char *s;
	int r = read_full_file(path, 65536, &s, NULL);
	if (r < 0)
		return r;
	s[strcspn(s, "\n")] = 0;
	*ret = s;
	return 0;
}

int read_boot_id(char **ret)
{
	/* It cannot change while this process lives: read once. */
	static char *cached;
	char *c = __atomic_load_n(&cached, __ATOMIC_ACQUIRE);
	if (!c) {
		int r = read_one_line("/proc/sys/kernel/random/boot_id", &c);
		if (r < 0)
			return r;
		char *none = NULL;
		if (!__atomic_compare_exchange_n(&cached, &none, c, false,
		                                 __ATOMIC_ACQ_REL,
		                                 __ATOMIC_ACQUIRE)) {
			free(c); /* another thread was first */
			c = none;
		}
	}
	*ret = xstrdup(c);
	return 0;
}

int write_all(int fd, const void *p, size_t n)
{
	const char *c = p;
	while (n > 0) {
		ssize_t k = write(fd, c, n);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			return negative_errno();
		}
		c += k;
		n -= (size_t)k;
	}
	return 0;
}

int mkdir_p(const char *path, mode_t mode)
{
	_cleanup_free_ char *p = xstrdup(path);
	for (char *s = p + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = 0;
		if (mkdir(p, mode) < 0 && errno != EEXIST)
			return negative_errno();
		*s = '/';
	}
	if (mkdir(p, mode) < 0) {
		struct stat st;
		if (errno != EEXIST)
			return negative_errno();
		if (stat(p, &st) < 0)
			return negative_errno();
		if (!S_ISDIR(st.st_mode))
			return -ENOTDIR;
	}
	return 0;
}

int fsync_dir(const char *dir)
{
	_cleanup_close_ int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return negative_errno();
	if (fsync(fd) < 0)
		return negative_errno();
	return 0;
}

/* A fresh name for a temp file beside dir/name: pid plus random bits;
 * O_EXCL or linkat's EEXIST catch the rest. */
static char *temp_path(const char *dir, const char *name)
{
	unsigned char rnd[6];
	if (getentropy(rnd, sizeof rnd) < 0)
		return NULL;
	_cleanup_free_ char *hex = hex_encode(rnd, sizeof rnd);
	return xasprintf("%s/.%s.%ld.%s.tmp", dir, name, (long)getpid(), hex);
}

static int link_fd(int fd, const char *dst)
{
	char proc[64];
	snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
	if (linkat(AT_FDCWD, proc, AT_FDCWD, dst, AT_SYMLINK_FOLLOW) < 0)
		return negative_errno();
	return 0;
}

int open_unnamed(const char *dir, mode_t mode)
{
	int fd = open(dir, O_TMPFILE | O_WRONLY | O_CLOEXEC, mode);
	return fd < 0 ? negative_errno() : fd;
}

/* The file is written and made durable before it has a name (O_TMPFILE):
 * its fsync then has no new directory entry to write, and a crash
 * leaves no temp file behind. A first write takes its name in one step;
 * a replacement gets a temp name, then is renamed over the old. 1 when
 * a missing /proc rules it out: the caller uses a named temp file
 * instead. */
static int fill_and_link(int fd, const char *dir, const char *dst,
                         const char *name, const void *p, size_t n,
                         bool durable, bool replacing)
{
	int r = write_all(fd, p, n);
	/* A file made ahead may hold room reserved past n (record.h). */
	if (r == 0 && ftruncate(fd, (off_t)n) < 0)
		r = negative_errno();
	if (r == 0 && durable && fsync(fd) < 0)
		r = negative_errno();
	if (r < 0)
		return r;
	r = replacing ? -EEXIST : link_fd(fd, dst);
	if (r != -EEXIST)
		return r == 0 ? 0 : 1;
	_cleanup_free_ char *tmp = NULL;
	for (int tries = 0; tries < 16 && r == -EEXIST; tries++) {
		free(tmp);
		tmp = temp_path(dir, name);
		if (!tmp)
			return negative_errno();
		r = link_fd(fd, tmp);
	}
	if (r < 0)
		return 1;
	if (rename(tmp, dst) < 0) {
		r = negative_errno();
		unlink(tmp);
		return r;
	}
	return 0;
}

/* fd: an unnamed file made ahead (open_unnamed()), or -1 for one made
 * here; closed either way. 1 when the file system has no O_TMPFILE. */
static int write_unnamed(int fd, const char *dir, const char *dst,
                         const char *name, const void *p, size_t n, mode_t mode,
                         bool durable, bool replacing)
{
	if (fd < 0)
		fd = open(dir, O_TMPFILE | O_WRONLY | O_CLOEXEC, mode);
	if (fd < 0)
		return 1;
	int r = fill_and_link(fd, dir, dst, name, p, n, durable, replacing);
	close(fd);
	return r;
}

/* durable: fsync the file before it takes the name */
static int write_file(int fd, const char *dir, const char *name, const void *p,
                      size_t n, mode_t mode, bool durable, bool replacing)
{
	_cleanup_free_ char *dst = path_join(dir, name);
	int r = write_unnamed(fd, dir, dst, name, p, n, mode, durable,
	                      replacing);
	if (r <= 0)
		return r;
	fd = -1;
	_cleanup_free_ char *tmp = NULL;
	for (int tries = 0; tries < 16 && fd < 0; tries++) {
		free(tmp);
		tmp = temp_path(dir, name);
		if (!tmp)
			return negative_errno();
		fd = open(tmp,
		          O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
		          mode);
		if (fd < 0 && errno != EEXIST)
			return negative_errno();
	}
	if (fd < 0)
		return -EEXIST;
	r = write_all(fd, p, n);
	if (r == 0 && durable && fsync(fd) < 0)
		r = negative_errno();
	if (close(fd) < 0 && r == 0)
		r = negative_errno();
	if (r == 0 && rename(tmp, dst) < 0)
		r = negative_errno();
	if (r < 0)
		unlink(tmp);
	return r;
}

int write_file_atomic(const char *dir, const char *name, const void *p,
                      size_t n, mode_t mode, bool sync_dir)
{
	return write_file_atomic_fd(-1, dir, name, p, n, mode, false, sync_dir);
}

int write_file_atomic_fd(int fd, const char *dir, const char *name,
                         const void *p, size_t n, mode_t mode, bool replacing,
                         bool sync_dir)
{
	int r = write_file(fd, dir, name, p, n, mode, true, replacing);
	if (r < 0)
		return r;
	return sync_dir ? fsync_dir(dir) : 0;
}

int write_file_replace(const char *dir, const char *name, const void *p,
                       size_t n, mode_t mode)
{
	return write_file(-1, dir, name, p, n, mode, false, false);
}

int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t monotonic_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

char *format_rfc3339(int64_t ns)
{
	/* Floor division: times before 1970 have a negative remainder. */
	int64_t sec = ns / 1000000000, frac = ns % 1000000000;
	if (frac < 0) {
		frac += 1000000000;
		sec--;
	}
	time_t t = (time_t)sec;
	struct tm tm;
	gmtime_r(&t, &tm);
	/* Not strftime: it loads the time zone (/etc/localtime) first. */
	return xasprintf("%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ",
	                 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
	                 tm.tm_hour, tm.tm_min, tm.tm_sec, (long)(frac / 1000));
}

static bool parse_digits(const char **p, int n, int *ret)
{
	int v = 0;
	for (int i = 0; i < n; i++, (*p)++) {
		if (**p < '0' || **p > '9')
			return false;
		v = v * 10 + (**p - '0');
	}
	*ret = v;
	return true;
}

int parse_rfc3339(const char *s, int64_t *ret_ns)
{
	/* Exactly YYYY-MM-DDTHH:MM:SS[.fraction]Z, the form xrun writes. */
	int y, mo, d, h, mi, sec;
	const char *p = s;
	if (!parse_digits(&p, 4, &y) || *p++ != '-' ||
	    !parse_digits(&p, 2, &mo) || *p++ != '-' ||
	    !parse_digits(&p, 2, &d) || *p++ != 'T' ||
	    !parse_digits(&p, 2, &h) || *p++ != ':' ||
	    !parse_digits(&p, 2, &mi) || *p++ != ':' ||
	    !parse_digits(&p, 2, &sec))
		return -EINVAL;
	long frac = 0;
	if (*p == '.') {
		int digits = 0;
		for (p++; *p >= '0' && *p <= '9'; p++, digits++)
			if (digits < 9)
				frac = frac * 10 + (*p - '0');
		if (digits == 0)
			return -EINVAL;
		for (; digits < 9; digits++)
			frac *= 10;
	}
	if (*p != 'Z' || p[1])
		return -EINVAL;
	static const int mdays[] = {31, 29, 31, 30, 31, 30,
	                            31, 31, 30, 31, 30, 31};
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] ||
	    (mo == 2 && d == 29 && !leap) || h > 23 || mi > 59 || sec > 60)
		return -EINVAL;
	struct tm tm = {.tm_year = y - 1900,
	                .tm_mon = mo - 1,
	                .tm_mday = d,
	                .tm_hour = h,
	                .tm_min = mi,
	                .tm_sec = sec};
	time_t t = timegm(&tm);
	/* Nanoseconds in 64 bits reach from 1677 to 2262; a record may
	 * hold any year. */
	if (t < INT64_MIN / 1000000000 + 1 || t > INT64_MAX / 1000000000 - 1)
		return -ERANGE;
	*ret_ns = (int64_t)t * 1000000000 + frac;
	return 0;
}

json_t *json_bytes(const char *s, size_t n)
{
	if (utf8_valid(s, n))
		return json_stringn(s, n);
	_cleanup_free_ char *b = base64_encode((const unsigned char *)s, n);
	return json_pack("{s:s}", "base64", b);
}

char *json_bytes_decode(const json_t *j, size_t *ret_len)
{
	if (json_is_string(j)) {
		/* All of it: a JSON string may hold \u0000. */
		size_t n = json_string_length(j);
		char *s = xmalloc(n + 1);
		memcpy(s, json_string_value(j), n);
		s[n] = 0;
		if (ret_len)
			*ret_len = n;
		return s;
	}
	const char *b = json_get_string(j, "base64");
	if (!b)
		return NULL;
	size_t n;
	char *s = base64_decode(b, &n);
	if (s && ret_len)
		*ret_len = n;
	return s;
}

const char *json_get_string(const json_t *obj, const char *key)
{
	if (!json_is_object(obj))
		return NULL;
	return json_string_value(json_object_get(obj, key));
}

typedef struct Out {
	char *buf;
	size_t len, cap;
} Out;

static void out_reserve(Out *o, size_t more)
{
	if (o->cap - o->len >= more)
		return;
	while (o->cap - o->len < more)
		o->cap = o->cap * 2 + 64;
	o->buf = xrealloc(o->buf, o->cap);
}

static void out_newline(Out *o, int depth)
{
	size_t w = depth > 0 ? (size_t)depth * 2 : 0;
	out_reserve(o, w + 1);
	o->buf[o->len++] = '\n';
	memset(o->buf + o->len, ' ', w);
	o->len += w;
}

char *json_indent_compact(const char *c, size_t *ret_len)
{
	size_t n = strlen(c);
	/* Records nest a few levels: twice the input is mostly enough. */
	Out o = {.buf = xmalloc(2 * n + 64), .cap = 2 * n + 64};
	int depth = 0;
	for (size_t i = 0; i < n;) {
		char ch = c[i];
		if (ch == '"') {
			/* A string, escapes and all, as it is. */
			size_t j = i + 1;
			for (;;) {
				j += strcspn(c + j, "\"\\");
				if (c[j] == '\\' && c[j + 1])
					j += 2;
				else
					break;
			}
			if (c[j] == '"')
				j++;
			out_reserve(&o, j - i);
			memcpy(o.buf + o.len, c + i, j - i);
			o.len += j - i;
			i = j;
			continue;
		}
		out_reserve(&o, 2);
		if (ch == '{' || ch == '[') {
			o.buf[o.len++] = ch;
			if (c[i + 1] == (ch == '{' ? '}' : ']')) {
				o.buf[o.len++] =
				        c[++i]; /* {} and [] as they are */
			} else
				out_newline(&o, ++depth);
		} else if (ch == '}' || ch == ']') {
			out_newline(&o, --depth);
			o.buf[o.len++] = ch;
		} else if (ch == ',') {
			o.buf[o.len++] = ',';
			out_newline(&o, depth);
		} else if (ch == ':') {
			o.buf[o.len++] = ':';
			o.buf[o.len++] = ' ';
		} else {
			/* A number or a literal, up to what follows it. */
			size_t k = strcspn(c + i, ",:{}[]\"");
			out_reserve(&o, k);
			memcpy(o.buf + o.len, c + i, k);
			o.len += k;
			i += k;
			continue;
		}
		i++;
	}
	out_reserve(&o, 2); /* room for a newline the caller adds */
	o.buf[o.len] = 0;
	if (ret_len)
		*ret_len = o.len;
	return o.buf;
}

char *json_dump_pretty(const json_t *j)
{
	return json_dumps_shortest(j, JSON_INDENT(2));
}

int format_double_shortest(double d, char buf[static FORMAT_DOUBLE_MAX])
{
	/* As Python's repr: the fewest digits that read back as d. */
	int n = 0;
	for (int prec = 15; prec <= 17; prec++) {
		n = snprintf(buf, FORMAT_DOUBLE_MAX, "%.*g", prec, d);
		if (prec == 17 || strtod(buf, NULL) == d)
			break;
	}
	return n;
}

char *format_double(double d)
{
	char buf[FORMAT_DOUBLE_MAX];
	format_double_shortest(d, buf);
	return xstrdup(buf);
}

/* The text of a JSON real as jansson writes it (it always has a '.' or an
 * exponent) in its shortest form, still a real: "0.050000000000000003"
 * becomes "0.05", "1.0" stays "1.0". */
static void out_real(Out *o, const char *tok, size_t k)
{
	char orig[64], buf[FORMAT_DOUBLE_MAX + 2];
	if (k >= sizeof orig) {
		out_reserve(o, k);
		memcpy(o->buf + o->len, tok, k);
		o->len += k;
		return;
	}
	memcpy(orig, tok, k);
	orig[k] = 0;
	int n = format_double_shortest(strtod(orig, NULL), buf);
	if (!strpbrk(buf, ".eEn")) {
		memcpy(buf + n, ".0", 3);
		n += 2;
	}
	out_reserve(o, (size_t)n);
	memcpy(o->buf + o->len, buf, (size_t)n);
	o->len += (size_t)n;
}

/* jansson's text c with every real rewritten by out_real(); strings and
 * everything else as they are. */
static char *json_text_shortest(const char *c)
{
	size_t n = strlen(c);
	Out o = {.buf = xmalloc(n + 64), .cap = n + 64};
	for (size_t i = 0; i < n;) {
		size_t j = i;
		if (c[i] == '"') {
			j++;
			for (;;) {
				j += strcspn(c + j, "\"\\");
				if (c[j] == '\\' && c[j + 1])
					j += 2;
				else
					break;
			}
			if (c[j] == '"')
				j++;
		} else if (c[i] == '-' || (c[i] >= '0' && c[i] <= '9')) {
			j += strspn(c + i, "-+0123456789.eE");
			if (memchr(c + i, '.', j - i) ||
			    memchr(c + i, 'e', j - i) ||
			    memchr(c + i, 'E', j - i)) {
				out_real(&o, c + i, j - i);
				i = j;
				continue;
			}
		} else
			j += strcspn(c + i, "\"-0123456789");
		out_reserve(&o, j - i);
		memcpy(o.buf + o.len, c + i, j - i);
		o.len += j - i;
		i = j;
	}
	out_reserve(&o, 1);
	o.buf[o.len] = 0;
	return o.buf;
}

char *json_dumps_shortest(const json_t *v, size_t flags)
{
	/* JSON_REAL_PRECISION holds for a whole dump: one real that needs
	 * 17 digits would give every other real 17 as well. */
	flags &= ~(size_t)JSON_REAL_PRECISION(31);
	_cleanup_free_ char *text =
	        json_dumps(v, flags | JSON_REAL_PRECISION(17));
	if (!text)
		return NULL;
	return json_text_shortest(text);
}

int json_dumpf_shortest(const json_t *v, FILE *f, size_t flags)
{
	_cleanup_free_ char *text = json_dumps_shortest(v, flags);
	if (!text)
		return -1;
	size_t n = strlen(text);
	return fwrite(text, 1, n, f) == n ? 0 : -1;
}

json_t *json_get_path(const json_t *o, const char *dotted)
{
	const json_t *cur = o;
	char key[128];
	const char *p = dotted;
	while (cur && *p) {
		size_t n = strcspn(p, ".");
		if (n >= sizeof key)
			return NULL;
		memcpy(key, p, n);
		key[n] = 0;
		cur = json_is_object(cur) ? json_object_get(cur, key) : NULL;
		p += n + (p[n] == '.');
	}
	return (json_t *)cur;
}

bool thread_start(pthread_t *t, void *(*fn)(void *), void *arg)
{
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	bool ok = pthread_create(t, NULL, fn, arg) == 0;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return ok;
}

char *find_in_path(const char *name, const char *path)
{
	if (!path)
		path = "/usr/local/bin:/usr/bin:/bin";
	for (const char *p = path; *p;) {
		size_t n = strcspn(p, ":");
		if (n && p[0] == '/') {
			_cleanup_free_ char *dir = xstrndup(p, n);
			char *exe = path_join(dir, name);
			struct stat st;
			if (stat(exe, &st) == 0 && S_ISREG(st.st_mode) &&
			    access(exe, X_OK) == 0)
				return exe;
			free(exe);
		}
		p += n;
		if (*p == ':')
			p++;
	}
	return NULL;
}

static int remove_at(int pfd, const char *name)
{
	if (unlinkat(pfd, name, 0) == 0 || errno == ENOENT)
		return 0;
	if (errno != EISDIR && errno != EPERM)
		return negative_errno();
	(void)fchmodat(pfd, name, 0700, 0);
	int fd = openat(pfd, name,
	                O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return negative_errno();
	DIR *d = fdopendir(fd);
	if (!d) {
		close(fd);
		return negative_errno();
	}
	struct dirent *de;
	int r = 0;
	while ((de = readdir(d)))
		if (!streq(de->d_name, ".") && !streq(de->d_name, "..")) {
			int r2 = remove_at(fd, de->d_name);
			if (r2 < 0 && r == 0)
				r = r2;
		}
	closedir(d);
	if (unlinkat(pfd, name, AT_REMOVEDIR) < 0 && r == 0)
		r = negative_errno();
	return r;
}

int remove_tree(const char *path)
{
	return remove_at(AT_FDCWD, path);
}

int remove_tree_at(int dirfd, const char *name)
{
	return remove_at(dirfd, name);
}

int open_parent_beneath(int dirfd, const char *rel, const char **name)
{
	const char *slash = strrchr(rel, '/');
	if (!slash) {
		*name = rel;
		int fd = fcntl(dirfd, F_DUPFD_CLOEXEC, 3);
		return fd < 0 ? negative_errno() : fd;
	}
	_cleanup_free_ char *dir = xstrndup(rel, (size_t)(slash - rel));
	struct open_how how = {
	        .flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC,
	        .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS,
	};
	int fd = (int)syscall(SYS_openat2, dirfd, dir, &how, sizeof how);
	if (fd < 0 && errno == ENOSYS)
		fd = openat(dirfd, dir,
		            O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return negative_errno();
	*name = slash + 1;
	return fd;
}

/* The command name (field 2) may hold spaces and ')': the fields are
 * counted from the last ')'. */
int proc_stat_field(long pid, int field, unsigned long long *ret)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/%ld/stat", pid);
	_cleanup_free_ char *s = NULL;
	int r = read_full_file(path, 65536, &s, NULL);
	if (r < 0)
		return r;
	char *p = strrchr(s, ')');
	if (!p || field < 3)
		return -EBADMSG;
	p++;
	/* After ')' come fields 3 and on, each after a space. */
	for (int f = 3; f < field; f++) {
		p = strchr(p + 1, ' ');
		if (!p)
			return -EBADMSG;
	}
	char *end;
	errno = 0;
	*ret = strtoull(p + 1, &end, 10);
	return end == p + 1 || errno ? -EBADMSG : 0;
}
