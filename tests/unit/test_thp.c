/* Parsers for the kernel's THP sysfs files and /proc/buddyinfo. */
#include <criterion/criterion.h>

#include "policy/thp.h"

Test(thp, sysfs_choice) {
  cr_assert_eq(ts_thp_sysfs_choice("always [madvise] never\n"), 1);
  cr_assert_eq(ts_thp_sysfs_choice("[always] madvise never\n"), 0);
  cr_assert_eq(ts_thp_sysfs_choice("always madvise [never]\n"), 2);
  cr_assert_eq(ts_thp_sysfs_choice("always defer [defer+madvise] madvise never\n"), 3);
  cr_assert_eq(ts_thp_sysfs_choice("always [defer] defer+madvise madvise never\n"), 4);
  cr_assert_eq(ts_thp_sysfs_choice("always madvise never\n"), -1);
  cr_assert_eq(ts_thp_sysfs_choice("[bogus]"), -1);
  cr_assert_eq(ts_thp_sysfs_choice(""), -1);
}

Test(thp, buddy_huge_bytes) {
  /* orders 0..10; order 9 = 2 MiB, order 10 = 4 MiB with 4 KiB pages */
  const char *text =
      "Node 0, zone      DMA      1      0      0      1      2      1      1      0      1      1      3 \n"
      "Node 0, zone    DMA32    100     90     80     70     60     50     40     30     20      5      2 \n"
      "Node 0, zone   Normal   1000    900    800    700    600    500    400    300    200     10      7 \n";
  uint64_t want = (1 + 5 + 10) * (2ull << 20) + (3 + 2 + 7) * (4ull << 20);
  cr_assert_eq(ts_thp_buddy_huge_bytes(text, 4096), want, "got %llu",
               (unsigned long long)ts_thp_buddy_huge_bytes(text, 4096));
  cr_assert_eq(ts_thp_buddy_huge_bytes("", 4096), 0);
  cr_assert_eq(ts_thp_buddy_huge_bytes("Node 0, zone Normal 5 4 3\n", 4096), 0, "no order >= 9");
}
