/* mremap on placed ranges: the kernel's argument checks, shrinks (across
 * holes and other mappings, as the kernel's munmap), growth in place,
 * moves of the page tables into a new placed range, MREMAP_FIXED and
 * MREMAP_DONTUNMAP, answering as the kernel would for the program's own
 * mapping (docs/design.md, "Semantics of the mmap family"). */
#define _GNU_SOURCE
#include "alloc/place_int.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#include "base/kargs.h"
#include "base/prim.h"

#define region_of place_region_of

/* ---- mremap --------------------------------------------------------------- */

static void *mremap_result(ts_prim_ptr_t r) {
  if (r.err == 0) return r.addr;
  errno = r.err;
  return MAP_FAILED;
}

/* The kernel refuses to move a range that spans two VMAs. A placed
 * mapping can: in auto mode, neighbouring commits may differ in
 * MADV_HUGEPAGE only. Then the move is a copy into the new range. */
static void *mremap_copy(uintptr_t o, size_t old_len, size_t new_len, uint32_t tag, ts_grant_t *g,
                         place_region_t *pr) {
  place_enter();
  bool ok = !g->unmapped || place_map_rw(g->addr, new_len);
  if (!ok) {
    ts_region_free(&pr->r, g->addr, new_len, TS_FREE_NONE);
    place_exit();
    errno = ENOMEM;
    return MAP_FAILED;
  }
  place_exit();
  memcpy((void *)g->addr, (void *)o, old_len);
  place_zero_grant(g, g->addr + old_len, new_len - old_len);
  int prot = TAG_KIND(tag) == TAG_MMAP ? TAG_PROT(tag) : PROT_READ | PROT_WRITE;
  if (prot != (PROT_READ | PROT_WRITE)) (void)ts_prim_mprotect((void *)g->addr, new_len, prot);
  place_enter();
  place_free_kinds_locked(o, old_len, (1u << TAG_MALLOC) | (1u << TAG_MMAP), TS_FREE_NONE);
  place_exit();
  place_ops->thp_granted(g->addr, new_len);
  return (void *)g->addr;
}

/* Moves [o, o+old_len) to a new placed range of new_len: the page tables
 * move (no copy), the new tail is mapped fresh. */
static void *mremap_move(uintptr_t o, size_t old_len, size_t new_len, uint32_t tag) {
  ts_grant_t g;
  place_region_t *pr;
  place_enter();
  int err = place_off_mlock ? -ENOMEM : place_alloc_locked(new_len, new_len % PMD == 0 ? PMD : PAGE, tag, &g, &pr);
  place_exit();
  if (err) return NULL;
  /* The kernel moves the page tables (no copy) and, when growing, extends
   * the mapping itself, so it keeps its flags (DONTFORK, WIPEONFORK, ...).
   * Same size: DONTUNMAP leaves the old range mapped, so no hole opens. */
  int flags = MREMAP_MAYMOVE | MREMAP_FIXED;
  ts_prim_ptr_t r = {NULL, EINVAL};
  /* Under the lock: a move without DONTUNMAP opens a hole at the source
   * until it is reserved again, and the program's own mmap(NULL) calls
   * take this lock, so none can land in it meanwhile. */
  place_enter();
  if (new_len == old_len) r = ts_prim_mremap((void *)o, old_len, old_len, flags | MREMAP_DONTUNMAP, (void *)g.addr);
  bool kept = r.err == 0; /* the old range is still mapped (empty) */
  if (r.err == EINVAL) r = ts_prim_mremap((void *)o, old_len, new_len, flags, (void *)g.addr);
  if (r.err == EFAULT) {
    place_exit();
    return mremap_copy(o, old_len, new_len, tag, &g, pr);
  }
  if (r.err) {
    place_map_none(g.addr, new_len);
    ts_region_free(&pr->r, g.addr, new_len, TS_FREE_NONE);
    place_exit();
    return mremap_result(r);
  }
  if (kept) place_free_kinds_locked(o, old_len, (1u << TAG_MALLOC) | (1u << TAG_MMAP), TS_FREE_NONE);
  else place_rereserve_locked(o, old_len);
  place_exit();
  return (void *)g.addr; /* the moved mapping keeps its flags: no new advice */
}

/* The program chose the destination, or keeps the source (DONTUNMAP): the
 * kernel does the work, then the bookkeeping follows what it did. */
