/* C++ operator new and delete: the Itanium-ABI (x86-64) symbols, in C.
 *
 * Without these, C++ allocation goes libstdc++'s operator new -> PLT ->
 * our malloc; with them it is one direct call of malloc's own code (the
 * hidden aliases ts_shim_malloc, ts_shim_free, ts_shim_memalign), so C++
 * pays what C pays. They also come before libmimalloc's operators in the
 * lookup scope: libmimalloc (our dependency) exports operator new and
 * delete too, and where it came before libstdc++ (a C program linking a
 * C++ library; a C++ extension dlopen'ed by python) those served C++
 * straight from mimalloc, past tiershim's counters and large path.
 *
 * Routing, counters and errno are malloc's and free's: each new is a
 * malloc (memalign for an alignment above 16), each delete a free; sizes
 * and alignments given to delete are ignored (the heap finds the block).
 *
 * Failure (the allocation returned NULL) must behave as libstdc++'s:
 * call the installed std::new_handler and retry while there is one, then
 * throw std::bad_alloc; the nothrow forms return NULL instead. C cannot
 * throw, so a failure is handed to the next definition of the same
 * operator, libstdc++'s (found once, cached), whose loop calls our malloc
 * again and throws. This file is built with -fexceptions (CMakeLists.txt)
 * so that the exception, or one thrown by a handler, unwinds through our
 * frames. Where libstdc++ is not loaded at all see new_fallback. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <mimalloc.h>

#include "base/msg.h"
#include "shim/shim.h"

#define CXX_MALLOC_ALIGNMENT 16 /* every malloc block is 16-aligned (malloc.c) */

/* The eight forms of new, numbered by these bits. */
enum { NEW_ARRAY = 1, NEW_NOTHROW = 2, NEW_ALIGNED = 4, NEW_FORMS = 8 };

static const char *const new_name[NEW_FORMS] = {
    [0] = "_Znwm",
    [NEW_ARRAY] = "_Znam",
    [NEW_NOTHROW] = "_ZnwmRKSt9nothrow_t",
    [NEW_ARRAY | NEW_NOTHROW] = "_ZnamRKSt9nothrow_t",
    [NEW_ALIGNED] = "_ZnwmSt11align_val_t",
    [NEW_ALIGNED | NEW_ARRAY] = "_ZnamSt11align_val_t",
    [NEW_ALIGNED | NEW_NOTHROW] = "_ZnwmSt11align_val_tRKSt9nothrow_t",
    [NEW_ALIGNED | NEW_ARRAY | NEW_NOTHROW] = "_ZnamSt11align_val_tRKSt9nothrow_t",
};

/* ---- the failure path -------------------------------------------------- */

#define SYM_NONE ((void *)1) /* looked up, not found */

static void *new_next[NEW_FORMS]; /* NULL until looked up; atomic */
static void *get_new_handler_sym;

static bool in_mimalloc(void *f) {
  Dl_info a, b;
  return dladdr(f, &a) != 0 && dladdr((void *)&mi_free, &b) != 0 && a.dli_fbase == b.dli_fbase;
}

/* libstdc++'s definition of operator new form `form`.
 * - dlsym(RTLD_NEXT): the definition the program would have had without
 *   us, unless that is libmimalloc's. Those are not libstdc++'s: they
 *   retry in mimalloc itself (past tiershim) and abort where libstdc++
 *   throws.
 * - Else libstdc++ wherever it is loaded (dlopen RTLD_NOLOAD): it may sit
 *   after libmimalloc in the global scope, or in a local scope (a C++
 *   library dlopen'ed RTLD_LOCAL, python's way). Its operator then throws
 *   std::bad_alloc for the program's catch as it would without us. (An
 *   addition to plain RTLD_NEXT: without it those programs would abort on
 *   every failed new, in new_fallback.)
 * The handle is kept: the pointer is cached for the process's life. */
