/* tiershim topo: what tier discovery sees, in the manner of numactl -H.
 *
 *   tiershim topo [--sysfs ROOT] [--fast LIST] [--slow LIST] [--json]
 *
 * The tiers come from policy/tiers.c exactly as the shim computes them
 * (same root, same overrides), so this is the way to check a machine or a
 * TIERSHIM_FAST_NODES setting before a run. --sysfs points discovery (and
 * the THP files) at a copy of /sys; the feature probes always ask the
 * running kernel. The CLI is not the shim: stdio is fine here. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "policy/kfeatures.h"
#include "policy/tiers.h"

#define EXIT_USAGE 2

int ts_cli_topo(int argc, char **argv);

typedef struct topo_view_s {
  const char *root;
  ts_topo_t topo;
  char thp_enabled[32], thp_defrag[32]; /* the bracketed value, "" if unknown */
  ts_features_t feat;
} topo_view_t;

static const char *const status_names[] = {"tiered", "single", "error"};

/* The bracketed choice of a THP sysfs file ("always [madvise] never"). */
static void topo_thp(const char *root, const char *name, char *out, size_t cap) {
  char path[4096], text[256];
  out[0] = '\0';
  snprintf(path, sizeof path, "%s/kernel/mm/transparent_hugepage/%s", root, name);
  FILE *f = fopen(path, "r");
  if (f == NULL) return;
  size_t n = fread(text, 1, sizeof text - 1, f);
  fclose(f);
  text[n] = '\0';
  char *open = strchr(text, '['), *close = open ? strchr(open, ']') : NULL;
  if (open == NULL || close == NULL) return;
  snprintf(out, cap, "%.*s", (int)(close - open - 1), open + 1);
}

/* A node shown at all: memory, CPUs, or a directory (its own distance). */
static bool topo_node_exists(const ts_topo_t *t, int n) {
  const ts_node_info_t *ni = &t->node[n];
  return ni->has_memory || ni->has_cpu || ni->distance[n] != 0;
}

static const char *topo_list(uint64_t mask, char *buf, size_t cap) {
  ts_nodelist_format(mask, buf, cap);
  return buf[0] ? buf : "-";
}

/* A figure or "-" when the kernel does not say (0 = unknown). */
static const char *topo_num(uint64_t v, char *buf, size_t cap) {
  if (v == 0) return "-";
  snprintf(buf, cap, "%llu", (unsigned long long)v);
  return buf;
}

