/* The region allocator: bookkeeping for one window of address space that
 * tiershim owns. Pure bookkeeping: no system calls of its own, no locks (the
 * placement layer holds its lock around every call); its record vectors
 * come from base/meta.h.
 *
 * A region hands out granule-aligned ranges (page granularity for the
 * mid-size region, 2 MiB for the PMD region) back to back from its base,
 * best-fit from the ranges freed so far (a block may span adjacent free
 * ranges in different states), else by raising `top`. Everything
 * in [top, limit) is untouched. Free ranges remember their state (below)
 * and are coalesced with neighbours in the same state. Live ranges are kept
 * too: the placement layer must find the range containing any address
 * (partial munmap, mremap, free). */
#ifndef TS_REGION_H
#define TS_REGION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/range.h"

/* The state of a free range, as the OS sees it. */
typedef enum {
  TS_FREE_CLEAN = 0, /* mapped read-write, reads as zero (never used, or released) */
  TS_FREE_DIRTY = 1, /* mapped read-write, may hold old data and resident pages */
  TS_FREE_NONE = 2,  /* PROT_NONE: the program unmapped it; must be mapped again */
  TS_FREE_ZAPPED = 3,/* mapped read-write, released after the program had it: zero unless
                        the program wrote to it since (a stale pointer): check on reuse */
} ts_free_state_t;

typedef struct ts_rvec_s { /* sorted by address, disjoint */
  ts_range_t *v;
  size_t n, cap;
} ts_rvec_t;

typedef struct ts_region_s {
  uintptr_t base, limit, top;
  size_t granule;
  ts_rvec_t live, free;
  size_t live_bytes, dirty_bytes;
} ts_region_t;

/* A grant: where, and what the memory is like. */
typedef struct ts_grant_s {
  uintptr_t addr;
  bool dirty;   /* some of it may hold old data */
  bool unmapped;/* some of it is PROT_NONE (TS_FREE_NONE) */
  bool zapped;  /* some of it is ZAPPED (TS_FREE_ZAPPED) */
  bool fresh;   /* some of it came from above the old top */
  bool reused;  /* some of it came from a free range */
} ts_grant_t;

void ts_region_init(ts_region_t *r, uintptr_t base, size_t cap, size_t granule);
void ts_region_destroy(ts_region_t *r);

/* len: a multiple of the granule; align: a power of two >= granule.
 * 0, or -ENOMEM when neither a free range nor the space above top fits. */
int ts_region_alloc(ts_region_t *r, size_t len, size_t align, uint32_t tag, ts_grant_t *out);

/* Takes exactly [addr, addr+len) if every byte of it is free (or above top).
 * Used to grow a live range in place and to adopt a program's MAP_FIXED.
 * 0, or -EEXIST when some of it is live, or -ENOMEM outside the window. */
int ts_region_alloc_at(ts_region_t *r, uintptr_t addr, size_t len, uint32_t tag, ts_grant_t *out);

/* Frees whatever is live in [addr, addr+len) (granule-aligned), splitting
 * live ranges as munmap does; free space in the range is left alone. The
 * freed bytes take `state`. Returns the bytes that were live. */
size_t ts_region_free(ts_region_t *r, uintptr_t addr, size_t len, ts_free_state_t state);

/* The live pieces inside [addr, addr+len): up to max, clipped to the range,
 * in address order. Returns how many there are (may exceed max). */
size_t ts_region_live_in(const ts_region_t *r, uintptr_t addr, size_t len, ts_range_t *out, size_t max);

/* Resizes the live range that starts at addr to new_len (granule multiple):
 * shrinking frees the tail in `state`; growing takes [end, addr+new_len),
 * which must be free or above top. 0, -EEXIST (not free), -ENOENT (no live
 * range starts at addr), -ENOMEM (outside the window). *out describes the
 * grown part. */
int ts_region_resize(ts_region_t *r, uintptr_t addr, size_t new_len, ts_free_state_t state,
                     ts_grant_t *out);

/* The live range containing addr, or NULL. The pointer is valid until the
 * next call that changes the region. */
const ts_range_t *ts_region_find(const ts_region_t *r, uintptr_t addr);

/* Claims dirty free ranges, largest first, until at least `want` bytes or
 * `max` ranges: they become live under `tag`, so nobody is handed them while
 * the caller releases them to the OS (MADV_DONTNEED) without the lock; the
 * caller then frees them as TS_FREE_CLEAN. Returns the number claimed. */
size_t ts_region_take_dirty(ts_region_t *r, size_t want, uint32_t tag, ts_range_t *out, size_t max);

/* Gives the free parts of [addr, addr+len) whose state is in `from` (a
 * mask of 1 << state) the state `state`, after the caller changed what the
 * OS holds there; live ranges are left alone. */
void ts_region_restate_free(ts_region_t *r, uintptr_t addr, size_t len, unsigned from, ts_free_state_t state);

/* Lowers top over a free range that ends at top, returning the space to
 * the untouched part. Returns the bytes given back. */
size_t ts_region_trim(ts_region_t *r);

static inline bool ts_region_contains(const ts_region_t *r, uintptr_t addr) {
  return addr - r->base < r->limit - r->base;
}

#endif
