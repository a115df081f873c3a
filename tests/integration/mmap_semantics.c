/* mmap_semantics: the kernel's mmap, munmap, mremap, mprotect and madvise
 * semantics, as a program sees them, for anonymous private mappings inside
 * the placement window (64 KiB .. 4 GiB) and a few outside it.
 *
 *   mmap_semantics [--shim] [--extra] [--iters=N] [--threads=N] [--only=CASE]
 *
 * Prints one line per observed behaviour ("case: result") on stdout. The
 * output is a function of the kernel only: no addresses, no alignment
 * beyond the page (placement may give a different 2 MiB alignment than the
 * kernel), nothing that depends on which neighbours a mapping happens to
 * have or on where the kernel puts the next mapping; /proc/self/maps is
 * read as permission runs relative to the mapping (holes and PROT_NONE
 * alike: "none"). Touching an unmapped range must fault, as the kernel
 * makes it (except under --munmap-release). An unexpected SIGSEGV/SIGBUS in the main thread ends its case
 * with "CRASHED" and the next case runs.
 * mmap_semantics.sh runs it without the shim and under LD_PRELOAD (with
 * several TIERSHIM_* settings) and diffs stdout: any difference fails.
 *
 *   --shim    first check that tiershim is active (tiershim_stats_get found
 *             with dlsym), as every integration test does under the shim.
 *   --extra   instead of the cases above, observations beyond the five
 *             interposed functions (RLIMIT_AS, mincore/msync/mlock and
 *             /proc/self/maps on a freed range, lazy commit, VMA counts).
 *             The script reports their differences as INFO only.
 *   --munmap-release  the shim runs with TIERSHIM_MUNMAP=release: reading
 *             unmapped placed memory is accepted (see release_mode below).
 *   --iters=N iterations per thread in the threads case (default 2000).
 *   --threads=N  threads in the threads case (default 4).
 *   --only=CASE  run one case (a name from the cases table), for debugging.
 *
 * Exits non-zero when a check of a kernel-guaranteed behaviour fails (the
 * plain run must pass: that validates the test's expectations). Messages
 * "FAIL: ..." and "INFO: ..." go to stderr.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <malloc.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "it_common.h"

#define KB(x) ((size_t)(x) << 10)
#define MB(x) ((size_t)(x) << 20)
#define RW (PROT_READ | PROT_WRITE)
#define PA (MAP_PRIVATE | MAP_ANONYMOUS)

#define SAY(...) (printf(__VA_ARGS__), putchar('\n'))
#define INFO(...) (fprintf(stderr, "INFO: " __VA_ARGS__), fputc('\n', stderr))

static size_t PG;
static const char *yesno(int b) { return b ? "yes" : "no"; }

/* ---- names ---------------------------------------------------------------- */


/* "0" or "-1/ERRNO" for an int-returning call; errno captured by the caller */
static const char *ir(int r, int e) {
  static char buf[8][32];
  static int i;
  if (r == 0) return "0";
  i = (i + 1) % 8;
  snprintf(buf[i], sizeof buf[i], "%d/%s", r, it_errname(e));
  return buf[i];
}

/* Calls FN(args) with errno cleared, stores the result in R and errno in E. */
#define CALL(r, e, expr)                                                      \
  do {                                                                        \
    errno = 0;                                                                \
    r = (expr);                                                               \
    e = errno;                                                                \
  } while (0)

static const char *sz(size_t n) { /* "4632K" */
  static char buf[8][32];
  static int i;
  i = (i + 1) % 8;
  if (n % KB(1) == 0)
    snprintf(buf[i], sizeof buf[i], "%zuK", n >> 10);
  else
    snprintf(buf[i], sizeof buf[i], "%zu", n);
  return buf[i];
}

/* ---- signals: probes and unexpected faults -------------------------------- */

static sigjmp_buf probe_jb, case_jb;
static volatile sig_atomic_t probe_armed, case_armed, fault_sig, in_child;
static pid_t main_tid;

static void on_fault(int sig) {
  fault_sig = sig;
  if (probe_armed) {
    probe_armed = 0;
    siglongjmp(probe_jb, 1);
  }
  if (in_child) _exit(90 + sig % 10); /* a child's unexpected fault */
  if (case_armed && syscall(SYS_gettid) == main_tid) {
    case_armed = 0;
    siglongjmp(case_jb, 1);
  }
  signal(sig, SIG_DFL); /* a worker thread: crash for real */
  raise(sig);
}

static const char *sig_name(int s) {
  return s == SIGSEGV ? "SIGSEGV" : s == SIGBUS ? "SIGBUS" : "signal";
}

/* Reads a byte at A (and writes it back when WRITE): "ok", "SIGSEGV" or
 * "SIGBUS". The written value is the one read, so contents stay intact. */
static const char *probe(const void *a, int write) {
  volatile unsigned char *p = (volatile unsigned char *)a;
  if (sigsetjmp(probe_jb, 1) == 0) {
    probe_armed = 1;
    unsigned char v = *p;
    if (write) *p = v;
    probe_armed = 0;
    return "ok";
  }
  return sig_name(fault_sig);
}
#define PR(a) probe((a), 0)
#define PW(a) probe((a), 1)
static int is_segv(const char *s) { return strcmp(s, "SIGSEGV") == 0; }
static int is_ok(const char *s) { return strcmp(s, "ok") == 0; }

/* --munmap-release: the shim runs with TIERSHIM_MUNMAP=release, where a
 * placed range the program unmapped stays readable (docs/design.md, "the one
 * deliberate difference"). Probes of unmapped memory then accept a read
 * (counted, with what it saw: INFO at exit), and lines that show such memory
 * in /proc/self/maps start with "~ " (mmap_semantics.sh leaves them out of
 * that comparison). Everything else is compared as usual. */
static int release_mode, gone_reads, gone_stale;

/* A probe of memory the program unmapped: 1 when it faults (or, under
 * --munmap-release, when it reads). */
static int GONE(const void *a) {
  const char *t = PR(a);
  if (is_segv(t)) return 1;
  if (!release_mode || !is_ok(t)) return 0;
  gone_reads++;
  if (*(const volatile unsigned char *)a != 0) gone_stale++;
  return 1;
}
#define SAYU(...) (fputs("~ ", stdout), SAY(__VA_ARGS__))

/* ---- memory helpers -------------------------------------------------------- */

static unsigned char *xmap(size_t len, int prot, int flags) {
  void *p = mmap(NULL, len, prot, flags, -1, 0);
  if (p == MAP_FAILED)
    IT_DIE("mmap(NULL, %zu, prot=%d, flags=%#x): %s", len, prot, flags, strerror(errno));
  return p;
}

static void xunmap(void *p, size_t len) {
  if (munmap(p, len) != 0) IT_FAIL("munmap(%p, %zu): %s", p, len, strerror(errno));
}

static int all_zero(const void *p, size_t n) {
  const uint64_t *w = p;
  size_t i = 0;
  for (; i + 8 <= n; i += 8, w++)
    if (*w) return 0;
  for (const unsigned char *b = (const unsigned char *)p + i; i < n; i++, b++)
    if (*b) return 0;
  return 1;
}

/* Two words per page (its first and last 8 bytes) identify page PG of a
 * block tagged SEED, so the pattern survives moves (mremap) and can be
 * checked on any page-aligned sub-range: offsets are relative to BASE. */
static uint64_t pw(uint64_t seed, size_t pg, unsigned which) {
  return it_seed(seed * 0x100000001B3ULL + pg * 2 + which) | 1;
}

static void fill(unsigned char *base, size_t lo, size_t hi, uint64_t seed) {
  for (size_t o = lo; o < hi; o += PG) {
    *(volatile uint64_t *)(base + o) = pw(seed, o / PG, 0);
    *(volatile uint64_t *)(base + o + PG - 8) = pw(seed, o / PG, 1);
  }
}

static int check(const unsigned char *base, size_t lo, size_t hi, uint64_t seed) {
  for (size_t o = lo; o < hi; o += PG)
    if (*(const volatile uint64_t *)(base + o) != pw(seed, o / PG, 0) ||
        *(const volatile uint64_t *)(base + o + PG - 8) != pw(seed, o / PG, 1))
      return 0;
  return 1;
}

/* ---- /proc/self/maps without allocating ----------------------------------- */

static char maps_buf[4 << 20];

static size_t read_file(const char *path, char *buf, size_t cap) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) IT_DIE("open %s: %s", path, strerror(errno));
  size_t n = 0;
  for (;;) {
    ssize_t r = read(fd, buf + n, cap - 1 - n);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) IT_DIE("read %s: %s", path, strerror(errno));
    if (r == 0) break;
    n += (size_t)r;
    if (n >= cap - 1) IT_DIE("%s larger than %zu bytes", path, cap);
  }
  close(fd);
  buf[n] = '\0';
  return n;
}

/* The permissions over [base, base+len) as runs relative to base, e.g.
 * "rw-p@0+1024K r--p@1024K+1024K". A hole and an inaccessible ("---")
 * mapping both read "none": tiershim's address-space reservation is a
 * PROT_NONE mapping where the kernel alone would leave a hole, and no access
 * can tell them apart (the calls that can are checked by their own cases).
 * Adjacent VMAs with the same permissions form one run: how many VMAs back a
 * range is not part of the kernel's contract with the program. *RAW gets the
 * raw number of VMAs overlapping the range (for INFO lines). */
typedef struct {
  char *out;
  size_t cap, o;
  uintptr_t base, run_lo;
  char run[8];
} layout_t;

static void emit(layout_t *L, const char *lbl, uintptr_t at) {
  if (strcmp(L->run, lbl) == 0) return;
  if (L->run[0] && L->o < L->cap)
    L->o += (size_t)snprintf(L->out + L->o, L->cap - L->o, "%s%s@%s+%s", L->o ? " " : "", L->run,
                             sz(L->run_lo - L->base), sz(at - L->run_lo));
  snprintf(L->run, sizeof L->run, "%s", lbl);
  L->run_lo = at;
}

static const char *layout(const void *base, size_t len, int *raw) {
  static char out[1024];
  uintptr_t lo = (uintptr_t)base, hi = lo + len, cur = lo;
  layout_t L = {out, sizeof out, 0, lo, lo, ""};
  int nraw = 0;
  out[0] = '\0';
  read_file("/proc/self/maps", maps_buf, sizeof maps_buf);
  for (char *line = maps_buf; *line;) {
    char *nl = strchr(line, '\n');
    char *end;
    uintptr_t s = strtoull(line, &end, 16), e = strtoull(end + 1, &end, 16);
    char perm[5];
    memcpy(perm, end + 1, 4);
    perm[4] = '\0';
    line = nl ? nl + 1 : line + strlen(line);
    if (e <= lo || s >= hi) continue;
    nraw++;
    if (s < lo) s = lo;
    if (e > hi) e = hi;
    if (s > cur) emit(&L, "none", cur);
    emit(&L, strncmp(perm, "---", 3) == 0 ? "none" : perm, s);
    cur = e;
  }
  if (cur < hi) emit(&L, "none", cur);
  emit(&L, "", hi); /* flush */
  if (raw) *raw = nraw;
  return out;
}

/* The raw view: "hole", or the permissions of the VMA containing ADDR. */
static const char *maps_at(const void *addr) {
  static char out[8];
  uintptr_t a = (uintptr_t)addr;
  read_file("/proc/self/maps", maps_buf, sizeof maps_buf);
  for (char *line = maps_buf; *line;) {
    char *nl = strchr(line, '\n');
    char *end;
    uintptr_t s = strtoull(line, &end, 16), e = strtoull(end + 1, &end, 16);
    if (a >= s && a < e) {
      memcpy(out, end + 1, 4);
      out[4] = '\0';
      return out;
    }
    line = nl ? nl + 1 : line + strlen(line);
  }
  return "hole";
}

/* Whether the VMAs over [base, base+len) carry VmFlags token FLAG
 * (/proc/self/smaps): "all", "none" or "some". Holes count as "none". */
static const char *vmflag(const void *base, size_t len, const char *flag) {
  uintptr_t lo = (uintptr_t)base, hi = lo + len;
  int with = 0, without = 0, in = 0;
  read_file("/proc/self/smaps", maps_buf, sizeof maps_buf);
  for (char *line = maps_buf; *line;) {
    char *nl = strchr(line, '\n');
    if (nl) *nl = '\0';
    char *end;
    uintptr_t s = strtoull(line, &end, 16);
    if (*end == '-' && end > line) { /* a VMA's header line */
      uintptr_t e = strtoull(end + 1, &end, 16);
      in = e > lo && s < hi;
    } else if (in && strncmp(line, "VmFlags:", 8) == 0) {
      int has = 0;
      for (char *t = line + 8; *t;) {
        while (*t == ' ') t++;
        if (strncmp(t, flag, 2) == 0 && (t[2] == ' ' || t[2] == '\0')) has = 1;
        while (*t && *t != ' ') t++;
      }
      if (has) with++;
      else without++;
      in = 0;
    }
    line = nl ? nl + 1 : line + strlen(line);
  }
  return with && !without ? "all" : with ? "some" : "none";
}

static long rss_kb(void) {
  char buf[256];
  read_file("/proc/self/statm", buf, sizeof buf);
  long size = 0, rss = 0;
  if (sscanf(buf, "%ld %ld", &size, &rss) != 2) IT_DIE("parse /proc/self/statm");
  return rss * (long)(PG / 1024);
}

