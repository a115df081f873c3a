/* The errno contract under load: malloc and free tail-call mimalloc without
 * saving errno (shim/malloc.c), which holds only if mimalloc's OS calls,
 * made through tiershim's interposers, never write errno (the errno shield,
 * shim/mmap.c). 4 threads churn blocks of 0 B - 8 MiB, so mimalloc maps,
 * purges and unmaps segments all the time; errno is set to a sentinel
 * before every call and must survive every successful one. Then one thread
 * grows the heap by ~600 MB of small blocks, all on the fast path, so
 * mimalloc maps ~19 new 32 MiB segments; the test runs with
 * MIMALLOC_LARGE_OS_PAGES=1, so each segment mapping first tries
 * MAP_HUGETLB, which fails (no hugetlb pages reserved) before the plain
 * mapping succeeds (after a failure mimalloc skips MAP_HUGETLB for 10
 * mappings, so ~19 guarantees at least one): the failed internal call the
 * shield hides.
 * Out of memory must still give ENOMEM. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>

#define THREADS 4
#define OPS 1000000
#define SLOTS 256

static long violations;

static void *churn(void *arg) {
  uint32_t x = (uint32_t)(uintptr_t)arg * 2654435761u + 1;
  void *slot[SLOTS] = {0};
  for (int i = 0; i < OPS; i++) {
    x = x * 1103515245u + 12345u;
    int s = (int)(x % SLOTS);
    size_t size = ((x >> 8) % 7 == 0) ? (x >> 12) % (8u << 20) : (x >> 12) % 4096;
    errno = 7777;
    free(slot[s]);
    if (errno != 7777) __atomic_add_fetch(&violations, 1, __ATOMIC_RELAXED);
    errno = 7777;
    slot[s] = ((x >> 4) & 3) == 0 ? calloc(1, size) : malloc(size);
    if (slot[s] != NULL && errno != 7777) __atomic_add_fetch(&violations, 1, __ATOMIC_RELAXED);
    if (slot[s] != NULL && size > 0) ((char *)slot[s])[size - 1] = 1;
  }
  for (int s = 0; s < SLOTS; s++) {
    errno = 5;
    free(slot[s]);
    if (errno != 5) __atomic_add_fetch(&violations, 1, __ATOMIC_RELAXED);
  }
  return NULL;
}

int main(void) {
  if (dlsym(RTLD_DEFAULT, "tiershim_stats_get") == NULL) {
    fprintf(stderr, "FAIL: tiershim is not preloaded\n");
    return 1;
  }
  pthread_t t[THREADS];
  for (long i = 0; i < THREADS; i++) pthread_create(&t[i], NULL, churn, (void *)i);
  for (int i = 0; i < THREADS; i++) pthread_join(t[i], NULL);
  enum { GROW = 600000 };
  static void *grow[GROW];
  for (int i = 0; i < GROW; i++) {
    errno = 7777;
    grow[i] = malloc(1000);
    if (grow[i] == NULL || errno != 7777) violations++;
  }
  for (int i = 0; i < GROW; i++) {
    errno = 7777;
    free(grow[i]);
    if (errno != 7777) violations++;
  }
  int failures = 0;
  if (violations != 0) {
    fprintf(stderr, "FAIL: errno changed by %ld successful calls\n", violations);
    failures++;
  }
  /* Out of memory on the fast path (a small size) and the general path. */
  struct rlimit rl = {512u << 20, 512u << 20};
  setrlimit(RLIMIT_AS, &rl);
  errno = 0;
  void *big = malloc(600u << 20);
  if (big != NULL || errno != ENOMEM) {
    fprintf(stderr, "FAIL: malloc(600 MiB) under a 512 MiB limit: %p errno %d\n", big, errno);
    failures++;
  }
  void *p;
  long n = 0;
  errno = 0;
  while ((p = malloc(2000)) != NULL) n++; /* leaks until the limit: intended */
  if (errno != ENOMEM) {
    fprintf(stderr, "FAIL: small malloc at the limit: errno %d, expected ENOMEM\n", errno);
    failures++;
  }
  printf("errno_shield: %d threads x %d ops, %ld violations; OOM after %ld small blocks: %s\n",
         THREADS, OPS, violations, n, failures ? "FAILED" : "ok");
  return failures != 0;
}
