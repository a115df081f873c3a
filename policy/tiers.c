/* Memory-tier discovery from sysfs; see tiers.h for the rules.
 *
 * This runs inside the shim's initialisation: no malloc, no stdio, no errno.
 * Files are read with ts_prim_read_file into stack buffers, and directories
 * are found by probing names with open(O_DIRECTORY), because opendir
 * allocates. The first problem found decides the ERROR message (later ones
 * are usually its consequences), but every node's figures are still filled
 * in, since `tiershim topo` prints them whatever the status. */
#define _GNU_SOURCE
#include "policy/tiers.h"

#include <fcntl.h>
#include <string.h>

#include "base/buf.h"
#include "base/nodes.h"
#include "base/prim.h"

#define TIERS_PATH 512       /* a root of TIERS_ROOT_MAX plus the longest suffix */
#define TIERS_ROOT_MAX 384
#define TIERS_TEXT 1024      /* node lists and distance rows (64 nodes: ~256 bytes) */
#define TIERS_MEMINFO 1024   /* MemTotal and MemFree are its first lines: no need for all ~1.3 KiB */
#define TIERS_KERNEL_IDS 256 /* memory_tierN ids are sparse (4, 22, ...): probe 0-255 */

#define TIERS_NODE_DIR "/devices/system/node"
#define TIERS_TIERING_DIR "/devices/virtual/memory_tiering"
#define TIERS_WI_DIR "/kernel/mm/mempolicy/weighted_interleave"

/* A set of memory nodes on its way to becoming a tier. */
typedef struct tiers_group_s {
  uint64_t nodes;
  int kernel_id;
} tiers_group_t;

/* How a mixed group was told apart. */
typedef enum { TIERS_NO_SPLIT, TIERS_BY_CPU, TIERS_BY_LATENCY, TIERS_BY_BANDWIDTH, TIERS_BY_DISTANCE } tiers_rule_t;

/* "node 2" or "nodes 0-1", for messages. */
static void tiers_put_nodes(ts_buf_t *b, uint64_t mask) {
  ts_buf_puts(b, (mask & (mask - 1)) ? "nodes " : "node ");
  ts_nodes_put(b, mask);
}

/* ---------------------------------------------------------------------------
   Paths, files and failures
--------------------------------------------------------------------------- */

/* root + pre + n + post (n < 0: no number). The root's length is checked
 * once up front, so every path fits. */
static const char *tiers_path(char *out, const char *root, const char *pre, int n, const char *post) {
  ts_buf_t b;
  ts_buf_init(&b, out, TIERS_PATH);
  ts_buf_puts(&b, root);
  ts_buf_puts(&b, pre);
  if (n >= 0) ts_buf_u64(&b, (uint64_t)n);
  ts_buf_puts(&b, post);
  return out;
}

static bool tiers_is_dir(const char *path) {
  int fd = ts_prim_open(path, O_RDONLY | O_DIRECTORY, 0);
  if (fd < 0) return false;
  ts_prim_close(fd);
  return true;
}

/* Quotes the first line of a file's text, shortened: enough to recognise it. */
static void tiers_put_quoted(ts_buf_t *b, const char *text) {
  size_t n = 0;
  while (text[n] != '\0' && text[n] != '\n' && n < 40) n++;
  ts_buf_puts(b, ": '");
  ts_buf_putn(b, text, n);
  if (text[n] != '\0' && text[n] != '\n') ts_buf_puts(b, "...");
  ts_buf_putc(b, '\'');
}

/* Records the first problem only: "<what> <path>[: '<text>']". */
static void tiers_fail(ts_topo_t *t, const char *what, const char *path, const char *text) {
  if (t->status == TS_TOPO_ERROR) return;
  t->status = TS_TOPO_ERROR;
  ts_buf_t b;
  ts_buf_init(&b, t->why, sizeof t->why);
  ts_buf_puts(&b, what);
  ts_buf_putc(&b, ' ');
  ts_buf_puts(&b, path);
  if (text != NULL) tiers_put_quoted(&b, text);
}

