/* The mmap family on placed ranges: munmap, mprotect, pkey_mprotect,
 * madvise, mlock, munlock, mlockall, mbind and hints into the window
 * (mremap: place_mremap.c), answering as the kernel would for the program's own
 * mappings (docs/design.md, "Semantics of the mmap family").
 *
 * Inside the window the program's holes are still mapped (by us: free or
 * PROT_NONE), so the kernel would not see them: calls are checked against
 * the records with the kernel's rules for holes. Each call is validated
 * whole first (base/kargs.h); the parts of its range outside the window
 * are the kernel's, composed in address order as the kernel walks VMAs. */
#define _GNU_SOURCE
#include "alloc/place_int.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#include "base/kargs.h"
#include "base/options.h"
#include "base/prim.h"

#define mid place_mid
#define pmd place_pmd
#define region_of place_region_of

#ifndef MADV_WIPEONFORK
#define MADV_WIPEONFORK 18
#endif

/* ---- the window's part of a range --------------------------------------- */

/* Calls fn on every program-owned piece of [a, end) (inside the window) in
 * address order, and says where the first hole in the program's view
 * starts (end if none): free space, or a range that is not the program's.
 * fn may change the records; a nonzero result stops the walk. */
typedef int (*piece_fn)(const ts_range_t *piece, void *arg);

static int walk_owned_locked(uintptr_t a, uintptr_t end, piece_fn fn, void *arg, uintptr_t *hole) {
  *hole = end;
  uintptr_t at = a;
  while (at < end) {
    place_region_t *pr = region_of(at);
    uintptr_t stop = end < pr->r.limit ? end : pr->r.limit;
    if (stop <= at) break;
    ts_range_t piece[PIECES];
    size_t k = ts_region_live_in(&pr->r, at, stop - at, piece, PIECES), m = k < PIECES ? k : PIECES;
    for (size_t i = 0; i < m; i++) {
      bool owned = PROGRAM_OWNED(piece[i].tag);
      if ((piece[i].addr != at || !owned) && *hole == end) *hole = at; /* a gap, or not the program's */
      at = piece[i].addr + piece[i].len;
      if (owned && fn) {
        int r = fn(&piece[i], arg);
        if (r) return r;
      }
    }
    if (k <= PIECES) {
      if (at < stop && *hole == end) *hole = at;
      at = stop;
    }
  }
  return 0;
}

static uintptr_t first_hole_locked(uintptr_t a, uintptr_t end) {
  uintptr_t hole;
  walk_owned_locked(a, end, NULL, NULL, &hole);
  return hole;
}

/* Gives a program-owned piece a new tag (its record split out as needed). */
static void retag_locked(const ts_range_t *piece, uint32_t tag) {
  place_region_t *pr = region_of(piece->addr);
  ts_grant_t g;
  ts_region_free(&pr->r, piece->addr, piece->len, TS_FREE_DIRTY);
  ts_region_alloc_at(&pr->r, piece->addr, piece->len, tag, &g);
  place_settle_grant(&g, piece->addr, piece->len);
}

/* Adds flag bits to a piece: a malloc block stays one record (free()
 * finds it by its start), anything else splits out. */
static int taint_piece(const ts_range_t *piece, void *arg) {
  uint32_t bits = *(const uint32_t *)arg;
  if ((piece->tag & bits) == bits || TAG_KIND(piece->tag) == TAG_FOREIGN) return 0;
  if (TAG_KIND(piece->tag) == TAG_MALLOC) {
    const ts_range_t *x = ts_region_find(&region_of(piece->addr)->r, piece->addr);
    if (x) ((ts_range_t *)x)->tag |= bits;
    return 0;
  }
  retag_locked(piece, piece->tag | bits);
  return 0;
}

void place_taint_span_locked(uintptr_t a, uintptr_t end, uint32_t bits) {
  uintptr_t hole;
  walk_owned_locked(a, end, taint_piece, &bits, &hole);
}

