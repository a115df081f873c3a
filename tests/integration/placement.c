/* The placement engine on an inference-like pattern: waves of 0.5-2.7 MiB
 * buffers (2 MiB multiples alternating with odd sizes), half through
 * malloc, half through mmap, every page touched, half freed per wave.
 * With --shapes instead: buffers that grow from one request to the next
 * (ONNX Runtime's activations when shapes change), each freed before the
 * next, with a live block pinned between them so that freed ranges never
 * coalesce into one that fits: retention must not keep them all.
 * Prints the figures the placement.sh wrapper asserts on, from /proc and
 * (under the shim) from tiershim's own JSON stats. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>

#define LIVE 96
#define WAVES 6

static size_t pick(uint64_t *x) {
  static const size_t sizes[] = {512u << 10, 1536u << 10, 2u << 20, 2560u << 10, 4u << 20, 4632u << 10};
  *x = *x * 6364136223846793005ull + 1442695040888963407ull;
  return sizes[(*x >> 33) % 6] + ((*x >> 40) % 3) * 4096;
}

static uint64_t kb_field(const char *text, const char *key) {
  const char *p = strstr(text, key);
  return p ? strtoull(p + strlen(key), NULL, 10) * 1024 : 0;
}

static int shapes(void) {
  for (size_t i = 0; i < 5; i++) {
    /* The pin is larger than every freed range, so it lands above the
     * buffer, never in an old hole; never touched, it costs no memory. */
    size_t len = ((24 + 8 * i) << 20) + 4096;
    char *p = malloc(len), *pin = malloc((64 << 20) + 4096);
    if (p == NULL || pin == NULL) return 1;
    memset(p, (int)i + 1, len);
    __asm__ volatile("" ::"r"(p), "r"(pin) : "memory"); /* the stores are not dead */
    free(p);
  }
  return 0;
}

static int waves(void) {
  struct { void *p; size_t len; int mapped; } b[LIVE] = {{0}};
  uint64_t x = 42;
  for (int w = 0; w < WAVES; w++) {
    for (int i = 0; i < LIVE; i++) {
      if (b[i].p && (i + w) % 2 == 0) { /* free half of the live set */
        if (b[i].mapped) munmap(b[i].p, b[i].len);
        else free(b[i].p);
        b[i].p = NULL;
      }
      if (b[i].p == NULL) {
        b[i].len = pick(&x);
        b[i].mapped = i % 2;
        b[i].p = b[i].mapped ? mmap(NULL, b[i].len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
                             : malloc(b[i].len);
        if (b[i].p == NULL || b[i].p == MAP_FAILED) return 1;
        memset(b[i].p, w + 1, b[i].len);
      }
    }
  }
  size_t live = 0;
  for (int i = 0; i < LIVE; i++) live += b[i].len;
  printf("live_bytes=%zu ", live);
  return 0;
}

int main(int argc, char **argv) {
  int shaped = argc > 1 && strcmp(argv[1], "--shapes") == 0;
  if (shaped ? shapes() : waves()) return 1;
  static char text[4096];
  FILE *f = fopen("/proc/self/smaps_rollup", "r");
  size_t n = f ? fread(text, 1, sizeof text - 1, f) : 0;
  if (f) fclose(f);
  text[n] = '\0';
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  uint64_t anon = kb_field(text, "Anonymous:"), huge = kb_field(text, "AnonHugePages:");
  printf("anon_bytes=%llu huge_bytes=%llu coverage=%.4f minor_faults=%ld\n",
         (unsigned long long)anon, (unsigned long long)huge, anon ? (double)huge / (double)anon : 0.0,
         ru.ru_minflt);
  size_t (*json)(char *, size_t) = (size_t(*)(char *, size_t))dlsym(RTLD_DEFAULT, "tiershim_stats_json");
  if (json) {
    static char doc[8192];
    json(doc, sizeof doc);
    const char *keys[] = {"vma_count_regions", "region_rss_bytes", "region_huge_bytes",
                          "retained_bytes", "released_bytes", "release_calls", "placed_mmaps", "reused",
                          "heap_thp_bytes"};
    for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
      char pat[64];
      snprintf(pat, sizeof pat, "\"%s\": ", keys[k]);
      const char *p = strstr(doc, pat);
      printf("%s=%llu\n", keys[k], p ? strtoull(p + strlen(pat), NULL, 10) : 0ull);
    }
  }
  return 0;
}
