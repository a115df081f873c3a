/* Callsite attribution's tables (the profiler, observe/profile.c): callsites
 * keyed by their return addresses, and the records of traced allocations
 * still live, keyed by address. Pure: memory comes from the caller (mapped
 * once when profiling starts), one lock (a leaf) guards both, nothing here
 * allocates or unwinds, so the unit tests drive it with made-up frames.
 *
 * Sampled allocations stand for `weight` allocations each (1 for those
 * traced because of their size, N for the 1-in-N sampled small ones): the
 * counts are estimates of the whole program's, as tcmalloc's heap profiles
 * are. */
#ifndef TS_CALLSITE_H
#define TS_CALLSITE_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TS_CS_DEPTH 8        /* frames kept per callsite */
#define TS_CS_MAX 2048       /* distinct callsites; later ones go to "other" */
#define TS_CS_RECS (1u << 16) /* live traced allocations tracked at once */

typedef struct ts_callsite_s {
  uint64_t key;                /* hash of the frames; 0: empty slot */
  uintptr_t pc[TS_CS_DEPTH];
  uint8_t depth;
  uint8_t resolved;            /* rules below computed (the profiler does it, once) */
  uint64_t rules;              /* bit i: rule i's pattern matches these frames */
  uint32_t rule_line;          /* the rule that matched the last traced allocation (flags >> 8) */
  uint64_t count, bytes;       /* allocations and bytes (estimates: weighted) */
  uint64_t live, peak;         /* bytes live now and at most (weighted) */
  uint64_t frees, life_ns;     /* traced frees and their summed lifetimes */
  uint64_t samples;            /* traced allocations (unweighted) */
} ts_callsite_t;

/* A live traced allocation. */
typedef struct ts_cs_rec_s {
  uintptr_t addr;              /* 0: empty, 1: deleted */
  uint32_t site;               /* index in the callsite table */
  uint32_t weight;
  uint64_t size;
  uint64_t t_ns;
  uint32_t flags;              /* the profiler's (a rule was applied, ...) */
} ts_cs_rec_t;

typedef struct ts_cstab_s {
  pthread_mutex_t lock;
  ts_callsite_t *site;         /* TS_CS_MAX + 1: the last is "other" */
  size_t nsites;
  ts_cs_rec_t *rec;            /* TS_CS_RECS */
  size_t nrecs, dropped;       /* live records; allocations not tracked (table full) */
  uint64_t filter[TS_CS_RECS / 64]; /* a bit per record hash bucket: a free probes only if set */
} ts_cstab_t;

/* Bytes of memory ts_cs_init needs (sites and records). */
size_t ts_cs_mem_size(void);
void ts_cs_init(ts_cstab_t *t, void *mem);

/* The index of the callsite with these frames (interned on first sight);
 * TS_CS_MAX ("other") when the table is full. Caller holds the lock. */
uint32_t ts_cs_intern(ts_cstab_t *t, const uintptr_t *pc, int depth);

/* A traced allocation: counts it to its site and records it for its free. */
void ts_cs_alloc(ts_cstab_t *t, uint32_t site, uintptr_t addr, size_t size, uint32_t weight, uint64_t now,
                 uint32_t flags);

/* A free: true and *out when addr was traced (its record is gone after). */
bool ts_cs_free(ts_cstab_t *t, uintptr_t addr, uint64_t now, ts_cs_rec_t *out);

/* Cheap, lock-free: may addr have a record? (false: certainly not.) */
static inline bool ts_cs_maybe(const ts_cstab_t *t, uintptr_t addr) {
  uint64_t h = (addr >> 4) * 0x9e3779b97f4a7c15ull >> 48; /* TS_CS_RECS = 2^16 */
  return (__atomic_load_n(&t->filter[h >> 6], __ATOMIC_RELAXED) >> (h & 63)) & 1;
}

/* The n callsites with the most bytes allocated, most first, into order[]
 * (indices); returns how many. Caller holds the lock. */
size_t ts_cs_top(const ts_cstab_t *t, uint32_t *order, size_t n);

#endif
