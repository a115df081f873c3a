/* Tier placement; see tierpol.h. State is written once, by ts_tier_init
 * during initialisation, and read-only afterwards; the counters are atomic
 * (binds happen with and without the placement lock). */
#define _GNU_SOURCE
#include "policy/tierpol.h"

#include <errno.h>
#include <string.h>

#include "policy/mpol.h"
#include "base/msg.h"
#include "base/options.h"
#include "base/prim.h"
#include "base/range.h"

#define POLICY_NAME 96

typedef struct tier_pol_s {
  int mode;        /* TS_MPOL_* */
  uint64_t nodes;
  bool split;      /* weighted by range split: per 2 MiB block, see split_* */
  char name[POLICY_NAME];
} tier_pol_t;

bool ts_tier_on;
void (*ts_tier_spill_hook)(uintptr_t a, size_t len);
void (*ts_tier_kick_hook)(void);

static ts_topo_t tier_topo;
static tier_pol_t hot_pol, bulk_pol;
static bool per_grant;           /* classes share the window: bind each grant */
static bool have_many = true;    /* MPOL_PREFERRED_MANY (5.15) */
static int task_mode = -1;
static const char *task_why = "not set: tier placement off";
static int split_nodes[TS_TIER_MAX_NODES];
static unsigned char split_weights[TS_TIER_MAX_NODES];
static int split_n;
static struct { uint64_t hot_bytes, bulk_bytes, binds, bind_fail, stacks, spilled; } tst;
static tier_pol_t cold_pol;      /* page cache of cold reads: slow first */
static tier_pol_t spill_pol;     /* bulk=fast once the fast tier is down to its reserve */
static uint64_t fast_reserve;    /* bytes of the fast tier left to the kernel */
#define FREE_UNREAD UINT64_MAX
static uint64_t fast_free = FREE_UNREAD, since_read; /* bulk=fast's estimate */

static void pol_set(tier_pol_t *p, int mode, uint64_t nodes, const char *what);
static void pol_prefer(tier_pol_t *p, uint64_t nodes);

static inline void tier_add(uint64_t *c, uint64_t n) { __atomic_fetch_add(c, n, __ATOMIC_RELAXED); }

static int lowest_node(uint64_t mask) { return mask ? __builtin_ctzll(mask) : 0; }

/* ---- applying a policy ------------------------------------------------ */

static bool tier_mbind(uintptr_t a, size_t len, int mode, uint64_t nodes, unsigned flags) {
  int r = ts_prim_mbind((void *)a, len, mode, nodes, flags);
  tier_add(&tst.binds, 1);
  if (r != 0) tier_add(&tst.bind_fail, 1);
  return r == 0;
}

int ts_tier_weighted_node(uint64_t block, const int *nodes, const unsigned char *weights, int n) {
  uint64_t cycle = 0;
  for (int i = 0; i < n; i++) cycle += weights[i];
  if (cycle == 0) return n > 0 ? nodes[0] : 0;
  uint64_t pos = block % cycle;
  for (int i = 0; i < n; i++) {
    if (pos < weights[i]) return nodes[i];
    pos -= weights[i];
  }
  return nodes[n - 1];
}

/* One mbind per run of blocks that go to the same node: a preferred
 * policy, so a full node spills instead of failing the fault. */
static bool split_apply(uintptr_t a, size_t len, unsigned flags, const int *nodes, const unsigned char *w,
                        int n) {
  uintptr_t end = a + len;
  bool ok = true;
  while (a < end) {
    uint64_t b = a >> PMD_SHIFT;
    int node = ts_tier_weighted_node(b, nodes, w, n);
    uintptr_t run_end = (b + 1) << PMD_SHIFT;
    while (run_end < end && ts_tier_weighted_node(run_end >> PMD_SHIFT, nodes, w, n) == node)
      run_end += (uintptr_t)1 << PMD_SHIFT;
    if (run_end > end) run_end = end;
    ok &= tier_mbind(a, run_end - a, TS_MPOL_PREFERRED, (uint64_t)1 << node, flags);
    a = run_end;
  }
  return ok;
}

static bool tier_apply_split(uintptr_t a, size_t len, unsigned flags) {
  return split_apply(a, len, flags, split_nodes, split_weights, split_n);
}

/* ---- fast first, with a reserve -------------------------------------- */

