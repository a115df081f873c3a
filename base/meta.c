/* Metadata pages from one reserved area: see meta.h.
 *
 * Sizes are rounded to powers of two (the record vectors double) and a
 * freed slot is kept, PROT_NONE again, on a short list of its size; the
 * rest of the area is handed out by a bump pointer. A slot is committed
 * and given back with mmap(MAP_FIXED) over our own reservation, so the
 * area never has a hole another mapping could take. */
#include "base/meta.h"

#include <stdbool.h>
#include <sys/mman.h>

#include "base/prim.h"
#include "base/reentry.h"

#define META_CLASSES 48 /* log2 of a slot's size */
#define META_KEEP 16    /* freed slots kept per size; more stay reserved, unused */

static uintptr_t meta_base, meta_end, meta_next;
static uintptr_t meta_free[META_CLASSES][META_KEEP];
static unsigned meta_nfree[META_CLASSES];
static int meta_spin;

/* A spin lock held for a few instructions. ts_busy keeps a signal handler
 * on this thread from coming back in (its mmap goes to the kernel). */
static void meta_lock(void) {
  ts_busy_enter();
  while (__atomic_exchange_n(&meta_spin, 1, __ATOMIC_ACQUIRE)) __builtin_ia32_pause();
}

static void meta_unlock(void) {
  __atomic_store_n(&meta_spin, 0, __ATOMIC_RELEASE);
  ts_busy_exit();
}

static unsigned meta_class(size_t bytes) {
  unsigned c = 12;
  while (((size_t)1 << c) < bytes) c++;
  return c;
}

void ts_meta_init(uintptr_t base, size_t len) {
  meta_lock();
  meta_base = meta_next = base;
  meta_end = base + len;
  meta_unlock();
}

/* A free slot of class c, or 0. */
static uintptr_t meta_take(unsigned c) {
  uintptr_t s = 0;
  meta_lock();
  size_t size = (size_t)1 << c;
  if (meta_nfree[c] > 0) s = meta_free[c][--meta_nfree[c]];
  else if (meta_end - meta_next >= size) s = meta_next, meta_next += size;
  meta_unlock();
  return s;
}

void *ts_meta_map(size_t bytes) {
  unsigned c = meta_class(bytes);
  uintptr_t s = c < META_CLASSES ? meta_take(c) : 0;
  if (s != 0) {
    ts_prim_ptr_t m = ts_prim_mmap((void *)s, (size_t)1 << c, PROT_READ | PROT_WRITE,
                                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    if (m.err == 0) return m.addr;
    ts_meta_unmap((void *)s, bytes); /* still reserved: back on its list */
  }
  ts_prim_ptr_t m = ts_prim_mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  return m.err ? NULL : m.addr;
}

void (*ts_meta_hot_hook)(void *p, size_t bytes);

void *ts_meta_map_hot(size_t bytes) {
  void *p = ts_meta_map(bytes);
  void (*hot)(void *, size_t) = __atomic_load_n(&ts_meta_hot_hook, __ATOMIC_ACQUIRE);
  if (p != NULL && hot != NULL) hot(p, bytes);
  return p;
}

void ts_meta_unmap(void *p, size_t bytes) {
  uintptr_t a = (uintptr_t)p;
  if (p == NULL) return;
  if (a < meta_base || a >= meta_end) {
    ts_prim_munmap(p, bytes);
    return;
  }
  unsigned c = meta_class(bytes);
  (void)ts_prim_mmap(p, (size_t)1 << c, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE, -1, 0);
  meta_lock();
  if (meta_nfree[c] < META_KEEP) meta_free[c][meta_nfree[c]++] = a;
  meta_unlock();
}
