/* The placement engine (alloc/place*.c, alloc/window.c) through a fake of
 * its operations table (place_fake.h): where blocks land and what each
 * grant reports, retention and release, reuse and zeroing, fork. The mmap
 * family and a randomized run against the per-page model are in
 * test_place_vm.c. */
#include <sys/wait.h>

#include "base/reentry.h"

#include "place_fake.h"

/* A malloc-family block of size bytes, patterned and modelled. */
static uintptr_t blk(size_t size, uint32_t id) {
  uintptr_t a = (uintptr_t)ts_place_malloc(size, 0, false);
  cr_assert(a != 0, "ts_place_malloc(%zu) failed", size);
  size_t len = ts_align_up(size, PAGE);
  cr_assert(!m_any_live(a, len), "block [+%#lx, +%zu) overlaps a live one", (unsigned long)(a - ts_place_lo), len);
  m_set(a, len, id, K_MALLOC, RW);
  fill(a, len, id);
  return a;
}

static void blk_free(uintptr_t a, size_t len) {
  m_kill(a, len);
  ts_place_free((void *)a);
}

static size_t retained(void) {
  ts_place_usage_t u;
  ts_place_usage(&u);
  return u.retained;
}

/* Every grant lands where its size class says, back to back, and is
 * reported to the huge-page and tier policies with its exact range. */
Test(place, placement, .init = place_setup) {
  static const size_t mids[] = {100000, 65536, 300 * 1024 + 1, 3 * MIB / 2, 2 * MIB + PAGE, 3 * MIB};
  static const size_t pmds[] = {2 * MIB, 4 * MIB, 6 * MIB};
  uintptr_t mid_end = 0, pmd_end = 0;
  size_t bytes = 0, blocks = 0;
  for (size_t k = 0; k < 9; k++) {
    bool big = k % 3 == 1; /* the classes interleaved: neither disturbs the other */
    size_t size = big ? pmds[k / 3] : mids[k - (k + 2) / 3], len = ts_align_up(size, PAGE);
    size_t mark = fk.n;
    uintptr_t a = blk(size, (uint32_t)k + 1);
    if (k == 0) mid_end = ts_place_lo, pmd_end = pmd_base();
    if (big) {
      cr_assert(a == pmd_end && a % PMD == 0, "%zu MiB at +%#lx, pmd region next at +%#lx", size / MIB,
                (unsigned long)(a - ts_place_lo), (unsigned long)(pmd_end - ts_place_lo));
      pmd_end += len;
    } else {
      cr_assert(a == mid_end, "%zu bytes at +%#lx, not packed after +%#lx", size, (unsigned long)(a - ts_place_lo),
                (unsigned long)(mid_end - ts_place_lo));
      mid_end += len;
    }
    cr_assert(ev_once(EV_GRANTED, mark, a, len) && ev_once(EV_TIER_GRANTED, mark, a, len),
              "grant of %zu at +%#lx not reported exactly once", size, (unsigned long)(a - ts_place_lo));
    cr_assert(ev_covers(EV_MAPPED, 0, a, len) && ev_covers(EV_TIER_MAPPED, 0, a, len), "block never mapped afresh");
    cr_assert_eq(ev_count(EV_SPARSE, mark), 0, "uninitialised memory reported sparse");
    cr_assert_eq(ts_place_usable((void *)a), len);
    bytes += len, blocks++;
  }
  cr_assert(mid_end <= pmd_base(), "the mid region ran into the pmd region");
  cr_assert(fk.count[EV_WINDOW] == 1 && fk.ev[0].kind == EV_WINDOW && fk.ev[0].a == ts_place_lo &&
            fk.ev[0].len == WINDOW && ts_place_span == WINDOW, "thp_window not told the 1 GiB window");
  cr_assert_eq(bad_pat(ts_place_lo, mid_end - ts_place_lo), 0, "a mid block was overwritten by a neighbour");
  cr_assert_eq(bad_pat(pmd_base(), pmd_end - pmd_base()), 0, "a pmd block was overwritten by a neighbour");
  ts_place_usage_t u;
  ts_place_usage(&u);
  cr_assert(u.malloc_bytes == bytes && u.malloc_blocks == blocks && u.region_live == bytes);

  /* placed mmaps follow the same classes, after the blocks */
  size_t mark = fk.n;
  uintptr_t mm = (uintptr_t)ts_place_mmap(192 << 10, RW, ANON), pm = (uintptr_t)ts_place_mmap(4 * MIB, RW, ANON);
  cr_assert(mm == mid_end && pm == pmd_end && pm % PMD == 0, "mmaps at +%#lx, +%#lx", (unsigned long)(mm - ts_place_lo),
            (unsigned long)(pm - ts_place_lo));
  cr_assert(ev_count(EV_GRANTED, mark) == 2 && ev_covers(EV_GRANTED, mark, mm, 192 << 10) &&
            ev_covers(EV_GRANTED, mark, pm, 4 * MIB) && ev_count(EV_TIER_GRANTED, mark) == 2);
  mid_end += 192 << 10;

  /* an alignment asked for is honoured in the mid region */
  uintptr_t al = (uintptr_t)ts_place_malloc(100000, 64 << 10, false);
  cr_assert(al % (64 << 10) == 0 && al >= mid_end && al < pmd_base());

  /* zeroed memory from thp_sparse_min up is sparse while it lives */
  mark = fk.n;
  uintptr_t sp = (uintptr_t)ts_place_malloc(5 * MIB, 0, true);
  cr_assert(ev_once(EV_SPARSE, mark, sp, 5 * MIB), "5 MiB calloc not reported sparse");
  mark = fk.n;
  ts_place_free((void *)sp);
  cr_assert(ev_once(EV_UNSPARSE, mark, sp, 5 * MIB), "sparse block freed without thp_unsparse");

  /* past the first 32 MiB commit: the region is mapped further, and told */
  mark = fk.n;
  uintptr_t huge = (uintptr_t)ts_place_malloc(40 * MIB + PAGE, 0, false);
  cr_assert(huge != 0 && ev_count(EV_MAPPED, mark) > 0 && ev_covers(EV_MAPPED, 0, huge, 40 * MIB + PAGE) &&
            ev_covers(EV_TIER_MAPPED, 0, huge, 40 * MIB + PAGE), "a 40 MiB block beyond the commit");
  cr_assert_eq(bad_prot(huge, 40 * MIB + PAGE, RW), 0, "block not mapped read-write");

  /* the collapse thread may rebuild an ordinary block, never a populated one */
  cr_assert(fk.collapsible != NULL && fk.collapsible(pm));
  uintptr_t pop = (uintptr_t)ts_place_mmap(2 * MIB, RW, ANON | MAP_POPULATE);
  cr_assert(pop % PMD == 0 && !fk.collapsible(pop), "a MAP_POPULATE block is collapsible");
}

