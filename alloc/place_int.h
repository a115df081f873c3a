/* The placement engine's internals, shared by its files (not a public
 * header: only the engine's files in alloc/ include it).
 *
 * From the bottom up (each file uses only those above it in this list):
 *   place_ops.c      the policies the engine consults (place_ops.h)
 *   window.c         the window, its two regions, commits, the mapping and
 *                    zeroing helpers, the engine's figures
 *   place_release.c  retention, release and giving memory back under
 *                    pressure (limits, strict overcommit)
 *   place.c          grants: the large-allocation path and placed mmaps
 *   place_vm.c       the mmap family on placed ranges, kernel-exact
 *   place_mremap.c   mremap on placed ranges, kernel-exact
 *   place_defer.c    the same calls from signal handlers that interrupted
 *                    tiershim, and what the records learn afterwards
 *   place_fork.c     fork: locks, and the child's records
 *
 * Invariants, under the placement lock:
 *  - the window is ours: [base, base + va), PROT_NONE where nothing is
 *    committed; only ranges inside it are ever mapped with MAP_FIXED;
 *  - each region maps [base, committed) (read-write, except free ranges in
 *    state NONE), and every live range lies below top <= committed; so
 *    committing never maps over a live range;
 *  - a free range's state matches the OS (region.h): CLEAN memory was
 *    never handed to the program; whatever the program had comes back
 *    DIRTY (kept as it is), ZAPPED (released or mapped afresh: zero unless
 *    the program wrote to it after giving it back) or NONE (PROT_NONE).
 * System calls on a range the region has handed out (a placed mmap's own
 * MAP_FIXED, releases, zeroing) run without the lock: nobody else can be
 * given it. Every lock is taken through ts_lock (base/reentry.h). */
#ifndef TS_PLACE_INT_H
#define TS_PLACE_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/mman.h>

#include "alloc/place.h"
#include "alloc/place_ops.h"
#include "base/reentry.h"
#include "alloc/region.h"
#include "base/range.h"

#define PIECES 64

/* Tags of live ranges: the kind in the low byte, a placed mmap's prot in
 * the next, flags above.
 * TAG_FOREIGN: a mapping the kernel made in the window for the program, in
 * a hole a move left for a moment (another thread's mmap). It is the
 * program's, but not ours to reuse: the kernel handles it. */
enum { TAG_MALLOC = 1, TAG_MMAP = 2, TAG_RELEASING = 3, TAG_FOREIGN = 4 };
#define TAG_KIND(t) ((t) & 0xffu)
#define TAG_PROT(t) ((int)(((t) >> 8) & 0xffu))
/* the protection the kernel keeps in the VMA (PROT_SEM and the like set nothing) */
#define MMAP_TAG(prot) (TAG_MMAP | ((uint32_t)((prot) & (PROT_READ | PROT_WRITE | PROT_EXEC)) << 8))
/* The program changed the range's VMA (prot, pkey, lock, policy, advice
 * with flags, guard markers) or mapped it with flags of its own: when it
 * is unmapped or freed it is replaced by a fresh mapping, never kept. */
#define TAG_TAINTED (1u << 16)
/* MADV_DONTFORK: a child does not have it (place_fork.c). */
#define TAG_DONTFORK (1u << 17)
/* MAP_POPULATE/MAP_LOCKED: the program asked for these pages now and
 * stable; the collapse thread must not rebuild its blocks. */
#define TAG_PINNED (1u << 18)
/* Zeroed memory big enough to be used sparsely: no fault-time huge pages
 * (policy/thp.c); its blocks get their advice back when it is freed. */
#define TAG_SPARSE (1u << 19)
/* VM_LOCKED: mlock, MAP_LOCKED; munlock clears it (the kernel merges the
 * pieces back, so mremap must see one mapping again). */
#define TAG_MLOCKED (1u << 20)
/* The program's plain mmap, or a large uninitialised block, placed sparse
 * to learn how it is used (policy/thp_probe.c): measured when unmapped or
 * freed (place_probe_observe). */
