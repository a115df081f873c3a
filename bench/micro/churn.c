/* ts_churn: small-object malloc/free churn, the allocator's hot path.
 *
 * Each thread keeps a working set of W live blocks. One op picks a random
 * slot, retires the block there and puts a fresh one in its place: mostly
 * free+malloc, some realloc (grow or shrink in place of the free+malloc) and
 * some calloc. Every new block has its first and last byte written, so the
 * allocator has to hand out memory that is really there, and a retired
 * block's first byte is read back before it is freed (the program's use of
 * its data, and nothing the compiler may drop).
 *
 * With -x (two or more threads), a share of the retired blocks is not freed
 * by its owner but handed to the next thread through a single-producer,
 * single-consumer ring; that thread frees it. This is the producer/consumer
 * pattern of a thread pool, and the slow path of most allocators.
 *
 * The program never links an allocator: the one under test is chosen with
 * LD_PRELOAD (bench/micro/run.sh), and `malloc_from=` in the output names the
 * object that actually provided malloc, so a preload that did not take is
 * noticed instead of measured as glibc.
 *
 * Output, one line:
 *   ops_per_s=... cpu_s=... wall_s=... threads=... ops=... max_size=...
 *   ws=... cross=... xfer=... xwait=... malloc_from=... checksum=...
 */
#define _GNU_SOURCE
#define BENCH_NAME "ts_churn"
#include "../bench_util.h"
#include <dlfcn.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

/* Out of 256: the op mix. The rest is free + malloc. */
#define OP_REALLOC   26   /* ~10% realloc of the slot's block          */
#define OP_CALLOC    13   /* ~5%  free + calloc                        */

#define RING_CAP     65536 /* power of two; room for a few time slices of
                             the consumer not running (busy cores)      */
#define DRAIN_EVERY  32   /* ops between two looks at the incoming ring  */
#define MAX_WS       (1u << 24)
#define CACHE_LINE   64


/* "2M", "500k", "1000": decimal counts with an optional k/M/G suffix. */
static uint64_t parse_count(const char *s, const char *what) {
  char *end;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno != 0 || end == s || s[0] == '-') die("bad %s: '%s'", what, s);
  uint64_t mul = 1;
  switch (*end) {
    case 'k': case 'K': mul = 1000; end++; break;
    case 'm': case 'M': mul = 1000000; end++; break;
    case 'g': case 'G': mul = 1000000000; end++; break;
    default: break;
  }
  if (*end != '\0') die("bad %s: '%s'", what, s);
  if (v > UINT64_MAX / mul) die("%s too large: '%s'", what, s);
  return (uint64_t)v * mul;
}

/* --------------------------------------------------------------------------
   Size distribution: power-of-two classes from [8,16) up to the class that
   holds max_size, uniform inside a class. The class weights follow the shape
   measured for C/C++ programs (most blocks under 64 bytes, a thin tail of
   larger ones); classes above 1 KiB keep halving. A random byte indexes a
   256-entry table of classes, so drawing a size costs no loop.
-------------------------------------------------------------------------- */

typedef struct size_dist_s {
  uint8_t  class_of[256];
  uint32_t lo[32];
  uint32_t span[32];      /* sizes in the class: lo .. lo+span-1 */
} size_dist_t;

static size_dist_t g_sizes;

static const unsigned k_weights[] = { 20, 25, 20, 15, 10, 6, 4 };  /* 8B..1KiB */

static unsigned class_weight(unsigned k) {
  unsigned n = sizeof(k_weights) / sizeof(k_weights[0]);
  if (k < n) return k_weights[k];
  unsigned w = k_weights[n - 1] >> (k - n + 1);
  return (w == 0 ? 1 : w);
}

static void size_dist_init(size_dist_t *d, size_t max_size) {
  unsigned nclasses = 0, total = 0;
  for (size_t lo = 8; lo <= max_size && nclasses < 32; lo *= 2) {
    size_t hi = (2 * lo - 1 < max_size ? 2 * lo - 1 : max_size);
    d->lo[nclasses] = (uint32_t)lo;
    d->span[nclasses] = (uint32_t)(hi - lo + 1);
    total += class_weight(nclasses);
    nclasses++;
  }
  /* Spread 256 table entries over the classes in proportion to the weights. */
  unsigned acc = 0, k = 0;
  for (unsigned i = 0; i < 256; i++) {
    while (k + 1 < nclasses && (i * total) >= (acc + class_weight(k)) * 256) {
      acc += class_weight(k);
      k++;
    }
    d->class_of[i] = (uint8_t)k;
  }
}

