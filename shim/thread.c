/* pthread_create: interposed and passed to libc's (thread stacks will be
 * placed and bound by the tiers work). */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>

#include "counters.h"
#include "shim.h"

TS_EXPORT int pthread_create(pthread_t *thread, const pthread_attr_t *attr,
                             void *(*start)(void *), void *arg) {
  if (ts_unlikely(ts_real.pthread_create == NULL)) {
    (void)ts_init_enter();
    if (ts_real.pthread_create == NULL) return EAGAIN; /* reported at init */
  }
  int r = ts_real.pthread_create(thread, attr, start, arg);
  if (r == 0) ts_count(TS_CTR_THREADS);
  return r;
}
