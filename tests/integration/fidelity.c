/* fidelity: what a program can observe of its memory under tiershim must
 * be the kernel's and glibc's behaviour (issues "Fidelity and security of
 * the default mode" and "bad lengths ..."). One program, one case per run:
 *
 *   fidelity CASE [N]
 *
 * Cases that assert an invariant (exit 1 and "FAIL: ..." when it breaks):
 *   zero       memory handed out as zero is zero, whatever the program wrote
 *              to ranges it had unmapped or freed (stray writes through
 *              stale pointers, caught with a SIGSEGV handler where the
 *              kernel faults); mmap, calloc and mremap growth; N threads
 *   signals    signal handlers calling mmap, munmap, mremap, madvise and
 *              mprotect interrupt a thread that loops in the same calls and
 *              in large malloc/free: N handler runs (default 200000) must
 *              complete; a watchdog fails the case if progress stops
 *   sigmalloc  the same with large malloc/free in the handlers
 *   sigfork    handlers call fork() while threads allocate large blocks and
 *              the interrupted thread forks and allocates: must not hang
 *   memlock    an unprivileged process under RLIMIT_MEMLOCK maps, locks
 *              and unmaps placed ranges 24 times: every mlock succeeds
 *   limits     RLIMIT_DATA = 1 GiB: 500 mmap/touch/munmap of placed sizes,
 *              and 800 MiB mapped again after 800 MiB were unmapped
 *   aslimit    RLIMIT_AS = 3 GiB: a 1.5 GiB malloc succeeds (and is usable)
 *   sparse     a 1 GiB mmap and a 1 GiB calloc touched every 64th page:
 *              RSS at most a few times what was touched
 *   overcommit under vm.overcommit_memory=2 (the guest sets it), mapping
 *              70% of the commit room, unmapping and mapping again works
 * Cases whose output is compared with the kernel's (fidelity.sh runs them
 * without and with the shim and diffs stdout):
 *   vmaflags   what a mapping that reuses a range the program changed and
 *              unmapped looks like (locks, pkeys, guards, policies, advice
 *              flags, protections set by a raw syscall())
 *   dontfork   a child's view of a MADV_DONTFORK range it does not have
 *   badargs    hostile addresses and lengths, and ranges that run past the
 *              end of tiershim's window
 *   brk        after a malloc, the byte below the program break is mapped
 *              (the [heap] segment glibc's malloc makes); sbrk grows and
 *              shrinks the break around it and the bytes below each new
 *              break are writable (stress-ng's brk stressor)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "it_common.h"

#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102
#endif
#ifndef MPOL_BIND
#define MPOL_BIND 2
#endif

#define KB(x) ((size_t)(x) << 10)
#define MB(x) ((size_t)(x) << 20)
#define GB(x) ((size_t)(x) << 30)
#define RW (PROT_READ | PROT_WRITE)
#define PA (MAP_PRIVATE | MAP_ANONYMOUS)
#define SAY(...) (printf(__VA_ARGS__), putchar('\n'), fflush(stdout))

static const size_t PGSZ = 4096;


static void *xmap(size_t len) {
  void *p = mmap(NULL, len, RW, PA, -1, 0);
  if (p == MAP_FAILED) IT_DIE("mmap(%zu): %s", len, strerror(errno));
  return p;
}

/* ---- stray writes, caught where the kernel faults ------------------------ */

static __thread sigjmp_buf stray_jb;
static __thread volatile int stray_armed;

static void on_segv(int sig) {
  if (stray_armed) {
    stray_armed = 0;
    siglongjmp(stray_jb, 1);
  }
  signal(sig, SIG_DFL);
  raise(sig);
}

/* Writes v at p unless the page is gone; 1 if the write happened. */
static int stray_write(volatile unsigned char *p, unsigned char v) {
  if (sigsetjmp(stray_jb, 1) == 0) {
    stray_armed = 1;
    *p = v;
    stray_armed = 0;
    return 1;
  }
  return 0;
}

/* ---- the program break -------------------------------------------------- */

static int maps_has(const char *what) {
  FILE *f = fopen("/proc/self/maps", "r");
  if (f == NULL) IT_DIE("/proc/self/maps: %s", strerror(errno));
  char line[512];
  int found = 0;
  while (!found && fgets(line, sizeof line, f)) found = strstr(line, what) != NULL;
  fclose(f);
  return found;
}

static void *volatile brk_keep;

static void case_brk(void) {
  signal(SIGSEGV, on_segv);
  brk_keep = malloc(24); /* volatile: the compiler may not elide the pair */
  free(brk_keep);
  unsigned char *b0 = sbrk(0);
  int below = stray_write(b0 - 1, 1);
  SAY("brk: byte below the break after malloc writable: %s; [heap] mapped: %s", below ? "yes" : "no",
      maps_has("[heap]") ? "yes" : "no");
  int grew = 0, touched = 0, shrunk = 0;
  for (int i = 0; i < 1000; i++) { /* stress-ng's pattern: 7 pages up, 1 down */
    if (i % 8 != 7) {
      unsigned char *p = sbrk((intptr_t)PGSZ);
      if (p == (void *)-1) continue;
      grew++;
      touched += stray_write(p - 1, 2) & stray_write(p + PGSZ - 1, 3);
    } else {
      shrunk += brk((unsigned char *)sbrk(0) - PGSZ) == 0;
    }
  }
  SAY("brk: %d of 875 sbrk(+page) succeeded, %d with both edge bytes writable; %d of 125 shrinks", grew, touched,
      shrunk);
  SAY("brk: back to the start: %s", brk(b0) == 0 && sbrk(0) == (void *)b0 ? "yes" : "no");
}