static void topo_print_text(const topo_view_t *v) {
  const ts_topo_t *t = &v->topo;
  char a[256], b[256], c[32], d[32], e[32], g[32], h[32];
  printf("sysfs: %s\n", v->root);
  printf("status: %s (source %s%s)\n", status_names[t->status], t->source, t->split ? ", split" : "");
  printf("why: %s\n", t->why);
  printf("fast nodes: %s   slow nodes: %s\n", topo_list(t->fast_nodes, a, sizeof a),
         topo_list(t->slow_nodes, b, sizeof b));
  printf("tiers: %d\n", t->ntiers);
  for (int i = 0; i < t->ntiers; i++) {
    char kid[32] = "-";
    if (t->tier[i].kernel_id >= 0) snprintf(kid, sizeof kid, "memory_tier%d", t->tier[i].kernel_id);
    printf("  tier %d  %-14s %-5s nodes %s\n", i, kid, i == 0 ? "fast" : "slow",
           topo_list(t->tier[i].nodes, a, sizeof a));
  }
  printf("nodes:\n  %4s %-6s %-4s %10s %10s %4s %-14s %9s %9s %8s %8s %5s\n", "node", "memory", "cpu",
         "total MiB", "free MiB", "tier", "kernel tier", "rd MB/s", "wr MB/s", "rd ns", "wr ns", "wi");
  for (int n = 0; n <= t->max_node; n++) {
    if (!topo_node_exists(t, n)) continue;
    const ts_node_info_t *ni = &t->node[n];
    char tier[16] = "-", kt[32] = "-";
    if (ni->tier >= 0) snprintf(tier, sizeof tier, "%d", ni->tier);
    if (ni->kernel_tier >= 0) snprintf(kt, sizeof kt, "memory_tier%d", ni->kernel_tier);
    printf("  %4d %-6s %-4s %10llu %10llu %4s %-14s %9s %9s %8s %8s %5s\n", n, ni->has_memory ? "yes" : "no",
           ni->has_cpu ? "yes" : "no", (unsigned long long)(ni->total_bytes >> 20),
           (unsigned long long)(ni->free_bytes >> 20), tier, kt, topo_num(ni->read_bw, c, sizeof c),
           topo_num(ni->write_bw, d, sizeof d), topo_num(ni->read_lat, e, sizeof e),
           topo_num(ni->write_lat, g, sizeof g), topo_num(ni->wi_weight, h, sizeof h));
  }
  printf("node distances:\n  node");
  for (int n = 0; n <= t->max_node; n++)
    if (topo_node_exists(t, n)) printf(" %4d", n);
  printf("\n");
  for (int n = 0; n <= t->max_node; n++) {
    if (!topo_node_exists(t, n)) continue;
    printf("  %3d:", n);
    for (int m = 0; m <= t->max_node; m++)
      if (topo_node_exists(t, m)) printf(" %4s", topo_num(t->node[n].distance[m], c, sizeof c));
    printf("\n");
  }
  printf("weighted interleave sysfs: %s\n", t->weighted_interleave ? "yes" : "no");
  printf("thp: enabled %s, defrag %s\n", v->thp_enabled[0] ? v->thp_enabled : "-",
         v->thp_defrag[0] ? v->thp_defrag : "-");
  const ts_features_t *f = &v->feat;
  printf("features of the running kernel (since; how found):\n");
#define TOPO_FEATURE_LINE(name, since, how) \
  printf("  %-30s %-3s (%s; %s)\n", #name, f->name ? "yes" : "no", since, how);
  TS_FEATURES(TOPO_FEATURE_LINE)
#undef TOPO_FEATURE_LINE
}

/* ---------------------------------------------------------------------------
   JSON (unknown figures are null)
--------------------------------------------------------------------------- */

static void json_str(const char *s) {
  char out[1024];
  ts_buf_t b;
  ts_buf_init(&b, out, sizeof out);
  ts_buf_json_str(&b, s);
  if (b.need >= sizeof out) { fputs("\"\"", stdout); return; } /* never cut an escape in half */
  fputs(out, stdout);
}

static void json_list(uint64_t mask) {
  char buf[256];
  ts_nodelist_format(mask, buf, sizeof buf);
  json_str(buf);
}

static void json_num(uint64_t v) {
  if (v == 0) fputs("null", stdout);
  else printf("%llu", (unsigned long long)v);
}

static void topo_print_json(const topo_view_t *v) {
  const ts_topo_t *t = &v->topo;
  printf("{\n  \"sysfs\": ");
  json_str(v->root);
  printf(",\n  \"status\": \"%s\",\n  \"why\": ", status_names[t->status]);
  json_str(t->why);
  printf(",\n  \"source\": ");
  json_str(t->source);
  printf(",\n  \"split\": %s,\n  \"fast_nodes\": ", t->split ? "true" : "false");
  json_list(t->fast_nodes);
  printf(",\n  \"slow_nodes\": ");
  json_list(t->slow_nodes);
  printf(",\n  \"weighted_interleave_sysfs\": %s,\n  \"tiers\": [", t->weighted_interleave ? "true" : "false");
  for (int i = 0; i < t->ntiers; i++) {
    printf("%s\n    {\"index\": %d, \"kernel_id\": %d, \"kind\": \"%s\", \"nodes\": ", i ? "," : "", i,
           t->tier[i].kernel_id, i == 0 ? "fast" : "slow");
    json_list(t->tier[i].nodes);
    printf("}");
  }
  printf("%s],\n  \"nodes\": [", t->ntiers ? "\n  " : "");
  bool first = true;
  for (int n = 0; n <= t->max_node; n++) {
    if (!topo_node_exists(t, n)) continue;
    const ts_node_info_t *ni = &t->node[n];
    printf("%s\n    {\"node\": %d, \"memory\": %s, \"cpu\": %s, \"total_bytes\": %llu, \"free_bytes\": %llu, "
           "\"tier\": %d, \"kernel_tier\": %d, \"read_bandwidth_mbps\": ",
           first ? "" : ",", n, ni->has_memory ? "true" : "false", ni->has_cpu ? "true" : "false",
           (unsigned long long)ni->total_bytes, (unsigned long long)ni->free_bytes, ni->tier, ni->kernel_tier);
    json_num(ni->read_bw);
    printf(", \"write_bandwidth_mbps\": ");
    json_num(ni->write_bw);
    printf(", \"read_latency_ns\": ");
    json_num(ni->read_lat);
    printf(", \"write_latency_ns\": ");
    json_num(ni->write_lat);
    printf(", \"wi_weight\": ");
    json_num(ni->wi_weight);
    printf(", \"distance\": {");
    bool dfirst = true;
    for (int m = 0; m <= t->max_node; m++) {
      if (!topo_node_exists(t, m)) continue;
      printf("%s\"%d\": ", dfirst ? "" : ", ", m);
      json_num(ni->distance[m]);
      dfirst = false;
    }
    printf("}}");
    first = false;
  }
  printf("%s],\n  \"thp\": {\"enabled\": ", first ? "" : "\n  ");
  if (v->thp_enabled[0]) json_str(v->thp_enabled); else fputs("null", stdout);
  printf(", \"defrag\": ");
  if (v->thp_defrag[0]) json_str(v->thp_defrag); else fputs("null", stdout);
  const ts_features_t *f = &v->feat;
  const char *sep = "";
  printf("},\n  \"features\": {");
#define TOPO_FEATURE_JSON(name, since, how) \
  printf("%s\"%s\": %s", sep, #name, f->name ? "true" : "false"), sep = ", ";
  TS_FEATURES(TOPO_FEATURE_JSON)
#undef TOPO_FEATURE_JSON
  printf("}\n}\n");
}

static int topo_usage(const char *problem, const char *arg) {
  fprintf(stderr, "tiershim topo: %s%s\nusage: tiershim topo [--sysfs ROOT] [--fast LIST] [--slow LIST] [--json]\n",
          problem, arg);
  return EXIT_USAGE;
}

/* Exit status: 0 whatever the topology (SINGLE is a fine answer), 1 when
 * discovery reports ERROR, so scripts can check an override. */
int ts_cli_topo(int argc, char **argv) {
  const char *root = getenv("TIERSHIM_SYSFS_ROOT");
  const char *fast = getenv("TIERSHIM_FAST_NODES"), *slow = getenv("TIERSHIM_SLOW_NODES");
  bool json = false;
  for (int i = 0; i < argc; i++) {
    const char *a = argv[i];
    bool has_value = i + 1 < argc;
    if (strcmp(a, "--json") == 0) json = true;
    else if (strcmp(a, "--sysfs") == 0 && has_value) root = argv[++i];
    else if (strcmp(a, "--fast") == 0 && has_value) fast = argv[++i];
    else if (strcmp(a, "--slow") == 0 && has_value) slow = argv[++i];
    else return topo_usage("unknown or incomplete option ", a);
  }
  if (root == NULL || root[0] == '\0') root = "/sys";
  static topo_view_t view; /* ts_topo_t is ~5 KiB: keep it off the stack anyway */
  view.root = root;
  ts_topo_discover(root, fast, slow, &view.topo);
  topo_thp(root, "enabled", view.thp_enabled, sizeof view.thp_enabled);
  topo_thp(root, "defrag", view.thp_defrag, sizeof view.thp_defrag);
  ts_features_probe(&view.feat, root);
  if (json) topo_print_json(&view);
  else topo_print_text(&view);
  return view.topo.status == TS_TOPO_ERROR ? 1 : 0;
}
