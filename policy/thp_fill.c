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
 * reports: on a fragmented machine there are none to report. */
#include <string.h>

#include "base/prim.h"
#include "policy/thp.h"
#include "policy/thp_int.h"

#define BALLOON "/sys/bus/virtio/drivers/virtio_balloon/virtio"
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

bool ts_thp_fill_small(size_t len) {
  if (len < THP_FILL_MIN || ts_thp_effective() != TS_THP_AUTO || !thp_collapse_usable()) return false;
  /* No free 2 MiB blocks (a fragmented machine): a huge page then comes
   * from compacting memory the host already backs, not from a reported
   * block, and a fault-time one is cheaper than small pages plus a
   * collapse (thp.c, fault_cheap). */
  if (!thp_buddy_has_room()) return false;
  if (!thp_host_takes_back()) return false;
  __atomic_fetch_add(&ts_thp_stats.fill_small_bytes, len, __ATOMIC_RELAXED);
  return true;
}
