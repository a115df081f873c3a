/* tiershim's own threads; see thread.h. */
#define _GNU_SOURCE
#include "base/thread.h"

#include <errno.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/single_threaded.h>

ts_pthread_create_fn ts_thread_real_create;

/* Without the shim, pthread_create is libc's own. */
void ts_thread_use_libc(void) { __atomic_store_n(&ts_thread_real_create, pthread_create, __ATOMIC_RELEASE); }

int ts_thread_spawn(pthread_t *t, void *(*fn)(void *), void *arg, size_t stack, bool detached) {
  ts_pthread_create_fn create = __atomic_load_n(&ts_thread_real_create, __ATOMIC_ACQUIRE);
  if (create == NULL) return ENOSYS;
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old); /* the new thread inherits the mask */
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  if (detached) pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  if (stack != 0) pthread_attr_setstacksize(&attr, stack);
  pthread_t id;
  int r = create(t != NULL ? t : &id, &attr, fn, arg);
  pthread_attr_destroy(&attr);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  return r;
}

bool ts_thread_may_add(void) { return !__libc_single_threaded; }

/* Linux keeps a nice value per thread: PRIO_PROCESS with 0 names the
 * calling thread, not the process. A thread can always lower its own
 * priority. */
void ts_thread_background(void) { (void)setpriority(PRIO_PROCESS, 0, 19); }
