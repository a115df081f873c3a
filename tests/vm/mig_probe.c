/* mig_probe: the migration engine through tiershim's API, in the two-tier
 * guest (node 0: DRAM with the CPUs, node 1: CPU-less slow tier). Runs
 * under the shim and finds the API with dlsym, like any program would.
 * guest/migrate.sh drives it; PASS/FAIL lines, exit 1 on any FAIL.
 *
 *   api       demote and promote 256 MiB (huge pages) and 64 MiB (4 KiB
 *             pages): every page ends on the target, contents intact, the
 *             returned count and the report agree
 *   writers   two threads keep writing while the buffer moves back and
 *             forth six times: no write is lost
 *   partial   pages shared with a child (EACCES) are reported, a hole has
 *             nothing to move, the rest moves
 *   auto      TIERSHIM_BULK=fast + PROMOTE: a range that spilled to node 1
 *             moves back once node 0 has room
 *   rate      under TIERSHIM_MIGRATE_RATE=32M, 64 MiB take about 2 s */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "probe.h"
#include "tiershim.h"

#define PAGE 4096UL
#define MIB (1UL << 20)

typedef long (*mig_fn)(void *, size_t, int, tiershim_migrate_report_t *);
typedef long (*tier_fn)(void *, size_t, tiershim_migrate_report_t *);
static mig_fn migrate;
static tier_fn promote, demote;
static int failed;

static void check(int ok, const char *what) {
  printf("%s: %s\n", ok ? "PASS" : "FAIL", what);
  if (!ok) failed = 1;
}

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + t.tv_nsec / 1e9;
}

/* Pages of [p, p+len) on nodes 0 and 1, every page. */
static void where(const void *p, size_t len, long c[2]) {
  long all[PROBE_MAXN];
  probe_where(p, len, PAGE, all);
  c[0] = all[0];
  c[1] = all[1];
}

static uint64_t sum(const uint64_t *p, size_t len) {
  uint64_t h = 1469598103934665603ULL;
  for (size_t i = 0; i < len / 8; i += 7) h = (h ^ p[i]) * 1099511628211ULL;
  return h;
}

static void fill(uint64_t *p, size_t len, uint64_t seed) {
  for (size_t i = 0; i < len / 8; i++) p[i] = i * 0x9e3779b97f4a7c15ULL + seed;
}

static void report(const char *what, long r, const tiershim_migrate_report_t *rep, double s) {
  printf("%s: ret=%ld moved=%lu already=%lu absent=%lu failed=%lu (ebusy=%lu enomem=%lu efault=%lu "
         "eacces=%lu other=%lu) calls=%lu threads=%d %.3f s\n",
         what, r, rep->pages_moved, rep->pages_already, rep->pages_absent, rep->pages_failed,
         rep->failed_ebusy, rep->failed_enomem, rep->failed_efault, rep->failed_eacces, rep->failed_other,
         rep->calls, rep->threads, s);
}

/* ---- api ---------------------------------------------------------------- */

static void move_check(const char *name, void *p, size_t len, int to, uint64_t h) {
  tiershim_migrate_report_t rep = {.size = sizeof rep};
  long before[2], c[2];
  where(p, len, before);
  double t = now();
  long r = to == 1 ? demote(p, len, &rep) : promote(p, len, &rep);
  t = now() - t;
  char what[128];
  snprintf(what, sizeof what, "%s to node %d", name, to);
  report(what, r, &rep, t);
  where(p, len, c);
  printf("%s: pages node0=%ld node1=%ld (before %ld/%ld), %.0f MB/s\n", what, c[0], c[1], before[0],
         before[1], (double)len / t / 1e6);
  snprintf(what, sizeof what, "%s to node %d: every page there, count and report agree, none failed", name, to);
  check(c[to] == (long)(len / PAGE) && r == (long)rep.pages_moved && r == before[1 - to] && rep.pages_failed == 0,
        what);
  snprintf(what, sizeof what, "%s to node %d: contents intact", name, to);
  check(sum(p, len) == h, what);
}

