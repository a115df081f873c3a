/* kmod_lazy: the module's deferred ("lazy") release from user space, in the
 * VM guest (guest/kmod.sh, guest/kmod_shim.sh). PASS/FAIL/INFO lines, exit
 * 1 on any FAIL.
 *
 *   probe            the ioctls on the raw device: INFO's TS_KMOD_F_LAZY;
 *                    a parked range still reads the process's own old
 *                    bytes; SETTLE cancels (a later drain leaves the new
 *                    data intact); the limit drains (pages read zero);
 *                    SETTLE with no range drains all; a VMA munmapped while
 *                    pending is dropped; fork; close with pages pending;
 *                    a quiet mm zaps at once; bad arguments
 *   stress T N       (under LD_PRELOAD with TIERSHIM_UNMAP_LAZY) T threads x
 *                    N operations on 64 KiB-1 MiB blocks: every block
 *                    carries a pattern checked before free and realloc,
 *                    calloc'd blocks must read zero; thread 0 forks halfway
 *                    and the child checks its blocks, allocates, frees and
 *                    checks on its own */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tiershim_uapi.h"
#include "probe.h"

#define PG 4096UL


/* ---- probe ----------------------------------------------------------------- */

static int lazy_ioc(int fd, uint64_t limit, uint32_t flags, struct ts_kmod_lazy *o) {
  *o = (struct ts_kmod_lazy){.limit = limit, .flags = flags};
  return ioctl(fd, TS_KMOD_IOC_LAZY, o);
}
static struct ts_kmod_lazy query(int fd) {
  struct ts_kmod_lazy o;
  lazy_ioc(fd, 0, TS_KMOD_LAZY_QUERY, &o);
  return o;
}
static int settle(int fd, uint64_t a, uint64_t len, struct ts_kmod_settle *o) {
  *o = (struct ts_kmod_settle){.addr = a, .len = len};
  return ioctl(fd, TS_KMOD_IOC_SETTLE, o);
}
static int release(int fd, char *p, size_t pages, uint32_t flags) {
  struct ts_kmod_range r = {(uintptr_t)p, pages * PG};
  struct ts_kmod_release rel = {.ranges = (uintptr_t)&r, .n = 1, .flags = flags};
  return ioctl(fd, TS_KMOD_IOC_RELEASE, &rel);
}
static uint8_t pat(size_t page) { return (uint8_t)(page * 7 + 3); }
static void fill(char *p, size_t pages) {
  for (size_t i = 0; i < pages; i++) memset(p + i * PG, pat(i), PG);
}
/* Pages [from, to) all of byte v (v < 0: their own pattern). */
static int pages_are(const char *p, size_t from, size_t to, int v) {
  for (size_t i = from; i < to; i++)
    for (size_t b = 0; b < PG; b += 64)
      if ((uint8_t)p[i * PG + b] != (v < 0 ? pat(i) : (uint8_t)v)) return 0;
  return 1;
}

static volatile int spin_stop;
static void *spinner(void *arg) {
  (void)arg;
  if (probe_pin(1)) return (void *)1;
  while (!spin_stop) __asm__ volatile("pause");
  return NULL;
}

static char *map(size_t pages) {
  char *p = mmap(NULL, pages * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) { perror("mmap"); exit(2); }
  return p;
}

static void bad_args(int fd, char *p) {
  struct ts_kmod_settle s;
  struct ts_kmod_lazy l;
  probe_check(settle(fd, (uintptr_t)p + 1, PG, &s) < 0 && errno == EINVAL, "SETTLE unaligned addr: EINVAL");
  probe_check(settle(fd, (uintptr_t)p, 100, &s) < 0 && errno == EINVAL, "SETTLE unaligned len: EINVAL");
  probe_check(settle(fd, (uintptr_t)p, 0, &s) < 0 && errno == EINVAL, "SETTLE addr without len: EINVAL");
  probe_check(settle(fd, ~0UL & ~(PG - 1), 2 * PG, &s) < 0 && errno == EINVAL, "SETTLE wrapping: EINVAL");
  probe_check(settle(fd, 0xffff888000000000UL, PG, &s) < 0 && errno == EINVAL, "SETTLE kernel address: EINVAL");
  s = (struct ts_kmod_settle){.addr = (uintptr_t)p, .len = PG, .flags = 1};
  probe_check(ioctl(fd, TS_KMOD_IOC_SETTLE, &s) < 0 && errno == EINVAL, "SETTLE flags 1: EINVAL");
  probe_check(lazy_ioc(fd, 1 << 20, 2, &l) < 0 && errno == EINVAL, "LAZY flags 2: EINVAL");
  probe_check(release(fd, p, 1, 2) < 0 && errno == EINVAL,
        "RELEASE flags 2 (unknown; what a module without lazy release says to any flag): EINVAL");
  probe_check(ioctl(fd, TS_KMOD_IOC_SETTLE, NULL) < 0 && errno == EFAULT, "SETTLE NULL: EFAULT");
  probe_check(ioctl(fd, TS_KMOD_IOC_LAZY, NULL) < 0 && errno == EFAULT, "LAZY NULL: EFAULT");
}

