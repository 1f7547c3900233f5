#include "config.h"
#include "tap.h"

#include <fcntl.h>
#include <sys/stat.h>

#include "hash.h"
#include "store.h"
#include "util.h"

static int count_files(const char *dir)
{
	char *cmd = xasprintf("find '%s' -type f | wc -l", dir);
	FILE *f = popen(cmd, "r");
	int n = -1;
	if (f && fscanf(f, "%d", &n) != 1)
		n = -1;
	if (f)
		pclose(f);
	free(cmd);
	return n;
}

int main(void)
{
	char tmpl[] = "/tmp/xrun-test-store.XXXXXX";
	char *dir = mkdtemp(tmpl);
	ok(dir != NULL, "a scratch directory");
	char *root = path_join(dir, ".xrun");
	Store *s = NULL;
	is_int(store_open(root, true, &s, NULL), 0, "a new store");

	unsigned char md[SHA256_LEN], md2[SHA256_LEN];
	is_int(store_put_mem(s, "hello\n", 6, md), 0, "put bytes");
	char d[DIGEST_STR_LEN + 1];
	digest_format(md, d);
	is_str(d,
	       "sha256:5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2"
	       "e846f6be03",
	       "the object is named by its SHA-256");
	is_int(store_object_exists(s, md), 1, "it exists");
	char *p = store_object_path(s, md);
	ok(strstr(p, "/objects/sha256/58/91b5b5") != NULL,
	   "fanned out by the first two hex digits");
	struct stat st;
	ok(stat(p, &st) == 0 && (st.st_mode & 07777) == 0444,
	   "objects are mode 0444");
	free(p);
	is_int(store_put_mem(s, "hello\n", 6, md2), 0, "put the same bytes");
	ok(memcmp(md, md2, SHA256_LEN) == 0, "same digest");
	is_int(count_files(s->objects), 1, "one copy");
	is_int(count_files(s->tmp), 0, "no temp file left");

	char *src = path_join(dir, "src");
	int fd = open(src, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	char *big = xmalloc(5 << 20);
	for (size_t i = 0; i < (5u << 20); i++)
		big[i] = (char)(i * 7 + (i >> 12));
	ok(write_all(fd, big, 5 << 20) == 0, "a 5 MiB file");
	uint64_t size = 0;
	is_int(store_put_fd(s, fd, md2, &size), 0, "put a file descriptor");
	is_int(size, 5 << 20, "every byte");
	char *want = sha256_mem(big, 5 << 20);
	digest_format(md2, d);
	is_str(d, want, "the digest of the bytes");
	char *buf = NULL;
	size_t len;
	is_int(store_object_read(s, md2, 8 << 20, &buf, &len), 0,
	       "read it back");
	ok(len == (5u << 20) && memcmp(buf, big, len) == 0, "same bytes");
	free(buf);
	close(fd);

	unsigned char none[SHA256_LEN] = {0};
	is_int(store_object_exists(s, none), 0, "a missing object");
	is_int(store_object_read(s, none, 100, &buf, &len), -ENOENT,
	       "reading it: -ENOENT");
	/* a corrupt object is refused */
	p = store_object_path(s, md);
	chmod(p, 0644);
	fd = open(p, O_WRONLY | O_APPEND | O_CLOEXEC);
	ok(fd >= 0 && write_all(fd, "x", 1) == 0, "corrupt an object");
	close(fd);
	is_int(store_object_read(s, md, 100, &buf, &len), -EBADMSG,
	       "reading a corrupt object: -EBADMSG");
	free(p);

	StoredObject *objs;
	size_t n;
	is_int(store_list_objects(s, &objs, &n), 0, "list the objects");
	is_int(n, 2, "both");
	free(objs);

	unsigned char parsed[SHA256_LEN];
	is_int(digest_parse(want, parsed), 0, "parse a digest");
	is_int(digest_parse("sha256:AB", parsed), -EINVAL, "too short");
	is_int(digest_parse("md5:00", parsed), -EINVAL, "another algorithm");
	free(want);
	free(big);
	free(src);
	store_free(s);
	char *rm = xasprintf("rm -rf '%s'", dir);
	ok(system(rm) == 0, "clean up");
	free(rm);
	free(root);
	return done_testing();
}
