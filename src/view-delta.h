#pragma once

#include "manifest.h"
#include "store.h"

/* A delta view: the entries of tree m that differ from tree prev (a
 * file changed, added, or whose mode changed; a link changed; a
 * directory added or whose mode changed), the directories above them,
 * and an overlayfs whiteout (a 0/0 character device) for each entry
 * prev has and m has not; laid over the view of prev, it reads as m.
 * Made at dest (which must not exist). -E2BIG when more than an eighth
 * of m's entries differ (a full view is cheaper to read); -errno. */
int view_delta_make(const Store *s, const Manifest *m, const Manifest *prev,
                    const char *dest, size_t *ret_changes);
