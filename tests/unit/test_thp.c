/* Parsers for the kernel's THP sysfs files, /proc/buddyinfo and
 * /proc/vmstat, the compaction verdict, and the mode decision. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#include "base/options.h"
#include "policy/thp.h"
#include "policy/thp_int.h"

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

/* ---- warming a page before a collapse (thp_warm.c) ---------------------- */


static struct {
  int mmaps, mmap_err, munmaps, populate_ret, dontneed_ret, n;
  int calls[16][2];
  uintptr_t addr[16], munmapped;
} wf;

static ts_prim_ptr_t warm_fake_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off) {
  (void)addr, (void)prot, (void)flags, (void)fd, (void)off;
  wf.mmaps++;
  cr_assert_geq(len, (size_t)4 << 20, "room for an aligned 2 MiB block");
  if (wf.mmap_err) return (ts_prim_ptr_t){NULL, wf.mmap_err};
  return (ts_prim_ptr_t){(void *)(uintptr_t)0x7f0000123000, 0}; /* unaligned on purpose */
}

static int warm_fake_madvise(void *addr, size_t len, int advice) {
  cr_assert_eq(len, (size_t)2 << 20);
  cr_assert_lt(wf.n, 16);
  wf.addr[wf.n] = (uintptr_t)addr;
  wf.calls[wf.n++][0] = advice;
  return advice == MADV_POPULATE_WRITE ? wf.populate_ret : advice == MADV_DONTNEED ? wf.dontneed_ret : 0;
}

static int warm_fake_munmap(void *addr, size_t len) {
  cr_assert_eq(len, (size_t)4 << 20, "the whole mapping");
  wf.munmaps++;
  wf.munmapped = (uintptr_t)addr;
  return 0;
}

static bool warm_fake_host = true;
static bool warm_fake_host_takes_back(void) { return warm_fake_host; }

static const thp_warm_hooks_t warm_fakes = {warm_fake_mmap, warm_fake_madvise, warm_fake_munmap,
                                            warm_fake_host_takes_back};

static void warm_reset(void) {
  memset(&wf, 0, sizeof wf);
  warm_fake_host = true;
  thp_warm_set_hooks(&warm_fakes);
}

Test(thp, warm_populates_then_frees_an_aligned_block) {
  warm_reset();
  uint64_t before = ts_thp_stats.collapse_warmed;
  cr_assert(thp_warm_page());
  cr_assert(thp_warm_page());
  cr_assert_eq(wf.mmaps, 1, "the scratch block is mapped once");
  int want[] = {MADV_HUGEPAGE, MADV_POPULATE_WRITE, MADV_DONTNEED, MADV_POPULATE_WRITE, MADV_DONTNEED};
  cr_assert_eq(wf.n, 5);
  for (int i = 0; i < 5; i++) {
    cr_assert_eq(wf.calls[i][0], want[i], "call %d", i);
    cr_assert_eq(wf.addr[i], (uintptr_t)0x7f0000200000, "call %d on the aligned block", i);
  }
  cr_assert_eq(ts_thp_stats.collapse_warmed, before + 2);
  thp_warm_set_hooks(NULL);
}

Test(thp, warm_turns_off_on_a_kernel_without_populate) {
  warm_reset();
  wf.populate_ret = -EINVAL;
  cr_assert_not(thp_warm_page());
  int n = wf.n;
  cr_assert_eq(wf.calls[n - 1][0], MADV_DONTNEED, "freed even so");
  cr_assert_not(thp_warm_page());
  cr_assert_eq(wf.n, n, "no further call once the kernel said no");
  thp_warm_set_hooks(NULL);
}

Test(thp, warm_failure_frees_and_retries_later) {
  warm_reset();
  wf.populate_ret = -ENOMEM; /* out of huge pages now: may work next time */
  cr_assert_not(thp_warm_page());
  cr_assert_eq(wf.calls[wf.n - 1][0], MADV_DONTNEED, "a partial populate is freed");
  wf.populate_ret = 0;
  cr_assert(thp_warm_page());
  thp_warm_set_hooks(NULL);
}

Test(thp, warm_gives_up_a_block_it_cannot_free) {
  warm_reset();
  wf.dontneed_ret = -EINVAL; /* mlockall(MCL_FUTURE) locked the block */
  cr_assert_not(thp_warm_page());
  cr_assert_eq(wf.munmaps, 1, "the populated block is unmapped, not kept");
  cr_assert_eq(wf.munmapped, (uintptr_t)0x7f0000123000, "from where the mapping starts");
  int n = wf.n;
  cr_assert_not(thp_warm_page());
  cr_assert_eq(wf.n, n, "warming is off");
  cr_assert_eq(wf.mmaps, 1);
  thp_warm_set_hooks(NULL);
}

