/* Retention and release: what becomes of ranges the program gives back,
 * and of retained memory beyond TIERSHIM_RETAIN_MAX, after a decay window,
 * or when memory is short; see docs/design.md "Retention". */
#define _GNU_SOURCE
#include "alloc/place_int.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>

#include "policy/unmap/batch.h"
#include "base/options.h"
#include "base/prim.h"

#define mid place_mid
#define pmd place_pmd
#define region_of place_region_of

/* ---- ranges the program unmaps ------------------------------------------ */

/* What a range the program unmapped becomes (TIERSHIM_MUNMAP). Under
 * release, an untainted range is kept exactly as it is, retained like a
 * freed malloc block: no system call, and no huge page of a neighbour split
 * by a MAP_FIXED over part of its 2 MiB block. A tainted one is mapped
 * afresh, so none of the program's flags outlive the munmap. Strict, and
 * frugal (limits), make it PROT_NONE: it faults, and counts nowhere. */
static ts_free_state_t unmap_range(uintptr_t a, size_t len, uint32_t tag) {
  bool keep = !ts_config.munmap_strict && !place_frugal;
  if (keep && !(tag & TAG_TAINTED)) return TS_FREE_DIRTY;
  if (keep && place_map_rw(a, len)) return TS_FREE_ZAPPED;
  place_map_none(a, len);
  return TS_FREE_NONE;
}

/* A block is freed, or a probe mmap unmapped: how densely it was used
 * teaches its kind's learner (policy/thp_probe.c). Every block is offered,
 * probe or not: the policy measures the newest large one. */
void place_probe_observe(uint32_t tag, uintptr_t a, size_t len) {
  if (TAG_KIND(tag) == TAG_MALLOC) place_ops->thp_block_observe(a, len);
  else if (tag & TAG_PROBE) place_ops->thp_mmap_observe(a, len);
}

/* Frees one program-unmapped piece. Under release, an untainted piece gives
 * its whole 2 MiB blocks back to the OS (the program expects its memory
 * back after munmap) and retains only the edges it shares with neighbours,
 * whose huge pages a MADV_DONTNEED there would split. Released blocks are
 * ZAPPED, not CLEAN: the program may still write to them through a stale
 * pointer, and reuse must not hand that out as zero (place_zero_grant). */
void place_unmap_piece_locked(place_region_t *pr, uintptr_t a, size_t len, uint32_t tag) {
  place_probe_observe(tag, a, len);
  if (tag & TAG_SPARSE) place_ops->thp_unsparse(a, len);
  uintptr_t in_lo = ts_align_up(a, PMD), in_hi = (a + len) & ~(uintptr_t)(PMD - 1);
  if (ts_config.munmap_strict || place_frugal || (tag & TAG_TAINTED) || in_hi <= in_lo) {
    ts_region_free(&pr->r, a, len, unmap_range(a, len, tag));
    return;
  }
  ts_range_t inner = {in_lo, in_hi - in_lo, 0, 0};
  bool released = place_ops->release(&inner, 1) == in_hi - in_lo;
  if (released) place_ops->thp_released(in_lo, in_hi - in_lo);
  ts_region_free(&pr->r, a, in_lo - a, TS_FREE_DIRTY);
  ts_region_free(&pr->r, in_lo, in_hi - in_lo, released ? TS_FREE_ZAPPED : TS_FREE_DIRTY);
  ts_region_free(&pr->r, in_hi, a + len - in_hi, TS_FREE_DIRTY);
}

/* Frees the live pieces of [a, a+len) whose tag kind is in `kinds` (a bit
 * mask), in `state`; state NONE means "the program unmapped them": each
 * piece is replaced first (unmap_range) and takes the state that gives. */
void place_free_kinds_locked(uintptr_t a, size_t len, unsigned kinds, ts_free_state_t state) {
  uintptr_t end = a + len;
  while (a < end) {
    place_region_t *pr = region_of(a);
    uintptr_t stop = end < pr->r.limit ? end : pr->r.limit;
    ts_range_t piece[PIECES];
    size_t n = ts_region_live_in(&pr->r, a, stop - a, piece, PIECES);
    size_t k = n < PIECES ? n : PIECES;
    for (size_t i = 0; i < k; i++) {
      if (!((kinds >> TAG_KIND(piece[i].tag)) & 1)) continue;
      if (state == TS_FREE_NONE && TAG_KIND(piece[i].tag) == TAG_FOREIGN) {
        ts_prim_munmap((void *)piece[i].addr, piece[i].len); /* the kernel's mapping */
        place_rereserve_locked(piece[i].addr, piece[i].len);
      } else if (state == TS_FREE_NONE) {
        place_unmap_piece_locked(pr, piece[i].addr, piece[i].len, piece[i].tag);
      } else {
        ts_region_free(&pr->r, piece[i].addr, piece[i].len, state);
      }
    }
    a = (n > PIECES) ? piece[PIECES - 1].addr + piece[PIECES - 1].len : stop;
  }
}

