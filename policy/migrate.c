/* The migration engine; see migrate.h. */
#define _GNU_SOURCE
#include "policy/migrate.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <sys/mman.h>

#include "policy/mpol.h"
#include "base/prim.h"
#include "policy/tierpol.h"
#include "base/range.h"
#include "base/thread.h"

#define BLOCK_PAGES 512
#define QUERY_BLOCKS 8                      /* a query covers 16 MiB */
#define QUERY_PAGES (QUERY_BLOCKS * BLOCK_PAGES)
#define MOVE_BATCH 512                      /* flush at this many entries */
#define MOVE_CAP (MOVE_BATCH + QUERY_PAGES) /* a query can add a whole chunk */

const char *const ts_mig_err_names[TS_MIG_NERR] = {"EBUSY", "ENOMEM", "EFAULT", "EACCES", "EINVAL", "other"};

enum { KIND_PAGE = 0, KIND_BLOCK = 1 };

/* A worker's buffers, in one mapping of its own. */
typedef struct mig_buf_s {
  void *q_addr[QUERY_PAGES];
  int q_status[QUERY_PAGES];
  void *mv_addr[MOVE_CAP];
  int mv_node[MOVE_CAP];
  int mv_status[MOVE_CAP];
  signed char mv_src[MOVE_CAP];
  unsigned char mv_kind[MOVE_CAP];
  void *rt_addr[MOVE_CAP]; /* retries */
  int rt_node[MOVE_CAP];
  int rt_status[MOVE_CAP];
  signed char rt_src[MOVE_CAP];
  void *vf_addr[MOVE_CAP]; /* blocks moved by one address, to verify */
  int vf_status[MOVE_CAP];
  signed char vf_src[MOVE_CAP];
} mig_buf_t;

/* The ranges laid end to end, cut in chunks of CHUNK bytes whose ends sit
 * on 2 MiB boundaries of the address space (no huge page is split between
 * two chunks). Workers take the next chunk when they finish one: a worker
 * on a slower CPU (a busy host core, another tenant) takes fewer, instead of
 * a static half holding everyone up. */
#define CHUNK ((uintptr_t)QUERY_BLOCKS * PMD)
typedef struct mig_shared_s {
  uint64_t next, nchunks, total;
} mig_shared_t;

typedef struct mig_worker_s {
  const ts_migrate_req_t *q;
  const ts_mrange_t *r;
  size_t n;
  struct mig_shared_s *sh;  /* the chunks, handed out to whoever is free */
  mig_buf_t *b;
  size_t mv_n;
  uint64_t bytes_done, t0, rate; /* rate: this worker's share, bytes/s */
  ts_migrate_result_t res;
  pthread_t tid;
  bool started;
} mig_worker_t;

static ts_mig_totals_t mig_totals;

static inline void mig_add(uint64_t *c, uint64_t n) { __atomic_fetch_add(c, n, __ATOMIC_RELAXED); }

static int err_index(int e) {
  switch (e) {
  case EBUSY: case EAGAIN: return TS_MIG_EBUSY;
  case ENOMEM: return TS_MIG_ENOMEM;
  case EFAULT: return TS_MIG_EFAULT;
  case EACCES: case EPERM: return TS_MIG_EACCES;
  case EINVAL: return TS_MIG_EINVAL;
  default: return TS_MIG_EOTHER;
  }
}

static void fail(mig_worker_t *w, int e, uint64_t pages) {
  w->res.pages_failed += pages;
  w->res.err[err_index(e)] += pages;
}

static void moved(mig_worker_t *w, int src, uint64_t pages) {
  w->res.pages_moved += pages;
  if (src >= 0 && src < 64) w->res.moved_from[src] += pages;
}

/* ---- moving ------------------------------------------------------------- */

static long mig_call(mig_worker_t *w, size_t n, void **addr, const int *nodes, int *status) {
  w->res.calls++;
  return ts_prim_move_pages(w->q->pid, n, addr, nodes, status,
                            w->q->move_all ? (1 << 2) /* MPOL_MF_MOVE_ALL */ : (int)TS_MPOL_MF_MOVE);
}

/* A rate limit: sleep until this worker's bytes fit its share of the rate. */
static void mig_pace(mig_worker_t *w, uint64_t bytes) {
  if (w->rate == 0) return;
  w->bytes_done += bytes;
  uint64_t due = w->t0 + w->bytes_done * 1000000000u / w->rate, now = ts_prim_clock_ns();
  if (due > now) ts_prim_nanosleep(due - now);
}

static int mig_flush(mig_worker_t *w);