static size_t first_nonzero(const unsigned char *p, size_t n) {
  for (size_t i = 0; i < n; i += 8)
    if (*(const uint64_t *)(p + i)) return i;
  return (size_t)-1;
}

/* ---- zero ------------------------------------------------------------------ */

static const size_t z_sizes[] = {KB(64), KB(300), MB(2), KB(2100), MB(4), KB(4632), MB(6), KB(9000)};
#define ZN (sizeof z_sizes / sizeof z_sizes[0])
static atomic_long z_stray, z_bad, z_checked;

/* Scribbles over a range it gave back: a byte in every page, and the
 * pattern through the whole first and last page. */
static void scribble(unsigned char *p, size_t len) {
  int n = 0;
  for (size_t o = 0; o < len; o += PGSZ) n += stray_write(p + o + (o / PGSZ) % PGSZ, 0xA5);
  for (size_t o = 0; o < PGSZ; o += 64) n += stray_write(p + o, 0x5A) + stray_write(p + len - PGSZ + o, 0x5A);
  atomic_fetch_add(&z_stray, n);
}

static void expect_zero(const unsigned char *p, size_t len, const char *what) {
  atomic_fetch_add(&z_checked, 1);
  size_t at = first_nonzero(p, len);
  if (at != (size_t)-1) {
    atomic_fetch_add(&z_bad, 1);
    IT_FAIL("zero: %s of %zu bytes: expected all zero got 0x%llx at +%zu", what, len,
            (unsigned long long)*(const uint64_t *)(p + at), at);
  }
}

/* Each round has two phases, apart by a barrier: every thread gives back
 * what it had and scribbles over it, then every thread takes memory handed
 * out as zero and checks it. A stray write racing with another thread's
 * new mapping of the same range would land there without tiershim too, so
 * none happens while anyone checks. */
#define Z_ROUNDS 40
static pthread_barrier_t z_barrier;

static void *zero_worker(void *arg) {
  uint64_t st = it_seed(77 + (uintptr_t)arg);
  for (int round = 0; round < Z_ROUNDS; round++) {
    size_t len = z_sizes[it_rand(&st) % ZN], more = z_sizes[it_rand(&st) % ZN];
    int how = (int)(it_rand(&st) % 3);
    unsigned char *p = how == 1 ? malloc(len) : xmap(len), *d = NULL, *keep = NULL;
    memset(p, 0x11 + how, len);
    if (how == 2) { /* mremap growth: the new tail must read zero */
      keep = p;
      d = xmap(more);
      memset(d, 0x55, more);
      munmap(d, more);
      scribble(d, more);
    } else {
      if (how == 1) free(p);
      else munmap(p, len);
      scribble(p, len);
    }
    pthread_barrier_wait(&z_barrier);
    if (how == 0) {
      unsigned char *q = xmap(len);
      expect_zero(q, len, "mmap after a stray write to an unmapped range");
      munmap(q, len);
    } else if (how == 1) {
      unsigned char *q = calloc(1, len);
      if (q == NULL) IT_DIE("calloc(%zu)", len);
      expect_zero(q, len, "calloc after a stray write to a freed block");
      free(q);
    } else {
      unsigned char *q = mremap(keep, len, len + more, MREMAP_MAYMOVE);
      if (q == MAP_FAILED) IT_DIE("mremap: %s", strerror(errno));
      expect_zero(q + len, more, "mremap's new tail after a stray write");
      munmap(q, len + more);
    }
    pthread_barrier_wait(&z_barrier);
  }
  return NULL;
}

static void case_zero(int threads) {
  signal(SIGSEGV, on_segv);
  signal(SIGBUS, on_segv);
  pthread_t t[16];
  if (threads < 1) threads = 1;
  if (threads > 16) threads = 16;
  pthread_barrier_init(&z_barrier, NULL, (unsigned)threads);
  for (long i = 0; i < threads; i++) pthread_create(&t[i], NULL, zero_worker, (void *)i);
  for (int i = 0; i < threads; i++) pthread_join(t[i], NULL);
  printf("zero: %ld zero-handed ranges checked, %ld stray writes landed, %ld not zero\n", atomic_load(&z_checked),
         atomic_load(&z_stray), atomic_load(&z_bad));
}

/* ---- signal handlers re-entering ------------------------------------------ */

static atomic_long h_runs, h_bad;
static void rearm(void);
static volatile int h_mode; /* 0: the mmap family, 1: large malloc/free */

