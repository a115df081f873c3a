/* The one table of real symbols, resolved with dlsym(RTLD_NEXT) during
 * initialisation (as heaptrack's preload does). Allocation-family and mmap
 * functions are not here: tiershim serves the former itself and reaches the
 * kernel for the latter through raw system calls (base/prim.c), so neither
 * depends on symbol resolution. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stddef.h>

#include "base/msg.h"
#include "shim/shim.h"
#include "base/thread.h"

ts_real_t ts_real;

typedef struct sym_entry_s {
  const char *name;
  void **slot;
  bool required;
} sym_entry_t;

#ifdef TS_TEST_MISSING_SYMBOL
/* Test builds resolve a symbol that exists nowhere: glibc then allocates its
 * dlerror record with malloc while tiershim is initialising, and frees it
 * through our free() on the next dl* call. That is the bootstrap hazard. */
static void *sym_test_missing;
#endif

static const sym_entry_t sym_table[] = {
    {"pthread_create", (void **)&ts_thread_real_create, true},
    {"syscall", &ts_real.syscall, false}, /* shim/syscall.c: glibc's, for every other number */
#ifdef TS_TEST_MISSING_SYMBOL
    {"tiershim_test_missing_symbol", &sym_test_missing, false},
#endif
};

int ts_symbols_resolve(void) {
  int missing = 0;
  for (size_t i = 0; i < sizeof sym_table / sizeof sym_table[0]; i++) {
    const sym_entry_t *e = &sym_table[i];
    *e->slot = dlsym(RTLD_NEXT, e->name);
    if (*e->slot != NULL || !e->required) continue;
    missing++;
    TS_MSG_BEGIN(b, storage);
    ts_buf_puts(&b, "required symbol not found: ");
    ts_buf_puts(&b, e->name);
    ts_msg_end(&b);
  }
  return missing;
}
