/* The kmod backend: the user-space side of the tiershim kernel module
 * (policy/unmap/kmod/, docs/unmap.md). A vector of ranges goes to the
 * module in one ioctl, released under one mmap-lock acquisition; the module
 * also counts the TLB shootdowns the kernel sends for this process, which
 * the batcher adapts to. Without the module (no /dev/tiershim, another ABI)
 * init fails and the unmap layer falls back to the batch backend.
 *
 * With TIERSHIM_UNMAP_LAZY and a module that has TS_KMOD_F_LAZY, releases
 * go down with TS_KMOD_REL_LAZY and may stay pending in the module; the
 * mirror (lazy.h) knows which, and ts_unmap_kmod_settle() takes a range out
 * before tiershim reuses or remaps it. */
#define _GNU_SOURCE
#include "policy/unmap/unmap_os.h"

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>

#include "kmod/tiershim_uapi.h"
#include "base/msg.h"
#include "base/options.h"
#include "base/prim.h"
#include "policy/unmap/lazy.h"

/* tiershim_unmap_range_t is the module's range on LP64: the vector goes
 * down as it is. */
_Static_assert(sizeof(struct ts_kmod_range) == sizeof(tiershim_unmap_range_t) &&
                   offsetof(struct ts_kmod_range, len) == offsetof(tiershim_unmap_range_t, len),
               "ts_kmod_range layout");

static int kmod_fd = -1;
static struct ts_kmod_info kmod_info;
static ts_lazy_t kmod_lazy; /* limit 0 unless lazy release is on */

static int lazy_release(void *ctx, const tiershim_unmap_range_t *r, size_t n, uint64_t *bytes) {
  struct ts_kmod_release rel = {.ranges = (uint64_t)(uintptr_t)r, .n = (uint32_t)n, .flags = TS_KMOD_REL_LAZY};
  long rc = ts_prim_ioctl(kmod_fd, TS_KMOD_IOC_RELEASE, &rel);
  *bytes = rel.bytes;
  return (int)rc;
}

static int lazy_settle(void *ctx, uintptr_t a, size_t len, uint64_t *pending) {
  struct ts_kmod_settle st = {.addr = a, .len = len};
  long rc = ts_prim_ioctl(kmod_fd, TS_KMOD_IOC_SETTLE, &st);
  *pending = st.pending;
  return (int)rc;
}

static const ts_lazy_ops_t lazy_ops = {lazy_release, lazy_settle, NULL};

/* The module's limit on pending bytes, on this file. Lazy stays off
 * without TIERSHIM_UNMAP_LAZY or on a module without it (one line under
 * TIERSHIM_VERBOSE: the eager release is the documented fallback). */
static void kmod_lazy_setup(void) {
  size_t limit = ts_config.unmap_lazy;
  if (limit && !(kmod_info.flags & TS_KMOD_F_LAZY)) {
    if (ts_config.verbose) {
      TS_MSG_BEGIN(b, storage);
      ts_buf_puts(&b, "TIERSHIM_UNMAP_LAZY: the module has no lazy release; released at once");
      ts_msg_end(&b);
    }
    limit = 0;
  }
  struct ts_kmod_lazy lz = {.limit = limit};
  if (limit && ts_prim_ioctl(kmod_fd, TS_KMOD_IOC_LAZY, &lz) < 0) limit = 0;
  ts_lazy_init(&kmod_lazy, &lazy_ops, limit);
}

static int kmod_open(void) {
  int fd = ts_prim_open(TS_KMOD_DEVICE, O_RDWR, 0);
  if (fd < 0) return fd;
  struct ts_kmod_info info = {0};
  long r = ts_prim_ioctl(fd, TS_KMOD_IOC_INFO, &info);
  if (r < 0 || info.abi != TS_KMOD_ABI) {
    ts_prim_close(fd);
    return r < 0 ? (int)r : -EPROTO; /* another ABI: not ours to guess at */
  }
  info.version[sizeof info.version - 1] = '\0';
  kmod_info = info;
  kmod_fd = fd;
  return 0;
}

static int kmod_init(void **state) {
  *state = NULL;
  int err = kmod_open();
  if (err == 0) kmod_lazy_setup();
  return err;
}

/* Vectors longer than the module takes go down in pieces. A failed ioctl
 * releases nothing (the module checks every range first): the caller
 * releases them again with madvise. */
