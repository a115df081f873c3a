/* mmap_ops: a differential fuzz driver for the interposed mmap family.
 *
 *   mmap_ops --gen SEED [--ops N] [--mlock]     print a random op program
 *   mmap_ops --gen sweepN [--mlock]             chunk N of the systematic sweep
 *   mmap_ops --bytes FILE [--ops N] [--mlock]   the same, drawing FILE's bytes
 *   mmap_ops --run FILE [--shim] [--release] [--op-timeout S]
 *                                               execute an op program
 *
 * An op program is text, one operation a line (tests/fuzz/mmap_fuzz.md has
 * the grammar). Operands are expressions over "areas" (the mappings the
 * program made: A<k> is area k's start, E<k> its end, k taken modulo the
 * live areas) or hostile constants (0, 1, max, half, ts = TASK_SIZE, ...),
 * so a program means the same thing wherever the mappings land.
 *
 * --run prints one line per op ("#i <op> = <result>") and, after every op
 * it executes, the state of the areas the op named: one token per page
 * (run-length coded) from a probe (read, then write back what was read,
 * under a SIGSEGV/SIGBUS handler) compared with what the driver expects,
 * and the area's /proc/self/maps permissions relative to its start. Nothing
 * printed depends on addresses, so the output without the shim is the
 * kernel's answer and the output under LD_PRELOAD must be identical
 * (mmap_fuzz.sh compares them).
 *
 * The driver keeps a model of every area, page by page (hole, mapped with
 * prot/flags/content, or unknown), updated from what each call returned
 * under the kernel's rules. Before a call, the model decides whether the
 * kernel could touch anything outside the areas; such a call is skipped
 * ("= skip <why>"), so that the run without the shim is never destroyed
 * and always deterministic:
 *  - a call the kernel rejects on its arguments alone (alignment, overflow
 *    after rounding, len > TASK_SIZE - addr) is always made. Whether it is
 *    rejected is decided for the real address and for an area at 4 GiB and
 *    one just below TASK_SIZE: if they disagree the call is ambiguous
 *    (depends on where the area landed) and skipped;
 *  - munmap, MAP_FIXED, destructive madvise, mremap's sources and targets
 *    must lie inside one area (a slot's guards included, never its fences),
 *    or inside [0, 16 MiB), which holds nothing;
 *  - mprotect, mlock and munlock stop at the first hole: they must reach a
 *    hole the model knows before they leave the area;
 *  - MADV_NORMAL, MADV_WILLNEED and invalid advice change nothing anywhere
 *    and may span anything, as long as the answer (0 or ENOMEM) is certain.
 *
 * A "slot" is one mmap of FENCE + GUARD + N + GUARD + FENCE pages whose
 * guards are then unmapped: the handle (A<k>) has holes on either side that
 * no mapping can take (every placement the program makes is larger), so a
 * call that runs past its end meets a hole, as the kernel needs, whatever
 * lies beyond. Mappings made by "map", moved by mremap, or placed by the
 * kernel elsewhere are "floating" areas: nothing is known around them.
 * Any placement the program cannot pin down may land in a hole of the
 * model as large as itself: those holes become unknown ('?').
 *
 * Without the shim, --run checks the model against every probe and against
 * /proc/self/maps and exits 3 on a contradiction (a bug of the driver or a
 * kernel surprise, never a finding). Under the shim (--shim: tiershim must
 * be active) contradictions are printed and compared instead.
 *
 *   --release  TIERSHIM_MUNMAP=release: unmapped placed memory stays
 *              readable by design, so pages the model holds unmapped are
 *              not probed ("..") and the /proc/self/maps lines start with
 *              "~ " (left out of the comparison). Use it for both runs.
 *   --mlock    the generator emits mlock/munlock too.
 *   --op-timeout S  under --shim, an op still running after S seconds
 *              (default 2) prints "= HANG" and the driver exits 124.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include "it_common.h"

#define PG 4096UL
#define GUARD 4UL   /* pages of hole either side of a slot's handle */
#define FENCE 4UL   /* pages of mapping outside the guards, never touched */
#define MAXAREA 48
#define MAXPAGES 8192UL           /* largest area the model holds (32 MiB) */
#define LOW_EMPTY (16UL << 20)    /* [0, 16 MiB): nothing is ever mapped there */
#define GIB (1UL << 30)
#define PA(x) (((x) + PG - 1) & ~(PG - 1)) /* PAGE_ALIGN, wrapping as the kernel's */

static uint64_t TS;      /* TASK_SIZE */
static bool la57;        /* 5-level paging: TASK_SIZE is 2^56 - PAGE */
static bool can_lock;    /* CAP_IPC_LOCK: no RLIMIT_MEMLOCK */
static uint64_t memlock_pages;
static bool shim_mode, release_mode;
static uint64_t mmap_min = PG; /* /proc/sys/vm/mmap_min_addr */

