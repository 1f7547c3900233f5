/* xrun export RUN... [-o FILE] [--zstd] */
#include "config.h"

#include <fcntl.h>
#include <sys/stat.h>

#include "bundle.h"
#include "cmd.h"
#include "options.h"
#include "format.h"
#include "util.h"

enum {
	OPT_ZSTD = 256,
};

static const CmdOption export_options[] = {
        {'o', "output", "FILE",
         "write to FILE (default: standard output, when it is not a terminal)"},
        {OPT_ZSTD, "zstd", NULL, "compress with zstd (default: gzip)"},
        CMD_OPTION_HELP,
        {0},
};

static const CmdSpec export_cmd = {
        .name = "export",
        .synopsis = "RUN... [-o FILE] [--zstd]",
        .about =
                "Write one file that carries runs to another store: their records,\n"
                "captured output, params and metrics, every object their replay\n"
                "needs (workspace, inputs, outputs, their manifests), and an RO-Crate\n"
                "description (ro-crate-metadata.json, Process Run Crate profile).\n"
                "Inputs bound by reference (--input-ref) are listed, not carried.\n"
                "The same runs give the same bytes, so a bundle's sha256 names it.\n"
                "Bring it in elsewhere with xrun import FILE.\n",
        .options = export_options,
};

int cmd_export(int argc, char **argv, Context *ctx)
{
	const char *out = NULL;
	BundleCompression comp = BUNDLE_GZIP;
	_cleanup_cmd_parser_ CmdParser opt_parser;
	cmd_parser_init(&opt_parser, &export_cmd, argc, argv);
	int c;
	while ((c = cmd_option_next(&opt_parser)) > 0) {
		switch (c) {
		case 'o':
			out = opt_parser.arg;
			break;
		case OPT_ZSTD:
			comp = BUNDLE_ZSTD;
			break;
		}
	}
	if (c < 0)
		return opt_parser.status;
	if (optind >= argc)
		return cmd_usage_error(&export_cmd,
		                       "export takes one or more RUNs");
	if (!out && isatty(STDOUT_FILENO)) {
		log_error("a bundle is binary: give -o FILE or redirect "
		          "standard output");
		return 2;
	}
	if (context_find_store(ctx, true) < 0)
		return 2;
	size_t n = (size_t)(argc - optind);
	Record **recs = xcalloc(n + 1, sizeof *recs);
	int status = 0;
	for (size_t i = 0; i < n && !status; i++) {
		status = load_run(ctx, argv[optind + (int)i], &recs[i]);
		if (status)
			break;
		const char *st = record_stored_status(recs[i]);
		if (st && streq(st, "running") &&
		    streq(record_status(recs[i]), "running")) {
			log_error("run %.8s is still running; export it once "
			          "it has ended",
			          record_id(recs[i]));
			status = 2;
		}
	}
	if (status) {
		records_free(recs, n);
		return 2;
	}
	/* Into a temp file beside FILE, renamed over it when whole. */
	_cleanup_free_ char *dir = NULL, *tmp = NULL;
	int fd = STDOUT_FILENO;
	if (out) {
		dir = xstrdup(out);
		char *slash = strrchr(dir, '/');
		if (slash)
			*(slash == dir ? slash + 1 : slash) = 0;
		else {
			free(dir);
			dir = xstrdup(".");
		}
		unsigned char rnd[6];
		if (getentropy(rnd, sizeof rnd) < 0)
			rnd[0] = 0;
		_cleanup_free_ char *hex = hex_encode(rnd, sizeof rnd);
		tmp = xasprintf("%s.%s.tmp", out, hex);
		fd = open(tmp,
		          O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
		          0644);
		if (fd < 0) {
			log_error_errno(-errno, "cannot create '%s': %m", tmp);
			records_free(recs, n);
			return 2;
		}
	}
	_cleanup_free_ char *err = NULL;
	BundleStats stats;
	int r = bundle_export(ctx->store, recs, n, comp, fd, &stats, &err);
	records_free(recs, n);
	if (out) {
		if (r == 0 && fsync(fd) < 0)
			r = log_error_errno(-errno, "cannot write '%s': %m",
			                    tmp);
		close(fd);
		if (r == 0 && rename(tmp, out) < 0)
			r = log_error_errno(-errno,
			                    "cannot rename '%s' to '%s': %m",
			                    tmp, out);
		if (r < 0)
			(void)unlink(tmp);
		else
			(void)fsync_dir(dir);
	}
	if (r < 0) {
		if (err)
			log_error("cannot export: %s%s", err,
			          out ? ""
			              : " (what was written is incomplete)");
		return 1;
	}
	_cleanup_free_ char *size = format_bytes(stats.object_bytes);
	log_info("exported %zu run%s and %zu object%s (%s)", stats.runs,
	         stats.runs == 1 ? "" : "s", stats.objects,
	         stats.objects == 1 ? "" : "s", size);
	if (stats.referenced)
		log_info("%zu input%s bound by reference (--input-ref) listed, "
		         "not carried: the replay needs them in place",
		         stats.referenced, stats.referenced == 1 ? "" : "s");
	if (out)
		log_info("wrote '%s'", out);
	return out ? 0 : finish_stdout(0);
}
