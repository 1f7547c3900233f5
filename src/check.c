/* The factors `xrun check` varies, as changes to a replay's RunSpec, and
 * the comparison of two replays (check.h). */
#include "config.h"

#include "check.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <locale.h>
#include <stdarg.h>
#include <stdio.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "capture.h"
#include "hash.h"
#include "replay.h"
#include "util.h"

const CheckFactor check_factors[] = {
        {"threads", "CPUs and thread variables: 1 against the original's count",
         "run with --deterministic, or set OMP_NUM_THREADS (and "
         "OPENBLAS_NUM_THREADS, MKL_NUM_THREADS) with -e"},
        {"cpu-features",
         "the SIMD kernels numerical libraries dispatch to (OpenBLAS, "
         "NumPy, MKL, PyTorch)",
         "pin the kernels: -e OPENBLAS_CORETYPE=..., -e "
         "NPY_DISABLE_CPU_FEATURES=..., -e MKL_CBWR=COMPATIBLE"},
        {"aslr", "address space randomization off against on",
         "do not order, hash or name anything by memory addresses (id(), "
         "pointer values)"},
        {"hashseed", "PYTHONHASHSEED changed",
         "sort sets and dict keys before iterating them, or keep "
         "PYTHONHASHSEED fixed (-e PYTHONHASHSEED=0)"},
        {"env-order", "the environment's variables in reverse order",
         "do not iterate os.environ into outputs"},
        {"locale", "another locale (LC_ALL)",
         "set the locale: -e LC_ALL=C.UTF-8, or format numbers and dates "
         "without it"},
        {"timezone", "another time zone (TZ)",
         "run with --deterministic (TZ=UTC), or -e TZ=UTC"},
        {"time", "the clock moved 40 days ahead (libfaketime)",
         "do not write the time into outputs; seed from $XRUN_SEED, not "
         "the clock"},
        {"hostname", "another host name in the sandbox",
         "do not write the host name into outputs"},
        {"umask", "another umask",
         "set file modes explicitly, not through the umask"},
        {"user", "another uid inside the user namespace",
         "do not write the user id or name into outputs"},
        {"cwd-path", "the workspace at another path",
         "do not write absolute paths into outputs"},
        {"file-order", "directory entries listed in reverse order",
         "sort directory listings (sorted(os.listdir()), sorted(glob))"},
};
const size_t check_n_factors = ELEMENTSOF(check_factors);

const CheckFactor *check_factor_find(const char *name)
{
	for (size_t i = 0; i < check_n_factors; i++)
		if (streq(check_factors[i].name, name))
			return &check_factors[i];
	return NULL;
}

/* NAME=VALUE into env_xrun, over an earlier NAME. */
static void xrun_env_set(RunSpec *spec, const char *name, const char *value)
{
	size_t n = strlen(name);
	for (char **e = spec->env_xrun; e && *e; e++)
		if (strneq(*e, name, n) && (*e)[n] == '=') {
			free(*e);
			*e = xasprintf("%s=%s", name, value);
			return;
		}
	spec->env_xrun = strv_pushf(spec->env_xrun, "%s=%s", name, value);
}

/* The value the program sees for name: xrun's own, else the recorded
 * one. */
static const char *program_env(const RunSpec *spec, const char *name)
{
	const char *v = strv_env_get(spec->env_xrun, name);
	return v ? v : strv_env_get(spec->env_base, name);
}

static int not_tested(char **ret_why, const char *fmt, ...) _printf_(2, 3);
static int not_tested(char **ret_why, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	if (vasprintf(ret_why, fmt, ap) < 0)
		abort();
	va_end(ap);
	return -EOPNOTSUPP;
}