static size_t kmod_release(void *state, const tiershim_unmap_range_t *r, size_t n, uint32_t *calls) {
  size_t done = 0, max = kmod_info.max_ranges ? kmod_info.max_ranges : 1;
  if (ts_lazy_on(&kmod_lazy) && kmod_fd >= 0) {
    for (size_t at = 0; at < n; at += max) {
      size_t k = n - at < max ? n - at : max, got;
      (*calls)++;
      if ((got = ts_lazy_release(&kmod_lazy, r + at, k)) == 0) return done;
      done += got;
    }
    return done;
  }
  for (size_t at = 0; at < n; at += max) {
    struct ts_kmod_release rel = {.ranges = (uint64_t)(uintptr_t)(r + at),
                                  .n = (uint32_t)(n - at < max ? n - at : max)};
    (*calls)++;
    if (ts_prim_ioctl(kmod_fd, TS_KMOD_IOC_RELEASE, &rel) < 0) return done;
    done += rel.bytes;
  }
  return done;
}

static int kmod_counts(void *state, tiershim_unmap_counts_t *out) {
  struct ts_kmod_stats st;
  if (!(kmod_info.flags & TS_KMOD_F_SHOOTDOWNS)) return -ENOSYS;
  if (ts_prim_ioctl(kmod_fd, TS_KMOD_IOC_STATS, &st) < 0) return -ENOSYS;
  *out = (tiershim_unmap_counts_t){st.flushes, st.targets};
  return 0;
}

/* The inherited file names the parent's mm (the module refuses it): open
 * our own. Without it, releases fail and go to the madvise fallback. */
static void kmod_fork_child(void *state) {
  /* The child's new file has nothing pending. The parent's pending pages
   * are the child's too (copy-on-write), resident with old bytes, while
   * the child's regions call them zapped: reuse zeroes resident pages
   * where zero is promised (alloc/window.c zero_resident), as it does for
   * any zapped range a stray write touched. */
  ts_lazy_forget(&kmod_lazy);
  if (kmod_fd >= 0) ts_prim_close(kmod_fd);
  kmod_fd = -1;
  if (kmod_open() != 0) {
    kmod_info.max_ranges = 0;
    kmod_lazy.limit = 0;
  } else if (kmod_lazy.limit) {
    struct ts_kmod_lazy lz = {.limit = kmod_lazy.limit};
    if (ts_prim_ioctl(kmod_fd, TS_KMOD_IOC_LAZY, &lz) < 0) kmod_lazy.limit = 0;
  }
}

/* At exit the module drops the pending set with the file: the pages stay
 * mapped until the process unmaps them or exits. */
static void kmod_fini(void *state) {
  ts_lazy_fini(&kmod_lazy); /* before the close: no settle reaches a closed file */
  if (kmod_fd >= 0) ts_prim_close(kmod_fd);
  kmod_fd = -1;
}

void ts_unmap_kmod_settle(uintptr_t a, size_t len) {
  if (kmod_fd >= 0) ts_lazy_settle(&kmod_lazy, a, len);
}

bool ts_unmap_kmod_lazy_on(void) { return kmod_fd >= 0 && ts_lazy_on(&kmod_lazy); }
uint64_t ts_unmap_kmod_lazy_limit(void) { return kmod_fd >= 0 ? kmod_lazy.limit : 0; }
uint64_t ts_unmap_kmod_lazy_pending(void) { return kmod_fd >= 0 ? kmod_lazy.bytes : 0; }
uint64_t ts_unmap_kmod_lazy_cancelled(void) { return kmod_lazy.cancelled; }
uint64_t ts_unmap_kmod_lazy_settles(void) { return kmod_lazy.settles; }

/* Every shootdown round the module counted for this process since it
 * opened the device, inside releases or not (mimalloc's own purges,
 * khugepaged, mprotect): what the unmap layer cannot see by itself. */
uint64_t ts_unmap_kmod_shootdowns(void) {
  struct ts_kmod_stats st;
  if (kmod_fd < 0 || !(kmod_info.flags & TS_KMOD_F_SHOOTDOWNS)) return 0;
  return ts_prim_ioctl(kmod_fd, TS_KMOD_IOC_STATS, &st) < 0 ? 0 : st.flushes;
}

unsigned ts_unmap_kmod_flags(void) { return kmod_fd >= 0 ? kmod_info.flags : 0; }
const char *ts_unmap_kmod_version(void) { return kmod_fd >= 0 ? kmod_info.version : ""; }

const tiershim_unmap_backend_t ts_unmap_kmod = {
    .abi = TIERSHIM_UNMAP_ABI, .size = sizeof(tiershim_unmap_backend_t), .name = "kmod",
    .init = kmod_init, .release = kmod_release, .counts = kmod_counts,
    .fork_child = kmod_fork_child, .fini = kmod_fini};
