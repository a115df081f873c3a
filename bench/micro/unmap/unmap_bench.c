/* unmap_bench: freeing and reallocating mid-size buffers at a high rate,
 * while another thread of the same process keeps working on another CPU.
 * Measures throughput and the TLB shootdowns the allocator's releases cause.
 * See README.md beside this file; run.sh runs it under every allocator.
 *
 *   unmap_bench [--threads N] [--live K] [--ops N | --seconds S]
 *               [--warmup N] [--min BYTES] [--max BYTES] [--ws BYTES] [--seed N]
 *   unmap_bench --idle [--seconds S]
 *   unmap_bench --prefault
 *
 * --threads N (default 2): N-1 worker threads (at least 1) and, when N >= 2,
 * one "other work" thread. Each worker keeps a ring of K live buffers
 * (--live, default 8): per op it checks and frees the oldest, mallocs a new
 * one of a log-uniform random size in [--min, --max] (default 64 KiB-4 MiB;
 * a fixed seed per thread, so every allocator sees the same sizes), writes
 * one byte in every page of it and a tag at both ends. The other-work thread
 * loops over its own working set (--ws, default 16 MiB, mmap'd directly and
 * kept in 4 KiB pages so that it has many TLB entries to lose), writing one
 * byte per page: the process's mm stays active on a second CPU, so every
 * release of memory by a worker has to shoot down that CPU's TLB.
 * Threads are pinned round-robin to the CPUs the process may run on, the
 * workers first, the other-work thread last (with 2 threads on 2 CPUs: the
 * worker on the first, the other work on the second).
 *
 * Each worker fills its ring and runs --warmup ops (default 64) before the
 * measured loop, so the allocators' start-up (glibc's mmap threshold
 * adjusting, first mappings) is not measured. The measured loop runs --ops
 * frees per worker (default 2000), or for --seconds S.
 *
 * The program never links an allocator: the one under test is chosen with
 * LD_PRELOAD, and malloc_from= names the object that provided malloc.
 *
 * Output, one line of NAME=VALUE pairs:
 *   frees=        frees in the measured loop, all workers
 *   seconds=      wall time of the measured loop
 *   ops_per_s=    frees / seconds
 *   cpu_s=        user + system CPU time of the workers in the loop
 *                 (RUSAGE_THREAD, summed): the allocator's work and the
 *                 kernel's (faults, unmaps) on their behalf
 *   proc_cpu_s=   the same for the whole process (RUSAGE_SELF; includes the
 *                 other-work thread, which is busy all the time)
 *   tlb=          change of the sum over all CPUs of the `TLB:` line of
 *                 /proc/interrupts over the loop (system-wide: other
 *                 processes' shootdowns count too); na when there is no line
 *   tlb_per_1k_frees=  tlb * 1000 / frees (na likewise)
 *   sent=         shootdown rounds this process started during the loop: a
 *                 perf counter on the tracepoint tlb:tlb_flush with reason
 *                 TLB_REMOTE_SEND_IPI, all threads (blind to other
 *                 processes); na without tracefs or the permission
 *   sent_per_1k_frees= sent * 1000 / frees (na likewise)
 *   minflt=       minor faults of the process over the loop
 *   other_work_iters=  passes of the other-work thread over its working set
 *                 during the loop (0 without that thread)
 *   other_work_per_s=  the same per second
 *   rss_kb=       VmRSS of /proc/self/status at the end of the loop (the live
 *                 buffers and whatever the allocator keeps)
 *   threads= workers= live= ops= warmup= min= max= ws= cpus= seed=
 *   malloc_from=  the file name of the object malloc resolves to
 *   checksum=     a hash of the sizes allocated (the same for every allocator)
 * --idle prints `idle=1 seconds= tlb= tlb_per_s=`: the TLB line's change
 * over a sleep of --seconds (default 1), the shootdowns of everything else
 * on the machine: the noise floor of tlb=. --prefault writes once to nearly
 * all free memory and gives it back (for a fresh VM: see prefault()).
 * Exit status: 0; 1 when a buffer's tags were overwritten (a corrupt heap);
 * 2 on a usage or set-up error.
 */
#define _GNU_SOURCE
#define BENCH_NAME "unmap_bench"
#include "../../bench_util.h"
#include <errno.h>
#include <inttypes.h>
#include <fcntl.h>
#include <linux/perf_event.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define PAGE 4096u