static uint64_t fast_free_now(void) {
  uint64_t sum = 0;
  for (int n = 0; n < TS_TIER_MAX_NODES; n++)
    if (tier_topo.fast_nodes & ((uint64_t)1 << n)) sum += ts_node_meminfo(ts_config.sysfs_root, n, " MemFree:");
  return sum;
}

/* bulk=fast fills the fast tier only down to a reserve, then binds new
 * ranges slow-first. Filling it to the kernel's watermarks (which the
 * kernel's own preferred fallback does) starves page tables and slab when
 * the slow tier is ZONE_MOVABLE, and without swap that ends in an OOM kill
 * although the slow tier is free. Free memory is re-read every 32 MiB
 * bound; in between, what was bound is assumed used. Races between threads
 * only blur the estimate. */
static uint64_t fast_free_read(void) {
  __atomic_store_n(&since_read, 0, __ATOMIC_RELAXED);
  return fast_free_now();
}

/* The estimate before binding len more bytes. */
static uint64_t fast_estimate(size_t len) {
  uint64_t since = __atomic_add_fetch(&since_read, len, __ATOMIC_RELAXED);
  uint64_t avail = __atomic_load_n(&fast_free, __ATOMIC_RELAXED);
  return avail == FREE_UNREAD || since >= ((uint64_t)32 << 20) ? fast_free_read() : avail;
}

/* One piece against the estimate *avail, which it updates. */
static const tier_pol_t *fast_decide(uint64_t *avail, size_t len) {
  if (*avail > fast_reserve + len) {
    *avail -= len;
    return &bulk_pol;
  }
  tier_add(&tst.spilled, len);
  return &spill_pol;
}

static const tier_pol_t *bulk_now(size_t len) {
  if (spill_pol.mode == TS_MPOL_DEFAULT) return &bulk_pol;
  uint64_t avail = fast_estimate(len);
  const tier_pol_t *p = fast_decide(&avail, len);
  __atomic_store_n(&fast_free, avail, __ATOMIC_RELAXED);
  return p;
}

static void tier_apply(uintptr_t a, size_t len, const tier_pol_t *p, uint64_t *bytes) {
  bool ok = p->split ? tier_apply_split(a, len, 0) : tier_mbind(a, len, p->mode, p->nodes, 0);
  if (ok) tier_add(bytes, len);
}

/* Ranges bound by a rule and not freed yet: ts_tier_filling leaves the
 * tiers alone while there are any, since it cannot tell their pieces from
 * bulk ones and must not undo a rule. */
static uint64_t rule_live;

static bool bind_rule(uintptr_t a, size_t len, int tier, const unsigned char *w, int nw);

/* A placement rule's tier (policy/rules.h) for one allocation: preferred
 * (never bind), with MPOL_MF_MOVE so pages already faulted follow. weighted
 * with weights of its own splits the range by 2 MiB blocks; without, it is
 * the kernel's weighted interleave where there is one, else interleave. */
bool ts_tier_bind_rule(uintptr_t a, size_t len, int tier, const unsigned char *w, int nw) {
  if (!ts_tier_on || !bind_rule(a, len, tier, w, nw)) return false;
  tier_add(&rule_live, 1);
  return true;
}

static bool bind_rule(uintptr_t a, size_t len, int tier, const unsigned char *w, int nw) {
  uint64_t fast = tier_topo.fast_nodes, slow = tier_topo.slow_nodes, all = fast | slow;
  tier_pol_t p;
  switch (tier) {
  case TS_BULK_FAST: pol_prefer(&p, fast); break;
  case TS_BULK_SLOW: pol_prefer(&p, slow); break;
  case TS_BULK_INTERLEAVE: pol_set(&p, TS_MPOL_INTERLEAVE, all, "interleave"); break;
  case TS_BULK_WEIGHTED: {
    if (nw == 0 && tier_topo.weighted_interleave) {
      pol_set(&p, TS_MPOL_WEIGHTED_INTERLEAVE, all, "weighted-interleave");
      break;
    }
    if (nw == 0) {
      pol_set(&p, TS_MPOL_INTERLEAVE, all, "interleave");
      break;
    }
    int nodes[TS_TIER_MAX_NODES], n = 0;
    for (int i = 0; i < TS_TIER_MAX_NODES && n < nw; i++)
      if (all & ((uint64_t)1 << i)) nodes[n++] = i;
    bool ok = split_apply(a, len, TS_MPOL_MF_MOVE, nodes, w, n);
    if (ok) tier_add(&tst.bulk_bytes, len);
    return ok;
  }
  default: p = bulk_pol; break;
  }
  bool ok = tier_mbind(a, len, p.mode, p.nodes, TS_MPOL_MF_MOVE);
  if (ok) tier_add(&tst.bulk_bytes, len);
  return ok;
}

