/* The batcher (policy/unmap/batch.c) with a counting fake backend: how
 * releases are split into calls, what a short backend leaves to the
 * fallback, how the adaptive scale moves with the shootdowns the backend
 * reports, and the decay window. Also the real batch backend on this
 * kernel: released memory reads as zero. */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "policy/unmap/batch.h"
#include "policy/unmap/unmap_os.h"

#define PG 4096u
#define MS 1000000ull

/* ---- the fake backend ---------------------------------------------------- */

typedef struct {
  size_t calls, ranges, vec_max, short_by;
  uint64_t shootdowns, per_call; /* the fake's "kernel": shootdowns per call */
  bool counts;
  uintptr_t last_addr;
  bool sorted;
} fake_t;

static fake_t fake;
static size_t fallbacks;

static size_t fake_release(void *state, const tiershim_unmap_range_t *r, size_t n, uint32_t *calls) {
  fake.calls++;
  fake.ranges += n;
  if (n > fake.vec_max) fake.vec_max = n;
  fake.shootdowns += fake.per_call;
  size_t bytes = 0;
  for (size_t i = 0; i < n; i++) {
    if (i && r[i].addr <= r[i - 1].addr + r[i - 1].len) fake.sorted = false;
    bytes += r[i].len;
  }
  (*calls)++;
  return bytes - (fake.short_by < bytes ? fake.short_by : bytes);
}

static int fake_counts(void *state, tiershim_unmap_counts_t *out) {
  if (!fake.counts) return -ENOSYS;
  *out = (tiershim_unmap_counts_t){fake.shootdowns, fake.shootdowns};
  return 0;
}

static int fake_init(void **state) { return 0; }

static const tiershim_unmap_backend_t fake_be = {TIERSHIM_UNMAP_ABI, sizeof(tiershim_unmap_backend_t), "fake",
                                                 fake_init, fake_release, NULL, fake_counts, NULL, NULL};

static int fake_fallback(void *addr, size_t len) {
  fallbacks++;
  return 0;
}

static ts_ubatch_t b;

static void setup(size_t batch, uint64_t delay, bool adapt) {
  memset(&fake, 0, sizeof fake);
  fake.sorted = true;
  fake.counts = true;
  fallbacks = 0;
  ts_ubatch_init(&b, &fake_be, NULL, batch, delay, adapt);
  b.fallback = fake_fallback;
}

/* n ranges, one page each, a page apart (never adjacent), in reverse order. */
static size_t ranges(ts_range_t *r, size_t n) {
  for (size_t i = 0; i < n; i++) r[i] = (ts_range_t){0x10000000 + (n - 1 - i) * 2 * PG, PG, 0, 0};
  return n;
}

Test(unmap_batch, vectors_of_batch_ranges_sorted) {
  setup(64, 0, false);
  ts_range_t r[200];
  cr_assert_eq(ts_ubatch_release(&b, r, ranges(r, 200)), 200 * PG);
  cr_assert_eq(fake.calls, 4, "200 ranges in vectors of 64: 4 calls, got %zu", fake.calls);
  cr_assert_eq(fake.vec_max, 64);
  cr_assert(fake.sorted, "the backend gets ranges sorted by address");
  ts_ubatch_stats_t st;
  ts_ubatch_snapshot(&b, &st);
  cr_assert_eq(st.ranges, 200);
  cr_assert_eq(st.bytes, 200 * PG);
  cr_assert_eq(st.calls, 4);
  cr_assert_eq(st.batches, 4);
  cr_assert_eq(fallbacks, 0);
}

Test(unmap_batch, adjacent_ranges_coalesce_into_one) {
  setup(64, 0, false);
  ts_range_t r[8];
  for (size_t i = 0; i < 8; i++) r[i] = (ts_range_t){0x20000000 + (7 - i) * PG, PG, 0, 0};
  cr_assert_eq(ts_ubatch_release(&b, r, 8), 8 * PG);
  cr_assert_eq(fake.ranges, 1, "8 adjacent pages are one range, got %zu", fake.ranges);
}

Test(unmap_batch, batch_size_one_is_one_call_per_range) {
  setup(1, 0, false);
  ts_range_t r[10];
  ts_ubatch_release(&b, r, ranges(r, 10));
  cr_assert_eq(fake.calls, 10);
}

Test(unmap_batch, a_short_backend_is_finished_by_the_fallback) {
  setup(64, 0, false);
  fake.short_by = PG;
  ts_range_t r[5];
  cr_assert_eq(ts_ubatch_release(&b, r, ranges(r, 5)), 5 * PG, "every range ends released");
  cr_assert_eq(fallbacks, 5, "the whole vector goes through madvise again");
  ts_ubatch_stats_t st;
  ts_ubatch_snapshot(&b, &st);
  cr_assert_eq(st.failures, 1);
}

Test(unmap_batch, costly_releases_grow_batch_and_delay_up_to_8x) {
  setup(16, 100 * MS, true);
  fake.per_call = 1; /* every call sends a shootdown round */
  ts_range_t r[4];
  unsigned seen[6];
  for (int i = 0; i < 5; i++) {
    ts_ubatch_release(&b, r, ranges(r, 4));
    seen[i] = b.st.scale;
  }
  cr_assert_eq(seen[0], 2);
  cr_assert_eq(seen[1], 4);
  cr_assert_eq(seen[2], 8);
  cr_assert_eq(seen[4], 8, "capped at 8x");
  cr_assert_eq(b.st.batch, 128);
  cr_assert_eq(ts_ubatch_delay(&b), 800 * MS);
  cr_assert_eq(b.st.grows, 3);
  cr_assert_eq(b.st.source, TS_USRC_BACKEND);
  cr_assert_eq(b.st.shootdowns, 5);
}

