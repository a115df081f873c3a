/* A program of a tiershim user, built against an installed libtiershim-dev
 * (tests/packaging/deb.sh): once with `pkg-config --cflags --libs tiershim`,
 * once with CMake's find_package(tiershim). Linked, tiershim is its
 * allocator from start-up: prints the version and the malloc count. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <tiershim.h>

int main(void) {
  void *volatile p = malloc(4096);
  free(p);
  tiershim_stats_t st;
  memset(&st, 0, sizeof st);
  st.size = sizeof st;
  if (tiershim_stats_get(&st) != 0 || st.malloc_calls == 0) {
    fprintf(stderr, "consumer: tiershim_stats_get failed\n");
    return 1;
  }
  printf("consumer: tiershim %s enabled=%d malloc_calls=%llu\n", tiershim_version(),
         tiershim_enabled(), (unsigned long long)st.malloc_calls);
  return strcmp(tiershim_version(), TS_EXPECT_VERSION) == 0 ? 0 : 1;
}
