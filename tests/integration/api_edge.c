/* api_edge: every interposed entry point, with its edge cases.
 *
 *   api_edge --semantics   checks that hold for glibc and for tiershim alike,
 *                          printing one line per observed behaviour on stdout.
 *                          api_edge.sh runs it with and without the shim and
 *                          diffs stdout: tiershim must behave like glibc 2.36.
 *   api_edge --full        the same checks plus those that need the shim
 *                          (statistics counters, the large path).
 *                          Needs LD_PRELOAD.
 *
 * Exits 0 when every check passed; prints "FAIL: ..." lines otherwise.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <gnu/libc-version.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "it_common.h"

/* glibc's internal-name entry points (exported by libc.so.6). */
extern void *__libc_malloc(size_t);
extern void __libc_free(void *);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);

/* mmap64 is an alias of mmap on LP64 glibc, but it is a separate symbol the
 * shim interposes; declare it in case the headers hide it. */
extern void *mmap64(void *, size_t, int, int, int, off_t);

/* Values the compiler cannot see through (no constant folding, no
 * -Walloc-size-larger-than noise, no elision of the calls). */
static volatile size_t v_sizemax = SIZE_MAX;
static volatile size_t v_half = SIZE_MAX / 2 + 1;
static volatile size_t v_zero = 0;

static int full; /* --full */
static it_stats_get_fn get;
static size_t page;

#define SAY(...) (printf(__VA_ARGS__), putchar('\n'))

static const char *errname(int e) {
  switch (e) {
  case 0: return "0";
  case ENOMEM: return "ENOMEM";
  case EINVAL: return "EINVAL";
  case 12345: return "unchanged";
  default: return "other";
  }
}

/* A request that must fail: NULL with ENOMEM, as glibc does. The SAY line is
 * part of the output compared with glibc's. */
static void expect_null_enomem(const char *what, void *p, int e) {
  IT_CHECK(p == NULL && e == ENOMEM, "%s: expected NULL+ENOMEM got %p+%s", what, p, errname(e));
  SAY("%s: %s errno=%s", what, p ? "non-NULL" : "NULL", errname(e));
}

static long rss_pages(void) {
  FILE *f = fopen("/proc/self/statm", "r");
  long size = 0, rss = 0;
  if (f == NULL) IT_DIE("open /proc/self/statm: %s", strerror(errno));
  if (fscanf(f, "%ld %ld", &size, &rss) != 2) IT_DIE("parse /proc/self/statm");
  fclose(f);
  return rss;
}

static int all_zero(const void *p, size_t n) {
  const unsigned char *b = p;
  for (size_t i = 0; i < n; i++)
    if (b[i] != 0) return 0;
  return 1;
}

/* ------------------------------------------------------------------ */
/* Semantics shared with glibc (printed, diffed by api_edge.sh).       */

static void t_malloc_zero(void) {
  void *p = malloc(v_zero);
  IT_CHECK(p != NULL, "malloc(0): expected non-NULL got NULL");
  SAY("malloc(0): %s", p ? "non-NULL" : "NULL");
  free(p);
  free(NULL);
  SAY("free(NULL): ok");
  p = calloc(v_zero, 5);
  IT_CHECK(p != NULL, "calloc(0,5): expected non-NULL got NULL");
  SAY("calloc(0,5): %s", p ? "non-NULL" : "NULL");
  free(p);
  p = calloc(5, v_zero);
  IT_CHECK(p != NULL, "calloc(5,0): expected non-NULL got NULL");
  SAY("calloc(5,0): %s", p ? "non-NULL" : "NULL");
  free(p);
}

