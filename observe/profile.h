/* Callsite attribution and placement rules (docs/rules.md).
 *
 * With TIERSHIM_PROFILE=1 or TIERSHIM_RULES=FILE, every allocation of at
 * least TIERSHIM_PROFILE_MIN, and one in TIERSHIM_PROFILE_SAMPLE of the
 * smaller ones (per thread), is traced: a backtrace with libunwind (loaded
 * with dlopen, RTLD_LOCAL, so its _Unwind_* and backtrace symbols never
 * replace the program's), interned as a callsite (policy/callsite.h) and
 * recorded until its free. The first allocation of a callsite symbolises
 * its frames (dladdr) and matches them against the rules; a matching
 * allocation in tiershim's regions gets the rule's tier and huge-page
 * actions, undone when it is freed.
 *
 * Profiling keeps malloc's fast-path gates closed (shim/malloc.c), so every
 * call takes the general path, where these hooks run: a few nanoseconds a
 * call, and nothing at all when both options are off.
 *
 * Re-entry: a thread-local flag makes allocations made while tracing
 * (libunwind's, dladdr's) plain ones. Unwinding and symbolising run with no
 * tiershim lock held; the profile lock (a leaf) covers the tables only. */
#ifndef TS_PROFILE_H
#define TS_PROFILE_H

#include <stdbool.h>
#include <stddef.h>

#include "observe/stats.h"

extern bool ts_profile_on; /* set at init: profiling or rules */

void ts_profile_init(void);
void ts_profile_alloc(void *p, size_t size); /* after a successful allocation */
void ts_profile_free(void *p);               /* before the block is freed */
void ts_profile_report_at_exit(void);        /* TIERSHIM_PROFILE=1: the top callsites on stderr */
void ts_profile_stats(ts_stats_profile_t *o); /* present only when profiling or rules are on */

void ts_profile_lock(void), ts_profile_unlock(void), ts_profile_fork_child(void);

#endif
