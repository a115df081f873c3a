/* glibc_compat: what glibc 2.36's own malloc tests demand, in our words.
 *
 *   glibc_compat CASE [--shim]
 *
 * Each case checks a behaviour that a program may rely on because glibc's
 * malloc has it, and that glibc's test suite asserts (the test named in
 * each case's comment). glibc_compat.sh runs every case twice: without the
 * shim, where it must pass (that validates the expectation against the
 * running glibc), and with LD_PRELOAD=libtiershim.so and --shim (which
 * also requires that the shim is active). Cases:
 *
 *   align          every malloc-family result is 16-byte aligned (glibc's
 *                  MALLOC_ALIGNMENT on x86-64), valloc/pvalloc page-aligned,
 *                  memalign to its (rounded-up) alignment  [tst-mallocalign1,
 *                  tst-memalign, tst-valloc, tst-pvalloc, tst-malloc-thread-fail]
 *   too_large      requests no process can have fail at once with NULL and
 *                  ENOMEM (posix_memalign: ENOMEM returned, and in errno),
 *                  each within a CPU-time bound, and leave the process healthy
 *                  [tst-malloc-too-large, tst-memalign, tst-posix_memalign,
 *                  tst-valloc, tst-pvalloc, tst-realloc, tst-reallocarray]
 *   posix_memalign ENOMEM sets errno to ENOMEM (also when memory really runs
 *                  out); EINVAL and success leave errno and *memptr alone
 *                  [tst-posix_memalign, tst-malloc-thread-fail]
 *   fork_signal    fork() from a signal handler that interrupts malloc, free
 *                  (small blocks and large placed ones) and fork [tst-mallocfork2]
 *   fork_in_fork   the same, the main thread forking in a loop, so that the
 *                  handler's fork interrupts fork itself
 *   fork_signal_mt fork() from a signal handler of a thread that does not
 *                  allocate, while two other threads allocate
 *   thread_fail    9 threads allocate until an address-space limit stops
 *                  them, with every allocation function
 *                  [tst-malloc-thread-fail]
 *   mallinfo       mallinfo2 follows allocation and freeing; mallinfo is
 *                  mallinfo2 truncated to int; so does malloc_stats' total
 *                  [tst-mallinfo2]
 *
 * Output: "PASS: ..." / "FAIL: ..." / "INFO: ..." lines. Exit 0 when every
 * check passed.
 *
 * Built with -fno-builtin: gcc treats posix_memalign as a builtin that
 * never writes errno, and would fold away the very errno checks made here.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "it_common.h"

static bool shim;  /* --shim: the shim must be active */
static size_t page;

/* Sizes the compiler cannot see (no folding, no -Walloc-size warnings). */
static volatile size_t v_max = SIZE_MAX;

#define SAY(...) (printf(__VA_ARGS__), putchar('\n'), fflush(stdout))

static const char *errname(int e) {
  static char other[32];
  switch (e) {
  case 0: return "0";
  case ENOMEM: return "ENOMEM";
  case EINVAL: return "EINVAL";
  case 12345: return "unchanged(12345)";
  default:
    snprintf(other, sizeof other, "%d", e);
    return other;
  }
}

static double cpu_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static size_t pow2_at_least(size_t a) {
  size_t p = 1;
  while (p < a) p <<= 1;
  return p;
}

/* VmSize of this process in bytes (/proc/self/statm, first field). */
static size_t vm_size(void) {
  FILE *f = fopen("/proc/self/statm", "r");
  unsigned long pages = 0;
  if (f == NULL || fscanf(f, "%lu", &pages) != 1) IT_DIE("read /proc/self/statm");
  fclose(f);
  return (size_t)pages * page;
}

/* ======================================================================
 * align: tst-mallocalign1 asserts malloc(2, 8, 13, 16, 23, 43, 123) are
 * MALLOC_ALIGN_MASK (15) clean; tst-malloc-thread-fail asserts malloc,
 * realloc and calloc results are _Alignof(max_align_t) (16) aligned. Here:
 * every size 0..4096 and a spread of larger ones, several live blocks per
 * size (a heap's size classes place consecutive blocks at their stride).
 * ====================================================================== */

/* One function's tally: calls, misaligned results, the first few. */
typedef struct {
  const char *fn;
  unsigned long calls, bad, null;
} tally_t;

static void tally(tally_t *t, const void *p, size_t align, const char *fmt, ...) {
  t->calls++;
  if (p == NULL) {
    t->null++;
  } else if (((uintptr_t)p & (align - 1)) == 0) {
    return;
  } else {
    t->bad++;
  }
  if (t->bad + t->null > 3) return; /* the first three are printed */
  char what[160];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(what, sizeof what, fmt, ap);
  va_end(ap);
  if (p == NULL)
    IT_FAIL("align: %s: expected a %zu-aligned block got NULL (errno %s)", what, align,
            errname(errno));
  else
    IT_FAIL("align: %s: expected %zu-aligned got %p (address %% %zu = %zu)", what, align, p,
            align, (size_t)((uintptr_t)p % align));
}

static void tally_report(const tally_t *t, size_t align) {
  if (t->bad == 0 && t->null == 0)
    SAY("PASS: align: %s: %lu results, all %zu-aligned", t->fn, t->calls, align);
  else
    IT_FAIL("align: %s: expected all %lu results %zu-aligned got %lu misaligned, %lu NULL",
            t->fn, t->calls, align, t->bad, t->null);
}

enum { LIVE = 8 }; /* live blocks per small size */

/* The larger sizes: a geometric spread from 4 KiB to 40 MiB, plus both
 * sides of the shim's large threshold (256 KiB) and of 1 and 2 MiB. */
static size_t big_sizes[96];
static int n_big;

static void make_big_sizes(void) {
  static const size_t edges[] = {(256 << 10) - 1, 256 << 10, (256 << 10) + 1, (1 << 20) - 1,
                                 1 << 20,         (1 << 20) + 8, (2 << 20) - 8, 2 << 20,
                                 (2 << 20) + 1,   (4 << 20) + 24};
  for (size_t n = 4097; n < (40u << 20) && n_big < 80; n = n + n / 3 + 40) big_sizes[n_big++] = n;
  for (size_t i = 0; i < sizeof edges / sizeof edges[0]; i++) big_sizes[n_big++] = edges[i];
}

