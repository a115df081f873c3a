/* tiershim's unmap-backend ABI (docs/unmap.md).
 *
 * tiershim keeps freed mid-size and large ranges mapped and reuses them;
 * when it gives memory back to the OS (retention over TIERSHIM_RETAIN_MAX,
 * or memory idle for TIERSHIM_UNMAP_DELAY) it hands a vector of ranges to
 * an unmap backend. Built-in backends: munmap, batch, kmod. Others are
 * plugins: TIERSHIM_UNMAP=/path/plugin.so, a shared object exporting
 *
 *     const tiershim_unmap_backend_t *tiershim_unmap_backend(void);
 *
 * whose result has abi == TIERSHIM_UNMAP_ABI and size >= the size of the
 * version-1 struct. A plugin that cannot be loaded, has the wrong ABI or
 * whose init fails is not used: tiershim prints one warning and falls
 * back to the batch backend.
 *
 * Contract for every callback:
 *  - it may run in any thread, concurrently with itself, from inside
 *    malloc, free, munmap or mremap of the host program, with no tiershim
 *    lock held; it must not call back into the program;
 *  - it must not call malloc or free (release runs under tiershim's unmap
 *    lock, which the placement lock may be waiting on);
 *  - it must make system calls directly (syscall(2)): libc's mmap, munmap,
 *    mremap and madvise are tiershim's own entry points, which refuse
 *    ranges tiershim holds for release;
 *  - errno need not be preserved (tiershim restores it);
 *  - after fork, the child calls fork_child before anything else. */
#ifndef TIERSHIM_UNMAP_H
#define TIERSHIM_UNMAP_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TIERSHIM_UNMAP_ABI 1

/* A range of the process's address space: page-aligned, len > 0. Ranges
 * handed to release are sorted by address, disjoint and not adjacent
 * (adjacent ones are coalesced first). */
typedef struct tiershim_unmap_range {
  uintptr_t addr;
  size_t len;
} tiershim_unmap_range_t;

/* TLB shootdowns attributed to this process, as the backend knows them. */
typedef struct tiershim_unmap_counts {
  uint64_t shootdowns; /* remote flush rounds sent for this process */
  uint64_t targets;    /* CPUs they targeted */
} tiershim_unmap_counts_t;

typedef struct tiershim_unmap_backend {
  uint32_t abi;  /* TIERSHIM_UNMAP_ABI */
  uint32_t size; /* sizeof(tiershim_unmap_backend_t) the backend was built with */
  const char *name;
  /* 0, or -errno: the backend cannot run here (tiershim falls back). */
  int (*init)(void **state);
  /* Gives the memory of n ranges (1..1024) back to the OS with MADV_DONTNEED
   * semantics: a released anonymous range reads as zero afterwards, a range
   * not released keeps its contents. Returns the bytes released; when that
   * is less than the ranges hold, tiershim releases every range again with
   * madvise(MADV_DONTNEED) (idempotent) and counts a failure. *calls: the
   * system calls or ioctls it made. */
  size_t (*release)(void *state, const tiershim_unmap_range_t *r, size_t n, uint32_t *calls);
  /* Optional (NULL): finishes deferred work, e.g. before exit. */
  void (*flush)(void *state);
  /* Optional: 0 and *out filled when the backend counts shootdowns exactly
   * (tiershim's adaptive batching then uses them), else -ENOSYS. */
  int (*counts)(void *state, tiershim_unmap_counts_t *out);
  /* Optional: in the child after fork (reopen what names the parent). */
  void (*fork_child)(void *state);
  /* Optional: at exit. */
  void (*fini)(void *state);
} tiershim_unmap_backend_t;

/* The symbol a plugin exports. */
typedef const tiershim_unmap_backend_t *(*tiershim_unmap_backend_fn)(void);
#define TIERSHIM_UNMAP_SYMBOL "tiershim_unmap_backend"

#ifdef __cplusplus
}
#endif

#endif
