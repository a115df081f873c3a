/* Probes: fault-time huge pages for memory of unknown use only while the
 * program shows it fills such memory; see thp.h.
 *
 * Two kinds of memory are of unknown use.
 *  - The program's own anonymous mmap: zeroed memory, an arena filled page
 *    by page or a table touched here and there (stress-ng's mmaphuge
 *    touches one page in 64).
 *  - A large block handed out uninitialised (TIERSHIM_THP_PROBE_MIN up to
 *    THP_FILL_MIN): most are written at once, densely (weights read from a
 *    file, activations), but an engine also allocates worst-case buffers
 *    whole and uses their starts: llama.cpp's KV cache, graph and compute
 *    buffers, where each layer's slice fills as a conversation grows
 *    (docs/results.md, the soak).
 * Under THP `madvise` the kernel gives such memory 4 KiB pages; a huge page
 * per touched 2 MiB zeroes up to 512 times the memory the program uses and
 * holds it as RSS. A probe gets the sparse treatment: small pages at fault,
 * dense blocks collapsed in the background while the program is quiet
 * (collapsing them at once, during requests, cost llama.cpp 1.1B a token
 * p99 of 67 ms against 52 ms). Memory is counted with mincore
 * (4 KiB pages show what was touched): a mapping when it is unmapped, a
 * block at the next large request or when it is freed, whichever comes
 * first. Once `proven` probes in a row were mostly dense the kind faults
 * huge again, and one in REPROBE is still a probe, so a program that
 * changes its ways is noticed; a sparse one starts probing again.
 *
 * mmaps start as probes (zeroed memory is often a table). Blocks start
 * trusted: an engine's weights come first and are written as they are
 * allocated, and each one a probe costs its load small-page faults and a
 * collapse (ONNX Runtime BERT-base loaded in 0.65-1.3 s against 0.3-0.5 s
 * when every block was a probe until 4 were dense). A block still untouched
 * when the program asks for the next one is what starts the probing:
 * llama.cpp allocates its KV cache, then its graph and compute buffers, all
 * used later and from their starts. The two kinds learn apart. */
#include <pthread.h>
#include <stdint.h>

#include "base/options.h"
#include "base/prim.h"
#include "policy/thp.h"
#include "policy/thp_int.h"

#define PMD ((size_t)2 << 20)
#define PAGE ((size_t)4096)
#define DENSE_MIN 448 /* resident pages of 512 that make a block dense (thp.c) */
#define PROVEN_MMAPS 4  /* dense probes in a row */
#define PROVEN_BLOCKS 2 /* blocks: trusted from the start, so two suffice */
#define REPROBE 32
#define PEEK_MAX 8    /* whole blocks of the newest block counted at the next request */

typedef struct probe_learner_s {
  int proven;       /* dense probes in a row that prove the kind dense */
  int dense_streak; /* dense probes in a row, at most proven */
  uint32_t seq;     /* requests asked about once proven */
  uint64_t *dense, *sparse; /* the stats */
} probe_learner_t;

static probe_learner_t mmaps = {PROVEN_MMAPS, 0, 0, &ts_thp_stats.mmap_probes_dense, &ts_thp_stats.mmap_probes_sparse};
/* Blocks start proven dense (weights come first and are written as they
 * are allocated) and seq at 1, so the first block is no reprobe. */
static probe_learner_t blocks = {PROVEN_BLOCKS, PROVEN_BLOCKS, 1, &ts_thp_stats.block_probes_dense,
                                 &ts_thp_stats.block_probes_sparse};

/* The newest large block not measured yet (len 0: none). Requests of
 * PROBE_MIN and up are rare (a few a second at most), so a lock is cheap. */
static pthread_mutex_t live_lock = PTHREAD_MUTEX_INITIALIZER;
static uintptr_t live_a;
static size_t live_len;

static bool learner_asks(probe_learner_t *l) {
  if (__atomic_load_n(&l->dense_streak, __ATOMIC_RELAXED) < l->proven) return true;
  return __atomic_fetch_add(&l->seq, 1, __ATOMIC_RELAXED) % REPROBE == 0;
}