/* A freed rule-bound range goes back to the bulk class's policy. */
void ts_tier_unbind_rule(uintptr_t a, size_t len) {
  if (!ts_tier_on) return;
  __atomic_fetch_sub(&rule_live, 1, __ATOMIC_RELAXED);
  tier_apply(a, len, &bulk_pol, &tst.bulk_bytes);
}

void ts_tier_bind_hot(void *addr, size_t len) {
  if (!ts_tier_on || hot_pol.mode == TS_MPOL_DEFAULT) return;
  tier_apply((uintptr_t)addr, len, &hot_pol, &tst.hot_bytes);
}

/* A bulk range of the window: spills are noted for background promotion.
 * bulk=fast decides per 32 MiB piece: a block of hundreds of MiB (a
 * model's weights) fills the fast tier down to its reserve and spills the
 * rest, instead of going wholly to one tier. */
#define BULK_PIECE ((uintptr_t)32 << 20)

static void bulk_apply_piece(uintptr_t a, size_t len, const tier_pol_t *p) {
  tier_apply(a, len, p, &tst.bulk_bytes);
  if (p == &spill_pol && ts_tier_spill_hook) ts_tier_spill_hook(a, len);
}

/* Pieces end at 32 MiB multiples; each is decided against *avail. */
static void fast_apply_pieces(uintptr_t a, uintptr_t end, uint64_t *avail) {
  while (a < end) {
    uintptr_t next = (a + BULK_PIECE) & ~(BULK_PIECE - 1);
    if (next > end) next = end;
    bulk_apply_piece(a, next - a, fast_decide(avail, next - a));
    a = next;
  }
}

static void bulk_apply_window(uintptr_t a, size_t len) {
  if (spill_pol.mode == TS_MPOL_DEFAULT) {
    bulk_apply_piece(a, len, &bulk_pol);
    return;
  }
  uint64_t avail = fast_estimate(len);
  fast_apply_pieces(a, a + len, &avail);
  __atomic_store_n(&fast_free, avail, __ATOMIC_RELAXED);
}

/* A range of the window about to be filled (a cold read populates it):
 * bulk=fast decides again, per 32 MiB piece, against free memory read now.
 * The decision made when the range was mapped came before any of it was
 * used; two processes loading models at once both saw the fast tier empty
 * and together bound more to it than it holds, which kswapd then demoted
 * page by page, each a TLB shootdown. Filled one read at a time, each
 * decision sees what the reads before it (this process's and the others')
 * really used. Whole pages only: the edges may be a neighbour's. No
 * MPOL_MF_MOVE: pages already there stay. Not while a placement rule has
 * bound a range (rule_live). */
void ts_tier_filling(uintptr_t a, size_t len) {
  if (!ts_tier_on || spill_pol.mode == TS_MPOL_DEFAULT || per_grant) return;
  if (__atomic_load_n(&rule_live, __ATOMIC_RELAXED) != 0) return;
  uintptr_t end = (a + len) & ~(uintptr_t)4095;
  a = (a + 4095) & ~(uintptr_t)4095;
  if (a >= end) return;
  uint64_t avail = fast_free_read(); /* less what the pieces before take: none is filled yet */
  fast_apply_pieces(a, end, &avail);
  __atomic_store_n(&fast_free, avail, __ATOMIC_RELAXED);
}

uint64_t ts_tier_fast_room(void) {
  uint64_t avail = fast_free_now(), keep = 2 * fast_reserve;
  return avail > keep ? avail - keep : 0;
}

void ts_tier_rebind_fast(uintptr_t a, size_t len) { tier_apply(a, len, &bulk_pol, &tst.bulk_bytes); }

void ts_tier_bind_mapping(void *addr, size_t len) {
  if (!ts_tier_on || len < ts_config.bulk_min || (bulk_pol.mode == TS_MPOL_DEFAULT && !bulk_pol.split))
    return;
  tier_apply((uintptr_t)addr, len, bulk_now(len), &tst.bulk_bytes);
}

void ts_tier_window_mapped(uintptr_t a, size_t len) {
  if (!ts_tier_on || per_grant || (bulk_pol.mode == TS_MPOL_DEFAULT && !bulk_pol.split)) return;
  bulk_apply_window(a, len);
}

