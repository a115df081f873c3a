/* Which files a privileged process loads code from (base/trust.c): root's
 * alone, checked on descriptors, never through a symlink. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/trust.h"

static char dir[64];

static void mk(void) {
  strcpy(dir, "/tmp/ts-trust-XXXXXX");
  cr_assert_not_null(mkdtemp(dir));
  cr_assert_eq(chmod(dir, 0755), 0);
}

static void rm(void) {
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  cr_assert_eq(system(cmd), 0);
}

TestSuite(trust, .init = mk, .fini = rm);

static const char *file(const char *name, mode_t mode) {
  static char path[128];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  int fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0600);
  cr_assert_geq(fd, 0);
  close(fd);
  cr_assert_eq(chmod(path, mode), 0);
  return path;
}

/* ts_trust_open(path) fails with err, and why contains needle. */
static void refused(const char *path, int err, const char *needle) {
  const char *why = NULL;
  int fd = ts_trust_open(path, &why);
  cr_assert_eq(fd, err, "%s: %d, not %d (%s)", path, fd, err, why ? why : "");
  cr_assert(why && strstr(why, needle), "%s: '%s' lacks '%s'", path, why ? why : "(null)", needle);
}

Test(trust, privileged_means_root_or_mixed_ids) {
  bool want = geteuid() == 0 || getuid() != geteuid() || getgid() != getegid();
  cr_assert_eq(ts_trust_privileged(), want);
}

Test(trust, root_only_file_opens_and_is_the_file) {
  if (geteuid() != 0) cr_skip_test("root-owned files need root");
  const char *path = file("ok.so", 0644);
  const char *why = NULL;
  int fd = ts_trust_open(path, &why);
  cr_assert_geq(fd, 0, "%s", why);
  struct stat a, b;
  cr_assert_eq(fstat(fd, &a), 0);
  cr_assert_eq(stat(path, &b), 0);
  cr_assert_eq(a.st_ino, b.st_ino);
  cr_assert(fcntl(fd, F_GETFD) & FD_CLOEXEC);
  close(fd);
}

Test(trust, writable_by_others_is_refused) {
  if (geteuid() != 0) cr_skip_test("root-owned files need root");
  refused(file("g.so", 0664), -EPERM, "writable by group or others");
  refused(file("o.so", 0646), -EPERM, "writable by group or others");
  const char *path = file("n.so", 0644);
  cr_assert_eq(chown(path, 65534, 65534), 0);
  refused(path, -EPERM, "not owned by root");
}

Test(trust, the_directory_is_checked_too) {
  if (geteuid() != 0) cr_skip_test("root-owned files need root");
  const char *path = file("ok.so", 0644);
  cr_assert_eq(chmod(dir, 0775), 0);
  refused(path, -EPERM, "its directory");
  cr_assert_eq(chmod(dir, 0755), 0);
  cr_assert_eq(chown(dir, 65534, 0), 0);
  refused(path, -EPERM, "its directory");
}

Test(trust, relative_paths_are_refused) { refused("relative.so", -EINVAL, "directory"); }

Test(trust, symlinks_fifos_and_missing_files_are_refused, .timeout = 10) {
  if (geteuid() != 0) cr_skip_test("a root-owned directory needs root");
  const char *path = file("ok.so", 0644);
  char link[128], fifo[128];
  snprintf(link, sizeof link, "%s/link.so", dir);
  cr_assert_eq(symlink(path, link), 0);
  refused(link, -ELOOP, "symlink");
  snprintf(fifo, sizeof fifo, "%s/fifo", dir);
  cr_assert_eq(mkfifo(fifo, 0644), 0);
  refused(fifo, -EPERM, "not a regular file"); /* and no waiting for a writer */
  snprintf(fifo, sizeof fifo, "%s/missing.so", dir);
  refused(fifo, -ENOENT, "cannot be opened");
}
