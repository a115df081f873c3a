/* The keys of the stats document (docs/stats.md), one list per object, in
 * the documented order: the order of a list is the order of the JSON, and
 * tests/unit/test_stats.c checks it against the doc's tables.
 *
 * Each entry is X(kind, name, source...):
 *   kind    how the value is held and written:
 *             STR      const char *, a JSON string (NULL: "")
 *             U64      uint64_t, an integer
 *             BOOL     bool, true or false
 *             SECS     double, seconds with 6 decimals
 *             RATIO    double, 4 decimals
 *             OPT_U64  source "known, value": the integer, or null if not known
 *             RAW      source is a call that writes the value (an array)
 *   name    the JSON key (and the struct field, where the list makes it)
 *   source  where the value comes from.
 *
 * Two sorts of list:
 *   - placement, migration (here) and unmap (policy/unmap/unmap.h, a lower
 *     layer) make their struct: the field is name, and the collector copies
 *     source into it (observe/stats.c; unmap.c for unmap). The renderer
 *     writes the fields.
 *   - the top level, tiers and profile are filled elsewhere (their fields,
 *     used by residency.c, profile.c and tests, are not named as the keys):
 *     the renderer (observe/stats_json.c) reads source itself, from the
 *     snapshot s, the tiers t or the profile p, with b its buffer.
 * The top level's counters follow its list here, as TS_CTR_LIST gives them
 * (base/counters.h); then come the objects, in the order of this file. */
#ifndef TS_STATS_FIELDS_H
#define TS_STATS_FIELDS_H

/* The top level (flat keys); then the counters (TS_CTR_LIST). */
#define TS_STATS_TOP_KEYS(X)                                     \
  X(STR, version, TIERSHIM_VERSION)                              \
  X(U64, pid, (uint64_t)s->pid)                                  \
  X(BOOL, enabled, s->enabled)                                   \
  X(SECS, wall_seconds, s->wall_seconds)                         \
  X(U64, anon_rss_bytes, s->proc.anon_rss_bytes)                 \
  X(U64, anon_huge_bytes, s->proc.anon_huge_bytes)               \
  X(RATIO, thp_coverage, stats_coverage(s))                      \
  X(U64, vma_count, s->proc.vma_count)                           \
  X(U64, minor_faults, s->proc.minor_faults)                     \
  X(U64, major_faults, s->proc.major_faults)                     \
  X(OPT_U64, tlb_shootdowns, s->tlb_known, s->tlb_shootdowns)  \
  X(U64, publish_failures, s->publish_failures)

/* "placement": collected by stats_placement() from p, the engine's figures
 * (alloc/place.h), and thp, the advisor's (policy/thp.h). */
#define TS_STATS_PLACEMENT_FIELDS(X)                                               \
  X(STR, state, p.state)                                                           \
  X(STR, thp_mode, p.on ? ts_thp_names[ts_thp_effective() & 3] : "off")            \
  X(STR, thp_reason, p.on ? ts_thp_reason() : p.state)                             \
  X(STR, release_mode, ts_unmap_release_mode())                                    \
  X(U64, placed_mmaps, p.placed_mmaps)                                             \
  X(U64, placed_bytes, p.placed_bytes)                                             \
  X(U64, pmd_aligned, p.pmd_aligned)                                               \
  X(U64, placed_mallocs, p.placed_mallocs)                                         \
  X(U64, malloc_fallbacks, p.malloc_fallbacks)                                     \
  X(U64, mmap_fallbacks, p.mmap_fallbacks)                                         \
  X(U64, regions, p.regions)                                                       \
  X(U64, vma_count_regions, p.vma_count_regions)                                   \
  X(U64, retained_bytes, p.retained_bytes)                                         \
  X(U64, reused, p.reused)                                                         \
  X(U64, released_bytes, ts_unmap_released_bytes())                                \
  X(U64, release_calls, ts_unmap_release_calls())                                  \
  X(U64, collapse_ok, thp->collapse_ok)                                            \
  X(U64, collapse_fail, thp->collapse_fail)                                        \
  X(U64, collapse_bytes, thp->collapse_bytes)                                      \
  X(U64, collapse_warmed, thp->collapse_warmed)                                    \
  X(U64, collapse_waited_cpu, thp->collapse_waited_cpu)                            \
  X(U64, thp_advise_ok, thp->advise_ok)                                            \
  X(U64, thp_advise_fail, thp->advise_fail)                                        \
  X(U64, region_rss_bytes, p.region_rss_bytes)                                     \
  X(U64, region_huge_bytes, p.region_huge_bytes)                                   \
  X(U64, region_live_bytes, p.region_live_bytes)                                   \
  X(U64, region_committed_bytes, p.region_committed_bytes)                         \
  X(U64, heap_thp_bytes, thp->heap_advised_bytes)                                  \
  X(U64, heap_thp_fail, thp->heap_advise_fail)                                     \
  X(U64, zero_checks, p.zero_checks)                                               \
  X(U64, sparse_bytes, __atomic_load_n(&thp->sparse_bytes, __ATOMIC_RELAXED))      \
  X(U64, mmap_probes_dense, __atomic_load_n(&thp->mmap_probes_dense, __ATOMIC_RELAXED)) \
  X(U64, mmap_probes_sparse, __atomic_load_n(&thp->mmap_probes_sparse, __ATOMIC_RELAXED)) \
  X(U64, block_probes_dense, __atomic_load_n(&thp->block_probes_dense, __ATOMIC_RELAXED)) \
  X(U64, block_probes_sparse, __atomic_load_n(&thp->block_probes_sparse, __ATOMIC_RELAXED)) \
  X(U64, thp_grown, (uint64_t)ts_thp_grown())                                      \
  X(U64, thp_grown_faults, thp->grown_faults)                                      \
  X(U64, thp_grown_rss, thp->grown_rss)                                            \
  X(U64, fill_small_bytes, thp->fill_small_bytes)                                  \
  X(U64, pressure_releases, p.pressure_releases)                                   \
  X(U64, frugal, p.frugal)                                                         \
  X(U64, reentered_deferred, p.reentered_deferred)                                 \
  X(U64, reentered_refused, p.reentered_refused)

