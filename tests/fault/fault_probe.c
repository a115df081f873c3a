/* fault_probe MODE [ROUNDS [THREADS [SEED]]]: the program side of the
 * fault-injection tests (fault.sh).
 *   inject  THREADS threads x ROUNDS operations: malloc/calloc/realloc/
 *           posix_memalign of 1 B - 64 MiB (log-uniform) and anonymous
 *           mmaps of their own with madvise(MADV_DONTNEED) on them. Every
 *           block is patterned and checked before it is freed, calloc
 *           memory must read as zero, a failed allocation must be NULL with
 *           errno ENOMEM, a failed mmap MAP_FAILED with ENOMEM or EAGAIN.
 *   ulimit  under `ulimit -v`: allocates 8 MiB blocks until malloc fails
 *           (NULL, ENOMEM), frees them, and must then allocate again.
 * Prints "ok ..." with its counts, or a reason and exits 1. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

typedef struct {
  unsigned seed, rounds, id;
  unsigned long ops, nulls, map_fails, bad;
} worker_t;

static unsigned rnd(unsigned *s) {
  *s ^= *s << 13, *s ^= *s >> 17, *s ^= *s << 5;
  return *s;
}

static size_t pick_size(unsigned *s) {
  unsigned bits = rnd(s) % 27; /* 1 B .. 64 MiB, log-uniform */
  size_t base = (size_t)1 << bits;
  return base + rnd(s) % base;
}

/* A mark per page and one on the last byte (never on the same byte). */
static void fill(unsigned char *p, size_t n, unsigned tag) {
  for (size_t i = 0; i + 1 < n; i += 4096) p[i] = (unsigned char)(tag + i / 4096);
  p[n - 1] = (unsigned char)~tag;
}

static int check(const unsigned char *p, size_t n, unsigned tag) {
  for (size_t i = 0; i + 1 < n; i += 4096)
    if (p[i] != (unsigned char)(tag + i / 4096)) return 0;
  return p[n - 1] == (unsigned char)~tag;
}

static int zero(const unsigned char *p, size_t n) {
  for (size_t i = 0; i < n; i += 512)
    if (p[i]) return 0;
  return p[n - 1] == 0;
}

static void fail(worker_t *w, const char *what, size_t n) {
  fprintf(stderr, "thread %u: %s (size %zu)\n", w->id, what, n);
  w->bad++;
}

/* NULL from an allocator must mean ENOMEM. */
static int null_ok(worker_t *w, size_t n) {
  w->nulls++;
  if (errno != ENOMEM) fail(w, "NULL without ENOMEM", n);
  return 0;
}

static void one_malloc(worker_t *w, int kind) {
  size_t n = pick_size(&w->seed);
  unsigned char *p = NULL;
  errno = 0;
  switch (kind) {
  case 0: p = malloc(n); break;
  case 1: p = calloc(1, n); break;
  case 2: if (posix_memalign((void **)&p, (size_t)64 << (rnd(&w->seed) % 10), n) != 0) { p = NULL; errno = ENOMEM; } break;
  }
  if (p == NULL) { null_ok(w, n); return; }
  if (kind == 1 && !zero(p, n)) fail(w, "calloc memory not zero", n);
  fill(p, n, w->id + (unsigned)n);
  size_t m = pick_size(&w->seed);
  errno = 0;
  unsigned char *q = realloc(p, m);
  if (q == NULL) {
    null_ok(w, m);
    if (!check(p, n, w->id + (unsigned)n)) fail(w, "a failed realloc lost the block", n);
    free(p);
    return;
  }
  size_t keep = n < m ? n : m;
  for (size_t i = 0; i + 1 < keep; i += 4096)
    if (q[i] != (unsigned char)(w->id + (unsigned)n + i / 4096)) { fail(w, "realloc lost data", m); break; }
  fill(q, m, w->id + 7);
  if (!check(q, m, w->id + 7)) fail(w, "block changed under us", m);
  free(q);
}

static void one_mmap(worker_t *w) {
  size_t n = ((size_t)1 + rnd(&w->seed) % 2048) * 4096;
  errno = 0;
  unsigned char *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) {
    w->map_fails++;
    if (errno != ENOMEM && errno != EAGAIN) fail(w, "mmap failed without ENOMEM/EAGAIN", n);
    return;
  }
  if (!zero(p, n)) fail(w, "fresh mmap not zero", n);
  fill(p, n, w->id);
  if (madvise(p, n, MADV_DONTNEED) == 0 && !zero(p, n)) fail(w, "memory after a successful DONTNEED not zero", n);
  if (munmap(p, n) != 0) fail(w, "munmap failed", n);
}

static void *worker(void *arg) {
  worker_t *w = arg;
  for (unsigned i = 0; i < w->rounds; i++, w->ops++) {
    unsigned k = rnd(&w->seed) % 8;
    if (k < 6) one_malloc(w, k % 3);
    else one_mmap(w);
  }
  return NULL;
}

static int inject(unsigned rounds, unsigned threads, unsigned seed) {
  pthread_t t[16];
  worker_t w[16];
  if (threads > 16) threads = 16;
  for (unsigned i = 0; i < threads; i++) {
    w[i] = (worker_t){.seed = seed * 2654435761u + i + 1, .rounds = rounds, .id = i};
    if (pthread_create(&t[i], NULL, worker, &w[i]) != 0) return 1;
  }
  unsigned long ops = 0, nulls = 0, maps = 0, bad = 0;
  for (unsigned i = 0; i < threads; i++) {
    pthread_join(t[i], NULL);
    ops += w[i].ops, nulls += w[i].nulls, maps += w[i].map_fails, bad += w[i].bad;
  }
  if (bad) {
    printf("FAILED: %lu bad results in %lu operations\n", bad, ops);
    return 1;
  }
  printf("ok ops=%lu null_allocs=%lu failed_mmaps=%lu\n", ops, nulls, maps);
  return 0;
}

static int ulimit_mode(void) {
  enum { MAX = 4096 };
  static void *p[MAX];
  int n = 0;
  errno = 0;
  for (; n < MAX; n++) {
    if ((p[n] = malloc((size_t)8 << 20)) == NULL) break;
    memset(p[n], 1, 4096);
  }
  if (n == MAX) { printf("FAILED: no limit reached\n"); return 1; }
  if (errno != ENOMEM) { printf("FAILED: NULL with errno %d, not ENOMEM\n", errno); return 1; }
  for (int i = 0; i < n; i++) free(p[i]);
  void *again = malloc((size_t)8 << 20);
  if (again == NULL) { printf("FAILED: no recovery after freeing\n"); return 1; }
  free(again);
  printf("ok blocks_before_enomem=%d recovered=1\n", n);
  return 0;
}

int main(int argc, char **argv) {
  const char *mode = argc > 1 ? argv[1] : "inject";
  if (!strcmp(mode, "ulimit")) return ulimit_mode();
  unsigned rounds = argc > 2 ? (unsigned)atoi(argv[2]) : 2000;
  unsigned threads = argc > 3 ? (unsigned)atoi(argv[3]) : 2;
  unsigned seed = argc > 4 ? (unsigned)atoi(argv[4]) : 1;
  return inject(rounds, threads, seed);
}
