/* Rendering a stats snapshot: JSON (the contract, docs/stats.md) and the
 * human summary. Pure functions over a snapshot, no I/O. The keys of each
 * JSON object, and their order, are its list in stats_fields.h. */
#include "observe/stats.h"

#include "base/buf.h"

/* The counters' keys, from TS_CTR_LIST (base/counters.h). */
#define STATS_CTR_KEY(id, key) [TS_CTR_##id] = #key,
static const char *const ctr_keys[TS_CTR_COUNT] = {TS_CTR_LIST(STATS_CTR_KEY)};

static double stats_coverage(const ts_stats_snapshot_t *s) {
  if (s->proc.anon_rss_bytes == 0) return 0.0;
  double c = (double)s->proc.anon_huge_bytes / (double)s->proc.anon_rss_bytes;
  return c > 1.0 ? 1.0 : c;
}

/* An object being written: one key a line, indented ("\n  " at the top
 * level, "\n    " in a nested object), a comma before all but the first. */
typedef struct stats_obj_s {
  ts_buf_t *b;
  const char *indent;
  int keys;
} stats_obj_t;

static void stats_put_key(stats_obj_t *j, const char *key) {
  if (j->keys++ > 0) ts_buf_putc(j->b, ',');
  ts_buf_puts(j->b, j->indent);
  ts_buf_json_str(j->b, key);
  ts_buf_puts(j->b, ": ");
}

static void stats_put_str(stats_obj_t *j, const char *key, const char *v) {
  stats_put_key(j, key);
  ts_buf_json_str(j->b, v ? v : "");
}

static void stats_put_u64(stats_obj_t *j, const char *key, uint64_t v) {
  stats_put_key(j, key);
  ts_buf_u64(j->b, v);
}

static void stats_put_bool(stats_obj_t *j, const char *key, bool v) {
  stats_put_key(j, key);
  ts_buf_puts(j->b, v ? "true" : "false");
}

static void stats_put_fixed(stats_obj_t *j, const char *key, double v, int decimals) {
  stats_put_key(j, key);
  ts_buf_fixed(j->b, v, decimals);
}

static void stats_put_opt_u64(stats_obj_t *j, const char *key, bool known, uint64_t v) {
  stats_put_key(j, key);
  if (known) ts_buf_u64(j->b, v);
  else ts_buf_puts(j->b, "null");
}

/* An entry of a list whose source the renderer reads (top level, tiers,
 * profile), by kind (stats_fields.h); j is the object being written. */
#define STATS_PUT(kind, key, ...) STATS_PUT_##kind(#key, __VA_ARGS__);
#define STATS_PUT_STR(key, v) stats_put_str(j, key, v)
#define STATS_PUT_U64(key, v) stats_put_u64(j, key, v)
#define STATS_PUT_BOOL(key, v) stats_put_bool(j, key, v)
#define STATS_PUT_SECS(key, v) stats_put_fixed(j, key, v, 6)
#define STATS_PUT_RATIO(key, v) stats_put_fixed(j, key, v, 4)
#define STATS_PUT_OPT_U64(key, known, v) stats_put_opt_u64(j, key, known, v)
#define STATS_PUT_RAW(key, call) (stats_put_key(j, key), (call))

/* An entry of a list that made the struct of o: its field is the value. */
#define STATS_PUT_FIELD(kind, name, ...) STATS_FIELD_##kind(name);
#define STATS_FIELD_STR(name) stats_put_str(j, #name, o->name)
#define STATS_FIELD_U64(name) stats_put_u64(j, #name, o->name)
#define STATS_FIELD_BOOL(name) stats_put_bool(j, #name, o->name)
#define STATS_FIELD_SECS(name) stats_put_fixed(j, #name, o->name, 6)
#define STATS_FIELD_OPT_U64(name) stats_put_opt_u64(j, #name, o->name##_known, o->name)

/* A nested object, the value of key in the top level: "key": {...}. */
static stats_obj_t stats_open(stats_obj_t *top, const char *key) {
  stats_put_key(top, key);
  ts_buf_putc(top->b, '{');
  return (stats_obj_t){.b = top->b, .indent = "\n    "};
}

static void stats_close(stats_obj_t *j) { ts_buf_puts(j->b, "\n  }"); }

/* The members of the arrays, one a line, their keys inline. */
static void jkey(ts_buf_t *b, const char *sep, const char *key) {
  ts_buf_puts(b, sep);
  ts_buf_json_str(b, key);
  ts_buf_puts(b, ": ");
}

static void ju64(ts_buf_t *b, const char *sep, const char *key, uint64_t v) {
  jkey(b, sep, key);
  ts_buf_u64(b, v);
}

static void ji64(ts_buf_t *b, const char *sep, const char *key, int64_t v) {
  jkey(b, sep, key);
  ts_buf_i64(b, v);
}

static void jstr(ts_buf_t *b, const char *sep, const char *key, const char *v) {
  jkey(b, sep, key);
  ts_buf_json_str(b, v ? v : "");
}

