/* Callsite tables; see callsite.h. */
#include "policy/callsite.h"

#include <string.h>

static uint64_t frames_key(const uintptr_t *pc, int depth) {
  uint64_t h = 0xcbf29ce484222325ull ^ (uint64_t)depth;
  for (int i = 0; i < depth; i++) h = (h ^ pc[i]) * 0x100000001b3ull;
  return h ? h : 1;
}

static inline uint32_t rec_hash(uintptr_t addr) {
  return (uint32_t)((addr >> 4) * 0x9e3779b97f4a7c15ull >> 48);
}

size_t ts_cs_mem_size(void) {
  return (TS_CS_MAX + 1) * sizeof(ts_callsite_t) + TS_CS_RECS * sizeof(ts_cs_rec_t);
}

void ts_cs_init(ts_cstab_t *t, void *mem) {
  memset(t, 0, sizeof *t);
  pthread_mutex_init(&t->lock, NULL);
  t->site = mem;
  t->rec = (ts_cs_rec_t *)((char *)mem + (TS_CS_MAX + 1) * sizeof(ts_callsite_t));
  memset(mem, 0, ts_cs_mem_size());
  t->site[TS_CS_MAX].key = 1; /* "other": matches no rule */
  t->site[TS_CS_MAX].resolved = 1;
}

/* Open addressing over the site table, linear probing. */
uint32_t ts_cs_intern(ts_cstab_t *t, const uintptr_t *pc, int depth) {
  if (depth > TS_CS_DEPTH) depth = TS_CS_DEPTH;
  uint64_t key = frames_key(pc, depth);
  for (uint32_t i = (uint32_t)(key % TS_CS_MAX), n = 0; n < TS_CS_MAX; i = (i + 1) % TS_CS_MAX, n++) {
    ts_callsite_t *s = &t->site[i];
    if (s->key == key && s->depth == depth && memcmp(s->pc, pc, (size_t)depth * sizeof *pc) == 0) return i;
    if (s->key != 0) continue;
    if (t->nsites >= TS_CS_MAX * 3 / 4) break; /* keep probes short: the rest is "other" */
    s->key = key;
    s->depth = (uint8_t)depth;
    memcpy(s->pc, pc, (size_t)depth * sizeof *pc);
    t->nsites++;
    return i;
  }
  return TS_CS_MAX;
}

static void filter_set(ts_cstab_t *t, uint32_t h) {
  __atomic_fetch_or(&t->filter[h >> 6], (uint64_t)1 << (h & 63), __ATOMIC_RELAXED);
}

void ts_cs_alloc(ts_cstab_t *t, uint32_t site, uintptr_t addr, size_t size, uint32_t weight, uint64_t now,
                 uint32_t flags) {
  ts_callsite_t *s = &t->site[site];
  s->count += weight;
  s->bytes += (uint64_t)size * weight;
  s->live += (uint64_t)size * weight;
  if (s->live > s->peak) s->peak = s->live;
  s->samples++;
  s->rule_line = flags >> 8;
  if (t->nrecs >= TS_CS_RECS * 7 / 8) {
    t->dropped++;
    s->live -= (uint64_t)size * weight; /* its free will not be seen */
    return;
  }
  uint32_t h = rec_hash(addr);
  for (uint32_t i = h;; i = (i + 1) % TS_CS_RECS) {
    if (t->rec[i].addr > 1) continue;
    t->rec[i] = (ts_cs_rec_t){addr, site, weight, size, now, flags};
    t->nrecs++;
    filter_set(t, h);
    return;
  }
}

bool ts_cs_free(ts_cstab_t *t, uintptr_t addr, uint64_t now, ts_cs_rec_t *out) {
  uint32_t h = rec_hash(addr);
  for (uint32_t i = h, n = 0; n < TS_CS_RECS; i = (i + 1) % TS_CS_RECS, n++) {
    ts_cs_rec_t *r = &t->rec[i];
    if (r->addr == 0) return false;
    if (r->addr != addr) continue;
    *out = *r;
    ts_callsite_t *s = &t->site[r->site];
    s->live -= r->size * r->weight;
    s->frees++;
    s->life_ns += now - r->t_ns;
    r->addr = 1; /* deleted: probes continue past it */
    t->nrecs--;
    return true;
  }
  return false;
}

size_t ts_cs_top(const ts_cstab_t *t, uint32_t *order, size_t n) {
  size_t k = 0;
  for (uint32_t i = 0; i <= TS_CS_MAX; i++) {
    const ts_callsite_t *s = &t->site[i];
    if (s->key == 0 || s->count == 0) continue;
    size_t j = k < n ? k++ : n; /* insertion into the kept top n */
    if (j == n && (n == 0 || t->site[order[n - 1]].bytes >= s->bytes)) continue;
    if (j == n) j = n - 1;
    while (j > 0 && t->site[order[j - 1]].bytes < s->bytes) {
      order[j] = order[j - 1];
      j--;
    }
    order[j] = i;
  }
  return k;
}
