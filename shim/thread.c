/* pthread_create: interposed and passed to libc's. On a tiered machine the
 * new thread binds its own stack to the fast tier before it runs the
 * program's function (the stack is a VMA of its own; its pages are faulted
 * by the thread). Binding from inside the thread keeps glibc in charge of
 * the stack's life (its cache of stacks, guard pages, reuse): handing glibc
 * a stack of ours would make freeing it ours too. A stack the program
 * supplied (pthread_attr_setstack) is the program's business. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdint.h>

#include <mimalloc.h>

#include "base/counters.h"
#include "base/thread.h"
#include "base/tick.h"
#include "shim/shim.h"
#include "policy/thp.h"
#include "policy/tierpol.h"

typedef struct thread_start_s {
  void *(*start)(void *);
  void *arg;
} thread_start_t;

static void thread_bind_stack(void) {
  pthread_attr_t a;
  if (pthread_getattr_np(pthread_self(), &a) != 0) return;
  void *lo;
  size_t len;
  if (pthread_attr_getstack(&a, &lo, &len) == 0) ts_tier_bind_stack(lo, len);
  pthread_attr_destroy(&a);
}

static void *thread_trampoline(void *p) {
  thread_start_t t = *(thread_start_t *)p;
  mi_free(p);
  thread_bind_stack();
  return t.start(t.arg);
}

/* glibc reports the stack as [top - size, top); with no stack set the top
 * is NULL (whatever the size), which is how an unset one is told apart. */
static bool thread_own_stack(const pthread_attr_t *attr) {
  void *lo = NULL;
  size_t len = 0;
  return attr != NULL && pthread_attr_getstack(attr, &lo, &len) == 0 && (uintptr_t)lo + len != 0;
}

TS_EXPORT int pthread_create(pthread_t *thread, const pthread_attr_t *attr,
                             void *(*start)(void *), void *arg) {
  if (ts_unlikely(ts_thread_real_create == NULL)) {
    (void)ts_init_enter();
    if (ts_thread_real_create == NULL) return EAGAIN; /* reported at init */
  }
  thread_start_t *t = NULL;
  if (ts_tier_on && !thread_own_stack(attr) && (t = mi_malloc(sizeof *t)) != NULL) {
    t->start = start;
    t->arg = arg;
    start = thread_trampoline;
    arg = t;
  }
  int r = ts_thread_real_create(thread, attr, start, arg);
  if (r == 0) {
    ts_count(TS_CTR_THREADS);
    ts_thp_program_threaded(); /* tiershim's own threads may start now */
    ts_slow_tick();            /* live stats (base/tick.h) */
  } else if (t != NULL) {
    mi_free(t);
  }
  return r;
}
