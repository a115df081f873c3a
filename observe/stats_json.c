/* Rendering a stats snapshot: JSON (the contract, docs/stats.md) and the
 * human summary. Pure functions over a snapshot, no I/O. */
#include "observe/stats.h"

#include <string.h>

#include "base/buf.h"

/* Key order is the documented order; counters follow ts_ctr_t. */
static const char *const ctr_keys[TS_CTR_COUNT] = {
    [TS_CTR_MALLOC] = "malloc_calls",   [TS_CTR_FREE] = "free_calls",
    [TS_CTR_LARGE] = "large_allocs",    [TS_CTR_MMAP] = "mmap_calls",
    [TS_CTR_MUNMAP] = "munmap_calls",   [TS_CTR_MREMAP] = "mremap_calls",
    [TS_CTR_MADVISE] = "madvise_calls", [TS_CTR_BOOTSTRAP] = "bootstrap_allocs",
    [TS_CTR_THREADS] = "threads_created",
};

static double coverage(const ts_stats_snapshot_t *s) {
  if (s->proc.anon_rss_bytes == 0) return 0.0;
  double c = (double)s->proc.anon_huge_bytes / (double)s->proc.anon_rss_bytes;
  return c > 1.0 ? 1.0 : c;
}

/* A key: sep is ",\n  " (top level), ",\n    " (nested, one per line) or
 * ", " (inline). */
static void jkey(ts_buf_t *b, const char *sep, const char *key) {
  ts_buf_puts(b, sep);
  ts_buf_json_str(b, key);
  ts_buf_puts(b, ": ");
}

static void ju64(ts_buf_t *b, const char *sep, const char *key, uint64_t v) {
  jkey(b, sep, key);
  ts_buf_u64(b, v);
}

static void json_key(ts_buf_t *b, const char *key) { jkey(b, ",\n  ", key); }
static void json_u64(ts_buf_t *b, const char *key, uint64_t v) { ju64(b, ",\n  ", key, v); }

static void json_str(ts_buf_t *b, const char *key, const char *v, const char *sep) {
  jkey(b, sep, key);
  ts_buf_json_str(b, v ? v : "");
}

static void ji64(ts_buf_t *b, const char *sep, const char *key, int64_t v) {
  jkey(b, sep, key);
  ts_buf_i64(b, v);
}

#define NL ",\n    "

static void json_tier_node(ts_buf_t *b, const ts_stats_tier_node_t *n, bool first) {
  ts_buf_puts(b, first ? "\n      {" : ",\n      {");
  ji64(b, "", "node", n->node);
  ji64(b, ", ", "tier", n->tier);
  ju64(b, ", ", "total_bytes", n->total_bytes);
  ju64(b, ", ", "free_bytes", n->free_bytes);
  ju64(b, ", ", "bulk_resident_bytes", n->bulk_resident_bytes);
  ju64(b, ", ", "hot_resident_bytes", n->hot_resident_bytes);
  ju64(b, ", ", "page_table_bytes", n->page_table_bytes);
  ts_buf_putc(b, '}');
}

