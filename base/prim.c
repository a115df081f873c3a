/* OS primitives on raw system calls; see prim.h for the contract. */
#define _GNU_SOURCE
#include "base/prim.h"
#include "base/prim_sys.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define PRIM_IS_ERR(r) ((unsigned long)(r) > -4096UL)

static ts_prim_ptr_t prim_ptr_result(long r) {
  ts_prim_ptr_t res = {0};
  if (PRIM_IS_ERR(r)) res.err = (int)-r;
  else res.addr = (void *)r;
  return res;
}

int (*ts_prim_fault)(ts_fault_op_t op);
void (*ts_prim_settle)(uintptr_t a, size_t len);

static ts_prim_ptr_t prim_fault_ptr(void) {
  int e = ts_prim_fault ? ts_prim_fault(TS_FAULT_MMAP) : 0;
  return (ts_prim_ptr_t){.addr = NULL, .err = -e};
}

ts_prim_ptr_t ts_prim_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off) {
  if (__builtin_expect(ts_prim_fault != NULL, 0)) {
    ts_prim_ptr_t f = prim_fault_ptr();
    if (f.err) return f;
  }
  if (flags & MAP_FIXED) TS_PRIM_SETTLE(addr, len);
  return prim_ptr_result(ts_syscall6(SYS_mmap, (long)addr, (long)len, prot, flags, fd, off));
}

ts_prim_ptr_t ts_prim_mremap(void *old, size_t old_len, size_t new_len, int flags, void *new_addr) {
  TS_PRIM_SETTLE(old, old_len > new_len ? old_len : new_len); /* a grow in place takes the next pages */
  if (flags & MREMAP_FIXED) TS_PRIM_SETTLE(new_addr, new_len);
  return prim_ptr_result(
      ts_syscall6(SYS_mremap, (long)old, (long)old_len, (long)new_len, flags, (long)new_addr, 0));
}

int ts_prim_munmap(void *addr, size_t len) {
  TS_PRIM_SETTLE(addr, len);
  return (int)ts_syscall6(SYS_munmap, (long)addr, (long)len, 0, 0, 0, 0);
}

int ts_prim_madvise(void *addr, size_t len, int advice) {
  TS_PRIM_FAULT(advice == 25 /* MADV_COLLAPSE */ ? TS_FAULT_COLLAPSE : TS_FAULT_MADVISE);
  TS_PRIM_SETTLE(addr, len);
  return (int)ts_syscall6(SYS_madvise, (long)addr, (long)len, advice, 0, 0, 0);
}

int ts_prim_mprotect(void *addr, size_t len, int prot) {
  TS_PRIM_SETTLE(addr, len);
  return (int)ts_syscall6(SYS_mprotect, (long)addr, (long)len, prot, 0, 0, 0);
}

int ts_prim_pkey_mprotect(void *addr, size_t len, int prot, int pkey) {
  TS_PRIM_SETTLE(addr, len);
  return (int)ts_syscall6(SYS_pkey_mprotect, (long)addr, (long)len, prot, pkey, 0, 0);
}

int ts_prim_mlock2(void *addr, size_t len, unsigned flags) {
  return (int)ts_syscall6(flags ? SYS_mlock2 : SYS_mlock, (long)addr, (long)len, flags, 0, 0, 0);
}

int ts_prim_munlock(void *addr, size_t len) {
  return (int)ts_syscall6(SYS_munlock, (long)addr, (long)len, 0, 0, 0, 0);
}

int ts_prim_mlockall(int flags) { return (int)ts_syscall6(SYS_mlockall, flags, 0, 0, 0, 0, 0); }
int ts_prim_munlockall(void) { return (int)ts_syscall6(SYS_munlockall, 0, 0, 0, 0, 0, 0); }

int ts_prim_mincore(void *addr, size_t len, unsigned char *vec) {
  return (int)ts_syscall6(SYS_mincore, (long)addr, (long)len, (long)vec, 0, 0, 0);
}

long ts_prim_syscall(long n, long a, long b, long c, long d, long e, long f) {
  return ts_syscall6(n, a, b, c, d, e, f);
}

uint64_t ts_prim_rlimit(int resource) {
  struct { uint64_t cur, max; } lim;
  if (ts_syscall6(SYS_prlimit64, 0, resource, 0, (long)&lim, 0, 0) != 0) return UINT64_MAX;
  return lim.cur; /* RLIM64_INFINITY is UINT64_MAX */
}

int ts_prim_open(const char *path, int flags, int mode) { return ts_prim_openat(AT_FDCWD, path, flags, mode); }

int ts_prim_openat(int dirfd, const char *path, int flags, int mode) {
  return (int)ts_syscall6(SYS_openat, dirfd, (long)path, flags | O_CLOEXEC, mode, 0, 0);
}

