/* Statistics: a snapshot of the counters and /proc figures, rendered as a
 * text summary or as the JSON document whose key names are a contract
 * (docs/stats.md). Reported at exit when TIERSHIM_STATS asks for it.
 * Collecting asks each layer below for its own figures (alloc/place.h,
 * policy/thp.h, policy/unmap/unmap.h, policy/promote.h, policy/migrate.h)
 * and the observers beside it (residency.h, profile.h). */
#ifndef TS_STATS_H
#define TS_STATS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/counters.h"
#include "base/procfs.h"
#include "observe/stats_fields.h"
#include "policy/unmap/unmap.h"

/* The placement engine's figures (docs/stats.md, object "placement"):
 * the fields of TS_STATS_PLACEMENT_FIELDS (stats_fields.h). */
typedef struct ts_stats_placement_s {
  bool present;
  TS_STATS_PLACEMENT_FIELDS(TS_STATS_FIELD)
} ts_stats_placement_t;


/* Tier placement (docs/stats.md, object "tiers"): present when discovery
 * found tiers or an error; per node, what tiershim's ranges hold there
 * (sampled with a move_pages query) and the node's page tables. */
#define TS_STATS_NODES 16
#define TS_STATS_TIERS 8

typedef struct ts_stats_tier_node_s {
  int node, tier;
  uint64_t total_bytes, free_bytes;
  uint64_t bulk_resident_bytes;  /* in tiershim's regions */
  uint64_t hot_resident_bytes;   /* in the heap's mappings */
  uint64_t page_table_bytes;     /* nodeN/meminfo PageTables: the whole node's */
} ts_stats_tier_node_t;

typedef struct ts_stats_tiers_s {
  bool present;
  const char *status, *why, *source, *hot_policy, *bulk_policy, *task_policy;
  char fast_nodes[64], slow_nodes[64];
  uint64_t hot_bytes, bulk_bytes, binds, bind_fail, stacks, spilled, fast_reserve;
  uint64_t cold_reads, cold_read_bytes, cold_read_refused; /* policy/coldread.h */
  bool per_grant;
  int ntiers;
  struct { int kernel_id; char nodes[64]; uint64_t bulk_resident_bytes, hot_resident_bytes; } tier[TS_STATS_TIERS];
  int nnodes;
  ts_stats_tier_node_t node[TS_STATS_NODES];
} ts_stats_tiers_t;


/* Migration (docs/stats.md, object "migration"): the engine's totals, and
 * background promotion; the fields of TS_STATS_MIGRATION_FIELDS. */
typedef struct ts_stats_migration_s {
  TS_STATS_MIGRATION_FIELDS(TS_STATS_FIELD)
} ts_stats_migration_t;


/* Unmap backends (docs/stats.md, object "unmap"): the backend's own
 * figures, the fields of TS_UNMAP_STATS_FIELDS (policy/unmap/unmap.h). */
typedef ts_unmap_stats_t ts_stats_unmap_t;

/* Callsite attribution (docs/stats.md, object "profile"): present when
 * TIERSHIM_PROFILE or TIERSHIM_RULES is set. Frames are symbolised when
 * the snapshot is taken. */
#define TS_STATS_PROF_TOP 16
#define TS_STATS_PROF_FRAMES 4
#define TS_STATS_FRAME_MAX 96

typedef struct ts_stats_callsite_s {
  uint64_t count, bytes, live, peak, frees, mean_life_us, samples;
  int huge_permille;             /* of the sampled resident pages in huge pages; -1 unknown */
  char nodes[48];                /* "0:97%,1:3%" of sampled resident pages; "" unknown */
  int rule_line;                 /* the rule that matched its last allocation, 0: none */
  int nframes;
  char frame[TS_STATS_PROF_FRAMES][TS_STATS_FRAME_MAX]; /* "func+0x1f (libfoo.so)" */
} ts_stats_callsite_t;

typedef struct ts_stats_profile_s {
  bool present;
  const char *unwinder, *rules_status;
  uint64_t callsites, traced, dropped, rules, rule_hits, rule_fail, sample, min;
  int ntop;
  ts_stats_callsite_t top[TS_STATS_PROF_TOP];
} ts_stats_profile_t;


/* The whole document: the top level's keys are TS_STATS_TOP_KEYS and then
 * TS_CTR_LIST's, read from here by the renderer; then the objects. */
typedef struct ts_stats_snapshot_s {
  int pid;
  bool enabled;
  double wall_seconds;
  ts_procfs_t proc;
  bool tlb_known;
  uint64_t tlb_shootdowns;
  uint64_t publish_failures;
  uint64_t ctr[TS_CTR_COUNT];
  ts_stats_placement_t placement;
  ts_stats_tiers_t tiers;
  ts_stats_migration_t migration;
  ts_stats_unmap_t unmap;
  ts_stats_profile_t profile;
} ts_stats_snapshot_t;

void ts_stats_start(void);         /* at init: the clock, the TLB baseline */
void ts_stats_fork_child(void);    /* a child's stats start at fork */
void ts_stats_tlb_baseline(void);  /* takes the TLB baseline if start did not */
void ts_stats_collect(ts_stats_snapshot_t *s);
void ts_stats_report_at_exit(void);

/* Rendering (pure; unit-tested). Both return the full length (see buf.h). */
size_t ts_stats_render_json(const ts_stats_snapshot_t *s, char *buf, size_t cap);
size_t ts_stats_render_text(const ts_stats_snapshot_t *s, char *buf, size_t cap);

/* Expands %p (pid) and %% in a TIERSHIM_STATS json path. false if too long. */
bool ts_stats_expand_path(const char *pattern, int pid, char *out, size_t cap);

/* Writes text to a fresh file (mode 0600) beside path and renames it over
 * path; never truncates or writes an existing file. Refuses a path that is
 * a symlink (-ELOOP), not a regular file (-EINVAL), a file with other hard
 * links (-EMLINK) or one another user owns (-EPERM). 0 or -errno. */
int ts_stats_write_file(const char *path, const char *text, size_t len);

#endif
