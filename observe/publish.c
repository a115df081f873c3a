/* Live stats: the writer; see publish.h and docs/operations.md.
 *
 * Cost: nothing on the malloc/free fast paths. The slow paths call the
 * tick (base/tick.h) once they hold no lock of tiershim's; when a refresh
 * is not due the tick is one vDSO clock read and a compare. A due refresh
 * (at most every TS_PUB_PERIOD_NS) collects the stats as the exit report
 * does (/proc/self/smaps_rollup, maps, getrusage, /proc/interrupts: some
 * system calls and tens of microseconds) and renders them straight into
 * the shared mapping, which is this module's static buffer: nothing is
 * allocated, so a refresh reached from inside malloc cannot recurse into
 * it. A try-lock keeps two threads from refreshing at once; the loser
 * skips (the next tick will do). */
#define _GNU_SOURCE
#include "observe/publish.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/options.h"
#include "base/prim.h"
#include "base/procfs.h"
#include "base/tick.h"
#include "observe/stats.h"

static ts_pub_header_t *pub_page; /* the mapping; NULL: not publishing */
static int pub_pid;               /* whose page it is (a fork child has none) */
static bool pub_wanted;           /* TIERSHIM_PUBLISH on (and not secure) */
static bool pub_gone;             /* unlinked at exit: no more refreshes */
static int pub_busy;              /* the try-lock */
static uint64_t pub_due_ns;       /* the next refresh, CLOCK_MONOTONIC */
static uint64_t pub_failures;
static char pub_path[64];         /* TS_PUB_ROOT/tiershim.<uid>/<pid> */

uint64_t ts_publish_failures(void) { return __atomic_load_n(&pub_failures, __ATOMIC_RELAXED); }

static uint64_t pub_clock(clockid_t id) {
  struct timespec ts;
  clock_gettime(id, &ts); /* vDSO */
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The directory TS_PUB_ROOT/tiershim.<uid>: made 0700 if missing, then
 * opened without following a symlink and kept only if it is a directory
 * of this uid that nobody else may enter (another user may have made one
 * of that name first: then this process does not publish). */
static int pub_open_dir(unsigned uid, char *dir, size_t cap) {
  ts_buf_t b;
  ts_buf_init(&b, dir, cap);
  ts_buf_puts(&b, TS_PUB_ROOT "/" TS_PUB_PREFIX);
  ts_buf_u64(&b, uid);
  if (b.need >= cap) return -ENAMETOOLONG;
  long r = ts_prim_syscall(SYS_mkdirat, AT_FDCWD, (long)dir, 0700, 0, 0, 0);
  if (r != 0 && r != -EEXIST) return (int)r;
  int dfd = ts_prim_open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW, 0);
  if (dfd < 0) return dfd;
  struct stat st;
  int err = ts_prim_fstat(dfd, &st);
  if (err == 0 && (!S_ISDIR(st.st_mode) || st.st_uid != uid || (st.st_mode & 077) != 0)) err = -EPERM;
  if (err != 0) {
    ts_prim_close(dfd);
    return err;
  }
  return dfd;
}

/* The pid namespace the pid of a page belongs to (its inode). */
static uint64_t pub_pidns(void) {
  struct stat st;
  return ts_prim_fstatat(AT_FDCWD, "/proc/self/ns/pid", &st, 0) == 0 ? (uint64_t)st.st_ino : 0;
}

/* The page's header: who publishes, from when; no data yet. */
static void pub_fill_header(ts_pub_header_t *h, int pid, unsigned uid) {
  h->magic = TS_PUB_MAGIC;
  h->layout = TS_PUB_LAYOUT;
  h->header_size = sizeof *h;
  h->file_size = TS_PUB_SIZE;
  h->pid = pid;
  h->uid = uid;
  static char text[1024]; /* init or the try-lock: one caller at a time */
  h->start_ticks = ts_prim_read_file("/proc/self/stat", text, sizeof text) > 0 ? ts_procfs_start_ticks(text) : 0;
  ssize_t n = ts_prim_read_file("/proc/self/comm", text, sizeof text);
  size_t len = n > 0 ? (size_t)n : 0;
  while (len > 0 && text[len - 1] == '\n') len--;
  if (len >= TS_PUB_COMM_MAX) len = TS_PUB_COMM_MAX - 1;
  memcpy(h->comm, text, len);
  h->comm[len] = '\0';
  h->pidns = pub_pidns();
  h->json_off = TS_PUB_HEADER;
  h->text_off = TS_PUB_HEADER + TS_PUB_JSON_MAX;
}

