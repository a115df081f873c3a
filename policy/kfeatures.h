/* Which of the kernel's newer memory-management calls this kernel accepts,
 * found by trying each one (version numbers lie: distributions backport,
 * and seccomp or cpusets may refuse a call the version has), or by the
 * sysfs files that show it. `tiershim topo` prints one line per feature. */
#ifndef TS_KFEATURES_H
#define TS_KFEATURES_H

#include <stdbool.h>

/* X(field, first kernel, how it is found) */
#define TS_FEATURES(X)                                                                         \
  X(madv_collapse, "6.1", "MADV_COLLAPSE on a touched 2 MiB block")                           \
  X(preferred_many, "5.15", "set_mempolicy(MPOL_PREFERRED_MANY)")                             \
  X(mthp, "6.8", "sysfs transparent_hugepage/hugepages-<N>kB")                                 \
  X(weighted_interleave, "6.9", "set_mempolicy(MPOL_WEIGHTED_INTERLEAVE)")                     \
  X(process_madvise_self, "6.13", "process_madvise(MADV_DONTNEED) on our own pidfd")          \
  X(pidfd_self, "6.15", "process_madvise(PIDFD_SELF, MADV_COLD)")                              \
  X(process_madvise_batched_flush, "6.16", "kernel release >= 6.16 (no call shows it)")       \
  X(weighted_interleave_auto, "6.16", "sysfs mempolicy/weighted_interleave/auto")

typedef struct ts_features_s {
#define TS_FEATURE_FIELD(name, since, how) bool name;
  TS_FEATURES(TS_FEATURE_FIELD)
#undef TS_FEATURE_FIELD
} ts_features_t;

/* Probes with raw system calls only (no allocation, no errno), and leaves
 * the process as it found it: mappings unmapped, the thread's mempolicy
 * restored. Not free (it maps and touches memory): call it once. sysfs is
 * the root to read the sysfs features under ("/sys"). */
void ts_features_probe(ts_features_t *f, const char *sysfs);

#endif
