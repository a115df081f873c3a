/* The placement engine; see place.h.
 *
 * Invariants, under the placement lock:
 *  - the window is ours: [base, base + va), PROT_NONE where nothing is
 *    committed; only ranges inside it are ever mapped with MAP_FIXED;
 *  - each region maps [base, committed) read-write (in 32 MiB steps), and
 *    every live range lies below top <= committed; so committing never
 *    maps over a live range;
 *  - a free range's state matches the OS: CLEAN and DIRTY are read-write,
 *    NONE is PROT_NONE (the program unmapped it under TIERSHIM_MUNMAP=strict).
 * A range the program unmaps is replaced by a fresh mapping (unmap_range):
 * read-write by default, so VMAs merge back and huge pages survive, or
 * PROT_NONE under strict. Either way the program's VMA flags (prot,
 * DONTFORK, mlock, ...) are gone, as after a real munmap.
 * System calls on a range the region has handed out (a placed mmap's own
 * MAP_FIXED, releases) run without the lock: nobody else can be given it. */
#define _GNU_SOURCE
#include "place.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <sys/mman.h>

#include "options.h"
#include "procfs.h"
#include "stats.h"
#include "prim.h"
#include "region.h"
#include "unmap.h"
#include "batch.h"
#include "thp.h"
#include "tierpol.h"

#define PMD ((size_t)2 << 20)
#define PAGE ((size_t)4096)
#define COMMIT_CHUNK ((size_t)32 << 20)
#define VA_MIN ((size_t)1 << 30)
#define PIECES 64

/* TAG_FOREIGN: a mapping the kernel made in the window for the program,
 * in a hole that a move left for a moment (another thread's mmap). It is
 * the program's, but not ours to reuse: the kernel handles it. */
enum { TAG_MALLOC = 1, TAG_MMAP = 2, TAG_RELEASING = 3, TAG_FOREIGN = 4 };
#define TAG_KIND(t) ((t) & 0xffu)
#define TAG_PROT(t) ((int)(((t) >> 8) & 0xffu))
#define MMAP_TAG(prot) (TAG_MMAP | ((uint32_t)(prot) << 8))
/* The program changed the range's VMA flags (mprotect, a flag-setting
 * madvise) or mapped it with flags of its own: on unmap it must be
 * replaced by a fresh mapping, not kept as is. */
#define TAG_TAINTED (1u << 16)
#define PROGRAM_OWNED(t) (TAG_KIND(t) == TAG_MALLOC || TAG_KIND(t) == TAG_MMAP || TAG_KIND(t) == TAG_FOREIGN)
#define PROGRAM_KINDS ((1u << TAG_MALLOC) | (1u << TAG_MMAP) | (1u << TAG_FOREIGN))

typedef struct place_region_s {
  ts_region_t r;
  uintptr_t committed;
} place_region_t;

uintptr_t ts_place_lo, ts_place_span;

static pthread_mutex_t place_lock = PTHREAD_MUTEX_INITIALIZER;
static enum { P_UNRESERVED, P_ON, P_OFF } place_on;
static const char *place_why = "not used yet";
static place_region_t mid, pmd;
/* Event counts, under the placement lock; the rest of the stats are read
 * from the regions when asked (place_stats_hook). */
static struct {
  uint64_t placed_mmaps, placed_bytes, pmd_aligned;
  uint64_t placed_mallocs, malloc_fallbacks, mmap_fallbacks, reused;
  size_t malloc_bytes, malloc_blocks; /* live placed blocks (mallinfo) */
} pst;
static uintptr_t window_lo, window_len;

static inline uintptr_t align_up(uintptr_t a, size_t al) { return (a + al - 1) & ~(uintptr_t)(al - 1); }

/* ---- mapping helpers (the prim layer; see the invariants) --------------- */

