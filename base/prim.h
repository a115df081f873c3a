/* The OS-primitive layer, the bottom of base/: the only code in tiershim
 * that issues mmap, munmap, mremap, madvise, mprotect, mlock, mbind,
 * set/get_mempolicy, move_pages and process_madvise.
 *
 * Contract (as mimalloc's src/prim/prim.h states its own):
 *  pre:  none beyond the kernel's. Arguments go to the kernel as they are;
 *        checking them as the kernel would is base/kargs.h's job, and which
 *        ranges may be touched is the caller's (alloc/place_int.h).
 *  post: every function is one raw system call (or a few, for the file
 *        helpers), so it works before symbol resolution, inside fork
 *        handlers, in signal handlers and while the loader lock is held;
 *        none allocates, takes a lock or touches errno. Results are values:
 *        a pointer with a positive errno beside it (ts_prim_ptr_t), or an
 *        integer that is a negative errno (-ENOMEM, ...) on failure.
 *  test: ts_prim_fault (below) fails chosen calls in the fault build. */
#ifndef TS_PRIM_H
#define TS_PRIM_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Result of a call that yields an address: `err` is 0 or a positive errno. */
typedef struct ts_prim_ptr_s {
  void *addr;
  int err;
} ts_prim_ptr_t;

ts_prim_ptr_t ts_prim_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off);
ts_prim_ptr_t ts_prim_mremap(void *old, size_t old_len, size_t new_len, int flags, void *new_addr);
int ts_prim_munmap(void *addr, size_t len);              /* 0 or -errno */
int ts_prim_madvise(void *addr, size_t len, int advice); /* 0 or -errno */
int ts_prim_mprotect(void *addr, size_t len, int prot);  /* 0 or -errno */
int ts_prim_pkey_mprotect(void *addr, size_t len, int prot, int pkey); /* 0 or -errno */
int ts_prim_mlock2(void *addr, size_t len, unsigned flags);  /* 0 or -errno */
int ts_prim_munlock(void *addr, size_t len);                 /* 0 or -errno */
int ts_prim_mlockall(int flags), ts_prim_munlockall(void);   /* 0 or -errno */
int ts_prim_mincore(void *addr, size_t len, unsigned char *vec); /* 0 or -errno */
/* Any system call, raw: the result or -errno (errno untouched). */
long ts_prim_syscall(long n, long a, long b, long c, long d, long e, long f);
/* The soft limit of an RLIMIT_* resource, UINT64_MAX when unlimited. */
uint64_t ts_prim_rlimit(int resource);

/* Small file helpers for /proc and sysfs, no stdio (stdio allocates). */
ssize_t ts_prim_read_file(const char *path, char *buf, size_t cap); /* NUL-terminates */
int ts_prim_write_all(int fd, const void *buf, size_t len);         /* 0 or -errno */
int ts_prim_open(const char *path, int flags, int mode);            /* fd or -errno */
void ts_prim_close(int fd);
long ts_prim_ioctl(int fd, unsigned long req, void *arg);     /* >= 0 or -errno */
long ts_prim_pread(int fd, void *buf, size_t len, uint64_t off); /* bytes or -errno */
int ts_prim_file_type(const char *path);                         /* S_IFMT bits or -errno */

/* Files by descriptor, for checks that must not race a rename (stat then
 * open would): dirfd is a directory fd or AT_FDCWD; opens add O_CLOEXEC.
 * Each returns 0 (an fd for the opens) or -errno. */
struct stat;
int ts_prim_openat(int dirfd, const char *path, int flags, int mode);
int ts_prim_fstat(int fd, struct stat *st);
int ts_prim_fstatat(int dirfd, const char *path, struct stat *st, int flags);
int ts_prim_renameat(int olddirfd, const char *oldpath, int newdirfd, const char *newpath);
int ts_prim_unlinkat(int dirfd, const char *path, int flags);
int ts_prim_dupfd_cloexec(int fd, int min_fd); /* fcntl(F_DUPFD_CLOEXEC) */

/* The process's real and effective ids (never fail). */
typedef struct ts_prim_ids_s {
  unsigned uid, euid, gid, egid;
} ts_prim_ids_t;
ts_prim_ids_t ts_prim_ids(void);

/* NUMA (prim_numa.c). Node masks are one 64-bit word: nodes 0-63, which
 * is what tiershim places on (policy/tiers.h); mode and flag values are the
 * kernel's MPOL_* numbers (policy/mpol.h). */
int ts_prim_mbind(void *addr, size_t len, int mode, uint64_t nodes, unsigned flags);
int ts_prim_set_mempolicy(int mode, uint64_t nodes);
int ts_prim_get_mempolicy(int *mode, uint64_t *nodes, void *addr, unsigned flags);
/* move_pages on process pid (0: the caller); nodes NULL queries (status:
 * node or -errno per page). Returns 0, the number of pages not moved, or
 * -errno. */
long ts_prim_move_pages(int pid, unsigned long count, void **pages, const int *nodes, int *status,
                        int flags);
void ts_prim_nanosleep(uint64_t ns);
long ts_prim_process_madvise(int pidfd, const void *iov, size_t n, int advice);
/* mbind with the kernel's own node-mask arguments (the interposed mbind). */
long ts_prim_mbind_raw(void *addr, size_t len, int mode, const unsigned long *mask, unsigned long maxnode,
                       unsigned flags);
int ts_prim_pidfd_open(int pid);
int ts_prim_getcpu(void); /* the calling thread's node, or -errno */

uint64_t ts_prim_clock_ns(void); /* CLOCK_MONOTONIC */
uint64_t ts_prim_minflt(void);   /* the process's minor faults so far (getrusage) */
uint64_t ts_prim_maxrss(void);   /* the process's peak RSS in bytes so far (getrusage) */
/* The raw brk(2): asks for a new program break, returns the break after
 * the call (the old one when refused; brk(0) only reads it). */
uintptr_t ts_prim_brk(uintptr_t addr);

/* Fault injection (tests only; shim/fault.c in the tiershim_fault build):
 * when set, consulted before each mmap, madvise (MADV_COLLAPSE apart),
 * MADV_COLLAPSE, mbind/set_mempolicy, move_pages and process_madvise; a
 * nonzero -errno is returned instead of making the call. NULL otherwise. */
typedef enum {
  TS_FAULT_MMAP, TS_FAULT_MADVISE, TS_FAULT_COLLAPSE, TS_FAULT_MBIND, TS_FAULT_MOVE_PAGES,
  TS_FAULT_PMADV, TS_FAULT_NOPS
} ts_fault_op_t;
extern int (*ts_prim_fault)(ts_fault_op_t op);

/* Called with the range before every mapping change made here (mmap
 * MAP_FIXED, mremap, munmap, madvise, mprotect, mbind), when set: the unmap
 * layer's lazy release may have left the range pending in the kernel
 * module, which would zap it later by address, over whatever the change
 * put there (docs/unmap.md, "Lazy release"). Set by the composition root
 * (shim/init.c) only while lazy release is on; NULL otherwise. */
extern void (*ts_prim_settle)(uintptr_t a, size_t len);
#define TS_PRIM_SETTLE(a, len) \
  do { \
    if (__builtin_expect(ts_prim_settle != NULL, 0)) ts_prim_settle((uintptr_t)(a), (len)); \
  } while (0)
size_t ts_prim_page_size(void);

#endif