static int vary_threads(RunSpec *spec, char **ret_how, char **ret_why)
{
	cpu_set_t mine, want;
	if (sched_getaffinity(0, sizeof mine, &mine) < 0)
		return not_tested(ret_why,
		                  "cannot read this process's CPUs: %s",
		                  strerror(errno));
	int orig = spec->affinity_count > 0 ? spec->affinity_count
	                                    : CPU_COUNT(&mine);
	int n = orig > 1 ? 1 : 2;
	if (n > CPU_COUNT(&mine))
		return not_tested(ret_why,
		                  "the original used 1 CPU and this machine "
		                  "gives xrun only 1: there is no other "
		                  "thread count to try");
	CPU_ZERO(&want);
	for (int c = 0, k = 0; c < CPU_SETSIZE && k < n; c++)
		if (CPU_ISSET(c, &mine)) {
			CPU_SET(c, &want);
			k++;
		}
	free(spec->affinity_list);
	spec->affinity_list = cpu_list_format(&want);
	spec->affinity_count = n;
	char num[16];
	snprintf(num, sizeof num, "%d", n);
	static const char *const vars[] = {
	        "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"};
	for (size_t i = 0; i < ELEMENTSOF(vars); i++)
		xrun_env_set(spec, vars[i], num);
	*ret_how = xasprintf("%d CPU%s (%s) and OMP_NUM_THREADS, "
	                     "OPENBLAS_NUM_THREADS, MKL_NUM_THREADS=%d, "
	                     "against the original's %d CPU%s",
	                     n, n == 1 ? "" : "s", spec->affinity_list, n, orig,
	                     orig == 1 ? "" : "s");
	return 0;
}

/* Whether the run loaded what dist (a Python distribution) or lib (a
 * library name) stands for: what the tracer saw (DESIGN.md §8) where
 * the record has it, else what the software section names (the Python
 * distributions it could import, the libraries it links, the BLAS). */
static bool loaded(const json_t *root, const char *dist, const char *lib)
{
	json_t *obs = json_object_get(root, "observed");
	if (json_is_object(obs)) {
		_cleanup_free_ char *t = json_dumps(obs, JSON_COMPACT);
		_cleanup_free_ char *q =
		        dist ? xasprintf("\"%s\"", dist) : NULL;
		return t &&
		       ((q && strcasestr(t, q)) || (lib && strcasestr(t, lib)));
	}
	json_t *sw = json_object_get(root, "software");
	size_t i;
	json_t *e;
	if (dist)
		json_array_foreach (json_get_path(sw, "python.distributions"),
		                    i, e) {
			const char *n = json_get_string(e, "name");
			if (n && strcasecmp(n, dist) == 0)
				return true;
		}
	if (!lib)
		return false;
	json_array_foreach (json_object_get(sw, "libraries"), i, e) {
		const char *p = json_get_string(e, "path");
		if (p && strstr(p, lib))
			return true;
	}
	const char *impl =
	        json_get_string(json_object_get(sw, "blas"), "implementation");
	const char *bp = json_get_string(json_object_get(sw, "blas"), "path");
	return (impl && strcasestr(impl, lib)) || (bp && strstr(bp, lib));
}

static int vary_cpu_features(const Record *rec, RunSpec *spec, char **ret_how,
                             char **ret_why)
{
#if defined(__x86_64__)
	static const char *const coretype = "Nehalem";
	static const char *const npy =
	        "SSSE3 SSE41 POPCNT SSE42 AVX F16C FMA3 AVX2 AVX512F "
	        "AVX512CD AVX512_SKX AVX512_CLX AVX512_CNL AVX512_ICL";
#elif defined(__aarch64__)
	static const char *const coretype = "ARMV8";
	static const char *const npy = "ASIMDHP ASIMDDP ASIMDFHM SVE";
#else
	static const char *const coretype = NULL;
	static const char *const npy = NULL;
#endif
	if (!coretype)
		return not_tested(ret_why, "xrun knows no kernel switches for "
		                           "this architecture");
	char **how = NULL;
	if (loaded(rec->root, NULL, "openblas")) {
		xrun_env_set(spec, "OPENBLAS_CORETYPE", coretype);
		how = strv_pushf(how, "OPENBLAS_CORETYPE=%s", coretype);
	}
	if (loaded(rec->root, "numpy", NULL)) {
		xrun_env_set(spec, "NPY_DISABLE_CPU_FEATURES", npy);
		how = strv_pushf(how, "NPY_DISABLE_CPU_FEATURES='%s'", npy);
	}
	if (loaded(rec->root, "mkl", "libmkl")) {
		xrun_env_set(spec, "MKL_CBWR", "COMPATIBLE");
		how = strv_push(how, "MKL_CBWR=COMPATIBLE");
	}
	if (loaded(rec->root, "torch", NULL)) {
		xrun_env_set(spec, "ATEN_CPU_CAPABILITY", "default");
		how = strv_push(how, "ATEN_CPU_CAPABILITY=default");
	}
	if (!how)
		return not_tested(ret_why,
		                  "the record names no library whose kernels "
		                  "xrun can switch (OpenBLAS, NumPy, MKL, "
		                  "PyTorch)");
	size_t len = 1;
	for (char **h = how; *h; h++)
		len += strlen(*h) + 2;
	char *t = xcalloc(1, len);
	for (char **h = how; *h; h++) {
		if (h != how)
			strcat(t, ", ");
		strcat(t, *h);
	}
	strv_free(how);
	if (!json_is_object(json_object_get(rec->root, "observed"))) {
		/* Without the tracer's word, what could be loaded. */
		char *u = xasprintf("%s (for what the run could load: the "
		                    "record does not say what it loaded)",
		                    t);
		free(t);
		t = u;
	}
	*ret_how = t;
	return 0;
}

