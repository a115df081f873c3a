/* cxx_host: a C program whose C++ is in a library (cxx_lib.cpp):
 *   cxx_host LIB          dlopens LIB with RTLD_LOCAL
 *   cxx_host_linked       has the library as DT_NEEDED */
#include "it_common.h"

int cxx_lib_run(const char *how);

int main(int argc, char **argv) {
  int failed;
#ifdef LINKED
  (void)argc;
  (void)argv;
  failed = cxx_lib_run("linked");
#else
  if (argc != 2) IT_DIE("usage: cxx_host LIB");
  void *h = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
  if (h == NULL) IT_DIE("dlopen %s: expected a handle got %s", argv[1], dlerror());
  int (*run)(const char *) = (int (*)(const char *))dlsym(h, "cxx_lib_run");
  if (run == NULL) IT_DIE("dlsym cxx_lib_run: expected a function got NULL");
  failed = run("dlopen RTLD_LOCAL");
#endif
  it_failures += failed;
  if (it_failures == 0) printf("cxx_host: all checks passed\n");
  return it_finish("cxx_host");
}
