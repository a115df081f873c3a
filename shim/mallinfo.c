/* mallinfo, mallinfo2 and malloc_stats: tiershim's own figures in glibc's
 * fields, so that a program (or tst-mallinfo2) watching them sees its
 * allocations, not glibc's heap, which is empty under the shim.
 *
 * Where the figures come from. The heap, mimalloc 2.0.9 as Debian builds it
 * (MI_STAT 0), keeps no count of the bytes in use. It does keep, always and
 * process-wide, the bytes it has committed from the OS (read through
 * mi_process_info: one getrusage, no /proc). Each thread's heap knows its own
 * pages: per page the blocks in use, the block size and the capacity
 * (mi_heap_visit_blocks without visiting blocks: one callback per page, no
 * allocation, no lock). No thread can walk another thread's heap safely.
 * The placement engine counts its live malloc-family blocks and its
 * retained bytes under its lock (ts_place_usage).
 *
 * The fields (glibc's meaning first):
 *   arena     non-mmapped space from the OS: the heap's committed bytes,
 *             whole process. mimalloc commits its 32 MiB segments up front
 *             (overcommitted, not necessarily resident), so this moves in
 *             large steps, not with each block.
 *   ordblks   free chunks: the calling thread's heap pages that have a free
 *             block.
 *   smblks    free fastbin chunks: 0 (there are none).
 *   hblks     mmapped chunks: live malloc-family blocks placed in tiershim's
 *             regions (the large path, >= TIERSHIM_LARGE_MIN), whole process.
 *   hblkhd    their bytes (each rounded up to a page).
 *   usmblks   0, as in glibc.
 *   fsmblks   bytes in fastbins: 0.
 *   uordblks  bytes in use outside the mmapped chunks: the blocks in use in
 *             the calling thread's heap (small and medium objects, and large
 *             ones that fell back to the heap), counted at their block size.
 *             Blocks of other threads are not seen; a block that another
 *             thread freed counts until its owner collects it.
 *   fordblks  free bytes: the free blocks of the calling thread's heap pages
 *             plus the placed bytes retained (freed, kept mapped, reused
 *             first).
 *   keepcost  releasable top: the retained placed bytes, which tiershim
 *             gives back to the OS itself (TIERSHIM_RETAIN_MAX,
 *             TIERSHIM_UNMAP_DELAY).
 * So uordblks + hblkhd is what this thread has in use plus every large
 * block, and arena + hblkhd + keepcost bounds what the allocator holds.
 * Unlike glibc's, arena is not uordblks + fordblks.
 *
 * malloc_stats prints glibc's layout from the same figures, with one write
 * to stderr (fd 2) and no stdio. Its last two lines say "mmap regions" and
 * "mmap bytes", the current placed blocks: tiershim keeps no peak, so it
 * does not print glibc's "max". malloc_info is not interposed: its XML
 * describes glibc's bins and goes through the caller's FILE.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <malloc.h>

#include <mimalloc.h>

#include "base/buf.h"
#include "alloc/place.h"
#include "base/prim.h"
#include "shim/shim.h"

typedef struct {
  size_t used, free, free_pages;
} heap_usage_t;

static bool visit_area(const mi_heap_t *heap, const mi_heap_area_t *area, void *block,
                       size_t block_size, void *arg) {
  (void)heap;
  (void)block;
  (void)block_size;
  heap_usage_t *u = arg;
  size_t used = area->used * area->full_block_size;
  u->used += used;
  if (area->committed > used) {
    u->free += area->committed - used;
    u->free_pages++;
  }
  return true;
}

static struct mallinfo2 collect(void) {
  int saved = errno;
  heap_usage_t h = {0, 0, 0};
  mi_heap_visit_blocks(mi_heap_get_default(), false, visit_area, &h);
  size_t commit = 0;
  mi_process_info(NULL, NULL, NULL, NULL, NULL, &commit, NULL, NULL);
  ts_place_usage_t p;
  ts_place_usage(&p);
  errno = saved;
  return (struct mallinfo2){
      .arena = commit,
      .ordblks = h.free_pages,
      .hblks = p.malloc_blocks,
      .hblkhd = p.malloc_bytes,
      .uordblks = h.used,
      .fordblks = h.free + p.retained,
      .keepcost = p.retained,
  };
}

TS_EXPORT struct mallinfo2 mallinfo2(void) { return collect(); }

/* glibc converts field by field (size_t to int: the low 32 bits). */
TS_EXPORT struct mallinfo mallinfo(void) {
  struct mallinfo2 m = collect();
  return (struct mallinfo){
      .arena = (int)m.arena,
      .ordblks = (int)m.ordblks,
      .smblks = (int)m.smblks,
      .hblks = (int)m.hblks,
      .hblkhd = (int)m.hblkhd,
      .usmblks = (int)m.usmblks,
      .fsmblks = (int)m.fsmblks,
      .uordblks = (int)m.uordblks,
      .fordblks = (int)m.fordblks,
      .keepcost = (int)m.keepcost,
  };
}

static void stats_line(ts_buf_t *b, const char *label, uint64_t v) {
  ts_buf_puts(b, label);
  char digits[24];
  ts_buf_t d;
  ts_buf_init(&d, digits, sizeof digits);
  ts_buf_u64(&d, v);
  for (size_t i = d.len; i < 10; i++) ts_buf_putc(b, ' '); /* glibc's %10u */
  ts_buf_puts(b, digits);
  ts_buf_putc(b, '\n');
}

TS_EXPORT void malloc_stats(void) {
  int saved = errno;
  struct mallinfo2 m = collect();
  char storage[512];
  ts_buf_t b;
  ts_buf_init(&b, storage, sizeof storage);
  ts_buf_puts(&b, "Arena 0:\n");
  stats_line(&b, "system bytes     = ", m.arena);
  stats_line(&b, "in use bytes     = ", m.uordblks);
  ts_buf_puts(&b, "Total (incl. mmap):\n");
  stats_line(&b, "system bytes     = ", m.arena + m.hblkhd + m.keepcost);
  stats_line(&b, "in use bytes     = ", m.uordblks + m.hblkhd);
  stats_line(&b, "mmap regions     = ", m.hblks);
  stats_line(&b, "mmap bytes       = ", m.hblkhd);
  (void)ts_prim_write_all(2, b.p, b.len);
  errno = saved;
}
