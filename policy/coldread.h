/* Cold reads: the page cache that a large file read into placed memory
 * creates goes to the slow tier.
 *
 * A model loaded without mmap is read from its file into a buffer the
 * program keeps (llama.cpp's --no-mmap, ONNX Runtime's arena). The kernel
 * allocates the file's page cache under the reading thread's task policy,
 * which on a tiered machine is tiershim's (preferred fast), so the
 * fast tier ends up holding two copies of the weights: the program's, and
 * a page cache nobody reads again. Bulk placed by TIERSHIM_BULK=fast then
 * finds the fast tier full and spills, and only the kernel's own tiering
 * (which tiershim keeps out of its ranges, docs/tiers.md) would demote that
 * page cache later. So for the length of such a read the thread prefers the
 * slow tier; the destination is populated first, under the policy it
 * would have faulted under, so its pages and page tables stay where they
 * were going (docs/tiers.md, "Cold reads").
 *
 * The shim decides what is a candidate (size, destination, file type:
 * shim/fileio.c); this layer only switches the thread's policy and back. */
#ifndef TS_COLDREAD_H
#define TS_COLDREAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Reads shorter than this keep the thread's policy: their page cache is
 * small, and the system calls would show against a cached small read. */
#define TS_COLD_READ_MIN ((size_t)1 << 20)

/* Set by ts_cold_read_init: TIERSHIM_COLD_READS and a cold policy exist. */
extern bool ts_cold_reads;
void ts_cold_read_init(void);

typedef struct ts_cold_read_s {
  int mode;         /* the thread's policy before, restored by _end */
  uint64_t nodes;
  bool active;
} ts_cold_read_t;

/* Before a read of up to `fill` bytes into dst: lets bulk=fast decide
 * their tier again (ts_tier_filling), populates them and makes the thread
 * prefer the slow tier. false (s->active false) where any step
 * failed: the read then runs under the thread's own policy, counted in
 * cold_read_refused. */
bool ts_cold_read_begin(ts_cold_read_t *s, void *dst, size_t fill);
/* After it: the thread's policy as it was; got is what the read returned. */
void ts_cold_read_end(ts_cold_read_t *s, long got);

typedef struct ts_cold_read_stats_s {
  uint64_t reads, bytes, refused, restore_failures;
} ts_cold_read_stats_t;
void ts_cold_read_stats(ts_cold_read_stats_t *out);

/* The system calls, replaceable by the unit tests (NULL: reset). */
typedef struct ts_cold_read_hooks_s {
  int (*get_mempolicy)(int *mode, uint64_t *nodes);
  int (*set_mempolicy)(int mode, uint64_t nodes);
  int (*madvise)(void *addr, size_t len, int advice);
  void (*filling)(uintptr_t a, size_t len); /* ts_tier_filling */
} ts_cold_read_hooks_t;
void ts_cold_read_set_hooks(const ts_cold_read_hooks_t *h);
/* The tests' way to switch it on without tiers: the policy to read under. */
void ts_cold_read_enable(int mode, uint64_t nodes);

#endif
