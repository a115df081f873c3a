/* Tier placement options and the weighted range split. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <sys/mman.h>

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

/* A fake two-node sysfs tree (as tests/integration/tiers_fake.sh makes):
 * node 0 with the CPUs and free_mib free, node 1 CPU-less and slower. */
static void fake_meminfo(const char *root, int node, unsigned long free_mib) {
  char path[256];
  snprintf(path, sizeof path, "%s/devices/system/node/node%d/meminfo", root, node);
  FILE *f = fopen(path, "w");
  cr_assert_not_null(f, "%s", path);
  fprintf(f, "Node %d MemTotal:  %lu kB\nNode %d MemFree:  %lu kB\nNode %d PageTables: 100 kB\n", node,
          (unsigned long)(node + 1) * 8388608, node, free_mib * 1024, node);
  fclose(f);
}

static void fake_file(const char *root, const char *rel, const char *text) {
  char path[256];
  snprintf(path, sizeof path, "%s/%s", root, rel);
  FILE *f = fopen(path, "w");
  cr_assert_not_null(f, "%s", path);
  fputs(text, f);
  fclose(f);
}

static void fake_tree(char *root) {
  cr_assert_not_null(mkdtemp(root));
  char cmd[512];
  snprintf(cmd, sizeof cmd,
           "mkdir -p %s/devices/system/node/node0 %s/devices/system/node/node1 "
           "%s/devices/virtual/memory_tiering/memory_tier4 %s/devices/virtual/memory_tiering/memory_tier22",
           root, root, root, root);
  cr_assert_eq(system(cmd), 0);
  fake_file(root, "devices/system/node/has_memory", "0-1\n");
  fake_file(root, "devices/system/node/has_cpu", "0\n");
  fake_file(root, "devices/system/node/node0/distance", "10 20\n");
  fake_file(root, "devices/system/node/node1/distance", "20 10\n");
  fake_file(root, "devices/virtual/memory_tiering/memory_tier4/nodelist", "0\n");
  fake_file(root, "devices/virtual/memory_tiering/memory_tier22/nodelist", "1\n");
  fake_meminfo(root, 0, 200);
  fake_meminfo(root, 1, 4096);
}

/* bulk=fast decides again when a range is about to be filled: per 32 MiB
 * piece, whole pages only, against the free memory read at that moment. */
Test(tierpol, filling_decides_per_piece_against_free_memory_now) {
  char root[] = "/tmp/ts_tierpol_XXXXXX";
  fake_tree(root);
  char env_root[300];
  snprintf(env_root, sizeof env_root, "TIERSHIM_SYSFS_ROOT=%s", root);
  char *env[] = {env_root, "TIERSHIM_BULK=fast", "TIERSHIM_FAST_RESERVE=64M", NULL};
  cr_assert_eq(ts_options_parse(&ts_config, env, false), 0);
  ts_tier_init();
  cr_assert(ts_tier_on, "the fake tree is tiered");
  const size_t M = 1u << 20, len = 256 * M;
  /* Pieces end at 32 MiB multiples: a range that starts on one has 8. */
  char *m = mmap(NULL, len + 32 * M, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  cr_assert_neq(m, MAP_FAILED);
  char *p = (char *)(((uintptr_t)m + 32 * M - 1) & ~(uintptr_t)(32 * M - 1));
  ts_tier_stats_t a, b, c;
  ts_tier_stats(&a);
  fake_meminfo(root, 0, 400);
  ts_tier_filling((uintptr_t)p + 10, len - 20); /* 400 MiB free: room for every piece */
  ts_tier_stats(&b);
  cr_assert_eq(b.binds - a.binds, 8, "one mbind per 32 MiB piece of the whole pages");
  cr_assert_eq(b.spilled, a.spilled, "above the reserve: fast");
  cr_assert_eq(b.bulk_bytes - a.bulk_bytes, len - 8192, "the edge pages are left alone");
  fake_meminfo(root, 0, 200); /* 200 - 4 x 32 = 72 MiB, then no room above 64 + 32 */
  ts_tier_filling((uintptr_t)p, len);
  ts_tier_stats(&c);
  cr_assert_eq(c.spilled - b.spilled, len / 2, "the pieces before count as used: half fast, half slow-first");
  fake_meminfo(root, 0, 80); /* the other process filled the fast tier meanwhile */
  ts_tier_filling((uintptr_t)p, len);
  ts_tier_stats(&b);
  cr_assert_eq(b.spilled - c.spilled, len, "down to the reserve: every piece slow-first");
  /* A rule-bound range must keep its rule's tier: no re-decision meanwhile. */
  fake_meminfo(root, 0, 400);
  cr_assert(ts_tier_bind_rule((uintptr_t)p, 32 * M, TS_BULK_FAST, NULL, 0));
  ts_tier_stats(&c);
  ts_tier_filling((uintptr_t)p + 32 * M, 64 * M);
  ts_tier_stats(&b);
  cr_assert_eq(b.binds, c.binds, "while a rule holds a range, filling binds nothing");
  ts_tier_unbind_rule((uintptr_t)p, 32 * M);
  ts_tier_stats(&c);
  ts_tier_filling((uintptr_t)p + 32 * M, 64 * M);
  ts_tier_stats(&b);
  cr_assert_eq(b.binds - c.binds, 2, "and again once it is freed");
  munmap(m, len + 32 * M);
  char cmd[300];
  snprintf(cmd, sizeof cmd, "rm -rf %s", root);
  cr_assert_eq(system(cmd), 0);
}