Test(thp, warm_off_without_a_scratch_block_or_by_option) {
  warm_reset();
  wf.mmap_err = ENOMEM;
  cr_assert_not(thp_warm_page());
  cr_assert_not(thp_warm_page());
  cr_assert_eq(wf.mmaps, 1, "a failed mapping is not retried");
  cr_assert_eq(wf.n, 0);
  warm_reset();
  ts_config.thp_warm = false;
  cr_assert_not(thp_warm_page());
  cr_assert_eq(wf.mmaps + wf.n, 0, "TIERSHIM_THP_WARM=0: nothing");
  ts_config.thp_warm = true;
  warm_fake_host = false;
  cr_assert_not(thp_warm_page());
  cr_assert_eq(wf.mmaps + wf.n, 0, "a host that keeps its backing: nothing to warm");
  thp_warm_set_hooks(NULL);
}

Test(thp, stat_idle_ticks) {
  cr_assert_eq(ts_thp_stat_idle_ticks("cpu  10132153 290696 3084719 46828483 16683 0 25195 0 0 0\ncpu0 1 2 3 4 5\n"),
               46828483 + 16683);
  cr_assert_eq(ts_thp_stat_idle_ticks("cpu 1 2 3 4 5"), 9);
  cr_assert_eq(ts_thp_stat_idle_ticks("cpu0 1 2 3 4 5"), -1, "a CPU's line, not the total");
  cr_assert_eq(ts_thp_stat_idle_ticks("cpu  1 2 3"), -1, "too short");
  cr_assert_eq(ts_thp_stat_idle_ticks("intr 1 2 3 4 5"), -1);
  cr_assert_eq(ts_thp_stat_idle_ticks(""), -1);
}

#define MS 1000000ull
Test(thp, idle_gate_spare_cpu_or_budget) {
  ts_thp_idle_reset();
  uint64_t t = 1000 * MS, cpu = 0, waited = ts_thp_stats.collapse_waited_cpu;
  int64_t idle = 5000; /* ticks of 10 ms */
  cr_assert(ts_thp_idle_decide(t, cpu, idle, 100), "the first call: no window yet");
  cr_assert(ts_thp_idle_decide(t += 60 * MS, cpu, idle += 6, 100), "60 ms idle in 60 ms: one CPU spare");
  cr_assert(ts_thp_idle_decide(t += MS, cpu += 5 * MS, idle, 100), "within the window: the verdict stands");
  /* busy: no idle tick for 60 ms; the budget saved so far: 2 ms + 10% of 121 ms */
  ts_thp_idle_decide(t += 60 * MS, cpu, idle, 100);
  int allowed = 0;
  for (int i = 0; i < 20 && ts_thp_idle_decide(t += MS, cpu += 4 * MS, idle, 100); i++) allowed++;
  cr_assert(allowed >= 3 && allowed <= 5, "about 14 ms of budget in 4 ms collapses, got %d", allowed);
  cr_assert_gt(ts_thp_stats.collapse_waited_cpu, waited);
  cr_assert_not(ts_thp_idle_decide(t += MS, cpu, idle, 100), "no budget left");
  /* one long collapse on the budget leaves a debt */
  ts_thp_idle_reset();
  ts_thp_idle_decide(t, cpu, idle, 100);
  ts_thp_idle_decide(t += 60 * MS, cpu, idle, 100); /* busy; 8 ms saved: allowed */
  cr_assert_not(ts_thp_idle_decide(t += MS, cpu += 40 * MS, idle, 100), "32 ms in debt");
  /* the collapse thread's own CPU counts as idle: it collapses on the spare CPU */
  cr_assert(ts_thp_idle_decide(t += 60 * MS, cpu += 40 * MS, idle, 100), "40 ms of its own in 60: spare");
  cr_assert_not(ts_thp_idle_decide(t += 60 * MS, cpu, idle, 100), "busy, and the debt is not paid yet");
  /* 10% of a CPU: 300 ms later the debt is paid and more is saved */
  cr_assert(ts_thp_idle_decide(t += 300 * MS, cpu, idle, 100));
  /* a long quiet spell saves up at most 100 ms */
  t += 3600 * 1000 * MS;
  cr_assert(ts_thp_idle_decide(t, cpu, idle += 360000, 100), "a CPU idle all along");
  ts_thp_idle_decide(t += 60 * MS, cpu, idle, 100); /* busy again, with what was saved */
  allowed = 0;
  for (int i = 0; i < 100 && ts_thp_idle_decide(t += MS / 10, cpu += 5 * MS, idle, 100); i++) allowed++;
  cr_assert(allowed >= 18 && allowed <= 22, "about 100 ms of 5 ms collapses, got %d", allowed);
  cr_assert(ts_thp_idle_decide(t, cpu, -1, 100), "no /proc/stat: as before the gate");
  ts_thp_idle_reset();
}

