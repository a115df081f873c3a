/* A huge page made ready before a collapse takes the mmap lock; see thp_int.h.
 *
 * MADV_COLLAPSE allocates its huge page before it takes the program's mmap
 * lock for writing, but the page's first write, the copy of the block's 512
 * small pages, happens under that lock with the block's PMD cleared. On a VM
 * whose host backs guest memory lazily (free page reporting, or memory not
 * touched since boot) that first write faults the host's backing in: 1-6 ms
 * per 2 MiB on the development VM, and every fault of the program, and every
 * access to the block, waits that long. A thread reading a 512 MiB range
 * while its blocks were collapsed one after another stalled for up to 230 ms
 * (`bench/micro/build/ts_collapse_warm`).
 *
 * So the collapse thread first faults a huge page into a scratch block of
 * its own (MADV_POPULATE_WRITE, no lock of the program's held for writing)
 * and frees it again (MADV_DONTNEED). The page goes to this CPU's free list
 * for its order (the per-CPU lists hold PMD-order pages, last in first out),
 * backed and zeroed, and the collapse that follows at once on the same CPU
 * allocates it from there: 0.3-0.5 ms a collapse instead of 1-6, and the
 * reader's longest stall 1-8 ms. Where the thread moved to another CPU in
 * between, the collapse takes another page, as it would have anyway. What it
 * costs elsewhere: zeroing 2 MiB that the copy then overwrites, in the
 * background, once per collapse.
 *
 * Only on a VM whose balloon reports free pages to the host, where a fresh
 * huge page is usually one the host took back: elsewhere a page is backed
 * already and warming would only zero 2 MiB for nothing (with the host's
 * backing in place, llama.cpp 1.1B's 560 collapses took 0.5-0.8 s more CPU
 * warmed than not).
 *
 * The scratch block is private, 2 MiB aligned, advised MADV_HUGEPAGE, mapped
 * on first use and kept (a child inherits it empty). A kernel without
 * MADV_POPULATE_WRITE (before 5.14; MADV_COLLAPSE needs 6.1 anyway) turns
 * warming off. Only the collapse thread calls this: no lock. */
#define _GNU_SOURCE
#include <errno.h>
#include <sys/mman.h>

#include "base/options.h"
#include "base/prim.h"
#include "base/range.h"
#include "policy/thp.h"
#include "policy/thp_int.h"

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

static const thp_warm_hooks_t warm_default = {ts_prim_mmap, ts_prim_madvise, ts_prim_munmap, thp_host_takes_back};
static const thp_warm_hooks_t *warm_hooks = &warm_default;
static uintptr_t warm_map_addr; /* the mapping (2 blocks long) */
static uintptr_t warm_block;    /* the aligned scratch block in it, once mapped */
static bool warm_off;         /* the kernel or the mapping said no */

void thp_warm_set_hooks(const thp_warm_hooks_t *hooks) {
  warm_hooks = hooks != NULL ? hooks : &warm_default;
  warm_block = warm_map_addr = 0;
  warm_off = false;
}

static bool warm_map(void) {
  ts_prim_ptr_t m = warm_hooks->mmap(NULL, 2 * PMD, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (m.err != 0) return false;
  uintptr_t a = ((uintptr_t)m.addr + PMD - 1) & ~(uintptr_t)(PMD - 1);
  /* the unaligned rest stays mapped: 2 MiB of address space, no memory */
  if (warm_hooks->madvise((void *)a, PMD, MADV_HUGEPAGE) != 0) {
    warm_hooks->munmap(m.addr, 2 * PMD);
    return false;
  }
  warm_map_addr = (uintptr_t)m.addr;
  warm_block = a;
  return true;
}

bool thp_warm_page(void) {
  if (warm_off || !ts_config.thp_warm || !warm_hooks->host_takes_back()) return false;
  if (warm_block == 0 && !warm_map()) {
    warm_off = true;
    return false;
  }
  int r = warm_hooks->madvise((void *)warm_block, PMD, MADV_POPULATE_WRITE);
  if (r == -EINVAL) warm_off = true; /* an old kernel: nothing was faulted */
  /* freed even after a failure: a populate that ran out of memory part-way
   * leaves pages behind. MADV_DONTNEED fails on a locked mapping (the
   * program called mlockall(MCL_FUTURE) before the block was mapped): then
   * the block goes, with its page, and warming with it. */
  if (warm_hooks->madvise((void *)warm_block, PMD, MADV_DONTNEED) != 0) {
    warm_hooks->munmap((void *)warm_map_addr, 2 * PMD);
    warm_block = 0;
    warm_off = true;
    return false;
  }
  if (r != 0) return false;
  __atomic_add_fetch(&ts_thp_stats.collapse_warmed, 1, __ATOMIC_RELAXED);
  return true;
}