static int vary_aslr(RunSpec *spec, char **ret_how, char **ret_why)
{
	_cleanup_free_ char *v = NULL;
	if (read_one_line("/proc/sys/kernel/randomize_va_space", &v) == 0 &&
	    streq(v, "0"))
		return not_tested(ret_why,
		                  "address randomization is off on this "
		                  "machine (sysctl kernel.randomize_va_space = "
		                  "0): the replays cannot have it on");
	spec->no_aslr = true;
	*ret_how = xstrdup("address randomization off (personality "
	                   "ADDR_NO_RANDOMIZE), against on");
	return 0;
}

static int vary_hashseed(RunSpec *spec, char **ret_how)
{
	const char *cur = program_env(spec, "PYTHONHASHSEED");
	uint64_t v = spec->seed % 4294967296u;
	if (cur && parse_u64(cur, &v) < 0)
		v = 0;
	uint64_t other = (v + 1) % 4294967296u;
	char num[24];
	snprintf(num, sizeof num, "%" PRIu64, other);
	xrun_env_set(spec, "PYTHONHASHSEED", num);
	*ret_how = xasprintf("PYTHONHASHSEED=%s, against %" PRIu64, num, v);
	return 0;
}

static int vary_env_order(RunSpec *spec, char **ret_how, char **ret_why)
{
	size_t n = strv_length(spec->env_base);
	if (n < 2)
		return not_tested(ret_why, "the recorded environment has fewer "
		                           "than two variables");
	for (size_t i = 0; i < n / 2; i++) {
		char *t = spec->env_base[i];
		spec->env_base[i] = spec->env_base[n - 1 - i];
		spec->env_base[n - 1 - i] = t;
	}
	*ret_how = xasprintf("the %zu recorded variables in reverse order", n);
	return 0;
}

static int vary_locale(RunSpec *spec, char **ret_how, char **ret_why)
{
	static const char *const candidates[] = {
	        "de_DE.UTF-8", "fr_FR.UTF-8", "sv_SE.UTF-8",
	        "tr_TR.UTF-8", "en_US.UTF-8",
	};
	const char *cur = program_env(spec, "LC_ALL");
	if (!cur || !*cur)
		cur = program_env(spec, "LC_NUMERIC");
	if (!cur || !*cur)
		cur = program_env(spec, "LANG");
	for (size_t i = 0; i < ELEMENTSOF(candidates); i++) {
		if (cur && streq(cur, candidates[i]))
			continue;
		locale_t l = newlocale(LC_ALL_MASK, candidates[i], (locale_t)0);
		if (!l)
			continue;
		freelocale(l);
		xrun_env_set(spec, "LC_ALL", candidates[i]);
		*ret_how = xasprintf("LC_ALL=%s, against %s", candidates[i],
		                     cur && *cur ? cur : "C (none set)");
		return 0;
	}
	return not_tested(ret_why,
	                  "no other locale is installed here (locale -a); "
	                  "install Debian's locales-all, or generate one "
	                  "(de_DE.UTF-8) with locale-gen");
}

