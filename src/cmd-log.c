/* xrun log [--stderr] RUN */
#include "config.h"

#include <fcntl.h>
#include <getopt.h>

#include "cmd.h"
#include "util.h"

static const char log_usage[] =
        "usage: xrun log [--stderr] [-f|--follow] RUN\n"
        "\n"
        "Print the standard output (or, with --stderr, the standard error)\n"
        "that xrun captured from RUN.\n"
        "  -f, --follow   keep printing while the run is running, until "
        "its\n"
        "                 record is final\n";

/* The capture file is created with the program's first byte: none means
 * no output, unless the record says there was some. */
static bool no_output(const Record *r, const char *which)
{
	const json_t *res = json_object_get(r->root, "result");
	if (!json_is_object(res))
		return true; /* still running, or never started */
	const json_t *bytes =
	        json_object_get(json_object_get(res, which), "bytes");
	return json_is_integer(bytes) && json_integer_value(bytes) == 0;
}

int cmd_log(int argc, char **argv, Context *ctx)
{
	static const struct option opts[] = {
	        {"stderr", no_argument, NULL, 'e'},
	        {"follow", no_argument, NULL, 'f'},
	        {"help", no_argument, NULL, 'h'},
	        {0},
	};
	const char *which = "stdout";
	bool follow = false;
	int c;
	while ((c = getopt_long(argc, argv, "hf", opts, NULL)) != -1) {
		switch (c) {
		case 'e':
			which = "stderr";
			break;
		case 'f':
			follow = true;
			break;
		case 'h':
			fputs(log_usage, stdout);
			return finish_stdout(0);
		default:
			fputs(log_usage, stderr);
			return 2;
		}
	}
	if (optind != argc - 1) {
		log_error("log takes one RUN; see xrun log --help");
		return 2;
	}
	_cleanup_record_ Record *r = NULL;
	int st = load_run(ctx, argv[optind], &r);
	if (st)
		return st;
	_cleanup_free_ char *path = path_join(r->dir, which);
	if (follow)
		return follow_run_output(r, path);
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0 && errno == ENOENT && no_output(r, which))
		return finish_stdout(0);
	if (fd < 0) {
		log_error_errno(-errno, "cannot open the captured %s '%s': %m",
		                which, path);
		return 1;
	}
	char buf[65536];
	for (;;) {
		ssize_t k = read(fd, buf, sizeof buf);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0) {
			log_error_errno(-errno, "cannot read '%s': %m", path);
			return 1;
		}
		if (k == 0)
			break;
		if (fwrite(buf, 1, (size_t)k, stdout) != (size_t)k)
			break;
	}
	return finish_stdout(0);
}