static int mode_api(void) {
  size_t big = 256 * MIB, small = 64 * MIB;
  uint64_t *a = malloc(big);
  uint64_t *b = mmap(NULL, small, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  madvise(b, small, MADV_NOHUGEPAGE);
  fill(a, big, 1);
  fill(b, small, 2);
  uint64_t ha = sum(a, big), hb = sum(b, small);
  migrate(a, big, 0, NULL);
  migrate(b, small, 0, NULL);
  move_check("256 MiB huge", a, big, 1, ha);
  move_check("256 MiB huge", a, big, 0, ha);
  move_check("64 MiB 4K", b, small, 1, hb);
  move_check("64 MiB 4K", b, small, 0, hb);
  tiershim_migrate_report_t rep = {.size = sizeof rep};
  errno = 0;
  long r = migrate(a, big, 7, &rep);
  check(r == -1 && errno == ENODEV, "a node without memory: -1, ENODEV");
  r = migrate(a, big, -1, &rep);
  check(r == -1 && errno == EINVAL, "a negative node: -1, EINVAL");
  return failed;
}

/* ---- writers ------------------------------------------------------------ */

#define SLOT 64
static volatile int stop;
static uint64_t *buf;
static size_t nslots;
static uint64_t passes[2];

static void *writer(void *arg) {
  int t = (int)(intptr_t)arg;
  uint64_t pass = 0;
  while (!stop) {
    pass++;
    for (size_t s = (size_t)t; s < nslots; s += 2) buf[s * (SLOT / 8)] = pass;
    __atomic_store_n(&passes[t], pass, __ATOMIC_RELEASE);
  }
  return NULL;
}

static int mode_writers(void) {
  size_t len = 128 * MIB;
  buf = malloc(len);
  memset(buf, 0, len);
  nslots = len / SLOT;
  pthread_t th[2];
  for (int t = 0; t < 2; t++) pthread_create(&th[t], NULL, writer, (void *)(intptr_t)t);
  tiershim_migrate_report_t rep = {.size = sizeof rep};
  long moved = 0, failures = 0;
  for (int i = 0; i < 6; i++) {
    long r = migrate(buf, len, (i % 2) ? 0 : 1, &rep);
    moved += r > 0 ? r : 0;
    failures += (long)rep.pages_failed;
  }
  stop = 1;
  for (int t = 0; t < 2; t++) pthread_join(th[t], NULL);
  size_t lost = 0;
  for (size_t s = 0; s < nslots; s++)
    if (buf[s * (SLOT / 8)] != passes[s % 2]) lost++;
  printf("writers: passes %lu/%lu, pages moved %ld, failed %ld, slots behind %zu of %zu\n", passes[0],
         passes[1], moved, failures, lost, nslots);
  check(passes[0] > 1 && passes[1] > 1, "both writers ran during the migrations");
  check(lost == 0, "no write lost while the pages moved 6 times");
  check(moved > 0, "pages moved while being written");
  return failed;
}

/* ---- partial failures --------------------------------------------------- */

static int mode_partial(void) {
  size_t len = 32 * MIB;
  char *p = malloc(len);
  memset(p, 1, len);
  migrate(p, len, 0, NULL);
  pid_t child = fork();
  if (child == 0) { /* shares every page until someone writes */
    pause();
    _exit(0);
  }
  memset(p, 2, len / 2); /* the first half becomes private again (copy on write) */
  tiershim_migrate_report_t rep = {.size = sizeof rep};
  long r = migrate(p, len, 1, &rep);
  report("half shared with a child", r, &rep, 0);
  kill(child, SIGKILL);
  waitpid(child, NULL, 0);
  check(rep.failed_eacces >= len / 2 / PAGE * 9 / 10, "pages shared with the child: reported as EACCES");
  check(r > 0 && r == (long)rep.pages_moved && rep.pages_moved >= len / 2 / PAGE * 9 / 10,
        "the private half moved, and the call says so");
  /* A hole: a kernel mapping (file-backed, so tiershim leaves it to the
   * kernel) with its middle unmapped. */
  int fd = open("/dev/zero", O_RDWR);
  char *q = mmap(NULL, 6 * MIB, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
  memset(q, 3, 6 * MIB);
  munmap(q + 2 * MIB, 2 * MIB);
  rep = (tiershim_migrate_report_t){.size = sizeof rep};
  r = migrate(q, 6 * MIB, 1, &rep);
  report("a range with a 2 MiB hole", r, &rep, 0);
  check(rep.pages_absent == 2 * MIB / PAGE && rep.pages_failed == 0, "the hole: absent, nothing failed");
  check(r == 4 * MIB / PAGE, "the mapped 4 MiB moved");
  return failed;
}

/* ---- automatic promotion ------------------------------------------------ */

static int mode_auto(void) {
  size_t fill_len = 1500 * MIB, tail = 512 * MIB;
  char *a = malloc(fill_len);
  memset(a, 1, fill_len);
  char *b = malloc(tail);
  memset(b, 2, tail);
  long c[2];
  where(b, tail, c);
  printf("auto: after filling node 0: tail node0=%ld node1=%ld\n", c[0], c[1]);
  check(c[1] > 0, "the tail spilled to node 1");
  long spilled = c[1];
  free(a); /* TIERSHIM_RETAIN_MAX=0: given back to the OS, node 0 has room */
  double t0 = now();
  while (now() - t0 < 40) {
    sleep(1);
    where(b, tail, c);
    printf("auto: %.0f s: tail node0=%ld node1=%ld\n", now() - t0, c[0], c[1]);
    if (c[1] <= spilled / 10) break;
  }
  check(c[1] <= spilled / 10, "at least 90% of the spilled pages promoted back to node 0");
  char js[8192];
  size_t (*stats_json)(char *, size_t) = (size_t(*)(char *, size_t))dlsym(RTLD_DEFAULT, "tiershim_stats_json");
  stats_json(js, sizeof js);
  char *m = strstr(js, "\"migration\"");
  if (m) printf("%.*s\n", 600, m);
  check(m && strstr(m, "\"auto_promote\": true") && !strstr(m, "\"auto_promoted_bytes\": 0,"),
        "stats: auto_promote on, bytes promoted");
  return failed;
}

/* ---- rate limit --------------------------------------------------------- */

static int mode_rate(void) {
  size_t len = 64 * MIB;
  char *p = malloc(len);
  memset(p, 1, len);
  migrate(p, len, 0, NULL);
  double t = now();
  long r = demote(p, len, NULL);
  t = now() - t;
  printf("rate: %ld pages in %.2f s (%.0f MB/s)\n", r, t, (double)len / t / 1e6);
  check(r == (long)(len / PAGE), "all pages moved");
  check(t >= 1.8, "64 MiB at 32 MiB/s take at least 1.8 s");
  return failed;
}

int main(int argc, char **argv) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  migrate = (mig_fn)dlsym(RTLD_DEFAULT, "tiershim_migrate");
  promote = (tier_fn)dlsym(RTLD_DEFAULT, "tiershim_promote");
  demote = (tier_fn)dlsym(RTLD_DEFAULT, "tiershim_demote");
  if (!migrate || !promote || !demote) {
    fprintf(stderr, "mig_probe: run me under tiershim (LD_PRELOAD)\n");
    return 2;
  }
  const char *m = argc > 1 ? argv[1] : "";
  if (!strcmp(m, "api")) return mode_api();
  if (!strcmp(m, "writers")) return mode_writers();
  if (!strcmp(m, "partial")) return mode_partial();
  if (!strcmp(m, "auto")) return mode_auto();
  if (!strcmp(m, "rate")) return mode_rate();
  fprintf(stderr, "usage: mig_probe api|writers|partial|auto|rate\n");
  return 2;
}