static void die(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("mmap_ops: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  fflush(stdout);
  exit(2);
}

/* ---- names ------------------------------------------------------------- */

typedef struct { const char *name; int v; } name_t;

static const name_t PROTS[] = {
  {"none", PROT_NONE}, {"r", PROT_READ}, {"w", PROT_WRITE}, {"rw", PROT_READ | PROT_WRITE},
  {"x", PROT_EXEC}, {"rx", PROT_READ | PROT_EXEC}, {"rwx", PROT_READ | PROT_WRITE | PROT_EXEC},
  {"rw+sem", PROT_READ | PROT_WRITE | 0x8}, {"rw+gd", PROT_READ | PROT_WRITE | PROT_GROWSDOWN},
  {"rw+gdgu", PROT_READ | PROT_WRITE | PROT_GROWSDOWN | PROT_GROWSUP}, {"bad", 0x10}, {NULL, 0}};
static const name_t MFLAGS[] = {
  {"-", 0}, {"pop", MAP_POPULATE}, {"nores", MAP_NORESERVE}, {"pop+nores", MAP_POPULATE | MAP_NORESERVE},
  {NULL, 0}};
static const name_t ADVS[] = {
  {"normal", MADV_NORMAL}, {"willneed", MADV_WILLNEED}, {"dontneed", MADV_DONTNEED}, {"free", MADV_FREE},
  {"dontfork", MADV_DONTFORK}, {"dofork", MADV_DOFORK}, {"hugepage", MADV_HUGEPAGE},
  {"nohugepage", MADV_NOHUGEPAGE}, {"cold", MADV_COLD}, {"bad", 99}, {"neg", -1}, {NULL, 0}};
static const name_t RFLAGS[] = {
  {"0", 0}, {"may", MREMAP_MAYMOVE}, {"may+fix", MREMAP_MAYMOVE | MREMAP_FIXED},
  {"may+dun", MREMAP_MAYMOVE | MREMAP_DONTUNMAP},
  {"may+fix+dun", MREMAP_MAYMOVE | MREMAP_FIXED | MREMAP_DONTUNMAP}, {"fix", MREMAP_FIXED},
  {"dun", MREMAP_DONTUNMAP}, {"bad", MREMAP_MAYMOVE | 0x10}, {NULL, 0}};

static bool lookup(const name_t *t, const char *s, int *v) {
  for (; t->name; t++)
    if (strcmp(t->name, s) == 0) {
      *v = t->v;
      return true;
    }
  return false;
}


/* ---- random source: a seed, or the bytes of a file ---------------------- */

typedef struct {
  uint64_t s;
  const uint8_t *b;
  size_t n, i;
  bool bytes, out;
} src_t;

static uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

static uint32_t draw(src_t *r, uint32_t n) {
  uint32_t v;
  if (r->bytes) {
    if (r->i + 2 > r->n) {
      r->out = true;
      return 0;
    }
    v = (uint32_t)r->b[r->i] | (uint32_t)r->b[r->i + 1] << 8;
    r->i += 2;
  } else {
    r->s += 0x9e3779b97f4a7c15ULL;
    v = (uint32_t)(mix64(r->s) >> 32);
  }
  return n ? v % n : 0;
}

/* An index by weight: w is a 0-terminated list. */
static int pick(src_t *r, const int *w) {
  int tot = 0;
  for (const int *p = w; *p; p++) tot += *p;
  int x = (int)draw(r, (uint32_t)tot);
  for (int i = 0;; i++) {
    if (x < w[i]) return i;
    x -= w[i];
  }
}

/* ---- expressions ----------------------------------------------------------
 * expr := ['-'] atom (('+'|'-') atom)*; atom := NUM[p|K|M|G|T] | 0xHEX | max |
 * half | ts | a | A<k> | E<k>. Arithmetic wraps (unsigned 64-bit), as the
 * values a program hands the kernel do. */

typedef struct {
  uint64_t A, E, a; /* the area's start and end, the op's address */
} env_t;

/* The area an expression names: -1 none, -2 two different ones. */
static int expr_area(const char *s) {
  int k = -1;
  for (const char *p = s; *p; p++) {
    if ((*p == 'A' || *p == 'E') && isdigit((unsigned char)p[1]) && (p == s || strchr("+-", p[-1]))) {
      int j = atoi(p + 1);
      if (k >= 0 && j != k) return -2;
      k = j;
    }
  }
  return k;
}

static bool expr_eval(const char *s, const env_t *env, uint64_t *out) {
  uint64_t v = 0;
  int sign = 1;
  const char *p = s;
  if (*p == '-') {
    sign = -1;
    p++;
  } else if (*p == '+') {
    p++;
  }
  for (;;) {
    uint64_t x;
    if (isdigit((unsigned char)*p)) {
      char *end;
      x = strtoull(p, &end, 0);
      p = end;
      switch (*p) {
      case 'p': x *= PG; p++; break;
      case 'K': x <<= 10; p++; break;
      case 'M': x <<= 20; p++; break;
      case 'G': x <<= 30; p++; break;
      case 'T': x <<= 40; p++; break;
      default: break;
      }
    } else if (strncmp(p, "max", 3) == 0) {
      x = UINT64_MAX;
      p += 3;
    } else if (strncmp(p, "half", 4) == 0) {
      x = UINT64_MAX / 2;
      p += 4;
    } else if (strncmp(p, "ts", 2) == 0) {
      x = TS;
      p += 2;
    } else if (*p == 'a' && !isalnum((unsigned char)p[1])) {
      x = env->a;
      p++;
    } else if ((*p == 'A' || *p == 'E') && isdigit((unsigned char)p[1])) {
      x = *p == 'A' ? env->A : env->E;
      p++;
      while (isdigit((unsigned char)*p)) p++;
    } else {
      return false;
    }
    v = sign > 0 ? v + x : v - x;
    if (*p == '\0') break;
    if (*p == '+') sign = 1;
    else if (*p == '-') sign = -1;
    else return false;
    p++;
  }
  *out = v;
  return true;
}

/* ---- ops ----------------------------------------------------------------- */

enum { O_SLOT, O_MAP, O_FIXED, O_NOREP, O_HINT, O_MUNMAP, O_MPROTECT, O_MADVISE, O_MREMAP, O_MLOCK,
       O_MUNLOCK, O_WRITE, O_N };
static const char *OPNAMES[O_N] = {"slot", "map", "fixed", "noreplace", "hint", "munmap", "mprotect",
                                   "madvise", "mremap", "mlock", "munlock", "write"};

typedef struct {
  int kind;
  char a[96], l[96], l2[96], t[96]; /* address, length, new length, target */
  int prot, flags, adv, rflags;
} op_t;

/* Parses one program line; false for a malformed one. */
static bool op_parse(const char *line, op_t *op) {
  char w[6][96];
  memset(op, 0, sizeof *op);
  int n = sscanf(line, "%95s %95s %95s %95s %95s %95s", w[0], w[1], w[2], w[3], w[4], w[5]);
  if (n < 2) return false;
  op->kind = -1;
  for (int i = 0; i < O_N; i++)
    if (strcmp(w[0], OPNAMES[i]) == 0) op->kind = i;
  switch (op->kind) {
  case O_SLOT:
    snprintf(op->l, sizeof op->l, "%s", w[1]);
    return n == 2;
  case O_MAP:
    snprintf(op->l, sizeof op->l, "%s", w[1]);
    return n >= 3 && lookup(PROTS, w[2], &op->prot) && (n < 4 || lookup(MFLAGS, w[3], &op->flags));
  case O_FIXED: case O_NOREP: case O_HINT:
    snprintf(op->a, sizeof op->a, "%s", w[1]);
    snprintf(op->l, sizeof op->l, "%s", w[2]);
    return n >= 4 && lookup(PROTS, w[3], &op->prot) && (n < 5 || lookup(MFLAGS, w[4], &op->flags));
  case O_MUNMAP: case O_MLOCK: case O_MUNLOCK: case O_WRITE:
    snprintf(op->a, sizeof op->a, "%s", w[1]);
    snprintf(op->l, sizeof op->l, "%s", w[2]);
    return n == 3;
  case O_MPROTECT:
    snprintf(op->a, sizeof op->a, "%s", w[1]);
    snprintf(op->l, sizeof op->l, "%s", w[2]);
    return n == 4 && lookup(PROTS, w[3], &op->prot);
  case O_MADVISE:
    snprintf(op->a, sizeof op->a, "%s", w[1]);
    snprintf(op->l, sizeof op->l, "%s", w[2]);
    return n == 4 && lookup(ADVS, w[3], &op->adv);
  case O_MREMAP:
    snprintf(op->a, sizeof op->a, "%s", w[1]);
    snprintf(op->l, sizeof op->l, "%s", w[2]);
    snprintf(op->l2, sizeof op->l2, "%s", w[3]);
    if (n == 6) snprintf(op->t, sizeof op->t, "%s", w[5]);
    return n >= 5 && lookup(RFLAGS, w[4], &op->rflags);
  default:
    return false;
  }
}

/* ---- the model ------------------------------------------------------------ */

enum { P_HOLE, P_MAP, P_UNK };
enum { C_ZERO, C_TAG, C_FREED };
enum { F_LOCKED = 1, F_DONTFORK = 2, F_HUGE = 4, F_NOHUGE = 8 };

typedef struct {
  uint8_t st, prot, fl, ct;
  uint32_t origin; /* the mapping the page came from: VMA merges only within one */
  uint64_t tag;    /* content of a C_TAG / C_FREED page */
} page_t;

typedef struct {
  bool live, slot;
  unsigned id;
  uintptr_t base; /* A<k>: the handle's start (slot) or the mapping's */
  size_t n;       /* E<k> = base + n pages */
  size_t np;      /* pages in the model: slot: GUARD + n + GUARD; floating: extent */
  size_t off;     /* index of base in pg[]: GUARD for a slot, 0 floating */
  page_t pg[MAXPAGES];
} area_t;

static area_t areas[MAXAREA];
static unsigned nareas, next_id;
static uint32_t next_origin = 1;
static int cur_op;

static uintptr_t area_lo(const area_t *ar) { return ar->base - ar->off * PG; }
static uintptr_t area_hi(const area_t *ar) { return area_lo(ar) + ar->np * PG; }

/* The live area for reference k (modulo the live ones, in creation order). */
static area_t *area_ref(int k) {
  unsigned live = 0;
  for (unsigned i = 0; i < nareas; i++) live += areas[i].live;
  if (k < 0 || live == 0) return NULL;
  unsigned want = (unsigned)k % live;
  for (unsigned i = 0; i < nareas; i++)
    if (areas[i].live && want-- == 0) return &areas[i];
  return NULL;
}

static area_t *area_new(bool slot, uintptr_t base, size_t n) {
  if (nareas == MAXAREA) return NULL;
  area_t *ar = &areas[nareas++];
  memset(ar, 0, offsetof(area_t, pg));
  ar->live = true;
  ar->slot = slot;
  ar->id = next_id++;
  ar->base = base;
  ar->n = n;
  ar->off = slot ? GUARD : 0;
  ar->np = slot ? n + 2 * GUARD : n;
  memset(ar->pg, 0, ar->np * sizeof(page_t));
  return ar;
}

/* [a, e) as page indices of AR; false unless it lies inside the area. */
static bool span_in(const area_t *ar, uint64_t a, uint64_t e, size_t *i0, size_t *i1) {
  if (!ar || e < a || a < area_lo(ar) || e > area_hi(ar)) return false;
  *i0 = (a - area_lo(ar)) / PG;
  *i1 = (e - area_lo(ar) + PG - 1) / PG;
  return true;
}

static bool any_st(const area_t *ar, size_t i0, size_t i1, int st) {
  for (size_t i = i0; i < i1; i++)
    if (ar->pg[i].st == st) return true;
  return false;
}

static page_t fresh_page(int prot, uint32_t origin) {
  page_t p = {P_MAP, (uint8_t)(prot & 7), 0, C_ZERO, origin, 0};
  return p;
}

/* A placement the program could not pin down (the kernel's or the shim's
 * choice) of S pages may have landed in any hole run that fits it: those
 * become unknown. Runs at a floating area's edge continue into unknown
 * space, so they fit anything. */
static void placed(size_t s) {
  for (unsigned k = 0; k < nareas; k++) {
    area_t *ar = &areas[k];
    if (!ar->live) continue;
    for (size_t i = 0; i < ar->np;) {
      if (ar->pg[i].st != P_HOLE) { i++; continue; }
      size_t j = i;
      while (j < ar->np && ar->pg[j].st == P_HOLE) j++;
      bool edge = !ar->slot && (i == 0 || j == ar->np);
      if (edge || j - i >= s)
        for (size_t x = i; x < j; x++) ar->pg[x].st = P_UNK;
      i = j;
    }
  }
}

/* After every op: a hole run touching an unknown page is unknown (whatever
 * sits in the unknown part may grow into it); a floating area with nothing
 * mapped is gone. */
static void normalize(void) {
  for (unsigned k = 0; k < nareas; k++) {
    area_t *ar = &areas[k];
    if (!ar->live) continue;
    bool mapped = false;
    for (size_t i = 0; i < ar->np;) {
      if (ar->pg[i].st == P_MAP) { mapped = true; i++; continue; }
      size_t j = i;
      bool unk = false;
      while (j < ar->np && ar->pg[j].st != P_MAP) unk |= ar->pg[j++].st == P_UNK;
      if (unk)
        for (size_t x = i; x < j; x++) ar->pg[x].st = P_UNK;
      i = j;
    }
    if (!ar->slot && !mapped) ar->live = false;
  }
}

/* Drops dead floating areas (keeping the order of the live ones). */
static void compact(void) {
  unsigned j = 0;
  for (unsigned i = 0; i < nareas; i++) {
    if (!areas[i].live) continue;
    if (i != j) {
      memcpy(&areas[j], &areas[i], offsetof(area_t, pg));
      memcpy(areas[j].pg, areas[i].pg, areas[i].np * sizeof(page_t));
    }
    j++;
  }
  nareas = j;
}

static uint64_t page_tag(unsigned area_id, size_t i) {
  return mix64(((uint64_t)cur_op << 40) ^ ((uint64_t)area_id << 24) ^ i) | 1;
}
static uint64_t word_of(uint64_t tag, int which) { return mix64(tag * 2 + (uint64_t)which) | 1; }

/* ---- probes --------------------------------------------------------------- */

static sigjmp_buf probe_jb;
static volatile sig_atomic_t probe_armed, probe_sig;

/* --shim: an op that has not returned after op_timeout seconds is a hang
 * (the shim spinning, or deadlocked): say so and exit 124, as timeout(1)
 * would, without waiting for the runner's limit. stdout was flushed before
 * the call, so write(2) is all the handler needs. */
static unsigned op_timeout = 2;
static void on_alarm(int sig) {
  static const char msg[] = " = HANG\n";
  (void)sig;
  if (write(1, msg, sizeof msg - 1) < 0) _exit(124);
  _exit(124);
}

static void on_fault(int sig) {
  if (probe_armed) {
    probe_armed = 0;
    probe_sig = sig;
    siglongjmp(probe_jb, 1);
  }
  signal(sig, SIG_DFL);
  raise(sig);
}

/* 0 ok, else the signal. Reads the page's first and last words into w[]
 * and, when WRITE, writes the first byte back. */
static int probe(uintptr_t p, bool write, uint64_t w[2]) {
  if (sigsetjmp(probe_jb, 0) == 0) {
    probe_armed = 1;
    w[0] = *(volatile uint64_t *)p;
    w[1] = *(volatile uint64_t *)(p + PG - 8);
    if (write) {
      volatile unsigned char *b = (volatile unsigned char *)p;
      *b = *b;
    }
    probe_armed = 0;
    return 0;
  }
  return probe_sig;
}

/* Writes a page's pattern; false if it faulted. */
static bool put_pattern(uintptr_t p, uint64_t tag) {
  if (sigsetjmp(probe_jb, 0) == 0) {
    probe_armed = 1;
    *(volatile uint64_t *)p = word_of(tag, 0);
    *(volatile uint64_t *)(p + PG - 8) = word_of(tag, 1);
    probe_armed = 0;
    return true;
  }
  return false;
}

/* ---- /proc/self/maps --------------------------------------------------------- */

static char maps_buf[4 << 20];
static uint8_t perm_of[MAXPAGES]; /* per page: 0 hole, else 8 | rwx bits */

static void read_maps(void) {
  int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
  if (fd < 0) die("open /proc/self/maps: %s", strerror(errno));
  size_t n = 0;
  for (;;) {
    ssize_t r = read(fd, maps_buf + n, sizeof maps_buf - 1 - n);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) die("read /proc/self/maps: %s", strerror(errno));
    if (r == 0) break;
    n += (size_t)r;
    if (n >= sizeof maps_buf - 1) die("/proc/self/maps too large");
  }
  close(fd);
  maps_buf[n] = '\0';
}

