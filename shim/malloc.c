/* The malloc family: the interposed entry points.
 *
 * Small requests go to mimalloc's thread-local heaps; requests of at least
 * TIERSHIM_LARGE_MIN go to the large path (alloc/large.c). Semantics follow
 * glibc 2.36 where C leaves room (realloc(p, 0) frees, memalign rounds a
 * non-power-of-two alignment up) so programs behave as they do without us.
 *
 * errno: a successful call leaves errno as it found it; a failed one sets
 * ENOMEM, or EINVAL for a bad alignment, as glibc does. The general paths
 * save and restore errno around the heap. The fast paths (malloc, calloc,
 * realloc, free) tail-call mimalloc without touching errno, which is sound
 * because (1)
 * mimalloc's OS calls come through our interposers, which never write
 * errno for it (the errno shield, mmap.c); (2) out of memory reaches errno
 * through mimalloc's error handler (init.c); (3) mimalloc's one-time work
 * that calls libc (its per-thread heap set-up, the process's first
 * segment) happens on a thread's first allocation, which always takes the
 * general path: only that path opens a thread's allocation gate. */
#define _GNU_SOURCE
#include <errno.h>
#include <gnu/libc-version.h>
#include <malloc.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <mimalloc.h>

#include <sys/resource.h>

#include "alloc/bootstrap.h"
#include "base/counters.h"
#include "base/kargs.h"
#include "alloc/large.h"
#include "base/msg.h"
#include "alloc/place.h"
#include "base/prim.h"
#include "observe/profile.h"
#include "base/reentry.h"
#include "base/tick.h"
#include "shim/shim.h"

#define MALLOC_ALIGNMENT 16 /* glibc's on x86-64 */

/* glibc returns 16-byte aligned blocks for every size on x86-64, and code
 * built against it may rely on that (SSE stores, tagged pointers).
 * mimalloc's bins of 1, 3, 5 and 7 words are only 8-byte aligned, so
 * sizes are rounded up to 16 bytes, 0 to 16: every bin it then uses has a
 * 16-byte multiple as its block size. Callers keep sizes below the gate
 * (64 MiB) or below PTRDIFF_MAX, so this never wraps. */
static inline size_t heap_size(size_t n) { return ((n + 15) & ~(size_t)15) + ((size_t)(n == 0) << 4); }
/* The same for n >= 1, as the fast paths have it (their gates send 0 to
 * the general path): two instructions. */
static inline size_t heap_size_nz(size_t n) { return (n + 15) & ~(size_t)15; }

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

/* mimalloc 2.0.9 (Debian 12) returns misaligned blocks from
 * mi_malloc_aligned when 256 <= align <= size <= 1024 (its small-object
 * limit), every time (measured with a probe over all sizes and alignments;
 * tests/integration/stress_threads caught it). Larger sizes take a correct
 * path, so such requests are raised just past the limit: at most ~1 KiB
 * more, and rarely. */
#define HEAP_SMALL_MAX 1024

static inline size_t aligned_size_fix(size_t size, size_t align) {
  return (align >= 256 && size <= HEAP_SMALL_MAX) ? HEAP_SMALL_MAX + 1 : size;
}

/* align: 0 for the natural alignment, else a power of two. A signal
 * handler on a thread inside tiershim gets the heap (mimalloc takes no
 * lock); the placement engine's lock may be held by the thread it
 * interrupted. */
/* The large path, then the slow-path tick (live stats, base/tick.h): out of
 * line, so the heap's path below is what it was. */
static __attribute__((noinline)) void *alloc_large(size_t size, size_t align, bool zero) {
  void *p = ts_large_alloc(size, align, zero);
  ts_slow_tick();
  return p;
}

static inline void *alloc_heap(size_t size, size_t align, bool zero) {
  if (ts_large_wants(size) && !ts_reentered()) return alloc_large(size, align, zero);
  if (align == 0) return zero ? mi_zalloc(heap_size(size)) : mi_malloc(heap_size(size));
  size = aligned_size_fix(heap_size(size), align);
  return zero ? mi_zalloc_aligned(size, align) : mi_malloc_aligned(size, align);
}

