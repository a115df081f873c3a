/* The placement engine's tests (test_place.c, test_place_vm.c): a fake of
 * its operations table (alloc/place_ops.h) that records every call, and a
 * per-page model of the window that the tests keep and check memory, the
 * engine's records and the fake's calls against.
 *
 * The engine runs inside the test process (ts_unit is not preloaded) with
 * real system calls on its own window; criterion forks each Test, so its
 * global state is fresh in each. Static functions: each test file has its
 * own copy of the fake and the model. */
#ifndef TS_TEST_PLACE_FAKE_H
#define TS_TEST_PLACE_FAKE_H

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <unistd.h>

#include "alloc/place.h"
#include "alloc/place_ops.h"
#include "base/options.h"
#include "base/range.h"

#define MIB ((size_t)1 << 20)
#define WINDOW ((size_t)1 << 30) /* VA_MIN of alloc/window.c: the smallest window it reserves */
#define RW (PROT_READ | PROT_WRITE)
#define ANON (MAP_PRIVATE | MAP_ANONYMOUS)

/* ---- the fake operations table ----------------------------------------- */

enum { EV_WINDOW, EV_MAPPED, EV_UNMAPPED, EV_GRANTED, EV_RELEASED, EV_SPARSE, EV_UNSPARSE, EV_FORK,
       EV_TIER_MAPPED, EV_TIER_GRANTED, EV_RELEASE, EV_DECAYED, EV_OBSERVE, EV_BLOCK_OBSERVE, EV_KINDS };

typedef struct { int kind; uintptr_t a; size_t len; } ev_t;
#define EV_MAX 32768

static struct {
  ev_t ev[EV_MAX];
  size_t n, lost;         /* events kept; events past EV_MAX (a test that reads them must see 0) */
  size_t count[EV_KINDS];
  size_t retain_max;      /* what retain_max() answers */
  size_t released;        /* bytes release() returned, all calls */
  size_t bad_release;     /* released ranges that held a live page of the model */
  char bad_what[160];
  bool (*collapsible)(uintptr_t);
  bool mmap_probe;        /* what thp_mmap_probe() answers for 2 MiB and up */
  bool block_probe;       /* what thp_block_probe() answers for 8 MiB and up */
} fk;

/* ---- the model: one entry per page of the window ------------------------ */

enum { K_MALLOC = 1, K_MMAP = 2 };

static struct {
  uint32_t *id;  /* owner; 0: not the program's (free in the engine, or unmapped by the program) */
  uint8_t *kind, *prot;
  uint64_t *pat; /* the first and last word of the page; 0: reads as zero */
} m;

static size_t pg(uintptr_t a) { return (a - ts_place_lo) / PAGE; }
static uintptr_t pg_addr(size_t i) { return ts_place_lo + i * PAGE; }
static uintptr_t pmd_base(void) { return ts_place_lo + WINDOW / 2; } /* the pmd region: the window's upper half */

static bool m_any_live(uintptr_t a, size_t len) {
  for (size_t i = pg(a); i < pg(a + len); i++)
    if (m.id[i]) return true;
  return false;
}

static void m_set(uintptr_t a, size_t len, uint32_t id, int kind, int prot) {
  for (size_t i = pg(a); i < pg(a + len); i++) m.id[i] = id, m.kind[i] = (uint8_t)kind, m.prot[i] = (uint8_t)prot;
}

static void m_kill(uintptr_t a, size_t len) {
  for (size_t i = pg(a); i < pg(a + len); i++) m.id[i] = 0;
}

/* The fake checks every release against the model: the engine must only
 * give back memory the program gave up. */
static void ev_add(int k, uintptr_t a, size_t len) {
  fk.count[k]++;
  if (fk.n < EV_MAX) fk.ev[fk.n++] = (ev_t){k, a, len};
  else fk.lost++;
}

static void f_window(uintptr_t b, size_t l, bool (*c)(uintptr_t)) { fk.collapsible = c; ev_add(EV_WINDOW, b, l); }
static void f_mapped(uintptr_t a, size_t l) { ev_add(EV_MAPPED, a, l); }
static void f_unmapped(uintptr_t a, size_t l) { ev_add(EV_UNMAPPED, a, l); }
static void f_granted(uintptr_t a, size_t l) { ev_add(EV_GRANTED, a, l); }
static void f_released(uintptr_t a, size_t l) { ev_add(EV_RELEASED, a, l); }
static void f_sparse(uintptr_t a, size_t l) { ev_add(EV_SPARSE, a, l); }
static void f_unsparse(uintptr_t a, size_t l) { ev_add(EV_UNSPARSE, a, l); }
static void f_fork(void) { ev_add(EV_FORK, 0, 0); }
static bool f_mmap_probe(size_t l) { return fk.mmap_probe && l >= 2 * MIB; }
static void f_mmap_observe(uintptr_t a, size_t l) { ev_add(EV_OBSERVE, a, l); }
static bool f_block_probe(size_t l) { return fk.block_probe && l >= 8 * MIB; }
static void f_block_placed(uintptr_t a, size_t l, bool probe) { (void)a, (void)l, (void)probe; }
static void f_block_observe(uintptr_t a, size_t l) { ev_add(EV_BLOCK_OBSERVE, a, l); }
static bool f_fill_small(size_t l) { (void)l; return false; }
static void f_tier_mapped(uintptr_t a, size_t l) { ev_add(EV_TIER_MAPPED, a, l); }
static void f_tier_granted(uintptr_t a, size_t l) { ev_add(EV_TIER_GRANTED, a, l); }
static size_t f_retain_max(void) { return fk.retain_max; }
static uint64_t f_decay_ns(void) { return 0; }
static unsigned f_scale(void) { return 1; }
static void f_decayed(size_t b) { ev_add(EV_DECAYED, 0, b); }