/* Classes share the window: each grant gets its class's policy, the
 * default one included, since the range may carry the other class's. */
void ts_tier_granted(uintptr_t a, size_t len) {
  if (!ts_tier_on) return;
  if (ts_tier_kick_hook) ts_tier_kick_hook(); /* outside the placement lock: may start a thread */
  if (!per_grant) return;
  if (len >= ts_config.bulk_min) bulk_apply_window(a, len);
  else tier_apply(a, len, &hot_pol, &tst.hot_bytes);
}

/* MPOL_MF_MOVE: the pages the creating thread touched already (the top
 * of the stack: TLS, the thread descriptor) follow. */
void ts_tier_bind_stack(void *lo, size_t len) {
  if (!ts_tier_on || hot_pol.mode == TS_MPOL_DEFAULT) return;
  if (tier_mbind((uintptr_t)lo, len, hot_pol.mode, hot_pol.nodes, TS_MPOL_MF_MOVE)) {
    tier_add(&tst.hot_bytes, len);
    tier_add(&tst.stacks, 1);
  }
}

/* ---- deciding the policies -------------------------------------------- */

static void pol_set(tier_pol_t *p, int mode, uint64_t nodes, const char *what) {
  p->mode = mode;
  p->nodes = nodes;
  p->split = false;
  ts_buf_t b;
  ts_buf_init(&b, p->name, sizeof p->name);
  ts_buf_puts(&b, what);
  if (nodes) {
    ts_buf_putc(&b, ' ');
    char list[64];
    ts_nodelist_format(nodes, list, sizeof list);
    ts_buf_puts(&b, list);
  }
}

/* Preferred over a set of nodes: MPOL_PREFERRED_MANY where the kernel has
 * it, else its first node (kernels before 5.15 prefer one node only). */
static void pol_prefer(tier_pol_t *p, uint64_t nodes) {
  if (have_many) pol_set(p, TS_MPOL_PREFERRED_MANY, nodes, "preferred-many");
  else pol_set(p, TS_MPOL_PREFERRED, (uint64_t)1 << lowest_node(nodes), "preferred");
}

static bool weights_match_kernel(const ts_config_t *cfg, uint64_t all) {
  if (cfg->bulk_nweights == 0) return true;
  int i = 0;
  for (int n = 0; n < TS_TIER_MAX_NODES; n++)
    if (all & ((uint64_t)1 << n))
      if (tier_topo.node[n].wi_weight != cfg->bulk_weights[i++]) return false;
  return true;
}

static void pol_weighted(tier_pol_t *p, const ts_config_t *cfg, uint64_t all) {
  int count = __builtin_popcountll(all);
  if (cfg->bulk_nweights != 0 && cfg->bulk_nweights != count) {
    TS_MSG_BEGIN(b, storage);
    ts_buf_puts(&b, "TIERSHIM_BULK: ");
    ts_buf_u64(&b, (uint64_t)cfg->bulk_nweights);
    ts_buf_puts(&b, " weights for ");
    ts_buf_u64(&b, (uint64_t)count);
    ts_buf_puts(&b, " memory nodes; using the kernel's weights");
    ts_msg_end(&b);
  }
  bool given = cfg->bulk_nweights == count;
  if (tier_topo.weighted_interleave && (!given || weights_match_kernel(cfg, all))) {
    pol_set(p, TS_MPOL_WEIGHTED_INTERLEAVE, all, "weighted-interleave");
    return;
  }
  /* The range split: the weights given, else the kernel's, else 1 each. */
  split_n = 0;
  ts_buf_t b;
  ts_buf_init(&b, p->name, sizeof p->name);
  ts_buf_puts(&b, "weighted by 2 MiB blocks");
  for (int n = 0; n < TS_TIER_MAX_NODES; n++) {
    if (!(all & ((uint64_t)1 << n))) continue;
    unsigned w = given ? cfg->bulk_weights[split_n] : tier_topo.node[n].wi_weight;
    split_nodes[split_n] = n;
    split_weights[split_n] = (unsigned char)(w ? w : 1);
    ts_buf_puts(&b, split_n ? "," : " ");
    ts_buf_u64(&b, (uint64_t)n);
    ts_buf_putc(&b, ':');
    ts_buf_u64(&b, split_weights[split_n]);
    split_n++;
  }
  p->mode = TS_MPOL_PREFERRED;
  p->nodes = all;
  p->split = true;
}

