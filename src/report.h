/* The HTML report of runs (xrun report, DESIGN.md §11): one
 * self-contained file, no network (a Content-Security-Policy forbids
 * any), with one inline SVG chart per metric (curves over steps, axes,
 * ticks, legend, hover values), a runs × params × metrics table sorted
 * by a click on a header, each run's provenance and verdict, and the
 * difference of any two runs (diff.c's text, computed here for every
 * pair). Every string from a record is escaped for HTML, and the JSON
 * embedded for the page's script cannot end its <script> element.
 * Nothing here prints or opens files. */
#pragma once

#include <jansson.h>
#include <stddef.h>

#include "diff.h"
#include "metrics.h"
#include "record.h"

typedef struct ReportRun {
	const Record *rec;
	const json_t *annotations; /* annotations.h's document, or NULL */
	const Metrics *metrics;    /* the run's metric stream, or NULL */
} ReportRun;

/* Work done so far of total (the pairwise differences). */
typedef void (*ReportProgressFn)(void *data, size_t done, size_t total);

typedef struct ReportOptions {
	const char *title;     /* NULL: "xrun report" */
	const char *generated; /* when, as text; NULL: not said */
	size_t max_diff_runs;  /* pairwise differences only up to this many
	                          runs (0: none) */
	size_t max_points;     /* points drawn per curve (0: 2000); more are
	                          thinned evenly, the last kept */
	DiffManifestLoader load_manifest; /* for file-level differences */
	void *userdata;
	ReportProgressFn progress;
	void *progress_data;
} ReportOptions;

/* The HTML document of runs (n >= 1). Never fails but for memory. */
int report_render(const ReportRun *runs, size_t n, const ReportOptions *opt,
                  char **ret, size_t *ret_len);

/* s with &, <, >, " and ' as character references, control characters
 * and bytes that are not UTF-8 as \xHH (format_escape's). */
char *report_html_escape(const char *s);
/* JSON text made safe inside <script>: <, >, & and U+2028/U+2029 as
 * \uXXXX escapes (valid JSON, the same value). */
char *report_json_for_script(const char *json);