/* The nested "tiers" object; key order is the documented one. */
static void json_tiers(ts_buf_t *b, const ts_stats_tiers_t *t) {
  ts_buf_puts(b, ",\n  \"tiers\": {");
  json_str(b, "status", t->status, "\n    ");
  json_str(b, "why", t->why, NL);
  json_str(b, "source", t->source, NL);
  json_str(b, "fast_nodes", t->fast_nodes, NL);
  json_str(b, "slow_nodes", t->slow_nodes, NL);
  json_str(b, "task_policy", t->task_policy, NL);
  json_str(b, "hot_policy", t->hot_policy, NL);
  json_str(b, "bulk_policy", t->bulk_policy, NL);
  jkey(b, NL, "bulk_per_range");
  ts_buf_puts(b, t->per_grant ? "true" : "false");
  ju64(b, NL, "hot_bound_bytes", t->hot_bytes);
  ju64(b, NL, "bulk_bound_bytes", t->bulk_bytes);
  ju64(b, NL, "binds", t->binds);
  ju64(b, NL, "bind_failures", t->bind_fail);
  ju64(b, NL, "stacks_bound", t->stacks);
  ju64(b, NL, "bulk_spilled_bytes", t->spilled);
  ju64(b, NL, "fast_reserve_bytes", t->fast_reserve);
  jkey(b, NL, "tiers");
  ts_buf_putc(b, '[');
  for (int i = 0; i < t->ntiers; i++) {
    ts_buf_puts(b, i ? ",\n      {" : "\n      {");
    ji64(b, "", "index", i);
    ji64(b, ", ", "kernel_tier", t->tier[i].kernel_id);
    json_str(b, "nodes", t->tier[i].nodes, ", ");
    ju64(b, ", ", "bulk_resident_bytes", t->tier[i].bulk_resident_bytes);
    ju64(b, ", ", "hot_resident_bytes", t->tier[i].hot_resident_bytes);
    ts_buf_putc(b, '}');
  }
  ts_buf_putc(b, ']');
  jkey(b, NL, "nodes");
  ts_buf_putc(b, '[');
  for (int i = 0; i < t->nnodes; i++) json_tier_node(b, &t->node[i], i == 0);
  ts_buf_puts(b, "]\n  }");
}

/* The nested "migration" object; key order is the documented one. */
static void json_migration(ts_buf_t *b, const ts_stats_migration_t *m) {
  static const char *const errs[6] = {"failed_ebusy", "failed_enomem", "failed_efault", "failed_eacces",
                                      "failed_einval", "failed_other"};
  ts_buf_puts(b, ",\n  \"migration\": {");
  ju64(b, "\n    ", "requests", m->requests);
  ju64(b, NL, "pages_promoted", m->pages_promoted);
  ju64(b, NL, "pages_demoted", m->pages_demoted);
  ju64(b, NL, "pages_other", m->pages_other);
  ju64(b, NL, "bytes_moved", (m->pages_promoted + m->pages_demoted + m->pages_other) * 4096);
  ju64(b, NL, "pages_failed", m->pages_failed);
  ju64(b, NL, "calls", m->calls);
  jkey(b, NL, "seconds");
  ts_buf_fixed(b, (double)m->ns / 1e9, 6);
  for (int i = 0; i < 6; i++) ju64(b, NL, errs[i], m->err[i]);
  jkey(b, NL, "auto_promote");
  ts_buf_puts(b, m->auto_promote ? "true" : "false");
  ju64(b, NL, "auto_passes", m->auto_passes);
  ju64(b, NL, "auto_promoted_bytes", m->auto_promoted_bytes);
  ju64(b, NL, "spilled_pending_bytes", m->spilled_pending_bytes);
  ju64(b, NL, "spilled_dropped_bytes", m->spilled_dropped_bytes);
  ts_buf_puts(b, "\n  }");
}

/* The nested "unmap" object; key order is the documented one. */
static void json_unmap(ts_buf_t *b, const ts_stats_unmap_t *u) {
  ts_buf_puts(b, ",\n  \"unmap\": {");
  json_str(b, "backend", u->backend, "\n    ");
  json_str(b, "release_mode", u->release_mode, NL);
  ju64(b, NL, "ranges", u->ranges);
  ju64(b, NL, "bytes", u->bytes);
  ju64(b, NL, "calls", u->calls);
  ju64(b, NL, "batches", u->batches);
  ju64(b, NL, "failures", u->failures);
  jkey(b, NL, "shootdowns");
  if (strcmp(u->source, "none") != 0) ts_buf_u64(b, u->shootdowns);
  else ts_buf_puts(b, "null");
  json_str(b, "shootdown_source", u->source, NL);
  ju64(b, NL, "batch", u->batch);
  ju64(b, NL, "delay_ms", u->delay_ms);
  ju64(b, NL, "scale", u->scale);
  ju64(b, NL, "grows", u->grows);
  ju64(b, NL, "shrinks", u->shrinks);
  ju64(b, NL, "decays", u->decays);
  ju64(b, NL, "decay_bytes", u->decay_bytes);
  json_str(b, "kmod_version", u->kmod_version, NL);
  ju64(b, NL, "kmod_flags", u->kmod_flags);
  ts_buf_puts(b, "\n  }");
}

