/* stress_threads: NTHREADS threads x OPS random allocation operations.
 *
 *   stress_threads [OPS_PER_THREAD [THREADS [SEED]]]   (default 1000000 8 1)
 *
 * Sizes are log-uniform inside four bands (88% 1 B-1 KiB, 10% 1-64 KiB,
 * 1.8% 64 KiB-1 MiB, 0.2% 1-8 MiB). Every block carries a seeded pattern
 * (head, tail, one word per 4 KiB page) and a checksum that is verified
 * before every realloc and free. Realloc chains grow and shrink blocks;
 * about 3% of the blocks are handed to another thread through a
 * mutex-protected exchange and freed there. Any mismatch -> exit 1.
 */
#define _GNU_SOURCE
#include <inttypes.h>
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "it_common.h"

#define SLOTS 256
#define XCHG 64

typedef struct {
  unsigned char *p;
  size_t size;
  uint64_t seed;
  uint64_t sum;
  int owner; /* thread that filled it */
} blk_t;

static struct {
  pthread_mutex_t mu;
  blk_t ring[XCHG];
  int head, count;
} xchg = {.mu = PTHREAD_MUTEX_INITIALIZER};

static long ops_per_thread = 1000000;
static int nthreads = 8;
static uint64_t base_seed = 1;
static atomic_long bad_blocks, misaligned;
static atomic_long total_cross, total_realloc, total_alloc, total_large;

static void report_bad(const blk_t *b, size_t off, const char *when, int tid) {
  if (atomic_fetch_add(&bad_blocks, 1) < 20)
    fprintf(stderr,
            "FAIL: stress_threads: block %p size %zu (filled by thread %d, "
            "checked by %d) %s: expected pattern intact got mismatch at offset %zu\n",
            (void *)b->p, b->size, b->owner, tid, when, off);
}

static size_t pick_size(uint64_t *rng) {
  uint64_t r = it_rand(rng) % 1000;
  int lo, hi;
  if (r < 880) lo = 0, hi = 10;        /* 1 B .. 1 KiB  */
  else if (r < 980) lo = 10, hi = 16;  /* 1 .. 64 KiB   */
  else if (r < 998) lo = 16, hi = 20;  /* 64 KiB .. 1 MiB */
  else lo = 20, hi = 23;               /* 1 .. 8 MiB    */
  int bits = lo + (int)(it_rand(rng) % (uint64_t)(hi - lo));
  size_t base = (size_t)1 << bits;
  return base + (size_t)(it_rand(rng) % base); /* [2^bits, 2^(bits+1)) */
}

static void check_and_free(blk_t *b, int tid, const char *when) {
  size_t bad = it_verify(b->p, b->size, b->seed, &b->sum);
  if (bad != (size_t)-1) report_bad(b, bad, when, tid);
  free(b->p);
  b->p = NULL;
}

/* Gives block b new contents (a fresh seed's pattern) and records them. */
static void blk_refill(blk_t *b, unsigned char *p, size_t n, uint64_t *rng, int tid) {
  b->p = p;
  b->size = n;
  b->seed = it_rand(rng);
  b->owner = tid;
  b->sum = it_fill(p, n, b->seed);
}