/* ---- hints, MAP_FIXED, munmap ------------------------------------------- */

/* A hint or MAP_FIXED_NOREPLACE at an address in the window: where the
 * program's view has nothing mapped (free, or unmapped by it before), the
 * kernel would honour it, so we do. NULL: not ours to decide. */
void *ts_place_mmap_at(void *addr, size_t len, int prot, int flags, int fd, off_t off) {
  uintptr_t a = (uintptr_t)addr;
  if (len == 0 || len > ts_place_span) return NULL;
  len = ts_align_up(len, PAGE);
  if (!(flags & MAP_FIXED_NOREPLACE)) a &= ~(PAGE - 1), addr = (void *)a; /* a hint: rounded down, as the kernel does */
  if (a % PAGE || a < ts_place_lo || a + len > ts_place_lo + ts_place_span) return NULL;
  place_enter();
  place_region_t *pr = region_of(a);
  ts_grant_t g;
  int err = (a + len <= pr->r.limit) ? ts_region_alloc_at(&pr->r, a, len, MMAP_TAG(prot) | TAG_TAINTED, &g)
                                      : -EEXIST;
  if (err == 0) place_settle_grant(&g, a, len);
  if (err == 0 && !place_commit_to(pr, pr->r.top)) {
    ts_region_free(&pr->r, a, len, TS_FREE_NONE);
    err = -ENOMEM;
  }
  place_exit();
  if (err == -EEXIST && (flags & MAP_FIXED_NOREPLACE)) {
    errno = EEXIST;
    return MAP_FAILED;
  }
  if (err) return NULL; /* a plain hint: the kernel places it elsewhere */
  int fixed = (flags & ~MAP_FIXED_NOREPLACE) | MAP_FIXED;
  ts_prim_ptr_t m = ts_prim_mmap(addr, len, prot, fixed, fd, off);
  if (m.err) {
    place_enter();
    place_map_none(a, len);
    ts_region_free(&pr->r, a, len, TS_FREE_NONE);
    place_exit();
    errno = m.err;
    return MAP_FAILED;
  }
  place_ops->thp_unmapped(a, len);
  if (fd == -1 && (flags & MAP_TYPE) == MAP_PRIVATE) place_ops->thp_mapped(a, len);
  return m.addr;
}

/* The window part of a valid munmap, under the lock. */
void place_munmap_locked(uintptr_t lo, uintptr_t hi) {
  place_free_kinds_locked(lo, hi - lo, PROGRAM_KINDS, TS_FREE_NONE);
  place_retain_check_locked(); /* unmapped ranges may have been retained */
}

int ts_place_munmap(void *addr, size_t len) {
  uintptr_t end;
  int r = ts_kargs_munmap((uintptr_t)addr, len, &end);
  if (r) return r;
  split_t s = split((uintptr_t)addr, end);
  if (s.a < s.lo) r = ts_prim_munmap(addr, s.lo - s.a); /* the parts outside are the kernel's */
  if (s.hi < s.end && r == 0) r = ts_prim_munmap((void *)s.hi, s.end - s.hi);
  if (r) return r;
  if (s.lo < s.hi) {
    place_enter();
    place_munmap_locked(s.lo, s.hi);
    place_exit();
  }
  return 0;
}

/* The kernel replaced [a, a+len) with a mapping of the program's: drop what
 * we had there and record it as a placed mmap. */
