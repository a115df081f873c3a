/* kmod_probe: the tiershim kernel module (/dev/tiershim, interface in
 * policy/unmap/kmod/tiershim_uapi.h) from user space, in the VM guest.
 * guest/kmod.sh loads the module and runs one subcommand at a time;
 * PASS/FAIL/INFO lines, exit 1 on any FAIL.
 *
 *   info        INFO: ABI 1, max_ranges, version, LUF off (6.1); prints flags
 *   release     RELEASE semantics: 64 separate ranges read back zero and
 *               their neighbours keep their data, Rss drops by exactly the
 *               bytes; adjacent ranges, a range across three VMAs, a shared
 *               memfd, 1024 ranges, THP (whole and split); STATS exact
 *   badargs     every invalid call fails with its errno and releases nothing
 *   fork        an inherited fd is refused (EPERM) in the child; reopening works
 *   slots       at most 256 files open at once (ENOSPC), then free again
 *   uidcap N    (device mode 0666) uid 1000 opens exactly N files, then
 *               ENOSPC; uid 1001 still opens; root is not capped; closing
 *               frees the count
 *   flags       prints luf=0|1 shootdowns=0|1 (no checks: kmod.sh loads the
 *               module with luf_symbol=... and compares)
 *   as UID CMD  runs CMD with uid and gid UID, no supplementary groups
 *               (busybox's setpriv cannot change ids)
 *   threads     two threads release at once, separate and the same ranges
 *   shootdowns  a thread on CPU 1 keeps the mm live there while CPU 0
 *               releases with madvise and with RELEASE: flushes counted
 *   enoent      /dev/tiershim is gone (run after rmmod) */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <grp.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tiershim_uapi.h"
#include "probe.h"

#define PG 4096UL
#define MIB (1UL << 20)


static void info(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  printf("INFO: ");
  vprintf(fmt, ap);
  printf("\n");
  va_end(ap);
}

static int dev_open(void) {
  int fd = open(TS_KMOD_DEVICE, O_RDWR | O_CLOEXEC);
  if (fd < 0) {
    printf("FAIL: open %s: %s\n", TS_KMOD_DEVICE, strerror(errno));
    exit(1);
  }
  return fd;
}

/* 0 or -errno; *out (may be NULL) gets the returned struct. */
static int rel(int fd, const struct ts_kmod_range *r, uint32_t n, struct ts_kmod_release *out) {
  struct ts_kmod_release q = { .ranges = (uintptr_t)r, .n = n, .bytes = 7, .flushes = 7 };
  int rc = ioctl(fd, TS_KMOD_IOC_RELEASE, &q) ? -errno : 0;
  if (out) *out = q;
  return rc;
}

static struct ts_kmod_stats stats(int fd) {
  struct ts_kmod_stats s;
  memset(&s, 0, sizeof(s));
  if (ioctl(fd, TS_KMOD_IOC_STATS, &s)) probe_check(0, "STATS: %s", strerror(errno));
  return s;
}

static struct ts_kmod_info kinfo(int fd) {
  struct ts_kmod_info i;
  memset(&i, 0xff, sizeof(i));
  if (ioctl(fd, TS_KMOD_IOC_INFO, &i)) probe_check(0, "INFO: %s", strerror(errno));
  return i;
}

static char *map(size_t len, int flags_extra) {
  char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | flags_extra, -1, 0);
  if (p == MAP_FAILED) {
    printf("FAIL: mmap %zu: %s\n", len, strerror(errno));
    exit(1);
  }
  return p;
}

/* 4 KiB pages only: Rss and mincore count exactly. */
static char *map4k(size_t pages) {
  char *p = map(pages * PG, 0);
  madvise(p, pages * PG, MADV_NOHUGEPAGE);
  return p;
}

static uint8_t pat(size_t page, unsigned seed) { return (uint8_t)(((page * 31 + seed) % 251) + 1); }

static void fill(char *p, size_t pages, unsigned seed) {
  for (size_t i = 0; i < pages; i++) memset(p + i * PG, pat(i, seed), PG);
}

static int page_is(const char *p, uint8_t v) {
  const uint64_t *w = (const uint64_t *)p, want = v * 0x0101010101010101ull;
  for (size_t i = 0; i < PG / 8; i++)
    if (w[i] != want) return 0;
  return 1;
}

static int resident(const void *p) {
  unsigned char v = 0;
  return mincore((void *)p, PG, &v) == 0 && (v & 1);
}

/* A field of /proc/self/smaps ("Rss", "AnonHugePages") for the VMA holding
 * addr, in kB; -1 when not found. */
static long smaps_kb(const void *addr, const char *field) {
  FILE *f = fopen("/proc/self/smaps", "r");
  char line[512];
  int in = 0;
  long kb = -1;
  size_t flen = strlen(field);
  if (!f) return -1;
  while (fgets(line, sizeof(line), f)) {
    unsigned long lo, hi;
    if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 && strchr(line, '-') < strchr(line, ' ')) {
      in = (uintptr_t)addr >= lo && (uintptr_t)addr < hi;
      continue;
    }
    if (in && !strncmp(line, field, flen) && line[flen] == ':') {
      kb = strtol(line + flen + 1, NULL, 10);
      break;
    }
  }
  fclose(f);
  return kb;
}

