/* xrun log [--stderr] RUN */
#include "config.h"

#include <fcntl.h>

#include "cmd.h"
#include "options.h"
#include "util.h"

enum {
	OPT_STDERR = 256,
};

static const CmdOption log_options[] = {
        {OPT_STDERR, "stderr", NULL, "the standard error instead"},
        {'f', "follow", NULL,
         "keep printing while the run is running, until its record is final"},
        CMD_OPTION_HELP,
        {0},
};

static const CmdSpec log_cmd = {
        .name = "log",
        .synopsis = "[--stderr] [-f|--follow] RUN",
        .about =
                "Print the standard output (or, with --stderr, the standard error)\n"
                "that xrun captured from RUN.\n",
        .options = log_options,
};

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
	const char *which = "stdout";
	bool follow = false;
	_cleanup_cmd_parser_ CmdParser opt_parser;
	cmd_parser_init(&opt_parser, &log_cmd, argc, argv);
	int c;
	while ((c = cmd_option_next(&opt_parser)) > 0) {
		switch (c) {
		case OPT_STDERR:
			which = "stderr";
			break;
		case 'f':
			follow = true;
			break;
		}
	}
	if (c < 0)
		return opt_parser.status;
	if (optind != argc - 1)
		return cmd_usage_error(&log_cmd, "log takes one RUN");
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
