/* dl_plugin: loaded and unloaded 1,000 times by dlopen_loop.
 * Its constructor allocates, plugin_work() allocates/frees and returns a
 * block the host frees after dlclose(), its destructor frees the
 * constructor's block and tells the host it ran. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static unsigned char *ctor_block;
static size_t ctor_size;
static void *ctor_blocks[8];

__attribute__((constructor)) static void plugin_init(void) {
  ctor_size = 4000;
  ctor_block = malloc(ctor_size);
  if (ctor_block) memset(ctor_block, 0xc7, ctor_size);
  for (int i = 0; i < 8; i++) ctor_blocks[i] = calloc(1, (size_t)64 << i);
}

__attribute__((destructor)) static void plugin_fini(void) {
  int ok = ctor_block != NULL;
  for (size_t i = 0; ok && i < ctor_size; i++)
    if (ctor_block[i] != 0xc7) ok = 0;
  free(ctor_block);
  ctor_block = NULL;
  for (int i = 0; i < 8; i++) free(ctor_blocks[i]);
  /* report to the host, which exports these (-rdynamic) */
  void (*note)(int) = (void (*)(int))dlsym(RTLD_DEFAULT, "host_plugin_destructor_ran");
  if (note) note(ok);
}

/* Allocates and frees a mix of sizes, returns a block of `n` bytes filled
 * with (unsigned char)(i * 7 + tag); the caller frees it. */
void *plugin_work(size_t n, unsigned tag) {
  void *tmp[16];
  for (int i = 0; i < 16; i++) {
    size_t sz = (size_t)1 << (i + 3); /* 8 B .. 256 KiB */
    tmp[i] = malloc(sz);
    if (tmp[i] == NULL) return NULL;
    memset(tmp[i], i, sz);
  }
  tmp[3] = realloc(tmp[3], 100000);
  for (int i = 0; i < 16; i++) free(tmp[i]);
  unsigned char *r = malloc(n);
  if (r)
    for (size_t i = 0; i < n; i++) r[i] = (unsigned char)(i * 7 + tag);
  return r;
}

int plugin_ctor_ok(void) { return ctor_block != NULL && ctor_blocks[7] != NULL; }