/* Fills perm_of[] for [lo, lo + np pages) from maps_buf. */
static void perms_for(uintptr_t lo, size_t np) {
  uintptr_t hi = lo + np * PG;
  memset(perm_of, 0, np);
  for (char *line = maps_buf; *line;) {
    char *nl = strchr(line, '\n'), *end;
    uintptr_t s = strtoull(line, &end, 16), e = strtoull(end + 1, &end, 16);
    uint8_t pm = 8 | (end[1] == 'r') | (end[2] == 'w') << 1 | (end[3] == 'x') << 2;
    line = nl ? nl + 1 : line + strlen(line);
    if (e <= lo || s >= hi) continue;
    if (s < lo) s = lo;
    if (e > hi) e = hi;
    for (uintptr_t a = s; a < e; a += PG) perm_of[(a - lo) / PG] = pm;
  }
}

/* Nothing mapped in [lo, hi)? */
static bool maps_empty(uintptr_t lo, uintptr_t hi) {
  for (char *line = maps_buf; *line;) {
    char *nl = strchr(line, '\n'), *end;
    uintptr_t s = strtoull(line, &end, 16), e = strtoull(end + 1, &end, 16);
    line = nl ? nl + 1 : line + strlen(line);
    if (strstr(line, "[vsyscall]") == line) continue;
    if (e > lo && s < hi && !(s == 0xffffffffff600000UL)) return false;
  }
  return true;
}

/* ---- output ------------------------------------------------------------------ */

static char out_buf[1 << 16];
static int model_errors;

/* A contradiction between the model and what the kernel did: without the
 * shim it is the driver's bug (exit 3 at the end of the op); under the
 * shim it is printed and compared. */
static void contradiction(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  if (!shim_mode) {
    fprintf(stderr, "mmap_ops: MODEL: op #%d: ", cur_op);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
  }
  va_end(ap);
  model_errors++;
}

typedef struct {
  char tok[4];
  size_t n;
  bool any;
} rle_t;

static void rle_put(rle_t *r, const char *tok) {
  if (r->n && strcmp(r->tok, tok) == 0) {
    r->n++;
    return;
  }
  if (r->n) printf(r->n > 1 ? " %s*%zu" : " %s", r->tok, r->n);
  snprintf(r->tok, sizeof r->tok, "%s", tok);
  r->n = 1;
}
static void rle_end(rle_t *r) { rle_put(r, "~"); }

/* What a page shows: "-." segv, "B." sigbus, r/w + content (z zero, d the
 * data the model expects, f MADV_FREE'd: the data or zero, x anything
 * else), ".." a hole the model does not probe (--release), "??" unknown. */
static void page_token(const area_t *ar, size_t i, char tok[4]) {
  const page_t *p = &ar->pg[i];
  uintptr_t a = area_lo(ar) + i * PG;
  if (p->st == P_UNK) { strcpy(tok, "??"); return; }
  if (p->st == P_HOLE && release_mode) { strcpy(tok, ".."); return; }
  uint64_t w[2];
  int sig = probe(a, false, w);
  if (sig) { strcpy(tok, sig == SIGBUS ? "B." : "-."); goto check; }
  tok[0] = probe(a, true, w) ? 'r' : 'w';
  bool zero = w[0] == 0 && w[1] == 0;
  bool data = w[0] == word_of(p->tag, 0) && w[1] == word_of(p->tag, 1);
  if (p->st == P_MAP && p->ct == C_FREED) tok[1] = (zero || data) ? 'f' : 'x';
  else if (p->st == P_MAP && p->ct == C_TAG) tok[1] = data ? 'd' : zero ? 'z' : 'x';
  else tok[1] = zero ? 'z' : 'x';
  tok[2] = '\0';
check:
  if (p->st == P_HOLE) {
    if (tok[0] != '-') contradiction("s/f%u page %zu: a hole reads %s", ar->id, i, tok);
    return;
  }
  int prot = p->prot;
  const char *want = (prot & PROT_WRITE) ? "w" : (prot & PROT_READ) ? "r" : (prot & PROT_EXEC) ? "?" : "-";
  if (want[0] != '?' && want[0] != tok[0])
    contradiction("%u page %zu: prot %d reads %s", ar->id, i, prot, tok);
  if (tok[0] != '-' && tok[1] == 'x') contradiction("%u page %zu: content %s", ar->id, i, tok);
  if (tok[0] != '-' && p->ct == C_TAG && tok[1] != 'd') contradiction("%u page %zu: lost data", ar->id, i);
  if (tok[0] != '-' && p->ct == C_ZERO && tok[1] != 'z') contradiction("%u page %zu: not zero", ar->id, i);
}

static void dump(const area_t *ar) {
  rle_t r = {.n = 0};
  char tok[4];
  printf("  %c%u:", ar->slot ? 's' : 'f', ar->id);
  for (size_t i = 0; i < ar->np; i++) {
    page_token(ar, i, tok);
    rle_put(&r, tok);
  }
  rle_end(&r);
  putchar('\n');
  /* /proc/self/maps relative to the area: a hole and PROT_NONE both read
   * "none" (the shim's reservation is a PROT_NONE mapping where the kernel
   * alone has a hole); unknown pages "?". */
  read_maps();
  perms_for(area_lo(ar), ar->np);
  rle_t m = {.n = 0};
  printf("%s  %c%u maps:", release_mode ? "~ " : "", ar->slot ? 's' : 'f', ar->id);
  for (size_t i = 0; i < ar->np; i++) {
    const page_t *p = &ar->pg[i];
    uint8_t pm = perm_of[i];
    if (!shim_mode && p->st != P_UNK) {
      bool hole = pm == 0;
      if (hole != (p->st == P_HOLE) || (!hole && (pm & 7) != (p->prot & 7)))
        contradiction("%u page %zu: model st %d prot %d, maps %#x", ar->id, i, p->st, p->prot, pm);
    }
    if (p->st == P_UNK) strcpy(tok, "?");
    else if ((pm & 7) == 0) strcpy(tok, "-");
    else snprintf(tok, sizeof tok, "%c%c%c", pm & 1 ? 'r' : '-', pm & 2 ? 'w' : '-', pm & 4 ? 'x' : '-');
    rle_put(&m, tok);
  }
  rle_end(&m);
  putchar('\n');
}

/* ---- executing one op -------------------------------------------------------- */

/* The op's numbers in one "world": the real addresses (world -1), or the
 * named areas moved to base NWORLD-sampled points between 4 GiB and just
 * below TASK_SIZE, where a program's mappings can be. Whether the kernel
 * rejects the arguments is decided from those worlds alone, never from the
 * real address: if they disagree, the answer depends on where the area
 * landed and the call is skipped, the same way in every run. */
#define NWORLD 257
typedef struct {
  uint64_t a, l, l2, t;
} vals_t;

#define NWORLD2 65 /* per axis, when the source and the target are two areas */

static uint64_t world_base(int world, int nworld, const area_t *ar) {
  if (world < 0) return ar->base;
  uint64_t lo = 4 * GIB, hi = TS - (128UL << 20) - (ar->np + 2 * FENCE) * PG;
  return (lo + (hi - lo) / (uint64_t)(nworld - 1) * (uint64_t)world) & ~(PG - 1);
}

static bool eval_all(const op_t *op, const area_t *ar, const area_t *tar, int world, vals_t *v) {
  env_t env = {0, 0, 0}, tenv = {0, 0, 0};
  /* one area: WORLD picks its base; two: WORLD is a point of a grid */
  bool two = ar && tar && ar != tar;
  int wa = two && world >= 0 ? world / NWORLD2 : world, wt = two && world >= 0 ? world % NWORLD2 : world;
  if (ar) {
    env.A = world_base(wa, two ? NWORLD2 : NWORLD, ar);
    env.E = env.A + ar->n * PG;
  }
  if (tar) {
    tenv.A = world_base(wt, two ? NWORLD2 : NWORLD, tar);
    tenv.E = tenv.A + tar->n * PG;
  }
  memset(v, 0, sizeof *v);
  if (op->a[0] && !expr_eval(op->a, &env, &v->a)) return false;
  env.a = tenv.a = v->a;
  if (op->l[0] && !expr_eval(op->l, &env, &v->l)) return false;
  if (op->l2[0] && !expr_eval(op->l2, &env, &v->l2)) return false;
  if (op->t[0] && !expr_eval(op->t, &tenv, &v->t)) return false;
  return true;
}

static bool valid_advice(int adv) {
  for (const name_t *n = ADVS; n->name; n++)
    if (n->v == adv && strcmp(n->name, "bad") && strcmp(n->name, "neg")) return true;
  return false;
}

