/* What the placement engine asks of the policies below it, in one table
 * (the shape of jemalloc's hpa_hooks_t): the engine names no policy module,
 * and tests drive it with fakes (tests/unit/test_place.c).
 *
 * Every entry is told about address space the engine owns; none may call
 * back into the engine (the placement lock may be held), except
 * thp_window's collapsible, which the collapse thread calls with no lock. */
#ifndef TS_PLACE_OPS_H
#define TS_PLACE_OPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/range.h"

typedef struct ts_place_ops_s {
  /* Huge pages (policy/thp.h). The window exists: [base, base + len). */
  void (*thp_window)(uintptr_t base, size_t len, bool (*collapsible)(uintptr_t block));
  void (*thp_mapped)(uintptr_t a, size_t len);   /* mapped read-write afresh */
  void (*thp_unmapped)(uintptr_t a, size_t len); /* mapped afresh: state reset */
  void (*thp_granted)(uintptr_t a, size_t len);  /* handed to the program */
  void (*thp_released)(uintptr_t a, size_t len); /* its memory went back to the OS */
  void (*thp_sparse)(uintptr_t a, size_t len);   /* zeroed, maybe used sparsely */
  void (*thp_unsparse)(uintptr_t a, size_t len);
  bool (*thp_mmap_probe)(size_t len);            /* the program's mmap: small pages first? */
  void (*thp_mmap_observe)(uintptr_t a, size_t len); /* a probe is unmapped */
  bool (*thp_block_probe)(size_t len);            /* an uninitialised block: small pages first? */
  void (*thp_block_placed)(uintptr_t a, size_t len, bool probe); /* an uninitialised block placed */
  void (*thp_block_observe)(uintptr_t a, size_t len); /* a block is freed */
  bool (*thp_fill_small)(size_t len);            /* a very large uninitialised block: small pages first? */
  void (*thp_fork_child)(void);
  /* Tiers (policy/tierpol.h). */
  void (*tier_window_mapped)(uintptr_t a, size_t len); /* mapped afresh: the window's policy */
  void (*tier_granted)(uintptr_t a, size_t len);       /* handed out: its class's policy */
  /* Giving memory back (policy/unmap/unmap.h). */
  size_t (*release)(ts_range_t *r, size_t n); /* every range released; the bytes */
  size_t (*retain_max)(void);                 /* bytes the engine may keep */
  uint64_t (*decay_ns)(void);                 /* the decay window; 0: off */
  unsigned (*scale)(void);                    /* the adaptive scale, 1-8 */
  void (*decayed)(size_t bytes);              /* the engine decayed this much */
  /* [a, a + len), some of it zapped, is handed out again: whatever the
   * release left pending (lazy release in the kernel module) must not be
   * zapped after this. Optional (NULL: nothing is ever pending). */
  void (*settle)(uintptr_t a, size_t len);
} ts_place_ops_t;

/* The policies of policy/. */
extern const ts_place_ops_t ts_place_default_ops;

/* Replaces the table (NULL: the default). Before the first placement:
 * tests only. */
void ts_place_set_ops(const ts_place_ops_t *ops);

#endif
