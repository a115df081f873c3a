/* Tier residency: where tiershim's memory is, per node and tier (the
 * "tiers" object of the stats, docs/stats.md). See residency.c. */
#ifndef TS_RESIDENCY_H
#define TS_RESIDENCY_H

#include <stddef.h>

#include "observe/stats.h"

/* The heap's mappings (shim/mmap.c), remembered for the hot samples. */
void ts_tier_heap_mapped(void *addr, size_t len);
void ts_tier_heap_unmapped(void *addr, size_t len);

void ts_residency_stats(ts_stats_tiers_t *o);

void ts_tier_heap_lock(void); /* fork (shim/fork.c) */
void ts_tier_heap_unlock(void);
void ts_tier_heap_fork_child(void);

#endif
