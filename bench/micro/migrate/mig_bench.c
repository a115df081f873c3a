/* mig_bench: how fast pages move between two NUMA nodes, by method.
 *
 *   mig_bench [--sizes 256M,1G] [--backing thp,4k] [--reps N] [--reps-large N]
 *             [--more] [--migratepages PATH] [--from 0] [--to 1] [--prefault]
 *
 * --prefault first writes to nearly all free memory of both nodes once (a
 * guest's first write to a page of its RAM costs a host page fault: see
 * prefault()); run.sh passes it.
 *
 * For each size and backing, a child process maps the buffer (2 MiB
 * aligned; MADV_HUGEPAGE for "thp", MADV_NOHUGEPAGE for "4k"), binds it to
 * the source node with mbind (raw syscall), writes every page and resets
 * the policy to the default, then sleeps. The parent moves the child's
 * pages source -> target and back with each method, timing each direction
 * and checking after every move, with a move_pages query, that every page
 * of the buffer is on the target (a page elsewhere stops the run: exit 1):
 *   naive         one move_pages call with one entry per 4 KiB page
 *   ts_migrate-tN policy/migrate.c's engine, N threads (1, 2, 4; with
 *                 --more also 8 and 16)
 *   migratepages  numactl's `migratepages PID FROM TO` (the migrate_pages
 *                 system call on the whole process), timed from fork to
 *                 exit; needs --migratepages PATH
 * Every method moves the pages of another process (the child), as
 * `tiershim migrate` and migratepages do. A measurement round runs every
 * method once, both directions; rounds rotate the order of the methods.
 * After the rounds the child recomputes its checksum (data intact).
 *
 * Output, one line each (bench/micro/migrate/run.sh turns them into a table):
 *   RAW method=M size=S backing=B dir=0-1 rep=R s=.. pages_s=.. gbps=.. cpus=.. [details]
 *     (cpus: CPU time of the mover over its wall time: the CPUs it kept busy)
 *   MED size=S backing=B dir=0-1 method=M reps=N s=.. pages_s=.. gbps=.. x_naive=.. x_naive_paired=..
 *     (x_naive: median time of naive / median time of M; x_naive_paired:
 *     the median over rounds of naive's time / M's time in that round)
 *   MISREPORT ...   ts_migrate's counts disagree with the query afterwards
 *   INFO ..., FAIL ...
 * Links tiershim_core (the engine), never the shim.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/thread.h"
#include "policy/migrate.h"

#define PAGE 4096UL
#define HUGE (2UL << 20)
#define MPOL_DEFAULT 0
#define MPOL_BIND 2
#define MPOL_MF_MOVE (1 << 1)
#define MAX_METHODS 8
#define MAX_REPS 32

static int src_node = 0, dst_node = 1;
static const char *migratepages_path;

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* CPU time (user + system) of this process's threads, or of its waited-for
 * children: cpu / s of a run says how many CPUs the method kept busy. */
static double cpu_s(int who) {
  struct rusage ru;
  getrusage(who, &ru);
  return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) + (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1e-6;
}

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void fail(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("FAIL: ", stdout);
  vprintf(fmt, ap);
  fputc('\n', stdout);
  va_end(ap);
  fflush(stdout);
  exit(1);
}

/* ---- the child that holds the buffer ------------------------------------ */

typedef struct child_s {
  pid_t pid;
  int to_child, from_child; /* pipe ends */
  uintptr_t addr;
  size_t len;
  uint64_t sum;
  long thp_kb;
} child_t;

static uint64_t sum_pages(const unsigned char *p, size_t len) {
  uint64_t h = 0;
  for (size_t i = 0; i < len; i += PAGE) h = h * 31 + *(const uint64_t *)(p + i) + *(const uint64_t *)(p + i + 2048);
  return h;
}

