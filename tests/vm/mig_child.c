/* mig_child: the process whose pages `tiershim migrate` moves in the
 * vm.migrate_cli guest test (guest/cli_migrate.sh).
 *
 *   mig_child [MIB]      (default 64)
 *
 * Maps two regions of MIB MiB each: one of base pages (MADV_NOHUGEPAGE) and
 * one 2 MiB-aligned with MADV_HUGEPAGE, binds both to node 0 (mbind
 * MPOL_BIND), fills them with a pattern, resets their policy to the
 * default, checks with move_pages that every page is on node 0 and prints
 *   READY pid=N checksum=X
 * Then it waits for SIGUSR1 (the script runs the migration meanwhile),
 * recomputes the checksum, queries where every page is and prints
 *   AFTER checksum=X same|CHANGED
 *   PLACEMENT base node1=N/TOTAL ..., PLACEMENT thp node1=N/TOTAL ...
 *   ok            (exit 0: checksum unchanged, every page on node 1)
 * Raw syscalls (no libnuma): the guest has only what ldd finds.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#define MPOL_DEFAULT 0
#define MPOL_BIND 2
#define PAGE 4096UL
#define HUGE (2UL << 20)

static uint64_t checksum(const unsigned char *p, size_t len) {
  uint64_t h = 1469598103934665603ULL;
  for (size_t i = 0; i < len; i += 64) {
    h ^= *(const uint64_t *)(p + i);
    h *= 1099511628211ULL;
  }
  return h;
}

static void fill(unsigned char *p, size_t len, uint64_t seed) {
  for (size_t i = 0; i < len; i += 64) *(uint64_t *)(p + i) = (seed + i) * 0x9E3779B97F4A7C15ULL;
}

static int bind_node0(void *p, size_t len, int mode) {
  unsigned long mask = 1;
  return (int)syscall(SYS_mbind, p, len, mode, mode == MPOL_DEFAULT ? NULL : &mask,
                      mode == MPOL_DEFAULT ? 0 : 65, 0);
}

/* Counts of the region's pages by node (0, 1, other); -1 if the query failed. */
static int where(unsigned char *p, size_t len, unsigned long cnt[3], int *first_err) {
  unsigned long n = len / PAGE;
  void **pages = malloc(n * sizeof *pages);
  int *status = malloc(n * sizeof *status);
  if (!pages || !status) return -1;
  for (unsigned long i = 0; i < n; i++) pages[i] = p + i * PAGE;
  long r = syscall(SYS_move_pages, 0, n, pages, NULL, status, 0);
  cnt[0] = cnt[1] = cnt[2] = 0;
  *first_err = 0;
  for (unsigned long i = 0; r == 0 && i < n; i++) {
    if (status[i] == 0 || status[i] == 1) cnt[status[i]]++;
    else {
      cnt[2]++;
      if (*first_err == 0) *first_err = status[i];
    }
  }
  free(pages);
  free(status);
  return r == 0 ? 0 : -1;
}

/* AnonHugePages of the mapping that holds p, in kB (smaps). */
static long thp_kb(void *p) {
  FILE *f = fopen("/proc/self/smaps", "r");
  if (!f) return -1;
  char line[512];
  int in = 0;
  long kb = -1;
  while (fgets(line, sizeof line, f)) {
    unsigned long lo, hi;
    if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 && strchr(line, '-') < strchr(line, ' ')) {
      in = (uintptr_t)p >= lo && (uintptr_t)p < hi;
      continue;
    }
    if (in && sscanf(line, "AnonHugePages: %ld kB", &kb) == 1) break;
  }
  fclose(f);
  return kb;
}

int main(int argc, char **argv) {
  size_t len = (size_t)(argc > 1 ? atol(argv[1]) : 64) << 20;
  if (len == 0) return 2;
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGUSR1);
  sigprocmask(SIG_BLOCK, &set, NULL); /* before READY: the signal waits for sigwait */

  unsigned char *base = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  unsigned char *raw = mmap(NULL, len + HUGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (base == MAP_FAILED || raw == MAP_FAILED) {
    printf("FAIL: mmap: %s\n", strerror(errno));
    return 1;
  }
  unsigned char *thp = (unsigned char *)(((uintptr_t)raw + HUGE - 1) & ~(HUGE - 1));
  madvise(base, len, MADV_NOHUGEPAGE);
  madvise(thp, len, MADV_HUGEPAGE);
  if (bind_node0(base, len, MPOL_BIND) || bind_node0(thp, len, MPOL_BIND)) {
    printf("FAIL: mbind node 0: %s\n", strerror(errno));
    return 1;
  }
  fill(base, len, 1);
  fill(thp, len, 2);
  bind_node0(base, len, MPOL_DEFAULT);
  bind_node0(thp, len, MPOL_DEFAULT);
  uint64_t sum = checksum(base, len) ^ checksum(thp, len) * 3;

  unsigned long cb[3], ct[3];
  int eb, et;
  if (where(base, len, cb, &eb) || where(thp, len, ct, &et)) {
    printf("FAIL: move_pages query: %s\n", strerror(errno));
    return 1;
  }
  printf("BEFORE base node0=%lu node1=%lu other=%lu thp node0=%lu node1=%lu other=%lu thp_kb=%ld\n", cb[0], cb[1],
         cb[2], ct[0], ct[1], ct[2], thp_kb(thp));
  if (cb[0] != len / PAGE || ct[0] != len / PAGE) {
    printf("FAIL: not every page started on node 0\n");
    return 1;
  }
  printf("READY pid=%d checksum=%016llx\n", (int)getpid(), (unsigned long long)sum);
  fflush(stdout);

  int sig;
  sigwait(&set, &sig);

  uint64_t after = checksum(base, len) ^ checksum(thp, len) * 3;
  printf("AFTER checksum=%016llx %s\n", (unsigned long long)after, after == sum ? "same" : "CHANGED");
  if (where(base, len, cb, &eb) || where(thp, len, ct, &et)) {
    printf("FAIL: move_pages query: %s\n", strerror(errno));
    return 1;
  }
  unsigned long total = len / PAGE;
  printf("PLACEMENT base node1=%lu/%lu node0=%lu other=%lu (first error %d)\n", cb[1], total, cb[0], cb[2], eb);
  printf("PLACEMENT thp node1=%lu/%lu node0=%lu other=%lu (first error %d) thp_kb=%ld\n", ct[1], total, ct[0], ct[2],
         et, thp_kb(thp));
  int ok = after == sum && cb[1] == total && ct[1] == total;
  printf("%s\n", ok ? "ok" : "FAIL: pages not all on node 1 or data changed");
  return ok ? 0 : 1;
}
