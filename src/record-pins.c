#include "config.h"

#include "record-pins.h"

#include "pin.h"
#include "util.h"

const char *pin_role_name(PinRole role)
{
	switch (role) {
	case PIN_WORKSPACE:
		return "workspace";
	case PIN_INPUT:
		return "input";
	case PIN_OUTPUT:
		return "output";
	}
	return "?";
}

static bool is_referenced(const json_t *pinned)
{
	/* --input-ref: "storage": "referenced" (a "referenced": true of
	 * other builds is read the same). */
	const char *storage = json_get_string(pinned, "storage");
	return (storage && streq(storage, "referenced")) ||
	       json_is_true(json_object_get(pinned, "referenced"));
}

static int walk_one(const json_t *pinned, PinRole role, size_t index,
                    bool nested_pin, bool referenced, bool nested, PinFn fn,
                    void *data)
{
	if (!json_is_object(pinned))
		return 0;
	const char *mds = json_get_string(pinned, "manifest");
	unsigned char md[SHA256_LEN];
	if (mds && digest_parse(mds, md) == 0) {
		_cleanup_free_ char *path = json_bytes_decode(
		        json_object_get(pinned, "path"), NULL);
		const char *kind = json_get_string(pinned, "kind");
		PinInfo p = {
		        .role = role,
		        .index = index,
		        .pinned = pinned,
		        .path = path ? path : (char *)"?",
		        .single = kind && streq(kind, "file"),
		        .referenced = referenced || is_referenced(pinned),
		        .nested = nested_pin,
		};
		memcpy(p.manifest, md, SHA256_LEN);
		int r = fn(&p, data);
		if (r < 0)
			return r;
	}
	if (!nested)
		return 0;
	/* Trees a pin carries (an output's before tree): any member that
	 * is itself an object with a manifest. */
	const char *key;
	const json_t *v;
	json_object_foreach ((json_t *)pinned, key, v) {
		if (!json_is_object(v))
			continue;
		int r = walk_one(v, role, index, true, false, nested, fn, data);
		if (r < 0)
			return r;
	}
	return 0;
}

int pins_walk(const Record *rec, bool nested, PinFn fn, void *data)
{
	const json_t *ws = json_get_path(rec->root, "source.workspace");
	int r = walk_one(ws, PIN_WORKSPACE, 0, false, false, nested, fn, data);
	if (r < 0)
		return r;
	static const struct {
		const char *key;
		PinRole role;
	} lists[] = {{"inputs", PIN_INPUT}, {"outputs", PIN_OUTPUT}};
	for (size_t k = 0; k < ELEMENTSOF(lists); k++) {
		const json_t *a = json_object_get(rec->root, lists[k].key);
		size_t i;
		const json_t *v;
		json_array_foreach (a, i, v) {
			r = walk_one(v, lists[k].role, i, false, false, nested,
			             fn, data);
			if (r < 0)
				return r;
		}
	}
	return 0;
}

int pins_load_from_store(void *store, const unsigned char md[SHA256_LEN],
                         Manifest **ret)
{
	return manifest_load(store, md, ret);
}

int pins_files(const PinInfo *pin, const Manifest *m, PinFileFn fn, void *data)
{
	for (size_t i = 0; i < m->n; i++) {
		const ManifestEntry *e = &m->entries[i];
		if (e->kind != ENTRY_FILE)
			continue;
		_cleanup_free_ char *path =
		        pin->single ? xstrdup(pin->path)
		                    : path_join(pin->path, e->path);
		int r = fn(pin, path, e->digest, e->size, data);
		if (r < 0)
			return r;
	}
	return 0;
}
