/* The batcher; see batch.h. */
#include "base/reentry.h"
#include "policy/unmap/batch.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/prim.h"

void ts_ubatch_init(ts_ubatch_t *b, const tiershim_unmap_backend_t *be, void *state, size_t batch,
                    uint64_t delay_ns, bool adapt) {
  memset(b, 0, sizeof *b);
  pthread_mutex_init(&b->lock, NULL);
  b->be = be;
  b->state = state;
  b->batch_base = batch < 1 ? 1 : batch > TS_UBATCH_MAX ? TS_UBATCH_MAX : batch;
  b->delay_base = delay_ns;
  b->adapt = adapt;
  b->st.scale = 1;
  b->st.batch = b->batch_base;
  b->st.delay_ns = delay_ns;
}

static int range_cmp(const void *a, const void *b) {
  uintptr_t x = ((const ts_range_t *)a)->addr, y = ((const ts_range_t *)b)->addr;
  return (x > y) - (x < y);
}

size_t ts_ubatch_coalesce(ts_range_t *r, size_t n) {
  if (n < 2) return n;
  qsort(r, n, sizeof *r, range_cmp);
  size_t k = 0;
  for (size_t i = 1; i < n; i++) {
    if (r[k].addr + r[k].len == r[i].addr) r[k].len += r[i].len;
    else r[++k] = r[i];
  }
  return k + 1;
}

/* The shootdown counter the batcher adapts to: the backend's exact one
 * when it has it, else the system-wide TLB line (an over-estimate: other
 * processes' shootdowns count too, which only makes batching lazier). */
static bool measure(ts_ubatch_t *b, uint64_t *out) {
  tiershim_unmap_counts_t c;
  if (b->be->counts && b->be->counts(b->state, &c) == 0) {
    b->st.source = TS_USRC_BACKEND;
    *out = c.shootdowns;
    return true;
  }
  if (b->tlb_total && b->tlb_total(out)) {
    b->st.source = TS_USRC_TLB_LINE;
    return true;
  }
  b->st.source = TS_USRC_NONE;
  return false;
}

static void rescale(ts_ubatch_t *b, unsigned scale) {
  __atomic_store_n(&b->st.scale, scale, __ATOMIC_RELAXED); /* read by the placement engine */
  size_t batch = b->batch_base * scale;
  b->st.batch = batch > TS_UBATCH_MAX ? TS_UBATCH_MAX : batch;
  __atomic_store_n(&b->st.delay_ns, b->delay_base * scale, __ATOMIC_RELAXED);
}

/* A release that cost a shootdown round per call is costly: wait longer
 * and release more per call. Four free ones in a row: back towards base. */
static void adapt(ts_ubatch_t *b, uint64_t shootdowns, uint64_t calls) {
  if (calls == 0) return;
  if (shootdowns >= calls) {
    b->quiet = 0;
    if (b->st.scale < TS_UBATCH_SCALE_MAX) {
      rescale(b, b->st.scale * 2);
      b->st.grows++;
    }
  } else if (shootdowns == 0 && ++b->quiet >= 4) {
    b->quiet = 0;
    if (b->st.scale > 1) {
      rescale(b, b->st.scale / 2);
      b->st.shrinks++;
    }
  }
}

/* One vector through the backend; a short count is finished by madvise. */
static size_t release_vec(ts_ubatch_t *b, const ts_range_t *r, size_t k, uint64_t *calls) {
  tiershim_unmap_range_t *v = b->vec;
  size_t want = 0;
  for (size_t i = 0; i < k; i++) {
    v[i] = (tiershim_unmap_range_t){r[i].addr, r[i].len};
    want += r[i].len;
  }
  uint32_t c = 0;
  size_t got = b->be->release(b->state, v, k, &c);
  *calls += c;
  if (got == want) return want;
  b->st.failures++;
  size_t done = 0;
  for (size_t i = 0; i < k; i++) {
    (*calls)++;
    if (b->fallback((void *)r[i].addr, r[i].len) == 0) done += r[i].len;
  }
  return done;
}

size_t ts_ubatch_release(ts_ubatch_t *b, ts_range_t *r, size_t n) {
  n = ts_ubatch_coalesce(r, n);
  if (n == 0) return 0;
  ts_lock(&b->lock);
  uint64_t before = 0, after = 0, calls = 0;
  /* Reading the TLB line costs tens of microseconds: a program's munmap
   * of one placed range must not pay it each time (measure_gap_ns). */
  bool measured = false;
  if (b->adapt) {
    uint64_t now = b->measure_gap_ns ? ts_prim_clock_ns() : 0;
    if (now == 0 || now - b->measured_ns >= b->measure_gap_ns) {
      b->measured_ns = now;
      measured = measure(b, &before);
    }
  }
  size_t done = 0;
  for (size_t at = 0; at < n; at += b->st.batch) {
    size_t k = n - at < b->st.batch ? n - at : b->st.batch;
    done += release_vec(b, r + at, k, &calls);
    b->st.batches++;
  }
  b->st.ranges += n;
  b->st.bytes += done;
  b->st.calls += calls;
  if (measured && measure(b, &after) && after >= before) {
    b->st.shootdowns += after - before;
    adapt(b, after - before, calls);
  }
  ts_unlock(&b->lock);
  return done;
}

uint64_t ts_ubatch_delay(ts_ubatch_t *b) { return __atomic_load_n(&b->st.delay_ns, __ATOMIC_RELAXED); }

void ts_ubatch_decayed(ts_ubatch_t *b, size_t bytes) {
  ts_lock(&b->lock);
  b->st.decays++;
  b->st.decay_bytes += bytes;
  ts_unlock(&b->lock);
}

void ts_ubatch_snapshot(ts_ubatch_t *b, ts_ubatch_stats_t *out) {
  ts_lock(&b->lock);
  *out = b->st;
  ts_unlock(&b->lock);
}

/* The low-water mark of a window is what the program did not need during
 * it: that much (above the floor) can go without costing a page fault. */
size_t ts_udecay_note(ts_udecay_t *d, uint64_t now, uint64_t delay, size_t retained, size_t floor) {
  if (delay == 0) return 0;
  if (!d->open) {
    if (retained > floor) *d = (ts_udecay_t){now, retained, true};
    return 0;
  }
  if (retained < d->low) d->low = retained;
  if (now - d->start < delay) return 0;
  size_t due = d->low > floor ? d->low - floor : 0;
  *d = (ts_udecay_t){now, retained, retained > floor};
  return due;
}