/* What the kernel answers from the arguments alone, before it looks at any
 * mapping, in the order it checks them: 0 when the call goes on to the
 * mappings, else the errno (RET0 for an empty range, which returns 0).
 * Such a call changes nothing, wherever it points. */
#define RET0 1000
static int arg_verdict(const op_t *op, const vals_t *v) {
  uint64_t a = v->a, l = v->l;
  switch (op->kind) {
  case O_MUNMAP: /* do_vmi_munmap */
    return a % PG || a > TS || l > TS - a || PA(l) == 0 ? EINVAL : 0;
  case O_MPROTECT: { /* do_mprotect_pkey */
    int grows = op->prot & (PROT_GROWSDOWN | PROT_GROWSUP);
    if (grows == (PROT_GROWSDOWN | PROT_GROWSUP) || a % PG) return EINVAL;
    if (l == 0) return RET0;
    if (a + PA(l) <= a) return ENOMEM;
    if (op->prot & ~(PROT_READ | PROT_WRITE | PROT_EXEC | 0x8 | PROT_GROWSDOWN | PROT_GROWSUP)) return EINVAL;
    return 0;
  }
  case O_MADVISE: /* is_valid_madvise, then an empty range */
    if (!valid_advice(op->adv) || a % PG || (l && PA(l) == 0) || a + PA(l) < a) return EINVAL;
    return PA(l) == 0 ? RET0 : 0;
  case O_MLOCK: case O_MUNLOCK: { /* apply_vma_lock_flags: end < start, end == start */
    uint64_t s = a & ~(PG - 1), len = PA(l + (a & (PG - 1)));
    return s + len < s ? EINVAL : s + len == s ? RET0 : 0;
  }
  case O_FIXED: case O_NOREP: /* do_mmap, __get_unmapped_area */
    if (l == 0) return EINVAL;
    if (PA(l) == 0 || PA(l) > TS) return ENOMEM;
    if (a >= (uint64_t)-4095) return (int)-(int64_t)a; /* IS_ERR_VALUE(addr): ~0 is EPERM */
    if (a > TS - PA(l)) return ENOMEM;
    return a % PG ? EINVAL : 0;
  case O_HINT: case O_MAP: case O_SLOT:
    if (l == 0) return EINVAL;
    return PA(l) == 0 || PA(l) > TS ? ENOMEM : 0;
  case O_MREMAP: { /* check_mremap_params, then mremap_to's own checks */
    int f = op->rflags;
    if (f & ~(MREMAP_MAYMOVE | MREMAP_FIXED | MREMAP_DONTUNMAP)) return EINVAL;
    if (a % PG || PA(v->l2) == 0) return EINVAL;
    if (PA(v->l2) > TS) return EINVAL; /* "is the new length silly?" (6.18: EINVAL before EFAULT) */
    if (f & (MREMAP_FIXED | MREMAP_DONTUNMAP)) {
      if (v->t % PG || !(f & MREMAP_MAYMOVE)) return EINVAL;
      if ((f & MREMAP_DONTUNMAP) && PA(l) != PA(v->l2)) return EINVAL; /* 6.18 compares them rounded */
      if (v->t > TS - PA(v->l2)) return EINVAL;
      if (a + PA(l) > v->t && v->t + PA(v->l2) > a) return EINVAL; /* the ranges overlap */
    }
    return 0;
  }
  default:
    return 0;
  }
}

/* Whether the op's address is a constant (no A<k>/E<k>): only then may the
 * decisions below look at its value (the zones), which is otherwise where
 * the area happened to land. An area-relative address outside its area is
 * unknown ground, wherever that is. */
static bool addr_absolute;

static bool harmless_advice(int adv) { return adv == MADV_NORMAL || adv == MADV_WILLNEED; }
static bool in_low(uint64_t a, uint64_t e) { return addr_absolute && a < e && e <= LOW_EMPTY; }
static bool known_empty(uint64_t a) { return addr_absolute && (a < LOW_EMPTY || a >= TS); }

/* Walks pages [i0, i1) of AR: 1 if it meets a hole (the kernel stops
 * there), 0 if it runs off the end without one, -1 if it meets an unknown
 * page first. */
static int walk_to_hole(const area_t *ar, size_t i0, size_t i1, size_t *at) {
  for (size_t i = i0; i < i1; i++) {
    if (ar->pg[i].st == P_HOLE) { *at = i; return 1; }
    if (ar->pg[i].st == P_UNK) return -1;
  }
  *at = i1;
  return 0;
}

/* mprotect/mlock/munlock over [s, e) walk the VMAs from s and stop at the
 * first hole: "" if that keeps them inside AR, else why not. */
static const char *stops_inside(const area_t *ar, uint64_t s, uint64_t e) {
  if (known_empty(s)) return "";
  if (!ar || s < area_lo(ar) || s >= area_hi(ar)) return "unknown start";
  size_t i0 = (s - area_lo(ar)) / PG, at;
  bool ends_inside = e <= area_hi(ar);
  size_t i1 = ends_inside ? (e - area_lo(ar) + PG - 1) / PG : ar->np;
  int w = walk_to_hole(ar, i0, i1, &at);
  if (w < 0) return "unknown page";
  if (w == 0 && !ends_inside) return "runs out of the area";
  return "";
}

/* A harmless madvise over [s, e) answers ENOMEM iff there is a hole: is
 * that certain? Yes for one the model knows, a known-empty zone, or 1 GiB
 * or more the model does not cover (never all mapped). */
static const char *harmless_certain(const area_t *ar, uint64_t s, uint64_t e) {
  if (addr_absolute && (s < LOW_EMPTY || e > TS)) return "";
  uint64_t lo = ar ? area_lo(ar) : 0, hi = ar ? area_hi(ar) : 0;
  uint64_t ilo = s > lo ? s : lo, ihi = e < hi ? e : hi;
  uint64_t outside = e - s - (ilo < ihi ? ihi - ilo : 0);
  if (ilo < ihi) {
    size_t i0 = (ilo - lo) / PG, i1 = (ihi - lo) / PG;
    if (any_st(ar, i0, i1, P_HOLE)) return "";
    if (outside == 0 && !any_st(ar, i0, i1, P_UNK)) return "";
  }
  if (outside >= GIB) return "";
  return "answer depends on the neighbours";
}

/* munmap/MAP_FIXED/destructive madvise over [s, e): inside one area with
 * no unknown page, or inside the empty low zone. */
static const char *confined(const area_t *ar, uint64_t s, uint64_t e) {
  size_t i0, i1;
  if (in_low(s, e)) return "";
  if (!span_in(ar, s, e, &i0, &i1)) return "leaves the area";
  if (any_st(ar, i0, i1, P_UNK)) return "unknown page";
  return "";
}

static int predicted; /* the op's arg_verdict: what a rejected call must answer */
/* The op may reach beyond the area it names (a constant address, arguments
 * the kernel rejects, a range leaving the area): every area is shown after
 * it, since the shim might have touched any of them. */
static bool dump_all;

/* A call the driver made because it is rejected on its arguments alone
 * must answer exactly that (0 for RET0, else -1 with that errno): anything
 * else means the prediction that let it run is wrong. */
static void check_rejected(bool failed, int err) {
  if (!predicted) return;
  if (predicted == RET0 ? failed : (!failed || err != predicted))
    contradiction("predicted %s from the arguments, got %s", predicted == RET0 ? "0" : it_errname(predicted),
                  failed ? it_errname(err) : "success");
}

static void print_int(int r, int e) {
  if (r == 0) printf(" = 0\n");
  else printf(" = %d %s\n", r, it_errname(e));
  check_rejected(r != 0, e);
}

static page_t tmp_pages[MAXPAGES];

/* After a successful mremap: the first NEWP pages of the source (the grown
 * tail zero) land at pages [d0, d0+newp) of DA; the source becomes holes
 * or, with DONTUNMAP, stays mapped and empty. */
static void moved_pages(area_t *sa, size_t s0, size_t oldp, size_t newp, area_t *da, size_t d0, bool dontunmap) {
  size_t keep = oldp < newp ? oldp : newp;
  memcpy(tmp_pages, &sa->pg[s0], keep * sizeof(page_t));
  page_t last = keep ? tmp_pages[keep - 1] : fresh_page(PROT_READ | PROT_WRITE, next_origin++);
  for (size_t i = keep; i < newp; i++) {
    tmp_pages[i] = last;
    tmp_pages[i].st = P_MAP;
    tmp_pages[i].ct = C_ZERO;
  }
  uint32_t org = next_origin++;
  for (size_t i = 0; i < oldp; i++) {
    page_t *p = &sa->pg[s0 + i];
    if (!dontunmap || i >= keep) {
      p->st = P_HOLE;
    } else if (p->st == P_MAP) {
      p->ct = C_ZERO;
      p->fl &= (uint8_t)~F_LOCKED;
      p->origin = org;
    }
  }
  memcpy(&da->pg[d0], tmp_pages, newp * sizeof(page_t));
}

static void apply_prot(area_t *ar, size_t i0, size_t i1, int prot, bool until_hole) {
  for (size_t i = i0; i < i1; i++) {
    if (ar->pg[i].st != P_MAP) {
      if (until_hole) return;
      continue;
    }
    ar->pg[i].prot = (uint8_t)(prot & 7);
  }
}

static void apply_lock(area_t *ar, size_t i0, size_t i1, bool lock, bool until_hole) {
  for (size_t i = i0; i < i1; i++) {
    if (ar->pg[i].st != P_MAP) {
      if (until_hole) return;
      continue;
    }
    if (lock) ar->pg[i].fl |= F_LOCKED;
    else ar->pg[i].fl &= (uint8_t)~F_LOCKED;
  }
}

static size_t locked_total(void) {
  size_t n = 0;
  for (unsigned k = 0; k < nareas; k++)
    if (areas[k].live)
      for (size_t i = 0; i < areas[k].np; i++) n += areas[k].pg[i].st == P_MAP && (areas[k].pg[i].fl & F_LOCKED);
  return n;
}

