/* stress: many threads, random sizes up to 64 MiB, verified contents,
 * realloc chains, cross-thread frees, thread churn and fork.
 *
 *   stress [options] THREADS OPS      (OPS: operations per thread slot)
 *
 *   -s SEED     base seed (default 1); every thread's sequence derives from it
 *   -c K        thread churn: a thread exits after K operations and a new one
 *               takes over its slot (default OPS/4; 0: no churn)
 *   -f F        fork every F operations, counted over all threads (default
 *               THREADS*OPS/24, so 24 forks; 0: no fork)
 *   -b SLOTS    live blocks per thread slot (default 128)
 *   -m MIB      cap on live bytes (default 768): above it, sizes fall back to
 *               the small band
 *   -r BYTES    RSS check: after freeing, RSS (VmRSS) must stay within
 *               start + live + 2*BYTES + slack (BYTES: TIERSHIM_RETAIN_MAX)
 *   -l BYTES    slack for that check (default 48 MiB)
 *
 * Sizes are log-uniform in three bands: 90% 1 B - 64 KiB, 9.6% 64 KiB -
 * 4 MiB, 0.4% 4 - 64 MiB (both ends included). Every block is filled with a
 * pattern derived from its seed and its offset, and verified (the first and
 * last 64 bytes, one 8-byte word per 4 KiB page, and a checksum of those
 * samples) before every realloc and free. realloc keeps the pattern: the
 * preserved prefix is verified, the new tail filled. calloc blocks must read
 * zero (entirely up to 1 MiB, sampled beyond), posix_memalign and
 * aligned_alloc results must be aligned.
 *
 * A block can be handed to another thread through a mutex-protected
 * exchange and freed (or realloc'ed) there. A thread that ends its turn
 * (churn) frees half of its blocks and leaves the rest to its successor,
 * which verifies them first. Every F operations one thread (one at a time)
 * forks: the child verifies every block of the forking thread's table, a
 * copy of that table taken just before fork, and the snapshot blocks (made
 * at start-up and never changed), frees half of the inherited blocks,
 * allocates and frees a bit (with one thread of its own) and _exits 0, or 1
 * on a mismatch. The parent waits and fails on anything but exit 0.
 *
 * Output: one "stress: ..." summary line (ops, bytes, forks, verified
 * blocks, peak RSS from VmHWM, RSS at the end before freeing), then the RSS
 * figures after freeing. Exit 1 on any mismatch.
 *
 * Links only libc and pthread: the shim, when wanted, comes from LD_PRELOAD.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define KiB ((size_t)1024)
#define MiB ((size_t)1024 * 1024)
#define MAX_SIZE (64 * MiB)
#define EDGE 64
#define PAGE 4096
#define XCHG 64
#define CHILD_TIMEOUT 60

typedef struct {
  unsigned char *p;
  size_t size;
  uint64_t seed;
  uint64_t sum; /* checksum of the samples */
  int owner;    /* slot of the thread that filled it */
} blk_t;

/* ---- settings and counters ------------------------------------------------ */

static int nthreads;
static long ops_per_slot;
static uint64_t base_seed = 1;
static long churn = -1;
static long fork_every = -1;
static int nslots_blk = 128;
static size_t max_live = 768 * MiB;
static size_t rss_retain;   /* 0: no RSS check */
static size_t rss_slack = 48 * MiB;

static atomic_long n_bad;         /* mismatches of any kind */
static atomic_long n_ops, n_allocs, n_frees, n_reallocs, n_cross, n_calloc, n_aligned;
static atomic_long n_verified, n_forks, n_fork_verified, n_generations, n_handed;
static atomic_ullong n_bytes;     /* bytes requested (allocations and reallocs) */
static atomic_llong live_bytes;   /* bytes in live blocks */

/* ---- random numbers and the pattern -------------------------------------- */

static inline uint64_t rnd(uint64_t *st) { /* xorshift64* */
  uint64_t x = *st;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  *st = x;
  return x * 0x2545F4914F6CDD1DULL;
}

