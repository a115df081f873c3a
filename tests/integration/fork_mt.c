/* fork_mt: fork from a multi-threaded process that keeps allocating.
 *
 *   fork_mt [FORKS]   (default 100)
 *
 * Four parent threads allocate and free continuously (so some of them hold
 * allocator locks at the moment of fork). The main thread forks FORKS times;
 * each child verifies its copy of a parent buffer (small and large blocks),
 * allocates small and large blocks itself, every third child also runs two
 * threads that allocate, and exits 0 through exit() or _exit() alternately.
 * The parent waits for each child under alarm(): a hung child (a lock
 * inherited in the locked state) is killed and reported.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "it_common.h"

#define NPARENT 4
#define CHILD_TIMEOUT 30

static atomic_int stop;
static atomic_long parent_ops;
static volatile pid_t current_child;

/* blocks that every child inherits and checks */
static struct {
  unsigned char *p;
  size_t size;
  uint64_t seed, sum;
} inherited[6];
static const size_t inherited_sizes[6] = {24, 1000, 60000, 300000, 3 << 20, 9 << 20};

static void on_alarm(int sig) {
  (void)sig;
  static const char msg[] =
      "FAIL: fork_mt: child did not exit within 30 s (deadlock after fork?): "
      "killing it\n";
  if (write(2, msg, sizeof msg - 1) < 0) { /* nothing */ }
  if (current_child > 0) kill(current_child, SIGKILL);
  _exit(1);
}

static void *parent_worker(void *arg) {
  uint64_t rng = it_seed((uint64_t)(intptr_t)arg);
  void *held[32] = {0};
  while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
    int i = (int)(it_rand(&rng) % 32);
    free(held[i]);
    size_t n = (it_rand(&rng) % 64 == 0) ? (size_t)(256 << 10) + it_rand(&rng) % (2 << 20)
                                          : 1 + it_rand(&rng) % 4096;
    held[i] = malloc(n);
    if (held[i] == NULL) IT_DIE("parent thread: malloc(%zu) returned NULL", n);
    ((unsigned char *)held[i])[0] = 1;
    ((unsigned char *)held[i])[n - 1] = 2;
    if ((i & 3) == 0) {
      void *r = realloc(held[i], n + 100);
      if (r == NULL) IT_DIE("parent thread: realloc returned NULL");
      held[i] = r;
    }
    atomic_fetch_add_explicit(&parent_ops, 1, memory_order_relaxed);
  }
  for (int i = 0; i < 32; i++) free(held[i]);
  return NULL;
}

static void *child_worker(void *arg) {
  uint64_t rng = it_seed((uint64_t)(intptr_t)arg);
  for (int k = 0; k < 2000; k++) {
    size_t n = (k % 100 == 0) ? (1 << 20) : 1 + it_rand(&rng) % 2048;
    unsigned char *p = malloc(n);
    if (p == NULL) return (void *)1;
    uint64_t s = it_fill(p, n, n);
    if (it_verify(p, n, n, &s) != (size_t)-1) return (void *)2;
    free(p);
  }
  return NULL;
}

/* Runs in the child; returns the exit status it wants. */
static int child_main(int idx) {
  /* 1. the inherited copies are intact */
  for (int i = 0; i < 6; i++) {
    size_t bad = it_verify(inherited[i].p, inherited[i].size, inherited[i].seed,
                           &inherited[i].sum);
    if (bad != (size_t)-1) {
      fprintf(stderr, "FAIL: fork_mt child %d: inherited block of %zu bytes: expected "
              "pattern intact got mismatch at offset %zu\n", idx, inherited[i].size, bad);
      return 10;
    }
  }
  /* 2. the child can allocate, small and large, and free inherited blocks */
  for (int k = 0; k < 200; k++) {
    size_t n = (k % 20 == 0) ? (size_t)(1 << 20) + (size_t)k * 4096 : 16 + (size_t)k * 8;
    unsigned char *p = malloc(n);
    if (p == NULL) {
      fprintf(stderr, "FAIL: fork_mt child %d: malloc(%zu): expected non-NULL got NULL\n",
              idx, n);
      return 11;
    }
    uint64_t s = it_fill(p, n, (uint64_t)k);
    unsigned char *q = realloc(p, n * 2);
    if (q == NULL || it_verify_prefix(q, n, n, (uint64_t)k) != (size_t)-1) {
      fprintf(stderr, "FAIL: fork_mt child %d: realloc(%zu -> %zu): contents lost\n", idx,
              n, n * 2);
      return 12;
    }
    (void)s;
    free(q);
  }
  void *c = calloc(1, 4 << 20);
  if (c == NULL) return 13;
  for (size_t o = 0; o < (4u << 20); o += 4096)
    if (((unsigned char *)c)[o]) {
      fprintf(stderr, "FAIL: fork_mt child %d: calloc(4 MiB): expected zero\n", idx);
      return 14;
    }
  free(c);
  if (idx % 2 == 0) /* the child may free what the parent allocated */
    free(inherited[0].p), free(inherited[3].p);
  /* 3. some children start threads */
  if (idx % 3 == 0) {
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
      if (pthread_create(&t[i], NULL, child_worker, (void *)(intptr_t)(idx * 2 + i))) {
        fprintf(stderr, "FAIL: fork_mt child %d: pthread_create failed\n", idx);
        return 15;
      }
    for (int i = 0; i < 2; i++) {
      void *r;
      pthread_join(t[i], &r);
      if (r != NULL) {
        fprintf(stderr, "FAIL: fork_mt child %d: thread %d: allocation check %ld failed\n",
                idx, i, (long)(intptr_t)r);
        return 16;
      }
    }
  }
  /* 4. fork again from some children (grandchild) */
  if (idx % 10 == 5) {
    pid_t g = fork();
    if (g < 0) return 17;
    if (g == 0) {
      void *p = malloc(12345);
      free(p);
      _exit(p ? 0 : 1);
    }
    int st;
    if (waitpid(g, &st, 0) != g || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
      fprintf(stderr, "FAIL: fork_mt child %d: grandchild status 0x%x\n", idx, st);
      return 18;
    }
  }
  return 0;
}

