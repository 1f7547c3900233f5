/* xrun rm RUN... */
#include "config.h"

#include "cmd.h"
#include "options.h"
#include "util.h"

static const CmdOption rm_options[] = {
        CMD_OPTION_HELP,
        {0},
};

static const CmdSpec rm_cmd = {
        .name = "rm",
        .synopsis = "RUN...",
        .about =
                "Delete runs from the store: each run's directory (record, captured\n"
                "output, params, metrics, a replay's outputs). The objects they\n"
                "pinned stay until xrun gc deletes those no other record needs. A\n"
                "run that is still running is refused. RUN is a run id, a unique\n"
                "prefix of at least 4 characters, latest or latest~N.\n",
        .options = rm_options,
};

int cmd_rm(int argc, char **argv, Context *ctx)
{
	_cleanup_cmd_parser_ CmdParser opt_parser;
	cmd_parser_init(&opt_parser, &rm_cmd, argc, argv);
	int c;
	while ((c = cmd_option_next(&opt_parser)) > 0) {
		switch (c) {
		}
	}
	if (c < 0)
		return opt_parser.status;
	if (optind >= argc)
		return cmd_usage_error(&rm_cmd, "rm takes one or more RUNs");
	if (context_find_store(ctx, true) < 0)
		return 2;
	/* Every RUN resolved and checked before anything is deleted:
	 * latest~1 means the same run all along, and one bad name deletes
	 * nothing. */
	size_t n = (size_t)(argc - optind);
	_cleanup_strv_free_ char **ids = xcalloc(n + 1, sizeof(char *));
	size_t k = 0;
	for (int i = optind; i < argc; i++) {
		_cleanup_free_ char *path = NULL, *err = NULL;
		int r = store_resolve(ctx->store, argv[i], &path, &err);
		if (r < 0) {
			log_error("%s; nothing was deleted", err);
			return 2;
		}
		/* Only runs of this store, by their place in runs/. */
		_cleanup_free_ char *dir = xstrdup(path);
		char *slash = strrchr(dir, '/');
		if (slash)
			*slash = 0;
		_cleanup_free_ char *real = realpath(dir, NULL);
		_cleanup_free_ char *runs = realpath(ctx->store->runs, NULL);
		const char *id = real ? strrchr(real, '/') : NULL;
		size_t rl = runs ? strlen(runs) : 0;
		if (!id || !runs || !strneq(real, runs, rl) ||
		    real + rl != id) {
			log_error("'%s' is not a run of the store '%s'; "
			          "nothing was deleted",
			          argv[i], ctx->store->root);
			return 2;
		}
		id++;
		_cleanup_record_ Record *rec = NULL;
		r = record_load(path, &rec, NULL);
		const char *status = r == 0 ? record_status(rec) : NULL;
		if (status && streq(status, "running")) {
			json_t *l = json_object_get(rec->root, "launcher");
			log_error("run %.8s is still running (launcher pid "
			          "%" JSON_INTEGER_FORMAT
			          " on %s); wait for it to end or stop it, "
			          "then rm it; nothing was deleted",
			          id,
			          json_integer_value(json_object_get(l, "pid")),
			          json_get_string(l, "hostname")
			                  ? json_get_string(l, "hostname")
			                  : "?");
			return 2;
		}
		bool dup = false;
		for (size_t j = 0; j < k; j++)
			dup = dup || streq(ids[j], id);
		if (!dup)
			ids[k++] = xstrdup(id);
	}
	int status = 0;
	for (size_t j = 0; j < k; j++) {
		int r = store_remove_run(ctx->store, ids[j]);
		if (r < 0) {
			log_error_errno(r, "cannot delete run %.8s: %m",
			                ids[j]);
			status = 1;
			continue;
		}
		if (log_level >= LOG_NORMAL)
			printf("deleted run %s\n", ids[j]);
	}
	if (k && status == 0 && log_level >= LOG_NORMAL)
		log_info("the objects only %s pinned are freed by xrun gc",
		         k == 1 ? "this run" : "these runs");
	return finish_stdout(status);
}