static void stats_json_tier_array(ts_buf_t *b, const ts_stats_tiers_t *t) {
  ts_buf_putc(b, '[');
  for (int i = 0; i < t->ntiers; i++) {
    ts_buf_puts(b, i ? ",\n      {" : "\n      {");
    ji64(b, "", "index", i);
    ji64(b, ", ", "kernel_tier", t->tier[i].kernel_id);
    jstr(b, ", ", "nodes", t->tier[i].nodes);
    ju64(b, ", ", "bulk_resident_bytes", t->tier[i].bulk_resident_bytes);
    ju64(b, ", ", "hot_resident_bytes", t->tier[i].hot_resident_bytes);
    ts_buf_putc(b, '}');
  }
  ts_buf_putc(b, ']');
}

static void stats_json_node_array(ts_buf_t *b, const ts_stats_tiers_t *t) {
  ts_buf_putc(b, '[');
  for (int i = 0; i < t->nnodes; i++) {
    const ts_stats_tier_node_t *n = &t->node[i];
    ts_buf_puts(b, i ? ",\n      {" : "\n      {");
    ji64(b, "", "node", n->node);
    ji64(b, ", ", "tier", n->tier);
    ju64(b, ", ", "total_bytes", n->total_bytes);
    ju64(b, ", ", "free_bytes", n->free_bytes);
    ju64(b, ", ", "bulk_resident_bytes", n->bulk_resident_bytes);
    ju64(b, ", ", "hot_resident_bytes", n->hot_resident_bytes);
    ju64(b, ", ", "page_table_bytes", n->page_table_bytes);
    ts_buf_putc(b, '}');
  }
  ts_buf_putc(b, ']');
}

static void stats_json_callsite(ts_buf_t *b, const ts_stats_callsite_t *c) {
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
  jstr(b, ", ", "nodes", c->nodes);
  ju64(b, ", ", "rule_line", (uint64_t)c->rule_line);
  jkey(b, ", ", "frames");
  ts_buf_putc(b, '[');
  for (int f = 0; f < c->nframes; f++) {
    if (f) ts_buf_puts(b, ", ");
    ts_buf_json_str(b, c->frame[f]);
  }
  ts_buf_putc(b, ']');
}

/* A list of callsites closes on its own line, an empty one at once. */
static void stats_json_top_array(ts_buf_t *b, const ts_stats_profile_t *p) {
  ts_buf_putc(b, '[');
  for (int i = 0; i < p->ntop; i++) {
    ts_buf_puts(b, i ? ",\n      {" : "\n      {");
    stats_json_callsite(b, &p->top[i]);
    ts_buf_putc(b, '}');
  }
  ts_buf_puts(b, p->ntop ? "\n    ]" : "]");
}

static void stats_json_placement(stats_obj_t *top, const ts_stats_placement_t *o) {
  stats_obj_t obj = stats_open(top, "placement"), *j = &obj;
  TS_STATS_PLACEMENT_FIELDS(STATS_PUT_FIELD)
  stats_close(j);
}

static void stats_json_tiers(stats_obj_t *top, const ts_stats_tiers_t *t) {
  ts_buf_t *b = top->b;
  stats_obj_t obj = stats_open(top, "tiers"), *j = &obj;
  TS_STATS_TIERS_KEYS(STATS_PUT)
  stats_close(j);
}

static void stats_json_migration(stats_obj_t *top, const ts_stats_migration_t *o) {
  stats_obj_t obj = stats_open(top, "migration"), *j = &obj;
  TS_STATS_MIGRATION_FIELDS(STATS_PUT_FIELD)
  stats_close(j);
}

static void stats_json_unmap(stats_obj_t *top, const ts_stats_unmap_t *o) {
  stats_obj_t obj = stats_open(top, "unmap"), *j = &obj;
  TS_UNMAP_STATS_FIELDS(STATS_PUT_FIELD)
  stats_close(j);
}

static void stats_json_profile(stats_obj_t *top, const ts_stats_profile_t *p) {
  ts_buf_t *b = top->b;
  stats_obj_t obj = stats_open(top, "profile"), *j = &obj;
  TS_STATS_PROFILE_KEYS(STATS_PUT)
  stats_close(j);
}

/* The top level's keys, its counters, then the objects (the order of
 * docs/stats.md). */
size_t ts_stats_render_json(const ts_stats_snapshot_t *s, char *out, size_t cap) {
  ts_buf_t b;
  ts_buf_init(&b, out, cap);
  stats_obj_t top = {.b = &b, .indent = "\n  "}, *j = &top;
  ts_buf_putc(&b, '{');
  TS_STATS_TOP_KEYS(STATS_PUT)
  for (int i = 0; i < TS_CTR_COUNT; i++) stats_put_u64(j, ctr_keys[i], s->ctr[i]);
  if (s->placement.present) stats_json_placement(j, &s->placement);
  if (s->tiers.present) stats_json_tiers(j, &s->tiers);
  stats_json_migration(j, &s->migration);
  if (s->unmap.present) stats_json_unmap(j, &s->unmap);
  if (s->profile.present) stats_json_profile(j, &s->profile);
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
  ts_buf_fixed(&b, stats_coverage(s) * 100.0, 1);
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
    if (u->shootdowns_known) ts_buf_u64(&b, u->shootdowns);
    else ts_buf_puts(&b, "unknown");
    ts_buf_puts(&b, ", batch ");
    ts_buf_u64(&b, u->batch);
    ts_buf_puts(&b, ", delay ");
    ts_buf_u64(&b, u->delay_ms);
    ts_buf_puts(&b, " ms\n");
  }
  return b.need;
}