/* This thread's faults: tiershim's own threads (the collapse thread under
 * THP=collapse) fault on their own memory, which says nothing about ours. */
static long minflt(void) {
  struct rusage ru;
  getrusage(RUSAGE_THREAD, &ru);
  return ru.ru_minflt;
}

/* Lots of mapping and large-block traffic that writes 0xEE everywhere it is
 * given: a placement engine that lost track of a range hands it out here and
 * the caller's checks see the damage. Leaves nothing mapped. */
static void churn(int rounds) {
  static const size_t sizes[] = {KB(64), KB(256), KB(1536), MB(2), MB(4), KB(4632), KB(100)};
  enum { N = 6 };
  unsigned char *held[N] = {0};
  size_t held_len[N] = {0};
  void *blk[N] = {0};
  uint64_t st = it_seed(777);
  for (int r = 0; r < rounds; r++) {
    int k = (int)(it_rand(&st) % N);
    if (held[k]) {
      xunmap(held[k], held_len[k]);
      held[k] = NULL;
    } else {
      size_t len = sizes[it_rand(&st) % (sizeof sizes / sizeof sizes[0])];
      held[k] = xmap(len, RW, PA);
      held_len[k] = len;
      for (size_t o = 0; o < len; o += PG) held[k][o] = 0xEE; /* every page dirty */
    }
    k = (int)(it_rand(&st) % N);
    if (blk[k]) {
      free(blk[k]);
      blk[k] = NULL;
    } else {
      size_t len = sizes[it_rand(&st) % (sizeof sizes / sizeof sizes[0])] + 40;
      blk[k] = malloc(len);
      if (blk[k] == NULL) IT_DIE("malloc(%zu) failed", len);
      for (size_t o = 0; o < len; o += PG) ((unsigned char *)blk[k])[o] = 0xEE;
    }
  }
  for (int k = 0; k < N; k++) {
    if (held[k]) xunmap(held[k], held_len[k]);
    free(blk[k]);
  }
}

/* ---- cases ----------------------------------------------------------------- */

static void c_zero_fill(void) {
  static const struct { size_t len; int flags; const char *what; } t[] = {
      {KB(16), PA, "private"},        {KB(64), PA, "private"},
      {KB(256), PA, "private"},       {KB(1536), PA, "private"},
      {MB(2), PA, "private"},         {MB(4), PA, "private"},
      {KB(4632), PA, "private"},      {MB(6), PA, "private"},
      {MB(2), MAP_SHARED | MAP_ANONYMOUS, "shared"},
  };
  int r, e;
  for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
    size_t len = t[i].len;
    unsigned char *p = xmap(len, RW, t[i].flags);
    int aligned = ((uintptr_t)p % PG) == 0;
    int z = all_zero(p, len);
    fill(p, 0, len, 10 + i);
    int back = check(p, 0, len, 10 + i);
    CALL(r, e, munmap(p, len));
    int after = GONE(p);
    IT_CHECK(aligned && z && back && r == 0 && after,
             "zero-fill %s %s: aligned=%d zero=%d readback=%d munmap=%d after-munmap-faults=%d",
             t[i].what, sz(len), aligned, z, back, r, after);
    SAY("zero-fill %s %s: page-aligned=%s zero=%s readback=%s munmap=%s after-munmap-faults=%s",
        t[i].what, sz(len), yesno(aligned), yesno(z), yesno(back), ir(r, e), yesno(after));
  }

  /* 1 GiB + 4 KiB: the top of the window; touch only the ends. */
  size_t big = MB(1024) + KB(4);
  unsigned char *p = xmap(big, RW, PA);
  int z = all_zero(p, MB(2)) && all_zero(p + big - MB(2), MB(2));
  fill(p, 0, MB(2), 5);
  fill(p, big - MB(2), big, 5);
  int back = check(p, 0, MB(2), 5) && check(p, big - MB(2), big, 5);
  IT_CHECK(z && back, "zero-fill 1G+4K: zero=%d readback=%d", z, back);
  CALL(r, e, munmap(p, big));
  SAY("zero-fill private %s: zero=%s readback=%s munmap=%s", sz(big), yesno(z), yesno(back), ir(r, e));

  /* Reuse: the same sizes mapped, dirtied and unmapped again and again
   * (2 MiB multiples and others alternating, a few kept alive so the layout
   * varies): every new mapping must be zero-filled. */
  static const size_t rs[] = {MB(2), KB(1536), MB(4), KB(4632), KB(256), KB(64), MB(6), MB(2) + KB(4)};
  enum { ROUNDS = 120, KEEP = 3 };
  unsigned char *keep[KEEP] = {0};
  size_t keep_len[KEEP] = {0};
  int bad = -1;
  for (int r = 0; r < ROUNDS; r++) {
    size_t len = rs[r % (sizeof rs / sizeof rs[0])];
    unsigned char *q = xmap(len, RW, PA);
    if (!all_zero(q, len) && bad < 0) {
      bad = r;
      IT_FAIL("reuse round %d: mmap(%zu) not zero-filled", r, len);
    }
    for (size_t o = (size_t)(r * 8) % PG; o < len; o += PG) *(uint64_t *)(q + o) = ~(uint64_t)0;
    if (r % 7 == 3) {
      int k = (r / 7) % KEEP;
      if (keep[k]) xunmap(keep[k], keep_len[k]);
      keep[k] = q;
      keep_len[k] = len;
    } else {
      xunmap(q, len);
    }
  }
  for (int k = 0; k < KEEP; k++)
    if (keep[k]) xunmap(keep[k], keep_len[k]);
  SAY("zero-fill after reuse (%d rounds, 8 sizes): %s", ROUNDS, bad < 0 ? "ok" : "NOT ZERO");

  /* munmap gives the memory back: RSS falls. */
  size_t rl = MB(64);
  unsigned char *q = xmap(rl, RW, PA);
  memset(q, 0x5A, rl);
  long before = rss_kb();
  xunmap(q, rl);
  long drop = before - rss_kb();
  IT_CHECK(drop >= (long)(rl / 2 / 1024), "munmap of 64M dirtied: RSS fell by %ld KiB only", drop);
  SAY("munmap releases memory (64M dirtied, RSS falls by >= 32M): %s", yesno(drop >= (long)(rl / 2 / 1024)));
}

static void c_partial_munmap(void) {
  static const size_t lens[] = {MB(4), KB(4632), KB(1536)};
  for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
    size_t len = lens[i], head = KB(256), tail = 3 * PG;
    size_t mid = len >= MB(4) ? MB(2) - KB(64) : KB(768), midl = KB(128);
    uint64_t seed = 100 + i;
    unsigned char *p = xmap(len, RW, PA);
    fill(p, 0, len, seed);
    int r1, r2, r3, e1, e2, e3;
    CALL(r1, e1, munmap(p, head));
    CALL(r2, e2, munmap(p + len - tail, tail));
    CALL(r3, e3, munmap(p + mid, midl));
    int gone[6] = {GONE(p), GONE(p + head - 1), GONE(p + mid), GONE(p + mid + midl - 1),
                   GONE(p + len - tail), GONE(p + len - 1)};
    const char *kept[4] = {PW(p + head), PW(p + mid - 1), PW(p + mid + midl),
                           PW(p + len - tail - 1)};
    int ngone = 0, nkept = 0;
    for (int k = 0; k < 6; k++) ngone += gone[k];
    for (int k = 0; k < 4; k++) nkept += is_ok(kept[k]);
    int contents = check(p, head, mid, seed) && check(p, mid + midl, len - tail, seed);
    const char *lay = layout(p, len, NULL);
    IT_CHECK(r1 == 0 && r2 == 0 && r3 == 0 && ngone == 6 && nkept == 4 && contents,
             "partial munmap %s: head=%d tail=%d mid=%d gone=%d/6 kept=%d/4 contents=%d",
             sz(len), r1, r2, r3, ngone, nkept, contents);
    SAY("partial munmap %s: head=%s tail=%s middle=%s unmapped-parts-fault=%d/6 "
        "kept-parts-rw=%d/4 contents=%s",
        sz(len), ir(r1, e1), ir(r2, e2), ir(r3, e3), ngone, nkept, yesno(contents));
    SAYU("partial munmap %s: layout %s", sz(len), lay);
    /* Unmapping the whole original range (mappings and holes) succeeds. */
    int r, e;
    CALL(r, e, munmap(p, len));
    int after = GONE(p + head) && GONE(p + mid + midl) && GONE(p + len - tail - 1);
    IT_CHECK(r == 0 && after, "munmap of the rest of %s: %d after=%d", sz(len), r, after);
    SAY("partial munmap %s: whole range (with holes)=%s then-faults=%s", sz(len), ir(r, e),
        yesno(after));
    SAYU("partial munmap %s: after the whole range: layout %s", sz(len), layout(p, len, NULL));
  }

  /* Split at a 2 MiB boundary: unmap exactly the first 2 MiB of 6 MiB. */
  unsigned char *p = xmap(MB(6), RW, PA);
  fill(p, 0, MB(6), 7);
  int r, e;
  CALL(r, e, munmap(p, MB(2)));
  int ok = r == 0 && GONE(p + MB(2) - 1) && is_ok(PW(p + MB(2))) && check(p, MB(2), MB(6), 7);
  IT_CHECK(ok, "munmap first 2M of 6M");
  SAY("partial munmap 6M first 2M: %s rest=%s", ir(r, e), yesno(ok));
  xunmap(p + MB(2), MB(4));
}

static void c_munmap_span(void) {
  int r, e;
  /* (a) one mapping plus unmapped space after it */
  unsigned char *p = xmap(MB(4), RW, PA);
  fill(p, 0, MB(4), 21);
  xunmap(p + MB(3), MB(1));
  CALL(r, e, munmap(p, MB(4)));
  int gone = GONE(p) && GONE(p + MB(3) - 1);
  IT_CHECK(r == 0 && gone, "munmap mapping+hole: %d gone=%d", r, gone);
  SAY("munmap mapping + unmapped space: %s gone=%s", ir(r, e), yesno(gone));

  /* (b) unmapped space first, then a mapping */
  p = xmap(KB(4632), RW, PA);
  xunmap(p, MB(1));
  CALL(r, e, munmap(p, KB(4632)));
  gone = GONE(p + MB(1)) && GONE(p + KB(4632) - 1);
  IT_CHECK(r == 0 && gone, "munmap hole+mapping: %d gone=%d", r, gone);
  SAY("munmap unmapped space + mapping: %s gone=%s", ir(r, e), yesno(gone));

  /* (c) a range with no mapping at all (a freed placed range) */
  CALL(r, e, munmap(p, KB(4632)));
  IT_CHECK(r == 0, "munmap of an unmapped range: %d", r);
  SAY("munmap of a range with nothing mapped: %s", ir(r, e));

  /* (d) two adjacent mappings made so by MAP_FIXED; unmap across both */
  p = xmap(MB(4), RW, PA);
  fill(p, 0, MB(4), 22);
  void *q = mmap(p + MB(2), MB(2), PROT_READ, PA | MAP_FIXED, -1, 0);
  IT_CHECK(q == p + MB(2), "MAP_FIXED over the second half");
  CALL(r, e, munmap(p + MB(1), MB(2)));
  int ok = r == 0 && GONE(p + MB(1)) && GONE(p + MB(3) - 1) && check(p, 0, MB(1), 22) &&
           all_zero(p + MB(3), MB(1));
  IT_CHECK(ok, "munmap across two adjacent mappings");
  SAY("munmap across two adjacent mappings: %s rest=%s", ir(r, e), yesno(ok));
  SAYU("munmap across two adjacent mappings: layout %s", layout(p, MB(4), NULL));
  xunmap(p, MB(4));

  /* (e) two independent mappings: one call when they happen to be adjacent,
   * two otherwise (the gap between them may hold anything). */
  unsigned char *a = xmap(KB(1536), RW, PA), *b = xmap(KB(1536), RW, PA);
  fill(a, 0, KB(1536), 23);
  fill(b, 0, KB(1536), 24);
  int adj = b == a + KB(1536) || a == b + KB(1536);
  INFO("two 1536K mappings adjacent: %s", yesno(adj));
  if (adj) {
    r = munmap(a < b ? a : b, MB(3));
  } else {
    r = munmap(a, KB(1536));
    r |= munmap(b, KB(1536));
  }
  gone = GONE(a) && GONE(b + KB(1536) - 1);
  IT_CHECK(r == 0 && gone, "two mappings unmapped: %d gone=%d", r, gone);
  SAY("munmap two mappings (one call if adjacent): %s", yesno(r == 0 && gone));
}

static void c_munmap_einval(void) {
  int r, e;
  unsigned char *p = xmap(MB(2), RW, PA);
  fill(p, 0, MB(2), 31);
  CALL(r, e, munmap(p + 1, PG));
  SAY("munmap unaligned address: %s", ir(r, e));
  IT_CHECK(r == -1 && e == EINVAL, "munmap(p+1): %d %s", r, it_errname(e));
  CALL(r, e, munmap(p + KB(4) + 100, KB(64)));
  SAY("munmap unaligned address (inside): %s", ir(r, e));
  CALL(r, e, munmap(p, 0));
  SAY("munmap length 0: %s", ir(r, e));
  IT_CHECK(r == -1 && e == EINVAL, "munmap(p, 0): %d %s", r, it_errname(e));
  CALL(r, e, munmap(p, SIZE_MAX & ~(PG - 1)));
  SAY("munmap huge length: %s", ir(r, e));
  int intact = check(p, 0, MB(2), 31);
  SAY("munmap failures left the mapping intact: %s", yesno(intact));
  IT_CHECK(intact, "mapping changed by failed munmap calls");
  /* A length that is not a page multiple is rounded up. */
  CALL(r, e, munmap(p, 100));
  int first = GONE(p + PG - 1);
  const char *second = PW(p + PG);
  SAY("munmap length 100: %s first-page-faults=%s second-page=%s", ir(r, e), yesno(first), second);
  IT_CHECK(r == 0 && first && is_ok(second), "munmap(p, 100)");
  xunmap(p, MB(2));
}