Test(unmap_batch, four_free_releases_in_a_row_shrink_back) {
  setup(16, 100 * MS, true);
  fake.per_call = 1;
  ts_range_t r[4];
  ts_ubatch_release(&b, r, ranges(r, 4));
  ts_ubatch_release(&b, r, ranges(r, 4));
  cr_assert_eq(b.st.scale, 4);
  fake.per_call = 0;
  for (int i = 0; i < 3; i++) ts_ubatch_release(&b, r, ranges(r, 4));
  cr_assert_eq(b.st.scale, 4, "three quiet releases are not enough");
  ts_ubatch_release(&b, r, ranges(r, 4));
  cr_assert_eq(b.st.scale, 2);
  for (int i = 0; i < 8; i++) ts_ubatch_release(&b, r, ranges(r, 4));
  cr_assert_eq(b.st.scale, 1, "never below the configured base");
  cr_assert_eq(b.st.batch, 16);
  cr_assert_eq(b.st.shrinks, 2);
}

Test(unmap_batch, batch_never_exceeds_the_vector_limit) {
  setup(200, 0, true);
  fake.per_call = 5;
  ts_range_t r[4];
  ts_ubatch_release(&b, r, ranges(r, 4));
  cr_assert_eq(b.st.batch, TS_UBATCH_MAX);
}

static bool tlb_fake(uint64_t *out) {
  *out = fake.shootdowns * 3; /* other processes' shootdowns count too */
  return true;
}

Test(unmap_batch, without_exact_counts_the_tlb_line_is_used) {
  setup(16, 0, true);
  fake.counts = false;
  fake.per_call = 1;
  b.tlb_total = tlb_fake;
  ts_range_t r[4];
  ts_ubatch_release(&b, r, ranges(r, 4));
  cr_assert_eq(b.st.source, TS_USRC_TLB_LINE);
  cr_assert_eq(b.st.shootdowns, 3);
  cr_assert_eq(b.st.scale, 2);
}

Test(unmap_batch, no_source_no_adaptation) {
  setup(16, 0, true);
  fake.counts = false;
  fake.per_call = 1;
  ts_range_t r[4];
  ts_ubatch_release(&b, r, ranges(r, 4));
  cr_assert_eq(b.st.source, TS_USRC_NONE);
  cr_assert_eq(b.st.scale, 1);
}

/* ---- the decay window ---------------------------------------------------- */

Test(unmap_decay, what_stayed_retained_through_a_window_is_due) {
  ts_udecay_t d = {0};
  uint64_t t = 1000 * MS, w = 100 * MS;
  size_t floor = 10;
  cr_assert_eq(ts_udecay_note(&d, t, w, 5, floor), 0, "under the floor: no window");
  cr_assert(!d.open);
  cr_assert_eq(ts_udecay_note(&d, t, w, 100, floor), 0);
  cr_assert(d.open);
  cr_assert_eq(ts_udecay_note(&d, t + 10 * MS, w, 40, floor), 0, "reuse lowers the mark");
  cr_assert_eq(ts_udecay_note(&d, t + 50 * MS, w, 120, floor), 0);
  cr_assert_eq(ts_udecay_note(&d, t + 100 * MS, w, 120, floor), 30, "low 40 - floor 10");
  cr_assert_eq(d.low, 120, "a new window starts from now");
  cr_assert_eq(ts_udecay_note(&d, t + 150 * MS, w, 120, floor), 0);
  cr_assert_eq(ts_udecay_note(&d, t + 200 * MS, w, 120, floor), 110, "idle all window: all above the floor");
}

Test(unmap_decay, zero_delay_is_off) {
  ts_udecay_t d = {0};
  cr_assert_eq(ts_udecay_note(&d, 1, 0, 1 << 30, 0), 0);
  cr_assert_eq(ts_udecay_note(&d, 1ull << 40, 0, 1 << 30, 0), 0);
}

/* ---- the real backends on this kernel ----------------------------------- */

static void check_backend(const tiershim_unmap_backend_t *be) {
  void *st = NULL;
  cr_assert_eq(be->init(&st), 0);
  size_t n = 16;
  char *p = mmap(NULL, 2 * n * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  cr_assert_neq(p, MAP_FAILED);
  memset(p, 0xab, 2 * n * PG);
  tiershim_unmap_range_t r[16];
  for (size_t i = 0; i < n; i++) r[i] = (tiershim_unmap_range_t){(uintptr_t)p + 2 * i * PG, PG};
  uint32_t calls = 0;
  cr_assert_eq(be->release(st, r, n, &calls), n * PG, "%s", be->name);
  for (size_t i = 0; i < n; i++) {
    cr_assert_eq(p[2 * i * PG], 0, "%s: released page %zu reads as zero", be->name, i);
    cr_assert_eq((unsigned char)p[(2 * i + 1) * PG], 0xab, "%s: the neighbour keeps its data", be->name);
  }
  if (be == &ts_unmap_munmap || ts_release_mode() == TS_RELEASE_MADVISE)
    cr_assert_eq(calls, n, "%s: one call per range", be->name);
  else
    cr_assert_eq(calls, 1, "%s: one vector, one call (%s)", be->name, ts_release_mode_name());
  munmap(p, 2 * n * PG);
}

Test(unmap_backend, munmap_and_batch_release_for_real) {
  check_backend(&ts_unmap_munmap);
  check_backend(&ts_unmap_batch);
}

Test(unmap_backend, kmod_without_the_module_fails_init) {
  void *st = NULL;
  if (access("/dev/tiershim", F_OK) == 0) cr_skip_test("the module is loaded here");
  cr_assert_lt(ts_unmap_kmod.init(&st), 0);
  cr_assert_eq(ts_unmap_kmod_flags(), 0);
}
