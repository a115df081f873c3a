/* Helpers shared by the benchmark programs (bench/micro, bench/thp, the
 * llama.cpp driver). Each
 * program defines BENCH_NAME before including this header; they link libc,
 * libdl and pthread only, never an allocator. */
#ifndef TS_BENCH_UTIL_H
#define TS_BENCH_UTIL_H

#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#ifndef BENCH_NAME
#error "define BENCH_NAME before including bench_util.h"
#endif

/* A usage or set-up error: one line, exit 2. */
static void die(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs(BENCH_NAME ": ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  exit(2);
}

static inline double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* User + system time of the whole process, all threads. */
static inline double cpu_s(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1e-6;
}

/* splitmix64: one add and two multiplies per draw, good enough bits for
   picking slots and sizes, and fully determined by the seed. */
static inline uint64_t rnd_next(uint64_t *state) {
  uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

/* The file name of the object `malloc` resolves to: a preload that did not
   take shows up as libc instead of the allocator under test. */
static inline const char *malloc_from(void) {
  Dl_info info;
  void *sym = dlsym(RTLD_DEFAULT, "malloc");
  if (sym == NULL || dladdr(sym, &info) == 0 || info.dli_fname == NULL) return "unknown";
  const char *base = strrchr(info.dli_fname, '/');
  return (base != NULL ? base + 1 : info.dli_fname);
}

#endif