static void t_overflow(void) {
  errno = 0;
  void *p = calloc(v_half, 2);
  int e = errno;
  IT_CHECK(p == NULL && e == ENOMEM,
           "calloc(SIZE_MAX/2+1, 2): expected NULL+ENOMEM got %p+%s", p,
           errname(e));
  SAY("calloc(SIZE_MAX/2+1,2): %s errno=%s", p ? "non-NULL" : "NULL", errname(e));

  errno = 0;
  p = calloc(v_sizemax / 3, 4); /* overflows too, not a power of two */
  e = errno;
  IT_CHECK(p == NULL && e == ENOMEM,
           "calloc(SIZE_MAX/3, 4): expected NULL+ENOMEM got %p+%s", p, errname(e));
  SAY("calloc(SIZE_MAX/3,4): %s errno=%s", p ? "non-NULL" : "NULL", errname(e));

  errno = 0;
  p = malloc(v_sizemax);
  expect_null_enomem("malloc(SIZE_MAX)", p, errno);

  errno = 0;
  p = malloc(v_sizemax - 4096);
  expect_null_enomem("malloc(SIZE_MAX-4096)", p, errno);

  errno = 0;
  p = reallocarray(NULL, v_half, 2);
  e = errno;
  IT_CHECK(p == NULL && e == ENOMEM,
           "reallocarray(NULL, SIZE_MAX/2+1, 2): expected NULL+ENOMEM got %p+%s",
           p, errname(e));
  SAY("reallocarray(NULL,SIZE_MAX/2+1,2): %s errno=%s", p ? "non-NULL" : "NULL",
      errname(e));

  /* A failed reallocarray/realloc leaves the old block alone. */
  char *q = malloc(100);
  if (q == NULL) IT_DIE("malloc(100) returned NULL");
  memset(q, 0x5a, 100);
  errno = 0;
  p = reallocarray(q, v_half, 4);
  e = errno;
  IT_CHECK(p == NULL && e == ENOMEM,
           "reallocarray(p, SIZE_MAX/2+1, 4): expected NULL+ENOMEM got %p+%s", p,
           errname(e));
  errno = 0;
  p = realloc(q, v_sizemax);
  e = errno;
  IT_CHECK(p == NULL && e == ENOMEM,
           "realloc(p, SIZE_MAX): expected NULL+ENOMEM got %p+%s", p, errname(e));
  int intact = 1;
  for (int i = 0; i < 100; i++)
    if ((unsigned char)q[i] != 0x5a) intact = 0;
  IT_CHECK(intact, "failed realloc/reallocarray: expected old block intact got modified");
  SAY("realloc(p,SIZE_MAX): %s errno=%s old block %s", p ? "non-NULL" : "NULL",
      errname(e), intact ? "intact" : "modified");
  /* reallocarray without overflow behaves like realloc */
  p = reallocarray(q, 50, 4);
  IT_CHECK(p != NULL, "reallocarray(p, 50, 4): expected non-NULL got NULL");
  if (p) {
    q = p;
    intact = 1;
    for (int i = 0; i < 100; i++)
      if ((unsigned char)q[i] != 0x5a) intact = 0;
    IT_CHECK(intact, "reallocarray(p,50,4): expected contents kept got changed");
    memset(q, 1, 200);
  }
  SAY("reallocarray(p,50,4): %s", p ? "non-NULL, contents kept" : "NULL");
  free(q);

  errno = 0;
  p = pvalloc(v_sizemax - 100);
  expect_null_enomem("pvalloc(SIZE_MAX-100)", p, errno);
  errno = 0;
  p = valloc(v_sizemax - 100);
  expect_null_enomem("valloc(SIZE_MAX-100)", p, errno);
  errno = 0;
  p = memalign(64, v_sizemax - 100);
  e = errno;
  IT_CHECK(p == NULL && e == ENOMEM,
           "memalign(64, SIZE_MAX-100): expected NULL+ENOMEM got %p+%s", p,
           errname(e));
  SAY("memalign(64,SIZE_MAX-100): %s errno=%s", p ? "non-NULL" : "NULL", errname(e));
}

static void t_realloc_semantics(void) {
  /* realloc(NULL, n) is malloc(n) */
  char *p = realloc(NULL, 64);
  IT_CHECK(p != NULL, "realloc(NULL, 64): expected non-NULL got NULL");
  if (p) memset(p, 7, 64);
  IT_CHECK(p == NULL || malloc_usable_size(p) >= 64,
           "realloc(NULL,64): expected usable >= 64 got %zu", malloc_usable_size(p));
  SAY("realloc(NULL,64): %s", p ? "non-NULL" : "NULL");
  free(p);

  p = realloc(NULL, v_zero);
  IT_CHECK(p != NULL, "realloc(NULL, 0): expected non-NULL (like malloc(0)) got NULL");
  SAY("realloc(NULL,0): %s", p ? "non-NULL" : "NULL");
  free(p);

  /* glibc 2.36: realloc(p, 0) frees p and returns NULL, errno untouched. */
  p = malloc(100);
  if (p == NULL) IT_DIE("malloc(100) returned NULL");
  errno = 12345;
  void *r = realloc(p, v_zero);
  int e = errno;
  IT_CHECK(r == NULL, "realloc(p, 0): expected NULL (glibc frees p) got %p", r);
  IT_CHECK(e == 12345, "realloc(p, 0): expected errno unchanged got %d", e);
  SAY("realloc(p,0): %s errno=%s", r ? "non-NULL" : "NULL", errname(e));
  if (r) free(r);

  /* ... and it really frees: 10000 x 64 KiB touched blocks would be 640 MiB
   * of resident memory if p were leaked. */
  long before = rss_pages();
  for (int i = 0; i < 10000; i++) {
    char *b = malloc(65536);
    if (b == NULL) IT_DIE("malloc(65536) returned NULL at %d", i);
    for (size_t o = 0; o < 65536; o += 4096) b[o] = (char)i;
    r = realloc(b, v_zero);
    if (r) free(r);
  }
  long grown = (rss_pages() - before) * (long)page;
  IT_CHECK(grown < (128L << 20),
           "realloc(p,0) frees p: expected RSS growth < 128 MiB over 10000 "
           "calls got %ld MiB (leak)", grown >> 20);
  SAY("realloc(p,0) frees p: %s", grown < (128L << 20) ? "yes" : "no (leak)");

  /* growing and shrinking keep the contents, across every size class */
  static const size_t chain[] = {1,      24,      100,     1000,   4096,
                                 65536,  200000,  262143,  262144, 262145,
                                 1 << 20, 3 << 20, 8 << 20, 1 << 20, 300000,
                                 5000,   100,     8,       1};
  uint64_t seed = 42;
  size_t cur = chain[0];
  p = malloc(cur);
  if (p == NULL) IT_DIE("malloc(1) returned NULL");
  it_fill(p, cur, seed);
  int ok = 1;
  for (size_t i = 1; i < sizeof chain / sizeof chain[0]; i++) {
    size_t n = chain[i];
    char *q = realloc(p, n);
    if (q == NULL) IT_DIE("realloc(%zu -> %zu) returned NULL", cur, n);
    size_t keep = cur < n ? cur : n;
    size_t bad = it_verify_prefix(q, cur, keep, seed);
    if (bad != (size_t)-1) {
      ok = 0;
      IT_FAIL("realloc %zu -> %zu: expected contents kept got mismatch at "
              "offset %zu", cur, n, bad);
    }
    IT_CHECK(malloc_usable_size(q) >= n,
             "realloc(%zu): expected usable >= %zu got %zu", n, n,
             malloc_usable_size(q));
    seed++;
    it_fill(q, n, seed);
    p = q;
    cur = n;
  }
  free(p);
  SAY("realloc grow/shrink chain: %s", ok ? "contents kept" : "contents lost");
}

