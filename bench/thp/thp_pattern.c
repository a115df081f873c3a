/* ts_thp_pattern: the large-buffer memory pattern of CPU inference runtimes
 * (Transformers, ONNX Runtime), for measuring huge-page coverage, VMAs, page
 * faults and the compute speed that follows from them.
 *
 * The program runs W waves. Each wave allocates buffers until L bytes are
 * live, writes every page of each new buffer right after allocating it, and
 * then runs P compute passes over everything live. Between waves about half
 * of the live buffers are freed, and the next wave refills with its own,
 * different shapes. One wave is a sequence of "layers":
 *
 *   - a burst of 3-8 buffers of one size from 512 KiB to 1.5 MiB (the size
 *     changes per layer and per wave: activations, per-layer tensors);
 *   - then 1-3 pairs of a 2 MiB multiple (2, 4 or 6 MiB) followed by an
 *     odd size just above 2 MiB (2.5 MiB, 4632 KiB, or 2 MiB plus a few
 *     16 KiB units): multiples alternating with non-multiples, the stream
 *     that leaves gaps between mappings on kernels that align large
 *     anonymous mappings (see README.md).
 *
 * Each buffer comes, by a seeded coin toss, either from malloc/free or from a
 * direct mmap(NULL, len, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1,
 * 0) / munmap, as runtimes that bypass malloc for big tensors do.
 *
 * Everything is determined by the seed: the sizes, the malloc/mmap choice,
 * which buffers are freed, the data written, hence the checksum, which must
 * be the same under every allocator. The compute pass reads one cache line
 * in every 4 KiB of every live buffer (strided reads: a TLB lookup and a
 * cache miss per line, which is where huge pages pay off), in order, P times.
 *
 * The counters are taken at the peak: after the last wave's compute passes,
 * before the final frees. With -j FILE, and when the process runs under
 * tiershim, tiershim's JSON stats document is snapshotted into FILE at the
 * same moment (found with dlsym; the program never links tiershim), and with
 * -m FILE a copy of /proc/self/smaps (which mappings have huge pages); -k FILE
 * (root) counts huge-page-backed pages per live buffer, after the counters.
 *
 * Output, one line:
 *   vma_count=... anon_rss_bytes=... anon_huge_bytes=... thp_coverage=...
 *   minor_faults=... compute_s=... alloc_max_us=... touch_max_us=...
 *   tlb_shootdowns=... wall_s=... live_bytes=... live_bufs=... waves=...
 *   passes=... threads=... seed=... allocs=... mmap_allocs=... alloc_s=...
 *   touch_s=... free_max_us=... alloc_max_at=... alloc_max_csw=...
 *   alloc_max_faults=... alloc_faults=...
 *   touch_max_at=... touch_max_csw=... nivcsw=... tiershim_json=... malloc_from=...
 *   checksum=...
 */
#define _GNU_SOURCE
#define BENCH_NAME "ts_thp_pattern"
#include "../bench_util.h"
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define KiB ((size_t)1024)
#define MiB (1024 * KiB)
#define GiB (1024 * MiB)
#define PAGE ((size_t)4096)
#define LINE 64
#define WORDS (LINE / sizeof(uint64_t))


static inline uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline uint64_t rnd_below(uint64_t *state, uint64_t n) {
  return rnd_next(state) % n;
}

/* "1280M", "1G", "1342177280": bytes, with K/M/G as powers of 1024. */
static uint64_t parse_size(const char *s, const char *what) {
  char *end;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno != 0 || end == s || s[0] == '-') die("bad %s: '%s'", what, s);
  uint64_t mul = 1;
  switch (*end) {
    case 'k': case 'K': mul = KiB; end++; break;
    case 'm': case 'M': mul = MiB; end++; break;
    case 'g': case 'G': mul = GiB; end++; break;
    default: break;
  }
  if (*end == 'i' || *end == 'I') end++;
  if (*end == 'b' || *end == 'B') end++;
  if (*end != '\0') die("bad %s: '%s'", what, s);
  if (v > UINT64_MAX / mul) die("%s too large: '%s'", what, s);
  return (uint64_t)v * mul;
}

