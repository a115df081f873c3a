/* The batcher: how retained memory goes back to the OS through an unmap
 * backend (include/tiershim_unmap.h). Pure policy over injected pieces (the
 * backend, a clock, a shootdown counter, the madvise fallback), so the unit
 * tests drive it with a counting fake backend and a fake clock.
 *
 * Three decisions live here:
 *  - batching: a release of n ranges is coalesced, then handed to the
 *    backend in vectors of `batch` ranges, one call each;
 *  - decay: retained memory that stays unused through a whole window of
 *    `delay` goes back (the window's low-water mark above a floor), so idle
 *    memory returns in one batch per window instead of one call per free;
 *  - adaptation: each release is measured in TLB shootdowns (exact, from a
 *    backend that counts them, or the system-wide TLB line). When releases
 *    cost a shootdown round per call, the batch and the window double (up
 *    to 8x); after 4 releases in a row that cost none, they halve again.
 *
 * Locking: release and the stats take the batcher's own lock (a leaf,
 * held across the backend call so a release's shootdowns are its own);
 * the decay window is the caller's to lock (the placement lock). */
#ifndef TS_UNMAP_BATCH_H
#define TS_UNMAP_BATCH_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/range.h"
#include "include/tiershim_unmap.h"

#define TS_UBATCH_MAX 256   /* the largest vector handed to a backend */
#define TS_UBATCH_SCALE_MAX 8

typedef enum { TS_USRC_NONE = 0, TS_USRC_TLB_LINE, TS_USRC_BACKEND } ts_usrc_t;

typedef struct ts_ubatch_stats_s {
  uint64_t ranges, bytes, calls, batches, failures;
  uint64_t shootdowns;        /* measured around releases (source below) */
  uint64_t decays, decay_bytes;
  uint64_t grows, shrinks;
  unsigned scale;             /* current adaptive scale, 1..8 */
  size_t batch;               /* current ranges per call */
  uint64_t delay_ns;          /* current decay window */
  ts_usrc_t source;
} ts_ubatch_stats_t;

typedef struct ts_ubatch_s {
  pthread_mutex_t lock;
  const tiershim_unmap_backend_t *be;
  void *state;
  bool (*tlb_total)(uint64_t *out);      /* system-wide TLB line; NULL: none */
  int (*fallback)(void *addr, size_t len); /* madvise(MADV_DONTNEED): 0 or -errno */
  size_t batch_base;
  uint64_t delay_base;
  bool adapt;
  uint64_t measure_gap_ns;    /* measure at most this often (0: every release) */
  uint64_t measured_ns;       /* when the last measured release started */
  unsigned quiet;             /* releases in a row that cost no shootdown */
  ts_ubatch_stats_t st;
  tiershim_unmap_range_t vec[TS_UBATCH_MAX]; /* under lock: off the caller's stack */
} ts_ubatch_t;

/* batch: 1..TS_UBATCH_MAX ranges per call; delay: the decay window (0: no
 * decay); adapt: measure and scale. The backend's init has run. */
void ts_ubatch_init(ts_ubatch_t *b, const tiershim_unmap_backend_t *be, void *state, size_t batch,
                    uint64_t delay_ns, bool adapt);

/* Releases n ranges (coalesced in place; n <= TS_UBATCH_MAX after
 * coalescing is not required). Every range ends released: a backend that
 * comes up short is finished by the fallback. Returns the bytes released. */
size_t ts_ubatch_release(ts_ubatch_t *b, ts_range_t *r, size_t n);

/* The current decay window (0: decay off). */
uint64_t ts_ubatch_delay(ts_ubatch_t *b);

/* The caller released `bytes` because of decay (counted in the stats). */
void ts_ubatch_decayed(ts_ubatch_t *b, size_t bytes);

void ts_ubatch_snapshot(ts_ubatch_t *b, ts_ubatch_stats_t *out);

/* The decay window: the caller notes the retained bytes after each change;
 * at the end of a window the bytes that stayed retained through all of it,
 * above `floor`, are due. */
typedef struct ts_udecay_s {
  uint64_t start;
  size_t low;
  bool open;
} ts_udecay_t;

size_t ts_udecay_note(ts_udecay_t *d, uint64_t now, uint64_t delay, size_t retained, size_t floor);

/* Sorts by address and merges adjacent ranges; returns the new count. */
size_t ts_ubatch_coalesce(ts_range_t *r, size_t n);

#endif
