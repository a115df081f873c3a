/* libFuzzer target: node lists (base/nodes.c), as sysfs and numactl
 * write them. A list that parses must format back to one that parses to
 * the same mask; no input may crash or read past its end. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/nodes.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *s = malloc(size + 1);
  memcpy(s, data, size);
  s[size] = '\0';
  uint64_t mask = 0, again = 0;
  if (ts_nodelist_parse(s, &mask) == 0) {
    char out[512];
    size_t len = ts_nodelist_format(mask, out, sizeof out);
    if (len >= sizeof out || strlen(out) != len) abort();
    if (ts_nodelist_parse(out, &again) != 0 || again != mask) abort();
  }
  free(s);
  return 0;
}