static void handler_mm(void) {
  size_t len = KB(64) << (atomic_load(&h_runs) % 6);
  unsigned char *p = mmap(NULL, len, RW, PA, -1, 0);
  if (p == MAP_FAILED) { atomic_fetch_add(&h_bad, 1); return; }
  p[0] = 1;
  p[len - 1] = 2;
  if (madvise(p, len, MADV_DONTNEED) != 0 || p[0] != 0) atomic_fetch_add(&h_bad, 1);
  if (mprotect(p, len, PROT_READ) != 0 || mprotect(p, len, RW) != 0) atomic_fetch_add(&h_bad, 1);
  unsigned char *q = mremap(p, len, len * 2, MREMAP_MAYMOVE);
  if (q == MAP_FAILED) { atomic_fetch_add(&h_bad, 1); munmap(p, len); return; }
  if (q[len * 2 - 1] != 0) atomic_fetch_add(&h_bad, 1);
  if (munmap(q, len * 2) != 0) atomic_fetch_add(&h_bad, 1);
}

static void handler_malloc(void) {
  size_t len = KB(300) + (atomic_load(&h_runs) % 8) * KB(100);
  unsigned char *p = malloc(len);
  if (p == NULL) { atomic_fetch_add(&h_bad, 1); return; }
  p[0] = 1;
  p[len - 1] = 2;
  free(p);
}

static void on_usr1(int sig) {
  (void)sig;
  int saved = errno;
  if (h_mode == 0) handler_mm();
  else handler_malloc();
  atomic_fetch_add(&h_runs, 1);
  rearm();
  errno = saved;
}

/* A one-shot POSIX timer aimed at the calling thread, re-armed at the end
 * of each handler after 10-70 us: handlers land at random points of the
 * thread's loop, and the thread always runs between two of them (a
 * periodic timer faster than a handler would starve it), without a thread
 * spinning to send signals on a busy machine. */
static timer_t h_timer;
static __thread uint64_t h_rng = 88172645463325252ull;

static void rearm(void) {
  h_rng ^= h_rng << 13, h_rng ^= h_rng >> 7, h_rng ^= h_rng << 17;
  struct itimerspec its = {{0, 0}, {0, (long)(10000 + h_rng % 60000)}};
  timer_settime(h_timer, 0, &its, NULL);
}

static void arm_timer(int signo) {
  struct sigevent ev = {0};
  ev.sigev_notify = SIGEV_THREAD_ID;
  ev.sigev_signo = signo;
  ev._sigev_un._tid = (pid_t)syscall(SYS_gettid);
  if (timer_create(CLOCK_MONOTONIC, &ev, &h_timer) != 0) IT_DIE("timer_create: %s", strerror(errno));
  rearm();
}

/* The victim: the calls a handler may interrupt, holding tiershim's locks:
 * placed mmaps (some grown by mremap) and large malloc blocks. */
static void victim_loop(long want) {
  uint64_t st = it_seed(5);
  void *keep[8] = {0};
  size_t klen[8] = {0};
  int kmalloc[8] = {0};
  long last = -1;
  time_t last_change = time(NULL);
  while (atomic_load(&h_runs) < want) {
    int k = (int)(it_rand(&st) % 8);
    if (keep[k]) {
      if (kmalloc[k]) free(keep[k]);
      else munmap(keep[k], klen[k]);
      keep[k] = NULL;
    } else if (it_rand(&st) & 1) {
      klen[k] = KB(64) << (it_rand(&st) % 7);
      kmalloc[k] = 0;
      keep[k] = mmap(NULL, klen[k], RW, PA, -1, 0);
      if (keep[k] == MAP_FAILED) keep[k] = NULL;
      if (keep[k]) memset(keep[k], 7, PGSZ);
      if (keep[k] && (it_rand(&st) & 1)) {
        void *q = mremap(keep[k], klen[k], klen[k] * 2, MREMAP_MAYMOVE);
        if (q != MAP_FAILED) keep[k] = q, klen[k] *= 2;
      }
    } else {
      klen[k] = KB(256) + (it_rand(&st) % 32) * KB(64);
      kmalloc[k] = 1;
      keep[k] = malloc(klen[k]);
      if (keep[k]) memset(keep[k], 9, PGSZ);
    }
    long now = atomic_load(&h_runs);
    if (now != last) last = now, last_change = time(NULL);
    else if (time(NULL) - last_change > 20) IT_DIE("signals: no handler completed for 20 s (a hang)");
  }
  for (int k = 0; k < 8; k++)
    if (keep[k]) {
      if (kmalloc[k]) free(keep[k]);
      else munmap(keep[k], klen[k]);
    }
}

static void case_signals(int mode, long want) {
  h_mode = mode;
  struct sigaction sa = {0};
  sa.sa_handler = on_usr1;
  sa.sa_flags = SA_RESTART;
  sigaction(SIGUSR1, &sa, NULL);
  arm_timer(SIGUSR1);
  victim_loop(want);
  timer_delete(h_timer);
  IT_CHECK(atomic_load(&h_bad) == 0, "signals: %ld handler calls failed", atomic_load(&h_bad));
  printf("signals(%s): %ld handler runs completed, %ld failures\n", mode ? "malloc" : "mmap family",
         atomic_load(&h_runs), atomic_load(&h_bad));
}