static void align_plain(void) {
  tally_t tm = {.fn = "malloc"}, tc = {.fn = "calloc"}, tr = {.fn = "realloc"}, ta = {.fn = "reallocarray"};
  void *blk[LIVE];
  for (size_t n = 0; n <= 4096; n++) {
    for (int k = 0; k < LIVE; k++) {
      blk[k] = malloc(n);
      tally(&tm, blk[k], 16, "malloc(%zu) [live block %d]", n, k);
    }
    for (int k = 0; k < LIVE; k++) free(blk[k]);
    for (int k = 0; k < LIVE; k++) {
      size_t m = (k & 1) ? 3 : 1; /* calloc(1, n) and calloc(3, n/3) */
      blk[k] = calloc(m, n / m);
      tally(&tc, blk[k], 16, "calloc(%zu, %zu) [live block %d]", m, n / m, k);
    }
    for (int k = 0; k < LIVE; k++) free(blk[k]);
    for (int k = 0; k < LIVE; k++) {
      blk[k] = reallocarray(NULL, (k & 1) ? n : 1, (k & 1) ? 1 : n);
      tally(&ta, blk[k], 16, "reallocarray(NULL, %zu, %zu)", (k & 1) ? n : (size_t)1,
            (k & 1) ? (size_t)1 : n);
    }
    for (int k = 0; k < LIVE; k++) free(blk[k]);
  }
  for (int i = 0; i < n_big; i++) {
    void *p = malloc(big_sizes[i]);
    tally(&tm, p, 16, "malloc(%zu)", big_sizes[i]);
    free(p);
    p = calloc(1, big_sizes[i]);
    tally(&tc, p, 16, "calloc(1, %zu)", big_sizes[i]);
    free(p);
  }

  /* realloc: LIVE chains, interleaved, grow 1 -> 4096 then shrink back to 1
   * (each step may move the block to another size class or keep it), then
   * the larger sizes up and down (crossing the large threshold both ways). */
  for (int k = 0; k < LIVE; k++) blk[k] = malloc(1);
  for (size_t n = 1; n <= 4096; n++)
    for (int k = 0; k < LIVE; k++) {
      void *q = realloc(blk[k], n);
      tally(&tr, q, 16, "realloc(p, %zu) growing, chain %d", n, k);
      if (q) blk[k] = q;
    }
  for (size_t n = 4096; n >= 1; n--)
    for (int k = 0; k < LIVE; k++) {
      void *q = realloc(blk[k], n);
      tally(&tr, q, 16, "realloc(p, %zu) shrinking, chain %d", n, k);
      if (q) blk[k] = q;
    }
  for (int i = 0; i < n_big; i++) {
    void *q = realloc(blk[0], big_sizes[i]);
    tally(&tr, q, 16, "realloc(p, %zu) growing", big_sizes[i]);
    if (q) blk[0] = q;
    q = reallocarray(blk[1], 1, big_sizes[i]);
    tally(&ta, q, 16, "reallocarray(p, 1, %zu) growing", big_sizes[i]);
    if (q) blk[1] = q;
  }
  for (int i = n_big - 1; i >= 0; i--)
    for (size_t small = 8; small <= 4096; small *= 8) { /* big -> small -> big */
      void *q = realloc(blk[0], small + (size_t)i);
      tally(&tr, q, 16, "realloc(p, %zu) shrinking from %zu", small + (size_t)i, big_sizes[i]);
      if (q) blk[0] = q;
      q = realloc(blk[0], big_sizes[i]);
      tally(&tr, q, 16, "realloc(p, %zu) growing again", big_sizes[i]);
      if (q) blk[0] = q;
    }
  for (int k = 0; k < LIVE; k++) free(blk[k]);
  tally_report(&tm, 16);
  tally_report(&tc, 16);
  tally_report(&tr, 16);
  tally_report(&ta, 16);
}

/* memalign and aligned_alloc with an alignment up to 16, posix_memalign
 * with 8 and 16: glibc serves them as malloc, so 16-aligned. */
static void align_small_alignments(void) {
  tally_t tmem = {.fn = "memalign(a <= 16, n)"}, tal = {.fn = "aligned_alloc(a <= 16, n)"},
          tpm = {.fn = "posix_memalign(8 or 16, n)"};
  static const size_t as[] = {1, 2, 4, 8, 16};
  void *blk[LIVE];
  for (size_t n = 0; n <= 4096; n++) {
    for (int k = 0; k < LIVE; k++) {
      size_t a = as[k % 5];
      blk[k] = memalign(a, n);
      tally(&tmem, blk[k], 16, "memalign(%zu, %zu)", a, n);
    }
    for (int k = 0; k < LIVE; k++) free(blk[k]);
    for (int k = 0; k < LIVE; k++) {
      size_t a = as[k % 5];
      blk[k] = aligned_alloc(a, n);
      tally(&tal, blk[k], 16, "aligned_alloc(%zu, %zu)", a, n);
    }
    for (int k = 0; k < LIVE; k++) free(blk[k]);
    for (int k = 0; k < LIVE; k++) {
      size_t a = (k & 1) ? 16 : 8;
      blk[k] = NULL;
      int rc = posix_memalign(&blk[k], a, n);
      tally(&tpm, rc == 0 ? blk[k] : NULL, 16, "posix_memalign(&p, %zu, %zu) rc=%d", a, n, rc);
    }
    for (int k = 0; k < LIVE; k++) free(blk[k]);
  }
  tally_report(&tmem, 16);
  tally_report(&tal, 16);
  tally_report(&tpm, 16);
}

/* memalign/aligned_alloc/posix_memalign to every power of two from 32 B to
 * 1 MiB; memalign rounds any other alignment up to a power of two (glibc:
 * at least 32 once above 16). valloc and pvalloc are page-aligned. */
static void align_large_alignments(void) {
  tally_t tmem = {.fn = "memalign(2^k, n)"}, tal = {.fn = "aligned_alloc(2^k, n)"},
          tpm = {.fn = "posix_memalign(2^k, n)"}, todd = {.fn = "memalign(odd a, n)"},
          tv = {.fn = "valloc"}, tpv = {.fn = "pvalloc"};
  for (size_t a = 32; a <= (1u << 20); a *= 2) {
    const size_t ns[] = {0, 1, 8, 24, a / 2, a - 1, a, a + 1, 3 * a, 4097, 300000};
    for (size_t i = 0; i < sizeof ns / sizeof ns[0]; i++) {
      size_t n = ns[i];
      void *p = memalign(a, n);
      tally(&tmem, p, a, "memalign(%zu, %zu)", a, n);
      void *q = aligned_alloc(a, n);
      tally(&tal, q, a, "aligned_alloc(%zu, %zu)", a, n);
      void *r = NULL;
      int rc = posix_memalign(&r, a, n);
      tally(&tpm, rc == 0 ? r : NULL, a, "posix_memalign(&p, %zu, %zu) rc=%d", a, n, rc);
      free(p);
      free(q);
      if (rc == 0) free(r);
    }
  }
  static const size_t odd[] = {3, 5, 12, 17, 24, 33, 48, 100, 1000, 4095, 4097, 65535, 65537, 1000000};
  for (size_t i = 0; i < sizeof odd / sizeof odd[0]; i++) {
    size_t a = odd[i], want = a <= 16 ? 16 : pow2_at_least(a);
    const size_t ns[] = {1, 16, a, 5000, 300000};
    for (size_t j = 0; j < sizeof ns / sizeof ns[0]; j++) {
      void *p = memalign(a, ns[j]);
      tally(&todd, p, want, "memalign(%zu, %zu) (alignment rounded up to %zu)", a, ns[j], want);
      free(p);
    }
  }
  for (size_t n = 0; n <= (1u << 20); n = n < 8192 ? n + 511 : n * 3 + 1) {
    void *p = valloc(n);
    tally(&tv, p, page, "valloc(%zu)", n);
    free(p);
    p = pvalloc(n);
    tally(&tpv, p, page, "pvalloc(%zu)", n);
    free(p);
  }
  tally_report(&tmem, 32);
  tally_report(&tal, 32);
  tally_report(&tpm, 32);
  SAY("INFO: align: the three lines above: each result aligned to its own alignment (32 B .. 1 MiB)");
  tally_report(&todd, 16);
  SAY("INFO: align: the line above: aligned to the alignment rounded up to a power of two");
  tally_report(&tv, page);
  tally_report(&tpv, page);
}

static void case_align(void) {
  make_big_sizes();
  align_plain();
  align_small_alignments();
  align_large_alignments();
}

/* ======================================================================
 * too_large: tst-malloc-too-large asserts NULL + errno ENOMEM from malloc,
 * realloc, calloc and reallocarray (both argument orders, nmemb 1..8),
 * memalign, aligned_alloc, valloc and pvalloc (alignments 1..page), and
 * posix_memalign == ENOMEM with *memptr untouched, for sizes SIZE_MAX - i
 * and PTRDIFF_MAX + i (i < 2^14) and (m << 50) (| 2^50-1) under RLIMIT_AS
 * 2^50-1; a malloc(16) before every call must succeed. tst-memalign,
 * tst-posix_memalign, tst-valloc, tst-pvalloc, tst-realloc and
 * tst-reallocarray assert the same for -1, -pagesize and overflowing
 * products, and that a failed realloc leaves the block intact.
 * glibc refuses anything above PTRDIFF_MAX before doing any work; so must
 * we: a sweep of ~10,000 such calls must stay within a CPU-time bound.
 * ====================================================================== */

