/* tiershim_migrate, tiershim_promote, tiershim_demote (include/tiershim.h):
 * the public face of the migration engine (policy/migrate.c). */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <stdint.h>
#include <string.h>

#include "policy/migrate.h"
#include "base/options.h"
#include "shim/shim.h"
#include "include/tiershim.h"
#include "policy/tierpol.h"

/* min(4, the CPUs this process may run on): more workers than CPUs only
 * queue behind each other, and a few already saturate a tier's bandwidth. */
static int api_threads(void) {
  if (ts_config.migrate_threads > 0) return ts_config.migrate_threads;
  cpu_set_t set;
  int cpus = sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : 1;
  return cpus < 4 ? (cpus > 0 ? cpus : 1) : 4;
}

static void api_report(tiershim_migrate_report_t *rep, const ts_migrate_result_t *o, int node) {
  if (rep == NULL || rep->size < 2 * sizeof(uint64_t)) return;
  tiershim_migrate_report_t r = {.size = sizeof r};
  r.pages_moved = o->pages_moved;
  r.pages_already = o->pages_already;
  r.pages_absent = o->pages_absent;
  r.pages_failed = o->pages_failed;
  r.failed_ebusy = o->err[TS_MIG_EBUSY];
  r.failed_enomem = o->err[TS_MIG_ENOMEM];
  r.failed_efault = o->err[TS_MIG_EFAULT];
  r.failed_eacces = o->err[TS_MIG_EACCES];
  r.failed_other = o->err[TS_MIG_EINVAL] + o->err[TS_MIG_EOTHER];
  r.calls = o->calls;
  r.nanoseconds = o->ns;
  r.threads = o->threads;
  r.node = node;
  uint64_t caller = rep->size;
  memcpy(rep, &r, caller < sizeof r ? (size_t)caller : sizeof r);
  rep->size = caller < sizeof r ? caller : sizeof r;
}

TS_EXPORT long tiershim_migrate(void *ptr, size_t len, int node, tiershim_migrate_report_t *report) {
  int saved = errno;
  ts_migrate_result_t o;
  memset(&o, 0, sizeof o);
  uintptr_t lo = (uintptr_t)ptr & ~(PAGE - 1), hi = ((uintptr_t)ptr + len + PAGE - 1) & ~(PAGE - 1);
  if (node < 0 || node >= TS_TIER_MAX_NODES || hi < lo) {
    api_report(report, &o, node);
    errno = EINVAL;
    return -1;
  }
  ts_mrange_t r = {lo, hi - lo};
  ts_migrate_req_t q = {.pid = 0, .target = node, .from = -1, .threads = api_threads(),
                        .rate = ts_config.migrate_rate};
  int e = len ? ts_migrate(&r, 1, &q, &o) : 0;
  api_report(report, &o, node);
  if (e < 0) {
    errno = -e;
    return -1;
  }
  errno = saved;
  return (long)o.pages_moved;
}

/* To a node of a tier; ENODEV where there are no tiers. */
static long api_to_tier(int node, void *ptr, size_t len, tiershim_migrate_report_t *report) {
  if (node < 0) {
    errno = ENODEV;
    return -1;
  }
  return tiershim_migrate(ptr, len, node, report);
}

TS_EXPORT long tiershim_promote(void *ptr, size_t len, tiershim_migrate_report_t *report) {
  return api_to_tier(ts_tier_promote_node(), ptr, len, report);
}

TS_EXPORT long tiershim_demote(void *ptr, size_t len, tiershim_migrate_report_t *report) {
  return api_to_tier(ts_tier_demote_node(), ptr, len, report);
}