/* Pages of this directory whose process has gone without running its
 * destructors (_exit, a signal) would stay until a reader removed them;
 * each new page sweeps them first. Only a pid that does not exist (ESRCH)
 * whose page was written in this pid namespace is removed: a page of
 * another namespace sharing /dev/shm names a pid this one cannot see. At
 * most a few per creation, with a stack buffer (nothing allocated). */
struct pub_dirent {
  uint64_t ino;
  int64_t off;
  unsigned short reclen;
  unsigned char type;
  char name[];
};

static void pub_sweep(int dfd, int self, uint64_t pidns) {
  char buf[2048];
  int removed = 0;
  for (;;) {
    long n = ts_prim_syscall(SYS_getdents64, dfd, (long)buf, sizeof buf, 0, 0, 0);
    if (n <= 0) return;
    for (long off = 0; off < n;) {
      struct pub_dirent *e = (struct pub_dirent *)(buf + off);
      off += e->reclen;
      long pid = 0;
      const char *c = e->name;
      for (; *c >= '0' && *c <= '9' && pid < (1L << 30); c++) pid = pid * 10 + (*c - '0');
      if (*c != '\0' || pid <= 0 || pid == self) continue;
      if (ts_prim_syscall(SYS_kill, pid, 0, 0, 0, 0, 0) != -ESRCH) continue;
      ts_pub_header_t h;
      int fd = ts_prim_openat(dfd, e->name, O_RDONLY | O_NOFOLLOW, 0);
      if (fd < 0) continue;
      long got = ts_prim_pread(fd, &h, sizeof h, 0);
      ts_prim_close(fd);
      if (got == (long)sizeof h && h.magic == TS_PUB_MAGIC && h.pid == pid && h.pidns == pidns &&
          ts_prim_unlinkat(dfd, e->name, 0) == 0 && ++removed == 16)
        return;
    }
  }
}

/* Creates this process's page: a new file (O_EXCL, never through a
 * symlink, mode 0600) sized and mapped shared. A file of this pid already
 * there is this process's own from before an exec, or a dead process's
 * whose pid came round again: replaced. Any failure: no page, counted. */
