/* tiershim's own threads (huge-page collapse, promotion, migration
 * workers): the one place that starts them.
 *
 * They are started through libc's pthread_create, never the interposed one
 * (shim/thread.c), so they are not counted or treated as the program's
 * threads, and with every signal blocked, so that the program's handlers
 * never run on them (as jemalloc's background_thread_create_signals_masked). */
#ifndef TS_THREAD_H
#define TS_THREAD_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

typedef int (*ts_pthread_create_fn)(pthread_t *, const pthread_attr_t *, void *(*)(void *), void *);

/* libc's pthread_create. Under the shim it is resolved at initialisation
 * (dlsym RTLD_NEXT, shim/symbols.c); a program that links tiershim's
 * layers without the shim (the CLI, the unit tests) calls
 * ts_thread_use_libc() once. NULL until then: no thread is started. */
extern ts_pthread_create_fn ts_thread_real_create;
void ts_thread_use_libc(void);

/* Starts fn(arg) with every signal blocked; stack 0: libc's default size.
 * detached: nobody joins it; else *t receives its id for pthread_join.
 * 0, ENOSYS (libc's pthread_create not known yet), or pthread_create's error. */
int ts_thread_spawn(pthread_t *t, void *(*fn)(void *), void *arg, size_t stack, bool detached);

/* May tiershim start a thread now? Not while the program is single-threaded:
 * glibc's fork takes its atfork and malloc locks in a multi-threaded process,
 * so a fork from a signal handler that interrupted fork would then hang
 * (glibc's tst-mallocfork2), and __libc_single_threaded, which libraries
 * read, would change. Its threads start once the program has one of its own. */
bool ts_thread_may_add(void);
/* The calling thread (one of tiershim's background threads) yields to the
 * program's: nice 19, as the kernel's khugepaged. */
void ts_thread_background(void);

#endif