/* A signal handler that calls malloc while its thread is inside one of the
 * heap's own system calls (mimalloc half way through a change) would
 * corrupt the heap: glibc aborts in the same spot, so do we, saying why. */
static __attribute__((noinline, noreturn)) void reentry_abort(const char *what) {
  TS_MSG_BEGIN(b, storage);
  ts_buf_puts(&b, what);
  ts_buf_puts(&b, " called from a signal handler that interrupted the allocator; aborting");
  ts_msg_end(&b);
  abort();
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
static inline void gate_open_alloc(ts_tcounters_t *t);
static inline void gate_open_free(ts_tcounters_t *t);

/* No object may be larger than PTRDIFF_MAX (glibc's checked_request2size),
 * nor than the address space the process may have: the kernel refuses such
 * a mapping at once, while mimalloc would first collect its heap and map a
 * segment anew (about 100 us a refusal; glibc's tst-malloc-too-large makes
 * 100,000s of them under RLIMIT_AS). */
static bool size_impossible(size_t size, size_t align) {
  if (size > PTRDIFF_MAX || align > PTRDIFF_MAX - size) return true;
  if (size + align < ((size_t)1 << 40)) return false;
  return size + align > ts_kargs_task_size() || size + align > ts_prim_rlimit(RLIMIT_AS);
}

static __attribute__((noinline)) void *alloc_entry(size_t size, size_t align, bool zero) {
  ts_count(TS_CTR_MALLOC);
  if (ts_unlikely(size_impossible(size, align))) {
    errno = ENOMEM;
    return NULL;
  }
  if (ts_unlikely(ts_in_heap_os != 0)) reentry_abort("malloc");
  int saved = errno;
  void *p = alloc_core(size, align, zero);
  if (ts_unlikely(ts_profile_on) && !ts_reentered()) ts_profile_alloc(p, size);
  errno = (p != NULL) ? saved : ENOMEM;
  gate_open_alloc(&ts_tls_counters);
  return p;
}

static inline size_t usable_size(const void *p) {
  if (ts_unlikely(ts_boot_owns(&ts_boot_arena, p))) return ts_boot_usable(&ts_boot_arena, p);
  if (ts_place_owns(p)) {
    if (ts_reentered()) reentry_abort("malloc_usable_size or realloc of a large block");
    return ts_place_usable(p);
  }
  return mi_usable_size(p);
}

/* A placed block freed by a signal handler whose thread is inside
 * tiershim is freed when the thread leaves (base/reentry.h); with the
 * queue full it stays allocated (counted in ts_defer_refused). */
static inline void free_core(void *p) {
  if (ts_unlikely(ts_boot_owns(&ts_boot_arena, p))) ts_boot_free(&ts_boot_arena, p);
  else if (!ts_place_owns(p)) mi_free(p);
  else if (ts_reentered()) (void)ts_defer_push(TS_DEFER_FREE, (uintptr_t)p, 0, 0);
  else ts_place_free(p);
}

static __attribute__((noinline)) void free_slow(void *p) {
  ts_count(TS_CTR_FREE);
  if (ts_unlikely(ts_in_heap_os != 0) && !ts_place_owns(p)) reentry_abort("free");
  int saved = errno;
  if (ts_unlikely(ts_profile_on) && !ts_reentered()) ts_profile_free(p);
  free_core(p);
  /* Large blocks are freed here (and the unmap batcher's releases run
   * inside that free): the tick, once no lock is held. */
  if (!ts_reentered()) ts_slow_tick();
  errno = saved;
  gate_open_free(&ts_tls_counters); /* not the allocation gate: see the top */
}

/* ---- the fast paths -----------------------------------------------------
 * malloc and free are most of an inference runtime's allocator calls and
 * mimalloc's own fast path is a few nanoseconds, so every instruction here
 * shows (saving errno around a non-tail call ran ts_churn at 0.70x of
 * mimalloc; tail calls, 0.86x: see docs/design.md). Each
 * fast path tests one per-thread gate that folds every unusual case
 * together: not initialised yet, this thread's first call, a dying thread,
 * a large request, a bootstrap pointer. A gate is closed (zero) until a
 * general path opens it for its thread, once initialisation has finished
 * and the thread's counter block is linked (the allocation gate only from
 * an allocation, the free gate from either):
 *   malloc: size - 1 < t->gate_small = min(gate_malloc, MI_SMALL_SIZE_MAX):
 *           mi_malloc_small, which skips mi_malloc's own size test;
 *           else size - 1 < t->gate_malloc = min(large threshold, 64 MiB) - 1:
 *           mi_malloc. Size 0 fails both (the general path gives it 16 bytes)
 *   free:   p - ts_boot_storage + t->gate_free carries, gate_free being
 *           -(the arena's size): p is outside the arena (one add, no
 *           compare); and p outside the placement window (large blocks) */

#define GATE_MALLOC_CAP ((size_t)64 << 20)

static size_t gate_malloc_limit; /* an open malloc gate's value: sizes 1 .. this are fast */
static size_t gate_small_limit;  /* the same for mimalloc's small-object path */

void ts_malloc_open_gates(void) {
  size_t limit = ts_large_threshold < GATE_MALLOC_CAP ? ts_large_threshold : GATE_MALLOC_CAP;
  size_t gate = limit != 0 ? limit - 1 : 0;
  __atomic_store_n(&gate_small_limit, gate < MI_SMALL_SIZE_MAX ? gate : MI_SMALL_SIZE_MAX, __ATOMIC_RELAXED);
  __atomic_store_n(&gate_malloc_limit, gate, __ATOMIC_RELEASE);
}

#define GATE_FREE_OPEN (-(uintptr_t)TS_BOOT_SIZE)

/* Is p a heap block for free's fast path: outside the bootstrap arena
 * (with the gate open) and outside the placement window? */
static inline bool free_fast_ok(const ts_tcounters_t *t, const void *p) {
  uintptr_t sum;
  return __builtin_add_overflow((uintptr_t)p - (uintptr_t)ts_boot_storage, t->gate_free, &sum) && !ts_place_owns(p);
}

/* Does the malloc gate admit size (1 .. min(large threshold, 64 MiB) - 1)? */
static inline bool malloc_fast_ok(const ts_tcounters_t *t, size_t size) { return size - 1 < t->gate_malloc; }
/* And the small gate (1 .. MI_SMALL_SIZE_MAX, rounded up still within)? */
static inline bool malloc_small_ok(const ts_tcounters_t *t, size_t size) { return size - 1 < t->gate_small; }

/* Profiling (observe/profile.h) keeps the gates closed: every call then
 * takes the general path, where it is traced. */
static inline bool gate_may_open(const ts_tcounters_t *t) {
  return t->state == TS_CTR_LINKED && __atomic_load_n(&ts_ready, __ATOMIC_ACQUIRE) && !ts_profile_on;
}

static inline void gate_open_free(ts_tcounters_t *t) {
  if (gate_may_open(t)) t->gate_free = GATE_FREE_OPEN;
}

static inline void gate_open_alloc(ts_tcounters_t *t) {
  if (!gate_may_open(t)) return;
  t->gate_malloc = __atomic_load_n(&gate_malloc_limit, __ATOMIC_ACQUIRE);
  t->gate_small = __atomic_load_n(&gate_small_limit, __ATOMIC_RELAXED);
  t->gate_free = GATE_FREE_OPEN;
}

static inline void tls_bump(ts_tcounters_t *t, ts_ctr_t c) { ts_tls_add(&t->v[c], 1); }

/* ---- entry points ------------------------------------------------------ */

TS_EXPORT void *malloc(size_t size) {
  ts_tcounters_t *t = &ts_tls_counters;
  if (ts_likely(malloc_small_ok(t, size))) {
    tls_bump(t, TS_CTR_MALLOC);
    return mi_malloc_small(heap_size_nz(size));
  }
  if (ts_unlikely(!malloc_fast_ok(t, size))) return alloc_entry(size, 0, false);
  tls_bump(t, TS_CTR_MALLOC);
  return mi_malloc(heap_size_nz(size));
}

TS_EXPORT void free(void *p) {
  if (p == NULL) return;
  ts_tcounters_t *t = &ts_tls_counters;
  if (ts_unlikely(!free_fast_ok(t, p))) {
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
  ts_tcounters_t *t = &ts_tls_counters;
  if (ts_likely(malloc_small_ok(t, total))) {
    tls_bump(t, TS_CTR_MALLOC);
    return mi_zalloc_small(heap_size_nz(total));
  }
  if (ts_unlikely(!malloc_fast_ok(t, total))) return alloc_entry(total, 0, true);
  tls_bump(t, TS_CTR_MALLOC);
  return mi_zalloc(heap_size_nz(total));
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

/* The fast path: a heap block (not a bootstrap or placed block) that stays
 * below the large threshold, size not 0; both gates open. */
static inline bool realloc_fast_ok(const ts_tcounters_t *t, const void *p, size_t size) {
  return malloc_fast_ok(t, size) && free_fast_ok(t, p);
}

static __attribute__((noinline)) void *realloc_slow(void *p, size_t size);

TS_EXPORT void *realloc(void *p, size_t size) {
  ts_tcounters_t *t = &ts_tls_counters;
  if (ts_unlikely(p == NULL || !realloc_fast_ok(t, p, size))) return realloc_slow(p, size);
  tls_bump(t, TS_CTR_MALLOC);
  return mi_realloc(p, heap_size_nz(size));
}

static void *realloc_slow(void *p, size_t size) {
  if (p == NULL) return malloc(size);
  if (size == 0) { /* glibc: frees and returns NULL */
    free(p);
    return NULL;
  }
  ts_count(TS_CTR_MALLOC);
  if (ts_unlikely(size_impossible(size, 0))) { /* as glibc: p is left as it was */
    errno = ENOMEM;
    return NULL;
  }
  if (ts_unlikely(ts_in_heap_os != 0)) reentry_abort("realloc");
  if (ts_place_owns(p) && ts_reentered()) reentry_abort("realloc of a large block");
  int saved = errno;
  bool traced = ts_unlikely(ts_profile_on) && !ts_reentered();
  if (traced) ts_profile_free(p);
  void *q;
  if (ts_place_owns(p)) { /* a placed block: in place when it can, else moved */
    q = ts_place_realloc(p, size);
    if (q == NULL && ts_place_usable(p) != 0) q = realloc_move(p, size);
  } else if (ts_unlikely(ts_boot_owns(&ts_boot_arena, p))) q = realloc_move(p, size);
  else if (ts_large_wants(size) && mi_usable_size(p) < size && !ts_reentered()) q = realloc_move(p, size);
  else q = mi_realloc(p, heap_size(size));
  if (traced) ts_profile_alloc(q, size); /* a failed realloc leaves p untraced */
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
  /* mimalloc hands out 8-byte blocks 8-aligned (enough for malloc: nothing
   * needing more fits), so a small request is first raised to the alignment. */
  if (align <= MALLOC_ALIGNMENT) return malloc(size < align ? align : size);
  if (align > SIZE_MAX / 2 + 1) {
    errno = EINVAL;
    return NULL;
  }
  if ((align & (align - 1)) != 0) align = (size_t)1 << (64 - __builtin_clzl(align));
  return alloc_entry(size, align, false);
}

/* Reports through its result; like glibc's, a failure for want of memory
 * also leaves ENOMEM in errno (programs print strerror(errno)), success
 * leaves errno alone. */
TS_EXPORT int posix_memalign(void **out, size_t align, size_t size) {
  if (align < sizeof(void *) || (align & (align - 1)) != 0) return EINVAL;
  int saved = errno;
  void *p = memalign(align, size);
  if (p == NULL) {
    errno = ENOMEM;
    return ENOMEM;
  }
  errno = saved;
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

/* The same entry points for shim/cxx.c (operator new and delete): hidden,
 * so its calls go straight here, not through the PLT to whichever malloc
 * the lookup scope holds. */
void *ts_shim_malloc(size_t) __attribute__((alias("malloc"), copy(malloc)));
void ts_shim_free(void *) __attribute__((alias("free"), copy(free)));
void *ts_shim_memalign(size_t, size_t) __attribute__((alias("memalign"), copy(memalign)));