/* ---- thp_fill.c: is a huge-page fault dear? (fake clock and calls) ---- */

static struct {
  uint64_t clock, small_ns, huge_ns;
  int mmaps, munmaps, populates, populate_ret, mmap_err, last_advice[64];
  uintptr_t populated[16];
} cf;

static ts_prim_ptr_t cost_fake_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off) {
  (void)addr, (void)prot, (void)flags, (void)fd, (void)off;
  cf.mmaps++;
  cr_assert_geq(len, (size_t)7 << 20, "room for 6 aligned 2 MiB blocks");
  if (cf.mmap_err) return (ts_prim_ptr_t){NULL, cf.mmap_err};
  return (ts_prim_ptr_t){(void *)(uintptr_t)0x7f0000123000, 0}; /* unaligned on purpose */
}

static int cost_fake_madvise(void *addr, size_t len, int advice) {
  uintptr_t a = (uintptr_t)addr;
  cr_assert_eq(len, (size_t)2 << 20);
  cr_assert_eq(a & ((2 << 20) - 1), 0, "a whole 2 MiB block");
  int slot = (int)((a >> 21) & 63);
  if (advice != MADV_POPULATE_WRITE) {
    cf.last_advice[slot] = advice;
    return 0;
  }
  if (cf.populate_ret) return cf.populate_ret;
  cr_assert_lt(cf.populates, 16);
  cf.populated[cf.populates++] = a;
  cf.clock += cf.last_advice[slot] == MADV_HUGEPAGE ? cf.huge_ns : cf.small_ns;
  return 0;
}

static int cost_fake_munmap(void *addr, size_t len) {
  (void)addr, (void)len;
  cf.munmaps++;
  return 0;
}

static uint64_t cost_fake_clock(void) { return cf.clock; }

static const thp_cost_hooks_t cost_fakes = {cost_fake_mmap, cost_fake_madvise, cost_fake_munmap, cost_fake_clock};

static void cost_reset(uint64_t small_ns, uint64_t huge_ns) {
  memset(&cf, 0, sizeof cf);
  cf.clock = 1000000000ull;
  cf.small_ns = small_ns, cf.huge_ns = huge_ns;
  thp_cost_set_hooks(&cost_fakes);
}

Test(thp, cost_huge_dear_where_measured_dear) {
  cost_reset(MS, 6 * MS); /* the November VM: 5.7-6.3 ms against 1.0-1.2 */
  cr_assert(thp_huge_fault_dear());
  cr_assert_eq(cf.populates, 6, "3 small and 3 huge samples");
  for (int i = 0; i < 6; i++)
    for (int j = 0; j < i; j++) cr_assert_neq(cf.populated[i], cf.populated[j], "each sample a fresh block");
  cr_assert_eq(cf.munmaps, 1, "the scratch mapping goes");
  cf.clock += 30 * 1000 * MS;
  cr_assert(thp_huge_fault_dear());
  cr_assert_eq(cf.mmaps, 1, "within a minute the verdict stands");
  cf.huge_ns = MS / 10; /* the host changed its mind */
  cf.clock += 31 * 1000 * MS;
  cr_assert_not(thp_huge_fault_dear(), "measured again after a minute");
  cr_assert_eq(cf.mmaps, 2);
  thp_cost_set_hooks(NULL);
}

Test(thp, cost_huge_cheap_or_close) {
  cost_reset(MS / 2, MS / 8); /* 2026-12-07: 0.1-0.2 ms against 0.4-0.5 */
  cr_assert_not(thp_huge_fault_dear());
  cost_reset(MS, 2 * MS);
  cr_assert_not(thp_huge_fault_dear(), "twice the small pages' time is not dear: their traps and a collapse weigh too");
  cost_reset(MS, 2 * MS + 1);
  cr_assert(thp_huge_fault_dear());
  thp_cost_set_hooks(NULL);
}

Test(thp, cost_refused_keeps_the_rule) {
  cost_reset(MS, MS);
  cf.populate_ret = -EINVAL; /* no MADV_POPULATE_WRITE */
  cr_assert(thp_huge_fault_dear());
  cr_assert_eq(cf.munmaps, 1);
  cost_reset(MS, MS);
  cf.mmap_err = ENOMEM;
  cr_assert(thp_huge_fault_dear());
  cr_assert_eq(cf.munmaps, 0);
  thp_cost_set_hooks(NULL);
}