static long smaps_thp_kb(uintptr_t addr) {
  FILE *f = fopen("/proc/self/smaps", "r");
  if (!f) return -1;
  char line[512];
  bool in = false;
  long kb = -1;
  while (fgets(line, sizeof line, f)) {
    unsigned long lo, hi;
    char c;
    if (sscanf(line, "%lx-%lx %c", &lo, &hi, &c) == 3) {
      in = addr >= lo && addr < hi;
      continue;
    }
    if (in && sscanf(line, "AnonHugePages: %ld kB", &kb) == 1) break;
  }
  fclose(f);
  return kb;
}

static long mbind_raw(void *p, size_t len, int mode, int node) {
  unsigned long mask = 1UL << node;
  return syscall(SYS_mbind, p, len, mode, mode == MPOL_DEFAULT ? NULL : &mask, mode == MPOL_DEFAULT ? 0 : 65, 0);
}

/* In the child: map, bind, touch, report; wait; report the checksum. */
static void child_main(size_t len, bool thp, int in, int out) {
  unsigned char *raw = mmap(NULL, len + HUGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (raw == MAP_FAILED) _exit(3);
  unsigned char *p = (unsigned char *)(((uintptr_t)raw + HUGE - 1) & ~(HUGE - 1));
  madvise(p, len, thp ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
  if (mbind_raw(p, len, MPOL_BIND, src_node) != 0) _exit(4);
  for (size_t i = 0; i < len; i += PAGE) {
    *(uint64_t *)(p + i) = (i + 1) * 0x9E3779B97F4A7C15ULL;
    *(uint64_t *)(p + i + 2048) = i ^ 0x5555;
  }
  mbind_raw(p, len, MPOL_DEFAULT, 0); /* moves go where they are told, not back by policy */
  uint64_t msg[3] = {(uintptr_t)p, sum_pages(p, len), (uint64_t)smaps_thp_kb((uintptr_t)p)};
  if (write(out, msg, sizeof msg) != sizeof msg) _exit(5);
  char c;
  while (read(in, &c, 1) == 1) { /* one byte: report the checksum again; EOF: exit */
    uint64_t again[2] = {sum_pages(p, len), (uint64_t)smaps_thp_kb((uintptr_t)p)};
    if (write(out, again, sizeof again) != sizeof again) _exit(5);
  }
  _exit(0);
}

static void child_start(child_t *c, size_t len, bool thp) {
  int down[2], up[2];
  if (pipe(down) || pipe(up)) fail("pipe: %s", strerror(errno));
  fflush(stdout);
  pid_t pid = fork();
  if (pid < 0) fail("fork: %s", strerror(errno));
  if (pid == 0) {
    close(down[1]);
    close(up[0]);
    child_main(len, thp, down[0], up[1]);
  }
  close(down[0]);
  close(up[1]);
  uint64_t msg[3];
  if (read(up[0], msg, sizeof msg) != sizeof msg) fail("the child holding the buffer died while touching it");
  *c = (child_t){.pid = pid, .to_child = down[1], .from_child = up[0], .addr = (uintptr_t)msg[0], .len = len,
                 .sum = msg[1], .thp_kb = (long)msg[2]};
}

static void child_check(child_t *c, long *thp_kb) {
  uint64_t msg[2];
  if (write(c->to_child, "s", 1) != 1 || read(c->from_child, msg, sizeof msg) != sizeof msg)
    fail("the child holding the buffer is gone");
  if (msg[0] != c->sum) fail("the buffer's checksum changed: %016" PRIx64 " -> %016" PRIx64, c->sum, msg[0]);
  *thp_kb = (long)msg[1];
}

static void child_stop(child_t *c) {
  close(c->to_child);
  close(c->from_child);
  int st;
  waitpid(c->pid, &st, 0);
}

/* ---- placement ------------------------------------------------------------ */

static void **pages_v;
static int *nodes_v, *status_v;
static size_t vec_cap;

static void vec_fill(const child_t *c) {
  size_t n = c->len / PAGE;
  if (n > vec_cap) {
    free(pages_v), free(nodes_v), free(status_v);
    pages_v = malloc(n * sizeof *pages_v);
    nodes_v = malloc(n * sizeof *nodes_v);
    status_v = malloc(n * sizeof *status_v);
    if (!pages_v || !nodes_v || !status_v) fail("out of memory for %zu page vectors", n);
    vec_cap = n;
  }
  for (size_t i = 0; i < n; i++) pages_v[i] = (void *)(c->addr + i * PAGE);
}

/* Every page on node? Else fails the run, saying where the first stray is. */
static void verify(const child_t *c, int node, const char *after) {
  size_t n = c->len / PAGE, bad = 0, first = n;
  vec_fill(c);
  long r = syscall(SYS_move_pages, c->pid, n, pages_v, NULL, status_v, 0);
  if (r != 0) fail("move_pages query after %s: %s", after, strerror(errno));
  for (size_t i = 0; i < n; i++)
    if (status_v[i] != node && bad++ == 0) first = i;
  if (bad) fail("after %s: %zu of %zu pages not on node %d (page %zu: status %d)", after, bad, n, node, first,
                status_v[first]);
}

/* ---- the methods ------------------------------------------------------- */

typedef struct method_s {
  const char *name;
  int threads; /* ts_migrate; 0 for the others */
  int kind;    /* 0 naive, 1 ts_migrate, 2 migratepages */
} method_t;

typedef struct run_s {
  double s, cpu;
  char detail[256];
  bool misreport;
} run_t;

static run_t run_naive(const child_t *c, int to) {
  size_t n = c->len / PAGE;
  vec_fill(c);
  for (size_t i = 0; i < n; i++) nodes_v[i] = to, status_v[i] = -12345;
  double t0 = now_s(), c0 = cpu_s(RUSAGE_SELF);
  long r = syscall(SYS_move_pages, c->pid, n, pages_v, nodes_v, status_v, MPOL_MF_MOVE);
  run_t out = {.s = now_s() - t0, .cpu = cpu_s(RUSAGE_SELF) - c0};
  if (r < 0) fail("naive move_pages: %s", strerror(errno));
  size_t on = 0, busy = 0, other = 0;
  for (size_t i = 0; i < n; i++) {
    if (status_v[i] == to) on++;
    else if (status_v[i] == -EBUSY) busy++;
    else other++;
  }
  /* busy: the 6.1 quirk, the second address of a huge page already queued */
  snprintf(out.detail, sizeof out.detail, "ret=%ld status_target=%zu status_ebusy=%zu status_other=%zu", r, on, busy,
           other);
  return out;
}

static run_t run_engine(const child_t *c, int to, int threads) {
  ts_mrange_t range = {.addr = c->addr, .len = c->len};
  ts_migrate_req_t q = {.pid = c->pid, .target = to, .from = -1, .threads = threads};
  ts_migrate_result_t res;
  double t0 = now_s(), c0 = cpu_s(RUSAGE_SELF);
  int rc = ts_migrate(&range, 1, &q, &res);
  run_t out = {.s = now_s() - t0, .cpu = cpu_s(RUSAGE_SELF) - c0};
  if (rc != 0) fail("ts_migrate threads=%d: %s", threads, strerror(-rc));
  uint64_t n = c->len / PAGE;
  char errs[128] = "";
  for (int i = 0, k = 0; i < TS_MIG_NERR; i++)
    if (res.err[i]) k += snprintf(errs + k, sizeof errs - (size_t)k, ",%s:%" PRIu64, ts_mig_err_names[i], res.err[i]);
  snprintf(out.detail, sizeof out.detail,
           "moved=%" PRIu64 " already=%" PRIu64 " absent=%" PRIu64 " failed=%" PRIu64 "%s retried=%" PRIu64
           " calls=%" PRIu64 " workers=%d",
           res.pages_moved, res.pages_already, res.pages_absent, res.pages_failed, errs, res.pages_retried, res.calls,
           res.threads);
  /* verify() comes next and stops the run if a page is elsewhere: so a
   * count other than "all moved, none failed" is the engine's mistake */
  out.misreport = src_node != dst_node && (res.pages_moved != n || res.pages_failed != 0);
  return out;
}

static double spawn_migratepages(pid_t pid, int from, int to) {
  char a[16], b[16], d[16];
  snprintf(a, sizeof a, "%d", (int)pid);
  snprintf(b, sizeof b, "%d", from);
  snprintf(d, sizeof d, "%d", to);
  fflush(stdout);
  double t0 = now_s();
  pid_t k = fork();
  if (k < 0) fail("fork: %s", strerror(errno));
  if (k == 0) {
    execl(migratepages_path, "migratepages", a, b, d, (char *)NULL);
    _exit(127);
  }
  int st;
  if (waitpid(k, &st, 0) != k) fail("waitpid: %s", strerror(errno));
  double s = now_s() - t0;
  if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
    fail("%s %s %s %s: exit status %d", migratepages_path, a, b, d, WIFEXITED(st) ? WEXITSTATUS(st) : -1);
  return s;
}

static run_t run_migratepages(const child_t *c, int from, int to) {
  double c0 = cpu_s(RUSAGE_CHILDREN);
  run_t out = {.s = spawn_migratepages(c->pid, from, to)};
  out.cpu = cpu_s(RUSAGE_CHILDREN) - c0;
  snprintf(out.detail, sizeof out.detail, "(fork+exec included)");
  return out;
}

/* ---- the driver ---------------------------------------------------------- */

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static double median(double *v, int n) {
  double t[MAX_REPS];
  memcpy(t, v, (size_t)n * sizeof *v);
  qsort(t, (size_t)n, sizeof *t, cmp_double);
  return n % 2 ? t[n / 2] : (t[n / 2 - 1] + t[n / 2]) / 2;
}

static const char *size_name(size_t len, char *buf, size_t cap) {
  if (len % (1UL << 30) == 0) snprintf(buf, cap, "%zuG", len >> 30);
  else snprintf(buf, cap, "%zuM", len >> 20);
  return buf;
}

static int misreports;

static void bench_one(size_t len, bool thp, int reps, const method_t *m, int nm) {
  char sz[16];
  size_name(len, sz, sizeof sz);
  const char *bk = thp ? "thp" : "4k";
  child_t c;
  double t0 = now_s();
  child_start(&c, len, thp);
  printf("INFO: %s %s buffer: child %d, %.1f s to touch, AnonHugePages %ld kB of %zu kB\n", sz, bk, (int)c.pid,
         now_s() - t0, c.thp_kb, len >> 10);
  if (thp && c.thp_kb < (long)(len >> 10) * 9 / 10)
    printf("INFO: only %ld of %zu kB are huge pages: the thp figures are partly 4k\n", c.thp_kb, len >> 10);
  verify(&c, src_node, "touching");
  if (migratepages_path) { /* the cost of starting it, moving nothing (same node) */
    double o[3];
    for (int i = 0; i < 3; i++) o[i] = spawn_migratepages(c.pid, dst_node, dst_node);
    printf("INFO: migratepages start-up (moving nothing): %.4f s median of 3\n", median(o, 3));
  }
  /* one untimed round trip: the target's free lists, the page tables */
  run_engine(&c, dst_node, 2);
  verify(&c, dst_node, "warm-up");
  run_engine(&c, src_node, 2);
  verify(&c, src_node, "warm-up back");

  double s[MAX_METHODS][2][MAX_REPS];
  size_t npages = len / PAGE;
  for (int r = 0; r < reps; r++) {
    for (int k = 0; k < nm; k++) {
      const method_t *mm = &m[(k + r) % nm];
      int mi = (int)(mm - m);
      for (int d = 0; d < 2; d++) {
        int from = d ? dst_node : src_node, to = d ? src_node : dst_node;
        run_t res = mm->kind == 0   ? run_naive(&c, to)
                    : mm->kind == 1 ? run_engine(&c, to, mm->threads)
                                    : run_migratepages(&c, from, to);
        char what[96];
        snprintf(what, sizeof what, "%s %s %s %d->%d rep %d", mm->name, sz, bk, from, to, r + 1);
        verify(&c, to, what);
        s[mi][d][r] = res.s;
        printf("RAW method=%s size=%s backing=%s dir=%d-%d rep=%d s=%.4f pages_s=%.0f gbps=%.3f cpus=%.2f %s\n", mm->name,
               sz, bk, from, to, r + 1, res.s, (double)npages / res.s, (double)len / res.s / 1e9, res.cpu / res.s,
               res.detail);
        if (res.misreport) {
          misreports++;
          printf("MISREPORT method=%s size=%s backing=%s dir=%d-%d rep=%d: every page is on node %d, the engine said "
                 "%s\n",
                 mm->name, sz, bk, from, to, r + 1, to, res.detail);
        }
        fflush(stdout);
      }
    }
  }
  long thp_after;
  child_check(&c, &thp_after);
  printf("INFO: %s %s: checksum intact after all moves; AnonHugePages now %ld kB\n", sz, bk, thp_after);
  child_stop(&c);
  for (int d = 0; d < 2; d++) {
    double base = median(s[0][d], reps);
    for (int k = 0; k < nm; k++) {
      double med = median(s[k][d], reps), paired[MAX_REPS];
      for (int r = 0; r < reps; r++) paired[r] = s[0][d][r] / s[k][d][r]; /* same round: same host load */
      printf("MED size=%s backing=%s dir=%d-%d method=%s reps=%d s=%.4f pages_s=%.0f gbps=%.3f x_naive=%.2f "
             "x_naive_paired=%.2f\n",
             sz, bk, d ? dst_node : src_node, d ? src_node : dst_node, m[k].name, reps, med, (double)npages / med,
             (double)len / med / 1e9, base / med, median(paired, reps));
    }
  }
  fflush(stdout);
}

/* MemFree of a node, in bytes; 0 if unknown. */
static size_t node_free(int node) {
  char path[96], line[256];
  snprintf(path, sizeof path, "/sys/devices/system/node/node%d/meminfo", node);
  FILE *f = fopen(path, "r");
  size_t kb = 0;
  if (!f) return 0;
  while (fgets(line, sizeof line, f))
    if (strstr(line, " MemFree:")) sscanf(strstr(line, " MemFree:") + 9, "%zu", &kb);
  fclose(f);
  return kb << 10;
}

/* Writes once to (nearly) all free memory of a node, then frees it. Under
 * qemu the guest's RAM is host memory that qemu maps lazily: the first
 * write to a guest page faults on the host, so whichever method first gets
 * fresh guest pages would pay for that. MPOL_PREFERRED, not BIND: what does
 * not fit spills instead of waking the OOM killer. */
static void prefault(int node) {
  size_t free_b = node_free(node), keep = 256UL << 20;
  if (free_b <= keep + HUGE) return;
  size_t len = (free_b - keep) & ~(HUGE - 1);
  double t0 = now_s();
  unsigned char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) return;
  madvise(p, len, MADV_HUGEPAGE);
  unsigned long mask = 1UL << node;
  syscall(SYS_mbind, p, len, 1 /* MPOL_PREFERRED */, &mask, 65, 0);
  for (size_t i = 0; i < len; i += PAGE) p[i] = 1;
  munmap(p, len);
  printf("INFO: prefault: wrote %zu MiB on node %d in %.1f s (MemFree was %zu MiB)\n", len >> 20, node, now_s() - t0,
         free_b >> 20);
}

static size_t parse_size(const char *s) {
  char *end;
  unsigned long v = strtoul(s, &end, 10);
  if (*end == 'G' || *end == 'g') v <<= 30, end++;
  else if (*end == 'M' || *end == 'm') v <<= 20, end++;
  if (*end || v == 0 || v % HUGE) {
    fprintf(stderr, "mig_bench: bad size '%s' (a multiple of 2M: 256M, 1G)\n", s);
    exit(2);
  }
  return v;
}

static void usage(void) {
  fprintf(stderr, "usage: mig_bench [--sizes 256M,1G] [--backing thp,4k] [--reps N] [--reps-large N] [--more]\n"
                  "                 [--migratepages PATH] [--from NODE] [--to NODE] [--prefault]\n");
  exit(2);
}

int main(int argc, char **argv) {
  ts_thread_use_libc(); /* the migration workers */
  char sizes_arg[256] = "256M,1G", backing_arg[64] = "thp,4k";
  int reps = 3, reps_large = 0;
  bool more = false, do_prefault = false;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    bool v = i + 1 < argc;
    if (strcmp(a, "--sizes") == 0 && v) snprintf(sizes_arg, sizeof sizes_arg, "%s", argv[++i]);
    else if (strcmp(a, "--backing") == 0 && v) snprintf(backing_arg, sizeof backing_arg, "%s", argv[++i]);
    else if (strcmp(a, "--reps") == 0 && v) reps = atoi(argv[++i]);
    else if (strcmp(a, "--reps-large") == 0 && v) reps_large = atoi(argv[++i]);
    else if (strcmp(a, "--more") == 0) more = true;
    else if (strcmp(a, "--prefault") == 0) do_prefault = true;
    else if (strcmp(a, "--migratepages") == 0 && v) migratepages_path = argv[++i];
    else if (strcmp(a, "--from") == 0 && v) src_node = atoi(argv[++i]);
    else if (strcmp(a, "--to") == 0 && v) dst_node = atoi(argv[++i]);
    else usage();
  }
  if (reps < 1 || reps > MAX_REPS || reps_large < 0 || reps_large > MAX_REPS) usage();
  if (migratepages_path && access(migratepages_path, X_OK) != 0) {
    fprintf(stderr, "mig_bench: %s: %s\n", migratepages_path, strerror(errno));
    return 2;
  }

  method_t m[MAX_METHODS];
  int nm = 0;
  m[nm++] = (method_t){"naive", 0, 0};
  m[nm++] = (method_t){"ts_migrate-t1", 1, 1};
  m[nm++] = (method_t){"ts_migrate-t2", 2, 1};
  m[nm++] = (method_t){"ts_migrate-t4", 4, 1};
  if (more) {
    m[nm++] = (method_t){"ts_migrate-t8", 8, 1};
    m[nm++] = (method_t){"ts_migrate-t16", 16, 1};
  }
  if (migratepages_path) m[nm++] = (method_t){"migratepages", 0, 2};

  printf("INFO: mig_bench: nodes %d -> %d, %ld CPUs online, methods:", src_node, dst_node,
         sysconf(_SC_NPROCESSORS_ONLN));
  for (int k = 0; k < nm; k++) printf(" %s", m[k].name);
  printf("\n");
  if (do_prefault) {
    prefault(dst_node);
    prefault(src_node);
  }
  double t0 = now_s();
  for (char *sv, *st = strtok_r(sizes_arg, ",", &sv); st; st = strtok_r(NULL, ",", &sv)) {
    size_t len = parse_size(st);
    char bcopy[64];
    snprintf(bcopy, sizeof bcopy, "%s", backing_arg);
    for (char *bv, *bt = strtok_r(bcopy, ",", &bv); bt; bt = strtok_r(NULL, ",", &bv)) {
      if (strcmp(bt, "thp") != 0 && strcmp(bt, "4k") != 0) usage();
      int r = len >= (1UL << 30) && reps_large ? reps_large : reps;
      bench_one(len, strcmp(bt, "thp") == 0, r, m, nm);
    }
  }
  printf("INFO: mig_bench done in %.1f s, %d misreport(s)\n", now_s() - t0, misreports);
  return 0;
}