static void c_mremap(void) {
  int e;
  unsigned char *p, *q;

  /* shrink: in place, kept part intact, cut tail faults */
  static const struct { size_t from, to; } sh[] = {
      {MB(4), KB(1536)}, {KB(4632), MB(2)}, {MB(2), KB(64)}, {MB(4), MB(1) + 100}};
  for (size_t i = 0; i < sizeof sh / sizeof sh[0]; i++) {
    size_t from = sh[i].from, to = sh[i].to, tor = (to + PG - 1) & ~(PG - 1);
    p = xmap(from, RW, PA);
    fill(p, 0, from, 40 + i);
    CALL(q, e, mremap(p, from, to, 0));
    int same = q == p;
    int kept = q != MAP_FAILED && check(p, 0, to & ~(PG - 1), 40 + i);
    const char *slack = to != tor ? PW(p + tor - 1) : "-";
    int cut = GONE(p + tor) && GONE(p + from - 1);
    IT_CHECK(same && kept && cut, "mremap shrink %s->%s", sz(from), sz(to));
    SAY("mremap shrink %s->%s: same-address=%s kept=%s slack=%s cut-tail-faults=%s", sz(from),
        sz(to), yesno(same), yesno(kept), slack, yesno(cut));
    SAYU("mremap shrink %s->%s: layout %s", sz(from), sz(to), layout(p, from, NULL));
    xunmap(p, tor);
  }

  /* same size: no-op */
  p = xmap(KB(1536), RW, PA);
  fill(p, 0, KB(1536), 45);
  CALL(q, e, mremap(p, KB(1536), KB(1536), 0));
  SAY("mremap same size: same-address=%s kept=%s", yesno(q == p), yesno(check(p, 0, KB(1536), 45)));
  xunmap(p, KB(1536));

  /* grow in place without MREMAP_MAYMOVE, neighbourhood unknown: either it
   * grows (contents kept, tail zero and writable) or it fails with ENOMEM;
   * the mapping made just after must be intact either way. */
  static const struct { size_t from, to; } gr[] = {{KB(1536), MB(3)}, {MB(2), MB(4)}, {KB(256), KB(4632)}};
  for (size_t i = 0; i < sizeof gr / sizeof gr[0]; i++) {
    size_t from = gr[i].from, to = gr[i].to;
    p = xmap(from, RW, PA);
    unsigned char *nb = xmap(from, RW, PA);
    fill(p, 0, from, 50 + i);
    fill(nb, 0, from, 60 + i);
    CALL(q, e, mremap(p, from, to, 0));
    int outcome_ok;
    size_t now = from;
    if (q == p) {
      outcome_ok = check(p, 0, from, 50 + i) && all_zero(p + from, to - from) &&
                   is_ok(PW(p + to - 1));
      now = to;
      INFO("mremap grow in place %s->%s: grew", sz(from), sz(to));
    } else if (q == MAP_FAILED && e == ENOMEM) {
      outcome_ok = check(p, 0, from, 50 + i);
      INFO("mremap grow in place %s->%s: ENOMEM", sz(from), sz(to));
    } else {
      outcome_ok = 0;
      INFO("mremap grow in place %s->%s: %s", sz(from), sz(to), q == MAP_FAILED ? it_errname(e) : "moved");
    }
    int nb_ok = check(nb, 0, from, 60 + i);
    IT_CHECK(outcome_ok && nb_ok, "mremap grow in place %s->%s", sz(from), sz(to));
    SAY("mremap grow in place %s->%s: grew-intact-or-ENOMEM=%s neighbour-intact=%s", sz(from),
        sz(to), yesno(outcome_ok), yesno(nb_ok));
    if (q != MAP_FAILED && q != p) now = to, p = q;
    xunmap(p, now);
    xunmap(nb, from);
  }

  /* grow in place into the mapping's own freed tail: nothing can have been
   * mapped there, so the kernel always grows in place. */
  static const struct { size_t len, keep; } own[] = {{MB(4), MB(2)}, {KB(4632), KB(1536)}};
  for (size_t i = 0; i < sizeof own / sizeof own[0]; i++) {
    size_t len = own[i].len, keep = own[i].keep;
    p = xmap(len, RW, PA);
    fill(p, 0, len, 70 + i);
    xunmap(p + keep, len - keep);
    CALL(q, e, mremap(p, keep, len, 0));
    int ok = q == p && check(p, 0, keep, 70 + i) && all_zero(p + keep, len - keep) &&
             is_ok(PW(p + len - 1));
    IT_CHECK(ok, "mremap grow into own freed tail %s->%s: %s", sz(keep), sz(len),
             q == MAP_FAILED ? it_errname(e) : "");
    SAY("mremap grow into own freed tail %s->%s: %s", sz(keep), sz(len),
        q == MAP_FAILED ? it_errname(e) : ok ? "grew, kept, tail zero" : "WRONG");
    xunmap(q == MAP_FAILED ? p : q, q == MAP_FAILED ? keep : len);
  }

  /* grow the head of a mapping: never in place (the rest of the mapping
   * follows); with MAYMOVE the head moves and the rest stays mapped */
  p = xmap(MB(4), RW, PA);
  fill(p, 0, MB(4), 80);
  CALL(q, e, mremap(p, MB(2), MB(3), 0));
  SAY("mremap grow head of a mapping without MAYMOVE: %s", q == MAP_FAILED ? it_errname(e) : "succeeded");
  IT_CHECK(q == MAP_FAILED && e == ENOMEM, "mremap grow head no MAYMOVE");
  CALL(q, e, mremap(p, MB(2), MB(3), MREMAP_MAYMOVE));
  if (q == MAP_FAILED) {
    SAY("mremap grow head of a mapping with MAYMOVE: %s", it_errname(e));
    IT_FAIL("mremap grow head MAYMOVE: %s", it_errname(e));
    xunmap(p, MB(4));
  } else {
    int ok = q != p && check(q, 0, MB(2), 80) && all_zero(q + MB(2), MB(1)) &&
             GONE(p) && GONE(p + MB(2) - 1) && check(p, MB(2), MB(4), 80);
    IT_CHECK(ok, "mremap grow head MAYMOVE");
    SAY("mremap grow head of a mapping with MAYMOVE: moved=%s head-moved-intact, old-head-faults, "
        "rest-stays: %s",
        yesno(q != p), yesno(ok));
    SAYU("mremap grow head of a mapping with MAYMOVE: layout-old %s", layout(p, MB(4), NULL));
    xunmap(q, MB(3));
    xunmap(p + MB(2), MB(2));
  }

  /* grow with MREMAP_MAYMOVE */
  static const struct { size_t from, to; } mv[] = {
      {KB(1536), KB(4632)}, {MB(2), MB(6)}, {KB(256), MB(4)}, {KB(16), MB(2)}, {MB(4), MB(40)}};
  for (size_t i = 0; i < sizeof mv / sizeof mv[0]; i++) {
    size_t from = mv[i].from, to = mv[i].to;
    p = xmap(from, RW, PA);
    fill(p, 0, from, 90 + i);
    CALL(q, e, mremap(p, from, to, MREMAP_MAYMOVE));
    if (q == MAP_FAILED) {
      SAY("mremap MAYMOVE %s->%s: %s", sz(from), sz(to), it_errname(e));
      IT_FAIL("mremap MAYMOVE %s->%s: %s", sz(from), sz(to), it_errname(e));
      xunmap(p, from);
      continue;
    }
    int kept = check(q, 0, from, 90 + i);
    int tail = all_zero(q + from, to - from);
    fill(q, from, to, 95 + i);
    int w = check(q, from, to, 95 + i);
    /* The old range is gone unless the mapping grew in place. */
    int old_ok = q == p || (p >= q && p < q + to) || GONE(p);
    INFO("mremap MAYMOVE %s->%s: %s", sz(from), sz(to), q == p ? "in place" : "moved");
    IT_CHECK(kept && tail && w && old_ok, "mremap MAYMOVE %s->%s", sz(from), sz(to));
    SAY("mremap MAYMOVE %s->%s: kept=%s new-tail-zero=%s writable=%s old-range-released=%s",
        sz(from), sz(to), yesno(kept), yesno(tail), yesno(w), yesno(old_ok));
    xunmap(q, to);
  }

  /* MREMAP_FIXED onto a destination the test mapped itself */
  static const struct { size_t from, to; } fx[] = {{KB(1536), KB(1536)}, {KB(1536), MB(2)}, {MB(2), MB(2)}};
  for (size_t i = 0; i < sizeof fx / sizeof fx[0]; i++) {
    size_t from = fx[i].from, to = fx[i].to;
    unsigned char *src = xmap(from, RW, PA), *dst = xmap(MB(4), RW, PA);
    fill(src, 0, from, 110 + i);
    fill(dst, 0, MB(4), 120 + i);
    CALL(q, e, mremap(src, from, to, MREMAP_MAYMOVE | MREMAP_FIXED, dst));
    int ok = q == dst && check(dst, 0, from, 110 + i) && all_zero(dst + from, to - from) &&
             check(dst, to, MB(4), 120 + i) && GONE(src) && GONE(src + from - 1);
    IT_CHECK(ok, "mremap FIXED %s->%s: %s", sz(from), sz(to), q == MAP_FAILED ? it_errname(e) : "");
    SAY("mremap FIXED %s->%s onto own 4M mapping: at-destination=%s moved-intact, "
        "grown-part-zero, rest-of-destination-kept, source-faults: %s layout-dst %s",
        sz(from), sz(to), yesno(q == dst), yesno(ok), layout(dst, MB(4), NULL));
    xunmap(dst, MB(4));
    if (q == MAP_FAILED) xunmap(src, from);
  }
  /* MREMAP_FIXED errors */
  p = xmap(MB(2), RW, PA);
  unsigned char *d = xmap(MB(2), RW, PA);
  fill(p, 0, MB(2), 130);
  CALL(q, e, mremap(p, MB(1), MB(1), MREMAP_FIXED, d));
  SAY("mremap FIXED without MAYMOVE: %s", q == MAP_FAILED ? it_errname(e) : "succeeded");
  CALL(q, e, mremap(p, MB(1), MB(1), MREMAP_FIXED | MREMAP_MAYMOVE, p + KB(512)));
  SAY("mremap FIXED overlapping source: %s", q == MAP_FAILED ? it_errname(e) : "succeeded");
  CALL(q, e, mremap(p, MB(1), MB(1), MREMAP_FIXED | MREMAP_MAYMOVE, d + 100));
  SAY("mremap FIXED unaligned destination: %s", q == MAP_FAILED ? it_errname(e) : "succeeded");
  SAY("mremap FIXED errors left the source intact: %s", yesno(check(p, 0, MB(2), 130)));
  xunmap(d, MB(2));

  /* other errors */
  CALL(q, e, mremap(p + 1, PG, 2 * PG, MREMAP_MAYMOVE));
  SAY("mremap unaligned old address: %s", q == MAP_FAILED ? it_errname(e) : "succeeded");
  CALL(q, e, mremap(p, MB(2), 0, MREMAP_MAYMOVE));
  SAY("mremap new length 0: %s", q == MAP_FAILED ? it_errname(e) : "succeeded");
  CALL(q, e, mremap(p, 0, MB(1), MREMAP_MAYMOVE));
  SAY("mremap old length 0 (private): %s", q == MAP_FAILED ? it_errname(e) : "succeeded");
  if (q != MAP_FAILED) xunmap(q, MB(1));
  CALL(q, e, mremap(p, MB(2), MB(2), MREMAP_DONTUNMAP)); /* needs MAYMOVE */
  SAY("mremap DONTUNMAP without MAYMOVE: %s", q == MAP_FAILED ? it_errname(e) : "succeeded");
  CALL(q, e, mremap(p, MB(2), MB(4), 0x80)); /* unknown flag */
  SAY("mremap unknown flag: %s", q == MAP_FAILED ? it_errname(e) : "succeeded");
  xunmap(p, MB(2));
  CALL(q, e, mremap(p, MB(2), MB(4), MREMAP_MAYMOVE)); /* p was just unmapped */
  SAY("mremap of an unmapped range: %s", q == MAP_FAILED ? it_errname(e) : "succeeded");
  IT_CHECK(q == MAP_FAILED && e == EFAULT, "mremap of an unmapped range: %s",
           q == MAP_FAILED ? it_errname(e) : "succeeded");
  if (q != MAP_FAILED) xunmap(q, MB(4));
  p = xmap(MB(4), RW, PA);
  fill(p, 0, MB(4), 131);
  mprotect(p + MB(2), MB(2), PROT_READ);
  CALL(q, e, mremap(p, MB(4), MB(8), MREMAP_MAYMOVE)); /* spans two VMAs */
  SAY("mremap of a range spanning two mappings: %s", q == MAP_FAILED ? it_errname(e) : "succeeded");
  CALL(q, e, mremap(p, MB(6), MB(8), MREMAP_MAYMOVE)); /* runs past the mapping */
  SAY("mremap of a range running past the mapping: %s", q == MAP_FAILED ? it_errname(e) : "succeeded");
  SAY("mremap failures left the mapping intact: %s", yesno(check(p, 0, MB(4), 131)));
  xunmap(p, MB(4));

  /* an inner part of a mapping */
  p = xmap(MB(4), RW, PA);
  fill(p, 0, MB(4), 132);
  CALL(q, e, mremap(p + MB(1), MB(1), KB(512), 0));
  int ok = q == p + MB(1) && GONE(p + KB(1536)) && GONE(p + MB(2) - 1) &&
           check(p, 0, KB(1536), 132) && check(p, MB(2), MB(4), 132);
  IT_CHECK(ok, "mremap shrink inner part");
  SAY("mremap shrink an inner part: in-place=%s rest=%s", yesno(q == p + MB(1)), yesno(ok));
  SAYU("mremap shrink an inner part: layout %s", layout(p, MB(4), NULL));
  CALL(q, e, mremap(p + MB(2), MB(1), MB(2), MREMAP_MAYMOVE));
  ok = 0;
  if (q != MAP_FAILED) { /* the moved part keeps its pattern of offsets 2M..3M */
    ok = 1;
    for (size_t o = 0; o < MB(1); o += PG)
      if (*(uint64_t *)(q + o) != pw(132, (MB(2) + o) / PG, 0)) ok = 0;
    ok = ok && all_zero(q + MB(1), MB(1)) && GONE(p + MB(2)) && check(p, MB(3), MB(4), 132);
    SAY("mremap MAYMOVE grow an inner part: moved-intact, hole-left: %s", yesno(ok));
    SAYU("mremap MAYMOVE grow an inner part: layout %s", layout(p, MB(4), NULL));
    xunmap(q, MB(2));
  } else {
    SAY("mremap MAYMOVE grow an inner part: %s", it_errname(e));
  }
  IT_CHECK(ok, "mremap MAYMOVE inner part");
  xunmap(p, MB(4));

  /* MREMAP_DONTUNMAP (Linux 5.7; any mapping since 5.13) */
  p = xmap(KB(1536), RW, PA);
  fill(p, 0, KB(1536), 140);
  /* glibc's mremap hands its fifth argument register to the kernel whatever
   * the flags, and Linux (6.18 here) takes new_address as a hint
   * for MREMAP_DONTUNMAP without MREMAP_FIXED (an unaligned one is EINVAL):
   * pass NULL explicitly, as a careful program does. */
  CALL(q, e, mremap(p, KB(1536), KB(1536), MREMAP_MAYMOVE | MREMAP_DONTUNMAP, NULL));
  if (q == MAP_FAILED && e == EINVAL) {
    SAY("mremap DONTUNMAP: skipped (kernel without MREMAP_DONTUNMAP)");
    xunmap(p, KB(1536));
  } else if (q == MAP_FAILED) {
    SAY("mremap DONTUNMAP: %s", it_errname(e));
    xunmap(p, KB(1536));
  } else {
    int moved = q != p && check(q, 0, KB(1536), 140);
    int oldz = all_zero(p, KB(1536));
    int oldw = is_ok(PW(p + KB(1536) - 1));
    IT_CHECK(moved && oldz && oldw, "mremap DONTUNMAP");
    SAY("mremap DONTUNMAP: moved-intact=%s old-range-still-mapped-zero=%s old-writable=%s "
        "layout-old %s",
        yesno(moved), yesno(oldz), yesno(oldw), layout(p, KB(1536), NULL));
    CALL(d, e, mremap(p, KB(1536), MB(2), MREMAP_MAYMOVE | MREMAP_DONTUNMAP, NULL));
    SAY("mremap DONTUNMAP with a different new length: %s", d == MAP_FAILED ? it_errname(e) : "succeeded");
    if (d != MAP_FAILED) xunmap(d, MB(2));
    xunmap(q, KB(1536));
    /* new_address as a hint: a free range (made by a PROT_NONE mapping, which
     * placement leaves alone, and unmapped) is used as given; an unaligned
     * one is refused. */
    fill(p, 0, KB(1536), 141);
    unsigned char *h = xmap(MB(8), PROT_NONE, PA);
    xunmap(h, MB(8));
    CALL(q, e, mremap(p, KB(1536), KB(1536), MREMAP_MAYMOVE | MREMAP_DONTUNMAP, h + MB(2)));
    SAY("mremap DONTUNMAP with a free hint: %s", q == MAP_FAILED ? it_errname(e) : q == h + MB(2) ? "at the hint" : "elsewhere");
    if (q != MAP_FAILED) {
      IT_CHECK(check(q, 0, KB(1536), 141), "DONTUNMAP with hint: contents");
      xunmap(q, KB(1536));
    }
    CALL(q, e, mremap(p, KB(1536), KB(1536), MREMAP_MAYMOVE | MREMAP_DONTUNMAP, (void *)1));
    SAY("mremap DONTUNMAP with an unaligned hint: %s", q == MAP_FAILED ? it_errname(e) : "succeeded");
    if (q != MAP_FAILED) xunmap(q, KB(1536));
    xunmap(p, KB(1536));
  }
}

