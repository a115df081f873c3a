/* Huge pages for the regions; see thp.h.
 *
 * Collapse candidates are tracked as one 16-bit state per 2 MiB block of the
 * window (64 KiB for the default 64 GiB window): the collapse thread scans
 * the array instead of keeping a queue, so granting never blocks and a
 * block is never queued twice. */
#define _GNU_SOURCE
#include "base/tick.h"
#include "base/reentry.h"
#include "policy/thp.h"
#include "policy/thp_int.h"
#include "policy/tierpol.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "base/meta.h"
#include "base/options.h"
#include "base/prim.h"
#include "base/range.h"
#include "base/thread.h"

#ifndef MADV_COLLAPSE
#define MADV_COLLAPSE 25
#endif

#define THP_SYSFS "/sys/kernel/mm/transparent_hugepage/"
#define BUDDY_FREE_MIN ((uint64_t)1 << 30)  /* free 2 MiB blocks that make a fault cheap */
#define BUDDY_RECHECK_NS (100 * 1000000ull)
#define RESIDENT_MIN 448                     /* of 512 pages: "populated" */
#define ATTEMPTS_MAX 60                      /* scans before a block is given up */
#define SCAN_PERIOD_MS 10
#define COLLAPSE_PER_SCAN 256               /* then the next period */
#define COLLAPSE_PAUSE_NS 20000             /* between two collapses */
#define QUIET_NS (2 * 1000000ull)            /* no placement activity for this long */
#define BUSY_FAULTS_PER_MS 16                /* the program is filling memory (64 MiB/s) */
#define FILL_MAX_NS (10 * 1000000000ull)     /* ... but not for longer than this */

ts_thp_stats_t ts_thp_stats;

/* Block states (16 bits a block): the low 2 bits; bit 2 (BLK_NOHUGE) says
 * the block belongs to a sparse range (ts_thp_sparse) and may carry
 * MADV_NOHUGEPAGE, which must be undone; bit 3 (BLK_DEFER) says the block
 * waits for its MADV_HUGEPAGE until the program has grown (thp_grow.c);
 * the bits above count attempts. */
enum { BLK_IDLE = 0, BLK_FAULT = 1, BLK_PENDING = 2, BLK_DONE = 3 };
#define BLK_NOHUGE 4u
#define BLK_DEFER 8u
#define BLK_MARKS (BLK_NOHUGE | BLK_DEFER) /* kept through state changes */
#define BLK_ATTEMPT 16u
#define BLK_ATTEMPTS(s) ((s) >> 4)

static bool (*thp_collapsible)(uintptr_t block); /* the placement engine's (ts_thp_init) */

static int thp_mode = TS_THP_OFF;
static const char *thp_why = "not initialised";
static bool thp_stall_possible;  /* defrag makes fault-time compaction synchronous */
static bool thp_collapse_ok;     /* the kernel knows MADV_COLLAPSE */
static bool thp_explicit;        /* TIERSHIM_THP=collapse, or a rule's thp=collapse */
static uintptr_t thp_base;
static uint16_t *thp_blocks;
static size_t thp_nblocks;

static pthread_mutex_t thp_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t thp_wake = PTHREAD_COND_INITIALIZER;
static bool thp_thread_started;
static uint64_t thp_last_activity_ns; /* the last grant: the program is allocating */
/* Waking the thread per grant cost a futex call and a full scan per large
 * allocation (22,000 a second in bench/micro/unmap). While it has pending
 * blocks it rescans on its own period; only a thread asleep with nothing
 * pending needs a signal. thp_grants and thp_sleeping pair up like
 * Dekker's flags (sequentially consistent): either the thread sees a new
 * grant before it sleeps, or the grant sees it asleep and signals. */
static uint64_t thp_grants;
static bool thp_sleeping;

/* ---- the mode ----------------------------------------------------------- */

static int sysfs_word(const char *file) {
  char text[256];
  if (ts_prim_read_file(file, text, sizeof text) <= 0) return -1;
  return ts_thp_sysfs_choice(text);
}

/* The kernel validates the advice before the range: on an unmapped page a
 * known advice fails with ENOMEM, an unknown one with EINVAL. */
static bool probe_collapse(void) {
  return ts_prim_madvise((void *)(uintptr_t)4096, 4096, MADV_COLLAPSE) == -ENOMEM;
}

