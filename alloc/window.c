/* The placement engine's window: its reservation, the two regions, commits,
 * the mapping and zeroing helpers every other part uses, and the engine's
 * figures; see place.h, and place_int.h for the invariants. */
#define _GNU_SOURCE
#include "alloc/place_int.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>

#include "base/meta.h"
#include "base/options.h"
#include "base/prim.h"
#include "base/procfs.h"

#define COMMIT_CHUNK ((size_t)32 << 20)
#define VA_MIN ((size_t)1 << 30)
#define VA_MIN_FRUGAL ((size_t)64 << 20)

uintptr_t ts_place_lo, ts_place_span;

pthread_mutex_t place_lock = PTHREAD_MUTEX_INITIALIZER;
place_region_t place_mid, place_pmd;
bool place_frugal, place_off_mlock;

static enum { P_UNRESERVED, P_ON, P_OFF } place_on;
static const char *place_why = "not used yet";
place_counts_t place_st;
static uintptr_t window_lo, window_len;

#define mid place_mid
#define pmd place_pmd
#define region_of place_region_of

/* ---- mapping helpers (the prim layer; see the invariants) --------------- */

bool place_map_rw(uintptr_t a, size_t len) {
  ts_prim_ptr_t m = ts_prim_mmap((void *)a, len, PROT_READ | PROT_WRITE,
                                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
  if (m.err) return false;
  place_ops->thp_unmapped(a, len);
  place_ops->thp_mapped(a, len);
  place_ops->tier_window_mapped(a, len);
  return true;
}

void place_map_none(uintptr_t a, size_t len) {
  (void)ts_prim_mmap((void *)a, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1, 0);
  place_ops->thp_unmapped(a, len);
}

/* Clears the resident pages of [a, a+len), a piece of a 2 MiB block that
 * another range shares: a page that is not resident reads as zero, and
 * faulting it in only to clear it would add to RSS. */
static void zero_resident(uintptr_t a, size_t len) {
  unsigned char vec[PMD / PAGE];
  if (len == 0) return;
  if (len > PMD || ts_prim_page_size() != PAGE || ts_prim_mincore((void *)a, len, vec) != 0) {
    memset((void *)a, 0, len);
    return;
  }
  for (size_t i = 0, n = len / PAGE; i < n;) {
    size_t j = i;
    while (j < n && (vec[j] & 1)) j++;
    if (j > i) memset((void *)(a + i * PAGE), 0, (j - i) * PAGE);
    i = j + 1;
  }
}

/* Zeroes [a, a+len) whose whole 2 MiB blocks may be dropped: they refault
 * lazily (huge where advised) instead of being faulted in here by memset.
 * MADV_DONTNEED over blocks that hold nothing costs no TLB flush. The
 * partial edges share a block with a neighbour, whose huge page a
 * MADV_DONTNEED there would split: they are cleared in place, all of
 * them where data is expected (dirty), else only what is resident. */
static void zero_blocks(uintptr_t a, size_t len, bool dirty) {
  uintptr_t lo = ts_align_up(a, PMD), hi = (a + len) & ~(uintptr_t)(PMD - 1);
  if (hi <= lo || ts_prim_madvise((void *)lo, hi - lo, MADV_DONTNEED) != 0) {
    if (dirty) memset((void *)a, 0, len);
    else for (uintptr_t p = a; p < a + len; p += PMD) zero_resident(p, (a + len - p) < PMD ? a + len - p : PMD);
    return;
  }
  place_ops->thp_released(lo, hi - lo);
  if (dirty) {
    memset((void *)a, 0, lo - a);
    memset((void *)hi, 0, a + len - hi);
  } else {
    zero_resident(a, lo - a);
    zero_resident(hi, a + len - hi);
  }
}

/* What the grant came from decides the work: fresh and clean memory is
 * zero, NONE parts were mapped afresh by the caller (whole grant), dirty
 * memory holds data, and zapped memory is zero unless the program wrote to
 * it after it gave it back (a use after munmap or free): the same stray
 * write would have faulted without tiershim, so it must not show through. */
uint64_t place_zero_checks, place_pressure_releases;

/* A zapped range may still be pending in the kernel module (lazy release:
 * docs/unmap.md), which would zap it later by address, over the program's
 * new data. Only zapped memory can be pending: dirty memory was never
 * released, NONE and fresh memory is mapped afresh (base/prim.c settles
 * every MAP_FIXED). */
void place_settle_grant(const ts_grant_t *g, uintptr_t a, size_t len) {
  if (g->zapped && place_ops->settle) place_ops->settle(a, len);
}

void place_zero_grant(const ts_grant_t *g, uintptr_t a, size_t len) {
  if (g->unmapped) return;
  if (g->dirty) {
    zero_blocks(a, len, true);
  } else if (g->zapped) {
    __atomic_fetch_add(&place_zero_checks, 1, __ATOMIC_RELAXED);
    zero_blocks(a, len, false);
  }
}

bool place_commit_to(place_region_t *pr, uintptr_t need) {
  if (need <= pr->committed) return true;
  uintptr_t to = ts_align_up(need, place_frugal ? PAGE : COMMIT_CHUNK);
  if (to > pr->r.limit) to = pr->r.limit;
  if (!place_map_rw(pr->committed, to - pr->committed)) return false;
  pr->committed = to;
  return true;
}

/* ---- the window --------------------------------------------------------- */

/* The collapse thread asks before it rebuilds a block: never over pages the
 * program asked to have populated or locked (MAP_POPULATE, MAP_LOCKED,
 * mlock), which must not fault again under its feet. */
static bool block_collapsible(uintptr_t b) {
  place_enter();
  place_region_t *pr = region_of(b);
  ts_range_t piece[PIECES];
  size_t n = ts_region_live_in(&pr->r, b, PMD, piece, PIECES);
  bool ok = n <= PIECES;
  for (size_t i = 0; ok && i < n; i++) ok = !(piece[i].tag & TAG_PINNED);
  place_exit();
  return ok;
}

/* Limits under which kept memory shows: a finite RLIMIT_AS (the
 * reservation itself counts), RLIMIT_DATA (read-write private mappings
 * count), or strict overcommit (Committed_AS). */
static void frugal_detect(uint64_t *as_limit) {
  char text[8];
  *as_limit = ts_prim_rlimit(RLIMIT_AS);
  bool strict = ts_prim_read_file("/proc/sys/vm/overcommit_memory", text, sizeof text) > 0 && text[0] == '2';
  if (*as_limit != UINT64_MAX || ts_prim_rlimit(RLIMIT_DATA) != UINT64_MAX || strict) place_frugal = true;
}

bool place_reserve_locked(void) {
  if (place_on != P_UNRESERVED) return place_on == P_ON;
  place_on = P_OFF;
  if (!ts_config.enable) {
    place_why = "off: TIERSHIM_ENABLE=0";
    return false;
  }
  uint64_t as_limit;
  frugal_detect(&as_limit);
  size_t va = ts_config.va & ~(2 * PMD - 1);
  /* A finite address-space limit: at most a quarter of it, so a program
   * that needs most of its limit for one mapping still gets it. */
  while (as_limit != UINT64_MAX && va > as_limit / 4) va /= 2;
  size_t va_min = place_frugal ? VA_MIN_FRUGAL : VA_MIN;
  ts_prim_ptr_t m = {NULL, ENOMEM};
  /* tiershim's metadata area (meta.h) follows the window: 1/32 of it */
  for (; va >= va_min; va /= 2) {
    m = ts_prim_mmap(NULL, va + va / 32 + PMD, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (m.err == 0) break;
  }
  if (m.err) {
    place_why = "off: cannot reserve address space (RLIMIT_AS?)";
    return false;
  }
  size_t meta = va / 32;
  uintptr_t raw = (uintptr_t)m.addr, base = ts_align_up(raw, PMD), end = base + va + meta;
  if (base > raw) ts_prim_munmap((void *)raw, base - raw);
  if (raw + va + meta + PMD > end) ts_prim_munmap((void *)end, raw + va + meta + PMD - end);
  ts_meta_init(base + va, meta);
  /* Both page-granular: programs split mappings at page granularity (partial
   * munmap, mprotect); the pmd region's alignment is asked per allocation. */
  ts_region_init(&mid.r, base, va / 2, PAGE);
  ts_region_init(&pmd.r, base + va / 2, va / 2, PAGE);
  mid.committed = mid.r.base;
  pmd.committed = pmd.r.base;
  place_ops->thp_window(base, va, block_collapsible);
  window_lo = base;
  window_len = va;
  __atomic_store_n(&ts_place_lo, base, __ATOMIC_RELEASE);
  __atomic_store_n(&ts_place_span, va, __ATOMIC_RELEASE);
  place_on = P_ON;
  place_why = "on";
  return true;
}

/* mid or pmd by length: 2 MiB multiples go to the aligned region. */
int place_alloc_locked(size_t len, size_t align, uint32_t tag, ts_grant_t *g, place_region_t **out) {
  place_region_t *pr = (len % PMD == 0) ? &pmd : &mid;
  int err = ts_region_alloc(&pr->r, len, align, tag, g);
  if (err) return err;
  place_settle_grant(g, g->addr, len);
  if (!place_commit_to(pr, pr->r.top)) {
    ts_region_free(&pr->r, g->addr, len, TS_FREE_NONE); /* conservative: mapped again on reuse */
    return -ENOMEM;
  }
  if (g->reused) place_st.reused++;
  *out = pr;
  return 0;
}

bool place_open_locked(void) { return !place_off_mlock && place_reserve_locked(); }

/* ---- stats, state -------------------------------------------------------- */

const char *ts_place_state(void) { return place_why; }

void ts_place_stats(ts_place_stats_t *o) {
  place_enter();
  *o = (ts_place_stats_t){.state = place_why, .on = place_on == P_ON,
                          .placed_mmaps = place_st.placed_mmaps, .placed_bytes = place_st.placed_bytes,
                          .pmd_aligned = place_st.pmd_aligned, .placed_mallocs = place_st.placed_mallocs,
                          .malloc_fallbacks = place_st.malloc_fallbacks, .mmap_fallbacks = place_st.mmap_fallbacks,
                          .reused = place_st.reused};
  o->regions = (mid.r.top > mid.r.base) + (pmd.r.top > pmd.r.base);
  o->retained_bytes = mid.r.dirty_bytes + pmd.r.dirty_bytes;
  o->region_live_bytes = mid.r.live_bytes + pmd.r.live_bytes;
  o->region_committed_bytes = (mid.committed - mid.r.base) + (pmd.committed - pmd.r.base);
  uintptr_t lo = window_lo, len = window_len;
  place_exit();
  o->zero_checks = __atomic_load_n(&place_zero_checks, __ATOMIC_RELAXED);
  o->pressure_releases = __atomic_load_n(&place_pressure_releases, __ATOMIC_RELAXED);
  o->frugal = place_frugal;
  o->reentered_deferred = __atomic_load_n(&ts_defer_pushed, __ATOMIC_RELAXED);
  o->reentered_refused = __atomic_load_n(&ts_defer_refused, __ATOMIC_RELAXED);
  ts_procfs_window_t w;
  ts_procfs_window(lo, lo + len, &w);
  o->region_rss_bytes = w.rss_bytes;
  o->region_huge_bytes = w.huge_bytes;
  o->vma_count_regions = w.vmas;
}

void ts_place_usage(ts_place_usage_t *u) {
  place_enter();
  *u = (ts_place_usage_t){.malloc_bytes = place_st.malloc_bytes, .malloc_blocks = place_st.malloc_blocks};
  if (place_on == P_ON) {
    u->region_live = mid.r.live_bytes + pmd.r.live_bytes;
    u->retained = mid.r.dirty_bytes + pmd.r.dirty_bytes;
    u->committed = (mid.committed - mid.r.base) + (pmd.committed - pmd.r.base);
  }
  place_exit();
}

int ts_place_committed(uintptr_t r[4]) {
  place_enter();
  int n = 0;
  if (place_on == P_ON) {
    r[0] = mid.r.base, r[1] = mid.committed, r[2] = pmd.r.base, r[3] = pmd.committed;
    n = 2;
  }
  place_exit();
  return n;
}

/* A mapping whose address the kernel chooses, taken under the placement
 * lock once the window exists: while a move holds the lock, the window may
 * have a hole, and the kernel must not put this mapping in it. A signal
 * handler on a thread inside tiershim cannot wait for the lock: a hole its
 * mapping lands in is found taken by the move's re-reservation (FOREIGN). */
ts_prim_ptr_t ts_place_kernel_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off) {
  if (ts_place_span == 0 || (flags & (MAP_FIXED | MAP_FIXED_NOREPLACE)) || ts_reentered())
    return ts_prim_mmap(addr, len, prot, flags, fd, off);
  place_enter();
  ts_prim_ptr_t r = ts_prim_mmap(addr, len, prot, flags, fd, off);
  place_exit();
  return r;
}
