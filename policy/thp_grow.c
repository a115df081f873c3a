/* Huge pages once the program has grown; see thp.h.
 *
 * A huge page is 2 MiB of RSS from the first touch. mimalloc's first
 * segment and tiershim's first region chunk each gave a small process a
 * huge page it did not need: `true`, a shell, a script with a few MiB of
 * heap held about 2 MiB more than under mimalloc (1.5-2x). So fault-time
 * huge pages wait until the program has grown: one block or mapping of
 * 2 MiB or more (a model, a tensor, an arena: advised before it is
 * touched), or a peak RSS of TIERSHIM_THP_GROWN. Until then the regions'
 * whole blocks are marked (thp.c, BLK_DEFER) and the heap's mappings
 * recorded; the flip advises them all at once. Pages already touched stay
 * small (the collapse thread and khugepaged may rebuild them): a few MiB
 * at most, the price of not guessing. The flip is one-way. */
#include <pthread.h>
#include <stdbool.h>

#include "base/options.h"
#include "base/prim.h"
#include "base/reentry.h"
#include "policy/thp.h"
#include "policy/thp_int.h"

#define PMD ((size_t)2 << 20)
#define RECHECK_NS 1000000ull /* RSS read at most once a millisecond */
#define HEAP_SLOTS 8          /* mimalloc maps few segments; more is growth */

static int grown; /* 0 until the flip */
static uint64_t checked_ns;
static pthread_mutex_t heap_lock = PTHREAD_MUTEX_INITIALIZER;
static struct { uintptr_t lo, hi; } heap[HEAP_SLOTS]; /* deferred heap ranges; hi == 0: empty */

bool ts_thp_grown(void) { return __atomic_load_n(&grown, __ATOMIC_ACQUIRE) != 0; }

static void grow_now(void) {
  if (__atomic_exchange_n(&grown, 1, __ATOMIC_ACQ_REL)) return;
  ts_thp_stats.grown_faults = ts_prim_minflt();
  ts_thp_stats.grown_rss = ts_prim_maxrss();
  thp_advise_deferred();
  ts_lock(&heap_lock);
  for (int i = 0; i < HEAP_SLOTS; i++) {
    if (heap[i].hi != 0) thp_heap_advise(heap[i].lo, heap[i].hi);
    heap[i].lo = heap[i].hi = 0;
  }
  ts_unlock(&heap_lock);
}

void ts_thp_grow_check(size_t request) {
  if (ts_thp_grown()) return;
  if (ts_config.thp_grown == 0 || request >= PMD) {
    grow_now();
    return;
  }
  uint64_t now = ts_prim_clock_ns(), last = __atomic_load_n(&checked_ns, __ATOMIC_RELAXED);
  if (last != 0 && now - last < RECHECK_NS) return;
  __atomic_store_n(&checked_ns, now, __ATOMIC_RELAXED);
  if (ts_prim_maxrss() >= ts_config.thp_grown) grow_now();
}

void thp_heap_defer(uintptr_t lo, uintptr_t hi) {
  bool full = true;
  ts_lock(&heap_lock);
  if (!ts_thp_grown()) {
    for (int i = 0; i < HEAP_SLOTS && full; i++)
      if (heap[i].hi == 0) heap[i].lo = lo, heap[i].hi = hi, full = false;
  }
  ts_unlock(&heap_lock);
  if (full) { /* a ninth segment, or the flip came meanwhile */
    grow_now();
    thp_heap_advise(lo, hi);
  }
}

/* mimalloc gave [addr, addr+len) back to the OS: what may come there next
 * is not the heap's, and must never get the heap's advice. A record cut in
 * the middle is dropped whole (its halves stay small). */
void ts_thp_heap_unmapped(uintptr_t addr, size_t len) {
  if (ts_thp_grown()) return;
  uintptr_t lo = addr, hi = addr + len;
  ts_lock(&heap_lock);
  for (int i = 0; i < HEAP_SLOTS; i++) {
    if (heap[i].hi <= lo || heap[i].lo >= hi) continue;
    if (lo <= heap[i].lo && hi < heap[i].hi) heap[i].lo = hi;       /* the head went */
    else if (lo > heap[i].lo && hi >= heap[i].hi) heap[i].hi = lo;  /* the tail went */
    else heap[i].lo = heap[i].hi = 0;                               /* all, or the middle */
    if (heap[i].hi != 0 && heap[i].hi - heap[i].lo < PMD) heap[i].lo = heap[i].hi = 0;
  }
  ts_unlock(&heap_lock);
}

/* A fork child: another thread of the parent may have held the lock, half
 * way through a record. The records are dropped (those heap blocks keep
 * small pages), never advised on a guess. */
void thp_grow_fork_child(void) {
  pthread_mutex_init(&heap_lock, NULL);
  for (int i = 0; i < HEAP_SLOTS; i++) heap[i].lo = heap[i].hi = 0;
}
