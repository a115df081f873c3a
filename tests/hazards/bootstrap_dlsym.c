/* The dlsym -> malloc hazard during initialisation.
 *
 * Run under the test build of the shim, whose symbol table holds a symbol
 * that exists nowhere. While tiershim initialises, dlsym fails and glibc
 * mallocs its error record: those allocations must come from the bootstrap
 * arena (tiershim is not ready). This program then reads that record with
 * dlerror() and makes the next dl* call, which frees it through free():
 * freeing a bootstrap pointer must be safe. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tiershim.h"

static int failures;

#define CHECK(cond, ...)                         \
  do {                                           \
    if (!(cond)) {                               \
      fprintf(stderr, "FAIL: " __VA_ARGS__);     \
      fprintf(stderr, "\n");                     \
      failures++;                                \
    }                                            \
  } while (0)

static tiershim_stats_t stats(void) {
  int (*get)(tiershim_stats_t *) = (int (*)(tiershim_stats_t *))dlsym(RTLD_DEFAULT, "tiershim_stats_get");
  tiershim_stats_t s = {.size = sizeof s};
  if (get == NULL) {
    fprintf(stderr, "FAIL: tiershim is not preloaded\n");
    exit(1);
  }
  get(&s);
  return s;
}

int main(void) {
  /* The record of tiershim's failed lookup is still pending: read it. */
  const char *err = dlerror();
  CHECK(err != NULL && strstr(err, "tiershim_test_missing_symbol") != NULL,
        "dlerror should report the init-time lookup, got '%s'", err ? err : "(null)");
  tiershim_stats_t s = stats();
  CHECK(s.bootstrap_allocs >= 1, "bootstrap_allocs = %llu, expected >= 1",
        (unsigned long long)s.bootstrap_allocs);

  /* The next failing dl* call frees the old record (a bootstrap pointer)
   * and mallocs a new one (from the heap now). Repeat to churn both. */
  for (int i = 0; i < 1000; i++) {
    CHECK(dlsym(RTLD_DEFAULT, "no_such_symbol_either") == NULL, "lookup must fail");
    const char *e = dlerror();
    CHECK(e != NULL && strstr(e, "no_such_symbol_either") != NULL, "dlerror: %s", e ? e : "(null)");
  }
  /* The heap keeps working after the bootstrap blocks went back. */
  for (int i = 0; i < 10000; i++) {
    char *p = malloc((size_t)(i % 512) + 1);
    CHECK(p != NULL, "malloc");
    p[0] = 1;
    free(p);
  }
  tiershim_stats_t t = stats();
  CHECK(t.bootstrap_allocs == s.bootstrap_allocs, "no bootstrap use after init (%llu -> %llu)",
        (unsigned long long)s.bootstrap_allocs, (unsigned long long)t.bootstrap_allocs);
  printf("bootstrap_dlsym: bootstrap_allocs=%llu, %s\n", (unsigned long long)t.bootstrap_allocs,
         failures ? "FAILED" : "ok");
  return failures != 0;
}
