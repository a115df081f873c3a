/* small_prog: a small, deterministic program for the shell tests.
 *
 *   small_prog [--pid] [--report] [--heap-delay] [--exit N]
 *
 * Prints a fixed greeting, allocates a little (including blocks of 100 KiB,
 * 300 KiB and 2 MiB), and exits with N (default 0).
 *   --pid     also prints "pid=<getpid()>"
 *   --report  also prints what tiershim says, one deterministic line:
 *             "shim=found enabled=E malloc_rise=ok|low large_delta=D large_total=T"
 *             (D: large_allocs rise over the three blocks above), or
 *             "shim=absent" without the shim.
 *   --heap-delay  also prints "heap_decommit_delay=N": mimalloc's decommit
 *             delay as the loaded mimalloc reports it (mi_option_get), or
 *             "heap_decommit_delay=absent" when no mimalloc is loaded.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <mimalloc.h> /* the option's number only: mimalloc is found with dlsym */

#include "it_common.h"

int main(int argc, char **argv) {
  int code = 0, want_pid = 0, report = 0, heap_delay = 0;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--pid")) want_pid = 1;
    else if (!strcmp(argv[i], "--report")) report = 1;
    else if (!strcmp(argv[i], "--heap-delay")) heap_delay = 1;
    else if (!strcmp(argv[i], "--exit") && i + 1 < argc) code = atoi(argv[++i]);
    else {
      fprintf(stderr, "usage: %s [--pid] [--report] [--heap-delay] [--exit N]\n", argv[0]);
      return 2;
    }
  }
  printf("small_prog: hello\n");
  if (want_pid) printf("pid=%ld\n", (long)getpid());
  if (heap_delay) {
    long (*opt_get)(mi_option_t) = (long (*)(mi_option_t))it_sym("mi_option_get");
    if (opt_get) printf("heap_decommit_delay=%ld\n", opt_get(mi_option_decommit_delay));
    else printf("heap_decommit_delay=absent\n");
  }
  fflush(stdout);

  it_stats_get_fn get = (it_stats_get_fn)it_sym("tiershim_stats_get");
  it_enabled_fn enabled = (it_enabled_fn)it_sym("tiershim_enabled");
  tiershim_stats_t a = {0}, b = {0};
  if (get) a = it_stats(get);
  static const size_t sizes[3] = {100 << 10, 300 << 10, 2 << 20};
  void *blk[3];
  for (int i = 0; i < 3; i++) {
    blk[i] = malloc(sizes[i]);
    if (!blk[i]) IT_DIE("malloc(%zu) returned NULL", sizes[i]);
    memset(blk[i], i + 1, sizes[i]);
  }
  if (get) b = it_stats(get);
  char *strs[100];
  for (int i = 0; i < 100; i++) {
    strs[i] = malloc(32);
    if (!strs[i]) IT_DIE("malloc(32) returned NULL");
    snprintf(strs[i], 32, "item-%d", i);
  }
  unsigned long sum = 0;
  for (int i = 0; i < 100; i++) {
    sum += strlen(strs[i]);
    free(strs[i]);
  }
  for (int i = 0; i < 3; i++) free(blk[i]);
  printf("small_prog: checksum %lu\n", sum);
  if (report) {
    if (get == NULL || enabled == NULL) {
      printf("shim=absent\n");
    } else {
      printf("shim=found enabled=%d malloc_rise=%s large_delta=%llu large_total=%llu\n",
             enabled(), b.malloc_calls - a.malloc_calls >= 3 ? "ok" : "low",
             (unsigned long long)(b.large_allocs - a.large_allocs),
             (unsigned long long)b.large_allocs);
    }
  }
  return code;
}
