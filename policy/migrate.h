/* The migration engine: moves the pages of a set of address ranges (of this
 * process or another) to one node, with move_pages, split across threads.
 *
 * Copying is ~97% of the kernel's migration time for 2 MiB folios and the
 * kernel copies one folio after another on the calling CPU, so the lever
 * is to give several threads their own well-batched calls:
 *  - workers take 16 MiB chunks of the ranges (cut on 2 MiB boundaries)
 *    from a shared cursor until none is left, so a worker on a slower CPU
 *    takes fewer instead of holding the others up;
 *  - for each chunk, one move_pages query says where its pages are; then
 *    one address is asked to move per 2 MiB block whose 512 pages sit on
 *    one node (a huge page moves whole from any of its addresses; a block
 *    of base pages is finished in a second step), and every page of mixed
 *    blocks, in calls of up to 512 entries (the kernel migrates a batch of
 *    up to 512 folios under one TLB flush), all before the next chunk;
 *  - pages that fail with EBUSY, ENOMEM or EAGAIN are retried once; what
 *    still fails is counted by errno, never hidden.
 * No malloc (the shim calls it): buffers come from the prim layer. */
#ifndef TS_MIGRATE_H
#define TS_MIGRATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TS_MIG_THREADS_MAX 64

/* Failures by errno, after the retry. */
enum { TS_MIG_EBUSY, TS_MIG_ENOMEM, TS_MIG_EFAULT, TS_MIG_EACCES, TS_MIG_EINVAL, TS_MIG_EOTHER, TS_MIG_NERR };
extern const char *const ts_mig_err_names[TS_MIG_NERR];

typedef struct ts_mrange_s {
  uintptr_t addr;
  size_t len;
} ts_mrange_t;

typedef struct ts_migrate_req_s {
  int pid;          /* 0: this process */
  int target;       /* node to move to */
  int from;         /* only pages on this node; -1: any node */
  int threads;      /* workers, 1..TS_MIG_THREADS_MAX */
  uint64_t rate;    /* bytes per second over all workers; 0: unlimited */
  bool move_all;    /* MPOL_MF_MOVE_ALL (pages mapped by other processes too; CAP_SYS_NICE) */
} ts_migrate_req_t;

typedef struct ts_migrate_result_s {
  uint64_t pages_moved;    /* 4 KiB pages now on the target that were elsewhere */
  uint64_t pages_already;  /* already on the target (or, with from, on another node) */
  uint64_t pages_absent;   /* never touched: nothing to move */
  uint64_t pages_failed;   /* after the retry; by errno in err[] */
  uint64_t pages_retried;
  uint64_t calls;          /* move_pages calls, queries included */
  uint64_t err[TS_MIG_NERR];
  uint64_t moved_from[64]; /* 4 KiB pages moved, by the node they left (0-63) */
  uint64_t ns;             /* wall time */
  int threads;             /* workers used */
  int error;               /* 0, or a negative errno that stopped the whole request */
} ts_migrate_result_t;

/* Moves the pages of r[0..n) (page-aligned inside, any length) to
 * q->target. Returns 0 or a negative errno for a request that could not
 * start (EINVAL: bad node or ranges; ESRCH, EPERM: the process; ENOMEM);
 * per-page outcomes are in out either way. */
int ts_migrate(const ts_mrange_t *r, size_t n, const ts_migrate_req_t *q, ts_migrate_result_t *out);

/* Process-wide totals of every ts_migrate in this process (the stats'
 * "migration" object); direction by the tiers of source and target. */
typedef struct ts_mig_totals_s {
  uint64_t requests, pages_promoted, pages_demoted, pages_other, pages_failed, calls, ns;
  uint64_t err[TS_MIG_NERR];
} ts_mig_totals_t;

void ts_mig_totals(ts_mig_totals_t *out);

#endif