/* realloc: in place when the neighbour is free (growing, shrinking), else
 * moved with its contents; the grown part is a grant like any other. */
Test(place, realloc, .init = place_setup) {
  uintptr_t a = blk(256 << 10, 1);
  size_t mark = fk.n;
  cr_assert_eq((uintptr_t)ts_place_realloc((void *)a, 512 << 10), a, "grow at the top did not stay in place");
  m_set(a, 512 << 10, 1, K_MALLOC, RW);
  cr_assert_eq(bad_pat(a, 256 << 10), 0);
  cr_assert(ev_once(EV_GRANTED, mark, a + (256 << 10), 256 << 10), "grown part not reported to thp_granted");
  fill(a + (256 << 10), 256 << 10, 1);
  cr_assert_eq(ts_place_usable((void *)a), 512 << 10);

  cr_assert_eq((uintptr_t)ts_place_realloc((void *)a, 128 << 10), a);
  m_kill(a + (128 << 10), 384 << 10);
  cr_assert_eq(ts_place_usable((void *)a), 128 << 10);
  uintptr_t b = blk(128 << 10, 2);
  cr_assert_eq(b, a + (128 << 10), "the tail a shrink gave back was not reused");

  mark = fk.n;
  uintptr_t c = (uintptr_t)ts_place_realloc((void *)a, 1 * MIB); /* b is in the way */
  cr_assert(c != 0 && c != a);
  cr_assert_eq(bad_moved(c, a, 128 << 10), 0, "contents lost in the move");
  m_kill(a, 128 << 10);
  m_set(c, 1 * MIB, 3, K_MALLOC, RW);
  cr_assert(ev_once(EV_GRANTED, mark, c, 1 * MIB) && ev_once(EV_TIER_GRANTED, mark, c, 1 * MIB));
  cr_assert_eq(ts_place_usable((void *)a), 0, "the old block still answers");
  cr_assert_eq(bad_pat(b, 128 << 10), 0, "the neighbour was disturbed");
  ts_place_usage_t u;
  ts_place_usage(&u);
  cr_assert(u.malloc_blocks == 2 && u.malloc_bytes == (128 << 10) + 1 * MIB);
}

