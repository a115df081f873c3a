/* The placement engine's grants: the large-allocation path (malloc-family
 * blocks) and the program's placed mmaps; see place.h, and place_int.h for
 * the invariants and the other files. */
#define _GNU_SOURCE
#include "alloc/place_int.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#include "base/options.h"
#include "base/prim.h"

#define mid place_mid
#define pmd place_pmd
#define region_of place_region_of

/* ---- the large-allocation path ---------------------------------------- */

/* Zeroed memory of this size or more may be used sparsely (a calloc'd
 * table, an mmap used as an arena): its whole blocks get no fault-time
 * huge pages, and the collapse thread rebuilds those the program fills.
 * Memory handed out uninitialised is written before it is read, densely;
 * a very large block of it is filled on small pages where huge-page faults
 * cost more (policy/thp_fill.c: a model loading on a reporting VM). */
static bool sparse_candidate(size_t len, bool zero) {
  if (!zero) return place_ops->thp_fill_small(len);
  return ts_config.thp_sparse_min != 0 && len >= ts_config.thp_sparse_min;
}

void *ts_place_malloc(size_t size, size_t align, bool zero) {
  if (size > ((size_t)1 << 46)) return NULL;
  size_t len = ts_align_up(size ? size : 1, PAGE);
  bool sparse = sparse_candidate(len, zero);
  bool probe = !sparse && !zero && place_ops->thp_block_probe(len);
  sparse |= probe;
  place_enter();
  ts_grant_t g;
  place_region_t *pr;
  /* 2 MiB multiples 2 MiB-aligned, as placed mmaps: a hole left by a
   * shrink or a partial munmap must not make one straddle two huge pages */
  size_t al = len % PMD == 0 ? PMD : PAGE;
  if (!place_open_locked() ||
      place_alloc_locked(len, align > al ? align : al, TAG_MALLOC | (sparse ? TAG_SPARSE : 0) | (probe ? TAG_PROBE : 0), &g, &pr) != 0) {
    place_st.malloc_fallbacks++;
    place_exit();
    return NULL;
  }
  if (g.unmapped && !place_map_rw(g.addr, len)) {
    ts_region_free(&pr->r, g.addr, len, TS_FREE_NONE);
    place_st.malloc_fallbacks++;
    place_exit();
    return NULL;
  }
  place_st.placed_mallocs++;
  place_st.malloc_bytes += len;
  place_st.malloc_blocks++;
  place_retain_trade_locked(&g, len);
  place_exit();
  place_ops->tier_granted(g.addr, len);
  if (zero) place_zero_grant(&g, g.addr, ts_align_up(size, PAGE));
  if (!zero) place_ops->thp_block_placed(g.addr, len, probe);
  if (sparse) place_ops->thp_sparse(g.addr, len);
  place_ops->thp_granted(g.addr, len);
  return (void *)g.addr;
}

static const ts_range_t *block_locked(const void *p) {
  const ts_range_t *x = ts_region_find(&region_of((uintptr_t)p)->r, (uintptr_t)p);
  return (x && x->addr == (uintptr_t)p && TAG_KIND(x->tag) == TAG_MALLOC) ? x : NULL;
}

/* Frees block p; anything else in the window (a program bug) is ignored.
 * A block is kept (retained) as it is, unless the program changed its VMA
 * (mprotect, mlock, ...): then it is replaced, as glibc's munmap of a
 * large chunk would drop those flags. */
void ts_place_free(void *p) {
  place_enter();
  const ts_range_t *x = block_locked(p);
  if (x) {
    ts_range_t b = *x;
    place_st.malloc_bytes -= b.len;
    place_st.malloc_blocks--;
    if (b.tag & TAG_TAINTED) {
      place_unmap_piece_locked(region_of(b.addr), b.addr, b.len, b.tag);
    } else {
      place_probe_observe(b.tag, b.addr, b.len);
      if (b.tag & TAG_SPARSE) place_ops->thp_unsparse(b.addr, b.len);
      ts_region_free(&region_of(b.addr)->r, b.addr, b.len, TS_FREE_DIRTY);
    }
    place_retain_check_locked();
  }
  place_exit();
}

size_t ts_place_usable(const void *p) {
  place_enter();
  const ts_range_t *x = block_locked(p);
  size_t len = x ? x->len : 0;
  place_exit();
  return len;
}

/* The tail of a shrunk block goes back as a free would send it: replaced
 * if the program changed its VMA, its blocks' huge-page advice given back
 * if it was sparse, and retention checked. */
static void realloc_shrink_locked(place_region_t *pr, uintptr_t a, size_t len, size_t old, uint32_t tag) {
  ts_grant_t g;
  if (tag & TAG_TAINTED) {
    place_unmap_piece_locked(pr, a + len, old - len, tag);
  } else {
    if (tag & TAG_SPARSE) place_ops->thp_unsparse(a + len, old - len);
    ts_region_resize(&pr->r, a, len, TS_FREE_DIRTY, &g);
  }
  place_retain_check_locked();
}