/* "tiers": filled by ts_residency_stats() (residency.c). */
#define TS_STATS_TIERS_KEYS(X)                          \
  X(STR, status, t->status)                             \
  X(STR, why, t->why)                                   \
  X(STR, source, t->source)                             \
  X(STR, fast_nodes, t->fast_nodes)                     \
  X(STR, slow_nodes, t->slow_nodes)                     \
  X(STR, task_policy, t->task_policy)                   \
  X(STR, hot_policy, t->hot_policy)                     \
  X(STR, bulk_policy, t->bulk_policy)                   \
  X(BOOL, bulk_per_range, t->per_grant)                 \
  X(U64, hot_bound_bytes, t->hot_bytes)                 \
  X(U64, bulk_bound_bytes, t->bulk_bytes)               \
  X(U64, binds, t->binds)                               \
  X(U64, bind_failures, t->bind_fail)                   \
  X(U64, stacks_bound, t->stacks)                       \
  X(U64, bulk_spilled_bytes, t->spilled)                \
  X(U64, fast_reserve_bytes, t->fast_reserve)           \
  X(U64, cold_reads, t->cold_reads)                     \
  X(U64, cold_read_bytes, t->cold_read_bytes)           \
  X(U64, cold_read_refused, t->cold_read_refused)       \
  X(RAW, tiers, stats_json_tier_array(b, t))            \
  X(RAW, nodes, stats_json_node_array(b, t))

/* "migration": collected by stats_migration() from m, the engine's totals
 * (policy/migrate.h), and pr, background promotion (policy/promote.h). */
#define TS_STATS_MIGRATION_FIELDS(X)                                          \
  X(U64, requests, m.requests)                                                \
  X(U64, pages_promoted, m.pages_promoted)                                    \
  X(U64, pages_demoted, m.pages_demoted)                                      \
  X(U64, pages_other, m.pages_other)                                          \
  X(U64, bytes_moved, (m.pages_promoted + m.pages_demoted + m.pages_other) * PAGE)   \
  X(U64, pages_failed, m.pages_failed)                                        \
  X(U64, calls, m.calls)                                                      \
  X(SECS, seconds, (double)m.ns / 1e9)                                        \
  X(U64, failed_ebusy, m.err[TS_MIG_EBUSY])                                   \
  X(U64, failed_enomem, m.err[TS_MIG_ENOMEM])                                 \
  X(U64, failed_efault, m.err[TS_MIG_EFAULT])                                 \
  X(U64, failed_eacces, m.err[TS_MIG_EACCES])                                 \
  X(U64, failed_einval, m.err[TS_MIG_EINVAL])                                 \
  X(U64, failed_other, m.err[TS_MIG_EOTHER])                                  \
  X(BOOL, auto_promote, pr.auto_promote)                                      \
  X(U64, auto_passes, pr.auto_passes)                                         \
  X(U64, auto_promoted_bytes, pr.auto_promoted_bytes)                         \
  X(U64, spilled_pending_bytes, pr.spilled_pending_bytes)                     \
  X(U64, spilled_dropped_bytes, pr.spilled_dropped_bytes)

/* "unmap": TS_UNMAP_STATS_FIELDS, in policy/unmap/unmap.h. */

/* "profile": filled by ts_profile_stats() (profile.c). */
#define TS_STATS_PROFILE_KEYS(X)             \
  X(STR, unwinder, p->unwinder)              \
  X(STR, rules, p->rules_status)             \
  X(U64, rules_loaded, p->rules)             \
  X(U64, rule_hits, p->rule_hits)            \
  X(U64, rule_failures, p->rule_fail)        \
  X(U64, traced, p->traced)                  \
  X(U64, callsites, p->callsites)            \
  X(U64, untracked, p->dropped)              \
  X(U64, sample, p->sample)                  \
  X(U64, min_bytes, p->min)                  \
  X(RAW, top, stats_json_top_array(b, p))

/* A struct field of each kind, for the lists that make their struct. */
#define TS_STATS_FIELD(kind, name, ...) TS_STATS_FIELD_##kind(name)
#define TS_STATS_FIELD_STR(name) const char *name;
#define TS_STATS_FIELD_U64(name) uint64_t name;
#define TS_STATS_FIELD_BOOL(name) bool name;
#define TS_STATS_FIELD_SECS(name) double name;
#define TS_STATS_FIELD_OPT_U64(name) bool name##_known; uint64_t name;

#endif
