/* Huge pages for tiershim's regions (TIERSHIM_THP).
 *
 *   fault:    MADV_HUGEPAGE on every region range: huge pages at fault time.
 *             With defrag=always/madvise a fault may compact memory
 *             synchronously (a stall on the request path).
 *   collapse: no fault-time huge pages; a background thread runs
 *             MADV_COLLAPSE on 2 MiB blocks once they are populated, while
 *             the program is quiet (no allocation for 2 ms, and not faulting
 *             memory in at 16 faults a ms or more: a model loading), paced.
 *   auto:     off when THP is `never`. Otherwise, for each range it commits,
 *             fault-time huge pages when they cannot stall (defrag defer or
 *             never, or the buddy allocator holds enough free 2 MiB blocks
 *             that no compaction is needed), else those blocks are left to
 *             the collapse thread (when MADV_COLLAPSE works).
 *   off:      neither.
 * Every failure (unsupported advice, PR_SET_THP_DISABLE, EAGAIN) leaves the
 * memory as it is and is counted. */
#ifndef TS_THP_H
#define TS_THP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/options.h" /* ts_thp_mode_t */

typedef struct ts_thp_stats_s {
  uint64_t advise_ok, advise_fail;       /* MADV_HUGEPAGE */
  uint64_t collapse_ok, collapse_fail, collapse_bytes, collapse_skipped;
  uint64_t collapse_warmed;                      /* collapses given a page made ready (thp_warm.c) */
  uint64_t collapse_waited_cpu;                  /* collapses put off: no CPU idle (thp_idle.c) */
  uint64_t heap_advised_bytes, heap_advise_fail; /* the small-object heap's mappings */
  uint64_t sparse_bytes;                         /* advised NOHUGEPAGE: may be used sparsely */
  uint64_t mmap_probes_dense, mmap_probes_sparse; /* the program's mmaps, measured (thp_probe.c) */
  uint64_t block_probes_dense, block_probes_sparse; /* large uninitialised blocks, measured (thp_probe.c) */
  uint64_t grown_faults, grown_rss;              /* minor faults and peak RSS at the flip (thp_grow.c) */
  uint64_t fill_small_bytes;                     /* very large blocks filled on small pages (thp_fill.c) */
} ts_thp_stats_t;

extern ts_thp_stats_t ts_thp_stats;

/* Decides the effective mode (reads sysfs, probes MADV_COLLAPSE); once,
 * at start-up, so that the heap's first mappings are advised too. */
void ts_thp_mode_init(void);

/* The window is where collapse candidates live (one state byte per 2 MiB).
 * collapsible: may the collapse thread rebuild this block? (not over
 * MAP_POPULATE/MAP_LOCKED pages); called with no lock held. */
void ts_thp_init(uintptr_t window, size_t window_len, bool (*collapsible)(uintptr_t block));

int ts_thp_effective(void);          /* a ts_thp_mode_t */
const char *ts_thp_reason(void);     /* why, in a few words */

/* The small-object heap (mimalloc) mapped [addr, addr + len): with
 * TIERSHIM_HEAP_THP, its whole 2 MiB blocks get MADV_HUGEPAGE when the mode
 * would give the regions fault-time huge pages now. Never writes errno. */
void ts_thp_heap_mapped(uintptr_t addr, size_t len);

/* A range of the regions was just mapped (commit or placed mmap): advise it
 * for fault-time huge pages if the mode says so. */
void ts_thp_mapped(uintptr_t addr, size_t len);

/* A range was handed to the program: its blocks become collapse candidates. */
void ts_thp_granted(uintptr_t addr, size_t len);

/* A range's memory went back to the OS (MADV_DONTNEED): its blocks lose
 * their huge pages, but keep the VMA's advice. */
void ts_thp_released(uintptr_t addr, size_t len);
/* A range was mapped afresh (PROT_NONE, or a new mapping): state reset. */
void ts_thp_unmapped(uintptr_t addr, size_t len);

void ts_thp_fork_child(void); /* the collapse thread does not survive fork */
void ts_thp_program_threaded(void); /* the program created a thread (shim/thread.c) */

/* Zeroed memory that may be used sparsely (TIERSHIM_THP_SPARSE_MIN): no
 * fault-time huge pages on its whole blocks, dense blocks collapsed later;
 * unsparse gives the blocks their advice back when it is freed. */
