/* The options table: every TIERSHIM_* variable, its default, unit and doc,
 * parsed in one place (as mimalloc's src/options.c). A bad value prints one
 * warning "tiershim: TIERSHIM_X=...: <why>; using <default>" and keeps the
 * default. Secure-execution programs (AT_SECURE) ignore the environment. */
#ifndef TS_OPTIONS_H
#define TS_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>

#include "base/nodes.h" /* TS_NODES_MAX */

typedef enum { TS_STATS_OFF = 0, TS_STATS_TEXT = 1, TS_STATS_JSON = 2 } ts_stats_mode_t;

typedef enum { TS_THP_AUTO = 0, TS_THP_FAULT = 1, TS_THP_COLLAPSE = 2, TS_THP_OFF = 3 } ts_thp_mode_t;

typedef enum { TS_HOT_FAST = 0, TS_HOT_DEFAULT = 1 } ts_hot_mode_t;

typedef enum {
  TS_BULK_DEFAULT = 0, TS_BULK_FAST = 1, TS_BULK_SLOW = 2, TS_BULK_INTERLEAVE = 3, TS_BULK_WEIGHTED = 4
} ts_bulk_mode_t;

typedef enum { TS_UNMAP_BATCH = 0, TS_UNMAP_MUNMAP = 1, TS_UNMAP_KMOD = 2, TS_UNMAP_PLUGIN = 3 } ts_unmap_kind_t;

#define TS_STATS_PATH_MAX 1024
#define TS_NODELIST_MAX 128
#define TS_ROOT_MAX 256

/* The effective configuration. Read on hot paths, so plain fields. */
typedef struct ts_config_s {
  bool enable;          /* TIERSHIM_ENABLE */
  int verbose;          /* TIERSHIM_VERBOSE */
  ts_stats_mode_t stats_mode;           /* TIERSHIM_STATS */
  char stats_path[TS_STATS_PATH_MAX];   /* json:PATH, %p not yet expanded */
  bool publish;         /* TIERSHIM_PUBLISH: live stats in /dev/shm */
  size_t large_min;     /* TIERSHIM_LARGE_MIN */
  int thp;              /* TIERSHIM_THP: a ts_thp_mode_t */
  size_t retain_max;    /* TIERSHIM_RETAIN_MAX */
  bool heap_thp;        /* TIERSHIM_HEAP_THP */
  int heap_decommit_ms; /* TIERSHIM_HEAP_DECOMMIT_DELAY */
  size_t thp_sparse_min; /* TIERSHIM_THP_SPARSE_MIN; 0 = off */
  size_t thp_probe_min;  /* TIERSHIM_THP_PROBE_MIN; 0 = off */
  size_t thp_grown;      /* TIERSHIM_THP_GROWN; 0 = huge pages from the start */
  bool place_mmap;      /* TIERSHIM_PLACE_MMAP */
  bool thp_warm;        /* TIERSHIM_THP_WARM */
  size_t mmap_min;      /* TIERSHIM_MMAP_MIN */
  size_t mmap_max;      /* TIERSHIM_MMAP_MAX */
  size_t va;            /* TIERSHIM_VA */
  bool munmap_strict;   /* TIERSHIM_MUNMAP=strict */
  int hot;              /* TIERSHIM_HOT: a ts_hot_mode_t */
  int bulk;             /* TIERSHIM_BULK: a ts_bulk_mode_t */
  int bulk_nweights;    /* weighted:W,...: how many; 0 = the kernel's weights */
  unsigned char bulk_weights[TS_NODES_MAX];
  size_t bulk_min;      /* TIERSHIM_BULK_MIN */
  size_t fast_reserve;  /* TIERSHIM_FAST_RESERVE; 0: automatic */
  char fast_nodes[TS_NODELIST_MAX];     /* TIERSHIM_FAST_NODES, "" unset */
  char slow_nodes[TS_NODELIST_MAX];     /* TIERSHIM_SLOW_NODES */
  char sysfs_root[TS_ROOT_MAX];         /* TIERSHIM_SYSFS_ROOT */
  int migrate_threads;  /* TIERSHIM_MIGRATE_THREADS; 0 = min(4, CPUs) */
  size_t migrate_rate;  /* TIERSHIM_MIGRATE_RATE, bytes/s; 0 = unlimited */
  bool promote;         /* TIERSHIM_PROMOTE */
  size_t promote_rate;  /* TIERSHIM_PROMOTE_RATE, bytes/s */
  bool cold_reads;      /* TIERSHIM_COLD_READS */
  int unmap;            /* TIERSHIM_UNMAP: a ts_unmap_kind_t */
  char unmap_plugin[TS_ROOT_MAX];       /* TIERSHIM_UNMAP=/path/plugin.so */
  int unmap_batch;      /* TIERSHIM_UNMAP_BATCH: ranges per call */
  int unmap_delay_ms;   /* TIERSHIM_UNMAP_DELAY; 0 = no decay */
  bool unmap_adapt;     /* TIERSHIM_UNMAP_ADAPT */
  size_t unmap_lazy;    /* TIERSHIM_UNMAP_LAZY: bytes the module may keep pending; 0 = off */
  bool profile;         /* TIERSHIM_PROFILE */
  size_t profile_min;   /* TIERSHIM_PROFILE_MIN: traced always from this size */
  int profile_sample;   /* TIERSHIM_PROFILE_SAMPLE: 1 in N below it */
  int profile_top;      /* TIERSHIM_PROFILE_TOP */
  char rules_path[TS_ROOT_MAX];         /* TIERSHIM_RULES, "" unset */
  bool secure;          /* environment ignored (AT_SECURE) */
} ts_config_t;

extern ts_config_t ts_config;

void ts_config_defaults(ts_config_t *cfg);

/* Parses the TIERSHIM_* entries of envp into cfg (defaults first). With
 * secure, envp is not looked at. Returns the number of warnings printed. */
int ts_options_parse(ts_config_t *cfg, char *const *envp, bool secure);

/* `tiershim options`: the table, as text or as the Markdown of docs/options.md. */
void ts_options_print_table(int fd, bool markdown);

/* TIERSHIM_VERBOSE: the effective configuration, one line each. */
void ts_options_print_config(const ts_config_t *cfg);

/* Parsers, exposed for the unit tests and the CLI. Return NULL on success or
 * a short reason ("not a number", ...). */
const char *ts_parse_size(const char *s, size_t min, size_t max, size_t *out);
const char *ts_parse_bool(const char *s, bool *out);
const char *ts_parse_int(const char *s, long min, long max, long *out);

/* The names of the TIERSHIM_THP modes, indexed by ts_thp_mode_t; of
 * TIERSHIM_HOT and TIERSHIM_BULK likewise. */
extern const char *const ts_thp_names[4];
extern const char *const ts_hot_names[2];
extern const char *const ts_bulk_names[5];
extern const char *const ts_unmap_names[4];

/* Is NAME (with or without the TIERSHIM_ prefix) an option? */
bool ts_options_known(const char *name, size_t len);

#endif
