/* tsan_core: the thread-shared parts of tiershim_core under
 * ThreadSanitizer (make test-sanitize). criterion's runner cannot start
 * under TSan (its boxfort arena, Snaipe/Criterion#274), and the shim itself
 * cannot be preloaded into a TSan process (both want to be the allocator),
 * so this plain program drives, from several threads at once:
 *   - the unmap batcher with the real batch backend: releases of private
 *     mappings, snapshots and decay notes racing each other;
 *   - the migration engine with 4 workers over one shared range (the
 *     shared chunk cursor and the totals);
 *   - the per-thread counters and their sum, with threads coming and going.
 * Any TSan report fails the run (halt_on_error); the program checks its
 * own results too and prints "ok". */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#include "policy/unmap/batch.h"
#include "base/counters.h"
#include "base/thread.h"
#include "policy/migrate.h"
#include "policy/unmap/unmap_os.h"

#define PG 4096u
#define THREADS 4

static ts_ubatch_t ub;
static int failures;

static int madv(void *a, size_t n) { return madvise(a, n, MADV_DONTNEED) ? -1 : 0; }

static void *unmap_worker(void *arg) {
  size_t id = (size_t)arg;
  char *p = mmap(NULL, 64 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return (void *)1;
  ts_udecay_t d = {0};
  for (int round = 0; round < 200; round++) {
    memset(p, (int)id + 1, 64 * PG);
    ts_range_t r[32];
    for (int i = 0; i < 32; i++) r[i] = (ts_range_t){(uintptr_t)p + (size_t)i * 2 * PG, PG, 0, 0};
    if (ts_ubatch_release(&ub, r, 32) != 32 * PG) __atomic_fetch_add(&failures, 1, __ATOMIC_RELAXED);
    for (int i = 0; i < 32; i++)
      if (p[(size_t)i * 2 * PG] != 0 || p[((size_t)i * 2 + 1) * PG] != (char)(id + 1))
        __atomic_fetch_add(&failures, 1, __ATOMIC_RELAXED);
    ts_ubatch_stats_t st;
    ts_ubatch_snapshot(&ub, &st);
    (void)ts_udecay_note(&d, (uint64_t)round * 1000000u, ts_ubatch_delay(&ub), (size_t)round * PG, 0);
    ts_count(TS_CTR_MALLOC);
  }
  munmap(p, 64 * PG);
  return NULL;
}

static void *counter_worker(void *arg) {
  for (int i = 0; i < 10000; i++) {
    ts_count(TS_CTR_FREE);
    if (i % 1000 == 0) {
      uint64_t sum[TS_CTR_COUNT];
      ts_counters_sum(sum);
    }
  }
  (void)arg;
  return NULL;
}

static int run_threads(void *(*fn)(void *), int n) {
  pthread_t t[THREADS];
  for (int i = 0; i < n; i++) pthread_create(&t[i], NULL, fn, (void *)(size_t)i);
  int bad = 0;
  for (int i = 0; i < n; i++) {
    void *r;
    pthread_join(t[i], &r);
    bad += r != NULL;
  }
  return bad;
}

static int migrate_engine(void) {
  size_t len = (size_t)96 << 20;
  char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return 1;
  memset(p, 7, len);
  ts_mrange_t r = {(uintptr_t)p, len};
  ts_migrate_req_t q = {.target = 0, .from = -1, .threads = 4};
  ts_migrate_result_t o;
  int rc = ts_migrate(&r, 1, &q, &o);
  munmap(p, len);
  if (rc != 0 || o.pages_already != len / PG) {
    printf("migrate: rc %d, %llu pages already there of %zu\n", rc, (unsigned long long)o.pages_already, len / PG);
    return 1;
  }
  return 0;
}

int main(void) {
  ts_thread_use_libc(); /* the migration workers */
  ts_ubatch_init(&ub, &ts_unmap_batch, NULL, 8, 100000000u, true);
  ub.fallback = madv;
  int bad = run_threads(unmap_worker, THREADS);
  bad += run_threads(counter_worker, THREADS);
  bad += migrate_engine();
  ts_ubatch_stats_t st;
  ts_ubatch_snapshot(&ub, &st);
  if (bad || failures || st.ranges != THREADS * 200 * 32) {
    printf("FAILED: %d thread failures, %d bad pages or short releases, %llu ranges\n", bad, failures,
           (unsigned long long)st.ranges);
    return 1;
  }
  printf("ok: %llu ranges in %llu calls from %d threads (%s), migration with 4 workers\n",
         (unsigned long long)st.ranges, (unsigned long long)st.calls, THREADS, ts_release_mode_name());
  return 0;
}