static uint64_t parse_u64(const char *s, const char *what) {
  char *end;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 0);
  if (errno != 0 || end == s || *end != '\0' || s[0] == '-') die("bad %s: '%s'", what, s);
  return (uint64_t)v;
}

/* --------------------------------------------------------------------------
   /proc readers. They use a stack buffer and read(2), never stdio or malloc,
   so reading the counters does not change what they count.
-------------------------------------------------------------------------- */

#define RDBUF (64 * 1024)

/* Calls fn(line, len, arg) for every line of PATH (a line longer than the
   buffer is cut). Returns false if PATH cannot be opened. */
static bool for_each_line(const char *path, void (*fn)(const char *, size_t, void *),
                          void *arg) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  char buf[RDBUF];
  size_t have = 0;
  for (;;) {
    ssize_t n = read(fd, buf + have, sizeof buf - have);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    have += (size_t)n;
    size_t start = 0;
    for (size_t i = 0; i < have; i++) {
      if (buf[i] == '\n') {
        fn(buf + start, i - start, arg);
        start = i + 1;
      }
    }
    if (start == 0 && have == sizeof buf) {  /* overlong line: cut it */
      fn(buf, have, arg);
      have = 0;
    } else {
      memmove(buf, buf + start, have - start);
      have -= start;
    }
  }
  if (have > 0) fn(buf, have, arg);
  close(fd);
  return true;
}

static void count_line(const char *line, size_t len, void *arg) {
  (void)line; (void)len;
  (*(uint64_t *)arg)++;
}

static uint64_t vma_count(void) {
  uint64_t n = 0;
  for_each_line("/proc/self/maps", count_line, &n);
  return n;
}

typedef struct { uint64_t anon_kb, huge_kb; } rollup_t;

static bool starts_with(const char *line, size_t len, const char *key) {
  size_t k = strlen(key);
  return len >= k && memcmp(line, key, k) == 0;
}

static uint64_t num_after(const char *line, size_t len, size_t from) {
  uint64_t v = 0;
  size_t i = from;
  while (i < len && (line[i] < '0' || line[i] > '9')) i++;
  while (i < len && line[i] >= '0' && line[i] <= '9') v = v * 10 + (uint64_t)(line[i++] - '0');
  return v;
}

static void rollup_line(const char *line, size_t len, void *arg) {
  rollup_t *r = arg;
  if (starts_with(line, len, "Anonymous:")) r->anon_kb = num_after(line, len, 10);
  else if (starts_with(line, len, "AnonHugePages:")) r->huge_kb = num_after(line, len, 14);
}

/* TLB shootdowns: the `TLB:` line of /proc/interrupts, summed over CPUs. */
typedef struct { bool found; uint64_t sum; } tlb_t;

static void tlb_line(const char *line, size_t len, void *arg) {
  tlb_t *t = arg;
  size_t i = 0;
  while (i < len && line[i] == ' ') i++;
  if (!starts_with(line + i, len - i, "TLB:")) return;
  t->found = true;
  i += 4;
  for (;;) {  /* numbers until the description text */
    while (i < len && line[i] == ' ') i++;
    if (i >= len || line[i] < '0' || line[i] > '9') break;
    uint64_t v = 0;
    while (i < len && line[i] >= '0' && line[i] <= '9') v = v * 10 + (uint64_t)(line[i++] - '0');
    t->sum += v;
  }
}

static tlb_t tlb_read(void) {
  tlb_t t = {false, 0};
  for_each_line("/proc/interrupts", tlb_line, &t);
  return t;
}


/* With -j FILE: tiershim's JSON document at the peak, if tiershim is the
   allocator. Returns "written", "absent" (not running under tiershim) or
   "error". */
static const char *tiershim_snapshot(const char *path) {
  size_t (*fn)(char *, size_t) =
      (size_t (*)(char *, size_t))dlsym(RTLD_DEFAULT, "tiershim_stats_json");
  if (fn == NULL) return "absent";
  static char doc[256 * 1024];
  size_t n = fn(doc, sizeof doc);
  if (n >= sizeof doc) return "error";
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return "error";
  size_t off = 0;
  while (off < n) {
    ssize_t w = write(fd, doc + off, n - off);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) { close(fd); return "error"; }
    off += (size_t)w;
  }
  close(fd);
  return "written";
}

