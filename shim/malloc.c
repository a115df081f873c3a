/* The malloc family: the interposed entry points.
 *
 * Small requests go to mimalloc's thread-local heaps; requests of at least
 * TIERSHIM_LARGE_MIN go to the large path (alloc/large.c). Semantics follow
 * glibc 2.36 where C leaves room (realloc(p, 0) frees, memalign rounds a
 * non-power-of-two alignment up) so programs behave as they do without us.
 *
 * errno: a successful call leaves errno as it found it; a failed one sets
 * ENOMEM, or EINVAL for a bad alignment, as glibc does. The general paths
 * save and restore errno around the heap. The malloc and free fast paths
 * tail-call mimalloc without touching errno, which is sound because (1)
 * mimalloc's OS calls come through our interposers, which never write
 * errno for it (the errno shield, mmap.c); (2) out of memory reaches errno
 * through mimalloc's error handler (init.c); (3) mimalloc's one-time work
 * that calls libc (its per-thread heap set-up, the process's first
 * segment) happens on a thread's first malloc, which always takes the
 * general path. */
#define _GNU_SOURCE
#include <errno.h>
#include <gnu/libc-version.h>
#include <malloc.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <mimalloc.h>

#include "bootstrap.h"
#include "counters.h"
#include "large.h"
#include "prim.h"
#include "shim.h"

#define MALLOC_ALIGNMENT 16 /* glibc's on x86-64 */

static bool aligned_alloc_strict; /* see ts_malloc_compat_init */

void ts_malloc_compat_init(void) {
  const char *v = gnu_get_libc_version(); /* "2.36" */
  long major = strtol(v, (char **)&v, 10);
  long minor = (*v == '.') ? strtol(v + 1, NULL, 10) : 0;
  aligned_alloc_strict = major > 2 || (major == 2 && minor >= 38);
}

/* ---- the allocation core ----------------------------------------------- */

/* Before initialisation has finished: initialise, and serve the nested
 * requests of the initialising thread from the bootstrap arena. */
static __attribute__((noinline)) void *malloc_early(size_t size, size_t align, bool zero, bool *done) {
  *done = false;
  if (!ts_init_enter()) return NULL;
  void *p = ts_boot_alloc(&ts_boot_arena, size, align, zero);
  if (p != NULL) {
    ts_count(TS_CTR_BOOTSTRAP);
    *done = true;
  }
  return p; /* NULL + !done: arena full, the caller uses the heap */
}

/* align: 0 for the natural alignment, else a power of two. */
static inline void *alloc_heap(size_t size, size_t align, bool zero) {
  if (ts_large_wants(size)) return ts_large_alloc(size, align, zero);
  if (align == 0) return zero ? mi_zalloc(size) : mi_malloc(size);
  return zero ? mi_zalloc_aligned(size, align) : mi_malloc_aligned(size, align);
}

static inline void *alloc_core(size_t size, size_t align, bool zero) {
  if (ts_unlikely(!ts_ready)) {
    bool done;
    void *p = malloc_early(size, align, zero, &done);
    if (done) return p;
  }
  return alloc_heap(size, align, zero);
}

/* The general allocating entry: every case, errno through libc. */
static __attribute__((noinline)) void *alloc_entry(size_t size, size_t align, bool zero) {
  ts_count(TS_CTR_MALLOC);
  int saved = errno;
  void *p = alloc_core(size, align, zero);
  errno = (p != NULL) ? saved : ENOMEM;
  return p;
}

static inline size_t usable_size(const void *p) {
  if (ts_unlikely(ts_boot_owns(&ts_boot_arena, p))) return ts_boot_usable(&ts_boot_arena, p);
  return mi_usable_size(p);
}

static inline void free_core(void *p) {
  if (ts_unlikely(ts_boot_owns(&ts_boot_arena, p))) ts_boot_free(&ts_boot_arena, p);
  else mi_free(p);
}

static __attribute__((noinline)) void free_slow(void *p) {
  ts_count(TS_CTR_FREE);
  int saved = errno;
  free_core(p);
  errno = saved;
}

/* ---- the fast paths -----------------------------------------------------
 * malloc and free are most of an inference runtime's allocator calls and
 * mimalloc's own fast path is a few nanoseconds, so every instruction here
 * shows (a save/restore of errno around a non-tail call cost 30%). Each
 * fast path tests the thread's counter block (not yet linked: this
 * thread's first call) and one gate that folds the unusual cases together;
 * the gates stay closed (everything takes the general path) until
 * initialisation has finished:
 *   malloc: size < gate_malloc_limit  (not ready: 0; then the large
 *           threshold, capped so absurd sizes always take the general path)
 *   free:   p outside [gate_free_lo, gate_free_lo + gate_free_span)
 *           (not ready: everything inside; then the bootstrap arena) */

#define GATE_MALLOC_CAP ((size_t)64 << 20)

static size_t gate_malloc_limit;
static uintptr_t gate_free_lo;
static uintptr_t gate_free_span = UINTPTR_MAX;

void ts_malloc_open_gates(void) {
  gate_free_lo = (uintptr_t)ts_boot_arena.mem;
  __atomic_store_n(&gate_free_span, (uintptr_t)ts_boot_arena.cap, __ATOMIC_RELEASE);
  size_t limit = ts_large_threshold < GATE_MALLOC_CAP ? ts_large_threshold : GATE_MALLOC_CAP;
  __atomic_store_n(&gate_malloc_limit, limit, __ATOMIC_RELEASE);
}

static inline void tls_bump(ts_tcounters_t *t, ts_ctr_t c) {
  __atomic_store_n(&t->v[c], __atomic_load_n(&t->v[c], __ATOMIC_RELAXED) + 1, __ATOMIC_RELAXED);
}