#define TAG_PROBE (1u << 21)
#define PROGRAM_OWNED(t) (TAG_KIND(t) == TAG_MALLOC || TAG_KIND(t) == TAG_MMAP || TAG_KIND(t) == TAG_FOREIGN)
#define PROGRAM_KINDS ((1u << TAG_MALLOC) | (1u << TAG_MMAP) | (1u << TAG_FOREIGN))

typedef struct place_region_s {
  ts_region_t r;
  uintptr_t committed;
} place_region_t;

/* place_ops.c: the policies the engine consults (place_ops.h) */
extern const ts_place_ops_t *place_ops;

/* window.c */
extern pthread_mutex_t place_lock;
extern place_region_t place_mid, place_pmd;
/* Frugal: a finite RLIMIT_AS or RLIMIT_DATA, strict overcommit, or a
 * failure that showed memory is short. Nothing is kept mapped that the
 * program gave back: committed exactly, unmapped and released ranges made
 * PROT_NONE (they stop counting in VmData and Committed_AS). */
extern bool place_frugal;
extern bool place_off_mlock; /* mlockall(MCL_FUTURE): nothing new is placed */
extern uint64_t place_zero_checks, place_pressure_releases; /* stats */
/* Event counts, under the placement lock; the rest of the stats are read
 * from the regions when asked (ts_place_stats). */
typedef struct place_counts_s {
  uint64_t placed_mmaps, placed_bytes, pmd_aligned;
  uint64_t placed_mallocs, malloc_fallbacks, mmap_fallbacks, reused;
  size_t malloc_bytes, malloc_blocks; /* live placed blocks (mallinfo) */
} place_counts_t;
extern place_counts_t place_st;

static inline place_region_t *place_region_of(uintptr_t a) { return a < place_mid.r.limit ? &place_mid : &place_pmd; }

static inline void place_enter(void) { ts_lock(&place_lock); }
static inline void place_exit(void) { ts_unlock(&place_lock); }

bool place_map_rw(uintptr_t a, size_t len);
/* A range cut by the window: [a,lo) below, [lo,hi) in it, [hi,end) above. */
typedef struct { uintptr_t a, lo, hi, end; } split_t;

static inline split_t split(uintptr_t a, uintptr_t end) {
  uintptr_t wlo = ts_place_lo, whi = ts_place_lo + ts_place_span;
  split_t s = {a, a > wlo ? a : wlo, end < whi ? end : whi, end};
  if (s.lo > s.hi) s.lo = s.hi = (a >= whi ? a : end); /* no overlap */
  return s;
}

void place_map_none(uintptr_t a, size_t len);
bool place_commit_to(place_region_t *pr, uintptr_t need);
int place_alloc_locked(size_t len, size_t align, uint32_t tag, ts_grant_t *g, place_region_t **out);
/* Makes a granted range read as zero, whatever the states it came from. */
void place_zero_grant(const ts_grant_t *g, uintptr_t a, size_t len);
/* After every region grant that may reuse zapped memory, before the
 * program can touch it: see place_ops.h's settle. */
void place_settle_grant(const ts_grant_t *g, uintptr_t a, size_t len);
bool place_reserve_locked(void);
/* Placed now? Not after mlockall(MCL_FUTURE): every new mapping would be
 * locked and populated, the window's commits included. */
bool place_open_locked(void);

/* place_release.c */
void place_probe_observe(uint32_t tag, uintptr_t a, size_t len);
void place_unmap_piece_locked(place_region_t *pr, uintptr_t a, size_t len, uint32_t tag);
void place_free_kinds_locked(uintptr_t a, size_t len, unsigned kinds, ts_free_state_t state);
void place_rereserve_locked(uintptr_t a, size_t len);
void place_retain_check_locked(void);
void place_retain_trade_locked(const ts_grant_t *g, size_t len);
size_t place_retain_max(void);
void place_release_fork_child(void);

/* place_vm.c */
void place_munmap_locked(uintptr_t lo, uintptr_t hi);
void place_adopt_locked(uintptr_t a, size_t len, int prot);
void place_taint_span_locked(uintptr_t a, uintptr_t end, uint32_t bits);

#endif
