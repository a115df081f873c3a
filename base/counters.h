/* Event counters for the stats. Each thread bumps its own counters (a
 * thread-local, no atomic read-modify-write, no shared cache line), so
 * counting costs the malloc fast path ~1 ns. A thread's block is linked into
 * a registry on first use so a snapshot can sum all threads; at thread exit
 * its counts are folded into a process-wide total. */
#ifndef TS_COUNTERS_H
#define TS_COUNTERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* X(id, key): the counters, in docs/stats.md's order (the top-level keys
 * after tlb_shootdowns). The list makes the enum TS_CTR_<id> and the JSON
 * key of each (observe/stats_json.c). */
#define TS_CTR_LIST(X)                                                      \
  X(MALLOC, malloc_calls)        /* allocating entry points */              \
  X(FREE, free_calls)            /* frees of non-NULL pointers */           \
  X(LARGE, large_allocs)         /* served by the large path */             \
  X(MMAP, mmap_calls)            /* interposed calls made by the program */ \
  X(MUNMAP, munmap_calls)                                                   \
  X(MREMAP, mremap_calls)                                                   \
  X(MADVISE, madvise_calls)                                                 \
  X(BOOTSTRAP, bootstrap_allocs) /* served by the bootstrap arena */        \
  X(THREADS, threads_created)    /* successful interposed pthread_create */

#define TS_CTR_ENUM(id, key) TS_CTR_##id,
typedef enum { TS_CTR_LIST(TS_CTR_ENUM) TS_CTR_COUNT } ts_ctr_t;
#undef TS_CTR_ENUM

/* A thread's block: UNLINKED until its first count, LINKED while the
 * thread runs, RETIRED once its exit handler folded it into the totals.
 * glibc frees per-thread state (dlerror, resolver) after the TSD
 * destructors have run; counts made then go straight to the totals, and the
 * block, which dies with the thread's TLS, is never linked again. */
enum { TS_CTR_UNLINKED = 0, TS_CTR_LINKED = 1, TS_CTR_RETIRED = 2 };

typedef struct ts_tcounters_s {
  uint64_t v[TS_CTR_COUNT];
  /* The thread's fast-path gates (see shim/malloc.c). They live here, in
   * the same cache line as the counts, because the fast paths need both;
   * zero (the initial TLS value) means closed, and retiring closes them. */
  size_t gate_malloc;   /* malloc fast path for sizes 1 .. this */
  size_t gate_small;    /* its small-object part (mimalloc's small path) */
  uintptr_t gate_free;  /* -(bytes of the bootstrap arena that are slow) */
  struct ts_tcounters_s *next, *prev;
  uint8_t state;
} ts_tcounters_t;

extern __thread ts_tcounters_t ts_tls_counters;

void ts_count_slow(ts_tcounters_t *t, ts_ctr_t c, uint64_t n);

/* Adds n to a counter of the calling thread's own block. Only the owning
 * thread writes its block; a snapshot reads it concurrently. On x86-64 one
 * unlocked `add` to memory: its store is a single aligned 8-byte write, so
 * the reader sees the old or the new value, as with a relaxed load and
 * store, which compilers emit as three instructions (load, add, store).
 * Elsewhere, that relaxed load and store. */
static inline void ts_tls_add(uint64_t *slot, uint64_t n) {
#if defined(__x86_64__)
  __asm__("addq %1, %0" : "+m"(*slot) : "er"(n));
#else
  __atomic_store_n(slot, __atomic_load_n(slot, __ATOMIC_RELAXED) + n, __ATOMIC_RELAXED);
#endif
}

static inline void ts_count_n(ts_ctr_t c, uint64_t n) {
  ts_tcounters_t *t = &ts_tls_counters;
  if (__builtin_expect(t->state != TS_CTR_LINKED, 0)) {
    ts_count_slow(t, c, n);
    return;
  }
  ts_tls_add(&t->v[c], n);
}

static inline void ts_count(ts_ctr_t c) { ts_count_n(c, 1); }

/* Sums all threads' counters (live and exited) into out[TS_CTR_COUNT]. */
void ts_counters_sum(uint64_t out[TS_CTR_COUNT]);

/* Fork: the registry lock is second in the lock order (see fork.c). */
void ts_counters_lock(void);
void ts_counters_unlock(void);
void ts_counters_fork_child(void); /* child: counting restarts at zero */

#endif