/* r supplies 8 bits for the class and 16 for the size inside it. */
static inline size_t size_draw(const size_dist_t *d, uint64_t r) {
  unsigned k = d->class_of[r & 0xFF];
  uint64_t within = ((r >> 8) & 0xFFFF) * d->span[k];
  return d->lo[k] + (size_t)(within >> 16);
}

/* --------------------------------------------------------------------------
   Cross-thread hand-off: thread i produces into thread (i+1)'s ring and is
   the only consumer of its own, so a single-producer single-consumer ring
   with two indices suffices. Head and tail sit on their own cache lines so
   the two sides only share a line when one actually looks at the other.
-------------------------------------------------------------------------- */

typedef struct ring_s {
  _Alignas(CACHE_LINE) _Atomic size_t tail;  /* written by the producer */
  _Alignas(CACHE_LINE) _Atomic size_t head;  /* written by the consumer */
  _Alignas(CACHE_LINE) void *item[RING_CAP];
} ring_t;

typedef struct worker_s {
  ring_t      in;            /* blocks handed to us                       */
  _Alignas(CACHE_LINE)
  ring_t     *out;           /* the next thread's ring, or NULL           */
  size_t      out_head;      /* our cached copy of out->head              */
  void      **slots;
  uint64_t    rng;
  uint64_t    xfer;          /* blocks handed to the next thread          */
  uint64_t    xwait;         /* times we found the next thread's ring full */
  uint64_t    check;
  pthread_t   tid;
} worker_t;

static void ring_drain(ring_t *r) {
  size_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
  size_t tail = atomic_load_explicit(&r->tail, memory_order_acquire);
  if (head == tail) return;
  for (; head != tail; head++) free(r->item[head & (RING_CAP - 1)]);
  atomic_store_explicit(&r->head, tail, memory_order_release);
}

/* A full ring waits for its consumer rather than freeing the block here:
   every allocator then does the same cross-thread frees, however much it
   makes the threads wait for each other (glibc's arena locks do). While
   waiting we empty our own ring, as the consumer may be waiting on us. */
static void ring_push(worker_t *w, void *p) {
  ring_t *r = w->out;
  size_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
  while (tail - w->out_head == RING_CAP) {
    w->out_head = atomic_load_explicit(&r->head, memory_order_acquire);
    if (tail - w->out_head < RING_CAP) break;
    w->xwait++;
    ring_drain(&w->in);
    sched_yield();
  }
  r->item[tail & (RING_CAP - 1)] = p;
  atomic_store_explicit(&r->tail, tail + 1, memory_order_release);
}

/* --------------------------------------------------------------------------
   The work
-------------------------------------------------------------------------- */

typedef struct config_s {
  size_t   threads;
  uint64_t ops;          /* measured ops per thread */
  uint64_t warmup;       /* unmeasured ops per thread, after the fill */
  size_t   max_size;
  size_t   ws;
  bool     cross;
  unsigned cross_256;    /* share of retired blocks handed over, out of 256 */
  uint64_t seed;
} config_t;

static config_t g_cfg = {
  .threads = 1, .ops = 2000000, .warmup = UINT64_MAX, .max_size = 1024,
  .ws = 1000, .cross = false, .cross_256 = 64, .seed = 42,
};

static pthread_barrier_t g_start, g_stop;
static _Atomic size_t g_warming, g_running;  /* workers still in the phase */

static inline char *fresh(void *p, size_t size, uint64_t i) {
  if (p == NULL) die("out of memory (%zu bytes)", size);
  char *c = (char *)p;
  c[0] = (char)i;
  c[size - 1] = (char)i;
  return c;
}

/* Retire one block: its owner frees it, or (cross) the next thread does. */
static inline void retire(worker_t *w, void *p, uint64_t r) {
  if (p == NULL) return;
  w->check += (uint8_t)((char *)p)[0];
  if (w->out != NULL && ((r >> 32) & 0xFF) < g_cfg.cross_256) {
    ring_push(w, p);
    w->xfer++;
    return;
  }
  free(p);
}

