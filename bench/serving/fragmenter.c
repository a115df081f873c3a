/* ts_fragmenter: leaves the machine's free memory fragmented, and holds it so,
 * to measure what a huge-page fault costs when no free 2 MiB block is left.
 *
 *   ts_fragmenter [--max-mib N] [--floor-mib N] [--keep N] [--refresh S]
 *                 [--small] [--once] [--verbose]
 *
 * Why: on an idle machine nearly all free memory sits in order-9/10 buddy
 * blocks, so a THP fault just takes one. On a machine that has run for a
 * while, free memory is plentiful but scattered: a THP fault then compacts
 * (direct compaction, defrag=madvise) or falls back to 4 KiB pages. This
 * program makes the second state on demand.
 *
 * How: it takes the free 2 MiB blocks, finds their physical frames in
 * /proc/self/pagemap (root sees PFNs), keeps N 4 KiB pages of each block
 * (default 1) and gives the other 511 back with MADV_DONTNEED. They return to
 * the buddy allocator as order-0..8 pieces that cannot merge to order 9
 * while the kept page pins the block: free memory is nearly what it was, but
 * no 2 MiB block is free without compaction. It holds 1/512 of what it took.
 *
 * Two ways to take the blocks:
 *  - default: fault them as transparent huge pages (MADV_HUGEPAGE), one
 *    2 MiB region per free block counted in /proc/buddyinfo, split each at
 *    once (MADV_COLD on one 4 KiB page splits a PMD-mapped THP) and sift it.
 *    Only order>=9 blocks are taken, so free memory never runs low and the
 *    page cache is left alone; a refresh costs what it takes back.
 *  - --small: grab everything as 4 KiB pages (MADV_NOHUGEPAGE before the
 *    first touch) until no order>=9 block is left or MemAvailable reaches
 *    --floor-mib, then sift. The page allocator hands out its smallest free
 *    pieces first, so this takes nearly all free memory each pass (and makes
 *    kswapd drop page cache near the floor); for kernels without THP.
 * Either way the held pages are 4 KiB pages in MADV_NOHUGEPAGE mappings
 * (khugepaged would otherwise collapse a region around a kept page).
 *
 * Compaction (kcompactd's proactive compaction, a THP fault's direct
 * compaction) migrates a kept page away and frees its block again; so does
 * an exiting process. While holding, every --refresh seconds it recounts
 * the kept pages by frame and, when free order>=9 memory has grown past
 * 64 MiB, takes the new blocks as above. With vm.compaction_proactiveness
 * above 0, kcompactd and this program take turns (bench/serving/README.md).
 *
 * Out: one line on stdout, `ready grabbed_mib= kept_mib= free_mib=
 * free_2m_before_mib= free_2m_mib= seconds=`, then it waits for SIGTERM or
 * SIGINT and exits 0. free_2m counts order>=9 blocks in all zones but DMA
 * (which user pages never get). Root only; x86-64, 4 KiB pages, 2 MiB THP.
 * It sets its own oom_score_adj to 1000: better it is killed than an engine.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define BENCH_NAME "ts_fragmenter"
#include "../bench_util.h"

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

#define PG ((size_t)4096)
#define MIB ((size_t)1 << 20)
#define BLOCK ((size_t)2 << 20) /* a PMD, pageblock_order 9 */
#define BLOCK_PAGES (BLOCK / PG)
#define CHUNK (64 * MIB)        /* one mapping, 32 blocks */
#define DONE_MIB 4L             /* "no free 2 MiB block left": at most this many */
#define REFILL_MIB 64L          /* a refresh takes blocks back past this */
#define PM_PRESENT (1ull << 63)
#define PM_PFN ((1ull << 55) - 1)

static struct {
  long max_mib, floor_mib, keep;
  double refresh;
  int small, once, verbose;
} opt = {1L << 30, 512, 1, 2.0, 0, 0, 0};

typedef struct {
  char *p;
  size_t len;
} chunk_t;

