/* A model loading into a very large block, on a VM that gives free memory
 * back to its host; see thp.h.
 *
 * Under virtio free page reporting the balloon hands freed blocks of 2 MiB
 * and more to the host, so a huge-page fault takes a block the host must
 * back again: 5.7-6.3 ms per 2 MiB on the development VM, against 1.0-1.2 ms
 * for the 512 small pages of the same 2 MiB, which come from smaller free
 * blocks the host never saw (docs/results.md, "Load time on a VM that
 * reports free memory to its host"). A 1.1 GB model read into one block
 * then loads 4-5x slower than under glibc. So in auto mode a block of
 * THP_FILL_MIN (thp_int.h) or more handed out uninitialised on such a VM gets the sparse
 * treatment: small pages while the program fills it, collapsed into huge
 * ones by the collapse thread once the program stops faulting (thp.c).
 * THP_FILL_MIN keeps inference's own buffers out: an ONNX Runtime BERT's
 * largest activation (batch 8, sequence 512) is 100 MB, and collapsing
 * those afresh each request ran it 12% slower. Only where the collapse
 * thread may run: a single-threaded program keeps fault-time huge pages.
 * And only while free 2 MiB blocks are plentiful, the blocks the balloon
 * reports: on a fragmented machine there are none to report.
 *
 * And only where a huge-page fault is measured to cost more, now: whether
 * the host still backs a freed block depends on what ran before and on the
 * host, not on the device. On 2026-12-07 the same VM faulted a 1.1 GB model
 * in huge pages faster than glibc in small ones (2.2-2.3 s against 3.5 s,
 * bench/serving; bench/thp's ts_fault_cost: 0.13 ms against 5.5 ms per
 * 2 MiB), and filling it small cost llama.cpp with 2 threads a
 * quarter of its tokens/s while the 560 blocks were collapsed beside it
 * (docs/results.md, "1 and 2 threads"). So the first such block, and one
 * a minute after that, times COST_SAMPLES fresh blocks of a scratch
 * mapping populated on small pages, then as many on huge pages, and fills
 * small only where the huge ones took more than COST_RATIO times as long:
 * a small-page load also pays its faults' traps, which MADV_POPULATE_WRITE
 * does not, and a collapse afterwards. It costs a few ms once, and 12 MiB
 * for as long. */
#include <string.h>
#include <sys/mman.h>

#include "base/prim.h"
#include "base/range.h"
#include "policy/thp.h"
#include "policy/thp_int.h"

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

#define BALLOON "/sys/bus/virtio/drivers/virtio_balloon/virtio"
#define COST_SAMPLES 3
#define COST_RATIO 2
#define COST_TTL_NS (60 * 1000000000ull)
#define F_REPORTING 5 /* VIRTIO_BALLOON_F_REPORTING */

/* sysfs `features`: one '0'/'1' per negotiated feature bit, bit 0 first */
bool ts_thp_features_reporting(const char *features) {
  return strlen(features) > F_REPORTING && features[F_REPORTING] == '1';
}

static bool reporting_active(void) {
  char path[sizeof BALLOON + 16], text[256];
  for (int i = 0; i < 8; i++) {
    size_t n = sizeof BALLOON - 1;
    memcpy(path, BALLOON, n);
    path[n++] = (char)('0' + i);
    memcpy(path + n, "/features", sizeof "/features");
    if (ts_prim_read_file(path, text, sizeof text) > 0 && ts_thp_features_reporting(text)) return true;
  }
  return false;
}

static int reporting = -1; /* read once: the device does not change */

bool thp_host_takes_back(void) {
  if (reporting < 0) __atomic_store_n(&reporting, reporting_active(), __ATOMIC_RELAXED);
  return reporting;
}

/* ---- is a huge-page fault dear here, now? -------------------------------- */

static const thp_cost_hooks_t cost_default = {ts_prim_mmap, ts_prim_madvise, ts_prim_munmap, ts_prim_clock_ns};
static const thp_cost_hooks_t *cost_hooks = &cost_default;
static uint64_t cost_at;  /* when last measured; 0: never */
static bool cost_dear = true;

void thp_cost_set_hooks(const thp_cost_hooks_t *hooks) {
  cost_hooks = hooks != NULL ? hooks : &cost_default;
  cost_at = 0;
  cost_dear = true;
}

/* ns to populate the block at b with the advice given first; -1 when the
 * kernel refused either */
static int64_t populate_ns(uintptr_t b, int advice) {
  if (cost_hooks->madvise((void *)b, PMD, advice) != 0) return -1;
  uint64_t t0 = cost_hooks->clock_ns();
  if (cost_hooks->madvise((void *)b, PMD, MADV_POPULATE_WRITE) != 0) return -1;
  return (int64_t)(cost_hooks->clock_ns() - t0);
}

_Static_assert(COST_SAMPLES == 3, "measure_dear takes the median of 3");
static int64_t median3(const int64_t *v) {
  int64_t a = v[0], b = v[1], c = v[2];
  return a > b ? (b > c ? b : (a > c ? c : a)) : (a > c ? a : (b > c ? c : b));
}

/* Small pages in blocks 0..S-1, then huge pages in blocks S..2S-1: each a
 * block nobody freed just before, so no sample takes a page the previous
 * one warmed. Anything refused keeps the rule without the measurement. */
static bool measure_dear(void) {
  size_t len = (2 * COST_SAMPLES + 1) * PMD;
  ts_prim_ptr_t m = cost_hooks->mmap(NULL, len, PROT_READ | PROT_WRITE,
                                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (m.err != 0) return true;
  uintptr_t base = ts_align_up((uintptr_t)m.addr, PMD);
  int64_t small[COST_SAMPLES], huge[COST_SAMPLES];
  bool ok = true;
  for (int i = 0; ok && i < COST_SAMPLES; i++) ok = (small[i] = populate_ns(base + i * PMD, MADV_NOHUGEPAGE)) >= 0;
  for (int i = 0; ok && i < COST_SAMPLES; i++)
    ok = (huge[i] = populate_ns(base + (COST_SAMPLES + i) * PMD, MADV_HUGEPAGE)) >= 0;
  cost_hooks->munmap(m.addr, len);
  return !ok || median3(huge) > COST_RATIO * median3(small);
}

/* Racing callers may both measure: harmless, and cheaper than a lock on
 * every large allocation. */
bool thp_huge_fault_dear(void) {
  uint64_t now = cost_hooks->clock_ns(), at = __atomic_load_n(&cost_at, __ATOMIC_ACQUIRE);
  if (at != 0 && now - at < COST_TTL_NS) return __atomic_load_n(&cost_dear, __ATOMIC_RELAXED);
  bool dear = measure_dear();
  __atomic_store_n(&cost_dear, dear, __ATOMIC_RELAXED);
  __atomic_store_n(&cost_at, now != 0 ? now : 1, __ATOMIC_RELEASE);
  return dear;
}

bool ts_thp_fill_small(size_t len) {
  if (len < THP_FILL_MIN || ts_thp_effective() != TS_THP_AUTO || !thp_collapse_usable()) return false;
  /* No free 2 MiB blocks (a fragmented machine): a huge page then comes
   * from compacting memory the host already backs, not from a reported
   * block, and a fault-time one is cheaper than small pages plus a
   * collapse (thp.c, fault_cheap). */
  if (!thp_buddy_has_room()) return false;
  if (!thp_host_takes_back()) return false;
  if (!thp_huge_fault_dear()) return false;
  __atomic_fetch_add(&ts_thp_stats.fill_small_bytes, len, __ATOMIC_RELAXED);
  return true;
}
