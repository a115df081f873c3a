/* secure_probe: linked directly against libtiershim (rpath
 * /tmp/tiershim-secure-test). Prints tiershim_enabled() and whether the
 * kernel marked the process AT_SECURE (setuid). Used by secure.sh. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/auxv.h>

#include "tiershim.h"

int main(void) {
  void *p = malloc(1 << 20); /* exercise the allocator, large path included */
  if (p == NULL) return 3;
  free(p);
  printf("enabled=%d\n", tiershim_enabled());
  printf("at_secure=%lu\n", getauxval(AT_SECURE));
  return 0;
}
