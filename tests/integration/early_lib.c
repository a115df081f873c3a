/* early_lib: a DT_NEEDED library of early_main whose constructor allocates
 * through every family before main() runs, i.e. before or while tiershim
 * initialises. The blocks are kept for main() to verify and free. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define EARLY_N 6

static void *blocks[EARLY_N];
static size_t sizes[EARLY_N];
static int status; /* 0 ok, else the step that failed */

static void fill(unsigned char *p, size_t n, unsigned tag) {
  for (size_t i = 0; i < n; i++) p[i] = (unsigned char)(i * 13 + tag);
}

/* priority 101: the earliest a user constructor can ask for */
__attribute__((constructor(101))) static void early_ctor(void) {
  /* a malloc/free pair first */
  void *t = malloc(40);
  if (t == NULL) { status = 1; return; }
  memset(t, 1, 40);
  free(t);

  sizes[0] = 100;
  blocks[0] = malloc(sizes[0]);
  if (!blocks[0]) { status = 2; return; }
  fill(blocks[0], sizes[0], 0);

  sizes[1] = 5000;
  blocks[1] = calloc(1, sizes[1]);
  if (!blocks[1]) { status = 3; return; }
  for (size_t i = 0; i < sizes[1]; i++)
    if (((unsigned char *)blocks[1])[i]) { status = 4; return; }
  fill(blocks[1], sizes[1], 1);

  /* realloc chain: small -> large -> medium */
  unsigned char *r = realloc(NULL, 32);
  if (!r) { status = 5; return; }
  fill(r, 32, 2);
  r = realloc(r, 1 << 20);
  if (!r) { status = 6; return; }
  for (size_t i = 0; i < 32; i++)
    if (r[i] != (unsigned char)(i * 13 + 2)) { status = 7; return; }
  r = realloc(r, 70000);
  if (!r) { status = 8; return; }
  sizes[2] = 70000;
  blocks[2] = r;
  fill(blocks[2], sizes[2], 2);

  void *a = NULL;
  if (posix_memalign(&a, 4096, 10000) != 0 || ((uintptr_t)a & 4095)) { status = 9; return; }
  sizes[3] = 10000;
  blocks[3] = a;
  fill(blocks[3], sizes[3], 3);

  sizes[4] = 512 << 10; /* a large-path block */
  blocks[4] = malloc(sizes[4]);
  if (!blocks[4]) { status = 10; return; }
  fill(blocks[4], sizes[4], 4);

  sizes[5] = 1;
  blocks[5] = strdup("");
  if (!blocks[5]) { status = 11; return; }
}

int early_lib_status(void) { return status; }

/* Verifies the kept blocks; returns the index of a bad one or -1. */
int early_lib_verify(void) {
  for (int k = 0; k < EARLY_N - 1; k++)
    for (size_t i = 0; i < sizes[k]; i++)
      if (((unsigned char *)blocks[k])[i] != (unsigned char)(i * 13 + (unsigned)k)) return k;
  if (((char *)blocks[5])[0] != '\0') return 5;
  return -1;
}

void *early_lib_block(int k, size_t *size) {
  *size = sizes[k];
  return blocks[k];
}
int early_lib_count(void) { return EARLY_N; }