/* Several calls on the same mapping: what one call did must not confuse the
 * next (bookkeeping that keeps a grown mapping as two pieces, or a mapping's
 * first protection instead of its current one). */
static void c_mremap_seq(void) {
  int r, e;
  unsigned char *p, *q, *q2;
  /* grow, shrink, grow again, unmap */
  static const size_t first[] = {KB(1536), MB(2), KB(256)};
  for (size_t i = 0; i < sizeof first / sizeof first[0]; i++) {
    size_t l0 = first[i], l1 = l0 * 2, l2 = l0 / 2 + KB(4), l3 = MB(6) + l0;
    p = xmap(l0, RW, PA);
    fill(p, 0, l0, 150 + i);
    CALL(q, e, mremap(p, l0, l1, MREMAP_MAYMOVE));
    if (q == MAP_FAILED) {
      SAY("mremap sequence from %s: grow %s", sz(l0), it_errname(e));
      IT_FAIL("mremap sequence grow: %s", it_errname(e));
      xunmap(p, l0);
      continue;
    }
    fill(q, l0, l1, 160 + i);
    int a = check(q, 0, l0, 150 + i);
    CALL(q2, e, mremap(q, l1, l2, 0));
    const char *shrink = q2 == MAP_FAILED ? it_errname(e) : q2 == q ? "in place" : "MOVED";
    if (q2 == MAP_FAILED) q2 = q, l2 = l1;
    int b = check(q2, 0, l2 < l0 ? l2 : l0, 150 + i);
    unsigned char *q3;
    CALL(q3, e, mremap(q2, l2, l3, MREMAP_MAYMOVE));
    const char *regrow = q3 == MAP_FAILED ? it_errname(e) : "ok";
    if (q3 == MAP_FAILED) q3 = q2, l3 = l2;
    int c = check(q3, 0, l2 < l0 ? l2 : l0, 150 + i) && all_zero(q3 + l2, l3 - l2);
    int r1, e1;
    CALL(r1, e1, mprotect(q3, l3, PROT_READ));
    CALL(r, e, munmap(q3, l3));
    int gone = GONE(q3) && GONE(q3 + l3 - 1);
    IT_CHECK(a && !strcmp(shrink, "in place") && b && !strcmp(regrow, "ok") && c && r1 == 0 &&
                 r == 0 && gone,
             "mremap sequence from %s", sz(l0));
    SAY("mremap sequence %s: MAYMOVE->%s kept=%s, shrink->%s %s kept=%s, MAYMOVE->%s %s kept=%s, "
        "mprotect all=%s, munmap all=%s gone=%s",
        sz(l0), sz(l1), yesno(a), sz(l2), shrink, yesno(b), sz(l3), regrow, yesno(c), ir(r1, e1),
        ir(r, e), yesno(gone));
  }

  /* grow twice in place into its own freed tail, then move it whole */
  p = xmap(MB(8), RW, PA);
  fill(p, 0, MB(8), 170);
  xunmap(p + MB(2), MB(6));
  CALL(q, e, mremap(p, MB(2), MB(4), 0));
  const char *g1 = q == p ? "in place" : q == MAP_FAILED ? it_errname(e) : "MOVED";
  CALL(q, e, mremap(p, MB(4), MB(8), 0));
  const char *g2 = q == p ? "in place" : q == MAP_FAILED ? it_errname(e) : "MOVED";
  unsigned char *dst = xmap(MB(8), RW, PA);
  CALL(q, e, mremap(p, MB(8), MB(8), MREMAP_MAYMOVE | MREMAP_FIXED, dst));
  int ok = q == dst && check(dst, 0, MB(2), 170) && all_zero(dst + MB(2), MB(6)) && GONE(p);
  SAY("mremap grow in place twice (2M->4M %s, 4M->8M %s) then MREMAP_FIXED the whole 8M: %s "
      "moved-intact=%s",
      g1, g2, q == MAP_FAILED ? it_errname(e) : "ok", yesno(ok));
  IT_CHECK(ok, "grow twice then FIXED");
  if (q == MAP_FAILED) xunmap(p, MB(8));
  xunmap(dst, MB(8));

  /* the grown part takes the mapping's current protection */
  static const struct { size_t from, to; int prot; const char *name; } gp[] = {
      {MB(2), MB(4), PROT_READ, "read-only"}, {KB(1536), MB(3), PROT_READ, "read-only"},
      {MB(2), MB(4), PROT_NONE, "PROT_NONE"}};
  for (size_t i = 0; i < sizeof gp / sizeof gp[0]; i++) {
    size_t from = gp[i].from, to = gp[i].to;
    p = xmap(from, RW, PA);
    fill(p, 0, from, 180 + i);
    mprotect(p, from, gp[i].prot);
    CALL(q, e, mremap(p, from, to, MREMAP_MAYMOVE));
    if (q == MAP_FAILED) {
      SAY("mremap grow a %s mapping %s->%s: %s", gp[i].name, sz(from), sz(to), it_errname(e));
      xunmap(p, from);
      continue;
    }
    const char *tw = PW(q + to - 1), *tr = PR(q + to - 1);
    SAY("mremap grow a %s mapping %s->%s: new-part write=%s read=%s layout %s", gp[i].name, sz(from),
        sz(to), tw, tr, layout(q, to, NULL));
    IT_CHECK(is_segv(tw), "grown part of a %s mapping is writable", gp[i].name);
    xunmap(q, to);
  }
  /* and the mapping's advice: NOHUGEPAGE ("nh") and DONTDUMP ("dd") */
  for (int inplace = 0; inplace < 2; inplace++) {
    p = xmap(MB(4), RW, PA);
    fill(p, 0, MB(2), 190);
    if (inplace) xunmap(p + MB(2), MB(2));
    else xunmap(p, MB(4)), p = xmap(MB(2), RW, PA), fill(p, 0, MB(2), 190);
    madvise(p, MB(2), MADV_NOHUGEPAGE);
    madvise(p, MB(2), MADV_DONTDUMP);
    CALL(q, e, mremap(p, MB(2), MB(4), inplace ? 0 : MREMAP_MAYMOVE));
    if (q == MAP_FAILED) {
      SAY("mremap grow a NOHUGEPAGE+DONTDUMP mapping%s: %s", inplace ? " in place" : "", it_errname(e));
      xunmap(p, MB(2));
      continue;
    }
    fill(q, MB(2), MB(4), 191);
    const char *nh = vmflag(q, MB(4), "nh"), *dd = vmflag(q, MB(4), "dd");
    SAY("mremap grow a NOHUGEPAGE+DONTDUMP mapping 2M->4M%s: nh on %s dd on %s", inplace ? " in place" : "",
        nh, dd);
    IT_CHECK(!strcmp(nh, "all") && !strcmp(dd, "all"), "grown advice: nh=%s dd=%s", nh, dd);
    xunmap(q, MB(4));
  }

  /* the same, growing in place (into its own freed tail) */
  p = xmap(MB(4), RW, PA);
  xunmap(p + MB(2), MB(2));
  mprotect(p, MB(2), PROT_READ);
  CALL(q, e, mremap(p, MB(2), MB(4), 0));
  const char *tw = q == MAP_FAILED ? "-" : PW(p + MB(4) - 1);
  SAY("mremap grow a read-only mapping in place 2M->4M: %s new-part write=%s layout %s",
      q == MAP_FAILED ? it_errname(e) : q == p ? "in place" : "MOVED", tw, layout(p, MB(4), NULL));
  IT_CHECK(q == p && is_segv(tw), "grown-in-place part of a read-only mapping");
  xunmap(p, MB(4));
}