/* ---- fork from signal handlers -------------------------------------------- */

static atomic_long f_forks;

static void on_usr2(int sig) {
  (void)sig;
  int saved = errno;
  pid_t pid = fork();
  if (pid == 0) _exit(0);
  if (pid > 0) {
    int st;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {}
    atomic_fetch_add(&f_forks, 1);
  }
  rearm();
  errno = saved;
}

static volatile int f_stop;

static void *f_allocator(void *arg) {
  uint64_t st = it_seed((uintptr_t)arg);
  while (!f_stop) {
    size_t len = (it_rand(&st) & 1) ? 64 : KB(256) + (it_rand(&st) % 16) * KB(64);
    void *p = malloc(len);
    if (p) memset(p, 1, 64);
    free(p);
  }
  return NULL;
}

/* The thread a timer interrupts allocates large blocks (tiershim's locks)
 * and, while single-threaded, forks itself: glibc skips its own fork locks
 * then (tst-mallocfork2), so a fork from a handler that interrupted fork or
 * malloc must work. With threads, glibc's fork takes its malloc and atfork
 * locks and hangs itself when a handler interrupted its malloc, so that
 * phase runs under tiershim only (its locks are skipped, as its malloc
 * never holds glibc's). */
static void sigfork_phase(long want, int threads) {
  f_stop = 0;
  long start = atomic_load(&f_forks);
  pthread_t a[2];
  for (long i = 0; i < threads; i++) pthread_create(&a[i], NULL, f_allocator, (void *)i);
  arm_timer(SIGUSR2);
  uint64_t st = it_seed(9);
  long last = -1;
  time_t changed = time(NULL);
  while (atomic_load(&f_forks) - start < want) {
    size_t len = KB(256) + (it_rand(&st) % 32) * KB(64);
    void *p = malloc(len);
    if (p) memset(p, 3, 64);
    free(p);
    if (threads == 0 && (it_rand(&st) % 16) == 0) {
      pid_t pid = fork();
      if (pid == 0) _exit(0);
      if (pid > 0) while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {}
    }
    long now = atomic_load(&f_forks);
    if (now != last) last = now, changed = time(NULL);
    else if (time(NULL) - changed > 20) IT_DIE("sigfork: no fork from a handler completed for 20 s (a hang)");
  }
  timer_delete(h_timer);
  f_stop = 1;
  for (int i = 0; i < threads; i++) pthread_join(a[i], NULL);
}

static void case_sigfork(long want) {
  struct sigaction sa = {0};
  sa.sa_handler = on_usr2;
  sa.sa_flags = SA_RESTART;
  sigaction(SIGUSR2, &sa, NULL);
  bool shim = it_sym("tiershim_stats_get") != NULL;
  sigfork_phase(shim ? want / 2 : want, 0);
  if (shim) sigfork_phase(want - want / 2, 2);
  printf("sigfork: %ld forks from signal handlers completed\n", atomic_load(&f_forks));
}

/* ---- limits ---------------------------------------------------------------- */

/* Drops root (CAP_IPC_LOCK ignores RLIMIT_MEMLOCK) for the memlock case. */
static void become_nobody(void) {
  if (geteuid() != 0) return;
  if (setresgid(65534, 65534, 65534) != 0 || setresuid(65534, 65534, 65534) != 0) IT_DIE("setresuid(nobody)");
}

/* Each round maps a range a little larger than the last, locks it, maps
 * a spacer (kept) and unmaps the range: a lock that outlived munmap on a
 * range tiershim kept would add up past the limit within a few rounds. */
static void case_memlock(void) {
  struct rlimit rl = {KB(512), KB(512)};
  if (setrlimit(RLIMIT_MEMLOCK, &rl) != 0) IT_DIE("setrlimit(RLIMIT_MEMLOCK)");
  become_nobody();
  int ok = 0;
  void *spacer[24];
  for (int round = 0; round < 24; round++) {
    size_t len = KB(64) + (size_t)round * KB(8);
    unsigned char *p = xmap(len);
    if (mlock(p, len) == 0) ok++;
    else IT_FAIL("memlock: round %d: mlock of %zu bytes: expected 0 got %s", round, len, strerror(errno));
    spacer[round] = xmap(KB(64));
    munmap(p, len);
  }
  for (int round = 0; round < 24; round++) munmap(spacer[round], KB(64));
  printf("memlock: %d of 24 mlock calls succeeded under RLIMIT_MEMLOCK=512K\n", ok);
}

