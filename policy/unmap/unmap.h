/* The unmap layer (docs/unmap.md): the one way retained memory goes back to
 * the OS. It picks the backend TIERSHIM_UNMAP names (munmap, batch, kmod,
 * or a plugin, falling back to batch with one warning), drives it through
 * the batcher (batch.h) and reports the "unmap" stats object.
 *
 * Lock order: the batcher's lock is a leaf below the placement lock
 * (shim/fork.c): the placement engine may release with its lock held; a
 * backend must never call malloc (include/tiershim_unmap.h). */
#ifndef TS_UNMAP_H
#define TS_UNMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/range.h"

void ts_unmap_init(void); /* at init, after the options */

/* Releases n ranges (sorted and coalesced in place). Every range ends
 * released; returns the bytes. Before init: one madvise each. */
size_t ts_unmap_release(ts_range_t *r, size_t n);

/* Retention as the backend wants it: RETAIN_MAX, or 0 for munmap (each
 * freed range goes back at once). */
size_t ts_unmap_retain_max(void);
uint64_t ts_unmap_delay_ns(void);    /* the decay window now; 0: off */
unsigned ts_unmap_scale(void);       /* the adaptive scale now, 1-8 */
void ts_unmap_decayed(size_t bytes); /* the placement engine decayed this much */

const char *ts_unmap_backend_name(void);
const char *ts_unmap_release_mode(void); /* batch/munmap: the probed call; else the backend */
uint64_t ts_unmap_released_bytes(void), ts_unmap_release_calls(void);

void ts_unmap_lock(void), ts_unmap_unlock(void), ts_unmap_fork_child(void);
/* docs/stats.md, object "unmap": how retained memory went back to the OS.
 * shootdowns: measured around releases (source says how; "none": unknown,
 * rendered null). */
typedef struct ts_unmap_stats_s {
  bool present;
  const char *backend, *release_mode, *source, *kmod_version;
  uint64_t ranges, bytes, calls, batches, failures, shootdowns;
  uint64_t decays, decay_bytes, grows, shrinks, batch, delay_ms, scale, kmod_flags;
} ts_unmap_stats_t;
void ts_unmap_stats(ts_unmap_stats_t *o);

/* At exit: the backend's flush and fini; later releases (other
 * destructors' frees) go through plain madvise. */
void ts_unmap_fini(void);

#endif
