/* Messages to stderr, prefixed "tiershim: ", written with one write(2) and
 * never allocating, so they are usable inside malloc and fork handlers. */
#ifndef TS_MSG_H
#define TS_MSG_H

#include "buf.h"

#define TS_MSG_MAX 512

/* Starts a message: a buffer on the caller's stack, prefix already in it. */
#define TS_MSG_BEGIN(b, storage) \
  char storage[TS_MSG_MAX];      \
  ts_buf_t b;                    \
  ts_msg_begin(&b, storage, sizeof storage)

void ts_msg_begin(ts_buf_t *b, char *storage, size_t cap);
void ts_msg_end(ts_buf_t *b); /* appends '\n' and writes the line */
void ts_msg_line(const char *text);
void ts_msg_set_fd(int fd);   /* tests redirect messages; default 2 */

#endif