bool ts_thp_defrag_may_stall(int defrag) {
  return defrag == TS_THP_SYS_ALWAYS || defrag == TS_THP_SYS_MADVISE || defrag == TS_THP_SYS_DEFER_MADVISE;
}

/* The kernel's switch comes first: no THP means off whatever was asked;
 * then collapse needs MADV_COLLAPSE, and auto explains which of its two
 * ways it will take. */
ts_thp_mode_t ts_thp_decide(const ts_thp_inputs_t *in, const char **reason) {
  if (in->enabled < 0 || in->enabled == TS_THP_SYS_NEVER) {
    *reason = in->enabled < 0 ? "no THP support in this kernel" : "THP disabled (enabled=never)";
    return TS_THP_OFF;
  }
  if (in->requested == TS_THP_COLLAPSE && !in->collapse_ok) {
    *reason = "MADV_COLLAPSE unsupported: fell back to fault";
    return TS_THP_FAULT;
  }
  if (in->requested == TS_THP_AUTO) {
    *reason = !ts_thp_defrag_may_stall(in->defrag) ? "auto: defrag cannot stall, huge pages at fault"
              : in->collapse_ok ? "auto: fault while free 2 MiB blocks suffice, else collapse"
                                : "auto: MADV_COLLAPSE unsupported, huge pages at fault";
    return TS_THP_AUTO;
  }
  *reason = "as configured";
  return in->requested;
}

void ts_thp_mode_init(void) {
  static bool done; /* init and a first placement on another thread may both get here */
  if (__atomic_exchange_n(&done, true, __ATOMIC_ACQ_REL)) return;
  ts_thp_inputs_t in; /* probed one after another, in this order */
  in.enabled = sysfs_word(THP_SYSFS "enabled");
  in.defrag = sysfs_word(THP_SYSFS "defrag");
  in.collapse_ok = probe_collapse();
  in.requested = ts_config.thp;
  thp_stall_possible = ts_thp_defrag_may_stall(in.defrag);
  thp_collapse_ok = in.collapse_ok;
  thp_explicit = in.requested == TS_THP_COLLAPSE;
  thp_mode = ts_thp_decide(&in, &thp_why);
}

void ts_thp_init(uintptr_t window, size_t window_len, bool (*collapsible)(uintptr_t block)) {
  ts_thp_mode_init();
  thp_collapsible = collapsible;
  thp_base = window;
  thp_nblocks = window_len / PMD;
  thp_blocks = ts_meta_map((thp_nblocks * sizeof *thp_blocks + 4095) & ~(size_t)4095);
  if (thp_blocks) ts_tier_bind_hot(thp_blocks, thp_nblocks * sizeof *thp_blocks);
}

int ts_thp_effective(void) { return thp_mode; }
const char *ts_thp_reason(void) { return thp_why; }

/* May the collapse thread start now? tiershim's default never makes a
 * single-threaded program multi-threaded (shim/thread.c); a mode or rule
 * that asks for collapses by name does. */
static bool collapse_may_start(void) {
  return __atomic_load_n(&thp_thread_started, __ATOMIC_ACQUIRE) || thp_explicit || ts_thread_may_add();
}

static bool collapse_usable(void) { return thp_collapse_ok && collapse_may_start(); }
bool thp_collapse_usable(void) { return collapse_usable(); }

static bool collapse_wanted(void) {
  return thp_blocks != NULL && thp_collapse_ok && (thp_mode == TS_THP_COLLAPSE || thp_mode == TS_THP_AUTO);
}

/* auto: is a fault-time huge page cheap right now? Either free 2 MiB
 * blocks are plentiful (no compaction needed), or the machine is
 * fragmented but direct compaction works: then a huge-page fault costs a
 * compaction of memory already in use, which bench/serving/serve.py latency
 * measured cheaper than the alternative, 512 small faults now and a
 * MADV_COLLAPSE later (that copies the 2 MiB, compacts just the same, and
 * takes the mmap lock for writing): with ts_fragmenter holding free memory
 * in pieces, ONNX Runtime BERT's inference p99 was 0.98x under fault-time
 * pages what it was deferring to collapses, at 100 direct compactions
 * against 417 and 6,000 faults against 142,000. Where direct compaction
 * keeps failing (memory pinned by unmovable pages), the fault would stall
 * for nothing: those ranges go to the collapse thread, off the request
 * path. buddyinfo and vmstat are re-read at most every 100 ms (racing
 * readers at worst both read them: the values are only a hint). */