static void c_mprotect(void) {
  int r, e, raw0, raw1;
  unsigned char *p = xmap(MB(4), RW, PA);
  fill(p, 0, MB(4), 200);
  const char *l0 = layout(p, MB(4), &raw0);
  SAY("mprotect 4M: layout before %s", l0);
  CALL(r, e, mprotect(p + MB(1), MB(1), PROT_READ));
  const char *ro[2] = {PW(p + MB(1)), PW(p + MB(2) - 1)};
  const char *rd = PR(p + MB(1));
  const char *rw[4] = {PW(p), PW(p + MB(1) - 1), PW(p + MB(2)), PW(p + MB(4) - 1)};
  const char *l1 = layout(p, MB(4), &raw1);
  INFO("mprotect middle read-only: VMAs overlapping the 4M range: before %d after %d", raw0, raw1);
  int ok = r == 0 && is_segv(ro[0]) && is_segv(ro[1]) && is_ok(rd) && is_ok(rw[0]) &&
           is_ok(rw[1]) && is_ok(rw[2]) && is_ok(rw[3]) && check(p, 0, MB(4), 200);
  IT_CHECK(ok, "mprotect middle RO");
  SAY("mprotect middle 1M read-only: %s write-there=%s,%s read-there=%s write-elsewhere=%s,%s,%s,%s "
      "contents=%s",
      ir(r, e), ro[0], ro[1], rd, rw[0], rw[1], rw[2], rw[3], yesno(check(p, 0, MB(4), 200)));
  SAY("mprotect middle 1M read-only: layout %s", l1);
  CALL(r, e, mprotect(p + MB(1), MB(1), RW));
  SAY("mprotect back to read-write: %s write=%s layout %s", ir(r, e), PW(p + MB(1)),
      layout(p, MB(4), NULL));
  CALL(r, e, mprotect(p + MB(3), KB(64), PROT_NONE));
  const char *n0 = PR(p + MB(3)), *n1 = PR(p + MB(3) + KB(64) - 1), *n2 = PR(p + MB(3) + KB(64));
  SAY("mprotect PROT_NONE 64K: %s read-there=%s,%s read-after=%s layout %s", ir(r, e), n0, n1, n2,
      layout(p, MB(4), NULL));
  CALL(r, e, mprotect(p + MB(3), KB(64), RW));
  SAY("mprotect PROT_NONE undone: %s contents=%s", ir(r, e), yesno(check(p, 0, MB(4), 200)));
  IT_CHECK(is_segv(n0) && is_segv(n1) && is_ok(n2) && check(p, 0, MB(4), 200), "PROT_NONE part");
  CALL(r, e, mprotect(p + MB(2) - KB(8), KB(16), PROT_READ | PROT_EXEC));
  SAY("mprotect read-exec across 2M: %s layout %s", ir(r, e), layout(p, MB(4), NULL));
  CALL(r, e, mprotect(p + 1, PG, PROT_READ));
  SAY("mprotect unaligned: %s", ir(r, e));
  CALL(r, e, mprotect(p, 0, PROT_READ));
  SAY("mprotect length 0: %s", ir(r, e));
  CALL(r, e, mprotect(p, PG, 0x1000)); /* unknown prot bit */
  SAY("mprotect unknown prot bit: %s", ir(r, e));
  SAY("mprotect layout after failures %s", layout(p, MB(4), NULL));
  xunmap(p, MB(4));

  /* A range that is not mapped (a freed range) */
  CALL(r, e, mprotect(p, MB(4), RW));
  int after = GONE(p + MB(2));
  SAY("mprotect of an unmapped range: %s read-after-faults=%s", ir(r, e), yesno(after));
  IT_CHECK(r == -1 && e == ENOMEM && after, "mprotect unmapped: %s %d", ir(r, e), after);

  /* A mapping followed by a hole: ENOMEM, and the mapped part is changed */
  p = xmap(KB(4632), RW, PA);
  fill(p, 0, KB(4632), 201);
  xunmap(p + MB(2), KB(4632) - MB(2));
  CALL(r, e, mprotect(p, KB(4632), PROT_READ));
  const char *w0 = PW(p);
  int w1 = GONE(p + MB(3));
  SAY("mprotect mapping + hole: %s write-mapped-part=%s read-hole-faults=%s", ir(r, e), w0,
      yesno(w1));
  SAYU("mprotect mapping + hole: layout %s", layout(p, KB(4632), NULL));
  IT_CHECK(r == -1 && e == ENOMEM && is_segv(w0) && w1, "mprotect mapping+hole");
  xunmap(p, MB(2));
  /* A hole followed by a mapping: ENOMEM, nothing changed */
  p = xmap(KB(4632), RW, PA);
  fill(p, 0, KB(4632), 202);
  xunmap(p, MB(2));
  CALL(r, e, mprotect(p, KB(4632), PROT_READ));
  w0 = PW(p + MB(2));
  SAY("mprotect hole + mapping: %s write-mapped-part=%s", ir(r, e), w0);
  SAYU("mprotect hole + mapping: layout %s", layout(p, KB(4632), NULL));
  IT_CHECK(r == -1 && e == ENOMEM && is_ok(w0), "mprotect hole+mapping");
  xunmap(p + MB(2), KB(4632) - MB(2));
}

static void c_madvise(void) {
  int r, e;
  unsigned char *p = xmap(KB(1536), RW, PA);
  fill(p, 0, KB(1536), 300);
  CALL(r, e, madvise(p + KB(256), KB(512), MADV_DONTNEED));
  int z = all_zero(p + KB(256), KB(512)), rest = check(p, 0, KB(256), 300) && check(p, KB(768), KB(1536), 300);
  SAY("madvise DONTNEED 512K of 1536K: %s zero-filled=%s rest-intact=%s", ir(r, e), yesno(z), yesno(rest));
  IT_CHECK(r == 0 && z && rest, "DONTNEED");
  fill(p, 0, KB(1536), 301);
  CALL(r, e, madvise(p, KB(1536), MADV_FREE));
  fill(p, 0, KB(1536), 302);
  int w = check(p, 0, KB(1536), 302);
  SAY("madvise FREE then rewrite: %s rewritten-data-reads-back=%s", ir(r, e), yesno(w));
  IT_CHECK(r == 0 && w, "FREE");
  static const struct { int adv; const char *name; } adv[] = {
      {MADV_HUGEPAGE, "HUGEPAGE"}, {MADV_NOHUGEPAGE, "NOHUGEPAGE"}, {MADV_WILLNEED, "WILLNEED"},
      {MADV_NORMAL, "NORMAL"},     {MADV_RANDOM, "RANDOM"},         {MADV_SEQUENTIAL, "SEQUENTIAL"},
      {MADV_COLD, "COLD"},         {MADV_PAGEOUT, "PAGEOUT"},       {MADV_REMOVE, "REMOVE"},
      {MADV_DODUMP, "DODUMP"},     {MADV_DONTDUMP, "DONTDUMP"},     {9999, "unknown(9999)"},
  };
  for (size_t i = 0; i < sizeof adv / sizeof adv[0]; i++) {
    CALL(r, e, madvise(p, KB(1536), adv[i].adv));
    int kept = check(p, 0, KB(1536), 302);
    SAY("madvise %s on 1536K: %s contents-intact=%s", adv[i].name, ir(r, e), yesno(kept));
    IT_CHECK(kept, "madvise %s changed contents", adv[i].name);
  }
  SAY("madvise after all advice: layout %s", layout(p, KB(1536), NULL));
  CALL(r, e, madvise(p + 1, PG, MADV_DONTNEED));
  SAY("madvise unaligned: %s", ir(r, e));
  IT_CHECK(r == -1 && e == EINVAL, "madvise unaligned");
  CALL(r, e, madvise(p, 0, MADV_DONTNEED));
  SAY("madvise length 0: %s", ir(r, e));
  CALL(r, e, madvise(p + PG, 100, MADV_DONTNEED)); /* length rounds up to a page */
  SAY("madvise DONTNEED length 100: %s page-zeroed=%s next-page-intact=%s", ir(r, e),
      yesno(all_zero(p + PG, PG)), yesno(check(p, 2 * PG, 3 * PG, 302)));
  xunmap(p, KB(1536));

  /* 4 MiB, across the 2 MiB boundary */
  p = xmap(MB(4), RW, PA);
  fill(p, 0, MB(4), 303);
  CALL(r, e, madvise(p + MB(2) - KB(64), KB(128), MADV_DONTNEED));
  z = all_zero(p + MB(2) - KB(64), KB(128));
  rest = check(p, 0, MB(2) - KB(64), 303) && check(p, MB(2) + KB(64), MB(4), 303);
  SAY("madvise DONTNEED 128K across 2M of 4M: %s zero=%s rest=%s", ir(r, e), yesno(z), yesno(rest));
  IT_CHECK(r == 0 && z && rest, "DONTNEED across 2M");
  /* read-only mapping part: DONTNEED still zero-fills */
  mprotect(p, MB(1), PROT_READ);
  CALL(r, e, madvise(p, MB(1), MADV_DONTNEED));
  SAY("madvise DONTNEED on a read-only part: %s zero=%s", ir(r, e), yesno(all_zero(p, MB(1))));
  /* mapping + hole: ENOMEM, and the mapped part is zero-filled */
  xunmap(p + MB(3), MB(1));
  CALL(r, e, madvise(p + MB(2), MB(2), MADV_DONTNEED));
  z = all_zero(p + MB(2), MB(1));
  SAY("madvise DONTNEED mapping + hole: %s mapped-part-zero=%s", ir(r, e), yesno(z));
  IT_CHECK(r == -1 && e == ENOMEM && z, "DONTNEED mapping+hole");
  CALL(r, e, madvise(p + MB(2), MB(2), MADV_WILLNEED));
  SAY("madvise WILLNEED mapping + hole: %s", ir(r, e));
  CALL(r, e, madvise(p + MB(3), MB(1), MADV_DONTNEED));
  SAY("madvise DONTNEED unmapped range: %s", ir(r, e));
  IT_CHECK(r == -1 && e == ENOMEM, "DONTNEED unmapped");
  CALL(r, e, madvise(p + MB(3), MB(1), MADV_HUGEPAGE));
  SAY("madvise HUGEPAGE unmapped range: %s", ir(r, e));
  xunmap(p, MB(3));
}

static void c_populate(void) {
  static const size_t lens[] = {KB(256), KB(1536), MB(4), KB(4632)};
  /* warm up the code and data used while counting */
  unsigned char *w = xmap(KB(64), RW, PA | MAP_POPULATE);
  long f0 = minflt();
  (void)all_zero(w, KB(64));
  fill(w, 0, KB(64), 1);
  (void)(minflt() - f0);
  xunmap(w, KB(64));
  for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
    size_t len = lens[i];
    unsigned char *p = xmap(len, RW, PA | MAP_POPULATE);
    long a = minflt();
    int z = all_zero(p, len);
    fill(p, 0, len, 400 + i);
    long b = minflt();
    int back = check(p, 0, len, 400 + i);
    IT_CHECK(z && back && b == a, "MAP_POPULATE %s: zero=%d faults=%ld", sz(len), z, b - a);
    SAY("MAP_POPULATE %s: zero=%s populated(no faults reading and writing every page)=%s", sz(len),
        yesno(z), yesno(b == a));
    xunmap(p, len);
  }
  unsigned char *p = xmap(MB(4), RW, PA);
  long a = minflt();
  (void)all_zero(p, MB(4));
  INFO("without MAP_POPULATE, reading 4M: %ld minor faults", minflt() - a);
  xunmap(p, MB(4));
}

