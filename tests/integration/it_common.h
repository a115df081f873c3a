/* Shared helpers for the tiershim integration test programs.
 *
 * The programs never link libtiershim: they find its API at run time with
 * dlsym(RTLD_DEFAULT, ...), exactly as a user program would. When a test
 * depends on the shim being active it calls it_require_shim() first, so the
 * test fails loudly instead of passing silently without LD_PRELOAD.
 */
#ifndef TIERSHIM_IT_COMMON_H
#define TIERSHIM_IT_COMMON_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "tiershim.h"

/* mm flags newer than some headers the programs may be built against */
#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif
#ifndef MAP_UNINITIALIZED
#define MAP_UNINITIALIZED 0x4000000
#endif
#ifndef MREMAP_DONTUNMAP
#define MREMAP_DONTUNMAP 4
#endif
#ifndef MADV_COLD
#define MADV_COLD 20
#endif
#ifndef MADV_PAGEOUT
#define MADV_PAGEOUT 21
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* An errno's name ("EINVAL"; "0" for none): what the programs print to be
 * compared with the kernel's run, never a number that varies by libc. The
 * last eight results stay valid, for several in one printf. */
static inline const char *it_errname(int e) {
  static __thread char buf[8][24];
  static __thread int i;
  if (e == 0) return "0";
  const char *name = strerrorname_np(e);
  if (name != NULL) return name;
  i = (i + 1) % 8;
  snprintf(buf[i], sizeof buf[i], "errno%d", e);
  return buf[i];
}

typedef int (*it_stats_get_fn)(tiershim_stats_t *);
typedef int (*it_enabled_fn)(void);
typedef const char *(*it_version_fn)(void);
typedef size_t (*it_json_fn)(char *, size_t);

static int it_failures;

/* Report a failed check and keep going (the program exits non-zero at the
 * end through it_finish()). Formats as "FAIL: <what>: expected X got Y". */
#define IT_FAIL(...)                                                          \
  do {                                                                        \
    it_failures++;                                                            \
    fprintf(stderr, "FAIL: %s:%d: ", __FILE__, __LINE__);                     \
    fprintf(stderr, __VA_ARGS__);                                             \
    fputc('\n', stderr);                                                      \
    fflush(stderr);                                                           \
  } while (0)

/* Fatal variant: for situations after which nothing meaningful can be
 * checked any more (e.g. an allocation we need returned NULL). */
#define IT_DIE(...)                                                           \
  do {                                                                        \
    fprintf(stderr, "FAIL: %s:%d: ", __FILE__, __LINE__);                     \
    fprintf(stderr, __VA_ARGS__);                                             \
    fputc('\n', stderr);                                                      \
    fflush(stderr);                                                           \
    _exit(1);                                                                 \
  } while (0)

#define IT_CHECK(cond, ...)                                                   \
  do {                                                                        \
    if (!(cond)) IT_FAIL(__VA_ARGS__);                                        \
  } while (0)

/* Counter FIELD of two tiershim_stats_t snapshots rose by at least N. */
#define IT_CHECK_RISE(a, b, field, n, what)                                   \
  IT_CHECK((b).field - (a).field >= (uint64_t)(n),                            \
           "%s: expected " #field " to rise by >= %llu got %llu", (what),     \
           (unsigned long long)(n), (unsigned long long)((b).field - (a).field))

static inline void *it_sym(const char *name) {
  return dlsym(RTLD_DEFAULT, name);
}

/* Returns tiershim_stats_get, or dies: the caller's checks need the shim. */
static inline it_stats_get_fn it_require_shim(const char *prog) {
  it_stats_get_fn f = (it_stats_get_fn)it_sym("tiershim_stats_get");
  if (f == NULL)
    IT_DIE("%s: tiershim active: expected dlsym(RTLD_DEFAULT, "
           "\"tiershim_stats_get\") != NULL got NULL (is LD_PRELOAD set to "
           "libtiershim.so? LD_PRELOAD=%s)",
           prog, getenv("LD_PRELOAD") ? getenv("LD_PRELOAD") : "(unset)");
  return f;
}

static inline tiershim_stats_t it_stats(it_stats_get_fn f) {
  tiershim_stats_t s;
  memset(&s, 0, sizeof s);
  s.size = sizeof s;
  int rc = f(&s);
  if (rc != 0) IT_DIE("tiershim_stats_get: expected 0 got %d", rc);
  return s;
}

/* xorshift64* : small, fast, seedable. */
static inline uint64_t it_rand(uint64_t *st) {
  uint64_t x = *st;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  *st = x;
  return x * 0x2545F4914F6CDD1DULL;
}

static inline uint64_t it_seed(uint64_t s) {
  /* splitmix64: never returns a zero state for xorshift */
  uint64_t z = s + 0x9E3779B97F4A7C15ULL;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  z ^= z >> 31;
  return z ? z : 1;
}

