/* Background promotion (TIERSHIM_PROMOTE): with TIERSHIM_BULK=fast, the
 * regions' ranges that were bound slow-first because the fast tier was down
 * to its reserve (tierpol.c, "spills") are moved back to the fast tier once
 * it has room again.
 *
 * Spills are noted under the placement lock (a commit of the window binds
 * them) into a small table. A thread of tiershim's, started on demand
 * outside that lock, wakes once a second; while fast-tier free memory is
 * above twice the reserve, it takes up to PROMOTE_RATE bytes of noted
 * ranges, binds them fast-first again and moves their pages with the
 * migration engine (one worker, paced at PROMOTE_RATE). Only ranges of the
 * window are noted: they stay tiershim's, whatever the program frees, so
 * the thread never touches a mapping it does not own.
 *
 * Off by default: promotion copies memory the program may never touch
 * again, and the guest cannot tell whether that pays (its tiers have one
 * speed). Lock: promote_lock is a leaf (shim/fork.c). */
#define _GNU_SOURCE
#include <pthread.h>
#include <string.h>
#include <time.h>

#include "policy/promote.h"
#include "base/reentry.h"
#include "policy/migrate.h"
#include "base/options.h"
#include "base/prim.h"
#include "base/range.h"
#include "base/thread.h"
#include "policy/tierpol.h"

#define SPILL_MAX 256
#define PERIOD_NS 1000000000ull

static pthread_mutex_t promote_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t promote_wake = PTHREAD_COND_INITIALIZER;
static struct { uintptr_t a; size_t len; } spill[SPILL_MAX];
static int nspill;
static bool started, want_start;
static struct { uint64_t passes, promoted, pending, dropped; } pst;

static int promote_spawn(void *(*fn)(void *)) { return ts_thread_spawn(NULL, fn, NULL, 256 * 1024, true); }

static const ts_promote_ops_t promote_real = {
    .fast_room = ts_tier_fast_room, .promote_node = ts_tier_promote_node,
    .rebind_fast = ts_tier_rebind_fast, .migrate = ts_migrate, .spawn = promote_spawn};
static const ts_promote_ops_t *ops = &promote_real; /* a unit test's fakes otherwise */

void ts_promote_set_ops(const ts_promote_ops_t *o) { ops = o ? o : &promote_real; }

/* Called with the placement lock held: no thread creation here. */
static void promote_note(uintptr_t a, size_t len) {
  ts_lock(&promote_lock);
  bool was_empty = nspill == 0;
  if (nspill > 0 && spill[nspill - 1].a + spill[nspill - 1].len == a) {
    spill[nspill - 1].len += len;
  } else if (nspill < SPILL_MAX) {
    spill[nspill].a = a;
    spill[nspill++].len = len;
  } else {
    pst.dropped += len; /* stays slow-first: correct, only not promoted */
    len = 0;
  }
  pst.pending += len;
  if (!started) __atomic_store_n(&want_start, true, __ATOMIC_RELEASE);
  else if (was_empty) pthread_cond_signal(&promote_wake); /* the thread waits while the table is empty */
  ts_unlock(&promote_lock);
}

/* Takes up to budget bytes of noted ranges (the oldest first). */
static size_t take(ts_mrange_t *out, size_t max, uint64_t budget) {
  size_t n = 0;
  ts_lock(&promote_lock);
  while (nspill > 0 && n < max && budget > 0) {
    size_t len = spill[0].len < budget ? spill[0].len : (size_t)budget;
    out[n].addr = spill[0].a;
    out[n++].len = len;
    budget -= len;
    pst.pending -= len;
    if (len == spill[0].len) {
      memmove(&spill[0], &spill[1], sizeof spill[0] * (size_t)(--nspill));
    } else {
      spill[0].a += len;
      spill[0].len -= len;
    }
  }
  ts_unlock(&promote_lock);
  return n;
}

/* Runs on the thread, once a second; the unit tests call it directly. */
void ts_promote_pass(void) {
  uint64_t room = ops->fast_room();
  uint64_t budget = ts_config.promote_rate;
  if (room == 0) return;
  if (budget > room) budget = room;
  ts_mrange_t r[16];
  size_t n = take(r, 16, budget & ~(uint64_t)4095);
  int node = ops->promote_node();
  if (n == 0 || node < 0) return;
  for (size_t i = 0; i < n; i++) ops->rebind_fast(r[i].addr, r[i].len);
  ts_migrate_req_t q = {.pid = 0, .target = node, .from = -1, .threads = 1, .rate = ts_config.promote_rate};
  ts_migrate_result_t o;
  (void)ops->migrate(r, n, &q, &o);
  __atomic_fetch_add(&pst.passes, 1, __ATOMIC_RELAXED);
  __atomic_fetch_add(&pst.promoted, o.pages_moved * PAGE, __ATOMIC_RELAXED);
}

static void *promote_main(void *arg) {
  (void)arg;
  ts_thread_background(); /* paced copying the program never asked for: it yields, as the collapse thread does */
  for (;;) {
    ts_lock(&promote_lock);
    while (nspill == 0) pthread_cond_wait(&promote_wake, &promote_lock);
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    t.tv_sec += 1;
    pthread_cond_timedwait(&promote_wake, &promote_lock, &t);
    ts_unlock(&promote_lock);
    ts_promote_pass();
  }
  return NULL;
}

static void promote_start(void) {
  ts_lock(&promote_lock);
  if (!started) {
    started = ops->spawn(promote_main) == 0;
    __atomic_store_n(&want_start, false, __ATOMIC_RELAXED);
    pthread_cond_signal(&promote_wake);
  }
  ts_unlock(&promote_lock);
}

/* From ts_tier_granted, outside the placement lock: one load when idle. */
static void promote_kick(void) {
  if (__atomic_load_n(&want_start, __ATOMIC_ACQUIRE)) promote_start();
}

void ts_promote_stats(ts_promote_stats_t *o) {
  o->auto_promote = ts_tier_spill_hook != NULL;
  o->auto_passes = __atomic_load_n(&pst.passes, __ATOMIC_RELAXED);
  o->auto_promoted_bytes = __atomic_load_n(&pst.promoted, __ATOMIC_RELAXED);
  ts_lock(&promote_lock);
  o->spilled_pending_bytes = pst.pending;
  o->spilled_dropped_bytes = pst.dropped;
  ts_unlock(&promote_lock);
}

void ts_promote_init(void) {
  if (!ts_config.promote || !ts_tier_on || ts_config.bulk != TS_BULK_FAST) return;
  ts_tier_kick_hook = promote_kick;
  ts_tier_spill_hook = promote_note;
}

void ts_promote_lock(void) { ts_lock(&promote_lock); }
void ts_promote_unlock(void) { ts_unlock(&promote_lock); }
void ts_promote_fork_child(void) {
  pthread_mutex_init(&promote_lock, NULL);
  pthread_cond_init(&promote_wake, NULL);
  if (started) want_start = nspill > 0; /* threads do not survive fork */
  started = false;
}