static bool map_rw(uintptr_t a, size_t len) {
  ts_prim_ptr_t m = ts_prim_mmap((void *)a, len, PROT_READ | PROT_WRITE,
                                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
  if (m.err) return false;
  ts_thp_unmapped(a, len);
  ts_thp_mapped(a, len);
  ts_tier_window_mapped(a, len);
  return true;
}

static void map_none(uintptr_t a, size_t len) {
  (void)ts_prim_mmap((void *)a, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1, 0);
  ts_thp_unmapped(a, len);
}

/* Zeroes memory that may hold data: whole 2 MiB blocks are dropped
 * (MADV_DONTNEED: they refault lazily, and huge where advised, instead of
 * being faulted in here by memset), the partial edges, which share a
 * block with a neighbour, are cleared in place. */
static void zero_range(uintptr_t a, size_t len) {
  uintptr_t lo = align_up(a, PMD), hi = (a + len) & ~(uintptr_t)(PMD - 1);
  if (hi <= lo || ts_prim_madvise((void *)lo, hi - lo, MADV_DONTNEED) != 0) {
    memset((void *)a, 0, len);
    return;
  }
  ts_thp_released(lo, hi - lo);
  memset((void *)a, 0, lo - a);
  memset((void *)hi, 0, a + len - hi);
}

/* What a range the program unmapped becomes (TIERSHIM_MUNMAP). Under
 * release, an untainted range is kept exactly as it is, retained like a
 * freed malloc block: no system call, and no huge page of a neighbour split
 * by a MAP_FIXED over part of its 2 MiB block. */
static ts_free_state_t unmap_range(uintptr_t a, size_t len, uint32_t tag) {
  if (!ts_config.munmap_strict && !(tag & TAG_TAINTED)) return TS_FREE_DIRTY;
  if (!ts_config.munmap_strict && map_rw(a, len)) return TS_FREE_CLEAN;
  map_none(a, len);
  return TS_FREE_NONE;
}

/* Frees one program-unmapped piece. Under release, an untainted piece gives
 * its whole 2 MiB blocks back to the OS (the program expects its memory
 * back after munmap) and retains only the edges it shares with neighbours,
 * whose huge pages a MADV_DONTNEED there would split. */
static void unmap_piece_locked(place_region_t *pr, uintptr_t a, size_t len, uint32_t tag) {
  uintptr_t in_lo = align_up(a, PMD), in_hi = (a + len) & ~(uintptr_t)(PMD - 1);
  if (ts_config.munmap_strict || (tag & TAG_TAINTED) || in_hi <= in_lo) {
    ts_region_free(&pr->r, a, len, unmap_range(a, len, tag));
    return;
  }
  ts_range_t inner = {in_lo, in_hi - in_lo, 0, 0};
  bool released = ts_unmap_release(&inner, 1) == in_hi - in_lo;
  if (released) ts_thp_released(in_lo, in_hi - in_lo);
  ts_region_free(&pr->r, a, in_lo - a, TS_FREE_DIRTY);
  ts_region_free(&pr->r, in_lo, in_hi - in_lo, released ? TS_FREE_CLEAN : TS_FREE_DIRTY);
  ts_region_free(&pr->r, in_hi, a + len - in_hi, TS_FREE_DIRTY);
}

static bool commit_to(place_region_t *pr, uintptr_t need) {
  if (need <= pr->committed) return true;
  uintptr_t to = align_up(need, COMMIT_CHUNK);
  if (to > pr->r.limit) to = pr->r.limit;
  if (!map_rw(pr->committed, to - pr->committed)) return false;
  pr->committed = to;
  return true;
}

/* ---- the window --------------------------------------------------------- */

static bool reserve_locked(void) {
  if (place_on != P_UNRESERVED) return place_on == P_ON;
  place_on = P_OFF;
  if (!ts_config.enable) {
    place_why = "off: TIERSHIM_ENABLE=0";
    return false;
  }
  size_t va = ts_config.va & ~(2 * PMD - 1);
  ts_prim_ptr_t m = {NULL, ENOMEM};
  for (; va >= VA_MIN; va /= 2) {
    m = ts_prim_mmap(NULL, va + PMD, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (m.err == 0) break;
  }
  if (m.err) {
    place_why = "off: cannot reserve address space (RLIMIT_AS?)";
    return false;
  }
  uintptr_t raw = (uintptr_t)m.addr, base = align_up(raw, PMD);
  if (base > raw) ts_prim_munmap((void *)raw, base - raw);
  if (raw + va + PMD > base + va) ts_prim_munmap((void *)(base + va), raw + va + PMD - base - va);
  /* Both page-granular: programs split mappings at page granularity (partial
   * munmap, mprotect); the pmd region's alignment is asked per allocation. */
  ts_region_init(&mid.r, base, va / 2, PAGE);
  ts_region_init(&pmd.r, base + va / 2, va / 2, PAGE);
  mid.committed = mid.r.base;
  pmd.committed = pmd.r.base;
  ts_thp_init(base, va);
  window_lo = base;
  window_len = va;
  __atomic_store_n(&ts_place_lo, base, __ATOMIC_RELEASE);
  __atomic_store_n(&ts_place_span, va, __ATOMIC_RELEASE);
  place_on = P_ON;
  place_why = "on";
  return true;
}

static place_region_t *region_of(uintptr_t a) { return a < mid.r.limit ? &mid : &pmd; }

/* mid or pmd by length: 2 MiB multiples go to the aligned region. */
static int alloc_locked(size_t len, size_t align, uint32_t tag, ts_grant_t *g, place_region_t **out) {
  place_region_t *pr = (len % PMD == 0) ? &pmd : &mid;
  int err = ts_region_alloc(&pr->r, len, align, tag, g);
  if (err) return err;
  if (!commit_to(pr, pr->r.top)) {
    ts_region_free(&pr->r, g->addr, len, TS_FREE_NONE); /* conservative: mapped again on reuse */
    return -ENOMEM;
  }
  if (g->reused) pst.reused++;
  *out = pr;
  return 0;
}

static void rereserve_locked(uintptr_t a, size_t len);

/* Frees the live pieces of [a, a+len) whose tag kind is in `kinds` (a bit
 * mask), in `state`; state NONE means "the program unmapped them": each
 * piece is replaced first (unmap_range) and takes the state that gives. */
static void free_kinds_locked(uintptr_t a, size_t len, unsigned kinds, ts_free_state_t state) {
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
        rereserve_locked(piece[i].addr, piece[i].len);
      } else if (state == TS_FREE_NONE) {
        unmap_piece_locked(pr, piece[i].addr, piece[i].len, piece[i].tag);
      } else {
        ts_region_free(&pr->r, piece[i].addr, piece[i].len, state);
      }
    }
    a = (n > PIECES) ? piece[PIECES - 1].addr + piece[PIECES - 1].len : stop;
  }
}

/* ---- retention ---------------------------------------------------------- */

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

/* Releases about `want` retained bytes, largest ranges first, in one
 * batch. The ranges are claimed so the lock can be dropped for the system
 * call. */
