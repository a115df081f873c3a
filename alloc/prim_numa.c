/* NUMA primitives on raw system calls: mbind, set/get_mempolicy,
 * move_pages, process_madvise, pidfd_open. Same contract as prim.c (no
 * allocation, no errno, -errno results); split out to keep each file to one
 * concern. libnuma is not used inside the shim: its wrappers set errno and
 * its initialisation allocates. */
#define _GNU_SOURCE
#include "prim.h"

#include <sys/syscall.h>

static inline long numa_syscall6(long n, long a, long b, long c, long d, long e, long f) {
  long ret;
  register long r10 __asm__("r10") = d;
  register long r8 __asm__("r8") = e;
  register long r9 __asm__("r9") = f;
  __asm__ volatile("syscall"
                   : "=a"(ret)
                   : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
                   : "rcx", "r11", "memory");
  return ret;
}

/* maxnode counts bits, and the kernel ignores the last one (an off-by-one
 * kept for compatibility since 2.6): pass one more than the mask holds. */
#define MASK_BITS (64 + 1)

int ts_prim_mbind(void *addr, size_t len, int mode, uint64_t nodes, unsigned flags) {
  uint64_t m = nodes;
  return (int)numa_syscall6(SYS_mbind, (long)addr, (long)len, mode, nodes ? (long)&m : 0,
                            nodes ? MASK_BITS : 0, flags);
}

int ts_prim_set_mempolicy(int mode, uint64_t nodes) {
  uint64_t m = nodes;
  return (int)numa_syscall6(SYS_set_mempolicy, mode, nodes ? (long)&m : 0, nodes ? MASK_BITS : 0, 0,
                            0, 0);
}

int ts_prim_get_mempolicy(int *mode, uint64_t *nodes, void *addr, unsigned flags) {
  uint64_t m[16] = {0}; /* the kernel writes up to maxnode bits: give it room */
  int r = (int)numa_syscall6(SYS_get_mempolicy, (long)mode, (long)m, 64 * 16, (long)addr, flags, 0);
  if (r == 0 && nodes) *nodes = m[0];
  return r;
}

long ts_prim_move_pages(unsigned long count, void **pages, const int *nodes, int *status, int flags) {
  return numa_syscall6(SYS_move_pages, 0, (long)count, (long)pages, (long)nodes, (long)status, flags);
}

long ts_prim_process_madvise(int pidfd, const void *iov, size_t n, int advice) {
  return numa_syscall6(SYS_process_madvise, pidfd, (long)iov, (long)n, advice, 0, 0);
}

int ts_prim_pidfd_open(int pid) {
  return (int)numa_syscall6(SYS_pidfd_open, pid, 0, 0, 0, 0, 0);
}

int ts_prim_getcpu(void) {
  unsigned cpu = 0, node = 0;
  long r = numa_syscall6(SYS_getcpu, (long)&cpu, (long)&node, 0, 0, 0, 0);
  return r < 0 ? (int)r : (int)node;
}