/* madvise's effect on the mapped pages of [i0, i1); UNTIL_LOCKED: the walk
 * stopped with EINVAL at the first locked VMA. */
static void apply_advice(area_t *ar, size_t i0, size_t i1, int adv, bool until_locked) {
  for (size_t i = i0; i < i1; i++) {
    page_t *p = &ar->pg[i];
    if (p->st != P_MAP) continue;
    if (until_locked && (p->fl & F_LOCKED)) return;
    switch (adv) {
    case MADV_DONTNEED: p->ct = C_ZERO; break;
    case MADV_FREE: if (p->ct == C_TAG) p->ct = C_FREED; break;
    case MADV_DONTFORK: p->fl |= F_DONTFORK; break;
    case MADV_DOFORK: p->fl &= (uint8_t)~F_DONTFORK; break;
    case MADV_HUGEPAGE: p->fl = (uint8_t)((p->fl | F_HUGE) & ~F_NOHUGE); break;
    case MADV_NOHUGEPAGE: p->fl = (uint8_t)((p->fl | F_NOHUGE) & ~F_HUGE); break;
    default: break;
    }
  }
}

/* One VMA for the kernel, whatever it merged: every page mapped, from one
 * origin, with one prot and one set of flags. */
static bool uniform(const area_t *ar, size_t i0, size_t i1) {
  for (size_t i = i0; i < i1; i++) {
    const page_t *p = &ar->pg[i], *q = &ar->pg[i0];
    if (p->st != P_MAP || p->origin != q->origin || p->prot != q->prot || p->fl != q->fl) return false;
  }
  return true;
}

static int xmmap_flags(const op_t *op) { return MAP_PRIVATE | MAP_ANONYMOUS | op->flags; }

/* Executes one op: decides, prints, calls, updates the model. DUMP1/2 get
 * the areas to show afterwards. */
