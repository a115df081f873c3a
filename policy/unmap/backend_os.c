/* The two backends built on plain system calls (docs/unmap.md).
 *
 * munmap: the baseline. Each range goes back on its own call, the moment
 * it is freed (the unmap layer turns retention off for it), as glibc's free
 * of an mmapped chunk does. The call is madvise(MADV_DONTNEED), not munmap:
 * the same flush and shootdown, but tiershim's address-space reservation
 * stays whole (a hole there could be taken by an unrelated mapping).
 *
 * batch: a whole vector per call, process_madvise(2) over an iovec where
 * the running kernel accepts MADV_DONTNEED for the caller (6.13+ with a
 * pidfd of our own, 6.15+ with PIDFD_SELF), whose TLB flush covers the whole
 * vector on 6.16+; else one madvise per (coalesced) range. Which one is
 * probed on first use, never read from a version string. */
#define _GNU_SOURCE
#include "policy/unmap/unmap_os.h"

#include <errno.h>
#include <stddef.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <unistd.h>

#include "base/prim.h"

#define PIDFD_SELF_VALUE (-10001) /* 6.15; older headers' -20000 is wrong now */

static ts_release_mode_t os_mode;
static int os_pidfd = -1;
uint64_t ts_release_fallbacks; /* vectors process_madvise released short */

static long pmadv(int pidfd, const struct iovec *iov, size_t n) {
  return ts_prim_process_madvise(pidfd, iov, n, MADV_DONTNEED);
}

/* Releases one scratch page each way: what the kernel accepts decides. */
static ts_release_mode_t os_probe(void) {
  size_t page = ts_prim_page_size();
  ts_prim_ptr_t m = ts_prim_mmap(NULL, page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (m.err) return TS_RELEASE_MADVISE;
  *(volatile char *)m.addr = 1;
  struct iovec iov = {m.addr, page};
  ts_release_mode_t mode = TS_RELEASE_MADVISE;
  if (pmadv(PIDFD_SELF_VALUE, &iov, 1) == (long)page) {
    mode = TS_RELEASE_PMADV_SELF;
  } else {
    int fd = ts_prim_pidfd_open(getpid());
    if (fd >= 0 && pmadv(fd, &iov, 1) == (long)page) {
      os_pidfd = fd;
      mode = TS_RELEASE_PMADV_FD;
    } else if (fd >= 0) {
      ts_prim_close(fd);
    }
  }
  ts_prim_munmap(m.addr, page);
  return mode;
}

ts_release_mode_t ts_release_mode(void) {
  if (os_mode == TS_RELEASE_UNPROBED) os_mode = os_probe();
  return os_mode;
}

const char *ts_release_mode_name(void) {
  static const char *const names[] = {"unprobed", "process_madvise(PIDFD_SELF)",
                                      "process_madvise(pidfd)", "madvise"};
  return names[os_mode];
}

static size_t release_each(const tiershim_unmap_range_t *r, size_t n, uint32_t *calls) {
  size_t done = 0;
  for (size_t i = 0; i < n; i++) {
    (*calls)++;
    if (ts_prim_madvise((void *)r[i].addr, r[i].len, MADV_DONTNEED) == 0) done += r[i].len;
  }
  return done;
}

/* struct iovec and tiershim_unmap_range_t have the same layout: the
 * vector goes to the kernel as it is, with no copy on the caller's stack. */
_Static_assert(sizeof(struct iovec) == sizeof(tiershim_unmap_range_t) &&
                   offsetof(struct iovec, iov_base) == offsetof(tiershim_unmap_range_t, addr) &&
                   offsetof(struct iovec, iov_len) == offsetof(tiershim_unmap_range_t, len),
               "iovec layout");

/* A short count from process_madvise means it stopped at a range: finish
 * the rest one by one, so every range is released whatever happened. */
static size_t release_vector(const tiershim_unmap_range_t *r, size_t n, uint32_t *calls) {
  int pidfd = (os_mode == TS_RELEASE_PMADV_SELF) ? PIDFD_SELF_VALUE : os_pidfd;
  size_t done = 0;
  for (size_t at = 0; at < n; at += TS_RELEASE_IOV_MAX) {
    size_t k = n - at < TS_RELEASE_IOV_MAX ? n - at : TS_RELEASE_IOV_MAX, want = 0;
    for (size_t i = 0; i < k; i++) want += r[at + i].len;
    long got = pmadv(pidfd, (const struct iovec *)(r + at), k);
    (*calls)++;
    if (got == (long)want) {
      done += want;
      continue;
    }
    __atomic_fetch_add(&ts_release_fallbacks, 1, __ATOMIC_RELAXED);
    size_t skip = got > 0 ? (size_t)got : 0, i = 0;
    for (; i < k && skip >= r[at + i].len; i++) skip -= r[at + i].len, done += r[at + i].len;
    tiershim_unmap_range_t rest = {r[at + i].addr + skip, r[at + i].len - skip};
    done += skip + release_each(&rest, 1, calls) + release_each(&r[at + i + 1], k - i - 1, calls);
  }
  return done;
}

static int os_init(void **state) {
  *state = NULL;
  return 0;
}

static size_t munmap_release(void *state, const tiershim_unmap_range_t *r, size_t n, uint32_t *calls) {
  return release_each(r, n, calls);
}

static size_t batch_release(void *state, const tiershim_unmap_range_t *r, size_t n, uint32_t *calls) {
  return ts_release_mode() == TS_RELEASE_MADVISE ? release_each(r, n, calls) : release_vector(r, n, calls);
}

/* A pidfd names the parent: the child probes again. */
static void batch_fork_child(void *state) {
  if (os_mode == TS_RELEASE_PMADV_FD) {
    ts_prim_close(os_pidfd);
    os_pidfd = -1;
    os_mode = TS_RELEASE_UNPROBED;
  }
}

const tiershim_unmap_backend_t ts_unmap_munmap = {
    .abi = TIERSHIM_UNMAP_ABI, .size = sizeof(tiershim_unmap_backend_t), .name = "munmap",
    .init = os_init, .release = munmap_release};

const tiershim_unmap_backend_t ts_unmap_batch = {
    .abi = TIERSHIM_UNMAP_ABI, .size = sizeof(tiershim_unmap_backend_t), .name = "batch",
    .init = os_init, .release = batch_release, .fork_child = batch_fork_child};