#define RESERVE_MIN ((uint64_t)128 << 20)
#define RESERVE_MAX ((uint64_t)2 << 30)

static uint64_t fast_total(void) {
  uint64_t sum = 0;
  for (int n = 0; n < TS_TIER_MAX_NODES; n++)
    if (tier_topo.fast_nodes & ((uint64_t)1 << n)) sum += tier_topo.node[n].total_bytes;
  return sum;
}

/* TIERSHIM_FAST_RESERVE when set (the operator knows the node: a small
 * DRAM node needs less than the clamp's 128 MiB), else 1/64 of the fast
 * tier within [RESERVE_MIN, RESERVE_MAX]. */
uint64_t ts_tier_fast_reserve(uint64_t fast_total, uint64_t option) {
  if (option) return option;
  uint64_t r = fast_total / 64;
  return r < RESERVE_MIN ? RESERVE_MIN : r > RESERVE_MAX ? RESERVE_MAX : r;
}

static void pol_bulk(const ts_config_t *cfg, bool task_set) {
  uint64_t fast = tier_topo.fast_nodes, slow = tier_topo.slow_nodes, all = fast | slow;
  switch (cfg->bulk) {
  case TS_BULK_FAST:
    pol_prefer(&bulk_pol, fast);
    pol_prefer(&spill_pol, slow);
    fast_reserve = ts_tier_fast_reserve(fast_total(), cfg->fast_reserve);
    break;
  case TS_BULK_SLOW: pol_prefer(&bulk_pol, slow); break;
  case TS_BULK_INTERLEAVE: pol_set(&bulk_pol, TS_MPOL_INTERLEAVE, all, "interleave"); break;
  case TS_BULK_WEIGHTED: pol_weighted(&bulk_pol, cfg, all); break;
  default: /* the kernel's default, which our task policy must not change */
    if (task_set) pol_set(&bulk_pol, TS_MPOL_LOCAL, 0, "local");
    else pol_set(&bulk_pol, TS_MPOL_DEFAULT, 0, "default");
  }
}

/* The task policy: preferred fast nodes, unless the program runs under a
 * policy of its own (numactl), which we leave alone. A preferred-many
 * over exactly the fast nodes is taken as ours, inherited from a parent
 * tiershim process (policies survive exec). */
typedef enum { TASK_SET, TASK_USERS, TASK_NOT_ASKED, TASK_FAILED } task_result_t;

static task_result_t task_policy(const ts_config_t *cfg) {
  uint64_t fast = tier_topo.fast_nodes, cur_nodes = 0;
  int cur = 0;
  if (ts_prim_get_mempolicy(&cur, &cur_nodes, NULL, 0) != 0) cur = TS_MPOL_DEFAULT;
  cur &= 0xff; /* MPOL_F_STATIC_NODES and friends live in the high bits */
  bool ours = cur == TS_MPOL_PREFERRED_MANY && cur_nodes == fast;
  if (cur != TS_MPOL_DEFAULT && !ours) {
    task_why = "left alone: the program already runs under a mempolicy";
    return TASK_USERS;
  }
  if (cfg->hot != TS_HOT_FAST) {
    task_why = "not set: TIERSHIM_HOT=default";
    /* The bulk policies still want to know whether preferred-many exists. */
    if (ts_prim_set_mempolicy(TS_MPOL_PREFERRED_MANY, fast) == -EINVAL) have_many = false;
    else (void)ts_prim_set_mempolicy(TS_MPOL_DEFAULT, 0);
    return TASK_NOT_ASKED;
  }
  int r = ts_prim_set_mempolicy(TS_MPOL_PREFERRED_MANY, fast);
  if (r == -EINVAL) {
    have_many = false;
    r = ts_prim_set_mempolicy(TS_MPOL_PREFERRED, (uint64_t)1 << lowest_node(fast));
  }
  if (r != 0) {
    tier_add(&tst.bind_fail, 1);
    task_why = "set_mempolicy failed: left as it was";
    return TASK_FAILED;
  }
  task_mode = have_many ? TS_MPOL_PREFERRED_MANY : TS_MPOL_PREFERRED;
  task_why = "preferred fast nodes, inherited by every thread";
  return TASK_SET;
}

