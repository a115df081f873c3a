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
void thp_grow_fork_child(void);                 /* thp_grow.c: its lock afresh, records dropped */
void thp_probe_fork_child(void);                /* thp_probe.c: the same */

#endif