/* After the kernel moved a range out of the window, its old place is a
 * hole: reserve it again, or, if another thread's mmap took it meanwhile,
 * mark it lost so it is never mapped over. */
void place_rereserve_locked(uintptr_t a, size_t len) {
  bool none = ts_config.munmap_strict || place_frugal;
  ts_prim_ptr_t m = ts_prim_mmap((void *)a, len, none ? PROT_NONE : PROT_READ | PROT_WRITE,
                                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE | (none ? MAP_NORESERVE : 0),
                                 -1, 0);
  place_region_t *pr = region_of(a);
  ts_region_free(&pr->r, a, len, none ? TS_FREE_NONE : TS_FREE_ZAPPED);
  place_ops->thp_unmapped(a, len);
  ts_grant_t g;
  if (m.err) {
    ts_region_alloc_at(&pr->r, a, len, TAG_FOREIGN, &g);
    place_settle_grant(&g, a, len);
  }
  else if (!none) {
    place_ops->thp_mapped(a, len);
    place_ops->tier_window_mapped(a, len);
  }
}

/* ---- retention ---------------------------------------------------------- */

size_t place_retain_max(void) {
  size_t max = place_ops->retain_max();
  if (!place_frugal) return max;
  /* Under a limit, kept memory is memory the program cannot have. */
  uint64_t as = ts_prim_rlimit(RLIMIT_AS), data = ts_prim_rlimit(RLIMIT_DATA);
  uint64_t lim = as < data ? as : data;
  size_t cap = lim != UINT64_MAX ? (size_t)(lim / 16) : ((size_t)32 << 20);
  return max < cap ? max : cap;
}

/* Release scratch: three vectors of up to TS_UBATCH_MAX ranges, too big
 * for the stack of a free() call. Two slots, claimed without a lock (the
 * placement lock is dropped during the release); a release that finds
 * both busy gathers a short batch on its stack instead. */
typedef struct {
  ts_range_t batch[TS_UBATCH_MAX], claimed[TS_UBATCH_MAX], inner[TS_UBATCH_MAX];
} rel_scratch_t;
static rel_scratch_t rel_scratch[2];
static int rel_busy[2];

static rel_scratch_t *scratch_get(void) {
  for (int i = 0; i < 2; i++)
    if (!__atomic_exchange_n(&rel_busy[i], 1, __ATOMIC_ACQUIRE)) return &rel_scratch[i];
  return NULL;
}

static void scratch_put(rel_scratch_t *s) {
  if (s) __atomic_store_n(&rel_busy[s - rel_scratch], 0, __ATOMIC_RELEASE);
}

void place_release_fork_child(void) { rel_busy[0] = rel_busy[1] = 0; /* their threads are gone */ }

/* Frugal: released memory is decommitted (PROT_NONE, MAP_NORESERVE), so it
 * leaves VmData and Committed_AS as it would after a kernel munmap. */
static size_t decommit(ts_range_t *go, size_t n) {
  size_t done = 0;
  for (size_t i = 0; i < n; i++) {
    place_map_none(go[i].addr, go[i].len);
    done += go[i].len;
  }
  return done;
}

/* Releases about `want` retained bytes, largest ranges first, in one
 * batch. The ranges are claimed so the lock can be dropped for the system
 * call. */
