/* Is a fault-time huge page cheaper than the small pages it replaces, here
 * and now? (policy/thp_probe.c says why it may not be.) The `auto` THP mode
 * asks before it lets a very large block fault in huge pages; when the
 * answer is no, the block faults in small pages, as without tiershim, and
 * the collapse thread makes it huge once the program has filled it. */
#ifndef TS_THP_PROBE_H
#define TS_THP_PROBE_H

#include <stdbool.h>
#include <stdint.h>

typedef struct ts_thp_probe_s {
  uint64_t huge_ns;  /* the slowest of the huge samples: one 2 MiB huge-page fault */
  uint64_t small_ns; /* 512 small-page faults over 2 MiB */
  bool ok;           /* both measured (MADV_POPULATE_WRITE works) */
} ts_thp_probe_t;

typedef struct ts_thp_probe_stats_s {
  uint64_t probes;            /* probes run */
  uint64_t huge_ns, small_ns; /* the last probe's figures */
  bool reporting;             /* the balloon reports free pages to the host */
} ts_thp_probe_stats_t;
extern ts_thp_probe_stats_t ts_thp_probe_stats;

/* The answer, measured at most once a second (a probe takes 1-15 ms and
 * populates 4 MiB, given back at once); never writes errno. False under
 * virtio free page reporting, without a probe. */
bool ts_thp_probe_huge_cheap(void);

/* One probe, for tests and the answer above. */
void ts_thp_probe_run(ts_thp_probe_t *p);

/* Pure, for the unit tests: the verdict on one probe, and whether a balloon
 * device's sysfs `features` (one '0'/'1' per bit) has free page reporting. */
bool ts_thp_probe_cheap(const ts_thp_probe_t *p);
bool ts_thp_probe_reporting(const char *features);

#endif