static uint64_t mkseed(uint64_t a, uint64_t b, uint64_t c) { /* splitmix64 */
  uint64_t z = a * 0x9E3779B97F4A7C15ULL + b * 0xD1B54A32D192ED03ULL + c + 0x632BE59BD9B4E019ULL;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  z ^= z >> 31;
  return z ? z : 1;
}

/* The pattern word for word index i (bytes 8i..8i+7 of the block). */
static inline uint64_t pat_word(uint64_t seed, size_t i) {
  uint64_t z = (seed + i) * 0x9E3779B97F4A7C15ULL;
  return z ^ (z >> 31) ^ seed;
}
static inline unsigned char pat_byte(uint64_t seed, size_t off) {
  return (unsigned char)(pat_word(seed, off >> 3) >> ((off & 7) * 8));
}

/* Fills [from, n) with the pattern. Blocks are at least 8-aligned. */
static void fill_range(unsigned char *p, size_t from, size_t n, uint64_t seed) {
  size_t o = from;
  while (o < n && (o & 7)) { p[o] = pat_byte(seed, o); o++; }
  uint64_t *w = (uint64_t *)(void *)(p + o);
  size_t nw = (n - o) / 8, i0 = o / 8;
  for (size_t i = 0; i < nw; i++) w[i] = pat_word(seed, i0 + i);
  for (o += nw * 8; o < n; o++) p[o] = pat_byte(seed, o);
}

/* The samples of a block of n bytes: [0, 64), [n-64, n), and the word at
 * 4096k + (a seeded offset inside the page) for every page. */
static inline size_t page_off(uint64_t seed, size_t k) {
  return k * PAGE + ((seed >> (k & 31)) & (PAGE - 8) & ~(size_t)7);
}

/* Checksum over the samples below `limit`, and the first offset below
 * `limit` whose byte differs from the pattern (or (size_t)-1). */
static uint64_t scan(const unsigned char *p, size_t n, size_t limit, uint64_t seed,
                     size_t *bad) {
  uint64_t sum = 0;
  *bad = (size_t)-1;
#define SAMPLE(o)                                                              \
  do {                                                                         \
    size_t o_ = (o);                                                           \
    if (o_ < limit) {                                                          \
      unsigned char v_ = p[o_];                                                \
      if (v_ != pat_byte(seed, o_) && *bad == (size_t)-1) *bad = o_;           \
      sum = sum * 0x100000001B3ULL + v_ + 1;                                   \
    }                                                                          \
  } while (0)
  size_t h = n < EDGE ? n : EDGE;
  for (size_t o = 0; o < h; o++) SAMPLE(o);
  if (n > EDGE) {
    size_t t = n - EDGE < EDGE ? EDGE : n - EDGE;
    for (size_t o = t; o < n; o++) SAMPLE(o);
  }
  for (size_t k = 0; k * PAGE < n; k++) {
    size_t o = page_off(seed, k);
    if (o + 8 > n) break;
    for (size_t j = 0; j < 8; j++) SAMPLE(o + j);
  }
#undef SAMPLE
  return sum;
}

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Messages without stdio's locks (usable in a fork child). */
static void say(const char *fmt, ...) {
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  if ((size_t)n >= sizeof buf) n = sizeof buf - 1;
  ssize_t w = write(2, buf, (size_t)n);
  (void)w;
}

static void report(const blk_t *b, size_t off, const char *when, int slot) {
  if (atomic_fetch_add(&n_bad, 1) < 20)
    say("FAIL: stress: block %p size %zu (filled by slot %d, checked by slot %d) %s: "
        "expected the pattern got a mismatch at offset %zu\n",
        (void *)b->p, b->size, b->owner, slot, when, off);
}

/* Verifies a block: samples against the pattern, then the checksum. */
static int verify(const blk_t *b, const char *when, int slot) {
  size_t bad;
  uint64_t s = scan(b->p, b->size, b->size, b->seed, &bad);
  atomic_fetch_add_explicit(&n_verified, 1, memory_order_relaxed);
  if (bad == (size_t)-1 && s != b->sum) bad = 0;
  if (bad != (size_t)-1) { report(b, bad, when, slot); return 0; }
  return 1;
}

