/* src/report.c, src/metrics.c, src/runtable.c, src/annotations.c: the
 * pieces of report, compare, metrics, tag and note, on records and
 * metric lines built here. */
#include "config.h"

#include "annotations.h"
#include "metrics.h"
#include "report.h"
#include "runtable.h"
#include "tap.h"
#include "util.h"

static size_t count(const char *hay, const char *needle)
{
	size_t n = 0;
	for (const char *p = hay; (p = strstr(p, needle)); p++)
		n++;
	return n;
}

static Record *record(const char *id, const char *params, const char *metrics)
{
	_cleanup_free_ char *text = xasprintf(
	        "{\"schema\": \"xrun/run-record/1\", \"id\": \"%s\","
	        " \"status\": \"succeeded\", \"name\": null, \"tags\": {\"t\": "
	        "\"own\"}, \"times\": {\"created\": "
	        "\"2026-12-07T00:00:00Z\", \"duration\": 1.5},"
	        " \"command\": {\"argv\": [\"train\"], \"cwd\": \"/w\"},"
	        " \"params\": %s, \"result\": {\"metrics\": %s}}",
	        id, params, metrics);
	json_t *root = json_loads(text, 0, NULL);
	return record_new(root, "/nonexistent/run");
}

static void test_escape(void)
{
	_cleanup_free_ char *e =
	        report_html_escape("<script>a & \"b\" 'c'</script>\x1b[31m");
	is_str(e,
	       "&lt;script&gt;a &amp; &quot;b&quot; &#39;c&#39;&lt;/script&gt;"
	       "\\x1b[31m",
	       "html: markup and quotes as references, control characters "
	       "as \\xHH");
	const char *json = "{\"k\":\"</script><!-- \xe2\x80\xa8 \xe2\x80\xa9 "
	                   "&amp;\"}";
	_cleanup_free_ char *s = report_json_for_script(json);
	ok(!strchr(s, '<') && !strchr(s, '>') && !strchr(s, '&'),
	   "json for a script: no <, > or & left");
	ok(!strstr(s, "\xe2\x80\xa8") && strstr(s, "\\u2028") &&
	           strstr(s, "\\u2029"),
	   "json for a script: U+2028 and U+2029 as escapes");
	json_auto_t *a = json_loads(json, 0, NULL);
	json_auto_t *b = json_loads(s, 0, NULL);
	ok(a && b && json_equal(a, b), "... and the same value once parsed");
}

static void test_metrics(void)
{
	_cleanup_metrics_ Metrics *m = metrics_new();
	const char *lines[] = {
	        "{\"step\": 10, \"loss\": 1.0, \"acc\": 0.5}\n",
	        "\n",
	        "not json\n",
	        "{\"step\": 20, \"loss\": 0.5, \"phase\": \"train\"}",
	        "{\"acc\": 0.75}",
	};
	int r[5];
	for (size_t i = 0; i < ELEMENTSOF(lines); i++)
		r[i] = metrics_add_line(m, lines[i], strlen(lines[i]));
	ok(r[0] == 1 && r[1] == 0 && r[2] == -EBADMSG && r[3] == 1 && r[4] == 1,
	   "lines: an object 1, blank 0, anything else -EBADMSG");
	is_int(m->malformed, 1, "the malformed line is counted");
	is_int(m->n, 2, "two series (a string member is no metric)");
	const MetricSeries *loss = metrics_find(m, "loss");
	const MetricSeries *acc = metrics_find(m, "acc");
	ok(loss && loss->n == 2 && loss->step[0] == 10 && loss->step[1] == 20 &&
	           loss->value[1] == 0.5,
	   "loss: at the steps the lines give");
	ok(acc && acc->n == 2 && acc->step[1] == 1,
	   "acc: a line without step is the metric's next index");
	_cleanup_free_ char *t = metrics_line_text(lines[0], strlen(lines[0]));
	is_str(t, "step=10 loss=1 acc=0.5", "a line as text, step first");
	ok(!metrics_line_text("[1]", 3), "an array is no metric line");
}

static void test_table(void)
{
	Record *v[2] = {
	        record("a1", "{\"lr\": 0.1, \"bs\": 32}",
	               "{\"loss\": {\"last\": 0.5}}"),
	        record("b2", "{\"lr\": 0.01, \"bs\": 32, \"x\": true}",
	               "{\"loss\": {\"last\": 0.5}, \"acc\": {\"last\": 1}}"),
	};
	_cleanup_runtable_ RunTable *t = runtable_new(v, 2);
	is_int(t->nparams, 3, "the params of every run");
	ok(streq(t->params[0].key, "bs") && !t->params[0].differs,
	   "bs: the same in both");
	ok(streq(t->params[1].key, "lr") && t->params[1].differs,
	   "lr: differs");
	ok(streq(t->params[2].key, "x") && t->params[2].differs,
	   "x: in one run only, so it differs");
	ok(t->nmetrics == 2 && streq(t->metrics[0].key, "acc") &&
	           t->metrics[0].differs && !t->metrics[1].differs,
	   "metrics: acc differs (one run has none), loss does not");
	record_free(v[0]);
	record_free(v[1]);
}

