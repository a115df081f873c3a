// cxx_lib: C++ code in a library of a C program, loaded two ways by
// cxx_host: dlopen'ed RTLD_LOCAL (libstdc++ then sits in the library's
// local scope only, as with python's extension modules), or linked
// (libstdc++ then comes after libtiershim's libmimalloc in the global
// scope). In both, libmimalloc's own operator new (it exports one) is the
// next definition after tiershim's, which must still fail as libstdc++'s:
// the new_handler loop, then std::bad_alloc the library can catch (not
// mimalloc's abort).
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <new>

#include "it_common.h"

namespace {

volatile std::size_t v_huge = SIZE_MAX / 4;
void *volatile sink;

int handler_calls;
void counting_handler() {
  if (++handler_calls == 2) std::set_new_handler(nullptr);
}

}  // namespace

// Returns the number of failed checks.
extern "C" __attribute__((visibility("default"))) int cxx_lib_run(const char *how) {
  it_stats_get_fn get = it_require_shim("cxx_lib");

  void *f = dlsym(RTLD_DEFAULT, "_Znwm");
  Dl_info info;
  const char *from = "(not found)";
  if (f != nullptr && dladdr(f, &info) != 0 && info.dli_fname != nullptr) from = info.dli_fname;
  IT_CHECK(std::strstr(from, "libtiershim") != nullptr,
           "%s: _Znwm resolves to: expected libtiershim got %s", how, from);

  tiershim_stats_t a = it_stats(get);
  int *x = new int(7);
  sink = x;
  delete x;
  tiershim_stats_t b = it_stats(get);
  IT_CHECK_RISE(a, b, malloc_calls, 1, "new int in the library");
  IT_CHECK_RISE(a, b, free_calls, 1, "delete in the library");

  handler_calls = 0;
  std::set_new_handler(counting_handler);
  bool threw = false;
  try {
    char *h = new char[v_huge];
    sink = h;
    delete[] h;
  } catch (const std::bad_alloc &) {
    threw = true;
  }
  IT_CHECK(threw, "%s: new char[SIZE_MAX/4]: expected std::bad_alloc got no exception", how);
  IT_CHECK(handler_calls == 2, "%s: new char[SIZE_MAX/4]: expected the handler called 2 times got %d",
           how, handler_calls);

  handler_calls = 0;
  std::set_new_handler(counting_handler);
  char *n = new (std::nothrow) char[v_huge];
  std::set_new_handler(nullptr);
  IT_CHECK(n == nullptr, "%s: new (nothrow) char[SIZE_MAX/4]: expected nullptr got %p", how,
           static_cast<void *>(n));
  IT_CHECK(handler_calls == 2,
           "%s: new (nothrow) char[SIZE_MAX/4]: expected the handler called 2 times got %d", how,
           handler_calls);
  return it_failures;
}
