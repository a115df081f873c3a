/* The release function: returns retained ranges' memory to the OS
 * (MADV_DONTNEED: they then read as zero) in one batch. Where the running
 * kernel accepts it, one process_madvise(2) over an iovec of all ranges,
 * whose TLB flush is batched over the whole vector on 6.16+; else one
 * madvise per coalesced range. Which one is probed on first use, never
 * read from a version string. The unmap-backend issue makes this pluggable. */
#ifndef TS_RELEASE_H
#define TS_RELEASE_H

#include <stddef.h>
#include <stdint.h>

#include "region.h"

typedef enum {
  TS_RELEASE_UNPROBED = 0,
  TS_RELEASE_PMADV_SELF, /* process_madvise(PIDFD_SELF, ...) (6.15+) */
  TS_RELEASE_PMADV_FD,   /* process_madvise on a pidfd of our own (6.13+) */
  TS_RELEASE_MADVISE,    /* one madvise per range */
} ts_release_mode_t;

typedef struct ts_release_stats_s {
  uint64_t bytes, calls, ranges, failures;
} ts_release_stats_t;

extern ts_release_stats_t ts_release_stats;

/* ranges: sorted or not; adjacent ones are coalesced. Returns bytes released. */
size_t ts_release(ts_range_t *ranges, size_t n);

ts_release_mode_t ts_release_mode(void);
const char *ts_release_mode_name(void);
void ts_release_fork_child(void); /* a pidfd names the parent: probe again */

#endif