/* Frees up to retain_max stay mapped with their data; past it the fake is
 * asked to release whole 2 MiB blocks of freed memory, down to half the
 * limit, and that memory reads as zero when it is handed out again. */
Test(place, retention, .init = place_setup) {
  fk.retain_max = 16 * MIB;
  uintptr_t b[12];
  for (uint32_t i = 0; i < 12; i++) b[i] = blk(2 * MIB, i + 1);
  size_t mark = fk.n;
  static const int order[] = {0, 2, 4, 6, 8, 10, 1, 3};
  for (size_t k = 0; k < 8; k++) {
    blk_free(b[order[k]], 2 * MIB);
    cr_assert_eq(retained(), (k + 1) * 2 * MIB);
  }
  cr_assert_eq(ev_count(EV_RELEASE, mark), 0, "released at or under retain_max");
  cr_assert_eq(bad_pat(b[0], 24 * MIB), 0, "retained memory lost its data");
  cr_assert_eq(bad_prot(b[0], 24 * MIB, RW), 0, "retained memory not read-write");

  blk_free(b[5], 2 * MIB); /* 18 MiB */
  size_t rel = 0, n = 0;
  for (size_t i = mark; i < fk.n; i++) {
    const ev_t *e = &fk.ev[i];
    if (e->kind != EV_RELEASE) continue;
    cr_assert(e->a % PMD == 0 && e->len % PMD == 0, "partial 2 MiB block released");
    cr_assert(ev_covers(EV_RELEASED, mark, e->a, e->len), "release not reported to thp_released");
    rel += e->len, n++;
  }
  cr_assert(n > 0, "18 MiB retained with retain_max 16 MiB and nothing released");
  cr_assert_eq(fk.bad_release, 0, "%s", fk.bad_what);
  cr_assert_eq(rel, fk.released);
  cr_assert(rel >= 10 * MIB && retained() == 18 * MIB - rel, "released %zu, retained %zu", rel, retained());
  for (size_t i = 0; i < 12; i++) {
    bool gone = ev_covers(EV_RELEASE, mark, b[i], 2 * MIB);
    if (gone) cr_assert_eq(nonzero(b[i], 2 * MIB), 0, "block %zu released but not zero", i);
    else cr_assert_eq(bad_pat(b[i], 2 * MIB), 0, "block %zu not released, yet changed", i);
  }
  cr_assert_eq(bad_prot(b[0], 24 * MIB, RW), 0, "released memory must stay mapped");

  bool found = false;
  for (uint32_t k = 0; k < 12 && !found; k++) {
    uintptr_t a = (uintptr_t)ts_place_malloc(2 * MIB, 0, false);
    cr_assert(a != 0 && !m_any_live(a, 2 * MIB));
    m_set(a, 2 * MIB, 100 + k, K_MALLOC, RW);
    if (ev_covers(EV_RELEASE, mark, a, 2 * MIB)) {
      found = true;
      cr_assert_eq(nonzero(a, 2 * MIB), 0, "released memory handed out with data");
    }
  }
  cr_assert(found, "released memory never handed out again");
  cr_assert_eq(fk.bad_release, 0, "%s", fk.bad_what);
}

/* A freed mid range holding whole 2 MiB blocks: only those are released
 * (the edges share blocks with neighbours), unless retention is past twice
 * the limit: then the edges go too. */