/* A node list file; a required one that cannot be read is an error. */
static uint64_t tiers_read_list(ts_topo_t *t, const char *path, bool required) {
  char text[TIERS_TEXT];
  if (ts_prim_read_file(path, text, sizeof text) < 0) {
    if (required) tiers_fail(t, "cannot read", path, NULL);
    return 0;
  }
  uint64_t mask = 0;
  int r = ts_nodes_parse(text, &mask);
  if (r == -2) tiers_fail(t, "node ids above 63 (unsupported) in", path, text);
  else if (r != 0) tiers_fail(t, "malformed", path, text);
  return r == 0 ? mask : 0;
}

/* An optional one-number file (HMAT figures, weights): 0 when absent. */
static uint32_t tiers_read_u32(ts_topo_t *t, const char *path, uint64_t max) {
  char text[64];
  if (ts_prim_read_file(path, text, sizeof text) < 0) return 0;
  const char *p = text;
  uint64_t v;
  if (!ts_nodes_number(&p, &v) || !ts_nodes_at_end(p) || v > max) {
    tiers_fail(t, "malformed", path, text);
    return 0;
  }
  return (uint32_t)v;
}

/* ---------------------------------------------------------------------------
   Per-node figures
--------------------------------------------------------------------------- */

/* "Node 0 MemTotal:        2097152 kB": the number after key, in kB. */
static bool tiers_meminfo_kb(const char *text, const char *key, uint64_t *kb) {
  const char *p = strstr(text, key);
  if (p == NULL) return false;
  p += strlen(key);
  while (*p == ' ') p++;
  return ts_nodes_number(&p, kb);
}

static void tiers_read_meminfo(ts_topo_t *t, const char *root, int n) {
  char path[TIERS_PATH], text[TIERS_MEMINFO];
  ts_node_info_t *ni = &t->node[n];
  tiers_path(path, root, TIERS_NODE_DIR "/node", n, "/meminfo");
  if (ts_prim_read_file(path, text, sizeof text) < 0) {
    if (ni->has_memory) tiers_fail(t, "cannot read", path, NULL);
    return;
  }
  uint64_t kb;
  if (tiers_meminfo_kb(text, "MemTotal:", &kb)) ni->total_bytes = kb << 10;
  else if (ni->has_memory) tiers_fail(t, "no MemTotal in", path, NULL);
  if (tiers_meminfo_kb(text, "MemFree:", &kb)) ni->free_bytes = kb << 10;
}

/* "Node 0 PageTables: ..." of nodeN/meminfo, in bytes; 0 if absent. */
uint64_t ts_node_meminfo(const char *root, int node, const char *key) {
  char path[TIERS_PATH], text[2048]; /* PageTables sits past the first KiB */
  uint64_t kb;
  tiers_path(path, root, TIERS_NODE_DIR "/node", node, "/meminfo");
  if (ts_prim_read_file(path, text, sizeof text) <= 0 || !tiers_meminfo_kb(text, key, &kb)) return 0;
  return kb << 10;
}

bool ts_topo_one_node(const char *root, ts_topo_t *t) {
  char path[TIERS_PATH], text[TIERS_TEXT];
  uint64_t mask = 0;
  tiers_path(path, root, TIERS_NODE_DIR "/has_memory", -1, "");
  if (ts_prim_read_file(path, text, sizeof text) <= 0 || ts_nodes_parse(text, &mask) != 0 ||
      __builtin_popcountll(mask) > 1)
    return false;
  memset(t, 0, sizeof *t);
  t->status = TS_TOPO_SINGLE;
  t->source = "none";
  t->max_node = -1;
  t->memory_nodes = mask;
  ts_buf_t b;
  ts_buf_init(&b, t->why, sizeof t->why);
  ts_buf_puts(&b, "one memory node: ");
  char list[32];
  ts_nodelist_format(mask, list, sizeof list);
  ts_buf_puts(&b, mask ? list : "none");
  return true;
}

/* The row holds one distance per online node, in node order; online nodes
 * are the ones with a directory (`exist`), so entry i belongs to the i-th
 * of them, not to node i. Absent is fine; junk is an error. */
