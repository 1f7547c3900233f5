/* The bundle reader (xrun import), whose input is a file from anywhere.
 * Whatever the bytes: a refusal comes with a message and leaves nothing
 * behind in the store's tmp/; an import lands runs whose records load
 * and whose every object verifies. The runs are removed again after
 * each input, so that every input meets the same empty store. */
#include "config.h"

#include <dirent.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "bundle.h"
#include "pin.h"
#include "refs.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static Store *store;
static char root[] = "/tmp/xrun-fuzz-bundle.XXXXXX";

static void cleanup(void)
{
	store_free(store);
	(void)remove_tree(root);
}

static bool tmp_clean(void)
{
	DIR *d = opendir(store->tmp);
	if (!d)
		return true;
	bool clean = true;
	struct dirent *de;
	while ((de = readdir(d)))
		if (startswith(de->d_name, STORE_TEMP_PREFIX))
			clean = false;
	closedir(d);
	return clean;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!store) {
		if (!mkdtemp(root) || store_open(root, true, &store, NULL) < 0)
			abort();
		atexit(cleanup);
	}
	int fd = memfd_create("bundle", MFD_CLOEXEC);
	if (fd < 0 || write_all(fd, data, size) < 0 ||
	    lseek(fd, 0, SEEK_SET) < 0)
		abort();
	BundleImport res;
	char *err = NULL;
	int r = bundle_import(store, fd, &res, &err);
	close(fd);
	if (r < 0 && !err)
		abort(); /* a refusal always says why */
	if (!tmp_clean())
		abort(); /* the staging directory stays behind */
	for (char **id = res.imported; id && *id; id++) {
		_cleanup_free_ char *p =
		        xasprintf("%s/%s/record.json", store->runs, *id);
		Record *rec = NULL;
		if (record_load(p, &rec, NULL) < 0)
			abort(); /* imported, yet unreadable */
		RefSet *set = ref_set_new();
		ref_set_add_record(set, store, rec);
		for (size_t i = 0; i < set->n; i++) {
			int state = 0;
			objects_verify(
			        store,
			        (const unsigned char(*)[SHA256_LEN])set->refs[i]
			                .md,
			        1, &state, NULL);
			if (state == -EBADMSG)
				abort(); /* imported with a bad object */
		}
		ref_set_free(set);
		record_free(rec);
		(void)store_remove_run(store, *id);
	}
	bundle_import_done(&res);
	free(err);
	return 0;
}
