/* The region allocator; see region.h.
 *
 * Both range lists are arrays sorted by address. Regions hold hundreds to a
 * few thousand ranges (they serve requests of 64 KiB and more), so binary
 * search plus memmove beats a tree here in code and in cache misses. The
 * arrays live in pages mapped through the prim layer, never in the heap:
 * region calls run inside malloc with the placement lock held. */
#define _GNU_SOURCE
#include "alloc/region.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#include "base/meta.h"
#include "base/prim.h"
#include "policy/tierpol.h"

/* ---- sorted range vectors --------------------------------------------- */

#define RVEC_MIN_BYTES 4096

static bool rvec_reserve(ts_rvec_t *v, size_t n) {
  if (n <= v->cap) return true;
  size_t old_bytes = v->cap * sizeof(ts_range_t);
  size_t bytes = old_bytes ? old_bytes * 2 : RVEC_MIN_BYTES;
  while (bytes / sizeof(ts_range_t) < n) bytes *= 2;
  /* A copy, not mremap: a move would open a hole among our metadata (meta.h) */
  ts_range_t *nv = ts_meta_map_hot(bytes);
  if (nv == NULL) return false;
  if (v->v) {
    memcpy(nv, v->v, v->n * sizeof(ts_range_t));
    ts_meta_unmap(v->v, old_bytes);
  }
  v->v = nv;
  v->cap = bytes / sizeof(ts_range_t);
  return true;
}

static void rvec_free(ts_rvec_t *v) {
  if (v->v) ts_meta_unmap(v->v, v->cap * sizeof(ts_range_t));
  v->v = NULL;
  v->n = v->cap = 0;
}

