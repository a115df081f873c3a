/* What a fault-time huge page costs here, against the small pages it
 * replaces; see thp_probe.h.
 *
 * Why measure: a huge-page fault zeroes 2 MiB at once, which on bare metal
 * takes about a fifth of what 512 small faults take. In a VM whose balloon
 * reports free memory to the host (virtio free page reporting, on by
 * default in many clouds), free 2 MiB blocks are exactly what gets
 * reported and given back: the first touch of one costs the host a fault
 * per page it backs it with, and a huge-page fault becomes five times
 * slower than small faults, which come from the small free lists the
 * kernel never reports. Which one a machine is changes with its state, so
 * the answer is measured, and measured again a second later. */
#define _GNU_SOURCE
#include "policy/thp_probe.h"

#include <string.h>
#include <sys/mman.h>

#include "base/prim.h"

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

#define PMD ((size_t)2 << 20)
#define PAGE ((size_t)4096)
#define PROBE_BLOCKS 2                    /* huge samples per probe */
#define REPROBE_NS (1000 * 1000000ull)    /* an answer holds this long */

ts_thp_probe_stats_t ts_thp_probe_stats;

/* Pure: cheap when the slowest huge sample costs no more than the small
 * pages of the same 2 MiB; the slowest, because the first free blocks the
 * kernel hands out are the most recently freed, the ones least likely to
 * have gone back to the host. No answer (a failed probe) says cheap: the
 * mode's own rule stands. */
bool ts_thp_probe_cheap(const ts_thp_probe_t *p) {
  if (!p->ok) return true;
  return p->huge_ns <= p->small_ns;
}

/* Does the balloon report free pages to the host? Its device's feature
 * bits, one character per bit; bit 5 is VIRTIO_BALLOON_F_REPORTING. */
bool ts_thp_probe_reporting(const char *features) {
  return strlen(features) > 5 && features[5] == '1';
}

static bool reporting_active(void) {
  char path[96], text[160];
  for (int i = 0; i < 32; i++) {
    static const char dir[] = "/sys/bus/virtio/drivers/virtio_balloon/virtio";
    size_t n = sizeof dir - 1;
    memcpy(path, dir, n);
    if (i >= 10) path[n++] = (char)('0' + i / 10);
    path[n++] = (char)('0' + i % 10);
    memcpy(path + n, "/features", sizeof "/features");
    if (ts_prim_read_file(path, text, sizeof text) > 0) return ts_thp_probe_reporting(text);
  }
  return false;
}

/* The scratch: one 2 MiB-aligned block for the huge samples, one for the
 * small, in 6 MiB of address space mapped once (no memory until probed). */
static uintptr_t probe_scratch(void) {
  static uintptr_t base;
  if (base) return base;
  ts_prim_ptr_t m = ts_prim_mmap(NULL, 3 * PMD, PROT_READ | PROT_WRITE,
                                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (m.err) return 0;
  uintptr_t a = ((uintptr_t)m.addr + PMD - 1) & ~(uintptr_t)(PMD - 1);
  if (ts_prim_madvise((void *)a, PMD, MADV_HUGEPAGE) != 0 ||
      ts_prim_madvise((void *)(a + PMD), PMD, MADV_NOHUGEPAGE) != 0) {
    ts_prim_munmap(m.addr, 3 * PMD);
    return 0;
  }
  base = a;
  return base;
}

/* ns to populate [a, a+len) for writing, then its memory given back; 0 when
 * the kernel has no MADV_POPULATE_WRITE (before 5.14). */
static uint64_t populate_ns(uintptr_t a, size_t len) {
  uint64_t t0 = ts_prim_clock_ns();
  int r = ts_prim_madvise((void *)a, len, MADV_POPULATE_WRITE);
  uint64_t t = ts_prim_clock_ns() - t0;
  (void)ts_prim_madvise((void *)a, len, MADV_DONTNEED);
  return r == 0 ? (t ? t : 1) : 0;
}

void ts_thp_probe_run(ts_thp_probe_t *p) {
  memset(p, 0, sizeof *p);
  uintptr_t a = probe_scratch();
  if (a == 0) return;
  p->small_ns = populate_ns(a + PMD, PMD);
  for (int i = 0; i < PROBE_BLOCKS && p->small_ns; i++) {
    uint64_t t = populate_ns(a, PMD);
    if (t == 0) return;
    if (t > p->huge_ns) p->huge_ns = t;
  }
  p->ok = p->small_ns != 0;
}

/* Called by the thread that hands a large block out; the probes are
 * serialised by the CAS on `busy`, and a thread that finds one running
 * takes the last answer. */
bool ts_thp_probe_huge_cheap(void) {
  static uint64_t probed_ns;
  static bool cheap = true, reporting, reporting_read;
  static int busy;
  uint64_t now = ts_prim_clock_ns();
  if (probed_ns != 0 && now - __atomic_load_n(&probed_ns, __ATOMIC_RELAXED) < REPROBE_NS)
    return __atomic_load_n(&cheap, __ATOMIC_RELAXED);
  if (__atomic_exchange_n(&busy, 1, __ATOMIC_ACQUIRE)) return __atomic_load_n(&cheap, __ATOMIC_RELAXED);
  if (!reporting_read) {
    reporting = reporting_active();
    reporting_read = true;
    ts_thp_probe_stats.reporting = reporting;
  }
  /* With free page reporting no probe can tell: a short one meets the few
   * blocks freed last, not yet reported, while a large block takes hundreds
   * more, most of them given back to the host. */
  bool c = false;
  if (!reporting) {
    ts_thp_probe_t p;
    ts_thp_probe_run(&p);
    c = ts_thp_probe_cheap(&p);
    ts_thp_probe_stats.probes++;
    ts_thp_probe_stats.huge_ns = p.huge_ns;
    ts_thp_probe_stats.small_ns = p.small_ns;
  }
  __atomic_store_n(&cheap, c, __ATOMIC_RELAXED);
  __atomic_store_n(&probed_ns, now, __ATOMIC_RELAXED);
  __atomic_store_n(&busy, 0, __ATOMIC_RELEASE);
  return c;
}