/* ---- info --------------------------------------------------------------- */

static int cmd_info(void) {
  int fd = dev_open();
  struct ts_kmod_info i = kinfo(fd);
  int nul = memchr(i.version, 0, sizeof(i.version)) != NULL;
  printf("INFO: abi=%u flags=0x%x shootdowns=%d luf=%d max_ranges=%u version=%s\n", i.abi, i.flags,
         !!(i.flags & TS_KMOD_F_SHOOTDOWNS), !!(i.flags & TS_KMOD_F_LUF), i.max_ranges,
         nul ? i.version : "(not terminated)");
  probe_check(i.abi == TS_KMOD_ABI, "abi %u == %u", i.abi, TS_KMOD_ABI);
  probe_check(i.max_ranges == TS_KMOD_MAX_RANGES, "max_ranges %u == %u", i.max_ranges, TS_KMOD_MAX_RANGES);
  probe_check(i.reserved == 0, "reserved is 0");
  probe_check(nul && i.version[0], "version is a non-empty string");
  probe_check(!(i.flags & TS_KMOD_F_LUF), "LUF not reported on this kernel (no LUF in 6.1)");
  probe_check(!(i.flags & ~(TS_KMOD_F_SHOOTDOWNS | TS_KMOD_F_LUF | TS_KMOD_F_LAZY)), "no unknown flags");
  probe_check(i.flags & TS_KMOD_F_LAZY, "lazy release advertised (TS_KMOD_F_LAZY)");
  struct ts_kmod_stats s = stats(fd);
  probe_check(!s.releases && !s.ranges && !s.bytes, "a new file's STATS start at 0");
  close(fd);
  return probe_failed;
}

/* ---- release ------------------------------------------------------------- */

/* 64 separate ranges of 1-3 pages, each followed by a gap of >= 1 page. */
static void separate_ranges(void) {
  enum { N = 64, PAGES = 4 * N };
  int fd = dev_open();
  char *p = map4k(PAGES);
  struct ts_kmod_range r[N];
  uint64_t want = 0;
  int released[PAGES] = { 0 };
  fill(p, PAGES, 1);
  for (int k = 0; k < N; k++) {
    size_t len = 1 + k % 3;
    r[k].addr = (uintptr_t)(p + 4 * k * PG);
    r[k].len = len * PG;
    want += len * PG;
    for (size_t j = 0; j < len; j++) released[4 * k + j] = 1;
  }
  long rss0 = smaps_kb(p, "Rss");
  struct ts_kmod_release out;
  int rc = rel(fd, r, N, &out);
  long rss1 = smaps_kb(p, "Rss");
  probe_check(rc == 0, "RELEASE of 64 separate ranges (rc=%d)", rc);
  probe_check(out.bytes == want, "bytes %llu == %llu", (unsigned long long)out.bytes, (unsigned long long)want);
  int zero_ok = 1, kept_ok = 1, res_ok = 1;
  for (size_t i = 0; i < PAGES; i++) {
    if (released[i]) {
      res_ok &= !resident(p + i * PG);
      zero_ok &= page_is(p + i * PG, 0);
    } else {
      kept_ok &= page_is(p + i * PG, pat(i, 1));
    }
  }
  probe_check(res_ok, "released pages are no longer resident (mincore)");
  probe_check(zero_ok, "released pages read back as zero");
  probe_check(kept_ok, "the pages between the ranges keep their data");
  probe_check(rss0 - rss1 == (long)(want / 1024), "smaps Rss dropped by %ld kB (want %llu kB)", rss0 - rss1,
        (unsigned long long)want / 1024);
  struct ts_kmod_stats s = stats(fd);
  probe_check(s.releases == 1 && s.ranges == N && s.bytes == want,
        "STATS releases=%llu ranges=%llu bytes=%llu", (unsigned long long)s.releases,
        (unsigned long long)s.ranges, (unsigned long long)s.bytes);
  munmap(p, PAGES * PG);
  close(fd);
}

/* 64 adjacent one-page ranges (coalesced into one zap), then one range
 * across three VMAs (the middle one read-only). */
