/* The bootstrap arena. */
#include <criterion/criterion.h>
#include <stdint.h>

#include "alloc/bootstrap.h"

static _Alignas(64) char mem[4096];
static ts_boot_t arena;

static void setup(void) {
  memset(mem, 0xAB, sizeof mem); /* dirty, to catch missing zeroing */
  ts_boot_init(&arena, mem, sizeof mem);
}

TestSuite(bootstrap, .init = setup);

Test(bootstrap, alloc_is_aligned_and_owned) {
  for (size_t align = 0; align <= 256; align = align ? align * 2 : 8) {
    void *p = ts_boot_alloc(&arena, 24, align, false);
    cr_assert_not_null(p);
    cr_assert_eq((uintptr_t)p % (align < 16 ? 16 : align), 0, "align %zu", align);
    cr_assert(ts_boot_owns(&arena, p));
    cr_assert_eq(ts_boot_usable(&arena, p), 24);
  }
  int local;
  cr_assert(!ts_boot_owns(&arena, &local));
  cr_assert_eq(ts_boot_usable(&arena, &local), 0);
}

Test(bootstrap, zero_fill) {
  unsigned char *p = ts_boot_alloc(&arena, 100, 0, true);
  for (int i = 0; i < 100; i++) cr_assert_eq(p[i], 0);
}

Test(bootstrap, exhaustion_returns_null) {
  size_t total = 0;
  void *p;
  while ((p = ts_boot_alloc(&arena, 100, 0, false)) != NULL) {
    memset(p, 1, 100);
    total += 100;
  }
  cr_assert_gt(total, 3000);
  cr_assert_lt(total, 4096);
  cr_assert_null(ts_boot_alloc(&arena, 1, 0, false));
  cr_assert_null(ts_boot_alloc(&arena, 1, 8192, false), "alignment beyond the arena");
  cr_assert_null(ts_boot_alloc(&arena, 3, 24, false), "not a power of two");
}

Test(bootstrap, free_of_newest_block_reclaims_it) {
  void *a = ts_boot_alloc(&arena, 64, 0, false);
  void *b = ts_boot_alloc(&arena, 64, 0, false);
  ts_boot_free(&arena, b);
  void *c = ts_boot_alloc(&arena, 64, 0, false);
  cr_assert_eq(c, b, "LIFO reuse");
  ts_boot_free(&arena, c);
  ts_boot_free(&arena, a);
  void *d = ts_boot_alloc(&arena, 64, 0, false);
  cr_assert_eq(d, a, "the whole arena is free again");
}

Test(bootstrap, free_of_older_block_is_retained_and_safe) {
  void *a = ts_boot_alloc(&arena, 64, 0, false);
  void *b = ts_boot_alloc(&arena, 64, 0, false);
  memset(b, 7, 64);
  ts_boot_free(&arena, a); /* not the newest: retained */
  void *c = ts_boot_alloc(&arena, 64, 0, false);
  cr_assert_neq(c, a);
  cr_assert_neq(c, b);
  for (int i = 0; i < 64; i++) cr_assert_eq(((unsigned char *)b)[i], 7, "b intact");
  ts_boot_free(&arena, NULL);
  ts_boot_free(&arena, (char *)b + 8); /* not a block start: ignored */
  cr_assert_eq(ts_boot_usable(&arena, b), 64);
}

Test(bootstrap, zeroes_reclaimed_space) {
  unsigned char *a = ts_boot_alloc(&arena, 64, 0, false);
  memset(a, 0xFF, 64);
  ts_boot_free(&arena, a);
  unsigned char *b = ts_boot_alloc(&arena, 64, 0, true);
  cr_assert_eq(a, b);
  for (int i = 0; i < 64; i++) cr_assert_eq(b[i], 0);
}
