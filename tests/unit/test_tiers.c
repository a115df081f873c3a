/* Tier discovery (policy/tiers.c) on fake sysfs trees built in a temporary
 * directory: the kernel's tiers, the split rules, malformed files and the
 * TIERSHIM_FAST_NODES / TIERSHIM_SLOW_NODES overrides. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "policy/tiers.h"

#define GIB (1ull << 30)

static char root[64];
static ts_topo_t topo;

static void tree_new(void) {
  strcpy(root, "/tmp/ts-tiers-XXXXXX");
  cr_assert_not_null(mkdtemp(root));
}

static void tree_rm(void) {
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf %s", root);
  cr_assert_eq(system(cmd), 0);
}

TestSuite(tiers, .init = tree_new, .fini = tree_rm);

/* mkdir -p root/rel. */
static void mkdirs(const char *rel) {
  char path[512];
  snprintf(path, sizeof path, "%s/%s/", root, rel);
  for (char *p = path + strlen(root) + 1; (p = strchr(p, '/')) != NULL; p++) {
    *p = '\0';
    mkdir(path, 0755); /* EEXIST is fine */
    *p = '/';
  }
}

/* Writes root/rel, creating its directories. */
static void put(const char *rel, const char *text) {
  char dir[512], path[512];
  snprintf(dir, sizeof dir, "%s", rel);
  char *slash = strrchr(dir, '/');
  if (slash != NULL) { *slash = '\0'; mkdirs(dir); }
  snprintf(path, sizeof path, "%s/%s", root, rel);
  FILE *f = fopen(path, "w");
  cr_assert_not_null(f, "%s", path);
  fputs(text, f);
  fclose(f);
}


/* has_memory and has_cpu, as the kernel writes them (with a newline). */
static void lists(const char *mem, const char *cpu) {
  char text[64];
  snprintf(text, sizeof text, "%s\n", mem);
  put("devices/system/node/has_memory", text);
  snprintf(text, sizeof text, "%s\n", cpu);
  put("devices/system/node/has_cpu", text);
}

/* nodeN with meminfo (free = half of total) and a distance row (NULL: none). */
static void node(int n, uint64_t total, const char *distance) {
  char rel[128], text[256];
  snprintf(rel, sizeof rel, "devices/system/node/node%d/meminfo", n);
  snprintf(text, sizeof text,
           "Node %d MemTotal:       %8llu kB\nNode %d MemFree:        %8llu kB\nNode %d MemUsed:        %8llu kB\n",
           n, (unsigned long long)(total >> 10), n, (unsigned long long)(total >> 11), n,
           (unsigned long long)(total >> 11));
  put(rel, text);
  if (distance == NULL) return;
  snprintf(rel, sizeof rel, "devices/system/node/node%d/distance", n);
  snprintf(text, sizeof text, "%s\n", distance);
  put(rel, text);
}

static void tier(int id, const char *nodelist) {
  char rel[128], text[64];
  snprintf(rel, sizeof rel, "devices/virtual/memory_tiering/memory_tier%d/nodelist", id);
  snprintf(text, sizeof text, "%s\n", nodelist);
  put(rel, text);
}

static void hmat(int n, unsigned rbw, unsigned wbw, unsigned rlat, unsigned wlat) {
  static const char *const names[] = {"read_bandwidth", "write_bandwidth", "read_latency", "write_latency"};
  unsigned v[] = {rbw, wbw, rlat, wlat};
  for (int i = 0; i < 4; i++) {
    char rel[160], text[32];
    snprintf(rel, sizeof rel, "devices/system/node/node%d/access0/initiators/%s", n, names[i]);
    snprintf(text, sizeof text, "%u\n", v[i]);
    put(rel, text);
  }
}

static ts_topo_status_t discover(const char *fast, const char *slow) {
  return ts_topo_discover(root, fast, slow, &topo);
}

#define assert_why_has(s) cr_assert(strstr(topo.why, s) != NULL, "why: '%s', wanted '%s'", topo.why, s)

/* ---- a. one node ------------------------------------------------------- */

