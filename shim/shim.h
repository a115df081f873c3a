/* Internals of the top layer: the interposed entry points and the
 * composition root (init, fork, the public API), the .c files of shim/. */
#ifndef TS_SHIM_H
#define TS_SHIM_H

#include <stdbool.h>
#include <stddef.h>

#include "base/range.h"

#define TS_EXPORT __attribute__((visibility("default")))

/* ---- init (init.c) ----------------------------------------------------- */

/* 1 once initialisation has completed; the entry points test it first. */
extern int ts_ready;

/* Runs initialisation if nobody has started it. Returns true when the
 * calling thread is inside initialisation right now, in which case the
 * caller must serve allocations from the bootstrap arena. */
bool ts_init_enter(void);

/* ---- real symbols (symbols.c) ------------------------------------------ */

/* libc's pthread_create is base/thread.h's ts_thread_real_create. */
typedef struct ts_real_s {
  void *syscall; /* glibc's syscall(2), which shim/syscall.c jumps to */
} ts_real_t;

extern ts_real_t ts_real;

/* Resolves the table with dlsym(RTLD_NEXT). Returns the number of required
 * symbols that are missing (each already reported). */
int ts_symbols_resolve(void);

/* ---- mmap family (mmap.c) ---------------------------------------------- */

void ts_mmap_init(void); /* locates the heap's code, to tell its calls apart */

/* Nonzero while this thread runs one of the heap's own OS calls. */
extern __thread unsigned ts_in_heap_os __attribute__((tls_model("initial-exec")));

/* ---- syscall(2) (syscall.c) -------------------------------------------- */

void ts_syscall_init(void); /* after ts_symbols_resolve: glibc's syscall for other numbers */

/* ---- fork (fork.c) ----------------------------------------------------- */

void ts_fork_install(void);

/* Fault injection (shim/fault.c): active only in the tiershim_fault test
 * build with TS_FAULTS set; no-ops otherwise. */
void ts_fault_init(void);
void ts_fault_report(void);

/* ---- glibc compatibility (malloc.c) ------------------------------------ */

/* glibc < 2.38 made aligned_alloc an alias of memalign (any alignment,
 * rounded up); 2.38 rejects a non-power-of-two alignment with EINVAL. */
void ts_malloc_compat_init(void);

/* Opens the malloc/free fast paths; the last step of initialisation. */
void ts_malloc_open_gates(void);

/* malloc, free and memalign under hidden names (aliases, malloc.c), for
 * operator new and delete (cxx.c): direct calls, never through the PLT. */
#define TS_HIDDEN __attribute__((visibility("hidden")))
TS_HIDDEN void *ts_shim_malloc(size_t size);
TS_HIDDEN void ts_shim_free(void *p);
TS_HIDDEN void *ts_shim_memalign(size_t align, size_t size);

#endif
