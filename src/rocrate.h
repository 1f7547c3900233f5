/* The RO-Crate of a bundle (RO-Crate 1.1 with the Process Run Crate
 * profile 0.5): each run a CreateAction whose instrument is its program,
 * object its workspace and inputs, result its outputs, with its start
 * and end times and status; each file an entity named by its object's
 * place in the bundle (objects/sha256/…), with its original path as
 * alternateName, its size and sha256; a directory a Collection of its
 * files. An output of one run read by another is one entity, the
 * result of the first and object of the second. */
#pragma once

#include <jansson.h>

#include "record-pins.h"

#define ROCRATE_PROFILE "https://w3id.org/ro/wfrun/process/0.5"

/* recs sorted by id; load gives the manifests. -errno when a manifest
 * cannot be loaded. */
int rocrate_describe(Record *const *recs, size_t n, ManifestLoadFn load,
                     void *data, json_t **ret);