/* With -m FILE: a copy of /proc/self/smaps at the peak, to see which
   mappings have huge pages. Returns false on failure. */
static bool copy_file(const char *from, const char *to) {
  int in = open(from, O_RDONLY | O_CLOEXEC);
  if (in < 0) return false;
  int out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (out < 0) { close(in); return false; }
  char buf[RDBUF];
  bool ok = true;
  for (;;) {
    ssize_t n = read(in, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) ok = false;
    if (n <= 0) break;
    for (ssize_t off = 0; off < n;) {
      ssize_t w = write(out, buf + off, (size_t)(n - off));
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) { ok = false; break; }
      off += w;
    }
    if (!ok) break;
  }
  close(in);
  close(out);
  return ok;
}

/* With -k FILE (root: /proc/kpageflags and the PFNs of /proc/self/pagemap
   need CAP_SYS_ADMIN): for every live buffer at the peak, how many of its
   4 KiB pages are present and how many of those belong to a huge page
   (KPF_THP). One line per buffer, and a summary by kind on stderr: which
   buffers miss huge pages. Defined after the buffers (below). */
static void thp_breakdown(const char *path);

/* --------------------------------------------------------------------------
   Configuration
-------------------------------------------------------------------------- */

static struct {
  unsigned waves;
  uint64_t live;
  unsigned passes;
  unsigned threads;
  uint64_t seed;
  const char *json;
  const char *smaps;
  const char *pages;
  bool verbose;
} g_cfg = {
    .waves = 6,
    .live = 1280 * MiB,
    .passes = 8,
    .threads = 1,
    .seed = 42,
    .json = NULL,
    .smaps = NULL,
    .pages = NULL,
    .verbose = false,
};

static void usage(FILE *f) {
  fprintf(f,
          "usage: ts_thp_pattern [-w WAVES] [-l LIVE] [-p PASSES] [-t THREADS] [-s SEED]\n"
          "                      [-j FILE] [-m FILE] [-k FILE] [-v]\n"
          "  -w WAVES    allocation waves (default 6)\n"
          "  -l LIVE     live bytes each wave fills up to, K/M/G suffix (default 1280M)\n"
          "  -p PASSES   compute passes per wave (default 8)\n"
          "  -t THREADS  threads sharing each compute pass (default 1: no threads)\n"
          "  -s SEED     seed of the sizes, the malloc/mmap choice and the frees (default 42)\n"
          "  -j FILE     at the peak, write tiershim's JSON stats to FILE (under tiershim only)\n"
          "  -m FILE     at the peak, copy /proc/self/smaps to FILE\n"
          "  -k FILE     at the peak, huge pages per live buffer to FILE, summary on stderr\n"
          "              (root: reads /proc/kpageflags; after the counters, changes none)\n"
          "  -v          one line per wave on stderr\n");
}

static void parse_args(int argc, char **argv) {
  int c;
  while ((c = getopt(argc, argv, "w:l:p:t:s:j:m:k:vh")) != -1) {
    switch (c) {
      case 'w': g_cfg.waves = (unsigned)parse_u64(optarg, "-w"); break;
      case 'l': g_cfg.live = parse_size(optarg, "-l"); break;
      case 'p': g_cfg.passes = (unsigned)parse_u64(optarg, "-p"); break;
      case 't': g_cfg.threads = (unsigned)parse_u64(optarg, "-t"); break;
      case 's': g_cfg.seed = parse_u64(optarg, "-s"); break;
      case 'j': g_cfg.json = optarg; break;
      case 'm': g_cfg.smaps = optarg; break;
      case 'k': g_cfg.pages = optarg; break;
      case 'v': g_cfg.verbose = true; break;
      case 'h': usage(stdout); exit(0);
      default: usage(stderr); exit(2);
    }
  }
  if (optind != argc) { usage(stderr); exit(2); }
  if (g_cfg.waves < 1 || g_cfg.waves > 100000) die("-w takes 1..100000");
  if (g_cfg.live < 16 * MiB || g_cfg.live > 256 * GiB) die("-l takes 16M..256G");
  if (g_cfg.passes > 100000) die("-p takes 0..100000");
  if (g_cfg.threads < 1 || g_cfg.threads > 256) die("-t takes 1..256");
}

