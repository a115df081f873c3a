/* Tier placement options and the weighted range split. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "capture.h"
#include "base/options.h"
#include "policy/tierpol.h"

static int parse1(ts_config_t *cfg, char *entry, capture_t *cap) {
  char *env[] = {entry, NULL};
  capture_begin(cap);
  int w = ts_options_parse(cfg, env, false);
  cr_assert_eq(capture_end(cap), w, "one line per warning");
  return w;
}

Test(tierpol, defaults) {
  ts_config_t cfg;
  char *env[] = {NULL};
  ts_options_parse(&cfg, env, false);
  cr_assert_eq(cfg.hot, TS_HOT_FAST);
  cr_assert_eq(cfg.bulk, TS_BULK_DEFAULT);
  cr_assert_eq(cfg.bulk_min, 64 * 1024);
  cr_assert_str_eq(cfg.sysfs_root, "/sys");
  cr_assert_str_eq(cfg.fast_nodes, "");
}

Test(tierpol, bulk_modes_and_weights) {
  struct { char *in; int mode, n, w0, w1; } ok[] = {
      {"TIERSHIM_BULK=fast", TS_BULK_FAST, 0, 0, 0},
      {"TIERSHIM_BULK=SLOW", TS_BULK_SLOW, 0, 0, 0},
      {"TIERSHIM_BULK=interleave", TS_BULK_INTERLEAVE, 0, 0, 0},
      {"TIERSHIM_BULK=weighted", TS_BULK_WEIGHTED, 0, 0, 0},
      {"TIERSHIM_BULK=weighted:3,1", TS_BULK_WEIGHTED, 2, 3, 1},
      {"TIERSHIM_BULK=weighted:255,1", TS_BULK_WEIGHTED, 2, 255, 1}};
  for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
    ts_config_t cfg;
    capture_t cap;
    cr_assert_eq(parse1(&cfg, ok[i].in, &cap), 0, "%s: %s", ok[i].in, cap.text);
    cr_assert_eq(cfg.bulk, ok[i].mode, "%s", ok[i].in);
    cr_assert_eq(cfg.bulk_nweights, ok[i].n, "%s", ok[i].in);
    if (ok[i].n) {
      cr_assert_eq(cfg.bulk_weights[0], ok[i].w0);
      cr_assert_eq(cfg.bulk_weights[1], ok[i].w1);
    }
  }
}

Test(tierpol, bad_values_warn_once_and_keep_defaults) {
  char *bad[] = {"TIERSHIM_BULK=fastest", "TIERSHIM_BULK=weighted:", "TIERSHIM_BULK=weighted:0,1",
                 "TIERSHIM_BULK=weighted:3,,1", "TIERSHIM_BULK=weighted:256", "TIERSHIM_BULK=weighted:1;2",
                 "TIERSHIM_HOT=slow", "TIERSHIM_FAST_NODES=0-x", "TIERSHIM_SLOW_NODES=64",
                 "TIERSHIM_SLOW_NODES=3-1", "TIERSHIM_SYSFS_ROOT=relative/sys", "TIERSHIM_BULK_MIN=1"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    ts_config_t cfg;
    capture_t cap;
    cr_assert_eq(parse1(&cfg, bad[i], &cap), 1, "%s should warn once", bad[i]);
    cr_assert_eq(cfg.bulk, TS_BULK_DEFAULT, "%s", bad[i]);
    cr_assert_eq(cfg.bulk_nweights, 0, "%s", bad[i]);
    cr_assert_eq(cfg.hot, TS_HOT_FAST, "%s", bad[i]);
    cr_assert_str_eq(cfg.fast_nodes, "", "%s", bad[i]);
    cr_assert_str_eq(cfg.slow_nodes, "", "%s", bad[i]);
    cr_assert_str_eq(cfg.sysfs_root, "/sys", "%s", bad[i]);
    cr_assert(strncmp(cap.text, "tiershim: TIERSHIM_", 19) == 0, "%s", cap.text);
  }
}

Test(tierpol, node_lists_and_root_apply) {
  ts_config_t cfg;
  capture_t cap;
  cr_assert_eq(parse1(&cfg, "TIERSHIM_FAST_NODES=0-1,4", &cap), 0);
  cr_assert_str_eq(cfg.fast_nodes, "0-1,4");
  cr_assert_eq(parse1(&cfg, "TIERSHIM_SYSFS_ROOT=/tmp/fake", &cap), 0);
  cr_assert_str_eq(cfg.sysfs_root, "/tmp/fake");
}

Test(tierpol, weighted_split_follows_the_weights) {
  int nodes[] = {0, 1};
  unsigned char w31[] = {3, 1};
  int want[] = {0, 0, 0, 1, 0, 0, 0, 1};
  for (int b = 0; b < 8; b++) cr_assert_eq(ts_tier_weighted_node((uint64_t)b, nodes, w31, 2), want[b], "block %d", b);
  int count[2] = {0, 0};
  for (uint64_t b = 1000; b < 1400; b++) count[ts_tier_weighted_node(b, nodes, w31, 2)]++;
  cr_assert_eq(count[0], 300);
  cr_assert_eq(count[1], 100);
  int three[] = {2, 5, 7};
  unsigned char w[] = {1, 2, 1};
  int c3[8] = {0};
  for (uint64_t b = 0; b < 4000; b++) c3[ts_tier_weighted_node(b, three, w, 3)]++;
  cr_assert_eq(c3[2], 1000);
  cr_assert_eq(c3[5], 2000);
  cr_assert_eq(c3[7], 1000);
}

Test(tierpol, off_without_init_costs_nothing) {
  /* Never initialised (one node, or the unit tests): every entry returns. */
  cr_assert(!ts_tier_on);
  ts_tier_bind_hot((void *)0x1000, 4096);
  ts_tier_window_mapped(0x1000, 4096);
  ts_tier_granted(0x1000, 4096);
  ts_tier_stats_t st;
  ts_tier_stats(&st);
  cr_assert_eq(st.binds, 0);
  cr_assert_str_eq(st.bulk_policy, "off");
}

Test(tierpol, fast_reserve_option_and_default) {
  ts_config_t cfg;
  capture_t cap;
  cr_assert_eq(parse1(&cfg, "TIERSHIM_FAST_RESERVE=32M", &cap), 0);
  cr_assert_eq(cfg.fast_reserve, 32u << 20);
  cr_assert_eq(parse1(&cfg, "TIERSHIM_FAST_RESERVE=lots", &cap), 1, "a bad size warns");
  cr_assert_eq(cfg.fast_reserve, 0, "and keeps the default (automatic)");
  const uint64_t M = 1u << 20, G = 1u << 30;
  cr_assert_eq(ts_tier_fast_reserve(2 * G, 0), 128 * M, "small nodes: the 128 MiB floor");
  cr_assert_eq(ts_tier_fast_reserve(64 * G, 0), G, "1/64 of the tier");
  cr_assert_eq(ts_tier_fast_reserve(1024 * G, 0), 2 * G, "the 2 GiB ceiling");
  cr_assert_eq(ts_tier_fast_reserve(2 * G, 32 * M), 32 * M, "the option wins, below the floor too");
}
