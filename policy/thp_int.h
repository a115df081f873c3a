/* Between the files of the huge-page policy (thp.c, thp_grow.c). */
#ifndef TS_THP_INT_H
#define TS_THP_INT_H

#include <stdbool.h>
#include <stdint.h>

/* Blocks of this size or more are a model's weights more often than not
 * (thp_fill.c); below it, an uninitialised block may be a probe (thp_probe.c). */
#define THP_FILL_MIN ((size_t)256 << 20)

void thp_advise_deferred(void);                 /* thp.c: the flip's advice for the regions */
void thp_heap_advise(uintptr_t lo, uintptr_t hi); /* thp.c: a heap range's, if the mode says so */
void thp_heap_defer(uintptr_t lo, uintptr_t hi);  /* thp_grow.c: advised at the flip */
bool thp_collapse_usable(void);                 /* thp.c: MADV_COLLAPSE works and the thread may run */
bool thp_buddy_has_room(void);                  /* thp.c: free 2 MiB blocks are plentiful */
bool thp_host_takes_back(void);                 /* thp_fill.c: a balloon reports free pages to the host */
void thp_grow_fork_child(void);                 /* thp_grow.c: its lock afresh, records dropped */
void thp_probe_fork_child(void);                /* thp_probe.c: the same */

/* thp_warm.c: fault a huge page into a scratch block and free it, so that
 * the collapse that follows on this CPU takes a page already backed;
 * false where nothing was warmed. The collapse thread's only. */
#include "base/prim.h"
typedef struct thp_warm_hooks_s {
  ts_prim_ptr_t (*mmap)(void *addr, size_t len, int prot, int flags, int fd, off_t off);
  int (*madvise)(void *addr, size_t len, int advice); /* 0 or -errno */
  int (*munmap)(void *addr, size_t len);              /* 0 or -errno */
  bool (*host_takes_back)(void);                      /* thp_host_takes_back */
} thp_warm_hooks_t;
bool thp_warm_page(void);
/* thp_idle.c: may a collapse start now? While a CPU is idle, or within
 * a tenth of a CPU on a machine that never idles. The collapse thread's only. */
bool thp_cpu_spare(void);
void thp_warm_set_hooks(const thp_warm_hooks_t *hooks); /* tests; NULL: the system calls */
/* thp_fill.c: does a huge-page fault cost more than COST_RATIO times the
 * small pages of the same 2 MiB, here and now? Measured on a scratch
 * mapping, at most once a minute. */
typedef struct thp_cost_hooks_s {
  ts_prim_ptr_t (*mmap)(void *addr, size_t len, int prot, int flags, int fd, off_t off);
  int (*madvise)(void *addr, size_t len, int advice); /* 0 or -errno */
  int (*munmap)(void *addr, size_t len);              /* 0 or -errno */
  uint64_t (*clock_ns)(void);                         /* CLOCK_MONOTONIC */
} thp_cost_hooks_t;
bool thp_huge_fault_dear(void);
void thp_cost_set_hooks(const thp_cost_hooks_t *hooks); /* tests; NULL: the system calls (and a fresh measure) */

#endif
