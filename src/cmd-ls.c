/* xrun ls [--json] [--status S] [--limit N] */
#include "config.h"

#include <getopt.h>

#include "cmd.h"
#include "format.h"
#include "util.h"

static const char ls_usage[] =
        "usage: xrun ls [--json] [--status S] [--limit N]\n"
        "\n"
        "List the store's runs, newest first, one line each.\n"
        "  --status S   only runs with status S (running, succeeded, failed,\n"
        "               killed, timeout, oom, interrupted, abandoned)\n"
        "  --limit N    at most N runs\n"
        "  --json       a JSON array of {id, status, created, duration, name,\n"
        "               argv, record}\n";

int cmd_ls(int argc, char **argv, Context *ctx)
{
	static const struct option opts[] = {
	        {"json", no_argument, NULL, 'j'},
	        {"status", required_argument, NULL, 's'},
	        {"limit", required_argument, NULL, 'l'},
	        {"help", no_argument, NULL, 'h'},
	        {0},
	};
	bool json = false;
	const char *want = NULL;
	uint64_t limit = UINT64_MAX;
	int c;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'j':
			json = true;
			break;
		case 's':
			if (!status_valid(optarg)) {
				log_error("unknown status '%s'; see xrun ls "
				          "--help",
				          optarg);
				return 2;
			}
			want = optarg;
			break;
		case 'l':
			if (parse_u64(optarg, &limit) < 0) {
				log_error("--limit takes a number, not '%s'",
				          optarg);
				return 2;
			}
			break;
		case 'h':
			fputs(ls_usage, stdout);
			return finish_stdout(0);
		default:
			fputs(ls_usage, stderr);
			return 2;
		}
	}
	if (optind != argc) {
		log_error("ls takes no arguments; see xrun ls --help");
		return 2;
	}
	if (context_find_store(ctx, true) < 0)
		return 1;
	Record **v;
	size_t n, bad;
	int r = store_load_all(ctx->store, &v, &n, &bad);
	if (r < 0) {
		log_error_errno(r, "cannot list runs in '%s': %m",
		                ctx->store->runs);
		return 1;
	}
	bool color = want_color(ctx, STDOUT_FILENO);
	json_auto_t *arr = json_array();
	if (!json && n)
		printf("%s%-8s  %-11s  %-19s  %9s  %s%s\n", COLOR_BOLD(color),
		       "ID", "STATUS", "CREATED", "DURATION", "NAME / COMMAND",
		       COLOR_RESET(color));
	uint64_t shown = 0;
	for (size_t i = 0; i < n && shown < limit; i++) {
		const json_t *rec = v[i]->root;
		const char *status = record_status(v[i]);
		if (want && !streq(status, want))
			continue;
		shown++;
		const json_t *dur = json_object_get(
		        json_object_get(rec, "times"), "duration");
		const json_t *argvj = json_object_get(
		        json_object_get(rec, "command"), "argv");
		const char *name = json_get_string(rec, "name");
		if (json) {
			json_array_append_new(
			        arr,
			        json_pack("{s:s,s:s,s:O,s:O,s:O,s:O,s:s}", "id",
			                  record_id(v[i]), "status", status,
			                  "created",
			                  json_object_get(
			                          json_object_get(rec, "times"),
			                          "created")
			                          ?: json_null(),
			                  "duration",
			                  dur ? (json_t *)dur : json_null(),
			                  "name",
			                  name ? json_object_get(rec, "name")
			                       : json_null(),
			                  "argv",
			                  argvj ? (json_t *)argvj : json_null(),
			                  "record", v[i]->path));
			continue;
		}
		_cleanup_free_ char *created =
		        format_local_time(record_created(v[i]));
		_cleanup_free_ char *d =
		        json_is_number(dur)
		                ? format_duration(json_number_value(dur))
		                : xstrdup("-");
		_cleanup_free_ char *cmd = format_argv(argvj);
		printf("%.8s  %s%-11s%s  %-19s  %9s  %s%s%s\n", record_id(v[i]),
		       status_color(status, color), status, COLOR_RESET(color),
		       created ? created : "?", d, name ? name : "",
		       name ? "  " : "", cmd);
	}
	if (json && json_dumpf(arr, stdout, JSON_INDENT(2)) == 0)
		putchar('\n');
	records_free(v, n);
	if (bad)
		log_warn("%zu run%s in '%s' could not be read; xrun show ID "
		         "tells why",
		         bad, bad == 1 ? "" : "s", ctx->store->runs);
	return finish_stdout(0);
}
