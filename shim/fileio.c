/* File reads: read, pread, fread and their _FORTIFY_SOURCE forms.
 *
 * Interposed for one reason: a large read from a file into placed memory
 * puts its page cache on the slow tier (policy/coldread.h says why). Every
 * other call goes straight to glibc (its __read, __pread64 and _IO_fread,
 * the same functions under names we do not interpose), after three tests:
 * the length, a flag and the window's range. Cancellation points stay
 * glibc's; a thread cancelled inside a cold read exits with its policy
 * still switched, which nothing sees any more. */
/* Built with -D_FORTIFY_SOURCE (Debian's packages are), glibc's headers
 * would define inline wrappers of read, pread and fread, the functions
 * this file defines. */
#undef _FORTIFY_SOURCE
#define _GNU_SOURCE
#include <errno.h>
#include <linux/fs.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "alloc/place.h"
#include "base/prim.h"
#include "base/range.h"
#include "base/reentry.h"
#include "policy/coldread.h"
#include "shim/shim.h"

extern ssize_t __read(int fd, void *buf, size_t n);
extern ssize_t __pread64(int fd, void *buf, size_t n, off_t off);
extern size_t _IO_fread(void *buf, size_t size, size_t n, FILE *fp);
extern void __chk_fail(void) __attribute__((noreturn));

static inline bool cold_candidate(const void *buf, size_t n) {
  return ts_unlikely(n >= TS_COLD_READ_MIN) && ts_cold_reads && ts_place_owns(buf) && !ts_reentered();
}

/* Bytes from off (-1: the descriptor's offset) to the end of a regular
 * file or block device; 0 for anything else (a pipe or socket has no page
 * cache) or on any error. It bounds the populate: a short read at the end
 * of a file must not leave pages faulted that the read never wrote. */
static uint64_t file_left(int fd, int64_t off) {
  struct stat st;
  if (fd < 0 || ts_prim_fstat(fd, &st) != 0) return 0;
  uint64_t size;
  if (S_ISREG(st.st_mode)) size = (uint64_t)st.st_size;
  else if (!S_ISBLK(st.st_mode) || ts_prim_ioctl(fd, BLKGETSIZE64, &size) < 0) return 0;
  if (off < 0) {
    off = ts_prim_syscall(SYS_lseek, fd, 0, SEEK_CUR, 0, 0, 0);
    if (off < 0) return 0;
  }
  return size > (uint64_t)off ? size - (uint64_t)off : 0;
}

static inline size_t fill_len(size_t n, uint64_t left) { return left < n ? (size_t)left : n; }

static __attribute__((noinline)) ssize_t read_cold(int fd, void *buf, size_t n, int64_t off) {
  ts_cold_read_t s;
  ts_cold_read_begin(&s, buf, fill_len(n, file_left(fd, off)));
  ssize_t r = off < 0 ? __read(fd, buf, n) : __pread64(fd, buf, n, off);
  ts_cold_read_end(&s, r); /* raw system calls: errno stays the read's */
  return r;
}

static inline ssize_t read_any(int fd, void *buf, size_t n) {
  if (ts_likely(!cold_candidate(buf, n))) return __read(fd, buf, n);
  return read_cold(fd, buf, n, -1);
}

static inline ssize_t pread_any(int fd, void *buf, size_t n, off_t off) {
  if (ts_likely(!cold_candidate(buf, n)) || off < 0) return __pread64(fd, buf, n, off);
  return read_cold(fd, buf, n, off);
}

TS_EXPORT ssize_t read(int fd, void *buf, size_t n) { return read_any(fd, buf, n); }
TS_EXPORT ssize_t pread(int fd, void *buf, size_t n, off_t off) { return pread_any(fd, buf, n, off); }
TS_EXPORT ssize_t pread64(int fd, void *buf, size_t n, off_t off) { return pread_any(fd, buf, n, off); }

/* glibc's checks (debug/read_chk.c, pread64_chk.c), then the same path. */
TS_EXPORT ssize_t __read_chk(int fd, void *buf, size_t n, size_t buflen) {
  if (n > buflen) __chk_fail();
  return read_any(fd, buf, n);
}

TS_EXPORT ssize_t __pread64_chk(int fd, void *buf, size_t n, off_t off, size_t buflen) {
  if (n > buflen) __chk_fail();
  return pread_any(fd, buf, n, off);
}

/* What fread can still take from its own buffer, then the file: the
 * stream's fields are glibc's public struct _IO_FILE. */
static __attribute__((noinline)) size_t fread_cold(void *buf, size_t size, size_t n, size_t bytes, FILE *fp) {
  uint64_t left = file_left(fp->_fileno, -1);
  if (left != 0 && fp->_IO_read_end > fp->_IO_read_ptr) left += (uint64_t)(fp->_IO_read_end - fp->_IO_read_ptr);
  ts_cold_read_t s;
  ts_cold_read_begin(&s, buf, fill_len(bytes, left));
  size_t r = _IO_fread(buf, size, n, fp);
  ts_cold_read_end(&s, (long)(r * size));
  return r;
}

static inline size_t fread_any(void *buf, size_t size, size_t n, size_t bytes, FILE *fp) {
  if (ts_likely(!cold_candidate(buf, bytes))) return _IO_fread(buf, size, n, fp);
  return fread_cold(buf, size, n, bytes, fp);
}

TS_EXPORT size_t fread(void *buf, size_t size, size_t n, FILE *fp) {
  size_t bytes;
  if (__builtin_mul_overflow(size, n, &bytes)) return _IO_fread(buf, size, n, fp);
  return fread_any(buf, size, n, bytes, fp);
}

/* debug/fread_chk.c: an overflowing size * n or more than the buffer
 * holds is a fortify failure. */
TS_EXPORT size_t __fread_chk(void *buf, size_t buflen, size_t size, size_t n, FILE *fp) {
  size_t bytes;
  if (__builtin_mul_overflow(size, n, &bytes) || bytes > buflen) __chk_fail();
  return bytes == 0 ? 0 : fread_any(buf, size, n, bytes, fp);
}
