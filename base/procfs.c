/* /proc readers; see procfs.h. Files are streamed through a fixed buffer,
 * line by line: /proc/self/maps of a big process and /proc/interrupts of a
 * many-CPU machine are far larger than any buffer we would put on a stack. */
#include "base/procfs.h"

#include <fcntl.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "base/prim.h"

typedef bool (*line_fn)(const char *line, void *ctx); /* false stops */

#define LINE_MAX_BYTES 8192

static void each_line(const char *path, line_fn fn, void *ctx) {
  int fd = ts_prim_open(path, O_RDONLY, 0);
  if (fd < 0) return;
  char buf[LINE_MAX_BYTES + 1];
  size_t have = 0;
  for (;;) {
    ssize_t r = read(fd, buf + have, LINE_MAX_BYTES - have);
    if (r <= 0) break;
    have += (size_t)r;
    size_t start = 0;
    for (size_t i = 0; i < have; i++) {
      if (buf[i] != '\n') continue;
      buf[i] = '\0';
      if (!fn(buf + start, ctx)) { ts_prim_close(fd); return; }
      start = i + 1;
    }
    if (start == 0 && have == LINE_MAX_BYTES) { /* over-long line: cut it */
      buf[have] = '\0';
      if (!fn(buf, ctx)) break;
      have = 0;
      continue;
    }
    memmove(buf, buf + start, have - start);
    have -= start;
  }
  ts_prim_close(fd);
}

static uint64_t parse_u64(const char **s) {
  uint64_t v = 0;
  while (**s >= '0' && **s <= '9') v = v * 10 + (uint64_t)(*(*s)++ - '0');
  return v;
}

uint64_t ts_procfs_kb_field(const char *text, const char *key) {
  size_t n = strlen(key);
  for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
    if (strncmp(p, key, n) != 0) continue;
    p += n;
    while (*p == ' ' || *p == '\t') p++;
    return parse_u64(&p) * 1024;
  }
  return 0;
}

bool ts_procfs_tlb_line(const char *line, uint64_t *sum) {
  while (*line == ' ') line++;
  if (strncmp(line, "TLB:", 4) != 0) return false;
  line += 4;
  uint64_t total = 0;
  for (;;) {
    while (*line == ' ') line++;
    if (*line < '0' || *line > '9') break; /* the trailing description */
    total += parse_u64(&line);
  }
  *sum = total;
  return true;
}

static bool count_line(const char *line, void *ctx) {
  (void)line;
  (*(uint64_t *)ctx)++;
  return true;
}

typedef struct { uint64_t sum; bool found; } tlb_ctx_t;

static bool tlb_line(const char *line, void *ctx) {
  tlb_ctx_t *t = ctx;
  t->found = ts_procfs_tlb_line(line, &t->sum);
  return !t->found;
}

bool ts_procfs_tlb_total(uint64_t *out) {
  tlb_ctx_t t = {0, false};
  each_line("/proc/interrupts", tlb_line, &t);
  *out = t.sum;
  return t.found;
}

typedef struct {
  uintptr_t lo, hi;
  bool inside;
  ts_procfs_window_t *out;
} window_ctx_t;

static uint64_t parse_hex(const char **s) {
  uint64_t v = 0;
  for (;; (*s)++) {
    char c = **s;
    int d = (c >= '0' && c <= '9') ? c - '0' : (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;
    if (d < 0) return v;
    v = v * 16 + (uint64_t)d;
  }
}

/* A VMA header is "start-end perms ..."; its fields follow on lines of
 * their own ("Rss:   12 kB"). */
static bool window_line(const char *line, void *arg) {
  window_ctx_t *w = arg;
  const char *p = line;
  uint64_t start = parse_hex(&p);
  if (*p == '-' && p != line) {
    p++;
    uint64_t end = parse_hex(&p);
    w->inside = start >= w->lo && end <= w->hi;
    if (w->inside && strncmp(p, " ---p", 5) != 0) w->out->vmas++;
    return true;
  }
  if (!w->inside) return true;
  if (strncmp(line, "Rss:", 4) == 0) w->out->rss_bytes += ts_procfs_kb_field(line, "Rss:");
  else if (strncmp(line, "AnonHugePages:", 14) == 0)
    w->out->huge_bytes += ts_procfs_kb_field(line, "AnonHugePages:");
  return true;
}

void ts_procfs_window(uintptr_t lo, uintptr_t hi, ts_procfs_window_t *out) {
  memset(out, 0, sizeof *out);
  if (hi <= lo) return;
  window_ctx_t w = {lo, hi, false, out};
  each_line("/proc/self/smaps", window_line, &w);
}

void ts_procfs_read(ts_procfs_t *out) {
  memset(out, 0, sizeof *out);
  char text[2048]; /* smaps_rollup is ~1 KiB */
  if (ts_prim_read_file("/proc/self/smaps_rollup", text, sizeof text) > 0) {
    out->anon_rss_bytes = ts_procfs_kb_field(text, "Anonymous:");
    out->anon_huge_bytes = ts_procfs_kb_field(text, "AnonHugePages:");
  }
  each_line("/proc/self/maps", count_line, &out->vma_count);
  struct rusage ru;
  if (getrusage(RUSAGE_SELF, &ru) == 0) {
    out->minor_faults = (uint64_t)ru.ru_minflt;
    out->major_faults = (uint64_t)ru.ru_majflt;
  }
}

/* Field 22 of /proc/PID/stat: fields are counted after the command, which
 * is in parentheses and may itself hold spaces and ')': the last ')'. */
uint64_t ts_procfs_start_ticks(const char *text) {
  const char *p = strrchr(text, ')');
  if (p == NULL) return 0;
  p++;
  for (int field = 3; field <= 22; field++) {
    while (*p == ' ') p++;
    if (*p == '\0') return 0;
    if (field == 22) {
      uint64_t v = 0;
      for (; *p >= '0' && *p <= '9'; p++) v = v * 10 + (uint64_t)(*p - '0');
      return v;
    }
    while (*p != ' ' && *p != '\0') p++;
  }
  return 0;
}
