/* Initialisation and teardown.
 *
 * Initialisation runs once, on whichever comes first: our constructor or
 * the first call into an entry point (another library's constructor may
 * allocate before ours runs; libnuma's does). It must tolerate re-entry:
 * dlsym, atfork registration and libc may allocate while it runs. The
 * thread that initialises marks itself in a thread-local and its nested
 * allocations are served by the bootstrap arena; other threads arriving
 * meanwhile do not wait (waiting could deadlock on the loader lock) but use
 * the regular heap with the default settings, which is always correct. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>
#include <sys/auxv.h>
#include <unistd.h>

#include <mimalloc.h>

#include "alloc/place.h"
#include "alloc/route.h"
#include "base/meta.h"
#include "base/msg.h"
#include "base/options.h"
#include "shim/shim.h"
#include "observe/stats.h"
#include "policy/thp.h"
#include "policy/coldread.h"
#include "policy/tierpol.h"
#include "policy/promote.h"
#include "base/prim.h"
#include "policy/unmap/unmap.h"
#include "observe/profile.h"
#include "observe/publish.h"
#include "base/tick.h"

extern char **environ;

int ts_ready;

enum { INIT_NONE, INIT_RUNNING, INIT_DONE };
static int init_state = INIT_NONE;
static __thread bool init_on_this_thread __attribute__((tls_model("initial-exec")));

static void init_verbose(void) {
  if (ts_config.verbose == 0) return;
  TS_MSG_BEGIN(b, storage);
  ts_buf_puts(&b, "version " TIERSHIM_VERSION ", pid ");
  ts_buf_u64(&b, (uint64_t)getpid());
  ts_buf_puts(&b, ts_config.enable ? ", policies on" : ", policies off (TIERSHIM_ENABLE=0)");
  ts_msg_end(&b);
  ts_options_print_config(&ts_config);
  ts_tier_print_verbose();
}

/* mimalloc reports out-of-memory (ENOMEM) and impossible sizes (EOVERFLOW)
 * here; the malloc fast path relies on this to set errno (see malloc.c). */
static void init_heap_error(int err, void *arg) {
  (void)arg;
  if (err == ENOMEM || err == EOVERFLOW) errno = ENOMEM;
}

/* The environment names mimalloc 2.0.9 reads for its decommit delay (any
 * case, as mimalloc compares them). */
static bool init_env_names_decommit(void) {
  static const char *const names[] = {"MIMALLOC_DECOMMIT_DELAY=", "MIMALLOC_RESET_DELAY="};
  for (char **e = environ; e && *e; e++)
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
      if (strncasecmp(*e, names[i], strlen(names[i])) == 0) return true;
  return false;
}

/* mimalloc gives a freed span of its segments back (madvise DONTNEED) 25 ms
 * after the free; with another thread running, each of those is a TLB
 * shootdown, and in a program that frees and allocates continually most
 * of that memory would have been reused a moment later. jemalloc waits
 * 10 s. A user's own MIMALLOC_ setting wins; under AT_SECURE mimalloc's
 * options are pinned (secure.c) and this one, which no environment set,
 * still applies. */
static void init_heap_decommit(bool secure) {
  if (!ts_config.enable || (!secure && init_env_names_decommit())) return;
  mi_option_set(mi_option_decommit_delay, ts_config.heap_decommit_ms);
}

/* glibc's malloc moves the program break on its first allocation, by the
 * request plus M_TOP_PAD (128 KiB) rounded to pages, so in every program
 * that has allocated anything the bytes just below sbrk(0) are mapped: the
 * [heap] segment. mimalloc never moves the break, and a program that
 * touches memory below the break it started from faults (stress-ng's brk
 * stressor writes the byte below each break it gets, and died on its first
 * write under tiershim, mimalloc and jemalloc alike). Moving the break once
 * at start-up, as glibc would, keeps that. The pages are never touched:
 * address space and one VMA, no memory. Refused (RLIMIT_DATA), nothing
 * changes, as when glibc's brk fails and it falls back to mmap. */
#define INIT_HEAP_SEGMENT ((uintptr_t)132 << 10)

static void init_heap_segment(void) {
  uintptr_t cur = ts_prim_brk(0);
  if (cur != 0) (void)ts_prim_brk(cur + INIT_HEAP_SEGMENT);
}

static void init_run(void) {
  /* Secure-execution programs (setuid, setgid, file capabilities) must not
   * be steerable through the environment of an unprivileged user. */
  bool secure = getauxval(AT_SECURE) != 0;
  init_heap_segment();
  ts_meta_hot_hook = ts_tier_bind_hot; /* the regions' records on the fast tier */
  (void)ts_options_parse(&ts_config, environ, secure);
  ts_fault_init();
  ts_route_configure(&ts_config);
  mi_register_error(init_heap_error, NULL);
  init_heap_decommit(secure);
  ts_malloc_compat_init();
  (void)ts_symbols_resolve();
  ts_syscall_init();
  ts_unmap_init();
  /* Lazy release: every mapping change tiershim makes settles its range
   * first (base/prim.h), so the module never zaps a remapped range. */
  if (ts_unmap_lazy_on()) ts_prim_settle = ts_unmap_settle;
  ts_mmap_init();
  ts_tier_init();
  ts_cold_read_init();
  ts_promote_init();
  if (ts_config.enable) ts_thp_mode_init();
  ts_profile_init();
  ts_fork_install();
  ts_stats_start();
  /* Live stats: the page is made and refreshed from the slow paths' tick
   * (base/tick.h), never from the fast paths. */
  if (ts_publish_init()) ts_tick_hook = ts_publish_tick;
  init_verbose();
}

bool ts_init_enter(void) {
  if (init_on_this_thread) return true;
  int expected = INIT_NONE;
  if (!__atomic_compare_exchange_n(&init_state, &expected, INIT_RUNNING, false, __ATOMIC_ACQ_REL,
                                   __ATOMIC_ACQUIRE))
    return false; /* done, or another thread is at it */
  init_on_this_thread = true;
  init_run();
  init_on_this_thread = false;
  __atomic_store_n(&init_state, INIT_DONE, __ATOMIC_RELEASE);
  __atomic_store_n(&ts_ready, 1, __ATOMIC_RELEASE);
  ts_malloc_open_gates();
  return false;
}

__attribute__((constructor(101))) static void ts_constructor(void) { (void)ts_init_enter(); }

__attribute__((destructor(101))) static void ts_destructor(void) {
  ts_profile_report_at_exit();
  ts_stats_report_at_exit();
  ts_publish_exit();
  ts_unmap_fini();
  ts_fault_report();
}
