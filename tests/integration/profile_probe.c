/* profile_probe: allocations from known callsites, for profile.sh and the
 * guest's rules.sh. Linked with -rdynamic so dladdr names its functions.
 *   alloc_weights   4 x 8 MiB, kept to the end (like model weights)
 *   alloc_kv        16 x 1 MiB from a second thread, kept (like a KV cache)
 *   alloc_scratch   1,000 x 300 KiB, each freed at once (activations)
 *   alloc_small     100,000 x 64 B, freed at the end (metadata)
 * Every block is written. With --stats FILE, tiershim's JSON stats (found
 * with dlsym) are written to FILE before anything is freed, so live bytes
 * and residency show. Prints "ok". */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NOINLINE __attribute__((noinline, visibility("default")))

static void *weights[4], *kv[16], *small[100000];

NOINLINE void alloc_weights(void) {
  for (int i = 0; i < 4; i++) {
    weights[i] = malloc((size_t)8 << 20);
    memset(weights[i], 1, (size_t)8 << 20);
  }
}

NOINLINE void *alloc_kv(void *arg) {
  for (int i = 0; i < 16; i++) {
    kv[i] = malloc((size_t)1 << 20);
    memset(kv[i], 2, (size_t)1 << 20);
  }
  return arg;
}

NOINLINE void alloc_scratch(void) {
  for (int i = 0; i < 1000; i++) {
    char *p = malloc((size_t)300 << 10);
    p[0] = p[((size_t)300 << 10) - 1] = 3;
    free(p);
  }
}

NOINLINE void alloc_small(void) {
  for (int i = 0; i < 100000; i++) {
    small[i] = malloc(64);
    memset(small[i], 4, 64);
  }
}

int main(int argc, char **argv) {
  alloc_weights();
  pthread_t t;
  if (pthread_create(&t, NULL, alloc_kv, NULL) != 0) return 1;
  pthread_join(t, NULL);
  alloc_scratch();
  alloc_small();
  if (argc > 2 && strcmp(argv[1], "--stats") == 0) {
    size_t (*stats_json)(char *, size_t) = (size_t(*)(char *, size_t))dlsym(RTLD_DEFAULT, "tiershim_stats_json");
    static char buf[1 << 16];
    FILE *f = fopen(argv[2], "w");
    if (stats_json == NULL || f == NULL) return 1;
    size_t n = stats_json(buf, sizeof buf);
    fwrite(buf, 1, n < sizeof buf ? n : sizeof buf - 1, f);
    fclose(f);
  }
  for (int i = 0; i < 100000; i++) free(small[i]);
  for (int i = 0; i < 16; i++) free(kv[i]);
  for (int i = 0; i < 4; i++) free(weights[i]);
  puts("ok");
  return 0;
}
