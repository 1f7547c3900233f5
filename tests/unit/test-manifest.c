#include "config.h"
#include "tap.h"

#include "manifest.h"
#include "util.h"

static const char *D =
        "sha256:"
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

static int parse(const char *text, Manifest **ret)
{
	Manifest *m = NULL;
	int r = manifest_parse(text, strlen(text), &m, NULL);
	if (ret)
		*ret = m;
	else
		manifest_free(m);
	return r;
}

static char *line(const char *kind, const char *mode, const char *size,
                  const char *digest, const char *path, const char *target)
{
	return xasprintf("%s%s\t%s\t%s\t%s\t%s%s%s\n", MANIFEST_HEADER, kind,
	                 mode, size, digest, path, target ? "\t" : "",
	                 target ? target : "");
}

static void round_trip(void)
{
	Manifest *m = manifest_new();
	manifest_add(m, ENTRY_FILE, "b/c", 0100644, 3, NULL);
	manifest_add(m, ENTRY_DIR, "b", 040755, 0, NULL);
	manifest_add(m, ENTRY_LINK, "a\tb\\n\x01", 0120777, 3, "x\ny");
	manifest_add(m, ENTRY_FILE, "b.txt", 0100600, 0, NULL);
	is_int(manifest_sort(m), 0, "sort a valid manifest");
	is_str(m->entries[0].path, "a\tb\\n\x01", "sorted by bytes");
	is_str(m->entries[2].path, "b.txt", "'b.txt' sorts before 'b/c'");
	char *text;
	size_t len;
	manifest_format(m, &text, &len);
	ok(strstr(text, "l\t0777\t3\t-\ta\\tb\\\\n\\x01\tx\\ny\n") != NULL,
	   "escapes in paths and targets");
	Manifest *back = NULL;
	is_int(manifest_parse(text, len, &back, NULL), 0, "parse it back");
	char *again;
	size_t len2;
	manifest_format(back, &again, &len2);
	ok(len == len2 && memcmp(text, again, len) == 0,
	   "format(parse(text)) == text");
	is_int(manifest_files(back), 3, "files count files and links");
	is_int(manifest_bytes(back), 3, "bytes count regular files");
	ok(manifest_find(back, "b/c") && !manifest_find(back, "b/d"),
	   "find by path");
	free(text);
	free(again);
	manifest_free(back);
	manifest_free(m);
}

static void writer_rejects(void)
{
	Manifest *m = manifest_new();
	manifest_add(m, ENTRY_FILE, "x/y", 0644, 0, NULL);
	is_int(manifest_sort(m), -EINVAL, "a parent that is not listed");
	manifest_free(m);
	m = manifest_new();
	manifest_add(m, ENTRY_FILE, "x", 0644, 0, NULL);
	manifest_add(m, ENTRY_FILE, "x", 0644, 0, NULL);
	is_int(manifest_sort(m), -EEXIST, "a path listed twice");
	manifest_free(m);
}