void place_adopt_locked(uintptr_t a, size_t len, int prot) {
  split_t sp = split(a, a + len);
  uintptr_t lo = sp.lo, hi = sp.hi;
  while (lo < hi) {
    place_region_t *pr = region_of(lo);
    uintptr_t s = lo, e = hi < pr->r.limit ? hi : pr->r.limit;
    place_free_kinds_locked(s, e - s, (1u << TAG_MALLOC) | (1u << TAG_MMAP), TS_FREE_DIRTY);
    ts_grant_t g;
    uintptr_t old_top = pr->r.top;
    /* Tainted: the program's own mapping (any prot, flags, even a file):
     * on unmap it must be replaced, never kept for reuse. */
    bool got = ts_region_alloc_at(&pr->r, s, e - s, MMAP_TAG(prot) | TAG_TAINTED, &g) == 0;
    if (got) place_settle_grant(&g, s, e - s);
    if (got && pr->r.top > pr->committed) {
      /* keep "below committed is read-write": commit the gap below it */
      if (s > pr->committed && s > old_top) place_map_rw(pr->committed, s - pr->committed);
      pr->committed = ts_align_up(pr->r.top, PAGE);
    }
    lo = e;
  }
}

void ts_place_adopt(void *addr, size_t len, int prot) {
  place_enter();
  if (ts_place_span != 0) place_adopt_locked((uintptr_t)addr, ts_align_up(len, PAGE), prot);
  place_exit();
}

/* ---- mprotect, pkey_mprotect, mlock, munlock ------------------------------
 * The kernel walks the VMAs from the start and stops at the first hole
 * with ENOMEM, having changed what came before it. */

typedef struct {
  int (*call)(uintptr_t a, size_t len, const void *arg); /* the kernel's call on [a, a+len) */
  const void *arg;
  uint32_t taint;      /* flag bits for the pieces it changed */
  uint32_t clear;      /* flag bits it took off them */
  bool retag_prot;     /* placed mmaps' records carry the new protection */
  int prot;
} upto_hole_t;

static int retag_piece(const ts_range_t *piece, void *arg) {
  const upto_hole_t *u = arg;
  if (u->retag_prot && TAG_KIND(piece->tag) == TAG_MMAP)
    retag_locked(piece, MMAP_TAG(u->prot) | (piece->tag & ~0xffffu) | TAG_TAINTED | u->taint);
  else if (u->clear) { /* munlock: only what it took off */
    if ((piece->tag & u->clear) && TAG_KIND(piece->tag) == TAG_MMAP) retag_locked(piece, piece->tag & ~u->clear);
  } else {
    taint_piece(piece, &(uint32_t){TAG_TAINTED | u->taint});
  }
  return 0;
}

static int upto_hole(uintptr_t a, uintptr_t end, const upto_hole_t *u) {
  split_t s = split(a, end);
  int r = s.a < s.lo ? u->call(s.a, s.lo - s.a, u->arg) : 0;
  if (r) return r;
  if (s.lo < s.hi) {
    place_enter();
    uintptr_t hole = first_hole_locked(s.lo, s.hi);
    r = hole > s.lo ? u->call(s.lo, hole - s.lo, u->arg) : 0;
    if (r == 0 && (u->taint || u->clear || u->retag_prot)) {
      uintptr_t h;
      walk_owned_locked(s.lo, hole, retag_piece, (void *)u, &h);
    }
    place_exit();
    if (r == 0 && hole < s.hi) r = -ENOMEM;
    if (r) return r;
  }
  return s.hi < s.end ? u->call(s.hi, s.end - s.hi, u->arg) : 0;
}

static int first_piece(const ts_range_t *piece, void *arg) {
  *(uintptr_t *)arg = piece->addr;
  return 1;
}

static int call_mprotect(uintptr_t a, size_t len, const void *arg) {
  const int *pp = arg; /* {prot, pkey} */
  return pp[1] == -1 ? ts_prim_mprotect((void *)a, len, pp[0]) : ts_prim_pkey_mprotect((void *)a, len, pp[0], pp[1]);
}

/* placed mmaps' records split and carry the new protection, so a later
 * mremap across the boundary fails as the kernel's would (two VMAs). */