static void run_op(const op_t *op, const char *line, area_t **dump1, area_t **dump2) {
  *dump1 = *dump2 = NULL;
  printf("#%d %s", cur_op, line);
  int k = expr_area(op->a[0] ? op->a : op->l);
  int kl = op->a[0] ? expr_area(op->l) : -1, kl2 = expr_area(op->l2), kt = expr_area(op->t);
  if (k == -2 || kt == -2 || kl == -2 || kl2 == -2 || (kl >= 0 && kl != k) || (kl2 >= 0 && kl2 != k)) {
    printf(" = skip an expression names two areas\n");
    return;
  }
  area_t *ar = k >= 0 ? area_ref(k) : NULL, *tar = kt >= 0 ? area_ref(kt) : NULL;
  if ((k >= 0 && !ar) || (kt >= 0 && !tar)) {
    printf(" = skip no area\n");
    return;
  }
  vals_t real, w;
  if (!eval_all(op, ar, tar, -1, &real)) {
    printf(" = skip bad expression\n");
    return;
  }
  if (op->kind == O_MREMAP && (op->rflags & (MREMAP_FIXED | MREMAP_DONTUNMAP)) && ar && tar && ar != tar &&
      (real.a < area_lo(ar) || real.a + PA(real.l) > area_hi(ar) || real.a + PA(real.l) < real.a ||
       real.t < area_lo(tar) || real.t + PA(real.l2) > area_hi(tar) || real.t + PA(real.l2) < real.t)) {
    /* two areas and a range past its own: whether they overlap (EINVAL,
     * before anything is looked up) depends on where the areas landed */
    printf(" = skip the ranges may overlap, depending on where the areas are\n");
    return;
  }
  int verdict = arg_verdict(op, &real);
  bool rejected = verdict != 0;
  if (ar || tar) {
    int first = 0, nw = ar && tar && ar != tar ? NWORLD2 * NWORLD2 : NWORLD;
    for (int i = 0; i < nw; i++) {
      eval_all(op, ar, tar, i, &w);
      int r = arg_verdict(op, &w);
      if (i == 0) first = r;
      if (r != first) {
        printf(" = skip valid or not depending on the address\n");
        return;
      }
    }
    if (first != verdict) { /* the real address is outside the sampled range */
      printf(" = skip the mappings are not where they were expected\n");
      contradiction("area at %#lx, outside the sampled range", (unsigned long)(ar ? ar->base : tar->base));
      return;
    }
  }
  const vals_t *v = &real;
  addr_absolute = k < 0;
  predicted = verdict;
  {
    size_t i0, i1;
    uint64_t s0 = real.a & ~(PG - 1), e0 = real.a + PA(real.l);
    bool creates = op->kind == O_SLOT || op->kind == O_MAP;
    dump_all = !creates && (rejected || !ar || e0 < s0 || !span_in(ar, s0, e0, &i0, &i1));
  }
  bool may_create = op->kind == O_SLOT || op->kind == O_MAP || op->kind == O_HINT ||
                    (op->kind == O_MREMAP && (op->rflags & MREMAP_MAYMOVE));
  if (may_create && nareas >= MAXAREA) {
    printf(" = skip too many areas\n");
    return;
  }
  uint64_t a = v->a, l = v->l;
  const char *why = "";
  *dump1 = ar ? ar : tar ? tar : nareas ? &areas[0] : NULL; /* (with dump_all: every area) */

  switch (op->kind) {
  /* ---- new mappings ---- */
  case O_SLOT: case O_MAP: {
    bool slot = op->kind == O_SLOT;
    size_t n = PA(l) / PG, total = slot ? n + 2 * GUARD + 2 * FENCE : n;
    *dump1 = NULL;
    if (slot && (n == 0 || total > MAXPAGES)) why = "not a slot size";
    else if (!rejected && total > MAXPAGES) why = "too large for the model";
    else if (!rejected && total <= GUARD) why = "small enough to land in a guard";
    else if (nareas == MAXAREA) why = "too many areas";
    if (*why) break;
    fflush(stdout);
    errno = 0;
    void *p = mmap(NULL, slot ? total * PG : l, slot ? PROT_READ | PROT_WRITE : op->prot,
                   slot ? MAP_PRIVATE | MAP_ANONYMOUS : xmmap_flags(op), -1, 0);
    int e = errno;
    check_rejected(p == MAP_FAILED, e);
    if (p == MAP_FAILED) {
      printf(" = MAP_FAILED %s\n", it_errname(e));
      return;
    }
    if ((uintptr_t)p % PG) {
      printf(" = ok MISALIGNED\n");
      return;
    }
    placed(total);
    uint32_t org = next_origin++;
    if (!slot) {
      area_t *na = area_new(false, (uintptr_t)p, n);
      for (size_t i = 0; i < n; i++) na->pg[i] = fresh_page(op->prot, org);
      printf(" = ok\n");
      *dump1 = na;
      return;
    }
    uintptr_t hbase = (uintptr_t)p + (FENCE + GUARD) * PG;
    area_t *na = area_new(true, hbase, n);
    for (size_t i = 0; i < na->np; i++) na->pg[i] = fresh_page(PROT_READ | PROT_WRITE, org);
    int r1 = munmap((void *)(hbase - GUARD * PG), GUARD * PG);
    int r2 = munmap((void *)(hbase + n * PG), GUARD * PG);
    for (size_t i = 0; i < GUARD; i++) {
      if (r1 == 0) na->pg[i].st = P_HOLE;
      if (r2 == 0) na->pg[GUARD + n + i].st = P_HOLE;
    }
    if (r1 == 0 && r2 == 0) printf(" = ok\n");
    else printf(" = ok, but unmapping the guards: %d %d\n", r1, r2);
    *dump1 = na;
    return;
  }
  case O_FIXED: case O_NOREP: {
    uint64_t e = a + PA(l);
    if (!rejected) why = confined(ar, a, e);
    if (!rejected && !*why && in_low(a, e)) why = "would map the low zone";
    if (*why) break;
    int flags = xmmap_flags(op) | (op->kind == O_FIXED ? MAP_FIXED : MAP_FIXED_NOREPLACE);
    fflush(stdout);
    errno = 0;
    void *p = mmap((void *)a, l, op->prot, flags, -1, 0);
    int err = errno;
    check_rejected(p == MAP_FAILED, err);
    size_t i0, i1;
    if (p == MAP_FAILED) {
      printf(" = MAP_FAILED %s\n", it_errname(err));
      if (!rejected && op->kind == O_FIXED && span_in(ar, a, e, &i0, &i1))
        for (size_t i = i0; i < i1; i++) ar->pg[i].st = P_UNK; /* the old mapping may be gone */
      return;
    }
    printf((uintptr_t)p == a ? " = ok\n" : " = ok ELSEWHERE\n");
    if ((uintptr_t)p == a && span_in(ar, a, e, &i0, &i1)) {
      uint32_t org = next_origin++;
      for (size_t i = i0; i < i1; i++) ar->pg[i] = fresh_page(op->prot, org);
    }
    return;
  }
  case O_HINT: {
    /* the kernel rounds a hint down, and a low one up to mmap_min_addr */
    uint64_t h = a & ~(PG - 1);
    if (h && h < mmap_min) h = PA(mmap_min);
    uint64_t e = h + PA(l);
    size_t i0 = 0, i1 = 0;
    bool inside = !rejected && h != 0 && span_in(ar, h, e, &i0, &i1);
    bool ignored = addr_absolute && (h == 0 || e > TS || e < h); /* no hint, or one the kernel cannot honour */
    if (!rejected) {
      if (inside && any_st(ar, i0, i1, P_UNK)) why = "unknown page";
      else if (!inside && !ignored) why = "hint outside the area";
      else if (!inside && la57 && h >= (1UL << 47)) why = "high hint on 5-level paging";
      else if (PA(l) / PG > MAXPAGES) why = "too large for the model";
      else if (PA(l) / PG <= GUARD) why = "small enough to land in a guard";
    }
    if (*why) break;
    fflush(stdout);
    errno = 0;
    void *p = mmap((void *)a, l, op->prot, xmmap_flags(op), -1, 0);
    int err = errno;
    check_rejected(p == MAP_FAILED, err);
    if (p == MAP_FAILED) {
      printf(" = MAP_FAILED %s\n", it_errname(err));
      return;
    }
    bool at = h != 0 && (uintptr_t)p == h;
    printf(at ? " = ok at-hint\n" : " = ok elsewhere\n");
    uint32_t org = next_origin++;
    if (at && inside) {
      for (size_t i = i0; i < i1; i++) ar->pg[i] = fresh_page(op->prot, org);
    } else if (!at) {
      placed(PA(l) / PG);
      area_t *na = area_new(false, (uintptr_t)p, PA(l) / PG);
      if (na)
        for (size_t i = 0; i < na->np; i++) na->pg[i] = fresh_page(op->prot, org);
      *dump2 = na;
    } else {
      contradiction("mapped at a hint the kernel cannot honour");
    }
    return;
  }

  /* ---- calls on existing mappings ---- */
  case O_MUNMAP: {
    uint64_t e = a + PA(l);
    if (!rejected) why = confined(ar, a, e);
    if (*why) break;
    fflush(stdout);
    errno = 0;
    int r = munmap((void *)a, l), err = errno;
    print_int(r, err);
    size_t i0, i1;
    if (r == 0 && !rejected && span_in(ar, a, e, &i0, &i1))
      for (size_t i = i0; i < i1; i++) ar->pg[i].st = P_HOLE;
    return;
  }
  case O_MPROTECT: case O_MLOCK: case O_MUNLOCK: {
    bool prot = op->kind == O_MPROTECT;
    uint64_t s = prot ? a : a & ~(PG - 1);
    uint64_t e = prot ? a + PA(l) : s + PA(l + (a & (PG - 1)));
    if (!rejected) why = stops_inside(ar, s, e);
    if (*why) break;
    fflush(stdout);
    errno = 0;
    int r = prot ? mprotect((void *)a, l, op->prot) : op->kind == O_MLOCK ? mlock((void *)a, l) : munlock((void *)a, l);
    int err = errno;
    print_int(r, err);
    if (rejected || !ar || s < area_lo(ar) || s >= area_hi(ar)) return;
    if (r != 0 && err != ENOMEM) return;
    size_t i0 = (s - area_lo(ar)) / PG;
    size_t i1 = e <= area_hi(ar) ? (e - area_lo(ar) + PG - 1) / PG : ar->np;
    if (op->kind == O_MLOCK && r != 0 && !can_lock) {
      /* ENOMEM from RLIMIT_MEMLOCK locks nothing; from a hole, up to it */
      size_t want = (e - s) / PG, already = 0;
      for (size_t i = i0; i < i1; i++) already += ar->pg[i].st == P_MAP && (ar->pg[i].fl & F_LOCKED);
      if (want + locked_total() - already > memlock_pages) return;
    }
    if (prot && (op->prot & (PROT_GROWSDOWN | PROT_GROWSUP))) return;
    if (prot) apply_prot(ar, i0, i1, op->prot, r != 0);
    else apply_lock(ar, i0, i1, op->kind == O_MLOCK, r != 0);
    return;
  }
  case O_MADVISE: {
    uint64_t e = a + PA(l);
    if (!rejected) why = harmless_advice(op->adv) ? harmless_certain(ar, a, e) : confined(ar, a, e);
    if (*why) break;
    fflush(stdout);
    errno = 0;
    int r = madvise((void *)a, l, op->adv), err = errno;
    print_int(r, err);
    size_t i0, i1;
    if (rejected || !span_in(ar, a, e, &i0, &i1)) return;
    if (r == 0 || err == ENOMEM) apply_advice(ar, i0, i1, op->adv, false);
    else if (err == EINVAL && (op->adv == MADV_DONTNEED || op->adv == MADV_FREE))
      apply_advice(ar, i0, i1, op->adv, true); /* up to the first locked VMA */
    return;
  }
  case O_WRITE: {
    uint64_t e = a + PA(l);
    size_t i0, i1;
    if (!ar) why = "no area";
    else if (e < a || !span_in(ar, a & ~(PG - 1), e, &i0, &i1)) why = "leaves the area";
    if (*why) break;
    size_t done = 0, faults = 0;
    for (size_t i = i0; i < i1; i++) {
      page_t *p = &ar->pg[i];
      if (p->st != P_MAP || !(p->prot & PROT_WRITE)) continue;
      uint64_t tag = page_tag(ar->id, i);
      if (put_pattern(area_lo(ar) + i * PG, tag)) {
        p->ct = C_TAG;
        p->tag = tag;
        done++;
      } else {
        faults++;
      }
    }
    printf(" = %zu pages written, %zu faults\n", done, faults);
    if (faults) contradiction("write faulted on %zu writable pages", faults);
    return;
  }
  case O_MREMAP: {
    int f = op->rflags;
    uint64_t oldl = PA(l), newl = PA(v->l2), t = v->t;
    bool fixed = f & MREMAP_FIXED, dun = f & MREMAP_DONTUNMAP;
    size_t s0 = 0, s1 = 0, t0 = 0, t1 = 0, oldp = oldl / PG, newp = newl / PG;
    bool o_in = ar && a >= area_lo(ar) && a < area_hi(ar);
    int o_st = o_in ? ar->pg[(a - area_lo(ar)) / PG].st : P_HOLE;
    bool src_in = o_in && a + oldl >= a && span_in(ar, a, a + oldl, &s0, &s1);
    bool overlap = fixed && ar == tar && t < a + oldl && a < t + newl;
    int predict = 0; /* what the kernel does on success: 1 same place, 2 moves, 0 either */
    if (!rejected && !overlap) {
      if (!o_in && !known_empty(a)) why = "source outside the areas";
      else if (o_st == P_UNK) why = "unknown page at the source";
      else if (dun && !fixed && (expr_area(op->t) >= 0 || (t != 0 && t < TS))) why = "a hint for the moved range";
      else if (fixed) { /* unmapped first; and where it may overlap the source depends on the layout */
        if (!tar || !span_in(tar, t, t + newl, &t0, &t1)) why = "target leaves its area";
        else if (any_st(tar, t0, t1, P_UNK)) why = "unknown page at the target";
      }
      if (!*why && o_st == P_MAP) {
        bool noresize = oldl == newl && !fixed && !dun;
        size_t at;
        if (noresize) {
          predict = 1; /* returns the address, whatever the range */
        } else if (!src_in) {
          /* EFAULT only where the VMA at a certainly ends inside the area
           * (a hole follows) and nothing is unmapped first: a shrink
           * unmaps across VMAs, a same-size FIXED move takes several */
          if (newl <= oldl) why = "shrinks or moves beyond the area";
          else if (walk_to_hole(ar, (a - area_lo(ar)) / PG, ar->np, &at) != 1) why = "source leaves the area";
        } else if (any_st(ar, s0, s1, P_UNK)) {
          why = "unknown page in the source";
        } else if (newp > MAXPAGES) {
          why = "too large for the model";
        } else if ((fixed || dun || newl > oldl) && !uniform(ar, s0, newl < oldl ? s0 + newp : s1)) {
          why = "source is not one VMA";
        } else if (dun && !fixed) {
          predict = 2;
        } else if (newl > oldl && !fixed) {
          size_t e1 = s1 + (newp - oldp), lim = e1 > ar->np ? ar->np : e1;
          bool mapped = false, unk = false;
          for (size_t i = s1; i < lim; i++) {
            mapped |= ar->pg[i].st == P_MAP;
            unk |= ar->pg[i].st == P_UNK;
          }
          if (mapped || (e1 > ar->np && ar->slot)) predict = 2; /* a neighbour, or the slot's fence */
          else if (unk || e1 > ar->np) predict = 0;
          else predict = 1;
        } else {
          predict = 1;
        }
        if (!*why && predict != 1 && !fixed && (f & MREMAP_MAYMOVE) && newp <= GUARD)
          why = "small enough to land in a guard";
        if (!*why && predict == 0 && !(f & MREMAP_MAYMOVE))
          why = "grows in place or fails, as the neighbours allow";
      }
    }
    if (*why) break;
    fflush(stdout);
    errno = 0;
    void *p = mremap((void *)a, l, v->l2, f, (void *)t);
    int err = errno;
    check_rejected(p == MAP_FAILED, err);
    if (p == MAP_FAILED) {
      printf(" = MAP_FAILED %s\n", it_errname(err));
      if (!rejected && !overlap && fixed && o_st == P_MAP && tar && span_in(tar, t, t + newl, &t0, &t1)) {
        for (size_t i = t0; i < t1; i++) tar->pg[i].st = P_UNK; /* unmapped before the failure? */
        if (src_in && newl < oldl)
          for (size_t i = s0 + newp; i < s1; i++) ar->pg[i].st = P_UNK;
        *dump2 = tar;
      }
      return;
    }
    uintptr_t r = (uintptr_t)p;
    bool same = r == a;
    if (fixed) printf(r == t ? " = ok at-target\n" : " = ok NOT AT TARGET\n");
    else if (predict == 0) printf(" = ok\n");
    else printf(same ? " = ok same\n" : " = ok moved\n");
    if (!src_in || rejected || overlap) return;
    if (fixed) {
      if (r != t || !tar || !span_in(tar, t, t + newl, &t0, &t1)) return;
      moved_pages(ar, s0, oldp, newp, tar, t0, dun);
      *dump2 = tar;
      return;
    }
    if (predict == 0) {
      /* grown in place or moved, as the neighbours allowed: modelled the
       * same either way (the output says neither), so both runs agree: a
       * new floating area, the old range unknown */
      placed(newp);
      area_t *na = area_new(false, r, newp);
      if (!na) return;
      moved_pages(ar, s0, oldp, newp, na, 0, false);
      for (size_t i = s0; i < s1; i++) ar->pg[i].st = P_UNK;
      *dump2 = na;
      return;
    }
    if (same && !dun) {
      if (newp <= oldp) {
        for (size_t i = s0 + newp; i < s1; i++) ar->pg[i].st = P_HOLE;
        return;
      }
      size_t need = s0 + newp;
      if (need > ar->np) {
        contradiction("mremap grew in place past the area");
        return;
      }
      page_t last = ar->pg[s1 - 1];
      for (size_t i = s1; i < need; i++) {
        ar->pg[i] = last;
        ar->pg[i].ct = C_ZERO;
      }
      return;
    }
    /* moved: a new floating area */
    placed(newp);
    area_t *na = area_new(false, r, newp);
    if (!na) return;
    moved_pages(ar, s0, oldp, newp, na, 0, dun);
    *dump2 = na;
    return;
  }
  default:
    break;
  }
  printf(" = skip %s\n", why);
  *dump1 = *dump2 = NULL;
}