/* Average CPU time allowed per refused call (glibc: well under 1 us). */
#define TOO_LARGE_US_PER_CALL 20.0

static unsigned long tl_checks, tl_bad;
static char tl_log[12 * 240];

static void tl_fail(const char *fmt, ...) {
  char what[200];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(what, sizeof what, fmt, ap);
  va_end(ap);
  tl_bad++;
  it_failures++;
  if (tl_bad <= 12) { /* printed after the sweeps (see case_too_large) */
    size_t n = strlen(tl_log);
    snprintf(tl_log + n, sizeof tl_log - n, "FAIL: too_large: %s\n", what);
  }
}

/* p must be NULL and errno ENOMEM. */
static void tl_expect(void *p, int e, int want, const char *fn, size_t a, size_t b) {
  tl_checks++;
  if (p == NULL && e == want) return;
  tl_fail("%s(%#zx, %#zx): expected NULL + %s got %p + %s", fn, a, b, want == ENOMEM ? "ENOMEM" : "EINVAL", p,
          errname(e));
  if (p != NULL && (uintptr_t)p != 1) free(p);
}

/* A small block that a failed realloc must leave intact. */
static unsigned char *tl_block(void) {
  unsigned char *p = malloc(16);
  if (p == NULL) IT_DIE("malloc(16) returned NULL");
  memset(p, 0xa7, 16);
  return p;
}

static void tl_check_block(unsigned char *p, const char *fn, size_t s) {
  for (int i = 0; i < 16; i++)
    if (p[i] != 0xa7) {
      tl_fail("%s(p, %#zx) failed but changed the old block (byte %d)", fn, s, i);
      break;
    }
  free(p);
}

typedef enum {
  F_MALLOC, F_CALLOC_1N, F_CALLOC_N1, F_CALLOC_8, F_REALLOC, F_REALLOCARRAY, F_REALLOCARRAY_2,
  F_MEMALIGN_1, F_MEMALIGN_16, F_MEMALIGN_64, F_MEMALIGN_PAGE, F_ALIGNED_ALLOC_16,
  F_ALIGNED_ALLOC_PAGE, F_POSIX_MEMALIGN_8, F_POSIX_MEMALIGN_64, F_POSIX_MEMALIGN_PAGE, F_VALLOC,
  F_PVALLOC, F_COUNT
} tl_fn_t;

static const char *const tl_names[F_COUNT] = {
    "malloc(s)", "calloc(1, s)", "calloc(s, 1)", "calloc(8, s/8)", "realloc(p, s)",
    "reallocarray(p, 1, s)", "reallocarray(p, s/2, 2)", "memalign(1, s)", "memalign(16, s)",
    "memalign(64, s)", "memalign(page, s)", "aligned_alloc(16, s)", "aligned_alloc(page, s)",
    "posix_memalign(&p, 8, s)", "posix_memalign(&p, 64, s)", "posix_memalign(&p, page, s)",
    "valloc(s)", "pvalloc(s)"};

/* One call of function f with size s; checks its result. */
static void tl_call(tl_fn_t f, size_t s) {
  void *p = NULL;
  unsigned char *old;
  int e, rc;
  errno = 0;
  switch (f) {
  case F_MALLOC: p = malloc(s); break;
  case F_CALLOC_1N: p = calloc(1, s); break;
  case F_CALLOC_N1: p = calloc(s, 1); break;
  case F_CALLOC_8: p = calloc(8, s / 8); break;
  case F_REALLOC:
    old = tl_block();
    errno = 0;
    p = realloc(old, s);
    e = errno;
    tl_expect(p, e, ENOMEM, "realloc", (uintptr_t)16, s);
    if (p == NULL) tl_check_block(old, "realloc", s);
    return;
  case F_REALLOCARRAY:
  case F_REALLOCARRAY_2:
    old = tl_block();
    errno = 0;
    p = (f == F_REALLOCARRAY) ? reallocarray(old, 1, s) : reallocarray(old, s / 2, 2);
    e = errno;
    tl_expect(p, e, ENOMEM, "reallocarray", (uintptr_t)16, s);
    if (p == NULL) tl_check_block(old, "reallocarray", s);
    return;
  case F_MEMALIGN_1: p = memalign(1, s); break;
  case F_MEMALIGN_16: p = memalign(16, s); break;
  case F_MEMALIGN_64: p = memalign(64, s); break;
  case F_MEMALIGN_PAGE: p = memalign(page, s); break;
  case F_ALIGNED_ALLOC_16: p = aligned_alloc(16, s); break;
  case F_ALIGNED_ALLOC_PAGE: p = aligned_alloc(page, s); break;
  case F_POSIX_MEMALIGN_8:
  case F_POSIX_MEMALIGN_64:
  case F_POSIX_MEMALIGN_PAGE: {
    size_t a = f == F_POSIX_MEMALIGN_8 ? 8 : f == F_POSIX_MEMALIGN_64 ? 64 : page;
    void *m = (void *)1; /* must stay untouched */
    rc = posix_memalign(&m, a, s);
    e = errno;
    tl_checks++;
    if (rc != ENOMEM || m != (void *)1 || e != ENOMEM) {
      tl_fail("posix_memalign(&p, %zu, %#zx): expected ENOMEM, errno ENOMEM, p untouched got %s, "
              "errno %s, p %s", a, s, errname(rc), errname(e), m == (void *)1 ? "untouched" : "changed");
      if (rc == 0) free(m);
    }
    return;
  }
  case F_VALLOC: p = valloc(s); break;
  case F_PVALLOC: p = pvalloc(s); break;
  default: abort();
  }
  e = errno;
  tl_expect(p, e, ENOMEM, tl_names[f], s, 0);
}

/* Sizes above PTRDIFF_MAX, refused at once by glibc. */
static size_t tl_sizes[160];
static int n_tl;

static void tl_make_sizes(void) {
  size_t pd = (size_t)PTRDIFF_MAX;
  for (size_t k = 0; k < 32; k++) tl_sizes[n_tl++] = v_max - k;
  static const size_t ks[] = {63, 64, 4095, 4096, 4097, 16383, 65536, 1 << 20, 3u << 30};
  for (size_t i = 0; i < sizeof ks / sizeof ks[0]; i++) tl_sizes[n_tl++] = v_max - ks[i];
  for (size_t k = 1; k <= 32; k++) tl_sizes[n_tl++] = pd + k;
  for (size_t i = 0; i < sizeof ks / sizeof ks[0]; i++) tl_sizes[n_tl++] = pd + ks[i];
  /* tst-malloc-too-large's (m << 50) | (2^50 - 1) with m >= 2^13 */
  for (size_t m = (1u << 14) - 1; m >= (1u << 14) - 8; m--) {
    tl_sizes[n_tl++] = (m << 50) | ((1ul << 50) - 1);
    tl_sizes[n_tl++] = m << 50;
  }
  tl_sizes[n_tl++] = (size_t)1 << 63;
  tl_sizes[n_tl++] = ((size_t)3 << 62);
}

/* Sweeps function f over the sizes `reps` times; returns the CPU seconds.
 * Stops early once the bound for the whole sweep is exceeded. */
static double tl_sweep(tl_fn_t f, int reps, unsigned long *calls) {
  double bound = TOO_LARGE_US_PER_CALL * 1e-6 * (double)(reps * n_tl);
  double t0 = cpu_seconds();
  *calls = 0;
  for (int r = 0; r < reps; r++) {
    for (int i = 0; i < n_tl; i++) {
      void *probe = malloc(16); /* tst-malloc-too-large's test_setup */
      if (probe == NULL) IT_DIE("malloc(16) returned NULL during the too-large sweep");
      free(probe);
      tl_call(f, tl_sizes[i]);
      ++*calls;
    }
    if (cpu_seconds() - t0 > bound) break;
  }
  return cpu_seconds() - t0;
}

