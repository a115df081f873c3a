/* The release function; see release.h. */
#define _GNU_SOURCE
#include "release.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <unistd.h>

#include "prim.h"

#ifndef SYS_process_madvise
#define SYS_process_madvise 440
#endif
#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#define PIDFD_SELF_VALUE (-10001) /* 6.15; older headers' -20000 is wrong now */
#define RELEASE_IOV_MAX 64        /* well under UIO_MAXIOV */

ts_release_stats_t ts_release_stats;

static ts_release_mode_t rel_mode;
static int rel_pidfd = -1;

static long pmadv(int pidfd, struct iovec *iov, size_t n) {
  return ts_prim_process_madvise(pidfd, iov, n, MADV_DONTNEED);
}

/* Releases one scratch page each way: what the kernel accepts decides. */
static ts_release_mode_t rel_probe(void) {
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
      rel_pidfd = fd;
      mode = TS_RELEASE_PMADV_FD;
    } else if (fd >= 0) {
      ts_prim_close(fd);
    }
  }
  ts_prim_munmap(m.addr, page);
  return mode;
}

ts_release_mode_t ts_release_mode(void) {
  if (rel_mode == TS_RELEASE_UNPROBED) rel_mode = rel_probe();
  return rel_mode;
}

const char *ts_release_mode_name(void) {
  static const char *const names[] = {"unprobed", "process_madvise(PIDFD_SELF)",
                                      "process_madvise(pidfd)", "madvise"};
  return names[rel_mode];
}

void ts_release_fork_child(void) {
  if (rel_mode == TS_RELEASE_PMADV_FD) {
    ts_prim_close(rel_pidfd); /* it names the parent */
    rel_pidfd = -1;
    rel_mode = TS_RELEASE_UNPROBED;
  }
}

static int range_cmp(const void *a, const void *b) {
  uintptr_t x = ((const ts_range_t *)a)->addr, y = ((const ts_range_t *)b)->addr;
  return (x > y) - (x < y);
}

static size_t coalesce(ts_range_t *r, size_t n) {
  if (n < 2) return n;
  qsort(r, n, sizeof *r, range_cmp);
  size_t k = 0;
  for (size_t i = 1; i < n; i++) {
    if (r[k].addr + r[k].len == r[i].addr) r[k].len += r[i].len;
    else r[++k] = r[i];
  }
  return k + 1;
}

static size_t release_madvise(const ts_range_t *r, size_t n) {
  size_t done = 0;
  for (size_t i = 0; i < n; i++) {
    ts_release_stats.calls++;
    if (ts_prim_madvise((void *)r[i].addr, r[i].len, MADV_DONTNEED) == 0) done += r[i].len;
    else ts_release_stats.failures++;
  }
  return done;
}

/* A short count from process_madvise means it stopped at a range: finish
 * the rest one by one, so every range is released whatever happened. */
static size_t release_vector(ts_range_t *r, size_t n) {
  int pidfd = (rel_mode == TS_RELEASE_PMADV_SELF) ? PIDFD_SELF_VALUE : rel_pidfd;
  size_t done = 0;
  for (size_t at = 0; at < n; at += RELEASE_IOV_MAX) {
    size_t k = n - at < RELEASE_IOV_MAX ? n - at : RELEASE_IOV_MAX;
    struct iovec iov[RELEASE_IOV_MAX];
    size_t want = 0;
    for (size_t i = 0; i < k; i++) {
      iov[i] = (struct iovec){(void *)r[at + i].addr, r[at + i].len};
      want += r[at + i].len;
    }
    long got = pmadv(pidfd, iov, k);
    ts_release_stats.calls++;
    if (got == (long)want) {
      done += want;
      continue;
    }
    size_t skip = got > 0 ? (size_t)got : 0, i = 0;
    for (; i < k && skip >= r[at + i].len; i++) skip -= r[at + i].len, done += r[at + i].len;
    ts_range_t rest = {r[at + i].addr + skip, r[at + i].len - skip, 0, 0};
    done += skip + release_madvise(&rest, 1) + release_madvise(&r[at + i + 1], k - i - 1);
  }
  return done;
}

size_t ts_release(ts_range_t *ranges, size_t n) {
  n = coalesce(ranges, n);
  if (n == 0) return 0;
  size_t done = (ts_release_mode() == TS_RELEASE_MADVISE) ? release_madvise(ranges, n)
                                                          : release_vector(ranges, n);
  ts_release_stats.ranges += n;
  ts_release_stats.bytes += done;
  return done;
}