void ts_thp_sparse(uintptr_t addr, size_t len);
void ts_thp_unsparse(uintptr_t addr, size_t len);

/* The program's own anonymous mmap of len bytes (thp_probe.c): in auto
 * mode, should it be a probe, placed sparse (small pages at fault, dense
 * blocks collapsed later) until the program has shown it fills what it
 * maps? observe: a probe is unmapped; its whole blocks are counted.
 * block_probe/observe: the same for a block of TIERSHIM_THP_PROBE_MIN up
 * to 256 MiB handed out uninitialised (a KV cache, a worst-case buffer),
 * where the collapse thread may run; observed at the next such request
 * (if the program touched it by then) or when freed. */
bool ts_thp_mmap_probe(size_t len);
void ts_thp_mmap_observe(uintptr_t addr, size_t len);
bool ts_thp_block_probe(size_t len);
void ts_thp_block_placed(uintptr_t addr, size_t len, bool probe); /* every uninitialised block */
void ts_thp_block_observe(uintptr_t addr, size_t len);

/* Fault-time huge pages wait until the program has grown (thp_grow.c):
 * a request of 2 MiB or more, or a peak RSS of TIERSHIM_THP_GROWN.
 * grow_check: a request of `request` bytes is being served (0: none,
 * only the RSS). heap_unmapped: mimalloc unmapped a range. */
bool ts_thp_grown(void);

/* auto, on a VM whose balloon reports free pages to the host (thp_fill.c):
 * should a block of len bytes handed out uninitialised be filled on small
 * pages and collapsed afterwards? Yes from 256 MiB, where the collapse
 * thread may run. features_reporting: the parser, for the unit tests. */
bool ts_thp_fill_small(size_t len);
bool ts_thp_features_reporting(const char *features);
void ts_thp_grow_check(size_t request);
void ts_thp_heap_unmapped(uintptr_t addr, size_t len);


/* Placement rules' huge-page actions on one allocation (observe/profile.c). */
enum { TS_THP_RULE_OFF = 0, TS_THP_RULE_ON = 1, TS_THP_RULE_COLLAPSE = 2, TS_THP_RULE_RESET = 3 };
void ts_thp_rule(uintptr_t addr, size_t len, int action);

/* Parsers, for the unit tests. */
int ts_thp_sysfs_choice(const char *text); /* index of the [bracketed] word, or -1 */
uint64_t ts_thp_buddy_huge_bytes(const char *buddyinfo, size_t page_size);
uint64_t ts_thp_vmstat_counter(const char *vmstat, const char *name);
bool ts_thp_compaction_verdict(bool prev, uint64_t stalls, uint64_t fails);
int64_t ts_thp_stat_idle_ticks(const char *stat); /* idle + iowait of "cpu ", or -1 */
/* thp_idle.c's decision on given inputs (idle_ticks: ts_thp_stat_idle_ticks
 * of /proc/stat now, hz its ticks a second), and a fresh state. */
bool ts_thp_idle_decide(uint64_t now_ns, uint64_t thread_cpu_ns, int64_t idle_ticks, long hz);
void ts_thp_idle_reset(void);

/* ts_thp_sysfs_choice's answers: the words of the kernel's enabled and
 * defrag files (enabled offers the first three). */
enum {
  TS_THP_SYS_ALWAYS = 0, TS_THP_SYS_MADVISE = 1, TS_THP_SYS_NEVER = 2,
  TS_THP_SYS_DEFER_MADVISE = 3, TS_THP_SYS_DEFER = 4
};

/* What decides the effective mode; ts_thp_mode_init probes them. */
typedef struct ts_thp_inputs_s {
  ts_thp_mode_t requested; /* TIERSHIM_THP */
  int enabled, defrag;     /* TS_THP_SYS_*, or -1: the file is missing or unreadable */
  bool collapse_ok;        /* the kernel knows MADV_COLLAPSE */
} ts_thp_inputs_t;

/* Pure: the effective mode and why (a static string, ts_thp_reason). */
ts_thp_mode_t ts_thp_decide(const ts_thp_inputs_t *in, const char **reason);
/* May a fault-time huge page compact memory synchronously with this defrag? */
bool ts_thp_defrag_may_stall(int defrag);

#endif