/* Blocks asked to move by one address: if the block's last page moved too,
 * it was a huge page and moved whole; else it is base pages, and the other
 * 511 are queued as pages (flushed as the queue fills: those flushes hold
 * pages only, so they verify nothing and the recursion ends there). */
static int mig_verify_blocks(mig_worker_t *w, size_t nb) {
  mig_buf_t *b = w->b;
  for (size_t i = 0; i < nb; i++) b->vf_addr[i] = (char *)b->vf_addr[i] + PMD - PAGE;
  if (mig_call(w, nb, b->vf_addr, NULL, b->vf_status) < 0)
    for (size_t i = 0; i < nb; i++) b->vf_status[i] = -1;
  for (size_t i = 0; i < nb; i++) {
    if (b->vf_status[i] == w->q->target) {
      moved(w, b->vf_src[i], BLOCK_PAGES);
      continue;
    }
    moved(w, b->vf_src[i], 1);
    if (w->mv_n + BLOCK_PAGES > MOVE_CAP) {
      int e = mig_flush(w);
      if (e) return e;
    }
    uintptr_t lo = (uintptr_t)b->vf_addr[i] + PAGE - PMD;
    for (uintptr_t a = lo + PAGE; a < lo + PMD; a += PAGE) {
      b->mv_addr[w->mv_n] = (void *)a;
      b->mv_src[w->mv_n] = b->vf_src[i];
      b->mv_kind[w->mv_n++] = KIND_PAGE;
    }
  }
  return 0;
}

/* One retry of the pages that failed transiently (EBUSY, EAGAIN, ENOMEM). */
static void mig_retry(mig_worker_t *w, size_t n) {
  mig_buf_t *b = w->b;
  w->res.pages_retried += n;
  for (size_t i = 0; i < n; i++) b->rt_node[i] = w->q->target;
  long r = mig_call(w, n, b->rt_addr, b->rt_node, b->rt_status);
  for (size_t i = 0; i < n; i++) {
    int s = r < 0 ? (int)r : b->rt_status[i];
    if (s == w->q->target) moved(w, b->rt_src[i], 1);
    else fail(w, s < 0 ? -s : EINVAL, 1);
  }
}

/* Moves the queued entries. Returns 0, or the negative errno of a call that
 * failed as a whole (bad node, no such process, no permission). */
static int mig_flush(mig_worker_t *w) {
  mig_buf_t *b = w->b;
  size_t n = w->mv_n;
  if (n == 0) return 0;
  for (size_t i = 0; i < n; i++) b->mv_node[i] = w->q->target;
  long r = mig_call(w, n, b->mv_addr, b->mv_node, b->mv_status);
  w->mv_n = 0;
  if (r < 0) {
    for (size_t i = 0; i < n; i++) fail(w, (int)-r, b->mv_kind[i] == KIND_BLOCK ? BLOCK_PAGES : 1);
    return (int)r;
  }
  size_t nb = 0, nr = 0;
  uint64_t bytes = 0;
  for (size_t i = 0; i < n; i++) {
    int s = b->mv_status[i];
    bool block = b->mv_kind[i] == KIND_BLOCK;
    if (s == w->q->target) {
      bytes += (block ? BLOCK_PAGES : 1) * PAGE;
      if (block) {
        b->vf_addr[nb] = b->mv_addr[i];
        b->vf_src[nb++] = b->mv_src[i];
      } else {
        moved(w, b->mv_src[i], 1);
      }
    } else if (s == -EBUSY || s == -EAGAIN || s == -ENOMEM) {
      b->rt_addr[nr] = b->mv_addr[i]; /* a block's retry moves its first page; */
      b->rt_src[nr++] = b->mv_src[i]; /* the rest stay counted as failed */
      if (block) fail(w, -s, BLOCK_PAGES - 1);
    } else {
      fail(w, s < 0 ? -s : EINVAL, block ? BLOCK_PAGES : 1);
    }
  }
  if (nr) mig_retry(w, nr);
  mig_pace(w, bytes);
  return nb ? mig_verify_blocks(w, nb) : 0;
}

/* ---- planning ----------------------------------------------------------- */

static bool wanted(const mig_worker_t *w, int s) {
  return s >= 0 && s != w->q->target && (w->q->from < 0 || s == w->q->from);
}

/* A query's -ENOENT is a page never touched; so is its -EFAULT on kernels
 * before 6.5 (follow_page with FOLL_DUMP), where it also means no mapping
 * at all: the two cannot be told apart, and neither has anything to move. */
