/* The unmap layer; see unmap.h. */
#define _GNU_SOURCE
#include "base/reentry.h"
#include "policy/unmap/unmap.h"

#include <dlfcn.h>
#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <sys/mman.h>

#include "policy/unmap/batch.h"
#include "base/msg.h"
#include "base/options.h"
#include "base/prim.h"
#include "base/procfs.h"
#include "base/trust.h"
#include "policy/unmap/unmap_os.h"

static ts_ubatch_t unmap_b;
static bool unmap_ready;
static tiershim_unmap_backend_t unmap_plugin; /* a copy: the plugin's may be shorter */

static int fallback_madvise(void *addr, size_t len) { return ts_prim_madvise(addr, len, MADV_DONTNEED); }

static void unmap_warn(const char *what, const char *why) {
  TS_MSG_BEGIN(b, storage);
  ts_buf_puts(&b, "TIERSHIM_UNMAP=");
  ts_buf_puts(&b, what);
  ts_buf_puts(&b, ": ");
  ts_buf_puts(&b, why);
  ts_buf_puts(&b, "; using batch");
  ts_msg_end(&b);
}

/* A privileged process (trust.h) loads only a file that root alone can
 * change, and loads exactly the file it checked: dlopen gets
 * /proc/self/fd/N of the descriptor the checks were made on. Into name
 * goes what to dlopen; the descriptor (or -1) is returned, -2 if refused. */
static int plugin_open(const char *path, char *name, size_t cap) {
  ts_buf_t b;
  ts_buf_init(&b, name, cap);
  if (!ts_trust_privileged()) {
    ts_buf_puts(&b, path);
    return -1;
  }
  const char *why;
  int fd = ts_trust_open(path, &why);
  if (fd < 0) {
    unmap_warn(path, why);
    return -2;
  }
  ts_buf_puts(&b, "/proc/self/fd/");
  ts_buf_u64(&b, (uint64_t)fd);
  return fd;
}

/* A plugin is used only when everything about it checks out: the file (in
 * a privileged process), the symbol, the ABI version, a struct at least as
 * long as version 1's, and the two callbacks without which it is no
 * backend. */
static const tiershim_unmap_backend_t *plugin_load(const char *path) {
  char name[TS_ROOT_MAX];
  int fd = plugin_open(path, name, sizeof name);
  if (fd == -2) return NULL;
  void *h = dlopen(name, RTLD_NOW | RTLD_LOCAL);
  if (fd >= 0) ts_prim_close(fd); /* the mapping stays */
  if (h == NULL) {
    const char *e = dlerror();
    unmap_warn(path, e ? e : "cannot be loaded");
    return NULL;
  }
  tiershim_unmap_backend_fn fn = (tiershim_unmap_backend_fn)dlsym(h, TIERSHIM_UNMAP_SYMBOL);
  const tiershim_unmap_backend_t *be = fn ? fn() : NULL;
  const char *why = NULL;
  if (fn == NULL) why = "no symbol " TIERSHIM_UNMAP_SYMBOL;
  else if (be == NULL) why = TIERSHIM_UNMAP_SYMBOL "() returned NULL";
  else if (be->abi != TIERSHIM_UNMAP_ABI) why = "unmap ABI version mismatch (tiershim has 1)";
  else if (be->size < offsetof(tiershim_unmap_backend_t, fini) + sizeof be->fini) why = "backend struct too short";
  else if (be->name == NULL || be->init == NULL || be->release == NULL) why = "name, init or release missing";
  if (why) {
    unmap_warn(path, why);
    dlclose(h);
    return NULL;
  }
  memcpy(&unmap_plugin, be, sizeof unmap_plugin); /* the plugin stays loaded */
  return &unmap_plugin;
}

static const tiershim_unmap_backend_t *unmap_pick(void) {
  switch (ts_config.unmap) {
  case TS_UNMAP_MUNMAP: return &ts_unmap_munmap;
  case TS_UNMAP_KMOD: return &ts_unmap_kmod;
  case TS_UNMAP_PLUGIN: return plugin_load(ts_config.unmap_plugin);
  default: return &ts_unmap_batch;
  }
}

void ts_unmap_init(void) {
  const tiershim_unmap_backend_t *be = unmap_pick();
  void *state = NULL;
  int err = be ? be->init(&state) : -ENOENT;
  if (be && err != 0) {
    const char *what = ts_config.unmap == TS_UNMAP_PLUGIN ? ts_config.unmap_plugin : be->name;
    /* kmod without the module, without permission on the device, or with
     * no slot left for this user (the module's per-uid cap) is the
     * documented fallback: said only under TIERSHIM_VERBOSE, so every
     * process of a tree does not print it (programs compare stderr). */
    bool usual = err == -ENOENT || err == -EACCES || err == -ENOSPC;
    bool quiet = be == &ts_unmap_kmod && usual && ts_config.verbose == 0;
    if (!quiet)
      unmap_warn(what, be != &ts_unmap_kmod ? "the backend's init failed"
                       : err == -ENOENT    ? "/dev/tiershim not found (module not loaded)"
                       : err == -EACCES    ? "no permission on /dev/tiershim"
                       : err == -ENOSPC    ? "no free slot on /dev/tiershim (this user's or all 256 are taken)"
                                           : "/dev/tiershim is not a tiershim module of this ABI");
  }
  if (be == NULL || err != 0) {
    be = &ts_unmap_batch;
    (void)be->init(&state);
  }
  bool munmap = be == &ts_unmap_munmap;
  ts_ubatch_init(&unmap_b, be, state, munmap ? 1 : (size_t)ts_config.unmap_batch,
                 munmap ? 0 : (uint64_t)ts_config.unmap_delay_ms * 1000000u, ts_config.unmap_adapt && !munmap);
  unmap_b.tlb_total = ts_procfs_tlb_total;
  unmap_b.fallback = fallback_madvise;
  unmap_b.measure_gap_ns = 50 * 1000000ull; /* at most 20 measured releases a second */
  __atomic_store_n(&unmap_ready, true, __ATOMIC_RELEASE);
}