void ts_tier_print_verbose(void) {
  if (tier_topo.status == TS_TOPO_ERROR) return; /* warned at init already */
  TS_MSG_BEGIN(b, storage);
  ts_buf_puts(&b, "tiers: ");
  ts_buf_puts(&b, tier_topo.why);
  if (!ts_tier_on) ts_buf_puts(&b, ts_config.enable ? "; tier placement off" : "; off (TIERSHIM_ENABLE=0)");
  ts_msg_end(&b);
  if (!ts_tier_on) return;
  TS_MSG_BEGIN(c, storage2);
  ts_buf_puts(&c, "tiers: hot ");
  ts_buf_puts(&c, hot_pol.name);
  ts_buf_puts(&c, " (task policy ");
  ts_buf_puts(&c, task_why);
  ts_buf_puts(&c, "); bulk ");
  ts_buf_puts(&c, bulk_pol.name);
  ts_buf_puts(&c, per_grant ? ", set per placed range" : ", set per 32 MiB of region");
  ts_msg_end(&c);
}

void ts_tier_init(void) {
  const ts_config_t *cfg = &ts_config;
  cold_pol.nodes = 0;
  if (!cfg->fast_nodes[0] && !cfg->slow_nodes[0] && ts_topo_one_node(cfg->sysfs_root, &tier_topo)) return;
  ts_topo_discover(cfg->sysfs_root, cfg->fast_nodes, cfg->slow_nodes, &tier_topo);
  if (tier_topo.status == TS_TOPO_ERROR) { /* a warning, whatever the verbosity */
    TS_MSG_BEGIN(b, storage);
    ts_buf_puts(&b, tier_topo.why);
    ts_buf_puts(&b, "; tier placement off");
    ts_msg_end(&b);
  }
  if (!cfg->enable || tier_topo.status != TS_TOPO_TIERED) {
    return;
  }
  task_result_t task = task_policy(cfg);
  if (task == TASK_SET || task == TASK_FAILED) pol_prefer(&hot_pol, tier_topo.fast_nodes);
  else pol_set(&hot_pol, TS_MPOL_DEFAULT, 0, "default");
  pol_bulk(cfg, task == TASK_SET);
  if (task == TASK_SET && tier_topo.slow_nodes) pol_prefer(&cold_pol, tier_topo.slow_nodes);
  per_grant = cfg->bulk_min > cfg->large_min || (cfg->place_mmap && cfg->bulk_min > cfg->mmap_min);
  ts_tier_on = true;
}

const ts_topo_t *ts_tier_topo(void) { return &tier_topo; }

bool ts_tier_cold_policy(int *mode, uint64_t *nodes) {
  if (!ts_tier_on || cold_pol.nodes == 0) return false;
  *mode = cold_pol.mode;
  *nodes = cold_pol.nodes;
  return true;
}

static int here(void) {
  int n = ts_prim_getcpu();
  return n >= 0 && n < TS_TIER_MAX_NODES ? n : lowest_node(tier_topo.fast_nodes);
}

int ts_tier_promote_node(void) {
  if (tier_topo.status != TS_TOPO_TIERED) return -1;
  int n = here();
  return (tier_topo.fast_nodes >> n) & 1 ? n : lowest_node(tier_topo.fast_nodes);
}

int ts_tier_demote_node(void) {
  if (tier_topo.status != TS_TOPO_TIERED || tier_topo.slow_nodes == 0) return -1;
  int from = here(), best = -1;
  for (int n = 0; n < TS_TIER_MAX_NODES; n++) {
    if (!((tier_topo.slow_nodes >> n) & 1)) continue;
    unsigned d = tier_topo.node[from].distance[n];
    if (best < 0 || (d && d < tier_topo.node[from].distance[best])) best = n;
  }
  return best;
}

void ts_tier_stats(ts_tier_stats_t *o) {
  o->hot_bytes = __atomic_load_n(&tst.hot_bytes, __ATOMIC_RELAXED);
  o->bulk_bytes = __atomic_load_n(&tst.bulk_bytes, __ATOMIC_RELAXED);
  o->binds = __atomic_load_n(&tst.binds, __ATOMIC_RELAXED);
  o->bind_fail = __atomic_load_n(&tst.bind_fail, __ATOMIC_RELAXED);
  o->stacks = __atomic_load_n(&tst.stacks, __ATOMIC_RELAXED);
  o->spilled = __atomic_load_n(&tst.spilled, __ATOMIC_RELAXED);
  o->fast_reserve = fast_reserve;
  o->task_mode = task_mode;
  o->task_why = task_why;
  o->hot_policy = ts_tier_on ? hot_pol.name : "off";
  o->bulk_policy = ts_tier_on ? bulk_pol.name : "off";
  o->per_grant = per_grant;
}
