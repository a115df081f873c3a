/* tiershim: an LD_PRELOAD allocator shim for CPU inference workloads.
 *
 * Public API. A program that is merely run under tiershim needs none of it.
 * A program that wants to ask tiershim something should not link against
 * libtiershim.so (that would make tiershim its allocator unconditionally);
 * it looks the functions up at run time instead:
 *
 *   int (*get)(tiershim_stats_t *) = dlsym(RTLD_DEFAULT, "tiershim_stats_get");
 *   if (get != NULL) { tiershim_stats_t s = { .size = sizeof s }; get(&s); }
 *
 * Every function here is safe to call from any thread at any time after
 * the library is loaded. None of them allocates through malloc.
 */
#ifndef TIERSHIM_H
#define TIERSHIM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TIERSHIM_VERSION_MAJOR 0
#define TIERSHIM_VERSION_MINOR 1
#define TIERSHIM_VERSION_PATCH 0
#define TIERSHIM_VERSION_STRING "0.1.0"

/* The version of the loaded library, e.g. "0.1.0". */
const char *tiershim_version(void);

/* Process-wide counters since the library initialised (or since fork, in a
 * child). Fields are only ever appended; set `size` to sizeof the struct you
 * compiled against and tiershim fills that much. */
typedef struct tiershim_stats {
  uint64_t size;            /* in: sizeof(tiershim_stats_t) of the caller  */
  uint64_t malloc_calls;    /* every allocating entry point: malloc, calloc,
                               realloc(NULL or growing), the memalign family */
  uint64_t free_calls;      /* free() and friends with a non-NULL pointer   */
  uint64_t large_allocs;    /* allocations served by the large path         */
  uint64_t mmap_calls;      /* interposed mmap/mmap64 calls by the program  */
  uint64_t munmap_calls;
  uint64_t mremap_calls;
  uint64_t madvise_calls;
  uint64_t bootstrap_allocs;/* served from the bootstrap arena during init  */
  uint64_t threads_created; /* interposed pthread_create calls that succeeded */
} tiershim_stats_t;

/* Fills *out (up to out->size bytes). Returns 0, or -1 if out is NULL or
 * out->size is smaller than the first two fields. */
int tiershim_stats_get(tiershim_stats_t *out);

/* Writes the full JSON stats document (the same one TIERSHIM_STATS=json:PATH
 * writes at exit, including /proc figures) into buf, NUL-terminated.
 * Returns the length of the document; if that is >= len, buf was too small
 * and holds a truncated prefix. */
size_t tiershim_stats_json(char *buf, size_t len);

/* 1 when the library's policies are enabled (TIERSHIM_ENABLE != 0). */
int tiershim_enabled(void);

/* ---- migration between memory tiers ----------------------------------------
 *
 * Moves the pages of [ptr, ptr + len) (widened to whole pages) to a NUMA
 * node, in batched move_pages calls split across TIERSHIM_MIGRATE_THREADS
 * threads. Huge pages move whole. Pages never touched have nothing to move.
 * Returns the number of 4 KiB pages moved (a huge page counts 512), or -1
 * with errno set when the request could not run: EINVAL (bad node or
 * range), ENODEV (the node has no memory; promote/demote: no tiers here),
 * ENOMEM, EACCES. Pages that could not be moved are not an error of the
 * call: they are counted in the report, by errno, after one retry.
 * report may be NULL; set its `size` to sizeof(tiershim_migrate_report_t)
 * of the caller (fields are only ever appended). */
typedef struct tiershim_migrate_report {
  uint64_t size;          /* in: sizeof(tiershim_migrate_report_t) */
  uint64_t pages_moved;   /* 4 KiB pages moved to the node */
  uint64_t pages_already; /* already there */
  uint64_t pages_absent;  /* not populated: nothing to move */
  uint64_t pages_failed;  /* could not be moved, after one retry: */
  uint64_t failed_ebusy;  /*   busy (pinned, under I/O, ...) */
  uint64_t failed_enomem; /*   the node is full */
  uint64_t failed_efault; /*   not mapped */
  uint64_t failed_eacces; /*   shared with another process */
  uint64_t failed_other;
  uint64_t calls;         /* move_pages calls made */
  uint64_t nanoseconds;   /* wall time of the request */
  int32_t threads;        /* workers used */
  int32_t node;           /* the node moved to */
} tiershim_migrate_report_t;

long tiershim_migrate(void *ptr, size_t len, int node, tiershim_migrate_report_t *report);
/* To the fast tier (the fast node of the calling CPU, else the first one). */
long tiershim_promote(void *ptr, size_t len, tiershim_migrate_report_t *report);
/* To the slow tier (the slow node nearest the calling CPU). */
long tiershim_demote(void *ptr, size_t len, tiershim_migrate_report_t *report);

#ifdef __cplusplus
}
#endif

#endif /* TIERSHIM_H */