static void release_mid(size_t retain_max, bool edges_go) {
  fk.retain_max = retain_max;
  uintptr_t a = blk(1 * MIB, 1), x = blk(5 * MIB + PAGE, 2), c = blk(1 * MIB, 3);
  size_t len = 5 * MIB + PAGE, mark = fk.n;
  cr_assert_eq(x, a + 1 * MIB);
  blk_free(x, len);
  uintptr_t lo = ts_align_up(x, PMD), hi = (x + len) & ~(PMD - 1);
  if (edges_go) lo = x, hi = x + len;
  cr_assert(ev_once(EV_RELEASE, mark, lo, hi - lo), "release of [+%#lx, +%#lx) expected",
            (unsigned long)(lo - ts_place_lo), (unsigned long)(hi - ts_place_lo));
  cr_assert_eq(fk.bad_release, 0, "%s", fk.bad_what);
  cr_assert_eq(nonzero(lo, hi - lo), 0, "released part not zero");
  cr_assert_eq(bad_pat(x, lo - x), 0, "retained head changed");
  cr_assert_eq(bad_pat(hi, x + len - hi), 0, "retained tail changed");
  cr_assert_eq(retained(), len - (hi - lo));
  cr_assert(bad_pat(a, 1 * MIB) == 0 && bad_pat(c, 1 * MIB) == 0, "a neighbour lost data");
}

Test(place, release_whole_blocks, .init = place_setup) { release_mid(4 * MIB, false); }
Test(place, release_edges_past_hard_limit, .init = place_setup) { release_mid(512 << 10, true); }

/* A freed range is the next one of its size; calloc and placed mmaps get
 * zero there whatever the previous owner left. */
Test(place, reuse_zeroes, .init = place_setup) {
  const size_t len = 300 << 10;
  uintptr_t a = blk(len, 1);
  blk(len, 2); /* a fence: a is not at the top */
  blk_free(a, len);
  cr_assert_eq((uintptr_t)ts_place_malloc(len, 0, false), a, "freed range not reused");
  fill(a, len, 3);
  ts_place_free((void *)a);
  cr_assert_eq((uintptr_t)ts_place_malloc(len - 100, 0, true), a);
  cr_assert_eq(nonzero(a, len), 0, "calloc over a retained block not zeroed");
  fill(a, len, 4);
  ts_place_free((void *)a);
  cr_assert_eq((uintptr_t)ts_place_mmap(len, RW, ANON), a);
  cr_assert_eq(nonzero(a, len), 0, "placed mmap over a retained block not zeroed");
  fill(a, len, 5);
  cr_assert_eq(ts_place_munmap((void *)a, len), 0);
  cr_assert_eq((uintptr_t)ts_place_malloc(len, 0, true), a, "an unmapped range not reused");
  cr_assert_eq(nonzero(a, len), 0, "calloc over an unmapped mmap not zeroed");

  /* pmd: an unmapped mmap's whole blocks are released; a stray write
   * through a stale pointer lands there and must not show through */
  uintptr_t p = blk(4 * MIB, 6);
  blk_free(p, 4 * MIB);
  cr_assert_eq((uintptr_t)ts_place_mmap(4 * MIB, RW, ANON), p);
  cr_assert_eq(nonzero(p, 4 * MIB), 0, "placed mmap over a retained 4 MiB block not zeroed");
  m_set(p, 4 * MIB, 7, K_MMAP, RW);
  fill(p, 4 * MIB, 7);
  size_t mark = fk.n;
  m_kill(p, 4 * MIB);
  cr_assert_eq(ts_place_munmap((void *)p, 4 * MIB), 0);
  cr_assert(ev_once(EV_RELEASE, mark, p, 4 * MIB), "munmap of a whole 4 MiB mmap did not release it");
  cr_assert_eq(fk.bad_release, 0, "%s", fk.bad_what);
  cr_assert(is_hole(p, 4 * MIB));
  page_write(p + 3 * MIB + 5 * PAGE, 0xdead);
  ts_place_stats_t st0, st1;
  ts_place_stats(&st0);
  cr_assert_eq((uintptr_t)ts_place_malloc(4 * MIB, 0, true), p);
  ts_place_stats(&st1);
  cr_assert_eq(nonzero(p, 4 * MIB), 0, "a stale write shows through calloc");
  cr_assert_eq(st1.zero_checks, st0.zero_checks + 1, "released memory handed out unchecked");
}

/* retain_max 0: every free is released at once, the edges included; a
 * stale write to a few pages, resident again, must be cleared on reuse. */