static void c_flags(void) {
  int r, e;
  unsigned char *p;
  /* MAP_NORESERVE */
  p = xmap(MB(4), RW, PA | MAP_NORESERVE);
  int z = all_zero(p, MB(4));
  fill(p, 0, MB(4), 500);
  SAY("MAP_NORESERVE 4M: zero=%s readback=%s", yesno(z), yesno(check(p, 0, MB(4), 500)));
  xunmap(p, MB(4));
  /* read-only */
  p = xmap(KB(1536), PROT_READ, PA);
  z = all_zero(p, KB(1536));
  const char *wr = PW(p + KB(700));
  SAY("PROT_READ 1536K: reads-zero=%s write=%s layout %s", yesno(z), wr, layout(p, KB(1536), NULL));
  IT_CHECK(z && is_segv(wr), "PROT_READ mapping");
  CALL(r, e, mprotect(p, KB(1536), RW));
  SAY("PROT_READ 1536K made writable: %s write=%s", ir(r, e), PW(p + KB(700)));
  xunmap(p, KB(1536));
  p = xmap(MB(2), PROT_READ, PA | MAP_NORESERVE);
  SAY("PROT_READ|NORESERVE 2M: reads-zero=%s write=%s", yesno(all_zero(p, MB(2))), PW(p));
  xunmap(p, MB(2));
  /* other protections: the maps line shows them */
  static const struct { int prot; const char *name; } pr[] = {
      {PROT_READ | PROT_EXEC, "READ|EXEC"}, {PROT_WRITE, "WRITE"}, {RW | PROT_EXEC, "RWX"}};
  for (size_t i = 0; i < sizeof pr / sizeof pr[0]; i++) {
    p = mmap(NULL, KB(256), pr[i].prot, PA, -1, 0);
    e = errno;
    if (p == MAP_FAILED) {
      SAY("prot %s 256K: %s", pr[i].name, it_errname(e));
      continue;
    }
    SAY("prot %s 256K: layout %s", pr[i].name, layout(p, KB(256), NULL));
    xunmap(p, KB(256));
  }
  /* PROT_NONE (outside the placement rules) then made accessible */
  p = xmap(MB(2), PROT_NONE, PA);
  const char *rd = PR(p);
  CALL(r, e, mprotect(p, MB(2), RW));
  SAY("PROT_NONE 2M: read=%s mprotect-rw=%s then-zero=%s", rd, ir(r, e), yesno(all_zero(p, MB(2))));
  xunmap(p, MB(2));

#ifdef MAP_32BIT
  p = mmap(NULL, KB(1536), RW, PA | MAP_32BIT, -1, 0);
  e = errno;
  if (p == MAP_FAILED) {
    SAY("MAP_32BIT 1536K: %s", it_errname(e));
  } else {
    int low = (uintptr_t)p + KB(1536) <= ((uintptr_t)1 << 31);
    IT_CHECK(low, "MAP_32BIT: mapping above 2 GiB");
    SAY("MAP_32BIT 1536K: within the first 2 GiB=%s zero=%s", yesno(low), yesno(all_zero(p, KB(1536))));
    xunmap(p, KB(1536));
  }
#endif

  /* a length that is not a page multiple: the slack up to the page end is
   * part of the mapping (zero, writable) */
  size_t odd = KB(1536) + 100;
  p = xmap(odd, RW, PA);
  size_t full = (odd + PG - 1) & ~(PG - 1);
  z = all_zero(p, full);
  const char *slack = PW(p + full - 1);
  CALL(r, e, munmap(p, odd));
  SAY("mmap length 1536K+100: zero-through-page-end=%s slack-writable=%s munmap(len)=%s", yesno(z),
      slack, ir(r, e));
  IT_CHECK(z && is_ok(slack), "odd length");
  SAY("mmap length 1536K+100 after munmap: last-page-faults=%s", yesno(GONE(p + full - 1)));

  /* offsets: page-aligned ones are accepted for anonymous memory */
  p = mmap(NULL, MB(2), RW, PA, -1, 100);
  e = errno;
  SAY("mmap anonymous offset 100: %s", p == MAP_FAILED ? it_errname(e) : "mapped");
  if (p != MAP_FAILED) xunmap(p, MB(2));
  p = mmap(NULL, MB(2), RW, PA, -1, (off_t)PG);
  e = errno;
  SAY("mmap anonymous offset 4096: %s", p == MAP_FAILED ? it_errname(e) : "mapped");
  if (p != MAP_FAILED) xunmap(p, MB(2));
  /* bad flag combinations */
  p = mmap(NULL, MB(2), RW, MAP_ANONYMOUS, -1, 0);
  e = errno;
  SAY("mmap neither PRIVATE nor SHARED: %s", p == MAP_FAILED ? it_errname(e) : "mapped");
  if (p != MAP_FAILED) xunmap(p, MB(2));
  p = mmap(NULL, MB(2), RW, MAP_SHARED_VALIDATE | MAP_ANONYMOUS | 0x800000, -1, 0);
  e = errno;
  SAY("mmap SHARED_VALIDATE with an unknown flag: %s", p == MAP_FAILED ? it_errname(e) : "mapped");
  if (p != MAP_FAILED) xunmap(p, MB(2));
  p = mmap(NULL, MB(2), 0x10 | RW, PA, -1, 0);
  e = errno;
  SAY("mmap unknown prot bit: %s", p == MAP_FAILED ? it_errname(e) : "mapped");
  if (p != MAP_FAILED) xunmap(p, MB(2));
  p = mmap(NULL, (size_t)1 << 62, RW, PA, -1, 0);
  e = errno;
  SAY("mmap 4 EiB: %s", p == MAP_FAILED ? it_errname(e) : "mapped");
  /* MAP_UNINITIALIZED is ignored on MMU kernels: still zero */
  p = xmap(KB(1536), RW, PA | MAP_UNINITIALIZED);
  SAY("MAP_UNINITIALIZED 1536K: zero=%s", yesno(all_zero(p, KB(1536))));
  xunmap(p, KB(1536));
  /* a non-negative fd with MAP_ANONYMOUS is ignored by Linux */
  p = mmap(NULL, KB(1536), RW, PA, 0, 0);
  e = errno;
  SAY("mmap anonymous with fd 0: %s", p == MAP_FAILED ? it_errname(e) : all_zero(p, KB(1536)) ? "mapped, zero" : "mapped, NOT zero");
  if (p != MAP_FAILED) xunmap(p, KB(1536));
  /* outside the placement rules: passed through */
  static const struct { int flags; const char *name; } fl[] = {
      {PA | MAP_HUGETLB, "HUGETLB"},
      {PA | MAP_GROWSDOWN, "GROWSDOWN"},
      {PA | MAP_STACK, "STACK"},
      {MAP_SHARED | MAP_ANONYMOUS, "SHARED"},
      {PA | MAP_LOCKED, "LOCKED"},
  };
  for (size_t i = 0; i < sizeof fl / sizeof fl[0]; i++) {
    p = mmap(NULL, MB(2), RW, fl[i].flags, -1, 0);
    e = errno;
    if (p == MAP_FAILED) {
      SAY("mmap %s 2M: %s", fl[i].name, it_errname(e));
      continue;
    }
    z = all_zero(p, MB(2));
    fill(p, 0, MB(2), 510 + i);
    SAY("mmap %s 2M: zero=%s readback=%s", fl[i].name, yesno(z), yesno(check(p, 0, MB(2), 510 + i)));
    xunmap(p, MB(2));
  }
}

static void c_fork(void) {
  uint64_t A = 600, C = 601, B = 602, Q = 603, R = 604, S = 605, T = 606, W = 607, D = 608;
  unsigned char *P = xmap(MB(4), RW, PA), *Qm = xmap(KB(1536), RW, PA),
                *Rm = xmap(KB(4632), RW, PA), *Sm = xmap(MB(2), RW, MAP_SHARED | MAP_ANONYMOUS),
                *Wm = xmap(MB(2), RW, PA), *Dm = xmap(KB(256), RW, PA);
  fill(P, 0, MB(4), A);
  fill(Qm, 0, KB(1536), Q);
  fill(Rm, 0, KB(4632), R);
  fill(Sm, 0, MB(2), S);
  fill(Wm, 0, MB(2), W);
  fill(Dm, 0, KB(256), D);
  int wipe = madvise(Wm, MB(2), MADV_WIPEONFORK) == 0;
  int dontfork = madvise(Dm, KB(256), MADV_DONTFORK) == 0;
  SAY("fork setup: WIPEONFORK=%s DONTFORK=%s", yesno(wipe), yesno(dontfork));
  /* the advice belongs to the mapping: a part grown by mremap has it too */
  unsigned char *Wg = xmap(MB(2), RW, PA), *Dg = xmap(KB(256), RW, PA);
  int wipe2 = madvise(Wg, MB(2), MADV_WIPEONFORK) == 0;
  int dontfork2 = madvise(Dg, KB(256), MADV_DONTFORK) == 0;
  unsigned char *x2 = mremap(Wg, MB(2), MB(4), MREMAP_MAYMOVE);
  if (x2 == MAP_FAILED) IT_DIE("mremap WIPEONFORK mapping: %s", strerror(errno));
  Wg = x2;
  x2 = mremap(Dg, KB(256), KB(512), MREMAP_MAYMOVE);
  if (x2 == MAP_FAILED) IT_DIE("mremap DONTFORK mapping: %s", strerror(errno));
  Dg = x2;
  fill(Wg, 0, MB(4), W + 10);
  fill(Dg, 0, KB(512), D + 10);
  /* dirty freed memory: a child's new mapping must not see it */
  for (int i = 0; i < 8; i++) {
    size_t len = i % 2 ? MB(2) : KB(1536);
    unsigned char *x = xmap(len, RW, PA);
    memset(x, 0xDD, len);
    xunmap(x, len);
  }
  int p2c[2], c2p[2];
  if (pipe(p2c) || pipe(c2p)) IT_DIE("pipe: %s", strerror(errno));
  fflush(stdout);
  fflush(stderr);
  pid_t pid = fork();
  if (pid < 0) IT_DIE("fork: %s", strerror(errno));
  if (pid == 0) {
    in_child = 1;
    char go;
    char msg[1024];
    if (read(p2c[0], &go, 1) != 1) _exit(2);
    int n = 0;
#define CY(label, cond) n += snprintf(msg + n, sizeof msg - (size_t)n, "%s%s=%s", n ? " " : "", label, yesno(cond))
    CY("dontfork-absent", !dontfork || is_segv(PR(Dm))); /* before any new mapping can land there */
    CY("grown-dontfork-absent", !dontfork2 || (is_segv(PR(Dg)) && is_segv(PR(Dg + KB(512) - 1))));
    CY("grown-wiped", !wipe2 || all_zero(Wg, MB(4)));
    CY("sees-parent-data", check(P, 0, MB(4), A));
    fill(P, 0, MB(4), B);
    CY("own-writes", check(P, 0, MB(4), B));
    CY("Q-intact", check(Qm, 0, KB(1536), Q));
    int r = munmap(Qm, KB(512));
    CY("munmap-Q-head", r == 0 && GONE(Qm) && check(Qm, KB(512), KB(1536), Q));
    unsigned char *g = mremap(Rm, KB(4632), MB(8), MREMAP_MAYMOVE);
    CY("mremap-R", g != MAP_FAILED && check(g, 0, KB(4632), R) && all_zero(g + KB(4632), MB(8) - KB(4632)));
    if (g != MAP_FAILED) fill(g, 0, MB(8), T);
    int zeros = 1;
    static const size_t ns[] = {MB(2), KB(1536), MB(4), KB(256), MB(2), KB(1536)};
    for (size_t i = 0; i < sizeof ns / sizeof ns[0]; i++) {
      unsigned char *x = mmap(NULL, ns[i], RW, PA, -1, 0);
      if (x == MAP_FAILED || !all_zero(x, ns[i])) zeros = 0;
      if (x != MAP_FAILED) memset(x, 0xCC, ns[i]); /* left mapped */
    }
    CY("new-mappings-zero", zeros);
    CY("wiped", !wipe || all_zero(Wm, MB(2)));
    fill(Sm, 0, MB(2), T);
    munmap(P, MB(2));
    if (write(c2p[1], msg, (size_t)n) != n) _exit(3);
    _exit(0);
#undef CY
  }
  /* parent: write after the fork, then let the child look */
  fill(P, MB(2), MB(4), C);
  if (write(p2c[1], "g", 1) != 1) IT_DIE("write pipe");
  char msg[1024];
  ssize_t n = read(c2p[0], msg, sizeof msg - 1);
  msg[n > 0 ? n : 0] = '\0';
  int st = 0;
  waitpid(pid, &st, 0);
  close(p2c[0]), close(p2c[1]), close(c2p[0]), close(c2p[1]);
  SAY("fork child: %s exit=%d", msg, WIFEXITED(st) ? WEXITSTATUS(st) : -WTERMSIG(st));
  IT_CHECK(!strstr(msg, "=no") && WIFEXITED(st) && WEXITSTATUS(st) == 0, "fork child: %s", msg);
  int ok[7] = {check(P, 0, MB(2), A) && check(P, MB(2), MB(4), C), check(Qm, 0, KB(1536), Q),
               check(Rm, 0, KB(4632), R), check(Sm, 0, MB(2), T), check(Wm, 0, MB(2), W),
               check(Dm, 0, KB(256), D), 1};
  int zeros = 1;
  for (int i = 0; i < 6; i++) {
    size_t len = i % 2 ? MB(2) : KB(4632);
    unsigned char *x = xmap(len, RW, PA);
    if (!all_zero(x, len)) zeros = 0;
    xunmap(x, len);
  }
  ok[6] = zeros;
  SAY("fork parent after child: own-data-kept=%s Q-intact=%s R-intact=%s shared-sees-child=%s "
      "wipeonfork-kept=%s dontfork-kept=%s new-mappings-zero=%s",
      yesno(ok[0]), yesno(ok[1]), yesno(ok[2]), yesno(ok[3]), yesno(ok[4]), yesno(ok[5]), yesno(ok[6]));
  for (int i = 0; i < 7; i++) IT_CHECK(ok[i], "fork parent check %d", i);
  xunmap(P, MB(4));
  xunmap(Qm, KB(1536));
  xunmap(Rm, KB(4632));
  xunmap(Sm, MB(2));
  xunmap(Wm, MB(2));
  xunmap(Dm, KB(256));
  int gk = check(Wg, 0, MB(4), W + 10) && check(Dg, 0, KB(512), D + 10);
  SAY("fork parent: grown WIPEONFORK/DONTFORK mappings kept: %s", yesno(gk));
  IT_CHECK(gk, "fork parent: grown advice mappings");
  xunmap(Wg, MB(4));
  xunmap(Dg, KB(512));
}

