/* tiershim's own metadata pages (record vectors, huge-page block states).
 *
 * They come from an area reserved next to the placement window, never from
 * mmap(NULL): the kernel would put a small mapping of ours in the first gap
 * that fits, a hole the program just unmapped among them, and a stray write
 * there would then corrupt tiershim instead of faulting as it does without
 * it. Before the area exists (or once it is full) the kernel places them. */
#ifndef TS_META_H
#define TS_META_H

#include <stddef.h>
#include <stdint.h>

/* [base, base+len): PROT_NONE, reserved by the caller, ours from now on. */
void ts_meta_init(uintptr_t base, size_t len);

/* bytes (a page multiple) of zeroed read-write memory; NULL on failure. */
void *ts_meta_map(size_t bytes);

/* The same, for records read on every placement call (the regions'
 * vectors): handed to ts_meta_hot_hook first, which the composition root
 * sets to the tier policy's fast-tier binding (shim/init.c). */
void *ts_meta_map_hot(size_t bytes);
extern void (*ts_meta_hot_hook)(void *p, size_t bytes);

/* Gives back what ts_meta_map returned, with its size. */
void ts_meta_unmap(void *p, size_t bytes);

#endif
