/* The metric stream a run appends to $XRUN_METRICS (runs/<id>/
 * metrics.jsonl): one JSON object per line, each numeric member a metric
 * value. The step of a value is the line's "step" member when it is a
 * number, else the count of that metric's earlier values (0, 1, 2, …).
 * Lines that are not JSON objects are counted, not fatal: the program
 * wrote them, and a record must not fail for them. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct MetricSeries {
	char *name;
	double *step, *value;
	size_t n, cap;
} MetricSeries;

typedef struct Metrics {
	MetricSeries *series; /* in the order of their first value */
	size_t n;
	size_t lines, malformed;
	bool truncated; /* the file was larger than the limit: its head */
} Metrics;

Metrics *metrics_new(void);
Metrics *metrics_free(Metrics *m);
static inline void metrics_freep(Metrics **m)
{
	metrics_free(*m);
}
#define _cleanup_metrics_ __attribute__((cleanup(metrics_freep)))

/* Add one line (without or with its newline) to m. Returns 1 when it
 * was a JSON object, 0 for a blank line, -EBADMSG for anything else
 * (counted in m->malformed). */
int metrics_add_line(Metrics *m, const char *line, size_t len);
/* Read path (O_NOFOLLOW) into a new Metrics; at most max bytes (the rest
 * is left out and m->truncated set). A missing file is a run without
 * metrics: an empty Metrics. */
int metrics_load(const char *path, size_t max, Metrics **ret);
const MetricSeries *metrics_find(const Metrics *m, const char *name);

/* One line of the stream as "step=3 loss=0.25 acc=0.9": the step first
 * when there is one, then the members in their order; strings quoted
 * as JSON, reals in their shortest form. NULL when the line is not a
 * JSON object. */
char *metrics_line_text(const char *line, size_t len);
