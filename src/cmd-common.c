/* What several commands share: how run, replay and sweep report what
 * the runner said (one place, one wording), and how compare and report
 * choose their runs. */
#include "config.h"

#include "cmd.h"
#include "runner.h"
#include "runset.h"
#include "util.h"

void report_outcome_messages(const RunOutcome *o, bool unpinned)
{
	for (char **w = o->warnings; w && *w; w++)
		log_warn("%s", *w);
	if (o->error)
		log_error("%s", o->error);
	if (unpinned && o->unpinned && log_level >= LOG_NORMAL)
		print_unpinned(o->unpinned);
}

void report_outcome(const Context *ctx, int r, const RunOutcome *o,
                    const OutcomeLine *line)
{
	if (!line->messages_said)
		report_outcome_messages(o, !line->brief);
	if (!o->id)
		return;
	log_debug("%s %s: record %s; recording took %.2f ms before the "
	          "program started",
	          line->label, o->id, o->record_path, o->setup_ms);
	if (line->brief) {
		if (log_level >= LOG_NORMAL)
			fprintf(stderr, "xrun: %s %.8s %s\n", line->label,
			        o->id, o->status ? o->status : "failed");
		return;
	}
	/* The record relative to the current directory when it is below
	 * it: shorter, and still a path the user can open. */
	const char *path = o->record_path;
	size_t n = strlen(ctx->cwd);
	if (strneq(path, ctx->cwd, n) && path[n] == '/')
		path += n + 1;
	if (r == 0 && log_level >= LOG_NORMAL) {
		char how[64];
		if (o->signal)
			snprintf(how, sizeof how, "signal %d", o->signal);
		else
			snprintf(how, sizeof how, "exit %d", o->exit_code);
		fprintf(stderr,
		        "xrun: %s %.8s%s%.8s %s (%s) in %.2fs%s%s; "
		        "record %s\n",
		        line->label, o->id, line->of ? " of " : "",
		        line->of ? line->of : "", o->status, how, o->duration_s,
		        line->verdict ? ": " : "",
		        line->verdict ? line->verdict : "", path);
	} else if (r < 0 && o->record_lost)
		fprintf(stderr,
		        "xrun: %s %.8s could not be recorded in full: its "
		        "record %s still reads running\n",
		        line->label, o->id, path);
	else if (r < 0 && log_level >= LOG_NORMAL)
		fprintf(stderr, "xrun: %s %.8s recorded as failed; record %s\n",
		        line->label, o->id, path);
}

int select_runs(Context *ctx, char **args, size_t n_args, const char *sweep,
                const char *what, Record ***ret, size_t *ret_n)
{
	if (context_find_store(ctx, n_args == 0) < 0)
		return 1;
	Record **v = NULL;
	size_t n = 0;
	_cleanup_free_ char *err = NULL;
	int r = runset_select(ctx->store, args, n_args, sweep, &v, &n, &err);
	if (r < 0) {
		log_error("%s", err);
		return 1;
	}
	if (n == 0) {
		records_free(v, n);
		log_error(
		        "no runs to %s in '%s'; run a program with xrun first",
		        what, ctx->store ? ctx->store->runs : "?");
		return 1;
	}
	*ret = v;
	*ret_n = n;
	return 0;
}