static void tl_overflow_pairs(void) {
  static const struct { size_t a, b; } pairs[] = {
      {SIZE_MAX / 2 + 1, 2}, {2, SIZE_MAX / 2 + 1}, {65537, SIZE_MAX / 65537 + 1},
      {SIZE_MAX / 65537 + 1, 65537}, {SIZE_MAX, SIZE_MAX}, {(size_t)1 << 32, (size_t)1 << 32},
      {SIZE_MAX, 2}, {3, SIZE_MAX / 3 + 1}};
  for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
    size_t a = pairs[i].a, b = pairs[i].b;
    errno = 0;
    void *p = calloc(a, b);
    tl_expect(p, errno, ENOMEM, "calloc", a, b);
    errno = 0;
    p = reallocarray(NULL, a, b);
    tl_expect(p, errno, ENOMEM, "reallocarray(NULL, a, b)", a, b);
    unsigned char *old = tl_block();
    errno = 0;
    p = reallocarray(old, a, b);
    tl_expect(p, errno, ENOMEM, "reallocarray(p, a, b)", a, b);
    if (p == NULL) tl_check_block(old, "reallocarray", a);
  }
}

/* Alignments near SIZE_MAX/2: a power of two no process can honour is
 * ENOMEM (glibc tries); one above SIZE_MAX/2 + 1 is no power of two: EINVAL. */
static void tl_huge_alignments(void) {
  static const size_t as[] = {(size_t)1 << 63, (size_t)1 << 62, (size_t)1 << 50};
  for (size_t i = 0; i < sizeof as / sizeof as[0]; i++) {
    size_t a = as[i];
    errno = 0;
    void *p = memalign(a, 64);
    tl_expect(p, errno, ENOMEM, "memalign", a, 64);
    errno = 0;
    p = aligned_alloc(a, 64);
    tl_expect(p, errno, ENOMEM, "aligned_alloc", a, 64);
    void *m = (void *)1;
    errno = 0;
    int rc = posix_memalign(&m, a, 64);
    int e = errno;
    tl_checks++;
    if (rc != ENOMEM || e != ENOMEM || m != (void *)1) {
      tl_fail("posix_memalign(&p, %#zx, 64): expected ENOMEM, errno ENOMEM, p untouched got %s, "
              "errno %s", a, errname(rc), errname(e));
      if (rc == 0) free(m);
    }
    errno = 0;
    p = memalign(a, v_max);
    tl_expect(p, errno, ENOMEM, "memalign", a, v_max);
  }
  static const size_t bad[] = {((size_t)1 << 63) + 1, SIZE_MAX - 1, SIZE_MAX};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    errno = 0;
    void *p = memalign(bad[i], 64);
    tl_expect(p, errno, EINVAL, "memalign", bad[i], 64);
  }
}

/* Sizes at or below PTRDIFF_MAX that no process can have either (above the
 * 47-bit address space): the allocator may try the OS, but must fail with
 * ENOMEM, and not spend long on it. */
static void tl_unsatisfiable(void) {
  static const size_t ss[] = {(size_t)PTRDIFF_MAX, (size_t)PTRDIFF_MAX - 4096, (size_t)1 << 62,
                              (size_t)1 << 56, ((size_t)1 << 50) | (((size_t)1 << 50) - 1),
                              (size_t)1 << 50, (size_t)1 << 48};
  double t0 = cpu_seconds();
  unsigned long calls = 0;
  for (size_t i = 0; i < sizeof ss / sizeof ss[0]; i++)
    for (int f = 0; f < F_COUNT; f++) {
      tl_call((tl_fn_t)f, ss[i]);
      calls++;
    }
  double us = (cpu_seconds() - t0) * 1e6 / (double)calls;
  SAY("INFO: too_large: %lu calls of 2^48 .. PTRDIFF_MAX bytes (the OS is asked): %.2f us CPU per call",
      calls, us);
  IT_CHECK(us < 1000.0,
           "too_large: sizes 2^48 .. PTRDIFF_MAX: expected < 1000 us CPU per refused call got %.0f us",
           us);
}

static void case_too_large(void) {
  tl_make_sizes();
  double total_s = 0, sec[F_COUNT];
  unsigned long total_calls = 0, ncalls[F_COUNT];
  int slow = 0;
  /* Nothing is printed until every sweep is done: stdio's first output
   * allocates its buffer, and a live block changes what a heap does when
   * it is otherwise empty (tst-malloc-too-large's situation: its only
   * blocks are the malloc(16) probes, freed at once). */
  for (int f = 0; f < F_COUNT; f++) sec[f] = tl_sweep((tl_fn_t)f, 6, &ncalls[f]);
  for (int f = 0; f < F_COUNT; f++) {
    unsigned long calls = ncalls[f];
    double s = sec[f], us = s * 1e6 / (double)calls;
    total_s += s;
    total_calls += calls;
    if (us > TOO_LARGE_US_PER_CALL) {
      slow++;
      IT_FAIL("too_large: %s for sizes above PTRDIFF_MAX: expected <= %.0f us CPU per call got "
              "%.1f us (%lu calls, %.3f s; sweep cut short at the bound)",
              tl_names[f], TOO_LARGE_US_PER_CALL, us, calls, s);
    } else {
      SAY("INFO: too_large: %-28s %7.3f us CPU per call (%lu calls)", tl_names[f], us, calls);
    }
  }
  fputs(tl_log, stderr);
  tl_log[0] = '\0';
  SAY("INFO: too_large: sweep of %lu calls (sizes > PTRDIFF_MAX, each after a malloc(16)/free): "
      "%.3f s CPU, %.3f us per call", total_calls, total_s, total_s * 1e6 / (double)total_calls);
  if (!slow)
    SAY("PASS: too_large: every refusal above PTRDIFF_MAX within %.0f us CPU", TOO_LARGE_US_PER_CALL);
  tl_overflow_pairs();
  tl_huge_alignments();
  tl_unsatisfiable();
  fputs(tl_log, stderr);
  if (tl_bad == 0)
    SAY("PASS: too_large: %lu refusals: NULL + ENOMEM (posix_memalign: ENOMEM, errno ENOMEM, "
        "p untouched), EINVAL for alignments above SIZE_MAX/2+1, failed realloc keeps the block",
        tl_checks);
  else
    IT_FAIL("too_large: %lu of %lu refusals wrong (the first 12 above)", tl_bad, tl_checks);

  /* still healthy */
  unsigned char *a = malloc(100), *b = malloc(1 << 20), *c = calloc(1, 300000);
  IT_CHECK(a && b && c, "too_large: after the sweep: expected malloc(100), malloc(1 MiB), "
           "calloc(1, 300000) to succeed got %p %p %p", (void *)a, (void *)b, (void *)c);
  if (a && b && c) {
    memset(a, 1, 100);
    memset(b, 2, 1 << 20);
    int z = 1;
    for (size_t i = 0; i < 300000; i++)
      if (c[i]) { z = 0; break; }
    IT_CHECK(z, "too_large: after the sweep: expected calloc(1, 300000) zeroed");
    SAY("PASS: too_large: afterwards malloc, a large malloc and calloc work");
  }
  free(a);
  free(b);
  free(c);
}

/* ======================================================================
 * posix_memalign: tst-posix_memalign asserts ENOMEM for (8, -1) and
 * (page, -page) with p untouched, EINVAL for alignments -1, 0x300 and 0,
 * and success for (8, 0) and (0x100, 10). tst-malloc-thread-fail aborts
 * when posix_memalign fails with errno other than ENOMEM. glibc 2.36:
 * ENOMEM comes through malloc or _int_memalign, which set errno = ENOMEM;
 * EINVAL is returned before anything touches errno.
 * ====================================================================== */

