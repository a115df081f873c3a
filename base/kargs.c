/* The kernel's argument checks; see kargs.h. */
#define _GNU_SOURCE
#include "base/kargs.h"

#include <errno.h>
#include <stdbool.h>
#include <sys/mman.h>

#include "base/prim.h"
#include "base/range.h"

#ifndef PROT_SEM
#define PROT_SEM 0x8 /* asm-generic/mman-common.h */
#endif
#define PAGE_ALIGN(x) (((x) + PAGE - 1) & ~(PAGE - 1)) /* wraps to 0 as the kernel's does */

#ifndef MADV_COLLAPSE
#define MADV_COLLAPSE 25
#endif
#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22
#define MADV_POPULATE_WRITE 23
#endif
#ifndef MADV_DONTNEED_LOCKED
#define MADV_DONTNEED_LOCKED 24
#endif
#ifndef MADV_COLD
#define MADV_COLD 20
#define MADV_PAGEOUT 21
#endif

uintptr_t ts_kargs_task_size(void) {
  static uintptr_t task;
  uintptr_t t = __atomic_load_n(&task, __ATOMIC_RELAXED);
  if (t == 0) {
    /* A page mapped at 2^47 means 5-level tables; else the munmap probe
     * has nothing there to unmap. */
    void *at = (void *)((uintptr_t)1 << 47);
    unsigned char v;
    bool la57 = ts_prim_mincore(at, PAGE, &v) == 0 || ts_prim_munmap(at, PAGE) == 0;
    t = la57 ? ((uintptr_t)1 << 56) - PAGE : ((uintptr_t)1 << 47) - PAGE;
    __atomic_store_n(&task, t, __ATOMIC_RELAXED);
  }
  return t;
}

int ts_kargs_munmap(uintptr_t start, size_t len, uintptr_t *end) {
  uintptr_t task = ts_kargs_task_size();
  if ((start & (PAGE - 1)) || start > task || len > task - start) return -EINVAL;
  uintptr_t e = start + PAGE_ALIGN(len);
  if (e == start) return -EINVAL;
  *end = e;
  return 0;
}

int ts_kargs_mprotect(uintptr_t start, size_t len, int prot, uintptr_t *end) {
  int grows = prot & (PROT_GROWSDOWN | PROT_GROWSUP);
  if (grows == (PROT_GROWSDOWN | PROT_GROWSUP)) return -EINVAL;
  if (start & (PAGE - 1)) return -EINVAL;
  if (len == 0) return 1;
  uintptr_t e = start + PAGE_ALIGN(len);
  if (e <= start) return -ENOMEM;
  if ((prot & ~grows) & ~(PROT_READ | PROT_WRITE | PROT_EXEC | PROT_SEM)) return -EINVAL;
  *end = e;
  return 0;
}

int ts_kargs_madvise(uintptr_t start, size_t len, int advice, uintptr_t *end) {
  if (!ts_kargs_advice_known(advice)) return -EINVAL;
  if (start & (PAGE - 1)) return -EINVAL;
  size_t l = PAGE_ALIGN(len);
  if (len != 0 && l == 0) return -EINVAL; /* rounded up from a small negative */
  uintptr_t e = start + l;
  if (e < start) return -EINVAL;
  if (e == start) return 1;
  *end = e;
  return 0;
}

int ts_kargs_mlock(uintptr_t *start, size_t len, uintptr_t *end) {
  uintptr_t s = *start & ~(PAGE - 1);
  size_t l = PAGE_ALIGN(len + (*start & (PAGE - 1)));
  uintptr_t e = s + l;
  if (e < s) return -EINVAL;
  if (e == s) return 1;
  *start = s;
  *end = e;
  return 0;
}

/* 0: not probed yet, 1: known, 2: unknown. Racing probes agree. */
static unsigned char advice_cache[128];

int ts_kargs_advice_known(int advice) {
  if (advice >= 0 && advice < 128 && advice_cache[advice]) return advice_cache[advice] == 1;
  /* page 0 is never mapped (mmap_min_addr): a known advice finds no VMA */
  bool known = ts_prim_madvise(NULL, PAGE, advice) != -EINVAL;
  if (advice >= 0 && advice < 128) advice_cache[advice] = known ? 1 : 2;
  return known;
}

int ts_kargs_advice_page_only(int advice) {
  switch (advice) {
  case MADV_DONTNEED: case MADV_FREE: case MADV_WILLNEED: case MADV_COLD: case MADV_PAGEOUT:
  case MADV_POPULATE_READ: case MADV_POPULATE_WRITE: case MADV_DONTNEED_LOCKED: case MADV_COLLAPSE:
    return 1;
  default:
    return 0;
  }
}
