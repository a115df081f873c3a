/* Re-entry from signal handlers.
 *
 * A signal handler may call mmap, munmap, mremap, madvise or mprotect (crash
 * reporters and unwinders do) while its thread is inside tiershim holding
 * one of its locks. Taking that lock again would hang the thread forever.
 * So every tiershim lock is taken through ts_lock(), which first raises a
 * per-thread count (ts_busy). An entry point that finds its own thread busy
 * never takes a lock: it makes a plain kernel call, and what tiershim's
 * records must learn of it is queued here (per thread, so the queue needs
 * no lock) and applied when the thread's count drops back to zero, by the
 * placement engine's drain hook (alloc/place_defer.c).
 *
 * Only the thread itself (in its handlers) can see its count change, so a
 * compiler barrier (a signal fence) is all the ordering it needs. */
#ifndef TS_REENTRY_H
#define TS_REENTRY_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Nonzero while this thread holds a tiershim lock (or drains the queue). */
extern __thread unsigned ts_busy __attribute__((tls_model("initial-exec")));

/* Work a handler could not do itself: what the records must learn. */
typedef enum {
  TS_DEFER_UNMAP = 1, /* the program unmapped [addr, +len) (still mapped: do it) */
  TS_DEFER_HOLE,      /* the kernel removed [addr, +len) from the window */
  TS_DEFER_ADOPT,     /* the kernel mapped the program's [addr, +len) (prot arg) */
  TS_DEFER_TAINT,     /* the kernel changed VMA flags over [addr, +len) */
  TS_DEFER_FREE,      /* free() of the placed block at addr */
} ts_defer_kind_t;

typedef struct ts_defer_op_s {
  uint32_t kind;
  int arg;
  uintptr_t addr;
  size_t len;
} ts_defer_op_t;

#define TS_DEFER_MAX 16

typedef struct ts_defer_q_s {
  unsigned n;
  ts_defer_op_t op[TS_DEFER_MAX];
} ts_defer_q_t;

extern __thread ts_defer_q_t ts_defer_q __attribute__((tls_model("initial-exec")));

/* Set once by the placement engine: applies one queued op, locks allowed. */
extern void (*ts_defer_hook)(const ts_defer_op_t *op);

void ts_defer_drain(void);

static inline void ts_busy_enter(void) {
  ts_busy++;
  __atomic_signal_fence(__ATOMIC_SEQ_CST);
}

static inline void ts_busy_exit(void) {
  __atomic_signal_fence(__ATOMIC_SEQ_CST);
  if (--ts_busy == 0 && __builtin_expect(ts_defer_q.n != 0, 0)) ts_defer_drain();
}

/* Every tiershim lock goes through these two. */
static inline void ts_lock(pthread_mutex_t *m) {
  ts_busy_enter();
  pthread_mutex_lock(m);
}

static inline void ts_unlock(pthread_mutex_t *m) {
  pthread_mutex_unlock(m);
  ts_busy_exit();
}

/* Is this call re-entering tiershim on a thread that is inside it? */
static inline bool ts_reentered(void) { return __builtin_expect(ts_busy != 0, 0); }

/* Room for k more ops in this thread's queue (checked before the kernel
 * call whose bookkeeping must not be lost). */
static inline bool ts_defer_room(unsigned k) { return ts_defer_q.n + k <= TS_DEFER_MAX; }

/* Queues an op: async-signal-safe; false when the queue is full. */
bool ts_defer_push(ts_defer_kind_t kind, uintptr_t addr, size_t len, int arg);

/* Ops queued, and ops that found the queue full (the call then failed
 * with ENOMEM, or a free stayed allocated). */
extern uint64_t ts_defer_pushed, ts_defer_refused;

#endif
