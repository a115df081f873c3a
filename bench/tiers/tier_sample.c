/* tier_sample PATTERN PID...: where the memory of running processes sits,
 * per NUMA node, from /proc/PID/numa_maps. One line per process:
 *
 *   SAMPLE pid=P file_n0=B file_n1=B anon_n0=B anon_n1=B
 *
 * file: the pages of mappings whose path contains PATTERN (the model file
 * or device with llama.cpp's mmap loading: its weights); anon: the pages
 * of anonymous mappings of at least 1 MiB of resident memory (with mmap
 * off: the weights, the KV cache and the compute buffers; small mappings
 * are left out).
 *
 * Every heap counts alike: glibc's brk heap is sampled as mimalloc's
 * arenas (tiershim's small-object heap among them) are. Leaving out only
 * the brk heap (until 2026-12-08) counted the shim's small objects, which
 * sit on the fast tier, but not glibc's: a bias towards the shim. The main
 * stack stays out (under 1 MiB, the same in every configuration).
 *
 * Why not move_pages(2) queries (nodes = NULL), which tiershim's own stats
 * use: on 6.1, do_pages_stat_array() looks pages up with follow_page()
 * without FOLL_FORCE, and gup_can_follow_protnone() then hides every page
 * whose PTE NUMA balancing has made PROT_NONE for a hinting fault: the
 * query says -ENOENT (6.1.192: mm/migrate.c:2172-2186, include/linux/mm.h:
 * 3230-3239). In tiering mode that is a large, moving share of a scanned
 * process (measured in the guest: 110 of 238 MiB seen), and none of a
 * process NUMA balancing skips, which would bias exactly the comparison
 * this measures. numa_maps walks the page tables itself and counts a
 * hinting PTE as the present page it is.
 *
 * Part of bench/tiers/luf.sh (docs/results.md, "TLB shootdowns of tiered
 * inference"). */
#define _GNU_SOURCE
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_NODES 8

typedef struct {
  uint64_t file[MAX_NODES], anon[MAX_NODES];
} sample_t;

/* Adds the N<node>=<pages> fields of one numa_maps line to bytes. Pages
 * are counted in kernelpagesize_kB units (a THP counts as its 512 base
 * pages), so the sum is in that page size. */
static uint64_t add_nodes(const char *line, uint64_t *bytes) {
  uint64_t pages[MAX_NODES] = {0}, total = 0, kb = 4;
  const char *k = strstr(line, "kernelpagesize_kB=");
  if (k) kb = strtoull(k + 18, NULL, 10);
  for (const char *p = line; (p = strstr(p, " N")) != NULL; p++) {
    char *end;
    unsigned long node = strtoul(p + 2, &end, 10);
    if (end == p + 2 || *end != '=' || node >= MAX_NODES) continue;
    pages[node] = strtoull(end + 1, NULL, 10);
    total += pages[node];
  }
  if (bytes)
    for (int n = 0; n < MAX_NODES; n++) bytes[n] += pages[n] * kb * 1024;
  return total * kb * 1024;
}

static int sample(int pid, const char *pattern, sample_t *s) {
  char path[64], line[8192];
  snprintf(path, sizeof path, "/proc/%d/numa_maps", pid);
  FILE *f = fopen(path, "r");
  if (!f) return -1;
  while (fgets(line, sizeof line, f)) {
    const char *file = strstr(line, " file=");
    if (file) {
      if (*pattern && strstr(file, pattern)) add_nodes(line, s->file);
    } else if (strstr(line, " anon=") && !strstr(line, " stack")) {
      if (add_nodes(line, NULL) >= (1u << 20)) add_nodes(line, s->anon);
    }
  }
  fclose(f);
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: tier_sample PATTERN PID...\n");
    return 2;
  }
  for (int i = 2; i < argc; i++) {
    sample_t s = {0};
    int pid = atoi(argv[i]);
    if (sample(pid, argv[1], &s) != 0) continue; /* it exited */
    printf("SAMPLE pid=%d", pid);
    for (int n = 0; n < 2; n++) printf(" file_n%d=%" PRIu64 " anon_n%d=%" PRIu64, n, s.file[n], n, s.anon[n]);
    printf("\n");
  }
  return 0;
}
