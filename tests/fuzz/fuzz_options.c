/* libFuzzer target: the options table (base/options.c). The input is a
 * NUL-separated list of environment entries; whatever they say, parsing
 * must not crash, must warn once per bad entry, and must leave every value
 * within its documented range. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/msg.h"
#include "base/options.h"

#define MAX_ENTRIES 16

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static int devnull = -1;
  if (devnull < 0) {
    devnull = 1000; /* an fd that is not open: messages are written nowhere */
    ts_msg_set_fd(devnull);
  }
  char *text = malloc(size + 1);
  memcpy(text, data, size);
  text[size] = '\0';
  char *env[MAX_ENTRIES + 1];
  int n = 0;
  for (char *p = text; n < MAX_ENTRIES && p < text + size; p += strlen(p) + 1) env[n++] = p;
  env[n] = NULL;
  ts_config_t cfg;
  int warnings = ts_options_parse(&cfg, env, false);
  if (warnings < 0 || warnings > n) abort();
  if (cfg.large_min < 4096 || cfg.mmap_min < 4096 || cfg.bulk_min < 4096) abort();
  if (cfg.va < ((size_t)1 << 30) || cfg.thp < 0 || cfg.thp > 3 || cfg.hot < 0 || cfg.hot > 1) abort();
  if (cfg.bulk < 0 || cfg.bulk > 4 || cfg.bulk_nweights < 0 || cfg.bulk_nweights > TS_NODES_MAX) abort();
  for (int i = 0; i < cfg.bulk_nweights; i++)
    if (cfg.bulk_weights[i] == 0) abort();
  if (cfg.migrate_threads < 0 || cfg.migrate_threads > 64) abort();
  if (!memchr(cfg.fast_nodes, 0, sizeof cfg.fast_nodes) || !memchr(cfg.sysfs_root, 0, sizeof cfg.sysfs_root))
    abort();
  if (cfg.sysfs_root[0] != '/') abort();
  free(text);
  return 0;
}