static uint64_t room_free_bytes;
static bool room_compaction_works = true; /* until compactions are seen failing */

static void room_refresh(void) {
  static uint64_t checked_ns, last_stalls, last_fails;
  uint64_t now = ts_prim_clock_ns();
  if (checked_ns != 0 && now - checked_ns <= BUDDY_RECHECK_NS) return;
  char text[6144]; /* /proc/vmstat's compact_* lines sit about 3 KB in */
  room_free_bytes = ts_prim_read_file("/proc/buddyinfo", text, sizeof text) > 0
                        ? ts_thp_buddy_huge_bytes(text, ts_prim_page_size()) : 0;
  if (room_free_bytes < BUDDY_FREE_MIN && ts_prim_read_file("/proc/vmstat", text, sizeof text) > 0) {
    uint64_t stalls = ts_thp_vmstat_counter(text, "compact_stall"), fails = ts_thp_vmstat_counter(text, "compact_fail");
    if (checked_ns != 0 && stalls >= last_stalls && fails >= last_fails)
      room_compaction_works = ts_thp_compaction_verdict(room_compaction_works, stalls - last_stalls, fails - last_fails);
    last_stalls = stalls;
    last_fails = fails;
  }
  checked_ns = now;
}

bool thp_buddy_has_room(void) {
  room_refresh();
  return room_free_bytes >= BUDDY_FREE_MIN;
}

static bool fault_cheap(void) {
  room_refresh();
  return room_free_bytes >= BUDDY_FREE_MIN || room_compaction_works;
}

static bool fault_now(void) {
  switch (thp_mode) {
  case TS_THP_FAULT: return true;
  case TS_THP_AUTO: return !thp_stall_possible || !collapse_usable() || fault_cheap();
  default: return false;
  }
}

static void collapse_kick(void);

/* ---- block states ------------------------------------------------------- */

/* Moves the blocks of [addr, addr+len) whose state is in from_mask to `to`;
 * the NOHUGE mark stays unless `to` carries its own (a fresh mapping). */
static void blocks_set_ex(uintptr_t addr, size_t len, uint8_t from_mask, uint16_t to, bool keep_mark) {
  if (thp_blocks == NULL || len == 0) return;
  size_t first = (addr - thp_base) / PMD, last = (addr + len - 1 - thp_base) / PMD;
  for (size_t b = first; b <= last && b < thp_nblocks; b++) {
    uint16_t s = __atomic_load_n(&thp_blocks[b], __ATOMIC_RELAXED);
    if ((from_mask >> (s & 3)) & 1)
      __atomic_store_n(&thp_blocks[b], (uint16_t)(to | (keep_mark ? (s & BLK_MARKS) : 0)), __ATOMIC_RELAXED);
  }
}

static void blocks_set(uintptr_t addr, size_t len, uint8_t from_mask, uint16_t to) {
  blocks_set_ex(addr, len, from_mask, to, true);
}

/* The whole blocks of [addr, addr+len) that carry mark `from` (any, if 0)
 * trade it for `to`. */
static void blocks_remark(uintptr_t addr, size_t len, uint16_t from, uint16_t to) {
  if (thp_blocks == NULL) return;
  uintptr_t lo = (addr + PMD - 1) & ~(uintptr_t)(PMD - 1), hi = (addr + len) & ~(uintptr_t)(PMD - 1);
  for (uintptr_t a = lo; a < hi; a += PMD) {
    uint16_t *p = &thp_blocks[(a - thp_base) / PMD], s = __atomic_load_n(p, __ATOMIC_RELAXED);
    if (from == 0 || (s & from)) __atomic_store_n(p, (uint16_t)((s & ~from) | to), __ATOMIC_RELAXED);
  }
}
#define blocks_mark(addr, len, m) blocks_remark(addr, len, 0, m)

