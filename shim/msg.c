/* stderr messages without allocation; see msg.h. */
#include "msg.h"

#include "prim.h"

static int msg_fd = 2;

void ts_msg_set_fd(int fd) { msg_fd = fd; }

void ts_msg_begin(ts_buf_t *b, char *storage, size_t cap) {
  ts_buf_init(b, storage, cap);
  ts_buf_puts(b, "tiershim: ");
}

void ts_msg_end(ts_buf_t *b) {
  if (b->len + 1 >= b->cap) b->len = b->cap - 2; /* keep room for the newline */
  b->p[b->len++] = '\n';
  (void)ts_prim_write_all(msg_fd, b->p, b->len);
}

void ts_msg_line(const char *text) {
  TS_MSG_BEGIN(b, storage);
  ts_buf_puts(&b, text);
  ts_msg_end(&b);
}
