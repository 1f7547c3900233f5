/* src/npy.c: numbers in .npy and CSV files compared value by value, and
 * the first step where two metric streams part, on bytes built here. */
#include "config.h"

#include <stdint.h>

#include "check.h"
#include "tap.h"
#include "util.h"

/* A version 1.0 .npy file as NumPy writes it: magic, header length, the
 * dict padded with spaces to a multiple of 64, then the data. */
static size_t make_npy(char *buf, const char *descr, const char *shape,
                       const void *data, size_t n)
{
	char hdr[256];
	int len = snprintf(hdr, sizeof hdr,
	                   "{'descr': '%s', 'fortran_order': False, "
	                   "'shape': %s, }",
	                   descr, shape);
	while ((10 + len + 1) % 64)
		hdr[len++] = ' ';
	hdr[len++] = '\n';
	memcpy(buf, "\x93NUMPY\x01\x00", 8);
	buf[8] = (char)(len & 0xff);
	buf[9] = (char)(len >> 8);
	memcpy(buf + 10, hdr, (size_t)len);
	memcpy(buf + 10 + len, data, n);
	return 10 + (size_t)len + n;
}

static double num(const json_t *j, const char *key)
{
	return json_number_value(json_object_get(j, key));
}

int main(void)
{
	char a[512], b[512];
	double x[] = {1, 2, 3}, y[] = {1, 2, 3.5};
	size_t na = make_npy(a, "<f8", "(3,)", x, sizeof x);
	size_t nb = make_npy(b, "<f8", "(3,)", y, sizeof y);
	json_t *r = numeric_compare("out/w.npy", a, na, b, nb);
	is_int(json_integer_value(json_object_get(r, "values")), 3,
	       ".npy: every value compared");
	is_int(json_integer_value(json_object_get(r, "differing")), 1,
	       ".npy: one differs");
	ok(num(r, "max_abs") == 0.5, ".npy: largest absolute difference 0.5");
	ok(num(r, "max_rel") == 0.5 / 3.5,
	   ".npy: relative to the larger magnitude");
	is_str(json_get_string(r, "where"), "[2]", ".npy: at flat index 2");
	json_decref(r);

	r = numeric_compare("w.npy", a, na, a, na);
	is_int(json_integer_value(json_object_get(r, "differing")), 0,
	       ".npy: the same file: nothing differs");
	ok(json_is_null(json_object_get(r, "max_abs")),
	   ".npy: ... and no largest difference");
	json_decref(r);

	double z[] = {1, 2, 3, 4, 5, 6};
	nb = make_npy(b, "<f8", "(2, 3)", z, sizeof z);
	na = make_npy(a, "<f8", "(3, 2)", z, sizeof z);
	r = numeric_compare("w.npy", a, na, b, nb);
	ok(strstr(json_get_string(r, "note") ?: "", "shapes differ") != NULL,
	   ".npy: other shapes are named, not compared");
	json_decref(r);

	/* Big-endian int32 and float32 */
	unsigned char be1[] = {0, 0, 0, 1, 0, 0, 1, 0};
	unsigned char be2[] = {0, 0, 0, 1, 0, 0, 1, 44};
	na = make_npy(a, ">i4", "(2,)", be1, sizeof be1);
	nb = make_npy(b, ">i4", "(2,)", be2, sizeof be2);
	r = numeric_compare("w.npy", a, na, b, nb);
	ok(num(r, "max_abs") == 44, ".npy: big-endian int32 read (256 vs 300)");
	json_decref(r);
	float f1[] = {1.5f, 2.0f}, f2[] = {1.5f, 2.25f};
	na = make_npy(a, "<f4", "(2,)", f1, sizeof f1);
	nb = make_npy(b, "<f4", "(2,)", f2, sizeof f2);
	r = numeric_compare("w.npy", a, na, b, nb);
	ok(num(r, "max_abs") == 0.25, ".npy: float32 read");
	json_decref(r);

	na = make_npy(a, "<c16", "(1,)", x, 16);
	r = numeric_compare("w.npy", a, na, a, na);
	ok(strstr(json_get_string(r, "note") ?: "", "dtype") != NULL,
	   ".npy: a complex array is named as not compared");
	json_decref(r);
	na = make_npy(a, "<f8", "(3,)", x, sizeof x);
	r = numeric_compare("w.npy", a, na - 8, a, na);
	ok(strstr(json_get_string(r, "note") ?: "", "truncated") != NULL,
	   ".npy: a truncated file is named as such");
	json_decref(r);
	r = numeric_compare("w.npy", "not numpy", 9, a, na);
	ok(json_get_string(r, "note") != NULL, ".npy: garbage is a note");
	json_decref(r);
	ok(numeric_compare("w.bin", a, na, a, na) == NULL,
	   "other files hold no numbers xrun reads");

	const char *c1 = "epoch,loss,name\n1,0.5,a\n2,0.25,b\n";
	const char *c2 = "epoch,loss,name\n1,0.5,a\n2,0.125,c\n";
	r = numeric_compare("m.csv", c1, strlen(c1), c2, strlen(c2));
	is_int(json_integer_value(json_object_get(r, "differing")), 1,
	       "CSV: one number differs");
	ok(num(r, "max_abs") == 0.125, "CSV: by 0.125");
	is_str(json_get_string(r, "where"), "row 3, column 2",
	       "CSV: named by row and column");
	is_int(json_integer_value(json_object_get(r, "text_cells_differing")),
	       1, "CSV: the text cell that differs is counted");
	json_decref(r);
	const char *c3 = "epoch,loss,name\n1,0.5,a\n";
	r = numeric_compare("m.csv", c1, strlen(c1), c3, strlen(c3));
	ok(json_array_size(json_object_get(r, "notes")) == 1,
	   "CSV: a missing row is noted");
	json_decref(r);

	const char *m1 = "{\"step\": 0, \"loss\": 1.0}\n"
	                 "{\"step\": 1, \"loss\": 0.5, \"acc\": 0.25}\n"
	                 "{\"step\": 2, \"loss\": 0.312341}\n";
	const char *m2 = "{\"step\": 0, \"loss\": 1.0}\n"
	                 "{\"step\": 1, \"loss\": 0.5, \"acc\": 0.5}\n"
	                 "{\"step\": 2, \"loss\": 0.312346}\n";
	r = metrics_divergence(m1, m2);
	is_int(json_array_size(r), 2, "metrics: two metrics part");
	json_t *first = json_array_get(r, 0);
	is_str(json_get_string(first, "name"), "acc",
	       "metrics: the earliest first (acc at step 1)");
	json_t *second = json_array_get(r, 1);
	is_int(json_integer_value(json_object_get(second, "step")), 2,
	       "metrics: loss parts at step 2");
	ok(num(second, "a") == 0.312341 && num(second, "b") == 0.312346,
	   "metrics: with both values");
	json_decref(r);
	r = metrics_divergence("{\"x\": 1}\n{\"x\": 2}\n", "{\"x\": 1}\n");
	is_int(json_integer_value(
	               json_object_get(json_array_get(r, 0), "step")),
	       1, "metrics: a stream that ends parts at its index");
	ok(json_is_null(json_object_get(json_array_get(r, 0), "b")),
	   "metrics: ... with null for the ended one");
	json_decref(r);
	r = metrics_divergence(m1, m1);
	is_int(json_array_size(r), 0, "metrics: equal streams do not part");
	json_decref(r);
	return done_testing();
}