static void *mremap_kernel(uintptr_t o, size_t old_len, size_t new_len, int flags, void *new_addr, int prot) {
  place_enter(); /* the move may open a hole: see mremap_move */
  ts_prim_ptr_t r = ts_prim_mremap((void *)o, old_len, new_len, flags, new_addr);
  if (r.err) {
    place_exit();
    return mremap_result(r);
  }
  /* What the kernel removed from the window is a hole to reserve again:
   * the source of a move, or the tail of a shrink in place. A mapping it
   * grew in place (at the window's edge) keeps its address. */
  uintptr_t gone = o, gone_end = o;
  if ((uintptr_t)r.addr != o && !(flags & MREMAP_DONTUNMAP)) gone_end = o + old_len;
  else if ((uintptr_t)r.addr == o && new_len < old_len) gone = o + new_len, gone_end = o + old_len;
  split_t s = split(gone, gone_end);
  if (s.lo < s.hi) place_rereserve_locked(s.lo, s.hi - s.lo);
  if (ts_place_touches(r.addr, new_len) && ((uintptr_t)r.addr != o || new_len > old_len))
    place_adopt_locked((uintptr_t)r.addr, new_len, prot);
  place_exit();
  return r.addr;
}

/* Would the kernel keep two adjacent placed mmaps with these tags as one
 * VMA? Same protection and the VMA flags tiershim knows of. */
static bool same_mapping(uint32_t a, uint32_t b) {
  const uint32_t kept = 0xffffu | TAG_DONTFORK | TAG_MLOCKED; /* kind, prot, VMA flags we know of */
  return TAG_KIND(a) == TAG_MMAP && (a & kept) == (b & kept);
}

/* Records split where the kernel's mapping is one (an madvise or mlock
 * that changed nothing the kernel keeps apart, a taint mark): the record
 * of x's mapping that holds `end`, or x when none continues it so far. */
static const ts_range_t *mapping_piece_locked(place_region_t *pr, const ts_range_t *x, uintptr_t end) {
  const ts_range_t *y = x;
  while (end > y->addr + y->len) {
    const ts_range_t *n = ts_region_find(&pr->r, y->addr + y->len);
    if (n == NULL || n->addr != y->addr + y->len || !same_mapping(x->tag, n->tag)) return x;
    y = n;
  }
  return y;
}

/* A shrink whose old range runs past its mapping: the kernel unmaps the
 * destination (MREMAP_FIXED), then the whole tail, holes and other
 * mappings included, then moves what is left. So do we, through munmap,
 * which knows what in the tail is the program's. */
static void *mremap_shrink_across(uintptr_t o, size_t old_len, size_t new_len, int flags, void *new_addr) {
  int r = (flags & MREMAP_FIXED) ? ts_place_munmap(new_addr, new_len) : 0;
  if (r == 0) r = ts_place_munmap((void *)(o + new_len), old_len - new_len);
  if (r) {
    errno = -r;
    return MAP_FAILED;
  }
  if (!(flags & MREMAP_FIXED)) return (void *)o;
  return ts_place_mremap((void *)o, new_len, new_len, flags, new_addr);
}

/* The kernel's checks (mm/mremap.c check_mremap_params, 6.16+), in its
 * order, before anything is looked up. */
static int mremap_args(uintptr_t o, size_t *old_len, size_t *new_len, int flags, uintptr_t new_addr) {
  const int known = MREMAP_MAYMOVE | MREMAP_FIXED | MREMAP_DONTUNMAP;
  if (flags & ~known) return -EINVAL;
  if (o % PAGE) return -EINVAL;
  if ((flags & MREMAP_FIXED) && !(flags & MREMAP_MAYMOVE)) return -EINVAL;
  if ((flags & MREMAP_DONTUNMAP) && !(flags & MREMAP_MAYMOVE)) return -EINVAL;
  *old_len = (*old_len + PAGE - 1) & ~(PAGE - 1); /* wraps to 0 as the kernel's PAGE_ALIGN */
  *new_len = (*new_len + PAGE - 1) & ~(PAGE - 1);
  if (*new_len == 0) return -EINVAL;
  uintptr_t task = ts_kargs_task_size();
  if (*new_len > task) return -EINVAL;
  if (!(flags & (MREMAP_FIXED | MREMAP_DONTUNMAP))) return 0;
  /* a specific new address */
  if (new_addr > task - *new_len) return -EINVAL;
  if (new_addr % PAGE) return -EINVAL;
  if ((flags & MREMAP_DONTUNMAP) && *old_len != *new_len) return -EINVAL;
  if (o + *old_len > new_addr && new_addr + *new_len > o) return -EINVAL; /* overlap */
  return 0;
}

/* Grows x's mapping in place when the space after it is free: the kernel
 * is given that space and extends the mapping itself, so the new part
 * keeps the mapping's flags. Under the lock; true when done. */
