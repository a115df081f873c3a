/* stderr messages without allocation; see msg.h.
 *
 * "stderr" means the file fd 2 named when tiershim started, not whatever
 * holds number 2 later: a program may close fd 2 and open a file of its
 * own, which gets the lowest free number, and exit-time output (the stats
 * summary, the profile report, a warning) would then be written into that
 * file. So fd 2's identity (device and inode) is recorded at init and
 * checked before every write, with a raw fstat that leaves errno alone. */
#include "base/msg.h"

#include <stdbool.h>
#include <sys/stat.h>

#include "base/prim.h"

#define MSG_FD_MIN 64 /* the duplicate stays out of the low numbers programs use */

static int msg_override = -1;  /* tests: every message to this fd, unchecked */
static bool msg_recorded;      /* fd 2's identity is known */
static bool msg_err_open;      /* fd 2 was open then */
static dev_t msg_err_dev;
static ino_t msg_err_ino;
static int msg_keep = -1;      /* a private close-on-exec duplicate of that fd 2 */

void ts_msg_set_fd(int fd) { msg_override = fd == 2 ? -1 : fd; }

static bool msg_same_file(int fd) {
  struct stat st;
  return ts_prim_fstat(fd, &st) == 0 && st.st_dev == msg_err_dev && st.st_ino == msg_err_ino;
}

/* Once, at init or at the first message (options warn during init, before
 * ts_msg_init): what fd 2 is, or that it is closed. */
static void msg_record(void) {
  if (msg_recorded) return;
  struct stat st;
  msg_err_open = ts_prim_fstat(2, &st) == 0;
  msg_err_dev = st.st_dev;
  msg_err_ino = st.st_ino;
  msg_recorded = true;
}

/* Programs may close fd 2 before exit (coreutils' close_stdout does, from
 * an atexit handler that runs before our destructor): output wanted at exit
 * keeps a duplicate. A fork child inherits both the record and the
 * duplicate, so a second call changes nothing. */
void ts_msg_init(bool keep) {
  msg_record();
  if (!keep || msg_keep >= 0 || !msg_err_open) return;
  int fd = ts_prim_dupfd_cloexec(2, MSG_FD_MIN);
  if (fd < 0) return;
  if (msg_same_file(fd)) msg_keep = fd;
  else ts_prim_close(fd); /* fd 2 changed since it was recorded */
}

/* fd 2 while it is still the recorded file, else the duplicate while it
 * still is, else nothing (-1). */
static int msg_target(void) {
  if (msg_override >= 0) return msg_override;
  msg_record();
  if (!msg_err_open) return -1;
  if (msg_same_file(2)) return 2;
  if (msg_keep >= 0 && msg_same_file(msg_keep)) return msg_keep;
  return -1;
}

void ts_msg_write(const char *text, size_t len) {
  int fd = msg_target();
  if (fd >= 0) (void)ts_prim_write_all(fd, text, len);
}

void ts_msg_begin(ts_buf_t *b, char *storage, size_t cap) {
  ts_buf_init(b, storage, cap);
  ts_buf_puts(b, "tiershim: ");
}

void ts_msg_end(ts_buf_t *b) {
  if (b->len + 1 >= b->cap) b->len = b->cap - 2; /* keep room for the newline */
  b->p[b->len++] = '\n';
  ts_msg_write(b->p, b->len);
}

void ts_msg_line(const char *text) {
  TS_MSG_BEGIN(b, storage);
  ts_buf_puts(&b, text);
  ts_msg_end(&b);
}