static void tiers_read_distance(ts_topo_t *t, const char *root, int n, uint64_t exist) {
  char path[TIERS_PATH], text[TIERS_TEXT];
  tiers_path(path, root, TIERS_NODE_DIR "/node", n, "/distance");
  if (ts_prim_read_file(path, text, sizeof text) < 0) return;
  uint8_t *row = t->node[n].distance;
  const char *p = text;
  bool ok = true;
  for (int j = 0; j < TS_TIER_MAX_NODES && ok; j++) {
    if (!(exist >> j & 1)) continue;
    uint64_t d;
    if (p != text && *p++ != ' ') ok = false;
    else if (!ts_nodes_number(&p, &d) || d == 0 || d > 255) ok = false;
    else row[j] = (uint8_t)d;
  }
  if (ok && ts_nodes_at_end(p)) return;
  memset(row, 0, TS_TIER_MAX_NODES);
  tiers_fail(t, "malformed", path, text);
}

/* HMAT access class 0: as seen from the node's nearest initiators. */
static void tiers_read_hmat(ts_topo_t *t, const char *root, int n) {
  char path[TIERS_PATH];
  ts_node_info_t *ni = &t->node[n];
  const char *dir = TIERS_NODE_DIR "/node";
  ni->read_bw = tiers_read_u32(t, tiers_path(path, root, dir, n, "/access0/initiators/read_bandwidth"), UINT32_MAX);
  ni->write_bw = tiers_read_u32(t, tiers_path(path, root, dir, n, "/access0/initiators/write_bandwidth"), UINT32_MAX);
  ni->read_lat = tiers_read_u32(t, tiers_path(path, root, dir, n, "/access0/initiators/read_latency"), UINT32_MAX);
  ni->write_lat = tiers_read_u32(t, tiers_path(path, root, dir, n, "/access0/initiators/write_latency"), UINT32_MAX);
}

/* Node masks, then every node directory's files. Not inlined: its buffers
 * and tiers_build's arrays need not share one stack frame. */
static __attribute__((noinline)) void tiers_read_nodes(ts_topo_t *t, const char *root) {
  char path[TIERS_PATH];
  t->memory_nodes = tiers_read_list(t, tiers_path(path, root, TIERS_NODE_DIR "/has_memory", -1, ""), true);
  t->cpu_nodes = tiers_read_list(t, tiers_path(path, root, TIERS_NODE_DIR "/has_cpu", -1, ""), true);
  /* Node directories are the online nodes; probing all 64 names is the
   * fallback for trees without the `online` list (it costs ~0.2 ms). */
  uint64_t exist = tiers_read_list(t, tiers_path(path, root, TIERS_NODE_DIR "/online", -1, ""), false);
  bool probe = exist == 0;
  for (int n = 0; n < TS_TIER_MAX_NODES && probe; n++)
    if (tiers_is_dir(tiers_path(path, root, TIERS_NODE_DIR "/node", n, ""))) exist |= 1ull << n;
  for (int n = 0; n < TS_TIER_MAX_NODES; n++) {
    ts_node_info_t *ni = &t->node[n];
    ni->has_memory = t->memory_nodes >> n & 1;
    ni->has_cpu = t->cpu_nodes >> n & 1;
    if (!(exist >> n & 1) && !ni->has_memory) continue;
    t->max_node = n;
    tiers_read_meminfo(t, root, n); /* a memory node without a directory fails here */
    tiers_read_distance(t, root, n, exist);
    tiers_read_hmat(t, root, n);
    if (t->weighted_interleave)
      ni->wi_weight = tiers_read_u32(t, tiers_path(path, root, TIERS_WI_DIR "/node", n, ""), 255);
  }
}

/* ---------------------------------------------------------------------------
   The kernel's tiers
--------------------------------------------------------------------------- */

/* memory_tierN/nodelist for each N present, lowest (fastest) first, as
 * groups of memory nodes; marks each node's kernel_tier. Returns the number
 * of groups, or -1 without a memory_tiering directory (or without tiers). */