Test(place, zero_after_stale_write, .init = place_setup) {
  fk.retain_max = 0;
  const size_t len = 300 << 10;
  uintptr_t a = blk(len, 1);
  blk(len, 2);
  for (int round = 0; round < 2; round++) {
    size_t mark = fk.n;
    blk_free(a, len);
    cr_assert(ev_once(EV_RELEASE, mark, a, len), "free with retain_max 0 not released whole");
    cr_assert_eq(retained(), 0);
    page_write(a + 5 * PAGE, 0xbad);
    page_write(a + 40 * PAGE, 0xbad);
    uintptr_t b = round ? (uintptr_t)ts_place_mmap(len, RW, ANON) : (uintptr_t)ts_place_malloc(len, 0, true);
    cr_assert_eq(b, a);
    cr_assert_eq(nonzero(a, len), 0, "round %d: a stale write shows through", round);
    if (round) { /* the mmap back to a block for the next round */
      cr_assert_eq(ts_place_munmap((void *)a, len), 0);
      cr_assert_eq((uintptr_t)ts_place_malloc(len, 0, false), a);
    }
    m_set(a, len, 1, K_MALLOC, RW);
    fill(a, len, 1);
  }
  cr_assert_eq(fk.bad_release, 0, "%s", fk.bad_what);
}

/* ---- fork ------------------------------------------------------------------- */

static int child_step;
#define CK(c)                      \
  do {                             \
    child_step++;                  \
    if (!(c)) _exit(child_step);   \
  } while (0)

/* In the child: the records still serve; the MADV_DONTFORK range, which
 * the child does not have, is a PROT_NONE hole the records forgot. */
static void child(uintptr_t a, size_t alen, uintptr_t p, uintptr_t d, uintptr_t f, size_t mlen) {
  ts_place_fork_child();
  CK(fk.count[EV_FORK] == 1);
  CK(bad_pat(a, alen) == 0 && bad_pat(p, 4 * MIB) == 0 && bad_pat(f, mlen) == 0);
  CK(ts_place_usable((void *)a) == alen);
  CK(bad_prot(d, mlen, PROT_NONE) == 0);
  CK(is_hole(d, mlen));
  ts_place_free((void *)a);
  CK(ts_place_usable((void *)a) == 0);
  CK((uintptr_t)ts_place_malloc(alen, 0, true) == a);
  CK(nonzero(a, alen) == 0);
  uintptr_t n = (uintptr_t)ts_place_mmap(mlen, RW, ANON);
  CK(n != 0 && n != (uintptr_t)MAP_FAILED && ts_place_owns((void *)n));
  CK(nonzero(n, mlen) == 0 && can_write(n) && can_write(n + mlen - 1));
  CK(ts_place_munmap((void *)f, mlen) == 0);
  CK(is_hole(f, mlen));
  uintptr_t q = (uintptr_t)ts_place_realloc((void *)p, 8 * MIB);
  CK(q != 0 && bad_moved(q, p, 4 * MIB) == 0);
  CK(ts_place_usable((void *)q) == 8 * MIB);
  _exit(0);
}