static void adjacent_and_vmas(void) {
  int fd = dev_open();
  char *p = map4k(96);
  struct ts_kmod_range r[64];
  fill(p, 96, 2);
  for (int k = 0; k < 64; k++) r[k] = (struct ts_kmod_range){ (uintptr_t)(p + (16 + k) * PG), PG };
  struct ts_kmod_release out;
  int rc = rel(fd, r, 64, &out);
  int ok = rc == 0 && out.bytes == 64 * PG;
  for (size_t i = 0; i < 96; i++)
    ok &= (i >= 16 && i < 80) ? page_is(p + i * PG, 0) : page_is(p + i * PG, pat(i, 2));
  probe_check(ok, "64 adjacent ranges: released as one, neighbours intact (rc=%d)", rc);

  fill(p, 96, 3);
  mprotect(p + 40 * PG, 8 * PG, PROT_READ);  /* three VMAs now */
  struct ts_kmod_range one = { (uintptr_t)(p + 32 * PG), 24 * PG };
  rc = rel(fd, &one, 1, &out);
  ok = rc == 0 && out.bytes == 24 * PG;
  for (size_t i = 0; i < 96; i++)
    ok &= (i >= 32 && i < 56) ? page_is(p + i * PG, 0) : page_is(p + i * PG, pat(i, 3));
  probe_check(ok, "a range across three VMAs is released whole (rc=%d)", rc);
  munmap(p, 96 * PG);
  close(fd);
}

