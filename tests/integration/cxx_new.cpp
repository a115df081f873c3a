// cxx_new: C++ allocation (operator new/delete in all their forms, and the
// standard containers) lands in tiershim, whose operators (shim/cxx.c) fail
// as libstdc++'s do: new_handler loop, std::bad_alloc, nullptr for nothrow.
// Run with LD_PRELOAD.
#include <dlfcn.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <new>
#include <string>
#include <vector>

#include "it_common.h"

namespace {

struct alignas(64) Line {
  unsigned char b[64];
};
struct alignas(4096) Page {
  unsigned char b[4096];
};

// Values the optimiser cannot see through, so no new/delete pair is elided.
volatile std::size_t v_n = 1000;
volatile std::size_t v_huge = SIZE_MAX / 4;
volatile std::size_t v_mib = 1 << 20;

it_stats_get_fn get;

void *volatile sink;

void check_aligned(const void *p, std::size_t a, const char *what) {
  IT_CHECK((reinterpret_cast<std::uintptr_t>(p) & (a - 1)) == 0,
           "%s: expected %zu-aligned pointer got %p", what, a, p);
}

// The operators the process uses: the ones dlsym(RTLD_DEFAULT) finds.
const char *const operator_syms[] = {
    "_Znwm", "_Znam", "_ZnwmRKSt9nothrow_t", "_ZnamRKSt9nothrow_t",
    "_ZnwmSt11align_val_t", "_ZnamSt11align_val_t",
    "_ZnwmSt11align_val_tRKSt9nothrow_t", "_ZnamSt11align_val_tRKSt9nothrow_t",
    "_ZdlPv", "_ZdaPv", "_ZdlPvm", "_ZdaPvm", "_ZdlPvRKSt9nothrow_t", "_ZdaPvRKSt9nothrow_t",
    "_ZdlPvSt11align_val_t", "_ZdaPvSt11align_val_t", "_ZdlPvmSt11align_val_t",
    "_ZdaPvmSt11align_val_t", "_ZdlPvSt11align_val_tRKSt9nothrow_t",
    "_ZdaPvSt11align_val_tRKSt9nothrow_t"};

// A new_handler that counts its calls and uninstalls itself on the 2nd, so
// the operator's loop ends in std::bad_alloc.
int handler_calls;
void counting_handler() {
  if (++handler_calls == 2) std::set_new_handler(nullptr);
}

struct HandlerError {
  int tag;
};
void throwing_handler() { throw HandlerError{42}; }

volatile std::size_t v_align64 = 64;
volatile std::size_t v_align48 = 48;  // not a power of two

}  // namespace