/* ---- the generator ----------------------------------------------------------- */

static const char *HOST_ADDR[] = {"0", "1", "4095", "0x10000", "0x200000", "ts", "0x800000000000",
                                  "0xfffffffffff000", "0x100000000000000", "half+1",
                                  "0xfffffffffffff000", "max"};
#define NHOST_ADDR (sizeof HOST_ADDR / sizeof *HOST_ADDR)
static const char *HOST_LEN[] = {"0", "1", "4095", "max", "max-4094", "half", "ts", "ts-a", "ts-a+1",
                                 "ts-a+1p", "64G", "128G", "1T", "0-a", "1p-a", "2T", "256G"};
#define NHOST_LEN (sizeof HOST_LEN / sizeof *HOST_LEN)
static const long SLOT_PAGES[] = {16, 17, 24, 31, 63, 64, 100, 255, 256, 257, 496, 511, 1008, 1024, 1500, 2032};
static const long MAP_PAGES[] = {5, 8, 15, 16, 17, 31, 64, 100, 255, 256, 512, 513, 1024, 2048};
#define NSLOT (sizeof SLOT_PAGES / sizeof *SLOT_PAGES)
#define NMAP (sizeof MAP_PAGES / sizeof *MAP_PAGES)

typedef struct {
  src_t *r;
  long sizes[64];
  int nsizes;
} gen_t;

static long gsize(gen_t *g, int k) { return g->nsizes ? g->sizes[k % g->nsizes] : 16; }
static long rnd(gen_t *g, long n) { return n > 0 ? (long)draw(g->r, (uint32_t)n) : 0; }

/* An address for area K (or, sometimes, a hostile constant): true when it
 * is relative to the area. */
static bool g_addr(gen_t *g, char *out, size_t cap, int k) {
  static const int w[] = {40, 10, 8, 10, 6, 4, 7, 3, 12, 0};
  long n = gsize(g, k);
  static const char *unal[] = {"+1", "+4095", "-1", "+2048"};
  static const char *far[] = {"-64G", "-1T", "+1T", "-2T", "+64G"};
  switch (pick(g->r, w)) {
  case 0: snprintf(out, cap, "A%d+%ldp", k, rnd(g, n)); break;
  case 1: snprintf(out, cap, "A%d", k); break;
  case 2: snprintf(out, cap, "A%d-%ldp", k, 1 + rnd(g, GUARD)); break;
  case 3: snprintf(out, cap, "E%d-%ldp", k, 1 + rnd(g, 8)); break;
  case 4: snprintf(out, cap, "E%d", k); break;
  case 5: snprintf(out, cap, "E%d+%ldp", k, 1 + rnd(g, GUARD)); break;
  case 6: snprintf(out, cap, "A%d+%ldp%s", k, rnd(g, n), unal[rnd(g, 4)]); break;
  case 7: snprintf(out, cap, "A%d%s", k, far[rnd(g, 5)]); break;
  default: snprintf(out, cap, "%s", HOST_ADDR[rnd(g, NHOST_ADDR)]); return false;
  }
  return true;
}

/* A length for an address of area K (K < 0: an absolute address, so no
 * length relative to an area's end). */
static void g_len(gen_t *g, char *out, size_t cap, int k) {
  static const int w[] = {35, 15, 8, 5, 8, 3, 26, 0};
  static const char *farlen[] = {"+64G", "+128G", "+1T", "+2T"};
  long n = gsize(g, k < 0 ? 0 : k);
  int c = pick(g->r, w);
  if (k < 0 && (c == 2 || c == 3)) c = 0;
  switch (c) {
  case 0: snprintf(out, cap, "%ldp", 1 + rnd(g, n)); break;
  case 1: snprintf(out, cap, "%ldp", 1 + rnd(g, 16)); break;
  case 2: snprintf(out, cap, "E%d-a", k); break;
  case 3: snprintf(out, cap, "E%d-a+%ldp", k, 1 + rnd(g, GUARD + 2)); break;
  case 4: {
    static const char *b[] = {"+1", "+100", "+4095", "-1"};
    snprintf(out, cap, "%ldp%s", 1 + rnd(g, n), b[rnd(g, 4)]);
    break;
  }
  case 5: snprintf(out, cap, "0"); break;
  default:
    if (k >= 0 && rnd(g, 4) == 0) snprintf(out, cap, "E%d-a%s", k, farlen[rnd(g, 4)]);
    else snprintf(out, cap, "%s", HOST_LEN[rnd(g, NHOST_LEN)]);
    break;
  }
}

static const char *g_name(gen_t *g, const name_t *t, const int *w) {
  int i = pick(g->r, w);
  return t[i].name;
}

static void gen_program(src_t *r, int nops, bool with_mlock) {
  gen_t g = {.r = r};
  char a[96], l[96], l2[96], t[96];
  static const int wprot[] = {35, 15, 5, 15, 5, 5, 5, 2, 3, 1, 4, 0}; /* PROTS order */
  static const int wmprot[] = {30, 10, 0, 50, 0, 0, 5, 0, 0, 0, 0, 0};
  static const int wflags[] = {70, 12, 12, 6, 0};
  static const int wadv[] = {12, 10, 20, 12, 8, 5, 8, 5, 5, 8, 3, 0};
  static const int wrfl[] = {15, 35, 20, 10, 5, 5, 3, 2, 0};
  printf("# mmap_ops program: %d ops\n", nops);
  int nslots = 2 + (int)draw(r, 3);
  for (int i = 0; i < nslots; i++) {
    long n = SLOT_PAGES[draw(r, NSLOT)];
    printf("slot %ldp\n", n);
    g.sizes[g.nsizes++] = n;
  }
  for (int i = (int)draw(r, 3); i > 0; i--) {
    long n = MAP_PAGES[draw(r, NMAP)];
    printf("map %ldp %s %s\n", n, g_name(&g, PROTS, wmprot), g_name(&g, MFLAGS, wflags));
    g.sizes[g.nsizes++] = n;
  }
  static const int wop[] = {2, 4, 4, 3, 3, 15, 14, 15, 12, 3, 2, 10, 0};
  for (int i = 0; i < nops && !r->out; i++) {
    int kind = pick(r, wop);
    int k = (int)draw(r, 6);
    if (!with_mlock && (kind == O_MLOCK || kind == O_MUNLOCK)) kind = O_MPROTECT;
    switch (kind) {
    case O_SLOT: {
      long n = SLOT_PAGES[draw(r, NSLOT)];
      printf("slot %ldp\n", n);
      if (g.nsizes < 64) g.sizes[g.nsizes++] = n;
      break;
    }
    case O_MAP: {
      long n = MAP_PAGES[draw(r, NMAP)];
      if (draw(r, 5) == 0) printf("map %ldp+%u %s %s\n", n, 1 + draw(r, 4095), g_name(&g, PROTS, wmprot),
                                  g_name(&g, MFLAGS, wflags));
      else printf("map %ldp %s %s\n", n, g_name(&g, PROTS, wmprot), g_name(&g, MFLAGS, wflags));
      if (g.nsizes < 64) g.sizes[g.nsizes++] = n;
      break;
    }
    case O_FIXED: case O_NOREP: case O_HINT: {
      int ka = g_addr(&g, a, sizeof a, k) ? k : -1;
      if (draw(r, 3)) snprintf(l, sizeof l, "%ldp", 1 + rnd(&g, draw(r, 2) ? 8 : gsize(&g, k)));
      else g_len(&g, l, sizeof l, ka);
      printf("%s %s %s %s %s\n", OPNAMES[kind], a, l, g_name(&g, PROTS, wmprot), g_name(&g, MFLAGS, wflags));
      break;
    }
    case O_WRITE:
      snprintf(a, sizeof a, "A%d+%ldp", k, rnd(&g, gsize(&g, k)));
      snprintf(l, sizeof l, "%ldp", 1 + rnd(&g, gsize(&g, k)));
      printf("write %s %s\n", a, l);
      break;
    case O_MUNMAP: case O_MLOCK: case O_MUNLOCK:
      g_len(&g, l, sizeof l, g_addr(&g, a, sizeof a, k) ? k : -1);
      printf("%s %s %s\n", OPNAMES[kind], a, l);
      break;
    case O_MPROTECT:
      g_len(&g, l, sizeof l, g_addr(&g, a, sizeof a, k) ? k : -1);
      printf("mprotect %s %s %s\n", a, l, g_name(&g, PROTS, wprot));
      break;
    case O_MADVISE:
      g_len(&g, l, sizeof l, g_addr(&g, a, sizeof a, k) ? k : -1);
      printf("madvise %s %s %s\n", a, l, g_name(&g, ADVS, wadv));
      break;
    case O_MREMAP: {
      static const int wa[] = {50, 30, 20, 0};
      long n = gsize(&g, k);
      int ka = k;
      switch (pick(r, wa)) {
      case 0: snprintf(a, sizeof a, "A%d", k); break;
      case 1: snprintf(a, sizeof a, "A%d+%ldp", k, rnd(&g, n)); break;
      default: ka = g_addr(&g, a, sizeof a, k) ? k : -1; break;
      }
      static const int wl[] = {30, 30, 25, 15, 0};
      switch (pick(r, wl)) {
      case 0: if (ka >= 0) { snprintf(l, sizeof l, "E%d-a", k); break; } /* fall through */
      case 1: snprintf(l, sizeof l, "%ldp", 1 + rnd(&g, n)); break;
      case 2: snprintf(l, sizeof l, "%ldp", 1 + rnd(&g, 16)); break;
      default: g_len(&g, l, sizeof l, ka); break;
      }
      static const int wn[] = {25, 25, 15, 15, 20, 0};
      switch (pick(r, wn)) {
      case 0: snprintf(l2, sizeof l2, "%ldp", 1 + rnd(&g, n)); break;
      case 1: snprintf(l2, sizeof l2, "%ldp", n + 1 + rnd(&g, 2 * n)); break;
      case 2: snprintf(l2, sizeof l2, "%s", l); break;
      case 3: snprintf(l2, sizeof l2, "%ldp", 1 + rnd(&g, GUARD)); break;
      default: g_len(&g, l2, sizeof l2, ka); break;
      }
      const char *fl = g_name(&g, RFLAGS, wrfl);
      if (strstr(fl, "fix") || strstr(fl, "dun")) {
        int j = (int)draw(r, 6);
        long m = gsize(&g, j);
        static const int wt[] = {45, 20, 15, 10, 10, 0};
        switch (pick(r, wt)) {
        case 0: snprintf(t, sizeof t, "A%d+%ldp", j, rnd(&g, m)); break;
        case 1: snprintf(t, sizeof t, "A%d-%ldp", j, 1 + rnd(&g, GUARD)); break;
        case 2: snprintf(t, sizeof t, "E%d-%ldp", j, 1 + rnd(&g, 8)); break;
        case 3: snprintf(t, sizeof t, "%s", HOST_ADDR[rnd(&g, NHOST_ADDR)]); break;
        default: snprintf(t, sizeof t, "A%d+%ldp+1", j, rnd(&g, m)); break;
        }
        printf("mremap %s %s %s %s %s\n", a, l, l2, fl, t);
      } else {
        printf("mremap %s %s %s %s\n", a, l, l2, fl);
      }
      break;
    }
    default:
      break;
    }
  }
}

