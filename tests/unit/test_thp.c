/* Parsers for the kernel's THP sysfs files, /proc/buddyinfo and
 * /proc/vmstat, the compaction verdict, and the mode decision. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <errno.h>
#include <stdio.h>
#include <sys/mman.h>

#include "base/options.h"
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

/* ---- the mode decision (ts_thp_decide) ---------------------------------- */

enum { A = TS_THP_SYS_ALWAYS, M = TS_THP_SYS_MADVISE, N = TS_THP_SYS_NEVER,
       DM = TS_THP_SYS_DEFER_MADVISE, D = TS_THP_SYS_DEFER, NONE = -1 };

#define R_NOTHP "no THP support in this kernel"
#define R_NEVER "THP disabled (enabled=never)"
#define R_FELL "MADV_COLLAPSE unsupported: fell back to fault"
#define R_NOSTALL "auto: defrag cannot stall, huge pages at fault"
#define R_BOTH "auto: fault while free 2 MiB blocks suffice, else collapse"
#define R_NOCOL "auto: MADV_COLLAPSE unsupported, huge pages at fault"
#define R_ASIS "as configured"

static ts_thp_mode_t decide(ts_thp_mode_t req, int enabled, int defrag, bool col, const char **why) {
  ts_thp_inputs_t in = {.requested = req, .enabled = enabled, .defrag = defrag, .collapse_ok = col};
  *why = NULL;
  return ts_thp_decide(&in, why);
}

Test(thp, vmstat_counter) {
  const char *text = "nr_free_pages 4161024\ncompact_stall_x 9\ncompact_stall 6911\ncompact_fail 1262\n"
                     "compact_success 5649\n";
  cr_assert_eq(ts_thp_vmstat_counter(text, "compact_stall"), 6911, "a longer name sharing the prefix is skipped");
  cr_assert_eq(ts_thp_vmstat_counter(text, "compact_fail"), 1262);
  cr_assert_eq(ts_thp_vmstat_counter(text, "compact_success"), 5649, "the last line");
  cr_assert_eq(ts_thp_vmstat_counter(text, "thp_fault_alloc"), 0, "absent");
  cr_assert_eq(ts_thp_vmstat_counter("", "compact_stall"), 0);
}

/* Direct compaction "works" while at most a quarter of the recent ones
 * failed; with fewer than 4 to judge, the previous verdict stands. */
Test(thp, compaction_verdict) {
  cr_assert(ts_thp_compaction_verdict(true, 0, 0), "nothing seen: still works");
  cr_assert_not(ts_thp_compaction_verdict(false, 3, 0), "too few to change a failing verdict");
  cr_assert(ts_thp_compaction_verdict(true, 3, 3), "too few to change a working one");
  cr_assert(ts_thp_compaction_verdict(false, 8, 2), "2 failures in 8: works again");
  cr_assert_not(ts_thp_compaction_verdict(true, 8, 3), "3 in 8: fails");
  cr_assert_not(ts_thp_compaction_verdict(true, 100, 100), "all failed");
}

Test(thp, defrag_may_stall) {
  /* compaction at fault time is synchronous with always, madvise and
   * defer+madvise (for advised ranges); defer and never only wake kcompactd */
  struct { int defrag; bool stall; } rows[] = {{A, true}, {M, true}, {DM, true}, {D, false}, {N, false}, {NONE, false}};
  for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
    cr_assert_eq(ts_thp_defrag_may_stall(rows[i].defrag), rows[i].stall, "defrag %d", rows[i].defrag);
}

/* Every row of the decision: each branch, and each with the kernel's
 * enabled at always and at madvise (both let MADV_HUGEPAGE work). */
Test(thp, decide_rows) {
  struct { ts_thp_mode_t req; int enabled, defrag; bool col; ts_thp_mode_t mode; const char *why; } rows[] = {
      /* no THP at all: off, whatever was asked */
      {TS_THP_FAULT, NONE, M, true, TS_THP_OFF, R_NOTHP},
      {TS_THP_AUTO, NONE, NONE, false, TS_THP_OFF, R_NOTHP},
      /* enabled=never: off */
      {TS_THP_FAULT, N, M, true, TS_THP_OFF, R_NEVER},
      {TS_THP_COLLAPSE, N, D, true, TS_THP_OFF, R_NEVER},
      {TS_THP_AUTO, N, A, true, TS_THP_OFF, R_NEVER},
      {TS_THP_OFF, N, A, false, TS_THP_OFF, R_NEVER},
      /* collapse */
      {TS_THP_COLLAPSE, M, M, true, TS_THP_COLLAPSE, R_ASIS},
      {TS_THP_COLLAPSE, A, D, true, TS_THP_COLLAPSE, R_ASIS},
      {TS_THP_COLLAPSE, M, M, false, TS_THP_FAULT, R_FELL},
      {TS_THP_COLLAPSE, A, N, false, TS_THP_FAULT, R_FELL},
      /* auto: defrag that cannot stall (defer, never, unreadable) */
      {TS_THP_AUTO, M, D, true, TS_THP_AUTO, R_NOSTALL},
      {TS_THP_AUTO, A, N, false, TS_THP_AUTO, R_NOSTALL},
      {TS_THP_AUTO, M, NONE, true, TS_THP_AUTO, R_NOSTALL},
      /* auto: defrag that may stall, with and without MADV_COLLAPSE */
      {TS_THP_AUTO, M, M, true, TS_THP_AUTO, R_BOTH},
      {TS_THP_AUTO, A, A, true, TS_THP_AUTO, R_BOTH},
      {TS_THP_AUTO, M, DM, true, TS_THP_AUTO, R_BOTH},
      {TS_THP_AUTO, M, M, false, TS_THP_AUTO, R_NOCOL},
      {TS_THP_AUTO, A, DM, false, TS_THP_AUTO, R_NOCOL},
      /* fault and off: as configured */
      {TS_THP_FAULT, M, M, false, TS_THP_FAULT, R_ASIS},
      {TS_THP_FAULT, A, A, true, TS_THP_FAULT, R_ASIS},
      {TS_THP_OFF, M, M, true, TS_THP_OFF, R_ASIS},
      {TS_THP_OFF, A, D, false, TS_THP_OFF, R_ASIS},
  };
  for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
    const char *why;
    ts_thp_mode_t mode = decide(rows[i].req, rows[i].enabled, rows[i].defrag, rows[i].col, &why);
    cr_assert_eq(mode, rows[i].mode, "row %zu: mode %d, want %d", i, mode, rows[i].mode);
    cr_assert_not_null(why, "row %zu", i);
    cr_assert_str_eq(why, rows[i].why, "row %zu", i);
  }
}