void ts_thp_mapped(uintptr_t addr, size_t len) {
  if (!fault_now()) return;
  if (!ts_thp_grown()) { /* whole blocks wait (thp_grow.c) */
    blocks_mark(addr, len, BLK_DEFER);
    return;
  }
  if (ts_prim_madvise((void *)addr, len, MADV_HUGEPAGE) == 0) {
    ts_thp_stats.advise_ok++;
    blocks_set(addr, len, 0xF, BLK_FAULT);
  } else {
    ts_thp_stats.advise_fail++;
  }
}

/* mimalloc maps its segments itself; without the advice its small objects
 * fault 4 KiB at a time even where every large block gets huge pages. Its
 * later partial purges (MADV_DONTNEED of a few slices) split a huge page
 * back into small ones: correct, merely less huge. */
void ts_thp_heap_mapped(uintptr_t addr, size_t len) {
  if (!ts_config.heap_thp || len < PMD) return;
  uintptr_t lo = (addr + PMD - 1) & ~(uintptr_t)(PMD - 1), hi = (addr + len) & ~(uintptr_t)(PMD - 1);
  if (hi <= lo) return;
  ts_thp_grow_check(0);
  if (!ts_thp_grown()) {
    thp_heap_defer(lo, hi);
    return;
  }
  thp_heap_advise(lo, hi);
}

void thp_heap_advise(uintptr_t lo, uintptr_t hi) {
  if (!fault_now()) return;
  if (ts_prim_madvise((void *)lo, hi - lo, MADV_HUGEPAGE) == 0)
    __atomic_fetch_add(&ts_thp_stats.heap_advised_bytes, hi - lo, __ATOMIC_RELAXED);
  else
    __atomic_fetch_add(&ts_thp_stats.heap_advise_fail, 1, __ATOMIC_RELAXED);
}

/* Released (MADV_DONTNEED): the pages are gone but the VMA keeps its
 * advice, so a block advised for fault-time huge pages stays so (it will
 * refault huge: collapsing it would be a no-op). */
void ts_thp_released(uintptr_t addr, size_t len) {
  blocks_set(addr, len, (1u << BLK_PENDING) | (1u << BLK_DONE), BLK_IDLE);
}

/* Mapped afresh (PROT_NONE or a new mapping): any advice is gone. */
void ts_thp_unmapped(uintptr_t addr, size_t len) { blocks_set_ex(addr, len, 0xF, BLK_IDLE, false); }

/* Runs of whole blocks of [addr, addr+len) that `pick` selects get
 * `advice`, and `set` applied; a run is one madvise (one VMA change). */
static void blocks_advise(uintptr_t addr, size_t len, bool (*pick)(uint16_t), int advice, uint16_t (*set)(uint16_t)) {
  if (thp_blocks == NULL) return;
  uintptr_t lo = (addr + PMD - 1) & ~(uintptr_t)(PMD - 1), hi = (addr + len) & ~(uintptr_t)(PMD - 1);
  for (uintptr_t a = lo; a < hi;) {
    size_t b = (a - thp_base) / PMD;
    if (!pick(thp_blocks[b])) { a += PMD; continue; }
    uintptr_t e = a;
    while (e < hi && pick(thp_blocks[(e - thp_base) / PMD])) e += PMD;
    if (ts_prim_madvise((void *)a, e - a, advice) == 0) {
      for (uintptr_t x = a; x < e; x += PMD) {
        uint16_t *p = &thp_blocks[(x - thp_base) / PMD];
        __atomic_store_n(p, set(*p), __ATOMIC_RELAXED);
      }
    } else {
      ts_thp_stats.advise_fail++;
    }
    a = e;
  }
}

static bool pick_advised(uint16_t s) { return (s & 3) == BLK_FAULT && !(s & BLK_NOHUGE); }
static bool pick_nohuge(uint16_t s) { return (s & BLK_NOHUGE) != 0; }
static uint16_t set_sparse(uint16_t s) {
  __atomic_fetch_add(&ts_thp_stats.sparse_bytes, PMD, __ATOMIC_RELAXED);
  return (uint16_t)(BLK_IDLE | BLK_NOHUGE);
}
static uint16_t set_unsparse(uint16_t s) { return BLK_FAULT; }
static bool pick_deferred(uint16_t s) { return (s & BLK_MARKS) == BLK_DEFER; }
/* advised at last: an idle block faults huge from now on; one the program
 * already filled with small pages stays a collapse candidate */
