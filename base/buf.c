/* Fixed-capacity string builder; see buf.h. */
#include "base/buf.h"

#include <string.h>

void ts_buf_init(ts_buf_t *b, char *p, size_t cap) {
  b->p = p;
  b->cap = cap;
  b->len = 0;
  b->need = 0;
  if (cap > 0) p[0] = '\0';
}

void ts_buf_putn(ts_buf_t *b, const char *s, size_t n) {
  b->need += n;
  if (b->cap == 0) return;
  size_t room = b->cap - 1 - b->len;
  size_t k = n < room ? n : room;
  memcpy(b->p + b->len, s, k);
  b->len += k;
  b->p[b->len] = '\0';
}

void ts_buf_puts(ts_buf_t *b, const char *s) { ts_buf_putn(b, s, strlen(s)); }

void ts_buf_putc(ts_buf_t *b, char c) { ts_buf_putn(b, &c, 1); }

void ts_buf_u64(ts_buf_t *b, uint64_t v) {
  char tmp[24];
  size_t i = sizeof tmp;
  do {
    tmp[--i] = (char)('0' + v % 10);
    v /= 10;
  } while (v != 0);
  ts_buf_putn(b, tmp + i, sizeof tmp - i);
}

void ts_buf_i64(ts_buf_t *b, int64_t v) {
  if (v < 0) {
    ts_buf_putc(b, '-');
    ts_buf_u64(b, (uint64_t)0 - (uint64_t)v);
  } else {
    ts_buf_u64(b, (uint64_t)v);
  }
}

void ts_buf_fixed(ts_buf_t *b, double v, int decimals) {
  if (v != v) { ts_buf_puts(b, "0"); return; } /* NaN is not valid JSON */
  if (v < 0) { ts_buf_putc(b, '-'); v = -v; }
  if (decimals < 0) decimals = 0;
  if (decimals > 9) decimals = 9;
  uint64_t scale = 1;
  for (int i = 0; i < decimals; i++) scale *= 10;
  if (v > 1e18 / (double)scale) v = 1e18 / (double)scale; /* keep in uint64 range */
  uint64_t fixed = (uint64_t)(v * (double)scale + 0.5);
  ts_buf_u64(b, fixed / scale);
  if (decimals == 0) return;
  ts_buf_putc(b, '.');
  char frac[10];
  uint64_t f = fixed % scale;
  for (int i = decimals - 1; i >= 0; i--) { frac[i] = (char)('0' + f % 10); f /= 10; }
  ts_buf_putn(b, frac, (size_t)decimals);
}

void ts_buf_size(ts_buf_t *b, uint64_t bytes) {
  static const char units[] = "KMGT";
  int u = -1;
  while (bytes >= 1024 && bytes % 1024 == 0 && u < 3) { bytes /= 1024; u++; }
  ts_buf_u64(b, bytes);
  if (u >= 0) ts_buf_putc(b, units[u]);
}

void ts_buf_json_str(ts_buf_t *b, const char *s) {
  static const char hex[] = "0123456789abcdef";
  ts_buf_putc(b, '"');
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\') { ts_buf_putc(b, '\\'); ts_buf_putc(b, (char)c); }
    else if (c < 0x20) {
      char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
      ts_buf_putn(b, esc, 6);
    } else ts_buf_putc(b, (char)c);
  }
  ts_buf_putc(b, '"');
}

void ts_buf_hex(ts_buf_t *b, uint64_t v) {
  char tmp[16];
  int n = 0;
  do {
    tmp[n++] = "0123456789abcdef"[v & 15];
    v >>= 4;
  } while (v);
  while (n > 0) ts_buf_putc(b, tmp[--n]);
}
