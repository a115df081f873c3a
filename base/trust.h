/* Which files a privileged process may load code from.
 *
 * A process is privileged when it runs as root or with ids that differ
 * (euid 0, uid != euid, gid != egid) without the kernel's AT_SECURE mark:
 * `sudo -E`, a root daemon started with a kept environment, every process
 * under a system-wide /etc/ld.so.preload. Its TIERSHIM_* variables are
 * read (only AT_SECURE makes tiershim ignore them), so whoever controls
 * that environment must not be able to make it run their code. */
#ifndef TS_TRUST_H
#define TS_TRUST_H

#include <stdbool.h>

bool ts_trust_privileged(void);

/* Opens path for reading if root owns it and may alone change it: a regular
 * file (not a symlink) owned by root, writable by neither group nor others,
 * in a directory that is owned by root and writable by neither group nor
 * others. Every check is made on an open descriptor (fstat), the file is
 * opened relative to the checked directory's descriptor, so nothing can be
 * swapped between a check and the open. Returns the fd (close-on-exec),
 * or -errno with *why saying what failed. */
int ts_trust_open(const char *path, const char **why);

#endif
