/* The kernel's argument checks for the range-taking mmap-family calls.
 *
 * A call that touches tiershim's window is emulated against its records,
 * and the parts outside the window are handed to the kernel piece by piece.
 * Both are right only if the call as a whole is valid: munmap(NULL,
 * SIZE_MAX) is EINVAL for the kernel, while its piece below the window
 * would be a valid munmap of the program's own text. So each call is first
 * checked here, whole, in the order mm/ checks it (mm/mmap.c
 * do_vmi_munmap, mm/mprotect.c do_mprotect_pkey, mm/madvise.c do_madvise,
 * mm/mlock.c do_mlock on 6.1-6.18), before anything is touched.
 *
 * Each returns 0 (go on: [*start, *end) is the page-rounded range), 1 (a
 * valid empty range: the call succeeds doing nothing) or -errno. Pure,
 * except the probes noted below (one harmless system call each, cached). */
#ifndef TS_KARGS_H
#define TS_KARGS_H

#include <stddef.h>
#include <stdint.h>

int ts_kargs_munmap(uintptr_t start, size_t len, uintptr_t *end);
int ts_kargs_mprotect(uintptr_t start, size_t len, int prot, uintptr_t *end);
int ts_kargs_madvise(uintptr_t start, size_t len, int advice, uintptr_t *end);
/* mlock and munlock round the start down (unaligned starts are valid). */
int ts_kargs_mlock(uintptr_t *start, size_t len, uintptr_t *end);

/* The highest user address + 1 - a page, as the kernel's TASK_SIZE: 47 or
 * 56 bits, probed once (a munmap at 2^47 is EINVAL only with 4-level page
 * tables, and unmaps nothing with 5-level ones). */
uintptr_t ts_kargs_task_size(void);

/* Does the running kernel know this advice? Probed once per value: on an
 * unmapped page a known advice fails with ENOMEM, an unknown one EINVAL. */
int ts_kargs_advice_known(int advice);

/* Advice that only acts on the pages (what they hold, or where), never on
 * the VMA: nothing of it outlives an munmap. Anything else (flags, guard
 * markers, advice this list does not know) taints the range. */
int ts_kargs_advice_page_only(int advice);

#endif