static void case_limits(void) {
  struct rlimit rl = {GB(1), GB(1)};
  if (setrlimit(RLIMIT_DATA, &rl) != 0) IT_DIE("setrlimit(RLIMIT_DATA)");
  uint64_t st = it_seed(3);
  int ok = 0;
  for (int i = 0; i < 500; i++) {
    size_t len = KB(64) << (it_rand(&st) % 8);
    len += (it_rand(&st) % 4) * PGSZ;
    unsigned char *p = mmap(NULL, len, RW, PA, -1, 0);
    if (p == MAP_FAILED) continue;
    ok++;
    p[0] = p[len - 1] = 1;
    munmap(p, len);
  }
  IT_CHECK(ok == 500, "limits: %d of 500 mmaps under RLIMIT_DATA=1G succeeded", ok);
  void *big[100];
  int n = 0, again = 0;
  for (; n < 100; n++) { /* 800 MiB in 8 MiB mappings, touched */
    big[n] = mmap(NULL, MB(8), RW, PA, -1, 0);
    if (big[n] == MAP_FAILED) break;
    memset(big[n], 1, MB(8));
  }
  for (int i = 0; i < n; i++) munmap(big[i], MB(8));
  for (; again < 100; again++) {
    big[again] = mmap(NULL, MB(8) + KB(4 * (again % 3)), RW, PA, -1, 0);
    if (big[again] == MAP_FAILED) break;
    memset(big[again], 2, PGSZ);
  }
  IT_CHECK(n == 100 && again == 100, "limits: 800 MiB mapped %d/100 then again %d/100 under RLIMIT_DATA=1G", n, again);
  printf("limits: %d of 500 mmaps, then %d and %d of 100 x 8 MiB under RLIMIT_DATA=1G\n", ok, n, again);
}

static void case_aslimit(void) {
  struct rlimit rl = {GB(3), GB(3)};
  if (setrlimit(RLIMIT_AS, &rl) != 0) IT_DIE("setrlimit(RLIMIT_AS)");
  void *small = malloc(MB(1)); /* the window, if any, is reserved after the limit */
  unsigned char *p = malloc(GB(1) + GB(1) / 2);
  IT_CHECK(p != NULL, "aslimit: malloc(1.5 GiB) under RLIMIT_AS=3G: expected a block got NULL (%s)", strerror(errno));
  if (p) {
    for (size_t o = 0; o < GB(1) + GB(1) / 2; o += MB(1)) p[o] = 1;
    free(p);
  }
  free(small);
  printf("aslimit: malloc(1.5 GiB) under RLIMIT_AS=3G: %s\n", p ? "ok" : "failed");
}

/* Under vm.overcommit_memory=2 (set by the guest script: the VM tests'
 * machine is the program's own), memory the program unmapped must leave
 * Committed_AS: 70% of the room left is mapped (placed), touched and
 * unmapped, then as much is mapped shared (never placed: the kernel's own
 * accounting decides). Skipped (exit 77) elsewhere. */
static long meminfo_kb(const char *key) {
  FILE *f = fopen("/proc/meminfo", "r");
  char line[256];
  long v = -1;
  size_t n = strlen(key);
  while (f && fgets(line, sizeof line, f))
    if (strncmp(line, key, n) == 0 && line[n] == ':') v = atol(line + n + 1);
  if (f) fclose(f);
  return v;
}

static void case_overcommit(void) {
  FILE *f = fopen("/proc/sys/vm/overcommit_memory", "r");
  int mode = f ? fgetc(f) : -1;
  if (f) fclose(f);
  if (mode != '2') {
    printf("overcommit: SKIP: vm.overcommit_memory is not 2\n");
    exit(77);
  }
  long room_kb = meminfo_kb("CommitLimit") - meminfo_kb("Committed_AS");
  size_t chunk = MB(8) + KB(64), want = (size_t)room_kb * 1024 / 10 * 7 / chunk;
  if (want > 256) want = 256;
  void **p = calloc(want, sizeof *p);
  int rounds_ok[2] = {0, 0};
  for (int round = 0; round < 2; round++) {
    size_t n = 0;
    for (; n < want; n++) {
      p[n] = mmap(NULL, chunk, RW, round ? MAP_SHARED | MAP_ANONYMOUS : PA, -1, 0);
      if (p[n] == MAP_FAILED) break;
      memset(p[n], 1, PGSZ);
    }
    rounds_ok[round] = (int)n;
    for (size_t i = 0; i < n; i++) munmap(p[i], chunk);
  }
  IT_CHECK(rounds_ok[0] == (int)want && rounds_ok[1] == (int)want,
           "overcommit: %zu mappings of %zu KiB (70%% of the commit room): %d, then shared %d", want, chunk >> 10,
           rounds_ok[0], rounds_ok[1]);
  printf("overcommit: %zu x %zu KiB under vm.overcommit_memory=2: %d, then shared %d\n", want, chunk >> 10,
         rounds_ok[0], rounds_ok[1]);
  free(p);
}

/* ---- sparse touches -------------------------------------------------------- */

static long rss_of(const void *p, size_t len) { /* kB resident in [p, p+len), from mincore */
  uintptr_t a = (uintptr_t)p & ~(PGSZ - 1);
  len += (uintptr_t)p - a;
  size_t pages = (len + PGSZ - 1) / PGSZ;
  unsigned char *vec = malloc(pages);
  if (vec == NULL || mincore((void *)a, pages * PGSZ, vec) != 0) IT_DIE("mincore: %s", strerror(errno));
  long n = 0;
  for (size_t i = 0; i < pages; i++) n += vec[i] & 1;
  free(vec);
  return n * 4;
}

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec / 1e9;
}

