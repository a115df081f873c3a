/* The mmap family from a signal handler whose thread is inside tiershim
 * (base/reentry.h): the thread may hold the placement lock, and the
 * records may be half changed, so nothing here reads them or takes a lock.
 * Each call is the kernel's own, on the whole range; what the records must
 * learn is queued and applied when the thread leaves tiershim (drain).
 * Every call completes: a queue that is full makes it fail with ENOMEM
 * before anything is done (a failure the kernel may give these calls).
 *
 * What a program can see differently here (docs/design.md): a range
 * unmapped from such a handler stays readable until the thread leaves
 * tiershim, and calls over the program's holes in the window see tiershim's
 * own mappings there instead of nothing (mprotect, madvise, mlock, mbind
 * then succeed where the kernel would say ENOMEM or EFAULT). */
#define _GNU_SOURCE
#include "alloc/place_int.h"

#include <errno.h>
#include <sys/mman.h>

#include "base/kargs.h"
#include "base/options.h"
#include "base/prim.h"

#define region_of place_region_of

typedef struct { uintptr_t lo, hi; } span_t;

static span_t window_part(uintptr_t a, uintptr_t end) {
  uintptr_t wlo = ts_place_lo, whi = ts_place_lo + ts_place_span;
  span_t s = {a > wlo ? a : wlo, end < whi ? end : whi};
  if (s.lo > s.hi) s.lo = s.hi;
  return s;
}

static uintptr_t end_of(uintptr_t a, size_t len) { return a + len < a ? UINTPTR_MAX : a + len; }

int ts_place_reentered_munmap(void *addr, size_t len) {
  uintptr_t a = (uintptr_t)addr, end;
  int r = ts_kargs_munmap(a, len, &end);
  if (r) return r;
  span_t w = window_part(a, end);
  if (w.lo == w.hi) return ts_prim_munmap(addr, end - a); /* none of it is ours */
  if (!ts_defer_room(1)) return -ENOMEM;
  if (a < w.lo) r = ts_prim_munmap(addr, w.lo - a);
  if (r == 0 && w.hi < end) r = ts_prim_munmap((void *)w.hi, end - w.hi);
  if (r == 0) ts_defer_push(TS_DEFER_UNMAP, w.lo, w.hi - w.lo, 0);
  return r;
}

/* A MAP_FIXED into the window: the kernel's, then adopted. */
ts_prim_ptr_t ts_place_reentered_mmap_fixed(void *addr, size_t len, int prot, int flags, int fd, off_t off) {
  if (!ts_defer_room(1)) return (ts_prim_ptr_t){NULL, ENOMEM};
  ts_prim_ptr_t m = ts_prim_mmap(addr, len, prot, flags, fd, off);
  if (m.err == 0) {
    span_t w = window_part((uintptr_t)m.addr, end_of((uintptr_t)m.addr, len));
    if (w.lo < w.hi) ts_defer_push(TS_DEFER_ADOPT, w.lo, w.hi - w.lo, prot);
  }
  return m;
}

/* What the kernel removed from the window (the source of a move, the tail
 * of a shrink) becomes a hole until the drain reserves it again. */
static void note_hole(uintptr_t a, size_t len) {
  span_t w = window_part(a, end_of(a, len));
  if (w.lo < w.hi) ts_defer_push(TS_DEFER_HOLE, w.lo, w.hi - w.lo, 0);
}

ts_prim_ptr_t ts_place_reentered_mremap(void *old, size_t old_len, size_t new_len, int flags, void *new_addr) {
  if (!ts_defer_room(2)) return (ts_prim_ptr_t){NULL, ENOMEM};
  ts_prim_ptr_t r = ts_prim_mremap(old, old_len, new_len, flags, new_addr);
  if (r.err) return r;
  uintptr_t o = (uintptr_t)old;
  size_t ol = (old_len + PAGE - 1) & ~(PAGE - 1), nl = (new_len + PAGE - 1) & ~(PAGE - 1);
  if (r.addr != old && !(flags & MREMAP_DONTUNMAP)) note_hole(o, ol);
  else if (r.addr == old && nl < ol) note_hole(o + nl, ol - nl);
  span_t w = window_part((uintptr_t)r.addr, end_of((uintptr_t)r.addr, nl));
  if (r.addr != old && w.lo < w.hi) ts_defer_push(TS_DEFER_ADOPT, w.lo, w.hi - w.lo, PROT_READ | PROT_WRITE);
  return r;
}

/* A call that changes VMA flags over [a, a+len): the kernel's, then the
 * records learn (taint), and tiershim's own free memory in the range, which
 * the kernel changed too, is mapped back as it was. */
int ts_place_reentered_taint(uintptr_t a, size_t len, int r) {
  if (r == 0) {
    span_t w = window_part(a, end_of(a, (len + PAGE - 1) & ~(PAGE - 1)));
    if (w.lo < w.hi) ts_defer_push(TS_DEFER_TAINT, w.lo, w.hi - w.lo, 0);
  }
  return r;
}

/* ---- the drain ------------------------------------------------------------ */

static void restore_free_locked(uintptr_t lo, uintptr_t hi) {
  while (lo < hi) {
    place_region_t *pr = region_of(lo);
    uintptr_t e = hi < pr->r.limit ? hi : pr->r.limit;
    for (size_t i = 0; i < pr->r.free.n; i++) {
      ts_range_t x = pr->r.free.v[i];
      uintptr_t s = x.addr > lo ? x.addr : lo, f = x.addr + x.len < e ? x.addr + x.len : e;
      if (s >= f) continue;
      if (x.state == TS_FREE_NONE) place_map_none(s, f - s);
      else place_map_rw(s, f - s);
    }
    ts_region_restate_free(&pr->r, lo, e - lo, (1u << TS_FREE_CLEAN) | (1u << TS_FREE_DIRTY), TS_FREE_ZAPPED);
    lo = e;
  }
}

static void hole_locked(uintptr_t lo, uintptr_t hi) {
  while (lo < hi) {
    place_region_t *pr = region_of(lo);
    uintptr_t e = hi < pr->r.limit ? hi : pr->r.limit;
    place_rereserve_locked(lo, e - lo);
    lo = e;
  }
}

static void defer_apply(const ts_defer_op_t *op) {
  if (op->kind == TS_DEFER_FREE) {
    ts_place_free((void *)op->addr);
    return;
  }
  place_enter();
  uintptr_t lo = op->addr, hi = op->addr + op->len;
  if (ts_place_span != 0) {
    switch (op->kind) {
    case TS_DEFER_UNMAP: place_munmap_locked(lo, hi); break;
    case TS_DEFER_HOLE: hole_locked(lo, hi); break;
    case TS_DEFER_ADOPT: place_adopt_locked(lo, op->len, op->arg); break;
    case TS_DEFER_TAINT:
      place_taint_span_locked(lo, hi, TAG_TAINTED);
      restore_free_locked(lo, hi);
      break;
    default: break;
    }
  }
  place_exit();
}

void ts_place_defer_init(void) { ts_defer_hook = defer_apply; }
