/* thp_probe: a large uninitialised block the program uses only at the
 * start of its slices costs the pages it touches, not a huge page each
 * (policy/thp_probe.c), once the program has shown it allocates blocks it
 * does not fill at once; and blocks it fills are counted dense.
 *
 * A multi-threaded program (an idle thread: the collapse thread may run):
 *   1. `w`, 16 MiB, written whole (an engine's weights): dense;
 *   2. `kv`, 32 MiB, left untouched while the next block is asked for
 *      (llama.cpp's KV cache, then its compute buffer): sparse evidence;
 *   3. `buf`, 32 MiB, is therefore a probe: it gets 4 pages written at the
 *      start of each 2 MiB, as a KV cache fills each layer's slice from its
 *      start. At most 4x the touched pages may be resident (a huge page per
 *      touched 2 MiB would make all 8,192 resident), and the data is intact;
 *   4. seven 16 MiB blocks, each written whole and freed: dense.
 * thp_probe.sh checks the stats: block_probes_dense 8 (w and the seven),
 * block_probes_sparse 2 (kv untouched, buf sparse). Exit 77 when THP is off
 * or the kernel has no MADV_COLLAPSE (before 6.1), 1 on a failure. */
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
  char *w = malloc(16 * MIB), *kv, *buf;
  if (w == NULL) return 1;
  memset(w, 7, 16 * MIB);
  if ((kv = malloc(KV_LEN)) == NULL || (buf = malloc(KV_LEN)) == NULL) return 1;
  size_t touched = 0;
  for (size_t s = 0; s < KV_LEN; s += PMD)
    for (size_t i = 0; i < TOUCH; i++, touched++) buf[s + i * 4096] = (char)(s / PMD + i + 1);
  size_t res = it_resident_pages(buf, KV_LEN);
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
      if (buf[s + i * 4096] != (char)(s / PMD + i + 1)) {
        printf("FAIL: the sparse block's byte at %zu changed\n", s + i * 4096);
        fail = 1;
      }
  free(buf);
  free(kv);
  free(w);
  printf("thp_probe: %zu of %zu pages resident in the sparsely used block, %zu touched\n", res,
         KV_LEN / 4096, touched);
  return fail;
}
