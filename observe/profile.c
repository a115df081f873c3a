/* Callsite attribution and placement rules; see profile.h. */
#define _GNU_SOURCE
#include "base/reentry.h"
#include "observe/profile.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "policy/callsite.h"
#include "base/msg.h"
#include "base/options.h"
#include "alloc/place.h"
#include "base/prim.h"
#include "policy/rules.h"
#include "observe/stats.h"
#include "policy/thp.h"
#include "policy/tierpol.h"

#define SKIP_MAX 8 /* tiershim's own frames above the program's */
#define REC_TIER 1u
#define REC_THP 2u
#define RESIDENCY_PAGES 64

bool ts_profile_on;

static ts_cstab_t prof_tab;
static ts_rules_t prof_rules;
static const char *prof_rules_status = "none";
static int (*prof_backtrace)(void **buf, int size);
static uintptr_t prof_self_lo, prof_self_hi; /* libtiershim's text: frames skipped */
static uint64_t prof_traced, prof_rule_hits, prof_rule_fail;
static __thread bool prof_busy __attribute__((tls_model("initial-exec")));
static __thread int prof_countdown __attribute__((tls_model("initial-exec")));

/* ---- set-up ------------------------------------------------------------- */

/* libunwind exports _Unwind_RaiseException and a weak backtrace(): linked
 * in, or loaded globally, it would become the program's exception
 * unwinder. RTLD_LOCAL keeps it to ourselves. */
static void load_unwinder(void) {
  void *h = dlopen("libunwind.so.8", RTLD_NOW | RTLD_LOCAL);
  if (h == NULL) return;
  prof_backtrace = (int (*)(void **, int))dlsym(h, "unw_backtrace");
}

static void find_self(void) {
  Dl_info info;
  if (dladdr((void *)find_self, &info) == 0) return;
  prof_self_lo = (uintptr_t)info.dli_fbase;
  prof_self_hi = prof_self_lo;
  /* up to the end of the executable segment that holds this function */
  uintptr_t self = (uintptr_t)find_self;
  for (uintptr_t a = self; dladdr((void *)a, &info) && (uintptr_t)info.dli_fbase == prof_self_lo; a += 4096)
    prof_self_hi = a + 4096;
}

static void load_rules(void) {
  if (ts_config.rules_path[0] == '\0') return;
  ts_rules_error_t err[1];
  int n = ts_rules_load(ts_config.rules_path, &prof_rules, err, 1);
  if (n == 0) {
    prof_rules_status = "loaded";
    return;
  }
  prof_rules.n = 0;
  prof_rules_status = "errors: rules off";
  TS_MSG_BEGIN(b, storage);
  ts_buf_puts(&b, "TIERSHIM_RULES=");
  ts_buf_puts(&b, ts_config.rules_path);
  if (err[0].line > 0) {
    ts_buf_puts(&b, ":");
    ts_buf_u64(&b, (uint64_t)err[0].line);
  }
  ts_buf_puts(&b, ": ");
  ts_buf_puts(&b, err[0].msg);
  if (n > 1) {
    ts_buf_puts(&b, " (and ");
    ts_buf_u64(&b, (uint64_t)(n > 0 ? n - 1 : 0));
    ts_buf_puts(&b, " more: tiershim rules check FILE)");
  }
  ts_buf_puts(&b, "; running without rules");
  ts_msg_end(&b);
}

