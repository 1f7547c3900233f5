#include "config.h"

#include "format.h"

#include <inttypes.h>
#include <time.h>

#include "spec.h"
#include "util.h"

static bool needs_quotes(const char *s)
{
	if (!*s)
		return true;
	for (const char *p = s; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || strchr("-_./=:,+@%", *p)))
			return true;
	return false;
}

char *format_argv(const json_t *argv)
{
	char *out = xstrdup("");
	size_t i;
	json_t *a;
	json_array_foreach (argv, i, a) {
		size_t n = 0;
		_cleanup_free_ char *s = json_bytes_decode(a, &n);
		if (!s) { /* not a string nor {"base64": ...} */
			s = xstrdup("?");
			n = 1;
		}
		/* Bytes that are not text show as \xNN, never raw. */
		_cleanup_free_ char *clean = xmalloc(n * 4 + 1);
		size_t o = 0;
		bool text = utf8_valid(s, strlen(s)) && strlen(s) == n;
		for (size_t k = 0; k < n; k++) {
			unsigned char ch = (unsigned char)s[k];
			/* Control characters (ESC, CR, C1) would be the
			 * terminal's commands. */
			bool c1 = text && ch == 0xc2 && k + 1 < n &&
			          (unsigned char)s[k + 1] < 0xa0;
			if ((!text && (ch >= 0x80 || ch == 0)) || ch < 0x20 ||
			    ch == 0x7f || c1) {
				if (c1) {
					snprintf(clean + o, 5, "\\x%02x",
					         (unsigned char)s[++k]);
					o += 4;
					continue;
				}
				snprintf(clean + o, 5, "\\x%02x", ch);
				o += 4;
			} else
				clean[o++] = (char)ch;
		}
		clean[o] = 0;
		_cleanup_free_ char *q = NULL;
		if (needs_quotes(clean)) {
			/* 'it'\''s': close, escaped quote, reopen. */
			size_t len = strlen(clean);
			q = xmalloc(len * 4 + 3);
			char *w = q;
			*w++ = '\'';
			for (const char *p = clean; *p; p++) {
				if (*p == '\'') {
					memcpy(w, "'\\''", 4);
					w += 4;
				} else
					*w++ = *p;
			}
			*w++ = '\'';
			*w = 0;
		}
		char *next =
		        xasprintf("%s%s%s", out, i ? " " : "", q ? q : clean);
		free(out);
		out = next;
	}
	return out;
}

char *format_duration(double s)
{
	if (s < 0)
		s = 0;
	/* A record may say anything: beyond this (or NaN) no conversion to
	 * long is defined, and no run lasts that long. */
	if (!(s <= 1e15))
		return xstrdup("-");
	/* Round first, so 59.96 does not print as "60.0s". */
	if (s < 9.9995)
		return xasprintf("%.3fs", s);
	if (s < 59.95)
		return xasprintf("%.1fs", s);
	long t = (long)(s + 0.5);
	if (t < 3600)
		return xasprintf("%ldm%02lds", t / 60, t % 60);
	return xasprintf("%ldh%02ldm", t / 3600, t % 3600 / 60);
}

char *format_bytes(uint64_t n)
{
	static const char *const units[] = {"KiB", "MiB", "GiB", "TiB", "PiB"};
	if (n < 1024)
		return xasprintf("%" PRIu64 " B", n);
	double v = (double)n / 1024;
	size_t u = 0;
	while (v >= 1023.95 && u + 1 < ELEMENTSOF(units)) {
		v /= 1024;
		u++;
	}
	return xasprintf("%.1f %s", v, units[u]);
}

char *format_local_time(const char *rfc3339)
{
	int64_t ns;
	if (!rfc3339 || parse_rfc3339(rfc3339, &ns) < 0)
		return NULL;
	time_t t = (time_t)(ns / 1000000000);
	struct tm tm;
	localtime_r(&t, &tm);
	char buf[64];
	strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm);
	return xstrdup(buf);
}

char *format_value(const json_t *v)
{
	if (json_is_string(v))
		return xstrdup(json_string_value(v));
	if (json_is_real(v))
		return format_double(json_real_value(v));
	char *s = json_dumps_shortest(v, JSON_COMPACT | JSON_ENCODE_ANY);
	return s ? s : xstrdup("?");
}

char *format_created_ran(const json_t *rec)
{
	_cleanup_free_ char *created = format_local_time(
	        json_string_value(json_get_path(rec, "times.created")));
	const json_t *dur = json_get_path(rec, "times.duration");
	_cleanup_free_ char *d =
	        json_is_number(dur) ? format_duration(json_number_value(dur))
	                            : NULL;
	return xasprintf("%s%s%s", created ? created : "?", d ? ", ran " : "",
	                 d ? d : "");
}

const char *format_digest_short(const char *d)
{
	static char buf[32];
	if (!d)
		return "-";
	snprintf(buf, sizeof buf, "%.19s", d);
	return buf;
}

const char *status_color(const char *status, bool color)
{
	if (!color || !status)
		return "";
	if (streq(status, "succeeded"))
		return "\033[32m";
	if (streq(status, "running"))
		return "\033[36m";
	if (streq(status, "interrupted") || streq(status, "abandoned"))
		return "\033[33m";
	return "\033[31m";
}

char *format_escape(const char *s)
{
	if (!s)
		return NULL;
	size_t n = strlen(s), o = 0;
	char *out = xmalloc(n * 4 + 1);
	for (size_t i = 0; i < n;) {
		unsigned char c = (unsigned char)s[i];
		size_t len = c < 0x80                 ? 1
		             : c >= 0xc2 && c <= 0xdf ? 2
		             : c >= 0xe0 && c <= 0xef ? 3
		             : c >= 0xf0 && c <= 0xf4 ? 4
		                                      : 0;
		bool ok = len && i + len <= n && utf8_valid(s + i, len);
		/* C0, DEL and C1 (U+0080..U+009F) are commands to a
		 * terminal: ESC ] 52 writes the clipboard, ESC c clears. */
		if (ok && len == 1 && (c < 0x20 || c == 0x7f))
			ok = false;
		if (ok && len == 2 && c == 0xc2 &&
		    (unsigned char)s[i + 1] < 0xa0)
			ok = false;
		if (!ok) {
			snprintf(out + o, 5, "\\x%02x", c);
			o += 4;
			i++;
			continue;
		}
		memcpy(out + o, s + i, len);
		o += len;
		i += len;
	}
	out[o] = 0;
	return out;
}