/* As the real one (policy/unmap): each range dropped, the bytes returned. */
static size_t f_release(ts_range_t *r, size_t n) {
  size_t done = 0;
  for (size_t i = 0; i < n; i++) {
    ev_add(EV_RELEASE, r[i].addr, r[i].len);
    if (m_any_live(r[i].addr, r[i].len) && fk.bad_release++ == 0)
      snprintf(fk.bad_what, sizeof fk.bad_what, "released [+%#lx, +%#lx) holds a live page",
               (unsigned long)(r[i].addr - ts_place_lo), (unsigned long)(r[i].addr + r[i].len - ts_place_lo));
    if (madvise((void *)r[i].addr, r[i].len, MADV_DONTNEED) == 0) done += r[i].len;
  }
  fk.released += done;
  return done;
}

static const ts_place_ops_t fake_ops = {
    .thp_window = f_window, .thp_mapped = f_mapped, .thp_unmapped = f_unmapped, .thp_granted = f_granted,
    .thp_released = f_released, .thp_sparse = f_sparse, .thp_unsparse = f_unsparse, .thp_fork_child = f_fork,
    .thp_mmap_probe = f_mmap_probe, .thp_mmap_observe = f_mmap_observe, .thp_fill_small = f_fill_small,
    .thp_block_probe = f_block_probe, .thp_block_placed = f_block_placed, .thp_block_observe = f_block_observe,
    .tier_window_mapped = f_tier_mapped, .tier_granted = f_tier_granted, .release = f_release,
    .retain_max = f_retain_max, .decay_ns = f_decay_ns, .scale = f_scale, .decayed = f_decayed,
};

/* Each Test's .init: a 1 GiB window, the fake, an empty model. */
static void place_setup(void) {
  memset(&fk, 0, sizeof fk);
  fk.retain_max = 64 * MIB;
  ts_config.enable = true;
  ts_config.va = WINDOW;
  ts_config.thp_sparse_min = 4 * MIB;
  ts_config.munmap_strict = false;
  ts_place_set_ops(&fake_ops);
  size_t n = WINDOW / PAGE;
  m.id = calloc(n, sizeof *m.id);
  m.kind = calloc(n, 1);
  m.prot = calloc(n, 1);
  m.pat = calloc(n, sizeof *m.pat);
  cr_assert(m.id && m.kind && m.prot && m.pat);
}

/* ---- recorded calls -------------------------------------------------------- */

static size_t ev_count(int k, size_t from) {
  size_t c = 0;
  for (size_t i = from; i < fk.n; i++) c += fk.ev[i].kind == k;
  return c;
}

/* Since `from`, kind k was called exactly once, on [a, a+len). */
static bool ev_once(int k, size_t from, uintptr_t a, size_t len) {
  size_t c = 0;
  bool hit = false;
  for (size_t i = from; i < fk.n; i++)
    if (fk.ev[i].kind == k) c++, hit |= fk.ev[i].a == a && fk.ev[i].len == len;
  return c == 1 && hit;
}

/* Does the union of kind k's ranges since `from` cover [a, a+len)? */
static bool ev_covers(int k, size_t from, uintptr_t a, size_t len) {
  for (uintptr_t p = a; p < a + len;) {
    uintptr_t next = p;
    for (size_t i = from; i < fk.n; i++)
      if (fk.ev[i].kind == k && fk.ev[i].a <= p && fk.ev[i].a + fk.ev[i].len > next) next = fk.ev[i].a + fk.ev[i].len;
    if (next == p) return false;
    p = next;
  }
  return true;
}

/* ---- memory ---------------------------------------------------------------- */

static uint64_t pat_of(uint32_t id, size_t i) { return ((uint64_t)id << 32 | (uint32_t)i) * 0x9e3779b97f4a7c15ull | 1; }

static void page_write(uintptr_t p, uint64_t v) {
  ((volatile uint64_t *)p)[0] = v;
  ((volatile uint64_t *)(p + PAGE))[-1] = v;
}

