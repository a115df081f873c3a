/* The raw system call of the prim layer (prim.c, prim_numa.c). The kernel
 * returns -errno in the result register; syscall(2) would store it into
 * errno, which the prim layer must not touch. Internal to base/prim*.c. */
#ifndef TS_PRIM_SYS_H
#define TS_PRIM_SYS_H

static inline long ts_syscall6(long n, long a, long b, long c, long d, long e, long f) {
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

/* An injected failure (ts_prim_fault), or 0: rarely taken. */
#define TS_PRIM_FAULT(op)                                       \
  do {                                                          \
    if (__builtin_expect(ts_prim_fault != NULL, 0)) {           \
      int fault_ = ts_prim_fault(op);                           \
      if (fault_) return fault_;                                \
    }                                                           \
  } while (0)

#endif