/* The byte expected at offset `off` of a block tagged with `seed`. */
static inline unsigned char it_pat(uint64_t seed, size_t off) {
  uint64_t z = seed ^ ((uint64_t)off * 0x9E3779B97F4A7C15ULL);
  z ^= z >> 29;
  z *= 0xBF58476D1CE4E5B9ULL;
  z ^= z >> 32;
  return (unsigned char)(z | 1); /* never 0: distinguishes from zero-fill */
}

/* Sampled pattern: the first and last 64 bytes plus 8 bytes at the start of
 * every 4 KiB page (offsets 4096*k) in between. Touching every
 * page keeps large blocks honest without the cost of a full fill. Returns a
 * checksum of what was written. */
#define IT_EDGE 64
#define IT_PAGE 4096

#define IT_FOR_SAMPLES(size, off_var, body)                                   \
  do {                                                                        \
    size_t it__n = (size);                                                    \
    size_t it__h = it__n < IT_EDGE ? it__n : IT_EDGE;                         \
    for (size_t off_var = 0; off_var < it__h; off_var++) { body; }            \
    if (it__n > IT_EDGE) {                                                    \
      size_t it__t = it__n - IT_EDGE;                                         \
      if (it__t < IT_EDGE) it__t = IT_EDGE;                                   \
      for (size_t off_var = it__t; off_var < it__n; off_var++) { body; }      \
    }                                                                         \
    size_t it__e = it__n > IT_EDGE + 8 ? it__n - IT_EDGE - 8 : 0;            \
    for (size_t it__p = IT_PAGE; it__p <= it__e; it__p += IT_PAGE)            \
      for (size_t off_var = it__p; off_var < it__p + 8; off_var++) { body; }  \
  } while (0)

static inline uint64_t it_fill(void *p, size_t size, uint64_t seed) {
  unsigned char *b = (unsigned char *)p;
  uint64_t sum = 0;
  IT_FOR_SAMPLES(size, off, {
    unsigned char v = it_pat(seed, off);
    b[off] = v;
    sum = sum * 31 + v;
  });
  return sum;
}

/* Checks the sampled pattern. Returns the first bad offset or (size_t)-1,
 * and compares the checksum when `want_sum` is non-NULL. */
static inline size_t it_verify(const void *p, size_t size, uint64_t seed,
                               const uint64_t *want_sum) {
  const unsigned char *b = (const unsigned char *)p;
  uint64_t sum = 0;
  size_t bad = (size_t)-1;
  IT_FOR_SAMPLES(size, off, {
    unsigned char v = b[off];
    if (v != it_pat(seed, off) && bad == (size_t)-1) bad = off;
    sum = sum * 31 + v;
  });
  if (bad == (size_t)-1 && want_sum != NULL && sum != *want_sum) bad = 0;
  return bad;
}

/* Only the sampled offsets below `limit` (used after realloc: the prefix of
 * the old block must survive). */
static inline size_t it_verify_prefix(const void *p, size_t old_size,
                                      size_t limit, uint64_t seed) {
  const unsigned char *b = (const unsigned char *)p;
  size_t bad = (size_t)-1;
  IT_FOR_SAMPLES(old_size, off, {
    if (off < limit && b[off] != it_pat(seed, off) && bad == (size_t)-1)
      bad = off;
  });
  return bad;
}

static inline int it_finish(const char *prog) {
  if (it_failures) {
    fprintf(stderr, "%s: %d check(s) failed\n", prog, it_failures);
    return 1;
  }
  return 0;
}

/* Resident 4 KiB pages of [p, p + len), from the page that holds p
 * (glibc's chunk header comes first); (size_t)-1 when mincore fails. */
static inline size_t it_resident_pages(const void *p, size_t len) {
  uintptr_t a = (uintptr_t)p & ~(uintptr_t)4095;
  len += (uintptr_t)p - a;
  size_t n = (len + 4095) / 4096, r = 0;
  unsigned char *vec = (unsigned char *)calloc(n, 1);
  if (vec == NULL || mincore((void *)a, len, vec) != 0) {
    free(vec);
    return (size_t)-1;
  }
  for (size_t i = 0; i < n; i++) r += vec[i] & 1;
  free(vec);
  return r;
}

/* THP not `never`, and the kernel knows MADV_COLLAPSE (6.1 and later):
 * madvise(25) on nothing is EINVAL where it does not. */
static inline int it_thp_collapse_usable(void) {
  char s[128] = "";
  FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");
  if (f == NULL) return 0;
  int ok = fgets(s, sizeof s, f) != NULL && strstr(s, "[never]") == NULL;
  fclose(f);
  return ok && madvise(NULL, 0, 25) == 0;
}

#ifdef __cplusplus
}
#endif

#endif