static int vary_timezone(RunSpec *spec, char **ret_how)
{
	const char *cur = program_env(spec, "TZ");
	const char *tz = "<+1245>-12:45";
	if (cur && streq(cur, tz))
		tz = "<-0930>9:30";
	xrun_env_set(spec, "TZ", tz);
	*ret_how = xasprintf("TZ=%s, against %s", tz,
	                     cur ? cur : "the machine's (TZ unset)");
	return 0;
}

static char *find_faketime(void)
{
	static const char *const dirs[] = {
#ifdef MULTIARCH_TRIPLET
	        "/usr/lib/" MULTIARCH_TRIPLET "/faketime",
#endif
	        "/usr/lib/x86_64-linux-gnu/faketime",
	        "/usr/lib/aarch64-linux-gnu/faketime",
	        "/usr/lib/faketime",
	        "/usr/local/lib/faketime",
	};
	for (size_t i = 0; i < ELEMENTSOF(dirs); i++) {
		/* The thread-safe build: training programs have threads. */
		_cleanup_free_ char *mt =
		        path_join(dirs[i], "libfaketimeMT.so.1");
		if (access(mt, R_OK) == 0)
			return TAKE_PTR(mt);
		_cleanup_free_ char *st =
		        path_join(dirs[i], "libfaketime.so.1");
		if (access(st, R_OK) == 0)
			return TAKE_PTR(st);
	}
	return NULL;
}

/* LD_PRELOAD of an xrun helper library before whatever the record
 * preloads. */
static void preload(RunSpec *spec, const char *lib)
{
	const char *cur = program_env(spec, "LD_PRELOAD");
	_cleanup_free_ char *v =
	        cur && *cur ? xasprintf("%s:%s", lib, cur) : xstrdup(lib);
	xrun_env_set(spec, "LD_PRELOAD", v);
}

static int vary_time(RunSpec *spec, char **ret_how, char **ret_why)
{
	_cleanup_free_ char *lib = find_faketime();
	if (!lib)
		return not_tested(ret_why,
		                  "libfaketime is not installed (Debian's "
		                  "faketime package)");
	preload(spec, lib);
	xrun_env_set(spec, "FAKETIME", "+40d");
	*ret_how = xasprintf("the clock 40 days ahead (LD_PRELOAD=%s, "
	                     "FAKETIME=+40d)",
	                     lib);
	return 0;
}

static int vary_hostname(const Record *rec, RunSpec *spec, char **ret_how)
{
	const char *was = json_get_string(json_object_get(rec->root, "sandbox"),
	                                  "hostname");
	const char *h =
	        was && streq(was, "xrun-check") ? "xrun-check2" : "xrun-check";
	free(spec->hostname);
	spec->hostname = xstrdup(h);
	*ret_how = xasprintf("host name '%s', against '%s'", h,
	                     was ? was : "xrun");
	return 0;
}

static int vary_umask(RunSpec *spec, char **ret_how)
{
	mode_t cur = umask(022);
	umask(cur);
	spec->set_umask = true;
	spec->umask = cur == 077 ? 022 : 077;
	*ret_how = xasprintf("umask %04o, against %04o", (unsigned)spec->umask,
	                     (unsigned)cur);
	return 0;
}

static int vary_user(RunSpec *spec, char **ret_how)
{
	uid_t me = getuid();
	spec->set_inside_uid = true;
	spec->inside_uid = me == 1000 ? 1001 : 1000;
	*ret_how = xasprintf("uid %u inside the sandbox, against %u",
	                     (unsigned)spec->inside_uid, (unsigned)me);
	return 0;
}

static int vary_file_order(RunSpec *spec, const char *helper_dir,
                           char **ret_how, char **ret_why)
{
	_cleanup_free_ char *lib =
	        helper_dir ? path_join(helper_dir, "xrun-disorder.so") : NULL;
	if (!lib || access(lib, R_OK) < 0)
		return not_tested(ret_why,
		                  "xrun's helper xrun-disorder.so is not "
		                  "installed beside xrun, and disorderfs "
		                  "cannot run in the sandbox (no /dev/fuse "
		                  "there, mount(2) is refused)");
	preload(spec, lib);
	/* Seen in the sandbox also where it lies in a /tmp (a build tree)
	 * that the sandbox replaces with its own. */
	spec->ro_binds = strv_push(spec->ro_binds, lib);
	*ret_how =
	        xasprintf("readdir(3) in reverse order (LD_PRELOAD=%s)", lib);
	return 0;
}

