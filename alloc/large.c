/* The large-allocation path; see large.h. */
#include "large.h"

#include <stdint.h>

#include <mimalloc.h>

#include "counters.h"

void *ts_large_alloc(size_t size, size_t align, bool zero) {
  void *p;
  if (align == 0) p = zero ? mi_zalloc(size) : mi_malloc(size);
  else p = zero ? mi_zalloc_aligned(size, align) : mi_malloc_aligned(size, align);
  if (p != NULL) ts_count(TS_CTR_LARGE);
  return p;
}
