/* The migration engine on this one-node machine: everything is already on
 * node 0, so these check the planning and accounting, not the copying
 * (that is vm.migrate's, in the two-tier guest). */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#include "base/thread.h"
#include "policy/migrate.h"

#define MIB (1ul << 20)

static char *map(size_t len, bool touch) {
  char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  cr_assert_neq(p, MAP_FAILED);
  if (touch) memset(p, 1, len);
  return p;
}

/* Outside the shim the workers start through libc's pthread_create. */
static void migrate_setup(void) { ts_thread_use_libc(); }
TestSuite(migrate, .init = migrate_setup);

Test(migrate, already_there_and_absent_are_counted_for_every_thread_count) {
  char *a = map(24 * MIB, true), *b = map(8 * MIB, false);
  ts_mrange_t r[2] = {{(uintptr_t)a, 24 * MIB}, {(uintptr_t)b, 8 * MIB}};
  for (int t = 1; t <= 8; t *= 2) {
    ts_migrate_req_t q = {.target = 0, .from = -1, .threads = t};
    ts_migrate_result_t o;
    cr_assert_eq(ts_migrate(r, 2, &q, &o), 0);
    cr_assert_eq(o.pages_already, 24 * MIB / 4096, "threads %d", t);
    cr_assert_eq(o.pages_absent, 8 * MIB / 4096, "threads %d", t);
    cr_assert_eq(o.pages_moved + o.pages_failed, 0);
    cr_assert_eq(o.threads, t < 2 ? t : 2, "32 MiB is two 16 MiB chunks: at most 2 workers");
  }
  munmap(a, 24 * MIB);
  munmap(b, 8 * MIB);
}

Test(migrate, a_hole_has_nothing_to_move) {
  char *a = map(6 * MIB, true);
  munmap(a + 2 * MIB, 2 * MIB);
  ts_mrange_t r = {(uintptr_t)a, 6 * MIB};
  ts_migrate_req_t q = {.target = 0, .from = -1, .threads = 2};
  ts_migrate_result_t o;
  cr_assert_eq(ts_migrate(&r, 1, &q, &o), 0);
  /* The query cannot tell a hole from a page never touched on kernels
   * before 6.5 (both -EFAULT): absent, not failed. */
  cr_assert_eq(o.pages_absent, 2 * MIB / 4096);
  cr_assert_eq(o.pages_failed, 0);
  cr_assert_eq(o.pages_already, 4 * MIB / 4096);
  munmap(a, 6 * MIB);
}

Test(migrate, a_node_without_memory_stops_the_request) {
  char *a = map(4 * MIB, true);
  ts_mrange_t r = {(uintptr_t)a, 4 * MIB};
  ts_migrate_req_t q = {.target = 5, .from = -1, .threads = 1};
  ts_migrate_result_t o;
  /* Every page is on node 0, so every one is asked to move to node 5, and
   * the kernel refuses the call as a whole: no memory there. */
  cr_assert_eq(ts_migrate(&r, 1, &q, &o), -ENODEV);
  cr_assert_eq(o.error, -ENODEV);
  cr_assert_eq(o.pages_moved, 0);
  cr_assert_gt(o.pages_failed, 0, "the refused pages are counted, not dropped");
  q.target = 0;
  q.threads = 0;
  cr_assert_eq(ts_migrate(&r, 1, &q, &o), -EINVAL, "no workers");
  q.threads = 1;
  ts_mrange_t bad = {(uintptr_t)a + 1, 4096};
  cr_assert_eq(ts_migrate(&bad, 1, &q, &o), -EINVAL, "unaligned");
  munmap(a, 4 * MIB);
}

Test(migrate, from_filter_skips_other_nodes) {
  char *a = map(4 * MIB, true);
  ts_mrange_t r = {(uintptr_t)a, 4 * MIB};
  ts_migrate_req_t q = {.target = 1, .from = 3, .threads = 1};
  ts_migrate_result_t o;
  cr_assert_eq(ts_migrate(&r, 1, &q, &o), 0, "pages on node 0 are not asked to move");
  cr_assert_eq(o.pages_already, 4 * MIB / 4096);
  cr_assert_eq(o.pages_moved, 0);
  munmap(a, 4 * MIB);
}