int ts_prim_fstat(int fd, struct stat *st) { return (int)ts_syscall6(SYS_fstat, fd, (long)st, 0, 0, 0, 0); }

int ts_prim_fstatat(int dirfd, const char *path, struct stat *st, int flags) {
  return (int)ts_syscall6(SYS_newfstatat, dirfd, (long)path, (long)st, flags, 0, 0);
}

int ts_prim_renameat(int olddirfd, const char *oldpath, int newdirfd, const char *newpath) {
  return (int)ts_syscall6(SYS_renameat, olddirfd, (long)oldpath, newdirfd, (long)newpath, 0, 0);
}

int ts_prim_unlinkat(int dirfd, const char *path, int flags) {
  return (int)ts_syscall6(SYS_unlinkat, dirfd, (long)path, flags, 0, 0, 0);
}

int ts_prim_dupfd_cloexec(int fd, int min_fd) {
  return (int)ts_syscall6(SYS_fcntl, fd, F_DUPFD_CLOEXEC, min_fd, 0, 0, 0);
}

ts_prim_ids_t ts_prim_ids(void) {
  return (ts_prim_ids_t){.uid = (unsigned)ts_syscall6(SYS_getuid, 0, 0, 0, 0, 0, 0),
                         .euid = (unsigned)ts_syscall6(SYS_geteuid, 0, 0, 0, 0, 0, 0),
                         .gid = (unsigned)ts_syscall6(SYS_getgid, 0, 0, 0, 0, 0, 0),
                         .egid = (unsigned)ts_syscall6(SYS_getegid, 0, 0, 0, 0, 0, 0)};
}

void ts_prim_close(int fd) {
  (void)ts_syscall6(SYS_close, fd, 0, 0, 0, 0, 0);
}

int ts_prim_file_type(const char *path) {
  struct stat st;
  long r = ts_syscall6(SYS_newfstatat, AT_FDCWD, (long)path, (long)&st, 0, 0, 0);
  return r < 0 ? (int)r : (int)(st.st_mode & S_IFMT);
}

long ts_prim_pread(int fd, void *buf, size_t len, uint64_t off) {
  return ts_syscall6(SYS_pread64, fd, (long)buf, (long)len, (long)off, 0, 0);
}

long ts_prim_ioctl(int fd, unsigned long req, void *arg) {
  return ts_syscall6(SYS_ioctl, fd, (long)req, (long)arg, 0, 0, 0);
}

ssize_t ts_prim_read_file(const char *path, char *buf, size_t cap) {
  if (cap == 0) return -EINVAL;
  int fd = ts_prim_open(path, O_RDONLY, 0);
  if (fd < 0) return fd;
  size_t got = 0;
  while (got + 1 < cap) {
    long r = ts_syscall6(SYS_read, fd, (long)(buf + got), (long)(cap - 1 - got), 0, 0, 0);
    if (r == -EINTR) continue;
    if (r <= 0) break;
    got += (size_t)r;
  }
  buf[got] = '\0';
  ts_prim_close(fd);
  return (ssize_t)got;
}

int ts_prim_write_all(int fd, const void *buf, size_t len) {
  const char *p = buf;
  while (len > 0) {
    long r = ts_syscall6(SYS_write, fd, (long)p, (long)len, 0, 0, 0);
    if (r == -EINTR) continue;
    if (r < 0) return (int)r;
    p += r;
    len -= (size_t)r;
  }
  return 0;
}

void ts_prim_nanosleep(uint64_t ns) {
  struct timespec ts = {(time_t)(ns / 1000000000u), (long)(ns % 1000000000u)};
  while (ts_syscall6(SYS_nanosleep, (long)&ts, (long)&ts, 0, 0, 0, 0) == -EINTR) {}
}

uint64_t ts_prim_clock_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts); /* vDSO: no syscall, no errno on success */
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int prim_rusage(struct rusage *ru) {
  return ts_syscall6(SYS_getrusage, RUSAGE_SELF, (long)ru, 0, 0, 0, 0) == 0;
}

uint64_t ts_prim_minflt(void) {
  struct rusage ru;
  return prim_rusage(&ru) ? (uint64_t)ru.ru_minflt : 0;
}

uintptr_t ts_prim_brk(uintptr_t addr) { return (uintptr_t)ts_syscall6(SYS_brk, (long)addr, 0, 0, 0, 0, 0); }

uint64_t ts_prim_maxrss(void) {
  struct rusage ru;
  return prim_rusage(&ru) ? (uint64_t)ru.ru_maxrss << 10 : 0;
}

size_t ts_prim_page_size(void) {
  return (size_t)getauxval(AT_PAGESZ); /* from the aux vector: no syscall */
}
