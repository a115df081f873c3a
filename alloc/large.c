/* The large-allocation path; see large.h. */
#include "alloc/large.h"

#include <stdint.h>

#include <mimalloc.h>

#include "base/counters.h"
#include "alloc/place.h"

/* Placed in tiershim's regions; when the window cannot take it (full, or
 * no address space could be reserved) the heap serves it instead. */
void *ts_large_alloc(size_t size, size_t align, bool zero) {
  void *p = ts_place_malloc(size, align, zero);
  if (p == NULL) {
    if (align == 0) p = zero ? mi_zalloc(size) : mi_malloc(size);
    else p = zero ? mi_zalloc_aligned(size, align) : mi_malloc_aligned(size, align);
  }
  if (p != NULL) ts_count(TS_CTR_LARGE);
  return p;
}
