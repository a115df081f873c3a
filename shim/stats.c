/* Stats collection and the exit-time report; see stats.h. */
#define _GNU_SOURCE
#include "stats.h"

#include <errno.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "msg.h"
#include "options.h"
#include "prim.h"
#include "migrate.h"

void (*ts_stats_placement_hook)(ts_stats_placement_t *out);
void (*ts_stats_tiers_hook)(ts_stats_tiers_t *out);
void (*ts_stats_promote_hook)(ts_stats_migration_t *out);
void (*ts_stats_unmap_hook)(ts_stats_unmap_t *out);
void (*ts_stats_profile_hook)(ts_stats_profile_t *out);

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

void ts_stats_fork_child(void) {
  ts_counters_fork_child();
  ts_stats_start();
}

void ts_stats_collect(ts_stats_snapshot_t *s) {
  s->pid = getpid();
  s->enabled = ts_config.enable;
  s->wall_seconds = (double)(ts_prim_clock_ns() - stats_start_ns) / 1e9;
  ts_procfs_read(&s->proc);
  uint64_t tlb = 0;
  s->tlb_known = stats_tlb_base_ok && ts_procfs_tlb_total(&tlb) && tlb >= stats_tlb_base;
  s->tlb_shootdowns = s->tlb_known ? tlb - stats_tlb_base : 0;
  ts_counters_sum(s->ctr);
  memset(&s->placement, 0, sizeof s->placement);
  if (ts_stats_placement_hook) ts_stats_placement_hook(&s->placement);
  if (ts_stats_tiers_hook) ts_stats_tiers_hook(&s->tiers);
  ts_mig_totals_t m;
  ts_mig_totals(&m);
  s->migration = (ts_stats_migration_t){.requests = m.requests, .pages_promoted = m.pages_promoted,
                                        .pages_demoted = m.pages_demoted, .pages_other = m.pages_other,
                                        .pages_failed = m.pages_failed, .calls = m.calls, .ns = m.ns};
  memcpy(s->migration.err, m.err, sizeof s->migration.err);
  if (ts_stats_promote_hook) ts_stats_promote_hook(&s->migration);
  memset(&s->unmap, 0, sizeof s->unmap);
  if (ts_stats_unmap_hook) ts_stats_unmap_hook(&s->unmap);
  s->profile.present = false;
  if (ts_stats_profile_hook) ts_stats_profile_hook(&s->profile);
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

/* O_NOFOLLOW refuses a symlink as the last component; O_NONBLOCK keeps a
 * FIFO from blocking the exiting program; the fstat checks refuse anything
 * that is not our own regular file before it is truncated. */
int ts_stats_write_file(const char *path, const char *text, size_t len) {
  int fd = ts_prim_open(path, O_WRONLY | O_CREAT | O_NOFOLLOW | O_NONBLOCK, 0644);
  if (fd < 0) return fd;
  struct stat st;
  int err = 0;
  if (fstat(fd, &st) != 0) err = -errno;
  else if (!S_ISREG(st.st_mode)) err = -EINVAL;
  else if (st.st_uid != geteuid()) err = -EPERM;
  else if (ftruncate(fd, 0) != 0) err = -errno;
  else err = ts_prim_write_all(fd, text, len);
  ts_prim_close(fd);
  return err;
}

static void stats_warn_file(const char *path, int err) {
  TS_MSG_BEGIN(b, storage);
  ts_buf_puts(&b, "stats not written to ");
  ts_buf_puts(&b, path);
  ts_buf_puts(&b, err == -ELOOP ? ": it is a symlink"
                  : err == -EPERM ? ": owned by another user"
                  : (err == -EINVAL || err == -ENXIO) ? ": not a regular file"
                  : ": cannot open or write it");
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