/* Dense blocks among the first `max` whole blocks of [a, a+len), of
 * *nblocks. */
static size_t count_dense(uintptr_t a, size_t len, size_t max, size_t *nblocks) {
  uintptr_t lo = (a + PMD - 1) & ~(uintptr_t)(PMD - 1), hi = (a + len) & ~(uintptr_t)(PMD - 1);
  unsigned char vec[PMD / PAGE];
  size_t dense = 0;
  *nblocks = 0;
  if (ts_prim_page_size() != PAGE) return 0;
  for (uintptr_t b = lo; b < hi && *nblocks < max; b += PMD) {
    if (ts_prim_mincore((void *)b, PMD, vec) != 0) continue;
    size_t resident = 0;
    for (size_t i = 0; i < sizeof vec; i++) resident += vec[i] & 1;
    ++*nblocks;
    dense += resident >= DENSE_MIN;
  }
  return dense;
}

/* Teaches l what the first `max` whole blocks of [a, a+len) show (a piece
 * without a whole block says nothing). */
static void learner_observe(probe_learner_t *l, uintptr_t a, size_t len, size_t max) {
  size_t n, dense = count_dense(a, len, max, &n);
  if (n == 0) return;
  if (2 * dense >= n) {
    __atomic_fetch_add(l->dense, 1, __ATOMIC_RELAXED);
    int s = __atomic_load_n(&l->dense_streak, __ATOMIC_RELAXED);
    if (s < l->proven) __atomic_store_n(&l->dense_streak, s + 1, __ATOMIC_RELAXED);
  } else {
    __atomic_fetch_add(l->sparse, 1, __ATOMIC_RELAXED);
    __atomic_store_n(&l->dense_streak, 0, __ATOMIC_RELAXED);
  }
}

bool ts_thp_mmap_probe(size_t len) {
  if (len < PMD || ts_thp_effective() != TS_THP_AUTO) return false;
  return learner_asks(&mmaps);
}

void ts_thp_mmap_observe(uintptr_t a, size_t len) { learner_observe(&mmaps, a, len, SIZE_MAX); }

/* Only where the collapse thread may run: a probe the program fills must
 * become huge pages afterwards. From thp_fill.c's size on, a block is a
 * model's weights far more often than not: it keeps that file's rule. */
static bool block_eligible(size_t len) {
  size_t min = ts_config.thp_probe_min;
  if (min == 0 || len < min || len < PMD || len >= THP_FILL_MIN) return false;
  return ts_thp_effective() == TS_THP_AUTO && thp_collapse_usable();
}

/* The previous eligible block (probe or not) is measured first: one still
 * untouched when the program asks for the next is sparse evidence (llama.cpp
 * allocates its KV cache, then its graph and compute buffers, all used
 * later and from their starts; an engine's weights are written at once). */
bool ts_thp_block_probe(size_t len) {
  if (!block_eligible(len)) return false;
  pthread_mutex_lock(&live_lock);
  if (live_len != 0) learner_observe(&blocks, live_a, live_len, PEEK_MAX);
  live_len = 0;
  bool probe = learner_asks(&blocks);
  pthread_mutex_unlock(&live_lock);
  return probe;
}

/* The engine placed an uninitialised block at a; probe: ts_thp_block_probe
 * said yes. */
void ts_thp_block_placed(uintptr_t a, size_t len, bool probe) {
  if (!block_eligible(len)) return;
  pthread_mutex_lock(&live_lock);
  live_a = a;
  live_len = len;
  pthread_mutex_unlock(&live_lock);
}

void thp_probe_fork_child(void) {
  pthread_mutex_init(&live_lock, NULL);
  live_len = 0;
}

/* A block is freed: measured now if it is the newest large block and no
 * later request measured it already. */
void ts_thp_block_observe(uintptr_t a, size_t len) {
  if (ts_config.thp_probe_min == 0 || len < ts_config.thp_probe_min) return; /* never the newest: no lock */
  pthread_mutex_lock(&live_lock);
  if (live_len != 0 && live_a == a) {
    live_len = 0;
    learner_observe(&blocks, a, len, SIZE_MAX);
  }
  pthread_mutex_unlock(&live_lock);
}
