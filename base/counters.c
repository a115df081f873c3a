/* Per-thread event counters and their registry; see counters.h. */
#include "base/reentry.h"
#include "base/counters.h"

#include <pthread.h>
#include <string.h>

__thread ts_tcounters_t ts_tls_counters __attribute__((tls_model("initial-exec")));

static pthread_mutex_t ctr_lock = PTHREAD_MUTEX_INITIALIZER;
static ts_tcounters_t *ctr_head;              /* live, linked threads */
static uint64_t ctr_retired[TS_CTR_COUNT];    /* folded in at thread exit */
static pthread_key_t ctr_key;
static bool ctr_key_ok;

static void ctr_unlink_locked(ts_tcounters_t *t) {
  if (t->prev) t->prev->next = t->next;
  else ctr_head = t->next;
  if (t->next) t->next->prev = t->prev;
  t->next = t->prev = NULL;
}

/* Folds t into the totals and takes it out of the registry, for good. */
static void ctr_retire(ts_tcounters_t *t) {
  ts_lock(&ctr_lock);
  for (int i = 0; i < TS_CTR_COUNT; i++) {
    ctr_retired[i] += __atomic_load_n(&t->v[i], __ATOMIC_RELAXED);
    __atomic_store_n(&t->v[i], 0, __ATOMIC_RELAXED);
  }
  if (t->state == TS_CTR_LINKED) ctr_unlink_locked(t);
  t->state = TS_CTR_RETIRED;
  t->gate_malloc = 0; /* everything on the general path from now on */
  t->gate_small = 0;
  t->gate_free = 0;
  ts_unlock(&ctr_lock);
}

static void ctr_thread_exit(void *arg) { ctr_retire(arg); }

static void ctr_link(ts_tcounters_t *t) {
  ts_lock(&ctr_lock);
  if (!ctr_key_ok) ctr_key_ok = (pthread_key_create(&ctr_key, ctr_thread_exit) == 0);
  t->prev = NULL;
  t->next = ctr_head;
  if (ctr_head) ctr_head->prev = t;
  ctr_head = t;
  t->state = TS_CTR_LINKED; /* before setspecific: it may calloc, which counts */
  ts_unlock(&ctr_lock);
  /* Without the exit handler the block would outlive its thread in the
   * registry: retire it now instead (its later counts go to the totals). */
  if (!ctr_key_ok || pthread_setspecific(ctr_key, t) != 0) ctr_retire(t);
}

void ts_count_slow(ts_tcounters_t *t, ts_ctr_t c, uint64_t n) {
  if (ts_reentered()) return; /* a signal handler inside tiershim: the registry may be held */
  if (t->state == TS_CTR_UNLINKED) ctr_link(t);
  if (t->state == TS_CTR_LINKED) {
    __atomic_store_n(&t->v[c], __atomic_load_n(&t->v[c], __ATOMIC_RELAXED) + n, __ATOMIC_RELAXED);
    return;
  }
  ts_lock(&ctr_lock); /* retired: a dying thread's last frees */
  ctr_retired[c] += n;
  ts_unlock(&ctr_lock);
}

void ts_counters_sum(uint64_t out[TS_CTR_COUNT]) {
  ts_lock(&ctr_lock);
  memcpy(out, ctr_retired, sizeof ctr_retired);
  for (ts_tcounters_t *t = ctr_head; t != NULL; t = t->next)
    for (int i = 0; i < TS_CTR_COUNT; i++) out[i] += __atomic_load_n(&t->v[i], __ATOMIC_RELAXED);
  ts_unlock(&ctr_lock);
}

void ts_counters_lock(void) { ts_lock(&ctr_lock); }
void ts_counters_unlock(void) { ts_unlock(&ctr_lock); }

/* In the child only the forking thread exists; the other blocks still sit
 * in the copied address space but belong to no thread. The lock was held
 * across fork (prepare handler), so it is re-initialised, not unlocked. */
void ts_counters_fork_child(void) {
  pthread_mutex_init(&ctr_lock, NULL);
  memset(ctr_retired, 0, sizeof ctr_retired);
  ts_tcounters_t *self = &ts_tls_counters;
  memset(self->v, 0, sizeof self->v);
  ctr_head = NULL;
  self->next = self->prev = NULL;
  if (self->state == TS_CTR_LINKED) ctr_head = self;
}
