/* tier_probe: where does memory land? Run in the two-tier guest (node 0:
 * DRAM with the CPUs, node 1: CPU-less slow tier), usually under the shim;
 * guest/tiers.sh drives it. Pages are located with a move_pages query, page
 * tables read from nodeN/meminfo. Each mode prints `key=value` figures and
 * one PASS/FAIL line per expectation; the exit status is 1 on any FAIL.
 *
 *   hot [hostile] [expect=0|1]   small objects, a thread's stack and the
 *        shim's hot mappings (numa_maps) are on node `expect` (0). hostile:
 *        the program first sets its own task policy to prefer node 1, so
 *        only a VMA policy keeps them on node 0.
 *   pagetables MiB [self-slow]   touch MiB of bulk memory with 4 KiB pages;
 *        the page tables grow on node 0, the data on node 1 (bulk=slow).
 *        self-slow: the program prefers node 1 itself (the control: page
 *        tables follow it there).
 *   split MiB A:B                bulk pieces land on nodes 0:1 in ratio A:B
 *   spill MiB                    allocating more than node 0 holds works
 *        and spills to node 1
 *   workload                     a deterministic computation over large
 *        and small allocations; prints its digest
 *   coldfill DEV MiB             writes a pattern to the first MiB of DEV
 *        and drops its page cache
 *   coldread DEV MiB read|pread|fread NODE   reads them into one malloc'd
 *        (placed) buffer with that call, checks the pattern, and where the
 *        page cache the read made (mapped afterwards) and the buffer are:
 *        the page cache on NODE, the buffer on node 0 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "probe.h"

#define PAGE 4096UL
#define MAXN PROBE_MAXN

static int failed;

static void check(int ok, const char *what) {
  printf("%s: %s\n", ok ? "PASS" : "FAIL", what);
  if (!ok) failed = 1;
}

static double frac0(const long c[MAXN]) {
  long t = c[0] + c[1];
  return t ? (double)c[0] / (double)t : 0.0;
}

static void prefer_node1(void) {
  unsigned long mask = 2;
  if (syscall(SYS_set_mempolicy, 1 /* MPOL_PREFERRED */, &mask, 65) != 0) perror("set_mempolicy");
}

static long page_tables_kb(int node) {
  char path[64], line[256];
  snprintf(path, sizeof path, "/sys/devices/system/node/node%d/meminfo", node);
  FILE *f = fopen(path, "r");
  long kb = -1;
  while (f && fgets(line, sizeof line, f))
    if (strstr(line, " PageTables:")) /* not SecPageTables */
      sscanf(strstr(line, " PageTables:") + 12, "%ld", &kb);
  if (f) fclose(f);
  return kb;
}

/* ---- hot --------------------------------------------------------------- */

static int hot_expect;

static void *stack_thread(void *arg) {
  volatile char buf[256 * 1024];
  for (size_t i = 0; i < sizeof buf; i += PAGE) buf[i] = (char)i;
  long c[MAXN];
  probe_where((const void *)buf, sizeof buf, PAGE, c);
  printf("stack_pages node0=%ld node1=%ld\n", c[0], c[1]);
  *(int *)arg = c[hot_expect] > 0 && c[hot_expect] == c[0] + c[1];
  return NULL;
}

/* numa_maps lines of VMAs that carry the shim's hot policy ("prefer
 * (many):0" on 6.1): none of their pages may sit elsewhere. */
static void hot_mappings(int *vmas, long *pages_off) {
  FILE *f = fopen("/proc/self/numa_maps", "r");
  char line[1024];
  *vmas = 0;
  *pages_off = 0;
  while (f && fgets(line, sizeof line, f)) {
    if (!strstr(line, "prefer (many):0") && !strstr(line, "prefer:0")) continue;
    (*vmas)++;
    char *n1 = strstr(line, " N1=");
    if (n1) *pages_off += atol(n1 + 4);
  }
  if (f) fclose(f);
}

