/* tiershim stat PID [--json] [--interval S]: a running process's live stats
 * (observe/publish.h), the text summary of the exit report with the age of
 * the data, or the JSON document (docs/stats.md). --interval repeats every
 * S seconds until interrupted. Exit 1, naming the pid, when it has no page
 * this user may read; 2 for usage errors. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/page.h"


int ts_cli_stat(int argc, char **argv);

#define STAT_USAGE "usage: tiershim stat PID [--json] [--interval S]\n"

static int stat_usage(const char *problem, const char *arg) { return ts_cli_usage("stat", STAT_USAGE, problem, arg); }

static int stat_once(int pid, bool json) {
  ts_page_t p;
  ts_page_status_t st = ts_page_read_pid(pid, &p);
  if (st != TS_PAGE_OK) {
    fprintf(stderr, "tiershim stat: pid %d: %s\n", pid, ts_page_status_str(st));
    return 1;
  }
  int rc = 0;
  if (p.age_s < 0) {
    fprintf(stderr,
            "tiershim stat: pid %d (%s): no stats yet: the page is refreshed from tiershim's slow paths "
            "(large allocations, placed mmaps, thread creation, the collapse thread), and none has run "
            "since the process started\n",
            pid, p.h.comm);
    rc = 1;
  } else if (json) {
    fputs(p.json, stdout);
    if (p.h.json_len == 0 || p.json[p.h.json_len - 1] != '\n') putchar('\n');
  } else {
    printf("tiershim: pid %d (%s), data %.1f s old (refresh %llu)\n", pid, p.h.comm, p.age_s,
           (unsigned long long)p.h.refreshes);
    fputs(p.text, stdout);
  }
  fflush(stdout);
  ts_page_free(&p);
  return rc;
}

int ts_cli_stat(int argc, char **argv) {
  int pid = 0;
  bool json = false;
  double interval = 0;
  for (int i = 0; i < argc; i++) {
    if (strcmp(argv[i], "--json") == 0) json = true;
    else if (strcmp(argv[i], "--interval") == 0 || strcmp(argv[i], "-i") == 0) {
      if (i + 1 == argc) return stat_usage("%s needs a number of seconds", argv[i]);
      if ((interval = ts_parse_interval(argv[++i])) < 0)
        return stat_usage("--interval %s: not a number of seconds (0 < S <= 86400)", argv[i]);
    } else if (argv[i][0] == '-') return stat_usage("unknown option '%s'", argv[i]);
    else if (pid != 0) return stat_usage("one PID only; unexpected '%s'", argv[i]);
    else {
      char *end;
      long v = strtol(argv[i], &end, 10);
      if (*end != '\0' || v <= 0 || v > 0x3fffffff) return stat_usage("'%s' is not a pid", argv[i]);
      pid = (int)v;
    }
  }
  if (pid == 0) return stat_usage("missing PID%s", "");
  if (interval <= 0) return stat_once(pid, json);
  for (;;) {
    int rc = stat_once(pid, json);
    if (rc != 0) return rc;
    struct timespec ts = {(time_t)interval, (long)((interval - (double)(time_t)interval) * 1e9)};
    while (nanosleep(&ts, &ts) != 0) {}
    if (!json) putchar('\n');
  }
}