size_t ts_unmap_release(ts_range_t *r, size_t n) {
  if (__atomic_load_n(&unmap_ready, __ATOMIC_ACQUIRE)) return ts_ubatch_release(&unmap_b, r, n);
  size_t done = 0;
  for (size_t i = 0; i < n; i++)
    if (fallback_madvise((void *)r[i].addr, r[i].len) == 0) done += r[i].len;
  return done;
}

size_t ts_unmap_retain_max(void) { return unmap_b.be == &ts_unmap_munmap ? 0 : ts_config.retain_max; }
uint64_t ts_unmap_delay_ns(void) { return unmap_ready ? ts_ubatch_delay(&unmap_b) : 0; }
unsigned ts_unmap_scale(void) {
  unsigned s = __atomic_load_n(&unmap_b.st.scale, __ATOMIC_RELAXED);
  return s ? s : 1; /* before init */
}
void ts_unmap_settle(uintptr_t a, size_t len) {
  if (unmap_b.be == &ts_unmap_kmod) ts_unmap_kmod_settle(a, len);
}
bool ts_unmap_lazy_on(void) { return unmap_b.be == &ts_unmap_kmod && ts_unmap_kmod_lazy_on(); }
void ts_unmap_decayed(size_t bytes) { ts_ubatch_decayed(&unmap_b, bytes); }
const char *ts_unmap_backend_name(void) { return unmap_b.be ? unmap_b.be->name : "none"; }

/* Through the batcher's lock, which guards the counters (a leaf: callers
 * hold no placement lock here). */
uint64_t ts_unmap_released_bytes(void) {
  ts_ubatch_stats_t st;
  ts_ubatch_snapshot(&unmap_b, &st);
  return st.bytes;
}

uint64_t ts_unmap_release_calls(void) {
  ts_ubatch_stats_t st;
  ts_ubatch_snapshot(&unmap_b, &st);
  return st.calls;
}

void ts_unmap_lock(void) { ts_lock(&unmap_b.lock); }
void ts_unmap_unlock(void) { ts_unlock(&unmap_b.lock); }

void ts_unmap_fork_child(void) {
  pthread_mutex_init(&unmap_b.lock, NULL);
  if (unmap_b.be && unmap_b.be->fork_child) unmap_b.be->fork_child(unmap_b.state);
}

const char *ts_unmap_release_mode(void) {
  const tiershim_unmap_backend_t *be = unmap_b.be;
  return (be == NULL || be == &ts_unmap_batch || be == &ts_unmap_munmap) ? ts_release_mode_name() : be->name;
}

/* Copying an entry of TS_UNMAP_STATS_FIELDS into its field. */
#define UNMAP_INIT(kind, name, ...) UNMAP_INIT_##kind(name, __VA_ARGS__)
#define UNMAP_INIT_STR(name, v) .name = (v),
#define UNMAP_INIT_U64(name, v) .name = (v),
#define UNMAP_INIT_OPT_U64(name, known, v) .name##_known = (known), .name = (v),

void ts_unmap_stats(ts_unmap_stats_t *o) {
  static const char *const unmap_sources[] = {"none", "tlb_line", "backend"};
  ts_ubatch_stats_t st;
  ts_ubatch_snapshot(&unmap_b, &st);
  uint64_t fallbacks = __atomic_load_n(&ts_release_fallbacks, __ATOMIC_RELAXED);
  *o = (ts_unmap_stats_t){.present = true, TS_UNMAP_STATS_FIELDS(UNMAP_INIT)};
}

void ts_unmap_fini(void) {
  if (!__atomic_load_n(&unmap_ready, __ATOMIC_ACQUIRE)) return;
  ts_lock(&unmap_b.lock);
  const tiershim_unmap_backend_t *be = unmap_b.be;
  if (be->flush) be->flush(unmap_b.state);
  if (be->fini) be->fini(unmap_b.state);
  if (be != &ts_unmap_batch && be != &ts_unmap_munmap) {
    unmap_b.be = &ts_unmap_munmap; /* state-free: safe for whatever is freed later */
    unmap_b.state = NULL;
  }
  ts_unlock(&unmap_b.lock);
}

