/* Reading live-stats pages (observe/publish.h) for `tiershim stat`, `top`
 * and `exporter`: one page by pid, every page the caller may read, and a
 * small JSON flattener for the stats document. The CLI runs on glibc's
 * allocator; everything here may allocate. */
#ifndef TS_CLI_PAGE_H
#define TS_CLI_PAGE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "observe/publish.h"

typedef struct ts_page_s {
  ts_pub_header_t h;   /* a consistent copy of the header */
  char *json, *text;   /* copies (malloc'd, NUL-terminated); "" before the first refresh */
  char path[96];
  double age_s;        /* seconds since the last refresh; -1 before the first */
} ts_page_t;

typedef enum {
  TS_PAGE_OK = 0,
  TS_PAGE_NONE,     /* no such page (no tiershim, publishing off, or gone) */
  TS_PAGE_DENIED,   /* there, but not ours to read */
  TS_PAGE_STALE,    /* of a dead process, or of an earlier process of that pid */
  TS_PAGE_BAD       /* not a page this reader knows (layout, size) */
} ts_page_status_t;

/* Reads path, with the sequence lock; a stale page is unlinked where the
 * caller may (its own uid's, or root). */
ts_page_status_t ts_page_read(const char *path, ts_page_t *out);
/* The page of pid: under the caller's euid's directory, then (root, or a
 * directory it may read) every other uid's. */
ts_page_status_t ts_page_read_pid(int pid, ts_page_t *out);
void ts_page_free(ts_page_t *p);
const char *ts_page_status_str(ts_page_status_t st);

/* Every live page the caller may read: its own uid's, or every uid's for
 * root. Stale ones are removed on the way. Returns the count; *out is a
 * malloc'd array to free with ts_page_free_all. */
int ts_page_read_all(ts_page_t **out);
void ts_page_free_all(ts_page_t *pages, int n);

/* The JSON, flattened: every leaf as a dotted path ("placement.retained_bytes",
 * "tiers.nodes.2.free_bytes": arrays by index) with its raw token. */
typedef enum { TS_JV_NUM, TS_JV_STR, TS_JV_BOOL, TS_JV_NULL } ts_jv_type_t;
typedef struct ts_jv_s {
  char *path;
  ts_jv_type_t type;
  char *raw;      /* the number's text, the string unescaped, "true"/"false", "null" */
  double num;
} ts_jv_t;
typedef struct ts_jdoc_s {
  ts_jv_t *v;
  int n, cap;
} ts_jdoc_t;
bool ts_json_flatten(const char *text, ts_jdoc_t *doc); /* false: not valid JSON */
const ts_jv_t *ts_json_get(const ts_jdoc_t *doc, const char *path);
double ts_json_num(const ts_jdoc_t *doc, const char *path, double dflt);
void ts_json_free(ts_jdoc_t *doc);

/* "12.3 MiB" and the like, into buf. */
const char *ts_fmt_bytes(double bytes, char *buf, size_t cap);
/* seconds from "S" (a positive number), or -1 */
double ts_parse_interval(const char *s);
/* "tiershim CMD: PROBLEM" (a format with one %s, ARG) and USAGE on stderr;
 * returns the usage exit status, 2. */
int ts_cli_usage(const char *cmd, const char *usage, const char *problem, const char *arg);

#endif