static void sparse_check(unsigned char *p, size_t len, const char *what) {
  double t0 = now_s();
  size_t touched = 0;
  for (size_t o = 0; o < len; o += 64 * PGSZ, touched++) p[o] = 1;
  double dt = now_s() - t0;
  long kb = rss_of(p, len), want = (long)(touched * 4);
  /* a huge page per touched 2 MiB would be 512x; the edges may be huge */
  IT_CHECK(kb <= 4 * want + 8192, "sparse: %s: %ld kB resident for %ld kB touched", what, kb, want);
  printf("sparse: %s 1 GiB touched every 64th page: %ld kB resident for %ld kB touched, %.0f ms\n", what, kb, want,
         dt * 1e3);
}

static void case_sparse(void) {
  unsigned char *p = xmap(GB(1));
  sparse_check(p, GB(1), "mmap");
  munmap(p, GB(1));
  p = calloc(1, GB(1));
  if (p == NULL) IT_DIE("calloc(1 GiB)");
  sparse_check(p, GB(1), "calloc");
  free(p);
  p = malloc(MB(64)); /* uninitialised memory is written densely: huge pages stay */
  memset(p, 1, MB(64));
  free(p);
}

/* ---- vmaflags (compared with the kernel) ---------------------------------- */

/* The VmFlags of [p, ...) that a program set and that must not outlive
 * munmap, the protection, the pkey and the memory policy. */
static void describe(const char *label, void *p, size_t len) {
  char path[64], line[512], flags[256] = "";
  int pkey = 0;
  FILE *f = fopen("/proc/self/smaps", "r");
  int in = 0;
  char perm[8] = "?";
  while (f && fgets(line, sizeof line, f)) {
    unsigned long lo, hi;
    char pm[8];
    if (sscanf(line, "%lx-%lx %7s", &lo, &hi, pm) == 3 && strchr(line, '-') < strchr(line, ' ')) {
      in = (uintptr_t)p >= lo && (uintptr_t)p < hi;
      if (in) memcpy(perm, pm, sizeof perm);
      continue;
    }
    if (!in) continue;
    if (sscanf(line, "ProtectionKey: %d", &pkey) == 1) continue;
    if (strncmp(line, "VmFlags:", 8) == 0) {
      static const char *const keep[] = {"lo", "dc", "wf", "dd", "sr", "rr", "mg", "lf"};
      for (size_t i = 0; i < sizeof keep / sizeof keep[0]; i++) {
        char pat[8];
        snprintf(pat, sizeof pat, " %s", keep[i]);
        if (strstr(line + 8, pat)) strcat(flags, pat);
      }
    }
  }
  if (f) fclose(f);
  snprintf(path, sizeof path, "/proc/self/numa_maps");
  char pol[64] = "?";
  f = fopen(path, "r");
  while (f && fgets(line, sizeof line, f)) {
    unsigned long a;
    char pl[64];
    if (sscanf(line, "%lx %63s", &a, pl) == 2 && a <= (uintptr_t)p) memcpy(pol, pl, sizeof pol);
  }
  if (f) fclose(f);
  signal(SIGSEGV, on_segv);
  volatile unsigned char *b = p;
  int readable = 0;
  if (sigsetjmp(stray_jb, 1) == 0) {
    stray_armed = 1;
    (void)b[0];
    (void)b[len - 1];
    stray_armed = 0;
    readable = 1;
  }
  SAY("%s: perm %.4s flags [%s ] pkey %d policy %s reads %s zero %s", label, perm, flags, pkey, pol,
      readable ? "ok" : "SIGSEGV", readable && b[0] == 0 && b[len - 1] == 0 ? "yes" : "-");
}

typedef int (*change_fn)(void *p, size_t len);

static int ch_mprotect(void *p, size_t len) { return mprotect(p, len, PROT_READ); }
static int ch_raw_mprotect(void *p, size_t len) { return (int)syscall(SYS_mprotect, p, len, PROT_READ); }
static int ch_mlock(void *p, size_t len) { return mlock(p, len); }
static int ch_mlock2(void *p, size_t len) { return mlock2(p, len, MLOCK_ONFAULT); }
static int ch_raw_mlock(void *p, size_t len) { return (int)syscall(SYS_mlock, p, len); }
static int ch_dontfork(void *p, size_t len) { return madvise(p, len, MADV_DONTFORK); }
static int ch_wipeonfork(void *p, size_t len) { return madvise(p, len, MADV_WIPEONFORK); }
static int ch_dontdump(void *p, size_t len) { return madvise(p, len, MADV_DONTDUMP); }
static int ch_random(void *p, size_t len) { return madvise(p, len, MADV_RANDOM); }
static int ch_guard(void *p, size_t len) { (void)len; return madvise(p, PGSZ, MADV_GUARD_INSTALL); }
static int ch_raw_madvise(void *p, size_t len) { return (int)syscall(SYS_madvise, p, len, MADV_DONTFORK); }
static int ch_mbind(void *p, size_t len) {
  unsigned long mask = 1;
  return (int)syscall(SYS_mbind, p, len, MPOL_BIND, &mask, 8 * sizeof mask, 0);
}
static int ch_pkey(void *p, size_t len) {
  int k = (int)syscall(SYS_pkey_alloc, 0, 0);
  if (k < 0) return -2; /* no pkeys on this CPU */
  return pkey_mprotect(p, len, RW, k);
}