int check_factor_apply(const CheckFactor *f, const Record *rec,
                       const char *helper_dir, RunSpec *spec, char **ret_how,
                       char **ret_why)
{
	const char *n = f->name;
	if (streq(n, "threads"))
		return vary_threads(spec, ret_how, ret_why);
	if (streq(n, "cpu-features"))
		return vary_cpu_features(rec, spec, ret_how, ret_why);
	if (streq(n, "aslr"))
		return vary_aslr(spec, ret_how, ret_why);
	if (streq(n, "hashseed"))
		return vary_hashseed(spec, ret_how);
	if (streq(n, "env-order"))
		return vary_env_order(spec, ret_how, ret_why);
	if (streq(n, "locale"))
		return vary_locale(spec, ret_how, ret_why);
	if (streq(n, "timezone"))
		return vary_timezone(spec, ret_how);
	if (streq(n, "time"))
		return vary_time(spec, ret_how, ret_why);
	if (streq(n, "hostname"))
		return vary_hostname(rec, spec, ret_how);
	if (streq(n, "umask"))
		return vary_umask(spec, ret_how);
	if (streq(n, "user"))
		return vary_user(spec, ret_how);
	if (streq(n, "file-order"))
		return vary_file_order(spec, helper_dir, ret_how, ret_why);
	if (streq(n, "cwd-path"))
		return not_tested(
		        ret_why,
		        "a replay materializes the workspace, inputs and "
		        "outputs at their recorded paths, which the "
		        "record's argv, params and environment name; "
		        "moving them means rewriting those, which xrun does "
		        "not do");
	return not_tested(ret_why, "unknown factor");
}

/* ---- comparing two replays ---- */

#define NUMERIC_MAX ((size_t)256 << 20)

static json_t *file_numbers(Store *s, const char *path, const json_t *da,
                            const json_t *db)
{
	unsigned char ma[SHA256_LEN], mb[SHA256_LEN];
	if (!json_is_string(da) || !json_is_string(db) ||
	    digest_parse(json_string_value(da), ma) < 0 ||
	    digest_parse(json_string_value(db), mb) < 0)
		return NULL;
	if (!endswith(path, ".npy") && !endswith(path, ".npz") &&
	    !endswith(path, ".csv") && !endswith(path, ".tsv"))
		return NULL;
	_cleanup_free_ char *a = NULL, *b = NULL;
	size_t na = 0, nb = 0;
	int r = store_object_read(s, ma, NUMERIC_MAX, &a, &na);
	if (r == 0)
		r = store_object_read(s, mb, NUMERIC_MAX, &b, &nb);
	if (r == -EFBIG)
		return json_pack("{s:s}", "note",
		                 "not compared: larger than 256 MiB");
	if (r < 0)
		return json_pack("{s:s}", "note",
		                 "not compared: its object cannot be read");
	return numeric_compare(path, a, na, b, nb);
}

static json_t *exit_of(const Record *r)
{
	json_t *res = json_object_get(r->root, "result");
	return json_pack("{s:O?,s:O?,s:s?}", "exit_code",
	                 json_object_get(res, "exit_code"), "signal",
	                 json_object_get(res, "signal"), "status",
	                 record_status(r));
}

static char *metrics_text(const Record *r)
{
	_cleanup_free_ char *p = path_join(r->dir, "metrics.jsonl");
	char *t = NULL;
	if (read_full_file(p, (size_t)64 << 20, &t, NULL) < 0)
		return xstrdup("");
	return t;
}

