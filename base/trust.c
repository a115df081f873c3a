/* Trusted files for privileged processes; see trust.h. */
#define _GNU_SOURCE
#include "base/trust.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>

#include "base/options.h"
#include "base/prim.h"

bool ts_trust_privileged(void) {
  ts_prim_ids_t id = ts_prim_ids();
  return id.euid == 0 || id.uid != id.euid || id.gid != id.egid;
}

/* Owned by root, and nobody else may write it (or, for a directory, add,
 * remove or rename entries in it). */
static bool trust_root_only(const struct stat *st) {
  return st->st_uid == 0 && (st->st_mode & (S_IWGRP | S_IWOTH)) == 0;
}

/* The directory of path, opened O_PATH; *name is the last component. */
static int trust_open_dir(const char *path, const char **name) {
  const char *slash = strrchr(path, '/');
  *name = slash ? slash + 1 : path;
  if (slash == NULL || **name == '\0') return -EINVAL; /* absolute paths to a file only */
  char dir[TS_ROOT_MAX];
  size_t n = slash == path ? 1 : (size_t)(slash - path);
  if (n >= sizeof dir) return -ENAMETOOLONG;
  memcpy(dir, path, n);
  dir[n] = '\0';
  return ts_prim_open(dir, O_PATH | O_DIRECTORY, 0);
}

static int trust_check_dir(int dirfd, const char **why) {
  struct stat st;
  int err = ts_prim_fstat(dirfd, &st);
  if (err != 0) *why = "cannot read its directory";
  else if (!trust_root_only(&st)) *why = "its directory is not root's alone (owned by another user, or writable by group or others)";
  return err != 0 ? err : *why ? -EPERM : 0;
}

static int trust_check_file(int fd, const char **why) {
  struct stat st;
  int err = ts_prim_fstat(fd, &st);
  if (err != 0) *why = "cannot read it";
  else if (!S_ISREG(st.st_mode)) *why = "not a regular file";
  else if (st.st_uid != 0) *why = "not owned by root";
  else if (!trust_root_only(&st)) *why = "writable by group or others";
  return err != 0 ? err : *why ? -EPERM : 0;
}

int ts_trust_open(const char *path, const char **why) {
  const char *name;
  *why = NULL;
  int dirfd = trust_open_dir(path, &name);
  if (dirfd < 0) {
    *why = "cannot open its directory";
    return dirfd;
  }
  int err = trust_check_dir(dirfd, why);
  /* O_NOFOLLOW: a symlink's target lies in a directory nobody checked */
  int fd = err ? err : ts_prim_openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK, 0);
  if (err == 0 && fd < 0) *why = fd == -ELOOP ? "a symlink (name the file itself)" : "cannot be opened";
  if (fd >= 0 && (err = trust_check_file(fd, why)) != 0) {
    ts_prim_close(fd);
    fd = err;
  }
  ts_prim_close(dirfd);
  return fd;
}
