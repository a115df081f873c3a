/* thp_probe: a large uninitialised block the program uses only at the
 * start of its slices costs the pages it touches, not a huge page each
 * (policy/thp_probe.c), and blocks the program fills teach tiershim to
 * fault huge pages again.
 *
 * A multi-threaded program (an idle thread: the collapse thread may run):
 *   1. `kv`, 32 MiB from malloc, gets 4 pages written at the start of each
 *      2 MiB, as llama.cpp's KV cache fills each layer's slice from its
 *      start: at most 4x the touched pages may be resident (a huge page
 *      per touched 2 MiB would make all 8,192 resident), and the data is
 *      intact;
 *   2. seven 16 MiB blocks, each written whole and freed: the first four
 *      are probes found dense, then one in 32 is still probed (the fifth).
 *   3. kv is freed, found sparse.
 * thp_probe.sh checks 2 and 3 in the stats: block_probes_dense 5,
 * block_probes_sparse 1. Exit 77 when THP is off or the kernel has no
 * MADV_COLLAPSE (before 6.1), 1 on a failure. */
#include "it_common.h"

#include <pthread.h>
#include <stdbool.h>

#define MIB ((size_t)1 << 20)
#define PMD (2 * MIB)
#define KV_LEN (32 * MIB)
#define TOUCH 4 /* pages written at the start of each 2 MiB */

static void *idle_thread(void *arg) {
  (void)arg;
  for (;;) pause();
  return NULL;
}

int main(void) {
  if (!it_thp_collapse_usable()) {
    printf("thp_probe: skip: THP off or no MADV_COLLAPSE\n");
    return 77;
  }
  pthread_t t;
  if (pthread_create(&t, NULL, idle_thread, NULL) != 0) return 1;
  char *kv = malloc(KV_LEN);
  if (kv == NULL) return 1;
  size_t touched = 0;
  for (size_t s = 0; s < KV_LEN; s += PMD)
    for (size_t i = 0; i < TOUCH; i++, touched++) kv[s + i * 4096] = (char)(s / PMD + i + 1);
  size_t res = it_resident_pages(kv, KV_LEN);
  int fail = 0;
  if (res > 4 * touched) {
    printf("FAIL: %zu pages of the sparsely used block are resident, %zu touched (limit 4x)\n", res, touched);
    fail = 1;
  }
  for (int b = 0; b < 7; b++) {
    char *d = malloc(16 * MIB);
    if (d == NULL) return 1;
    memset(d, b + 1, 16 * MIB);
    if (d[16 * MIB - 1] != b + 1) fail = 1;
    free(d);
  }
  for (size_t s = 0; s < KV_LEN; s += PMD)
    for (size_t i = 0; i < TOUCH; i++)
      if (kv[s + i * 4096] != (char)(s / PMD + i + 1)) {
        printf("FAIL: the sparse block's byte at %zu changed\n", s + i * 4096);
        fail = 1;
      }
  free(kv);
  printf("thp_probe: %zu of %zu pages resident in the sparsely used block, %zu touched\n", res,
         KV_LEN / 4096, touched);
  return fail;
}
