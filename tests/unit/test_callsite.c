/* The profiler's tables (policy/callsite.c) with made-up frames: interning,
 * weighted counts, live and peak bytes, lifetimes, the free filter, a full
 * table, and the top-N order. */
#include <criterion/criterion.h>
#include <stdlib.h>

#include "policy/callsite.h"

static ts_cstab_t t;
static void *mem;

static void setup(void) {
  mem = calloc(1, ts_cs_mem_size());
  ts_cs_init(&t, mem);
}
static void teardown(void) { free(mem); }

TestSuite(callsite, .init = setup, .fini = teardown);

Test(callsite, same_frames_same_site_other_frames_other_site) {
  uintptr_t a[3] = {0x1000, 0x2000, 0x3000}, b[3] = {0x1000, 0x2000, 0x3001};
  uint32_t sa = ts_cs_intern(&t, a, 3), sb = ts_cs_intern(&t, b, 3);
  cr_assert_neq(sa, sb);
  cr_assert_eq(ts_cs_intern(&t, a, 3), sa);
  cr_assert_eq(ts_cs_intern(&t, a, 2), ts_cs_intern(&t, a, 2), "depth is part of the key");
  cr_assert_neq(ts_cs_intern(&t, a, 2), sa);
  cr_assert_eq(t.nsites, 3);
}

Test(callsite, counts_live_peak_and_lifetime) {
  uintptr_t f[1] = {0x4242};
  uint32_t s = ts_cs_intern(&t, f, 1);
  ts_cs_alloc(&t, s, 0x10000, 1000, 1, 100, 0);
  ts_cs_alloc(&t, s, 0x20000, 500, 1, 200, 7u << 8);
  cr_assert_eq(t.site[s].count, 2);
  cr_assert_eq(t.site[s].live, 1500);
  cr_assert_eq(t.site[s].peak, 1500);
  cr_assert_eq(t.site[s].rule_line, 7, "the rule of the last allocation");
  ts_cs_rec_t r;
  cr_assert(ts_cs_maybe(&t, 0x10000));
  cr_assert(ts_cs_free(&t, 0x10000, 1100, &r));
  cr_assert_eq(r.size, 1000);
  cr_assert_eq(t.site[s].live, 500);
  cr_assert_eq(t.site[s].peak, 1500);
  cr_assert_eq(t.site[s].life_ns, 1000);
  cr_assert_not(ts_cs_free(&t, 0x10000, 1200, &r), "a second free finds nothing");
  cr_assert_not(ts_cs_free(&t, 0x30000, 1200, &r), "never traced");
}

Test(callsite, sampled_allocations_are_weighted) {
  uintptr_t f[1] = {0x777};
  uint32_t s = ts_cs_intern(&t, f, 1);
  ts_cs_alloc(&t, s, 0x5000, 64, 4096, 0, 0);
  cr_assert_eq(t.site[s].count, 4096);
  cr_assert_eq(t.site[s].bytes, 64 * 4096);
  cr_assert_eq(t.site[s].samples, 1);
}

Test(callsite, a_full_site_table_goes_to_other) {
  uintptr_t f[1];
  uint32_t last = 0;
  for (uintptr_t i = 0; i < TS_CS_MAX; i++) {
    f[0] = 0x100000 + i * 16;
    last = ts_cs_intern(&t, f, 1);
  }
  cr_assert_eq(last, TS_CS_MAX, "beyond 3/4 full, new callsites are 'other'");
  cr_assert_leq(t.nsites, TS_CS_MAX * 3 / 4);
}

Test(callsite, records_survive_deletes_between_them) {
  uintptr_t f[1] = {1};
  uint32_t s = ts_cs_intern(&t, f, 1);
  for (uintptr_t i = 0; i < 5000; i++) ts_cs_alloc(&t, s, 0x1000000 + i * 64, 64, 1, 0, 0);
  ts_cs_rec_t r;
  for (uintptr_t i = 0; i < 5000; i += 2) cr_assert(ts_cs_free(&t, 0x1000000 + i * 64, 1, &r));
  for (uintptr_t i = 1; i < 5000; i += 2) cr_assert(ts_cs_free(&t, 0x1000000 + i * 64, 1, &r), "record %zu", (size_t)i);
  cr_assert_eq(t.nrecs, 0);
  cr_assert_eq(t.site[s].live, 0);
}

Test(callsite, top_orders_by_bytes) {
  uintptr_t f[1];
  uint32_t site[5];
  for (int i = 0; i < 5; i++) {
    f[0] = 0x9000 + (uintptr_t)i;
    site[i] = ts_cs_intern(&t, f, 1);
    ts_cs_alloc(&t, site[i], 0x40000 + (uintptr_t)i * 4096, (size_t)(i == 2 ? 100 : 10 * (i + 1)), 1, 0, 0);
  }
  uint32_t order[3];
  cr_assert_eq(ts_cs_top(&t, order, 3), 3);
  cr_assert_eq(order[0], site[2]); /* 100 */
  cr_assert_eq(order[1], site[4]); /* 50 */
  cr_assert_eq(order[2], site[3]); /* 40 */
}