static void case_vmaflags(void) {
  static const struct { const char *name; change_fn fn; } changes[] = {
      {"mprotect", ch_mprotect},   {"syscall(mprotect)", ch_raw_mprotect}, {"mlock", ch_mlock},
      {"mlock2", ch_mlock2},       {"syscall(mlock)", ch_raw_mlock},       {"DONTFORK", ch_dontfork},
      {"WIPEONFORK", ch_wipeonfork}, {"DONTDUMP", ch_dontdump},            {"RANDOM", ch_random},
      {"GUARD_INSTALL", ch_guard}, {"syscall(madvise)", ch_raw_madvise},   {"mbind", ch_mbind},
      {"pkey_mprotect", ch_pkey}};
  static const size_t lens[] = {KB(256), MB(4), KB(4632)};
  for (size_t c = 0; c < sizeof changes / sizeof changes[0]; c++)
    for (size_t l = 0; l < sizeof lens / sizeof lens[0]; l++) {
      size_t len = lens[l];
      void *p = xmap(len);
      memset(p, 0x77, len);
      int r = changes[c].fn(p, len);
      if (r == -2) {
        SAY("%s %zuK: not supported here", changes[c].name, len >> 10);
        munmap(p, len);
        continue;
      }
      char label[96];
      snprintf(label, sizeof label, "%s %zuK: changed %s", changes[c].name, len >> 10, r == 0 ? "ok" : it_errname(errno));
      munmap(p, len);
      void *q = xmap(len); /* reuses the range where tiershim places it */
      describe(label, q, len);
      munmap(q, len);
      void *m = malloc(len); /* and a malloc block, freed after the change */
      int rm = changes[c].fn(m, len & ~(PGSZ - 1));
      (void)rm;
      free(m);
      unsigned char *n = calloc(1, len);
      SAY("%s %zuK: calloc after a changed block was freed: %s", changes[c].name, len >> 10,
          n && first_nonzero(n, len) == (size_t)-1 ? "zero" : "NOT ZERO");
      free(n);
    }
}

/* ---- dontfork (compared with the kernel) ---------------------------------- */

/* Under the shim: its records' live bytes (the JSON stats), or -1. */
static long shim_live_bytes(void) {
  it_json_fn json = (it_json_fn)it_sym("tiershim_stats_json");
  static char buf[65536];
  if (json == NULL || json(buf, sizeof buf) == 0) return -1;
  const char *k = strstr(buf, "\"region_live_bytes\":");
  return k ? atol(k + strlen("\"region_live_bytes\":")) : -1;
}

