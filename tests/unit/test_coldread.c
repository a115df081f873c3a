/* policy/coldread.c against fake system calls: the thread's policy is
 * switched only after the destination is populated, always restored, and
 * any failing step leaves the read under the thread's own policy. */
#include <criterion/criterion.h>
#include <errno.h>
#include <sys/mman.h>

#include "policy/coldread.h"
#include "policy/mpol.h"

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

#define FAST 1ull
#define SLOW 2ull

static struct {
  int mode;           /* the fake thread policy */
  uint64_t nodes;
  int fail_get, fail_madvise, fail_set; /* -errno to return, 0 to succeed */
  char log[16];       /* g(et), f(illing), p(opulate), s(et), in call order */
  int nlog;
  uintptr_t pop_lo, pop_hi;
} f;

static void note(char c) {
  if (f.nlog < (int)sizeof f.log - 1) f.log[f.nlog++] = c;
}

static int fake_get(int *mode, uint64_t *nodes) {
  note('g');
  if (f.fail_get) return f.fail_get;
  *mode = f.mode;
  *nodes = f.nodes;
  return 0;
}

static int fake_set(int mode, uint64_t nodes) {
  note('s');
  if (f.fail_set) return f.fail_set;
  f.mode = mode;
  f.nodes = nodes;
  return 0;
}

static int fake_madvise(void *addr, size_t len, int advice) {
  note('p');
  cr_assert_eq(advice, MADV_POPULATE_WRITE);
  cr_assert_eq(f.mode, TS_MPOL_PREFERRED_MANY, "populated under the thread's own policy");
  f.pop_lo = (uintptr_t)addr;
  f.pop_hi = (uintptr_t)addr + len;
  return f.fail_madvise;
}

static void fake_filling(uintptr_t a, size_t len) {
  (void)a, (void)len;
  note('f');
}

static const ts_cold_read_hooks_t fakes = {fake_get, fake_set, fake_madvise, fake_filling};

static void setup(void) {
  memset(&f, 0, sizeof f);
  f.mode = TS_MPOL_PREFERRED_MANY;
  f.nodes = FAST;
  ts_cold_read_set_hooks(&fakes);
  ts_cold_read_enable(TS_MPOL_PREFERRED_MANY, SLOW);
}

static void teardown(void) {
  ts_cold_read_set_hooks(NULL);
  ts_cold_reads = false;
}

TestSuite(coldread, .init = setup, .fini = teardown);

Test(coldread, switches_after_populating_and_restores) {
  ts_cold_read_t s;
  cr_assert(ts_cold_read_begin(&s, (void *)0x10000010, 3 << 20));
  cr_assert_str_eq(f.log, "gfps");
  cr_assert_eq(f.nodes, SLOW, "the read runs preferring the slow tier");
  cr_assert_eq(f.pop_lo, 0x10000000, "populated from the page holding dst");
  cr_assert_eq(f.pop_hi, 0x10000000 + (3 << 20) + 4096, "to the page holding its last byte");
  ts_cold_read_stats_t before;
  ts_cold_read_stats(&before);
  ts_cold_read_end(&s, 3 << 20);
  cr_assert_eq(f.mode, TS_MPOL_PREFERRED_MANY);
  cr_assert_eq(f.nodes, FAST, "the thread's policy is back");
  ts_cold_read_stats_t after;
  ts_cold_read_stats(&after);
  cr_assert_eq(after.reads - before.reads, 1);
  cr_assert_eq(after.bytes - before.bytes, 3u << 20);
}

Test(coldread, large_fills_go_a_step_at_a_time) {
  ts_cold_read_t s;
  cr_assert(ts_cold_read_begin(&s, (void *)0x10000000, 20 << 20));
  cr_assert_str_eq(f.log, "gfpfpfps", "8 MiB steps: decide, populate, decide, populate ..., then switch");
  cr_assert_eq(f.pop_lo, 0x10000000 + (16 << 20), "the last step");
  cr_assert_eq(f.pop_hi, 0x10000000 + (20 << 20));
  ts_cold_read_end(&s, 20 << 20);
  cr_assert_eq(f.nodes, FAST);
}

Test(coldread, failed_read_is_restored_but_adds_no_bytes) {
  ts_cold_read_t s;
  ts_cold_read_stats_t before, after;
  ts_cold_read_stats(&before);
  cr_assert(ts_cold_read_begin(&s, (void *)0x20000000, 1 << 20));
  ts_cold_read_end(&s, -1);
  cr_assert_eq(f.nodes, FAST);
  ts_cold_read_stats(&after);
  cr_assert_eq(after.bytes, before.bytes);
}

static void refused_step(int *which, const char *log) {
  *which = -EINVAL;
  ts_cold_read_stats_t before, after;
  ts_cold_read_stats(&before);
  ts_cold_read_t s;
  cr_assert_not(ts_cold_read_begin(&s, (void *)0x30000000, 2 << 20));
  ts_cold_read_end(&s, 2 << 20); /* the caller always calls it */
  cr_assert_str_eq(f.log, log);
  cr_assert_eq(f.nodes, FAST, "the thread keeps its own policy");
  ts_cold_read_stats(&after);
  cr_assert_eq(after.refused - before.refused, 1, "counted as refused");
  cr_assert_eq(after.reads, before.reads);
}

Test(coldread, get_refused) { refused_step(&f.fail_get, "g"); }
Test(coldread, populate_refused) { refused_step(&f.fail_madvise, "gfp"); }
Test(coldread, set_refused) { refused_step(&f.fail_set, "gfps"); }

Test(coldread, nothing_when_off_or_empty) {
  ts_cold_read_t s;
  cr_assert_not(ts_cold_read_begin(&s, (void *)0x40000000, 0), "an empty fill: no calls");
  ts_cold_reads = false;
  cr_assert_not(ts_cold_read_begin(&s, (void *)0x40000000, 4 << 20));
  cr_assert_str_eq(f.log, "");
}

Test(coldread, thread_already_slow_is_left_alone) {
  f.nodes = SLOW;
  ts_cold_read_t s;
  cr_assert_not(ts_cold_read_begin(&s, (void *)0x50000000, 4 << 20));
  ts_cold_read_end(&s, 4 << 20);
  cr_assert_str_eq(f.log, "g", "no populate, no switch");
}