static void t_posix_memalign_einval(void) {
  static const size_t bad[] = {0, 1, 2, 3, 4, 12, 24, 48, 100, 4097};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    void *m = (void *)0x1;
    errno = 12345;
    int rc = posix_memalign(&m, bad[i], 64);
    int e = errno;
    IT_CHECK(rc == EINVAL, "posix_memalign(align=%zu): expected EINVAL got %d",
             bad[i], rc);
    IT_CHECK(e == 12345,
             "posix_memalign(align=%zu): expected errno unchanged (12345) got %d",
             bad[i], e);
    SAY("posix_memalign(align=%zu): rc=%s errno=%s", bad[i], errname(rc),
        errname(e));
    if (rc == 0) free(m);
  }
  /* ENOMEM, though, comes from glibc's malloc or _int_memalign, which set
   * errno = ENOMEM too (tst-malloc-thread-fail aborts otherwise). */
  void *m = NULL;
  errno = 12345;
  int rc = posix_memalign(&m, 64, v_sizemax - 100);
  int e = errno;
  IT_CHECK(rc == ENOMEM, "posix_memalign(64, SIZE_MAX-100): expected ENOMEM got %d", rc);
  IT_CHECK(e == ENOMEM,
           "posix_memalign(64, SIZE_MAX-100): expected errno ENOMEM (as glibc) got %s", errname(e));
  SAY("posix_memalign(64,SIZE_MAX-100): rc=%s errno=%s", errname(rc), errname(e));
  if (rc == 0) free(m);
}

static void t_usable(void) {
  SAY("malloc_usable_size(NULL): %zu", malloc_usable_size(NULL));
  IT_CHECK(malloc_usable_size(NULL) == 0,
           "malloc_usable_size(NULL): expected 0 got %zu", malloc_usable_size(NULL));
  int ok = 1;
  for (size_t n = 1; n <= (8u << 20); n = n < 64 ? n + 1 : n + n / 3 + 1) {
    size_t sizes[3] = {n, n + 1, n > 1 ? n - 1 : 1};
    for (int k = 0; k < 3; k++) {
      unsigned char *p = malloc(sizes[k]);
      if (p == NULL) IT_DIE("malloc(%zu) returned NULL", sizes[k]);
      size_t u = malloc_usable_size(p);
      if (u < sizes[k]) {
        ok = 0;
        IT_FAIL("malloc_usable_size(malloc(%zu)): expected >= %zu got %zu",
                sizes[k], sizes[k], u);
      }
      /* the whole usable size is writable */
      p[0] = 1;
      p[u - 1] = 2;
      free(p);
    }
  }
  /* both sides of the default TIERSHIM_LARGE_MIN (256 KiB) and of 1 MiB */
  static const size_t edge[] = {(256 << 10) - 1, 256 << 10, (256 << 10) + 1,
                                (1 << 20) - 1,   1 << 20,   (1 << 20) + 1,
                                (8 << 20) - 1,   8 << 20};
  for (size_t i = 0; i < sizeof edge / sizeof edge[0]; i++) {
    unsigned char *p = calloc(1, edge[i]);
    if (p == NULL) IT_DIE("calloc(1, %zu) returned NULL", edge[i]);
    size_t u = malloc_usable_size(p);
    if (u < edge[i]) {
      ok = 0;
      IT_FAIL("malloc_usable_size(calloc(%zu)): expected >= %zu got %zu", edge[i],
              edge[i], u);
    }
    p[u - 1] = 1;
    free(p);
  }
  SAY("malloc_usable_size >= request (1 B .. 8 MiB): %s", ok ? "yes" : "no");
}

