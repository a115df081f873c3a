/* mmap, mmap64, munmap, mremap, madvise and mprotect: interposed. The
 * program's anonymous private mappings are placed in tiershim's regions and
 * munmap/mremap on them are emulated (alloc/place.c); everything else goes
 * straight to the kernel through alloc/prim.c.
 *
 * mimalloc's own calls land here too (its OS layer calls them through the
 * PLT). They are told apart by return address and
 *  - are not counted in the program's stats (they are tiershim's traffic);
 *  - never write errno (the errno shield): a failed call mimalloc recovers
 *    from must not leave errno changed behind a successful malloc or free,
 *    and that is what lets malloc and free tail-call mimalloc without saving
 *    errno (see malloc.c). mimalloc branches on errno in one place, the
 *    MADV_FREE -> MADV_DONTNEED fallback, which is done here instead. Out of
 *    memory reaches errno through mimalloc's error handler (init.c). */
#define _GNU_SOURCE
#include <errno.h>
#include <link.h>
#include <stdarg.h>
#include <stdint.h>
#include <sys/mman.h>

#include <mimalloc.h>

#include "counters.h"
#include "place.h"
#include "thp.h"
#include "tierpol.h"
#include "prim.h"
#include "shim.h"

static uintptr_t heap_text_lo, heap_text_hi; /* libmimalloc's code */

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

/* The program's anonymous private mappings of the right size are placed in
 * tiershim's regions; a MAP_FIXED into the window is the program's to make,
 * and the regions' bookkeeping follows it. */
TS_EXPORT void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off) {
  bool internal = from_heap(__builtin_return_address(0));
  count_program(TS_CTR_MMAP, internal);
  if (!internal && ts_place_mmap_wanted(addr, len, prot, flags, fd, off)) {
    void *p = ts_place_mmap(len, prot, flags);
    if (p != NULL) return p;
  } else if (!internal && addr != NULL && !(flags & MAP_FIXED) && ts_place_touches(addr, len)) {
    void *p = ts_place_mmap_at(addr, len, prot, flags, fd, off);
    if (p != NULL) return p;
  }
  ts_prim_ptr_t r = ts_place_kernel_mmap(addr, len, prot, flags, fd, off);
  if (internal && r.err == 0 && (flags & MAP_ANONYMOUS)) {
    ts_thp_heap_mapped((uintptr_t)r.addr, len);
    ts_tier_bind_hot(r.addr, len);
    ts_tier_heap_mapped(r.addr, len);
  } else if (!internal && r.err == 0 && (flags & MAP_ANONYMOUS) && !(flags & (MAP_STACK | MAP_GROWSDOWN)) &&
             !ts_place_touches(r.addr, len)) {
    ts_tier_bind_mapping(r.addr, len); /* bulk beyond the window: MMAP_MAX, MAP_SHARED, ... */
  }
  if (!internal && r.err == 0 && (flags & MAP_FIXED) && ts_place_touches(r.addr, len))
    ts_place_adopt(r.addr, len, prot);
  return ptr_result(r, internal);
}

TS_EXPORT void *mmap64(void *addr, size_t len, int prot, int flags, int fd, off_t off)
    __attribute__((alias("mmap")));

TS_EXPORT int munmap(void *addr, size_t len) {
  bool internal = from_heap(__builtin_return_address(0));
  count_program(TS_CTR_MUNMAP, internal);
  if (!internal && ts_place_touches(addr, len)) return int_result(ts_place_munmap(addr, len), false);
  if (internal) ts_tier_heap_unmapped(addr, len);
  return int_result(ts_prim_munmap(addr, len), internal);
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
  if (!internal && (ts_place_touches(old, old_len ? old_len : 1) ||
                    ((flags & MREMAP_FIXED) && ts_place_touches(new_addr, new_len))))
    return ts_place_mremap(old, old_len, new_len, flags, new_addr);
  return ptr_result(ts_prim_mremap(old, old_len, new_len, flags, new_addr), internal);
}

TS_EXPORT int madvise(void *addr, size_t len, int advice) {
  bool internal = from_heap(__builtin_return_address(0));
  count_program(TS_CTR_MADVISE, internal);
  if (!internal && ts_place_touches(addr, len ? len : 1))
    return int_result(ts_place_madvise(addr, len, advice), false);
  int r = ts_prim_madvise(addr, len, advice);
  if (internal && r == -EINVAL && advice == MADV_FREE) /* kernels before 4.5 */
    r = ts_prim_madvise(addr, len, MADV_DONTNEED);
  return int_result(r, internal);
}

/* Not counted in the stats; interposed for the errno shield (mimalloc
 * commits memory with mprotect). */
TS_EXPORT int mprotect(void *addr, size_t len, int prot) {
  bool internal = from_heap(__builtin_return_address(0));
  if (!internal && ts_place_touches(addr, len ? len : 1))
    return int_result(ts_place_mprotect(addr, len, prot), false);
  return int_result(ts_prim_mprotect(addr, len, prot), internal);
}