static uint16_t set_advised(uint16_t s) {
  uint16_t st = s & 3;
  return (uint16_t)((st == BLK_IDLE ? BLK_FAULT : st) | (s & ~(uint16_t)(BLK_DEFER | 3)));
}

/* The program has grown (thp_grow.c): every block still waiting gets its
 * MADV_HUGEPAGE, in runs. */
void thp_advise_deferred(void) {
  if (thp_blocks != NULL) blocks_advise(thp_base, thp_nblocks * PMD, pick_deferred, MADV_HUGEPAGE, set_advised);
}

/* A range that may be used sparsely: its whole blocks that would get
 * fault-time huge pages are advised MADV_NOHUGEPAGE (a huge page per
 * touched 2 MiB would multiply its RSS), and all its blocks become collapse
 * candidates: those the program fills densely become huge pages in the
 * background, in every mode where MADV_COLLAPSE works. */
void ts_thp_sparse(uintptr_t addr, size_t len) {
  if (thp_blocks == NULL) return;
  blocks_advise(addr, len, pick_advised, MADV_NOHUGEPAGE, set_sparse);
  blocks_remark(addr, len, BLK_DEFER, BLK_NOHUGE); /* not advised yet: just never at the flip */
  if (!thp_collapse_ok) return;
  __atomic_store_n(&thp_last_activity_ns, ts_prim_clock_ns(), __ATOMIC_RELAXED);
  blocks_set(addr, len, 1u << BLK_IDLE, BLK_PENDING);
  collapse_kick();
}

/* The sparse range is freed: its blocks get their advice back. */
void ts_thp_unsparse(uintptr_t addr, size_t len) {
  if (!ts_thp_grown()) { /* before the flip no block carries NOHUGEPAGE advice */
    blocks_remark(addr, len, BLK_NOHUGE, BLK_DEFER);
    return;
  }
  blocks_advise(addr, len, pick_nohuge, MADV_HUGEPAGE, set_unsparse);
}

/* ---- the collapse thread ------------------------------------------------ */

static bool block_populated(uintptr_t a) {
  unsigned char vec[PMD / PAGE];
  if (ts_prim_page_size() != PAGE || ts_prim_mincore((void *)a, PMD, vec) != 0) return false;
  int resident = 0;
  for (size_t i = 0; i < sizeof vec; i++) resident += vec[i] & 1;
  return resident >= RESIDENT_MIN;
}

/* One block: collapse it if populated; otherwise count an attempt. */
static void collapse_block(size_t b) {
  uint16_t s0 = __atomic_load_n(&thp_blocks[b], __ATOMIC_RELAXED), s = s0;
  if ((s & 3) != BLK_PENDING) return;
  uintptr_t a = thp_base + b * PMD;
  uint16_t next;
  if (!block_populated(a)) {
    next = BLK_ATTEMPTS(s) + 1 >= ATTEMPTS_MAX ? (uint16_t)(BLK_IDLE | (s & BLK_MARKS)) : (uint16_t)(s + BLK_ATTEMPT);
    if ((next & 3) == BLK_IDLE) ts_thp_stats.collapse_skipped++;
  } else if (thp_collapsible && !thp_collapsible(a)) {
    next = (uint16_t)(BLK_DONE | (s & BLK_MARKS)); /* MAP_POPULATE/MAP_LOCKED pages: left as they are */
    ts_thp_stats.collapse_skipped++;
  } else {
    int saved = errno;
    /* a dense block of a sparse range: its advice first (MADV_COLLAPSE
     * refuses VM_NOHUGEPAGE), so it stays huge once rebuilt */
    if ((s & BLK_NOHUGE) && ts_prim_madvise((void *)a, PMD, MADV_HUGEPAGE) == 0) s &= (uint16_t)~BLK_NOHUGE;
    thp_warm_page(); /* the copy below then runs on a page already backed */
    int r = ts_prim_madvise((void *)a, PMD, MADV_COLLAPSE);
    errno = saved;
    bool transient = r == -EAGAIN || r == -EBUSY || r == -ENOMEM;
    if (r == 0) {
      __atomic_add_fetch(&ts_thp_stats.collapse_ok, 1, __ATOMIC_RELAXED);
      __atomic_add_fetch(&ts_thp_stats.collapse_bytes, PMD, __ATOMIC_RELAXED);
      next = BLK_DONE;
    } else if (transient && BLK_ATTEMPTS(s) + 1 < 8) {
      next = (uint16_t)(s + BLK_ATTEMPT);
    } else {
      __atomic_add_fetch(&ts_thp_stats.collapse_fail, 1, __ATOMIC_RELAXED);
      next = BLK_DONE;
    }
  }
  /* only if nobody released or re-granted the block meanwhile */
  __atomic_compare_exchange_n(&thp_blocks[b], &s0, next, false, __ATOMIC_RELAXED, __ATOMIC_RELAXED);
}