/* MAP_SHARED memfd: like MADV_DONTNEED, the mapping goes, the data stays. */
static void shared_memfd(void) {
  int fd = dev_open();
  int mfd = (int)syscall(SYS_memfd_create, "kmod_probe", 0);
  if (mfd < 0 || ftruncate(mfd, 16 * PG)) {
    info("memfd_create: %s: shared mapping case skipped", strerror(errno));
    close(fd);
    return;
  }
  char *p = mmap(NULL, 16 * PG, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
  fill(p, 16, 4);
  struct ts_kmod_range r = { (uintptr_t)(p + 4 * PG), 4 * PG };
  long rss0 = smaps_kb(p, "Rss");
  int rc = rel(fd, &r, 1, NULL);
  long rss1 = smaps_kb(p, "Rss");  /* (mincore would count the page cache) */
  int ok = rc == 0 && rss0 - rss1 == 16;
  for (size_t i = 0; i < 16; i++) ok &= page_is(p + i * PG, pat(i, 4));
  probe_check(ok, "shared memfd: 4 pages unmapped (Rss -%ld kB), the file keeps the data (rc=%d)", rss0 - rss1, rc);
  munmap(p, 16 * PG);
  close(mfd);
  close(fd);
}

/* The largest vector: 1024 single pages, one gap page after each. */
static void max_vector(void) {
  enum { N = TS_KMOD_MAX_RANGES };
  int fd = dev_open();
  char *p = map4k(2 * N);
  struct ts_kmod_range *r = calloc(N, sizeof(*r));
  fill(p, 2 * N, 5);
  for (size_t k = 0; k < N; k++) r[k] = (struct ts_kmod_range){ (uintptr_t)(p + 2 * k * PG), PG };
  struct ts_kmod_release out;
  int rc = rel(fd, r, N, &out);
  int ok = rc == 0 && out.bytes == (uint64_t)N * PG;
  for (size_t i = 0; i < 2 * N; i++) ok &= page_is(p + i * PG, (i & 1) ? pat(i, 5) : 0);
  probe_check(ok, "RELEASE of %u ranges (rc=%d)", N, rc);
  struct ts_kmod_stats s = stats(fd);
  probe_check(s.releases == 1 && s.ranges == N && s.bytes == (uint64_t)N * PG, "STATS after %u ranges exact", N);
  free(r);
  munmap(p, 2 * N * PG);
  close(fd);
}

/* A 2 MiB-aligned, THP-backed region of its own VMA; NULL without THP. */
static char *thp_region(char **base) {
  char *m = map(4 * MIB, 0);
  char *a = (char *)(((uintptr_t)m + 2 * MIB - 1) & ~(2 * MIB - 1));
  madvise(a, 2 * MIB, MADV_HUGEPAGE);
  memset(a, 0x5a, 2 * MIB);
  *base = m;
  if (smaps_kb(a, "AnonHugePages") < 2048) {
    munmap(m, 4 * MIB);
    return NULL;
  }
  return a;
}

static void thp(void) {
  int fd = dev_open();
  char *m1, *m2;
  char *a = thp_region(&m1);
  if (!a) {
    info("no THP for a 2 MiB region (AnonHugePages 0): THP cases skipped");
    close(fd);
    return;
  }
  long rss0 = smaps_kb(a, "Rss");
  struct ts_kmod_range r = { (uintptr_t)a, 2 * MIB };
  int rc = rel(fd, &r, 1, NULL);
  long rss1 = smaps_kb(a, "Rss"), huge1 = smaps_kb(a, "AnonHugePages");
  probe_check(rc == 0 && page_is(a, 0) && page_is(a + 2 * MIB - PG, 0),
        "THP: the whole 2 MiB range released, reads zero (rc=%d)", rc);
  probe_check(rss0 - rss1 == 2048 && huge1 == 0, "THP: Rss dropped by %ld kB (want 2048), AnonHugePages %ld kB",
        rss0 - rss1, huge1);
  munmap(m1, 4 * MIB);

  char *b = thp_region(&m2);
  if (!b) {
    info("no second THP: split case skipped");
    close(fd);
    return;
  }
  r = (struct ts_kmod_range){ (uintptr_t)(b + PG), PG };
  rss0 = smaps_kb(b, "Rss");
  rc = rel(fd, &r, 1, NULL);
  rss1 = smaps_kb(b, "Rss");
  int ok = rc == 0 && page_is(b + PG, 0);
  for (size_t i = 0; i < 512; i++) ok &= i == 1 || page_is(b + i * PG, 0x5a);
  probe_check(ok, "THP: one 4 KiB page inside it released (split), the other 511 intact (rc=%d)", rc);
  probe_check(rss0 - rss1 == 4, "THP split: Rss dropped by %ld kB (want 4)", rss0 - rss1);
  munmap(m2, 4 * MIB);
  close(fd);
}

static int cmd_release(void) {
  separate_ranges();
  adjacent_and_vmas();
  shared_memfd();
  max_vector();
  thp();
  return probe_failed;
}

/* ---- badargs ------------------------------------------------------------- */

static int fd_g;
static char *victim;  /* one page that a wrong partial release would zero */

static void expect(const char *what, int want, int rc) {
  int intact = page_is(victim, 0xa5) && resident(victim);
  probe_check(rc == -want && intact, "%s: %s (got %s), nothing released", what, strerror(want),
        rc ? strerror(-rc) : "success");
}

/* The victim and a bad range, in address order (else the call is just
 * unsorted): the valid range must survive the failed call. */
static void bad2(const char *what, int want, uint64_t addr, uint64_t len) {
  struct ts_kmod_range v = { (uintptr_t)victim, PG }, b = { addr, len };
  struct ts_kmod_range r[2] = { v, b };
  if (addr < v.addr) {
    r[0] = b;
    r[1] = v;
  }
  expect(what, want, rel(fd_g, r, 2, NULL));
}

static void bad_header(void) {
  struct ts_kmod_range r[2] = { { (uintptr_t)victim, PG }, { (uintptr_t)victim + 2 * PG, PG } };
  struct ts_kmod_release q = { .ranges = (uintptr_t)r, .n = 0 };
  expect("n = 0", EINVAL, ioctl(fd_g, TS_KMOD_IOC_RELEASE, &q) ? -errno : 0);
  q.n = TS_KMOD_MAX_RANGES + 1;
  expect("n = max_ranges + 1", EINVAL, ioctl(fd_g, TS_KMOD_IOC_RELEASE, &q) ? -errno : 0);
  q.n = 1;
  q.flags = 2; /* 1 is TS_KMOD_REL_LAZY (kmod_lazy.c tests it) */
  expect("flags = 2 (unknown)", EINVAL, ioctl(fd_g, TS_KMOD_IOC_RELEASE, &q) ? -errno : 0);
  q.flags = 0;
  q.ranges = 0;
  expect("NULL vector pointer", EFAULT, ioctl(fd_g, TS_KMOD_IOC_RELEASE, &q) ? -errno : 0);
  expect("NULL argument", EFAULT, ioctl(fd_g, TS_KMOD_IOC_RELEASE, NULL) ? -errno : 0);
  /* The argument itself read-only: the results could not be written back. */
  struct ts_kmod_release *ro = (struct ts_kmod_release *)map(PG, 0);
  *ro = (struct ts_kmod_release){ .ranges = (uintptr_t)r, .n = 1 };
  mprotect(ro, PG, PROT_READ);
  expect("read-only argument", EFAULT, ioctl(fd_g, TS_KMOD_IOC_RELEASE, ro) ? -errno : 0);
  munmap(ro, PG);
}

static void bad_vector(void) {
  char *v = map(2 * PG, 0);
  munmap(v + PG, PG);
  struct ts_kmod_range *last = (struct ts_kmod_range *)(v + PG) - 1;
  *last = (struct ts_kmod_range){ (uintptr_t)victim, PG };
  expect("vector pointer to unmapped memory", EFAULT, rel(fd_g, (void *)(v + PG), 1, NULL));
  expect("vector running into unmapped memory", EFAULT, rel(fd_g, last, 2, NULL));
  munmap(v, PG);
}

static void bad_ranges(void) {
  uint64_t v = (uintptr_t)victim;
  bad2("unaligned addr", EINVAL, v + 2 * PG + 8, PG);
  bad2("unaligned len", EINVAL, v + 2 * PG, PG + 8);
  bad2("len 0", EINVAL, v + 2 * PG, 0);
  bad2("wrapping range", EINVAL, 0xfffffffffffff000ull, 2 * PG);
  bad2("kernel address 0xffff888000000000", EINVAL, 0xffff888000000000ull, PG);
  struct ts_kmod_range r[2] = { { v + 2 * PG, PG }, { v, PG } };
  expect("unsorted ranges", EINVAL, rel(fd_g, r, 2, NULL));
  r[0] = (struct ts_kmod_range){ v, 2 * PG };
  r[1] = (struct ts_kmod_range){ v + PG, PG };
  expect("overlapping ranges", EINVAL, rel(fd_g, r, 2, NULL));
  r[1] = r[0];
  expect("the same range twice", EINVAL, rel(fd_g, r, 2, NULL));
}

static void bad_mappings(void) {
  char *h = map4k(8);
  munmap(h + 3 * PG, PG);
  bad2("a range with an unmapped hole", EFAULT, (uintptr_t)(h + 2 * PG), 3 * PG);
  munmap(h, 8 * PG);
  bad2("a range over a munmapped area", EFAULT, (uintptr_t)h, 4 * PG);
  char *l = map4k(4);
  memset(l, 1, 4 * PG);
  if (mlock(l, 4 * PG) == 0) {
    bad2("an mlocked range", EINVAL, (uintptr_t)l, 4 * PG);
    probe_check(page_is(l, 1), "the mlocked pages keep their data");
  } else {
    info("mlock: %s: mlocked case skipped", strerror(errno));
  }
  munmap(l, 4 * PG);
}

static void bad_special(void) {
  char *hp = mmap(NULL, 2 * MIB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB, -1, 0);
  if (hp != MAP_FAILED) {
    hp[0] = 1;
    bad2("a hugetlb range", EINVAL, (uintptr_t)hp, 2 * MIB);
    probe_check(hp[0] == 1, "the hugetlb page keeps its data");
    munmap(hp, 2 * MIB);
  } else {
    info("MAP_HUGETLB: %s: hugetlb case skipped", strerror(errno));
  }
  FILE *f = fopen("/proc/self/maps", "r");
  char line[256];
  unsigned long lo = 0, hi = 0;
  while (f && fgets(line, sizeof(line), f))
    if (strstr(line, "[vvar]") && sscanf(line, "%lx-%lx", &lo, &hi) == 2) break;
  if (f) fclose(f);
  if (hi > lo) bad2("[vvar] (a VM_PFNMAP|VM_IO mapping)", EINVAL, lo, hi - lo);
  else info("no [vvar] mapping: PFN map case skipped");
}

static void bad_uffd(void) {
  int u = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
  struct uffdio_api api = { .api = UFFD_API };
  if (u < 0 || ioctl(u, UFFDIO_API, &api)) {
    info("userfaultfd: %s: userfaultfd case skipped", strerror(errno));
    if (u >= 0) close(u);
    return;
  }
  char *p = map4k(4);
  memset(p, 2, 4 * PG);
  struct uffdio_register reg = { .range = { (uintptr_t)p, 4 * PG }, .mode = UFFDIO_REGISTER_MODE_MISSING };
  if (ioctl(u, UFFDIO_REGISTER, &reg) == 0) {
    bad2("a userfaultfd-armed range", EINVAL, (uintptr_t)p, 4 * PG);
    probe_check(page_is(p, 2), "the userfaultfd-armed pages keep their data");
  } else {
    info("UFFDIO_REGISTER: %s: userfaultfd case skipped", strerror(errno));
  }
  close(u);
  munmap(p, 4 * PG);
}

static void bad_ioctls(void) {
  expect("unknown ioctl number", ENOTTY, ioctl(fd_g, _IO(TS_KMOD_IOC_MAGIC, 9)) ? -errno : 0);
  uint32_t x = 0;
  expect("INFO with the wrong size", ENOTTY, ioctl(fd_g, _IOR(TS_KMOD_IOC_MAGIC, 0, uint32_t), &x) ? -errno : 0);
  expect("INFO to a NULL pointer", EFAULT, ioctl(fd_g, TS_KMOD_IOC_INFO, NULL) ? -errno : 0);
  expect("STATS to a NULL pointer", EFAULT, ioctl(fd_g, TS_KMOD_IOC_STATS, NULL) ? -errno : 0);
}

static int cmd_badargs(void) {
  fd_g = dev_open();
  victim = map4k(4);
  memset(victim, 0xa5, PG);
  memset(victim + PG, 0xa5, 3 * PG);
  bad_header();
  bad_vector();
  bad_ranges();
  bad_mappings();
  bad_special();
  bad_uffd();
  bad_ioctls();
  struct ts_kmod_stats s = stats(fd_g);
  probe_check(s.releases == 0 && s.ranges == 0 && s.bytes == 0, "STATS count no failed call (releases=%llu)",
        (unsigned long long)s.releases);
  struct ts_kmod_range ok = { (uintptr_t)victim, PG };
  int rc = rel(fd_g, &ok, 1, NULL);
  probe_check(rc == 0 && page_is(victim, 0), "after all that, a valid RELEASE still works (rc=%d)", rc);
  close(fd_g);
  return probe_failed;
}

/* ---- fork ----------------------------------------------------------------- */

static int child_checks(int fd, char *p) {
  struct ts_kmod_range r = { (uintptr_t)p, PG };
  struct ts_kmod_info i;
  struct ts_kmod_stats s;
  int bad = 0;
  bad |= !(rel(fd, &r, 1, NULL) == -EPERM);
  bad |= !(ioctl(fd, TS_KMOD_IOC_INFO, &i) == -1 && errno == EPERM);
  bad |= !(ioctl(fd, TS_KMOD_IOC_STATS, &s) == -1 && errno == EPERM);
  bad |= !page_is(p, 0x3c);
  int fd2 = open(TS_KMOD_DEVICE, O_RDWR);
  bad |= fd2 < 0 || rel(fd2, &r, 1, NULL) != 0 || !page_is(p, 0);
  return bad;
}

static int cmd_fork(void) {
  int fd = dev_open();
  char *p = map4k(2);
  memset(p, 0x3c, 2 * PG);
  pid_t pid = fork();
  if (pid == 0) _exit(child_checks(fd, p));
  int st = 0;
  waitpid(pid, &st, 0);
  probe_check(WIFEXITED(st) && WEXITSTATUS(st) == 0,
        "child: RELEASE/INFO/STATS on the inherited fd fail with EPERM, its own fd works");
  probe_check(page_is(p, 0x3c), "the parent's pages are untouched by the child");
  struct ts_kmod_range r = { (uintptr_t)p, PG };
  probe_check(rel(fd, &r, 1, NULL) == 0 && page_is(p, 0), "the parent's fd still works");
  close(fd);
  return probe_failed;
}

/* ---- slots ---------------------------------------------------------------- */

static int cmd_slots(void) {
  static int fds[400];
  int n = 0, err = 0;
  while (n < 400) {
    int fd = open(TS_KMOD_DEVICE, O_RDWR | O_CLOEXEC);
    if (fd < 0) {
      err = errno;
      break;
    }
    fds[n++] = fd;
  }
  info("%d files open before the table was full (%s)", n, err ? strerror(err) : "no error");
  probe_check(err == ENOSPC && n >= 200 && n <= 256, "opens beyond the slot table fail with ENOSPC");
  for (int i = 0; i < n; i++) close(fds[i]);
  int fd = open(TS_KMOD_DEVICE, O_RDWR);
  probe_check(fd >= 0, "after closing them, open works again");
  if (fd >= 0) close(fd);
  return probe_failed;
}

/* ---- uidcap ----------------------------------------------------------------- */

/* Opens /dev/tiershim as euid `uid` until it fails or `max` are open; the
 * fds go to fds, *err gets the errno that stopped it (0: none). */
static int open_as(uid_t uid, int *fds, int max, int *err) {
  int n = 0;
  *err = 0;
  if (seteuid(uid) != 0) {
    *err = errno;
    return 0;
  }
  for (; n < max; n++) {
    fds[n] = open(TS_KMOD_DEVICE, O_RDWR | O_CLOEXEC);
    if (fds[n] < 0) {
      *err = errno;
      break;
    }
  }
  if (seteuid(0) != 0) {
    printf("FAIL: seteuid(0): %s\n", strerror(errno));
    exit(1);
  }
  return n;
}

static void close_all(int *fds, int n) {
  for (int i = 0; i < n; i++) close(fds[i]);
}

static int cmd_uidcap(int cap) {
  static int a[300], b[4], r[300];
  int ea, eb, er;
  int na = open_as(1000, a, 256, &ea);
  info("uid 1000: %d files open, then %s", na, ea ? strerror(ea) : "no error");
  probe_check(na == cap && ea == ENOSPC, "uid 1000 opens %d files (the cap), the next open fails with ENOSPC", cap);
  int nb = open_as(1001, b, 1, &eb);
  probe_check(nb == 1, "uid 1001 still opens one (the cap is per uid): %s", eb ? strerror(eb) : "ok");
  int want = 256 - na - nb < cap + 8 ? 256 - na - nb : cap + 8;
  int nr = open_as(0, r, want, &er);
  probe_check(nr == want, "root opens %d more, beyond the cap (root is exempt): %d (%s)", want, nr,
        er ? strerror(er) : "ok");
  close_all(r, nr);
  close_all(b, nb);
  close_all(a, na);
  na = open_as(1000, a, cap, &ea);
  probe_check(na == cap, "after closing them, uid 1000 opens %d again: %d", cap, na);
  close_all(a, na);
  return probe_failed;
}

static int cmd_flags(void) {
  int fd = dev_open();
  struct ts_kmod_info i = kinfo(fd);
  printf("luf=%d shootdowns=%d\n", !!(i.flags & TS_KMOD_F_LUF), !!(i.flags & TS_KMOD_F_SHOOTDOWNS));
  close(fd);
  return 0;
}

/* ---- threads -------------------------------------------------------------- */

enum { T_ITERS = 3000, T_PAGES = 16 };
static int fd_t;
static char *shared_p;  /* released by both threads at once */

/* Even pages released, odd ones keep seed's pattern. */
static int release_evens(char *p, int check_zero) {
  struct ts_kmod_range r[T_PAGES / 2];
  for (int k = 0; k < T_PAGES / 2; k++) r[k] = (struct ts_kmod_range){ (uintptr_t)(p + 2 * k * PG), PG };
  if (rel(fd_t, r, T_PAGES / 2, NULL)) return 0;
  for (int k = 0; check_zero && k < T_PAGES / 2; k++)
    if (!page_is(p + 2 * k * PG, 0)) return 0;
  return 1;
}

static void *worker(void *arg) {
  long id = (long)arg, bad = 0;
  char *own = map4k(T_PAGES);
  for (int it = 0; it < T_ITERS; it++) {
    fill(own, T_PAGES, (unsigned)(id * 7 + it));
    bad += !release_evens(own, 1);
    for (int i = 1; i < T_PAGES; i += 2) bad += !page_is(own + i * PG, pat(i, (unsigned)(id * 7 + it)));
    bad += !release_evens(shared_p, 1);
    if (it % 64 == 0)
      for (int i = 1; i < T_PAGES; i += 2) bad += !page_is(shared_p + i * PG, pat(i, 99));
  }
  munmap(own, T_PAGES * PG);
  return (void *)bad;
}

static int cmd_threads(void) {
  fd_t = dev_open();
  shared_p = map4k(T_PAGES);
  fill(shared_p, T_PAGES, 99);
  struct ts_kmod_stats s0 = stats(fd_t);
  pthread_t t[2];
  for (long i = 0; i < 2; i++) pthread_create(&t[i], NULL, worker, (void *)i);
  long bad = 0;
  for (int i = 0; i < 2; i++) {
    void *b;
    pthread_join(t[i], &b);
    bad += (long)b;
  }
  struct ts_kmod_stats s1 = stats(fd_t);
  probe_check(bad == 0, "2 threads x %d iterations, separate and shared ranges: %ld bad results", T_ITERS, bad);
  uint64_t calls = 2ull * 2 * T_ITERS;
  probe_check(s1.releases - s0.releases == calls && s1.ranges - s0.ranges == calls * T_PAGES / 2 &&
            s1.bytes - s0.bytes == calls * T_PAGES / 2 * PG,
        "STATS counted all %llu concurrent calls exactly", (unsigned long long)calls);
  int kept = 1;
  for (int i = 1; i < T_PAGES; i += 2) kept &= page_is(shared_p + i * PG, pat(i, 99));
  probe_check(kept, "the shared region's unreleased pages are intact");
  close(fd_t);
  return probe_failed;
}

/* ---- shootdowns ----------------------------------------------------------- */

static volatile int spin_stop;


/* Keeps the mm loaded (and not lazy) on CPU 1: every flush for it is remote. */
static void *spinner(void *arg) {
  volatile char *p = arg;
  if (probe_pin(1)) return (void *)1;
  while (!spin_stop) (void)p[0];
  return NULL;
}

/* Sum of the TLB shootdown interrupts received, all CPUs (/proc/interrupts). */
static long long tlb_irqs(void) {
  FILE *f = fopen("/proc/interrupts", "r");
  char line[1024];
  long long sum = -1;
  while (f && fgets(line, sizeof(line), f)) {
    char *s = line;
    while (*s == ' ') s++;
    if (strncmp(s, "TLB:", 4)) continue;
    sum = 0;
    for (s += 4;;) {
      char *e;
      long long v = strtoll(s, &e, 10);
      if (e == s) break;
      sum += v;
      s = e;
    }
  }
  if (f) fclose(f);
  return sum;
}

enum { S_N = 64, S_ROUNDS = 8 };

/* One round of mode 0: madvise x64, 1: RELEASE iov[64] separate,
 * 2: RELEASE iov[64] adjacent. Returns the call's own flushes (RELEASE). */
static uint64_t shoot_round(int fd, char *p, int mode) {
  struct ts_kmod_range r[S_N];
  size_t stride = mode == 2 ? 1 : 2;
  for (size_t k = 0; k < S_N; k++) {
    p[(1 + k * stride) * PG] = 1;  /* populate, so the zap clears a pte */
    r[k] = (struct ts_kmod_range){ (uintptr_t)(p + (1 + k * stride) * PG), PG };
  }
  if (mode == 0) {
    for (size_t k = 0; k < S_N; k++) madvise((void *)(uintptr_t)r[k].addr, PG, MADV_DONTNEED);
    return 0;
  }
  struct ts_kmod_release out;
  if (rel(fd, r, S_N, &out)) probe_check(0, "RELEASE in the shootdown test: %s", strerror(errno));
  return out.flushes;
}

static int cmd_shootdowns(void) {
  static const char *const names[] = { "madvise x64", "RELEASE iov[64] separate", "RELEASE iov[64] adjacent" };
  int fd = dev_open();
  struct ts_kmod_info ki = kinfo(fd);
  int counted = !!(ki.flags & TS_KMOD_F_SHOOTDOWNS);
  if (sysconf(_SC_NPROCESSORS_ONLN) < 2 || probe_pin(0)) {
    info("fewer than 2 CPUs: shootdown test skipped");
    close(fd);
    return probe_failed;
  }
  char *p = map4k(2 * S_N + 2);
  p[0] = 1;
  pthread_t t;
  pthread_create(&t, NULL, spinner, p);
  usleep(200 * 1000);  /* let it settle on CPU 1 */
  uint64_t fl[3], own[3] = { 0, 0, 0 };
  long long irq[3];
  for (int mode = 0; mode < 3; mode++) {
    struct ts_kmod_stats s0 = stats(fd);
    long long i0 = tlb_irqs();
    for (int round = 0; round < S_ROUNDS; round++) own[mode] += shoot_round(fd, p, mode);
    fl[mode] = stats(fd).flushes - s0.flushes;
    irq[mode] = tlb_irqs() - i0;
  }
  spin_stop = 1;
  void *rc;
  pthread_join(t, &rc);
  probe_check(rc == NULL, "the spinner ran pinned to CPU 1");
  printf("INFO: shootdown rounds per call of 64 pages (mean of %d rounds; kmod flag %s):\n", S_ROUNDS,
         counted ? "SHOOTDOWNS set" : "SHOOTDOWNS not set: module counts 0");
  for (int m = 0; m < 3; m++)
    printf("INFO:   %-26s %6.1f flushes (module), %6.1f TLB IPIs (/proc/interrupts)\n", names[m],
           (double)fl[m] / S_ROUNDS, (double)irq[m] / S_ROUNDS);
  printf("INFO: madvise x64: %.1f flushes; RELEASE iov[64]: %.1f flushes; RELEASE iov[64] adjacent: %.1f flushes\n",
         (double)fl[0] / S_ROUNDS, (double)fl[1] / S_ROUNDS, (double)fl[2] / S_ROUNDS);
  if (counted) {
    probe_check(fl[0] >= S_ROUNDS * S_N / 2, "madvise flushes are counted (%llu for %d calls)",
          (unsigned long long)fl[0], S_ROUNDS * S_N);
    /* At most one per range, not "at most madvise's count": a madvise finds the
     * spinner's CPU lazy now and then (a preempted vCPU on a busy host) and
     * sends no IPI, so its count is the noisier of the two (491 of 512 once). */
    probe_check(fl[1] > 0 && fl[1] <= (uint64_t)S_ROUNDS * S_N,
          "RELEASE of separate ranges: at most one flush per range (%llu for %d ranges)",
          (unsigned long long)fl[1], S_ROUNDS * S_N);
    probe_check(fl[2] <= 2 * S_ROUNDS, "RELEASE of adjacent ranges: coalesced, about one flush per call (%llu)",
          (unsigned long long)fl[2]);
    /* STATS may also hold a flush between calls (NUMA balancing scans). */
    probe_check(own[1] <= fl[1] && own[2] <= fl[2] && fl[1] - own[1] <= 4 && fl[2] - own[2] <= 4,
          "RELEASE's own flushes field agrees with STATS (%llu/%llu, %llu/%llu)", (unsigned long long)own[1],
          (unsigned long long)fl[1], (unsigned long long)own[2], (unsigned long long)fl[2]);
  }
  munmap(p, (2 * S_N + 2) * PG);
  close(fd);
  return probe_failed;
}

/* ---- enoent ---------------------------------------------------------------- */

static int cmd_enoent(void) {
  int fd = open(TS_KMOD_DEVICE, O_RDWR);
  int err = errno;
  probe_check(fd < 0 && err == ENOENT, "open %s fails with ENOENT (%s)", TS_KMOD_DEVICE,
        fd < 0 ? strerror(err) : "it opened");
  if (fd >= 0) close(fd);
  return probe_failed;
}

int main(int argc, char **argv) {
  static const struct {
    const char *name;
    int (*fn)(void);
  } cmds[] = { { "info", cmd_info },       { "release", cmd_release }, { "badargs", cmd_badargs },
               { "fork", cmd_fork },       { "slots", cmd_slots },     { "threads", cmd_threads },
               { "shootdowns", cmd_shootdowns }, { "enoent", cmd_enoent },  { "flags", cmd_flags } };
  setvbuf(stdout, NULL, _IOLBF, 0);
  for (size_t i = 0; argc == 2 && i < sizeof(cmds) / sizeof(cmds[0]); i++)
    if (!strcmp(argv[1], cmds[i].name)) return cmds[i].fn() ? 1 : 0;
  if (argc == 3 && !strcmp(argv[1], "uidcap")) return cmd_uidcap(atoi(argv[2])) ? 1 : 0;
  if (argc >= 4 && !strcmp(argv[1], "as")) {
    int id = atoi(argv[2]);
    if (setgroups(0, NULL) != 0 || setgid((gid_t)id) != 0 || setuid((uid_t)id) != 0) {
      perror("kmod_probe as");
      return 2;
    }
    execvp(argv[3], argv + 3);
    perror(argv[3]);
    return 127;
  }
  fprintf(stderr, "usage: kmod_probe info|release|badargs|fork|slots|threads|shootdowns|enoent|flags|uidcap N|as UID CMD...\n");
  return 2;
}