static chunk_t *chunks;        /* every mapping that holds a kept page */
static size_t nchunks, cap_chunks;
static uint16_t *kept_in;      /* kept pages per physical 2 MiB block (pfn >> 9) */
static size_t nblocks;
static long kept_pages;
static int pagemap_fd = -1;
static uint64_t zero_pfn;
static uint64_t pm[CHUNK / PG];
static volatile sig_atomic_t stop;

/* ---- what the kernel says --------------------------------------------------- */

static long meminfo_mib(const char *key) {
  FILE *f = fopen("/proc/meminfo", "r");
  char line[256];
  long v = -1;
  size_t n = strlen(key);
  while (f && fgets(line, sizeof line, f))
    if (strncmp(line, key, n) == 0 && line[n] == ':') v = strtol(line + n + 1, NULL, 10) / 1024;
  if (f) fclose(f);
  return v;
}

/* Free memory in order>=9 buddy blocks, MiB, zone DMA left out. With
   `out`, /proc/buddyinfo is copied there too. */
static long free_2m_mib(FILE *out) {
  FILE *f = fopen("/proc/buddyinfo", "r");
  char line[512], zone[32];
  long pages = 0;
  while (f && fgets(line, sizeof line, f)) {
    if (out) fputs(line, out);
    int node, used;
    if (sscanf(line, "Node %d, zone %31s%n", &node, zone, &used) != 2 || strcmp(zone, "DMA") == 0) continue;
    char *s = line + used, *end;
    for (int order = 0;; order++, s = end) {
      long c = strtol(s, &end, 10);
      if (end == s) break;
      if (order >= 9) pages += c << order;
    }
  }
  if (f) fclose(f);
  return pages * (long)PG / (long)MIB;
}

/* THP off altogether ("[never]"): only --small can work. */
static int thp_off(void) {
  FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");
  char line[128] = "";
  if (f) {
    if (!fgets(line, sizeof line, f)) line[0] = 0;
    fclose(f);
  }
  return f == NULL || strstr(line, "[never]") != NULL;
}

static void set_oom_score_adj(void) {
  int fd = open("/proc/self/oom_score_adj", O_WRONLY);
  if (fd < 0 || write(fd, "1000", 4) != 4) perror(BENCH_NAME ": oom_score_adj");
  if (fd >= 0) close(fd);
}

/* ---- taking memory ------------------------------------------------------------ */

static void add_chunk(char *p, size_t len) {
  if (nchunks == cap_chunks) {
    cap_chunks = cap_chunks ? 2 * cap_chunks : 256;
    chunks = realloc(chunks, cap_chunks * sizeof *chunks);
    if (!chunks) die("out of memory");
  }
  chunks[nchunks++] = (chunk_t){p, len};
}

