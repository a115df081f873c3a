/* Statistics: a snapshot of the counters and /proc figures, rendered as a
 * text summary or as the JSON document whose key names are a contract
 * (docs/stats.md). Reported at exit when TIERSHIM_STATS asks for it. */
#ifndef TS_STATS_H
#define TS_STATS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "counters.h"
#include "procfs.h"

typedef struct ts_stats_snapshot_s {
  int pid;
  bool enabled;
  double wall_seconds;
  ts_procfs_t proc;
  bool tlb_known;
  uint64_t tlb_shootdowns;
  uint64_t ctr[TS_CTR_COUNT];
} ts_stats_snapshot_t;

void ts_stats_start(void);         /* at init: the clock, the TLB baseline */
void ts_stats_fork_child(void);    /* a child's stats start at fork */
void ts_stats_collect(ts_stats_snapshot_t *s);
void ts_stats_report_at_exit(void);

/* Rendering (pure; unit-tested). Both return the full length (see buf.h). */
size_t ts_stats_render_json(const ts_stats_snapshot_t *s, char *buf, size_t cap);
size_t ts_stats_render_text(const ts_stats_snapshot_t *s, char *buf, size_t cap);

/* Expands %p (pid) and %% in a TIERSHIM_STATS json path. false if too long. */
bool ts_stats_expand_path(const char *pattern, int pid, char *out, size_t cap);

/* Writes text to path: never follows a symlink, never writes through to
 * anything but a regular file owned by the effective user. 0 or -errno. */
int ts_stats_write_file(const char *path, const char *text, size_t len);

#endif