static size_t release_claimed_locked(size_t want, ts_range_t *batch, ts_range_t *claimed, ts_range_t *inner,
                                     size_t cap) {
  size_t dirty = mid.r.dirty_bytes + pmd.r.dirty_bytes, max = place_retain_max();
  size_t n = ts_region_take_dirty(&pmd.r, want, TAG_RELEASING, batch, cap);
  size_t got = 0;
  for (size_t i = 0; i < n; i++) got += batch[i].len;
  if (got < want && n < cap)
    n += ts_region_take_dirty(&mid.r, want - got, TAG_RELEASING, batch + n, cap - n);
  if (n == 0) return 0;
  /* Release whole 2 MiB blocks only: a MADV_DONTNEED over part of a block
   * splits the huge page it shares with a live neighbour. The edges stay
   * retained while retention stays under twice the limit (the hard limit);
   * beyond it, or when frugal, the edges go too. */
  memcpy(claimed, batch, n * sizeof batch[0]);
  size_t k = 0, inner_bytes = 0;
  for (size_t i = 0; i < n; i++) {
    uintptr_t lo = ts_align_up(batch[i].addr, PMD), hi = (batch[i].addr + batch[i].len) & ~(uintptr_t)(PMD - 1);
    if (hi > lo) {
      inner[k++] = (ts_range_t){lo, hi - lo, 0, 0};
      inner_bytes += hi - lo;
    }
  }
  bool frugal = place_frugal;
  bool whole_blocks = !frugal && dirty - inner_bytes <= 2 * max;
  ts_range_t *go = whole_blocks ? inner : batch;
  size_t ngo = whole_blocks ? k : n;
  place_exit();
  for (size_t i = 0; i < ngo; i++) place_ops->thp_released(go[i].addr, go[i].len);
  size_t total = 0;
  for (size_t i = 0; i < ngo; i++) total += go[i].len;
  size_t done = frugal ? decommit(go, ngo) : place_ops->release(go, ngo); /* coalesces in place */
  /* Released memory reads as zero until the program writes to it again
   * through a stale pointer (ZAPPED). If some of it could not be released,
   * which is unknown, all of it stays dirty. */
  ts_free_state_t released = frugal ? TS_FREE_NONE : done == total ? TS_FREE_ZAPPED : TS_FREE_DIRTY;
  place_enter();
  for (size_t i = 0; i < n; i++) {
    uintptr_t a = claimed[i].addr, e = a + claimed[i].len;
    uintptr_t lo = whole_blocks ? ts_align_up(a, PMD) : a, hi = whole_blocks ? e & ~(uintptr_t)(PMD - 1) : e;
    if (hi <= lo) lo = hi = a; /* no whole block: all of it stays retained */
    place_free_kinds_locked(a, lo - a, 1u << TAG_RELEASING, TS_FREE_DIRTY);
    place_free_kinds_locked(lo, hi - lo, 1u << TAG_RELEASING, released);
    place_free_kinds_locked(hi, e - hi, 1u << TAG_RELEASING, TS_FREE_DIRTY);
  }
  return done;
}

#define REL_STACK 16

/* Returns the bytes released: whole ranges are taken, so it may be more
 * than `want`. */
static size_t retain_release_locked(size_t want) {
  rel_scratch_t *s = scratch_get();
  size_t done;
  if (s) {
    done = release_claimed_locked(want, s->batch, s->claimed, s->inner, TS_UBATCH_MAX);
  } else {
    ts_range_t batch[REL_STACK], claimed[REL_STACK], inner[REL_STACK];
    done = release_claimed_locked(want, batch, claimed, inner, REL_STACK);
  }
  scratch_put(s);
  return done;
}

/* Retained memory the program did not touch through a whole decay window
 * (TIERSHIM_UNMAP_DELAY) goes back in one batch, down to an eighth of
 * RETAIN_MAX: idle memory returns without a call per free. Noted after
 * every change of the retained bytes, so the window's low-water mark is
 * exact. */
static ts_udecay_t place_decay;

static void retain_decay_locked(void) {
  uint64_t delay = place_ops->decay_ns();
  if (delay == 0) return;
  size_t dirty = mid.r.dirty_bytes + pmd.r.dirty_bytes;
  size_t due = ts_udecay_note(&place_decay, ts_prim_clock_ns(), delay, dirty, place_retain_max() / 8);
  if (due) place_ops->decayed(retain_release_locked(due));
}

/* Beyond TIERSHIM_RETAIN_MAX of retained (dirty) bytes, release down to
 * half of it. */
void place_retain_check_locked(void) {
  size_t dirty = mid.r.dirty_bytes + pmd.r.dirty_bytes, max = place_retain_max();
  if (dirty > max) (void)retain_release_locked(dirty - max / 2);
  retain_decay_locked();
}

