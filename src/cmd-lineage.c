/* xrun lineage RUN [--json | --dot] */
#include "config.h"

#include "cmd.h"
#include "options.h"
#include "format.h"
#include "lineage.h"
#include "util.h"

enum {
	OPT_JSON = 256,
	OPT_DOT,
};

static const CmdOption lineage_options[] = {
        {OPT_JSON, "json", NULL,
         "the graph as JSON: runs, upstream and downstream edges, each with the files that link them"},
        {OPT_DOT, "dot", NULL, "the graph for Graphviz (dot -Tsvg)"},
        CMD_OPTION_HELP,
        {0},
};

static const CmdSpec lineage_cmd = {
        .name = "lineage",
        .synopsis = "RUN [--json | --dot]",
        .about =
                "The runs whose outputs RUN read, and theirs, up to the first ones\n"
                "(upstream); and the runs that read RUN's outputs, and theirs\n"
                "(downstream). A run read another's output when a file of its\n"
                "inputs or workspace has the digest of a file of that run's outputs\n"
                "and that run had finished when it started: only digests, from this\n"
                "store's records and manifests.\n",
        .options = lineage_options,
};

/* "python3 train.py" or the run's name, escaped for a terminal. */
static char *describe(const json_t *run)
{
	const char *name = json_get_string(run, "name");
	_cleanup_free_ char *argv =
	        format_argv(json_object_get(run, "argv") ?: json_null());
	char *s = name ? xasprintf("%s (%s)", name, argv ? argv : "?")
	               : xstrdup(argv ? argv : "?");
	char *e = format_escape(s);
	free(s);
	return e;
}

static void print_tree(const json_t *g, const json_t *edges, const char *id,
                       bool up, int depth, json_t *shown)
{
	size_t i;
	json_t *e;
	json_array_foreach (edges, i, e) {
		const char *here = json_get_string(e, up ? "to" : "from");
		const char *next = json_get_string(e, up ? "from" : "to");
		if (!streq(here, id))
			continue;
		const json_t *run =
		        json_object_get(json_object_get(g, "runs"), next);
		_cleanup_free_ char *d = describe(run);
		const char *status = json_get_string(run, "status");
		const char *replay = json_get_string(run, "replay_of");
		bool again = json_object_get(shown, next) != NULL;
		printf("%*s%.8s  %s  [%s%s%.8s]%s\n", 2 + 4 * depth, "", next,
		       d, status ? status : "?", replay ? ", replay of " : "",
		       replay ? replay : "", again ? "  (see above)" : "");
		size_t j;
		json_t *f;
		json_array_foreach (json_object_get(e, "files"), j, f) {
			_cleanup_free_ char *out =
			        format_escape(json_get_string(f, "output"));
			_cleanup_free_ char *in =
			        format_escape(json_get_string(f, "input"));
			if (streq(out, in))
				printf("%*s%s '%s'\n", 6 + 4 * depth, "",
				       up ? "read" : "reads", in);
			else if (up)
				printf("%*sread '%s' (its output '%s')\n",
				       6 + 4 * depth, "", in, out);
			else
				printf("%*sreads '%s' (as '%s')\n",
				       6 + 4 * depth, "", out, in);
		}
		if (again)
			continue;
		json_object_set_new(shown, next, json_true());
		print_tree(g, edges, next, up, depth + 1, shown);
	}
}

/* A string inside a dot "…": quotes and backslashes escaped. */
static char *dot_escape(const char *s)
{
	size_t n = strlen(s);
	char *q = xmalloc(2 * n + 1), *p = q;
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			*p++ = '\\';
		*p++ = *s == '\n' ? ' ' : *s;
	}
	*p = 0;
	return q;
}

