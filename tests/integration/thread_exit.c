/* thread_exit: memory outlives the thread that allocated it.
 *
 *   thread_exit [THREADS]   (default 1000, started in waves of 8)
 *
 * Every thread allocates 24 blocks (16 B .. 1 MiB, in a malloc'd bundle)
 * and exits:
 *  - even threads return their bundle through pthread_join; the main thread
 *    verifies and frees it after the thread is gone;
 *  - odd threads exit holding their bundle in a shared list; the threads of
 *    the next wave (started after the previous wave was joined) verify and
 *    free those; every 4th thread is detached instead of joined.
 * The per-thread argument is malloc'd by the main thread and freed by the
 * thread. Finally threads_created must have risen by at least THREADS.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "it_common.h"

#define WAVE 8
#define PER_THREAD 24

typedef struct {
  unsigned char *p;
  size_t size;
  uint64_t seed, sum;
} blk_t;

typedef struct {
  int owner;
  blk_t b[PER_THREAD];
} bundle_t;

typedef struct {
  int idx;
  int detached;
} targ_t;

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static bundle_t *prev_wave[WAVE]; /* parked by the previous wave: freed by this one */
static int nprev;
static bundle_t *this_wave[WAVE]; /* parked by the running wave */
static int nthis;
static int detached_done;
static atomic_long bad, freed_by_others, freed_by_main;

static void verify_free(bundle_t *bd, const char *who) {
  for (int i = 0; i < PER_THREAD; i++) {
    size_t off = it_verify(bd->b[i].p, bd->b[i].size, bd->b[i].seed, &bd->b[i].sum);
    if (off != (size_t)-1 && atomic_fetch_add(&bad, 1) < 20)
      fprintf(stderr, "FAIL: thread_exit: block of %zu bytes from thread %d freed by %s: "
              "expected pattern intact got mismatch at offset %zu\n",
              bd->b[i].size, bd->owner, who, off);
    free(bd->b[i].p);
  }
  free(bd);
}

static bundle_t *make_bundle(int idx) {
  bundle_t *bd = malloc(sizeof *bd);
  if (bd == NULL) IT_DIE("malloc(bundle) returned NULL");
  bd->owner = idx;
  uint64_t rng = it_seed((uint64_t)idx);
  for (int i = 0; i < PER_THREAD; i++) {
    size_t n = i == 0   ? (size_t)(1 << 20)
               : i == 1 ? (size_t)(300 << 10)
                        : 16 + (size_t)(it_rand(&rng) % 8192);
    bd->b[i].p = malloc(n);
    if (bd->b[i].p == NULL) IT_DIE("malloc(%zu) in thread %d returned NULL", n, idx);
    bd->b[i].size = n;
    bd->b[i].seed = it_rand(&rng);
    bd->b[i].sum = it_fill(bd->b[i].p, n, bd->b[i].seed);
  }
  return bd;
}

static void *thread_fn(void *arg) {
  targ_t *ta = arg;
  int idx = ta->idx, detached = ta->detached;
  free(ta);

  /* free one bundle whose allocating thread (previous wave) has exited */
  bundle_t *old = NULL;
  pthread_mutex_lock(&mu);
  if (nprev > 0) old = prev_wave[--nprev];
  pthread_mutex_unlock(&mu);
  if (old) {
    verify_free(old, "a thread of the next wave");
    atomic_fetch_add(&freed_by_others, 1);
  }

  bundle_t *bd = make_bundle(idx);
  if (idx % 2 == 0) return bd; /* the main thread frees it after join */

  pthread_mutex_lock(&mu); /* exit holding the blocks */
  this_wave[nthis++] = bd;
  if (detached) {
    detached_done++;
    pthread_cond_broadcast(&cv);
  }
  pthread_mutex_unlock(&mu);
  return NULL;
}

int main(int argc, char **argv) {
  int total = argc > 1 ? atoi(argv[1]) : 1000;
  if (total <= 0) {
    fprintf(stderr, "usage: %s [THREADS>0]\n", argv[0]);
    return 2;
  }
  it_stats_get_fn get = it_require_shim("thread_exit");
  tiershim_stats_t s0 = it_stats(get);
  int started = 0, detached_started = 0;
  while (started < total) {
    pthread_t th[WAVE];
    int n = total - started < WAVE ? total - started : WAVE;
    for (int i = 0; i < n; i++) {
      int idx = started + i;
      targ_t *ta = malloc(sizeof *ta);
      if (ta == NULL) IT_DIE("malloc(targ) returned NULL");
      ta->idx = idx;
      ta->detached = idx % 4 == 3;
      int rc = pthread_create(&th[i], NULL, thread_fn, ta);
      if (rc) IT_DIE("pthread_create #%d: %s", idx, strerror(rc));
      if (idx % 4 == 3) {
        pthread_detach(th[i]);
        detached_started++;
      }
    }
    for (int i = 0; i < n; i++) {
      int idx = started + i;
      if (idx % 4 == 3) continue;
      void *ret = NULL;
      int rc = pthread_join(th[i], &ret);
      if (rc) IT_DIE("pthread_join #%d: %s", idx, strerror(rc));
      if (idx % 2 == 0) {
        if (ret == NULL) IT_DIE("thread %d returned no bundle", idx);
        verify_free(ret, "the main thread after join");
        atomic_fetch_add(&freed_by_main, 1);
      }
    }
    pthread_mutex_lock(&mu);
    while (detached_done < detached_started) pthread_cond_wait(&cv, &mu);
    /* anything the wave did not take: the main thread frees it */
    while (nprev > 0) {
      verify_free(prev_wave[--nprev], "the main thread (not taken)");
      atomic_fetch_add(&freed_by_main, 1);
    }
    memcpy(prev_wave, this_wave, sizeof this_wave);
    nprev = nthis;
    nthis = 0;
    pthread_mutex_unlock(&mu);
    started += n;
  }
  while (nprev > 0) {
    verify_free(prev_wave[--nprev], "the main thread (last wave)");
    atomic_fetch_add(&freed_by_main, 1);
  }

  tiershim_stats_t s1 = it_stats(get);
  uint64_t dt = s1.threads_created - s0.threads_created;
  IT_CHECK(dt >= (uint64_t)total, "stats threads_created: expected rise >= %d got %llu", total,
           (unsigned long long)dt);
  if (total > 2 * WAVE)
    IT_CHECK(atomic_load(&freed_by_others) > 0,
             "bundles freed by a later thread: expected > 0 got 0");
  IT_CHECK(atomic_load(&freed_by_others) + atomic_load(&freed_by_main) == total,
           "bundles freed: expected %d got %ld", total,
           atomic_load(&freed_by_others) + atomic_load(&freed_by_main));
  long b = atomic_load(&bad);
  printf("thread_exit: %d threads (%d detached), bundles freed: %ld by main after join, %ld "
         "by later threads; %ld bad blocks; threads_created +%llu\n",
         total, detached_started, atomic_load(&freed_by_main), atomic_load(&freed_by_others),
         b, (unsigned long long)dt);
  if (b) return 1;
  return it_finish("thread_exit");
}