static void fill(blk_t *b, unsigned char *p, size_t n, uint64_t seed, int slot) {
  b->p = p;
  b->size = n;
  b->seed = seed;
  b->owner = slot;
  fill_range(p, 0, n, seed);
  size_t bad;
  b->sum = scan(p, n, n, seed, &bad);
}

/* ---- sizes and allocation ------------------------------------------------- */

static size_t pick_size(uint64_t *r) {
  uint64_t band = rnd(r) % 1000;
  int lo, hi;
  if (band < 900) lo = 0, hi = 16;       /* 1 B .. 64 KiB */
  else if (band < 996) lo = 16, hi = 22; /* 64 KiB .. 4 MiB */
  else lo = 22, hi = 26;                 /* 4 .. 64 MiB */
  int bits = lo + (int)(rnd(r) % (uint64_t)(hi - lo));
  size_t base = (size_t)1 << bits;
  size_t n = base + (size_t)(rnd(r) % (base + (bits == 25))); /* 64 MiB itself too */
  if (n > MAX_SIZE) n = MAX_SIZE;
  if ((long long)n + atomic_load_explicit(&live_bytes, memory_order_relaxed) > (long long)max_live)
    n = 1 + (size_t)(rnd(r) % (64 * KiB));
  return n;
}

static int check_zero(const unsigned char *p, size_t n, size_t *off) {
  if (n <= MiB) {
    for (size_t o = 0; o < n; o++)
      if (p[o]) { *off = o; return 0; }
    return 1;
  }
  for (size_t o = 0; o < n; o += PAGE / 8) { /* 8 samples per page */
    if (p[o]) { *off = o; return 0; }
  }
  for (size_t o = n - EDGE; o < n; o++)
    if (p[o]) { *off = o; return 0; }
  return 1;
}

/* Allocates *np bytes one of several ways; aligned_alloc may round *np up to
 * a multiple of its alignment. */
static unsigned char *alloc_block(size_t *np, uint64_t *r, int slot) {
  size_t n = *np;
  unsigned kind = (unsigned)(rnd(r) % 100);
  unsigned char *p = NULL;
  if (kind < 10) {
    p = calloc(1, n);
    atomic_fetch_add_explicit(&n_calloc, 1, memory_order_relaxed);
    size_t off;
    if (p && !check_zero(p, n, &off) && atomic_fetch_add(&n_bad, 1) < 20)
      say("FAIL: stress: calloc(1, %zu) in slot %d: expected zero got a non-zero byte "
          "at offset %zu\n", n, slot, off);
  } else if (kind < 18) {
    /* 16 B .. 4 KiB mostly; 64 KiB and 2 MiB sometimes */
    size_t al = (kind == 10) ? (rnd(r) & 1 ? 64 * KiB : 2 * MiB) : (size_t)16 << (rnd(r) % 9);
    void *q = NULL;
    int rc = posix_memalign(&q, al, n);
    if (rc != 0) {
      say("FAIL: stress: posix_memalign(%zu, %zu) in slot %d: expected 0 got %d\n", al, n,
          slot, rc);
      _exit(1);
    }
    p = q;
    atomic_fetch_add_explicit(&n_aligned, 1, memory_order_relaxed);
    if (((uintptr_t)p & (al - 1)) && atomic_fetch_add(&n_bad, 1) < 20)
      say("FAIL: stress: posix_memalign(%zu, %zu): expected an aligned block got %p\n", al,
          n, (void *)p);
  } else if (kind < 25) {
    size_t al = (size_t)16 << (rnd(r) % 9);
    size_t m = (n + al - 1) / al * al; /* a multiple of the alignment (C11) */
    if (m > MAX_SIZE) m = MAX_SIZE;
    p = aligned_alloc(al, m);
    n = m;
    atomic_fetch_add_explicit(&n_aligned, 1, memory_order_relaxed);
    if (p && ((uintptr_t)p & (al - 1)) && atomic_fetch_add(&n_bad, 1) < 20)
      say("FAIL: stress: aligned_alloc(%zu, %zu): expected an aligned block got %p\n", al,
          m, (void *)p);
  } else if (kind < 28) {
    p = realloc(NULL, n);
  } else {
    p = malloc(n);
  }
  if (p == NULL) {
    say("FAIL: stress: allocation of %zu bytes in slot %d returned NULL (errno %d)\n", n,
        slot, errno);
    _exit(1);
  }
  if (malloc_usable_size(p) < n && atomic_fetch_add(&n_bad, 1) < 20)
    say("FAIL: stress: malloc_usable_size(%p): expected >= %zu got %zu\n", (void *)p, n,
        malloc_usable_size(p));
  atomic_fetch_add_explicit(&n_allocs, 1, memory_order_relaxed);
  atomic_fetch_add_explicit(&n_bytes, n, memory_order_relaxed);
  atomic_fetch_add_explicit(&live_bytes, (long long)n, memory_order_relaxed);
  *np = n;
  return p;
}

