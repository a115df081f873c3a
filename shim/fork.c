/* Fork safety.
 *
 * Lock order (outermost first); a thread holding one may take only those
 * below it, and the prepare handler takes them all in this order:
 *   1. the counters registry lock   (shim/counters.c)
 *   2. the bootstrap arena spinlock (alloc/bootstrap.c)
 * Initialisation takes no lock (a compare-and-swap on its state); mimalloc
 * is lock-free and needs no handler.
 *
 * Taking every lock before fork means the child never inherits one held by
 * a thread that does not exist there. The child re-initialises them instead
 * of unlocking (a mutex locked in the parent is not safely unlockable by
 * the child under every implementation) and restarts its statistics. */
#include <pthread.h>

#include "bootstrap.h"
#include "counters.h"
#include "shim.h"
#include "stats.h"

static void fork_prepare(void) {
  ts_counters_lock();
  ts_boot_lock(&ts_boot_arena);
}

static void fork_parent(void) {
  ts_boot_unlock(&ts_boot_arena);
  ts_counters_unlock();
}

static void fork_child(void) {
  ts_boot_unlock(&ts_boot_arena); /* a spinlock word: unlocking is resetting */
  ts_stats_fork_child();          /* re-initialises the registry lock */
}

void ts_fork_install(void) {
  (void)pthread_atfork(fork_prepare, fork_parent, fork_child);
}
