/* Fork safety.
 *
 * Lock order (outermost first); a thread holding one may take only those
 * below it, and the prepare handler takes them all in this order:
 *   1. the placement lock           (alloc/window.c)
 *   2. the counters registry lock   (base/counters.c)
 *   3. the bootstrap arena spinlock (alloc/bootstrap.c)
 *   4. the heap-mapping table lock   (observe/residency.c; a leaf, taken
 *      alone by the heap's mmap/munmap and by the stats)
 *   5. the promotion lock            (policy/promote.c; a leaf, taken with
 *      the placement lock held when a spill is noted)
 *   6. the unmap batcher lock        (policy/unmap/batch.c; a leaf, held
 *      across a backend's release, taken with or without the placement
 *      lock; backends never allocate, so nothing is taken under it)
 *   7. the profile lock              (observe/profile.c; a leaf over the
 *      callsite tables, taken with no other lock held)
 * The THP collapse thread's lock (policy/thp.c) is a leaf: it is taken
 * with the placement lock held, never the other way round, and the thread
 * itself does not survive fork (the child starts a new one on demand).
 * Initialisation takes no lock (a compare-and-swap on its state); mimalloc
 * is lock-free and needs no handler.
 *
 * Taking every lock before fork means the child never inherits one held by
 * a thread that does not exist there. The child re-initialises them instead
 * of unlocking (a mutex locked in the parent is not safely unlockable by
 * the child under every implementation) and restarts its statistics.
 *
 * fork() from a signal handler whose thread is inside tiershim (holding
 * some of these locks: base/reentry.h) takes none of them: waiting would
 * hang the thread on itself. The child then starts from the state as it
 * was, which is what POSIX promises such a child (async-signal-safe calls,
 * then exec or _exit); glibc's own malloc does the same. */
#include <pthread.h>

#include "alloc/bootstrap.h"
#include "base/counters.h"
#include "alloc/place.h"
#include "shim/shim.h"
#include "observe/residency.h"
#include "observe/stats.h"
#include "policy/tierpol.h"
#include "policy/promote.h"
#include "policy/unmap/unmap.h"
#include "observe/profile.h"
#include "observe/publish.h"
#include "base/reentry.h"

/* Per thread, a stack of forks in progress (a handler may fork while its
 * thread is between prepare and parent/child of another fork): a bit per
 * level, set when that level took the locks, and the busy count before. */
static __thread uint32_t fork_took_locks __attribute__((tls_model("initial-exec")));
static __thread unsigned fork_busy_before[32] __attribute__((tls_model("initial-exec")));
static __thread int fork_depth __attribute__((tls_model("initial-exec")));

static void take_all(void) {
  ts_place_lock();
  ts_counters_lock();
  ts_boot_lock(&ts_boot_arena);
  ts_tier_heap_lock();
  ts_promote_lock();
  ts_unmap_lock();
  ts_profile_lock();
}

/* A handler may fork between any two statements here, on the same thread.
 * So a level's slot is reserved (fork_depth raised) before it is written,
 * and read before it is given back (fork_depth lowered): a nested fork
 * then always uses the next slot. Before, fork_parent popped first and read
 * its bit after, and a handler forking in between (tiershim's locks held,
 * so it took none) cleared that bit: the outer fork then never released
 * the locks, and the program's next allocating thread hung (caught by
 * fidelity sigfork under load, once in about 150 runs). */
static void fork_prepare(void) {
  int d = fork_depth < 31 ? fork_depth : 31;
  fork_depth++;
  __atomic_signal_fence(__ATOMIC_SEQ_CST);
  fork_busy_before[d] = ts_busy;
  bool take = !ts_reentered();
  fork_took_locks = (fork_took_locks & ~(1u << d)) | ((uint32_t)take << d);
  if (take) take_all();
}

static void release_all(void) {
  ts_profile_unlock();
  ts_unmap_unlock();
  ts_promote_unlock();
  ts_tier_heap_unlock();
  ts_boot_unlock(&ts_boot_arena);
  ts_counters_unlock();
  ts_place_unlock();
}

/* The slot of the innermost fork in progress. */
static int fork_top(void) {
  int d = fork_depth > 0 ? fork_depth - 1 : 0;
  return d < 31 ? d : 31;
}

static void fork_pop(void) {
  __atomic_signal_fence(__ATOMIC_SEQ_CST);
  if (fork_depth > 0) fork_depth--;
}

static void fork_parent(void) {
  bool took = (fork_took_locks >> fork_top()) & 1;
  fork_pop();
  if (took) release_all();
}

static void fork_child(void) {
  unsigned busy = fork_busy_before[fork_top()];
  fork_pop();
  ts_busy = busy;                 /* the locks are made anew, not released */
  ts_profile_fork_child();
  ts_unmap_fork_child();          /* re-initialises the batcher lock; backends reopen */
  ts_promote_fork_child();
  ts_tier_heap_fork_child();      /* re-initialises the table lock */
  ts_boot_unlock(&ts_boot_arena); /* a spinlock word: unlocking is resetting */
  ts_stats_fork_child();          /* re-initialises the registry lock */
  ts_publish_fork_child();        /* the parent's live-stats page stays the parent's */
  ts_place_fork_child();          /* and the placement lock */
}

void ts_fork_install(void) {
  (void)pthread_atfork(fork_prepare, fork_parent, fork_child);
}