/* Bits of one draw: [0,8) op, [8,32) size, [32,40) cross, [40,64) slot. */
static void churn(worker_t *w, uint64_t n) {
  void **slots = w->slots;
  const size_t ws = g_cfg.ws;
  for (uint64_t i = 0; i < n; i++) {
    uint64_t r = rnd_next(&w->rng);
    size_t slot = (size_t)(((r >> 40) * ws) >> 24);
    size_t size = size_draw(&g_sizes, r >> 8);
    unsigned op = (unsigned)(r & 0xFF);
    void *old = slots[slot];
    if (op < OP_REALLOC && old != NULL) {
      w->check += (uint8_t)((char *)old)[0];
      slots[slot] = fresh(realloc(old, size), size, i);
    } else if (op < OP_REALLOC + OP_CALLOC) {
      retire(w, old, r);
      char *c = calloc(1, size);
      if (c != NULL && (c[0] != 0 || c[size - 1] != 0))
        die("calloc(1, %zu) returned memory that is not zeroed", size);
      slots[slot] = fresh(c, size, i);
    } else {
      retire(w, old, r);
      slots[slot] = fresh(malloc(size), size, i);
    }
    if (w->out != NULL && (i % DRAIN_EVERY) == 0) ring_drain(&w->in);
  }
}

static void worker_setup(worker_t *w) {
  w->slots = calloc(g_cfg.ws, sizeof(void *));
  if (w->slots == NULL) die("out of memory for the working set");
  for (size_t i = 0; i < g_cfg.ws; i++) {
    size_t size = size_draw(&g_sizes, rnd_next(&w->rng));
    w->slots[i] = fresh(malloc(size), size, i);
  }
  churn(w, g_cfg.warmup);
  w->xfer = w->xwait = 0;
}

/* After the stop barrier no one produces any more: what is left in our
   ring is ours to free. */
static void worker_teardown(worker_t *w) {
  ring_drain(&w->in);
  for (size_t i = 0; i < g_cfg.ws; i++) free(w->slots[i]);
  free(w->slots);
  w->slots = NULL;
}

/* A worker done with a phase keeps emptying its ring until every worker is:
   one still in the phase may be waiting for room in that ring. */
static void phase_done(worker_t *w, _Atomic size_t *left) {
  atomic_fetch_sub(left, 1);
  while (w->out != NULL && atomic_load(left) > 0) {
    ring_drain(&w->in);
    sched_yield();
  }
}

static void *worker_main(void *arg) {
  worker_t *w = arg;
  worker_setup(w);
  phase_done(w, &g_warming);
  pthread_barrier_wait(&g_start);
  churn(w, g_cfg.ops);
  phase_done(w, &g_running);
  pthread_barrier_wait(&g_stop);
  pthread_barrier_wait(&g_start);  /* every ring's producer has stopped */
  worker_teardown(w);
  return NULL;
}

static worker_t *workers_new(size_t n) {
  worker_t *ws = aligned_alloc(CACHE_LINE, n * sizeof(worker_t));
  if (ws == NULL) die("out of memory for %zu workers", n);
  memset(ws, 0, n * sizeof(worker_t));
  uint64_t seed = g_cfg.seed;
  for (size_t i = 0; i < n; i++) {
    ws[i].rng = rnd_next(&seed);
    ws[i].out = (g_cfg.cross ? &ws[(i + 1) % n].in : NULL);
  }
  return ws;
}

typedef struct result_s {
  double   wall, cpu;
  uint64_t xfer, xwait, check;
} result_t;

/* One thread runs on the main thread: no pthread_create, so glibc keeps its
   single-threaded fast paths, as a real single-threaded program would. */
static result_t run_single(worker_t *w) {
  result_t res = { 0 };
  worker_setup(w);
  double c0 = cpu_s(), t0 = now_s();
  churn(w, g_cfg.ops);
  res.wall = now_s() - t0;
  res.cpu = cpu_s() - c0;
  worker_teardown(w);
  res.check = w->check;
  return res;
}

/* The main thread only keeps time: it passes the start barrier together with
   the workers (after their fill and warm-up) and the stop barrier when the
   last of them has finished its ops. */
