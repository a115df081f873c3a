/* Background promotion of spilled bulk ranges; see promote.c. */
#ifndef TS_PROMOTE_H
#define TS_PROMOTE_H

#include <stdbool.h>
#include <stdint.h>

/* docs/stats.md, object "migration": the background part. */
typedef struct ts_promote_stats_s {
  bool auto_promote;
  uint64_t auto_passes, auto_promoted_bytes, spilled_pending_bytes, spilled_dropped_bytes;
} ts_promote_stats_t;

void ts_promote_init(void); /* at init, after ts_tier_init */
void ts_promote_stats(ts_promote_stats_t *o);
void ts_promote_lock(void); /* fork (shim/fork.c) */
void ts_promote_unlock(void);
void ts_promote_fork_child(void);

#endif
