/* The bootstrap arena; see bootstrap.h. */
#include "alloc/bootstrap.h"

#include <string.h>

_Alignas(64) char ts_boot_storage[TS_BOOT_SIZE];
ts_boot_t ts_boot_arena = {ts_boot_storage, TS_BOOT_SIZE, 0, SIZE_MAX, 0};

/* Each block: [header: size, prev_last] [padding] payload. The header sits
 * immediately before the payload so free/usable find it from the pointer. */
typedef struct boot_hdr_s {
  uint32_t size;      /* payload bytes */
  uint32_t prev_last; /* `last` before this block, for LIFO release */
  uint32_t start;     /* offset where this block's space began */
  uint32_t magic;
} boot_hdr_t;

_Static_assert(sizeof(boot_hdr_t) == TS_BOOT_HEADER, "header size");
#define BOOT_MAGIC 0x74736862u /* "tshb" */
#define BOOT_NONE UINT32_MAX

void ts_boot_init(ts_boot_t *a, void *mem, size_t cap) {
  a->mem = mem;
  a->cap = cap;
  a->top = 0;
  a->last = SIZE_MAX;
  a->lock = 0;
}

void ts_boot_lock(ts_boot_t *a) {
  while (__atomic_exchange_n(&a->lock, 1, __ATOMIC_ACQUIRE)) __builtin_ia32_pause();
}

void ts_boot_unlock(ts_boot_t *a) { __atomic_store_n(&a->lock, 0, __ATOMIC_RELEASE); }

static boot_hdr_t *boot_hdr(const void *p) { return (boot_hdr_t *)((char *)p - TS_BOOT_HEADER); }

void *ts_boot_alloc(ts_boot_t *a, size_t size, size_t align, bool zero) {
  if (align < TS_BOOT_HEADER) align = TS_BOOT_HEADER;
  if ((align & (align - 1)) != 0 || size > UINT32_MAX || align > a->cap) return NULL;
  ts_boot_lock(a);
  char *base = a->mem;
  size_t start = a->top;
  uintptr_t payload = ((uintptr_t)(base + start) + TS_BOOT_HEADER + align - 1) & ~(uintptr_t)(align - 1);
  size_t end = (size_t)(payload - (uintptr_t)base) + ((size + 15) & ~(size_t)15);
  void *p = NULL;
  if (end <= a->cap) {
    boot_hdr_t *h = boot_hdr((void *)payload);
    h->size = (uint32_t)size;
    h->prev_last = (a->last == SIZE_MAX) ? BOOT_NONE : (uint32_t)a->last;
    h->start = (uint32_t)start;
    h->magic = BOOT_MAGIC;
    a->last = (size_t)((char *)h - base);
    a->top = end;
    p = (void *)payload;
  }
  ts_boot_unlock(a);
  /* Reclaimed space may be dirty; fresh static space is already zero. */
  if (p && zero) memset(p, 0, size);
  return p;
}

void ts_boot_free(ts_boot_t *a, void *p) {
  if (p == NULL || !ts_boot_owns(a, p)) return;
  boot_hdr_t *h = boot_hdr(p);
  if (h->magic != BOOT_MAGIC) return; /* not a block start: ignore, never corrupt */
  ts_boot_lock(a);
  if (a->last == (size_t)((char *)h - a->mem)) { /* the newest block: give it back */
    a->top = h->start;
    a->last = (h->prev_last == BOOT_NONE) ? SIZE_MAX : h->prev_last;
    h->magic = 0;
  }
  ts_boot_unlock(a);
}

size_t ts_boot_usable(const ts_boot_t *a, const void *p) {
  if (p == NULL || !ts_boot_owns(a, p)) return 0;
  const boot_hdr_t *h = boot_hdr(p);
  return h->magic == BOOT_MAGIC ? h->size : 0;
}
