/* The mirror of the module's pending set; see lazy.h. */
#include "policy/unmap/lazy.h"

#include <string.h>

/* This thread holds a mirror's lock. A signal handler that reenters
 * tiershim (alloc/place_defer.c) and changes a mapping reaches
 * ts_lazy_settle on the same thread: it must not wait for that lock. */
static __thread bool lazy_locked __attribute__((tls_model("initial-exec")));

static void lazy_lock(ts_lazy_t *l) {
  pthread_mutex_lock(&l->lock);
  lazy_locked = true;
}

static void lazy_unlock(ts_lazy_t *l) {
  lazy_locked = false;
  pthread_mutex_unlock(&l->lock);
}

bool ts_lazy_on(const ts_lazy_t *l) { return l->limit != 0; }

static void mirror_clear(ts_lazy_t *l) {
  __atomic_store_n(&l->n, 0, __ATOMIC_RELEASE);
  __atomic_store_n(&l->lo, UINTPTR_MAX, __ATOMIC_RELAXED);
  __atomic_store_n(&l->hi, 0, __ATOMIC_RELAXED);
  l->bytes = 0;
}

void ts_lazy_init(ts_lazy_t *l, const ts_lazy_ops_t *ops, size_t limit) {
  pthread_mutex_init(&l->lock, NULL);
  l->ops = *ops;
  l->limit = limit;
  mirror_clear(l);
}

/* Widens the span before a range becomes visible in the mirror, so a
 * reader that sees n > 0 and a span not covering its range is right to
 * skip it: the range cannot be pending. (It only shrinks at a clear.) */
static void span_widen(ts_lazy_t *l, uintptr_t a, uintptr_t e) {
  if (a < l->lo) __atomic_store_n(&l->lo, a, __ATOMIC_RELAXED);
  if (e > l->hi) __atomic_store_n(&l->hi, e, __ATOMIC_RELAXED);
  __atomic_thread_fence(__ATOMIC_RELEASE);
}

/* Union, sorted and coalesced, as the module merges (ts_lazy.c). A range
 * may be released again while pending (a program's munmap of a placed
 * range releases whole blocks): overlaps merge. */
bool ts_lazy_mirror_add(ts_lazy_t *l, const tiershim_unmap_range_t *r, size_t n) {
  if (n) span_widen(l, r[0].addr, r[n - 1].addr + r[n - 1].len); /* r is sorted */
  for (size_t j = 0; j < n; j++) {
    uintptr_t a = r[j].addr, e = a + r[j].len;
    size_t lo = 0;
    while (lo < l->n && l->v[lo].addr + l->v[lo].len < a) lo++;  /* first that may touch */
    size_t hi = lo;
    while (hi < l->n && l->v[hi].addr <= e) hi++;                 /* past the last that touches */
    if (hi > lo) {
      if (l->v[lo].addr < a) a = l->v[lo].addr;
      uintptr_t le = l->v[hi - 1].addr + l->v[hi - 1].len;
      if (le > e) e = le;
    } else if (l->n == TS_LAZY_MIRROR_MAX) {
      return false;
    }
    for (size_t i = lo; i < hi; i++) l->bytes -= l->v[i].len;
    size_t keep = hi > lo ? hi - lo - 1 : 0; /* merged entries beyond the first */
    if (hi == lo) memmove(&l->v[lo + 1], &l->v[lo], (l->n - lo) * sizeof l->v[0]);
    else if (keep) memmove(&l->v[lo + 1], &l->v[hi], (l->n - hi) * sizeof l->v[0]);
    l->v[lo] = (tiershim_unmap_range_t){a, e - a};
    l->bytes += e - a;
    __atomic_store_n(&l->n, hi == lo ? l->n + 1 : l->n - keep, __ATOMIC_RELEASE);
  }
  return true;
}

bool ts_lazy_mirror_overlaps(const ts_lazy_t *l, uintptr_t a, size_t len) {
  for (size_t i = 0; i < l->n && l->v[i].addr < a + len; i++)
    if (l->v[i].addr + l->v[i].len > a) return true;
  return false;
}

/* Takes [a, a + len) out; splits a range around it (v has one spare slot:
 * the caller clears a mirror that overflows, after draining the module). */
