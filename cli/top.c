/* tiershim top [--interval S] [--once]: every live tiershim process this
 * user may read (all of them for root), one row each, sorted by anonymous
 * RSS, refreshed every S seconds (default 2) with a plain ANSI clear; `q`
 * and Enter, or Ctrl-C, quits. The terminal stays in its canonical mode
 * (nothing to restore). --once prints one table, no clearing, and exits. */
#define _GNU_SOURCE
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/page.h"


int ts_cli_top(int argc, char **argv);

#define TOP_USAGE "usage: tiershim top [--interval S] [--once]\n"

static int top_usage(const char *problem, const char *arg) { return ts_cli_usage("top", TOP_USAGE, problem, arg); }

typedef struct top_row_s {
  int pid;
  char comm[TS_PUB_COMM_MAX];
  bool data;
  double age, rss, huge, coverage, retained, released, fast, slow, shootdowns, fallbacks;
  bool tiered, shoot_sys, shoot_known;
} top_row_t;

/* Fast: the first tier's resident bytes (tiers are listed fastest first);
 * slow: the others'. Only where the process found tiers. */
static void top_tiers(const ts_jdoc_t *d, top_row_t *r) {
  for (int i = 0;; i++) {
    char k[96];
    snprintf(k, sizeof k, "tiers.tiers.%d.bulk_resident_bytes", i);
    const ts_jv_t *v = ts_json_get(d, k);
    if (v == NULL) break;
    snprintf(k, sizeof k, "tiers.tiers.%d.hot_resident_bytes", i);
    double b = v->num + ts_json_num(d, k, 0);
    if (i == 0) r->fast += b;
    else r->slow += b;
    r->tiered = true;
  }
}

static void top_row(const ts_page_t *p, top_row_t *r) {
  memset(r, 0, sizeof *r);
  r->pid = p->h.pid;
  memcpy(r->comm, p->h.comm, sizeof r->comm);
  r->comm[sizeof r->comm - 1] = '\0';
  r->age = p->age_s;
  ts_jdoc_t d;
  if (p->age_s < 0 || !ts_json_flatten(p->json, &d)) return;
  r->data = true;
  r->rss = ts_json_num(&d, "anon_rss_bytes", 0);
  r->huge = ts_json_num(&d, "anon_huge_bytes", 0);
  r->coverage = ts_json_num(&d, "thp_coverage", 0);
  r->retained = ts_json_num(&d, "placement.retained_bytes", 0);
  r->released = ts_json_num(&d, "placement.released_bytes", 0);
  r->fallbacks = ts_json_num(&d, "placement.malloc_fallbacks", 0) + ts_json_num(&d, "placement.mmap_fallbacks", 0);
  /* The process's own shootdowns where its unmap backend measures them;
   * else the system-wide count since it started publishing (marked *). */
  const ts_jv_t *s = ts_json_get(&d, "unmap.shootdowns");
  if (s && s->type == TS_JV_NUM) {
    r->shootdowns = s->num;
    r->shoot_known = true;
  } else if ((s = ts_json_get(&d, "tlb_shootdowns")) && s->type == TS_JV_NUM) {
    r->shootdowns = s->num;
    r->shoot_known = r->shoot_sys = true;
  }
  top_tiers(&d, r);
  ts_json_free(&d);
}

static int top_cmp(const void *a, const void *b) {
  const top_row_t *x = a, *y = b;
  if (x->rss != y->rss) return x->rss < y->rss ? 1 : -1;
  return x->pid - y->pid;
}

