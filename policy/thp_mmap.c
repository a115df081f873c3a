/* The program's own anonymous mmap calls: fault-time huge pages only once
 * the program has shown it fills what it maps; see thp.h.
 *
 * A mapping made by malloc is written before it is read, densely. A
 * program's own mmap is zeroed memory of unknown use: an arena filled page
 * by page, or a table touched here and there (stress-ng's mmaphuge touches
 * one page in 64). Under THP `madvise` the kernel gives such a mapping
 * 4 KiB pages; a huge page per touched 2 MiB would zero 64 times the memory
 * the program uses and hold it as RSS (stress-ng ran at 0.07-0.2x). So in
 * auto mode a placed mmap starts as a probe: small pages at fault, dense
 * blocks collapsed in the background, exactly the sparse treatment. When a
 * probe is unmapped its whole blocks are counted with mincore (4 KiB pages
 * show what was touched); once PROVEN probes in a row were mostly dense,
 * mmaps get fault-time huge pages again, and one in REPROBE is still a
 * probe, so a program that changes its ways is noticed. */
#include <stdint.h>

#include "base/options.h"
#include "base/prim.h"
#include "policy/thp.h"

#define PMD ((size_t)2 << 20)
#define PAGE ((size_t)4096)
#define DENSE_MIN 448 /* resident pages of 512 that make a block dense (thp.c) */
#define PROVEN 4      /* dense probes in a row */
#define REPROBE 32

static int dense_streak;   /* dense probes in a row, at most PROVEN */
static uint32_t mmap_seq;  /* mmaps asked about once proven */

bool ts_thp_mmap_probe(size_t len) {
  if (len < PMD || ts_thp_effective() != TS_THP_AUTO) return false;
  if (__atomic_load_n(&dense_streak, __ATOMIC_RELAXED) < PROVEN) return true;
  return __atomic_fetch_add(&mmap_seq, 1, __ATOMIC_RELAXED) % REPROBE == 0;
}

/* Dense blocks among the whole blocks of [a, a+len), of *blocks. */
static size_t count_dense(uintptr_t a, size_t len, size_t *blocks) {
  uintptr_t lo = (a + PMD - 1) & ~(uintptr_t)(PMD - 1), hi = (a + len) & ~(uintptr_t)(PMD - 1);
  unsigned char vec[PMD / PAGE];
  size_t dense = 0;
  *blocks = 0;
  if (ts_prim_page_size() != PAGE) return 0;
  for (uintptr_t b = lo; b < hi; b += PMD) {
    if (ts_prim_mincore((void *)b, PMD, vec) != 0) continue;
    size_t resident = 0;
    for (size_t i = 0; i < sizeof vec; i++) resident += vec[i] & 1;
    ++*blocks;
    dense += resident >= DENSE_MIN;
  }
  return dense;
}

void ts_thp_mmap_observe(uintptr_t a, size_t len) {
  size_t blocks, dense = count_dense(a, len, &blocks);
  if (blocks == 0) return; /* a piece without a whole block says nothing */
  if (2 * dense >= blocks) {
    __atomic_fetch_add(&ts_thp_stats.mmap_probes_dense, 1, __ATOMIC_RELAXED);
    int s = __atomic_load_n(&dense_streak, __ATOMIC_RELAXED);
    if (s < PROVEN) __atomic_store_n(&dense_streak, s + 1, __ATOMIC_RELAXED);
  } else {
    __atomic_fetch_add(&ts_thp_stats.mmap_probes_sparse, 1, __ATOMIC_RELAXED);
    __atomic_store_n(&dense_streak, 0, __ATOMIC_RELAXED);
  }
}