static void pm_check(size_t a, size_t s, int want_rc) {
  void *m = (void *)1;
  errno = 12345;
  int rc = posix_memalign(&m, a, s);
  int e = errno;
  int want_e = want_rc == ENOMEM ? ENOMEM : 12345;
  if (rc == want_rc && e == want_e && (rc != 0 || m != (void *)1) && (rc == 0 || m == (void *)1)) {
    SAY("PASS: posix_memalign(&p, %#zx, %#zx): %s, errno %s%s", a, s, errname(rc), errname(e),
        rc ? ", p untouched" : "");
  } else {
    IT_FAIL("posix_memalign(&p, %#zx, %#zx) with errno 12345: expected %s and errno %s%s got "
            "%s and errno %s, p %s", a, s, errname(want_rc), errname(want_e),
            want_rc ? ", p untouched" : "", errname(rc), errname(e),
            m == (void *)1 ? "untouched" : "set");
  }
  if (rc == 0) free(m);
}

/* Real exhaustion: a child under an address-space limit allocates
 * posix_memalign(&p, 128, 512) blocks until one fails. */
static void pm_exhaust(void) {
  pid_t pid = fork();
  if (pid < 0) IT_DIE("fork: %s", strerror(errno));
  if (pid == 0) {
    struct rlimit rl;
    getrlimit(RLIMIT_AS, &rl);
    rl.rlim_cur = vm_size() + (64u << 20);
    if (setrlimit(RLIMIT_AS, &rl) != 0) _exit(4);
    void *head = NULL;
    unsigned long n = 0;
    for (;;) {
      void *p;
      errno = 0;
      int rc = posix_memalign(&p, 128, 512);
      int e = errno;
      if (rc == 0) {
        *(void **)p = head;
        head = p;
        n++;
        continue;
      }
      char msg[200];
      int len = snprintf(msg, sizeof msg, "%lu %d %d\n", n, rc, e);
      if (write(1, msg, (size_t)len) < 0) _exit(5);
      _exit(rc == ENOMEM && e == ENOMEM ? 0 : 1);
    }
  }
  int st;
  fflush(stdout);
  while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {}
  if (!WIFEXITED(st))
    IT_FAIL("posix_memalign exhaustion: child died (status %#x)", st);
  else if (WEXITSTATUS(st) == 0)
    SAY("PASS: posix_memalign(&p, 128, 512) until memory runs out under RLIMIT_AS: the failure is "
        "ENOMEM with errno ENOMEM (child's line above: blocks, rc, errno)");
  else
    IT_FAIL("posix_memalign(&p, 128, 512) until memory runs out under RLIMIT_AS: expected "
            "ENOMEM with errno ENOMEM (12) got the child's line above (blocks, rc, errno), exit %d",
            WEXITSTATUS(st));
}

static void case_posix_memalign(void) {
  size_t pd = (size_t)PTRDIFF_MAX;
  pm_check(8, v_max, ENOMEM);
  pm_check(16, v_max - 100, ENOMEM);
  pm_check(64, v_max - 100, ENOMEM);
  pm_check(page, -page, ENOMEM);
  pm_check(4096, pd + 1, ENOMEM);
  pm_check((size_t)1 << 63, 64, ENOMEM);
  static const size_t bad[] = {0, 1, 2, 4, 12, 24, 48, 100, 0x300, 4097, SIZE_MAX, ((size_t)1 << 63) + 8};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) pm_check(bad[i], 10, EINVAL);
  pm_check(8, 0, 0);
  pm_check(0x100, 10, 0);
  pm_check(4096, 300000, 0);
  pm_exhaust();
}

/* ======================================================================
 * fork from signal handlers: tst-mallocfork2 (single-threaded process,
 * five sender processes, a process-shared barrier around each iteration)
 * forks in a SIGUSR1 handler while the main thread frees and mallocs
 * 0..70 KiB blocks (1009 slots, 10,000 iterations, a direct fork in 1 of 7
 * iterations); the child _exit(0)s, the handler waits for it; no error and
 * no hang ("process seems to be stuck"). glibc takes no malloc lock in a
 * single-threaded process, so this is always safe there. Here also large
 * blocks (>= 256 KiB: tiershim places them under a lock), and the variant
 * where the main thread forks in every iteration.
 * fork_signal_mt: a multi-threaded process; glibc's fork then takes its
 * arena locks, so only a handler that interrupted no allocator call and no
 * fork may fork: the signalled thread computes while two others allocate
 * (a handler forking inside the main thread's own fork deadlocks glibc:
 * measured, so the main thread forks only while no signal can come).
 * ====================================================================== */

enum { N_SENDERS = 3, SLOTS = 509, STUCK_SECONDS = 20 };

static struct { pthread_barrier_t barrier; } *sh;
static pid_t senders[N_SENDERS];
static volatile pid_t handler_child;
static volatile sig_atomic_t handler_forks, handler_errors, in_handler;
static volatile unsigned long progress, progress_seen;
static volatile int stuck_ticks;
static const char *fork_case;
static atomic_int mt_stop;

static void put_str(char **o, const char *s) {
  while (*s) *(*o)++ = *s++;
}

static void put_ulong(char **o, unsigned long v) {
  char d[24];
  int n = 0;
  do d[n++] = (char)('0' + v % 10); while ((v /= 10) != 0);
  while (n) *(*o)++ = d[--n];
}

static void kill_helpers(void) {
  for (int i = 0; i < N_SENDERS; i++)
    if (senders[i] > 0) kill(senders[i], SIGKILL);
  if (handler_child > 0) kill(handler_child, SIGKILL);
}

/* The watchdog: once a second; no progress for STUCK_SECONDS: report and
 * leave. Only async-signal-safe calls. */
static void on_tick(int sig) {
  (void)sig;
  if (progress != progress_seen) {
    progress_seen = progress;
    stuck_ticks = 0;
    return;
  }
  if (++stuck_ticks < STUCK_SECONDS) return;
  char msg[256], *o = msg;
  put_str(&o, "FAIL: ");
  put_str(&o, fork_case);
  put_str(&o, ": stuck (no progress for 20 s, deadlock) after ");
  put_ulong(&o, progress);
  put_str(&o, " iterations and ");
  put_ulong(&o, (unsigned long)handler_forks);
  put_str(&o, " forks from the handler; ");
  put_str(&o, in_handler ? "inside the signal handler's fork\n" : "outside the signal handler\n");
  if (write(2, msg, (size_t)(o - msg)) < 0) { /* nothing */ }
  kill_helpers();
  _exit(3);
}

static void on_usr1(int sig) {
  (void)sig;
  int saved = errno;
  in_handler = 1;
  pid_t pid = fork();
  if (pid == 0) _exit(0);
  if (pid < 0) {
    handler_errors++;
  } else {
    handler_child = pid;
    int st;
    while (waitpid(pid, &st, 0) < 0)
      if (errno != EINTR) { handler_errors++; break; }
    handler_child = 0;
    if (st != 0) handler_errors++;
    handler_forks++;
  }
  in_handler = 0;
  errno = saved;
}

static void barrier(void) {
  int rc = pthread_barrier_wait(&sh->barrier);
  if (rc != 0 && rc != PTHREAD_BARRIER_SERIAL_THREAD) IT_DIE("pthread_barrier_wait: %d", rc);
}

/* A sender process: between the two barrier waits of each iteration, one
 * SIGUSR1 to the target, so that it lands inside fork, free or malloc. */
static void sender(pid_t target) {
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != target) _exit(0);
  for (;;) {
    barrier();
    if (kill(target, SIGUSR1) != 0) _exit(0);
    barrier();
  }
}

