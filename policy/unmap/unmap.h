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

/* Lazy release (TIERSHIM_UNMAP_LAZY, docs/unmap.md): before tiershim reuses
 * or remaps [a, a + len), takes it out of the module's pending set. One
 * atomic load when nothing is pending. ts_unmap_lazy_on(): after init,
 * whether anything can be pending at all (the composition root installs
 * the settle hooks only then). */
void ts_unmap_settle(uintptr_t a, size_t len);
bool ts_unmap_lazy_on(void);

const char *ts_unmap_backend_name(void);
const char *ts_unmap_release_mode(void); /* batch/munmap: the probed call; else the backend */
uint64_t ts_unmap_released_bytes(void), ts_unmap_release_calls(void);

void ts_unmap_lock(void), ts_unmap_unlock(void), ts_unmap_fork_child(void);

/* docs/stats.md, object "unmap": how retained memory went back to the OS.
 * X(kind, name, source...), one entry a key in the documented order, as
 * the lists of observe/stats_fields.h (which renders it; this layer may not
 * include it). name is the field and the key; source is what
 * ts_unmap_stats() (unmap.c) copies into it: st is its snapshot of the
 * batcher, fallbacks the short vectors the batch backend finished by
 * madvise. The shootdowns are OPT_U64: known when something measured them
 * (shootdown_source says what), else rendered null. */
#define TS_UNMAP_STATS_FIELDS(X)                                        \
  X(STR, backend, ts_unmap_backend_name())                              \
  X(STR, release_mode, ts_unmap_release_mode())                         \
  X(U64, ranges, st.ranges)                                             \
  X(U64, bytes, st.bytes)                                               \
  X(U64, calls, st.calls)                                               \
  X(U64, batches, st.batches)                                           \
  X(U64, failures, st.failures + fallbacks)                             \
  X(OPT_U64, shootdowns, st.source != TS_USRC_NONE, st.shootdowns)      \
  X(STR, shootdown_source, unmap_sources[st.source % 3])                \
  X(U64, batch, st.batch)                                               \
  X(U64, delay_ms, st.delay_ns / 1000000u)                              \
  X(U64, scale, st.scale)                                               \
  X(U64, grows, st.grows)                                               \
  X(U64, shrinks, st.shrinks)                                           \
  X(U64, decays, st.decays)                                             \
  X(U64, decay_bytes, st.decay_bytes)                                   \
  X(STR, kmod_version, ts_unmap_kmod_version())                         \
  X(U64, kmod_flags, ts_unmap_kmod_flags())                             \
  X(U64, kmod_shootdowns, ts_unmap_kmod_shootdowns())                   \
  X(U64, lazy_limit, ts_unmap_kmod_lazy_limit())                        \
  X(U64, lazy_pending, ts_unmap_kmod_lazy_pending())                    \
  X(U64, lazy_settles, ts_unmap_kmod_lazy_settles())                    \
  X(U64, lazy_cancelled, ts_unmap_kmod_lazy_cancelled())

#define TS_UNMAP_FIELD(kind, name, ...) TS_UNMAP_FIELD_##kind(name)
#define TS_UNMAP_FIELD_STR(name) const char *name;
#define TS_UNMAP_FIELD_U64(name) uint64_t name;
#define TS_UNMAP_FIELD_OPT_U64(name) bool name##_known; uint64_t name;

typedef struct ts_unmap_stats_s {
  bool present;
  TS_UNMAP_STATS_FIELDS(TS_UNMAP_FIELD)
} ts_unmap_stats_t;
void ts_unmap_stats(ts_unmap_stats_t *o);

/* At exit: the backend's flush and fini; later releases (other
 * destructors' frees) go through plain madvise. */
void ts_unmap_fini(void);

#endif