/* --------------------------------------------------------------------------
   Buffers
-------------------------------------------------------------------------- */

typedef struct buf_s {
  char *p;
  size_t len;
  uint64_t id;      /* serial number: determines the data */
  bool via_mmap;
} buf_t;

static buf_t *g_bufs;       /* the live buffers, in allocation order */
static size_t g_nbufs, g_capbufs;
static uint64_t g_live;     /* bytes live */
static uint64_t g_next_id;

/* Run-wide measurements. */
static uint64_t g_allocs, g_mmap_allocs;
static uint64_t g_alloc_ns, g_alloc_max_ns;
static uint64_t g_touch_ns, g_touch_max_ns;
static uint64_t g_free_max_ns;
static size_t g_alloc_max_len, g_touch_max_len;     /* which call was the worst */
static bool g_alloc_max_mmap, g_touch_max_mmap;
/* Context switches of this thread during the worst call and the worst
   touch: voluntary ones mean it slept (a lock, mmap_lock, compaction),
   involuntary ones that it was preempted (a busy CPU). */
static long g_alloc_max_vcsw, g_alloc_max_ivcsw, g_touch_max_vcsw, g_touch_max_ivcsw;
/* Page faults taken inside allocation calls (an allocator that zeroes or
   pre-faults on the request path), in all and in the worst call. */
static long g_alloc_faults, g_alloc_max_flt;

static void thread_csw(long *v, long *iv, long *flt) {
  struct rusage ru;
  getrusage(RUSAGE_THREAD, &ru);
  *v = ru.ru_nvcsw;
  *iv = ru.ru_nivcsw;
  *flt = ru.ru_minflt + ru.ru_majflt;
}
static uint64_t g_compute_ns;
static uint64_t g_checksum;

/* The 8 words written at one line of buffer `id`: the line's offset in the
   buffer and the id, mixed; cheap, but every line differs. */
static inline uint64_t word_of(uint64_t id, size_t off, unsigned j) {
  uint64_t x = (id << 40) ^ ((uint64_t)off + j);
  return x * 0xD6E8FEB86659FD93ull;
}

/* The lines the program reads: one in each 4 KiB of the buffer, at offset
   k * 4096 + (k % 64) * 64 for the k-th (the line moves through the page, so
   successive reads do not all land in the same cache set), and a last one
   near the end. Offsets count from the buffer's first 64-byte boundary (a
   glibc block starts 16 bytes into a line; a read must not straddle two),
   and stop 128 bytes short of its end, so that they depend on the length
   alone, never on where the allocator put the block. */
static inline char *line_base(const buf_t *b) {
  return (char *)(((uintptr_t)b->p + LINE - 1) & ~(uintptr_t)(LINE - 1));
}
static inline size_t last_line(size_t len) { return (len - 2 * LINE) & ~(LINE - 1); }
static inline size_t line_at(size_t len, size_t k) {
  size_t o = k * PAGE + (k % (PAGE / LINE)) * LINE;
  return o <= last_line(len) ? o : last_line(len);
}
static inline size_t lines_of(size_t len) { return (len + PAGE - 1) / PAGE; }

static inline void put_line(const buf_t *b, char *base, size_t o) {
  uint64_t *w = (uint64_t *)(void *)(base + o);
  for (unsigned j = 0; j < WORDS; j++) w[j] = word_of(b->id, o, j);
}

/* First touch: a store to every page the buffer spans (its first byte and
   every page boundary inside it), then the lines the compute pass reads,
   second, so that their content is the same wherever the block is. */
