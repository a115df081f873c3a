/* Messages to stderr, prefixed "tiershim: ", written with one write(2) and
 * never allocating, so they are usable inside malloc and fork handlers.
 * Every byte tiershim writes for a person (warnings, verbose output, the
 * stats summary, the profile report) goes through ts_msg_write: only to
 * the stderr the process had when tiershim started (see msg.c). */
#ifndef TS_MSG_H
#define TS_MSG_H

#include <stdbool.h>

#include "base/buf.h"

#define TS_MSG_MAX 512

/* Starts a message: a buffer on the caller's stack, prefix already in it. */
#define TS_MSG_BEGIN(b, storage) \
  char storage[TS_MSG_MAX];      \
  ts_buf_t b;                    \
  ts_msg_begin(&b, storage, sizeof storage)

void ts_msg_begin(ts_buf_t *b, char *storage, size_t cap);
void ts_msg_end(ts_buf_t *b); /* appends '\n' and writes the line */
void ts_msg_line(const char *text);

/* At init: records which file fd 2 is. keep: output is wanted at exit (the
 * stats summary, the profile report), so a private close-on-exec duplicate
 * is kept for when the program closes fd 2. Idempotent. */
void ts_msg_init(bool keep);

/* Writes text as is (lines already prefixed) to that stderr: fd 2 while it
 * is still the same file, else the duplicate, else nowhere. */
void ts_msg_write(const char *text, size_t len);

void ts_msg_set_fd(int fd); /* tests redirect messages; 2 restores the default */

#endif