static void *new_next_lookup(unsigned form) {
  void *f = __atomic_load_n(&new_next[form], __ATOMIC_ACQUIRE);
  if (f != NULL) return f;
  int saved = errno; /* dl* may set it; the failed malloc's ENOMEM stays */
  f = dlsym(RTLD_NEXT, new_name[form]);
  if (f != NULL && in_mimalloc(f)) f = NULL;
  if (f == NULL) {
    void *h = dlopen("libstdc++.so.6", RTLD_LAZY | RTLD_NOLOAD);
    if (h != NULL) f = dlsym(h, new_name[form]);
  }
  errno = saved;
  if (f == NULL) f = SYM_NONE;
  __atomic_store_n(&new_next[form], f, __ATOMIC_RELEASE);
  return f;
}

static bool align_valid(size_t a) { return a != 0 && (a & (a - 1)) == 0; }

static inline void *alloc_aligned(size_t size, size_t align) {
  return align <= CXX_MALLOC_ALIGNMENT ? ts_shim_malloc(size) : ts_shim_memalign(align, size);
}

static __attribute__((noreturn)) void new_abort(unsigned form, size_t align) {
  TS_MSG_BEGIN(b, storage);
  ts_buf_puts(&b, "operator new (");
  ts_buf_puts(&b, new_name[form]);
  if ((form & NEW_ALIGNED) && !align_valid(align)) {
    ts_buf_puts(&b, "): invalid alignment ");
    ts_buf_u64(&b, align);
  } else {
    ts_buf_puts(&b, "): out of memory");
  }
  ts_buf_puts(&b, ", and no C++ runtime to throw std::bad_alloc; aborting");
  ts_msg_end(&b);
  abort();
}

/* No libstdc++ is loaded (another C++ runtime, dlopen'ed RTLD_LOCAL, whose
 * operator new lost to ours). The nothrow forms return NULL without
 * calling the new_handler: a handler may throw (std::bad_alloc is what it
 * is meant to throw), which libstdc++'s nothrow new catches and C cannot;
 * it would escape a noexcept call. The throwing forms run the handler
 * loop themselves when a std::get_new_handler is in the global scope;
 * once there is no handler they cannot throw std::bad_alloc from C, so
 * they say why and abort, which is what mimalloc's operator new does
 * when built as C. */
static void *new_fallback(unsigned form, size_t size, size_t align) {
  if (form & NEW_NOTHROW) return NULL;
  if (!(form & NEW_ALIGNED) || align_valid(align)) {
    void *g = __atomic_load_n(&get_new_handler_sym, __ATOMIC_ACQUIRE);
    if (g == NULL) {
      int saved = errno;
      g = dlsym(RTLD_DEFAULT, "_ZSt15get_new_handlerv");
      errno = saved;
      if (g == NULL) g = SYM_NONE;
      __atomic_store_n(&get_new_handler_sym, g, __ATOMIC_RELEASE);
    }
    if (g != SYM_NONE) {
      typedef void (*new_handler_t)(void);
      new_handler_t h;
      while ((h = ((new_handler_t(*)(void))g)()) != NULL) {
        h();
        void *p = (form & NEW_ALIGNED) ? alloc_aligned(size, align) : ts_shim_malloc(size);
        if (p != NULL) return p;
      }
    }
  }
  new_abort(form, align);
}

/* nt: the std::nothrow_t reference of the nothrow forms, passed on. */
static __attribute__((noinline, cold)) void *new_failed(unsigned form, size_t size, size_t align,
                                                       const void *nt) {
  void *f = new_next_lookup(form);
  if (f == SYM_NONE) return new_fallback(form, size, align);
  switch (form & (NEW_NOTHROW | NEW_ALIGNED)) {
  case 0: return ((void *(*)(size_t))f)(size);
  case NEW_NOTHROW: return ((void *(*)(size_t, const void *))f)(size, nt);
  case NEW_ALIGNED: return ((void *(*)(size_t, size_t))f)(size, align);
  default: return ((void *(*)(size_t, size_t, const void *))f)(size, align, nt);
  }
}