static void new_block(blk_t *b, uint64_t *rng, int tid) {
  size_t n = pick_size(rng);
  unsigned kind = (unsigned)(it_rand(rng) % 16);
  unsigned char *p;
  if (kind == 0) {
    p = calloc(1, n);
    if (p) {
      /* sampled offsets of a fresh calloc block must read zero */
      size_t off = (size_t)-1;
      IT_FOR_SAMPLES(n, o, { if (p[o] != 0 && off == (size_t)-1) off = o; });
      if (off != (size_t)-1) {
        if (atomic_fetch_add(&bad_blocks, 1) < 20)
          fprintf(stderr, "FAIL: stress_threads: calloc(1, %zu) in thread %d: "
                  "expected zero got non-zero byte at offset %zu\n", n, tid, off);
      }
    }
  } else if (kind == 1) {
    size_t al = (size_t)16 << (it_rand(rng) % 9); /* 16 .. 4096 */
    p = aligned_alloc(al, n);
    if (p && ((uintptr_t)p & (al - 1))) {
      if (atomic_fetch_add(&misaligned, 1) < 5)
        fprintf(stderr, "FAIL: stress_threads: aligned_alloc(%zu, %zu): "
                "expected aligned got %p\n", al, n, (void *)p);
    }
  } else {
    p = malloc(n);
  }
  if (p == NULL) IT_DIE("stress_threads: allocation of %zu bytes returned NULL", n);
  if (malloc_usable_size(p) < n) {
    if (atomic_fetch_add(&bad_blocks, 1) < 20)
      fprintf(stderr, "FAIL: stress_threads: malloc_usable_size: expected >= %zu got %zu\n",
              n, malloc_usable_size(p));
  }
  blk_refill(b, p, n, rng, tid);
  atomic_fetch_add_explicit(&total_alloc, 1, memory_order_relaxed);
  if (n >= (256u << 10)) atomic_fetch_add_explicit(&total_large, 1, memory_order_relaxed);
}

static void do_realloc(blk_t *b, uint64_t *rng, int tid) {
  size_t bad = it_verify(b->p, b->size, b->seed, &b->sum);
  if (bad != (size_t)-1) report_bad(b, bad, "before realloc", tid);
  /* chain: mostly a neighbour size (grow or shrink by up to 2x), sometimes a
   * fresh random size */
  size_t n;
  if (it_rand(rng) % 4 == 0) {
    n = pick_size(rng);
  } else if (it_rand(rng) & 1) {
    n = b->size + 1 + (size_t)(it_rand(rng) % (b->size < (4u << 20) ? b->size : (4u << 20)));
  } else {
    n = b->size / 2 + 1;
  }
  unsigned char *q = realloc(b->p, n);
  if (q == NULL) IT_DIE("stress_threads: realloc(%zu -> %zu) returned NULL", b->size, n);
  size_t keep = b->size < n ? b->size : n;
  bad = it_verify_prefix(q, b->size, keep, b->seed);
  if (bad != (size_t)-1) {
    blk_t nb = *b;
    nb.p = q;
    report_bad(&nb, bad, "after realloc (prefix)", tid);
  }
  blk_refill(b, q, n, rng, tid);
  atomic_fetch_add_explicit(&total_realloc, 1, memory_order_relaxed);
}

/* Hands a block to whoever takes it next; returns 0 if the exchange is full. */
static int xchg_put(const blk_t *b) {
  int ok = 0;
  pthread_mutex_lock(&xchg.mu);
  if (xchg.count < XCHG) {
    xchg.ring[(xchg.head + xchg.count) % XCHG] = *b;
    xchg.count++;
    ok = 1;
  }
  pthread_mutex_unlock(&xchg.mu);
  return ok;
}

/* Takes a block put there by another thread, if any. */
static int xchg_take(blk_t *out, int tid) {
  int ok = 0;
  pthread_mutex_lock(&xchg.mu);
  if (xchg.count > 0 && xchg.ring[xchg.head].owner != tid) {
    *out = xchg.ring[xchg.head];
    xchg.head = (xchg.head + 1) % XCHG;
    xchg.count--;
    ok = 1;
  }
  pthread_mutex_unlock(&xchg.mu);
  return ok;
}

