/* Captures tiershim's stderr messages in a memfd so tests can count and
 * read them. */
#ifndef TS_TEST_CAPTURE_H
#define TS_TEST_CAPTURE_H

#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "base/msg.h"

typedef struct {
  int fd;
  char text[8192];
} capture_t;

static inline void capture_begin(capture_t *c) {
  c->fd = memfd_create("ts-msg", 0);
  ts_msg_set_fd(c->fd);
}

/* Ends the capture; returns the number of lines written. */
static inline int capture_end(capture_t *c) {
  ts_msg_set_fd(2);
  ssize_t n = pread(c->fd, c->text, sizeof c->text - 1, 0);
  close(c->fd);
  c->text[n > 0 ? n : 0] = '\0';
  int lines = 0;
  for (char *p = c->text; *p; p++) lines += (*p == '\n');
  return lines;
}

#endif