static result_t run_threads(worker_t *ws, size_t n) {
  result_t res = { 0 };
  pthread_barrier_init(&g_start, NULL, (unsigned)n + 1);
  pthread_barrier_init(&g_stop, NULL, (unsigned)n + 1);
  atomic_store(&g_warming, n);
  atomic_store(&g_running, n);
  for (size_t i = 0; i < n; i++) {
    int err = pthread_create(&ws[i].tid, NULL, worker_main, &ws[i]);
    if (err != 0) die("pthread_create: %s", strerror(err));
  }
  pthread_barrier_wait(&g_start);
  double c0 = cpu_s(), t0 = now_s();
  pthread_barrier_wait(&g_stop);
  res.wall = now_s() - t0;
  res.cpu = cpu_s() - c0;
  pthread_barrier_wait(&g_start);
  for (size_t i = 0; i < n; i++) {
    pthread_join(ws[i].tid, NULL);
    res.xfer += ws[i].xfer;
    res.xwait += ws[i].xwait;
    res.check += ws[i].check;
  }
  pthread_barrier_destroy(&g_start);
  pthread_barrier_destroy(&g_stop);
  return res;
}

/* --------------------------------------------------------------------------
   Command line
-------------------------------------------------------------------------- */

static void usage(FILE *f) {
  fprintf(f,
    "usage: ts_churn [-t THREADS] [-n OPS] [-s MAX_SIZE] [-w WORKING_SET]\n"
    "                [-x] [-p PCT] [-W WARMUP_OPS] [-r SEED]\n"
    "  -t  threads (default 1; 1 runs on the main thread)\n"
    "  -n  measured ops per thread (default 2M; k/M/G suffixes)\n"
    "  -s  largest block size, >= 8 (default 1024)\n"
    "  -w  live blocks per thread (default 1000)\n"
    "  -x  hand retired blocks to the next thread, which frees them (-t >= 2)\n"
    "  -p  with -x: percent of retired blocks handed over (default 25)\n"
    "  -W  warm-up ops per thread before timing (default OPS/10)\n"
    "  -r  seed (default 42)\n");
}

static void parse_args(int argc, char **argv) {
  int c;
  while ((c = getopt(argc, argv, "t:n:s:w:xp:W:r:h")) != -1) {
    switch (c) {
      case 't': g_cfg.threads = parse_count(optarg, "thread count"); break;
      case 'n': g_cfg.ops = parse_count(optarg, "op count"); break;
      case 's': g_cfg.max_size = parse_count(optarg, "max size"); break;
      case 'w': g_cfg.ws = parse_count(optarg, "working set"); break;
      case 'x': g_cfg.cross = true; break;
      case 'p': {
        uint64_t pct = parse_count(optarg, "percent");
        if (pct > 100) die("-p takes 0..100");
        g_cfg.cross_256 = (unsigned)((pct * 256 + 50) / 100);
        break;
      }
      case 'W': g_cfg.warmup = parse_count(optarg, "warm-up count"); break;
      case 'r': g_cfg.seed = parse_count(optarg, "seed"); break;
      case 'h': usage(stdout); exit(0);
      default: usage(stderr); exit(2);
    }
  }
  if (optind != argc) { usage(stderr); exit(2); }
  if (g_cfg.threads < 1 || g_cfg.threads > 1024) die("-t takes 1..1024");
  if (g_cfg.max_size < 8 || g_cfg.max_size > (1u << 30)) die("-s takes 8..1G");
  if (g_cfg.ws < 1 || g_cfg.ws > MAX_WS) die("-w takes 1..%u", MAX_WS);
  if (g_cfg.cross && g_cfg.threads < 2) die("-x needs -t 2 or more");
  if (g_cfg.warmup == UINT64_MAX) g_cfg.warmup = g_cfg.ops / 10;
}


int main(int argc, char **argv) {
  parse_args(argc, argv);
  size_dist_init(&g_sizes, g_cfg.max_size);

  worker_t *ws = workers_new(g_cfg.threads);
  result_t res = (g_cfg.threads == 1 ? run_single(&ws[0])
                                     : run_threads(ws, g_cfg.threads));
  free(ws);

  double total = (double)g_cfg.ops * (double)g_cfg.threads;
  printf("ops_per_s=%.0f cpu_s=%.3f wall_s=%.4f threads=%zu ops=%" PRIu64
         " max_size=%zu ws=%zu cross=%d xfer=%" PRIu64 " xwait=%" PRIu64
         " malloc_from=%s checksum=%" PRIx64 "\n",
         (res.wall > 0 ? total / res.wall : 0.0), res.cpu, res.wall,
         g_cfg.threads, g_cfg.ops, g_cfg.max_size, g_cfg.ws, (int)g_cfg.cross,
         res.xfer, res.xwait, malloc_from(), res.check);
  return 0;
}
