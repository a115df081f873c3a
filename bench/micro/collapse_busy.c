/* An engine-like program whose model is collapsed into huge pages behind
 * its back: what do the collapses cost its throughput?
 *
 *   ts_collapse_busy [--threads T] [--mib M] [--seconds S] [--serial-us U]
 *
 * Starts T-1 threads, which wait; allocates one block of M MiB with malloc (tiershim's large path: at 256
 * MiB and more, on a VM that reports free pages, it is filled on small pages
 * and collapsed afterwards, policy/thp_fill.c), writes it, then runs S
 * seconds of "tokens": the T threads each read their slice of the block
 * (a matrix-vector product's memory traffic), meet at a barrier, and thread
 * 0 alone spends U microseconds (sampling) while the others wait asleep.
 * Prints the fill time, tokens per second over each second, in all, over
 * the first second (when the collapses run) and the rest, and the
 * process's CPU time. Run it under LD_PRELOAD with each library or
 * setting to compare (bench/micro/README.md). */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#define MAX_THREADS 16
#define MAX_SECONDS 120

static int threads = 2, seconds = 10, serial_us = 3000;
static size_t len;
static const uint64_t *block;
static pthread_barrier_t bar;
static volatile int stop;
static uint64_t sinks[MAX_THREADS * 8];
static int per_second[MAX_SECONDS];
static uint64_t t0;

static uint64_t now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

static void spin_us(int us) {
  uint64_t end = now_ns() + (uint64_t)us * 1000;
  while (now_ns() < end) {
  }
}

static pthread_barrier_t start;

static void *worker(void *arg) {
  int id = (int)(intptr_t)arg;
  if (id != 0) pthread_barrier_wait(&start); /* created before the block, as an engine's threads are */
  size_t words = len / 8, lo = words * (size_t)id / (size_t)threads, hi = words * (size_t)(id + 1) / (size_t)threads;
  for (;;) {
    uint64_t s = 0;
    for (size_t i = lo; i < hi; i += 8) s += block[i]; /* one word per cache line */
    sinks[id * 8] += s;
    pthread_barrier_wait(&bar);
    if (id == 0) {
      spin_us(serial_us);
      int sec = (int)((now_ns() - t0) / 1000000000ull);
      if (sec < seconds) per_second[sec]++;
      else stop = 1;
    }
    pthread_barrier_wait(&bar);
    if (stop) return NULL;
  }
}

int main(int argc, char **argv) {
  size_t mib = 600;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!strcmp(argv[i], "--threads")) threads = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--mib")) mib = (size_t)atol(argv[i + 1]);
    else if (!strcmp(argv[i], "--seconds")) seconds = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--serial-us")) serial_us = atoi(argv[i + 1]);
  }
  if (threads < 1 || threads > MAX_THREADS || seconds < 1 || seconds > MAX_SECONDS || mib < 1) {
    fprintf(stderr, "usage: ts_collapse_busy [--threads 1..%d] [--mib M] [--seconds 1..%d] [--serial-us U]\n",
            MAX_THREADS, MAX_SECONDS);
    return 2;
  }
  len = mib << 20;
  pthread_barrier_init(&bar, NULL, (unsigned)threads);
  pthread_barrier_init(&start, NULL, (unsigned)threads);
  pthread_t th[MAX_THREADS];
  for (int i = 1; i < threads; i++) pthread_create(&th[i], NULL, worker, (void *)(intptr_t)i);
  uint64_t *b = malloc(len);
  if (b == NULL) return 1;
  uint64_t f = now_ns();
  for (size_t i = 0; i < len / 8; i += 512) b[i] = i; /* one write per 4 KiB page */
  for (size_t i = 0; i < len / 8; i++) b[i] = i * 2654435761u;
  double fill_s = (now_ns() - f) / 1e9;
  block = b;
  t0 = now_ns();
  pthread_barrier_wait(&start);
  worker(0);
  for (int i = 1; i < threads; i++) pthread_join(th[i], NULL);
  double wall = (now_ns() - t0) / 1e9;
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  int total = 0;
  printf("per second:");
  for (int s = 0; s < seconds; s++) {
    printf(" %d", per_second[s]);
    total += per_second[s];
  }
  int first = seconds >= 4 ? per_second[0] : 0;
  printf("\nRESULT threads=%d mib=%zu fill_s=%.3f tokens_per_s=%.2f first1_per_s=%.2f rest_per_s=%.2f cpu_s=%.2f "
         "wall_s=%.2f sink=%llu\n", threads, mib, fill_s, total / wall, (double)first,
         seconds >= 4 ? (total - first) / (double)(seconds - 1) : 0.0, ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6,
         wall, (unsigned long long)(sinks[0] & 1));
  free(b);
  return 0;
}