static void t_calloc_dirty(void) {
  static const size_t sizes[] = {1, 16, 100, 1000, 4000, 65536, 300000, 3 << 20};
  enum { N = 8 };
  int ok = 1;
  for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
    size_t n = sizes[s];
    void *blk[N];
    for (int round = 0; round < 3; round++) {
      for (int i = 0; i < N; i++) {
        blk[i] = malloc(n);
        if (blk[i] == NULL) IT_DIE("malloc(%zu) returned NULL", n);
        memset(blk[i], 0xa5, malloc_usable_size(blk[i]));
      }
      for (int i = 0; i < N; i++) free(blk[i]);
      for (int i = 0; i < N; i++) {
        blk[i] = calloc(1, n);
        if (blk[i] == NULL) IT_DIE("calloc(1, %zu) returned NULL", n);
        if (!all_zero(blk[i], n)) {
          ok = 0;
          IT_FAIL("calloc(1, %zu) after free of dirty blocks: expected all "
                  "zero got non-zero bytes", n);
        }
      }
      for (int i = 0; i < N; i++) {
        memset(blk[i], 0x5a, n);
        free(blk[i]);
      }
    }
  }
  /* also calloc(n, size) with n > 1 */
  unsigned *a = calloc(1000, sizeof *a);
  if (a == NULL) IT_DIE("calloc(1000, 4) returned NULL");
  for (int i = 0; i < 1000; i++)
    if (a[i]) { ok = 0; IT_FAIL("calloc(1000,4)[%d]: expected 0 got %u", i, a[i]); break; }
  free(a);
  SAY("calloc zeroes (fresh and reused dirty memory): %s", ok ? "yes" : "no");
}

static int aligned_ok(void *p, size_t align) { return ((uintptr_t)p & (align - 1)) == 0; }

static void t_alignment(void) {
  static const size_t sizes[] = {0, 1, 7, 64, 1000, 4096, 65536, (256 << 10) - 1,
                                 256 << 10, 1 << 20, 3 << 20};
  int ok = 1;
  for (size_t a = 8; a <= (2u << 20); a *= 2) {
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
      size_t n = sizes[s];
      for (int fn = 0; fn < 3; fn++) {
        void *p = NULL;
        const char *name;
        int rc = 0;
        switch (fn) {
        case 0: name = "memalign"; p = memalign(a, n); break;
        case 1: name = "aligned_alloc"; p = aligned_alloc(a, n); break;
        default:
          name = "posix_memalign";
          rc = posix_memalign(&p, a, n);
          if (rc != 0) p = NULL;
          break;
        }
        if (p == NULL) {
          ok = 0;
          IT_FAIL("%s(%zu, %zu): expected non-NULL got NULL (rc=%d)", name, a, n, rc);
          continue;
        }
        if (!aligned_ok(p, a)) {
          ok = 0;
          IT_FAIL("%s(%zu, %zu): expected %zu-aligned got %p", name, a, n, a, p);
        }
        size_t u = malloc_usable_size(p);
        if (u < n) {
          ok = 0;
          IT_FAIL("%s(%zu, %zu): expected usable >= %zu got %zu", name, a, n, n, u);
        }
        if (n) {
          memset(p, 0x3c, n);
          ((volatile unsigned char *)p)[n - 1] = 0xc3;
        }
        free(p);
      }
    }
  }
  SAY("memalign/aligned_alloc/posix_memalign 8 B .. 2 MiB alignments: %s",
      ok ? "aligned and writable" : "broken");

  /* plain malloc: aligned for every fundamental type that fits (C17
   * 7.22.3): min(16, largest power of two <= n) */
  ok = 1;
  for (size_t n = 1; n <= 4096; n += (n < 128 ? 1 : 61)) {
    size_t want = 1;
    while (want * 2 <= n && want < 16) want *= 2;
    void *blk[16];
    for (int k = 0; k < 16; k++) {
      blk[k] = malloc(n);
      if (blk[k] == NULL) IT_DIE("malloc(%zu) returned NULL", n);
      if (!aligned_ok(blk[k], want) && ok) {
        ok = 0;
        IT_FAIL("malloc(%zu): expected %zu-aligned (fundamental alignment) got %p", n, want,
                blk[k]);
      }
    }
    for (int k = 0; k < 16; k++) free(blk[k]);
  }
  SAY("malloc(n) aligned for every fundamental type that fits: %s", ok ? "yes" : "no");

  ok = 1;
  static const size_t vs[] = {1, 100, 4096, 4097, 65536, 300000, 1 << 20};
  for (size_t i = 0; i < sizeof vs / sizeof vs[0]; i++) {
    unsigned char *p = valloc(vs[i]);
    if (p == NULL || !aligned_ok(p, page)) {
      ok = 0;
      IT_FAIL("valloc(%zu): expected page-aligned got %p", vs[i], (void *)p);
    } else {
      memset(p, 1, vs[i]);
    }
    free(p);
    p = pvalloc(vs[i]);
    size_t want = (vs[i] + page - 1) & ~(page - 1);
    if (p == NULL || !aligned_ok(p, page)) {
      ok = 0;
      IT_FAIL("pvalloc(%zu): expected page-aligned got %p", vs[i], (void *)p);
    } else {
      size_t u = malloc_usable_size(p);
      if (u < want) {
        ok = 0;
        IT_FAIL("pvalloc(%zu): expected usable >= %zu (rounded to a page) got %zu",
                vs[i], want, u);
      } else {
        memset(p, 2, want); /* the rounded-up size is usable */
      }
    }
    free(p);
  }
  SAY("valloc/pvalloc page aligned, pvalloc rounds to a page: %s", ok ? "yes" : "no");
}