/* Retained memory is kept to be reused, not hoarded. A request that had to
 * take memory nobody retained (it will fault in new pages) shows that what
 * is retained does not fit what the program asks for now: ONNX Runtime's
 * activations change shape with every request. Then as much retained memory
 * goes back, beyond an eighth of RETAIN_MAX, so RSS follows live memory
 * instead of live plus RETAIN_MAX.
 * When releases cost shootdowns (the unmap batcher's scale, 1-8), trading
 * one range per request would cost a round per request: the floor rises
 * with the scale (to at most half of RETAIN_MAX) and each trade releases
 * scale times as much, several ranges in one vector. */
void place_retain_trade_locked(const ts_grant_t *g, size_t len) {
  retain_decay_locked();
  size_t max = place_retain_max(), scale = place_ops->scale();
  size_t floor = max / 8 * scale < max / 2 ? max / 8 * scale : max / 2;
  size_t dirty = mid.r.dirty_bytes + pmd.r.dirty_bytes;
  if (g->dirty || dirty <= floor) return;
  size_t want = len * scale;
  (void)retain_release_locked(want < dirty - floor ? want : dirty - floor);
}

/* ---- memory pressure ---------------------------------------------------- */

/* Every free range that is still mapped read-write goes PROT_NONE. */
static size_t decommit_free_locked(place_region_t *pr) {
  size_t done = 0;
  for (size_t i = 0; i < pr->r.free.n; i++) {
    ts_range_t x = pr->r.free.v[i];
    if (x.state == TS_FREE_NONE) continue;
    place_map_none(x.addr, x.len);
    done += x.len;
  }
  if (done) ts_region_restate_free(&pr->r, pr->r.base, pr->r.limit - pr->r.base, ~0u, TS_FREE_NONE);
  if (pr->committed > pr->r.top) { /* committed ahead of need */
    uintptr_t top = ts_align_up(pr->r.top, PAGE);
    place_map_none(top, pr->committed - top);
    done += pr->committed - top;
    pr->committed = top;
  }
  return done;
}

/* The process's mapped address space (VmSize), from /proc/self/statm. */
static uint64_t mapped_bytes(void) {
  char text[64];
  if (ts_prim_read_file("/proc/self/statm", text, sizeof text) <= 0) return UINT64_MAX;
  uint64_t pages = 0;
  for (const char *p = text; *p >= '0' && *p <= '9'; p++) pages = pages * 10 + (uint64_t)(*p - '0');
  return pages * PAGE;
}

/* A system call failed for want of memory (ENOMEM): whatever the window
 * keeps that the program does not use goes back now (retained and
 * committed memory decommitted, the never-used tail of the reservation
 * unmapped for RLIMIT_AS), and tiershim stays frugal from here on. The
 * caller retries once if anything was given back. */
bool ts_place_pressure(size_t len) {
  /* No machine has this much: the failure was the request's own. */
  if (ts_reentered() || ts_place_span == 0 || len >= ((size_t)1 << 44)) return false;
  place_enter();
  uint64_t as_limit = ts_prim_rlimit(RLIMIT_AS);
  if (as_limit != UINT64_MAX || ts_prim_rlimit(RLIMIT_DATA) != UINT64_MAX) place_frugal = true;
  size_t done = decommit_free_locked(&mid) + decommit_free_locked(&pmd);
  /* Under RLIMIT_AS the reservation itself counts. A limit set before the
   * window was reserved sized it (a quarter at most); one set later, below
   * what is mapped already, leaves the program no room at all: then the pmd
   * region's untouched tail, the window's top, is given back for good (the
   * mid region's tail is inside the window and stays). A limit the program
   * set above its mapped size is its budget, window included. */
  uintptr_t cut = ts_align_up(pmd.committed > pmd.r.top ? pmd.committed : pmd.r.top, PMD);
  if (as_limit != UINT64_MAX && as_limit < mapped_bytes() && cut < pmd.r.limit &&
      ts_prim_munmap((void *)cut, pmd.r.limit - cut) == 0) {
    done += pmd.r.limit - cut;
    pmd.r.limit = cut;
    __atomic_store_n(&ts_place_span, cut - ts_place_lo, __ATOMIC_RELEASE);
  }
  place_exit();
  if (done) __atomic_fetch_add(&place_pressure_releases, 1, __ATOMIC_RELAXED);
  return done != 0;
}