static void touch(const buf_t *b) {
  char *p = b->p, *end = b->p + b->len;
  *(volatile char *)p = 0;
  for (char *q = (char *)(((uintptr_t)p + PAGE) & ~(uintptr_t)(PAGE - 1)); q < end; q += PAGE)
    *(volatile char *)q = 0;
  char *base = line_base(b);
  size_t n = lines_of(b->len);
  for (size_t k = 0; k < n; k++) put_line(b, base, line_at(b->len, k));
  put_line(b, base, last_line(b->len));
}

static inline uint64_t sum_line(const char *p) {
  const uint64_t *w = (const uint64_t *)(const void *)p;
  uint64_t s = 0;
  for (unsigned j = 0; j < WORDS; j++) s += w[j];
  return s;
}

static inline uint64_t read_buf(const buf_t *b) {
  const char *base = line_base(b);
  size_t n = lines_of(b->len);
  uint64_t s = 0;
  for (size_t k = 0; k < n; k++) s += sum_line(base + line_at(b->len, k));
  return s + sum_line(base + last_line(b->len));
}

static void alloc_one(size_t len, bool via_mmap) {
  if (g_nbufs == g_capbufs) die("too many live buffers (internal)");
  buf_t *b = &g_bufs[g_nbufs];
  long v0, i0, f0, v1, i1, f1, v2, i2, f2;
  thread_csw(&v0, &i0, &f0);
  uint64_t t0 = now_ns();
  void *p;
  if (via_mmap) {
    p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) p = NULL;
  } else {
    p = malloc(len);
  }
  uint64_t t1 = now_ns();
  thread_csw(&v1, &i1, &f1);
  g_alloc_faults += f1 - f0;
  if (p == NULL) die("%s(%zu) failed: %s", via_mmap ? "mmap" : "malloc", len, strerror(errno));
  b->p = p;
  b->len = len;
  b->id = g_next_id++;
  b->via_mmap = via_mmap;
  g_nbufs++;
  g_live += len;
  g_allocs++;
  g_mmap_allocs += via_mmap;
  g_alloc_ns += t1 - t0;
  if (t1 - t0 > g_alloc_max_ns) {
    g_alloc_max_ns = t1 - t0;
    g_alloc_max_len = len;
    g_alloc_max_mmap = via_mmap;
    g_alloc_max_vcsw = v1 - v0;
    g_alloc_max_ivcsw = i1 - i0;
    g_alloc_max_flt = f1 - f0;
  }

  uint64_t t1b = now_ns();
  touch(b);
  uint64_t t2 = now_ns();
  thread_csw(&v2, &i2, &f2);
  (void)f2;
  g_touch_ns += t2 - t1b;
  if (t2 - t1b > g_touch_max_ns) {
    g_touch_max_ns = t2 - t1b;
    g_touch_max_len = len;
    g_touch_max_mmap = via_mmap;
    g_touch_max_vcsw = v2 - v1;
    g_touch_max_ivcsw = i2 - i1;
  }
}

static void free_one(size_t i) {
  buf_t *b = &g_bufs[i];
  uint64_t t0 = now_ns();
  if (b->via_mmap) {
    if (munmap(b->p, b->len) != 0) die("munmap(%p, %zu) failed: %s", b->p, b->len, strerror(errno));
  } else {
    free(b->p);
  }
  uint64_t t1 = now_ns();
  if (t1 - t0 > g_free_max_ns) g_free_max_ns = t1 - t0;
  g_live -= b->len;
  /* Keep allocation order (the compute pass walks it): shift down. */
  memmove(b, b + 1, (g_nbufs - i - 1) * sizeof *b);
  g_nbufs--;
}

#define KPF_THP 22
#define PM_PRESENT (1ull << 63)
#define PM_PFN_MASK ((1ull << 55) - 1)