Test(tiers, one_node_is_single) {
  lists("0", "0");
  node(0, 8 * GIB, "10");
  tier(4, "0");
  cr_assert_eq(discover(NULL, NULL), TS_TOPO_SINGLE);
  assert_why_has("one memory node");
  cr_assert_eq(topo.max_node, 0);
  cr_assert_eq(topo.memory_nodes, 1);
  cr_assert_eq(topo.fast_nodes, 1);
  cr_assert_eq(topo.slow_nodes, 0);
  cr_assert_eq(topo.node[0].total_bytes, 8 * GIB);
  cr_assert_eq(topo.node[0].free_bytes, 4 * GIB);
  cr_assert_eq(topo.node[0].kernel_tier, 4);
  cr_assert_eq(topo.node[0].distance[0], 10);
}

Test(tiers, no_node_directory_is_single) {
  mkdirs("kernel/mm");
  cr_assert_eq(discover(NULL, NULL), TS_TOPO_SINGLE);
  assert_why_has("CONFIG_NUMA");
  cr_assert_eq(topo.max_node, -1);
  cr_assert_eq(topo.ntiers, 0);
  cr_assert_str_eq(topo.source, "none");
}

Test(tiers, memoryless_second_node_is_single) {
  lists("0", "0-1");
  node(0, 8 * GIB, "10 20");
  node(1, 0, "20 10");
  cr_assert_eq(discover(NULL, NULL), TS_TOPO_SINGLE);
  cr_assert_eq(topo.max_node, 1);
  cr_assert(topo.node[1].has_cpu && !topo.node[1].has_memory);
}

/* ---- b, c. the kernel's tiers ------------------------------------------ */

Test(tiers, dram_and_cxl) {
  lists("0-1", "0");
  node(0, 8 * GIB, "10 20");
  node(1, 16 * GIB, "20 10");
  tier(4, "0");
  tier(22, "1");
  cr_assert_eq(discover(NULL, NULL), TS_TOPO_TIERED, "%s", topo.why);
  cr_assert_str_eq(topo.source, "memory_tiering");
  cr_assert_not(topo.split);
  cr_assert_eq(topo.ntiers, 2);
  cr_assert_eq(topo.tier[0].kernel_id, 4);
  cr_assert_eq(topo.tier[1].kernel_id, 22);
  cr_assert_eq(topo.fast_nodes, 0x1);
  cr_assert_eq(topo.slow_nodes, 0x2);
  cr_assert_eq(topo.node[0].total_bytes, 8 * GIB);
  cr_assert_eq(topo.node[1].total_bytes, 16 * GIB);
  cr_assert_eq(topo.node[1].free_bytes, 8 * GIB);
  cr_assert_eq(topo.node[1].tier, 1);
  cr_assert_eq(topo.node[1].kernel_tier, 22);
  cr_assert_eq(topo.node[0].distance[1], 20);
  assert_why_has("memory_tier4 (0), memory_tier22 (1)");
}

static void two_sockets_with_cxl(void) {
  lists("0-3", "0-1");
  node(0, 8 * GIB, "10 21 14 24");
  node(1, 8 * GIB, "21 10 24 14");
  node(2, 16 * GIB, "14 24 10 26");
  node(3, 16 * GIB, "24 14 26 10");
  tier(4, "0-1");
  tier(22, "2-3");
}

Test(tiers, two_sockets_each_with_cxl) {
  two_sockets_with_cxl();
  cr_assert_eq(discover(NULL, NULL), TS_TOPO_TIERED, "%s", topo.why);
  cr_assert_eq(topo.fast_nodes, 0x3);
  cr_assert_eq(topo.slow_nodes, 0xc);
  cr_assert_eq(topo.ntiers, 2);
  cr_assert_not(topo.split);
  cr_assert_str_eq(topo.source, "memory_tiering");
  cr_assert_eq(topo.node[0].distance[3], 24);
  cr_assert_eq(topo.node[3].distance[2], 26);
  cr_assert_eq(topo.max_node, 3);
}

Test(tiers, tier_without_memory_is_dropped) {
  lists("0-1", "0");
  node(0, 8 * GIB, "10 20");
  node(1, 8 * GIB, "20 10");
  tier(2, "5"); /* no memory there: not a tier */
  tier(4, "0");
  tier(22, "1");
  cr_assert_eq(discover(NULL, NULL), TS_TOPO_TIERED, "%s", topo.why);
  cr_assert_eq(topo.ntiers, 2);
  cr_assert_eq(topo.tier[0].kernel_id, 4);
}

/* ---- d, e. splitting -------------------------------------------------- */

