/* The mmap family, interposed: mmap, mmap64, munmap, mremap, madvise,
 * mprotect, pkey_mprotect, mlock, mlock2, munlock, mlockall, munlockall
 * and mbind (syscall() routes its raw numbers here: shim/syscall.c). The
 * program's anonymous private mappings are placed in tiershim's regions and
 * calls on placed ranges are emulated (alloc/place_vm.c); everything else
 * goes straight to the kernel through base/prim.c.
 *
 * mimalloc's own calls land here too (its OS layer calls them through the
 * PLT). They are told apart by return address and
 *  - are not counted in the program's stats (they are tiershim's traffic);
 *  - never write errno (the errno shield): a failed call mimalloc recovers
 *    from must not leave errno changed behind a successful malloc or free,
 *    and that is what lets malloc and free tail-call mimalloc without saving
 *    errno (see malloc.c). mimalloc branches on errno in one place, the
 *    MADV_FREE -> MADV_DONTNEED fallback, which is done here instead. Out of
 *    memory reaches errno through mimalloc's error handler (init.c).
 *
 * A signal handler on a thread that is inside tiershim (base/reentry.h)
 * gets the kernel's own call and no placement; its bookkeeping is deferred
 * (alloc/place_defer.c). A call that fails for want of memory is retried
 * once after tiershim gave back what it keeps (ts_place_pressure). */
#define _GNU_SOURCE
#include <errno.h>
#include <link.h>
#include <stdarg.h>
#include <stdint.h>
#include <sys/mman.h>

#include <mimalloc.h>

#include "base/counters.h"
#include "base/kargs.h"
#include "alloc/place.h"
#include "base/prim.h"
#include "base/reentry.h"
#include "base/tick.h"
#include "shim/shim.h"
#include "observe/residency.h"
#include "policy/thp.h"
#include "policy/tierpol.h"

static uintptr_t heap_text_lo, heap_text_hi; /* libmimalloc's code */

/* Nonzero while this thread runs one of the heap's own OS calls: a signal
 * handler that mallocs then would re-enter mimalloc (malloc.c refuses). */
__thread unsigned ts_in_heap_os __attribute__((tls_model("initial-exec")));

typedef struct { uintptr_t addr, lo, hi; } text_probe_t;

static int find_text(struct dl_phdr_info *info, size_t size, void *arg) {
  text_probe_t *t = arg;
  for (int i = 0; i < info->dlpi_phnum; i++) {
    const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
    if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X)) continue;
    uintptr_t lo = info->dlpi_addr + ph->p_vaddr, hi = lo + ph->p_memsz;
    if (t->addr >= lo && t->addr < hi) {
      t->lo = lo;
      t->hi = hi;
      return 1;
    }
  }
  return 0;
}

/* Called once during initialisation (dl_iterate_phdr takes the loader's
 * list lock: fine there, not inside an arbitrary mmap call). */
void ts_mmap_init(void) {
  text_probe_t t = {(uintptr_t)&mi_malloc, 0, 0};
  if (dl_iterate_phdr(find_text, &t) == 1) {
    heap_text_lo = t.lo;
    heap_text_hi = t.hi;
  }
  ts_place_defer_init();
}

static inline bool from_heap(const void *ra) {
  uintptr_t a = (uintptr_t)ra;
  return a >= heap_text_lo && a < heap_text_hi;
}

static inline void count_program(ts_ctr_t c, bool internal) {
  if (!internal) ts_count(c);
}

static inline void *ptr_result(ts_prim_ptr_t r, bool internal) {
  if (r.err == 0) return r.addr;
  if (!internal) errno = r.err;
  return MAP_FAILED;
}

static inline int int_result(int r, bool internal) {
  if (r >= 0) return r;
  if (!internal) errno = -r;
  return -1;
}

/* [addr, addr+len) as the kernel will see it touches the window. */
static inline bool touches(const void *addr, size_t len) { return ts_place_touches(addr, len ? len : 1); }

/* ---- mmap ----------------------------------------------------------------- */

/* The heap's own mappings: tiershim's traffic, never placed. */
static void *mmap_heap(void *addr, size_t len, int prot, int flags, int fd, off_t off) {
  ts_in_heap_os++;
  ts_prim_ptr_t r = ts_place_kernel_mmap(addr, len, prot, flags, fd, off);
  if (r.err == ENOMEM && ts_place_pressure(len)) r = ts_place_kernel_mmap(addr, len, prot, flags, fd, off);
  if (r.err == 0 && (flags & MAP_ANONYMOUS) && !ts_reentered()) {
    ts_thp_heap_mapped((uintptr_t)r.addr, len);
    ts_tier_bind_hot(r.addr, len);
    ts_tier_heap_mapped(r.addr, len);
  }
  ts_in_heap_os--;
  return ptr_result(r, true);
}

