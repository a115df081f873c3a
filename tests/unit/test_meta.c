/* tiershim's metadata area (base/meta.c): slots inside the reserved area,
 * zeroed on reuse, no hole ever opened in it, the kernel's mmap when full. */
#include <criterion/criterion.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "base/meta.h"

#define AREA (64 * 4096)

static uintptr_t base;

static void setup(void) {
  void *p = mmap(NULL, AREA, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  cr_assert_neq(p, MAP_FAILED);
  base = (uintptr_t)p;
  ts_meta_init(base, AREA);
}

TestSuite(meta, .init = setup);

static bool inside(const void *p, size_t len) {
  return (uintptr_t)p >= base && (uintptr_t)p + len <= base + AREA;
}

/* Every page of the area is still mapped (mincore says ENOMEM for a hole). */
static bool no_hole(void) {
  unsigned char vec[AREA / 4096];
  return mincore((void *)base, AREA, vec) == 0;
}

Test(meta, slots_are_inside_and_zero) {
  unsigned char *a = ts_meta_map(4096), *b = ts_meta_map(5000);
  cr_assert(inside(a, 4096) && inside(b, 8192)); /* 5000 takes an 8 KiB slot */
  cr_assert_geq((uintptr_t)b, (uintptr_t)a + 4096);
  for (size_t i = 0; i < 8192; i++) cr_assert_eq(b[i], 0);
  memset(b, 0xAB, 8192);
  ts_meta_unmap(b, 5000);
  cr_assert(no_hole());
  unsigned char *c = ts_meta_map(8192);
  cr_assert_eq(c, b, "a freed slot of the same size is reused");
  for (size_t i = 0; i < 8192; i++) cr_assert_eq(c[i], 0, "byte %zu kept old data", i);
}

Test(meta, growth_by_copy_leaves_no_hole) {
  size_t len = 4096;
  unsigned char *v = ts_meta_map(len);
  for (int round = 0; round < 4; round++) { /* 4, 8, 16, 32, 64 KiB */
    unsigned char *n = ts_meta_map(len * 2);
    cr_assert(inside(n, len * 2));
    memcpy(n, v, len);
    ts_meta_unmap(v, len);
    v = n, len *= 2;
    cr_assert(no_hole());
  }
}

Test(meta, full_area_falls_back_to_the_kernel) {
  void *all = ts_meta_map(AREA);
  cr_assert(inside(all, AREA));
  unsigned char *more = ts_meta_map(4096);
  cr_assert_not_null(more);
  cr_assert(!inside(more, 4096));
  more[0] = 1;
  ts_meta_unmap(more, 4096);
  ts_meta_unmap(all, AREA);
  cr_assert(no_hole());
  cr_assert(inside(ts_meta_map(AREA), AREA), "a freed slot serves its size again");
}