/* The nested "profile" object; key order is the documented one. */
static void json_profile(ts_buf_t *b, const ts_stats_profile_t *p) {
  ts_buf_puts(b, ",\n  \"profile\": {");
  json_str(b, "unwinder", p->unwinder, "\n    ");
  json_str(b, "rules", p->rules_status, NL);
  ju64(b, NL, "rules_loaded", p->rules);
  ju64(b, NL, "rule_hits", p->rule_hits);
  ju64(b, NL, "rule_failures", p->rule_fail);
  ju64(b, NL, "traced", p->traced);
  ju64(b, NL, "callsites", p->callsites);
  ju64(b, NL, "untracked", p->dropped);
  ju64(b, NL, "sample", p->sample);
  ju64(b, NL, "min_bytes", p->min);
  jkey(b, NL, "top");
  ts_buf_putc(b, '[');
  for (int i = 0; i < p->ntop; i++) {
    const ts_stats_callsite_t *c = &p->top[i];
    ts_buf_puts(b, i ? ",\n      {" : "\n      {");
    ju64(b, "", "count", c->count);
    ju64(b, ", ", "bytes", c->bytes);
    ju64(b, ", ", "live_bytes", c->live);
    ju64(b, ", ", "peak_bytes", c->peak);
    ju64(b, ", ", "frees", c->frees);
    ju64(b, ", ", "mean_lifetime_us", c->mean_life_us);
    ju64(b, ", ", "samples", c->samples);
    jkey(b, ", ", "huge_coverage");
    if (c->huge_permille >= 0) ts_buf_fixed(b, c->huge_permille / 1000.0, 3);
    else ts_buf_puts(b, "null");
    json_str(b, "nodes", c->nodes, ", ");
    ju64(b, ", ", "rule_line", (uint64_t)c->rule_line);
    jkey(b, ", ", "frames");
    ts_buf_putc(b, '[');
    for (int f = 0; f < c->nframes; f++) {
      if (f) ts_buf_puts(b, ", ");
      ts_buf_json_str(b, c->frame[f]);
    }
    ts_buf_puts(b, "]}");
  }
  ts_buf_puts(b, p->ntop ? "\n    ]\n  }" : "]\n  }");
}

/* The nested "placement" object; key order is the documented one. */
static void json_placement(ts_buf_t *b, const ts_stats_placement_t *p) {
  ts_buf_puts(b, ",\n  \"placement\": {");
  json_str(b, "state", p->state, "\n    ");
  json_str(b, "thp_mode", p->thp_mode, ",\n    ");
  json_str(b, "thp_reason", p->thp_reason, ",\n    ");
  json_str(b, "release_mode", p->release_mode, ",\n    ");
  const struct { const char *k; uint64_t v; } f[] = {
      {"placed_mmaps", p->placed_mmaps},       {"placed_bytes", p->placed_bytes},
      {"pmd_aligned", p->pmd_aligned},         {"placed_mallocs", p->placed_mallocs},
      {"malloc_fallbacks", p->malloc_fallbacks}, {"mmap_fallbacks", p->mmap_fallbacks},
      {"regions", p->regions},                 {"vma_count_regions", p->vma_count_regions},
      {"retained_bytes", p->retained_bytes},   {"reused", p->reused},
      {"released_bytes", p->released_bytes},   {"release_calls", p->release_calls},
      {"collapse_ok", p->collapse_ok},         {"collapse_fail", p->collapse_fail},
      {"collapse_bytes", p->collapse_bytes},   {"thp_advise_ok", p->thp_advise_ok},
      {"thp_advise_fail", p->thp_advise_fail}, {"region_rss_bytes", p->region_rss_bytes},
      {"region_huge_bytes", p->region_huge_bytes}, {"region_live_bytes", p->region_live_bytes},
      {"region_committed_bytes", p->region_committed_bytes},
      {"heap_thp_bytes", p->heap_thp_bytes},   {"heap_thp_fail", p->heap_thp_fail},
      {"zero_checks", p->zero_checks},         {"sparse_bytes", p->sparse_bytes},
      {"pressure_releases", p->pressure_releases}, {"frugal", p->frugal},
      {"reentered_deferred", p->reentered_deferred}, {"reentered_refused", p->reentered_refused},
  };
  for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) {
    ts_buf_puts(b, ",\n    ");
    ts_buf_json_str(b, f[i].k);
    ts_buf_puts(b, ": ");
    ts_buf_u64(b, f[i].v);
  }
  ts_buf_puts(b, "\n  }");
}