static bool pub_create(void) {
  ts_prim_ids_t ids = ts_prim_ids();
  int pid = getpid();
  char dir[48];
  int dfd = pub_open_dir(ids.euid, dir, sizeof dir);
  if (dfd < 0) goto fail;
  char name[24];
  ts_buf_t b;
  ts_buf_init(&b, name, sizeof name);
  ts_buf_u64(&b, (uint64_t)pid);
  pub_sweep(dfd, pid, pub_pidns());
  int fd = ts_prim_openat(dfd, name, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW, 0600);
  if (fd == -EEXIST && ts_prim_unlinkat(dfd, name, 0) == 0)
    fd = ts_prim_openat(dfd, name, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW, 0600);
  ts_prim_close(dfd);
  if (fd < 0) goto fail;
  ts_prim_ptr_t m = {NULL, 0};
  long r = ts_prim_syscall(SYS_ftruncate, fd, TS_PUB_SIZE, 0, 0, 0, 0);
  if (r == 0) m = ts_prim_mmap(NULL, TS_PUB_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  ts_prim_close(fd);
  ts_buf_init(&b, pub_path, sizeof pub_path);
  ts_buf_puts(&b, dir);
  ts_buf_putc(&b, '/');
  ts_buf_u64(&b, (uint64_t)pid);
  if (r != 0 || m.err != 0) {
    (void)ts_prim_unlinkat(AT_FDCWD, pub_path, 0);
    goto fail;
  }
  pub_fill_header(m.addr, pid, ids.euid);
  pub_pid = pid;
  __atomic_store_n(&pub_page, (ts_pub_header_t *)m.addr, __ATOMIC_RELEASE);
  return true;
fail:
  __atomic_fetch_add(&pub_failures, 1, __ATOMIC_RELAXED);
  return false;
}

/* Secure-execution programs (setuid, capabilities) do not publish: their
 * options are not the user's, and their page would be root's anyway.
 *
 * The page is made on the first tick, not here (a deviation from making it
 * at start-up, for two reasons): a process that never reaches a slow path
 * (dash, which is /bin/sh and ends with _exit, a short command) would
 * leave a page behind for every run, and start-up costs nothing. A process
 * that allocates anything large, maps memory, starts a thread or runs the
 * collapse thread publishes within its first slow path. */
bool ts_publish_init(void) {
  pub_wanted = ts_config.publish && !ts_config.secure;
  pub_due_ns = 0; /* the first tick makes the page and refreshes it */
  return pub_wanted;
}

/* One refresh, under the try-lock: collect, then write under the sequence
 * lock. The fences pair with the reader's (cli/page.c): the odd sequence
 * is visible before any byte of the new data, the data before the even. */
static void pub_refresh(ts_pub_header_t *h) {
  static ts_stats_snapshot_t snap; /* static: big, and only the lock holder uses it */
  ts_stats_tlb_baseline();
  ts_stats_collect(&snap);
  uint64_t seq = h->seq;
  __atomic_store_n(&h->seq, seq + 1, __ATOMIC_RELAXED);
  __atomic_thread_fence(__ATOMIC_RELEASE);
  char *json = (char *)h + h->json_off, *text = (char *)h + h->text_off;
  size_t n = ts_stats_render_json(&snap, json, TS_PUB_JSON_MAX);
  h->json_len = (uint32_t)(n < TS_PUB_JSON_MAX ? n : TS_PUB_JSON_MAX - 1);
  json[h->json_len] = '\0';
  n = ts_stats_render_text(&snap, text, TS_PUB_TEXT_MAX);
  h->text_len = (uint32_t)(n < TS_PUB_TEXT_MAX ? n : TS_PUB_TEXT_MAX - 1);
  text[h->text_len] = '\0';
  h->updated_mono_ns = ts_prim_clock_ns();
  h->updated_real_ns = pub_clock(CLOCK_REALTIME);
  h->refreshes++;
  __atomic_store_n(&h->seq, seq + 2, __ATOMIC_RELEASE);
}

void ts_publish_tick(void) {
  uint64_t now = ts_prim_clock_ns();
  if (now < __atomic_load_n(&pub_due_ns, __ATOMIC_RELAXED)) return;
  if (__atomic_exchange_n(&pub_busy, 1, __ATOMIC_ACQUIRE)) return; /* another thread is at it */
  int saved = errno;
  __atomic_store_n(&pub_due_ns, now + TS_PUB_PERIOD_NS, __ATOMIC_RELAXED);
  /* The first tick of a process makes its page (see ts_publish_init); so
   * does a fork child's, not the fork handler: a child that execs at once
   * (most do) then never makes one that its new image would leave behind. */
  if (pub_page == NULL && pub_wanted && !pub_gone && pub_pid != getpid()) {
    pub_pid = getpid(); /* one try per process */
    (void)pub_create();
  }
  ts_pub_header_t *h = __atomic_load_n(&pub_page, __ATOMIC_ACQUIRE);
  if (h != NULL && !__atomic_load_n(&pub_gone, __ATOMIC_RELAXED)) pub_refresh(h);
  errno = saved;
  __atomic_store_n(&pub_busy, 0, __ATOMIC_RELEASE);
}

/* In the child: the mapping is the parent's file; the child must not
 * write it, nor unlink it at exit. The try-lock may have been held by a
 * thread that does not exist here. */
void ts_publish_fork_child(void) {
  pub_busy = 0;
  if (pub_page != NULL) (void)ts_prim_munmap(pub_page, TS_PUB_SIZE);
  pub_page = NULL;
  pub_due_ns = 0;
}

/* At exit the file goes (the data would be of a dead process). No last
 * refresh first: nobody could read it in the moment before the unlink,
 * and collecting costs the exit a few /proc reads. The mapping stays:
 * another thread may be refreshing it, and the process is going. */
void ts_publish_exit(void) {
  if (pub_page == NULL || pub_pid != getpid() || pub_gone) return;
  __atomic_store_n(&pub_gone, true, __ATOMIC_RELAXED);
  (void)ts_prim_unlinkat(AT_FDCWD, pub_path, 0);
}