static struct {
  unsigned threads, workers, live;
  uint64_t ops, warmup, seed;
  double seconds; /* > 0: run for this long instead of --ops */
  size_t min, max, ws;
} g_cfg = {2, 1, 8, 2000, 64, 42, 0, 64u << 10, 4u << 20, 16u << 20};

static int g_cpus[CPU_SETSIZE];
static int g_ncpus;

static pthread_barrier_t g_start, g_end, g_release;
static atomic_bool g_stop_other;     /* the other-work thread's stop flag */
static atomic_uint_fast64_t g_other_passes;
static atomic_bool g_other_ready;
static atomic_bool g_corrupt;
static double g_deadline;            /* --seconds: the loop's end (now_s) */

struct worker {
  pthread_t tid;
  unsigned idx;
  uint64_t frees;   /* in the measured loop */
  double cpu;       /* RUSAGE_THREAD over the measured loop */
  uint64_t check;
};

static double thread_cpu(void) {
  struct rusage ru;
  getrusage(RUSAGE_THREAD, &ru);
  return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1e-6;
}

static void pin(unsigned idx) {
  if (g_ncpus <= 0) return;
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(g_cpus[idx % (unsigned)g_ncpus], &set);
  /* Not fatal: a container may refuse; the cpus= field says what we asked. */
  (void)sched_setaffinity(0, sizeof set, &set);
}

/* Size in [min, max], log-uniform, a multiple of 8 (the tags are 8 bytes). */
static size_t draw_size(uint64_t *rng) {
  double u = (double)(rnd_next(rng) >> 11) * (1.0 / 9007199254740992.0);
  double lo = log((double)g_cfg.min), hi = log((double)g_cfg.max);
  size_t s = (size_t)exp(lo + u * (hi - lo));
  s &= ~(size_t)7;
  if (s < g_cfg.min) s = g_cfg.min;
  if (s > g_cfg.max) s = g_cfg.max & ~(size_t)7;
  if (s < 16) s = 16;
  return s;
}

struct slot {
  unsigned char *p;
  size_t size;
  uint64_t tag;
};

static void fill(struct slot *s, uint64_t *rng, uint64_t *seq, unsigned idx) {
  s->size = draw_size(rng);
  s->tag = ((uint64_t)idx << 48) ^ (*seq)++ ^ 0x5A5A000000000000ull;
  s->p = malloc(s->size);
  if (s->p == NULL) die("malloc(%zu) failed", s->size);
  /* Touch every page (a write), then the tags at both ends. */
  for (size_t off = 0; off < s->size; off += PAGE) s->p[off] = (unsigned char)off;
  memcpy(s->p, &s->tag, 8);
  uint64_t t2 = ~s->tag;
  memcpy(s->p + s->size - 8, &t2, 8);
}

static void release(struct slot *s, unsigned idx) {
  uint64_t a, b;
  memcpy(&a, s->p, 8);
  memcpy(&b, s->p + s->size - 8, 8);
  if (a != s->tag || b != ~s->tag) {
    fprintf(stderr,
            BENCH_NAME ": worker %u: buffer %p (%zu bytes) corrupt: head %016" PRIx64
            " (want %016" PRIx64 "), tail %016" PRIx64 " (want %016" PRIx64 ")\n",
            idx, (void *)s->p, s->size, a, s->tag, b, ~s->tag);
    atomic_store(&g_corrupt, true);
  }
  free(s->p);
  s->p = NULL;
}

static void *worker_main(void *arg) {
  struct worker *w = arg;
  pin(w->idx);
  uint64_t rng = g_cfg.seed * 0x100000001B3ull + w->idx * 0x9E3779B97F4A7C15ull + 1;
  uint64_t seq = 0, check = 0;
  unsigned k = g_cfg.live;
  struct slot *ring = calloc(k, sizeof *ring);
  if (ring == NULL) die("out of memory");
  unsigned head = 0;

  /* Fill the ring, then the warm-up ops. */
  for (unsigned i = 0; i < k; i++) fill(&ring[i], &rng, &seq, w->idx);
  for (uint64_t i = 0; i < g_cfg.warmup; i++) {
    release(&ring[head], w->idx);
    fill(&ring[head], &rng, &seq, w->idx);
    head = (head + 1) % k;
  }

  pthread_barrier_wait(&g_start);
  double c0 = thread_cpu();
  uint64_t n = 0;
  for (;;) {
    if (g_cfg.seconds > 0) {
      if (now_s() >= g_deadline) break;
    } else if (n >= g_cfg.ops) {
      break;
    }
    release(&ring[head], w->idx);
    n++;
    fill(&ring[head], &rng, &seq, w->idx);
    check = (check ^ ring[head].size) * 0x100000001B3ull;
    head = (head + 1) % k;
  }
  w->cpu = thread_cpu() - c0;
  w->frees = n;
  w->check = check;
  pthread_barrier_wait(&g_end);
  pthread_barrier_wait(&g_release); /* main has read RSS: clean up */
  for (unsigned i = 0; i < k; i++) release(&ring[i], w->idx);
  free(ring);
  return NULL;
}