static int mode_hot(int argc, char **argv) {
  int hostile = 0;
  for (int i = 2; i < argc; i++) {
    if (!strcmp(argv[i], "hostile")) hostile = 1;
    if (!strncmp(argv[i], "expect=", 7)) hot_expect = atoi(argv[i] + 7);
  }
  if (hostile) prefer_node1();
  enum { SMALL = 20000, MID = 300 };
  static char *small[SMALL], *mid[MID];
  for (int i = 0; i < SMALL; i++) memset(small[i] = malloc(200), 1, 200);
  for (int i = 0; i < MID; i++) memset(mid[i] = malloc(40000), 2, 40000);
  void *large = malloc(8 << 20); /* placed: makes the shim map its metadata */
  memset(large, 3, 8 << 20);
  long c[MAXN] = {0}, t[MAXN];
  for (int i = 0; i < SMALL; i += 50) {
    probe_where(small[i], 1, PAGE, t);
    c[0] += t[0], c[1] += t[1];
  }
  for (int i = 0; i < MID; i++) {
    probe_where(mid[i], 40000, PAGE, t);
    c[0] += t[0], c[1] += t[1];
  }
  printf("small_pages node0=%ld node1=%ld\n", c[0], c[1]);
  char what[128];
  snprintf(what, sizeof what, "small objects on node %d", hot_expect);
  check(c[hot_expect] > 0 && c[hot_expect] >= (c[0] + c[1]) * 99 / 100, what);
  int ok = 0;
  pthread_t th;
  pthread_create(&th, NULL, stack_thread, &ok);
  pthread_join(th, NULL);
  snprintf(what, sizeof what, "a new thread's stack on node %d", hot_expect);
  check(ok, what);
  if (hot_expect == 0) {
    int vmas;
    long off;
    hot_mappings(&vmas, &off);
    printf("hot_vmas=%d hot_pages_node1=%ld\n", vmas, off);
    check(vmas >= 1 && off == 0, "the shim's hot mappings (heap, metadata, stacks) hold no page on node 1");
  }
  return failed;
}

/* ---- page tables ------------------------------------------------------- */

static int mode_pagetables(int argc, char **argv) {
  size_t mib = argc > 2 ? strtoul(argv[2], NULL, 10) : 512;
  int self_slow = argc > 3 && !strcmp(argv[3], "self-slow");
  if (self_slow) prefer_node1();
  long pt0 = page_tables_kb(0), pt1 = page_tables_kb(1);
  size_t len = mib << 20;
  char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return perror("mmap"), 1;
  madvise(p, len, MADV_NOHUGEPAGE); /* 4 KiB pages: one PTE page per 2 MiB */
  for (size_t i = 0; i < len; i += PAGE) p[i] = 1;
  long d0 = page_tables_kb(0) - pt0, d1 = page_tables_kb(1) - pt1, c[MAXN];
  probe_where(p, len, 16 * PAGE, c);
  printf("page_tables_kb_delta node0=%ld node1=%ld data_node0=%ld data_node1=%ld\n", d0, d1, c[0], c[1]);
  long want = (long)(mib / 2) * 4 * 3 / 4; /* 4 KiB of PTEs per 2 MiB, less noise */
  if (self_slow) {
    check(d1 >= want, "control: with the program's own slow policy, page tables grow on node 1");
  } else {
    check(d0 >= want && d1 < want / 4, "page tables grow on node 0 only");
    check(c[1] >= (c[0] + c[1]) * 95 / 100, "the data is on node 1");
  }
  return failed;
}

/* ---- split and spill --------------------------------------------------- */

static int mode_split(int argc, char **argv) {
  size_t mib = argc > 2 ? strtoul(argv[2], NULL, 10) : 256;
  double a = 1, b = 1;
  if (argc > 3) sscanf(argv[3], "%lf:%lf", &a, &b);
  enum { PIECE = 8 << 20 };
  size_t n = (mib << 20) / PIECE;
  long c[MAXN] = {0}, t[MAXN];
  for (size_t i = 0; i < n; i++) {
    char *p = malloc(PIECE);
    if (p == NULL) return perror("malloc"), 1;
    memset(p, (int)i, PIECE);
    probe_where(p, PIECE, PAGE, t);
    c[0] += t[0], c[1] += t[1];
  }
  double f = frac0(c), want = a / (a + b);
  printf("split node0=%ld node1=%ld fraction_node0=%.3f want=%.3f\n", c[0], c[1], f, want);
  char what[96];
  snprintf(what, sizeof what, "node 0 holds %.0f%% (+-8) of the bulk pages", want * 100);
  check(f > want - 0.08 && f < want + 0.08, what);
  return failed;
}

