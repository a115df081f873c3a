/* The "tiers" object of the stats: where tiershim's memory is, per node.
 *
 * Residency is sampled with move_pages in query mode (nodes == NULL): one
 * page per stride over the regions' committed ranges (bulk) and over the
 * heap's mappings (hot), at most TIER_SAMPLES pages each, each sample
 * standing for a stride of bytes. Unpopulated pages answer -ENOENT and
 * count nowhere. Runs only when stats are collected. */
#define _GNU_SOURCE
#include "observe/residency.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>

#include "base/reentry.h"
#include "alloc/place.h"
#include "base/prim.h"
#include "observe/stats.h"
#include "policy/coldread.h"
#include "policy/tierpol.h"
#include "base/options.h"
#include "base/range.h"

#define TIER_SAMPLES ((size_t)1 << 18) /* 1 GiB of pages exactly; beyond, strided */
#define TIER_BATCH 256
#define HEAP_RANGES 64

/* The heap's mappings, for sampling. mimalloc maps few, large segments;
 * when the table is full the oldest entry is overwritten (stats only). */
static pthread_mutex_t heap_lock = PTHREAD_MUTEX_INITIALIZER;
static struct { uintptr_t lo, hi; } heap_ranges[HEAP_RANGES];
static unsigned heap_next;

void ts_tier_heap_mapped(void *addr, size_t len) {
  if (!ts_tier_on || len < ((size_t)1 << 20)) return;
  ts_lock(&heap_lock);
  heap_ranges[heap_next % HEAP_RANGES].lo = (uintptr_t)addr;
  heap_ranges[heap_next % HEAP_RANGES].hi = (uintptr_t)addr + len;
  heap_next++;
  ts_unlock(&heap_lock);
}

void ts_tier_heap_unmapped(void *addr, size_t len) {
  if (!ts_tier_on) return;
  uintptr_t lo = (uintptr_t)addr, hi = lo + len;
  ts_lock(&heap_lock);
  for (int i = 0; i < HEAP_RANGES; i++)
    if (heap_ranges[i].lo >= lo && heap_ranges[i].hi <= hi) heap_ranges[i].lo = heap_ranges[i].hi = 0;
  ts_unlock(&heap_lock);
}

static void sample_flush(void **pages, int *status, unsigned n, size_t stride, uint64_t *per_node) {
  if (n == 0 || ts_prim_move_pages(0, n, pages, NULL, status, 0) < 0) return;
  for (unsigned i = 0; i < n; i++)
    if (status[i] >= 0 && status[i] < TS_TIER_MAX_NODES) per_node[status[i]] += stride;
}

static void sample_range(uintptr_t lo, uintptr_t hi, size_t stride, uint64_t *per_node) {
  void *pages[TIER_BATCH];
  int status[TIER_BATCH];
  unsigned n = 0;
  for (uintptr_t a = lo; a < hi; a += stride) {
    pages[n++] = (void *)a;
    if (n == TIER_BATCH) {
      sample_flush(pages, status, n, stride, per_node);
      n = 0;
    }
  }
  sample_flush(pages, status, n, stride, per_node);
}

static size_t stride_for(size_t bytes) {
  size_t stride = PAGE;
  while (bytes / stride > TIER_SAMPLES) stride *= 2;
  return stride;
}

static void sample_bulk(uint64_t *per_node) {
  uintptr_t r[4];
  int n = ts_place_committed(r);
  size_t total = 0;
  for (int i = 0; i < n; i++) total += r[2 * i + 1] - r[2 * i];
  size_t stride = stride_for(total);
  for (int i = 0; i < n; i++) sample_range(r[2 * i], r[2 * i + 1], stride, per_node);
}

static void sample_hot(uint64_t *per_node) {
  struct { uintptr_t lo, hi; } copy[HEAP_RANGES];
  ts_lock(&heap_lock);
  memcpy(copy, heap_ranges, sizeof copy);
  ts_unlock(&heap_lock);
  size_t total = 0;
  for (int i = 0; i < HEAP_RANGES; i++) total += copy[i].hi - copy[i].lo;
  size_t stride = stride_for(total);
  for (int i = 0; i < HEAP_RANGES; i++)
    if (copy[i].hi > copy[i].lo) sample_range(copy[i].lo, copy[i].hi, stride, per_node);
}

void ts_residency_stats(ts_stats_tiers_t *o) {
  const ts_topo_t *t = ts_tier_topo();
  ts_tier_stats_t st;
  ts_tier_stats(&st);
  o->present = true;
  o->status = t->status == TS_TOPO_TIERED ? (ts_tier_on ? "on" : "off: TIERSHIM_ENABLE=0")
              : t->status == TS_TOPO_SINGLE ? "single" : "error";
  o->why = t->why;
  o->source = t->source ? t->source : "none";
  ts_nodelist_format(t->fast_nodes, o->fast_nodes, sizeof o->fast_nodes);
  ts_nodelist_format(t->slow_nodes, o->slow_nodes, sizeof o->slow_nodes);
  o->task_policy = st.task_why;
  o->hot_policy = st.hot_policy;
  o->bulk_policy = st.bulk_policy;
  o->per_grant = st.per_grant;
  o->hot_bytes = st.hot_bytes;
  o->bulk_bytes = st.bulk_bytes;
  o->binds = st.binds;
  o->bind_fail = st.bind_fail;
  o->stacks = st.stacks;
  o->spilled = st.spilled;
  o->fast_reserve = st.fast_reserve;
  ts_cold_read_stats_t cr;
  ts_cold_read_stats(&cr);
  o->cold_reads = cr.reads;
  o->cold_read_bytes = cr.bytes;
  o->cold_read_refused = cr.refused + cr.restore_failures;
  uint64_t bulk[TS_TIER_MAX_NODES] = {0}, hot[TS_TIER_MAX_NODES] = {0};
  if (ts_tier_on) {
    sample_bulk(bulk);
    sample_hot(hot);
  }
  o->ntiers = t->ntiers < TS_STATS_TIERS ? t->ntiers : TS_STATS_TIERS;
  for (int i = 0; i < o->ntiers; i++) {
    o->tier[i].kernel_id = t->tier[i].kernel_id;
    ts_nodelist_format(t->tier[i].nodes, o->tier[i].nodes, sizeof o->tier[i].nodes);
    o->tier[i].bulk_resident_bytes = o->tier[i].hot_resident_bytes = 0;
  }
  o->nnodes = 0;
  for (int n = 0; n < TS_TIER_MAX_NODES && o->nnodes < TS_STATS_NODES; n++) {
    const ts_node_info_t *ni = &t->node[n];
    if (!ni->has_memory) continue;
    ts_stats_tier_node_t *on = &o->node[o->nnodes++];
    on->node = n;
    on->tier = ni->tier;
    on->total_bytes = ni->total_bytes;
    on->free_bytes = ni->free_bytes;
    on->bulk_resident_bytes = bulk[n];
    on->hot_resident_bytes = hot[n];
    on->page_table_bytes = ts_node_meminfo(ts_config.sysfs_root, n, " PageTables:");
    if (ni->tier >= 0 && ni->tier < o->ntiers) {
      o->tier[ni->tier].bulk_resident_bytes += bulk[n];
      o->tier[ni->tier].hot_resident_bytes += hot[n];
    }
  }
}


void ts_tier_heap_lock(void) { ts_lock(&heap_lock); }
void ts_tier_heap_unlock(void) { ts_unlock(&heap_lock); }
void ts_tier_heap_fork_child(void) { pthread_mutex_init(&heap_lock, NULL); }
