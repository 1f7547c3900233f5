/* A main() for the fuzz targets when libFuzzer is not there (gcc, make
 * check): feeds every file of the corpus directories named on the command
 * line (default: $top_srcdir/tests/fuzz/corpus/<target>, the target's name
 * being this program's without "fuzz-") to LLVMFuzzerTestOneInput, one
 * TAP result per file. A crash or a sanitizer report ends the program,
 * which the TAP driver reports as an error. */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void closedirp(DIR **d)
{
	if (*d)
		closedir(*d);
}

static int run_dir(const char *dir, int *n)
{
	_cleanup_(closedirp) DIR *d = opendir(dir);
	if (!d) {
		printf("Bail out! cannot open corpus '%s': %s\n", dir,
		       strerror(errno));
		return -1;
	}
	_cleanup_strv_free_ char **names = xcalloc(1, sizeof(char *));
	size_t count = 0;
	struct dirent *de;
	while ((de = readdir(d)))
		if (de->d_name[0] != '.') {
			names = strv_push(names, de->d_name);
			count++;
		}
	qsort(names, count, sizeof *names, by_name);
	for (size_t i = 0; i < count; i++) {
		_cleanup_free_ char *path = path_join(dir, names[i]);
		_cleanup_free_ char *data = NULL;
		size_t len = 0;
		int r = read_full_file(path, 64u << 20, &data, &len);
		if (r < 0) {
			printf("not ok %d - %s: %s\n", ++*n, names[i],
			       strerror(-r));
			continue;
		}
		/* A copy of exactly len bytes, so that ASan sees a read
		 * past the input's end. */
		uint8_t *copy = xmalloc(len ? len : 1);
		memcpy(copy, data, len);
		fflush(stdout);
		LLVMFuzzerTestOneInput(copy, len);
		free(copy);
		printf("ok %d - %s\n", ++*n, names[i]);
	}
	return 0;
}

int main(int argc, char **argv)
{
	int n = 0;
	if (argc > 1) {
		for (int i = 1; i < argc; i++)
			if (run_dir(argv[i], &n) < 0)
				return 1;
	} else {
		const char *top = getenv("top_srcdir");
		const char *base = strrchr(argv[0], '/');
		base = base ? base + 1 : argv[0];
		if (startswith(base, "lt-"))
			base += 3;
		if (startswith(base, "fuzz-"))
			base += 5;
		_cleanup_free_ char *dir = xasprintf("%s/tests/fuzz/corpus/%s",
		                                     top ? top : ".", base);
		if (run_dir(dir, &n) < 0)
			return 1;
	}
	printf("1..%d\n", n);
	return 0;
}