Test(tiers, mixed_tier_split_by_cpu) {
  lists("0-1", "0");
  node(0, 8 * GIB, "10 20");
  node(1, 16 * GIB, "20 10");
  tier(4, "0-1");
  cr_assert_eq(discover(NULL, NULL), TS_TOPO_TIERED, "%s", topo.why);
  cr_assert(topo.split);
  cr_assert_str_eq(topo.source, "cpu");
  cr_assert_eq(topo.fast_nodes, 0x1);
  cr_assert_eq(topo.slow_nodes, 0x2);
  cr_assert_eq(topo.tier[0].kernel_id, 4);
  cr_assert_eq(topo.tier[1].kernel_id, 4);
  assert_why_has("memory_tier4 holds node 0 with CPUs and CPU-less node 1: split by CPU presence");
}

Test(tiers, one_tier_of_two_sockets_is_single) {
  lists("0-1", "0-1");
  node(0, 8 * GIB, "10 21");
  node(1, 8 * GIB, "21 10");
  tier(4, "0-1");
  cr_assert_eq(discover(NULL, NULL), TS_TOPO_SINGLE);
  assert_why_has("one tier: nodes 0-1 (memory_tier4)");
  cr_assert_eq(topo.fast_nodes, 0x3);
  cr_assert_eq(topo.slow_nodes, 0);
}

Test(tiers, hmat_latency_decides_without_tiering) {
  /* Both nodes have CPUs and are at distance 10 from them: only HMAT tells. */
  lists("0-1", "0-1");
  node(0, 8 * GIB, "10 12");
  node(1, 8 * GIB, "12 10");
  hmat(0, 20000, 20000, 300, 310);
  hmat(1, 20000, 20000, 100, 110);
  cr_assert_eq(discover(NULL, NULL), TS_TOPO_TIERED, "%s", topo.why);
  cr_assert_str_eq(topo.source, "hmat");
  cr_assert_not(topo.split, "no reported tier to split");
  cr_assert_eq(topo.fast_nodes, 0x2, "lower latency first");
  cr_assert_eq(topo.slow_nodes, 0x1);
  assert_why_has("no memory_tiering");
  assert_why_has("split by latency into 1 and 0");
}

Test(tiers, hmat_splits_at_largest_gap) {
  lists("0-2", "0-2");
  node(0, 8 * GIB, "10 12 12");
  node(1, 8 * GIB, "12 10 12");
  node(2, 8 * GIB, "12 12 10");
  hmat(0, 20000, 20000, 120, 120);
  hmat(1, 20000, 20000, 100, 100);
  hmat(2, 20000, 20000, 300, 300);
  tier(4, "0-2");
  cr_assert_eq(discover(NULL, NULL), TS_TOPO_TIERED, "%s", topo.why);
  cr_assert_eq(topo.fast_nodes, 0x3, "100 and 120 ns together, 300 apart");
  cr_assert_eq(topo.slow_nodes, 0x4);
  assert_why_has("memory_tier4 holds nodes 0-2 with HMAT read latency 100-300 ns: split by latency into 0-1 and 2");
}

Test(tiers, hmat_bandwidth_when_latency_alike) {
  lists("0-1", "0-1");
  node(0, 8 * GIB, "10 12");
  node(1, 8 * GIB, "12 10");
  hmat(0, 30000, 30000, 100, 100);
  hmat(1, 90000, 90000, 110, 110);
  tier(4, "0-1");
  cr_assert_eq(discover(NULL, NULL), TS_TOPO_TIERED, "%s", topo.why);
  cr_assert_str_eq(topo.source, "hmat");
  cr_assert(topo.split);
  cr_assert_eq(topo.fast_nodes, 0x2, "higher bandwidth first");
  assert_why_has("split by bandwidth");
}

Test(tiers, no_tiering_cpu_vs_cpuless) {
  lists("0-1", "0");
  node(0, 8 * GIB, "10 20");
  node(1, 16 * GIB, "20 10");
  cr_assert_eq(discover(NULL, NULL), TS_TOPO_TIERED, "%s", topo.why);
  cr_assert_str_eq(topo.source, "cpu");
  cr_assert_not(topo.split);
  cr_assert_eq(topo.fast_nodes, 0x1);
  cr_assert_eq(topo.slow_nodes, 0x2);
  cr_assert_eq(topo.tier[0].kernel_id, -1);
}

