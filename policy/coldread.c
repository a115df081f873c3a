/* Cold reads; see coldread.h. Per call: one get_mempolicy, one madvise
 * (MADV_POPULATE_WRITE, 5.14), two set_mempolicy; with bulk=fast, a read of
 * the fast tier's free memory and an mbind per 32 MiB. Everything here is a
 * raw system call or an atomic add, and never touches errno; the one lock
 * (background promotion's table, through ts_tier_filling) is why the shim
 * skips cold reads on a thread that a signal caught inside tiershim. */
#define _GNU_SOURCE
#include "policy/coldread.h"

#include <errno.h>
#include <sys/mman.h>

#include "base/options.h"
#include "base/prim.h"
#include "policy/tierpol.h"

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

#define PAGE ((uintptr_t)4096)
#define COLD_STEP ((uintptr_t)8 << 20) /* populated per step: see ts_cold_read_begin */

bool ts_cold_reads;
static int cold_mode;
static uint64_t cold_nodes;
static struct { uint64_t reads, bytes, refused, restore_failures; } cst;

static int os_get(int *mode, uint64_t *nodes) { return ts_prim_get_mempolicy(mode, nodes, NULL, 0); }
static int os_set(int mode, uint64_t nodes) { return ts_prim_set_mempolicy(mode, nodes); }

static const ts_cold_read_hooks_t os_hooks = {os_get, os_set, ts_prim_madvise, ts_tier_filling};
static ts_cold_read_hooks_t hooks = {os_get, os_set, ts_prim_madvise, ts_tier_filling};

void ts_cold_read_set_hooks(const ts_cold_read_hooks_t *h) { hooks = h ? *h : os_hooks; }

void ts_cold_read_enable(int mode, uint64_t nodes) {
  cold_mode = mode;
  cold_nodes = nodes;
  ts_cold_reads = true;
}

void ts_cold_read_init(void) {
  int mode;
  uint64_t nodes;
  ts_cold_reads = false;
  if (ts_config.cold_reads && ts_tier_cold_policy(&mode, &nodes)) ts_cold_read_enable(mode, nodes);
}

static inline void cold_add(uint64_t *c, uint64_t n) { __atomic_fetch_add(c, n, __ATOMIC_RELAXED); }

static bool refuse(ts_cold_read_t *s) {
  cold_add(&cst.refused, 1);
  s->active = false;
  return false;
}

bool ts_cold_read_begin(ts_cold_read_t *s, void *dst, size_t fill) {
  s->active = false;
  if (!ts_cold_reads || fill == 0) return false;
  if (hooks.get_mempolicy(&s->mode, &s->nodes) != 0) return refuse(s);
  /* The thread already prefers the slow tier (or the program set a policy
   * of its own on this thread since start-up): leave it be. */
  if (s->mode == cold_mode && s->nodes == cold_nodes) return false;
  /* Populate under the thread's own policy first: the destination's pages
   * follow its VMA policy whatever the thread's, but the page tables that
   * map them follow the thread's, and they belong on the fast tier. */
  uintptr_t lo = (uintptr_t)dst & ~(PAGE - 1);
  uintptr_t hi = ((uintptr_t)dst + fill + PAGE - 1) & ~(PAGE - 1);
  /* A step at a time, each tier decision right before its populate: the
   * next one (this process's or another's) then sees the memory used. */
  for (uintptr_t a = lo; a < hi; a += COLD_STEP) {
    size_t n = hi - a < COLD_STEP ? hi - a : COLD_STEP;
    hooks.filling(a, n);
    if (hooks.madvise((void *)a, n, MADV_POPULATE_WRITE) != 0) return refuse(s);
  }
  if (hooks.set_mempolicy(cold_mode, cold_nodes) != 0) return refuse(s);
  s->active = true;
  return true;
}

void ts_cold_read_end(ts_cold_read_t *s, long got) {
  if (!s->active) return;
  s->active = false;
  if (hooks.set_mempolicy(s->mode, s->nodes) != 0) cold_add(&cst.restore_failures, 1);
  cold_add(&cst.reads, 1);
  if (got > 0) cold_add(&cst.bytes, (uint64_t)got);
}

void ts_cold_read_stats(ts_cold_read_stats_t *o) {
  o->reads = __atomic_load_n(&cst.reads, __ATOMIC_RELAXED);
  o->bytes = __atomic_load_n(&cst.bytes, __ATOMIC_RELAXED);
  o->refused = __atomic_load_n(&cst.refused, __ATOMIC_RELAXED);
  o->restore_failures = __atomic_load_n(&cst.restore_failures, __ATOMIC_RELAXED);
}
