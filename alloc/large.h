/* The large-allocation path: every malloc-family request of at least
 * TIERSHIM_LARGE_MIN bytes. It is one function so that placement (regions,
 * PMD alignment, huge pages, tiers) has a single place to act. For now it
 * serves from mimalloc, which keeps huge objects in their own segments. */
#ifndef TS_LARGE_H
#define TS_LARGE_H

#include <stdbool.h>
#include <stddef.h>

#include "alloc/route.h"

/* align: 0 for malloc's natural alignment, else a power of two.
 * Returns NULL (errno ENOMEM) on failure. */
void *ts_large_alloc(size_t size, size_t align, bool zero);

#endif
