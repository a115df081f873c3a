/* NUMA primitives on raw system calls: mbind, set/get_mempolicy,
 * move_pages, process_madvise, pidfd_open. Same contract as prim.c (no
 * allocation, no errno, -errno results); split out to keep each file to one
 * concern. libnuma is not used inside the shim: its wrappers set errno and
 * its initialisation allocates. */
#define _GNU_SOURCE
#include "base/prim.h"
#include "base/prim_sys.h"

#include <sys/syscall.h>

/* maxnode counts bits, and the kernel ignores the last one (an off-by-one
 * kept for compatibility since 2.6): pass one more than the mask holds. */
#define MASK_BITS (64 + 1)

int ts_prim_mbind(void *addr, size_t len, int mode, uint64_t nodes, unsigned flags) {
  TS_PRIM_FAULT(TS_FAULT_MBIND);
  TS_PRIM_SETTLE(addr, len);
  uint64_t m = nodes;
  return (int)ts_syscall6(SYS_mbind, (long)addr, (long)len, mode, nodes ? (long)&m : 0,
                            nodes ? MASK_BITS : 0, flags);
}

long ts_prim_mbind_raw(void *addr, size_t len, int mode, const unsigned long *mask, unsigned long maxnode,
                       unsigned flags) {
  TS_PRIM_SETTLE(addr, len);
  return ts_syscall6(SYS_mbind, (long)addr, (long)len, mode, (long)mask, (long)maxnode, flags);
}

int ts_prim_set_mempolicy(int mode, uint64_t nodes) {
  TS_PRIM_FAULT(TS_FAULT_MBIND);
  uint64_t m = nodes;
  return (int)ts_syscall6(SYS_set_mempolicy, mode, nodes ? (long)&m : 0, nodes ? MASK_BITS : 0, 0,
                            0, 0);
}

int ts_prim_get_mempolicy(int *mode, uint64_t *nodes, void *addr, unsigned flags) {
  uint64_t m[16] = {0}; /* the kernel writes up to maxnode bits: give it room */
  int r = (int)ts_syscall6(SYS_get_mempolicy, (long)mode, (long)m, 64 * 16, (long)addr, flags, 0);
  if (r == 0 && nodes) *nodes = m[0];
  return r;
}

long ts_prim_move_pages(int pid, unsigned long count, void **pages, const int *nodes, int *status,
                        int flags) {
  TS_PRIM_FAULT(TS_FAULT_MOVE_PAGES);
  return ts_syscall6(SYS_move_pages, pid, (long)count, (long)pages, (long)nodes, (long)status, flags);
}

long ts_prim_process_madvise(int pidfd, const void *iov, size_t n, int advice) {
  TS_PRIM_FAULT(TS_FAULT_PMADV);
  return ts_syscall6(SYS_process_madvise, pidfd, (long)iov, (long)n, advice, 0, 0);
}

int ts_prim_pidfd_open(int pid) {
  return (int)ts_syscall6(SYS_pidfd_open, pid, 0, 0, 0, 0, 0);
}

int ts_prim_getcpu(void) {
  unsigned cpu = 0, node = 0;
  long r = ts_syscall6(SYS_getcpu, (long)&cpu, (long)&node, 0, 0, 0, 0);
  return r < 0 ? (int)r : (int)node;
}