static int tiers_read_kernel(ts_topo_t *t, const char *root, tiers_group_t *g) {
  char path[TIERS_PATH];
  if (!tiers_is_dir(tiers_path(path, root, TIERS_TIERING_DIR, -1, ""))) return -1;
  int k = 0;
  uint64_t seen = 0;
  /* Each memory node is in one tier: once all are seen, stop probing. */
  for (int id = 0; id < TIERS_KERNEL_IDS && seen != t->memory_nodes; id++) {
    if (!tiers_is_dir(tiers_path(path, root, TIERS_TIERING_DIR "/memory_tier", id, ""))) continue;
    uint64_t nodes = tiers_read_list(t, tiers_path(path, root, TIERS_TIERING_DIR "/memory_tier", id, "/nodelist"), true);
    for (int n = 0; n < TS_TIER_MAX_NODES; n++)
      if ((nodes >> n & 1) && t->node[n].kernel_tier < 0) t->node[n].kernel_tier = id;
    nodes &= t->memory_nodes & ~seen; /* tiers without memory are dropped */
    if (nodes == 0) continue;
    seen |= nodes;
    g[k++] = (tiers_group_t){nodes, id};
  }
  if (k == 0) return -1;
  /* Memory the kernel put in no tier (not expected): slowest, on its own. */
  uint64_t rest = t->memory_nodes & ~seen;
  if (rest != 0) g[k++] = (tiers_group_t){rest, -1};
  return k;
}

/* ---------------------------------------------------------------------------
   Splitting a group that mixes kinds of memory
--------------------------------------------------------------------------- */

/* Distance from n to the nearest node with CPUs; 0 if unknown. */
static uint32_t tiers_cpu_distance(const ts_topo_t *t, int n) {
  uint32_t best = 0;
  for (int c = 0; c < TS_TIER_MAX_NODES; c++) {
    uint32_t d = t->node[n].distance[c];
    if ((t->cpu_nodes >> c & 1) && d != 0 && (best == 0 || d < best)) best = d;
  }
  return best;
}

static uint32_t tiers_value(const ts_topo_t *t, tiers_rule_t rule, int n) {
  switch (rule) {
  case TIERS_BY_LATENCY: return t->node[n].read_lat;
  case TIERS_BY_BANDWIDTH: return t->node[n].read_bw;
  case TIERS_BY_DISTANCE: return tiers_cpu_distance(t, n);
  default: return 0;
  }
}

/* Is the ratio between neighbours a, b larger than between c, d? Either
 * order (latency rises, bandwidth falls); cross-multiplied, no division. */
static bool tiers_gap_wider(uint64_t a, uint64_t b, uint64_t c, uint64_t d) {
  uint64_t hi1 = a > b ? a : b, lo1 = a > b ? b : a, hi2 = c > d ? c : d, lo2 = c > d ? d : c;
  return hi1 * lo2 > hi2 * lo1;
}

/* Splits nodes at the largest ratio between neighbouring values, faster
 * part first, when the slowest is >= 1.5x the fastest and every node has a
 * figure (a partial picture could put unknown memory in the fast tier). */
static bool tiers_split_at_gap(const ts_topo_t *t, tiers_rule_t rule, uint64_t nodes, uint64_t *first) {
  bool low_first = rule != TIERS_BY_BANDWIDTH; /* latency, distance: lower is faster */
  int id[TS_TIER_MAX_NODES], k = 0;
  uint32_t v[TS_TIER_MAX_NODES];
  for (int n = 0; n < TS_TIER_MAX_NODES; n++) {
    if (!(nodes >> n & 1)) continue;
    uint32_t x = tiers_value(t, rule, n);
    if (x == 0) return false;
    int i = k++; /* insertion sort, fastest first */
    for (; i > 0 && (low_first ? v[i - 1] > x : v[i - 1] < x); i--) { v[i] = v[i - 1]; id[i] = id[i - 1]; }
    v[i] = x;
    id[i] = n;
  }
  if (k < 2) return false;
  uint64_t lo = low_first ? v[0] : v[k - 1], hi = low_first ? v[k - 1] : v[0];
  if (hi * 2 < lo * 3) return false;
  int best = 0; /* the widest gap lies after position best */
  for (int i = 1; i + 1 < k; i++)
    if (tiers_gap_wider(v[i], v[i + 1], v[best], v[best + 1])) best = i;
  *first = 0;
  for (int i = 0; i <= best; i++) *first |= 1ull << id[i];
  return true;
}

/* The first rule that separates the group, and its faster part. */
static tiers_rule_t tiers_split(const ts_topo_t *t, uint64_t nodes, uint64_t *first) {
  uint64_t cpu = nodes & t->cpu_nodes;
  if (cpu != 0 && cpu != nodes) { *first = cpu; return TIERS_BY_CPU; }
  static const tiers_rule_t rules[] = {TIERS_BY_LATENCY, TIERS_BY_BANDWIDTH, TIERS_BY_DISTANCE};
  for (size_t i = 0; i < sizeof rules / sizeof rules[0]; i++)
    if (tiers_split_at_gap(t, rules[i], nodes, first)) return rules[i];
  return TIERS_NO_SPLIT;
}

