/* A fixed-capacity string builder. tiershim formats its messages, stats and
 * JSON with it because stdio may allocate (and we may be inside malloc).
 * Appends past the capacity are dropped but counted in `need`, so a caller
 * can tell truncation (need >= cap) and the length it would have needed. */
#ifndef TS_BUF_H
#define TS_BUF_H

#include <stddef.h>
#include <stdint.h>

typedef struct ts_buf_s {
  char *p;
  size_t cap;  /* bytes available, including the terminating NUL */
  size_t len;  /* bytes written (< cap) */
  size_t need; /* bytes the full text takes, excluding the NUL */
} ts_buf_t;

void ts_buf_init(ts_buf_t *b, char *p, size_t cap);
void ts_buf_putn(ts_buf_t *b, const char *s, size_t n);
void ts_buf_puts(ts_buf_t *b, const char *s);
void ts_buf_putc(ts_buf_t *b, char c);
void ts_buf_u64(ts_buf_t *b, uint64_t v);
void ts_buf_i64(ts_buf_t *b, int64_t v);
void ts_buf_hex(ts_buf_t *b, uint64_t v);               /* lower case, no prefix */
void ts_buf_fixed(ts_buf_t *b, double v, int decimals); /* 0 <= decimals <= 9 */
void ts_buf_size(ts_buf_t *b, uint64_t bytes);          /* 256K, 2M, 1536 */
void ts_buf_json_str(ts_buf_t *b, const char *s);       /* quoted and escaped */

#endif
