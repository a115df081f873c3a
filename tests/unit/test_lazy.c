/* The lazy-release mirror (policy/unmap/lazy.c) against a fake module that
 * keeps its own pending set: the mirror must never miss a range the module
 * holds (a reuse without a settle would let a drain zap live data), must
 * make no module call where nothing is pending, and must empty when the
 * module says its set is empty. */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "policy/unmap/lazy.h"

#define PG 4096u

/* ---- the fake module: a byte map of pending pages over a small space ---- */

#define SPACE 256 /* pages */
static struct {
  bool pending[SPACE];
  bool park;          /* release parks (1) or drains everything (0) */
  int fail_settle;    /* settle returns this error */
  size_t releases, settles, drains;
} mod;

static uint64_t mod_pending(void) {
  uint64_t b = 0;
  for (size_t i = 0; i < SPACE; i++) b += mod.pending[i] ? PG : 0;
  return b;
}

static int fake_release(void *ctx, const tiershim_unmap_range_t *r, size_t n, uint64_t *bytes) {
  mod.releases++;
  *bytes = 0;
  for (size_t i = 0; i < n; i++) {
    *bytes += r[i].len;
    for (uintptr_t p = r[i].addr; p < r[i].addr + r[i].len; p += PG) mod.pending[p / PG] = mod.park;
  }
  if (!mod.park) memset(mod.pending, 0, sizeof mod.pending);
  return mod_pending() ? 1 : 0;
}

static int fake_settle(void *ctx, uintptr_t a, size_t len, uint64_t *pending) {
  if (mod.fail_settle && len) return mod.fail_settle;
  if (len == 0) {
    mod.drains++;
    memset(mod.pending, 0, sizeof mod.pending);
  } else {
    mod.settles++;
    for (uintptr_t p = a; p < a + len; p += PG) mod.pending[p / PG] = false;
  }
  *pending = mod_pending();
  return 0;
}

static const ts_lazy_ops_t fake_ops = {fake_release, fake_settle, NULL};
static ts_lazy_t lz;

static void setup(void) {
  memset(&mod, 0, sizeof mod);
  mod.park = true;
  ts_lazy_init(&lz, &fake_ops, 1 << 20);
}

/* Every page the module holds is in the mirror (the invariant). */
static void assert_superset(void) {
  for (size_t i = 0; i < SPACE; i++)
    if (mod.pending[i]) cr_assert(ts_lazy_mirror_overlaps(&lz, i * PG, PG), "page %zu pending, not mirrored", i);
}

static tiershim_unmap_range_t R(size_t page, size_t pages) { return (tiershim_unmap_range_t){page * PG, pages * PG}; }

TestSuite(lazy, .init = setup);

Test(lazy, parked_ranges_are_mirrored_and_coalesced) {
  tiershim_unmap_range_t v[3] = {R(10, 2), R(12, 2), R(20, 1)};
  cr_assert_eq(ts_lazy_release(&lz, v, 3), 5 * PG);
  cr_assert_eq(lz.n, 2); /* 10-14 touching merged, 20 apart */
  cr_assert_eq(lz.bytes, 5 * PG);
  assert_superset();
  tiershim_unmap_range_t w[1] = {R(14, 6)}; /* fills the gap: one range 10-21 */
  ts_lazy_release(&lz, w, 1);
  cr_assert_eq(lz.n, 1);
  cr_assert_eq(lz.v[0].addr, 10 * PG);
  cr_assert_eq(lz.v[0].len, 11 * PG);
  assert_superset();
}

Test(lazy, a_range_released_again_while_pending_merges) {
  tiershim_unmap_range_t v[1] = {R(10, 4)}, w[1] = {R(8, 8)};
  ts_lazy_release(&lz, v, 1);
  ts_lazy_release(&lz, w, 1);
  cr_assert_eq(lz.n, 1);
  cr_assert_eq(lz.bytes, 8 * PG);
}