static size_t release_claimed_locked(size_t want, ts_range_t *batch, ts_range_t *claimed, ts_range_t *inner,
                                   size_t cap) {
  size_t dirty = mid.r.dirty_bytes + pmd.r.dirty_bytes, max = ts_unmap_retain_max();
  size_t n = ts_region_take_dirty(&pmd.r, want, TAG_RELEASING, batch, cap);
  size_t got = 0;
  for (size_t i = 0; i < n; i++) got += batch[i].len;
  if (got < want && n < cap)
    n += ts_region_take_dirty(&mid.r, want - got, TAG_RELEASING, batch + n, cap - n);
  if (n == 0) return 0;
  /* Release whole 2 MiB blocks only: a MADV_DONTNEED over part of a block
   * splits the huge page it shares with a live neighbour. The edges stay
   * retained while retention stays under twice the limit (the hard limit);
   * beyond it the edges go too. */
  memcpy(claimed, batch, n * sizeof batch[0]);
  size_t k = 0, inner_bytes = 0;
  for (size_t i = 0; i < n; i++) {
    uintptr_t lo = align_up(batch[i].addr, PMD), hi = (batch[i].addr + batch[i].len) & ~(uintptr_t)(PMD - 1);
    if (hi > lo) {
      inner[k++] = (ts_range_t){lo, hi - lo, 0, 0};
      inner_bytes += hi - lo;
    }
  }
  bool whole_blocks = dirty - inner_bytes <= 2 * max;
  ts_range_t *go = whole_blocks ? inner : batch;
  size_t ngo = whole_blocks ? k : n;
  pthread_mutex_unlock(&place_lock);
  for (size_t i = 0; i < ngo; i++) ts_thp_released(go[i].addr, go[i].len);
  size_t total = 0;
  for (size_t i = 0; i < ngo; i++) total += go[i].len;
  size_t done = ts_unmap_release(go, ngo); /* coalesces in place */
  /* Released memory reads as zero (calloc relies on it). If some of it
   * could not be released, which is unknown, all of it stays dirty. */
  ts_free_state_t released = done == total ? TS_FREE_CLEAN : TS_FREE_DIRTY;
  pthread_mutex_lock(&place_lock);
  for (size_t i = 0; i < n; i++) {
    uintptr_t a = claimed[i].addr, e = a + claimed[i].len;
    uintptr_t lo = whole_blocks ? align_up(a, PMD) : a, hi = whole_blocks ? e & ~(uintptr_t)(PMD - 1) : e;
    if (hi <= lo) lo = hi = a; /* no whole block: all of it stays retained */
    free_kinds_locked(a, lo - a, 1u << TAG_RELEASING, TS_FREE_DIRTY);
    free_kinds_locked(lo, hi - lo, 1u << TAG_RELEASING, released);
    free_kinds_locked(hi, e - hi, 1u << TAG_RELEASING, TS_FREE_DIRTY);
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
  uint64_t delay = ts_unmap_delay_ns();
  if (delay == 0) return;
  size_t dirty = mid.r.dirty_bytes + pmd.r.dirty_bytes;
  size_t due = ts_udecay_note(&place_decay, ts_prim_clock_ns(), delay, dirty, ts_unmap_retain_max() / 8);
  if (due) ts_unmap_decayed(retain_release_locked(due));
}

/* Beyond TIERSHIM_RETAIN_MAX of retained (dirty) bytes, release down to
 * half of it. */
static void retain_check_locked(void) {
  size_t dirty = mid.r.dirty_bytes + pmd.r.dirty_bytes, max = ts_unmap_retain_max();
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
static void retain_trade_locked(const ts_grant_t *g, size_t len) {
  retain_decay_locked();
  size_t max = ts_unmap_retain_max(), scale = ts_unmap_scale();
  size_t floor = max / 8 * scale < max / 2 ? max / 8 * scale : max / 2;
  size_t dirty = mid.r.dirty_bytes + pmd.r.dirty_bytes;
  if (g->dirty || dirty <= floor) return;
  size_t want = len * scale;
  (void)retain_release_locked(want < dirty - floor ? want : dirty - floor);
}

/* ---- the large-allocation path ---------------------------------------- */

void *ts_place_malloc(size_t size, size_t align, bool zero) {
  if (size > ((size_t)1 << 46)) return NULL;
  size_t len = align_up(size ? size : 1, PAGE);
  pthread_mutex_lock(&place_lock);
  ts_grant_t g;
  place_region_t *pr;
  if (!reserve_locked() || alloc_locked(len, align > PAGE ? align : PAGE, TAG_MALLOC, &g, &pr) != 0) {
    pst.malloc_fallbacks++;
    pthread_mutex_unlock(&place_lock);
    return NULL;
  }
  if (g.unmapped && !map_rw(g.addr, len)) {
    ts_region_free(&pr->r, g.addr, len, TS_FREE_NONE);
    pst.malloc_fallbacks++;
    pthread_mutex_unlock(&place_lock);
    return NULL;
  }
  bool dirty = g.dirty && !g.unmapped;
  pst.placed_mallocs++;
  pst.malloc_bytes += len;
  pst.malloc_blocks++;
  retain_trade_locked(&g, len);
  pthread_mutex_unlock(&place_lock);
  ts_tier_granted(g.addr, len);
  if (zero && dirty) zero_range(g.addr, align_up(size, PAGE));
  ts_thp_granted(g.addr, len);
  return (void *)g.addr;
}

static const ts_range_t *block_locked(const void *p) {
  const ts_range_t *x = ts_region_find(&region_of((uintptr_t)p)->r, (uintptr_t)p);
  return (x && x->addr == (uintptr_t)p && TAG_KIND(x->tag) == TAG_MALLOC) ? x : NULL;
}

/* Frees block p; anything else in the window (a program bug) is ignored. */
void ts_place_free(void *p) {
  pthread_mutex_lock(&place_lock);
  const ts_range_t *x = block_locked(p);
  if (x) {
    pst.malloc_bytes -= x->len;
    pst.malloc_blocks--;
    ts_region_free(&region_of((uintptr_t)p)->r, x->addr, x->len, TS_FREE_DIRTY);
    retain_check_locked();
  }
  pthread_mutex_unlock(&place_lock);
}

size_t ts_place_usable(const void *p) {
  pthread_mutex_lock(&place_lock);
  const ts_range_t *x = block_locked(p);
  size_t len = x ? x->len : 0;
  pthread_mutex_unlock(&place_lock);
  return len;
}

void *ts_place_realloc(void *p, size_t size) {
  uintptr_t a = (uintptr_t)p;
  size_t len = align_up(size ? size : 1, PAGE);
  pthread_mutex_lock(&place_lock);
  const ts_range_t *x = block_locked(p);
  if (x == NULL) {
    pthread_mutex_unlock(&place_lock);
    return NULL;
  }
  place_region_t *pr = region_of(a);
  size_t old = x->len;
  ts_grant_t g;
  if (len <= old || ts_region_resize(&pr->r, a, len, TS_FREE_DIRTY, &g) == 0) {
    bool ok = len <= old;
    if (!ok) { /* grown in place: make the new part usable */
      ok = commit_to(pr, pr->r.top) && (!g.unmapped || map_rw(a + old, len - old));
      if (!ok) ts_region_resize(&pr->r, a, old, TS_FREE_NONE, &g);
    } else if (len < old) {
      ts_region_resize(&pr->r, a, len, TS_FREE_DIRTY, &g);
    }
    if (ok) pst.malloc_bytes = pst.malloc_bytes - old + len;
    pthread_mutex_unlock(&place_lock);
    if (ok) {
      if (len > old) ts_thp_granted(a + old, len - old);
      return p;
    }
  } else {
    pthread_mutex_unlock(&place_lock);
  }
  void *q = ts_place_malloc(size, 0, false);
  if (q == NULL) return NULL;
  memcpy(q, p, old < size ? old : size);
  ts_place_free(p);
  return q;
}

/* ---- the mmap family ------------------------------------------------ */

bool ts_place_mmap_wanted(void *addr, size_t len, int prot, int flags, int fd, off_t off) {
  const int refused = MAP_FIXED | MAP_FIXED_NOREPLACE | MAP_STACK | MAP_GROWSDOWN | MAP_HUGETLB |
                      MAP_32BIT;
  return ts_config.enable && ts_config.place_mmap && addr == NULL && fd == -1 && off % PAGE == 0 &&
         len >= ts_config.mmap_min && len <= ts_config.mmap_max &&
         (flags & MAP_TYPE) == MAP_PRIVATE && (flags & MAP_ANONYMOUS) && !(flags & refused) &&
         (prot & (PROT_READ | PROT_WRITE)) != 0 && (prot & ~(PROT_READ | PROT_WRITE)) == 0;
}

void *ts_place_mmap(size_t len, int prot, int flags) {
  len = align_up(len, PAGE);
  pthread_mutex_lock(&place_lock);
  ts_grant_t g;
  place_region_t *pr;
  bool ok = reserve_locked() && alloc_locked(len, len % PMD == 0 ? PMD : PAGE, MMAP_TAG(prot), &g, &pr) == 0;
  if (!ok) pst.mmap_fallbacks++;
  else retain_trade_locked(&g, len);
  pthread_mutex_unlock(&place_lock);
  if (!ok) return NULL;
  /* A plain request in space that is already mapped read-write needs no
   * system call (a MAP_FIXED would split the huge pages of the blocks it
   * shares with neighbours): zero it if it held data. Anything else is the
   * program's own call at our address, with its prot and flags exactly. */
  bool plain = prot == (PROT_READ | PROT_WRITE) && flags == (MAP_PRIVATE | MAP_ANONYMOUS);
  if (plain && !g.unmapped) {
    ts_tier_granted(g.addr, len);
    if (g.dirty) zero_range(g.addr, len);
    pthread_mutex_lock(&place_lock);
    pst.placed_mmaps++;
    pst.placed_bytes += len;
    pst.pmd_aligned += (len % PMD == 0);
    pthread_mutex_unlock(&place_lock);
    ts_thp_granted(g.addr, len);
    return (void *)g.addr;
  }
  if (!plain) { /* its own flags: the range must be reset when it is unmapped */
    pthread_mutex_lock(&place_lock);
    ts_grant_t g2;
    ts_region_free(&pr->r, g.addr, len, TS_FREE_DIRTY);
    ts_region_alloc_at(&pr->r, g.addr, len, MMAP_TAG(prot) | TAG_TAINTED, &g2);
    pthread_mutex_unlock(&place_lock);
  }
  ts_prim_ptr_t m = ts_prim_mmap((void *)g.addr, len, prot, flags | MAP_FIXED, -1, 0);
  pthread_mutex_lock(&place_lock);
  if (m.err) {
    map_none(g.addr, len);
    ts_region_free(&pr->r, g.addr, len, TS_FREE_NONE);
    pst.mmap_fallbacks++;
  } else {
    pst.placed_mmaps++;
    pst.placed_bytes += len;
    pst.pmd_aligned += (len % PMD == 0);
  }
  pthread_mutex_unlock(&place_lock);
  if (m.err) return NULL; /* the kernel gets to try, and to report its error */
  ts_thp_mapped(g.addr, len);
  ts_tier_window_mapped(g.addr, len);
  ts_tier_granted(g.addr, len);
  /* MAP_POPULATE/MAP_LOCKED: the program asked for these pages now and
   * stable; a later collapse would fault them again under its feet. */
  if ((prot & PROT_WRITE) && !(flags & (MAP_POPULATE | MAP_LOCKED))) ts_thp_granted(g.addr, len);
  return (void *)g.addr;
}

/* A hint or MAP_FIXED_NOREPLACE at an address in the window: where the
 * program's view has nothing mapped (free, or unmapped by it before), the
 * kernel would honour it, so we do. NULL: not ours to decide. */
void *ts_place_mmap_at(void *addr, size_t len, int prot, int flags, int fd, off_t off) {
  uintptr_t a = (uintptr_t)addr;
  len = align_up(len, PAGE);
  if (a % PAGE || len == 0 || a < ts_place_lo || a + len > ts_place_lo + ts_place_span) return NULL;
  pthread_mutex_lock(&place_lock);
  place_region_t *pr = region_of(a);
  ts_grant_t g;
  int err = (a + len <= pr->r.limit) ? ts_region_alloc_at(&pr->r, a, len, MMAP_TAG(prot) | TAG_TAINTED, &g)
                                      : -EEXIST;
  if (err == 0 && !commit_to(pr, pr->r.top)) {
    ts_region_free(&pr->r, a, len, TS_FREE_NONE);
    err = -ENOMEM;
  }
  pthread_mutex_unlock(&place_lock);
  if (err == -EEXIST && (flags & MAP_FIXED_NOREPLACE)) {
    errno = EEXIST;
    return MAP_FAILED;
  }
  if (err) return NULL; /* a plain hint: the kernel places it elsewhere */
  int fixed = (flags & ~MAP_FIXED_NOREPLACE) | MAP_FIXED;
  ts_prim_ptr_t m = ts_prim_mmap(addr, len, prot, fixed, fd, off);
  if (m.err) {
    pthread_mutex_lock(&place_lock);
    map_none(a, len);
    ts_region_free(&pr->r, a, len, TS_FREE_NONE);
    pthread_mutex_unlock(&place_lock);
    errno = m.err;
    return MAP_FAILED;
  }
  if (fd == -1 && (flags & MAP_TYPE) == MAP_PRIVATE) ts_thp_mapped(a, len);
  return m.addr;
}

int ts_place_munmap(void *addr, size_t len) {
  uintptr_t a = (uintptr_t)addr;
  if (a % PAGE || len == 0 || a + len < a) return -EINVAL;
  len = align_up(len, PAGE);
  uintptr_t lo = a > ts_place_lo ? a : ts_place_lo;
  uintptr_t hi = a + len < ts_place_lo + ts_place_span ? a + len : ts_place_lo + ts_place_span;
  int r = 0;
  if (a < lo) r = ts_prim_munmap(addr, lo - a); /* the parts outside are the kernel's */
  if (a + len > hi && r == 0) r = ts_prim_munmap((void *)hi, a + len - hi);
  pthread_mutex_lock(&place_lock);
  free_kinds_locked(lo, hi - lo, PROGRAM_KINDS, TS_FREE_NONE);
  retain_check_locked(); /* unmapped ranges may have been retained */
  pthread_mutex_unlock(&place_lock);
  return r;
}

/* The kernel replaced [a, a+len) with a mapping of the program's: drop what
 * we had there and record it as a placed mmap. */
static void adopt_locked(uintptr_t a, size_t len, int prot) {
  uintptr_t lo = a > ts_place_lo ? a : ts_place_lo;
  uintptr_t hi = a + len < ts_place_lo + ts_place_span ? a + len : ts_place_lo + ts_place_span;
  while (lo < hi) {
    place_region_t *pr = region_of(lo);
    uintptr_t s = lo, e = hi < pr->r.limit ? hi : pr->r.limit;
    free_kinds_locked(s, e - s, (1u << TAG_MALLOC) | (1u << TAG_MMAP), TS_FREE_DIRTY);
    ts_grant_t g;
    uintptr_t old_top = pr->r.top;
    /* Tainted: the program's own mapping (any prot, flags, even a file):
     * on unmap it must be replaced, never kept for reuse. */
    if (ts_region_alloc_at(&pr->r, s, e - s, MMAP_TAG(prot) | TAG_TAINTED, &g) == 0 &&
        pr->r.top > pr->committed) {
      /* keep "below committed is read-write": commit the gap below it */
      if (s > pr->committed && s > old_top) map_rw(pr->committed, s - pr->committed);
      pr->committed = align_up(pr->r.top, PAGE);
    }
    lo = e;
  }
}

void ts_place_adopt(void *addr, size_t len, int prot) {
  pthread_mutex_lock(&place_lock);
  if (place_on == P_ON) adopt_locked((uintptr_t)addr, align_up(len, PAGE), prot);
  pthread_mutex_unlock(&place_lock);
}

/* After the kernel moved a range out of the window, its old place is a
 * hole: reserve it again, or, if another thread's mmap took it meanwhile,
 * mark it lost so it is never mapped over. */
static void rereserve_locked(uintptr_t a, size_t len) {
  bool strict = ts_config.munmap_strict;
  ts_prim_ptr_t m = ts_prim_mmap((void *)a, len, strict ? PROT_NONE : PROT_READ | PROT_WRITE,
                                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE | (strict ? MAP_NORESERVE : 0),
                                 -1, 0);
  place_region_t *pr = region_of(a);
  ts_region_free(&pr->r, a, len, strict ? TS_FREE_NONE : TS_FREE_CLEAN);
  ts_thp_unmapped(a, len);
  ts_grant_t g;
  if (m.err) ts_region_alloc_at(&pr->r, a, len, TAG_FOREIGN, &g);
  else if (!strict) {
    ts_thp_mapped(a, len);
    ts_tier_window_mapped(a, len);
  }
}

static void *mremap_result(ts_prim_ptr_t r) {
  if (r.err == 0) return r.addr;
  errno = r.err;
  return MAP_FAILED;
}

/* The kernel refuses to move a range that spans two VMAs. A placed
 * mapping can: in auto mode, neighbouring commits may differ in
 * MADV_HUGEPAGE only. Then the move is a copy into the new range. */
static void *mremap_copy(uintptr_t o, size_t old_len, size_t new_len, uint32_t tag, ts_grant_t *g,
                         place_region_t *pr) {
  pthread_mutex_lock(&place_lock);
  bool ok = !g->unmapped || map_rw(g->addr, new_len);
  if (!ok) {
    ts_region_free(&pr->r, g->addr, new_len, TS_FREE_NONE);
    pthread_mutex_unlock(&place_lock);
    errno = ENOMEM;
    return MAP_FAILED;
  }
  pthread_mutex_unlock(&place_lock);
  memcpy((void *)g->addr, (void *)o, old_len);
  if (g->dirty && !g->unmapped) zero_range(g->addr + old_len, new_len - old_len);
  int prot = TAG_KIND(tag) == TAG_MMAP ? TAG_PROT(tag) : PROT_READ | PROT_WRITE;
  if (prot != (PROT_READ | PROT_WRITE)) (void)ts_prim_mprotect((void *)g->addr, new_len, prot);
  pthread_mutex_lock(&place_lock);
  free_kinds_locked(o, old_len, (1u << TAG_MALLOC) | (1u << TAG_MMAP), TS_FREE_NONE);
  pthread_mutex_unlock(&place_lock);
  ts_thp_granted(g->addr, new_len);
  return (void *)g->addr;
}

/* Moves [o, o+old_len) to a new placed range of new_len: the page tables
 * move (no copy), the new tail is mapped fresh. */
static void *mremap_move(uintptr_t o, size_t old_len, size_t new_len, uint32_t tag) {
  ts_grant_t g;
  place_region_t *pr;
  pthread_mutex_lock(&place_lock);
  int err = alloc_locked(new_len, new_len % PMD == 0 ? PMD : PAGE, tag, &g, &pr);
  pthread_mutex_unlock(&place_lock);
  if (err) return NULL;
  /* The kernel moves the page tables (no copy) and, when growing, extends
   * the mapping itself, so it keeps its flags (DONTFORK, WIPEONFORK, ...).
   * Same size: DONTUNMAP leaves the old range mapped, so no hole opens. */
  int flags = MREMAP_MAYMOVE | MREMAP_FIXED;
  ts_prim_ptr_t r = {NULL, EINVAL};
  /* Under the lock: a move without DONTUNMAP opens a hole at the source
   * until it is reserved again, and the program's own mmap(NULL) calls
   * take this lock, so none can land in it meanwhile. */
  pthread_mutex_lock(&place_lock);
  if (new_len == old_len) r = ts_prim_mremap((void *)o, old_len, old_len, flags | MREMAP_DONTUNMAP, (void *)g.addr);
  bool kept = r.err == 0; /* the old range is still mapped (empty) */
  if (r.err == EINVAL) r = ts_prim_mremap((void *)o, old_len, new_len, flags, (void *)g.addr);
  if (r.err == EFAULT) {
    pthread_mutex_unlock(&place_lock);
    return mremap_copy(o, old_len, new_len, tag, &g, pr);
  }
  if (r.err) {
    map_none(g.addr, new_len);
    ts_region_free(&pr->r, g.addr, new_len, TS_FREE_NONE);
    pthread_mutex_unlock(&place_lock);
    return mremap_result(r);
  }
  if (kept) free_kinds_locked(o, old_len, (1u << TAG_MALLOC) | (1u << TAG_MMAP), TS_FREE_NONE);
  else rereserve_locked(o, old_len);
  pthread_mutex_unlock(&place_lock);
  return (void *)g.addr; /* the moved mapping keeps its flags: no new advice */
}

/* The program chose the destination, or keeps the source (DONTUNMAP): the
 * kernel does the work, then the bookkeeping follows what it did. */
static void *mremap_kernel(uintptr_t o, size_t old_len, size_t new_len, int flags, void *new_addr, int prot) {
  pthread_mutex_lock(&place_lock); /* the move may open a hole: see mremap_move */
  ts_prim_ptr_t r = ts_prim_mremap((void *)o, old_len, new_len, flags, new_addr);
  if (r.err) {
    pthread_mutex_unlock(&place_lock);
    return mremap_result(r);
  }
  if (ts_place_touches((void *)o, old_len) && !(flags & MREMAP_DONTUNMAP)) rereserve_locked(o, old_len);
  if (ts_place_touches(r.addr, new_len)) adopt_locked((uintptr_t)r.addr, new_len, prot);
  pthread_mutex_unlock(&place_lock);
  return r.addr;
}

void *ts_place_mremap(void *old, size_t old_len, size_t new_len, int flags, void *new_addr) {
  uintptr_t o = (uintptr_t)old;
  const int known = MREMAP_MAYMOVE | MREMAP_FIXED | MREMAP_DONTUNMAP;
  if (o % PAGE || new_len == 0 || new_len > SIZE_MAX - PAGE || old_len > SIZE_MAX - PAGE ||
      (flags & ~known) || ((flags & MREMAP_FIXED) && !(flags & MREMAP_MAYMOVE))) {
    errno = EINVAL;
    return MAP_FAILED;
  }
  old_len = align_up(old_len, PAGE);
  new_len = align_up(new_len, PAGE);
  if (!ts_place_touches(old, old_len ? old_len : 1)) /* only the destination is ours */
    return mremap_kernel(o, old_len, new_len, flags, new_addr, PROT_READ | PROT_WRITE);
  pthread_mutex_lock(&place_lock);
  place_region_t *pr = region_of(o);
  const ts_range_t *x = ts_region_find(&pr->r, o);
  if (old_len == 0 || x == NULL || !PROGRAM_OWNED(x->tag) || o + old_len > x->addr + x->len) {
    pthread_mutex_unlock(&place_lock);
    errno = old_len == 0 ? EINVAL : EFAULT; /* not one mapping of the program's */
    return MAP_FAILED;
  }
  uint32_t tag = x->tag;
  bool at_end = o + old_len == x->addr + x->len;
  int prot = TAG_KIND(tag) == TAG_MMAP ? TAG_PROT(tag) : PROT_READ | PROT_WRITE;
  if ((flags & (MREMAP_FIXED | MREMAP_DONTUNMAP)) || TAG_KIND(tag) == TAG_FOREIGN) {
    pthread_mutex_unlock(&place_lock);
    return mremap_kernel(o, old_len, new_len, flags, new_addr, prot);
  }
  if (new_len <= old_len) { /* shrink: the tail is unmapped */
    if (new_len < old_len) {
      unmap_piece_locked(pr, o + new_len, old_len - new_len, tag);
      retain_check_locked();
    }
    pthread_mutex_unlock(&place_lock);
    return old;
  }
  ts_grant_t g;
  size_t more = new_len - old_len;
  /* grow in place: the mapping's record grows (one mapping, as the kernel
   * sees it); a tail piece of a record gets a record of its own */
  bool grown = at_end &&
               (o == x->addr ? ts_region_resize(&pr->r, o, new_len, TS_FREE_NONE, &g)
                             : ts_region_alloc_at(&pr->r, o + old_len, more, tag, &g)) == 0;
  if (grown) {
    /* Give the kernel the space after the mapping and let it extend the
     * mapping in place: the new part keeps the mapping's flags. */
    bool ok = commit_to(pr, pr->r.top) && ts_prim_munmap((void *)(o + old_len), more) == 0;
    ts_prim_ptr_t m = ok ? ts_prim_mremap(old, old_len, new_len, 0, NULL) : (ts_prim_ptr_t){NULL, ENOMEM};
    if (m.err == 0) { /* the mapping's own flags (THP advice included) carried over */
      pthread_mutex_unlock(&place_lock);
      return old;
    }
    if (ok) { /* another thread's mmap took the space meanwhile: ours no more */
      ts_region_free(&pr->r, o + old_len, more, TS_FREE_NONE);
      rereserve_locked(o + old_len, more);
    } else {
      map_none(o + old_len, more);
      ts_region_free(&pr->r, o + old_len, more, TS_FREE_NONE);
    }
  }
  pthread_mutex_unlock(&place_lock);
  if (!(flags & MREMAP_MAYMOVE)) {
    errno = ENOMEM;
    return MAP_FAILED;
  }
  void *moved = mremap_move(o, old_len, new_len, tag);
  if (moved != NULL) return moved;
  return mremap_kernel(o, old_len, new_len, flags, NULL, prot); /* window full: the kernel's choice */
}

/* ---- mprotect, madvise ------------------------------------------------
 * Inside the window, the program's unmapped holes are still mapped (by us,
 * PROT_NONE or free), so the kernel would not see them: these calls are
 * checked against the records, with the kernel's rules for holes. */

/* The program-owned pieces of [a, end), and where the first hole starts
 * (end if none). */
static size_t owned_pieces_locked(uintptr_t a, uintptr_t end, ts_range_t *out, size_t max,
                                  uintptr_t *hole) {
  size_t n = 0;
  *hole = end;
  uintptr_t at = a;
  while (at < end) {
    place_region_t *pr = region_of(at);
    uintptr_t stop = end < pr->r.limit ? end : pr->r.limit;
    ts_range_t piece[PIECES];
    size_t k = ts_region_live_in(&pr->r, at, stop - at, piece, PIECES);
    if (k > PIECES) k = PIECES;
    for (size_t i = 0; i < k; i++) {
      if (piece[i].addr != at || !PROGRAM_OWNED(piece[i].tag)) {
        if (*hole == end) *hole = at;
        if (!PROGRAM_OWNED(piece[i].tag)) { at = piece[i].addr + piece[i].len; continue; }
      }
      if (n < max) out[n++] = piece[i];
      at = piece[i].addr + piece[i].len;
    }
    if (k == 0 || (k < PIECES && at < stop)) {
      if (*hole == end) *hole = at;
      at = stop;
    }
  }
  return n;
}

/* Gives a program-owned piece a new tag (its record split out as needed). */
static void retag_locked(const ts_range_t *piece, uint32_t tag) {
  place_region_t *pr = region_of(piece->addr);
  ts_grant_t g;
  ts_region_free(&pr->r, piece->addr, piece->len, TS_FREE_DIRTY);
  ts_region_alloc_at(&pr->r, piece->addr, piece->len, tag, &g);
}

/* The kernel's argument checks for mprotect and madvise: 0 to go on, 1 for
 * an empty range (success), or -EINVAL. */
static int range_args(void *addr, size_t len, uintptr_t *end) {
  uintptr_t a = (uintptr_t)addr;
  if (a % PAGE) return -EINVAL;
  if (len == 0) return 1;
  *end = align_up(a + len, PAGE);
  return 0;
}

/* mprotect: applied up to the first hole, which then fails with ENOMEM
 * (as the kernel walks VMAs); placed mmaps' records split and carry the
 * new protection, so a later mremap across the boundary fails as the
 * kernel's would (two VMAs). */
int ts_place_mprotect(void *addr, size_t len, int prot) {
  uintptr_t a = (uintptr_t)addr, end, hole;
  int args = range_args(addr, len, &end);
  if (args != 0) return args < 0 ? args : 0;
  ts_range_t piece[PIECES];
  pthread_mutex_lock(&place_lock);
  size_t n = owned_pieces_locked(a, end, piece, PIECES, &hole);
  int r = hole > a ? ts_prim_mprotect(addr, hole - a, prot) : 0;
  for (size_t i = 0; r == 0 && i < n && piece[i].addr < hole; i++)
    if (TAG_KIND(piece[i].tag) == TAG_MMAP) retag_locked(&piece[i], MMAP_TAG(prot) | TAG_TAINTED);
  pthread_mutex_unlock(&place_lock);
  return r ? r : (hole < end ? -ENOMEM : 0);
}

/* Advice that changes VMA flags (what outlives the call), as opposed to
 * advice about the pages (DONTNEED, FREE, WILLNEED, COLD, PAGEOUT, ...). */
static bool advice_sets_flags(int advice) {
  switch (advice) {
  case MADV_NORMAL: case MADV_RANDOM: case MADV_SEQUENTIAL: case MADV_DONTFORK: case MADV_DOFORK:
  case MADV_MERGEABLE: case MADV_UNMERGEABLE: case MADV_HUGEPAGE: case MADV_NOHUGEPAGE:
  case MADV_DONTDUMP: case MADV_DODUMP: case MADV_WIPEONFORK: case MADV_KEEPONFORK:
    return true;
  default:
    return false;
  }
}

/* Marks the program-owned pieces tainted (records split as needed). */
static void taint_locked(const ts_range_t *piece, size_t n) {
  for (size_t i = 0; i < n; i++) {
    if ((piece[i].tag & TAG_TAINTED) || TAG_KIND(piece[i].tag) == TAG_FOREIGN) continue;
    place_region_t *pr = region_of(piece[i].addr);
    if (TAG_KIND(piece[i].tag) == TAG_MALLOC) { /* a block stays one record */
      const ts_range_t *x = ts_region_find(&pr->r, piece[i].addr);
      if (x) ((ts_range_t *)x)->tag |= TAG_TAINTED;
      continue;
    }
    retag_locked(&piece[i], piece[i].tag | TAG_TAINTED);
  }
}

/* madvise: applied to every mapped piece; any hole makes it ENOMEM. */
int ts_place_madvise(void *addr, size_t len, int advice) {
  uintptr_t a = (uintptr_t)addr, end, hole;
  int args = range_args(addr, len, &end);
  if (args != 0) return args < 0 ? args : 0;
  ts_range_t piece[PIECES];
  pthread_mutex_lock(&place_lock);
  size_t n = owned_pieces_locked(a, end, piece, PIECES, &hole);
  int r = 0;
  for (size_t i = 0; i < n && r == 0; i++) r = ts_prim_madvise((void *)piece[i].addr, piece[i].len, advice);
  if (r == 0 && advice_sets_flags(advice)) taint_locked(piece, n);
  pthread_mutex_unlock(&place_lock);
  return r ? r : (hole < end ? -ENOMEM : 0);
}

/* ---- stats, fork --------------------------------------------------------- */

const char *ts_place_state(void) { return place_why; }

/* The "placement" object of the stats: counters and region figures under
 * the lock, then the window's VMAs, RSS and huge pages from smaps. */
static void place_stats_hook(ts_stats_placement_t *o) {
  pthread_mutex_lock(&place_lock);
  o->present = true;
  o->state = place_why;
  o->thp_mode = place_on == P_ON ? ts_thp_names[ts_thp_effective() & 3] : "off";
  o->thp_reason = place_on == P_ON ? ts_thp_reason() : place_why;
  o->placed_mmaps = pst.placed_mmaps;
  o->placed_bytes = pst.placed_bytes;
  o->pmd_aligned = pst.pmd_aligned;
  o->placed_mallocs = pst.placed_mallocs;
  o->malloc_fallbacks = pst.malloc_fallbacks;
  o->mmap_fallbacks = pst.mmap_fallbacks;
  o->reused = pst.reused;
  o->regions = (mid.r.top > mid.r.base) + (pmd.r.top > pmd.r.base);
  o->retained_bytes = mid.r.dirty_bytes + pmd.r.dirty_bytes;
  o->region_live_bytes = mid.r.live_bytes + pmd.r.live_bytes;
  o->region_committed_bytes = (mid.committed - mid.r.base) + (pmd.committed - pmd.r.base);
  uintptr_t lo = window_lo, len = window_len;
  pthread_mutex_unlock(&place_lock);
  o->release_mode = ts_unmap_release_mode();
  o->released_bytes = ts_unmap_released_bytes();
  o->release_calls = ts_unmap_release_calls();
  o->collapse_ok = ts_thp_stats.collapse_ok;
  o->collapse_fail = ts_thp_stats.collapse_fail;
  o->collapse_bytes = ts_thp_stats.collapse_bytes;
  o->thp_advise_ok = ts_thp_stats.advise_ok;
  o->thp_advise_fail = ts_thp_stats.advise_fail;
  o->heap_thp_bytes = ts_thp_stats.heap_advised_bytes;
  o->heap_thp_fail = ts_thp_stats.heap_advise_fail;
  ts_procfs_window_t w;
  ts_procfs_window(lo, lo + len, &w);
  o->region_rss_bytes = w.rss_bytes;
  o->region_huge_bytes = w.huge_bytes;
  o->vma_count_regions = w.vmas;
}

void ts_place_install_stats(void) { ts_stats_placement_hook = place_stats_hook; }

void ts_place_usage(ts_place_usage_t *u) {
  pthread_mutex_lock(&place_lock);
  *u = (ts_place_usage_t){.malloc_bytes = pst.malloc_bytes, .malloc_blocks = pst.malloc_blocks};
  if (place_on == P_ON) {
    u->region_live = mid.r.live_bytes + pmd.r.live_bytes;
    u->retained = mid.r.dirty_bytes + pmd.r.dirty_bytes;
    u->committed = (mid.committed - mid.r.base) + (pmd.committed - pmd.r.base);
  }
  pthread_mutex_unlock(&place_lock);
}

int ts_place_committed(uintptr_t r[4]) {
  pthread_mutex_lock(&place_lock);
  int n = 0;
  if (place_on == P_ON) {
    r[0] = mid.r.base, r[1] = mid.committed, r[2] = pmd.r.base, r[3] = pmd.committed;
    n = 2;
  }
  pthread_mutex_unlock(&place_lock);
  return n;
}

/* A mapping whose address the kernel chooses, taken under the placement
 * lock once the window exists: while a move holds the lock, the window may
 * have a hole, and the kernel must not put this mapping in it. */
ts_prim_ptr_t ts_place_kernel_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off) {
  if (ts_place_span == 0 || (flags & (MAP_FIXED | MAP_FIXED_NOREPLACE)))
    return ts_prim_mmap(addr, len, prot, flags, fd, off);
  pthread_mutex_lock(&place_lock);
  ts_prim_ptr_t r = ts_prim_mmap(addr, len, prot, flags, fd, off);
  pthread_mutex_unlock(&place_lock);
  return r;
}

void ts_place_lock(void) { pthread_mutex_lock(&place_lock); }
void ts_place_unlock(void) { pthread_mutex_unlock(&place_lock); }

void ts_place_fork_child(void) {
  pthread_mutex_init(&place_lock, NULL);
  rel_busy[0] = rel_busy[1] = 0; /* their threads are not in the child */
  ts_thp_fork_child();
}
