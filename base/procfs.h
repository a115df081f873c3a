/* The process figures the stats report, read from /proc without stdio. */
#ifndef TS_PROCFS_H
#define TS_PROCFS_H

#include <stdbool.h>
#include <stdint.h>

typedef struct ts_procfs_s {
  uint64_t anon_rss_bytes;  /* smaps_rollup Anonymous */
  uint64_t anon_huge_bytes; /* smaps_rollup AnonHugePages */
  uint64_t vma_count;       /* lines of /proc/self/maps */
  uint64_t minor_faults, major_faults;
} ts_procfs_t;

void ts_procfs_read(ts_procfs_t *out);

/* Sum of the `TLB:` line of /proc/interrupts (shootdown IPIs received, all
 * CPUs, system-wide). false when the kernel has no such line. */
bool ts_procfs_tlb_total(uint64_t *out);

/* Within [lo, hi) of /proc/self/smaps: Rss and AnonHugePages summed, and
 * the VMAs that are accessible (not PROT_NONE reservations). */
typedef struct ts_procfs_window_s {
  uint64_t rss_bytes, huge_bytes, vmas;
} ts_procfs_window_t;

void ts_procfs_window(uintptr_t lo, uintptr_t hi, ts_procfs_window_t *out);

/* Parsers over text, for the unit tests. */
uint64_t ts_procfs_kb_field(const char *text, const char *key); /* "Anonymous:" -> bytes */
bool ts_procfs_tlb_line(const char *line, uint64_t *sum);

/* Field 22 of the text of /proc/PID/stat, the start time in clock ticks
 * after boot (tells a process from a later one of the same pid); 0 if
 * unparsable. */
uint64_t ts_procfs_start_ticks(const char *stat_text);

#endif