Test(lazy, settle_without_overlap_makes_no_module_call) {
  tiershim_unmap_range_t v[1] = {R(10, 4)};
  ts_lazy_release(&lz, v, 1);
  ts_lazy_settle(&lz, 0, 10 * PG);
  ts_lazy_settle(&lz, 14 * PG, 4 * PG);
  cr_assert_eq(mod.settles, 0);
  cr_assert_eq(lz.settles, 0);
}

Test(lazy, nothing_pending_no_call_at_all) {
  ts_lazy_settle(&lz, 0, SPACE * PG);
  ts_lazy_drain(&lz);
  cr_assert_eq(mod.settles + mod.drains, 0);
}

Test(lazy, settle_cancels_the_overlap_and_splits) {
  tiershim_unmap_range_t v[1] = {R(10, 10)};
  ts_lazy_release(&lz, v, 1);
  ts_lazy_settle(&lz, 13 * PG, 2 * PG);
  cr_assert_eq(mod.settles, 1);
  cr_assert_eq(lz.n, 2);
  cr_assert_eq(lz.cancelled, 2 * PG);
  cr_assert_eq(lz.bytes, 8 * PG);
  cr_assert_not(ts_lazy_mirror_overlaps(&lz, 13 * PG, 2 * PG));
  assert_superset();
  ts_lazy_settle(&lz, 5 * PG, 7 * PG); /* the head: 10-11 */
  ts_lazy_settle(&lz, 19 * PG, 9 * PG); /* the tail: 19 */
  cr_assert_eq(lz.n, 2);
  cr_assert_eq(lz.bytes, 5 * PG);
  assert_superset();
}

Test(lazy, settle_over_several_ranges_removes_them) {
  tiershim_unmap_range_t v[4] = {R(10, 1), R(12, 1), R(14, 1), R(30, 1)};
  ts_lazy_release(&lz, v, 4);
  ts_lazy_settle(&lz, 9 * PG, 7 * PG);
  cr_assert_eq(lz.n, 1);
  cr_assert_eq(lz.v[0].addr, 30 * PG);
  cr_assert_eq(lz.cancelled, 3 * PG);
  assert_superset();
}

Test(lazy, the_mirror_empties_when_the_module_drains) {
  tiershim_unmap_range_t v[1] = {R(10, 4)}, w[1] = {R(40, 4)};
  ts_lazy_release(&lz, v, 1);
  mod.park = false; /* the module's limit, or the mm went quiet: everything zapped */
  cr_assert_eq(ts_lazy_release(&lz, w, 1), 4 * PG);
  cr_assert_eq(lz.n, 0);
  cr_assert_eq(lz.bytes, 0);
  cr_assert_eq(lz.drains_seen, 1);
}

Test(lazy, a_settle_that_finds_the_set_empty_clears_the_mirror) {
  tiershim_unmap_range_t v[2] = {R(10, 4), R(40, 4)};
  ts_lazy_release(&lz, v, 2);
  memset(mod.pending, 0, sizeof mod.pending); /* a drain the mirror did not see (the mm went quiet) */
  ts_lazy_settle(&lz, 10 * PG, PG);
  cr_assert_eq(lz.n, 0);
}

Test(lazy, drain_all) {
  tiershim_unmap_range_t v[1] = {R(10, 4)};
  ts_lazy_release(&lz, v, 1);
  ts_lazy_drain(&lz);
  cr_assert_eq(mod.drains, 1);
  cr_assert_eq(lz.n, 0);
  cr_assert_eq(mod_pending(), 0);
}

Test(lazy, a_failed_settle_drains_everything) {
  tiershim_unmap_range_t v[1] = {R(10, 4)};
  ts_lazy_release(&lz, v, 1);
  mod.fail_settle = -EINTR;
  ts_lazy_settle(&lz, 11 * PG, PG);
  cr_assert_eq(mod.drains, 1);
  cr_assert_eq(lz.n, 0);
  cr_assert_eq(lz.failures, 1);
}

static int refuse_release(void *ctx, const tiershim_unmap_range_t *r, size_t n, uint64_t *bytes) {
  *bytes = 0;
  return -EINVAL; /* an old module: flags != 0 */
}

