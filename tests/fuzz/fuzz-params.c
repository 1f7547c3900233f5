/* Params as `xrun run` takes them: a --params file (run_spec_load_params,
 * read through a memfd) and -p KEY=VALUE values, then what the runner
 * makes of them (environment names and values). */
#include "config.h"

#include <stdint.h>
#include <sys/mman.h>

#include "spec.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void use_params(const RunSpec *s)
{
	const char *k;
	json_t *v;
	json_object_foreach (s->params, k, v) {
		_cleanup_free_ char *name = param_env_name(k);
		_cleanup_free_ char *val = param_value_to_env(v);
		volatile size_t n = strlen(name) + (val ? strlen(val) : 0);
		(void)n;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* As a --params file. */
	static int fd = -2;
	if (fd == -2)
		fd = memfd_create("params", MFD_CLOEXEC);
	if (fd >= 0 && ftruncate(fd, 0) == 0 &&
	    pwrite(fd, data, size, 0) == (ssize_t)size) {
		char path[64];
		snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
		_cleanup_run_spec_ RunSpec *s = run_spec_new();
		(void)run_spec_add_param(s, "lr=0.1");
		_cleanup_free_ char *err = NULL;
		if (run_spec_load_params(s, path, &err) == 0)
			use_params(s);
	}

	/* As -p values: the text up to the first NUL. */
	_cleanup_free_ char *text = xstrndup((const char *)data, size);
	json_t *v = param_value_parse(text);
	_cleanup_free_ char *env = param_value_to_env(v);
	json_decref(v);
	_cleanup_run_spec_ RunSpec *s = run_spec_new();
	if (run_spec_add_param(s, text) == 0) {
		(void)run_spec_add_param(s, text); /* -EEXIST */
		use_params(s);
	}
	_cleanup_free_ char *kv = xasprintf("k=%s", text);
	if (run_spec_add_param(s, kv) == 0)
		use_params(s);
	return 0;
}