/* Writes a pattern (first and last word of each page) and models it. */
static void fill(uintptr_t a, size_t len, uint32_t id) {
  for (size_t i = pg(a); i < pg(a + len); i++) {
    m.pat[i] = pat_of(id, i);
    page_write(pg_addr(i), m.pat[i]);
  }
}

/* The first page of [a, a+len) that does not hold its modelled words, or 0. */
static uintptr_t bad_pat(uintptr_t a, size_t len) {
  for (size_t i = pg(a); i < pg(a + len); i++) {
    const volatile uint64_t *w = (const uint64_t *)pg_addr(i);
    if (w[0] != m.pat[i] || w[PAGE / 8 - 1] != m.pat[i]) return pg_addr(i);
  }
  return 0;
}

/* The first page of [to, to+len) that does not hold what the model has for
 * the same page of [from, from+len) (moved contents), or 0. */
static uintptr_t bad_moved(uintptr_t to, uintptr_t from, size_t len) {
  for (size_t i = 0; i < len / PAGE; i++) {
    const volatile uint64_t *w = (const uint64_t *)(to + i * PAGE);
    uint64_t want = m.pat[pg(from) + i];
    if (w[0] != want || w[PAGE / 8 - 1] != want) return to + i * PAGE;
  }
  return 0;
}

/* The first page of [a, a+len) with a nonzero byte, or 0. */
static uintptr_t nonzero(uintptr_t a, size_t len) {
  for (uintptr_t p = a; p < a + len; p += PAGE) {
    const uint64_t *w = (const uint64_t *)p;
    for (size_t k = 0; k < PAGE / 8; k++)
      if (w[k]) return p;
  }
  return 0;
}

/* Access without faulting: the kernel checks the VMA's protection. */
static bool can_read(uintptr_t p) {
  char c;
  struct iovec l = {&c, 1}, r = {(void *)p, 1};
  return process_vm_readv(getpid(), &l, 1, &r, 1, 0) == 1;
}

static bool can_write(uintptr_t p) {
  char c;
  struct iovec l = {&c, 1}, r = {(void *)p, 1};
  return process_vm_readv(getpid(), &l, 1, &r, 1, 0) == 1 && process_vm_writev(getpid(), &l, 1, &r, 1, 0) == 1;
}

/* ---- /proc/self/maps: the window's VMAs -------------------------------------- */

typedef struct { uintptr_t lo, hi; int prot; } vma_t;
static vma_t vmas[1024];
static size_t nvma;
static char maps_buf[256 << 10];

static void maps_read(void) {
  int fd = open("/proc/self/maps", O_RDONLY);
  cr_assert(fd >= 0);
  size_t n = 0;
  for (ssize_t r; n < sizeof maps_buf - 1 && (r = read(fd, maps_buf + n, sizeof maps_buf - 1 - n)) > 0;) n += (size_t)r;
  close(fd);
  maps_buf[n] = 0;
  nvma = 0;
  for (char *l = maps_buf; *l && nvma < sizeof vmas / sizeof vmas[0];) {
    char *end;
    uintptr_t lo = strtoul(l, &end, 16), hi = strtoul(end + 1, &end, 16);
    int prot = (end[1] == 'r' ? PROT_READ : 0) | (end[2] == 'w' ? PROT_WRITE : 0) | (end[3] == 'x' ? PROT_EXEC : 0);
    if (hi > ts_place_lo && lo < ts_place_lo + WINDOW) vmas[nvma++] = (vma_t){lo, hi, prot};
    char *nl = strchr(l, '\n');
    if (!nl) break;
    l = nl + 1;
  }
}

/* The protection of the page at p in the last maps_read, -1 if unmapped. */
static int maps_prot(uintptr_t p) {
  size_t lo = 0, hi = nvma;
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    if (vmas[mid].hi <= p) lo = mid + 1;
    else hi = mid;
  }
  return lo < nvma && vmas[lo].lo <= p ? vmas[lo].prot : -1;
}

/* The first page of [a, a+len) whose VMA does not have protection prot (now), or 0. */
static uintptr_t bad_prot(uintptr_t a, size_t len, int prot) {
  maps_read();
  for (uintptr_t p = a; p < a + len; p += PAGE)
    if (maps_prot(p) != prot) return p;
  return 0;
}

/* Is [a, a+len) a hole in the program's view? The engine answers for the
 * window as the kernel would: ENOMEM for advice over unmapped memory. */
static bool is_hole(uintptr_t a, size_t len) {
  for (uintptr_t p = a; p < a + len; p += PAGE)
    if (ts_place_madvise((void *)p, PAGE, MADV_WILLNEED) != -ENOMEM) return false;
  return true;
}

/* Is all of [a, a+len) mapped for the program? */
static bool is_mapped(uintptr_t a, size_t len) { return ts_place_madvise((void *)a, len, MADV_WILLNEED) == 0; }

#endif