static void thp_breakdown(const char *path) {
  int pm = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
  int kf = open("/proc/kpageflags", O_RDONLY | O_CLOEXEC);
  FILE *out = fopen(path, "w");
  if (pm < 0 || kf < 0 || out == NULL) {
    fprintf(stderr, "ts_thp_pattern: -k: cannot open pagemap/kpageflags/%s (root needed)\n", path);
    goto done;
  }
  /* kinds: 0 burst (< 2 MiB), 1 2 MiB multiple, 2 odd above 2 MiB; x malloc/mmap */
  static const char *const kind_name[3] = {"burst<2M", "2M-multiple", "odd>2M"};
  uint64_t present[3][2] = {{0}}, thp[3][2] = {{0}}, nbuf[3][2] = {{0}};
  fprintf(out, "# id via len addr%%2M present_pages thp_pages\n");
  for (size_t i = 0; i < g_nbufs; i++) {
    const buf_t *b = &g_bufs[i];
    uintptr_t lo = (uintptr_t)b->p & ~(uintptr_t)(PAGE - 1);
    uintptr_t hi = ((uintptr_t)b->p + b->len + PAGE - 1) & ~(uintptr_t)(PAGE - 1);
    uint64_t pres = 0, huge = 0;
    for (uintptr_t a = lo; a < hi; a += PAGE) {
      uint64_t e, f;
      if (pread(pm, &e, sizeof e, (off_t)(a / PAGE * sizeof e)) != (ssize_t)sizeof e) break;
      if (!(e & PM_PRESENT)) continue;
      pres++;
      uint64_t pfn = e & PM_PFN_MASK;
      if (pfn == 0) continue;   /* PFNs hidden: not root */
      if (pread(kf, &f, sizeof f, (off_t)(pfn * sizeof f)) == (ssize_t)sizeof f &&
          (f >> KPF_THP) & 1)
        huge++;
    }
    int k = b->len < 2 * MiB ? 0 : (b->len % (2 * MiB) == 0 ? 1 : 2);
    present[k][b->via_mmap] += pres;
    thp[k][b->via_mmap] += huge;
    nbuf[k][b->via_mmap]++;
    fprintf(out, "%" PRIu64 " %s %zu %zu %" PRIu64 " %" PRIu64 "\n", b->id,
            b->via_mmap ? "mmap" : "malloc", b->len, (size_t)((uintptr_t)b->p % (2 * MiB)), pres, huge);
  }
  for (int k = 0; k < 3; k++)
    for (int v = 0; v < 2; v++)
      fprintf(stderr, "thp-breakdown: %-12s %-6s buffers %4" PRIu64 " present %7.1f MiB huge %5.1f%%\n",
              kind_name[k], v ? "mmap" : "malloc", nbuf[k][v], (double)present[k][v] * PAGE / (double)MiB,
              present[k][v] ? 100.0 * (double)thp[k][v] / (double)present[k][v] : 0.0);
done:
  if (pm >= 0) close(pm);
  if (kf >= 0) close(kf);
  if (out != NULL) fclose(out);
}

/* --------------------------------------------------------------------------
   Waves
-------------------------------------------------------------------------- */

static const size_t odd_sizes[] = {2 * MiB + 512 * KiB, 4632 * KiB};

static void run_wave(unsigned wave, uint64_t *rng) {
  /* The wave's shape: its own burst sizes and its own mix of multiples
     and odd sizes. */
  size_t burst_lo = 512 * KiB + (size_t)rnd_below(rng, 512) * KiB;       /* 512K..1023K */
  size_t burst_hi = burst_lo + 128 * KiB + (size_t)rnd_below(rng, 384) * KiB; /* ..1.5M */
  if (burst_hi > 1536 * KiB) burst_hi = 1536 * KiB;
  unsigned mult_bias = (unsigned)rnd_below(rng, 3);      /* favoured 2/4/6 MiB */
  unsigned odd_bias = (unsigned)rnd_below(rng, 3);       /* favoured odd kind */

  while (g_live < g_cfg.live) {
    /* A burst: 3-8 buffers of one size, 64-byte granularity. */
    size_t sz = burst_lo + (size_t)rnd_below(rng, (burst_hi - burst_lo) / LINE + 1) * LINE;
    unsigned k = 3 + (unsigned)rnd_below(rng, 6);
    for (unsigned i = 0; i < k && g_live < g_cfg.live; i++)
      alloc_one(sz, rnd_below(rng, 2) == 0);
    /* 1-3 pairs: a 2 MiB multiple, then an odd size just above 2 MiB. */
    unsigned pairs = 1 + (unsigned)rnd_below(rng, 3);
    for (unsigned i = 0; i < pairs && g_live < g_cfg.live; i++) {
      unsigned m = rnd_below(rng, 2) ? mult_bias : (unsigned)rnd_below(rng, 3);
      alloc_one((size_t)(m + 1) * 2 * MiB, rnd_below(rng, 2) == 0);
      if (g_live >= g_cfg.live) break;
      unsigned o = rnd_below(rng, 2) ? odd_bias : (unsigned)rnd_below(rng, 3);
      size_t odd = o < 2 ? odd_sizes[o] : 2 * MiB + (1 + (size_t)rnd_below(rng, 63)) * 16 * KiB;
      alloc_one(odd, rnd_below(rng, 2) == 0);
    }
  }
  (void)wave;
}

