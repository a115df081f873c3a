/* What a MADV_COLLAPSE costs the thread that reads the range meanwhile,
 * with and without a huge page warmed first (policy/thp_warm.c).
 *
 *   ts_collapse_warm [--blocks N] [--rounds R]
 *
 * Per round and mode: a fresh range of N 2 MiB blocks is filled on small
 * pages, then collapsed block by block while a second thread reads one
 * byte per 4 KiB of it in a loop. "warm" first faults a huge page into a
 * scratch block and frees it (MADV_POPULATE_WRITE, MADV_DONTNEED), as the
 * collapse thread does. Modes alternate within a round, first one then the
 * other, so a trend in the host's state hits both. Prints per round: the
 * collapse's wall time per block, the warming's, and the reader's longest
 * pass (a pass over an untouched range takes well under 1 ms per 64 MiB);
 * then the medians. Needs kernel 6.1 (MADV_COLLAPSE). */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#ifndef MADV_COLLAPSE
#define MADV_COLLAPSE 25
#endif
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif
#define PMD ((size_t)2 << 20)
#define MAX_ROUNDS 64

static uint64_t now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

static char *aligned_map(size_t len) {
  char *p = mmap(NULL, len + PMD, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) { perror("mmap"); exit(1); }
  return (char *)(((uintptr_t)p + PMD - 1) & ~(uintptr_t)(PMD - 1));
}

struct reader { const char *base; size_t len; volatile int stop; uint64_t max_ns; };

static void *reader_main(void *arg) {
  struct reader *r = arg;
  volatile unsigned sink = 0;
  while (!r->stop) {
    uint64_t t = now_ns();
    for (size_t i = 0; i < r->len; i += 4096) sink += (unsigned char)r->base[i];
    uint64_t d = now_ns() - t;
    if (d > r->max_ns) r->max_ns = d;
  }
  return NULL;
}

struct result { double collapse_ms, warm_ms, reader_max_ms; int ok; };

static struct result run(int warm, int blocks, char *scratch) {
  size_t len = (size_t)blocks * PMD;
  char *base = aligned_map(len);
  madvise(base, len, MADV_NOHUGEPAGE);
  memset(base, 1, len); /* small pages, as a model filled on small pages */
  madvise(base, len, MADV_HUGEPAGE);
  struct reader rd = {base, len, 0, 0};
  pthread_t th;
  pthread_create(&th, NULL, reader_main, &rd);
  struct timespec settle = {0, 20 * 1000000L};
  nanosleep(&settle, NULL);
  struct result res = {0, 0, 0, 0};
  uint64_t warm_ns = 0, collapse_ns = 0;
  for (int b = 0; b < blocks; b++) {
    uint64_t t0 = now_ns();
    if (warm) {
      madvise(scratch, PMD, MADV_POPULATE_WRITE);
      madvise(scratch, PMD, MADV_DONTNEED);
    }
    uint64_t t1 = now_ns();
    res.ok += madvise(base + (size_t)b * PMD, PMD, MADV_COLLAPSE) == 0;
    collapse_ns += now_ns() - t1;
    warm_ns += t1 - t0;
  }
  rd.stop = 1;
  pthread_join(th, NULL);
  munmap(base, len);
  res.collapse_ms = collapse_ns / 1e6 / blocks;
  res.warm_ms = warm_ns / 1e6 / blocks;
  res.reader_max_ms = rd.max_ns / 1e6;
  return res;
}

static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static double median(double *v, int n) {
  qsort(v, (size_t)n, sizeof *v, cmp);
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

int main(int argc, char **argv) {
  int blocks = 128, rounds = 4;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!strcmp(argv[i], "--blocks")) blocks = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--rounds")) rounds = atoi(argv[i + 1]);
  }
  if (blocks < 1 || rounds < 1 || rounds > MAX_ROUNDS) {
    fprintf(stderr, "usage: ts_collapse_warm [--blocks N] [--rounds 1..%d]\n", MAX_ROUNDS);
    return 2;
  }
  char *scratch = aligned_map(PMD);
  madvise(scratch, PMD, MADV_HUGEPAGE);
  double c[2][MAX_ROUNDS], w[2][MAX_ROUNDS], m[2][MAX_ROUNDS];
  printf("round mode  collapse_ms/block warm_ms/block reader_max_ms collapsed\n");
  for (int r = 0; r < rounds; r++) {
    for (int k = 0; k < 2; k++) {
      int warm = (r + k) % 2; /* alternate which mode goes first */
      struct result res = run(warm, blocks, scratch);
      c[warm][r] = res.collapse_ms, w[warm][r] = res.warm_ms, m[warm][r] = res.reader_max_ms;
      printf("%5d %-5s %17.2f %13.2f %13.2f %d/%d\n", r + 1, warm ? "warm" : "cold", res.collapse_ms,
             res.warm_ms, res.reader_max_ms, res.ok, blocks);
    }
  }
  for (int warm = 0; warm < 2; warm++)
    printf("median %-5s collapse %.2f ms/block, warm %.2f ms/block, reader's longest pass %.2f ms\n",
           warm ? "warm" : "cold", median(c[warm], rounds), median(w[warm], rounds), median(m[warm], rounds));
  return 0;
}
