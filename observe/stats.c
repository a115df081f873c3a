/* Stats collection and the exit-time report; see stats.h. */
#define _GNU_SOURCE
#include "observe/stats.h"

#include <errno.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/msg.h"
#include "base/options.h"
#include "base/prim.h"
#include "base/range.h"
#include "alloc/place.h"
#include "observe/profile.h"
#include "observe/publish.h"
#include "observe/residency.h"
#include "policy/migrate.h"
#include "policy/promote.h"
#include "policy/thp.h"
#include "policy/unmap/unmap.h"


static uint64_t stats_start_ns;
static uint64_t stats_tlb_base;
static bool stats_tlb_base_ok;

/* /proc/interrupts costs ~50 us to read; only pay it when stats are wanted
 * (the API still works without the baseline: tlb_shootdowns is then null). */
void ts_stats_start(void) {
  stats_start_ns = ts_prim_clock_ns();
  stats_tlb_base_ok = (ts_config.stats_mode != TS_STATS_OFF) && ts_procfs_tlb_total(&stats_tlb_base);
  /* The summary and the profile report are written at exit, when the
   * program may have closed fd 2 already (msg.c). */
  ts_msg_init(ts_config.stats_mode == TS_STATS_TEXT || ts_config.profile);
}

/* Live stats (publish.c) want shootdowns too: the baseline is then taken
 * at the first refresh, on a slow path, rather than at start-up. */
void ts_stats_tlb_baseline(void) {
  if (!__atomic_load_n(&stats_tlb_base_ok, __ATOMIC_ACQUIRE)) {
    uint64_t base;
    if (ts_procfs_tlb_total(&base)) {
      stats_tlb_base = base;
      __atomic_store_n(&stats_tlb_base_ok, true, __ATOMIC_RELEASE);
    }
  }
}

void ts_stats_fork_child(void) {
  ts_counters_fork_child();
  ts_stats_start();
}

/* Copying an entry of a list into its field (kinds: stats_fields.h). */
#define STATS_INIT(kind, name, ...) STATS_INIT_##kind(name, __VA_ARGS__)
#define STATS_INIT_STR(name, v) .name = (v),
#define STATS_INIT_U64(name, v) .name = (v),
#define STATS_INIT_BOOL(name, v) .name = (v),
#define STATS_INIT_SECS(name, v) .name = (v),
#define STATS_INIT_OPT_U64(name, known, v) .name##_known = (known), .name = (v),

/* The "placement" object: the engine's figures, its THP advisor's and how
 * its releases went back to the OS. p and thp: the names the list's
 * sources use. */
static void stats_placement(ts_stats_placement_t *o) {
  ts_place_stats_t p;
  ts_place_stats(&p);
  const ts_thp_stats_t *thp = &ts_thp_stats;
  *o = (ts_stats_placement_t){.present = true, TS_STATS_PLACEMENT_FIELDS(STATS_INIT)};
}

/* The "migration" object: the engine's totals and background promotion
 * (m and pr, as the list's sources name them). */
static void stats_migration(ts_stats_migration_t *o) {
  ts_mig_totals_t m;
  ts_mig_totals(&m);
  ts_promote_stats_t pr;
  ts_promote_stats(&pr);
  *o = (ts_stats_migration_t){TS_STATS_MIGRATION_FIELDS(STATS_INIT)};
}

void ts_stats_collect(ts_stats_snapshot_t *s) {
  s->pid = getpid();
  s->enabled = ts_config.enable;
  s->wall_seconds = (double)(ts_prim_clock_ns() - stats_start_ns) / 1e9;
  ts_procfs_read(&s->proc);
  uint64_t tlb = 0;
  s->tlb_known = stats_tlb_base_ok && ts_procfs_tlb_total(&tlb) && tlb >= stats_tlb_base;
  s->tlb_shootdowns = s->tlb_known ? tlb - stats_tlb_base : 0;
  s->publish_failures = ts_publish_failures();
  ts_counters_sum(s->ctr);
  stats_placement(&s->placement);
  ts_residency_stats(&s->tiers);
  stats_migration(&s->migration);
  ts_unmap_stats(&s->unmap);
  s->profile.present = false;
  ts_profile_stats(&s->profile);
}

bool ts_stats_expand_path(const char *pattern, int pid, char *out, size_t cap) {
  ts_buf_t b;
  ts_buf_init(&b, out, cap);
  for (const char *p = pattern; *p; p++) {
    if (p[0] == '%' && p[1] == 'p') { ts_buf_u64(&b, (uint64_t)pid); p++; }
    else if (p[0] == '%' && p[1] == '%') { ts_buf_putc(&b, '%'); p++; }
    else ts_buf_putc(&b, *p);
  }
  return b.need < cap;
}

