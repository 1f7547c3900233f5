/* A metric stream as a program writes it to $XRUN_METRICS (runs/<id>/
 * metrics.jsonl, untrusted): each line parsed and shown as xrun metrics
 * shows it, then a report drawn from it (charts with any values and
 * steps), the input also as a param and a name. The report must keep
 * its own two script elements and no other, whatever the input. */
#include "config.h"

#include <stdint.h>

#include "metrics.h"
#include "report.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data, *end = p + size;
	_cleanup_metrics_ Metrics *m = metrics_new();
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl ? (size_t)(nl - p) + 1 : (size_t)(end - p);
		(void)metrics_add_line(m, p, n);
		free(metrics_line_text(p, n));
		p += n;
	}
	json_t *root = json_pack("{s:s,s:s,s:s,s:{s:o},s:o}", "schema",
	                         "xrun/run-record/1", "id", "fuzz", "status",
	                         "succeeded", "params", "p",
	                         json_bytes((const char *)data, size), "name",
	                         json_bytes((const char *)data, size));
	if (!root)
		abort();
	Record *r = record_new(root, "/nonexistent/run");
	ReportRun runs[2] = {{r, NULL, m}, {r, NULL, NULL}};
	ReportOptions opt = {.max_diff_runs = 2, .max_points = 50};
	_cleanup_free_ char *html = NULL;
	if (report_render(runs, 2, &opt, &html, NULL) < 0)
		abort();
	size_t scripts = 0;
	for (const char *s = html; (s = strstr(s, "<script")); s++)
		scripts++;
	if (scripts != 2)
		abort();
	record_free(r);
	return 0;
}
