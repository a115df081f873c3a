/* libFuzzer target: tier discovery (policy/tiers.c) over a fake sysfs tree.
 * A two-tier tree (node 0 with CPUs, node 1 without) is built once under
 * /tmp; each input's first byte picks a file of it, the rest becomes that
 * file's content. Whatever the files say, discovery must not crash and its
 * answer must be coherent: a tiered result has disjoint, non-empty fast and
 * slow sides made of memory nodes, and `why` is a terminated string. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "policy/tiers.h"

static char root[64];
static const char *const files[] = {
    "devices/system/node/has_memory", "devices/system/node/has_cpu", "devices/system/node/online",
    "devices/system/node/node0/meminfo", "devices/system/node/node1/meminfo",
    "devices/system/node/node0/distance", "devices/system/node/node1/distance",
    "devices/system/node/node1/access0/initiators/read_latency",
    "devices/system/node/node1/access0/initiators/read_bandwidth",
    "devices/virtual/memory_tiering/memory_tier4/nodelist",
    "devices/virtual/memory_tiering/memory_tier22/nodelist",
    "kernel/mm/mempolicy/weighted_interleave/node1"};
static const char *const seeds[] = {"0-1\n", "0\n", "0-1\n",
                                    "Node 0 MemTotal: 8388608 kB\nNode 0 MemFree: 4000000 kB\n",
                                    "Node 1 MemTotal: 16777216 kB\nNode 1 MemFree: 9000000 kB\n",
                                    "10 20\n", "20 10\n", "300\n", "20000\n", "0\n", "1\n", "2\n"};
#define NFILES (sizeof files / sizeof files[0])

static void put(const char *rel, const char *text, size_t len) {
  char path[256];
  snprintf(path, sizeof path, "%s/%s", root, rel);
  for (char *p = path + strlen(root) + 1; (p = strchr(p, '/')) != NULL; p++) {
    *p = '\0';
    mkdir(path, 0755);
    *p = '/';
  }
  FILE *f = fopen(path, "w");
  if (f) {
    fwrite(text, 1, len, f);
    fclose(f);
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (root[0] == '\0') {
    snprintf(root, sizeof root, "/tmp/ts-fuzz-tiers.%d", (int)getpid());
    mkdir(root, 0755);
  }
  for (size_t i = 0; i < NFILES; i++) put(files[i], seeds[i], strlen(seeds[i]));
  if (size > 0) put(files[data[0] % NFILES], (const char *)data + 1, size - 1);
  static ts_topo_t t;
  ts_topo_status_t st = ts_topo_discover(root, "", "", &t);
  if (st != t.status || (int)st < 0 || st > TS_TOPO_ERROR) abort();
  if (!memchr(t.why, 0, sizeof t.why)) abort();
  if (st == TS_TOPO_TIERED) {
    if (!t.fast_nodes || !t.slow_nodes || (t.fast_nodes & t.slow_nodes)) abort();
    if (((t.fast_nodes | t.slow_nodes) & ~t.memory_nodes) != 0) abort();
    if (t.ntiers < 2 || t.ntiers > TS_TIER_MAX_TIERS) abort();
  }
  return 0;
}
