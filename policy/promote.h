/* Background promotion of spilled bulk ranges; see promote.c. */
#ifndef TS_PROMOTE_H
#define TS_PROMOTE_H

void ts_promote_init(void); /* at init, after ts_tier_init */
void ts_promote_lock(void); /* fork (shim/fork.c) */
void ts_promote_unlock(void);
void ts_promote_fork_child(void);

#endif
