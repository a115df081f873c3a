/* unmap_probe MODE: allocation patterns for unmap.sh.
 *   churn  frees and reallocates 256 KiB - 4 MiB buffers (2,000 frees) with a
 *          ring of 8 live ones, checking their contents;
 *   decay  frees 64 MiB in 1 MiB buffers, then twice waits 300 ms and
 *          allocates and frees one buffer (the placement engine notes
 *          retention on every call: those end the decay windows; memory
 *          freed during a window goes at the end of the next).
 * Prints "ok" on success. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int churn(void) {
  enum { LIVE = 8 };
  unsigned char *ring[LIVE] = {0};
  size_t len[LIVE] = {0};
  uint32_t seed = 12345;
  for (int i = 0; i < 2000; i++) {
    int k = i % LIVE;
    if (ring[k]) {
      if (ring[k][0] != (unsigned char)k || ring[k][len[k] - 1] != (unsigned char)~k) {
        fprintf(stderr, "corrupt buffer at %d\n", i);
        return 1;
      }
      free(ring[k]);
    }
    seed = seed * 1103515245u + 12345u;
    len[k] = ((size_t)256 << 10) + (seed >> 8) % ((size_t)4 << 20);
    ring[k] = malloc(len[k]);
    if (!ring[k]) return 1;
    memset(ring[k], 0x5a, len[k]);
    ring[k][0] = (unsigned char)k;
    ring[k][len[k] - 1] = (unsigned char)~k;
  }
  for (int k = 0; k < LIVE; k++) free(ring[k]);
  return 0;
}

static int decay(void) {
  enum { N = 64 };
  void *p[N];
  for (int i = 0; i < N; i++) {
    if (!(p[i] = malloc(1 << 20))) return 1;
    memset(p[i], 1, 1 << 20);
  }
  for (int i = 0; i < N; i++) free(p[i]);
  for (int round = 0; round < 2; round++) {
    struct timespec ts = {0, 300 * 1000 * 1000};
    nanosleep(&ts, NULL);
    void *q = malloc((size_t)300 << 10);
    if (!q) return 1;
    free(q);
  }
  return 0;
}

int main(int argc, char **argv) {
  const char *mode = argc > 1 ? argv[1] : "churn";
  int rc = !strcmp(mode, "decay") ? decay() : churn();
  if (rc == 0) puts("ok");
  return rc;
}
