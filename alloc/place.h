/* The placement engine: tiershim's address-space regions.
 *
 * One PROT_NONE reservation (TIERSHIM_VA, 64 GiB of address space, no
 * memory) split in two regions that never mix:
 *   mid: sizes that are not 2 MiB multiples, packed back to back at page
 *        granularity, so neighbours share huge pages and their VMAs merge;
 *   pmd: 2 MiB multiples at 2 MiB-aligned addresses, back to back.
 * Both serve the large-allocation path and the program's anonymous private
 * mmap calls. Only tiershim's own reservation is ever mapped over with
 * MAP_FIXED. munmap, mremap, mprotect and madvise on placed ranges behave
 * for the caller as the kernel's own would; freed malloc blocks are kept
 * mapped for reuse (retained) up to TIERSHIM_RETAIN_MAX and released to the
 * OS in batches beyond it (alloc/place_release.c).
 *
 * Lock order: the placement lock comes first, before the counters lock and
 * the bootstrap lock (see shim/fork.c). */
#ifndef TS_PLACE_H
#define TS_PLACE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/prim.h"

/* The window, for the free fast path: span is 0 until it is reserved.
 * Hidden, so the fast path reads them at a link-time offset, not through
 * the GOT (two instructions fewer in free). */
extern uintptr_t ts_place_lo __attribute__((visibility("hidden")));
extern uintptr_t ts_place_span __attribute__((visibility("hidden")));

static inline bool ts_place_owns(const void *p) {
  return (uintptr_t)p - ts_place_lo < ts_place_span;
}

/* ---- the large-allocation path ---------------------------------------- */

/* NULL when the request cannot be placed (window full or unavailable): the
 * caller falls back to the heap. */
void *ts_place_malloc(size_t size, size_t align, bool zero);
void ts_place_free(void *p);                 /* p: ts_place_owns(p) */
size_t ts_place_usable(const void *p);       /* 0 if p is not a block */
/* Resizes block p (in place when the neighbour is free); NULL if the block
 * must move and the window has no room (p is then untouched). */
void *ts_place_realloc(void *p, size_t size);

/* ---- the mmap family ------------------------------------------------ */

/* Does an mmap call qualify for placement? */
bool ts_place_mmap_wanted(void *addr, size_t len, int prot, int flags, int fd, off_t off);
/* A placed mmap, or MAP_FAILED with errno set, or NULL: not placed (pass
 * the call through). */
void *ts_place_mmap(size_t len, int prot, int flags);

/* Does [addr, addr+len) touch the window? A range that wraps past the top
 * of the address space reaches everything above addr. */
static inline bool ts_place_touches(const void *addr, size_t len) {
  uintptr_t a = (uintptr_t)addr, end = a + len < a ? UINTPTR_MAX : a + len;
  return ts_place_span != 0 && a < ts_place_lo + ts_place_span && end > ts_place_lo;
}

/* A hint or MAP_FIXED_NOREPLACE into the window: the mapping, MAP_FAILED
 * (errno set), or NULL to pass the call through. */
void *ts_place_mmap_at(void *addr, size_t len, int prot, int flags, int fd, off_t off);
/* A kernel-placed mmap (no MAP_FIXED), kept out of transient holes in the
 * window (see window.c). */
ts_prim_ptr_t ts_place_kernel_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off);
/* Calls on a range touching the window, validated whole as the kernel
 * validates them (base/kargs.h): 0 or -errno. */
int ts_place_munmap(void *addr, size_t len);
/* A program's MAP_FIXED mmap landed in the window (result: its address). */
void ts_place_adopt(void *addr, size_t len, int prot);
/* mremap where the old range or a MREMAP_FIXED target touches the window. */
void *ts_place_mremap(void *old, size_t old_len, size_t new_len, int flags, void *new_addr);
/* mprotect (pkey -1) or pkey_mprotect, madvise, mlock/mlock2/munlock and
 * mbind of a range touching the window: 0 or -errno, with the kernel's
 * rules for unmapped holes. VMA changes taint the ranges (place_int.h). */
int ts_place_mprotect(void *addr, size_t len, int prot, int pkey);
int ts_place_madvise(void *addr, size_t len, int advice);
int ts_place_mlock(void *addr, size_t len, unsigned flags, bool unlock);
long ts_place_mbind(void *addr, unsigned long len, int mode, const unsigned long *mask, unsigned long maxnode,
                    unsigned flags);
int ts_place_mlockall(int flags); /* the kernel's, then the window's own memory unlocked */
int ts_place_munlockall(void);

/* A call for len bytes failed with ENOMEM: give back what the window keeps
 * (retained and committed memory; under RLIMIT_AS the reservation's unused
 * top) and stay frugal if a limit is set now. True if anything went back
 * (the caller retries once). */
bool ts_place_pressure(size_t len);

/* ---- signal handlers on a thread inside tiershim (place_defer.c) ------ */

/* The kernel's own calls; what the records must learn is queued. */
int ts_place_reentered_munmap(void *addr, size_t len); /* 0 or -errno */
ts_prim_ptr_t ts_place_reentered_mmap_fixed(void *addr, size_t len, int prot, int flags, int fd, off_t off);
ts_prim_ptr_t ts_place_reentered_mremap(void *old, size_t old_len, size_t new_len, int flags, void *new_addr);
/* r: the result of the kernel's call that changed VMA flags over the range */
int ts_place_reentered_taint(uintptr_t addr, size_t len, int r);
void ts_place_defer_init(void); /* at init: the drain's hook */

/* ---- stats, fork --------------------------------------------------------- */


const char *ts_place_state(void); /* "on", "off: why" */

/* The engine's own part of the "placement" object of the stats
 * (docs/stats.md; observe/stats.c adds the THP and unmap figures). */
typedef struct ts_place_stats_s {
  const char *state; /* as ts_place_state */
  bool on;           /* the window exists and is in use */
  uint64_t placed_mmaps, placed_bytes, pmd_aligned, placed_mallocs, malloc_fallbacks, mmap_fallbacks;
  uint64_t regions, vma_count_regions, retained_bytes, reused;
  uint64_t region_rss_bytes, region_huge_bytes, region_live_bytes, region_committed_bytes;
  uint64_t zero_checks, pressure_releases, frugal, reentered_deferred, reentered_refused;
} ts_place_stats_t;
/* Counters and region figures under the lock, then the window's VMAs, RSS
 * and huge pages from smaps. */
void ts_place_stats(ts_place_stats_t *o);

void ts_place_lock(void);   /* fork prepare */
void ts_place_unlock(void); /* fork parent */
void ts_place_fork_child(void);

/* Byte figures for mallinfo/mallinfo2 (shim/mallinfo.c): cheap, one lock. */
typedef struct ts_place_usage_s {
  size_t malloc_bytes, malloc_blocks; /* live placed malloc-family blocks */
  size_t region_live;                 /* everything live in the regions */
  size_t retained;                    /* freed and kept mapped (reused first) */
  size_t committed;                   /* the regions' read-write part */
} ts_place_usage_t;
void ts_place_usage(ts_place_usage_t *u); /* all zero before the window exists */

/* The regions' committed ranges, as lo/hi pairs into r; returns how many
 * (0 before the window exists). For the stats' residency samples. */
int ts_place_committed(uintptr_t r[4]);

#endif