static void *worker(void *arg) {
  int tid = (int)(intptr_t)arg;
  uint64_t rng = it_seed(base_seed * 1000003u + (uint64_t)tid);
  blk_t *slot = calloc(SLOTS, sizeof *slot);
  if (slot == NULL) IT_DIE("calloc(slots) failed");
  long cross = 0;
  for (long op = 0; op < ops_per_thread; op++) {
    blk_t *b = &slot[it_rand(&rng) % SLOTS];
    unsigned r = (unsigned)(it_rand(&rng) % 100);
    if (b->p == NULL) {
      new_block(b, &rng, tid);
    } else if (r < 20) {
      do_realloc(b, &rng, tid);
    } else if (r < 23) {
      /* cross-thread free: verify here, the other thread verifies again */
      size_t bad = it_verify(b->p, b->size, b->seed, &b->sum);
      if (bad != (size_t)-1) report_bad(b, bad, "before hand-off", tid);
      if (xchg_put(b)) b->p = NULL;
      else check_and_free(b, tid, "before free (exchange full)");
    } else {
      check_and_free(b, tid, "before free");
    }
    if ((op & 7) == 0) {
      blk_t got;
      if (xchg_take(&got, tid)) {
        check_and_free(&got, tid, "before cross-thread free");
        cross++;
      }
    }
  }
  for (int i = 0; i < SLOTS; i++)
    if (slot[i].p) check_and_free(&slot[i], tid, "before final free");
  free(slot);
  atomic_fetch_add(&total_cross, cross);
  return NULL;
}

int main(int argc, char **argv) {
  if (argc > 1) ops_per_thread = strtol(argv[1], NULL, 10);
  if (argc > 2) nthreads = atoi(argv[2]);
  if (argc > 3) base_seed = strtoull(argv[3], NULL, 10);
  if (ops_per_thread <= 0 || nthreads <= 0 || nthreads > 256) {
    fprintf(stderr, "usage: %s [OPS_PER_THREAD>0 [THREADS 1..256 [SEED]]]\n", argv[0]);
    return 2;
  }
  it_stats_get_fn get = it_require_shim("stress_threads");
  tiershim_stats_t s0 = it_stats(get);
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);

  pthread_t th[256];
  for (int i = 0; i < nthreads; i++) {
    int rc = pthread_create(&th[i], NULL, worker, (void *)(intptr_t)i);
    if (rc) IT_DIE("pthread_create: %s", strerror(rc));
  }
  for (int i = 0; i < nthreads; i++) pthread_join(th[i], NULL);
  /* blocks still in the exchange: free them from the main thread */
  blk_t got;
  while (xchg_take(&got, -1)) check_and_free(&got, -1, "before drain free");

  clock_gettime(CLOCK_MONOTONIC, &t1);
  tiershim_stats_t s1 = it_stats(get);
  double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
  long allocs = atomic_load(&total_alloc), large = atomic_load(&total_large);
  uint64_t dm = s1.malloc_calls - s0.malloc_calls, df = s1.free_calls - s0.free_calls;
  uint64_t dl = s1.large_allocs - s0.large_allocs;
  uint64_t dt = s1.threads_created - s0.threads_created;
  IT_CHECK(dm >= (uint64_t)allocs, "stats malloc_calls: expected rise >= %ld got %llu",
           allocs, (unsigned long long)dm);
  IT_CHECK(df >= (uint64_t)allocs, "stats free_calls: expected rise >= %ld got %llu", allocs,
           (unsigned long long)df);
  IT_CHECK(dt >= (uint64_t)nthreads, "stats threads_created: expected rise >= %d got %llu",
           nthreads, (unsigned long long)dt);
  const char *lm = getenv("TIERSHIM_LARGE_MIN");
  if ((lm == NULL || *lm == '\0') && large > 0)
    IT_CHECK(dl >= (uint64_t)large,
             "stats large_allocs: expected rise >= %ld (fresh blocks >= 256 KiB) got %llu",
             large, (unsigned long long)dl);
  long bad = atomic_load(&bad_blocks), mis = atomic_load(&misaligned);
  printf("stress_threads: %s: %d threads x %ld ops, %ld allocs (%ld >= 256 KiB), "
         "%ld reallocs, %ld cross-thread frees, %ld bad blocks, %ld misaligned "
         "aligned_alloc results, %.1f s\n",
         bad || mis || it_failures ? "FAIL" : "ok", nthreads, ops_per_thread, allocs, large,
         atomic_load(&total_realloc), atomic_load(&total_cross), bad, mis, secs);
  IT_CHECK(atomic_load(&total_cross) > 0, "cross-thread frees: expected > 0 got 0");
  if (bad || mis) return 1;
  return it_finish("stress_threads");
}