void *ts_place_realloc(void *p, size_t size) {
  uintptr_t a = (uintptr_t)p;
  size_t len = ts_align_up(size ? size : 1, PAGE);
  place_enter();
  const ts_range_t *x = block_locked(p);
  if (x == NULL) {
    place_exit();
    return NULL;
  }
  place_region_t *pr = region_of(a);
  size_t old = x->len;
  uint32_t tag = x->tag;
  ts_grant_t g;
  if (len <= old || ts_region_resize(&pr->r, a, len, TS_FREE_DIRTY, &g) == 0) {
    bool ok = len <= old;
    if (!ok) place_settle_grant(&g, a + old, len - old);
    if (!ok) { /* grown in place: make the new part usable */
      ok = place_commit_to(pr, pr->r.top) && (!g.unmapped || place_map_rw(a + old, len - old));
      if (!ok) ts_region_resize(&pr->r, a, old, TS_FREE_NONE, &g);
    } else if (len < old) {
      realloc_shrink_locked(pr, a, len, old, tag);
    }
    if (ok) place_st.malloc_bytes = place_st.malloc_bytes - old + len;
    place_exit();
    if (ok && len > old) { /* the grown part is a grant of its own */
      place_ops->tier_granted(a + old, len - old);
      place_ops->thp_granted(a + old, len - old);
    }
    if (ok) return p;
  } else {
    place_exit();
  }
  void *q = ts_place_malloc(size, 0, false);
  if (q == NULL) return NULL;
  memcpy(q, p, old < size ? old : size);
  ts_place_free(p);
  return q;
}

/* ---- placed mmaps ------------------------------------------------------- */

bool ts_place_mmap_wanted(void *addr, size_t len, int prot, int flags, int fd, off_t off) {
  const int refused = MAP_FIXED | MAP_FIXED_NOREPLACE | MAP_STACK | MAP_GROWSDOWN | MAP_HUGETLB |
                      MAP_32BIT;
  return ts_config.enable && ts_config.place_mmap && addr == NULL && fd == -1 && off % PAGE == 0 &&
         len >= ts_config.mmap_min && len <= ts_config.mmap_max &&
         (flags & MAP_TYPE) == MAP_PRIVATE && (flags & MAP_ANONYMOUS) && !(flags & refused) &&
         (prot & (PROT_READ | PROT_WRITE)) != 0 && (prot & ~(PROT_READ | PROT_WRITE)) == 0;
}

static void count_mmap_locked(size_t len) {
  place_st.placed_mmaps++;
  place_st.placed_bytes += len;
  place_st.pmd_aligned += (len % PMD == 0);
}

/* A plain request in space that is already mapped read-write needs no
 * system call (a MAP_FIXED would split the huge pages of the blocks it
 * shares with neighbours): it is zeroed where it may hold data. */
static void *mmap_plain(const ts_grant_t *g, size_t len, bool sparse) {
  place_ops->tier_granted(g->addr, len);
  place_zero_grant(g, g->addr, len);
  place_enter();
  count_mmap_locked(len);
  place_exit();
  if (sparse) place_ops->thp_sparse(g->addr, len);
  place_ops->thp_granted(g->addr, len);
  return (void *)g->addr;
}

/* Anything else is the program's own call at our address, with its prot
 * and flags exactly; on unmap the range must be reset (tainted). */
static void *mmap_own(const ts_grant_t *g, place_region_t *pr, size_t len, int prot, int flags) {
  uint32_t tag = MMAP_TAG(prot) | TAG_TAINTED | ((flags & (MAP_POPULATE | MAP_LOCKED)) ? TAG_PINNED : 0) |
                 ((flags & MAP_LOCKED) ? TAG_MLOCKED : 0);
  place_enter();
  ts_grant_t g2;
  ts_region_free(&pr->r, g->addr, len, TS_FREE_DIRTY);
  ts_region_alloc_at(&pr->r, g->addr, len, tag, &g2);
  place_settle_grant(&g2, g->addr, len);
  place_exit();
  ts_prim_ptr_t m = ts_prim_mmap((void *)g->addr, len, prot, flags | MAP_FIXED, -1, 0);
  place_enter();
  if (m.err) {
    place_map_none(g->addr, len);
    ts_region_free(&pr->r, g->addr, len, TS_FREE_NONE);
    place_st.mmap_fallbacks++;
  } else {
    count_mmap_locked(len);
  }
  place_exit();
  if (m.err) return NULL; /* the kernel gets to try, and to report its error */
  place_ops->thp_unmapped(g->addr, len); /* a fresh mapping: whatever the blocks were is gone */
  place_ops->thp_mapped(g->addr, len);
  place_ops->tier_window_mapped(g->addr, len);
  place_ops->tier_granted(g->addr, len);
  if ((prot & PROT_WRITE) && !(tag & TAG_PINNED)) place_ops->thp_granted(g->addr, len);
  return (void *)g->addr;
}

void *ts_place_mmap(size_t len, int prot, int flags) {
  len = ts_align_up(len, PAGE);
  bool plain = prot == (PROT_READ | PROT_WRITE) && flags == (MAP_PRIVATE | MAP_ANONYMOUS);
  bool sparse = plain && sparse_candidate(len, true);
  bool probe = plain && !sparse && place_ops->thp_mmap_probe(len);
  sparse |= probe;
  place_enter();
  ts_grant_t g;
  place_region_t *pr;
  uint32_t tag = MMAP_TAG(prot) | (sparse ? TAG_SPARSE : 0) | (probe ? TAG_PROBE : 0);
  bool ok = place_open_locked() && place_alloc_locked(len, len % PMD == 0 ? PMD : PAGE, tag, &g, &pr) == 0;
  if (!ok) place_st.mmap_fallbacks++;
  else place_retain_trade_locked(&g, len);
  place_exit();
  if (!ok) return NULL;
  if (plain && !g.unmapped) return mmap_plain(&g, len, sparse);
  return mmap_own(&g, pr, len, prot, flags);
}
