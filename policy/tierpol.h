/* Tier placement: the topology (tiers.h) and TIERSHIM_HOT/BULK turned into
 * memory policies, applied through mbind and set_mempolicy.
 *
 * Two classes (docs/tiers.md):
 *  - hot: page tables and kernel stacks (through the task mempolicy of every
 *    thread, which they follow: ../shared/notes/kernel.md), the small-object
 *    heap, thread stacks and tiershim's metadata (a VMA policy on their
 *    mappings, so a program that changes its task policy later does not
 *    move them). Preferred, never bound: a full fast tier spills.
 *  - bulk: placed ranges and anonymous mappings of at least BULK_MIN, with
 *    a VMA policy of their own, so the task policy does not pull data onto
 *    the fast tier.
 * With one node or one tier, ts_tier_on stays false and every entry point
 * returns at its first test. Every failed mbind is counted and otherwise
 * ignored: the memory is still there, on whichever node the kernel picks. */
#ifndef TS_TIERPOL_H
#define TS_TIERPOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "policy/tiers.h"

extern bool ts_tier_on;

/* At initialisation, after the options: discovery, the policies, the task
 * mempolicy of the initialising thread (inherited by threads it creates). */
void ts_tier_init(void);
void ts_tier_print_verbose(void); /* TIERSHIM_VERBOSE: what init decided */

/* A fresh mapping of the hot class: the heap's, tiershim's metadata. */
void ts_tier_bind_hot(void *addr, size_t len);
/* A fresh anonymous mapping of the program's outside the window, of any
 * length: bound as bulk when it is at least BULK_MIN. */
void ts_tier_bind_mapping(void *addr, size_t len);
/* Ranges of the window just mapped read-write (commits, resets). */
void ts_tier_window_mapped(uintptr_t a, size_t len);
/* A placed range handed to the program (malloc or mmap), of length len. */
void ts_tier_granted(uintptr_t a, size_t len);
/* In a new thread: binds its stack (unless the program supplied it). */
void ts_tier_bind_stack(void *lo, size_t len);
/* Placement rules (observe/profile.c): tier is a ts_bulk_mode_t; false
 * when tiers are off or the bind failed (counted in bind_failures). */
bool ts_tier_bind_rule(uintptr_t a, size_t len, int tier, const unsigned char *w, int nw);
void ts_tier_unbind_rule(uintptr_t a, size_t len);

/* Background promotion (policy/promote.c): spills of the
 * window are reported to spill_hook (placement lock held); kick_hook runs
 * on every grant outside that lock. NULL unless TIERSHIM_PROMOTE. */
extern void (*ts_tier_spill_hook)(uintptr_t a, size_t len);
extern void (*ts_tier_kick_hook)(void);
/* The policy that sends page cache to the slow tier (policy/coldread.c):
 * true, with its mode and nodes, only where the task policy is tiershim's
 * own (a program under its own policy keeps it) and a slow tier exists. */
bool ts_tier_cold_policy(int *mode, uint64_t *nodes);
/* A range of the window about to be populated (policy/coldread.c):
 * bulk=fast decides its tier again against free memory read now. */
void ts_tier_filling(uintptr_t a, size_t len);
/* Fast-tier free memory above twice the reserve (0 if none). */
uint64_t ts_tier_fast_room(void);
/* Binds a spilled range fast-first again (before it is migrated). */
void ts_tier_rebind_fast(uintptr_t a, size_t len);

/* For stats, `tiershim topo` and the tests. */
typedef struct ts_tier_stats_s {
  uint64_t hot_bytes, bulk_bytes, binds, bind_fail, stacks;
  uint64_t spilled, fast_reserve; /* bulk=fast: bound slow-first, and the reserve */
  int task_mode;          /* the task policy set, or -1 if none */
  const char *task_why;   /* what happened to the task policy */
  const char *hot_policy, *bulk_policy; /* "preferred-many 0", ... */
  bool per_grant;         /* BULK_MIN above LARGE_MIN or MMAP_MIN */
} ts_tier_stats_t;

const ts_topo_t *ts_tier_topo(void);
/* Targets of tiershim_promote/demote: the fast node of the calling CPU if
 * there is one, else the first fast node; the slow node nearest the
 * calling CPU's node. -1 where there are no tiers. */
int ts_tier_promote_node(void);
int ts_tier_demote_node(void);
void ts_tier_stats(ts_tier_stats_t *out);

/* The free fast-tier memory BULK=fast leaves to the kernel: the option, or
 * 1/64 of the tier's total within [128 MiB, 2 GiB]. Exposed for the unit
 * tests. */
uint64_t ts_tier_fast_reserve(uint64_t fast_total, uint64_t option);

/* The node that block b (address / 2 MiB) of a weighted range goes to when
 * the kernel lacks MPOL_WEIGHTED_INTERLEAVE: a fixed cycle over the
 * nodes in proportion to their weights. Exposed for the unit tests. */
int ts_tier_weighted_node(uint64_t block, const int *nodes, const unsigned char *weights, int n);

#endif
