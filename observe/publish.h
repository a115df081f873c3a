/* Live stats (docs/operations.md): each process under tiershim publishes
 * its stats in a small shared file, /dev/shm/tiershim.<euid>/<pid>, that
 * `tiershim stat`, `top` and `exporter` read without stopping it.
 *
 * The file: this header, then the JSON document of ts_stats_collect (the
 * one TIERSHIM_STATS=json writes, docs/stats.md) and the text summary of
 * the exit report, each NUL-terminated with its length in the header. The
 * writer holds a sequence lock: seq is odd while it writes; a reader copies
 * the header and the text, and keeps the copy only if seq was even and the
 * same before and after (memory order: see publish.c and cli/page.c).
 *
 * The layout is a contract between a process and a reader that may be of
 * another build: a reader checks magic, layout and header_size and refuses
 * what it does not know. Fields are only ever added at the end, with the
 * layout number raised. */
#ifndef TS_PUBLISH_H
#define TS_PUBLISH_H

#include <stdbool.h>
#include <stdint.h>

#define TS_PUB_MAGIC 0x3142555048534954ull /* "TISHPUB1", little-endian */
#define TS_PUB_LAYOUT 1
#define TS_PUB_ROOT "/dev/shm"
#define TS_PUB_PREFIX "tiershim."     /* the directory: TS_PUB_ROOT/tiershim.<uid> */
#define TS_PUB_HEADER 4096            /* bytes before the JSON */
#define TS_PUB_JSON_MAX (96u << 10)   /* the JSON, its NUL included */
#define TS_PUB_TEXT_MAX (32u << 10)   /* the text summary, its NUL included */
#define TS_PUB_SIZE (TS_PUB_HEADER + TS_PUB_JSON_MAX + TS_PUB_TEXT_MAX)
#define TS_PUB_PERIOD_NS 500000000ull /* refreshed at most this often */
#define TS_PUB_COMM_MAX 32

typedef struct ts_pub_header_s {
  uint64_t magic;          /* TS_PUB_MAGIC */
  uint32_t layout;         /* TS_PUB_LAYOUT */
  uint32_t header_size;    /* sizeof (ts_pub_header_t) of the writer */
  uint64_t file_size;      /* TS_PUB_SIZE of the writer */
  int32_t pid;             /* the publishing process */
  uint32_t uid;            /* its effective uid */
  uint64_t start_ticks;    /* its start time, clock ticks after boot (/proc/PID/stat field 22, base/procfs.h) */
  char comm[TS_PUB_COMM_MAX]; /* /proc/self/comm at creation */
  uint64_t seq;            /* sequence lock: odd while the writer is at it */
  uint64_t updated_mono_ns; /* CLOCK_MONOTONIC of the last refresh; 0: none yet */
  uint64_t updated_real_ns; /* CLOCK_REALTIME of the last refresh */
  uint64_t refreshes;      /* how many refreshes so far */
  uint32_t json_off, json_len; /* the JSON: offset in the file, length without the NUL */
  uint32_t text_off, text_len; /* the text summary likewise */
  uint64_t pidns;          /* inode of the writer's /proc/self/ns/pid: pid is in that namespace */
} ts_pub_header_t;

/* The writer (the library; no-ops where publishing is off). */
/* At init: true when publishing is wanted, so hook the tick; the file is
 * made on the first tick (publish.c says why). */
bool ts_publish_init(void);
void ts_publish_tick(void);          /* the slow-path tick (base/tick.h): refresh when due */
void ts_publish_fork_child(void);    /* drops the parent's page; the child makes its own */
void ts_publish_exit(void);          /* unlinks the file (destructor) */
uint64_t ts_publish_failures(void);  /* creations that failed (stats: publish_failures) */

#endif