static int cmd_probe(void) {
  int fd = open(TS_KMOD_DEVICE, O_RDWR);
  if (fd < 0) { probe_check(0, "open: %s", strerror(errno)); return 1; }
  struct ts_kmod_info ki;
  ioctl(fd, TS_KMOD_IOC_INFO, &ki);
  probe_check(ki.flags & TS_KMOD_F_LAZY, "INFO advertises TS_KMOD_F_LAZY (flags %#x), abi %u", ki.flags, ki.abi);
  enum { N = 64 };
  char *p = map(N);
  fill(p, N);
  probe_check(release(fd, p, 4, TS_KMOD_REL_LAZY) == 0 && pages_are(p, 0, 4, 0),
        "RELEASE LAZY with limit 0 (lazy off): released at once, reads zero");
  struct ts_kmod_lazy l;
  probe_check(lazy_ioc(fd, 32 * PG, 0, &l) == 0 && l.limit == 32 * PG && l.pending == 0, "LAZY sets a 32-page limit");
  bad_args(fd, p);

  /* Keep the mm live on CPU 1: a zap now would cost a shootdown, so the
   * module parks. */
  if (sysconf(_SC_NPROCESSORS_ONLN) < 2 || probe_pin(0)) { probe_check(0, "needs 2 CPUs"); return 1; }
  pthread_t t;
  pthread_create(&t, NULL, spinner, NULL);
  usleep(100 * 1000);
  fill(p, N);
  int rc = release(fd, p, 16, TS_KMOD_REL_LAZY);
  l = query(fd);
  probe_check(rc == 1 && l.pending == 16 * PG && l.npending == 1, "RELEASE LAZY parks 16 pages (rc %d, pending %llu)", rc,
        (unsigned long long)l.pending);
  probe_check(pages_are(p, 0, 16, -1), "parked pages still read the process's own old bytes");
  struct ts_kmod_settle s;
  rc = settle(fd, (uintptr_t)p + 4 * PG, 4 * PG, &s);
  probe_check(rc == 0 && s.cancelled == 4 * PG && s.pending == 12 * PG && s.npending == 2,
        "SETTLE of 4 pages in the middle cancels them (cancelled %llu, pending %llu in %u)",
        (unsigned long long)s.cancelled, (unsigned long long)s.pending, s.npending);
  rc = settle(fd, (uintptr_t)p + 32 * PG, 4 * PG, &s);
  probe_check(rc == 0 && s.cancelled == 0 && s.pending == 12 * PG, "SETTLE of a range not pending: nothing cancelled");
  memset(p + 4 * PG, 0x5a, 4 * PG); /* reused */
  probe_check(settle(fd, 0, 0, &s) == 0 && s.pending == 0, "SETTLE with no range drains all");
  probe_check(pages_are(p, 0, 4, 0) && pages_are(p, 8, 16, 0), "drained pages read zero");
  probe_check(pages_are(p, 4, 8, 0x5a), "the settled pages keep what was written after the settle");
  probe_check(pages_are(p, 16, N, -1), "the neighbours are intact");

  fill(p, N);
  rc = release(fd, p, 24, TS_KMOD_REL_LAZY);
  int rc2 = release(fd, p + 32 * PG, 16, TS_KMOD_REL_LAZY); /* 24 + 16 > 32: drain */
  l = query(fd);
  probe_check(rc == 1 && rc2 == 0 && l.pending == 0, "over the limit: everything drained (rc %d then %d, pending %llu)", rc,
        rc2, (unsigned long long)l.pending);
  probe_check(pages_are(p, 0, 24, 0) && pages_are(p, 32, 48, 0) && pages_are(p, 24, 32, -1),
        "after the drain the released pages read zero, the others intact");

  fill(p, N);
  probe_check(release(fd, p + 8 * PG, 8, TS_KMOD_REL_LAZY) == 1, "parked again");
  munmap(p + 8 * PG, 8 * PG); /* behind the module's back: its VMA is gone */
  uint64_t dropped0 = query(fd).dropped;
  probe_check(settle(fd, 0, 0, &s) == 0 && query(fd).dropped - dropped0 == 8 * PG,
        "a pending range munmapped since is dropped at the drain, not zapped");
  p = mmap(p + 8 * PG, 8 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) - 8 * PG;

  /* A hole: all or nothing, the set untouched. */
  char *h = map(4);
  munmap(h + PG, PG);
  struct ts_kmod_range hr[2] = {{(uintptr_t)p, PG}, {(uintptr_t)h, 4 * PG}};
  if (h < p) { /* sorted, or it is EINVAL */
    hr[0] = (struct ts_kmod_range){(uintptr_t)h, 4 * PG};
    hr[1] = (struct ts_kmod_range){(uintptr_t)p, PG};
  }
  struct ts_kmod_release hrel = {.ranges = (uintptr_t)hr, .n = 2, .flags = TS_KMOD_REL_LAZY};
  fill(p, N);
  probe_check(ioctl(fd, TS_KMOD_IOC_RELEASE, &hrel) < 0 && errno == EFAULT && query(fd).pending == 0 &&
            pages_are(p, 0, 1, -1),
        "RELEASE LAZY over a hole: EFAULT, nothing parked or zapped");

  /* fork: the child shares the parked pages copy-on-write and sees the
   * parent's old bytes; its inherited file is refused. */
  fill(p, N);
  release(fd, p, 8, TS_KMOD_REL_LAZY);
  pid_t pid = fork();
  if (pid == 0) {
    int ok = pages_are(p, 0, 8, -1) && settle(fd, 0, 0, &s) < 0 && errno == EPERM;
    _exit(ok ? 0 : 1);
  }
  int st;
  waitpid(pid, &st, 0);
  probe_check(WIFEXITED(st) && WEXITSTATUS(st) == 0, "fork: the child reads the parked pages' old bytes; its inherited file: EPERM");
  probe_check(settle(fd, 0, 0, &s) == 0 && pages_are(p, 0, 8, 0), "the parent drains after the fork: zero");

  /* A second file with pages pending, closed: the set is dropped, the pages
   * stay the process's. */
  int fd2 = open(TS_KMOD_DEVICE, O_RDWR);
  lazy_ioc(fd2, 1 << 20, 0, &l);
  fill(p, N);
  rc = release(fd2, p + 40 * PG, 8, TS_KMOD_REL_LAZY);
  close(fd2);
  probe_check(rc == 1 && pages_are(p, 40, 48, -1), "close with pages pending: they stay mapped with their bytes");

  spin_stop = 1;
  pthread_join(t, NULL);
  /* Quiet: no other CPU runs the mm; the zap costs no shootdown, so it
   * happens at once (racy by nature: a CPU may still be switching). */
  usleep(200 * 1000);
  struct ts_kmod_stats s0, s1;
  ioctl(fd, TS_KMOD_IOC_STATS, &s0);
  fill(p, N);
  int zapped = 0;
  for (int i = 0; i < 5 && !zapped; i++) zapped = release(fd, p + 48 * PG, 8, TS_KMOD_REL_LAZY) == 0;
  ioctl(fd, TS_KMOD_IOC_STATS, &s1);
  probe_check(zapped && pages_are(p, 48, 56, 0), "an mm idle on the other CPU: RELEASE LAZY zaps at once");
  printf("INFO: quiet release: %llu shootdowns\n", (unsigned long long)(s1.flushes - s0.flushes));
  l = query(fd);
  printf("INFO: totals: parked %llu cancelled %llu drained %llu dropped %llu drains %llu\n",
         (unsigned long long)l.parked, (unsigned long long)l.cancelled, (unsigned long long)l.drained,
         (unsigned long long)l.dropped, (unsigned long long)l.drains);
  close(fd);
  return probe_failed;
}

