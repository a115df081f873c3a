/* ts_fault_cost: what a first touch costs with 4 KiB pages and with
 * fault-time huge pages, on this machine, right now.
 *
 *   ts_fault_cost [-m MiB] [-r ROUNDS]      (default 1024 MiB, 5 rounds)
 *
 * Each round maps MiB of anonymous memory twice, once advised
 * MADV_NOHUGEPAGE and once MADV_HUGEPAGE (the order alternating), writes
 * one byte per 4 KiB page, and unmaps it. It prints the median seconds of
 * each kind and, where the kernel reports free pages to a hypervisor
 * (virtio-balloon free page reporting), how many KiB it reported meanwhile:
 * in such a guest a free 2 MiB block is typically reported and discarded by
 * the host, so a huge-page fault there pays the host's faults too. That is
 * why huge pages can make loading slower in a VM and faster on bare metal;
 * docs/results.md uses this program to tell the two apart.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define PMD ((size_t)2 << 20)
#define REPORTED "/sys/module/page_reporting/parameters/reported_kib"

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static long long reported_kib(void) {
  long long v = -1;
  FILE *f = fopen(REPORTED, "r");
  if (f) {
    if (fscanf(f, "%lld", &v) != 1) v = -1;
    fclose(f);
  }
  return v;
}

/* Seconds to fault in len bytes advised with `advice`. */
static double touch(size_t len, int advice) {
  char *raw = mmap(NULL, len + PMD, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (raw == MAP_FAILED) {
    perror("ts_fault_cost: mmap");
    exit(1);
  }
  char *p = (char *)(((uintptr_t)raw + PMD - 1) & ~(uintptr_t)(PMD - 1));
  if (madvise(p, len, advice) != 0) perror("ts_fault_cost: madvise");
  double t = now_s();
  for (size_t i = 0; i < len; i += 4096) p[i] = 1;
  t = now_s() - t;
  munmap(raw, len + PMD);
  return t;
}

static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

int main(int argc, char **argv) {
  size_t mib = 1024;
  int rounds = 5, c;
  while ((c = getopt(argc, argv, "m:r:h")) != -1) {
    if (c == 'm') mib = strtoull(optarg, NULL, 10);
    else if (c == 'r') rounds = atoi(optarg);
    else {
      fprintf(stderr, "usage: ts_fault_cost [-m MiB] [-r ROUNDS]\n");
      return c == 'h' ? 0 : 2;
    }
  }
  if (mib == 0 || rounds < 1 || rounds > 99) {
    fprintf(stderr, "ts_fault_cost: -m takes MiB > 0, -r 1..99\n");
    return 2;
  }
  size_t len = mib << 20;
  double small[99], huge[99];
  long long r0 = reported_kib();
  for (int i = 0; i < rounds; i++) {
    if (i % 2) {
      huge[i] = touch(len, MADV_HUGEPAGE);
      small[i] = touch(len, MADV_NOHUGEPAGE);
    } else {
      small[i] = touch(len, MADV_NOHUGEPAGE);
      huge[i] = touch(len, MADV_HUGEPAGE);
    }
  }
  long long r1 = reported_kib();
  qsort(small, (size_t)rounds, sizeof *small, cmp);
  qsort(huge, (size_t)rounds, sizeof *huge, cmp);
  printf("mib=%zu rounds=%d small_s=%.3f huge_s=%.3f huge_over_small=%.2f reported_kib=%lld\n", mib,
         rounds, small[rounds / 2], huge[rounds / 2], huge[rounds / 2] / small[rounds / 2],
         r0 < 0 || r1 < 0 ? -1 : r1 - r0);
  return 0;
}
