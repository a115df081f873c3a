/* The built-in backends (backend_os.c, backend_kmod.c) and the probe of how
 * the batch backend releases a vector on the running kernel. */
#ifndef TS_UNMAP_OS_H
#define TS_UNMAP_OS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "include/tiershim_unmap.h"

#define TS_RELEASE_IOV_MAX 256 /* per process_madvise call; under UIO_MAXIOV */

typedef enum {
  TS_RELEASE_UNPROBED = 0,
  TS_RELEASE_PMADV_SELF, /* process_madvise(PIDFD_SELF, ...) (6.15+) */
  TS_RELEASE_PMADV_FD,   /* process_madvise on a pidfd of our own (6.13+) */
  TS_RELEASE_MADVISE,    /* one madvise per range */
} ts_release_mode_t;

extern const tiershim_unmap_backend_t ts_unmap_munmap, ts_unmap_batch, ts_unmap_kmod;

ts_release_mode_t ts_release_mode(void); /* probes on first call */
extern uint64_t ts_release_fallbacks;    /* short vectors the batch backend finished by madvise */
const char *ts_release_mode_name(void);

/* The kmod backend's view of the module, for stats and `tiershim topo`:
 * 0 when the device is not open. */
unsigned ts_unmap_kmod_flags(void);
const char *ts_unmap_kmod_version(void);

/* Lazy release (lazy.h): settle a range before reuse or remap; the
 * mirror's figures for the stats. All 0 / no-ops when lazy is off. */
void ts_unmap_kmod_settle(uintptr_t a, size_t len);
bool ts_unmap_kmod_lazy_on(void);
uint64_t ts_unmap_kmod_lazy_limit(void), ts_unmap_kmod_lazy_pending(void);
uint64_t ts_unmap_kmod_lazy_cancelled(void), ts_unmap_kmod_lazy_settles(void);
uint64_t ts_unmap_kmod_shootdowns(void); /* the module's count for the process, all causes */

#endif