static bool mremap_grow_locked(place_region_t *pr, const ts_range_t *x, uintptr_t o, size_t old_len,
                               size_t new_len) {
  ts_grant_t g;
  size_t more = new_len - old_len;
  uint32_t tag = x->tag;
  bool at_end = o + old_len == x->addr + x->len;
  /* the mapping's record grows (one mapping, as the kernel sees it); a
   * tail piece of a record gets a record of its own */
  bool grown = at_end && (o == x->addr ? ts_region_resize(&pr->r, o, new_len, TS_FREE_NONE, &g)
                                       : ts_region_alloc_at(&pr->r, o + old_len, more, tag, &g)) == 0;
  if (!grown) return false;
  place_settle_grant(&g, o + old_len, more);
  bool ok = place_commit_to(pr, pr->r.top) && ts_prim_munmap((void *)(o + old_len), more) == 0;
  ts_prim_ptr_t m = ok ? ts_prim_mremap((void *)o, old_len, new_len, 0, NULL) : (ts_prim_ptr_t){NULL, ENOMEM};
  if (m.err == 0) return true; /* the mapping's own flags (THP advice included) carried over */
  ts_region_free(&pr->r, o + old_len, more, TS_FREE_NONE);
  if (ok) place_rereserve_locked(o + old_len, more); /* another thread's mmap took the space */
  else place_map_none(o + old_len, more);
  return false;
}

void *ts_place_mremap(void *old, size_t old_len, size_t new_len, int flags, void *new_addr) {
  uintptr_t o = (uintptr_t)old;
  int err = mremap_args(o, &old_len, &new_len, flags, (uintptr_t)new_addr);
  if (err) {
    errno = -err;
    return MAP_FAILED;
  }
  if (!ts_place_touches(old, old_len ? old_len : 1)) /* only the destination is ours */
    return mremap_kernel(o, old_len, new_len, flags, new_addr, PROT_READ | PROT_WRITE);
  if (!ts_place_owns(old)) { /* the kernel's mapping, a range reaching into the window */
    if (new_len >= old_len) return mremap_kernel(o, old_len, new_len, flags, new_addr, PROT_READ | PROT_WRITE);
    ts_prim_ptr_t at = ts_prim_mremap(old, PAGE, PAGE, 0, NULL); /* a no-op: is a mapping there? */
    return at.err ? mremap_result(at) : mremap_shrink_across(o, old_len, new_len, flags, new_addr);
  }
  place_enter();
  place_region_t *pr = region_of(o);
  const ts_range_t *x = ts_region_find(&pr->r, o);
  if (x == NULL || !PROGRAM_OWNED(x->tag)) { /* no mapping at the address */
    place_exit();
    errno = EFAULT;
    return MAP_FAILED;
  }
  if (old_len == new_len && !(flags & (MREMAP_FIXED | MREMAP_DONTUNMAP))) {
    place_exit(); /* nothing to do: the kernel answers before it looks further */
    return old;
  }
  /* A shrink may cross mappings and holes: the tail is unmapped, and only
   * what moves (new_len, MREMAP_FIXED) must lie within the one mapping
   * (mm/mremap.c: a shrink in place is checked for nothing more). */
  bool shrink = new_len < old_len;
  size_t keep = !shrink ? old_len : (flags & MREMAP_FIXED) ? new_len : 0;
  x = mapping_piece_locked(pr, x, o + keep);
  if (old_len == 0 || o + keep > x->addr + x->len) {
    place_exit();
    errno = old_len == 0 ? EINVAL : EFAULT; /* not within one mapping of the program's */
    return MAP_FAILED;
  }
  if (shrink && o + old_len > x->addr + x->len) {
    place_exit();
    return mremap_shrink_across(o, old_len, new_len, flags, new_addr);
  }
  uint32_t tag = x->tag;
  int prot = TAG_KIND(tag) == TAG_MMAP ? TAG_PROT(tag) : PROT_READ | PROT_WRITE;
  if ((flags & (MREMAP_FIXED | MREMAP_DONTUNMAP)) || TAG_KIND(tag) == TAG_FOREIGN) {
    place_exit();
    return mremap_kernel(o, old_len, new_len, flags, new_addr, prot);
  }
  if (new_len <= old_len) { /* shrink: the tail is unmapped */
    if (new_len < old_len) {
      place_unmap_piece_locked(pr, o + new_len, old_len - new_len, tag);
      place_retain_check_locked();
    }
    place_exit();
    return old;
  }
  bool grown = mremap_grow_locked(pr, x, o, old_len, new_len);
  place_exit();
  if (grown) return old;
  if (!(flags & MREMAP_MAYMOVE)) {
    errno = ENOMEM;
    return MAP_FAILED;
  }
  void *moved = mremap_move(o, old_len, new_len, tag);
  if (moved != NULL) return moved;
  return mremap_kernel(o, old_len, new_len, flags, NULL, prot); /* window full: the kernel's choice */
}