/* Index of the first range whose addr is > a. */
static size_t rvec_upper(const ts_rvec_t *v, uintptr_t a) {
  size_t lo = 0, hi = v->n;
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    if (v->v[mid].addr <= a) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

static bool rvec_insert(ts_rvec_t *v, size_t i, ts_range_t x) {
  if (!rvec_reserve(v, v->n + 1)) return false;
  memmove(&v->v[i + 1], &v->v[i], (v->n - i) * sizeof(ts_range_t));
  v->v[i] = x;
  v->n++;
  return true;
}

static void rvec_erase(ts_rvec_t *v, size_t i) {
  memmove(&v->v[i], &v->v[i + 1], (v->n - i - 1) * sizeof(ts_range_t));
  v->n--;
}

static inline uintptr_t range_end(const ts_range_t *x) { return x->addr + x->len; }


/* ---- free ranges -------------------------------------------------------- */

static void free_account(ts_region_t *r, const ts_range_t *x, long sign) {
  if (x->state == TS_FREE_DIRTY) r->dirty_bytes += (size_t)((long)x->len * sign);
}

/* Adds [addr, addr+len) as free, merging with neighbours in the same state
 * (neighbours in different states stay apart: merging would lose what the
 * OS holds for part of the range). */
static bool free_add(ts_region_t *r, uintptr_t addr, size_t len, uint8_t state) {
  if (len == 0) return true;
  ts_rvec_t *f = &r->free;
  size_t i = rvec_upper(f, addr);
  ts_range_t x = {addr, len, 0, state};
  if (i > 0 && range_end(&f->v[i - 1]) == addr && f->v[i - 1].state == state) {
    i--;
    free_account(r, &f->v[i], -1);
    x.addr = f->v[i].addr;
    x.len += f->v[i].len;
    rvec_erase(f, i);
  }
  if (i < f->n && f->v[i].addr == range_end(&x) && f->v[i].state == state) {
    free_account(r, &f->v[i], -1);
    x.len += f->v[i].len;
    rvec_erase(f, i);
  }
  free_account(r, &x, +1);
  return rvec_insert(f, i, x);
}

/* Removes [addr, addr+len) from free range i (which contains it). */
static bool free_carve(ts_region_t *r, size_t i, uintptr_t addr, size_t len) {
  ts_range_t x = r->free.v[i];
  free_account(r, &x, -1);
  rvec_erase(&r->free, i);
  bool ok = true;
  if (addr > x.addr) ok &= free_add(r, x.addr, addr - x.addr, x.state);
  if (addr + len < range_end(&x)) ok &= free_add(r, addr + len, range_end(&x) - addr - len, x.state);
  return ok;
}

static void grant_note(ts_grant_t *g, uint8_t state) {
  g->reused = true;
  g->dirty |= (state == TS_FREE_DIRTY);
  g->unmapped |= (state == TS_FREE_NONE);
  g->zapped |= (state == TS_FREE_ZAPPED);
}

/* ---- live ranges -------------------------------------------------------- */

static bool live_add(ts_region_t *r, uintptr_t addr, size_t len, uint32_t tag) {
  ts_range_t x = {addr, len, tag, 0};
  if (!rvec_insert(&r->live, rvec_upper(&r->live, addr), x)) return false;
  r->live_bytes += len;
  return true;
}

/* Index of the live range containing a, or SIZE_MAX. */
static size_t live_index(const ts_region_t *r, uintptr_t a) {
  size_t i = rvec_upper(&r->live, a);
  if (i == 0 || a >= range_end(&r->live.v[i - 1])) return SIZE_MAX;
  return i - 1;
}

static bool live_overlaps(const ts_region_t *r, uintptr_t addr, size_t len) {
  size_t i = rvec_upper(&r->live, addr + len - 1); /* ranges starting <= last byte */
  return i > 0 && range_end(&r->live.v[i - 1]) > addr;
}

/* ---- the region --------------------------------------------------------- */

void ts_region_init(ts_region_t *r, uintptr_t base, size_t cap, size_t granule) {
  memset(r, 0, sizeof *r);
  r->base = r->top = base;
  r->limit = base + cap;
  r->granule = granule;
}

void ts_region_destroy(ts_region_t *r) {
  rvec_free(&r->live);
  rvec_free(&r->free);
}

/* Carves [addr, end) out of the free ranges it overlaps (all of it below
 * top is free), noting each one's state in the grant. */
static bool carve_span(ts_region_t *r, uintptr_t addr, uintptr_t end, ts_grant_t *g) {
  for (size_t i = rvec_upper(&r->free, end - 1); i-- > 0;) {
    ts_range_t x = r->free.v[i];
    if (range_end(&x) <= addr) break;
    uintptr_t s = x.addr > addr ? x.addr : addr, e = range_end(&x) < end ? range_end(&x) : end;
    grant_note(g, x.state);
    if (!free_carve(r, i, s, e - s)) return false;
  }
  return true;
}

/* The first free range of the span of adjacent free ranges that ends with
 * range j (ranges in different states are adjacent without merging). */
static size_t span_first(const ts_region_t *r, size_t j) {
  while (j > 0 && range_end(&r->free.v[j - 1]) == r->free.v[j].addr) j--;
  return j;
}

/* Best fit over spans of adjacent free ranges, whatever their states: a
 * retained (dirty) range beside a released (clean) one serves a block that
 * neither holds alone, instead of both staying holes while the block takes
 * new memory from the top. The smallest span that holds an aligned block
 * of len wins. */
static bool best_fit(const ts_region_t *r, size_t len, size_t align, uintptr_t *at) {
  size_t best = 0;
  bool found = false;
  for (size_t i = 0; i < r->free.n;) {
    size_t j = i + 1;
    uintptr_t s = r->free.v[i].addr, e = range_end(&r->free.v[i]);
    while (j < r->free.n && r->free.v[j].addr == e) e = range_end(&r->free.v[j++]);
    uintptr_t a = ts_align_up(s, align);
    if (a >= s && a <= e && len <= e - a && (!found || e - s < best)) { /* no wrap-around */
      found = true;
      best = e - s;
      *at = a;
    }
    i = j;
  }
  return found;
}

/* Best fit over retained (dirty) ranges alone. Tried first: reusing
 * retained memory costs no page fault, while a block put on released
 * (clean) memory faults it all back in, and then the placement engine
 * trades retained memory away for it (bench/micro/unmap with a small
 * RETAIN_MAX released and re-faulted 4 GB a second that way). */
static bool best_fit_dirty(const ts_region_t *r, size_t len, size_t align, uintptr_t *at) {
  size_t best = 0;
  bool found = false;
  for (size_t i = 0; i < r->free.n; i++) {
    const ts_range_t *x = &r->free.v[i];
    if (x->state != TS_FREE_DIRTY || x->len < len || (found && x->len >= best)) continue;
    uintptr_t a = ts_align_up(x->addr, align);
    if (a >= x->addr && a - x->addr <= x->len - len) {
      found = true;
      best = x->len;
      *at = a;
    }
  }
  return found;
}

/* From the top: a span of free ranges ending at top is extended upwards
 * rather than left behind as a hole. */
static int alloc_top(ts_region_t *r, size_t len, size_t align, ts_grant_t *out) {
  uintptr_t from = r->top;
  size_t n = r->free.n;
  if (n > 0 && range_end(&r->free.v[n - 1]) == r->top) from = r->free.v[span_first(r, n - 1)].addr;
  uintptr_t a = ts_align_up(from, align);
  if (a < from || a + len < a || a + len > r->limit) return -ENOMEM;
  if (a < r->top) { /* part of the span at the top */
    if (!carve_span(r, a, r->top, out)) return -ENOMEM;
  } else if (a > r->top && !free_add(r, r->top, a - r->top, TS_FREE_CLEAN)) {
    return -ENOMEM;
  }
  r->top = a + len;
  out->addr = a;
  out->fresh = true;
  return 0;
}

int ts_region_alloc(ts_region_t *r, size_t len, size_t align, uint32_t tag, ts_grant_t *out) {
  if (len == 0 || len % r->granule != 0) return -EINVAL;
  if (align < r->granule) align = r->granule;
  uintptr_t at = 0;
  *out = (ts_grant_t){0};
  if (best_fit_dirty(r, len, align, &at) || best_fit(r, len, align, &at)) {
    out->addr = at;
    if (!carve_span(r, at, at + len, out)) return -ENOMEM;
  } else {
    int err = alloc_top(r, len, align, out);
    if (err) return err;
  }
  return live_add(r, out->addr, len, tag) ? 0 : -ENOMEM;
}

int ts_region_alloc_at(ts_region_t *r, uintptr_t addr, size_t len, uint32_t tag, ts_grant_t *out) {
  if (len == 0 || addr % r->granule || len % r->granule) return -EINVAL;
  if (addr < r->base || addr + len > r->limit || addr + len < addr) return -ENOMEM;
  if (live_overlaps(r, addr, len)) return -EEXIST;
  *out = (ts_grant_t){.addr = addr, .fresh = addr + len > r->top};
  uintptr_t end = addr + len, below = end < r->top ? end : r->top;
  if (addr < below && !carve_span(r, addr, below, out)) return -ENOMEM;
  if (end > r->top) {
    if (addr > r->top && !free_add(r, r->top, addr - r->top, TS_FREE_CLEAN)) return -ENOMEM;
    r->top = end;
  }
  return live_add(r, addr, len, tag) ? 0 : -ENOMEM;
}

size_t ts_region_free(ts_region_t *r, uintptr_t addr, size_t len, ts_free_state_t state) {
  if (len == 0) return 0;
  uintptr_t end = addr + len;
  size_t freed = 0;
  size_t i = rvec_upper(&r->live, end - 1);
  while (i-- > 0) {
    ts_range_t x = r->live.v[i];
    if (range_end(&x) <= addr) break;
    uintptr_t s = x.addr > addr ? x.addr : addr, e = range_end(&x) < end ? range_end(&x) : end;
    rvec_erase(&r->live, i);
    r->live_bytes -= x.len;
    if (e < range_end(&x)) live_add(r, e, range_end(&x) - e, x.tag); /* the tail survives */
    if (s > x.addr) live_add(r, x.addr, s - x.addr, x.tag);         /* the head survives */
    free_add(r, s, e - s, state);
    freed += e - s;
  }
  return freed;
}

size_t ts_region_live_in(const ts_region_t *r, uintptr_t addr, size_t len, ts_range_t *out, size_t max) {
  if (len == 0) return 0;
  uintptr_t end = addr + len;
  size_t i = rvec_upper(&r->live, addr);
  if (i > 0 && range_end(&r->live.v[i - 1]) > addr) i--;
  size_t n = 0;
  for (; i < r->live.n && r->live.v[i].addr < end; i++, n++) {
    if (n >= max) continue;
    ts_range_t x = r->live.v[i];
    uintptr_t s = x.addr > addr ? x.addr : addr, e = range_end(&x) < end ? range_end(&x) : end;
    out[n] = (ts_range_t){s, e - s, x.tag, 0};
  }
  return n;
}

int ts_region_resize(ts_region_t *r, uintptr_t addr, size_t new_len, ts_free_state_t state,
                     ts_grant_t *out) {
  size_t i = live_index(r, addr);
  if (i == SIZE_MAX || r->live.v[i].addr != addr) return -ENOENT;
  if (new_len == 0 || new_len % r->granule) return -EINVAL;
  ts_range_t x = r->live.v[i];
  *out = (ts_grant_t){.addr = range_end(&x)};
  if (new_len <= x.len) {
    ts_region_free(r, addr + new_len, x.len - new_len, state);
    return 0;
  }
  int err = ts_region_alloc_at(r, range_end(&x), new_len - x.len, x.tag, out);
  if (err) return err;
  /* merge the grown part into the range: it was inserted right after it */
  size_t j = live_index(r, addr);
  r->live.v[j].len = new_len;
  rvec_erase(&r->live, j + 1);
  return 0;
}

const ts_range_t *ts_region_find(const ts_region_t *r, uintptr_t addr) {
  size_t i = live_index(r, addr);
  return i == SIZE_MAX ? NULL : &r->live.v[i];
}

size_t ts_region_take_dirty(ts_region_t *r, size_t want, uint32_t tag, ts_range_t *out, size_t max) {
  size_t n = 0, got = 0;
  while (n < max && got < want) {
    size_t best = SIZE_MAX;
    for (size_t i = 0; i < r->free.n; i++)
      if (r->free.v[i].state == TS_FREE_DIRTY &&
          (best == SIZE_MAX || r->free.v[i].len > r->free.v[best].len))
        best = i;
    if (best == SIZE_MAX) break;
    ts_range_t x = r->free.v[best];
    free_account(r, &x, -1);
    rvec_erase(&r->free, best);
    if (!live_add(r, x.addr, x.len, tag)) { /* no room to claim it: leave it dirty */
      free_add(r, x.addr, x.len, TS_FREE_DIRTY);
      break;
    }
    out[n++] = x;
    got += x.len;
  }
  return n;
}

void ts_region_restate_free(ts_region_t *r, uintptr_t addr, size_t len, unsigned from, ts_free_state_t state) {
  uintptr_t at = addr, end = addr + len;
  while (at < end) {
    size_t i = rvec_upper(&r->free, at);
    if (i > 0 && range_end(&r->free.v[i - 1]) > at) i--;
    if (i >= r->free.n || r->free.v[i].addr >= end) return;
    ts_range_t x = r->free.v[i];
    uintptr_t s = x.addr > at ? x.addr : at, e = range_end(&x) < end ? range_end(&x) : end;
    if (x.state != state && ((from >> x.state) & 1)) {
      free_carve(r, i, s, e - s);
      free_add(r, s, e - s, state);
    }
    at = e;
  }
}

size_t ts_region_trim(ts_region_t *r) {
  size_t n = r->free.n;
  if (n == 0 || range_end(&r->free.v[n - 1]) != r->top || r->free.v[n - 1].state != TS_FREE_CLEAN)
    return 0;
  size_t len = r->free.v[n - 1].len;
  r->top = r->free.v[n - 1].addr;
  rvec_erase(&r->free, n - 1);
  return len;
}
