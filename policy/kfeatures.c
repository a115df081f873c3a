/* Kernel feature probes; see features.h. Each probe tries the real call on
 * memory or policy it owns and undoes it, so the answer is what this
 * process may do here, not what the kernel version suggests. */
#define _GNU_SOURCE
#include "policy/kfeatures.h"

#include <errno.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "policy/mpol.h"
#include "base/buf.h"
#include "base/prim.h"
#include "base/range.h"

#define FEATURES_HUGE PMD
#define FEATURES_MADV_COLLAPSE 25          /* 6.1; old headers lack it */
#define FEATURES_PIDFD_SELF (-10001)       /* PIDFD_SELF_THREAD_GROUP, 6.15 */
#define FEATURES_MPOL_F_MEMS_ALLOWED (1u << 2)

/* MADV_COLLAPSE on a 2 MiB-aligned block with one touched page. Busy or
 * short of memory still means the kernel knows the advice; EINVAL means it
 * does not (or THP is off for this process, which is as good as absent). */
static bool features_madv_collapse(void) {
  ts_prim_ptr_t m = ts_prim_mmap(NULL, 2 * FEATURES_HUGE, PROT_READ | PROT_WRITE,
                                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (m.err != 0) return false;
  uintptr_t block = ((uintptr_t)m.addr + FEATURES_HUGE - 1) & ~(uintptr_t)(FEATURES_HUGE - 1);
  *(volatile char *)block = 1;
  int r = ts_prim_madvise((void *)block, FEATURES_HUGE, FEATURES_MADV_COLLAPSE);
  ts_prim_munmap(m.addr, 2 * FEATURES_HUGE);
  return r == 0 || r == -EAGAIN || r == -ENOMEM || r == -EBUSY;
}

/* One touched page for the process_madvise probes. */
static void *features_page(size_t page) {
  ts_prim_ptr_t m = ts_prim_mmap(NULL, page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (m.err != 0) return NULL;
  *(volatile char *)m.addr = 1;
  return m.addr;
}

/* Before 6.13 process_madvise took only MADV_COLD/PAGEOUT/WILLNEED/COLLAPSE,
 * even on ourselves; MADV_DONTNEED succeeding shows the self case is open. */
static bool features_process_madvise_self(void) {
  size_t page = ts_prim_page_size();
  void *p = features_page(page);
  if (p == NULL) return false;
  bool ok = false;
  int pidfd = ts_prim_pidfd_open((int)getpid()); /* getpid cannot fail: errno untouched */
  if (pidfd >= 0) {
    struct iovec iov = {p, page};
    ok = ts_prim_process_madvise(pidfd, &iov, 1, MADV_DONTNEED) >= 0;
    ts_prim_close(pidfd);
  }
  ts_prim_munmap(p, page);
  return ok;
}

/* PIDFD_SELF is a sentinel, not a descriptor: nothing to close. MADV_COLD
 * is accepted by every kernel with process_madvise, so only the sentinel
 * is on trial. */
static bool features_pidfd_self(void) {
  size_t page = ts_prim_page_size();
  void *p = features_page(page);
  if (p == NULL) return false;
  struct iovec iov = {p, page};
  bool ok = ts_prim_process_madvise(FEATURES_PIDFD_SELF, &iov, 1, MADV_COLD) >= 0;
  ts_prim_munmap(p, page);
  return ok;
}

/* Sets the thread's policy to `mode` on one node we may use and restores
 * the previous one (mode with its flags, and its nodes; the default needs
 * none). Without the previous policy in hand we do not touch it. */
static bool features_mempolicy(int mode) {
  int prev = 0;
  uint64_t prev_nodes = 0, allowed = 0;
  if (ts_prim_get_mempolicy(&prev, &prev_nodes, NULL, 0) != 0) return false;
  /* Node 0 may be memoryless or outside our cpuset: use the first allowed. */
  int dummy;
  if (ts_prim_get_mempolicy(&dummy, &allowed, NULL, FEATURES_MPOL_F_MEMS_ALLOWED) != 0 || allowed == 0)
    allowed = 1;
  uint64_t one = allowed & (~allowed + 1);
  if (ts_prim_set_mempolicy(mode, one) != 0) return false;
  ts_prim_set_mempolicy(prev, prev == TS_MPOL_DEFAULT ? 0 : prev_nodes);
  return true;
}

/* A file or directory under the sysfs root. */
static bool features_sysfs(const char *sysfs, const char *path) {
  char full[512];
  ts_buf_t b;
  ts_buf_init(&b, full, sizeof full);
  ts_buf_puts(&b, sysfs);
  ts_buf_puts(&b, path);
  return b.need < sizeof full && ts_prim_file_type(full) >= 0;
}

/* mTHP: one directory per enabled size next to the PMD size's; 6.8 added
 * them all, so the 64 KiB one stands for the set. */
static bool features_mthp(const char *sysfs) {
  return features_sysfs(sysfs, "/kernel/mm/transparent_hugepage/hugepages-64kB") ||
         features_sysfs(sysfs, "/kernel/mm/transparent_hugepage/hugepages-2048kB");
}

/* The batched flush across a process_madvise vector (6.16) changes no
 * answer, only how many IPIs a release costs: the kernel's release is the
 * only sign. */
static bool features_release_at_least(int major, int minor) {
  struct utsname u;
  if (ts_prim_syscall(SYS_uname, (long)&u, 0, 0, 0, 0, 0) != 0) return false;
  int ma = 0, mi = 0;
  const char *p = u.release;
  while (*p >= '0' && *p <= '9') ma = ma * 10 + (*p++ - '0');
  if (*p++ != '.') return false;
  while (*p >= '0' && *p <= '9') mi = mi * 10 + (*p++ - '0');
  return ma > major || (ma == major && mi >= minor);
}

void ts_features_probe(ts_features_t *f, const char *sysfs) {
  f->madv_collapse = features_madv_collapse();
  f->preferred_many = features_mempolicy(TS_MPOL_PREFERRED_MANY);
  f->mthp = features_mthp(sysfs);
  f->weighted_interleave = features_mempolicy(TS_MPOL_WEIGHTED_INTERLEAVE);
  f->process_madvise_self = features_process_madvise_self();
  f->pidfd_self = features_pidfd_self();
  f->process_madvise_batched_flush = f->process_madvise_self && features_release_at_least(6, 16);
  /* "__auto_type" on some 6.18 builds (a macro clash in the kernel's source) */
  f->weighted_interleave_auto = features_sysfs(sysfs, "/kernel/mm/mempolicy/weighted_interleave/auto") ||
                                features_sysfs(sysfs, "/kernel/mm/mempolicy/weighted_interleave/__auto_type");
}
