/* xrun import FILE */
#include "config.h"

#include <fcntl.h>

#include "bundle.h"
#include "cmd.h"
#include "options.h"
#include "pin.h"
#include "util.h"

static const CmdOption import_options[] = {
        CMD_OPTION_HELP,
        {0},
};

static const CmdSpec import_cmd = {
        .name = "import",
        .synopsis = "FILE",
        .about =
                "Bring the runs of a bundle written by xrun export into this store\n"
                "(made here if there is none, like xrun run does; or --store DIR).\n"
                "Every object is checked against its digest, every run file against\n"
                "the bundle's index and every record against its record_sha256\n"
                "before anything lands: a damaged bundle changes nothing and is\n"
                "named. Runs already here with the same record are left as they\n"
                "are. FILE - reads standard input.\n",
        .options = import_options,
};

int cmd_import(int argc, char **argv, Context *ctx)
{
	_cleanup_cmd_parser_ CmdParser opt_parser;
	cmd_parser_init(&opt_parser, &import_cmd, argc, argv);
	int c;
	while ((c = cmd_option_next(&opt_parser)) > 0) {
		switch (c) {
		}
	}
	if (c < 0)
		return opt_parser.status;
	if (argc - optind != 1)
		return cmd_usage_error(&import_cmd, "import takes one FILE");
	const char *file = argv[optind];
	_cleanup_close_ int fd = streq(file, "-")
	                                 ? dup(STDIN_FILENO)
	                                 : open(file, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		log_error_errno(-errno, "cannot open '%s': %m", file);
		return 2;
	}
	/* A store made for this import goes again if nothing lands. */
	_cleanup_free_ char *found = NULL;
	bool existed = ctx->store_arg ? access(ctx->store_arg, F_OK) == 0
	                              : store_discover(ctx->cwd, &found) == 0;
	if (context_find_store(ctx, true) < 0)
		return 2;
	BundleImport res;
	_cleanup_free_ char *err = NULL;
	int r = bundle_import(ctx->store, fd, &res, &err);
	if (r < 0) {
		log_error("cannot import '%s': %s; nothing was imported", file,
		          err);
		bundle_import_done(&res);
		if (!existed)
			(void)remove_tree(ctx->store->root);
		return 1;
	}
	for (char **p = res.referenced; p && *p; p++)
		log_warn("%s", *p);
	for (char **p = res.present; p && *p; p++)
		log_info("run %.8s is here already", *p);
	size_t n = strv_length(res.imported);
	_cleanup_free_ char *ids = xstrdup("");
	for (size_t i = 0; i < n; i++) {
		char *x = xasprintf("%s%s%.8s", ids, i ? ", " : "",
		                    res.imported[i]);
		free(ids);
		ids = x;
	}
	log_info("imported %zu run%s%s%s%s and %zu object%s (%zu new) into "
	         "'%s'",
	         n, n == 1 ? "" : "s", n ? " (" : "", ids, n ? ")" : "",
	         res.objects, res.objects == 1 ? "" : "s", res.objects_new,
	         ctx->store->root);
	for (size_t i = 0; i < n; i++)
		printf("%s\n", res.imported[i]);
	bundle_import_done(&res);
	return finish_stdout(0);
}