/* MADV_COLLAPSE holds the mmap lock for writing while it copies a block,
 * which stalls the program's faults and mmaps: pause between collapses
 * and do a bounded number per period, so the request path gets the lock. */
/* Collapses run only while the program is quiet (no grant for QUIET_NS):
 * inference alternates allocation bursts with compute, and a collapse
 * during a burst would make its mmaps and faults wait for the lock. */
static bool program_quiet(void) {
  return ts_prim_clock_ns() - __atomic_load_n(&thp_last_activity_ns, __ATOMIC_RELAXED) >= QUIET_NS;
}

/* Is the program faulting memory in fast (loading a model into a block
 * it was handed)? Then a collapse would take the mmap lock for writing
 * from under its faults, and a block being filled is not done yet: wait.
 * Compared with the last call (the collapse thread's previous scan). A
 * program that faults that fast for FILL_MAX_NS on end is not loading but
 * working that way: its blocks are collapsed anyway, paced as always. */
static bool program_filling(void) {
  static uint64_t last_ns, last_flt, since_ns;
  uint64_t now = ts_prim_clock_ns(), flt = ts_prim_minflt();
  bool busy = last_ns != 0 && flt > last_flt && (flt - last_flt) * 1000000u > BUSY_FAULTS_PER_MS * (now - last_ns);
  last_ns = now;
  last_flt = flt;
  if (!busy) since_ns = 0;
  else if (since_ns == 0) since_ns = now;
  return busy && now - since_ns < FILL_MAX_NS;
}

/* What a scan found: nothing pending, pending blocks (scan again next
 * period), or a busy program (nothing can be collapsed: the block table,
 * 32,768 entries for a 64 GiB window, is not even walked; walking it 100
 * times a second took a quarter of a CPU in the guest's bench/micro/unmap). */
enum { SCAN_IDLE, SCAN_PENDING, SCAN_BUSY };

static int scan_once(void) {
  bool pending = false;
  int done = 0;
  if (program_filling() || !program_quiet()) return SCAN_BUSY;
  for (size_t b = 0; b < thp_nblocks; b++) {
    if ((thp_blocks[b] & 3) != BLK_PENDING) continue;
    if (done >= COLLAPSE_PER_SCAN) return SCAN_PENDING;
    if (!program_quiet() || !thp_cpu_spare()) return SCAN_BUSY;
    uint64_t before = ts_thp_stats.collapse_ok + ts_thp_stats.collapse_fail;
    collapse_block(b);
    if (ts_thp_stats.collapse_ok + ts_thp_stats.collapse_fail != before) {
      done++;
      struct timespec pause = {0, COLLAPSE_PAUSE_NS};
      nanosleep(&pause, NULL);
    }
    pending |= (thp_blocks[b] & 3) == BLK_PENDING;
  }
  return pending ? SCAN_PENDING : SCAN_IDLE;
}

/* While the program stays busy the period doubles, up to 16x (160 ms): a
 * collapse waits at most that long after the program goes quiet. */
static void *collapse_main(void *arg) {
  (void)arg;
  ts_thread_background(); /* a program thread that wakes preempts a collapse at its next chance */
  int state = SCAN_PENDING;
  long period_ms = SCAN_PERIOD_MS;
  ts_lock(&thp_lock);
  for (;;) {
    uint64_t seen = __atomic_load_n(&thp_grants, __ATOMIC_SEQ_CST);
    if (state != SCAN_IDLE) {
      period_ms = state == SCAN_BUSY && period_ms < 16 * SCAN_PERIOD_MS ? period_ms * 2 : SCAN_PERIOD_MS;
      struct timespec t;
      clock_gettime(CLOCK_REALTIME, &t);
      t.tv_sec += period_ms / 1000;
      t.tv_nsec += (period_ms % 1000) * 1000000L;
      if (t.tv_nsec >= 1000000000L) { t.tv_sec++; t.tv_nsec -= 1000000000L; }
      pthread_cond_timedwait(&thp_wake, &thp_lock, &t);
    } else {
      __atomic_store_n(&thp_sleeping, true, __ATOMIC_SEQ_CST);
      if (__atomic_load_n(&thp_grants, __ATOMIC_SEQ_CST) == seen) pthread_cond_wait(&thp_wake, &thp_lock);
      __atomic_store_n(&thp_sleeping, false, __ATOMIC_SEQ_CST);
    }
    ts_unlock(&thp_lock);
    state = scan_once();
    ts_slow_tick(); /* live stats (base/tick.h): no lock held here */
    ts_lock(&thp_lock);
  }
  return NULL;
}