static void plan_page(mig_worker_t *w, uintptr_t a, int s) {
  if (s == -ENOENT || s == -EFAULT) { w->res.pages_absent++; return; }
  if (s < 0) { fail(w, -s, 1); return; }
  if (!wanted(w, s)) { w->res.pages_already++; return; }
  w->b->mv_addr[w->mv_n] = (void *)a;
  w->b->mv_src[w->mv_n] = (signed char)s;
  w->b->mv_kind[w->mv_n++] = KIND_PAGE;
}

/* Queries [lo, hi) (at most QUERY_PAGES pages) and queues what must move. */
static int plan_chunk(mig_worker_t *w, uintptr_t lo, uintptr_t hi) {
  mig_buf_t *b = w->b;
  size_t np = (hi - lo) / PAGE;
  for (size_t i = 0; i < np; i++) b->q_addr[i] = (void *)(lo + i * PAGE);
  long r = mig_call(w, np, b->q_addr, NULL, b->q_status);
  if (r < 0) {
    fail(w, (int)-r, np);
    return (int)r;
  }
  for (size_t i = 0; i < np;) {
    uintptr_t a = lo + i * PAGE;
    size_t left = np - i;
    if (a % PMD == 0 && left >= BLOCK_PAGES) {
      int s = b->q_status[i];
      size_t k = 1;
      while (k < BLOCK_PAGES && b->q_status[i + k] == s) k++;
      if (k == BLOCK_PAGES && wanted(w, s)) {
        b->mv_addr[w->mv_n] = (void *)a;
        b->mv_src[w->mv_n] = (signed char)s;
        b->mv_kind[w->mv_n++] = KIND_BLOCK;
        i += BLOCK_PAGES;
        continue;
      }
    }
    plan_page(w, a, b->q_status[i]);
    i++;
  }
  return w->mv_n >= MOVE_BATCH ? mig_flush(w) : 0;
}

/* Walks [lo, hi) in 16 MiB chunks that end on 2 MiB boundaries. */
static int plan_piece(mig_worker_t *w, uintptr_t lo, uintptr_t hi) {
  for (uintptr_t a = lo; a < hi;) {
    uintptr_t end = ((a / PMD) + QUERY_BLOCKS) * PMD;
    if (end > hi) end = hi;
    int e = plan_chunk(w, a, end);
    if (e) return e;
    a = end;
  }
  return 0;
}

static uintptr_t cut_at(const ts_mrange_t *r, size_t n, uintptr_t off);

/* Chunk k's offsets; its moves are flushed before the next is taken, so
 * the copying, not just the planning, is what gets shared out. */
static int mig_chunk(mig_worker_t *w, uint64_t k) {
  uint64_t total = w->sh->total;
  uintptr_t c_lo = k == 0 ? 0 : cut_at(w->r, w->n, k * CHUNK);
  uintptr_t c_hi = k + 1 >= w->sh->nchunks ? total : cut_at(w->r, w->n, (k + 1) * CHUNK);
  uintptr_t off = 0;
  int e = 0;
  for (size_t i = 0; i < w->n && e == 0 && off < c_hi; i++) {
    uintptr_t s_lo = off > c_lo ? off : c_lo, s_hi = off + w->r[i].len;
    if (s_hi > c_hi) s_hi = c_hi;
    if (s_lo < s_hi) e = plan_piece(w, w->r[i].addr + (s_lo - off), w->r[i].addr + (s_hi - off));
    off += w->r[i].len;
  }
  while (e == 0 && w->mv_n) e = mig_flush(w); /* verified blocks may queue pages */
  return e;
}

static void *mig_work(void *arg) {
  mig_worker_t *w = arg;
  w->t0 = ts_prim_clock_ns();
  int e = 0;
  for (uint64_t k; e == 0 && (k = __atomic_fetch_add(&w->sh->next, 1, __ATOMIC_RELAXED)) < w->sh->nchunks;)
    e = mig_chunk(w, k);
  w->res.error = e;
  return NULL;
}

/* ---- the request ------------------------------------------------------ */

/* The offset (ranges laid end to end) of the first 2 MiB boundary of the
 * address space at or after offset off, within the same range. */
static uintptr_t cut_at(const ts_mrange_t *r, size_t n, uintptr_t off) {
  uintptr_t base = 0;
  for (size_t i = 0; i < n; i++) {
    if (off < base + r[i].len) {
      uintptr_t a = r[i].addr + (off - base), up = (a + PMD - 1) & ~(PMD - 1);
      if (up > r[i].addr + r[i].len) up = r[i].addr + r[i].len;
      return base + (up - r[i].addr);
    }
    base += r[i].len;
  }
  return base;
}