static void new_block(blk_t *b, uint64_t *r, int slot) {
  size_t n = pick_size(r);
  unsigned char *p = alloc_block(&n, r, slot);
  fill(b, p, n, rnd(r), slot);
}

static void free_block(blk_t *b, const char *when, int slot) {
  verify(b, when, slot);
  atomic_fetch_sub_explicit(&live_bytes, (long long)b->size, memory_order_relaxed);
  free(b->p);
  atomic_fetch_add_explicit(&n_frees, 1, memory_order_relaxed);
  b->p = NULL;
  b->size = 0;
}

static void realloc_block(blk_t *b, uint64_t *r, int slot) {
  if (!verify(b, "before realloc", slot)) { /* still go on: the count says it */ }
  size_t n, old = b->size;
  uint64_t k = rnd(r) % 8;
  if (k == 0) n = pick_size(r);                       /* a fresh size */
  else if (k < 5) n = old + 1 + (size_t)(rnd(r) % (old < 4 * MiB ? old : 4 * MiB)); /* grow */
  else n = old / 2 + 1 + (size_t)(rnd(r) % (old / 2 + 1));                         /* shrink */
  if (n > MAX_SIZE) n = MAX_SIZE;
  if (n > old && (long long)(n - old) + atomic_load_explicit(&live_bytes, memory_order_relaxed) >
                     (long long)max_live)
    n = old / 2 + 1;
  unsigned char *q = realloc(b->p, n);
  if (q == NULL) {
    say("FAIL: stress: realloc(%zu -> %zu) in slot %d returned NULL\n", old, n, slot);
    _exit(1);
  }
  size_t keep = old < n ? old : n, bad;
  blk_t nb = *b;
  nb.p = q;
  (void)scan(q, old, keep, b->seed, &bad);
  atomic_fetch_add_explicit(&n_verified, 1, memory_order_relaxed);
  if (bad != (size_t)-1) report(&nb, bad, "after realloc (the preserved prefix)", slot);
  atomic_fetch_add_explicit(&live_bytes, (long long)n - (long long)old, memory_order_relaxed);
  atomic_fetch_add_explicit(&n_bytes, n, memory_order_relaxed);
  atomic_fetch_add_explicit(&n_reallocs, 1, memory_order_relaxed);
  b->p = q;
  b->size = n;
  b->owner = slot;
  if (rnd(r) % 4 == 0) {
    fill(b, q, n, rnd(r), slot); /* new contents */
  } else {
    if (n > old) fill_range(q, old, n, b->seed); /* the chain keeps its pattern */
    b->sum = scan(q, n, n, b->seed, &bad);
  }
}

/* ---- the exchange (cross-thread frees) ------------------------------------ */

static struct {
  pthread_mutex_t mu;
  blk_t ring[XCHG];
  int head, count;
} xchg = {.mu = PTHREAD_MUTEX_INITIALIZER};

static int xchg_put(const blk_t *b) {
  int ok = 0;
  pthread_mutex_lock(&xchg.mu);
  if (xchg.count < XCHG) {
    xchg.ring[(xchg.head + xchg.count) % XCHG] = *b;
    xchg.count++;
    ok = 1;
  }
  pthread_mutex_unlock(&xchg.mu);
  return ok;
}