/* What may be replaced: nothing yet, or a regular file of ours with no
 * other name. A symlink (O_NOFOLLOW semantics), a FIFO or device, a file
 * with other hard links (/etc/shadow planted in a shared directory) or
 * another user's file is refused. Advisory: the rename below replaces a
 * directory entry and never writes into the file it named, so a target
 * swapped after this check still cannot be written through. */
static int stats_check_target(int dirfd, const char *name) {
  struct stat st;
  int err = ts_prim_fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW);
  if (err == -ENOENT) return 0;
  if (err != 0) return err;
  if (S_ISLNK(st.st_mode)) return -ELOOP;
  if (!S_ISREG(st.st_mode)) return -EINVAL;
  if (st.st_nlink > 1) return -EMLINK;
  if (st.st_uid != ts_prim_ids().euid) return -EPERM;
  return 0;
}

/* A new file beside the target, created exclusively (never an existing
 * file, never through a symlink), mode 0600. Its name into tmp. */
static int stats_create_temp(int dirfd, char *tmp, size_t cap) {
  static unsigned seq;
  int fd = -EEXIST;
  for (int tries = 0; tries < 16 && fd == -EEXIST; tries++) {
    ts_buf_t b;
    ts_buf_init(&b, tmp, cap);
    ts_buf_puts(&b, ".tiershim-stats.");
    ts_buf_u64(&b, (uint64_t)getpid());
    ts_buf_putc(&b, '.');
    ts_buf_u64(&b, __atomic_fetch_add(&seq, 1, __ATOMIC_RELAXED) ^ (ts_prim_clock_ns() & 0xffff));
    fd = ts_prim_openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0600);
  }
  return fd;
}

/* Splits path into its directory (opened, O_PATH) and last component. */
static int stats_open_dir(const char *path, const char **name) {
  const char *slash = strrchr(path, '/');
  *name = slash ? slash + 1 : path;
  if (**name == '\0') return -EINVAL;
  if (slash == NULL) return ts_prim_open(".", O_PATH | O_DIRECTORY, 0);
  char dir[TS_STATS_PATH_MAX + 32];
  size_t n = slash == path ? 1 : (size_t)(slash - path);
  if (n >= sizeof dir) return -ENAMETOOLONG;
  memcpy(dir, path, n);
  dir[n] = '\0';
  return ts_prim_open(dir, O_PATH | O_DIRECTORY, 0);
}

/* The report goes to a fresh file that then replaces the target in one
 * rename (all calls relative to the directory's fd, so the directory
 * cannot be swapped in between): an existing file is never truncated or
 * written in place, a reader sees the old report or the new one, never a
 * partial one. */
int ts_stats_write_file(const char *path, const char *text, size_t len) {
  const char *name;
  int dirfd = stats_open_dir(path, &name);
  if (dirfd < 0) return dirfd;
  char tmp[64];
  int err = stats_check_target(dirfd, name);
  int fd = err ? err : stats_create_temp(dirfd, tmp, sizeof tmp);
  if (fd >= 0) {
    err = ts_prim_write_all(fd, text, len);
    ts_prim_close(fd);
    if (err == 0) err = ts_prim_renameat(dirfd, tmp, dirfd, name);
    if (err != 0) (void)ts_prim_unlinkat(dirfd, tmp, 0);
  } else {
    err = fd;
  }
  ts_prim_close(dirfd);
  return err;
}

static void stats_warn_file(const char *path, int err) {
  TS_MSG_BEGIN(b, storage);
  ts_buf_puts(&b, "stats not written to ");
  ts_buf_puts(&b, path);
  ts_buf_puts(&b, err == -ELOOP ? ": it is a symlink"
                  : err == -EPERM ? ": owned by another user"
                  : err == -EMLINK ? ": it has other hard links"
                  : err == -EINVAL ? ": not a regular file"
                  : ": cannot create a file in its directory, or write it");
  ts_msg_end(&b);
}

#define STATS_TEXT_MAX 32768

void ts_stats_report_at_exit(void) {
  if (ts_config.stats_mode == TS_STATS_OFF) return;
  int saved = errno;
  /* static: exit runs once, maybe on a thread with a small stack */
  static ts_stats_snapshot_t s;
  ts_stats_collect(&s);
  static char text[STATS_TEXT_MAX];
  if (ts_config.stats_mode == TS_STATS_TEXT) {
    size_t n = ts_stats_render_text(&s, text, sizeof text);
    ts_msg_write(text, n < sizeof text ? n : sizeof text - 1);
  } else {
    char path[TS_STATS_PATH_MAX + 32];
    size_t n = ts_stats_render_json(&s, text, sizeof text);
    if (!ts_stats_expand_path(ts_config.stats_path, s.pid, path, sizeof path)) {
      ts_msg_line("stats not written: TIERSHIM_STATS path too long after %p expansion");
    } else {
      int err = ts_stats_write_file(path, text, n < sizeof text ? n : sizeof text - 1);
      if (err != 0) stats_warn_file(path, err);
    }
  }
  errno = saved;
}
