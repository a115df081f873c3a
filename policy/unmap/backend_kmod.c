/* The kmod backend: the user-space side of the tiershim kernel module
 * (policy/unmap/kmod/, docs/unmap.md). A vector of ranges goes to the
 * module in one ioctl, released under one mmap-lock acquisition; the module
 * also counts the TLB shootdowns the kernel sends for this process, which
 * the batcher adapts to. Without the module (no /dev/tiershim, another ABI)
 * init fails and the unmap layer falls back to the batch backend. */
#define _GNU_SOURCE
#include "policy/unmap/unmap_os.h"

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>

#include "kmod/tiershim_uapi.h"
#include "base/prim.h"

/* tiershim_unmap_range_t is the module's range on LP64: the vector goes
 * down as it is. */
_Static_assert(sizeof(struct ts_kmod_range) == sizeof(tiershim_unmap_range_t) &&
                   offsetof(struct ts_kmod_range, len) == offsetof(tiershim_unmap_range_t, len),
               "ts_kmod_range layout");

static int kmod_fd = -1;
static struct ts_kmod_info kmod_info;

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
  return kmod_open();
}

/* Vectors longer than the module takes go down in pieces. A failed ioctl
 * releases nothing (the module checks every range first): the caller
 * releases them again with madvise. */
static size_t kmod_release(void *state, const tiershim_unmap_range_t *r, size_t n, uint32_t *calls) {
  size_t done = 0, max = kmod_info.max_ranges ? kmod_info.max_ranges : 1;
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
  if (kmod_fd >= 0) ts_prim_close(kmod_fd);
  kmod_fd = -1;
  if (kmod_open() != 0) kmod_info.max_ranges = 0;
}

static void kmod_fini(void *state) {
  if (kmod_fd >= 0) ts_prim_close(kmod_fd);
  kmod_fd = -1;
}

unsigned ts_unmap_kmod_flags(void) { return kmod_fd >= 0 ? kmod_info.flags : 0; }
const char *ts_unmap_kmod_version(void) { return kmod_fd >= 0 ? kmod_info.version : ""; }

const tiershim_unmap_backend_t ts_unmap_kmod = {
    .abi = TIERSHIM_UNMAP_ABI, .size = sizeof(tiershim_unmap_backend_t), .name = "kmod",
    .init = kmod_init, .release = kmod_release, .counts = kmod_counts,
    .fork_child = kmod_fork_child, .fini = kmod_fini};