static int xchg_take(blk_t *b) {
  int ok = 0;
  pthread_mutex_lock(&xchg.mu);
  if (xchg.count > 0) {
    *b = xchg.ring[xchg.head];
    xchg.head = (xchg.head + 1) % XCHG;
    xchg.count--;
    ok = 1;
  }
  pthread_mutex_unlock(&xchg.mu);
  return ok;
}

/* ---- snapshot blocks (made once, read-only, checked by every fork child) -- */

#define NSNAP 8
static blk_t snap[NSNAP];
static const size_t snap_sizes[NSNAP] = {1, 24, 4000, 70000, 300 * 1024, 3 * 1024 * 1024,
                                         9 * 1024 * 1024 + 123, 64 * 1024 * 1024};

/* ---- fork ------------------------------------------------------------------ */

static pthread_mutex_t fork_mu = PTHREAD_MUTEX_INITIALIZER;

static void *child_thread(void *arg) {
  uint64_t r = mkseed(base_seed, 777, (uint64_t)(uintptr_t)arg);
  long bad = 0;
  for (int i = 0; i < 200; i++) {
    size_t n = (i % 50 == 0) ? 300 * KiB + (size_t)(rnd(&r) % MiB) : 1 + (size_t)(rnd(&r) % 4096);
    blk_t b;
    unsigned char *p = malloc(n);
    if (p == NULL) return (void *)1;
    fill(&b, p, n, rnd(&r), -1);
    size_t off;
    if (scan(p, n, n, b.seed, &off) != b.sum || off != (size_t)-1) bad++;
    free(p);
  }
  return (void *)(intptr_t)(bad != 0);
}

/* The child after fork: checks what the forking thread owns and the
 * snapshot blocks, then frees them and allocates a little. */
static void child_main(blk_t *tab, const blk_t *copy, int nblk, int slot) {
  alarm(CHILD_TIMEOUT); /* a deadlock after fork ends in SIGALRM */
  long before = atomic_load(&n_bad);
  for (int i = 0; i < nblk; i++) {
    if (memcmp(&tab[i], &copy[i], sizeof tab[i]) != 0) {
      say("FAIL: stress: fork child: table entry %d of slot %d: expected its pre-fork copy "
          "got a different entry\n", i, slot);
      _exit(1);
    }
    if (tab[i].p) verify(&tab[i], "in a fork child (the forking thread's table)", slot);
  }
  for (int i = 0; i < NSNAP; i++) verify(&snap[i], "in a fork child (snapshot)", slot);
  for (int i = 0; i < nblk; i += 2)
    if (tab[i].p) free(tab[i].p); /* the parent's blocks, freed in the child */
  uint64_t r = mkseed(base_seed, 999, (uint64_t)getpid());
  for (int i = 0; i < 24; i++) {
    blk_t b;
    size_t n = pick_size(&r);
    if (i == 0) n = 5 * MiB + 7;
    unsigned char *p = alloc_block(&n, &r, slot);
    fill(&b, p, n, rnd(&r), slot);
    if (i % 3 == 0) realloc_block(&b, &r, slot);
    free_block(&b, "in a fork child (its own block)", slot);
  }
  pthread_t t;
  void *res = (void *)1;
  if (pthread_create(&t, NULL, child_thread, (void *)(uintptr_t)slot) == 0) {
    pthread_join(t, &res);
    if (res != NULL) say("FAIL: stress: fork child: its thread found a mismatch\n");
  } else {
    say("FAIL: stress: fork child: pthread_create failed\n");
  }
  _exit(atomic_load(&n_bad) != before || res != NULL ? 1 : 0);
}

static atomic_llong fork_ns; /* time from fork to the child's end, summed */

static long long now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (long long)t.tv_sec * 1000000000LL + t.tv_nsec;
}