static void test_render(void)
{
	Record *a = record("aaaaaaaa-1", "{\"lr\": \"</script><script>x\"}",
	                   "{\"loss\": {\"last\": 0.5}}");
	Record *b = record("bbbbbbbb-2", "{\"lr\": 0.2}",
	                   "{\"loss\": {\"last\": 0.7}}");
	_cleanup_metrics_ Metrics *ma = metrics_new(), *mb = metrics_new();
	for (int i = 0; i < 3; i++) {
		_cleanup_free_ char *l = xasprintf(
		        "{\"step\": %d, \"loss\": %g}", i, 1.0 / (i + 1));
		metrics_add_line(ma, l, strlen(l));
		metrics_add_line(mb, l, strlen(l));
	}
	metrics_add_line(mb, "{\"acc\": 1}", 10);
	ReportRun runs[2] = {{a, NULL, ma}, {b, NULL, mb}};
	ReportOptions opt = {.title = "t<i>", .max_diff_runs = 10};
	_cleanup_free_ char *html = NULL;
	size_t len;
	ok(report_render(runs, 2, &opt, &html, &len) == 0 && html &&
	           len == strlen(html),
	   "render two runs");
	is_int(count(html, "<script"), 2,
	       "only the page's two script elements");
	is_int(count(html, "<polyline class=\"curve\""), 3,
	       "loss in both runs, acc in one: three curves");
	is_int(count(html, "data-points=\"3\""), 2, "three points on loss");
	is_int(count(html, "<figure class=\"chart\""), 2, "a chart a metric");
	ok(strstr(html, "<title>t&lt;i&gt;</title>"), "the title escaped");
	ok(strstr(html, "&lt;/script&gt;&lt;script&gt;x"),
	   "a param shown as text");
	ok(strstr(html, "\"0-1\":\""), "the difference of the pair");
	ok(strstr(html, "<span class=\"tag\">t=own</span>"),
	   "the record's own tag");
	record_free(a);
	record_free(b);
}

static void test_annotations(void)
{
	char dir[] = "/tmp/xrun-test-ann.XXXXXX";
	ok(mkdtemp(dir) != NULL, "a run directory");
	json_auto_t *a = NULL;
	ok(annotations_load(dir, &a) == 0 &&
	           json_object_size(json_object_get(a, "tags")) == 0,
	   "no file: no annotations");
	ok(annotation_key_valid("best") && annotation_key_valid("a b") &&
	           !annotation_key_valid("") && !annotation_key_valid("a=b") &&
	           !annotation_key_valid("a\tb") &&
	           !annotation_key_valid("\xff"),
	   "keys: not empty, no '=', no control characters, UTF-8");
	json_auto_t *set = json_pack("{s:s,s:s}", "best", "yes", "t", "new");
	ok(annotations_update(dir, set, NULL, "first", 0) == 0,
	   "set two tags and a note");
	char best[] = "best";
	char *unset[] = {best, NULL};
	ok(annotations_update(dir, NULL, unset, "second", 1000000000) == 0,
	   "remove one, another note");
	json_auto_t *b = NULL;
	ok(annotations_load(dir, &b) == 0, "load");
	ok(!json_object_get(json_object_get(b, "tags"), "best") &&
	           json_array_size(json_object_get(b, "notes")) == 2,
	   "one tag left, two notes");
	is_str(json_get_string(json_array_get(json_object_get(b, "notes"), 1),
	                       "time"),
	       "1970-01-01T00:00:01.000000Z", "a note keeps its time");
	Record *r = record("c", "{}", "{}");
	json_auto_t *eff = annotations_effective_tags(r, b);
	is_str(json_get_string(eff, "t"), "new",
	       "an added tag shows over the record's own");
	ok(annotations_match_tag(r, b, "t=new") &&
	           annotations_match_tag(r, b, "t") &&
	           !annotations_match_tag(r, b, "t=own"),
	   "match KEY=VALUE and KEY");
	json_auto_t *bad = json_pack("{s:s}", "a=b", "v");
	ok(annotations_update(dir, bad, NULL, NULL, 0) == -EINVAL,
	   "a bad key: -EINVAL");
	_cleanup_free_ char *path = path_join(dir, ANNOTATIONS_FILE);
	FILE *f = fopen(path, "we");
	fputs("{\"schema\": \"other\"}", f);
	fclose(f);
	json_t *c = NULL;
	ok(annotations_load(dir, &c) == -EBADMSG, "another document: -EBADMSG");
	ok(annotations_update(dir, set, NULL, NULL, 0) == -EBADMSG,
	   "... and it is not replaced");
	record_free(r);
	unlink(path);
	rmdir(dir);
}

int main(void)
{
	test_escape();
	test_metrics();
	test_table();
	test_render();
	test_annotations();
	return done_testing();
}
