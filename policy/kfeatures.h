/* Which of the kernel's newer memory-management calls this kernel accepts,
 * found by trying each one (version numbers lie: distributions backport,
 * and seccomp or cpusets may refuse a call the version has).
 * Not named features.h: policy/ is on the include path, and that would
 * shadow glibc's own <features.h>. */
#ifndef TS_KFEATURES_H
#define TS_KFEATURES_H

#include <stdbool.h>

typedef struct ts_features_s {
  bool madv_collapse;        /* MADV_COLLAPSE (6.1) */
  bool process_madvise_self; /* process_madvise on our own pidfd with any advice (6.13) */
  bool pidfd_self;           /* PIDFD_SELF_THREAD_GROUP as a pidfd (6.15) */
  bool weighted_interleave;  /* MPOL_WEIGHTED_INTERLEAVE (6.9) */
  bool preferred_many;       /* MPOL_PREFERRED_MANY (5.15) */
} ts_features_t;

/* Probes with raw system calls only (no allocation, no errno), and leaves
 * the process as it found it: mappings unmapped, the thread's mempolicy
 * restored. Not free (it maps and touches memory): call it once. */
void ts_features_probe(ts_features_t *f);

#endif
