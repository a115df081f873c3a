/* Node lists; see nodes.h. */
#include "base/nodes.h"

/* End of a sysfs value: the string's end, or the one newline sysfs adds. */
bool ts_nodes_at_end(const char *p) { return p[0] == '\0' || (p[0] == '\n' && p[1] == '\0'); }

/* Reads a decimal number (at least one digit); large values saturate so
 * that a 30-digit string cannot wrap around into a plausible one. */
bool ts_nodes_number(const char **pp, uint64_t *v) {
  const char *p = *pp;
  if (*p < '0' || *p > '9') return false;
  uint64_t x = 0;
  for (; *p >= '0' && *p <= '9'; p++)
    if (x < (1ull << 40)) x = x * 10 + (uint64_t)(*p - '0');
  *pp = p;
  *v = x;
  return true;
}

/* 0, -1 if malformed, -2 if well-formed but naming a node past 63 (a big
 * machine, not a broken file: the caller says so differently). */
int ts_nodes_parse(const char *s, uint64_t *mask) {
  uint64_t m = 0;
  bool range_err = false;
  const char *p = s;
  if (ts_nodes_at_end(p)) { *mask = 0; return 0; }
  for (;;) {
    uint64_t lo, hi;
    if (!ts_nodes_number(&p, &lo)) return -1;
    hi = lo;
    if (*p == '-') {
      p++;
      if (!ts_nodes_number(&p, &hi) || hi < lo) return -1;
    }
    if (hi >= TS_NODES_MAX) range_err = true;
    else for (uint64_t n = lo; n <= hi; n++) m |= 1ull << n;
    if (*p == ',') { p++; continue; }
    if (!ts_nodes_at_end(p)) return -1;
    break;
  }
  if (range_err) return -2;
  *mask = m;
  return 0;
}

int ts_nodelist_parse(const char *s, uint64_t *mask) {
  uint64_t m;
  if (s == NULL || ts_nodes_parse(s, &m) != 0) return -1;
  *mask = m;
  return 0;
}

/* Appends mask as runs: "0-1,4". */
void ts_nodes_put(ts_buf_t *b, uint64_t mask) {
  bool first = true;
  for (int n = 0; n < TS_NODES_MAX; n++) {
    if (!(mask >> n & 1)) continue;
    int end = n;
    while (end + 1 < TS_NODES_MAX && (mask >> (end + 1) & 1)) end++;
    if (!first) ts_buf_putc(b, ',');
    ts_buf_u64(b, (uint64_t)n);
    if (end > n) { ts_buf_putc(b, '-'); ts_buf_u64(b, (uint64_t)end); }
    first = false;
    n = end;
  }
}

size_t ts_nodelist_format(uint64_t mask, char *buf, size_t cap) {
  ts_buf_t b;
  ts_buf_init(&b, buf, cap);
  ts_nodes_put(&b, mask);
  return b.need;
}