int ts_place_mprotect(void *addr, size_t len, int prot, int pkey) {
  uintptr_t a = (uintptr_t)addr, end;
  int args = ts_kargs_mprotect(a, len, prot, &end);
  if (args != 0) return args < 0 ? args : 0;
  if ((prot & (PROT_GROWSDOWN | PROT_GROWSUP)) && ts_place_owns(addr)) {
    /* Placed mappings never grow: the kernel's EINVAL, once it has found the
     * mapping it starts from (GROWSDOWN: the first one in the range; UP:
     * the one at the start), or ENOMEM when there is none. */
    place_enter();
    uintptr_t hole = first_hole_locked(a, a + PAGE), first = end;
    if ((prot & PROT_GROWSDOWN) && hole == a) {
      uintptr_t h;
      walk_owned_locked(a, end < ts_place_lo + ts_place_span ? end : ts_place_lo + ts_place_span, first_piece,
                        &first, &h);
    }
    place_exit();
    if (prot & PROT_GROWSDOWN) return hole != a || first < end ? -EINVAL : -ENOMEM;
    return hole == a ? -ENOMEM : -EINVAL;
  }
  int pp[2] = {prot, pkey};
  upto_hole_t u = {call_mprotect, pp, 0, 0, true, prot};
  return upto_hole(a, end, &u);
}

static int call_mlock(uintptr_t a, size_t len, const void *arg) {
  unsigned flags = *(const unsigned *)arg;
  return flags == ~0u ? ts_prim_munlock((void *)a, len) : ts_prim_mlock2((void *)a, len, flags);
}

/* mlock/mlock2 (flags) and munlock (unlock): a locked range is tainted, so
 * the lock never outlives munmap or free (nor counts against
 * RLIMIT_MEMLOCK, nor pins retained memory). */
int ts_place_mlock(void *addr, size_t len, unsigned flags, bool unlock) {
  uintptr_t a = (uintptr_t)addr, end;
  int args = ts_kargs_mlock(&a, len, &end);
  if (args != 0) return args < 0 ? args : 0;
  unsigned f = unlock ? ~0u : flags;
  upto_hole_t u = {call_mlock, &f, unlock ? 0 : TAG_TAINTED | TAG_PINNED | TAG_MLOCKED, unlock ? TAG_MLOCKED : 0,
                   false, 0};
  return upto_hole(a, end, &u);
}

/* ---- madvise -------------------------------------------------------------- */

typedef struct {
  int advice, err;
} adv_t;

static int advise_piece(const ts_range_t *piece, void *arg) {
  adv_t *v = arg;
  int r = ts_prim_madvise((void *)piece->addr, piece->len, v->advice);
  if (r == -ENOMEM) { v->err = r; return 0; }
  return r;
}

/* madvise: applied to every mapped piece, in order; a hole anywhere makes
 * it ENOMEM, any other error stops it there. Advice that is not about the
 * pages alone (flags, guard markers, advice unknown to tiershim) taints
 * the pieces, so none of it outlives munmap; DONTFORK is remembered for
 * the child's records (place_fork.c). */
int ts_place_madvise(void *addr, size_t len, int advice) {
  uintptr_t end;
  int args = ts_kargs_madvise((uintptr_t)addr, len, advice, &end);
  if (args != 0) return args < 0 ? args : 0;
  split_t s = split((uintptr_t)addr, end);
  bool nomem = false;
  int r = s.a < s.lo ? ts_prim_madvise(addr, s.lo - s.a, advice) : 0;
  if (r == -ENOMEM) nomem = true, r = 0;
  if (r) return r;
  if (s.lo < s.hi) {
    adv_t v = {advice, 0};
    uintptr_t hole;
    place_enter();
    r = walk_owned_locked(s.lo, s.hi, advise_piece, &v, &hole);
    if (!ts_kargs_advice_page_only(advice)) {
      uint32_t bits = TAG_TAINTED | (advice == MADV_DONTFORK ? TAG_DONTFORK : 0);
      walk_owned_locked(s.lo, s.hi, taint_piece, &bits, &hole);
    }
    place_exit();
    if (r) return r;
    nomem |= hole < s.hi || v.err != 0;
  }
  r = s.hi < s.end ? ts_prim_madvise((void *)s.hi, s.end - s.hi, advice) : 0;
  if (r == -ENOMEM) nomem = true, r = 0;
  return r ? r : nomem ? -ENOMEM : 0;
}