static void do_fork(blk_t *tab, int nblk, int slot) {
  pthread_mutex_lock(&fork_mu);
  blk_t *copy = malloc(sizeof *copy * (size_t)nblk); /* the snapshot of the table */
  if (copy == NULL) { say("FAIL: stress: malloc for the table copy\n"); _exit(1); }
  memcpy(copy, tab, sizeof *copy * (size_t)nblk);
  long long t0 = now_ns();
  pid_t pid = fork();
  if (pid < 0) {
    say("FAIL: stress: fork: errno %d\n", errno);
    _exit(1);
  }
  if (pid == 0) child_main(tab, copy, nblk, slot);
  int st = 0;
  while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {}
  atomic_fetch_add(&fork_ns, now_ns() - t0);
  long f = atomic_fetch_add(&n_forks, 1) + 1;
  if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
    atomic_fetch_add(&n_bad, 1);
    if (WIFSIGNALED(st))
      say("FAIL: stress: fork %ld from slot %d: expected the child to exit 0 got signal %d%s\n",
          f, slot, WTERMSIG(st), WTERMSIG(st) == SIGALRM ? " (timeout: deadlock after fork?)" : "");
    else
      say("FAIL: stress: fork %ld from slot %d: expected the child to exit 0 got exit %d\n",
          f, slot, WEXITSTATUS(st));
  }
  /* the parent's copies are untouched by whatever the child did */
  atomic_fetch_add_explicit(&n_fork_verified, nblk, memory_order_relaxed);
  for (int i = 0; i < nblk; i += 7)
    if (tab[i].p) verify(&tab[i], "in the parent after a fork", slot);
  free(copy);
  pthread_mutex_unlock(&fork_mu);
}

/* ---- threads, slots and churn --------------------------------------------- */

typedef struct {
  int slot;
  int gen;
  long done;      /* operations this slot has done */
  blk_t *tab;     /* nslots_blk blocks, handed from generation to generation */
  pthread_t th;
  int running;
} slot_t;

static slot_t *slots;
static pthread_mutex_t done_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t done_cv = PTHREAD_COND_INITIALIZER;
static int *done_q, done_n;

static void *worker(void *arg) {
  slot_t *s = arg;
  int slot = s->slot;
  uint64_t r = mkseed(base_seed, (uint64_t)slot + 1, (uint64_t)s->gen);
  blk_t *tab = s->tab;
  int nb = nslots_blk;
  /* blocks inherited from the previous generation: verify them first */
  for (int i = 0; i < nb; i++)
    if (tab[i].p) verify(&tab[i], "by the next thread of the slot (handed over)", slot);
  long todo = ops_per_slot - s->done;
  if (churn > 0 && todo > churn) todo = churn;
  for (long k = 0; k < todo; k++) {
    blk_t *b = &tab[rnd(&r) % (uint64_t)nb];
    uint64_t act = rnd(&r) % 100;
    if (b->p == NULL) {
      new_block(b, &r, slot);
    } else if (act < 40) {
      free_block(b, "before free", slot);
    } else if (act < 70) {
      realloc_block(b, &r, slot);
    } else if (act < 75) {
      if (xchg_put(b)) { b->p = NULL; b->size = 0; }
      else free_block(b, "before free (exchange full)", slot);
    } else {
      verify(b, "(check)", slot);
    }
    if (rnd(&r) % 8 == 0) {
      blk_t x;
      if (xchg_take(&x)) {
        if (x.owner != slot) atomic_fetch_add_explicit(&n_cross, 1, memory_order_relaxed);
        if (rnd(&r) % 4 == 0) realloc_block(&x, &r, slot);
        free_block(&x, "before a cross-thread free", slot);
      }
    }
    long op = atomic_fetch_add_explicit(&n_ops, 1, memory_order_relaxed) + 1;
    if (fork_every > 0 && op % fork_every == 0) do_fork(tab, nb, slot);
  }
  s->done += todo;
  /* end of this thread's turn: free half, leave the rest to the successor
   * (or to main, which frees everything at the end) */
  if (s->done < ops_per_slot) {
    for (int i = 0; i < nb; i++)
      if (tab[i].p && (rnd(&r) & 1)) free_block(&tab[i], "before free (thread exit)", slot);
      else if (tab[i].p) atomic_fetch_add_explicit(&n_handed, 1, memory_order_relaxed);
  }
  pthread_mutex_lock(&done_mu);
  done_q[done_n++] = slot;
  pthread_cond_signal(&done_cv);
  pthread_mutex_unlock(&done_mu);
  return NULL;
}

