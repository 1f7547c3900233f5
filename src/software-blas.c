#include "config.h"

#include "software.h"
#include "capture-software-internal.h"

#include "util.h"

/* ---- BLAS and LAPACK ---- */

char *software_blas_implementation(const char *path)
{
	_cleanup_free_ char *dir = dirname_of(path);
	const char *d = basename_of(dir);
	if (streq(d, "blas") || streq(d, "lapack"))
		return xstrdup("reference");
	if (!streq(d, MULTIARCH) && !streq(d, "lib") && !streq(d, "lib64") &&
	    *d && !streq(d, "/"))
		return xstrdup(d); /* openblas-pthread, blis-openmp, atlas… */
	const char *f = basename_of(path);
	if (startswith(f, "lib"))
		f += 3;
	return xstrndup(f, strcspn(f, "."));
}

void alt_init(Alt *a, const char *lib, const char *section)
{
	*a = (Alt){.lib = lib, .section = section};
	a->alt_link = xasprintf("/etc/alternatives/%s.so.3-" MULTIARCH, lib);
	a->ma_link = xasprintf("/usr/lib/" MULTIARCH "/%s.so.3", lib);
	a->alt = readlink_malloc(a->alt_link);
	a->link = readlink_malloc(a->ma_link);
	key_of(a->ma_link, &a->key);
	if (streq(a->key.s, "-"))
		key_of(a->alt_link, &a->key);
	a->exists = !streq(a->key.s, "-");
}

void alt_done(Alt *a)
{
	free(a->alt_link);
	free(a->ma_link);
	free(a->alt);
	free(a->link);
}

static bool str_or_null_matches(const char *s, const json_t *j)
{
	return s ? str_matches(s, j) : json_is_null(j);
}

bool alt_cache_valid(const json_t *cached, const Alt *a)
{
	const json_t *e =
	        json_object_get(json_object_get(cached, "alts"), a->lib);
	const json_t *sec =
	        json_object_get(json_object_get(cached, "section"), a->section);
	if (!a->exists)
		return json_is_null(e) && json_is_null(sec);
	return json_is_object(e) && json_is_object(sec) &&
	       json_get_string(sec, "path") &&
	       key_matches(&a->key, json_object_get(e, "key")) &&
	       str_or_null_matches(a->alt, json_object_get(e, "alternative")) &&
	       str_or_null_matches(a->link, json_object_get(e, "link"));
}

json_t *capture_alternative(Ctx *c, const Alt *a, const json_t *cached,
                            json_t *cache_out)
{
	json_t *alts = json_object_get(cache_out, "alts");
	if (!a->exists) {
		json_object_set_new(alts, a->lib, json_null());
		return json_null();
	}
	const json_t *sec =
	        json_object_get(json_object_get(cached, "section"), a->section);
	_cleanup_free_ char *real = NULL;
	json_t *pkg = NULL, *ver = NULL;
	if (alt_cache_valid(cached, a)) {
		real = xstrdup(json_get_string(sec, "path"));
		if (str_matches(c->dpkg_key, json_object_get(cached, "dpkg")) &&
		    json_object_get(sec, "package") &&
		    json_object_get(sec, "package_version")) {
			pkg = json_incref(json_object_get(sec, "package"));
			ver = json_incref(
			        json_object_get(sec, "package_version"));
		}
	} else {
		real = realpath(a->ma_link, NULL);
		if (!real)
			real = realpath(a->alt_link, NULL);
		if (!real) {
			json_object_set_new(alts, a->lib, json_null());
			return json_null();
		}
	}
	if (!pkg) {
		_cleanup_free_ char *p = NULL, *v = NULL;
		package_of(c, a->alt ? a->alt : real, &p, &v);
		if (!p)
			package_of(c, real, &p, &v);
		pkg = json_string_or_null(p);
		ver = json_string_or_null(v);
	}
	_cleanup_free_ char *impl =
	        software_blas_implementation(a->alt ? a->alt : real);
	json_object_set_new(alts, a->lib,
	                    json_pack("{s:o,s:o,s:s}", "alternative",
	                              json_string_or_null(a->alt), "link",
	                              json_string_or_null(a->link), "key",
	                              a->key.s));
	return json_pack("{s:o,s:o,s:s,s:o,s:o}", "alternative",
	                 json_string_or_null(a->alt), "path", json_bstr(real),
	                 "implementation", impl, "package", pkg,
	                 "package_version", ver);
}