static void fork_setup(const char *name) {
  fork_case = name;
  sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (sh == MAP_FAILED) IT_DIE("mmap(MAP_SHARED): %s", strerror(errno));
  pthread_barrierattr_t attr;
  pthread_barrierattr_init(&attr);
  pthread_barrierattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
  if (pthread_barrier_init(&sh->barrier, &attr, N_SENDERS + 1) != 0) IT_DIE("pthread_barrier_init");
  pthread_barrierattr_destroy(&attr);

  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sigemptyset(&sa.sa_mask);
  sa.sa_handler = on_tick;
  sigaction(SIGALRM, &sa, NULL);
  sa.sa_handler = on_usr1;
  sigaction(SIGUSR1, &sa, NULL);
  struct itimerval it = {{1, 0}, {1, 0}};
  setitimer(ITIMER_REAL, &it, NULL);

  pid_t self = getpid();
  fflush(stdout);
  for (int i = 0; i < N_SENDERS; i++) {
    senders[i] = fork();
    if (senders[i] < 0) IT_DIE("fork: %s", strerror(errno));
    if (senders[i] == 0) {
      struct itimerval off = {{0, 0}, {0, 0}};
      setitimer(ITIMER_REAL, &off, NULL);
      sender(self);
    }
  }
}

static void fork_teardown(void) {
  struct itimerval off = {{0, 0}, {0, 0}};
  setitimer(ITIMER_REAL, &off, NULL);
  kill_helpers();
  for (int i = 0; i < N_SENDERS; i++) waitpid(senders[i], NULL, 0);
  signal(SIGUSR1, SIG_IGN);
}

static void fork_direct(void) {
  pid_t pid = fork();
  if (pid < 0) IT_DIE("%s: fork: %s", fork_case, strerror(errno));
  if (pid == 0) _exit(0);
  int st;
  while (waitpid(pid, &st, 0) < 0)
    if (errno != EINTR) IT_DIE("%s: waitpid: %s", fork_case, strerror(errno));
  IT_CHECK(st == 0, "%s: child of a direct fork: expected exit status 0 got %#x", fork_case, st);
}

/* fork_signal (every = 7: a direct fork in 1 of 7 iterations, as
 * tst-mallocfork2) and fork_in_fork (every = 1). */
static void case_fork_signal(const char *name, int iters, int every) {
  fork_setup(name);
  static void *obj[SLOTS];
  uint64_t rng = it_seed(1);
  unsigned long large = 0;
  double t0 = cpu_seconds();
  for (int i = 0; i < iters; i++) {
    progress = (unsigned long)i + 1;
    int slot = (int)(it_rand(&rng) % SLOTS);
    size_t size = (it_rand(&rng) % 4 == 0) ? (size_t)(256 << 10) + it_rand(&rng) % (2 << 20)
                                           : it_rand(&rng) % 70000;
    bool do_fork = it_rand(&rng) % (uint64_t)every == 0;
    barrier();
    if (do_fork) fork_direct();
    free(obj[slot]);
    obj[slot] = malloc(size);
    if (obj[slot] == NULL) IT_DIE("%s: malloc(%zu) returned NULL", name, size);
    if (size) ((volatile char *)obj[slot])[size - 1] = 1;
    large += size >= (256 << 10);
    barrier();
    if (handler_errors) IT_DIE("%s: the handler's fork or waitpid failed", name);
  }
  fork_teardown();
  for (int s = 0; s < SLOTS; s++) free(obj[s]);
  SAY("INFO: %s: %d iterations (%lu large blocks), %d forks from the handler, %.1f s CPU", name,
      iters, large, (int)handler_forks, cpu_seconds() - t0);
  IT_CHECK(handler_forks > 0, "%s: expected forks from the signal handler got none", name);
  if (it_failures == 0) SAY("PASS: %s: no deadlock, every child exited 0", name);
}

static void *mt_allocator(void *arg) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGUSR1);
  sigaddset(&set, SIGALRM);
  pthread_sigmask(SIG_BLOCK, &set, NULL); /* the signals go to the main thread */
  uint64_t rng = it_seed((uint64_t)(uintptr_t)arg);
  void *held[64] = {0};
  while (!atomic_load_explicit(&mt_stop, memory_order_relaxed)) {
    int i = (int)(it_rand(&rng) % 64);
    free(held[i]);
    size_t n = (it_rand(&rng) % 8 == 0) ? (size_t)(256 << 10) + it_rand(&rng) % (2 << 20)
                                         : 1 + it_rand(&rng) % 8192;
    held[i] = malloc(n);
    if (held[i] == NULL) IT_DIE("fork_signal_mt: allocating thread: malloc(%zu) returned NULL", n);
    ((volatile char *)held[i])[n - 1] = 1;
  }
  for (int i = 0; i < 64; i++) free(held[i]);
  return NULL;
}

static void case_fork_signal_mt(int iters) {
  fork_setup("fork_signal_mt");
  pthread_t th[2];
  for (int i = 0; i < 2; i++)
    if (pthread_create(&th[i], NULL, mt_allocator, (void *)(uintptr_t)(i + 1)) != 0)
      IT_DIE("pthread_create failed");
  static volatile unsigned char work[1 << 14];
  uint64_t rng = it_seed(2);
  for (int i = 0; i < iters; i++) {
    progress = (unsigned long)i + 1;
    barrier();
    for (size_t k = 0; k < sizeof work; k++) work[k] = (unsigned char)(k + (size_t)i);
    barrier();
    if (handler_errors) IT_DIE("fork_signal_mt: the handler's fork or waitpid failed");
    /* A direct fork only here, outside the window in which the senders
     * signal (they wait at the next barrier): in a multi-threaded process
     * glibc's fork holds its arena locks, and a handler that forks inside
     * it deadlocks under glibc too. */
    if (it_rand(&rng) % 7 == 0) fork_direct();
  }
  atomic_store(&mt_stop, 1);
  for (int i = 0; i < 2; i++) pthread_join(th[i], NULL);
  fork_teardown();
  SAY("INFO: fork_signal_mt: %d iterations, %d forks from the handler", iters, (int)handler_forks);
  IT_CHECK(handler_forks > 0, "fork_signal_mt: expected forks from the signal handler got none");
  if (it_failures == 0) SAY("PASS: fork_signal_mt: no deadlock, every child exited 0");
}

/* ======================================================================
 * thread_fail: tst-malloc-thread-fail, per allocation function (malloc,
 * realloc(realloc(NULL, 16), n), aligned_alloc, memalign, posix_memalign,
 * valloc, pvalloc, calloc) and parameters (n = 144 and a page without
 * alignment; alignment 128 with n = 512, a page and 17 pages for the three
 * aligned ones): a child process under RLIMIT_AS (glibc: 200 MiB; here the
 * child's size + 96 MiB) runs 9 threads (256 KiB stacks) that allocate
 * until the first NULL. Asserted: each result aligned (max_align_t for
 * malloc, realloc and calloc; the alignment; a page for valloc/pvalloc),
 * calloc's bytes zero, a failing posix_memalign returns ENOMEM with errno
 * ENOMEM (else glibc's test aborts), every thread starts, the child exits 0.
 * Here also: every failing call leaves errno ENOMEM, and something was
 * allocated before the limit.
 * ====================================================================== */

enum { TF_THREADS = 9 };
enum tf_fn { W_MALLOC, W_REALLOC, W_ALIGNED_ALLOC, W_MEMALIGN, W_POSIX_MEMALIGN, W_VALLOC,
             W_PVALLOC, W_CALLOC, W_COUNT };
static const char *const tf_names[W_COUNT] = {"malloc", "realloc", "aligned_alloc", "memalign",
                                              "posix_memalign", "valloc", "pvalloc", "calloc"};
static enum tf_fn tf_fn;
static size_t tf_size, tf_align;
static pthread_barrier_t tf_start, tf_end;
static atomic_ulong tf_blocks;

static void tf_die(const char *fmt, ...) {
  char msg[256];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (write(2, msg, (size_t)n) < 0) { /* nothing */ }
  _exit(2);
}