static void start(slot_t *s) {
  s->running = 1;
  atomic_fetch_add(&n_generations, 1);
  int rc = pthread_create(&s->th, NULL, worker, s);
  if (rc != 0) {
    say("FAIL: stress: pthread_create: %d\n", rc);
    _exit(1);
  }
}

/* ---- /proc/self/status ---------------------------------------------------- */

static long status_kib(const char *key) {
  char buf[4096];
  int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return -1;
  buf[n] = 0;
  size_t kl = strlen(key);
  for (char *l = buf; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
    if (strncmp(l, key, kl) == 0 && l[kl] == ':') return strtol(l + kl + 1, NULL, 10);
  return -1;
}

static size_t parse_size(const char *s) {
  char *e;
  unsigned long long v = strtoull(s, &e, 10);
  switch (*e) {
    case 'k': case 'K': v <<= 10; break;
    case 'm': case 'M': v <<= 20; break;
    case 'g': case 'G': v <<= 30; break;
    default: break;
  }
  return (size_t)v;
}

static void usage(void) {
  fprintf(stderr, "usage: stress [-s SEED] [-c CHURN] [-f FORK_EVERY] [-b SLOTS] [-m MAX_LIVE_MIB] "
                  "[-r RETAIN_MAX] [-l SLACK] THREADS OPS\n");
  exit(2);
}

int main(int argc, char **argv) {
  int opt;
  while ((opt = getopt(argc, argv, "s:c:f:b:m:r:l:")) != -1) {
    switch (opt) {
      case 's': base_seed = strtoull(optarg, NULL, 0); break;
      case 'c': churn = atol(optarg); break;
      case 'f': fork_every = atol(optarg); break;
      case 'b': nslots_blk = atoi(optarg); break;
      case 'm': max_live = (size_t)atol(optarg) * MiB; break;
      case 'r': rss_retain = parse_size(optarg); break;
      case 'l': rss_slack = parse_size(optarg); break;
      default: usage();
    }
  }
  if (argc - optind != 2) usage();
  nthreads = atoi(argv[optind]);
  ops_per_slot = atol(argv[optind + 1]);
  if (nthreads < 1 || ops_per_slot < 1 || nslots_blk < 1) usage();
  if (churn < 0) churn = ops_per_slot / 4;
  if (fork_every < 0) fork_every = (long)nthreads * ops_per_slot / 24;
  setvbuf(stdout, NULL, _IOLBF, 0);

  int shim = dlsym(RTLD_DEFAULT, "tiershim_stats_get") != NULL;
  long rss_start = status_kib("VmRSS");
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);

  /* the snapshot blocks: made once, never changed, checked by fork children */
  uint64_t r = mkseed(base_seed, 0, 0);
  for (int i = 0; i < NSNAP; i++) {
    size_t n = snap_sizes[i];
    unsigned char *p = alloc_block(&n, &r, -1);
    fill(&snap[i], p, n, rnd(&r), -1);
  }

  slots = calloc((size_t)nthreads, sizeof *slots);
  done_q = calloc((size_t)nthreads, sizeof *done_q);
  if (!slots || !done_q) { fprintf(stderr, "FAIL: stress: calloc\n"); return 1; }
  for (int i = 0; i < nthreads; i++) {
    slots[i].slot = i;
    slots[i].tab = calloc((size_t)nslots_blk, sizeof(blk_t));
    if (!slots[i].tab) { fprintf(stderr, "FAIL: stress: calloc\n"); return 1; }
    start(&slots[i]);
  }
  /* churn: whenever a thread ends its turn, join it and start the next one */
  int running = nthreads;
  while (running > 0) {
    pthread_mutex_lock(&done_mu);
    while (done_n == 0) pthread_cond_wait(&done_cv, &done_mu);
    int sl = done_q[--done_n];
    pthread_mutex_unlock(&done_mu);
    slot_t *s = &slots[sl];
    pthread_join(s->th, NULL);
    s->running = 0;
    s->gen++;
    if (s->done < ops_per_slot) start(s);
    else running--;
  }
  clock_gettime(CLOCK_MONOTONIC, &t1);

  long rss_end = status_kib("VmRSS");
  long long live_end = atomic_load(&live_bytes);
  /* free everything (the exchange, every slot's table), snapshot last */
  blk_t x;
  while (xchg_take(&x)) free_block(&x, "before free (exchange, at the end)", -1);
  for (int i = 0; i < nthreads; i++) {
    for (int j = 0; j < nslots_blk; j++)
      if (slots[i].tab[j].p) free_block(&slots[i].tab[j], "before free (at the end)", -1);
    free(slots[i].tab);
  }
  free(slots);
  free(done_q);

  long hwm = status_kib("VmHWM");
  double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
  printf("stress: shim=%s threads=%d ops=%ld bytes=%llu allocs=%ld frees=%ld reallocs=%ld "
         "calloc=%ld aligned=%ld cross_frees=%ld generations=%ld handed_over=%ld forks=%ld "
         "fork_blocks=%ld fork_ms_avg=%.1f verified_blocks=%ld peak_rss_kib=%ld rss_end_kib=%ld "
         "live_end_bytes=%lld seconds=%.2f\n",
         shim ? "yes" : "no", nthreads, atomic_load(&n_ops),
         (unsigned long long)atomic_load(&n_bytes), atomic_load(&n_allocs),
         atomic_load(&n_frees), atomic_load(&n_reallocs), atomic_load(&n_calloc),
         atomic_load(&n_aligned), atomic_load(&n_cross), atomic_load(&n_generations),
         atomic_load(&n_handed), atomic_load(&n_forks), atomic_load(&n_fork_verified),
         atomic_load(&n_forks) ? (double)atomic_load(&fork_ns) / 1e6 / (double)atomic_load(&n_forks) : 0.0,
         atomic_load(&n_verified), hwm, rss_end, live_end, secs);

  /* RSS after freeing: let retention run (its decay window is 1 s by default,
   * and one more large request trades retention for growth), then measure
   * with the snapshot still live and once more with nothing live. */
  int rss_fail = 0;
  for (int phase = 0; phase < 2; phase++) {
    if (phase == 1)
      for (int i = 0; i < NSNAP; i++) free_block(&snap[i], "before free (snapshot)", -1);
    if (phase == 0) usleep(1200 * 1000);
    void *big = malloc(8 * MiB + 4096);
    if (big) { memset(big, 1, 8 * MiB + 4096); free(big); }
    malloc_trim(0);
    long rss = status_kib("VmRSS");
    long long live = atomic_load(&live_bytes);
    long long limit = rss_start + (live + 2 * (long long)rss_retain + (long long)rss_slack) / 1024;
    printf("stress: rss_after_free phase=%s rss_kib=%ld start_kib=%ld live_kib=%lld",
           phase ? "nothing_live" : "snapshot_live", rss, rss_start, live / 1024);
    if (rss_retain) {
      printf(" limit_kib=%lld (start + live + 2*%zu MiB retain + %zu MiB slack) %s\n", limit,
             rss_retain / MiB, rss_slack / MiB, rss <= limit ? "ok" : "OVER");
      if (rss > limit) {
        rss_fail = 1;
        fprintf(stderr, "FAIL: stress: RSS after freeing (%s): expected <= %lld KiB "
                "(start %ld + live %lld + 2 x RETAIN_MAX %zu + slack %zu, KiB) got %ld KiB\n",
                phase ? "nothing live" : "snapshot live", limit, rss_start, live / 1024,
                rss_retain / KiB, rss_slack / KiB, rss);
      }
    } else {
      printf("\n");
    }
  }

  long bad = atomic_load(&n_bad);
  if (bad || rss_fail) {
    fprintf(stderr, "stress: FAILED: %ld mismatch(es)%s\n", bad, rss_fail ? ", RSS over the limit" : "");
    return 1;
  }
  printf("stress: all checks passed\n");
  return 0;
}