/* Frees about half of the live buffers (a seeded coin per buffer). */
static void free_half(uint64_t *rng) {
  for (size_t i = 0; i < g_nbufs;) {
    if (rnd_below(rng, 2) == 0) free_one(i);
    else i++;
  }
}

/* --------------------------------------------------------------------------
   The compute pass: one line per page of every live buffer, P times. With
   -t T, T threads (the main one included) take every T-th buffer.
-------------------------------------------------------------------------- */

typedef struct worker_s {
  pthread_t tid;
  unsigned index;
  uint64_t sum;
} worker_t;

static worker_t *g_workers;
static pthread_barrier_t g_start, g_done;
static volatile bool g_quit;

static uint64_t compute_share(unsigned index) {
  uint64_t s = 0;
  for (size_t i = index; i < g_nbufs; i += g_cfg.threads) s += read_buf(&g_bufs[i]);
  return s;
}

static void *worker_main(void *arg) {
  worker_t *w = arg;
  for (;;) {
    pthread_barrier_wait(&g_start);
    if (g_quit) return NULL;
    w->sum = compute_share(w->index);
    pthread_barrier_wait(&g_done);
  }
}

static void compute(void) {
  uint64_t t0 = now_ns();
  for (unsigned pass = 0; pass < g_cfg.passes; pass++) {
    uint64_t s;
    if (g_cfg.threads == 1) {
      s = compute_share(0);
    } else {
      pthread_barrier_wait(&g_start);
      s = compute_share(0);
      pthread_barrier_wait(&g_done);
      for (unsigned t = 1; t < g_cfg.threads; t++) s += g_workers[t].sum;
    }
    g_checksum = (g_checksum * 0x100000001B3ull) ^ s;
  }
  g_compute_ns += now_ns() - t0;
}

static void workers_start(void) {
  if (g_cfg.threads == 1) return;
  g_workers = calloc(g_cfg.threads, sizeof *g_workers);
  if (g_workers == NULL) die("out of memory");
  if (pthread_barrier_init(&g_start, NULL, g_cfg.threads) != 0 ||
      pthread_barrier_init(&g_done, NULL, g_cfg.threads) != 0)
    die("pthread_barrier_init failed");
  for (unsigned t = 1; t < g_cfg.threads; t++) {
    g_workers[t].index = t;
    int rc = pthread_create(&g_workers[t].tid, NULL, worker_main, &g_workers[t]);
    if (rc != 0) die("pthread_create: %s", strerror(rc));
  }
}

static void workers_stop(void) {
  if (g_cfg.threads == 1) return;
  g_quit = true;
  pthread_barrier_wait(&g_start);
  for (unsigned t = 1; t < g_cfg.threads; t++) pthread_join(g_workers[t].tid, NULL);
  free(g_workers);
}

/* --------------------------------------------------------------------------
   main
-------------------------------------------------------------------------- */