static const char *tiers_rule_source(tiers_rule_t rule) {
  switch (rule) {
  case TIERS_BY_CPU: return "cpu";
  case TIERS_BY_LATENCY:
  case TIERS_BY_BANDWIDTH: return "hmat";
  case TIERS_BY_DISTANCE: return "distance";
  default: return "memory_tiering";
  }
}

/* "memory_tier4 holds nodes 0-1 with CPUs and CPU-less node 2: split by CPU
 * presence", or the figures that decided. */
static void tiers_explain_split(ts_topo_t *t, tiers_group_t g, tiers_rule_t rule, uint64_t first) {
  ts_buf_t b;
  ts_buf_init(&b, t->why, sizeof t->why);
  if (g.kernel_id >= 0) {
    ts_buf_puts(&b, "memory_tier");
    ts_buf_u64(&b, (uint64_t)g.kernel_id);
    ts_buf_puts(&b, " holds ");
  } else {
    ts_buf_puts(&b, "no memory_tiering in sysfs; ");
  }
  if (rule == TIERS_BY_CPU) {
    tiers_put_nodes(&b, first);
    ts_buf_puts(&b, " with CPUs and CPU-less ");
    tiers_put_nodes(&b, g.nodes & ~first);
    ts_buf_puts(&b, ": split by CPU presence");
    return;
  }
  uint32_t lo = UINT32_MAX, hi = 0;
  for (int n = 0; n < TS_TIER_MAX_NODES; n++) {
    if (!(g.nodes >> n & 1)) continue;
    uint32_t v = tiers_value(t, rule, n);
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  static const char *const what[] = {"", "", " with HMAT read latency ", " with HMAT read bandwidth ",
                                     " at distance "};
  static const char *const unit[] = {"", "", " ns", " MB/s", " from the nearest CPU node"};
  static const char *const by[] = {"", "", "latency", "bandwidth", "distance"};
  tiers_put_nodes(&b, g.nodes);
  ts_buf_puts(&b, what[rule]);
  ts_buf_u64(&b, lo);
  ts_buf_putc(&b, '-');
  ts_buf_u64(&b, hi);
  ts_buf_puts(&b, unit[rule]);
  ts_buf_puts(&b, ": split by ");
  ts_buf_puts(&b, by[rule]);
  ts_buf_puts(&b, " into ");
  ts_nodes_put(&b, first);
  ts_buf_puts(&b, " and ");
  ts_nodes_put(&b, g.nodes & ~first);
}

/* ---------------------------------------------------------------------------
   Results
--------------------------------------------------------------------------- */

/* Groups become tiers, fastest first; past TS_TIER_MAX_TIERS the slowest
 * are merged into the last tier (all of them are "slow" anyway). */
static void tiers_finish(ts_topo_t *t, const tiers_group_t *g, int n) {
  t->ntiers = 0;
  for (int i = 0; i < n; i++) {
    if (t->ntiers < TS_TIER_MAX_TIERS) t->tier[t->ntiers++] = (ts_tier_t){g[i].nodes, g[i].kernel_id};
    else t->tier[TS_TIER_MAX_TIERS - 1].nodes |= g[i].nodes;
  }
  t->fast_nodes = t->ntiers > 0 ? t->tier[0].nodes : 0;
  t->slow_nodes = 0;
  for (int i = 1; i < t->ntiers; i++) t->slow_nodes |= t->tier[i].nodes;
  for (int i = 0; i < t->ntiers; i++)
    for (int nd = 0; nd < TS_TIER_MAX_NODES; nd++)
      if (t->tier[i].nodes >> nd & 1) t->node[nd].tier = i;
}

/* One tier, or nothing to place on: tier placement has nothing to do. */
static void tiers_single(ts_topo_t *t, const char *source, const char *why, uint64_t nodes, int kernel_id) {
  t->status = TS_TOPO_SINGLE;
  t->source = source;
  ts_buf_t b;
  ts_buf_init(&b, t->why, sizeof t->why);
  ts_buf_puts(&b, why);
  if (nodes != 0) {
    ts_buf_puts(&b, ": ");
    tiers_put_nodes(&b, nodes);
    if (kernel_id >= 0) { ts_buf_puts(&b, " (memory_tier"); ts_buf_u64(&b, (uint64_t)kernel_id); ts_buf_putc(&b, ')'); }
    tiers_group_t g = {nodes, kernel_id};
    tiers_finish(t, &g, 1);
  }
}

/* Splits each group at most once, then orders the result into tiers. */
static __attribute__((noinline)) void tiers_build(ts_topo_t *t, tiers_group_t *in, int nin) {
  bool kernel = nin > 0;
  if (!kernel) { in[0] = (tiers_group_t){t->memory_nodes, -1}; nin = 1; }
  tiers_group_t out[TS_TIER_MAX_NODES]; /* groups are disjoint and non-empty: <= 64 */
  int nout = 0;
  tiers_rule_t decided = TIERS_NO_SPLIT;
  for (int i = 0; i < nin; i++) {
    uint64_t first = 0;
    tiers_rule_t rule = tiers_split(t, in[i].nodes, &first);
    if (rule == TIERS_NO_SPLIT) { out[nout++] = in[i]; continue; }
    if (decided == TIERS_NO_SPLIT) { decided = rule; tiers_explain_split(t, in[i], rule, first); }
    out[nout++] = (tiers_group_t){first, in[i].kernel_id};
    out[nout++] = (tiers_group_t){in[i].nodes & ~first, in[i].kernel_id};
  }
  if (nout == 1) {
    if (kernel) tiers_single(t, "memory_tiering", "one tier", out[0].nodes, out[0].kernel_id);
    else tiers_single(t, "none", "no memory_tiering, and CPUs, HMAT and distance do not separate", out[0].nodes, -1);
    return;
  }
  t->status = TS_TOPO_TIERED;
  t->source = tiers_rule_source(decided);
  t->split = kernel && decided != TIERS_NO_SPLIT;
  tiers_finish(t, out, nout);
  if (decided != TIERS_NO_SPLIT) return;
  ts_buf_t b; /* "kernel tiers: memory_tier4 (0-1), memory_tier22 (2-3)" */
  ts_buf_init(&b, t->why, sizeof t->why);
  ts_buf_puts(&b, "kernel tiers: ");
  for (int i = 0; i < t->ntiers; i++) {
    if (i > 0) ts_buf_puts(&b, ", ");
    if (t->tier[i].kernel_id >= 0) { ts_buf_puts(&b, "memory_tier"); ts_buf_u64(&b, (uint64_t)t->tier[i].kernel_id); }
    else ts_buf_puts(&b, "untiered");
    ts_buf_puts(&b, " (");
    ts_nodes_put(&b, t->tier[i].nodes);
    ts_buf_putc(&b, ')');
  }
}

/* ---------------------------------------------------------------------------
   Overrides (TIERSHIM_FAST_NODES / TIERSHIM_SLOW_NODES)
--------------------------------------------------------------------------- */

static void tiers_override_fail(ts_topo_t *t, const char *name, const char *value, const char *problem, int node) {
  t->status = TS_TOPO_ERROR;
  ts_buf_t b;
  ts_buf_init(&b, t->why, sizeof t->why);
  ts_buf_puts(&b, name);
  ts_buf_putc(&b, '=');
  size_t n = strlen(value);
  ts_buf_putn(&b, value, n > 40 ? 40 : n);
  ts_buf_puts(&b, ": ");
  ts_buf_puts(&b, problem);
  if (node >= 0) { ts_buf_putc(&b, ' '); ts_buf_u64(&b, (uint64_t)node); }
  ts_buf_puts(&b, "; tier placement off");
}

/* One side: a well-formed, non-empty list of memory nodes. */
static bool tiers_override_side(ts_topo_t *t, const char *name, const char *value, uint64_t *mask) {
  uint64_t m;
  if (ts_nodelist_parse(value, &m) != 0) { tiers_override_fail(t, name, value, "not a node list", -1); return false; }
  if (m == 0) { tiers_override_fail(t, name, value, "no nodes", -1); return false; }
  uint64_t bad = m & ~t->memory_nodes;
  if (bad != 0) {
    tiers_override_fail(t, name, value, "no memory on node", __builtin_ctzll(bad));
    return false;
  }
  *mask = m;
  return true;
}

static void tiers_override(ts_topo_t *t, const char *fast, const char *slow) {
  static const char fast_name[] = "TIERSHIM_FAST_NODES", slow_name[] = "TIERSHIM_SLOW_NODES";
  bool has_fast = fast != NULL && fast[0] != '\0', has_slow = slow != NULL && slow[0] != '\0';
  uint64_t f = 0, s = 0;
  if (has_fast && !tiers_override_side(t, fast_name, fast, &f)) return;
  if (has_slow && !tiers_override_side(t, slow_name, slow, &s)) return;
  if (!has_slow) s = t->memory_nodes & ~f;
  if (!has_fast) f = t->memory_nodes & ~s;
  if (has_fast && has_slow && (f & s) != 0) {
    tiers_override_fail(t, fast_name, fast, "overlaps TIERSHIM_SLOW_NODES on node", __builtin_ctzll(f & s));
    return;
  }
  if (f == 0 || s == 0) {
    if (has_fast) tiers_override_fail(t, fast_name, fast, "leaves no slow memory node", -1);
    else tiers_override_fail(t, slow_name, slow, "leaves no fast memory node", -1);
    return;
  }
  t->status = TS_TOPO_TIERED;
  t->source = "override";
  tiers_group_t g[2] = {{f, -1}, {s, -1}};
  tiers_finish(t, g, 2);
  ts_buf_t b; /* "override: fast 0 (TIERSHIM_FAST_NODES), slow 1-3 (the other memory nodes)" */
  ts_buf_init(&b, t->why, sizeof t->why);
  ts_buf_puts(&b, "override: fast ");
  ts_nodes_put(&b, f);
  ts_buf_puts(&b, has_fast ? " (TIERSHIM_FAST_NODES), slow " : " (the other memory nodes), slow ");
  ts_nodes_put(&b, s);
  ts_buf_puts(&b, has_slow ? " (TIERSHIM_SLOW_NODES)" : " (the other memory nodes)");
}

/* ---------------------------------------------------------------------------
   Discovery
--------------------------------------------------------------------------- */

static void tiers_init(ts_topo_t *t) {
  memset(t, 0, sizeof *t);
  t->status = TS_TOPO_SINGLE;
  t->source = "none";
  t->max_node = -1;
  for (int n = 0; n < TS_TIER_MAX_NODES; n++) t->node[n].tier = t->node[n].kernel_tier = -1;
}

ts_topo_status_t ts_topo_discover(const char *root, const char *fast, const char *slow, ts_topo_t *t) {
  char path[TIERS_PATH];
  tiers_init(t);
  if (root == NULL || root[0] == '\0') root = "/sys";
  if (strlen(root) > TIERS_ROOT_MAX) {
    tiers_fail(t, "sysfs root too long", "(over 384 bytes)", NULL);
    return t->status;
  }
  t->weighted_interleave = tiers_is_dir(tiers_path(path, root, TIERS_WI_DIR, -1, ""));
  bool numa = tiers_is_dir(tiers_path(path, root, TIERS_NODE_DIR, -1, ""));
  tiers_group_t kernel[TS_TIER_MAX_NODES];
  int nkernel = -1;
  if (numa) {
    tiers_read_nodes(t, root);
    nkernel = tiers_read_kernel(t, root, kernel); /* also fills kernel_tier for `tiershim topo` */
  }
  if (t->status == TS_TOPO_ERROR) return t->status;
  bool override = (fast != NULL && fast[0] != '\0') || (slow != NULL && slow[0] != '\0');
  if (override) tiers_override(t, fast, slow);
  else if (!numa) tiers_single(t, "none", "no NUMA nodes in sysfs (CONFIG_NUMA off)", 0, -1);
  else if ((t->memory_nodes & (t->memory_nodes - 1)) == 0)
    tiers_single(t, "none", "one memory node", t->memory_nodes,
                 t->memory_nodes ? t->node[__builtin_ctzll(t->memory_nodes)].kernel_tier : -1);
  else tiers_build(t, kernel, nkernel);
  return t->status;
}