/* ---- stress ---------------------------------------------------------------- */

enum { SLOTS = 12 };
typedef struct { unsigned char *p; size_t size; uint64_t seed; } blk_t;
static long ops_per_thread;
static _Atomic int bad;

static uint64_t rnd(uint64_t *s) {
  *s ^= *s << 13, *s ^= *s >> 7, *s ^= *s << 17;
  return *s;
}
/* One word every 256 bytes (all before the last byte), plus the last byte. */
static void bfill(blk_t *b) {
  for (size_t o = 0; o + 8 < b->size; o += 256) *(uint64_t *)(b->p + o) = b->seed ^ o;
  b->p[b->size - 1] = (unsigned char)b->seed;
}
static int bcheck(const blk_t *b) {
  for (size_t o = 0; o + 8 < b->size; o += 256)
    if (*(uint64_t *)(b->p + o) != (b->seed ^ o)) return 0;
  return b->p[b->size - 1] == (unsigned char)b->seed;
}
static int zero(const unsigned char *p, size_t n) {
  for (size_t o = 0; o < n; o += 64)
    if (*(const uint64_t *)(p + o)) return 0;
  return 1;
}
static size_t bsize(uint64_t *s) { return (64u << 10) + (rnd(s) % (1u << 20)); }

static int run_ops(blk_t *slot, uint64_t *s, long n) {
  for (long i = 0; i < n; i++) {
    blk_t *b = &slot[rnd(s) % SLOTS];
    if (b->p && !bcheck(b)) return 0;
    unsigned op = rnd(s) % 4;
    if (b->p && op == 0) { /* realloc: the kept prefix must survive */
      size_t ns = bsize(s), keep = ns < b->size ? ns : b->size;
      unsigned char *q = realloc(b->p, ns);
      if (!q) return 0;
      for (size_t o = 0; o + 8 < keep; o += 256)
        if (*(uint64_t *)(q + o) != (b->seed ^ o)) return 0;
      *b = (blk_t){q, ns, rnd(s)};
      bfill(b);
      continue;
    }
    free(b->p);
    b->p = NULL;
    size_t ns = bsize(s);
    if (op == 1) {
      b->p = calloc(1, ns);
      if (!b->p || !zero(b->p, ns)) return 0;
    } else {
      b->p = malloc(ns);
      if (!b->p) return 0;
    }
    b->size = ns;
    b->seed = rnd(s) | 1;
    bfill(b);
  }
  return 1;
}