/* ---- new ----------------------------------------------------------------
 * new(0) gets a unique block, as malloc(0) does. An alignment that is not
 * a power of two goes to the failure path at once: libstdc++ throws
 * std::bad_alloc for it (nothrow: NULL) without calling the handler. */

static inline void *new_plain(unsigned form, size_t size, const void *nt) {
  void *p = ts_shim_malloc(size);
  if (ts_likely(p != NULL)) return p;
  return new_failed(form, size, 0, nt);
}

static inline void *new_align(unsigned form, size_t size, size_t align, const void *nt) {
  if (ts_likely(align_valid(align))) {
    void *p = alloc_aligned(size, align);
    if (ts_likely(p != NULL)) return p;
  }
  return new_failed(form, size, align, nt);
}

TS_EXPORT void *_Znwm(size_t size) { return new_plain(0, size, NULL); }
TS_EXPORT void *_Znam(size_t size) { return new_plain(NEW_ARRAY, size, NULL); }
TS_EXPORT void *_ZnwmRKSt9nothrow_t(size_t size, const void *nt) {
  return new_plain(NEW_NOTHROW, size, nt);
}
TS_EXPORT void *_ZnamRKSt9nothrow_t(size_t size, const void *nt) {
  return new_plain(NEW_ARRAY | NEW_NOTHROW, size, nt);
}
TS_EXPORT void *_ZnwmSt11align_val_t(size_t size, size_t align) {
  return new_align(NEW_ALIGNED, size, align, NULL);
}
TS_EXPORT void *_ZnamSt11align_val_t(size_t size, size_t align) {
  return new_align(NEW_ALIGNED | NEW_ARRAY, size, align, NULL);
}
TS_EXPORT void *_ZnwmSt11align_val_tRKSt9nothrow_t(size_t size, size_t align, const void *nt) {
  return new_align(NEW_ALIGNED | NEW_NOTHROW, size, align, nt);
}
TS_EXPORT void *_ZnamSt11align_val_tRKSt9nothrow_t(size_t size, size_t align, const void *nt) {
  return new_align(NEW_ALIGNED | NEW_ARRAY | NEW_NOTHROW, size, align, nt);
}

/* ---- delete: every form is free ---------------------------------------- */

TS_EXPORT void _ZdlPv(void *p) { ts_shim_free(p); }
TS_EXPORT void _ZdaPv(void *p) { ts_shim_free(p); }
TS_EXPORT void _ZdlPvm(void *p, size_t size) { ts_shim_free(p); }
TS_EXPORT void _ZdaPvm(void *p, size_t size) { ts_shim_free(p); }
TS_EXPORT void _ZdlPvRKSt9nothrow_t(void *p, const void *nt) { ts_shim_free(p); }
TS_EXPORT void _ZdaPvRKSt9nothrow_t(void *p, const void *nt) { ts_shim_free(p); }
TS_EXPORT void _ZdlPvSt11align_val_t(void *p, size_t align) { ts_shim_free(p); }
TS_EXPORT void _ZdaPvSt11align_val_t(void *p, size_t align) { ts_shim_free(p); }
TS_EXPORT void _ZdlPvmSt11align_val_t(void *p, size_t size, size_t align) { ts_shim_free(p); }
TS_EXPORT void _ZdaPvmSt11align_val_t(void *p, size_t size, size_t align) { ts_shim_free(p); }
TS_EXPORT void _ZdlPvSt11align_val_tRKSt9nothrow_t(void *p, size_t align, const void *nt) {
  ts_shim_free(p);
}
TS_EXPORT void _ZdaPvSt11align_val_tRKSt9nothrow_t(void *p, size_t align, const void *nt) {
  ts_shim_free(p);
}