/* One allocation; NULL after checking that it failed with ENOMEM. */
static void *tf_alloc(void) {
  void *p = NULL;
  size_t want = 16;
  errno = 0;
  switch (tf_fn) {
  case W_MALLOC: p = malloc(tf_size); break;
  case W_REALLOC: {
    void *q = realloc(NULL, 16);
    if (q == NULL) break;
    p = realloc(q, tf_size);
    if (p == NULL) {
      int e = errno;
      free(q);
      errno = e;
    }
    break;
  }
  case W_ALIGNED_ALLOC: p = aligned_alloc(tf_align, tf_size); want = tf_align; break;
  case W_MEMALIGN: p = memalign(tf_align, tf_size); want = tf_align; break;
  case W_POSIX_MEMALIGN: {
    want = tf_align;
    int rc = posix_memalign(&p, tf_align, tf_size);
    if (rc != 0) {
      if (errno != ENOMEM)
        tf_die("FAIL: thread_fail: posix_memalign(&p, %zu, %zu) failed: expected errno ENOMEM "
               "(glibc's test aborts otherwise) got errno %s (rc %s)\n",
               tf_align, tf_size, errname(errno), errname(rc));
      p = NULL;
    }
    break;
  }
  case W_VALLOC: p = valloc(tf_size); want = page; break;
  case W_PVALLOC: p = pvalloc(tf_size); want = page; break;
  case W_CALLOC:
    p = calloc(1, tf_size);
    if (p)
      for (size_t i = 0; i < tf_size; i++)
        if (((unsigned char *)p)[i] != 0) tf_die("FAIL: thread_fail: calloc(1, %zu): byte %zu not zero\n", tf_size, i);
    break;
  default: abort();
  }
  if (p == NULL) {
    if (errno != ENOMEM)
      tf_die("FAIL: thread_fail: %s(n=%zu, align=%zu) returned NULL: expected errno ENOMEM got %s\n",
             tf_names[tf_fn], tf_size, tf_align, errname(errno));
    return NULL;
  }
  if ((uintptr_t)p & (want - 1))
    tf_die("FAIL: thread_fail: %s(n=%zu, align=%zu): expected %zu-aligned got %p\n",
           tf_names[tf_fn], tf_size, tf_align, want, p);
  return p;
}

static void *tf_thread(void *arg) {
  (void)arg;
  pthread_barrier_wait(&tf_start);
  void *head = NULL;
  unsigned long n = 0;
  for (void *p; (p = tf_alloc()) != NULL; n++) {
    *(void **)p = head;
    head = p;
  }
  atomic_fetch_add(&tf_blocks, n);
  pthread_barrier_wait(&tf_end);
  while (head) {
    void *next = *(void **)head;
    free(head);
    head = next;
  }
  return NULL;
}

static void tf_run_one(void) {
  fflush(stdout);
  pid_t pid = fork();
  if (pid < 0) IT_DIE("fork: %s", strerror(errno));
  if (pid == 0) {
    struct rlimit rl;
    getrlimit(RLIMIT_AS, &rl);
    rl.rlim_cur = vm_size() + (96u << 20);
    if (setrlimit(RLIMIT_AS, &rl) != 0) tf_die("FAIL: thread_fail: setrlimit: %s\n", strerror(errno));
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 256 << 10);
    pthread_t th[TF_THREADS - 1];
    for (int i = 0; i < TF_THREADS - 1; i++) {
      int rc = pthread_create(&th[i], &attr, tf_thread, NULL);
      if (rc != 0) tf_die("FAIL: thread_fail: pthread_create: %s\n", strerror(rc));
    }
    tf_thread(NULL);
    for (int i = 0; i < TF_THREADS - 1; i++) pthread_join(th[i], NULL);
    unsigned long n = atomic_load(&tf_blocks);
    char msg[160];
    int len = snprintf(msg, sizeof msg, "INFO: thread_fail: %s(n=%zu, align=%zu): %lu blocks before the limit\n",
                       tf_names[tf_fn], tf_size, tf_align, n);
    if (write(1, msg, (size_t)len) < 0) { /* nothing */ }
    _exit(n > 0 ? 0 : 6);
  }
  int st;
  while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {}
  if (WIFEXITED(st) && WEXITSTATUS(st) == 6)
    IT_FAIL("thread_fail: %s(n=%zu, align=%zu): expected some blocks before the address-space "
            "limit (96 MiB of room) got none", tf_names[tf_fn], tf_size, tf_align);
  else if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
    IT_FAIL("thread_fail: %s(n=%zu, align=%zu): expected the child to exit 0 got status %#x%s",
            tf_names[tf_fn], tf_size, tf_align, st,
            WIFSIGNALED(st) ? " (killed by a signal)" : "");
}

static void case_thread_fail(void) {
  if (pthread_barrier_init(&tf_start, NULL, TF_THREADS) || pthread_barrier_init(&tf_end, NULL, TF_THREADS))
    IT_DIE("pthread_barrier_init");
  mallopt(M_ARENA_MAX, 2); /* as glibc's test; not interposed by the shim */
  const struct { size_t size, align; } params[] = {
      {144, 0}, {0 /* page */, 0}, {512, 128}, {0 /* page */, 128}, {17 /* pages */, 128}};
  for (size_t i = 0; i < sizeof params / sizeof params[0]; i++) {
    tf_align = params[i].align;
    tf_size = params[i].size == 0 ? page : params[i].size == 17 ? 17 * page : params[i].size;
    for (int f = 0; f < W_COUNT; f++) {
      bool aligned = f == W_ALIGNED_ALLOC || f == W_MEMALIGN || f == W_POSIX_MEMALIGN;
      if (aligned != (tf_align != 0)) continue;
      tf_fn = (enum tf_fn)f;
      tf_run_one();
    }
  }
  if (it_failures == 0)
    SAY("PASS: thread_fail: 25 runs of 9 threads allocating until RLIMIT_AS stops them: aligned, "
        "zeroed, ENOMEM everywhere, every child exited 0");
}

/* ======================================================================
 * mallinfo: tst-mallinfo2 asserts sizeof(mallinfo2.arena) == sizeof(size_t)
 * and, after malloc(160 * i) for i = 1..19 (30,400 bytes, not freed),
 * uordblks >= its earlier value + 30,400. Here also: 1000 x 100 B raise
 * uordblks by >= 100,000 and freeing them lowers it again; 10 x 1 MiB
 * raise uordblks + hblkhd by >= 10 MiB (glibc counts mmapped blocks in
 * hblkhd, heap blocks in uordblks; tiershim's placed blocks are in hblkhd),
 * also when another thread allocates them, and freeing them lowers it
 * again; mallinfo()'s fields are mallinfo2()'s converted to int.
 * ====================================================================== */

static size_t in_use(const struct mallinfo2 *m) { return m->uordblks + m->hblkhd; }

static void mi_print(const char *when, const struct mallinfo2 *m) {
  SAY("INFO: mallinfo2 %-24s arena %zu ordblks %zu hblks %zu hblkhd %zu uordblks %zu fordblks %zu "
      "keepcost %zu", when, m->arena, m->ordblks, m->hblks, m->hblkhd, m->uordblks, m->fordblks,
      m->keepcost);
}

static void *mi_thread_alloc(void *arg) {
  void **blk = arg;
  for (int i = 0; i < 10; i++) {
    blk[i] = malloc(1 << 20);
    if (blk[i]) memset(blk[i], 1, 4096);
  }
  return NULL;
}

/* malloc_stats' "in use bytes" of its "Total (incl. mmap)" section (the
 * output goes to fd 2, which is pointed at a file for the call). */
static long stats_total_in_use(void) {
  fflush(stderr);
  FILE *f = tmpfile();
  if (f == NULL) IT_DIE("tmpfile: %s", strerror(errno));
  int saved = dup(2);
  dup2(fileno(f), 2);
  malloc_stats();
  fflush(stderr);
  dup2(saved, 2);
  close(saved);
  rewind(f);
  char line[128];
  long v = -1;
  bool total = false;
  while (fgets(line, sizeof line, f)) {
    if (strncmp(line, "Total", 5) == 0) total = true;
    if (total && sscanf(line, "in use bytes = %ld", &v) == 1) break;
  }
  fclose(f);
  return v;
}

