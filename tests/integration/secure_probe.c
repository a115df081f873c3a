/* secure_probe: linked directly against libtiershim (rpath
 * /tmp/tiershim-secure-test). Used by secure.sh.
 *
 *   secure_probe              prints tiershim_enabled() and whether the
 *                             kernel marked the process AT_SECURE (setuid)
 *   secure_probe reopen FILE  closes fd 2, opens FILE (it gets number 2),
 *                             writes one line of its own there and exits:
 *                             whatever tiershim says at exit must not land
 *                             in FILE */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <unistd.h>

#include "tiershim.h"

static int reopen(const char *path) {
  close(2);
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd != 2) return 4;
  static const char own[] = "the program's own line\n";
  if (write(fd, own, sizeof own - 1) != (ssize_t)(sizeof own - 1)) return 5;
  for (int i = 0; i < 64; i++) free(malloc((size_t)(i + 1) << 14)); /* some for the profiler */
  printf("reopened fd 2\n");
  return 0;
}

int main(int argc, char **argv) {
  if (argc == 3 && strcmp(argv[1], "reopen") == 0) return reopen(argv[2]);
  void *p = malloc(1 << 20); /* exercise the allocator, large path included */
  if (p == NULL) return 3;
  free(p);
  printf("enabled=%d\n", tiershim_enabled());
  printf("at_secure=%lu\n", getauxval(AT_SECURE));
  return 0;
}