/* The systematic sweep: every op below with every hostile address and
 * length (and the ones relative to a slot's handle A0 and its end E0),
 * SWEEP_CHUNK ops a program. After each op the handle is mapped afresh. */
#define SWEEP_CHUNK 200
static const char *SWEEP_OPS[] = {"munmap @ L", "mprotect @ L none", "mprotect @ L rw",
                                  "madvise @ L dontneed", "madvise @ L normal", "madvise @ L bad",
                                  "mremap @ L L may", "mremap @ L 1p 0", "mremap @ 1p L may",
                                  "mlock @ L"}; /* @ the address, L the length */
static const char *SWEEP_REL_ADDR[] = {"A0", "A0+1", "A0+4095", "A0+1p", "A0-1p", "E0-1p", "E0", "A0-1T", "A0-64G"};
static const char *SWEEP_REL_LEN[] = {"1p", "E0-a", "E0-a+1p", "E0-a+64G", "E0-a+128G", "E0-a+1T"};
#define NSWEEP_OPS (sizeof SWEEP_OPS / sizeof *SWEEP_OPS)
#define NSWEEP_REL_ADDR (sizeof SWEEP_REL_ADDR / sizeof *SWEEP_REL_ADDR)
#define NSWEEP_REL_LEN (sizeof SWEEP_REL_LEN / sizeof *SWEEP_REL_LEN)

/* Prints chunk CHUNK of the sweep; false past the last one. */
static bool gen_sweep(long chunk, bool with_mlock) {
  long i = 0, lo = chunk * SWEEP_CHUNK, hi = lo + SWEEP_CHUNK;
  bool any = false;
  char line[256];
  for (size_t o = 0; o < NSWEEP_OPS; o++) {
    if (!with_mlock && strncmp(SWEEP_OPS[o], "mlock", 5) == 0) continue;
    for (size_t ai = 0; ai < NHOST_ADDR + NSWEEP_REL_ADDR; ai++) {
      bool rel = ai >= NHOST_ADDR;
      const char *a = rel ? SWEEP_REL_ADDR[ai - NHOST_ADDR] : HOST_ADDR[ai];
      for (size_t li = 0; li < NHOST_LEN + (rel ? NSWEEP_REL_LEN : 0); li++, i++) {
        const char *l = li < NHOST_LEN ? HOST_LEN[li] : SWEEP_REL_LEN[li - NHOST_LEN];
        if (i < lo || i >= hi) continue;
        if (!any) printf("# mmap_ops sweep chunk %ld\nslot 64p\nslot 496p\nmap 100p rw -\n", chunk);
        any = true;
        size_t n = 0;
        for (const char *c = SWEEP_OPS[o]; *c && n < sizeof line - 100; c++)
          n += (size_t)snprintf(line + n, sizeof line - n, "%s", *c == '@' ? a : *c == 'L' ? l : (char[2]){*c, 0});
        printf("%s\nfixed A0 E0-a rw -\n", line);
      }
    }
  }
  return any;
}

/* ---- main -------------------------------------------------------------------- */

static char prog_buf[1 << 20];

static size_t slurp(const char *path, char *buf, size_t cap) {
  FILE *f = fopen(path, "rb");
  if (!f) die("%s: %s", path, strerror(errno));
  size_t n = fread(buf, 1, cap - 1, f);
  fclose(f);
  buf[n] = '\0';
  return n;
}

/* 5-level paging: a mapping above 2^47 is possible. */
static bool probe_la57(void) {
  void *p = mmap((void *)(1UL << 48), PG, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
  if (p == MAP_FAILED) return false;
  munmap(p, PG);
  return true;
}

static bool cap_ipc_lock(void) {
  char buf[4096];
  int fd = open("/proc/self/status", O_RDONLY);
  if (fd < 0) return false;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return false;
  buf[n] = '\0';
  char *c = strstr(buf, "CapEff:");
  return c && (strtoull(c + 7, NULL, 16) >> 14 & 1);
}

static int run_program(char *text) {
  struct sigaction sa = {0};
  sa.sa_handler = on_fault;
  sa.sa_flags = SA_NODEFER;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGSEGV, &sa, NULL);
  sigaction(SIGBUS, &sa, NULL);
  signal(SIGALRM, on_alarm);
  read_maps();
  if (!maps_empty(0, LOW_EMPTY)) die("something is mapped below 16 MiB: the low zone is not empty");
  for (char *line = text; *line;) {
    char *nl = strchr(line, '\n');
    if (nl) *nl = '\0';
    while (*line == ' ' || *line == '\t') line++;
    size_t len = strlen(line);
    while (len && (line[len - 1] == ' ' || line[len - 1] == '\r')) line[--len] = '\0';
    if (*line && *line != '#') {
      op_t op;
      area_t *d1, *d2;
      if (!op_parse(line, &op)) {
        printf("#%d %s = skip malformed\n", cur_op, line);
      } else {
        compact();
        dump_all = false;
        if (shim_mode) alarm(op_timeout);
        run_op(&op, line, &d1, &d2);
        if (shim_mode) alarm(0);
        normalize();
        if (dump_all && (d1 || d2)) {
          for (unsigned i = 0; i < nareas; i++)
            if (areas[i].live) dump(&areas[i]);
        } else {
          if (d1 && d1->live) dump(d1);
          if (d2 && d2 != d1 && d2->live) dump(d2);
        }
      }
      fflush(stdout);
      if (!shim_mode && model_errors) {
        fprintf(stderr, "mmap_ops: the model and the kernel disagree at op #%d (a driver bug)\n", cur_op);
        return 3;
      }
      cur_op++;
    }
    if (!nl) break;
    line = nl + 1;
  }
  return 0;
}

int main(int argc, char **argv) {
  const char *gen = NULL, *bytes = NULL, *run = NULL;
  int nops = 150;
  bool with_mlock = false;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--gen") == 0 && i + 1 < argc) gen = argv[++i];
    else if (strcmp(argv[i], "--bytes") == 0 && i + 1 < argc) bytes = argv[++i];
    else if (strcmp(argv[i], "--run") == 0 && i + 1 < argc) run = argv[++i];
    else if (strcmp(argv[i], "--ops") == 0 && i + 1 < argc) nops = atoi(argv[++i]);
    else if (strcmp(argv[i], "--mlock") == 0) with_mlock = true;
    else if (strcmp(argv[i], "--shim") == 0) shim_mode = true;
    else if (strcmp(argv[i], "--release") == 0) release_mode = true;
    else if (strcmp(argv[i], "--op-timeout") == 0 && i + 1 < argc) op_timeout = (unsigned)atoi(argv[++i]);
    else die("usage: mmap_ops --gen SEED | --bytes FILE [--ops N] [--mlock] | --run FILE [--shim] [--release]");
  }
  setvbuf(stdout, out_buf, _IOFBF, sizeof out_buf);
  la57 = probe_la57();
  TS = la57 ? (1UL << 56) - PG : (1UL << 47) - PG;
  if (gen || bytes) {
    src_t r = {0};
    if (gen && strncmp(gen, "sweep", 5) == 0) {
      if (!gen_sweep(strtol(gen + 5, NULL, 10), with_mlock)) return 1; /* past the last chunk */
      fflush(stdout);
      return 0;
    }
    if (gen) {
      r.s = mix64(strtoull(gen, NULL, 0) + 1);
    } else {
      r.bytes = true;
      r.n = slurp(bytes, prog_buf, sizeof prog_buf);
      r.b = (const uint8_t *)prog_buf;
    }
    gen_program(&r, nops, with_mlock);
    fflush(stdout);
    return 0;
  }
  if (!run) die("nothing to do (--gen, --bytes or --run)");
  if (shim_mode && dlsym(RTLD_DEFAULT, "tiershim_stats_get") == NULL)
    die("--shim: tiershim is not active (LD_PRELOAD=%s)", getenv("LD_PRELOAD") ? getenv("LD_PRELOAD") : "");
  can_lock = cap_ipc_lock();
  char mm[32] = "";
  int fd = open("/proc/sys/vm/mmap_min_addr", O_RDONLY);
  if (fd >= 0) {
    ssize_t n = read(fd, mm, sizeof mm - 1);
    if (n > 0) mmap_min = strtoull(mm, NULL, 10);
    close(fd);
  }
  struct rlimit rl;
  getrlimit(RLIMIT_MEMLOCK, &rl);
  memlock_pages = rl.rlim_cur == RLIM_INFINITY ? UINT64_MAX / PG : rl.rlim_cur / PG;
  slurp(run, prog_buf, sizeof prog_buf);
  return run_program(prog_buf);
}