/* A handler inside tiershim: the kernel's mmap, never placed. */
static void *mmap_reentered(void *addr, size_t len, int prot, int flags, int fd, off_t off) {
  if ((flags & MAP_FIXED) && touches(addr, len))
    return ptr_result(ts_place_reentered_mmap_fixed(addr, len, prot, flags, fd, off), false);
  return ptr_result(ts_prim_mmap(addr, len, prot, flags, fd, off), false);
}

static ts_prim_ptr_t mmap_kernel(void *addr, size_t len, int prot, int flags, int fd, off_t off) {
  ts_prim_ptr_t r = ts_place_kernel_mmap(addr, len, prot, flags, fd, off);
  if (r.err == ENOMEM && ts_place_pressure(len)) r = ts_place_kernel_mmap(addr, len, prot, flags, fd, off);
  return r;
}

/* The program's anonymous private mappings of the right size are placed in
 * tiershim's regions; a MAP_FIXED into the window is the program's to make,
 * and the regions' bookkeeping follows it. */
TS_EXPORT void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off) {
  if (from_heap(__builtin_return_address(0))) return mmap_heap(addr, len, prot, flags, fd, off);
  ts_count(TS_CTR_MMAP);
  if (ts_reentered()) return mmap_reentered(addr, len, prot, flags, fd, off);
  if (ts_place_mmap_wanted(addr, len, prot, flags, fd, off)) {
    void *p = ts_place_mmap(len, prot, flags);
    if (p != NULL) {
      ts_slow_tick(); /* live stats (base/tick.h): a placed mmap is a slow path */
      return p;
    }
  } else if (addr != NULL && !(flags & MAP_FIXED) && touches(addr, len)) {
    void *p = ts_place_mmap_at(addr, len, prot, flags, fd, off);
    if (p != NULL) return p;
  }
  ts_prim_ptr_t r = mmap_kernel(addr, len, prot, flags, fd, off);
  if (r.err == 0 && (flags & MAP_ANONYMOUS) && !(flags & (MAP_STACK | MAP_GROWSDOWN)) && !touches(r.addr, len))
    ts_tier_bind_mapping(r.addr, len); /* bulk beyond the window: MMAP_MAX, MAP_SHARED, ... */
  if (r.err == 0 && (flags & MAP_FIXED) && touches(r.addr, len)) ts_place_adopt(r.addr, len, prot);
  return ptr_result(r, false);
}

TS_EXPORT void *mmap64(void *addr, size_t len, int prot, int flags, int fd, off_t off)
    __attribute__((alias("mmap")));

/* ---- munmap, mremap ------------------------------------------------------- */

TS_EXPORT int munmap(void *addr, size_t len) {
  bool internal = from_heap(__builtin_return_address(0));
  count_program(TS_CTR_MUNMAP, internal);
  if (internal) {
    ts_in_heap_os++;
    if (!ts_reentered()) {
      ts_tier_heap_unmapped(addr, len);
      ts_thp_heap_unmapped((uintptr_t)addr, len);
    }
    int r = ts_prim_munmap(addr, len);
    ts_in_heap_os--;
    return int_result(r, true);
  }
  if (ts_reentered()) return int_result(ts_place_reentered_munmap(addr, len), false);
  if (touches(addr, len)) {
    int r = ts_place_munmap(addr, len);
    ts_slow_tick();
    return int_result(r, false);
  }
  return int_result(ts_prim_munmap(addr, len), false);
}

/* The fifth argument is read when MREMAP_FIXED or MREMAP_DONTUNMAP asks
 * for it (the kernel takes it as a hint with DONTUNMAP); glibc hands the
 * register to the kernel whatever the flags. */
TS_EXPORT void *mremap(void *old, size_t old_len, size_t new_len, int flags, ...) {
  bool internal = from_heap(__builtin_return_address(0));
  count_program(TS_CTR_MREMAP, internal);
  void *new_addr = NULL;
  if (flags & (MREMAP_FIXED | MREMAP_DONTUNMAP)) {
    va_list ap;
    va_start(ap, flags);
    new_addr = va_arg(ap, void *);
    va_end(ap);
  }
  bool ours = !internal && (touches(old, old_len) || ((flags & MREMAP_FIXED) && touches(new_addr, new_len)));
  if (ours && ts_reentered())
    return ptr_result(ts_place_reentered_mremap(old, old_len, new_len, flags, new_addr), false);
  if (ours) return ts_place_mremap(old, old_len, new_len, flags, new_addr);
  return ptr_result(ts_prim_mremap(old, old_len, new_len, flags, new_addr), internal);
}