static int mode_spill(int argc, char **argv) {
  size_t mib = argc > 2 ? strtoul(argv[2], NULL, 10) : 2560;
  enum { PIECE = 64 << 20 };
  size_t n = (mib << 20) / PIECE;
  long c[MAXN] = {0}, t[MAXN];
  for (size_t i = 0; i < n; i++) {
    char *p = malloc(PIECE);
    if (p == NULL) return perror("malloc"), 1;
    memset(p, 1, PIECE);
    probe_where(p, PIECE, 16 * PAGE, t);
    c[0] += t[0], c[1] += t[1];
  }
  printf("spill MiB=%zu node0=%ld node1=%ld (x64 KiB)\n", mib, c[0], c[1]);
  check(c[0] * 64 > 1024 * 1024 && c[1] > 0, "fast first: node 0 filled (> 1 GiB), the rest spilled to node 1");
  return failed;
}

/* ---- touch: memory NUMA balancing would scan ------------------------------ */

static void *touch_idle(void *arg) {
  for (;;) pause();
  return arg;
}

/* touch SECONDS MIB: mallocs MIB MiB (bulk) and writes every page of it
 * over and over for SECONDS: NUMA balancing, where it scans the process,
 * makes hinting faults on those pages (guest/tiers.sh counts them). A
 * second, idle thread: the scanner skips the pages of a single-threaded
 * process that already sit on the node it runs on (change_pte_range(),
 * "target_node"), which is every page here. */
static int mode_touch(int argc, char **argv) {
  pthread_t t;
  if (pthread_create(&t, NULL, touch_idle, NULL) != 0) return perror("pthread_create"), 1;
  int secs = argc > 2 ? atoi(argv[2]) : 4;
  size_t len = (size_t)(argc > 3 ? atoi(argv[3]) : 64) << 20;
  volatile char *p = malloc(len);
  if (!p) return perror("malloc"), 1;
  /* Written once, then moved to node 1 (move_pages sets no policy): the
   * slow tier's pages are what NUMA balancing in tiering mode scans. */
  size_t n = len / PROBE_PAGE, moved = 0;
  void **pages = malloc(n * sizeof *pages);
  int *nodes = malloc(n * sizeof *nodes), *status = malloc(n * sizeof *status);
  if (!pages || !nodes || !status) return perror("malloc"), 1;
  for (size_t i = 0; i < n; i++) p[i * PROBE_PAGE] = 1, pages[i] = (void *)(p + i * PROBE_PAGE), nodes[i] = 1;
  if (syscall(SYS_move_pages, 0, n, pages, nodes, status, 0) < 0) perror("move_pages");
  for (size_t i = 0; i < n; i++) moved += status[i] == 1;
  time_t end = time(NULL) + secs;
  long passes = 0;
  do {
    for (size_t i = 0; i < len; i += PROBE_PAGE) p[i]++;
    passes++;
  } while (time(NULL) < end);
  printf("touch MiB=%zu seconds=%d passes=%ld moved_to_node1=%zu\n", len >> 20, secs, passes, moved);
  return 0;
}

/* ---- workload ---------------------------------------------------------- */

static int mode_workload(void) {
  uint64_t h = 1469598103934665603ULL;
  enum { ROUNDS = 40 };
  for (int r = 0; r < ROUNDS; r++) {
    size_t big = ((size_t)(r % 7) + 1) << 20, small = 64 + (size_t)r * 13;
    uint32_t *v = malloc(big), *w = calloc(big / 4, 4);
    char *s = malloc(small);
    for (size_t i = 0; i < big / 4; i++) v[i] = (uint32_t)(i * 2654435761u + (uint32_t)r);
    for (size_t i = 1; i < big / 4; i++) w[i] = w[i - 1] ^ (v[i] >> 3);
    memset(s, r, small);
    for (size_t i = 0; i < big / 4; i += 97) h = (h ^ w[i]) * 1099511628211ULL;
    h = (h ^ (uint64_t)s[small - 1]) * 1099511628211ULL;
    v = realloc(v, big * 2);
    h ^= v[big / 8];
    free(v), free(w), free(s);
  }
  printf("workload digest=%016llx\n", (unsigned long long)h);
  return 0;
}

/* ---- cold reads: the page cache of a large read into placed memory ------- */

static uint64_t cold_word(uint64_t i) { return (i + 1) * 0x9E3779B97F4A7C15ull ^ 0x5eed; }