Test(tiers, distance_splits_cpuless_tier) {
  /* CXL directly attached (20) and behind a switch (40), reported together. */
  lists("0-2", "0");
  node(0, 8 * GIB, "10 20 40");
  node(1, 16 * GIB, "20 10 40");
  node(2, 64 * GIB, "40 40 10");
  tier(4, "0");
  tier(22, "1-2");
  cr_assert_eq(discover(NULL, NULL), TS_TOPO_TIERED, "%s", topo.why);
  cr_assert_str_eq(topo.source, "distance");
  cr_assert(topo.split);
  cr_assert_eq(topo.ntiers, 3);
  cr_assert_eq(topo.tier[1].nodes, 0x2);
  cr_assert_eq(topo.tier[2].nodes, 0x4);
  cr_assert_eq(topo.fast_nodes, 0x1);
  cr_assert_eq(topo.slow_nodes, 0x6);
  assert_why_has("memory_tier22 holds nodes 1-2 at distance 20-40");
}

Test(tiers, nothing_separates_is_single) {
  lists("0-1", "0-1");
  node(0, 8 * GIB, "10 21");
  node(1, 8 * GIB, "21 10");
  cr_assert_eq(discover(NULL, NULL), TS_TOPO_SINGLE);
  cr_assert_str_eq(topo.source, "none");
  assert_why_has("nodes 0-1");
}

Test(tiers, small_differences_do_not_split) {
  lists("0-1", "0-1");
  node(0, 8 * GIB, "10 21");
  node(1, 8 * GIB, "21 10");
  hmat(0, 20000, 20000, 100, 100);
  hmat(1, 15000, 15000, 140, 140); /* 1.4x: the same kind of memory */
  cr_assert_eq(discover(NULL, NULL), TS_TOPO_SINGLE, "%s", topo.why);
}

/* ---- f. malformed files ----------------------------------------------- */

Test(tiers, malformed_nodelist) {
  lists("0-1", "0");
  node(0, 8 * GIB, "10 20");
  node(1, 8 * GIB, "20 10");
  tier(4, "zz");
  cr_assert_eq(discover(NULL, NULL), TS_TOPO_ERROR);
  assert_why_has("malformed ");
  assert_why_has("/devices/virtual/memory_tiering/memory_tier4/nodelist: 'zz'");
  cr_assert_eq(topo.ntiers, 0);
  cr_assert_eq(topo.node[1].total_bytes, 8 * GIB, "node info is filled anyway");
}

Test(tiers, junk_distance) {
  lists("0-1", "0");
  node(0, 8 * GIB, "10 xx");
  node(1, 8 * GIB, "20 10");
  tier(4, "0");
  tier(22, "1");
  cr_assert_eq(discover(NULL, NULL), TS_TOPO_ERROR);
  assert_why_has("/devices/system/node/node0/distance: '10 xx'");
  cr_assert_eq(topo.node[1].distance[0], 20, "the other rows are still read");
}

Test(tiers, distance_row_too_short) {
  lists("0-1", "0");
  node(0, 8 * GIB, "10");
  node(1, 8 * GIB, "20 10");
  cr_assert_eq(discover(NULL, NULL), TS_TOPO_ERROR);
  assert_why_has("node0/distance");
}

Test(tiers, tier_directory_without_nodelist) {
  lists("0-1", "0");
  node(0, 8 * GIB, "10 20");
  node(1, 8 * GIB, "20 10");
  tier(4, "0");
  mkdirs("devices/virtual/memory_tiering/memory_tier22");
  cr_assert_eq(discover(NULL, NULL), TS_TOPO_ERROR);
  assert_why_has("cannot read ");
  assert_why_has("memory_tier22/nodelist");
}

Test(tiers, meminfo_without_memtotal) {
  lists("0-1", "0");
  node(0, 8 * GIB, "10 20");
  put("devices/system/node/node1/meminfo", "Node 1 MemFree: 5 kB\n");
  cr_assert_eq(discover(NULL, NULL), TS_TOPO_ERROR);
  assert_why_has("no MemTotal in ");
  assert_why_has("node1/meminfo");
}

Test(tiers, malformed_has_memory) {
  lists("0-", "0");
  node(0, 8 * GIB, "10");
  cr_assert_eq(discover(NULL, NULL), TS_TOPO_ERROR);
  assert_why_has("has_memory: '0-'");
}

/* ---- g. overrides ------------------------------------------------------ */

