/* dlopen_loop: dlopen/dlsym/call/dlclose a plugin that allocates in its
 * constructor, in a function and in its destructor, ITER times (default
 * 1000). Blocks the plugin returned are freed by the host after dlclose.
 *
 *   dlopen_loop PLUGIN.so [ITER]
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "it_common.h"

static int dtor_runs, dtor_bad;

/* called by the plugin's destructor */
void host_plugin_destructor_ran(int ok);
void host_plugin_destructor_ran(int ok) {
  dtor_runs++;
  if (!ok) dtor_bad++;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s PLUGIN.so [ITER]\n", argv[0]);
    return 2;
  }
  int iter = argc > 2 ? atoi(argv[2]) : 1000;
  it_stats_get_fn get = it_require_shim("dlopen_loop");
  tiershim_stats_t s0 = it_stats(get);

  void *prev = NULL; /* block from the previous iteration, freed one dlclose later */
  size_t prev_n = 0;
  unsigned prev_tag = 0;
  for (int i = 0; i < iter; i++) {
    void *h = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (h == NULL) IT_DIE("dlopen(%s) #%d: expected handle got NULL: %s", argv[1], i, dlerror());
    int (*ctor_ok)(void) = (int (*)(void))dlsym(h, "plugin_ctor_ok");
    void *(*work)(size_t, unsigned) = (void *(*)(size_t, unsigned))dlsym(h, "plugin_work");
    if (ctor_ok == NULL || work == NULL) IT_DIE("dlsym #%d: %s", i, dlerror());
    IT_CHECK(ctor_ok(), "iteration %d: plugin constructor allocations: expected non-NULL", i);
    size_t n = (i % 10 == 0) ? (size_t)(300 << 10) : 100 + (size_t)i;
    unsigned tag = (unsigned)i;
    unsigned char *r = work(n, tag);
    if (r == NULL) IT_DIE("plugin_work(%zu) #%d returned NULL", n, i);
    int before = dtor_runs;
    if (dlclose(h) != 0) IT_DIE("dlclose #%d: %s", i, dlerror());
    IT_CHECK(dtor_runs == before + 1,
             "iteration %d: plugin destructor: expected to run at dlclose got %d runs",
             i, dtor_runs - before);
    /* the block outlives the code that allocated it */
    for (size_t k = 0; k < n; k++)
      if (r[k] != (unsigned char)(k * 7 + tag)) {
        IT_FAIL("iteration %d: block from plugin after dlclose: expected pattern got "
                "mismatch at offset %zu", i, k);
        break;
      }
    if (prev) {
      unsigned char *pp = prev;
      for (size_t k = 0; k < prev_n; k++)
        if (pp[k] != (unsigned char)(k * 7 + prev_tag)) {
          IT_FAIL("iteration %d: previous plugin block: expected pattern got mismatch at %zu",
                  i, k);
          break;
        }
      free(prev);
    }
    prev = r;
    prev_n = n;
    prev_tag = tag;
  }
  free(prev);
  tiershim_stats_t s1 = it_stats(get);
  IT_CHECK(dtor_runs == iter, "plugin destructor runs: expected %d got %d", iter, dtor_runs);
  IT_CHECK(dtor_bad == 0, "plugin destructor: constructor block corrupted in %d runs", dtor_bad);
  /* per iteration: 9 in the constructor, 17 in plugin_work, + dlopen's own */
  uint64_t want = (uint64_t)iter * 26;
  IT_CHECK(s1.malloc_calls - s0.malloc_calls >= want,
           "malloc_calls over %d iterations: expected rise >= %llu got %llu", iter,
           (unsigned long long)want, (unsigned long long)(s1.malloc_calls - s0.malloc_calls));
  IT_CHECK(s1.free_calls - s0.free_calls >= want,
           "free_calls over %d iterations: expected rise >= %llu got %llu", iter,
           (unsigned long long)want, (unsigned long long)(s1.free_calls - s0.free_calls));
  printf("dlopen_loop: %d iterations, %d destructor runs\n", iter, dtor_runs);
  return it_finish("dlopen_loop");
}