/* ---- entry points ------------------------------------------------------ */

TS_EXPORT void *malloc(size_t size) {
  ts_tcounters_t *t = &ts_tls_counters;
  if (ts_unlikely((t->state != TS_CTR_LINKED) | (size >= __atomic_load_n(&gate_malloc_limit, __ATOMIC_ACQUIRE))))
    return alloc_entry(size, 0, false);
  tls_bump(t, TS_CTR_MALLOC);
  return mi_malloc(size);
}

TS_EXPORT void free(void *p) {
  if (p == NULL) return;
  ts_tcounters_t *t = &ts_tls_counters;
  uintptr_t off = (uintptr_t)p - gate_free_lo;
  if (ts_unlikely((t->state != TS_CTR_LINKED) | (off < __atomic_load_n(&gate_free_span, __ATOMIC_ACQUIRE)))) {
    free_slow(p);
    return;
  }
  tls_bump(t, TS_CTR_FREE);
  mi_free(p);
}

TS_EXPORT void *calloc(size_t n, size_t size) {
  size_t total;
  if (__builtin_mul_overflow(n, size, &total)) {
    errno = ENOMEM;
    return NULL;
  }
  return alloc_entry(total, 0, true);
}

/* Moves a block to a fresh allocation: used when leaving the bootstrap
 * arena and when a block grows into the large path. */
static void *realloc_move(void *p, size_t size) {
  void *q = alloc_core(size, 0, false);
  if (q == NULL) return NULL;
  size_t old = usable_size(p);
  memcpy(q, p, old < size ? old : size);
  free_core(p);
  return q;
}

TS_EXPORT void *realloc(void *p, size_t size) {
  if (p == NULL) return malloc(size);
  if (size == 0) { /* glibc: frees and returns NULL */
    free(p);
    return NULL;
  }
  int saved = errno;
  ts_count(TS_CTR_MALLOC);
  void *q;
  if (ts_unlikely(ts_boot_owns(&ts_boot_arena, p))) q = realloc_move(p, size);
  else if (ts_large_wants(size) && mi_usable_size(p) < size) q = realloc_move(p, size);
  else q = mi_realloc(p, size);
  errno = (q != NULL) ? saved : ENOMEM;
  return q;
}

TS_EXPORT void *reallocarray(void *p, size_t n, size_t size) {
  size_t total;
  if (__builtin_mul_overflow(n, size, &total)) {
    errno = ENOMEM;
    return NULL;
  }
  return realloc(p, total);
}

/* glibc's memalign: small alignments are plain malloc, a non-power-of-two
 * is rounded up to the next power of two, absurd ones fail with EINVAL. */
TS_EXPORT void *memalign(size_t align, size_t size) {
  if (align <= MALLOC_ALIGNMENT) return malloc(size);
  if (align > SIZE_MAX / 2 + 1) {
    errno = EINVAL;
    return NULL;
  }
  if ((align & (align - 1)) != 0) align = (size_t)1 << (64 - __builtin_clzl(align));
  return alloc_entry(size, align, false);
}

TS_EXPORT int posix_memalign(void **out, size_t align, size_t size) {
  if (align < sizeof(void *) || (align & (align - 1)) != 0) return EINVAL;
  int saved = errno;
  void *p = (align <= MALLOC_ALIGNMENT) ? malloc(size) : memalign(align, size);
  errno = saved; /* posix_memalign reports through its result, not errno */
  if (p == NULL) return ENOMEM;
  *out = p;
  return 0;
}

TS_EXPORT void *aligned_alloc(size_t align, size_t size) {
  if (aligned_alloc_strict && (align == 0 || (align & (align - 1)) != 0)) {
    errno = EINVAL;
    return NULL;
  }
  return memalign(align, size);
}

TS_EXPORT void *valloc(size_t size) { return memalign(ts_prim_page_size(), size); }

TS_EXPORT void *pvalloc(size_t size) {
  size_t page = ts_prim_page_size();
  if (size > SIZE_MAX - page) {
    errno = ENOMEM;
    return NULL;
  }
  return memalign(page, (size + page - 1) & ~(page - 1));
}

TS_EXPORT size_t malloc_usable_size(void *p) { return (p == NULL) ? 0 : usable_size(p); }

/* mimalloc returns freed memory to the OS on its own schedule; a program
 * that asks explicitly gets a forced collection of its thread's heap. */
TS_EXPORT int malloc_trim(size_t pad) {
  int saved = errno;
  mi_collect(true);
  errno = saved;
  return 1;
}

/* glibc-internal names that some programs and libraries call directly.
 * Both glibc and libmimalloc export them; ours come first in the lookup
 * scope, so no foreign pointer ever reaches the other allocators. */
TS_EXPORT void *__libc_malloc(size_t) __attribute__((alias("malloc"), copy(malloc)));
TS_EXPORT void __libc_free(void *) __attribute__((alias("free"), copy(free)));
TS_EXPORT void *__libc_calloc(size_t, size_t) __attribute__((alias("calloc"), copy(calloc)));
TS_EXPORT void *__libc_realloc(void *, size_t) __attribute__((alias("realloc"), copy(realloc)));
TS_EXPORT void *__libc_memalign(size_t, size_t) __attribute__((alias("memalign"), copy(memalign)));
TS_EXPORT void *__libc_valloc(size_t) __attribute__((alias("valloc"), copy(valloc)));
TS_EXPORT void *__libc_pvalloc(size_t) __attribute__((alias("pvalloc"), copy(pvalloc)));