size_t ts_stats_render_json(const ts_stats_snapshot_t *s, char *out, size_t cap) {
  ts_buf_t b;
  ts_buf_init(&b, out, cap);
  ts_buf_puts(&b, "{\n  \"version\": ");
  ts_buf_json_str(&b, TIERSHIM_VERSION);
  json_u64(&b, "pid", (uint64_t)s->pid);
  json_key(&b, "enabled");
  ts_buf_puts(&b, s->enabled ? "true" : "false");
  json_key(&b, "wall_seconds");
  ts_buf_fixed(&b, s->wall_seconds, 6);
  json_u64(&b, "anon_rss_bytes", s->proc.anon_rss_bytes);
  json_u64(&b, "anon_huge_bytes", s->proc.anon_huge_bytes);
  json_key(&b, "thp_coverage");
  ts_buf_fixed(&b, coverage(s), 4);
  json_u64(&b, "vma_count", s->proc.vma_count);
  json_u64(&b, "minor_faults", s->proc.minor_faults);
  json_u64(&b, "major_faults", s->proc.major_faults);
  json_key(&b, "tlb_shootdowns");
  if (s->tlb_known) ts_buf_u64(&b, s->tlb_shootdowns);
  else ts_buf_puts(&b, "null");
  for (int i = 0; i < TS_CTR_COUNT; i++) json_u64(&b, ctr_keys[i], s->ctr[i]);
  if (s->placement.present) json_placement(&b, &s->placement);
  if (s->tiers.present) json_tiers(&b, &s->tiers);
  json_migration(&b, &s->migration);
  if (s->unmap.present) json_unmap(&b, &s->unmap);
  if (s->profile.present) json_profile(&b, &s->profile);
  ts_buf_puts(&b, "\n}\n");
  return b.need;
}

static void text_mib(ts_buf_t *b, uint64_t bytes) {
  ts_buf_fixed(b, (double)bytes / (1024.0 * 1024.0), 1);
  ts_buf_puts(b, " MiB");
}

static void text_tiers(ts_buf_t *b, const ts_stats_tiers_t *t) {
  ts_buf_puts(b, "tiershim:   tiers ");
  ts_buf_puts(b, t->status);
  if (t->ntiers > 1) {
    ts_buf_puts(b, ": fast ");
    ts_buf_puts(b, t->fast_nodes);
    ts_buf_puts(b, ", slow ");
    ts_buf_puts(b, t->slow_nodes);
    ts_buf_puts(b, "; hot ");
    ts_buf_puts(b, t->hot_policy);
    ts_buf_puts(b, ", bulk ");
    ts_buf_puts(b, t->bulk_policy);
    ts_buf_puts(b, "; bind failures ");
    ts_buf_u64(b, t->bind_fail);
  } else {
    ts_buf_puts(b, ": ");
    ts_buf_puts(b, t->why);
  }
  ts_buf_putc(b, '\n');
  for (int i = 0; i < t->nnodes && t->ntiers > 1; i++) {
    const ts_stats_tier_node_t *n = &t->node[i];
    ts_buf_puts(b, "tiershim:     node ");
    ts_buf_u64(b, (uint64_t)n->node);
    ts_buf_puts(b, ": bulk ");
    text_mib(b, n->bulk_resident_bytes);
    ts_buf_puts(b, ", hot ");
    text_mib(b, n->hot_resident_bytes);
    ts_buf_puts(b, ", page tables ");
    text_mib(b, n->page_table_bytes);
    ts_buf_putc(b, '\n');
  }
}

