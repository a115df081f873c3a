/* The public API of include/tiershim.h. */
#include <errno.h>
#include <string.h>

#include "base/options.h"
#include "shim/shim.h"
#include "observe/stats.h"
#include "include/tiershim.h"

TS_EXPORT const char *tiershim_version(void) { return TIERSHIM_VERSION; }

TS_EXPORT int tiershim_enabled(void) { return ts_config.enable ? 1 : 0; }

TS_EXPORT int tiershim_stats_get(tiershim_stats_t *out) {
  if (out == NULL || out->size < 2 * sizeof(uint64_t)) return -1;
  uint64_t ctr[TS_CTR_COUNT];
  ts_counters_sum(ctr);
  tiershim_stats_t s = {.size = sizeof s};
  s.malloc_calls = ctr[TS_CTR_MALLOC];
  s.free_calls = ctr[TS_CTR_FREE];
  s.large_allocs = ctr[TS_CTR_LARGE];
  s.mmap_calls = ctr[TS_CTR_MMAP];
  s.munmap_calls = ctr[TS_CTR_MUNMAP];
  s.mremap_calls = ctr[TS_CTR_MREMAP];
  s.madvise_calls = ctr[TS_CTR_MADVISE];
  s.bootstrap_allocs = ctr[TS_CTR_BOOTSTRAP];
  s.threads_created = ctr[TS_CTR_THREADS];
  size_t n = out->size < sizeof s ? (size_t)out->size : sizeof s;
  uint64_t caller_size = out->size;
  memcpy(out, &s, n);
  out->size = caller_size < sizeof s ? caller_size : sizeof s;
  return 0;
}

TS_EXPORT size_t tiershim_stats_json(char *buf, size_t len) {
  int saved = errno;
  ts_stats_snapshot_t s;
  ts_stats_collect(&s);
  size_t n = ts_stats_render_json(&s, buf, len);
  errno = saved;
  return n;
}