Test(lazy, an_old_module_refuses_and_nothing_is_mirrored) {
  ts_lazy_ops_t ops = fake_ops;
  ops.release = refuse_release;
  ts_lazy_init(&lz, &ops, 1 << 20);
  tiershim_unmap_range_t v[1] = {R(10, 4)};
  cr_assert_eq(ts_lazy_release(&lz, v, 1), 0);
  cr_assert_eq(lz.n, 0);
}

Test(lazy, a_full_mirror_drains_the_module) {
  static tiershim_unmap_range_t v[TS_LAZY_MIRROR_MAX + 1];
  for (size_t i = 0; i <= TS_LAZY_MIRROR_MAX; i++) v[i] = (tiershim_unmap_range_t){(2 * i) * PG, PG};
  cr_assert(ts_lazy_mirror_add(&lz, v, TS_LAZY_MIRROR_MAX));
  cr_assert_not(ts_lazy_mirror_add(&lz, &v[TS_LAZY_MIRROR_MAX], 1));
  /* a split in a full mirror goes one over: the caller drains */
  ts_lazy_mirror_cancel(&lz, 0, 0); /* nothing */
  cr_assert_eq(lz.n, TS_LAZY_MIRROR_MAX);
}

Test(lazy, forget_after_fork) {
  tiershim_unmap_range_t v[1] = {R(10, 4)};
  ts_lazy_release(&lz, v, 1);
  ts_lazy_forget(&lz);
  cr_assert_eq(lz.n, 0);
  ts_lazy_settle(&lz, 10 * PG, 4 * PG);
  cr_assert_eq(mod.settles, 0);
}

/* Random releases and settles: the mirror always covers the module. */
Test(lazy, random_operations_keep_the_superset) {
  unsigned s = 12345;
  for (int it = 0; it < 5000; it++) {
    s = s * 1103515245u + 12345u;
    size_t page = (s >> 8) % (SPACE - 8), pages = 1 + (s >> 20) % 6;
    if ((s >> 4) % 3) {
      tiershim_unmap_range_t v[1] = {R(page, pages)};
      mod.park = (s >> 12) % 17 != 0;
      ts_lazy_release(&lz, v, 1);
    } else {
      ts_lazy_settle(&lz, page * PG, pages * PG);
      for (size_t p = page; p < page + pages; p++) cr_assert_not(mod.pending[p]);
    }
    assert_superset();
  }
}

Test(lazy, ranges_outside_the_span_take_no_lock_and_make_no_call) {
  tiershim_unmap_range_t v[2] = {R(10, 2), R(30, 2)};
  ts_lazy_release(&lz, v, 2);
  cr_assert_eq(lz.lo, 10 * PG);
  cr_assert_eq(lz.hi, 32 * PG);
  ts_lazy_settle(&lz, 40 * PG, 4 * PG);
  ts_lazy_settle(&lz, 0, 10 * PG);
  cr_assert_eq(mod.settles, 0);
  ts_lazy_settle(&lz, 31 * PG, 4 * PG);
  cr_assert_eq(mod.settles, 1);
}

/* A signal handler reentering tiershim on a thread that holds the mirror's
 * lock settles through the module directly, without waiting for the lock. */
static ts_lazy_t *reenter_l;
static int reenter_release(void *ctx, const tiershim_unmap_range_t *r, size_t n, uint64_t *bytes) {
  int rc = fake_release(ctx, r, n, bytes);
  ts_lazy_settle(reenter_l, r[0].addr, PG); /* "the handler": same thread, lock held */
  return rc;
}

Test(lazy, a_reentered_settle_does_not_wait_for_the_lock) {
  ts_lazy_ops_t ops = fake_ops;
  ops.release = reenter_release;
  ts_lazy_init(&lz, &ops, 1 << 20);
  reenter_l = &lz;
  tiershim_unmap_range_t v[1] = {R(10, 4)};
  ts_lazy_release(&lz, v, 1); /* parks 10-13, then the reentered settle of 10, not yet mirrored */
  cr_assert_eq(mod.settles, 1);
  cr_assert_not(mod.pending[10]);
  cr_assert(mod.pending[11]);
  assert_superset();
}
