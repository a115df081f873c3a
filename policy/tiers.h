/* Memory-tier discovery: which NUMA nodes are fast (DRAM near the CPUs)
 * and which are slow (CXL, PMEM as RAM, ...), read from sysfs.
 *
 * Sources, in order of authority:
 *  1. TIERSHIM_FAST_NODES / TIERSHIM_SLOW_NODES (node lists "0-1,4"): the
 *     user's word. One alone: the other side is every other memory node.
 *  2. The kernel's tiers: devices/virtual/memory_tiering/memory_tierN/nodelist
 *     (lower N is faster). A reported tier that mixes kinds (DRAM and CXL in
 *     one tier: kernels before 6.x put CXL that lacks HMAT/CDAT data with
 *     DRAM) is split: by CPU presence, else by HMAT access0 latency or
 *     bandwidth, else by distance from the nearest CPU node.
 *  3. No memory_tiering directory: the same split rule over all memory nodes.
 * The fast tier is the first tier; every other memory node is slow.
 *
 * Discovery is a pure function of a sysfs root ("/sys", or a fake tree in
 * the tests): no allocation, no stdio, no messages (the caller prints
 * topo->why), so the shim can run it during initialisation. */
#ifndef TS_TIERS_H
#define TS_TIERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/nodes.h"

#define TS_TIER_MAX_NODES TS_NODES_MAX
#define TS_TIER_MAX_TIERS 8
#define TS_TIER_WHY 200

typedef enum {
  TS_TOPO_TIERED = 0, /* two tiers or more: tier placement can act */
  TS_TOPO_SINGLE = 1, /* one node or one tier: nothing to do, no warning */
  TS_TOPO_ERROR = 2,  /* malformed or missing files, bad override: warn once */
} ts_topo_status_t;

typedef struct ts_node_info_s {
  bool has_memory, has_cpu;
  int tier;                  /* index into ts_topo_t.tier, -1 if none */
  int kernel_tier;           /* N of memory_tierN, -1 if not reported */
  uint64_t total_bytes, free_bytes;           /* nodeN/meminfo */
  uint32_t read_bw, write_bw;                 /* MB/s, access0 initiators; 0 unknown */
  uint32_t read_lat, write_lat;               /* ns; 0 unknown */
  uint32_t wi_weight;        /* mempolicy/weighted_interleave/nodeN; 0 unknown */
  uint8_t distance[TS_TIER_MAX_NODES];        /* nodeN/distance; 0 unknown */
} ts_node_info_t;

typedef struct ts_tier_s {
  uint64_t nodes;   /* memory nodes of this tier */
  int kernel_id;    /* memory_tierN it came from, -1 if none */
} ts_tier_t;

typedef struct ts_topo_s {
  ts_topo_status_t status;
  /* One line for TIERSHIM_VERBOSE (and the warning when status is ERROR):
   * why tiers are off, or how they were decided ("kernel tiers",
   * "memory_tier4 mixes CPU and CPU-less nodes: split by CPU presence",
   * "TIERSHIM_FAST_NODES", ...). */
  char why[TS_TIER_WHY];
  const char *source;   /* "override", "memory_tiering", "cpu", "hmat", "distance", "none" */
  bool split;           /* a reported tier was split */
  int max_node;         /* highest node id seen, -1 if none */
  uint64_t memory_nodes, cpu_nodes;
  ts_node_info_t node[TS_TIER_MAX_NODES];
  int ntiers;
  ts_tier_t tier[TS_TIER_MAX_TIERS];          /* fastest first */
  uint64_t fast_nodes, slow_nodes;            /* tier[0], and the rest */
  bool weighted_interleave;  /* kernel/mm/mempolicy/weighted_interleave exists (6.9+) */
} ts_topo_t;

/* Reads the topology under root (e.g. "/sys"). fast/slow: the override
 * strings, NULL or "" when unset. Always fills topo (status, why). */
ts_topo_status_t ts_topo_discover(const char *root, const char *fast, const char *slow, ts_topo_t *topo);

/* Whether has_memory under root names at most one node, with no override
 * given: then topo is filled as SINGLE from that one read. Most machines
 * have one memory node, and the full discovery reads some twenty files. */
bool ts_topo_one_node(const char *root, ts_topo_t *topo);

/* A field of nodeN/meminfo under root, in bytes (its kB value); key with
 * its leading space and colon (" MemFree:"), so that " PageTables:" is not
 * found inside "SecPageTables:". 0 if absent. */
uint64_t ts_node_meminfo(const char *root, int node, const char *key);


#endif