static void c_malloc(void) {
  static const size_t sizes[] = {MB(1), MB(3), MB(4), KB(256), KB(4632) + 40};
  int ok = 1;
  for (int round = 0; round < 3; round++) {
    void *b[5];
    for (int i = 0; i < 5; i++) {
      b[i] = malloc(sizes[i]);
      if (b[i] == NULL) IT_DIE("malloc(%zu)", sizes[i]);
      if (malloc_usable_size(b[i]) < sizes[i]) ok = 0;
      memset(b[i], 0x30 + i, sizes[i]);
    }
    for (int i = 0; i < 5; i++) {
      const unsigned char *c = b[i];
      for (size_t o = 0; o < sizes[i]; o += 4093)
        if (c[o] != 0x30 + i) ok = 0;
      free(b[i]);
    }
  }
  IT_CHECK(ok, "malloc large blocks");
  SAY("malloc 1M/3M/4M/256K/4632K+40 freed and reallocated x3: %s", ok ? "ok" : "WRONG");

  /* calloc after the same size was malloc'd, dirtied and freed */
  static const size_t cs[] = {KB(256), MB(1) + KB(4), MB(3), MB(4), KB(4632), MB(8) + 8};
  int cz = 1;
  for (int round = 0; round < 3; round++)
    for (size_t i = 0; i < sizeof cs / sizeof cs[0]; i++) {
      unsigned char *x = malloc(cs[i]);
      if (x == NULL) IT_DIE("malloc(%zu)", cs[i]);
      memset(x, 0xAB, cs[i]);
      free(x);
      x = calloc(1, cs[i]);
      if (x == NULL) IT_DIE("calloc(%zu)", cs[i]);
      if (!all_zero(x, cs[i])) {
        cz = 0;
        IT_FAIL("calloc(%zu) after a dirtied free: not zero", cs[i]);
      }
      memset(x, 0xAC, cs[i]);
      free(x);
    }
  SAY("calloc after dirtied malloc/free of the same size (6 sizes x3): zero=%s", yesno(cz));

  /* freed dirty large blocks must not reach mmap callers */
  int mz = 1;
  for (int round = 0; round < 4; round++)
    for (size_t i = 0; i < sizeof cs / sizeof cs[0]; i++) {
      unsigned char *x = malloc(cs[i]);
      memset(x, 0xAD, cs[i]);
      free(x);
      size_t len = (cs[i] + PG - 1) & ~(PG - 1);
      unsigned char *m = xmap(len, RW, PA);
      if (!all_zero(m, len)) mz = 0;
      memset(m, 0xAE, len);
      xunmap(m, len);
      x = calloc(cs[i], 1); /* and dirtied unmapped memory must not reach calloc */
      if (!all_zero(x, cs[i])) mz = 0;
      free(x);
    }
  IT_CHECK(mz, "mmap/calloc after dirty free/munmap not zero");
  SAY("mmap after dirtied free, calloc after dirtied munmap: zero=%s", yesno(mz));

  /* realloc 1M -> 9M keeps contents; then shrink */
  unsigned char *x = malloc(MB(1));
  for (size_t o = 0; o < MB(1); o++) x[o] = (unsigned char)(o * 7 + 3);
  unsigned char *y = realloc(x, MB(9));
  int kept = y != NULL;
  for (size_t o = 0; kept && o < MB(1); o++)
    if (y[o] != (unsigned char)(o * 7 + 3)) kept = 0;
  if (y) memset(y + MB(1), 0x11, MB(8));
  unsigned char *z = y ? realloc(y, KB(300)) : NULL;
  int kept2 = z != NULL;
  for (size_t o = 0; kept2 && o < KB(300); o++)
    if (z[o] != (unsigned char)(o * 7 + 3)) kept2 = 0;
  IT_CHECK(kept && kept2, "realloc");
  SAY("realloc 1M->9M keeps contents: %s; 9M->300K keeps prefix: %s", yesno(kept), yesno(kept2));
  free(z);

  /* page-aligned large blocks: a guard page with mprotect, and DONTNEED */
  void *g = NULL;
  int r = posix_memalign(&g, PG, MB(1) + PG);
  if (r != 0) IT_DIE("posix_memalign: %d", r);
  unsigned char *gb = g;
  memset(gb, 0x42, MB(1) + PG);
  int r1 = mprotect(gb + MB(1), PG, PROT_NONE);
  const char *gp = PR(gb + MB(1)), *before = PW(gb + MB(1) - 1);
  int r2 = mprotect(gb + MB(1), PG, RW);
  const char *again = PW(gb + MB(1));
  int r3 = madvise(gb, KB(512), MADV_DONTNEED);
  int zz = all_zero(gb, KB(512)) && gb[KB(512)] == 0x42;
  SAY("large block guard page: mprotect=%d guard=%s before-guard=%s restore=%d after=%s "
      "DONTNEED=%d zero=%s",
      r1, gp, before, r2, again, r3, yesno(zz));
  IT_CHECK(r1 == 0 && is_segv(gp) && is_ok(before) && r2 == 0 && is_ok(again) && r3 == 0 && zz,
           "guard page");
  free(g);
  r = posix_memalign(&g, MB(2), MB(4));
  SAY("posix_memalign(2M, 4M): %d aligned=%s", r, yesno(r == 0 && (uintptr_t)g % MB(2) == 0));
  if (g) memset(g, 1, MB(4));
  free(g);
}

static void c_fixed(void) {
  int r, e;
  /* (a) the program's own PROT_NONE reservation, RW pieces MAP_FIXED in it */
  unsigned char *res = xmap(MB(8), PROT_NONE, PA | MAP_NORESERVE);
  struct { size_t off, len; uint64_t seed; } pc[] = {
      {MB(1), MB(2), 700}, {MB(4), KB(1536), 701}, {MB(6) + KB(4), KB(64), 702}};
  int ok = 1;
  for (int i = 0; i < 3; i++) {
    void *q = mmap(res + pc[i].off, pc[i].len, RW, PA | MAP_FIXED, -1, 0);
    if (q != res + pc[i].off) ok = 0;
    else if (!all_zero(q, pc[i].len)) ok = 0;
    else fill(res, pc[i].off, pc[i].off + pc[i].len, pc[i].seed);
  }
  SAY("reservation 8M + MAP_FIXED pieces: %s layout %s", ok ? "ok" : "WRONG", layout(res, MB(8), NULL));
  CALL(r, e, munmap(res + MB(1) + KB(512), KB(512)));
  const char *hole = PR(res + MB(1) + KB(512));
  SAY("reservation: munmap part of a piece: %s hole=%s layout %s", ir(r, e), hole,
      layout(res, MB(8), NULL));
  /* Other mappings may land in that hole (the kernel may put them there
   * too); nothing may land on the pieces or the reserved PROT_NONE parts. */
  churn(150);
  ok = check(res, MB(1), MB(1) + KB(512), 700) && check(res, MB(2), MB(3), 700) &&
       check(res, MB(4), MB(4) + KB(1536), 701) && check(res, MB(6) + KB(4), MB(6) + KB(68), 702);
  int untouched = is_segv(PR(res)) && is_segv(PR(res + MB(1) - 1)) && is_segv(PR(res + MB(3))) &&
                  is_segv(PR(res + MB(6))) && is_segv(PR(res + MB(7)));
  SAY("reservation after other mapping traffic: pieces-intact=%s reserved-parts-still-inaccessible=%s "
      "layout-of-first-1M %s",
      yesno(ok), yesno(untouched), layout(res, MB(1), NULL));
  IT_CHECK(ok && untouched, "reservation pattern");
  /* everything but the hole, where others may have mapped meanwhile */
  int r2, e2;
  CALL(r, e, munmap(res, MB(1) + KB(512)));
  CALL(r2, e2, munmap(res + MB(2), MB(6)));
  SAY("reservation: munmap all but the hole: %s %s", ir(r, e), ir(r2, e2));

  /* (b) MAP_FIXED at an address an earlier (placed) mmap returned and that
   * was unmapped since */
  static const size_t lens[] = {MB(4), KB(4632), KB(1536)};
  for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
    size_t len = lens[i];
    unsigned char *p = xmap(len, RW, PA);
    memset(p, 0x99, len);
    xunmap(p, len);
    unsigned char *q = mmap(p, len, RW, PA | MAP_FIXED, -1, 0);
    e = errno;
    if (q != p) {
      SAY("MAP_FIXED at a freed address %s: %s", sz(len), q == MAP_FAILED ? it_errname(e) : "elsewhere");
      IT_FAIL("MAP_FIXED at freed address");
      continue;
    }
    int z = all_zero(q, len);
    fill(q, 0, len, 710 + i);
    churn(80);
    int intact = check(q, 0, len, 710 + i);
    CALL(r, e, munmap(q + MB(1), KB(512)));
    int hole = GONE(q + MB(1));
    const char *lay = layout(q, len, NULL);
    churn(50); /* may use the hole (so may the kernel); must not touch the rest */
    int intact2 = check(q, 0, MB(1), 710 + i) && check(q, MB(1) + KB(512), len, 710 + i);
    IT_CHECK(z && intact && r == 0 && hole && intact2, "MAP_FIXED at freed address %s", sz(len));
    SAY("MAP_FIXED at a freed address %s: zero=%s intact-after-traffic=%s munmap-part=%s "
        "hole-faults=%s rest-intact-after-traffic=%s",
        sz(len), yesno(z), yesno(intact), ir(r, e), yesno(hole), yesno(intact2));
    SAYU("MAP_FIXED at a freed address %s: layout after munmap-part %s", sz(len), lay);
    xunmap(q, MB(1));
    if (len > MB(1) + KB(512)) xunmap(q + MB(1) + KB(512), len - MB(1) - KB(512));
  }

  /* (b2) an address hint, and MAP_FIXED_NOREPLACE, at a range that an
   * earlier mmap returned and that was unmapped since: nothing is mapped
   * there, so the kernel uses the address as given. */
  static const size_t hl[] = {MB(4), KB(1536)};
  for (size_t i = 0; i < sizeof hl / sizeof hl[0]; i++) {
    size_t len = hl[i];
    unsigned char *p = xmap(len, RW, PA);
    memset(p, 0x98, len);
    xunmap(p, len);
    unsigned char *q = mmap(p, len, RW, PA, -1, 0);
    e = errno;
    const char *hint = q == p ? "used" : q == MAP_FAILED ? it_errname(e) : "not used";
    int z = q != MAP_FAILED && all_zero(q, len);
    if (q != MAP_FAILED) xunmap(q, len);
    q = mmap(p, len, RW, PA | MAP_FIXED_NOREPLACE, -1, 0);
    e = errno;
    const char *nr = q == p ? "mapped" : q == MAP_FAILED ? it_errname(e) : "elsewhere";
    int z2 = q != MAP_FAILED && all_zero(q, len);
    if (q != MAP_FAILED) xunmap(q, len);
    SAY("address hint at a just-unmapped %s range: %s zero=%s; MAP_FIXED_NOREPLACE there: %s zero=%s",
        sz(len), hint, yesno(z), nr, yesno(z2));
    IT_CHECK(!strcmp(hint, "used") && !strcmp(nr, "mapped") && z && z2,
             "hint/NOREPLACE at a just-unmapped %s range: %s, %s", sz(len), hint, nr);
  }

  /* (c) MAP_FIXED over the middle of a live mapping */
  unsigned char *p = xmap(MB(4), RW, PA);
  fill(p, 0, MB(4), 720);
  unsigned char *q = mmap(p + MB(1), MB(1), RW, PA | MAP_FIXED, -1, 0);
  ok = q == p + MB(1) && all_zero(q, MB(1)) && check(p, 0, MB(1), 720) && check(p, MB(2), MB(4), 720);
  fill(p, MB(1), MB(2), 721);
  churn(80);
  ok = ok && check(p, 0, MB(1), 720) && check(p, MB(1), MB(2), 721) && check(p, MB(2), MB(4), 720);
  IT_CHECK(ok, "MAP_FIXED over live mapping");
  SAY("MAP_FIXED over the middle of a live 4M mapping: replaced-zero, rest-intact, survives-traffic: %s",
      yesno(ok));
  /* (d) and a PROT_NONE guard MAP_FIXED over part of it */
  q = mmap(p + MB(3), KB(64), PROT_NONE, PA | MAP_FIXED, -1, 0);
  SAY("MAP_FIXED PROT_NONE guard in a live mapping: %s guard=%s after=%s layout %s",
      q == p + MB(3) ? "ok" : "WRONG", PR(p + MB(3)), PW(p + MB(3) + KB(64)), layout(p, MB(4), NULL));
  CALL(r, e, munmap(p, MB(4)));
  SAY("MAP_FIXED pieces: munmap all: %s gone=%s", ir(r, e), yesno(GONE(p + MB(2))));
}

/* ---- threads --------------------------------------------------------------- */

enum { TSLOTS = 8 };
static int t_iters = 2000, t_threads = 4;
static const size_t t_sizes[] = {KB(16), KB(64), KB(256), KB(1536), MB(2), MB(4), KB(4632), KB(100), MB(6)};

/* sparse: a word every 64 KiB plus the last word (cheap on big mappings) */
static void sfill(unsigned char *p, size_t len, uint64_t seed) {
  for (size_t o = 0; o + 8 <= len; o += KB(64)) *(uint64_t *)(p + o) = pw(seed, o, 0);
  *(uint64_t *)(p + len - 8) = pw(seed, len, 1);
}
static int scheck(const unsigned char *p, size_t len, size_t upto, uint64_t seed) {
  for (size_t o = 0; o + 8 <= upto; o += KB(64))
    if (*(const uint64_t *)(p + o) != pw(seed, o, 0)) return 0;
  if (upto == len && *(const uint64_t *)(p + len - 8) != pw(seed, len, 1)) return 0;
  return 1;
}
static int szero(const unsigned char *p, size_t len) {
  for (size_t o = 0; o + 8 <= len; o += KB(64))
    if (*(const uint64_t *)(p + o)) return 0;
  return *(const uint64_t *)(p + len - 8) == 0;
}