Test(tiers, override_fast_only) {
  two_sockets_with_cxl();
  cr_assert_eq(discover("0", NULL), TS_TOPO_TIERED, "%s", topo.why);
  cr_assert_str_eq(topo.source, "override");
  cr_assert_eq(topo.ntiers, 2);
  cr_assert_eq(topo.fast_nodes, 0x1);
  cr_assert_eq(topo.slow_nodes, 0xe);
  cr_assert_eq(topo.tier[0].kernel_id, -1);
  cr_assert_eq(topo.tier[1].kernel_id, -1);
  cr_assert_eq(topo.node[1].tier, 1);
  cr_assert_eq(topo.node[1].kernel_tier, 4, "kernel tiers still reported");
  assert_why_has("TIERSHIM_FAST_NODES");
}

Test(tiers, override_slow_only) {
  two_sockets_with_cxl();
  cr_assert_eq(discover("", "3"), TS_TOPO_TIERED, "%s", topo.why);
  cr_assert_eq(topo.fast_nodes, 0x7);
  cr_assert_eq(topo.slow_nodes, 0x8);
  assert_why_has("TIERSHIM_SLOW_NODES");
}

Test(tiers, override_both) {
  two_sockets_with_cxl();
  cr_assert_eq(discover("0-1", "2"), TS_TOPO_TIERED, "%s", topo.why);
  cr_assert_eq(topo.fast_nodes, 0x3);
  cr_assert_eq(topo.slow_nodes, 0x4);
  cr_assert_eq(topo.node[3].tier, -1, "named on neither side");
}

Test(tiers, override_overlap) {
  two_sockets_with_cxl();
  cr_assert_eq(discover("0-1", "1-3"), TS_TOPO_ERROR);
  assert_why_has("overlaps");
  assert_why_has("tier placement off");
  cr_assert_eq(topo.ntiers, 0);
}

Test(tiers, override_malformed) {
  two_sockets_with_cxl();
  cr_assert_eq(discover("0-x", NULL), TS_TOPO_ERROR);
  cr_assert_str_eq(topo.why, "TIERSHIM_FAST_NODES=0-x: not a node list; tier placement off");
  cr_assert_eq(discover(NULL, "1,,2"), TS_TOPO_ERROR);
  assert_why_has("TIERSHIM_SLOW_NODES=1,,2: not a node list");
}

Test(tiers, override_memoryless_node) {
  lists("0-1", "0-1,4");
  node(0, 8 * GIB, "10 20 20");
  node(1, 8 * GIB, "20 10 20");
  node(4, 0, "20 20 10");
  cr_assert_eq(discover("4", NULL), TS_TOPO_ERROR);
  assert_why_has("TIERSHIM_FAST_NODES=4: no memory on node 4");
  cr_assert_eq(discover("0", "7"), TS_TOPO_ERROR);
  assert_why_has("no memory on node 7");
  cr_assert_eq(topo.node[4].distance[4], 10, "sparse ids: the third entry is node 4's");
}

Test(tiers, online_list_maps_distance_rows) {
  /* Sparse ids from the `online` list: the second entry is node 2's. */
  lists("0,2", "0");
  put("devices/system/node/online", "0,2\n");
  node(0, 8 * GIB, "10 20");
  node(2, 16 * GIB, "20 10");
  tier(4, "0");
  tier(22, "2");
  cr_assert_eq(discover(NULL, NULL), TS_TOPO_TIERED, "%s", topo.why);
  cr_assert_eq(topo.node[0].distance[2], 20);
  cr_assert_eq(topo.node[0].distance[1], 0);
  cr_assert_eq(topo.max_node, 2);
  cr_assert_eq(topo.slow_nodes, 0x4);
}

Test(tiers, override_leaves_nothing) {
  two_sockets_with_cxl();
  cr_assert_eq(discover("0-3", NULL), TS_TOPO_ERROR);
  assert_why_has("leaves no slow memory node");
}

/* ---- h. node lists ----------------------------------------------------- */