uint64_t ts_lazy_mirror_cancel(ts_lazy_t *l, uintptr_t a, size_t len) {
  uintptr_t e = a + len;
  uint64_t gone = 0;
  for (size_t i = 0; i < l->n; i++) {
    uintptr_t xa = l->v[i].addr, xe = xa + l->v[i].len;
    if (xe <= a || xa >= e) continue;
    gone += (xe < e ? xe : e) - (xa > a ? xa : a);
    if (xa < a && xe > e) { /* split */
      memmove(&l->v[i + 2], &l->v[i + 1], (l->n - i - 1) * sizeof l->v[0]);
      l->v[i] = (tiershim_unmap_range_t){xa, a - xa};
      l->v[i + 1] = (tiershim_unmap_range_t){e, xe - e};
      __atomic_store_n(&l->n, l->n + 1, __ATOMIC_RELEASE);
      break;
    }
    if (xa < a) { l->v[i].len = a - xa; continue; }
    if (xe > e) { l->v[i] = (tiershim_unmap_range_t){e, xe - e}; break; }
    memmove(&l->v[i], &l->v[i + 1], (l->n - i - 1) * sizeof l->v[0]);
    __atomic_store_n(&l->n, l->n - 1, __ATOMIC_RELEASE);
    i--;
  }
  l->bytes -= gone;
  return gone;
}

/* Under lock: the module drains; the mirror is empty when it succeeded. A
 * failed drain (a fatal signal in the ioctl) keeps the mirror: superset. */
static void drain_locked(ts_lazy_t *l) {
  uint64_t pending = 1;
  if (l->ops.settle(l->ops.ctx, 0, 0, &pending) == 0 && pending == 0) mirror_clear(l);
  else l->failures++;
}

size_t ts_lazy_release(ts_lazy_t *l, const tiershim_unmap_range_t *r, size_t n) {
  uint64_t bytes = 0;
  lazy_lock(l);
  int rc = l->ops.release(l->ops.ctx, r, n, &bytes);
  if (rc == 0) {
    if (l->n) l->drains_seen++;
    mirror_clear(l);
  } else if (rc == 1) {
    l->parked += bytes;
    if (!ts_lazy_mirror_add(l, r, n)) drain_locked(l); /* the module's set is as bounded */
  }
  lazy_unlock(l);
  return rc < 0 ? 0 : (size_t)bytes;
}

void ts_lazy_settle(ts_lazy_t *l, uintptr_t a, size_t len) {
  if (lazy_locked) {
    /* A handler on a thread inside the lock: the thread may be between a
     * module call and the mirror's update, so the mirror cannot be trusted
     * or changed; the module settles, and the mirror stays a superset. */
    uint64_t pending;
    if (l->limit) (void)l->ops.settle(l->ops.ctx, a, len, &pending);
    return;
  }
  if (__atomic_load_n(&l->n, __ATOMIC_ACQUIRE) == 0) return; /* the common case: one load */
  if (a >= __atomic_load_n(&l->hi, __ATOMIC_RELAXED) || a + len <= __atomic_load_n(&l->lo, __ATOMIC_RELAXED))
    return; /* outside everything pending */
  lazy_lock(l);
  if (ts_lazy_mirror_overlaps(l, a, len)) {
    uint64_t pending = 1;
    l->settles++;
    if (l->ops.settle(l->ops.ctx, a, len, &pending) != 0) {
      l->failures++;
      drain_locked(l);
    } else if (pending == 0) {
      mirror_clear(l);
    } else {
      l->cancelled += ts_lazy_mirror_cancel(l, a, len);
      if (l->n > TS_LAZY_MIRROR_MAX) drain_locked(l);
    }
  }
  lazy_unlock(l);
}

void ts_lazy_drain(ts_lazy_t *l) {
  if (__atomic_load_n(&l->n, __ATOMIC_ACQUIRE) == 0 || lazy_locked) return;
  lazy_lock(l);
  if (l->n) drain_locked(l);
  lazy_unlock(l);
}

void ts_lazy_fini(ts_lazy_t *l) {
  lazy_lock(l);
  l->limit = 0;
  mirror_clear(l);
  lazy_unlock(l);
}

void ts_lazy_forget(ts_lazy_t *l) {
  pthread_mutex_init(&l->lock, NULL);
  mirror_clear(l);
}