static void case_dontfork(void) {
  size_t len = MB(2) + KB(512);
  unsigned char *a = xmap(len);
  memset(a, 1, len);
  unsigned char *b = xmap(KB(256));
  memset(b, 2, KB(256));
  madvise(a, len, MADV_DONTFORK);
  long live = shim_live_bytes();
  fflush(stdout);
  pid_t pid = fork();
  if (pid == 0) {
    /* the child's records match its address space: the range it lacks is
     * not live there (the shim only) */
    long child = shim_live_bytes();
    IT_CHECK(live < 0 || live - child == (long)len,
             "dontfork: the child's live placed bytes: expected %ld (the parent's less %zu) got %ld", live - (long)len,
             len, child);
    SAY("child: mprotect of the missing range: %s", mprotect(a, len, PROT_READ) == 0 ? "0" : it_errname(errno));
    SAY("child: madvise WILLNEED of it: %s", madvise(a, len, MADV_WILLNEED) == 0 ? "0" : it_errname(errno));
    SAY("child: mlock of it: %s", mlock(a, len) == 0 ? "0" : it_errname(errno));
    unsigned char *s = mmap(a, len, RW, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    SAY("child: a shared mapping hinted there lands there: %s", s == a ? "yes" : "no");
    if (s != MAP_FAILED) memset(s, 9, len);
    for (int i = 0; i < 50; i++) { /* the child's own placed traffic */
      void *p = xmap(KB(256) + (size_t)i * PGSZ);
      munmap(p, KB(256) + (size_t)i * PGSZ);
      free(malloc(KB(512) + (size_t)i * PGSZ));
    }
    SAY("child: the shared mapping's data survives: %s", s != MAP_FAILED && s[0] == 9 && s[len - 1] == 9 ? "yes" : "no");
    SAY("child: the inherited range still intact: %s", b[0] == 2 && b[KB(256) - 1] == 2 ? "yes" : "no");
    fflush(stdout);
    _exit(it_failures ? 1 : 0);
  }
  int st;
  waitpid(pid, &st, 0);
  SAY("parent: child exit %d, range still intact: %s", WIFEXITED(st) ? WEXITSTATUS(st) : -1,
      a[0] == 1 && a[len - 1] == 1 ? "yes" : "no");
  munmap(a, len);
  munmap(b, KB(256));
}

/* ---- badargs (compared with the kernel) ----------------------------------- */

/* Only calls that are harmless in a run without the shim: invalid, or
 * acting on nothing (a range that starts in a hole), or WILLNEED. */
static void bad(const char *what, int r) { SAY("%s: %d %s", what, r, r ? it_errname(errno) : ""); }

static void case_badargs(void) {
  static const size_t lens[] = {SIZE_MAX, SIZE_MAX - 4095, (size_t)PTRDIFF_MAX + 1};
  for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
    char what[96];
    size_t n = lens[i];
    snprintf(what, sizeof what, "munmap(NULL, %#zx)", n);
    errno = 0, bad(what, munmap(NULL, n));
    snprintf(what, sizeof what, "mprotect(NULL, %#zx)", n);
    errno = 0, bad(what, mprotect(NULL, n, PROT_READ));
    snprintf(what, sizeof what, "madvise(NULL, %#zx, %s)", n, i == 0 ? "DONTNEED" : "WILLNEED");
    errno = 0, bad(what, madvise(NULL, n, i == 0 ? MADV_DONTNEED : MADV_WILLNEED));
    snprintf(what, sizeof what, "mlock(4096, %#zx)", n);
    errno = 0, bad(what, mlock((void *)4096, n));
    snprintf(what, sizeof what, "munlock(4096, %#zx)", n);
    errno = 0, bad(what, munlock((void *)4096, n));
  }
  /* a placed mapping with a hole after it; ranges from it run far past the
   * end of any window */
  unsigned char *p = xmap(KB(512));
  munmap(p + KB(448), KB(64));
  static const size_t far[] = {GB(128), (size_t)1 << 40, (size_t)1 << 46};
  for (size_t i = 0; i < sizeof far / sizeof far[0]; i++) {
    int r;
    errno = 0;
    r = madvise(p, far[i], MADV_WILLNEED);
    SAY("madvise(p, %zuG, WILLNEED): %d %s", far[i] >> 30, r, r ? it_errname(errno) : "");
    errno = 0;
    r = mprotect(p, far[i], PROT_READ | PROT_WRITE);
    SAY("mprotect(p, %zuG, RW): %d %s", far[i] >> 30, r, r ? it_errname(errno) : "");
    errno = 0;
    r = mlock(p + KB(448), far[i]);
    SAY("mlock(hole, %zuG): %d %s", far[i] >> 30, r, r ? it_errname(errno) : "");
    errno = 0;
    r = munlock(p + KB(448), far[i]);
    SAY("munlock(hole, %zuG): %d %s", far[i] >> 30, r, r ? it_errname(errno) : "");
  }
  errno = 0;
  int r = munmap(p, SIZE_MAX - (uintptr_t)p + 1);
  SAY("munmap(p, to the top of the address space): %d %s", r, r ? it_errname(errno) : "");
  errno = 0;
  r = munmap(p + 1, KB(4));
  SAY("munmap(p + 1, 4K): %d %s", r, r ? it_errname(errno) : "");
  errno = 0;
  void *q = mremap(p, SIZE_MAX, KB(8), 0);
  SAY("mremap(p, SIZE_MAX, 8K): %s", q == MAP_FAILED ? it_errname(errno) : "ok");
  errno = 0;
  q = mremap(p, KB(8), SIZE_MAX, MREMAP_MAYMOVE);
  SAY("mremap(p, 8K, SIZE_MAX): %s", q == MAP_FAILED ? it_errname(errno) : "ok");
  SAY("still alive, p reads %d", p[0]);
  munmap(p, KB(448));
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: fidelity CASE [N]\n");
    return 2;
  }
  const char *c = argv[1];
  long n = argc > 2 ? atol(argv[2]) : 0;
  if (!strcmp(c, "zero")) case_zero(n ? (int)n : 4);
  else if (!strcmp(c, "signals")) case_signals(0, n ? n : 200000);
  else if (!strcmp(c, "sigmalloc")) case_signals(1, n ? n : 200000);
  else if (!strcmp(c, "sigfork")) case_sigfork(n ? n : 2000);
  else if (!strcmp(c, "memlock")) case_memlock();
  else if (!strcmp(c, "limits")) case_limits();
  else if (!strcmp(c, "aslimit")) case_aslimit();
  else if (!strcmp(c, "sparse")) case_sparse();
  else if (!strcmp(c, "overcommit")) case_overcommit();
  else if (!strcmp(c, "vmaflags")) case_vmaflags();
  else if (!strcmp(c, "dontfork")) case_dontfork();
  else if (!strcmp(c, "badargs")) case_badargs();
  else if (!strcmp(c, "brk")) case_brk();
  else {
    fprintf(stderr, "fidelity: unknown case %s\n", c);
    return 2;
  }
  return it_finish("fidelity");
}