static void *other_main(void *arg) {
  unsigned idx = *(unsigned *)arg;
  pin(idx);
  size_t ws = g_cfg.ws;
  /* The raw system calls, not libc's mmap/madvise: an allocator that
     interposes them (tiershim places mappings in its own huge-page regions)
     must not change the other work, which is the yardstick. */
  long r = syscall(SYS_mmap, NULL, ws, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (r == -1) die("mmap of the %zu-byte working set failed: %s", ws, strerror(errno));
  unsigned char *m = (unsigned char *)r;
  (void)syscall(SYS_madvise, m, ws, MADV_NOHUGEPAGE); /* 4 KiB pages: many TLB entries to lose */
  memset(m, 1, ws);
  atomic_store(&g_other_ready, true);
  size_t pages = ws / PAGE;
  uint64_t pass = 0;
  while (!atomic_load_explicit(&g_stop_other, memory_order_relaxed)) {
    /* A stride of 67 pages (prime) so the hardware prefetcher does not hide
       the page walks; every page once per pass, at a cache line that varies
       with the page (the same line of every page would crowd a few cache
       sets). */
    size_t pg = 0;
    for (size_t i = 0; i < pages; i++) {
      m[pg * PAGE + (((pg * 0x9E37u) ^ pass) & 63) * 64] += 1;
      pg += 67;
      if (pg >= pages) pg -= pages;
    }
    pass++;
    atomic_store_explicit(&g_other_passes, pass, memory_order_relaxed);
  }
  (void)syscall(SYS_munmap, m, ws);
  return NULL;
}

/* Sum over all CPUs of the `TLB:` line of /proc/interrupts; -1 if none. */
static long long read_tlb(void) {
  FILE *f = fopen("/proc/interrupts", "r");
  if (f == NULL) return -1;
  char *line = NULL;
  size_t cap = 0;
  long long sum = -1;
  while (getline(&line, &cap, f) > 0) {
    char *s = line;
    while (*s == ' ' || *s == '\t') s++;
    if (strncmp(s, "TLB:", 4) != 0) continue;
    s += 4;
    sum = 0;
    for (;;) {
      char *end;
      errno = 0;
      unsigned long long v = strtoull(s, &end, 10);
      if (end == s || errno != 0) break;
      sum += (long long)v;
      s = end;
    }
    break;
  }
  free(line);
  fclose(f);
  return sum;
}

/* This process's own shootdowns: a counting perf event on the tracepoint
 * tlb:tlb_flush filtered to reason 4 (TLB_REMOTE_SEND_IPI, emitted by the
 * CPU that asks others to flush: one per shootdown round it starts),
 * inherited by every thread created afterwards. Unlike the TLB: line it is
 * blind to other processes. -1 when it cannot be had (no tracefs mounted,
 * not permitted, no filter support): the output says na. */
static int open_sent_counter(void) {
  static const char *ids[] = {"/sys/kernel/tracing/events/tlb/tlb_flush/id",
                              "/sys/kernel/debug/tracing/events/tlb/tlb_flush/id"};
  long long id = -1;
  for (size_t i = 0; i < sizeof ids / sizeof ids[0] && id < 0; i++) {
    FILE *f = fopen(ids[i], "r");
    if (f == NULL) continue;
    if (fscanf(f, "%lld", &id) != 1) id = -1;
    fclose(f);
  }
  if (id < 0) return -1;
  struct perf_event_attr a;
  memset(&a, 0, sizeof a);
  a.type = PERF_TYPE_TRACEPOINT;
  a.size = sizeof a;
  a.config = (uint64_t)id;
  a.inherit = 1;
  long fd = syscall(SYS_perf_event_open, &a, 0, -1, -1, PERF_FLAG_FD_CLOEXEC);
  if (fd < 0) return -1;
  if (ioctl((int)fd, PERF_EVENT_IOC_SET_FILTER, "reason == 4") != 0) {
    close((int)fd);
    return -1;
  }
  return (int)fd;
}

static long long read_sent(int fd) {
  uint64_t v;
  if (fd < 0 || read(fd, &v, sizeof v) != (ssize_t)sizeof v) return -1;
  return (long long)v;
}

static long read_rss_kb(void) {
  FILE *f = fopen("/proc/self/status", "r");
  if (f == NULL) return -1;
  char buf[256];
  long kb = -1;
  while (fgets(buf, sizeof buf, f) != NULL)
    if (sscanf(buf, "VmRSS: %ld kB", &kb) == 1) break;
  fclose(f);
  return kb;
}

/* --prefault: writes once to nearly all free memory, then gives it back. In
 * a fresh qemu guest the first write to a page of guest RAM costs the host
 * a page fault too; without this, whichever allocator first gets fresh
 * pages pays for it (an allocator that releases and re-faults memory keeps
 * meeting new pages until all of it has been touched once). */
static int prefault(void) {
  FILE *f = fopen("/proc/meminfo", "r");
  long long free_kb = -1;
  char buf[256];
  while (f != NULL && fgets(buf, sizeof buf, f) != NULL)
    if (sscanf(buf, "MemFree: %lld kB", &free_kb) == 1) break;
  if (f != NULL) fclose(f);
  if (free_kb < 0) die("--prefault: no MemFree in /proc/meminfo");
  /* On a NUMA machine, only node 0's free memory (where the benchmark's
     threads, pinned to the first CPUs, get theirs): filling the other nodes
     too would take the whole machine to its limit. */
  long long node_kb = -1;
  f = fopen("/sys/devices/system/node/node0/meminfo", "r");
  while (f != NULL && fgets(buf, sizeof buf, f) != NULL)
    if (sscanf(buf, "Node 0 MemFree: %lld kB", &node_kb) == 1) break;
  if (f != NULL) fclose(f);
  if (node_kb >= 0 && node_kb < free_kb) free_kb = node_kb;
  const size_t chunk = 64u << 20;
  long long want = free_kb * 1024 - (256ll << 20); /* leave room for the rest */
  size_t n = want > 0 ? (size_t)(want / (long long)chunk) : 0, done = 0;
  void **maps = calloc(n + 1, sizeof *maps);
  if (maps == NULL) die("out of memory");
  double t0 = now_s();
  for (; done < n; done++) {
    long r = syscall(SYS_mmap, NULL, chunk, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (r == -1) break;
    maps[done] = (void *)r;
    for (size_t off = 0; off < chunk; off += PAGE) ((volatile unsigned char *)r)[off] = 1;
  }
  for (size_t i = 0; i < done; i++) (void)syscall(SYS_munmap, maps[i], chunk);
  free(maps);
  printf("prefault_mb=%zu seconds=%.1f\n", done * (chunk >> 20), now_s() - t0);
  return 0;
}

static uint64_t parse_u64(const char *opt, const char *s, bool bytes) {
  char *end;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 10);
  if (end == s || errno != 0 || *s == '-') die("%s: not a number: '%s'", opt, s);
  if (bytes) {
    switch (*end) {
      case 'k': case 'K': v <<= 10; end++; break;
      case 'm': case 'M': v <<= 20; end++; break;
      case 'g': case 'G': v <<= 30; end++; break;
      default: break;
    }
  }
  if (*end != '\0') die("%s: not a number: '%s'", opt, s);
  return v;
}

static void usage(FILE *to) {
  fputs("usage: unmap_bench [--threads N] [--live K] [--ops N | --seconds S] [--warmup N]\n"
        "                   [--min BYTES] [--max BYTES] [--ws BYTES] [--seed N]\n"
        "       unmap_bench --idle [--seconds S]\n"
        "       unmap_bench --prefault\n"
        "  --threads N  N-1 workers (at least 1) + 1 other-work thread when N >= 2 (default 2)\n"
        "  --live K     live buffers per worker (default 8)\n"
        "  --ops N      frees per worker in the measured loop (default 2000)\n"
        "  --seconds S  run the measured loop for S seconds instead\n"
        "  --warmup N   untimed ops per worker first (default 64)\n"
        "  --min/--max  buffer sizes, log-uniform (default 64K / 4M)\n"
        "  --ws BYTES   the other-work thread's working set (default 16M)\n"
        "  --seed N     base of the per-thread seeds (default 42)\n"
        "  --idle       no benchmark: sleep --seconds (default 1) and print the TLB\n"
        "               line's change (the noise floor of other processes)\n"
        "  --prefault   no benchmark: write once to nearly all free memory (for a\n"
        "               fresh VM, whose first touch of a page costs the host a fault)\n",
        to);
}

int main(int argc, char **argv) {
  bool idle = false;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "-h") || !strcmp(a, "--help")) { usage(stdout); return 0; }
    if (!strcmp(a, "--idle")) { idle = true; continue; }
    if (!strcmp(a, "--prefault")) return prefault();
    if (i + 1 >= argc) { usage(stderr); die("unknown option or missing value: %s", a); }
    const char *v = argv[++i];
    if (!strcmp(a, "--threads")) g_cfg.threads = (unsigned)parse_u64(a, v, false);
    else if (!strcmp(a, "--live")) g_cfg.live = (unsigned)parse_u64(a, v, false);
    else if (!strcmp(a, "--ops")) g_cfg.ops = parse_u64(a, v, false);
    else if (!strcmp(a, "--warmup")) g_cfg.warmup = parse_u64(a, v, false);
    else if (!strcmp(a, "--min")) g_cfg.min = parse_u64(a, v, true);
    else if (!strcmp(a, "--max")) g_cfg.max = parse_u64(a, v, true);
    else if (!strcmp(a, "--ws")) g_cfg.ws = parse_u64(a, v, true);
    else if (!strcmp(a, "--seed")) g_cfg.seed = parse_u64(a, v, false);
    else if (!strcmp(a, "--seconds")) {
      char *end;
      g_cfg.seconds = strtod(v, &end);
      if (end == v || *end != '\0' || !(g_cfg.seconds > 0)) die("--seconds: not a positive number: '%s'", v);
    } else { usage(stderr); die("unknown option: %s", a); }
  }
  if (g_cfg.threads < 1 || g_cfg.threads > 1024) die("--threads must be 1..1024");
  if (g_cfg.live < 1 || g_cfg.live > 1u << 20) die("--live must be 1..1048576");
  if (g_cfg.ops < 1 && g_cfg.seconds <= 0) die("--ops must be at least 1");
  if (g_cfg.min < 16 || g_cfg.max < g_cfg.min) die("need 16 <= --min <= --max");
  if (g_cfg.ws < PAGE) die("--ws must be at least one page");
  g_cfg.ws &= ~(size_t)(PAGE - 1);
  if (idle) {
    /* The noise floor: the same TLB reading over a sleep, no threads. */
    double secs = g_cfg.seconds > 0 ? g_cfg.seconds : 1.0;
    struct timespec ts = {(time_t)secs, (long)((secs - (double)(time_t)secs) * 1e9)};
    long long a = read_tlb();
    double t0 = now_s();
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {}
    double t1 = now_s();
    long long b = read_tlb();
    if (a >= 0 && b >= 0)
      printf("idle=1 seconds=%.4f tlb=%lld tlb_per_s=%.3f\n", t1 - t0, b - a, (double)(b - a) / (t1 - t0));
    else
      printf("idle=1 seconds=%.4f tlb=na tlb_per_s=na\n", t1 - t0);
    return 0;
  }
  bool other = g_cfg.threads >= 2;
  g_cfg.workers = other ? g_cfg.threads - 1 : 1;

  cpu_set_t allowed;
  CPU_ZERO(&allowed);
  if (sched_getaffinity(0, sizeof allowed, &allowed) == 0)
    for (int c = 0; c < CPU_SETSIZE; c++)
      if (CPU_ISSET(c, &allowed)) g_cpus[g_ncpus++] = c;

  unsigned parties = g_cfg.workers + 1;
  pthread_barrier_init(&g_start, NULL, parties);
  pthread_barrier_init(&g_end, NULL, parties);
  pthread_barrier_init(&g_release, NULL, parties);

  int sent_fd = open_sent_counter(); /* before any thread: they inherit it */

  /* The other-work thread first: it is busy on its CPU before and during
     the whole measured loop. */
  pthread_t other_tid;
  unsigned other_idx = g_cfg.workers;
  if (other) {
    if (pthread_create(&other_tid, NULL, other_main, &other_idx) != 0) die("pthread_create failed");
    while (!atomic_load(&g_other_ready)) sched_yield();
  }
  struct worker *w = calloc(g_cfg.workers, sizeof *w);
  if (w == NULL) die("out of memory");
  for (unsigned i = 0; i < g_cfg.workers; i++) {
    w[i].idx = i;
    if (pthread_create(&w[i].tid, NULL, worker_main, &w[i]) != 0) die("pthread_create failed");
  }

  struct rusage r0, r1;
  long long tlb0 = read_tlb();
  long long sent0 = read_sent(sent_fd);
  getrusage(RUSAGE_SELF, &r0);
  uint64_t o0 = atomic_load(&g_other_passes);
  double t0 = now_s();
  if (g_cfg.seconds > 0) g_deadline = t0 + g_cfg.seconds;
  pthread_barrier_wait(&g_start);
  pthread_barrier_wait(&g_end);
  double t1 = now_s();
  uint64_t o1 = atomic_load(&g_other_passes);
  getrusage(RUSAGE_SELF, &r1);
  long long sent1 = read_sent(sent_fd);
  long long tlb1 = read_tlb();
  long rss = read_rss_kb();
  pthread_barrier_wait(&g_release);
  for (unsigned i = 0; i < g_cfg.workers; i++) pthread_join(w[i].tid, NULL);
  if (other) {
    atomic_store(&g_stop_other, true);
    pthread_join(other_tid, NULL);
  }

  uint64_t frees = 0, check = 0;
  double wcpu = 0;
  for (unsigned i = 0; i < g_cfg.workers; i++) {
    frees += w[i].frees;
    wcpu += w[i].cpu;
    check = (check ^ w[i].check) * 0x100000001B3ull;
  }
  double wall = t1 - t0;
  double pcpu = (double)(r1.ru_utime.tv_sec - r0.ru_utime.tv_sec + r1.ru_stime.tv_sec - r0.ru_stime.tv_sec) +
                (double)(r1.ru_utime.tv_usec - r0.ru_utime.tv_usec + r1.ru_stime.tv_usec - r0.ru_stime.tv_usec) * 1e-6;
  char tlb[32] = "na", tlbk[32] = "na";
  if (tlb0 >= 0 && tlb1 >= 0) {
    snprintf(tlb, sizeof tlb, "%lld", tlb1 - tlb0);
    snprintf(tlbk, sizeof tlbk, "%.3f", frees ? (double)(tlb1 - tlb0) * 1000.0 / (double)frees : 0.0);
  }
  char sent[32] = "na", sentk[32] = "na";
  if (sent0 >= 0 && sent1 >= 0) {
    snprintf(sent, sizeof sent, "%lld", sent1 - sent0);
    snprintf(sentk, sizeof sentk, "%.3f", frees ? (double)(sent1 - sent0) * 1000.0 / (double)frees : 0.0);
  }
  char cpus[256];
  size_t off = 0;
  cpus[0] = '\0';
  for (int i = 0; i < g_ncpus && off + 12 < sizeof cpus; i++)
    off += (size_t)snprintf(cpus + off, sizeof cpus - off, "%s%d", i ? "," : "", g_cpus[i]);
  if (off == 0) snprintf(cpus, sizeof cpus, "?");

  printf("frees=%" PRIu64 " seconds=%.4f ops_per_s=%.0f cpu_s=%.3f proc_cpu_s=%.3f tlb=%s"
         " tlb_per_1k_frees=%s sent=%s sent_per_1k_frees=%s minflt=%ld other_work_iters=%" PRIu64 " other_work_per_s=%.0f"
         " rss_kb=%ld threads=%u workers=%u live=%u ops=%" PRIu64 " warmup=%" PRIu64
         " min=%zu max=%zu ws=%zu cpus=%s seed=%" PRIu64 " malloc_from=%s checksum=%016" PRIx64 "\n",
         frees, wall, wall > 0 ? (double)frees / wall : 0.0, wcpu, pcpu, tlb, tlbk, sent, sentk,
         r1.ru_minflt - r0.ru_minflt, o1 - o0, wall > 0 ? (double)(o1 - o0) / wall : 0.0, rss,
         g_cfg.threads, g_cfg.workers, g_cfg.live, g_cfg.seconds > 0 ? 0 : g_cfg.ops, g_cfg.warmup,
         g_cfg.min, g_cfg.max, g_cfg.ws, cpus, g_cfg.seed, malloc_from(), check);
  fflush(stdout);
  if (atomic_load(&g_corrupt)) {
    fprintf(stderr, BENCH_NAME ": corrupt buffers found (see above)\n");
    return 1;
  }
  return 0;
}