/* Across every input: no THP or enabled=never always gives off; defrag only
 * ever changes auto's reason; collapse is never the outcome without
 * MADV_COLLAPSE. */
Test(thp, decide_sweep) {
  ts_thp_mode_t reqs[] = {TS_THP_AUTO, TS_THP_FAULT, TS_THP_COLLAPSE, TS_THP_OFF};
  int words[] = {NONE, A, M, N, DM, D};
  for (size_t r = 0; r < 4; r++)
    for (size_t e = 0; e < 6; e++)
      for (int col = 0; col < 2; col++) {
        const char *why0;
        ts_thp_mode_t m0 = decide(reqs[r], words[e], A, col, &why0);
        for (size_t d = 0; d < 6; d++) {
          const char *why;
          ts_thp_mode_t m = decide(reqs[r], words[e], words[d], col, &why);
          cr_assert_eq(m, m0, "req %d enabled %d defrag %d col %d", reqs[r], words[e], words[d], col);
          if (words[e] < 0 || words[e] == N) cr_assert_eq(m, TS_THP_OFF);
          if (m == TS_THP_COLLAPSE) cr_assert(col, "collapse without MADV_COLLAPSE");
          if (m != TS_THP_AUTO) cr_assert_str_eq(why, why0, "defrag %d changed a non-auto reason", words[d]);
        }
      }
}

/* ts_thp_mode_init probes this machine and decides with ts_thp_decide:
 * the same answer as the decision on inputs read here (once a process:
 * criterion runs each parameter in its own). */
static ts_thp_mode_t init_modes[] = {TS_THP_AUTO, TS_THP_FAULT, TS_THP_COLLAPSE, TS_THP_OFF};

static int read_word(const char *file) {
  char text[256] = "";
  FILE *f = fopen(file, "r");
  if (f == NULL) return -1;
  size_t n = fread(text, 1, sizeof text - 1, f);
  fclose(f);
  text[n] = 0;
  return ts_thp_sysfs_choice(text);
}

ParameterizedTestParameters(thp, mode_init_decides_on_probed_inputs) {
  return cr_make_param_array(ts_thp_mode_t, init_modes, sizeof init_modes / sizeof init_modes[0]);
}

ParameterizedTest(ts_thp_mode_t *req, thp, mode_init_decides_on_probed_inputs) {
  ts_thp_inputs_t in = {.requested = *req};
  in.enabled = read_word("/sys/kernel/mm/transparent_hugepage/enabled");
  in.defrag = read_word("/sys/kernel/mm/transparent_hugepage/defrag");
  in.collapse_ok = madvise((void *)(uintptr_t)4096, 4096, 25 /* MADV_COLLAPSE */) == -1 && errno == ENOMEM;
  const char *want;
  ts_thp_mode_t mode = ts_thp_decide(&in, &want);
  cr_assert_str_eq(ts_thp_reason(), "not initialised");
  ts_config.thp = *req;
  ts_thp_mode_init();
  cr_assert_eq(ts_thp_effective(), mode, "enabled %d defrag %d collapse %d", in.enabled, in.defrag, in.collapse_ok);
  cr_assert_str_eq(ts_thp_reason(), want);
}

/* The balloon's negotiated features, one character per bit: free page
 * reporting is bit 5 (VIRTIO_BALLOON_F_REPORTING). */
Test(thp, features_reporting) {
  cr_assert(ts_thp_features_reporting("0110010100000000000000000000000010000000"));
  cr_assert(!ts_thp_features_reporting("0110000100000000000000000000000010000000"));
  cr_assert(!ts_thp_features_reporting("01100"), "too short: no bit 5");
  cr_assert(!ts_thp_features_reporting(""));
}