int main() {
  get = it_require_shim("cxx_new");
  const std::size_t n = v_n;

  // 1. plain new/delete: n objects
  tiershim_stats_t a = it_stats(get);
  std::vector<int *> ints;  // reserve first: its own allocation is not counted below
  ints.reserve(n);
  tiershim_stats_t a2 = it_stats(get);
  (void)a;
  for (std::size_t i = 0; i < n; i++) ints.push_back(new int(static_cast<int>(i)));
  tiershim_stats_t b = it_stats(get);
  IT_CHECK(b.malloc_calls - a2.malloc_calls >= n,
           "malloc_calls after %zu x new int: expected rise >= %zu got %llu", n, n,
           (unsigned long long)(b.malloc_calls - a2.malloc_calls));
  for (std::size_t i = 0; i < n; i++) {
    IT_CHECK(*ints[i] == static_cast<int>(i), "new int(%zu): expected %zu got %d", i, i,
             *ints[i]);
    delete ints[i];
  }
  tiershim_stats_t c = it_stats(get);
  IT_CHECK(c.free_calls - b.free_calls >= n,
           "free_calls after %zu x delete: expected rise >= %zu got %llu", n, n,
           (unsigned long long)(c.free_calls - b.free_calls));

  // 2. new[]/delete[]
  a = it_stats(get);
  for (std::size_t i = 0; i < n; i++) {
    char *p = new char[1 + i % 300];
    std::memset(p, 'x', 1 + i % 300);
    sink = p;
    delete[] p;
  }
  b = it_stats(get);
  IT_CHECK_RISE(a, b, malloc_calls, n, "new[]");
  IT_CHECK_RISE(a, b, free_calls, n, "delete[]");

  // 3. aligned new (operator new(size_t, align_val_t))
  a = it_stats(get);
  const std::size_t naligned = 200;
  for (std::size_t i = 0; i < naligned; i++) {
    Line *l = new Line;
    check_aligned(l, 64, "new alignas(64) Line");
    std::memset(l->b, 1, sizeof l->b);
    Page *pg = new Page;
    check_aligned(pg, 4096, "new alignas(4096) Page");
    std::memset(pg->b, 2, sizeof pg->b);
    Line *la = new Line[7];
    check_aligned(la, 64, "new alignas(64) Line[7]");
    std::memset(la, 3, 7 * sizeof(Line));
    Page *pa = new Page[3];
    check_aligned(pa, 4096, "new alignas(4096) Page[3]");
    std::memset(pa, 4, 3 * sizeof(Page));
    delete l;
    delete pg;
    delete[] la;
    delete[] pa;
  }
  b = it_stats(get);
  IT_CHECK(b.malloc_calls - a.malloc_calls >= 4 * naligned,
           "malloc_calls after %zu aligned news: expected rise >= %zu got %llu",
           4 * naligned, 4 * naligned,
           (unsigned long long)(b.malloc_calls - a.malloc_calls));
  IT_CHECK(b.free_calls - a.free_calls >= 4 * naligned,
           "free_calls after %zu aligned deletes: expected rise >= %zu got %llu",
           4 * naligned, 4 * naligned, (unsigned long long)(b.free_calls - a.free_calls));
  {
    std::vector<Page> vp(5);  // std::allocator with over-aligned type
    check_aligned(vp.data(), 4096, "std::vector<alignas(4096)>::data()");
  }

  // 4. nothrow new
  a = it_stats(get);
  int *nt = new (std::nothrow) int[100];
  IT_CHECK(nt != nullptr, "new (nothrow) int[100]: expected non-null got null");
  if (nt) {
    for (int i = 0; i < 100; i++) nt[i] = i;
    delete[] nt;
  }
  Line *ntl = new (std::nothrow) Line;
  IT_CHECK(ntl != nullptr, "new (nothrow) alignas(64): expected non-null");
  check_aligned(ntl, 64, "new (nothrow) alignas(64)");
  delete ntl;
  b = it_stats(get);
  IT_CHECK(b.malloc_calls - a.malloc_calls >= 2,
           "malloc_calls after 2 nothrow news: expected rise >= 2 got %llu",
           (unsigned long long)(b.malloc_calls - a.malloc_calls));
  char *huge = new (std::nothrow) char[v_huge];
  IT_CHECK(huge == nullptr, "new (nothrow) char[SIZE_MAX/4]: expected nullptr got %p",
           static_cast<void *>(huge));
  delete[] huge;
  bool threw = false;
  try {
    char *h = new char[v_huge];
    sink = h;
    delete[] h;
  } catch (const std::bad_alloc &) {
    threw = true;
  }
  IT_CHECK(threw, "new char[SIZE_MAX/4]: expected std::bad_alloc got no exception");

  // 5. containers: growth goes through operator new -> malloc
  a = it_stats(get);
  std::vector<std::uint64_t> v;
  for (std::uint64_t i = 0; i < 1000000; i++) v.push_back(i * 2654435761u);
  std::string s;
  for (int i = 0; i < 100000; i++) s += static_cast<char>('a' + i % 26);
  std::map<int, std::string> m;
  for (int i = 0; i < 20000; i++) m[i * 7 % 20011] = std::to_string(i) + "-value-long-enough-to-allocate";
  b = it_stats(get);
  IT_CHECK(b.malloc_calls - a.malloc_calls >= 20000,
           "malloc_calls after vector/string/map growth: expected rise >= 20000 "
           "(one per map node) got %llu",
           (unsigned long long)(b.malloc_calls - a.malloc_calls));
  bool ok = true;
  for (std::uint64_t i = 0; i < v.size(); i++)
    if (v[i] != i * 2654435761u) { ok = false; break; }
  IT_CHECK(ok && v.size() == 1000000, "std::vector growth: contents wrong");
  ok = s.size() == 100000;
  for (std::size_t i = 0; ok && i < s.size(); i++)
    if (s[i] != static_cast<char>('a' + i % 26)) ok = false;
  IT_CHECK(ok, "std::string growth: contents wrong");
  ok = m.size() == 20000;
  for (int i = 0; ok && i < 20000; i++) {
    auto it = m.find(i * 7 % 20011);
    if (it == m.end() || it->second != std::to_string(i) + "-value-long-enough-to-allocate")
      ok = false;
  }
  IT_CHECK(ok, "std::map: contents wrong");
  std::vector<std::uint64_t>().swap(v);
  m.clear();

  // 6. a large new[] takes the large path
  a = it_stats(get);
  char *big = new char[v_mib];
  b = it_stats(get);
  std::memset(big, 0x42, v_mib);
  sink = big;
  IT_CHECK(b.large_allocs - a.large_allocs >= 1,
           "large_allocs after new char[1<<20]: expected rise >= 1 got %llu",
           (unsigned long long)(b.large_allocs - a.large_allocs));
  a = it_stats(get);
  delete[] big;
  b = it_stats(get);
  IT_CHECK(b.free_calls - a.free_calls >= 1,
           "free_calls after delete[] of 1 MiB: expected rise >= 1 got %llu",
           (unsigned long long)(b.free_calls - a.free_calls));

  // 7. the operators the process resolves are tiershim's
  for (const char *name : operator_syms) {
    void *f = dlsym(RTLD_DEFAULT, name);
    Dl_info info;
    const char *from = "(not found)";
    if (f != nullptr && dladdr(f, &info) != 0 && info.dli_fname != nullptr) from = info.dli_fname;
    IT_CHECK(std::strstr(from, "libtiershim") != nullptr,
             "%s resolves to: expected libtiershim got %s", name, from);
  }

  // 8. each form of new counts as a malloc, each form of delete as a free
  //    (sized, aligned and nothrow deletes included); new(0) is unique
  {
    const std::size_t sz = v_n;
    const std::align_val_t al{v_align64};
    struct Form {
      const char *name;
      void *(*alloc)(std::size_t, std::align_val_t);
      void (*release)(void *, std::size_t, std::align_val_t);
    };
    const Form forms[] = {
        {"new / delete(p)", [](std::size_t n, std::align_val_t) { return ::operator new(n); },
         [](void *p, std::size_t, std::align_val_t) { ::operator delete(p); }},
        {"new[] / delete[](p)",
         [](std::size_t n, std::align_val_t) { return ::operator new[](n); },
         [](void *p, std::size_t, std::align_val_t) { ::operator delete[](p); }},
        {"new / delete(p, n)", [](std::size_t n, std::align_val_t) { return ::operator new(n); },
         [](void *p, std::size_t n, std::align_val_t) { ::operator delete(p, n); }},
        {"new[] / delete[](p, n)",
         [](std::size_t n, std::align_val_t) { return ::operator new[](n); },
         [](void *p, std::size_t n, std::align_val_t) { ::operator delete[](p, n); }},
        {"new(nothrow) / delete(p, nothrow)",
         [](std::size_t n, std::align_val_t) { return ::operator new(n, std::nothrow); },
         [](void *p, std::size_t, std::align_val_t) { ::operator delete(p, std::nothrow); }},
        {"new[](nothrow) / delete[](p, nothrow)",
         [](std::size_t n, std::align_val_t) { return ::operator new[](n, std::nothrow); },
         [](void *p, std::size_t, std::align_val_t) { ::operator delete[](p, std::nothrow); }},
        {"new(al) / delete(p, al)",
         [](std::size_t n, std::align_val_t a) { return ::operator new(n, a); },
         [](void *p, std::size_t, std::align_val_t a) { ::operator delete(p, a); }},
        {"new[](al) / delete[](p, al)",
         [](std::size_t n, std::align_val_t a) { return ::operator new[](n, a); },
         [](void *p, std::size_t, std::align_val_t a) { ::operator delete[](p, a); }},
        {"new(al) / delete(p, n, al)",
         [](std::size_t n, std::align_val_t a) { return ::operator new(n, a); },
         [](void *p, std::size_t n, std::align_val_t a) { ::operator delete(p, n, a); }},
        {"new[](al) / delete[](p, n, al)",
         [](std::size_t n, std::align_val_t a) { return ::operator new[](n, a); },
         [](void *p, std::size_t n, std::align_val_t a) { ::operator delete[](p, n, a); }},
        {"new(al, nothrow) / delete(p, al, nothrow)",
         [](std::size_t n, std::align_val_t a) { return ::operator new(n, a, std::nothrow); },
         [](void *p, std::size_t, std::align_val_t a) { ::operator delete(p, a, std::nothrow); }},
        {"new[](al, nothrow) / delete[](p, al, nothrow)",
         [](std::size_t n, std::align_val_t a) { return ::operator new[](n, a, std::nothrow); },
         [](void *p, std::size_t, std::align_val_t a) {
           ::operator delete[](p, a, std::nothrow);
         }},
    };
    for (const Form &f : forms) {
      errno = EDOM;
      a = it_stats(get);
      void *p = f.alloc(sz, al);
      b = it_stats(get);
      IT_CHECK(p != nullptr, "%s: expected a block got nullptr", f.name);
      if (p == nullptr) continue;
      if (std::strstr(f.name, "(al") != nullptr) check_aligned(p, 64, f.name);
      std::memset(p, 0x5a, sz);
      IT_CHECK_RISE(a, b, malloc_calls, 1, f.name);
      a = it_stats(get);
      f.release(p, sz, al);
      b = it_stats(get);
      IT_CHECK_RISE(a, b, free_calls, 1, f.name);
      IT_CHECK(errno == EDOM, "%s: errno after success: expected EDOM (untouched) got %s",
               f.name, it_errname(errno));
    }
    void *z1 = ::operator new(0), *z2 = ::operator new(0);
    IT_CHECK(z1 != nullptr && z2 != nullptr && z1 != z2,
             "operator new(0) twice: expected two distinct non-null pointers got %p %p", z1, z2);
    ::operator delete(z1);
    ::operator delete(z2);
  }

  // 9. new_handler: called until it uninstalls itself, then std::bad_alloc
  //    (libstdc++'s loop, which tiershim's operators hand failures to)
  {
    handler_calls = 0;
    std::set_new_handler(counting_handler);
    threw = false;
    try {
      char *h = new char[v_huge];
      sink = h;
      delete[] h;
    } catch (const std::bad_alloc &) {
      threw = true;
    }
    IT_CHECK(threw, "new char[SIZE_MAX/4] with a handler: expected std::bad_alloc got no exception");
    IT_CHECK(handler_calls == 2,
             "new char[SIZE_MAX/4]: expected the handler called 2 times got %d", handler_calls);
    IT_CHECK(std::get_new_handler() == nullptr,
             "after the handler's 2nd call: expected no handler installed got %p",
             reinterpret_cast<void *>(std::get_new_handler()));

    handler_calls = 0;
    std::set_new_handler(counting_handler);
    threw = false;
    try {
      void *h = ::operator new[](v_huge, std::align_val_t(v_align64));
      sink = h;
      ::operator delete[](h, std::align_val_t(v_align64));
    } catch (const std::bad_alloc &) {
      threw = true;
    }
    IT_CHECK(threw,
             "operator new[](SIZE_MAX/4, align_val_t(64)) with a handler: expected "
             "std::bad_alloc got no exception");
    IT_CHECK(handler_calls == 2,
             "operator new[](SIZE_MAX/4, align_val_t(64)): expected the handler called 2 "
             "times got %d", handler_calls);
    std::set_new_handler(nullptr);
  }

  // 10. an exception a handler throws propagates out of new (through
  //     tiershim's C frames)
  {
    std::set_new_handler(throwing_handler);
    int tag = 0;
    bool bad_alloc = false;
    try {
      char *h = new char[v_huge];
      sink = h;
      delete[] h;
    } catch (const HandlerError &e) {
      tag = e.tag;
    } catch (const std::bad_alloc &) {
      bad_alloc = true;
    }
    std::set_new_handler(nullptr);
    IT_CHECK(tag == 42 && !bad_alloc,
             "new char[SIZE_MAX/4] with a throwing handler: expected HandlerError{42} got "
             "%s (tag %d)", bad_alloc ? "std::bad_alloc" : "no HandlerError", tag);
  }

  // 11. nothrow with a handler: the handler runs (libstdc++ semantics), then
  //     nullptr and no exception; errno says ENOMEM as after malloc
  {
    struct Nt {
      const char *name;
      void *(*alloc)();
    };
    const Nt nts[] = {
        {"new (nothrow) char[SIZE_MAX/4]", [] { return (void *)new (std::nothrow) char[v_huge]; }},
        {"operator new(SIZE_MAX/4, align_val_t(64), nothrow)",
         [] { return ::operator new(v_huge, std::align_val_t(v_align64), std::nothrow); }},
    };
    for (const Nt &t : nts) {
      handler_calls = 0;
      std::set_new_handler(counting_handler);
      void *h = &handler_calls;
      bool any = false;
      errno = 0;
      try {
        h = t.alloc();
      } catch (...) {
        any = true;
      }
      int err = errno;
      std::set_new_handler(nullptr);
      IT_CHECK(!any, "%s with a handler: expected no exception got one", t.name);
      IT_CHECK(h == nullptr, "%s with a handler: expected nullptr got %p", t.name, h);
      IT_CHECK(handler_calls == 2, "%s: expected the handler called 2 times got %d", t.name,
               handler_calls);
      IT_CHECK(err == ENOMEM, "%s: errno: expected ENOMEM got %s", t.name, it_errname(err));
    }
  }

  // 12. an alignment that is not a power of two: libstdc++ throws
  //     std::bad_alloc without calling the handler (nothrow: nullptr)
  {
    handler_calls = 0;
    std::set_new_handler(counting_handler);
    threw = false;
    try {
      sink = ::operator new(64, std::align_val_t(v_align48));
    } catch (const std::bad_alloc &) {
      threw = true;
    }
    void *h = ::operator new(64, std::align_val_t(v_align48), std::nothrow);
    std::set_new_handler(nullptr);
    IT_CHECK(threw, "operator new(64, align_val_t(48)): expected std::bad_alloc got none");
    IT_CHECK(h == nullptr, "operator new(64, align_val_t(48), nothrow): expected nullptr got %p",
             h);
    IT_CHECK(handler_calls == 0,
             "new with align_val_t(48): expected the handler called 0 times got %d",
             handler_calls);
  }

  if (it_failures == 0) std::printf("cxx_new: all checks passed\n");
  return it_finish("cxx_new");
}