void ts_profile_init(void) {
  if (!ts_config.enable || (!ts_config.profile && ts_config.rules_path[0] == '\0')) return;
  load_rules();
  ts_prim_ptr_t m = ts_prim_mmap(NULL, ts_cs_mem_size(), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (m.err) return;
  ts_tier_bind_hot(m.addr, ts_cs_mem_size());
  ts_cs_init(&prof_tab, m.addr);
  load_unwinder();
  find_self();
  if (prof_backtrace == NULL) ts_msg_line("TIERSHIM_PROFILE: libunwind.so.8 not found; callsites unknown");
  __atomic_store_n(&ts_profile_on, true, __ATOMIC_RELEASE);
}

/* ---- tracing -------------------------------------------------------------- */

static int unwind(uintptr_t *pc) {
  void *buf[TS_CS_DEPTH + SKIP_MAX];
  int n = prof_backtrace ? prof_backtrace(buf, TS_CS_DEPTH + SKIP_MAX) : 0, k = 0;
  for (int i = 0; i < n && k < TS_CS_DEPTH; i++) {
    uintptr_t a = (uintptr_t)buf[i];
    if (k == 0 && a >= prof_self_lo && a < prof_self_hi) continue; /* ours, above the caller */
    pc[k++] = a;
  }
  return k;
}

/* The library's file name without its directory (rules match on it). */
static const char *frame_lib(const Dl_info *info) {
  const char *slash = info->dli_fname ? strrchr(info->dli_fname, '/') : NULL;
  return slash ? slash + 1 : info->dli_fname;
}

static void frame_names(const uintptr_t *pc, int n, ts_frame_name_t *f) {
  for (int i = 0; i < n; i++) {
    Dl_info info;
    f[i] = (ts_frame_name_t){NULL, NULL};
    if (dladdr((void *)(pc[i] - 1), &info) == 0) continue; /* a return address: look at the call */
    f[i].sym = info.dli_sname;
    f[i].lib = frame_lib(&info);
  }
}

/* Which rules' patterns match these frames (sizes are checked per call). */
static uint64_t rules_mask(const uintptr_t *pc, int n) {
  if (prof_rules.n == 0) return 0;
  ts_frame_name_t f[TS_CS_DEPTH];
  frame_names(pc, n, f);
  uint64_t mask = 0;
  for (int r = 0; r < prof_rules.n; r++) {
    const ts_rule_t *rule = &prof_rules.rule[r];
    bool hit = rule->kind == TS_RULE_ANY;
    for (int i = 0; i < n && !hit; i++) {
      const char *name = rule->kind == TS_RULE_SYM ? f[i].sym : f[i].lib;
      hit = name && *name && ts_glob_match(rule->pattern, name);
    }
    if (hit) mask |= (uint64_t)1 << r;
  }
  return mask;
}

static const ts_rule_t *rule_for(uint64_t mask, size_t size) {
  for (; mask; mask &= mask - 1) {
    const ts_rule_t *r = &prof_rules.rule[__builtin_ctzll(mask)];
    if (size >= r->min && size < r->max) return r;
  }
  return NULL;
}

/* Only tiershim's own ranges can take a policy of their own: a small
 * object shares its pages with others. */
static uint32_t rule_apply(const ts_rule_t *r, void *p) {
  if (!ts_place_owns(p)) return 0;
  size_t len = ts_place_usable(p);
  uint32_t flags = 0;
  __atomic_fetch_add(&prof_rule_hits, 1, __ATOMIC_RELAXED);
  if (r->tier != TS_RULE_TIER_NONE) {
    if (ts_tier_bind_rule((uintptr_t)p, len, r->tier, r->weights, r->nweights)) flags |= REC_TIER;
    else if (ts_tier_on) __atomic_fetch_add(&prof_rule_fail, 1, __ATOMIC_RELAXED);
  }
  if (r->thp != TS_RULE_THP_NONE) {
    ts_thp_rule((uintptr_t)p, len, r->thp);
    if (r->thp != TS_RULE_THP_COLLAPSE) flags |= REC_THP;
  }
  return flags;
}

void ts_profile_alloc(void *p, size_t size) {
  if (p == NULL || prof_busy) return;
  uint32_t weight = 1;
  if (size < ts_config.profile_min) {
    if (--prof_countdown > 0) return;
    prof_countdown = ts_config.profile_sample;
    weight = (uint32_t)ts_config.profile_sample;
  }
  prof_busy = true;
  int saved = errno;
  uintptr_t pc[TS_CS_DEPTH];
  int n = unwind(pc);
  ts_lock(&prof_tab.lock);
  uint32_t site = ts_cs_intern(&prof_tab, pc, n);
  bool resolved = prof_tab.site[site].resolved;
  uint64_t mask = prof_tab.site[site].rules;
  ts_unlock(&prof_tab.lock);
  if (!resolved) { /* dladdr takes the loader lock: never under ours */
    mask = rules_mask(pc, n);
    ts_lock(&prof_tab.lock);
    prof_tab.site[site].rules = mask;
    prof_tab.site[site].resolved = 1;
    ts_unlock(&prof_tab.lock);
  }
  const ts_rule_t *r = rule_for(mask, size);
  uint32_t flags = r ? rule_apply(r, p) : 0;
  ts_lock(&prof_tab.lock);
  ts_cs_alloc(&prof_tab, site, (uintptr_t)p, size, weight, ts_prim_clock_ns(), flags | (r ? (uint32_t)r->line << 8 : 0));
  ts_unlock(&prof_tab.lock);
  __atomic_fetch_add(&prof_traced, 1, __ATOMIC_RELAXED);
  errno = saved;
  prof_busy = false;
}

void ts_profile_free(void *p) {
  if (p == NULL || !ts_cs_maybe(&prof_tab, (uintptr_t)p)) return;
  ts_cs_rec_t rec;
  ts_lock(&prof_tab.lock);
  bool found = ts_cs_free(&prof_tab, (uintptr_t)p, ts_prim_clock_ns(), &rec);
  ts_unlock(&prof_tab.lock);
  if (!found || !(rec.flags & (REC_TIER | REC_THP)) || !ts_place_owns(p)) return;
  int saved = errno;
  size_t len = ts_place_usable(p);
  if (rec.flags & REC_TIER) ts_tier_unbind_rule((uintptr_t)p, len);
  if (rec.flags & REC_THP) ts_thp_rule((uintptr_t)p, len, TS_THP_RULE_RESET);
  errno = saved;
}

/* ---- reporting ------------------------------------------------------------- */

static void frame_text(uintptr_t pc, char *out, size_t cap) {
  ts_buf_t b;
  ts_buf_init(&b, out, cap);
  Dl_info info;
  if (dladdr((void *)(pc - 1), &info) == 0) {
    ts_buf_puts(&b, "0x");
    ts_buf_hex(&b, pc);
    return;
  }
  const char *lib = frame_lib(&info) ? frame_lib(&info) : "?";
  ts_buf_puts(&b, info.dli_sname ? info.dli_sname : "?");
  ts_buf_puts(&b, "+0x");
  ts_buf_hex(&b, pc - (uintptr_t)(info.dli_sname ? info.dli_saddr : info.dli_fbase));
  ts_buf_puts(&b, " (");
  ts_buf_puts(&b, lib);
  ts_buf_putc(&b, ')');
}

/* Up to RESIDENCY_PAGES pages of a callsite's live records, spread over
 * each record (its first page alone would see one node of an interleave
 * that goes by 2 MiB blocks). Profile lock held. */
static int live_pages(uint32_t site, void **pages) {
  size_t page = ts_prim_page_size(), recs = 0;
  for (size_t i = 0; i < TS_CS_RECS; i++) recs += prof_tab.rec[i].addr > 1 && prof_tab.rec[i].site == site;
  size_t per = recs ? (RESIDENCY_PAGES + recs - 1) / recs : 1;
  int n = 0;
  for (size_t i = 0; i < TS_CS_RECS && n < RESIDENCY_PAGES; i++) {
    const ts_cs_rec_t *r = &prof_tab.rec[i];
    if (r->addr <= 1 || r->site != site) continue;
    size_t k = r->size / page < per ? (r->size / page ? r->size / page : 1) : per;
    for (size_t j = 0; j < k && n < RESIDENCY_PAGES; j++) {
      uintptr_t a = r->size >= page ? r->addr + page - 1 + j * (r->size / k) : r->addr;
      if (a >= r->addr + r->size) a = r->addr;
      pages[n++] = (void *)(a & ~(uintptr_t)(page - 1));
    }
  }
  return n;
}

/* Which of those pages are in huge pages: the page frame from
 * /proc/self/pagemap, its flags from /proc/kpageflags (KPF_THP, bit 22).
 * Both need CAP_SYS_ADMIN for the frame numbers: -1 (unknown) without. */
static int huge_permille(void **pages, int n) {
  int pm = ts_prim_open("/proc/self/pagemap", O_RDONLY, 0), kf = ts_prim_open("/proc/kpageflags", O_RDONLY, 0);
  int huge = 0, known = 0;
  for (int i = 0; i < n && pm >= 0 && kf >= 0; i++) {
    uint64_t e = 0, flags = 0;
    if (ts_prim_pread(pm, &e, 8, ((uintptr_t)pages[i] / ts_prim_page_size()) * 8) != 8) break;
    uint64_t pfn = e & ((1ull << 55) - 1);
    if (!(e >> 63) || pfn == 0) continue; /* not present, or no permission for frames */
    if (ts_prim_pread(kf, &flags, 8, pfn * 8) != 8) break;
    known++;
    huge += (flags >> 22) & 1;
  }
  if (pm >= 0) ts_prim_close(pm);
  if (kf >= 0) ts_prim_close(kf);
  return known ? huge * 1000 / known : -1;
}

/* Where those pages are, asked with move_pages (nothing moves). */
static void residency(void **pages, int n, ts_stats_callsite_t *o) {
  int status[RESIDENCY_PAGES], per[64] = {0}, resident = 0;
  o->nodes[0] = '\0';
  o->huge_permille = n ? huge_permille(pages, n) : -1;
  if (n == 0 || ts_prim_move_pages(0, (unsigned long)n, pages, NULL, status, 0) < 0) return;
  for (int i = 0; i < n; i++)
    if (status[i] >= 0 && status[i] < 64) per[status[i]]++, resident++;
  if (resident == 0) return;
  ts_buf_t b;
  ts_buf_init(&b, o->nodes, sizeof o->nodes);
  for (int node = 0, first = 1; node < 64; node++) {
    if (per[node] == 0) continue;
    if (!first) ts_buf_putc(&b, ',');
    first = 0;
    ts_buf_u64(&b, (uint64_t)node);
    ts_buf_putc(&b, ':');
    ts_buf_u64(&b, (uint64_t)(per[node] * 100 / resident));
    ts_buf_putc(&b, '%');
  }
}

/* The top callsites are copied under the profile lock; symbols (dladdr
 * takes the loader lock, whose holder may be allocating) and residency
 * come after it is dropped. */
/* Guards ts_profile_stats' statics. Live stats (observe/publish.c) collect
 * from any thread, a fork child included: a child forked while another
 * thread held it gets it afresh (ts_profile_fork_child). */
static pthread_mutex_t prof_stats_lock = PTHREAD_MUTEX_INITIALIZER;

void ts_profile_stats(ts_stats_profile_t *o) {
  if (!ts_profile_on) return;
  static ts_callsite_t top[TS_STATS_PROF_TOP];
  static void *pages[TS_STATS_PROF_TOP][RESIDENCY_PAGES];
  static int npages[TS_STATS_PROF_TOP];
  bool was = prof_busy;
  prof_busy = true;
  ts_lock(&prof_stats_lock);
  ts_lock(&prof_tab.lock);
  *o = (ts_stats_profile_t){.present = true,
                            .unwinder = prof_backtrace ? "libunwind" : "unavailable",
                            .rules_status = prof_rules_status,
                            .callsites = prof_tab.nsites,
                            .traced = prof_traced,
                            .dropped = prof_tab.dropped,
                            .rules = (uint64_t)prof_rules.n,
                            .rule_hits = prof_rule_hits,
                            .rule_fail = prof_rule_fail,
                            .sample = (uint64_t)ts_config.profile_sample,
                            .min = ts_config.profile_min};
  uint32_t order[TS_STATS_PROF_TOP];
  size_t want = (size_t)ts_config.profile_top < TS_STATS_PROF_TOP ? (size_t)ts_config.profile_top : TS_STATS_PROF_TOP;
  o->ntop = (int)ts_cs_top(&prof_tab, order, want);
  for (int i = 0; i < o->ntop; i++) {
    top[i] = prof_tab.site[order[i]];
    npages[i] = live_pages(order[i], pages[i]);
    if (order[i] == TS_CS_MAX) top[i].depth = 0;
  }
  ts_unlock(&prof_tab.lock);
  for (int i = 0; i < o->ntop; i++) {
    const ts_callsite_t *s = &top[i];
    ts_stats_callsite_t *c = &o->top[i];
    *c = (ts_stats_callsite_t){.count = s->count, .bytes = s->bytes, .live = s->live, .peak = s->peak,
                               .frees = s->frees, .samples = s->samples,
                               .mean_life_us = s->frees ? s->life_ns / s->frees / 1000 : 0};
    c->nframes = s->depth < TS_STATS_PROF_FRAMES ? s->depth : TS_STATS_PROF_FRAMES;
    for (int f = 0; f < c->nframes; f++) frame_text(s->pc[f], c->frame[f], sizeof c->frame[f]);
    c->rule_line = (int)s->rule_line;
    residency(pages[i], npages[i], c);
  }
  ts_unlock(&prof_stats_lock);
  prof_busy = was;
}


static void text_bytes(ts_buf_t *b, uint64_t v) {
  ts_buf_fixed(b, (double)v / (1024.0 * 1024.0), 1);
  ts_buf_puts(b, " MiB");
}

/* TIERSHIM_PROFILE=1: one block of lines on stderr at exit. */
void ts_profile_report_at_exit(void) {
  if (!ts_profile_on || !ts_config.profile) return;
  static ts_stats_profile_t p;
  p.present = false;
  ts_profile_stats(&p);
  static char out[16384];
  ts_buf_t b;
  ts_buf_init(&b, out, sizeof out);
  ts_buf_puts(&b, "tiershim: profile: ");
  ts_buf_u64(&b, p.traced);
  ts_buf_puts(&b, " allocations traced, ");
  ts_buf_u64(&b, p.callsites);
  ts_buf_puts(&b, " callsites; top by bytes (estimates: 1 in ");
  ts_buf_u64(&b, p.sample);
  ts_buf_puts(&b, " below ");
  ts_buf_size(&b, p.min);
  ts_buf_puts(&b, ")\n");
  for (int i = 0; i < p.ntop; i++) {
    const ts_stats_callsite_t *c = &p.top[i];
    ts_buf_puts(&b, "tiershim:   #");
    ts_buf_u64(&b, (uint64_t)i + 1);
    ts_buf_puts(&b, " ");
    text_bytes(&b, c->bytes);
    ts_buf_puts(&b, " in ");
    ts_buf_u64(&b, c->count);
    ts_buf_puts(&b, ", live ");
    text_bytes(&b, c->live);
    ts_buf_puts(&b, ", peak ");
    text_bytes(&b, c->peak);
    ts_buf_puts(&b, ", mean life ");
    ts_buf_u64(&b, c->mean_life_us);
    ts_buf_puts(&b, " us");
    if (c->nodes[0]) {
      ts_buf_puts(&b, ", nodes ");
      ts_buf_puts(&b, c->nodes);
    }
    if (c->rule_line) {
      ts_buf_puts(&b, ", rule line ");
      ts_buf_u64(&b, (uint64_t)c->rule_line);
    }
    ts_buf_putc(&b, '\n');
    if (c->nframes == 0) ts_buf_puts(&b, "tiershim:       (other callsites)\n");
    for (int f = 0; f < c->nframes; f++) {
      ts_buf_puts(&b, "tiershim:       ");
      ts_buf_puts(&b, c->frame[f]);
      ts_buf_putc(&b, '\n');
    }
  }
  size_t n = b.need < sizeof out ? b.need : sizeof out - 1;
  ts_msg_write(out, n);
}

void ts_profile_lock(void) { ts_lock(&prof_tab.lock); }
void ts_profile_unlock(void) { ts_unlock(&prof_tab.lock); }
void ts_profile_fork_child(void) {
  pthread_mutex_init(&prof_tab.lock, NULL);
  pthread_mutex_init(&prof_stats_lock, NULL);
  prof_busy = false;
}
