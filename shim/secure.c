/* Under AT_SECURE, mimalloc must not read its MIMALLOC_* variables either
 * (MIMALLOC_VERBOSE=1 prints heap addresses, MIMALLOC_RESERVE_* and friends
 * change the heap of a privileged program).
 *
 * libmimalloc is a DT_NEEDED of libtiershim, so its constructor, which
 * reads environ and prints, runs before any constructor of ours. What runs
 * earlier still is an IFUNC resolver: the loader calls it while relocating
 * libtiershim (glibc defers IRELATIVE relocations to the end of the object's
 * relocation, -z now), after libmimalloc and libc were relocated and before
 * any constructor runs. environ is still NULL then, and in mimalloc 2.0.9
 * (src/options.c):
 *  - mi_option_get(o) on an option not yet read looks in environ; with
 *    environ NULL it finds nothing and returns the compiled default, leaving
 *    the option unread while mimalloc is "preloading" (its constructor has
 *    not run);
 *  - mi_option_set(o, v) stores v and marks the option INITIALIZED, after
 *    which mimalloc never reads the environment for it.
 * So the resolver pins every option to its default. Its function itself
 * does nothing; the constructor below calls it so that the reference (and
 * with it the relocation) exists. Output that mimalloc might still produce
 * (an error message) is discarded under AT_SECURE: its default handler is
 * replaced once its constructor has installed it. */
#define _GNU_SOURCE
#include "shim/secure.h"

#include <stddef.h>
#include <sys/auxv.h>

#include <mimalloc.h>

bool ts_secure(void) { return getauxval(AT_SECURE) != 0; }

static void secure_nothing(void) {}

/* Called by the loader, before any constructor: getauxval and mimalloc's
 * option calls are all it may use (both objects are relocated). */
static void (*secure_resolve_pin(void))(void) {
  if (getauxval(AT_SECURE))
    for (int o = 0; o < _mi_option_last; o++) mi_option_set((mi_option_t)o, mi_option_get((mi_option_t)o));
  return secure_nothing;
}

/* hidden: an IRELATIVE relocation (a default-visibility IFUNC would be a
 * JUMP_SLOT resolved in order, possibly before mi_option_set's own slot) */
__attribute__((visibility("hidden"))) void ts_secure_pin_heap(void) __attribute__((ifunc("secure_resolve_pin")));

static void secure_discard(const char *msg, void *arg) {
  (void)msg;
  (void)arg;
}

/* After libmimalloc's constructor (libtiershim depends on it), which sets
 * its stderr handler and would replace one registered earlier. */
__attribute__((constructor)) static void secure_constructor(void) {
  ts_secure_pin_heap();
  if (ts_secure()) mi_register_output(secure_discard, NULL);
}