static void merge(ts_migrate_result_t *o, const ts_migrate_result_t *w) {
  o->pages_moved += w->pages_moved;
  o->pages_already += w->pages_already;
  o->pages_absent += w->pages_absent;
  o->pages_failed += w->pages_failed;
  o->pages_retried += w->pages_retried;
  o->calls += w->calls;
  for (int i = 0; i < TS_MIG_NERR; i++) o->err[i] += w->err[i];
  for (int i = 0; i < 64; i++) o->moved_from[i] += w->moved_from[i];
  if (o->error == 0) o->error = w->error;
}

static void account(const ts_migrate_req_t *q, const ts_migrate_result_t *o) {
  const ts_topo_t *t = ts_tier_topo();
  mig_add(&mig_totals.requests, 1);
  for (int n = 0; n < 64; n++) {
    uint64_t p = o->moved_from[n];
    if (p == 0) continue;
    int from = t->node[n].tier, to = q->target < 64 ? t->node[q->target].tier : -1;
    bool known = t->status == TS_TOPO_TIERED && from >= 0 && to >= 0 && from != to;
    mig_add(!known ? &mig_totals.pages_other : from > to ? &mig_totals.pages_promoted : &mig_totals.pages_demoted, p);
  }
  mig_add(&mig_totals.pages_failed, o->pages_failed);
  mig_add(&mig_totals.calls, o->calls);
  mig_add(&mig_totals.ns, o->ns);
  for (int i = 0; i < TS_MIG_NERR; i++) mig_add(&mig_totals.err[i], o->err[i]);
}

static void start_worker(mig_worker_t *w) {
  w->started = ts_thread_spawn(&w->tid, mig_work, w, 0, false) == 0;
  if (!w->started) mig_work(w); /* no thread: the caller does the slice */
}

int ts_migrate(const ts_mrange_t *r, size_t n, const ts_migrate_req_t *q, ts_migrate_result_t *out) {
  memset(out, 0, sizeof *out);
  uint64_t t0 = ts_prim_clock_ns(), total = 0;
  for (size_t i = 0; i < n; i++) {
    if (r[i].addr % PAGE || r[i].len % PAGE) return out->error = -EINVAL;
    total += r[i].len;
  }
  if (q->target < 0 || q->target >= 1024 || q->threads < 1) return out->error = -EINVAL;
  int nw = q->threads > TS_MIG_THREADS_MAX ? TS_MIG_THREADS_MAX : q->threads;
  uint64_t chunks = (total + CHUNK - 1) / CHUNK;
  if ((uint64_t)nw > chunks) nw = chunks > 0 ? (int)chunks : 1; /* idle workers cost a thread each */
  size_t bytes = (sizeof(mig_worker_t) + sizeof(mig_buf_t)) * (size_t)nw;
  ts_prim_ptr_t m = ts_prim_mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (m.err) return out->error = -ENOMEM;
  ts_tier_bind_hot(m.addr, bytes);
  mig_worker_t *w = m.addr;
  mig_buf_t *bufs = (mig_buf_t *)(w + nw);
  mig_shared_t sh = {.next = 0, .nchunks = chunks, .total = total};
  for (int i = 0; i < nw; i++)
    w[i] = (mig_worker_t){.q = q, .r = r, .n = n, .b = &bufs[i], .sh = &sh, .rate = q->rate / (uint64_t)nw};
  for (int i = 1; i < nw; i++) start_worker(&w[i]);
  mig_work(&w[0]);
  for (int i = 1; i < nw; i++)
    if (w[i].started) pthread_join(w[i].tid, NULL);
  for (int i = 0; i < nw; i++) merge(out, &w[i].res);
  out->threads = nw;
  out->ns = ts_prim_clock_ns() - t0;
  ts_prim_munmap(m.addr, bytes);
  account(q, out);
  return out->error;
}

void ts_mig_totals(ts_mig_totals_t *o) {
  o->requests = __atomic_load_n(&mig_totals.requests, __ATOMIC_RELAXED);
  o->pages_promoted = __atomic_load_n(&mig_totals.pages_promoted, __ATOMIC_RELAXED);
  o->pages_demoted = __atomic_load_n(&mig_totals.pages_demoted, __ATOMIC_RELAXED);
  o->pages_other = __atomic_load_n(&mig_totals.pages_other, __ATOMIC_RELAXED);
  o->pages_failed = __atomic_load_n(&mig_totals.pages_failed, __ATOMIC_RELAXED);
  o->calls = __atomic_load_n(&mig_totals.calls, __ATOMIC_RELAXED);
  o->ns = __atomic_load_n(&mig_totals.ns, __ATOMIC_RELAXED);
  for (int i = 0; i < TS_MIG_NERR; i++) o->err[i] = __atomic_load_n(&mig_totals.err[i], __ATOMIC_RELAXED);
}