Test(tiers, nodelist_parse) {
  uint64_t m = 42;
  cr_assert_eq(ts_nodelist_parse("", &m), 0);
  cr_assert_eq(m, 0);
  cr_assert_eq(ts_nodelist_parse("\n", &m), 0);
  cr_assert_eq(m, 0);
  cr_assert_eq(ts_nodelist_parse("0", &m), 0);
  cr_assert_eq(m, 0x1);
  cr_assert_eq(ts_nodelist_parse("0-3,8", &m), 0);
  cr_assert_eq(m, 0x10f);
  cr_assert_eq(ts_nodelist_parse("0-3,8\n", &m), 0, "sysfs files end with a newline");
  cr_assert_eq(m, 0x10f);
  cr_assert_eq(ts_nodelist_parse("63", &m), 0);
  cr_assert_eq(m, 1ull << 63);
  m = 42;
  const char *bad[] = {"3-1", "64", "1,,2", ",1", "1,", "1-", "-1", "a", "1 2", "1\n\n", "0-64", "99999999999999999999"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    cr_assert_eq(ts_nodelist_parse(bad[i], &m), -1, "'%s'", bad[i]);
    cr_assert_eq(m, 42, "untouched on error");
  }
  cr_assert_eq(ts_nodelist_parse(NULL, &m), -1);
}

Test(tiers, nodelist_format) {
  char buf[64];
  cr_assert_eq(ts_nodelist_format(0, buf, sizeof buf), 0);
  cr_assert_str_eq(buf, "");
  cr_assert_eq(ts_nodelist_format(0x13, buf, sizeof buf), 5);
  cr_assert_str_eq(buf, "0-1,4");
  ts_nodelist_format(0x10f, buf, sizeof buf);
  cr_assert_str_eq(buf, "0-3,8");
  ts_nodelist_format(~0ull, buf, sizeof buf);
  cr_assert_str_eq(buf, "0-63");
  ts_nodelist_format(0x5ull | 1ull << 63, buf, sizeof buf);
  cr_assert_str_eq(buf, "0,2,63");
  /* Truncation: the full length comes back, the text is cut and terminated. */
  cr_assert_eq(ts_nodelist_format(0x13, buf, 4), 5);
  cr_assert_str_eq(buf, "0-1");
  cr_assert_eq(ts_nodelist_format(0x13, NULL, 0), 5);
}

Test(tiers, nodelist_round_trip) {
  const uint64_t masks[] = {0, 1, 0x3, 0x13, 0xaaaaaaaaaaaaaaaaull, 0xf0f0ull, ~0ull, 1ull << 63};
  for (size_t i = 0; i < sizeof masks / sizeof masks[0]; i++) {
    char buf[256];
    uint64_t back = 0;
    cr_assert_lt(ts_nodelist_format(masks[i], buf, sizeof buf), sizeof buf);
    cr_assert_eq(ts_nodelist_parse(buf, &back), 0, "'%s'", buf);
    cr_assert_eq(back, masks[i], "'%s'", buf);
  }
}

/* ---- i. weights and HMAT figures --------------------------------------- */

Test(tiers, weights_and_hmat_read) {
  lists("0-1", "0");
  node(0, 8 * GIB, "10 20");
  node(1, 16 * GIB, "20 10");
  tier(4, "0");
  tier(22, "1");
  hmat(0, 120000, 110000, 90, 95);
  put("kernel/mm/mempolicy/weighted_interleave/node0", "3\n");
  put("kernel/mm/mempolicy/weighted_interleave/node1", "1\n");
  cr_assert_eq(discover(NULL, NULL), TS_TOPO_TIERED, "%s", topo.why);
  cr_assert(topo.weighted_interleave);
  cr_assert_eq(topo.node[0].wi_weight, 3);
  cr_assert_eq(topo.node[1].wi_weight, 1);
  cr_assert_eq(topo.node[0].read_bw, 120000);
  cr_assert_eq(topo.node[0].write_bw, 110000);
  cr_assert_eq(topo.node[0].read_lat, 90);
  cr_assert_eq(topo.node[0].write_lat, 95);
  cr_assert_eq(topo.node[1].read_lat, 0, "no access0: unknown");
}

Test(tiers, no_weighted_interleave) {
  lists("0-1", "0");
  node(0, 8 * GIB, "10 20");
  node(1, 16 * GIB, "20 10");
  cr_assert_eq(discover(NULL, NULL), TS_TOPO_TIERED, "%s", topo.why);
  cr_assert_not(topo.weighted_interleave);
  cr_assert_eq(topo.node[0].wi_weight, 0);
}

Test(tiers, bad_weight_is_malformed) {
  lists("0-1", "0");
  node(0, 8 * GIB, "10 20");
  node(1, 16 * GIB, "20 10");
  put("kernel/mm/mempolicy/weighted_interleave/node1", "300\n");
  cr_assert_eq(discover(NULL, NULL), TS_TOPO_ERROR);
  assert_why_has("weighted_interleave/node1: '300'");
}