static void *worker(void *arg) {
  long id = (long)arg;
  uint64_t s = 0x9e3779b97f4a7c15ull * (uint64_t)(id + 1);
  blk_t slot[SLOTS] = {{0}};
  long half = ops_per_thread / 2;
  if (!run_ops(slot, &s, half)) { bad++; return NULL; }
  if (id == 0) {
    pid_t pid = fork();
    if (pid == 0) { /* the child: its blocks, then work of its own */
      int ok = 1;
      for (int i = 0; i < SLOTS; i++) ok &= !slot[i].p || bcheck(&slot[i]);
      ok = ok && run_ops(slot, &s, 300);
      for (int i = 0; i < SLOTS; i++) free(slot[i].p);
      _exit(ok ? 0 : 3);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    probe_check(WIFEXITED(st) && WEXITSTATUS(st) == 0, "fork in the middle: the child's blocks intact and its own work correct (status %#x)", st);
  }
  if (!run_ops(slot, &s, ops_per_thread - half)) { bad++; return NULL; }
  for (int i = 0; i < SLOTS; i++) {
    if (slot[i].p && !bcheck(&slot[i])) bad++;
    free(slot[i].p);
  }
  return NULL;
}

static int cmd_stress(int threads, long ops) {
  pthread_t t[16];
  ops_per_thread = ops;
  if (threads > 16) threads = 16;
  for (long i = 0; i < threads; i++) pthread_create(&t[i], NULL, worker, (void *)i);
  for (int i = 0; i < threads; i++) pthread_join(t[i], NULL);
  probe_check(bad == 0, "stress %d threads x %ld operations: %d corruptions", threads, ops, (int)bad);
  return probe_failed;
}

int main(int argc, char **argv) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  if (argc == 2 && !strcmp(argv[1], "probe")) return cmd_probe() ? 1 : 0;
  if (argc == 4 && !strcmp(argv[1], "stress")) return cmd_stress(atoi(argv[2]), atol(argv[3])) ? 1 : 0;
  fprintf(stderr, "usage: kmod_lazy probe | stress THREADS OPS\n");
  return 2;
}
