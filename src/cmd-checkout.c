/* xrun checkout [--force] RUN [PATH] */
#include "config.h"

#include <getopt.h>
#include <inttypes.h>
#include <sys/stat.h>

#include "cmd.h"
#include "format.h"
#include "pin.h"
#include "spec.h"
#include "util.h"

static const char checkout_usage[] =
        "usage: xrun checkout [--force] RUN [PATH]\n"
        "\n"
        "Restore the outputs of RUN (its -o paths, as they were when it "
        "ended)\n"
        "from the store: at their original paths, or with PATH each under\n"
        "PATH by its base name. Files are copies (reflinks where the file\n"
        "system can) with their recorded modes; existing directories are\n"
        "filled in.\n"
        "\n"
        "Options:\n"
        "  -f, --force   overwrite files that exist (default: refuse, "
        "change\n"
        "                nothing)\n";

/* Nothing is written unless everything can be: a file in the way is
 * found before the first write. */
static const char *first_in_way(const Manifest *m, bool single,
                                const char *dest, char **ret_path)
{
	for (size_t i = 0; i < m->n; i++) {
		const ManifestEntry *e = &m->entries[i];
		_cleanup_free_ char *p =
		        single ? xstrdup(dest) : path_join(dest, e->path);
		struct stat st;
		if (lstat(p, &st) < 0)
			continue;
		if (e->kind == ENTRY_DIR && S_ISDIR(st.st_mode))
			continue;
		*ret_path = TAKE_PTR(p);
		return *ret_path;
	}
	return NULL;
}

int cmd_checkout(int argc, char **argv, Context *ctx)
{
	static const struct option opts[] = {
	        {"force", no_argument, NULL, 'f'},
	        {"help", no_argument, NULL, 'h'},
	        {0},
	};
	bool force = false;
	int c;
	while ((c = getopt_long(argc, argv, "fh", opts, NULL)) != -1) {
		switch (c) {
		case 'f':
			force = true;
			break;
		case 'h':
			fputs(checkout_usage, stdout);
			return finish_stdout(0);
		default:
			fputs(checkout_usage, stderr);
			return 2;
		}
	}
	if (argc - optind < 1 || argc - optind > 2) {
		log_error("checkout takes RUN and an optional PATH; see xrun "
		          "checkout --help");
		return 2;
	}
	if (context_find_store(ctx, true) < 0)
		return 2;
	_cleanup_record_ Record *rec = NULL;
	int st = load_run(ctx, argv[optind], &rec);
	if (st)
		return st;
	_cleanup_free_ char *into =
	        argc - optind == 2 ? path_normalize(ctx->cwd, argv[optind + 1])
	                           : NULL;
	const json_t *outs = json_object_get(rec->root, "outputs");
	if (json_array_size(outs) == 0) {
		log_error("run %.8s has no outputs to check out; only -o paths "
		          "are kept",
		          record_id(rec));
		return 1;
	}
	if (into) {
		int r = mkdir_p(into, 0755);
		if (r < 0) {
			log_error_errno(r, "cannot create '%s': %m", into);
			return 1;
		}
	}
	/* Every output is checked before any is written. */
	size_t n = json_array_size(outs);
	_cleanup_free_ Manifest **ms = xcalloc(n + 1, sizeof(Manifest *));
	_cleanup_strv_free_ char **dests = xcalloc(n + 1, sizeof(char *));
	int status = 0;
	for (size_t i = 0; i < n && !status; i++) {
		const json_t *o = json_array_get(outs, i);
		_cleanup_free_ char *path =
		        json_bytes_decode(json_object_get(o, "path"), NULL);
		unsigned char md[SHA256_LEN];
		if (!path || path[0] != '/' ||
		    digest_parse(
		            json_string_value(json_object_get(o, "manifest")),
		            md) < 0) {
			log_error("the record '%s' has a malformed output",
			          rec->path);
			status = 1;
			break;
		}
		const char *base = strrchr(path, '/') + 1;
		dests[i] = into ? path_join(into, base) : xstrdup(path);
		int r = manifest_load(ctx->store, md, &ms[i]);
		if (r < 0) {
			char d[DIGEST_STR_LEN + 1];
			digest_format(md, d);
			log_error_errno(
			        r,
			        "cannot read the manifest %s of '%s': %s; "
			        "see xrun verify",
			        d, path,
			        r == -EBADMSG ? "it is corrupt"
			                      : "it is missing");
			status = 1;
			break;
		}
		bool single = streq(
		        json_string_value(json_object_get(o, "kind")) ?: "",
		        "file");
		_cleanup_free_ char *way = NULL;
		if (!force && first_in_way(ms[i], single, dests[i], &way)) {
			log_error("'%s' exists; pass --force to overwrite it, "
			          "or give a PATH to check out into",
			          way);
			status = 1;
		}
	}
	for (size_t i = 0; i < n && !status; i++) {
		const json_t *o = json_array_get(outs, i);
		bool single = streq(
		        json_string_value(json_object_get(o, "kind")) ?: "",
		        "file");
		_cleanup_free_ char *bad = NULL;
		int r = materialize(ctx->store, ms[i], single, NULL, dests[i],
		                    MATERIALIZE_RESTORE, force, &bad);
		if (r < 0) {
			log_error_errno(r, "cannot check out '%s': %m%s",
			                bad ? bad : dests[i],
			                r == -ENOENT
			                        ? "; an object is missing, "
			                          "see xrun verify"
			                        : "");
			status = 1;
			break;
		}
		_cleanup_free_ char *hb = format_bytes(manifest_bytes(ms[i]));
		log_info("checked out '%s' (%" PRIu64 " file%s, %s) from run "
		         "%.8s",
		         dests[i], manifest_files(ms[i]),
		         manifest_files(ms[i]) == 1 ? "" : "s", hb,
		         record_id(rec));
	}
	for (size_t i = 0; i < n; i++)
		manifest_free(ms[i]);
	return finish_stdout(status);
}
