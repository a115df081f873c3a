/* gentext: deterministic text for the matrix's sort, grep and xz runs.
 *
 *   gentext BYTES [SEED] > FILE
 *
 * Lines of 3-15 words drawn from a vocabulary of 8192 generated words with
 * a skewed (roughly Zipf) distribution, then a number: text that sorts,
 * greps and compresses like prose or logs rather than like noise. The same
 * arguments give the same bytes on every machine (own PRNG, no libc rand).
 * Runs without the shim (the matrix generates inputs before its runs).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NWORDS 8192

static uint64_t st = 88172645463325252ULL;
static uint64_t rnd(void) {
  st ^= st << 13;
  st ^= st >> 7;
  st ^= st << 17;
  return st;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: gentext BYTES [SEED]\n");
    return 2;
  }
  unsigned long long want = strtoull(argv[1], NULL, 10);
  if (argc > 2) st ^= strtoull(argv[2], NULL, 10) * 0x9E3779B97F4A7C15ULL;
  if (st == 0) st = 1;
  static char words[NWORDS][16];
  static const char cons[] = "bcdfghjklmnprstvwz", vow[] = "aeiouy";
  for (int i = 0; i < NWORDS; i++) {
    int syl = 1 + (int)(rnd() % 4), k = 0;
    for (int s = 0; s < syl && k < 13; s++) {
      words[i][k++] = cons[rnd() % (sizeof cons - 1)];
      words[i][k++] = vow[rnd() % (sizeof vow - 1)];
      if (rnd() % 3 == 0) words[i][k++] = cons[rnd() % (sizeof cons - 1)];
    }
    words[i][k] = 0;
  }
  static char buf[1 << 16];
  size_t used = 0;
  unsigned long long out = 0;
  while (out < want) {
    char line[512];
    int len = 0, n = 3 + (int)(rnd() % 13);
    for (int w = 0; w < n; w++) {
      /* skewed: the minimum of two or three uniform draws favours low ranks */
      uint64_t a = rnd() % NWORDS, b = rnd() % NWORDS, c = rnd() % NWORDS;
      uint64_t idx = a < b ? a : b;
      if (w & 1) idx = idx < c ? idx : c;
      len += snprintf(line + len, sizeof line - (size_t)len, "%s%s", w ? " " : "", words[idx]);
    }
    len += snprintf(line + len, sizeof line - (size_t)len, " %u\n", (unsigned)(rnd() % 1000000));
    if (used + (size_t)len > sizeof buf) {
      fwrite(buf, 1, used, stdout);
      used = 0;
    }
    memcpy(buf + used, line, (size_t)len);
    used += (size_t)len;
    out += (unsigned long long)len;
  }
  fwrite(buf, 1, used, stdout);
  return ferror(stdout) ? 1 : 0;
}