/* ---- madvise, mprotect, pkey_mprotect -------------------------------------- */

TS_EXPORT int madvise(void *addr, size_t len, int advice) {
  bool internal = from_heap(__builtin_return_address(0));
  count_program(TS_CTR_MADVISE, internal);
  if (!internal && touches(addr, len)) {
    if (!ts_reentered()) return int_result(ts_place_madvise(addr, len, advice), false);
    int r = ts_prim_madvise(addr, len, advice);
    if (!ts_kargs_advice_page_only(advice)) r = ts_place_reentered_taint((uintptr_t)addr, len, r);
    return int_result(r, false);
  }
  int r = ts_prim_madvise(addr, len, advice);
  if (internal && r == -EINVAL && advice == MADV_FREE) /* kernels before 4.5 */
    r = ts_prim_madvise(addr, len, MADV_DONTNEED);
  return int_result(r, internal);
}

static int protect(void *addr, size_t len, int prot, int pkey, bool internal) {
  if (!internal && touches(addr, len)) {
    if (!ts_reentered()) return ts_place_mprotect(addr, len, prot, pkey);
    int r = pkey == -1 ? ts_prim_mprotect(addr, len, prot) : ts_prim_pkey_mprotect(addr, len, prot, pkey);
    return ts_place_reentered_taint((uintptr_t)addr, len, r);
  }
  return pkey == -1 ? ts_prim_mprotect(addr, len, prot) : ts_prim_pkey_mprotect(addr, len, prot, pkey);
}

/* Not counted in the stats; interposed for placed ranges and for the errno
 * shield (mimalloc commits memory with mprotect). */
TS_EXPORT int mprotect(void *addr, size_t len, int prot) {
  bool internal = from_heap(__builtin_return_address(0));
  return int_result(protect(addr, len, prot, -1, internal), internal);
}

TS_EXPORT int pkey_mprotect(void *addr, size_t len, int prot, int pkey) {
  return int_result(protect(addr, len, prot, pkey, false), false);
}

/* ---- mlock family, mbind -------------------------------------------------- */

static int lock_range(void *addr, size_t len, unsigned flags, bool unlock) {
  if (touches(addr, len)) {
    if (!ts_reentered()) return ts_place_mlock(addr, len, flags, unlock);
    int r = unlock ? ts_prim_munlock(addr, len) : ts_prim_mlock2(addr, len, flags);
    return unlock ? r : ts_place_reentered_taint((uintptr_t)addr & ~(uintptr_t)4095, len + ((uintptr_t)addr & 4095), r);
  }
  return unlock ? ts_prim_munlock(addr, len) : ts_prim_mlock2(addr, len, flags);
}

TS_EXPORT int mlock(const void *addr, size_t len) { return int_result(lock_range((void *)addr, len, 0, false), false); }
TS_EXPORT int mlock2(const void *addr, size_t len, unsigned int flags) {
  return int_result(lock_range((void *)addr, len, flags, false), false);
}
TS_EXPORT int munlock(const void *addr, size_t len) { return int_result(lock_range((void *)addr, len, 0, true), false); }

TS_EXPORT int mlockall(int flags) {
  return int_result(ts_reentered() ? ts_prim_mlockall(flags) : ts_place_mlockall(flags), false);
}

TS_EXPORT int munlockall(void) { return int_result(ts_place_munlockall(), false); }

/* libnuma's mbind (a raw system call there too): a program's policy on a
 * placed range is recorded, so it does not outlive munmap. */
TS_EXPORT long mbind(void *addr, unsigned long len, int mode, const unsigned long *mask, unsigned long maxnode,
                     unsigned flags) {
  long r;
  if (!touches(addr, len)) r = ts_prim_mbind_raw(addr, len, mode, mask, maxnode, flags);
  else if (!ts_reentered()) r = ts_place_mbind(addr, len, mode, mask, maxnode, flags);
  else r = ts_place_reentered_taint((uintptr_t)addr, len, (int)ts_prim_mbind_raw(addr, len, mode, mask, maxnode, flags));
  return int_result((int)r, false);
}