int main(int argc, char **argv) {
  parse_args(argc, argv);
  uint64_t t_begin = now_ns();
  tlb_t tlb0 = tlb_read();

  /* Room for the densest wave: every buffer the smallest, twice over. */
  g_capbufs = (size_t)(2 * g_cfg.live / (512 * KiB)) + 64;
  g_bufs = calloc(g_capbufs, sizeof *g_bufs);
  if (g_bufs == NULL) die("out of memory");
  workers_start();

  uint64_t rng = g_cfg.seed * 0x2545F4914F6CDD1Dull + 1;
  for (unsigned w = 0; w < g_cfg.waves; w++) {
    if (w > 0) free_half(&rng);
    run_wave(w, &rng);
    compute();
    if (g_cfg.verbose)
      fprintf(stderr, "wave %u: %zu buffers, %.1f MiB live, %" PRIu64 " VMAs\n", w, g_nbufs,
              (double)g_live / (double)MiB, vma_count());
  }

  /* The peak: counters before the final frees. */
  uint64_t vmas = vma_count();
  rollup_t ru = {0, 0};
  for_each_line("/proc/self/smaps_rollup", rollup_line, &ru);
  struct rusage rus;
  getrusage(RUSAGE_SELF, &rus);
  tlb_t tlb1 = tlb_read();
  uint64_t peak_live = g_live;
  size_t peak_bufs = g_nbufs;
  const char *snap = g_cfg.json != NULL ? tiershim_snapshot(g_cfg.json) : "off";
  if (g_cfg.smaps != NULL && !copy_file("/proc/self/smaps", g_cfg.smaps))
    fprintf(stderr, "ts_thp_pattern: cannot copy /proc/self/smaps to %s\n", g_cfg.smaps);
  if (g_cfg.pages != NULL) thp_breakdown(g_cfg.pages);

  workers_stop();
  while (g_nbufs > 0) free_one(g_nbufs - 1);
  free(g_bufs);
  double wall = (double)(now_ns() - t_begin) * 1e-9;

  uint64_t anon = ru.anon_kb * 1024, huge = ru.huge_kb * 1024;
  char tlbs[32];
  if (tlb0.found && tlb1.found) snprintf(tlbs, sizeof tlbs, "%" PRIu64, tlb1.sum - tlb0.sum);
  else snprintf(tlbs, sizeof tlbs, "na");

  printf("vma_count=%" PRIu64 " anon_rss_bytes=%" PRIu64 " anon_huge_bytes=%" PRIu64
         " thp_coverage=%.4f minor_faults=%ld compute_s=%.4f alloc_max_us=%.1f"
         " touch_max_us=%.1f tlb_shootdowns=%s wall_s=%.3f live_bytes=%" PRIu64
         " live_bufs=%zu waves=%u passes=%u threads=%u seed=%" PRIu64 " allocs=%" PRIu64
         " mmap_allocs=%" PRIu64 " alloc_s=%.4f touch_s=%.4f free_max_us=%.1f"
         " alloc_max_at=%s:%zu alloc_max_csw=%ldv%ldi alloc_max_faults=%ld"
         " alloc_faults=%ld touch_max_at=%s:%zu"
         " touch_max_csw=%ldv%ldi nivcsw=%ld"
         " tiershim_json=%s malloc_from=%s checksum=%016" PRIx64 "\n",
         vmas, anon, huge, anon > 0 ? (double)huge / (double)anon : 0.0, rus.ru_minflt,
         (double)g_compute_ns * 1e-9, (double)g_alloc_max_ns * 1e-3,
         (double)g_touch_max_ns * 1e-3, tlbs, wall, peak_live, peak_bufs, g_cfg.waves,
         g_cfg.passes, g_cfg.threads, g_cfg.seed, g_allocs, g_mmap_allocs,
         (double)g_alloc_ns * 1e-9, (double)g_touch_ns * 1e-9, (double)g_free_max_ns * 1e-3,
         g_alloc_max_mmap ? "mmap" : "malloc", g_alloc_max_len, g_alloc_max_vcsw,
         g_alloc_max_ivcsw, g_alloc_max_flt, g_alloc_faults, g_touch_max_mmap ? "mmap" : "malloc", g_touch_max_len,
         g_touch_max_vcsw, g_touch_max_ivcsw, rus.ru_nivcsw, snap, malloc_from(), g_checksum);
  return 0;
}