/* A 2 MiB-aligned anonymous mapping of len bytes. */
static char *map_aligned(size_t len) {
  char *raw = mmap(NULL, len + BLOCK, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (raw == MAP_FAILED) return NULL;
  char *p = (char *)(((uintptr_t)raw + BLOCK - 1) & ~(uintptr_t)(BLOCK - 1));
  if (p > raw) munmap(raw, (size_t)(p - raw));
  munmap(p + len, (size_t)(raw + len + BLOCK - p - len));
  return p;
}

/* Faults every page of [p, p+len): MADV_POPULATE_WRITE (5.14+), else a
   write per page. 0, or -1 when the kernel ran out of memory. */
static int populate(char *p, size_t len) {
  if (madvise(p, len, MADV_POPULATE_WRITE) == 0) return 0;
  if (errno != EINVAL) return -1;
  for (size_t o = 0; o < len; o += PG) ((volatile char *)p)[o] = 1;
  return 0;
}

/* One mapping of len bytes, faulted as huge pages (huge) or 4 KiB pages. */
static char *grab(size_t len, int huge) {
  char *p = map_aligned(len);
  if (p == NULL) return NULL;
  madvise(p, len, huge ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
  if (populate(p, len) != 0) {
    munmap(p, len);
    return NULL;
  }
  add_chunk(p, len);
  return p;
}

/* ---- keeping one page a block ------------------------------------------------------ */

static uint16_t *block_count(uint64_t pfn) {
  size_t b = (size_t)(pfn / BLOCK_PAGES);
  if (b >= nblocks) {
    size_t n = b + 4096;
    kept_in = realloc(kept_in, n * sizeof *kept_in);
    if (!kept_in) die("out of memory");
    memset(kept_in + nblocks, 0, (n - nblocks) * sizeof *kept_in);
    nblocks = n;
  }
  return &kept_in[b];
}

static void release(char *p, size_t from, size_t to) {
  if (to > from) madvise(p + from * PG, (to - from) * PG, MADV_DONTNEED);
}

/* Keeps the first --keep present pages of each physical block met so far,
   gives the rest of [p, p+len) back. Returns the pages kept here. */
static void read_pagemap(char *p, size_t n) {
  ssize_t got = pread(pagemap_fd, pm, n * sizeof pm[0], (off_t)((uintptr_t)p / PG * sizeof pm[0]));
  if (got != (ssize_t)(n * sizeof pm[0])) die("reading /proc/self/pagemap: %s", strerror(errno));
}

/* The shared zero page's frame: a page that reads as present there is
   not memory of ours. */
static void find_zero_pfn(void) {
  volatile char *p = mmap(NULL, PG, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) die("mmap: %s", strerror(errno));
  (void)p[0];
  read_pagemap((char *)p, 1);
  zero_pfn = (pm[0] & PM_PRESENT) ? pm[0] & PM_PFN : UINT64_MAX;
  if (zero_pfn == 0) die("/proc/self/pagemap shows no frame numbers (not root?)");
  munmap((void *)p, PG);
}

static long sift(char *p, size_t len) {
  size_t n = len / PG, run = 0;
  long kept = 0;
  read_pagemap(p, n);
  for (size_t i = 0; i < n; i++) {
    if (!(pm[i] & PM_PRESENT) || (pm[i] & PM_PFN) == zero_pfn) continue;
    uint16_t *c = block_count(pm[i] & PM_PFN);
    if (*c >= opt.keep) continue;
    release(p, run, i); /* everything since the last kept page */
    run = i + 1;
    (*c)++;
    kept++;
  }
  release(p, run, n);
  return kept;
}

/* Sifts the mappings from `first` on; one left with nothing kept is unmapped. */
static void sift_from(size_t first) {
  size_t j = first;
  for (size_t i = first; i < nchunks; i++) {
    long k = sift(chunks[i].p, chunks[i].len);
    kept_pages += k;
    if (k == 0) munmap(chunks[i].p, chunks[i].len);
    else chunks[j++] = chunks[i];
  }
  nchunks = j;
}

/* Recounts the pages held from earlier passes by frame: compaction may have
   moved several into one block (those beyond --keep go) and freed the blocks
   they came from. */
static void resift_held(void) {
  if (nblocks) memset(kept_in, 0, nblocks * sizeof *kept_in);
  kept_pages = 0;
  sift_from(0);
}

/* ---- one pass ------------------------------------------------------------------ */

typedef struct {
  long grabbed_mib, before_mib, after_mib;
  double seconds;
} pass_t;

/* Also never more than the machine's memory in one pass, whatever the
   counts say. */
static int room_left(long grabbed_mib, long want_mib) {
  return !stop && grabbed_mib + want_mib <= opt.max_mib && grabbed_mib + want_mib <= meminfo_mib("MemTotal") &&
         meminfo_mib("MemAvailable") - want_mib >= opt.floor_mib;
}

/* How many 2 MiB regions of [p, p+len) are one huge page (frames aligned
   and contiguous). Such a block was wholly free: a page kept there before
   has been migrated away, so its count starts again from 0 (else the block
   would be given back whole, retaken, and so on). */
static long count_huge(char *p, size_t len) {
  long n = 0;
  read_pagemap(p, len / PG);
  for (size_t i = 0; i < len / PG; i += BLOCK_PAGES) {
    uint64_t first = pm[i] & PM_PFN, last = pm[i + BLOCK_PAGES - 1] & PM_PFN;
    if (!(pm[i] & PM_PRESENT) || first % BLOCK_PAGES != 0 || last != first + BLOCK_PAGES - 1) continue;
    *block_count(first) = 0;
    n++;
  }
  return n;
}

/* Splits each huge page of [p, p+len) into 4 KiB pages: MADV_COLD on part of
   a PMD-mapped THP splits it, so the MADV_DONTNEED that follows frees the
   pages (a merely partially mapped THP would sit whole on the deferred-split
   queue). The pages to keep are written first: a split maps the zero-filled
   ones to the shared zero page and frees them (6.12+), and would free a
   block's every page. */
static void split(char *p, size_t len) {
  for (size_t o = 0; o < len; o += BLOCK) {
    for (long k = 0; k < opt.keep; k++) p[o + (size_t)k * PG] = 1;
    madvise(p + o, PG, MADV_COLD);
  }
  madvise(p, len, MADV_NOHUGEPAGE);
}

/* Default: one mapping per 32 free blocks, each sifted as soon as it is
   split (its pieces are order 0-8: a THP fault never takes them back).
   Stops when the blocks run out or most faults of a mapping fall back. */
static long take_huge(void) {
  long grabbed = 0, left = free_2m_mib(NULL);
  while (left > DONE_MIB) {
    size_t len = (size_t)(left - DONE_MIB) * MIB & ~(BLOCK - 1);
    if (len > CHUNK) len = CHUNK;
    if (len > (size_t)(opt.max_mib - grabbed) * MIB) len = (size_t)(opt.max_mib - grabbed) * MIB & ~(BLOCK - 1);
    if (len == 0 || !room_left(grabbed, (long)(len / MIB))) break;
    char *p = grab(len, 1);
    if (p == NULL) break;
    grabbed += (long)(len / MIB);
    long huge = count_huge(p, len);
    split(p, len);
    kept_pages += sift(p, len);
    if (huge < (long)(len / BLOCK) / 2) break; /* THP faults fell back: no block left to take */
    left = free_2m_mib(NULL);
  }
  return grabbed;
}

/* --small: 4 KiB pages until no order>=9 block is left, then sift them all
   (sifting sooner would hand the pieces straight back to the next grab). */
static long take_small(void) {
  long grabbed = 0;
  size_t first = nchunks;
  while (free_2m_mib(NULL) > DONE_MIB) {
    size_t len = (size_t)(opt.max_mib - grabbed) * MIB & ~(BLOCK - 1);
    if (len > CHUNK) len = CHUNK;
    if (len == 0 || !room_left(grabbed, (long)(len / MIB)) || grab(len, 0) == NULL) break;
    grabbed += (long)(len / MIB);
  }
  sift_from(first);
  return grabbed;
}

static pass_t pass(void) {
  pass_t r;
  double t0 = now_s();
  resift_held();
  r.before_mib = free_2m_mib(NULL);
  r.grabbed_mib = opt.small ? take_small() : take_huge();
  r.after_mib = free_2m_mib(NULL);
  r.seconds = now_s() - t0;
  return r;
}

/* ---- holding ------------------------------------------------------------------- */

static void on_signal(int sig) {
  (void)sig;
  stop = 1;
}

static void catch_signals(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal; /* no SA_RESTART: a signal ends the sleep */
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
}

static void sleep_s(double s) {
  struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
  nanosleep(&ts, NULL);
}

static void hold(void) {
  while (!stop) {
    sleep_s(opt.refresh);
    if (stop || free_2m_mib(NULL) <= REFILL_MIB) continue;
    pass_t r = pass();
    if (opt.verbose)
      fprintf(stderr, "refresh grabbed_mib=%ld kept_mib=%.1f free_mib=%ld free_2m_before_mib=%ld free_2m_mib=%ld seconds=%.3f\n",
              r.grabbed_mib, (double)kept_pages * PG / MIB, meminfo_mib("MemFree"), r.before_mib, r.after_mib,
              r.seconds);
  }
}

/* ---- options ------------------------------------------------------------------- */

static void usage(FILE *out) {
  fputs("usage: ts_fragmenter [--max-mib N] [--floor-mib N] [--keep N] [--refresh S]\n"
        "                     [--small] [--once] [--verbose]\n"
        "Takes the free 2 MiB blocks, keeps N 4 KiB pages of each and frees the rest, so\n"
        "free memory stays but no 2 MiB block is free without compaction; prints a\n"
        "`ready ...` line and holds that state until SIGTERM/SIGINT. Root only.\n"
        "  --max-mib N    take at most N MiB per pass (default: no cap)\n"
        "  --floor-mib N  stop taking when MemAvailable falls to N MiB (default 512)\n"
        "  --keep N       4 KiB pages kept per 2 MiB block, 1-511 (default 1)\n"
        "  --refresh S    every S seconds take back blocks compaction freed (default 2)\n"
        "  --small        take memory as 4 KiB pages, all free memory (default: THP)\n"
        "  --once         fragment, print the ready line and /proc/buddyinfo, exit\n"
        "  --verbose      a `refresh ...` line on stderr per refresh pass\n",
        out);
}

static double num_arg(const char *name, const char *s, double lo, double hi) {
  char *end;
  double v = strtod(s, &end);
  if (end == s || *end != 0 || v < lo || v > hi) die("bad %s: '%s' (try --help)", name, s);
  return v;
}

static void parse(int argc, char **argv) {
  static const struct option lo[] = {
      {"max-mib", 1, 0, 'm'}, {"floor-mib", 1, 0, 'f'}, {"keep", 1, 0, 'k'}, {"refresh", 1, 0, 'r'},
      {"small", 0, 0, 's'},   {"once", 0, 0, 'o'},      {"verbose", 0, 0, 'v'}, {"help", 0, 0, 'h'},
      {0, 0, 0, 0}};
  int c;
  while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
    switch (c) {
    case 'm': opt.max_mib = (long)num_arg("--max-mib", optarg, 2, 1e9); break;
    case 'f': opt.floor_mib = (long)num_arg("--floor-mib", optarg, 0, 1e9); break;
    case 'k': opt.keep = (long)num_arg("--keep", optarg, 1, (double)BLOCK_PAGES - 1); break;
    case 'r': opt.refresh = num_arg("--refresh", optarg, 0.05, 1e6); break;
    case 's': opt.small = 1; break;
    case 'o': opt.once = 1; break;
    case 'v': opt.verbose = 1; break;
    case 'h': usage(stdout); exit(0);
    default: exit(2); /* getopt said why */
    }
  }
  if (optind < argc) die("unexpected argument '%s' (try --help)", argv[optind]);
}

int main(int argc, char **argv) {
  parse(argc, argv);
  if (geteuid() != 0) die("needs root (physical frames in /proc/self/pagemap)");
  if (!opt.small && thp_off()) die("transparent huge pages are off: use --small");
  pagemap_fd = open("/proc/self/pagemap", O_RDONLY);
  if (pagemap_fd < 0) die("/proc/self/pagemap: %s", strerror(errno));
  find_zero_pfn();
  set_oom_score_adj();
  catch_signals();
  pass_t r = pass();
  printf("ready grabbed_mib=%ld kept_mib=%.1f free_mib=%ld free_2m_before_mib=%ld free_2m_mib=%ld seconds=%.3f\n",
         r.grabbed_mib, (double)kept_pages * PG / MIB, meminfo_mib("MemFree"), r.before_mib, r.after_mib, r.seconds);
  if (opt.once) free_2m_mib(stdout);
  fflush(stdout);
  if (!opt.once) hold();
  return 0;
}