static void top_print(bool clear, double interval) {
  ts_page_t *pages;
  int n = ts_page_read_all(&pages);
  top_row_t *rows = calloc((size_t)n + 1, sizeof *rows);
  for (int i = 0; i < n; i++) top_row(&pages[i], &rows[i]);
  ts_page_free_all(pages, n);
  qsort(rows, (size_t)n, sizeof *rows, top_cmp);
  if (clear) fputs("\033[H\033[2J", stdout);
  char when[32];
  time_t t = time(NULL);
  strftime(when, sizeof when, "%H:%M:%S", localtime(&t));
  printf("tiershim top - %s - %d process%s%s\n", when, n, n == 1 ? "" : "es",
         geteuid() == 0 ? " (all users)" : " (this user)");
  printf("%8s %-16s %10s %6s %10s %10s %10s %10s %11s %9s %6s\n", "PID", "COMM", "ANON RSS", "HUGE%",
         "RETAINED", "RELEASED", "FAST", "SLOW", "SHOOTDOWNS", "FALLBACKS", "AGE");
  bool sys = false;
  for (int i = 0; i < n; i++) {
    const top_row_t *r = &rows[i];
    char b[6][24];
    if (!r->data) {
      printf("%8d %-16.16s %10s %6s %10s %10s %10s %10s %11s %9s %6s\n", r->pid, r->comm, "-", "-", "-", "-",
             "-", "-", "-", "-", "none");
      continue;
    }
    char shoot[24], cov[16], age[16];
    if (r->shoot_known) snprintf(shoot, sizeof shoot, "%.0f%s", r->shootdowns, r->shoot_sys ? "*" : "");
    else snprintf(shoot, sizeof shoot, "-");
    sys |= r->shoot_sys;
    snprintf(cov, sizeof cov, "%.1f", r->coverage * 100.0);
    snprintf(age, sizeof age, "%.1fs", r->age);
    printf("%8d %-16.16s %10s %6s %10s %10s %10s %10s %11s %9.0f %6s\n", r->pid, r->comm,
           ts_fmt_bytes(r->rss, b[0], 24), cov, ts_fmt_bytes(r->retained, b[1], 24),
           ts_fmt_bytes(r->released, b[2], 24), r->tiered ? ts_fmt_bytes(r->fast, b[3], 24) : "-",
           r->tiered ? ts_fmt_bytes(r->slow, b[4], 24) : "-", shoot, r->fallbacks, age);
  }
  if (sys) printf("* system-wide TLB shootdowns since the process began publishing (its unmap backend does not count its own)\n");
  if (clear) printf("\nrefresh every %g s; q and Enter, or Ctrl-C, quits\n", interval);
  fflush(stdout);
  free(rows);
}

int ts_cli_top(int argc, char **argv) {
  double interval = 2;
  bool once = false;
  for (int i = 0; i < argc; i++) {
    if (strcmp(argv[i], "--once") == 0) once = true;
    else if (strcmp(argv[i], "--interval") == 0 || strcmp(argv[i], "-i") == 0) {
      if (i + 1 == argc) return top_usage("%s needs a number of seconds", argv[i]);
      if ((interval = ts_parse_interval(argv[++i])) < 0)
        return top_usage("--interval %s: not a number of seconds (0 < S <= 86400)", argv[i]);
    } else return top_usage("unexpected argument '%s'", argv[i]);
  }
  if (once) {
    top_print(false, interval);
    return 0;
  }
  bool stdin_open = true;
  for (;;) {
    top_print(true, interval);
    /* Wait out the interval, reading whole lines from stdin meanwhile. */
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (;;) {
      struct timespec now;
      clock_gettime(CLOCK_MONOTONIC, &now);
      double left = interval - ((double)(now.tv_sec - start.tv_sec) + (double)(now.tv_nsec - start.tv_nsec) / 1e9);
      if (left <= 0) break;
      if (!stdin_open) {
        struct timespec ts = {(time_t)left, (long)((left - (double)(time_t)left) * 1e9)};
        nanosleep(&ts, NULL);
        break;
      }
      struct pollfd pfd = {.fd = STDIN_FILENO, .events = POLLIN};
      int r = poll(&pfd, 1, (int)(left * 1000) + 1);
      if (r <= 0) continue;
      char line[256];
      ssize_t got = read(STDIN_FILENO, line, sizeof line - 1);
      if (got <= 0) { stdin_open = false; continue; } /* EOF (stdin /dev/null): refresh until killed */
      line[got] = '\0';
      for (char *c = line; *c; c++)
        if (*c == 'q' || *c == 'Q') return 0;
    }
  }
}
