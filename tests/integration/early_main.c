/* early_main: checks the blocks early_lib's constructor allocated before
 * main() are still valid, can be realloc'd and freed.
 * Built twice: early_main (library constructor only) and early_main_preinit
 * (-DWITH_PREINIT: the executable's .preinit_array also allocates, which
 * runs before every shared library constructor, tiershim's included). */
#define _GNU_SOURCE
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "it_common.h"

int early_lib_status(void);
int early_lib_verify(void);
void *early_lib_block(int k, size_t *size);
int early_lib_count(void);

#ifdef WITH_PREINIT
static void *pre_blocks[4];
static int pre_status;
static void preinit(int argc, char **argv, char **envp) {
  (void)argc; (void)argv; (void)envp;
  void *t = malloc(10);
  if (!t) { pre_status = 1; return; }
  free(t);
  pre_blocks[0] = malloc(200);
  pre_blocks[1] = calloc(10, 100);
  pre_blocks[2] = realloc(NULL, 3000);
  if (!pre_blocks[0] || !pre_blocks[1] || !pre_blocks[2]) { pre_status = 2; return; }
  if (posix_memalign(&pre_blocks[3], 256, 777)) { pre_status = 3; return; }
  memset(pre_blocks[0], 0x11, 200);
  for (int i = 0; i < 1000; i++)
    if (((unsigned char *)pre_blocks[1])[i]) { pre_status = 4; return; }
  memset(pre_blocks[1], 0x22, 1000);
  memset(pre_blocks[2], 0x33, 3000);
  memset(pre_blocks[3], 0x44, 777);
}
__attribute__((section(".preinit_array"), used)) static void (*preinit_p)(int, char **,
                                                                            char **) = preinit;
#endif

int main(void) {
  it_stats_get_fn get = it_require_shim("early_main");
  tiershim_stats_t s = it_stats(get);
  IT_CHECK(early_lib_status() == 0,
           "early_lib constructor: expected every allocation to succeed got failure at "
           "step %d", early_lib_status());
  if (early_lib_status() != 0) return it_finish("early_main");
  int bad = early_lib_verify();
  IT_CHECK(bad < 0, "block %d allocated in early_lib's constructor: expected contents "
           "intact in main got corrupted", bad);
  for (int k = 0; k < early_lib_count(); k++) {
    size_t n;
    unsigned char *p = early_lib_block(k, &n);
    IT_CHECK(malloc_usable_size(p) >= n,
             "malloc_usable_size(early block %d of %zu): expected >= %zu got %zu", k, n, n,
             malloc_usable_size(p));
    /* realloc it in main (moves between allocator states), then free */
    unsigned char *q = realloc(p, n + 100000);
    IT_CHECK(q != NULL, "realloc(early block %d): expected non-NULL got NULL", k);
    if (q && n > 1)
      for (size_t i = 0; i < n; i++)
        if (q[i] != (unsigned char)(i * 13 + (unsigned)k)) {
          IT_FAIL("realloc(early block %d): expected contents kept got mismatch at %zu", k, i);
          break;
        }
    free(q ? q : p);
  }
#ifdef WITH_PREINIT
  IT_CHECK(pre_status == 0, ".preinit_array allocations: expected success got failure at step %d",
           pre_status);
  if (pre_status == 0) {
    static const size_t n[4] = {200, 1000, 3000, 777};
    static const unsigned char v[4] = {0x11, 0x22, 0x33, 0x44};
    for (int k = 0; k < 4; k++) {
      for (size_t i = 0; i < n[k]; i++)
        if (((unsigned char *)pre_blocks[k])[i] != v[k]) {
          IT_FAIL(".preinit_array block %d: expected 0x%02x got 0x%02x at %zu", k, v[k],
                  ((unsigned char *)pre_blocks[k])[i], i);
          break;
        }
      IT_CHECK(malloc_usable_size(pre_blocks[k]) >= n[k],
               "malloc_usable_size(.preinit_array block %d): expected >= %zu got %zu", k, n[k],
               malloc_usable_size(pre_blocks[k]));
      free(pre_blocks[k]);
    }
    IT_CHECK(((uintptr_t)pre_blocks[3] & 255) == 0, "preinit posix_memalign(256): not aligned");
  }
#endif
  /* the allocator still works normally afterwards */
  for (int i = 0; i < 1000; i++) {
    void *p = malloc((size_t)i * 37 + 1);
    if (!p) IT_DIE("malloc after early checks returned NULL");
    free(p);
  }
  printf("early_main: %s, bootstrap_allocs=%llu\n", it_failures ? "FAIL" : "ok",
         (unsigned long long)s.bootstrap_allocs);
  return it_finish("early_main");
}
