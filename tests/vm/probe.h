/* Shared by the guest probes (tier_probe.c, mig_probe.c): where pages are. */
#ifndef TS_VM_PROBE_H
#define TS_VM_PROBE_H

#include <stdint.h>
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

#endif
