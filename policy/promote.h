/* Background promotion of spilled bulk ranges; see promote.c. */
#ifndef TS_PROMOTE_H
#define TS_PROMOTE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "policy/migrate.h" /* the seam's ts_migrate */

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

/* The seam for the unit tests: what a pass and the thread's start consult
 * (the real functions by default), and one pass run synchronously (the
 * thread runs it once a second). */
typedef struct ts_promote_ops_s {
  uint64_t (*fast_room)(void);                   /* ts_tier_fast_room */
  int (*promote_node)(void);                     /* ts_tier_promote_node */
  void (*rebind_fast)(uintptr_t a, size_t len);  /* ts_tier_rebind_fast */
  int (*migrate)(const ts_mrange_t *r, size_t n, const ts_migrate_req_t *q, ts_migrate_result_t *out);
  int (*spawn)(void *(*fn)(void *));             /* ts_thread_spawn, detached */
} ts_promote_ops_t;

void ts_promote_set_ops(const ts_promote_ops_t *ops); /* NULL: the real ones */
void ts_promote_pass(void);

#endif