static void case_mallinfo(void) {
  struct mallinfo2 a, b, c;
  IT_CHECK(sizeof a.arena == sizeof(size_t), "mallinfo2: expected size_t fields");

  /* tst-mallinfo2 exactly */
  void *k[20];
  size_t total = 0;
  a = mallinfo2();
  for (int i = 1; i < 20; i++) {
    k[i] = malloc(160 * (size_t)i);
    total += 160 * (size_t)i;
  }
  b = mallinfo2();
  mi_print("before 19 blocks", &a);
  mi_print("after", &b);
  if (b.uordblks >= a.uordblks + total)
    SAY("PASS: mallinfo2: uordblks rose by %zu after 19 blocks of 160 * i (%zu bytes)",
        b.uordblks - a.uordblks, total);
  else
    IT_FAIL("mallinfo2 (tst-mallinfo2): after malloc(160 * i), i = 1..19: expected uordblks >= "
            "%zu + %zu got %zu", a.uordblks, total, b.uordblks);
  IT_CHECK(b.arena > 0, "mallinfo2: expected arena > 0 once the heap is in use got 0");
  IT_CHECK(b.arena >= b.uordblks, "mallinfo2: expected arena (%zu) >= uordblks (%zu)", b.arena,
           b.uordblks);

  /* 1000 small blocks, then free them */
  static void *s[1000];
  a = mallinfo2();
  for (int i = 0; i < 1000; i++) s[i] = malloc(100);
  b = mallinfo2();
  for (int i = 0; i < 1000; i++) free(s[i]);
  c = mallinfo2();
  mi_print("before 1000 x 100 B", &a);
  mi_print("after", &b);
  mi_print("after freeing them", &c);
  if (b.uordblks >= a.uordblks + 100000 && c.uordblks + 90000 <= b.uordblks)
    SAY("PASS: mallinfo2: 1000 x 100 B: uordblks +%zu, freed: -%zu", b.uordblks - a.uordblks,
        b.uordblks - c.uordblks);
  else
    IT_FAIL("mallinfo2: 1000 x malloc(100) then free: expected uordblks to rise by >= 100000 and "
            "fall back by >= 90000 got %zu -> %zu -> %zu", a.uordblks, b.uordblks, c.uordblks);

  /* 10 large blocks, then free them; then the same from another thread */
  for (int pass = 0; pass < 2; pass++) {
    void *l[10] = {0};
    a = mallinfo2();
    if (pass == 0) {
      mi_thread_alloc(l);
    } else {
      pthread_t t;
      if (pthread_create(&t, NULL, mi_thread_alloc, l) != 0) IT_DIE("pthread_create");
      pthread_join(t, NULL);
    }
    b = mallinfo2();
    for (int i = 0; i < 10; i++) free(l[i]);
    c = mallinfo2();
    const char *who = pass == 0 ? "this thread" : "another thread";
    char label[64];
    snprintf(label, sizeof label, "10 x 1 MiB (%s)", who);
    mi_print(label, &a);
    mi_print("after", &b);
    mi_print("after freeing them", &c);
    if (in_use(&b) >= in_use(&a) + (10u << 20) && in_use(&c) + (10u << 20) <= in_use(&b) + (64u << 10))
      SAY("PASS: mallinfo2: 10 x 1 MiB from %s: uordblks + hblkhd +%zu (hblks %+ld), freed: -%zu",
          who, in_use(&b) - in_use(&a), (long)b.hblks - (long)a.hblks, in_use(&b) - in_use(&c));
    else
      IT_FAIL("mallinfo2: 10 x malloc(1 MiB) from %s then free: expected uordblks + hblkhd to rise "
              "by >= 10 MiB and fall back got %zu -> %zu -> %zu", who, in_use(&a), in_use(&b),
              in_use(&c));
  }
  for (int i = 1; i < 20; i++) free(k[i]);

  /* malloc_stats: the total in use follows 10 x 1 MiB */
  long s0 = stats_total_in_use();
  void *l[10];
  for (int i = 0; i < 10; i++) l[i] = malloc(1 << 20);
  long s1 = stats_total_in_use();
  for (int i = 0; i < 10; i++) free(l[i]);
  long s2 = stats_total_in_use();
  if (s0 >= 0 && s1 >= s0 + (10l << 20) && s2 + (10l << 20) <= s1 + (64l << 10))
    SAY("PASS: malloc_stats: total in use bytes %ld -> %ld -> %ld with 10 x 1 MiB live, then freed",
        s0, s1, s2);
  else
    IT_FAIL("malloc_stats: expected \"in use bytes\" of the total to rise by >= 10 MiB with 10 x "
            "1 MiB live and fall back got %ld -> %ld -> %ld", s0, s1, s2);

  /* mallinfo is mallinfo2 converted to int (glibc assigns field by field) */
  void *big = malloc(3u << 20); /* something in every figure */
  struct mallinfo2 m2 = mallinfo2();
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
  struct mallinfo m = mallinfo();
#pragma GCC diagnostic pop
  int same = m.arena == (int)m2.arena && m.ordblks == (int)m2.ordblks &&
             m.smblks == (int)m2.smblks && m.hblks == (int)m2.hblks &&
             m.hblkhd == (int)m2.hblkhd && m.usmblks == (int)m2.usmblks &&
             m.fsmblks == (int)m2.fsmblks && m.uordblks == (int)m2.uordblks &&
             m.fordblks == (int)m2.fordblks && m.keepcost == (int)m2.keepcost;
  if (same)
    SAY("PASS: mallinfo: every field is mallinfo2's as an int");
  else
    IT_FAIL("mallinfo: expected mallinfo2's fields as int got arena %d/%zu hblkhd %d/%zu uordblks "
            "%d/%zu fordblks %d/%zu", m.arena, m2.arena, m.hblkhd, m2.hblkhd, m.uordblks,
            m2.uordblks, m.fordblks, m2.fordblks);
  free(big);

  if (shim) { /* mallinfo must not allocate */
    it_stats_get_fn get = it_require_shim("glibc_compat");
    tiershim_stats_t s1 = it_stats(get);
    for (int i = 0; i < 100; i++) (void)mallinfo2();
    tiershim_stats_t s2 = it_stats(get);
    IT_CHECK(s2.malloc_calls == s1.malloc_calls,
             "mallinfo2 under the shim: expected no allocation got %llu malloc calls in 100 calls",
             (unsigned long long)(s2.malloc_calls - s1.malloc_calls));
  }
}

/* ====================================================================== */

int main(int argc, char **argv) {
  if (argc < 2 || argc > 3 || (argc == 3 && strcmp(argv[2], "--shim") != 0)) {
    fprintf(stderr, "usage: %s align|too_large|posix_memalign|fork_signal|fork_in_fork|"
            "fork_signal_mt|thread_fail|mallinfo [--shim]\n", argv[0]);
    return 2;
  }
  shim = argc == 3;
  page = (size_t)sysconf(_SC_PAGESIZE);
  if (shim) it_require_shim("glibc_compat");
  const char *c = argv[1];
  if (!strcmp(c, "align")) case_align();
  else if (!strcmp(c, "too_large")) case_too_large();
  else if (!strcmp(c, "posix_memalign")) case_posix_memalign();
  else if (!strcmp(c, "fork_signal")) case_fork_signal("fork_signal", 2000, 7);
  else if (!strcmp(c, "fork_in_fork")) case_fork_signal("fork_in_fork", 1000, 1);
  else if (!strcmp(c, "fork_signal_mt")) case_fork_signal_mt(500);
  else if (!strcmp(c, "thread_fail")) case_thread_fail();
  else if (!strcmp(c, "mallinfo")) case_mallinfo();
  else {
    fprintf(stderr, "glibc_compat: unknown case %s\n", c);
    return 2;
  }
  fflush(stdout);
  return it_finish("glibc_compat");
}
