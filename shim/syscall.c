/* syscall(2), interposed for the mmap family only. A program that calls
 * syscall(SYS_mprotect, ...) changes a placed range as surely as one that
 * calls mprotect(), and tiershim must see it (the range is tainted, so no
 * flag outlives munmap). Those numbers go to tiershim's own entry points
 * (shim/mmap.c), with syscall()'s result convention, which is theirs too
 * (-1 and errno). Every other number jumps to glibc's syscall untouched:
 * no frame of ours is on the stack, so clone, vfork and the like behave
 * exactly as without tiershim. System calls made without libc (inline
 * assembly, static runtimes) cannot be seen: docs/design.md lists that. */
#define _GNU_SOURCE
#include <errno.h>
#include <stddef.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "base/prim.h"
#include "shim/shim.h"

long ts_syscall_mm(long n, long a, long b, long c, long d, long e, long f) __attribute__((visibility("hidden"), used));
long ts_syscall_fallback(long n, long a, long b, long c, long d, long e, long f)
    __attribute__((visibility("hidden"), used));

int mlock2(const void *addr, size_t len, unsigned int flags);
int pkey_mprotect(void *addr, size_t len, int prot, int pkey);
long mbind(void *addr, unsigned long len, int mode, const unsigned long *mask, unsigned long maxnode, unsigned flags);

long ts_syscall_mm(long n, long a, long b, long c, long d, long e, long f) {
  switch (n) {
  case SYS_mmap: return (long)mmap((void *)a, (size_t)b, (int)c, (int)d, (int)e, (off_t)f);
  case SYS_munmap: return munmap((void *)a, (size_t)b);
  case SYS_mremap: return (long)mremap((void *)a, (size_t)b, (size_t)c, (int)d, (void *)e);
  case SYS_mprotect: return mprotect((void *)a, (size_t)b, (int)c);
  case SYS_pkey_mprotect: return pkey_mprotect((void *)a, (size_t)b, (int)c, (int)d);
  case SYS_madvise: return madvise((void *)a, (size_t)b, (int)c);
  case SYS_mlock: return mlock((const void *)a, (size_t)b);
  case SYS_mlock2: return mlock2((const void *)a, (size_t)b, (unsigned)c);
  case SYS_munlock: return munlock((const void *)a, (size_t)b);
  case SYS_mlockall: return mlockall((int)a);
  case SYS_munlockall: return munlockall();
  case SYS_mbind: return mbind((void *)a, (unsigned long)b, (int)c, (const unsigned long *)d, (unsigned long)e, (unsigned)f);
  default: return ts_syscall_fallback(n, a, b, c, d, e, f);
  }
}

/* Before initialisation has found glibc's syscall: the same thing, raw. */
long ts_syscall_fallback(long n, long a, long b, long c, long d, long e, long f) {
  long r = ts_prim_syscall(n, a, b, c, d, e, f);
  if ((unsigned long)r > -4096UL) {
    errno = (int)-r;
    return -1;
  }
  return r;
}

/* glibc's syscall once initialisation resolved it (shim/symbols.c). */
void *ts_syscall_next_slot __attribute__((visibility("hidden"), used));

void ts_syscall_init(void) { __atomic_store_n(&ts_syscall_next_slot, ts_real.syscall, __ATOMIC_RELEASE); }

/* The entry: compares the number against the family, else tail-jumps to
 * glibc's syscall (ts_real.syscall) or, before init, to the fallback. The
 * seventh argument (the sixth of the call) is on the stack at 8(%rsp) for
 * both targets, as it was for us. */
#define TS_STR2(x) #x
#define TS_STR(x) TS_STR2(x)
#define TS_IS(nr) "  cmpq $" TS_STR(nr) ", %rdi\n  je 1f\n"
__asm__(".text\n"
        ".globl syscall\n"
        ".type syscall, @function\n"
        "syscall:\n"
        TS_IS(__NR_mmap) TS_IS(__NR_munmap) TS_IS(__NR_mremap) TS_IS(__NR_mprotect)
        TS_IS(__NR_pkey_mprotect) TS_IS(__NR_madvise) TS_IS(__NR_mlock) TS_IS(__NR_mlock2)
        TS_IS(__NR_munlock) TS_IS(__NR_mlockall) TS_IS(__NR_munlockall) TS_IS(__NR_mbind)
        "  movq ts_syscall_next_slot(%rip), %rax\n"
        "  testq %rax, %rax\n"
        "  jz 2f\n"
        "  jmp *%rax\n"
        "1:\n"
        "  jmp ts_syscall_mm\n"
        "2:\n"
        "  jmp ts_syscall_fallback\n"
        ".size syscall, .-syscall\n");
