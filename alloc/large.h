/* The large-allocation path: every malloc-family request of at least
 * TIERSHIM_LARGE_MIN bytes. It is one function so that placement (regions,
 * PMD alignment, huge pages, tiers) has a single place to act. It is placed
 * in tiershim's regions (alloc/place.h); when the window cannot take it, the
 * heap (mimalloc, which keeps huge objects in their own segments) serves it. */
#ifndef TS_LARGE_H
#define TS_LARGE_H

#include <stdbool.h>
#include <stddef.h>

#include "alloc/route.h"

/* align: 0 for malloc's natural alignment, else a power of two.
 * Returns NULL (errno ENOMEM) on failure. */
void *ts_large_alloc(size_t size, size_t align, bool zero);

#endif