Test(place, fork_child, .init = place_setup) {
  const size_t alen = 300 << 10, mlen = 64 << 10;
  uintptr_t a = blk(alen, 1), p = blk(4 * MIB, 2);
  uintptr_t d = (uintptr_t)ts_place_mmap(mlen, RW, ANON), f = (uintptr_t)ts_place_mmap(mlen, RW, ANON);
  cr_assert(d && f);
  m_set(d, mlen, 3, K_MMAP, RW);
  fill(d, mlen, 3);
  m_set(f, mlen, 4, K_MMAP, RW);
  fill(f, mlen, 4);
  blk_free(blk(200 << 10, 5), 200 << 10); /* something retained too */
  cr_assert_eq(ts_place_madvise((void *)d, mlen, MADV_DONTFORK), 0);
  unsigned busy = ts_busy;
  ts_place_lock(); /* as shim/fork.c's prepare: the child inherits it held */
  pid_t pid = fork();
  if (pid == 0) {
    ts_busy = busy;
    child(a, alen, p, d, f, mlen);
  }
  ts_place_unlock();
  cr_assert(pid > 0);
  int st;
  cr_assert_eq(waitpid(pid, &st, 0), pid);
  cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child failed check %d (status %#x)", WEXITSTATUS(st), st);
  /* the parent is untouched by what the child did */
  cr_assert(bad_pat(a, alen) == 0 && bad_pat(d, mlen) == 0 && bad_pat(f, mlen) == 0);
  cr_assert(ts_place_usable((void *)a) == alen && is_mapped(d, mlen) && is_mapped(f, mlen));
  cr_assert_eq(fk.count[EV_FORK], 0);
}

/* ---- engine bugs these tests found (each the smallest reproduction) ------- */

/* ts_place_realloc grows in place without telling tier_granted about the
 * grown part (thp_granted is told): under per-grant tier policies the tail
 * keeps whatever policy the range had before. */
Test(place, realloc_grow_tier_granted, .init = place_setup) {
  uintptr_t a = blk(256 << 10, 1);
  size_t mark = fk.n;
  cr_assert_eq((uintptr_t)ts_place_realloc((void *)a, 512 << 10), a);
  cr_assert(ev_covers(EV_TIER_GRANTED, mark, a + (256 << 10), 256 << 10), "grown part not reported to tier_granted");
}

/* A shrinking realloc frees its tail as retained without the retention
 * check that free and munmap run: retained stays past retain_max. */
Test(place, realloc_shrink_retention, .init = place_setup) {
  fk.retain_max = 4 * MIB;
  uintptr_t a = blk(16 * MIB, 1);
  cr_assert_eq((uintptr_t)ts_place_realloc((void *)a, 2 * MIB), a);
  cr_assert(retained() <= 4 * MIB, "retained %zu MiB after a realloc shrink, retain_max 4 MiB", retained() / MIB);
}

/* ts_place_malloc asks page alignment for 2 MiB multiples (ts_place_mmap
 * asks PMD): once the pmd region has a hole that is not 2 MiB-aligned (a
 * realloc shrink in place, a partial munmap), a 2 MiB block lands
 * misaligned there and straddles two huge pages. */
Test(place, pmd_malloc_aligned_after_realloc, .init = place_setup) {
  uintptr_t a = blk(4 * MIB, 1);
  cr_assert_eq((uintptr_t)ts_place_realloc((void *)a, 3 * MIB), a);
  uintptr_t b = (uintptr_t)ts_place_malloc(2 * MIB, 0, false);
  cr_assert(b % PMD == 0, "2 MiB block at +%#lx", (unsigned long)(b - ts_place_lo));
}

Test(place, pmd_malloc_aligned_after_munmap, .init = place_setup) {
  uintptr_t a = (uintptr_t)ts_place_mmap(4 * MIB, RW, ANON);
  cr_assert_eq(ts_place_munmap((void *)(a + 4 * MIB - PAGE), PAGE), 0);
  uintptr_t b = (uintptr_t)ts_place_malloc(2 * MIB, 0, false);
  cr_assert(b % PMD == 0, "2 MiB block at +%#lx", (unsigned long)(b - ts_place_lo));
}

/* A shrinking realloc of a block whose VMA the program changed (here its
 * tail made read-only) must not keep that tail for reuse: the next block
 * there would inherit the protection (free replaces such a block whole). */
Test(place, realloc_shrink_tainted_tail_is_replaced, .init = place_setup) {
  fk.retain_max = 64 * MIB;
  uintptr_t a = blk(16 * MIB, 1);
  cr_assert_eq(ts_place_mprotect((void *)(a + 8 * MIB), 8 * MIB, PROT_READ, -1), 0);
  cr_assert_eq((uintptr_t)ts_place_realloc((void *)a, 2 * MIB), a);
  m_kill(a + 2 * MIB, 14 * MIB);
  uintptr_t b = (uintptr_t)ts_place_malloc(14 * MIB, 0, false);
  cr_assert(b != 0);
  for (uintptr_t q = b; q < b + 14 * MIB; q += PAGE)
    cr_assert(can_write(q), "page +%#lx of a new block is not writable", (unsigned long)(q - b));
}

/* The program's plain mmap is a probe when the policy says so: placed
 * sparse, and measured (thp_mmap_observe) piece by piece as it is
 * unmapped; a mapping with other prot or flags never is. */
Test(place, mmap_probe_sparse_then_observed, .init = place_setup) {
  fk.mmap_probe = true;
  ts_config.thp_sparse_min = 0; /* no size rule: whatever is sparse is a probe */
  size_t mark = fk.n;
  uintptr_t p = (uintptr_t)ts_place_mmap(16 * MIB, RW, ANON);
  cr_assert(p != 0 && ev_once(EV_SPARSE, mark, p, 16 * MIB), "a probe mmap is not reported sparse");
  uintptr_t ro = (uintptr_t)ts_place_mmap(4 * MIB, PROT_READ, ANON);
  uintptr_t small = (uintptr_t)ts_place_mmap(1 * MIB, RW, ANON);
  cr_assert(ro != 0 && small != 0 && ev_count(EV_SPARSE, mark) == 1, "only the plain 2 MiB+ mmap is a probe");
  mark = fk.n;
  cr_assert_eq(ts_place_munmap((void *)(p + 16 * MIB - PAGE), PAGE), 0);
  cr_assert_eq(ts_place_munmap((void *)p, 16 * MIB - PAGE), 0);
  cr_assert(ev_count(EV_OBSERVE, mark) == 2 && ev_covers(EV_OBSERVE, mark, p, 16 * MIB),
            "the probe's pieces were not all measured on munmap (%zu calls)", ev_count(EV_OBSERVE, mark));
  cr_assert(ev_covers(EV_UNSPARSE, mark, p, 16 * MIB), "probe unmapped without thp_unsparse");
  mark = fk.n;
  cr_assert_eq(ts_place_munmap((void *)ro, 4 * MIB), 0);
  cr_assert_eq(ts_place_munmap((void *)small, 1 * MIB), 0);
  cr_assert_eq(ev_count(EV_OBSERVE, mark), 0, "a mapping that was no probe was measured");
}

/* A large uninitialised block is a probe when the policy says so: placed
 * sparse, offered to thp_block_observe (not the mmaps' learner) when freed,
 * its advice given back; a calloc'd block and a small one never are
 * probes, and a block moved by realloc is offered as it goes. */
Test(place, block_probe_sparse_then_observed, .init = place_setup) {
  fk.block_probe = true;
  ts_config.thp_sparse_min = 0; /* no calloc rule: whatever is sparse is a probe */
  size_t mark = fk.n;
  uintptr_t p = (uintptr_t)ts_place_malloc(12 * MIB, 0, false);
  cr_assert(p != 0 && ev_once(EV_SPARSE, mark, p, 12 * MIB), "a probe block is not reported sparse");
  uintptr_t z = (uintptr_t)ts_place_malloc(12 * MIB, 0, true);
  uintptr_t small = (uintptr_t)ts_place_malloc(4 * MIB, 0, false);
  cr_assert(z != 0 && small != 0 && ev_count(EV_SPARSE, mark) == 1, "only the uninitialised 8 MiB+ block is a probe");
  mark = fk.n;
  ts_place_free((void *)p);
  cr_assert(ev_once(EV_BLOCK_OBSERVE, mark, p, 12 * MIB), "the probe was not measured when freed");
  cr_assert(ev_covers(EV_UNSPARSE, mark, p, 12 * MIB), "probe freed without thp_unsparse");
  cr_assert_eq(ev_count(EV_OBSERVE, mark), 0, "a block taught the mmaps' learner");
  mark = fk.n;
  ts_place_free((void *)z);
  ts_place_free((void *)small);
  cr_assert(ev_count(EV_BLOCK_OBSERVE, mark) == 2 && ev_covers(EV_BLOCK_OBSERVE, mark, small, 4 * MIB) &&
                ev_covers(EV_BLOCK_OBSERVE, mark, z, 12 * MIB),
            "every freed block is offered to the policy (it measures the newest large one)");
  cr_assert(ev_count(EV_SPARSE, mark) == 0 && ev_count(EV_UNSPARSE, mark) == 0, "a block that was no probe was unsparsed");
  uintptr_t q = (uintptr_t)ts_place_malloc(10 * MIB, 0, false);
  uintptr_t wall = (uintptr_t)ts_place_malloc(4 * MIB, 0, false); /* so that growing q moves it */
  cr_assert(q != 0 && wall != 0);
  mark = fk.n;
  uintptr_t q2 = (uintptr_t)ts_place_realloc((void *)q, 200 * MIB);
  cr_assert(q2 != 0);
  if (q2 != q) cr_assert(ev_once(EV_BLOCK_OBSERVE, mark, q, 10 * MIB), "a moved probe was not measured");
  ts_place_free((void *)q2);
  ts_place_free((void *)wall);
}