/* What went wrong in the threads case, by kind (INFO on stderr). */
enum {
  B_MMAP, B_NEWZERO, B_VERIFY, B_MUNMAP, B_MREMAP, B_MREMAP_KEPT, B_MREMAP_TAIL, B_CUT,
  B_CUT_KEPT, B_SHRINK, B_SHRINK_KEPT, B_DONTNEED, B_DONTNEED_ZERO, B_FINAL, B_KINDS
};
static const char *const b_name[B_KINDS] = {
    "mmap-failed", "new-mapping-not-zero", "contents-changed", "munmap-failed",
    "mremap-failed", "mremap-lost-contents", "mremap-tail-not-zero", "tail-munmap-failed",
    "tail-munmap-lost-contents", "shrink-moved-or-failed", "shrink-lost-contents",
    "dontneed-failed", "dontneed-not-zero", "final-contents-changed"};
static long b_count[B_KINDS];
static int b_errno[B_KINDS]; /* the last errno seen for a failed call of that kind */
static pthread_mutex_t b_lock = PTHREAD_MUTEX_INITIALIZER;

static void *worker(void *arg) {
  uintptr_t id = (uintptr_t)arg;
  uint64_t st = it_seed(1000 + id);
  struct { unsigned char *p; size_t len; uint64_t seed; } s[TSLOTS] = {{0}};
  long b[B_KINDS] = {0};
  for (int it = 0; it < t_iters; it++) {
    int k = (int)(it_rand(&st) % TSLOTS);
    if (s[k].p == NULL) {
      size_t len = t_sizes[it_rand(&st) % (sizeof t_sizes / sizeof t_sizes[0])];
      unsigned char *p = mmap(NULL, len, RW, PA, -1, 0);
      if (p == MAP_FAILED) { b[B_MMAP]++; continue; }
      if (!szero(p, len)) b[B_NEWZERO]++;
      s[k].p = p, s[k].len = len, s[k].seed = it_rand(&st);
      sfill(p, len, s[k].seed);
      continue;
    }
    if (!scheck(s[k].p, s[k].len, s[k].len, s[k].seed)) b[B_VERIFY]++;
    switch (it_rand(&st) % 4) {
    case 0:
      if (munmap(s[k].p, s[k].len)) {
        b[B_MUNMAP]++;
        b_errno[B_MUNMAP] = errno;
      }
      s[k].p = NULL;
      break;
    case 1: { /* mremap to another size, may move */
      size_t nl = t_sizes[it_rand(&st) % (sizeof t_sizes / sizeof t_sizes[0])];
      unsigned char *q = mremap(s[k].p, s[k].len, nl, MREMAP_MAYMOVE);
      if (q == MAP_FAILED) {
        b[B_MREMAP]++;
        b_errno[B_MREMAP] = errno;
        break;
      }
      size_t keep = nl < s[k].len ? nl : s[k].len;
      if (!scheck(q, s[k].len, keep, s[k].seed)) b[B_MREMAP_KEPT]++;
      if (nl > s[k].len && *(uint64_t *)(q + nl - 8) != 0) b[B_MREMAP_TAIL]++;
      s[k].p = q, s[k].len = nl, s[k].seed = it_rand(&st);
      sfill(q, nl, s[k].seed);
      break;
    }
    case 2: { /* cut the tail */
      size_t nl = (s[k].len / 2 + PG - 1) & ~(PG - 1);
      if (nl >= s[k].len) break;
      if (munmap(s[k].p + nl, s[k].len - nl)) b[B_CUT]++;
      if (!scheck(s[k].p, s[k].len, nl, s[k].seed)) b[B_CUT_KEPT]++;
      s[k].len = nl, s[k].seed = it_rand(&st);
      sfill(s[k].p, nl, s[k].seed);
      break;
    }
    default: { /* shrink in place, or DONTNEED the whole mapping */
      if (it_rand(&st) & 1) {
        size_t nl = (s[k].len / 3 + PG - 1) & ~(PG - 1);
        unsigned char *q = mremap(s[k].p, s[k].len, nl, 0);
        if (q != s[k].p) {
          b[B_SHRINK]++;
          if (q == MAP_FAILED) {
            b_errno[B_SHRINK] = errno;
            break;
          }
          s[k].p = q; /* moved: follow it */
        }
        if (!scheck(q, s[k].len, nl, s[k].seed)) b[B_SHRINK_KEPT]++;
        s[k].len = nl, s[k].seed = it_rand(&st);
        sfill(q, nl, s[k].seed);
      } else {
        if (madvise(s[k].p, s[k].len, MADV_DONTNEED)) {
          b[B_DONTNEED]++;
          b_errno[B_DONTNEED] = errno;
        }
        if (!szero(s[k].p, s[k].len)) b[B_DONTNEED_ZERO]++;
        sfill(s[k].p, s[k].len, s[k].seed);
      }
    }
    }
  }
  for (int k = 0; k < TSLOTS; k++)
    if (s[k].p) {
      if (!scheck(s[k].p, s[k].len, s[k].len, s[k].seed)) b[B_FINAL]++;
      if (munmap(s[k].p, s[k].len)) b[B_MUNMAP]++;
    }
  long bad = 0;
  pthread_mutex_lock(&b_lock);
  for (int i = 0; i < B_KINDS; i++) b_count[i] += b[i], bad += b[i];
  pthread_mutex_unlock(&b_lock);
  return (void *)bad;
}

static void c_threads(void) {
  enum { NT_MAX = 64 };
  int NT = t_threads < 1 ? 1 : t_threads > NT_MAX ? NT_MAX : t_threads;
  pthread_t t[NT_MAX];
  for (uintptr_t i = 0; i < (uintptr_t)NT; i++)
    if (pthread_create(&t[i], NULL, worker, (void *)i)) IT_DIE("pthread_create");
  long bad = 0;
  for (int i = 0; i < NT; i++) {
    void *r;
    pthread_join(t[i], &r);
    bad += (long)r;
  }
  IT_CHECK(bad == 0, "threads: %ld bad results", bad);
  for (int i = 0; i < B_KINDS; i++)
    if (b_count[i])
      INFO("threads: %s: %ld%s%s", b_name[i], b_count[i], b_errno[i] ? " last errno " : "",
           b_errno[i] ? it_errname(b_errno[i]) : "");
  SAY("threads (%d x %d map/unmap/mremap/DONTNEED, own contents checked): %s", NT, t_iters,
      bad ? "WRONG" : "ok");
}

/* ---- beyond the interposed functions (--extra) ----------------------------- */

static void c_extra(void) {
  int r, e;
  unsigned char *p;
  /* RLIMIT_AS: address space the program has not mapped is its to use. With
   * a limit of (what is mapped now) + 6 GiB, a placed mapping and then a
   * 5 GiB one (outside the window) both fit. */
  {
    char buf[256];
    read_file("/proc/self/statm", buf, sizeof buf);
    unsigned long long vm_pages = strtoull(buf, NULL, 10);
    struct rlimit old, lim;
    getrlimit(RLIMIT_AS, &old);
    lim = old;
    lim.rlim_cur = vm_pages * PG + ((rlim_t)6 << 30);
    if (setrlimit(RLIMIT_AS, &lim) == 0) {
      unsigned char *a = mmap(NULL, KB(1536), RW, PA, -1, 0);
      int ea = errno;
      void *big = mmap(NULL, (size_t)5 << 30, PROT_NONE, PA | MAP_NORESERVE, -1, 0);
      e = errno;
      SAY("extra: RLIMIT_AS = mapped + 6G: a 1536K mapping %s, then a 5G one %s",
          a == MAP_FAILED ? it_errname(ea) : "ok", big == MAP_FAILED ? it_errname(e) : "ok");
      if (big != MAP_FAILED) munmap(big, (size_t)5 << 30);
      if (a != MAP_FAILED) munmap(a, KB(1536));
      setrlimit(RLIMIT_AS, &old);
    } else {
      SAY("extra: RLIMIT_AS: setrlimit failed");
    }
  }
  /* calls that tell a hole from a mapping */
  p = xmap(MB(2), RW, PA);
  memset(p, 1, MB(2));
  xunmap(p, MB(2));
  unsigned char vec[MB(2) / 4096];
  CALL(r, e, mincore(p, MB(2), vec));
  SAY("extra: mincore on an unmapped range: %s", ir(r, e));
  CALL(r, e, msync(p, MB(2), MS_ASYNC));
  SAY("extra: msync on an unmapped range: %s", ir(r, e));
  CALL(r, e, mlock(p, MB(2)));
  SAY("extra: mlock on an unmapped range: %s", ir(r, e));
  if (r == 0) munlock(p, MB(2));
  SAY("extra: /proc/self/maps at an unmapped range: %s", maps_at(p + MB(1)));
  /* lazy commit: mapping without touching costs no memory */
  long a = rss_kb();
  p = xmap(MB(64), RW, PA);
  long b = rss_kb();
  SAY("extra: mmap 64M untouched adds < 1M RSS: %s", yesno(b - a < 1024));
  long f = minflt();
  (void)all_zero(p, MB(4));
  SAY("extra: first read of untouched memory faults: %s", yesno(minflt() - f > 0));
  xunmap(p, MB(64));
  /* how many VMAs a fresh 4M mapping makes (merging aside) */
  int raw;
  p = xmap(KB(4632), RW, PA);
  fill(p, 0, KB(4632), 900);
  (void)layout(p, KB(4632), &raw);
  SAY("extra: VMAs backing a fresh 4632K mapping: %d", raw);
  mprotect(p + MB(1), MB(1), PROT_READ);
  int raw2;
  (void)layout(p, KB(4632), &raw2);
  SAY("extra: VMAs after mprotect of 1M in the middle: %d (+%d)", raw2, raw2 - raw);
  xunmap(p, KB(4632));
}

/* ---- main ------------------------------------------------------------------- */

typedef struct { const char *name; void (*fn)(void); } case_t;

static double now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static void run_case(const case_t *c) {
  static double t0; /* static: kept across the siglongjmp */
  t0 = now_ms();
  if (sigsetjmp(case_jb, 1) == 0) {
    case_armed = 1;
    c->fn();
    case_armed = 0;
  } else {
    SAY("%s: CRASHED (unexpected %s)", c->name, sig_name(fault_sig));
    IT_FAIL("%s: unexpected %s", c->name, sig_name(fault_sig));
  }
  INFO("case %s: %.0f ms", c->name, now_ms() - t0);
}

int main(int argc, char **argv) {
  int shim = 0, extra = 0;
  const char *only = NULL;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--shim")) shim = 1;
    else if (!strcmp(argv[i], "--extra")) extra = 1;
    else if (!strncmp(argv[i], "--iters=", 8)) t_iters = atoi(argv[i] + 8);
    else if (!strncmp(argv[i], "--only=", 7)) only = argv[i] + 7;
    else if (!strncmp(argv[i], "--threads=", 10)) t_threads = atoi(argv[i] + 10);
    else if (!strcmp(argv[i], "--munmap-release")) release_mode = 1;
    else {
      fprintf(stderr, "usage: %s [--shim] [--extra] [--munmap-release] [--iters=N] [--threads=N] "
                      "[--only=CASE]\n", argv[0]);
      return 2;
    }
  }
  PG = (size_t)sysconf(_SC_PAGESIZE);
  main_tid = (pid_t)syscall(SYS_gettid);
  setvbuf(stdout, NULL, _IOLBF, 0);
  it_stats_get_fn get = NULL;
  tiershim_stats_t s0;
  if (shim) {
    get = it_require_shim("mmap_semantics");
    s0 = it_stats(get);
  }
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_fault;
  sa.sa_flags = SA_NODEFER;
  sigaction(SIGSEGV, &sa, NULL);
  sigaction(SIGBUS, &sa, NULL);
  SAY("mmap_semantics: page size %zu", PG); /* also allocates stdout's buffer */

  static const case_t cases[] = {
      {"zero-fill", c_zero_fill},   {"partial-munmap", c_partial_munmap},
      {"munmap-span", c_munmap_span}, {"munmap-einval", c_munmap_einval},
      {"mremap", c_mremap},         {"mremap-sequences", c_mremap_seq},
      {"mprotect", c_mprotect},
      {"madvise", c_madvise},       {"populate", c_populate},
      {"flags", c_flags},           {"fork", c_fork},
      {"malloc", c_malloc},         {"map-fixed", c_fixed},
      {"threads", c_threads},
  };
  static const case_t extras[] = {{"extra", c_extra}};
  if (extra) {
    run_case(&extras[0]);
  } else {
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
      if (only == NULL || strcmp(only, cases[i].name) == 0) run_case(&cases[i]);
  }
  if (release_mode)
    INFO("--munmap-release: %d reads of unmapped placed memory worked instead of faulting; "
         "%d of them read old data, not zero",
         gone_reads, gone_stale);
  if (get) {
    tiershim_stats_t s1 = it_stats(get);
    INFO("shim counted mmap=%llu munmap=%llu mremap=%llu madvise=%llu large_allocs=%llu",
         (unsigned long long)(s1.mmap_calls - s0.mmap_calls),
         (unsigned long long)(s1.munmap_calls - s0.munmap_calls),
         (unsigned long long)(s1.mremap_calls - s0.mremap_calls),
         (unsigned long long)(s1.madvise_calls - s0.madvise_calls),
         (unsigned long long)(s1.large_allocs - s0.large_allocs));
    IT_CHECK(s1.mmap_calls > s0.mmap_calls, "shim: mmap calls not counted (not interposed?)");
  }
  return it_finish("mmap_semantics");
}
