/* A test plugin for TIERSHIM_UNMAP=/path/plugin.so (include/tiershim_unmap.h).
 * Built twice: as is (a working backend that releases with madvise and
 * counts what it did, printed at fini) and with -DBAD_ABI (a future ABI
 * tiershim must refuse). It never allocates, as the contract asks. */
#include <stdio.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "tiershim_unmap.h"

static unsigned long n_calls, n_ranges, n_bytes;

static int plug_init(void **state) {
  *state = &n_calls;
  return 0;
}

static size_t plug_release(void *state, const tiershim_unmap_range_t *r, size_t n, uint32_t *calls) {
  size_t done = 0;
  __atomic_fetch_add(&n_calls, 1, __ATOMIC_RELAXED);
  __atomic_fetch_add(&n_ranges, n, __ATOMIC_RELAXED);
  for (size_t i = 0; i < n; i++) {
    (*calls)++;
    /* the kernel's madvise, not libc's: tiershim interposes that one */
    if (syscall(SYS_madvise, r[i].addr, r[i].len, MADV_DONTNEED) == 0) done += r[i].len;
  }
  __atomic_fetch_add(&n_bytes, done, __ATOMIC_RELAXED);
  return done;
}

/* One write(2), no stdio buffer: it runs inside the host's exit path. */
static void plug_fini(void *state) {
  char line[128];
  int k = snprintf(line, sizeof line, "unmap_plugin: calls=%lu ranges=%lu bytes=%lu\n", n_calls, n_ranges, n_bytes);
  if (k > 0) (void)!write(2, line, (size_t)k);
}

static const tiershim_unmap_backend_t plug = {
#ifdef BAD_ABI
    .abi = TIERSHIM_UNMAP_ABI + 98,
#else
    .abi = TIERSHIM_UNMAP_ABI,
#endif
    .size = sizeof(tiershim_unmap_backend_t),
    .name = "counting",
    .init = plug_init,
    .release = plug_release,
    .fini = plug_fini,
};

__attribute__((visibility("default"))) const tiershim_unmap_backend_t *tiershim_unmap_backend(void) { return &plug; }