static void parser_rejects(void)
{
	static const struct {
		const char *kind, *mode, *size, *path, *target;
		int digest; /* 1: D, 0: "-" */
		const char *why;
	} bad[] = {
	        {"f", "0644", "1", "../x", NULL, 1, "'..' in a path"},
	        {"f", "0644", "1", "a/../x", NULL, 1, "'..' inside a path"},
	        {"f", "0644", "1", "/etc/passwd", NULL, 1, "an absolute path"},
	        {"f", "0644", "1", "a//b", NULL, 1, "an empty component"},
	        {"f", "0644", "1", "./a", NULL, 1, "a '.' component"},
	        {"f", "0644", "1", "", NULL, 1, "an empty path"},
	        {"f", "0644", "1", "a\\x00b", NULL, 1, "an escaped NUL"},
	        {"f", "0644", "1", "a\\x41", NULL, 1, "a needless escape"},
	        {"f", "0644", "1", "a\\q", NULL, 1, "an unknown escape"},
	        {"f", "0644", "01", "a", NULL, 1, "a leading zero in a size"},
	        {"f", "0644", "-1", "a", NULL, 1, "a negative size"},
	        {"f", "0644", "99999999999999999999", "a", NULL, 1,
	         "a size past 2^64"},
	        {"f", "644", "1", "a", NULL, 1, "a mode of three digits"},
	        {"f", "0648", "1", "a", NULL, 1, "a mode that is not octal"},
	        {"f", "0644", "1", "a", NULL, 0, "a file without a digest"},
	        {"d", "0755", "0", "a", NULL, 1, "a directory with a digest"},
	        {"d", "0755", "5", "a", NULL, 0, "a directory with a size"},
	        {"l", "0777", "1", "a", NULL, 0, "a link without a target"},
	        {"l", "0777", "2", "a", "x", 0, "a link whose size is wrong"},
	        {"f", "0644", "1", "a", "x", 1, "a file with a target"},
	        {"x", "0644", "1", "a", NULL, 1, "an unknown kind"},
	};
	for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
		char *t = line(bad[i].kind, bad[i].mode, bad[i].size,
		               bad[i].digest ? D : "-", bad[i].path,
		               bad[i].target);
		is_int(parse(t, NULL), -EBADMSG, "rejects %s", bad[i].why);
		free(t);
	}
	char *t = xasprintf("%sf\t0644\t0\t%s\tb\nf\t0644\t0\t%s\ta\n",
	                    MANIFEST_HEADER, D, D);
	is_int(parse(t, NULL), -EBADMSG, "rejects unsorted entries");
	free(t);
	t = xasprintf("%sf\t0644\t0\t%s\ta\nf\t0644\t0\t%s\ta\n",
	              MANIFEST_HEADER, D, D);
	is_int(parse(t, NULL), -EBADMSG, "rejects duplicates");
	free(t);
	t = xasprintf("%sl\t0777\t1\t-\ta\tx\nf\t0644\t0\t%s\ta/b\n",
	              MANIFEST_HEADER, D);
	is_int(parse(t, NULL), -EBADMSG, "rejects an entry below a link");
	free(t);
	t = xasprintf("%sf\t0644\t0\t%s\ta", MANIFEST_HEADER, D);
	is_int(parse(t, NULL), -EBADMSG, "rejects a last line without newline");
	free(t);
	t = xasprintf("%sf\t0644\t0\t%s\ta\r\n", MANIFEST_HEADER, D);
	is_int(parse(t, NULL), -EBADMSG, "rejects a raw control byte");
	free(t);
	is_int(parse("xrun-manifest 2\n", NULL), -EBADMSG,
	       "rejects another version");
	is_int(parse("", NULL), -EBADMSG, "rejects an empty text");
	Manifest *m = NULL;
	is_int(parse(MANIFEST_HEADER, &m), 0, "an empty tree is a header");
	ok(m && m->n == 0, "... with no entries");
	manifest_free(m);
	/* Every truncation of a valid manifest either parses or is refused:
	 * never a crash (run under ASan/valgrind). */
	Manifest *v = manifest_new();
	manifest_add(v, ENTRY_DIR, "d", 0755, 0, NULL);
	manifest_add(v, ENTRY_FILE, "d/f", 0644, 1, NULL);
	manifest_add(v, ENTRY_LINK, "l", 0777, 1, "f");
	manifest_sort(v);
	char *text;
	size_t len;
	manifest_format(v, &text, &len);
	int refused = 0;
	for (size_t k = 0; k < len; k++) {
		Manifest *x = NULL;
		char *copy = xstrndup(text, k);
		if (manifest_parse(copy, k, &x, NULL) < 0)
			refused++;
		manifest_free(x);
		free(copy);
	}
	ok(refused >= (int)len - 4, "truncations are refused (%d of %zu)",
	   refused, len);
	free(text);
	manifest_free(v);
}

int main(void)
{
	round_trip();
	writer_rejects();
	parser_rejects();
	return done_testing();
}
