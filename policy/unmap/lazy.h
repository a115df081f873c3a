/* The user-space side of the module's deferred release (docs/unmap.md,
 * "Lazy release"): a mirror of the ranges /dev/tiershim may still hold
 * pending, so that tiershim settles a range before it reuses or remaps it,
 * and pays nothing when nothing is pending.
 *
 * Why a mirror: the module zaps its pending set later, by address. Memory
 * tiershim hands out again, or maps afresh, after parking it must come out
 * of that set first, or the drain would zap the program's new data. The
 * mirror is a superset of the module's set (it never misses a pending
 * range): ranges go in when a release parks them, out when a settle
 * cancels them, and the whole mirror is cleared whenever the module says
 * nothing is pending. Every module call that changes the set is made under
 * the mirror's lock, so the module's answers and the mirror cannot cross.
 *
 * Pure logic over two injected module calls, so the unit tests drive it
 * with a fake module (tests/unit/test_lazy.c). Lock order: the batcher's
 * lock (release), then the mirror's; base/prim.c's settle hook takes only
 * the mirror's, and nothing under it calls back into tiershim. */
#ifndef TS_UNMAP_LAZY_H
#define TS_UNMAP_LAZY_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "include/tiershim_unmap.h"

#define TS_LAZY_MIRROR_MAX 1024 /* the module's TS_KMOD_LAZY_MAX */

typedef struct ts_lazy_ops_s {
  /* RELEASE with TS_KMOD_REL_LAZY: 0 nothing pending afterwards, 1 pending
   * (these ranges among them), -errno nothing released. */
  int (*release)(void *ctx, const tiershim_unmap_range_t *r, size_t n, uint64_t *bytes);
  /* SETTLE [a, a + len) (len 0: drain all): 0 or -errno; *pending: the
   * module's pending bytes afterwards. */
  int (*settle)(void *ctx, uintptr_t a, size_t len, uint64_t *pending);
  void *ctx;
} ts_lazy_ops_t;

typedef struct ts_lazy_s {
  pthread_mutex_t lock;
  ts_lazy_ops_t ops;
  size_t limit;                 /* 0: lazy off */
  size_t n;                     /* under lock; read without it as the fast test */
  uintptr_t lo, hi;             /* the mirror's span, read without the lock: a
                                 * range outside it (mimalloc's own heap) costs
                                 * no lock; set before n grows, kept wide */
  uint64_t bytes;               /* the mirror's bytes (>= the module's pending) */
  uint64_t parked, settles, cancelled, drains_seen, failures;
  tiershim_unmap_range_t v[TS_LAZY_MIRROR_MAX + 1]; /* sorted, disjoint, not touching */
} ts_lazy_t;

void ts_lazy_init(ts_lazy_t *l, const ts_lazy_ops_t *ops, size_t limit);
bool ts_lazy_on(const ts_lazy_t *l);

/* A release through the module (r sorted, disjoint): the bytes, or 0 when
 * the module refused (nothing released: the caller falls back). */
size_t ts_lazy_release(ts_lazy_t *l, const tiershim_unmap_range_t *r, size_t n);

/* Before [a, a + len) is reused or remapped: takes its overlap out of the
 * module's pending set. Nothing pending there: no call at all. */
void ts_lazy_settle(ts_lazy_t *l, uintptr_t a, size_t len);

/* Drains everything (SETTLE with no range). */
void ts_lazy_drain(ts_lazy_t *l);

/* After fork in the child (its module file is new: nothing pending), and
 * at exit (the module drops the set with the file). */
void ts_lazy_forget(ts_lazy_t *l);
void ts_lazy_fini(ts_lazy_t *l); /* at exit: lazy off, the mirror cleared (under its lock) */

/* The mirror alone, for the tests: add (false: full), overlap, cancel. */
bool ts_lazy_mirror_add(ts_lazy_t *l, const tiershim_unmap_range_t *r, size_t n);
bool ts_lazy_mirror_overlaps(const ts_lazy_t *l, uintptr_t a, size_t len);
uint64_t ts_lazy_mirror_cancel(ts_lazy_t *l, uintptr_t a, size_t len);

#endif
