/* The manifest parser, whose input comes from a store other users may
 * write. A manifest it accepts is canonical: formatting it again gives
 * back the very same bytes, and every entry can be found. */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>

#include "manifest.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	_cleanup_manifest_ Manifest *m = NULL;
	size_t line = 0;
	if (manifest_parse((const char *)data, size, &m, &line) < 0)
		return 0;
	_cleanup_free_ char *text = NULL;
	size_t len = 0;
	if (manifest_format(m, &text, &len) < 0)
		abort();
	if (len != size || memcmp(text, data, size) != 0)
		abort(); /* accepted but not canonical */
	for (size_t i = 0; i < m->n; i++) {
		if (!manifest_path_valid(m->entries[i].path))
			abort();
		if (manifest_find(m, m->entries[i].path) != &m->entries[i])
			abort();
	}
	(void)manifest_files(m);
	(void)manifest_bytes(m);
	return 0;
}