size_t ts_stats_render_text(const ts_stats_snapshot_t *s, char *out, size_t cap) {
  ts_buf_t b;
  ts_buf_init(&b, out, cap);
  ts_buf_puts(&b, "tiershim: stats pid ");
  ts_buf_u64(&b, (uint64_t)s->pid);
  ts_buf_puts(&b, s->enabled ? ", " : ", policies off, ");
  ts_buf_fixed(&b, s->wall_seconds, 3);
  ts_buf_puts(&b, " s\ntiershim:   anon rss ");
  text_mib(&b, s->proc.anon_rss_bytes);
  ts_buf_puts(&b, ", huge pages ");
  text_mib(&b, s->proc.anon_huge_bytes);
  ts_buf_puts(&b, " (");
  ts_buf_fixed(&b, coverage(s) * 100.0, 1);
  ts_buf_puts(&b, "%), vmas ");
  ts_buf_u64(&b, s->proc.vma_count);
  ts_buf_puts(&b, "\ntiershim:   faults ");
  ts_buf_u64(&b, s->proc.minor_faults);
  ts_buf_puts(&b, " minor, ");
  ts_buf_u64(&b, s->proc.major_faults);
  ts_buf_puts(&b, " major; tlb shootdowns ");
  if (s->tlb_known) ts_buf_u64(&b, s->tlb_shootdowns);
  else ts_buf_puts(&b, "unknown");
  ts_buf_puts(&b, " (system-wide)\ntiershim:   calls");
  for (int i = 0; i < TS_CTR_COUNT; i++) {
    ts_buf_putc(&b, ' ');
    ts_buf_puts(&b, ctr_keys[i]);
    ts_buf_putc(&b, '=');
    ts_buf_u64(&b, s->ctr[i]);
  }
  ts_buf_putc(&b, '\n');
  const ts_stats_placement_t *p = &s->placement;
  if (p->present) {
    ts_buf_puts(&b, "tiershim:   placement ");
    ts_buf_puts(&b, p->state);
    ts_buf_puts(&b, ", thp ");
    ts_buf_puts(&b, p->thp_mode);
    ts_buf_puts(&b, ": region rss ");
    text_mib(&b, p->region_rss_bytes);
    ts_buf_puts(&b, ", huge ");
    text_mib(&b, p->region_huge_bytes);
    ts_buf_puts(&b, ", vmas ");
    ts_buf_u64(&b, p->vma_count_regions);
    ts_buf_puts(&b, ", mmaps placed ");
    ts_buf_u64(&b, p->placed_mmaps);
    ts_buf_puts(&b, ", retained ");
    text_mib(&b, p->retained_bytes);
    ts_buf_puts(&b, ", released ");
    text_mib(&b, p->released_bytes);
    ts_buf_puts(&b, ", collapsed ");
    ts_buf_u64(&b, p->collapse_ok);
    ts_buf_putc(&b, '\n');
  }
  if (s->tiers.present) text_tiers(&b, &s->tiers);
  const ts_stats_unmap_t *u = &s->unmap;
  if (u->present) {
    ts_buf_puts(&b, "tiershim:   unmap ");
    ts_buf_puts(&b, u->backend);
    ts_buf_puts(&b, " (");
    ts_buf_puts(&b, u->release_mode);
    ts_buf_puts(&b, "): ");
    text_mib(&b, u->bytes);
    ts_buf_puts(&b, " in ");
    ts_buf_u64(&b, u->ranges);
    ts_buf_puts(&b, " ranges, ");
    ts_buf_u64(&b, u->calls);
    ts_buf_puts(&b, " calls, shootdowns ");
    if (strcmp(u->source, "none") != 0) ts_buf_u64(&b, u->shootdowns);
    else ts_buf_puts(&b, "unknown");
    ts_buf_puts(&b, ", batch ");
    ts_buf_u64(&b, u->batch);
    ts_buf_puts(&b, ", delay ");
    ts_buf_u64(&b, u->delay_ms);
    ts_buf_puts(&b, " ms\n");
  }
  return b.need;
}
