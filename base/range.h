/* Pages, huge-page blocks and address ranges: the one definition of each.
 *
 * tiershim runs on x86-64 and arm64 with 4 KiB base pages (ts_prim_page_size
 * is checked where it matters), so PAGE and PMD are constants: the hot paths
 * must not load them. */
#ifndef TS_RANGE_H
#define TS_RANGE_H

#include <stddef.h>
#include <stdint.h>

#define PAGE ((size_t)4096)
#define PMD ((size_t)2 << 20) /* one PMD-mapped (huge) page */
#define PMD_SHIFT 21

#define ts_likely(x) __builtin_expect(!!(x), 1)
#define ts_unlikely(x) __builtin_expect(!!(x), 0)

/* al: a power of two. */
static inline uintptr_t ts_align_up(uintptr_t a, size_t al) { return (a + al - 1) & ~(uintptr_t)(al - 1); }
static inline uintptr_t ts_align_down(uintptr_t a, size_t al) { return a & ~(uintptr_t)(al - 1); }

/* A range of address space and what is known about it: the records of the
 * placement engine (alloc/region.h) and the vectors the unmap backends
 * release (policy/unmap/batch.h). */
typedef struct ts_range_s {
  uintptr_t addr;
  size_t len;
  uint32_t tag;   /* live: the owner's tag (malloc block, placed mmap, ...) */
  uint8_t state;  /* free: a ts_free_state_t (alloc/region.h) */
} ts_range_t;

#endif
