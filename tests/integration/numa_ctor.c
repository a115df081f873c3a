/* numa_ctor: libnuma's constructor (numa_init) allocates with malloc before
 * main; main then uses libnuma and the allocator. Run by numa_ctor.sh with
 * TIERSHIM_STATS=1. */
#define _GNU_SOURCE
#include <numa.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "it_common.h"

int main(void) {
  it_stats_get_fn get = it_require_shim("numa_ctor");
  tiershim_stats_t s0 = it_stats(get);
  int avail = numa_available();
  if (avail < 0) {
    printf("numa_ctor: numa_available() = %d (no NUMA support in this kernel); "
           "libnuma constructor ran, skipping numa_alloc checks\n", avail);
  } else {
    int maxnode = numa_max_node();
    IT_CHECK(maxnode >= 0, "numa_max_node(): expected >= 0 got %d", maxnode);
    struct bitmask *bm = numa_allocate_nodemask(); /* malloc inside libnuma */
    IT_CHECK(bm != NULL, "numa_allocate_nodemask(): expected non-NULL");
    if (bm) numa_free_nodemask(bm);
    for (int i = 0; i < 20; i++) {
      unsigned char *p = numa_alloc_local(1 << 20);
      IT_CHECK(p != NULL, "numa_alloc_local(1 MiB): expected non-NULL got NULL");
      if (!p) break;
      for (size_t o = 0; o < (1u << 20); o += 4096) p[o] = (unsigned char)o;
      for (size_t o = 0; o < (1u << 20); o += 4096)
        if (p[o] != (unsigned char)o) {
          IT_FAIL("numa_alloc_local block: expected written value at %zu", o);
          break;
        }
      numa_free(p, 1 << 20);
    }
    printf("numa_ctor: numa_available()=%d numa_max_node()=%d\n", avail, maxnode);
  }
  for (int i = 0; i < 1000; i++) {
    size_t n = (i % 100 == 0) ? (size_t)(2 << 20) : (size_t)i * 17 + 1;
    unsigned char *p = malloc(n);
    if (!p) IT_DIE("malloc(%zu) returned NULL", n);
    p[0] = 1;
    p[n - 1] = 2;
    free(p);
  }
  tiershim_stats_t s1 = it_stats(get);
  IT_CHECK(s1.malloc_calls - s0.malloc_calls >= 1000,
           "malloc_calls: expected rise >= 1000 got %llu",
           (unsigned long long)(s1.malloc_calls - s0.malloc_calls));
  IT_CHECK(s0.malloc_calls > 0,
           "malloc_calls at start of main: expected > 0 (libnuma's constructor allocated) got 0");
  return it_finish("numa_ctor");
}