static int cmp_ids(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void print_dot(const json_t *g, const char *id)
{
	printf("digraph lineage {\n\trankdir=LR;\n\tnode [shape=box];\n");
	const json_t *runs = json_object_get(g, "runs");
	size_t n = json_object_size(runs), i = 0;
	_cleanup_free_ const char **ids = xcalloc(n + 1, sizeof *ids);
	const char *key;
	json_t *v;
	json_object_foreach ((json_t *)runs, key, v)
		ids[i++] = key;
	sort_v(ids, n, sizeof *ids, cmp_ids);
	for (i = 0; i < n; i++) {
		const char *k = ids[i];
		const json_t *run = json_object_get(runs, k);
		_cleanup_free_ char *d = describe(run);
		_cleanup_free_ char *q = dot_escape(d);
		printf("\t\"%.8s\" [label=\"%.8s\\n%s\"%s];\n", k, k, q,
		       streq(k, id) ? ", style=bold" : "");
	}
	static const char *const sides[] = {"upstream", "downstream"};
	for (size_t s = 0; s < 2; s++) {
		json_t *e;
		json_array_foreach (json_object_get(g, sides[s]), i, e) {
			const json_t *files = json_object_get(e, "files");
			const char *in = json_get_string(
			        json_array_get(files, 0), "input");
			const char *base = in ? strrchr(in, '/') : NULL;
			_cleanup_free_ char *q = dot_escape(base ? base + 1
			                                    : in ? in
			                                         : "");
			printf("\t\"%.8s\" -> \"%.8s\" [label=\"%s%s\"];\n",
			       json_get_string(e, "from"),
			       json_get_string(e, "to"), q,
			       json_array_size(files) > 1 ? " ..." : "");
		}
	}
	printf("}\n");
}

int cmd_lineage(int argc, char **argv, Context *ctx)
{
	int mode = 0;
	_cleanup_cmd_parser_ CmdParser opt_parser;
	cmd_parser_init(&opt_parser, &lineage_cmd, argc, argv);
	int c;
	while ((c = cmd_option_next(&opt_parser)) > 0) {
		switch (c) {
		case OPT_JSON:
		case OPT_DOT:
			if (mode && mode != c)
				return cmd_usage_error(
				        &lineage_cmd,
				        "--json and --dot exclude each other");
			mode = c;
			break;
		}
	}
	if (c < 0)
		return opt_parser.status;
	if (argc - optind != 1)
		return cmd_usage_error(&lineage_cmd, "lineage takes one RUN");
	if (context_find_store(ctx, true) < 0)
		return 2;
	_cleanup_record_ Record *rec = NULL;
	if (load_run(ctx, argv[optind], &rec))
		return 2;
	_cleanup_lineage_ Lineage *l = NULL;
	int r = lineage_new(ctx->store, false, &l);
	if (r < 0) {
		log_error_errno(r, "cannot read the runs of '%s': %m",
		                ctx->store->root);
		return 2;
	}
	json_auto_t *g = lineage_graph(l, record_id(rec) ?: "");
	if (!g) {
		log_error("run %.8s is not in the store '%s': lineage links "
		          "the runs of one store",
		          record_id(rec) ?: "?", ctx->store->root);
		return 2;
	}
	const char *id = record_id(rec);
	if (mode == OPT_JSON) {
		if (json_dumpf_shortest(g, stdout, JSON_INDENT(2)) == 0)
			putchar('\n');
	} else if (mode == OPT_DOT)
		print_dot(g, id);
	else {
		const json_t *self =
		        json_object_get(json_object_get(g, "runs"), id);
		_cleanup_free_ char *d = describe(self);
		printf("run %s  %s\n", id, d);
		static const struct {
			const char *key, *title;
			bool up;
		} sides[] = {
		        {"upstream",
		         "upstream (the runs whose outputs it read)", true},
		        {"downstream",
		         "downstream (the runs that read its outputs)", false},
		};
		for (size_t s = 0; s < ELEMENTSOF(sides); s++) {
			const json_t *edges = json_object_get(g, sides[s].key);
			printf("%s:%s\n", sides[s].title,
			       json_array_size(edges) ? "" : " none");
			json_auto_t *shown = json_object();
			print_tree(g, edges, id, sides[s].up, 0, shown);
		}
	}
	return finish_stdout(0);
}

size_t print_parent_runs(Context *ctx, const Record *rec, const char *header,
                         const char *label)
{
	size_t n = 0;
	if (context_find_store(ctx, false) < 0 || !ctx->store)
		return 0;
	_cleanup_lineage_ Lineage *l = NULL;
	if (lineage_new(ctx->store, true, &l) < 0)
		return 0;
	json_auto_t *parents = lineage_parents(l, rec);
	size_t i;
	json_t *p;
	json_array_foreach (parents, i, p) {
		const char *replay = json_get_string(p, "replay_of");
		size_t j;
		json_t *f;
		json_array_foreach (json_object_get(p, "files"), j, f) {
			_cleanup_free_ char *in =
			        format_escape(json_get_string(f, "input"));
			_cleanup_free_ char *out =
			        format_escape(json_get_string(f, "output"));
			_cleanup_free_ char *as =
			        streq(in, out)
			                ? xstrdup("")
			                : xasprintf(" ('%s' there)", out);
			if (n++ == 0 && header)
				printf("%s\n", header);
			printf("%-9s '%s' is an output of run %.8s%s%s%.8s%s\n",
			       label, in, json_get_string(p, "run"), as,
			       replay ? ", a replay of " : "",
			       replay ? replay : "", "");
		}
	}
	return n;
}
