/* Fork: the placement lock around it, and the child's records.
 *
 * A child does not have the ranges the program marked MADV_DONTFORK: they
 * are holes in its address space, where the kernel would put its next
 * mappings, and a later munmap or mprotect of the old range would then make
 * tiershim map over them. So the child fills each such hole with PROT_NONE
 * (the window stays whole; touching it faults as the kernel's hole would)
 * and forgets the records there, before the program runs again. */
#define _GNU_SOURCE
#include "alloc/place_int.h"

#include <errno.h>
#include <sys/mman.h>

#include "base/prim.h"

#define region_of place_region_of

#define PROBE_CHUNK ((size_t)16 << 20)
static unsigned char probe_vec[PROBE_CHUNK / PAGE]; /* the child runs this alone */

/* mincore fails with ENOMEM where a page of the range is unmapped. */
static bool has_hole(uintptr_t a, size_t len) {
  for (; len > 0;) {
    size_t n = len < PROBE_CHUNK ? len : PROBE_CHUNK;
    if (ts_prim_mincore((void *)a, n, probe_vec) == -ENOMEM) return true;
    a += n;
    len -= n;
  }
  return false;
}

/* Fills the holes of [a, a+len) and frees the records there. A range that
 * MAP_FIXED_NOREPLACE takes whole was a hole whole; otherwise it is halved. */
static void fill_holes_locked(uintptr_t a, size_t len) {
  if (len == 0 || !has_hole(a, len)) return;
  ts_prim_ptr_t m = ts_prim_mmap((void *)a, len, PROT_NONE,
                                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED_NOREPLACE, -1, 0);
  if (m.err == 0) {
    ts_region_free(&region_of(a)->r, a, len, TS_FREE_NONE);
    place_ops->thp_unmapped(a, len);
    return;
  }
  if (len <= PAGE) return;
  size_t half = (len / PAGE / 2) * PAGE;
  fill_holes_locked(a, half);
  fill_holes_locked(a + half, len - half);
}

/* The next live range at or after `at` whose tag has TAG_DONTFORK. */
static bool next_dontfork(place_region_t *pr, uintptr_t at, ts_range_t *out) {
  for (size_t i = 0; i < pr->r.live.n; i++) {
    const ts_range_t *x = &pr->r.live.v[i];
    if (x->addr + x->len > at && (x->tag & TAG_DONTFORK)) {
      *out = *x;
      return true;
    }
  }
  return false;
}

static void child_holes(place_region_t *pr) {
  ts_range_t x;
  for (uintptr_t at = pr->r.base; next_dontfork(pr, at, &x); at = x.addr + x.len) fill_holes_locked(x.addr, x.len);
}

void ts_place_lock(void) { place_enter(); }
void ts_place_unlock(void) { place_exit(); }

/* The child: one thread, no lock held by anyone who exists; the lock is
 * made anew rather than unlocked. */
void ts_place_fork_child(void) {
  pthread_mutex_init(&place_lock, NULL);
  place_release_fork_child();
  place_ops->thp_fork_child();
  if (ts_place_span == 0) return;
  child_holes(&place_mid);
  child_holes(&place_pmd);
}