static void t_mmap_semantics(void) {
  size_t len = 4 * page;
  unsigned char *m = mmap(NULL, len, PROT_READ | PROT_WRITE,
                          MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (m == MAP_FAILED) IT_DIE("mmap(anon, %zu): %s", len, strerror(errno));
  IT_CHECK(all_zero(m, len), "mmap(anon): expected zero-filled got data");
  memset(m, 0x77, len);
  IT_CHECK(madvise(m, len, MADV_DONTNEED) == 0, "madvise(DONTNEED): expected 0 got -1 (%s)",
           strerror(errno));
  int z = all_zero(m, len);
  IT_CHECK(z, "madvise(MADV_DONTNEED) on private anon: expected zero-fill got old data");
  SAY("madvise(MADV_DONTNEED): %s", z ? "zero-filled" : "kept data");

  memset(m, 0x11, len);
  unsigned char *g = mremap(m, len, 64 * page, MREMAP_MAYMOVE);
  IT_CHECK(g != MAP_FAILED, "mremap(MAYMOVE grow): expected success got %s",
           strerror(errno));
  if (g != MAP_FAILED) {
    int kept = 1;
    for (size_t i = 0; i < len; i++)
      if (g[i] != 0x11) { kept = 0; break; }
    IT_CHECK(kept, "mremap grow: expected old contents kept got changed");
    IT_CHECK(all_zero(g + len, 60 * page), "mremap grow: expected new tail zero");
    g[64 * page - 1] = 1;
    SAY("mremap(MREMAP_MAYMOVE grow): ok, contents %s", kept ? "kept" : "lost");
    IT_CHECK(munmap(g, 64 * page) == 0, "munmap(grown): expected 0 got -1 (%s)",
             strerror(errno));
  }

  errno = 0;
  int rc = munmap((void *)(uintptr_t)1, page); /* not page aligned */
  int e = errno;
  IT_CHECK(rc == -1 && e == EINVAL, "munmap(bad address): expected -1+EINVAL got %d+%s",
           rc, errname(e));
  SAY("munmap(unaligned): rc=%d errno=%s", rc, errname(e));
  errno = 0;
  rc = munmap(NULL, 0);
  e = errno;
  IT_CHECK(rc == -1 && e == EINVAL, "munmap(NULL, 0): expected -1+EINVAL got %d+%s", rc,
           errname(e));
  SAY("munmap(NULL,0): rc=%d errno=%s", rc, errname(e));
  errno = 0;
  void *bad = mmap(NULL, 0, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  e = errno;
  IT_CHECK(bad == MAP_FAILED && e == EINVAL, "mmap(len 0): expected MAP_FAILED+EINVAL got %p+%s",
           bad, errname(e));
  SAY("mmap(len=0): %s errno=%s", bad == MAP_FAILED ? "MAP_FAILED" : "mapped", errname(e));
  errno = 0;
  rc = madvise((void *)(uintptr_t)1, page, MADV_DONTNEED);
  e = errno;
  IT_CHECK(rc == -1 && e == EINVAL, "madvise(unaligned): expected -1+EINVAL got %d+%s", rc,
           errname(e));
  SAY("madvise(unaligned): rc=%d errno=%s", rc, errname(e));
  errno = 0;
  void *mr = mremap((void *)(uintptr_t)1, page, 2 * page, 0);
  e = errno;
  IT_CHECK(mr == MAP_FAILED && e == EINVAL,
           "mremap(unaligned): expected MAP_FAILED+EINVAL got %p+%s", mr, errname(e));
  SAY("mremap(unaligned): %s errno=%s", mr == MAP_FAILED ? "MAP_FAILED" : "ok", errname(e));
}

/* Every entry point, successful, with errno preset to 12345: must stay. */
#define KEEP_ERRNO(call_desc, stmt)                                           \
  do {                                                                        \
    errno = 12345;                                                            \
    stmt;                                                                     \
    if (errno != 12345) {                                                     \
      bad++;                                                                  \
      IT_FAIL("errno preserved across successful %s: expected 12345 got %d",  \
              call_desc, errno);                                              \
    }                                                                         \
  } while (0)

static void t_errno(void) {
  int bad = 0;
  static const size_t sizes[] = {0, 8, 100, 5000, (256 << 10) - 1, 256 << 10,
                                 1 << 20, 4 << 20};
  for (int rep = 0; rep < 3; rep++) {
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
      size_t n = sizes[i];
      void *p, *q;
      int rc;
      size_t u;
      KEEP_ERRNO("malloc", p = malloc(n));
      if (!p) IT_DIE("malloc(%zu) returned NULL", n);
      KEEP_ERRNO("malloc_usable_size", u = malloc_usable_size(p));
      (void)u;
      KEEP_ERRNO("realloc(grow)", q = realloc(p, n * 2 + 16));
      if (!q) IT_DIE("realloc returned NULL");
      KEEP_ERRNO("realloc(shrink)", p = realloc(q, n / 2 + 1));
      if (!p) IT_DIE("realloc returned NULL");
      KEEP_ERRNO("reallocarray", q = reallocarray(p, 2, n + 1));
      if (!q) IT_DIE("reallocarray returned NULL");
      KEEP_ERRNO("free", free(q));
      KEEP_ERRNO("free(NULL)", free(NULL));
      KEEP_ERRNO("realloc(NULL,n)", p = realloc(NULL, n));
      KEEP_ERRNO("free", free(p));
      KEEP_ERRNO("calloc", p = calloc(1, n));
      KEEP_ERRNO("free", free(p));
      KEEP_ERRNO("memalign", p = memalign(256, n));
      KEEP_ERRNO("free", free(p));
      KEEP_ERRNO("aligned_alloc", p = aligned_alloc(4096, n));
      KEEP_ERRNO("free", free(p));
      KEEP_ERRNO("posix_memalign", rc = posix_memalign(&p, 64, n));
      if (rc) IT_DIE("posix_memalign returned %d", rc);
      KEEP_ERRNO("free", free(p));
      KEEP_ERRNO("valloc", p = valloc(n));
      KEEP_ERRNO("free", free(p));
      KEEP_ERRNO("pvalloc", p = pvalloc(n));
      KEEP_ERRNO("free", free(p));
      KEEP_ERRNO("__libc_malloc", p = __libc_malloc(n));
      KEEP_ERRNO("__libc_realloc", p = __libc_realloc(p, n + 100));
      KEEP_ERRNO("__libc_free", __libc_free(p));
      KEEP_ERRNO("__libc_calloc", p = __libc_calloc(n + 1, 1));
      KEEP_ERRNO("__libc_free", __libc_free(p));
      KEEP_ERRNO("__libc_memalign", p = __libc_memalign(128, n));
      KEEP_ERRNO("__libc_free", __libc_free(p));
    }
    KEEP_ERRNO("malloc_trim", malloc_trim(0));
    void *m, *g;
    KEEP_ERRNO("mmap", m = mmap(NULL, 8 * page, PROT_READ | PROT_WRITE,
                                MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    if (m == MAP_FAILED) IT_DIE("mmap failed");
    KEEP_ERRNO("madvise", madvise(m, 8 * page, MADV_DONTNEED));
    KEEP_ERRNO("mremap", g = mremap(m, 8 * page, 32 * page, MREMAP_MAYMOVE));
    if (g == MAP_FAILED) IT_DIE("mremap failed");
    KEEP_ERRNO("munmap", munmap(g, 32 * page));
    KEEP_ERRNO("mmap64", m = mmap64(NULL, page, PROT_READ | PROT_WRITE,
                                    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    if (m == MAP_FAILED) IT_DIE("mmap64 failed");
    KEEP_ERRNO("munmap", munmap(m, page));
  }
  SAY("errno preserved across successful calls: %s", bad ? "no" : "yes");
}

static void t_libc_names(void) {
  /* The __libc_* names and the public names must share one heap. */
  unsigned char *p = __libc_malloc(1000);
  IT_CHECK(p != NULL, "__libc_malloc(1000): expected non-NULL got NULL");
  memset(p, 9, 1000);
  p = __libc_realloc(p, 100000);
  IT_CHECK(p != NULL, "__libc_realloc: expected non-NULL got NULL");
  int ok = p != NULL;
  for (int i = 0; p && i < 1000; i++)
    if (p[i] != 9) { ok = 0; break; }
  IT_CHECK(ok, "__libc_realloc: expected contents kept got changed");
  __libc_free(p);
  p = __libc_calloc(100, 100);
  IT_CHECK(p && all_zero(p, 10000), "__libc_calloc(100,100): expected zeroed block");
  free(p); /* __libc_calloc block through the public free */
  p = malloc(333);
  IT_CHECK(p != NULL, "malloc(333): expected non-NULL");
  __libc_free(p); /* public malloc block through __libc_free */
  p = __libc_memalign(4096, 5000);
  IT_CHECK(p && aligned_ok(p, 4096), "__libc_memalign(4096): expected aligned got %p",
           (void *)p);
  if (p) memset(p, 1, 5000);
  free(p);
  __libc_free(NULL);
  SAY("__libc_malloc/__libc_free family: %s", ok ? "ok" : "broken");
}

/* ------------------------------------------------------------------ */
/* Shim-only checks (--full).                                          */

static void t_stats_counts(void) {
  enum { N = 1000 };
  static void *blk[N];
  tiershim_stats_t a = it_stats(get);
  for (int i = 0; i < N; i++) blk[i] = malloc(16 + (size_t)i);
  for (int i = 0; i < N; i++) free(blk[i]);
  tiershim_stats_t b = it_stats(get);
  IT_CHECK_RISE(a, b, malloc_calls, N, "stats after N mallocs");
  IT_CHECK_RISE(a, b, free_calls, N, "stats after N frees");

  /* every allocating entry point counts */
  a = it_stats(get);
  void *p[9];
  int rc;
  p[0] = calloc(3, 7);
  p[1] = realloc(NULL, 10);
  p[2] = memalign(64, 10);
  p[3] = aligned_alloc(64, 64);
  rc = posix_memalign(&p[4], 64, 10);
  if (rc) p[4] = NULL;
  p[5] = valloc(10);
  p[6] = pvalloc(10);
  p[7] = reallocarray(NULL, 2, 10);
  p[8] = __libc_malloc(10);
  b = it_stats(get);
  IT_CHECK(b.malloc_calls - a.malloc_calls >= 9,
           "stats malloc_calls after calloc, realloc(NULL), memalign, "
           "aligned_alloc, posix_memalign, valloc, pvalloc, reallocarray, "
           "__libc_malloc: expected rise >= 9 got %llu",
           (unsigned long long)(b.malloc_calls - a.malloc_calls));
  a = it_stats(get);
  for (int i = 0; i < 8; i++) free(p[i]);
  __libc_free(p[8]);
  b = it_stats(get);
  IT_CHECK(b.free_calls - a.free_calls >= 9,
           "stats free_calls after 8 free + 1 __libc_free: expected rise >= 9 got %llu",
           (unsigned long long)(b.free_calls - a.free_calls));

  /* the large path: >= 256 KiB (the default TIERSHIM_LARGE_MIN) */
  const char *lm = getenv("TIERSHIM_LARGE_MIN");
  if (lm == NULL || *lm == '\0') {
    a = it_stats(get);
    void *s = malloc((256 << 10) - 1);
    b = it_stats(get);
    IT_CHECK(b.large_allocs == a.large_allocs,
             "large_allocs after malloc(256 KiB - 1): expected no rise got +%llu",
             (unsigned long long)(b.large_allocs - a.large_allocs));
    a = b;
    void *l = malloc(256 << 10);
    b = it_stats(get);
    IT_CHECK(b.large_allocs - a.large_allocs >= 1,
             "large_allocs after malloc(256 KiB): expected rise >= 1 got %llu",
             (unsigned long long)(b.large_allocs - a.large_allocs));
    a = b;
    void *c = calloc(1, 4 << 20);
    b = it_stats(get);
    IT_CHECK(b.large_allocs - a.large_allocs >= 1,
             "large_allocs after calloc(1, 4 MiB): expected rise >= 1 got %llu",
             (unsigned long long)(b.large_allocs - a.large_allocs));
    IT_CHECK(c && all_zero(c, 4 << 20), "calloc(1, 4 MiB) (large path): expected zeroed");
    memset(l, 0xee, 256 << 10);
    free(s);
    free(l);
    free(c);
    /* informational: the other allocating entry points and the large path */
    a = it_stats(get);
    void *al = aligned_alloc(4096, 1 << 20);
    void *rl = realloc(NULL, 1 << 20);
    b = it_stats(get);
    fprintf(stderr, "INFO: large_allocs rise for aligned_alloc(4096, 1 MiB) + "
            "realloc(NULL, 1 MiB): %llu\n",
            (unsigned long long)(b.large_allocs - a.large_allocs));
    free(al);
    free(rl);
  } else {
    fprintf(stderr, "INFO: TIERSHIM_LARGE_MIN=%s set: large_allocs boundary "
            "checks skipped\n", lm);
  }
}

static void t_mmap_counts(void) {
  tiershim_stats_t a = it_stats(get);
  enum { N = 10 };
  int n_mmap = 0, n_munmap = 0, n_mremap = 0, n_madvise = 0;
  for (int i = 0; i < N; i++) {
    void *m = mmap(NULL, page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    n_mmap++;
    void *m2 = mmap64(NULL, page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    n_mmap++;
    if (m == MAP_FAILED || m2 == MAP_FAILED) IT_DIE("mmap failed: %s", strerror(errno));
    madvise(m, page, MADV_DONTNEED);
    n_madvise++;
    void *g = mremap(m, page, 4 * page, MREMAP_MAYMOVE);
    n_mremap++;
    if (g == MAP_FAILED) IT_DIE("mremap failed: %s", strerror(errno));
    munmap(g, 4 * page);
    munmap(m2, page);
    n_munmap += 2;
  }
  tiershim_stats_t b = it_stats(get);
#define RISE(field, n)                                                        \
  IT_CHECK(b.field - a.field >= (uint64_t)(n),                                \
           "stats " #field " after %d calls: expected rise >= %d got %llu", n, n, \
           (unsigned long long)(b.field - a.field))
  RISE(mmap_calls, n_mmap);
  RISE(munmap_calls, n_munmap);
  RISE(mremap_calls, n_mremap);
  RISE(madvise_calls, n_madvise);
#undef RISE
}

/* aligned_alloc with an alignment that is not a power of two: C17 (DR 460)
 * and C2x say NULL + EINVAL, and glibc >= 2.38 does that; glibc 2.36 still
 * treats it like memalign (rounds the alignment up to a power of two). The
 * shim must do what the running glibc does: --semantics prints the outcome
 * (diffed against plain glibc), --full checks it against the glibc version. */
static void t_aligned_alloc_bad(void) {
  static const size_t bad[] = {0, 3, 24, 100};
  unsigned maj = 0, min = 0;
  sscanf(gnu_get_libc_version(), "%u.%u", &maj, &min);
  int strict = maj > 2 || (maj == 2 && min >= 38);
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    size_t a = bad[i], pow2 = 1;
    while (pow2 < a) pow2 <<= 1;
    errno = 12345;
    void *p = aligned_alloc(a, 64);
    int e = errno;
    if (p == NULL)
      SAY("aligned_alloc(align=%zu,64): NULL errno=%s", a, errname(e));
    else
      SAY("aligned_alloc(align=%zu,64): non-NULL, %s to %zu, errno=%s", a,
          aligned_ok(p, pow2) ? "aligned" : "NOT aligned", pow2, errname(e));
    if (full && strict)
      IT_CHECK(p == NULL && e == EINVAL,
               "aligned_alloc(align=%zu, 64) with glibc %u.%u: expected NULL+EINVAL got %p+%s",
               a, maj, min, p, errname(e));
    else if (full)
      IT_CHECK(p != NULL && aligned_ok(p, pow2) && e == 12345,
               "aligned_alloc(align=%zu, 64) with glibc %u.%u: expected glibc's behaviour "
               "(non-NULL, %zu-aligned, errno unchanged) got %p+%s", a, maj, min, pow2, p,
               errname(e));
    if (p) {
      memset(p, 1, 64);
      free(p);
    }
  }
  errno = 0;
  void *p = aligned_alloc(v_half + 1, 64); /* > SIZE_MAX/2+1: EINVAL in glibc */
  int e = errno;
  IT_CHECK(p == NULL && e == EINVAL,
           "aligned_alloc(SIZE_MAX/2+2, 64): expected NULL+EINVAL got %p+%s", p, errname(e));
  SAY("aligned_alloc(align=SIZE_MAX/2+2,64): %s errno=%s", p ? "non-NULL" : "NULL", errname(e));
  free(p);
}

int main(int argc, char **argv) {
  if (argc != 2 || (strcmp(argv[1], "--semantics") && strcmp(argv[1], "--full"))) {
    fprintf(stderr, "usage: %s --semantics|--full\n", argv[0]);
    return 2;
  }
  full = strcmp(argv[1], "--full") == 0;
  page = (size_t)sysconf(_SC_PAGESIZE);
  setvbuf(stdout, NULL, _IOLBF, 0);
  if (full) get = it_require_shim("api_edge");

  t_malloc_zero();
  t_overflow();
  t_realloc_semantics();
  t_posix_memalign_einval();
  t_usable();
  t_calloc_dirty();
  t_alignment();
  t_mmap_semantics();
  t_errno();
  t_libc_names();
  t_aligned_alloc_bad();
  if (full) {
    t_stats_counts();
    t_mmap_counts();
    SAY("shim-only checks (stats, large path): done");
  }
  return it_finish("api_edge");
}