/* ---- mbind ---------------------------------------------------------------- */

typedef struct {
  int mode;
  const unsigned long *mask;
  unsigned long maxnode;
  unsigned flags;
} mbind_args_t;

static int call_mbind(uintptr_t a, size_t len, const void *arg) {
  const mbind_args_t *m = arg;
  return (int)ts_prim_mbind_raw((void *)a, len, m->mode, m->mask, m->maxnode, m->flags);
}

/* mbind: a hole in the range is EFAULT before anything changes; the
 * pieces' policy is the program's (tainted: it must not outlive munmap). */
long ts_place_mbind(void *addr, unsigned long len, int mode, const unsigned long *mask, unsigned long maxnode,
                    unsigned flags) {
  uintptr_t a = (uintptr_t)addr;
  if (a % PAGE) return -EINVAL;
  uintptr_t end = a + ts_align_up(len, PAGE);
  if (end < a) return -EINVAL;
  mbind_args_t m = {mode, mask, maxnode, flags};
  /* The kernel checks mode, flags and the node mask before the range: an
   * empty range at the same address gets just those checks. */
  int r = call_mbind(a, 0, &m);
  if (r != 0 || end == a) return r;
  split_t s = split(a, end);
  if (s.lo < s.hi) {
    place_enter();
    bool hole = first_hole_locked(s.lo, s.hi) < s.hi;
    place_exit();
    if (hole) return -EFAULT;
  }
  upto_hole_t u = {call_mbind, &m, TAG_TAINTED, 0, false, 0};
  return upto_hole(a, end, &u);
}

/* ---- mlockall, munlockall ------------------------------------------------- */

/* After mlockall(MCL_CURRENT) every VMA is locked, the window's free memory
 * included, which the kernel populated: it is unlocked and released (the
 * program never had it), and the program's ranges are tainted (locked). */
static void unlock_free_locked(place_region_t *pr) {
  for (size_t i = 0; i < pr->r.free.n; i++) {
    ts_range_t x = pr->r.free.v[i];
    ts_prim_munlock((void *)x.addr, x.len);
    if (x.state != TS_FREE_NONE) ts_prim_madvise((void *)x.addr, x.len, MADV_DONTNEED);
  }
  ts_region_restate_free(&pr->r, pr->r.base, pr->r.top - pr->r.base,
                         (1u << TS_FREE_CLEAN) | (1u << TS_FREE_DIRTY), TS_FREE_ZAPPED);
  ts_prim_munlock((void *)pr->r.top, pr->r.limit - pr->r.top);
  if (pr->committed > pr->r.top) ts_prim_madvise((void *)pr->r.top, pr->committed - pr->r.top, MADV_DONTNEED);
  for (size_t i = 0; i < pr->r.live.n; i++)
    if (PROGRAM_OWNED(pr->r.live.v[i].tag)) pr->r.live.v[i].tag |= TAG_TAINTED;
}

int ts_place_mlockall(int flags) {
  int r = ts_prim_mlockall(flags);
  /* unprivileged MCL_CURRENT: the kernel compares all of the address space
   * with RLIMIT_MEMLOCK, the window's reservation included */
  if (r == -ENOMEM && ts_place_pressure(0)) r = ts_prim_mlockall(flags);
  if (r != 0 || ts_place_span == 0) return r;
  place_enter();
  if (flags & MCL_FUTURE) place_off_mlock = true;
  if (flags & MCL_CURRENT) {
    unlock_free_locked(&mid);
    unlock_free_locked(&pmd);
  }
  place_exit();
  return 0;
}

int ts_place_munlockall(void) {
  int r = ts_prim_munlockall();
  if (r == 0) __atomic_store_n(&place_off_mlock, false, __ATOMIC_RELAXED);
  return r;
}