int main(int argc, char **argv) {
  int forks = argc > 1 ? atoi(argv[1]) : 100;
  if (forks <= 0) {
    fprintf(stderr, "usage: %s [FORKS>0]\n", argv[0]);
    return 2;
  }
  it_stats_get_fn get = it_require_shim("fork_mt");
  tiershim_stats_t s0 = it_stats(get);
  signal(SIGALRM, on_alarm);

  for (int i = 0; i < 6; i++) {
    inherited[i].size = inherited_sizes[i];
    inherited[i].p = malloc(inherited_sizes[i]);
    if (inherited[i].p == NULL) IT_DIE("malloc(%zu) returned NULL", inherited_sizes[i]);
    inherited[i].seed = 1000 + (uint64_t)i;
    inherited[i].sum = it_fill(inherited[i].p, inherited[i].size, inherited[i].seed);
  }

  pthread_t th[NPARENT];
  for (int i = 0; i < NPARENT; i++)
    if (pthread_create(&th[i], NULL, parent_worker, (void *)(intptr_t)(i + 1)))
      IT_DIE("pthread_create failed");

  int failed = 0;
  for (int i = 0; i < forks; i++) {
    /* make sure the workers are really running between forks */
    long before = atomic_load(&parent_ops);
    while (atomic_load(&parent_ops) - before < 50) sched_yield();
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) IT_DIE("fork #%d: %s", i, strerror(errno));
    if (pid == 0) {
      signal(SIGALRM, SIG_DFL);
      alarm(CHILD_TIMEOUT); /* a hung child must not outlive the test */
      int rc = child_main(i);
      if (i % 2) exit(rc); /* atexit handlers, stdio flush, library destructors */
      _exit(rc);
    }
    current_child = pid;
    alarm(CHILD_TIMEOUT);
    int st = 0;
    pid_t w;
    do w = waitpid(pid, &st, 0);
    while (w < 0 && errno == EINTR);
    alarm(0);
    current_child = 0;
    if (w != pid) IT_DIE("waitpid(%d): %s", (int)pid, strerror(errno));
    if (WIFSIGNALED(st)) {
      IT_FAIL("fork_mt child %d (exit via %s): expected exit status 0 got signal %d (%s)", i,
              i % 2 ? "exit" : "_exit", WTERMSIG(st), strsignal(WTERMSIG(st)));
      failed++;
    } else if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
      IT_FAIL("fork_mt child %d (exit via %s): expected exit status 0 got %d", i,
              i % 2 ? "exit" : "_exit", WEXITSTATUS(st));
      failed++;
    }
  }
  atomic_store(&stop, 1);
  for (int i = 0; i < NPARENT; i++) pthread_join(th[i], NULL);

  /* the parent's own blocks survived all of it */
  for (int i = 0; i < 6; i++) {
    size_t bad = it_verify(inherited[i].p, inherited[i].size, inherited[i].seed,
                           &inherited[i].sum);
    IT_CHECK(bad == (size_t)-1, "parent block of %zu bytes after forks: expected intact "
             "got mismatch at offset %zu", inherited[i].size, bad);
    free(inherited[i].p);
  }
  tiershim_stats_t s1 = it_stats(get);
  IT_CHECK(s1.threads_created - s0.threads_created >= NPARENT,
           "threads_created: expected rise >= %d got %llu", NPARENT,
           (unsigned long long)(s1.threads_created - s0.threads_created));
  printf("fork_mt: %d forks, %d failed children, %ld parent thread ops\n", forks, failed,
         atomic_load(&parent_ops));
  return it_finish("fork_mt");
}
