/* Shared by the guest probes: where pages are (tier_probe.c, mig_probe.c),
 * and PASS/FAIL lines with a printf format (kmod_probe.c, kmod_lazy.c). */
#ifndef TS_VM_PROBE_H
#define TS_VM_PROBE_H

#include <sched.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#define PROBE_PAGE 4096UL
#define PROBE_MAXN 8

/* Pages of [p, p+len) per node, one every stride bytes, found with a
 * move_pages query; pages not populated count nowhere. */
static inline void probe_where(const void *p, size_t len, size_t stride, long counts[PROBE_MAXN]) {
  enum { B = 512 };
  void *pages[B];
  int status[B];
  memset(counts, 0, sizeof(long) * PROBE_MAXN);
  uintptr_t a = (uintptr_t)p & ~(PROBE_PAGE - 1), end = (uintptr_t)p + len;
  while (a < end) {
    int n = 0;
    for (; n < B && a < end; a += stride) pages[n++] = (void *)a;
    if (syscall(SYS_move_pages, 0, n, pages, NULL, status, 0) != 0) continue;
    for (int i = 0; i < n; i++)
      if (status[i] >= 0 && status[i] < PROBE_MAXN) counts[status[i]]++;
  }
}

/* Pins the calling thread to one CPU (0 or an errno-style -1). */
__attribute__((unused)) static int probe_pin(int cpu) {
  cpu_set_t s;
  CPU_ZERO(&s);
  CPU_SET(cpu, &s);
  return sched_setaffinity(0, sizeof(s), &s);
}

static int probe_failed; /* a check failed: the probe's exit status */

/* One PASS: or FAIL: line (the guest scripts grep them), flushed at once so
 * a crash right after still shows it. */
__attribute__((format(printf, 2, 3), unused)) static void probe_check(int ok, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  printf("%s: ", ok ? "PASS" : "FAIL");
  vprintf(fmt, ap);
  printf("\n");
  va_end(ap);
  fflush(stdout);
  if (!ok) probe_failed = 1;
}

#endif
