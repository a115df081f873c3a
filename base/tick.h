/* The slow-path tick: a hook that tiershim's slow paths call once they
 * hold no lock of tiershim's (the large-allocation and large-free paths,
 * placed mmap/munmap, thread creation, the collapse thread between scans).
 * The composition root (shim/init.c) sets it to the live-stats publisher
 * (observe/publish.h) when TIERSHIM_PUBLISH is on; NULL otherwise, so a
 * layer below observe/ can call it without knowing what it does. The
 * function it points to must be cheap when nothing is due (a clock read)
 * and must never block. Never called from the malloc/free fast paths. */
#ifndef TS_TICK_H
#define TS_TICK_H

extern void (*ts_tick_hook)(void);

static inline void ts_slow_tick(void) {
  void (*f)(void) = __atomic_load_n(&ts_tick_hook, __ATOMIC_RELAXED);
  if (__builtin_expect(f != 0, 0)) f();
}

#endif