static int mode_coldfill(int argc, char **argv) {
  if (argc < 4) return fprintf(stderr, "coldfill DEV MiB\n"), 2;
  size_t len = strtoul(argv[3], NULL, 10) << 20;
  int fd = open(argv[2], O_WRONLY);
  if (fd < 0) return perror(argv[2]), 1;
  uint64_t *w = malloc(len);
  if (w == NULL) return perror("malloc"), 1;
  for (size_t i = 0; i < len / 8; i++) w[i] = cold_word(i);
  if (pwrite(fd, w, len, 0) != (ssize_t)len || fsync(fd) != 0) return perror("pwrite"), 1;
  posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
  free(w);
  close(fd);
  printf("coldfill %zu MiB\n", len >> 20);
  return 0;
}

static ssize_t cold_load(const char *api, int fd, char *buf, size_t len) {
  if (!strcmp(api, "pread")) return pread(fd, buf, len, 0);
  if (!strcmp(api, "fread")) {
    FILE *f = fdopen(dup(fd), "r");
    if (f == NULL) return -1;
    size_t got = fread(buf, 1, len, f);
    fclose(f);
    return (ssize_t)got;
  }
  size_t got = 0; /* read: a block device may return less per call */
  while (got < len) {
    ssize_t r = read(fd, buf + got, len - got);
    if (r <= 0) break;
    got += (size_t)r;
  }
  return (ssize_t)got;
}

static int mode_coldread(int argc, char **argv) {
  if (argc < 6) return fprintf(stderr, "coldread DEV MiB read|pread|fread NODE\n"), 2;
  size_t len = strtoul(argv[3], NULL, 10) << 20;
  int want = atoi(argv[5]);
  int fd = open(argv[2], O_RDONLY);
  if (fd < 0) return perror(argv[2]), 1;
  posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
  char *buf = malloc(len);
  if (buf == NULL) return perror("malloc"), 1;
  long pt0 = page_tables_kb(0), pt1 = page_tables_kb(1);
  ssize_t got = cold_load(argv[4], fd, buf, len);
  long dpt0 = page_tables_kb(0) - pt0, dpt1 = page_tables_kb(1) - pt1;
  check(got == (ssize_t)len, "the read returned every byte");
  size_t bad = 0;
  for (size_t i = 0; i < len / 8; i++) bad += ((uint64_t *)buf)[i] != cold_word(i);
  check(bad == 0, "the buffer holds the file's bytes");
  const volatile char *map = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
  if (map == MAP_FAILED) return perror("mmap"), 1;
  for (size_t o = 0; o < len; o += PAGE) (void)map[o]; /* maps the cached pages */
  long pc[MAXN], dst[MAXN];
  probe_where((const void *)map, len, PAGE, pc);
  probe_where(buf, len, PAGE, dst);
  printf("coldread api=%s page_cache node0=%ld node1=%ld buffer node0=%ld node1=%ld\n", argv[4], pc[0], pc[1],
         dst[0], dst[1]);
  long pages = (long)(len / PAGE);
  char what[96];
  snprintf(what, sizeof what, "the page cache the read made is on node %d (>= 90%%)", want);
  check(pc[want] * 10 >= pages * 9, what);
  check(dst[0] * 10 >= pages * 9, "the buffer is on node 0 (>= 90%)");
  /* With 4 KiB pages (THP never) the buffer needs len / 512 of page
   * tables; with huge pages almost none, and then nothing is checked. */
  long want_kb = (long)(len / 512 / 1024);
  printf("coldread page_tables_kb node0=+%ld node1=+%ld (4 KiB pages need %ld)\n", dpt0, dpt1, want_kb);
  if (dpt0 + dpt1 >= want_kb / 4) check(dpt1 * 4 < want_kb, "the buffer's page tables grew on node 0, not node 1");
  return failed;
}

int main(int argc, char **argv) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  const char *m = argc > 1 ? argv[1] : "";
  if (!strcmp(m, "hot")) return mode_hot(argc, argv);
  if (!strcmp(m, "pagetables")) return mode_pagetables(argc, argv);
  if (!strcmp(m, "split")) return mode_split(argc, argv);
  if (!strcmp(m, "spill")) return mode_spill(argc, argv);
  if (!strcmp(m, "workload")) return mode_workload();
  if (!strcmp(m, "touch")) return mode_touch(argc, argv);
  if (!strcmp(m, "coldfill")) return mode_coldfill(argc, argv);
  if (!strcmp(m, "coldread")) return mode_coldread(argc, argv);
  fprintf(stderr, "usage: tier_probe hot|pagetables|split|spill|workload|touch|coldfill|coldread ...\n");
  return 2;
}