static void collapse_start(void) {
  __atomic_store_n(&thp_thread_started, true, __ATOMIC_RELEASE);
  int r = ts_thread_spawn(NULL, collapse_main, NULL, 64 * 1024, true);
  if (r != 0 && r != ENOSYS) thp_collapse_ok = false;
}

/* New pending blocks: start the thread, or wake it if it sleeps with
 * nothing pending; an awake one sees them on its next periodic scan. */
static void collapse_kick(void) {
  __atomic_fetch_add(&thp_grants, 1, __ATOMIC_SEQ_CST);
  if (__atomic_load_n(&thp_thread_started, __ATOMIC_ACQUIRE) && !__atomic_load_n(&thp_sleeping, __ATOMIC_SEQ_CST))
    return;
  if (!collapse_may_start()) return; /* pending blocks wait for the program's first thread */
  ts_lock(&thp_lock);
  if (!thp_thread_started) collapse_start();
  pthread_cond_signal(&thp_wake);
  ts_unlock(&thp_lock);
}

void ts_thp_granted(uintptr_t addr, size_t len) {
  ts_thp_grow_check(len);
  if (!collapse_wanted()) return;
  __atomic_store_n(&thp_last_activity_ns, ts_prim_clock_ns(), __ATOMIC_RELAXED);
  blocks_set(addr, len, 1u << BLK_IDLE, BLK_PENDING);
  collapse_kick();
}

/* A placement rule's huge-page action (observe/profile.c) over the whole
 * 2 MiB blocks of one allocation: on/off set the VMA advice (a partial
 * block would split a neighbour's huge page); collapse hands the blocks to
 * the collapse thread, off the request path. reset puts the region's own
 * advice back when the allocation is freed. */
void ts_thp_rule(uintptr_t addr, size_t len, int action) {
  uintptr_t lo = (addr + PMD - 1) & ~(uintptr_t)(PMD - 1), hi = (addr + len) & ~(uintptr_t)(PMD - 1);
  if (hi <= lo) return;
  int advice = -1;
  switch (action) {
  case TS_THP_RULE_ON: advice = MADV_HUGEPAGE; break;
  case TS_THP_RULE_OFF: advice = MADV_NOHUGEPAGE; break;
  case TS_THP_RULE_RESET: advice = thp_mode == TS_THP_FAULT ? MADV_HUGEPAGE : MADV_NOHUGEPAGE; break;
  case TS_THP_RULE_COLLAPSE:
    if (!thp_collapse_ok || thp_blocks == NULL) return;
    thp_explicit = true;
    blocks_set(lo, hi - lo, 0xF, BLK_PENDING);
    collapse_kick();
    return;
  }
  if (ts_prim_madvise((void *)lo, hi - lo, advice) == 0) ts_thp_stats.advise_ok++;
  else ts_thp_stats.advise_fail++;
}

/* The program created a thread: a collapse thread held back may start. */
void ts_thp_program_threaded(void) {
  if (collapse_wanted() && !__atomic_load_n(&thp_thread_started, __ATOMIC_ACQUIRE)) collapse_kick();
}

void ts_thp_fork_child(void) {
  pthread_mutex_init(&thp_lock, NULL);
  pthread_cond_init(&thp_wake, NULL);
  thp_thread_started = false; /* threads do not survive fork: start again on demand */
  thp_sleeping = false;
  thp_grow_fork_child();
  thp_probe_fork_child();
  ts_thp_idle_reset(); /* the child's collapse thread has a CPU clock of its own */
}