json_t *check_compare(Store *s, const Record *a, const Record *b)
{
	json_auto_t *expect = replay_expectation(a);
	json_auto_t *v = replay_verification(s, expect, b->root);
	json_t *out = json_object();
	bool same = true;
	json_auto_t *ea = exit_of(a), *eb = exit_of(b);
	if (!json_equal(ea, eb)) {
		same = false;
		json_object_set_new(out, "exit",
		                    json_pack("{s:O,s:O}", "a", ea, "b", eb));
	}
	bool so = json_is_true(json_get_path(v, "stdout.match"));
	same = same && so;
	json_object_set_new(out, "stdout", json_boolean(so));
	json_t *files = json_array();
	size_t i;
	json_t *f;
	json_array_foreach (json_object_get(v, "files"), i, f) {
		if (json_is_true(json_object_get(f, "match")))
			continue;
		same = false;
		const char *path = json_get_string(f, "path");
		json_t *da = json_object_get(f, "expected");
		json_t *db = json_object_get(f, "actual");
		json_t *e = json_pack("{s:s,s:O,s:O}", "path", path ? path : "",
		                      "a", da, "b", db);
		json_t *num = path ? file_numbers(s, path, da, db) : NULL;
		if (num)
			json_object_set_new(e, "numeric", num);
		json_array_append_new(files, e);
	}
	json_object_set_new(out, "files", files);
	_cleanup_free_ char *ma = metrics_text(a), *mb = metrics_text(b);
	json_t *md = metrics_divergence(ma, mb);
	if (json_array_size(md))
		same = false;
	json_object_set_new(out, "metrics", md);
	json_object_set_new(out, "same", json_boolean(same));
	return out;
}

/* ---- the summaries ---- */

int check_save(const Store *s, const char *id, const json_t *report)
{
	_cleanup_free_ char *dir = path_join(s->root, "checks");
	if (mkdir(dir, 0755) < 0 && errno != EEXIST)
		return negative_errno();
	_cleanup_free_ char *name = xasprintf("%s.json", id);
	_cleanup_free_ char *text = json_dumps_shortest(report, JSON_INDENT(2));
	if (!text)
		return -ENOMEM;
	size_t n = strlen(text);
	text = xrealloc(text, n + 2);
	text[n] = '\n';
	text[n + 1] = 0;
	return write_file_atomic(dir, name, text, n + 1, 0644, true);
}

json_t *check_latest_by_run(const Store *s)
{
	json_t *out = json_object();
	_cleanup_free_ char *dir = path_join(s->root, "checks");
	DIR *d = opendir(dir);
	if (!d)
		return out;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (!endswith(de->d_name, ".json") || de->d_name[0] == '.')
			continue;
		_cleanup_free_ char *p = path_join(dir, de->d_name);
		_cleanup_free_ char *t = NULL;
		if (read_full_file(p, (size_t)16 << 20, &t, NULL) < 0)
			continue;
		json_t *j = json_loads(t, 0, NULL);
		const char *run = json_get_string(j, "run");
		const char *fin = json_get_string(j, "finished");
		if (!run || !fin) {
			json_decref(j);
			continue;
		}
		json_t *old = json_object_get(out, run);
		const char *ofin = json_get_string(old, "finished");
		if (!ofin || strcmp(fin, ofin) > 0)
			json_object_set_new(out, run, j);
		else
			json_decref(j);
	}
	closedir(d);
	return out;
}

char *check_short(const json_t *summary)
{
	const char *status = json_get_string(summary, "status");
	if (status && streq(status, "interrupted"))
		return xstrdup("interrupted");
	if (json_is_false(json_get_path(summary, "baseline.same")))
		return xstrdup("nondeterministic by itself");
	size_t i;
	json_t *f;
	char *names = NULL;
	json_array_foreach (json_object_get(summary, "factors"), i, f) {
		const char *r = json_get_string(f, "result");
		if (!r || !streq(r, "differs"))
			continue;
		char *t = xasprintf(
		        "%s%s%s", names ? names : "", names ? ", " : "",
		        json_get_string(f, "name") ? json_get_string(f, "name")
		                                   : "?");
		free(names);
		names = t;
	}
	if (names) {
		char *t = xasprintf("depends on %s", names);
		free(names);
		return t;
	}
	return xstrdup("deterministic");
}

bool check_preload_failed(const Record *r)
{
	_cleanup_free_ char *p = path_join(r->dir, "stderr");
	_cleanup_free_ char *t = NULL;
	if (read_full_file(p, (size_t)1 << 20, &t, NULL) < 0)
		return false;
	return strstr(t, "ld.so: object '") && strstr(t, "cannot be preloaded");
}
