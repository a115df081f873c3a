/* The bootstrap arena: serves allocations made while tiershim initialises
 * itself on this thread (dlsym calling calloc on older glibc, dlerror's
 * result record when an optional symbol is missing, atfork registration).
 * At that moment tiershim may not yet have configured its heap, so those
 * requests must not reach it.
 *
 * A bump allocator over a static buffer. free() of its pointers is safe
 * anywhere in the program: the block is released if it is the last one
 * (the usual dlerror pattern), otherwise it is simply retained. When the
 * buffer is exhausted ts_boot_alloc returns NULL and the caller falls back
 * to the regular heap. */
#ifndef TS_BOOTSTRAP_H
#define TS_BOOTSTRAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct ts_boot_s {
  char *mem;
  size_t cap;
  size_t top;          /* bytes in use */
  size_t last;         /* offset of the newest block's header, or SIZE_MAX */
  int lock;            /* a spinlock: the arena is tiny and rarely used */
} ts_boot_t;

#define TS_BOOT_HEADER 16 /* keeps 16-byte alignment of the payload */

void ts_boot_init(ts_boot_t *a, void *mem, size_t cap);
void *ts_boot_alloc(ts_boot_t *a, size_t size, size_t align, bool zero);
void ts_boot_free(ts_boot_t *a, void *p);
size_t ts_boot_usable(const ts_boot_t *a, const void *p);

static inline bool ts_boot_owns(const ts_boot_t *a, const void *p) {
  return (const char *)p >= a->mem && (const char *)p < a->mem + a->cap;
}

/* The process's arena: 64 KiB of static storage at a link-time address,
 * so the free fast path tests ownership without a load. */
#define TS_BOOT_SIZE (64 * 1024)
extern char ts_boot_storage[TS_BOOT_SIZE] __attribute__((visibility("hidden")));
extern ts_boot_t ts_boot_arena;

void ts_boot_lock(ts_boot_t *a);
void ts_boot_unlock(ts_boot_t *a);

#endif
