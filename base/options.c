/* The options table; see options.h. Adding an option: one row in
 * opt_table, one field in ts_config_t, one parse case; docs/options.md is
 * generated from this table (tests check that it matches). */
#include "base/options.h"

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "base/msg.h"
#include "base/prim.h"
#include "base/nodes.h"

ts_config_t ts_config = {.enable = true,
                         .verbose = 0,
                         .stats_mode = TS_STATS_OFF,
                         .large_min = 256 * 1024,
                         .thp = TS_THP_AUTO,
                         .retain_max = 256u << 20,
                         .heap_thp = true,
                         .heap_decommit_ms = 250,
                         .thp_sparse_min = (size_t)32 << 20,
                         .thp_probe_min = (size_t)8 << 20,
                         .thp_grown = (size_t)32 << 20,
                         .place_mmap = true,
                         .thp_warm = true,
                         .mmap_min = 64 * 1024,
                         .mmap_max = (size_t)4 << 30,
                         .va = (size_t)64 << 30,
                         .hot = TS_HOT_FAST,
                         .bulk = TS_BULK_DEFAULT,
                         .bulk_min = 64 * 1024,
                         .sysfs_root = "/sys",
                         .promote_rate = 64u << 20,
                         .unmap = TS_UNMAP_BATCH,
                         .unmap_batch = 64,
                         .unmap_delay_ms = 1000,
                         .unmap_adapt = true,
                         .profile_min = 256 * 1024,
                         .profile_sample = 4096,
                         .profile_top = 10,
                         .publish = true};

const char *const ts_thp_names[4] = {"auto", "fault", "collapse", "off"};
const char *const ts_hot_names[2] = {"fast", "default"};
const char *const ts_bulk_names[5] = {"default", "fast", "slow", "interleave", "weighted"};
const char *const ts_unmap_names[4] = {"batch", "munmap", "kmod", "plugin"};

typedef enum {
  OPT_BOOL, OPT_INT, OPT_SIZE, OPT_STATS, OPT_THP, OPT_MUNMAP, OPT_HOT, OPT_BULK, OPT_NODES, OPT_PATH,
  OPT_UNMAP
} opt_kind_t;

typedef struct opt_desc_s {
  const char *name;     /* without the TIERSHIM_ prefix */
  opt_kind_t kind;
  size_t offset;        /* of the field in ts_config_t */
  const char *def;      /* the default, as a user would write it */
  long long min, max;   /* range for INT and SIZE */
  const char *unit;
  const char *doc;
} opt_desc_t;

#define OPT_SIZE_MAX_VALUE ((long long)1 << 40) /* 1 TiB: beyond is a typo */

static const opt_desc_t opt_table[] = {
#define OPT_FIELD(f) offsetof(ts_config_t, f)
  {"ENABLE", OPT_BOOL, OPT_FIELD(enable), "1", 0, 1, "bool",
   "0 turns every tiershim policy off: plain mimalloc, still interposed."},
  {"VERBOSE", OPT_INT, OPT_FIELD(verbose), "0", 0, 1, "level",
   "1 prints the version and the effective configuration at start-up."},
  {"STATS", OPT_STATS, OPT_FIELD(stats_mode), "0", 0, 0, "0, 1 or json:PATH",
   "1: a summary on stderr at exit. json:PATH: JSON written at exit to a new file (mode 0600) "
   "renamed over PATH (%p = pid); never follows a symlink, never writes into an existing file, "
   "refuses a PATH with other hard links or owned by another user."},
  {"PUBLISH", OPT_BOOL, OPT_FIELD(publish), "1", 0, 1, "bool",
   "Live stats: the process publishes its stats (the TIERSHIM_STATS=json document) in "
   "/dev/shm/tiershim.UID/PID (directory 0700, file 0600), refreshed at most every 500 ms from "
   "tiershim's slow paths and removed at exit, for `tiershim stat`, `top` and `exporter` "
   "(docs/operations.md). 0: no file."},
  {"LARGE_MIN", OPT_SIZE, OPT_FIELD(large_min), "256K", 4096, OPT_SIZE_MAX_VALUE, "bytes (K/M/G)",
   "Allocations of at least this size take the large-allocation path (placed in tiershim's regions)."},
  {"THP", OPT_THP, OPT_FIELD(thp), "auto", 0, 0, "auto, fault, collapse or off",
   "Huge pages for the regions. fault: MADV_HUGEPAGE (huge pages at fault time, may stall on "
   "compaction). collapse: a background thread runs MADV_COLLAPSE on populated 2 MiB blocks, "
   "nothing on the request path. auto: collapse where fault-time compaction can stall "
   "(defrag always or madvise) and MADV_COLLAPSE works, else fault; off when THP is never."},
  {"RETAIN_MAX", OPT_SIZE, OPT_FIELD(retain_max), "256M", 0, OPT_SIZE_MAX_VALUE, "bytes (K/M/G)",
   "Freed large blocks kept mapped for reuse. Beyond this, whole 2 MiB blocks are released to the OS "
   "in batches; the partial blocks shared with live neighbours only beyond twice this."},
  {"HEAP_THP", OPT_BOOL, OPT_FIELD(heap_thp), "1", 0, 1, "bool",
   "Huge pages for the small-object heap too: its mappings of 2 MiB or more are advised MADV_HUGEPAGE "
   "whenever THP would give the regions fault-time huge pages. Fewer page faults and TLB misses for "
   "small objects; a thread heap's first touch of a block costs 2 MiB of RSS instead of 4 KiB."},
  {"HEAP_DECOMMIT_DELAY", OPT_INT, OPT_FIELD(heap_decommit_ms), "250", 0, 3600000, "milliseconds",
   "How long the small-object heap keeps freed memory before it gives it back (mimalloc's decommit "
   "delay, 25 ms of its own). Each give-back is a madvise that flushes the TLBs of every CPU running "
   "the program; waiting longer lets freed memory be reused first. Left alone when the environment "
   "sets MIMALLOC_DECOMMIT_DELAY (or MIMALLOC_RESET_DELAY), or with ENABLE=0."},
  {"THP_SPARSE_MIN", OPT_SIZE, OPT_FIELD(thp_sparse_min), "32M", 0, OPT_SIZE_MAX_VALUE, "bytes (K/M/G); 0: off",
   "Zeroed memory of this size or more (calloc, anonymous mmap) gets no fault-time huge pages: it may be "
   "used sparsely, and a huge page per touched 2 MiB would multiply its RSS. Blocks the program fills "
   "densely are collapsed into huge pages in the background."},
  {"THP_PROBE_MIN", OPT_SIZE, OPT_FIELD(thp_probe_min), "8M", 0, OPT_SIZE_MAX_VALUE, "bytes (K/M/G); 0: off",
   "THP auto: uninitialised blocks of this size or more (below 256 MiB) are measured. Once one is found "
   "sparse, or still untouched when the program asks for the next, the following ones start on small "
   "pages (their filled 2 MiB blocks collapsed in the background) until 2 in a row are found filled. "
   "An engine's worst-case buffers (a KV cache, a compute buffer) are used from their start: a huge "
   "page per touched 2 MiB would hold unused memory as RSS."},
  {"THP_WARM", OPT_BOOL, OPT_FIELD(thp_warm), "1", 0, 1, "bool",
   "On a VM whose balloon reports free pages to the host: before each background collapse, fault a "
   "huge page into a scratch block and free it, so the collapse takes a page the host has backed "
   "already. The copy that runs under the program's mmap lock then takes 0.3-0.5 ms instead of 1-6 ms."},
  {"THP_GROWN", OPT_SIZE, OPT_FIELD(thp_grown), "32M", 0, OPT_SIZE_MAX_VALUE, "bytes (K/M/G); 0: from the start",
   "Fault-time huge pages (regions and heap) wait until the program has grown: a block or mapping of "
   "2 MiB or more, or a peak RSS of this much. A small process then holds what it holds under mimalloc "
   "(a huge page is 2 MiB of RSS from its first touch); pages touched before the flip stay small."},
  {"PLACE_MMAP", OPT_BOOL, OPT_FIELD(place_mmap), "1", 0, 1, "bool",
   "Place the program's anonymous private mmap calls (within MMAP_MIN..MMAP_MAX) in the regions."},
  {"MMAP_MIN", OPT_SIZE, OPT_FIELD(mmap_min), "64K", 4096, OPT_SIZE_MAX_VALUE, "bytes (K/M/G)",
   "Smallest mmap length that is placed."},
  {"MMAP_MAX", OPT_SIZE, OPT_FIELD(mmap_max), "4G", 4096, OPT_SIZE_MAX_VALUE, "bytes (K/M/G)",
   "Largest mmap length that is placed."},
  {"VA", OPT_SIZE, OPT_FIELD(va), "64G", (long long)1 << 30, (long long)1 << 46, "bytes (K/M/G/T)",
   "Address space reserved (PROT_NONE, no memory) for the regions: half mid-size, half 2 MiB-aligned. "
   "Halved until it fits (RLIMIT_AS)."},
  {"MUNMAP", OPT_MUNMAP, OPT_FIELD(munmap_strict), "release", 0, 0, "release or strict",
   "What an unmapped placed range becomes. release: it stays mapped (whole 2 MiB blocks are given back "
   "to the OS, the edges retained; the program's flags reset), so huge pages and VMAs stay intact, but "
   "touching it does not fault and may read old data. strict: PROT_NONE, so touching it faults as after "
   "a kernel munmap (splits VMAs and huge pages)."},
  {"HOT", OPT_HOT, OPT_FIELD(hot), "fast", 0, 0, "fast or default",
   "On a tiered machine: fast puts the hot class on the fast tier with a preferred (never failing) "
   "policy: the task mempolicy of every thread (so page tables and kernel stacks), the small-object "
   "heap, thread stacks and tiershim's metadata. Left alone when the program already runs under a "
   "mempolicy (numactl). default: the kernel decides."},
  {"BULK", OPT_BULK, OPT_FIELD(bulk), "default", 0, 0, "default, fast, slow, interleave, weighted[:W,...]",
   "On a tiered machine, where the bulk class goes (allocations of at least BULK_MIN). fast: fast tier "
   "first, spilling to slower tiers when full (never an OOM kill). slow: slow tier first, spilling to "
   "fast. interleave: page by page over every tier's nodes. weighted: interleaved in proportion to "
   "the kernel's weights, or to W,... (one per memory node, ascending node ids, 1-255). default: the "
   "kernel's local allocation."},
  {"BULK_MIN", OPT_SIZE, OPT_FIELD(bulk_min), "64K", 4096, OPT_SIZE_MAX_VALUE, "bytes (K/M/G)",
   "Smallest allocation or anonymous mapping of the bulk class. At or below LARGE_MIN and MMAP_MIN "
   "every placed range is bulk and the policy is set once per 32 MiB of region; above, each placed "
   "range gets its class's policy when handed out (one mbind call each)."},
  {"FAST_RESERVE", OPT_SIZE, OPT_FIELD(fast_reserve), "0", 0, OPT_SIZE_MAX_VALUE, "bytes (K/M/G); 0: auto",
   "With TIERSHIM_BULK=fast: the free fast-tier memory left to the kernel; once free fast memory is down "
   "to it, new bulk ranges go to the slow tier. 0: 1/64 of the fast tier, from 128 MiB to 2 GiB. Smaller "
   "fills the fast tier further: its free memory then nears the watermarks, where the kernel reclaims "
   "and demotes."},
  {"FAST_NODES", OPT_NODES, OPT_FIELD(fast_nodes), "", 0, 0, "node list (0-1,4)",
   "The fast tier's nodes, instead of what sysfs says. Alone: every other memory node is slow."},
  {"SLOW_NODES", OPT_NODES, OPT_FIELD(slow_nodes), "", 0, 0, "node list (2-3)",
   "The slow tiers' nodes, instead of what sysfs says. Alone: every other memory node is fast."},
  {"SYSFS_ROOT", OPT_PATH, OPT_FIELD(sysfs_root), "/sys", 0, 0, "path",
   "Where tier discovery reads sysfs (a fake tree, for tests)."},
  {"MIGRATE_THREADS", OPT_INT, OPT_FIELD(migrate_threads), "0", 0, 64, "threads",
   "Workers of tiershim_migrate/promote/demote, each with its own batched move_pages calls. "
   "0: min(4, the CPUs the process may run on)."},
  {"MIGRATE_RATE", OPT_SIZE, OPT_FIELD(migrate_rate), "0", 0, OPT_SIZE_MAX_VALUE, "bytes per second",
   "Upper bound on the pages tiershim_migrate/promote/demote move per second. 0: unlimited."},
  {"PROMOTE", OPT_BOOL, OPT_FIELD(promote), "0", 0, 1, "bool",
   "With TIERSHIM_BULK=fast: bulk ranges that spilled to the slow tier are moved back in the "
   "background once the fast tier has room again (free memory above twice its reserve), at most "
   "PROMOTE_RATE per second."},
  {"PROMOTE_RATE", OPT_SIZE, OPT_FIELD(promote_rate), "64M", 1 << 20, OPT_SIZE_MAX_VALUE, "bytes per second",
   "Upper bound on background promotion."},
  {"COLD_READS", OPT_BOOL, OPT_FIELD(cold_reads), "1", 0, 1, "bool",
   "On a tiered machine, under tiershim's task policy: a read of at least 1 MiB from a file or block "
   "device into placed memory (read, pread, fread) puts the page cache it creates on the slow tier, "
   "since the program keeps its own copy. The destination is populated first, so its pages and page "
   "tables stay where they would have gone."},
  {"UNMAP", OPT_UNMAP, OPT_FIELD(unmap), "batch", 0, 0, "munmap, batch, kmod or /path/plugin.so",
   "How retained memory goes back to the OS (docs/unmap.md). munmap: each freed range at once, one call "
   "each (the baseline); batch: retained, then released in batches, a vector per call (process_madvise "
   "where the kernel takes it); kmod: vectors through the tiershim kernel module (/dev/tiershim), which "
   "also counts shootdowns, batch when the module is absent; a path: a plugin backend (dlopen; ABI "
   "checked; batch when it cannot be used; in a root or mixed-id process only a root-owned file "
   "that group and others cannot write, in a directory likewise)."},
  {"UNMAP_BATCH", OPT_INT, OPT_FIELD(unmap_batch), "64", 1, 256, "ranges",
   "Ranges per release call (the adaptive batcher may raise it up to 8x, at most 256)."},
  {"UNMAP_DELAY", OPT_INT, OPT_FIELD(unmap_delay_ms), "1000", 0, 3600000, "milliseconds",
   "Retained memory that stays unused through a whole window of this length goes back in one batch "
   "(above an eighth of RETAIN_MAX). 0: only RETAIN_MAX bounds retention."},
  {"UNMAP_ADAPT", OPT_BOOL, OPT_FIELD(unmap_adapt), "1", 0, 1, "bool",
   "Measure TLB shootdowns per release (the module's exact count, else the TLB line of "
   "/proc/interrupts) and double the batch and the delay, up to 8x, while releases cost shootdowns."},
  {"UNMAP_LAZY", OPT_SIZE, OPT_FIELD(unmap_lazy), "0", 0, OPT_SIZE_MAX_VALUE, "bytes (K/M/G)",
   "With UNMAP=kmod and a module that has lazy release: released ranges may stay pending (mapped, "
   "not flushed) up to this many bytes, and are zapped later in one go or cancelled when reused "
   "(docs/unmap.md, \"Lazy release\"). RSS can exceed RETAIN_MAX by up to this much. 0: off; "
   "ignored without the module."},
  {"PROFILE", OPT_BOOL, OPT_FIELD(profile), "0", 0, 1, "bool",
   "Callsite attribution (docs/rules.md): backtraces (libunwind) of allocations, the top callsites "
   "printed at exit and a profile object in the JSON stats."},
  {"PROFILE_MIN", OPT_SIZE, OPT_FIELD(profile_min), "256K", 4096, OPT_SIZE_MAX_VALUE, "bytes (K/M/G)",
   "Allocations from this size are all traced (and matched against TIERSHIM_RULES)."},
  {"PROFILE_SAMPLE", OPT_INT, OPT_FIELD(profile_sample), "4096", 1, 1 << 24, "allocations",
   "Below PROFILE_MIN, one allocation in this many is traced (per thread); counts are scaled up."},
  {"PROFILE_TOP", OPT_INT, OPT_FIELD(profile_top), "10", 1, 100, "callsites",
   "Callsites in the report at exit and in the stats."},
  {"RULES", OPT_PATH, OPT_FIELD(rules_path), "", 0, 0, "path",
   "A rules file (docs/rules.md): by callsite and size, place allocations on a tier and set their "
   "huge-page advice. First match wins. A file with errors is ignored with one warning."},
};

#define OPT_COUNT (sizeof opt_table / sizeof opt_table[0])
#define OPT_PREFIX "TIERSHIM_"
#define OPT_PREFIX_LEN (sizeof OPT_PREFIX - 1)

/* ---- value parsers ----------------------------------------------------- */

static const char *parse_u64(const char *s, const char **end, uint64_t *out) {
  if (*s < '0' || *s > '9') return (*s == '-') ? "negative" : "not a number";
  uint64_t v = 0;
  for (; *s >= '0' && *s <= '9'; s++) {
    if (v > (UINT64_MAX - (uint64_t)(*s - '0')) / 10) return "too large";
    v = v * 10 + (uint64_t)(*s - '0');
  }
  *end = s;
  *out = v;
  return NULL;
}

/* The unit letter, any case. Only a letter: ' ' & ~0x20 is the NUL, which
 * strchr finds at the end of "KMGT", so "1 " was once read as 1 << 50. */
static int size_shift(const char *suffix, const char **rest) {
  static const char units[] = "KMGT";
  char c = (char)(*suffix & ~0x20);
  const char *u = (c >= 'A' && c <= 'Z') ? strchr(units, c) : NULL;
  if (u == NULL) { *rest = suffix; return 0; }
  suffix++;
  if (strcasecmp(suffix, "iB") == 0 || strcasecmp(suffix, "B") == 0) suffix += strlen(suffix);
  *rest = suffix;
  return 10 * (int)(u - units + 1);
}

const char *ts_parse_size(const char *s, size_t min, size_t max, size_t *out) {
  const char *end;
  uint64_t v;
  const char *why = parse_u64(s, &end, &v);
  if (why) return why;
  int shift = size_shift(end, &end);
  if (*end != '\0') return "not a size (use a number with an optional K, M or G suffix)";
  if (shift > 0 && v > (UINT64_MAX >> shift)) return "too large";
  v <<= shift;
  if (v < min) return "below the minimum";
  if (v > max) return "above the maximum";
  *out = (size_t)v;
  return NULL;
}

const char *ts_parse_bool(const char *s, bool *out) {
  static const char *const yes[] = {"1", "true", "yes", "on"};
  static const char *const no[] = {"0", "false", "no", "off"};
  for (size_t i = 0; i < 4; i++) {
    if (strcasecmp(s, yes[i]) == 0) { *out = true; return NULL; }
    if (strcasecmp(s, no[i]) == 0) { *out = false; return NULL; }
  }
  return "not a boolean (use 0 or 1)";
}

const char *ts_parse_int(const char *s, long min, long max, long *out) {
  bool neg = (*s == '-');
  const char *end;
  uint64_t v;
  const char *why = parse_u64(s + neg, &end, &v);
  if (why) return why;
  if (*end != '\0') return "not a number";
  if (v > (uint64_t)INT32_MAX) return "out of range";
  long x = neg ? -(long)v : (long)v;
  if (x < min || x > max) return "out of range";
  *out = x;
  return NULL;
}

static const char *parse_stats(const char *s, ts_config_t *cfg) {
  if (strcmp(s, "0") == 0 || strcasecmp(s, "off") == 0) {
    cfg->stats_mode = TS_STATS_OFF;
    return NULL;
  }
  if (strcmp(s, "1") == 0 || strcasecmp(s, "text") == 0 || strcasecmp(s, "stderr") == 0) {
    cfg->stats_mode = TS_STATS_TEXT;
    return NULL;
  }
  if (strncmp(s, "json:", 5) != 0) return "not 0, 1 or json:PATH";
  size_t n = strlen(s + 5);
  if (n == 0) return "json: needs a path";
  if (n >= sizeof cfg->stats_path) return "path too long";
  memcpy(cfg->stats_path, s + 5, n + 1);
  cfg->stats_mode = TS_STATS_JSON;
  return NULL;
}

/* weighted[:W,...]: W are 1-255, at most one per possible node. */
static const char *parse_bulk(const char *s, ts_config_t *cfg) {
  cfg->bulk_nweights = 0;
  for (int m = 0; m < 5; m++)
    if (strcasecmp(s, ts_bulk_names[m]) == 0) { cfg->bulk = m; return NULL; }
  if (strncasecmp(s, "weighted:", 9) != 0) return "not default, fast, slow, interleave or weighted[:W,...]";
  cfg->bulk = TS_BULK_WEIGHTED;
  for (s += 9;; s++) {
    const char *end;
    uint64_t w;
    if (parse_u64(s, &end, &w) != NULL || w < 1 || w > 255) return "weights must be 1-255";
    if (cfg->bulk_nweights == TS_NODES_MAX) return "more weights than nodes";
    cfg->bulk_weights[cfg->bulk_nweights++] = (unsigned char)w;
    s = end;
    if (*s == '\0') return NULL;
    if (*s != ',') return "weights are separated by commas";
  }
}

/* Syntax only: whether the nodes exist is tier discovery's to say. */
static const char *parse_nodes(const char *s, char *field) {
  uint64_t mask;
  if (strlen(s) >= TS_NODELIST_MAX) return "too long";
  if (*s != '\0' && ts_nodelist_parse(s, &mask) != 0) return "not a node list (like 0-1,4; nodes 0-63)";
  strcpy(field, s);
  return NULL;
}

static const char *parse_path(const char *s, char *field) {
  if (*s != '/') return "not an absolute path";
  if (strlen(s) >= TS_ROOT_MAX) return "too long";
  strcpy(field, s);
  return NULL;
}

/* munmap | batch | kmod | an absolute path to a plugin. */
static const char *parse_unmap(const char *s, ts_config_t *cfg) {
  for (int m = 0; m < 3; m++)
    if (strcasecmp(s, ts_unmap_names[m]) == 0) {
      cfg->unmap = m;
      cfg->unmap_plugin[0] = '\0';
      return NULL;
    }
  if (*s != '/') return "not munmap, batch, kmod or an absolute path to a plugin";
  const char *why = parse_path(s, cfg->unmap_plugin);
  if (!why) cfg->unmap = TS_UNMAP_PLUGIN;
  return why;
}

/* ---- the table --------------------------------------------------------- */

static const char *opt_apply(const opt_desc_t *d, const char *val, ts_config_t *cfg) {
  const char *why = NULL;
  char *field = (char *)cfg + d->offset;
  long iv;
  switch (d->kind) {
  case OPT_BOOL:
    why = ts_parse_bool(val, (bool *)field);
    break;
  case OPT_INT:
    why = ts_parse_int(val, (long)d->min, (long)d->max, &iv);
    if (!why) *(int *)field = (int)iv;
    break;
  case OPT_SIZE:
    why = ts_parse_size(val, (size_t)d->min, (size_t)d->max, (size_t *)field);
    break;
  case OPT_STATS:
    why = parse_stats(val, cfg);
    break;
  case OPT_MUNMAP:
    why = "not release or strict";
    if (strcasecmp(val, "release") == 0) { *(bool *)field = false; why = NULL; }
    if (strcasecmp(val, "strict") == 0) { *(bool *)field = true; why = NULL; }
    break;
  case OPT_THP:
    why = "not auto, fault, collapse or off";
    for (int m = 0; m < 4; m++)
      if (strcasecmp(val, ts_thp_names[m]) == 0) { *(int *)field = m; why = NULL; }
    break;
  case OPT_HOT:
    why = "not fast or default";
    for (int m = 0; m < 2; m++)
      if (strcasecmp(val, ts_hot_names[m]) == 0) { *(int *)field = m; why = NULL; }
    break;
  case OPT_BULK:
    why = parse_bulk(val, cfg);
    break;
  case OPT_NODES:
    why = parse_nodes(val, field);
    break;
  case OPT_PATH:
    why = parse_path(val, field);
    break;
  case OPT_UNMAP:
    why = parse_unmap(val, cfg);
    break;
  }
  return why;
}

static const opt_desc_t *opt_find(const char *name, size_t len) {
  if (len >= OPT_PREFIX_LEN && strncmp(name, OPT_PREFIX, OPT_PREFIX_LEN) == 0) {
    name += OPT_PREFIX_LEN;
    len -= OPT_PREFIX_LEN;
  }
  for (size_t i = 0; i < OPT_COUNT; i++)
    if (strlen(opt_table[i].name) == len && strncmp(opt_table[i].name, name, len) == 0)
      return &opt_table[i];
  return NULL;
}

bool ts_options_known(const char *name, size_t len) { return opt_find(name, len) != NULL; }

/* The entry is echoed, but a long one is elided so the reason still fits. */
#define OPT_ECHO_MAX 96

static void opt_warn(const char *entry, const char *why, const char *def) {
  TS_MSG_BEGIN(b, storage);
  size_t n = strlen(entry);
  ts_buf_putn(&b, entry, n > OPT_ECHO_MAX ? OPT_ECHO_MAX : n);
  if (n > OPT_ECHO_MAX) ts_buf_puts(&b, "...");
  ts_buf_puts(&b, ": ");
  ts_buf_puts(&b, why);
  if (def && *def) {
    ts_buf_puts(&b, "; using ");
    ts_buf_puts(&b, def);
  } else if (def) {
    ts_buf_puts(&b, "; ignored");
  }
  ts_msg_end(&b);
}

void ts_config_defaults(ts_config_t *cfg) {
  memset(cfg, 0, sizeof *cfg);
  for (size_t i = 0; i < OPT_COUNT; i++) (void)opt_apply(&opt_table[i], opt_table[i].def, cfg);
}

/* Scans envp rather than calling getenv per option: one pass, and it also
 * finds misspelled TIERSHIM_ names, which get a warning of their own. */
int ts_options_parse(ts_config_t *cfg, char *const *envp, bool secure) {
  ts_config_defaults(cfg);
  cfg->secure = secure;
  if (secure || envp == NULL) return 0;
  int warnings = 0;
  for (char *const *e = envp; *e != NULL; e++) {
    if (strncmp(*e, OPT_PREFIX, OPT_PREFIX_LEN) != 0) continue;
    const char *eq = strchr(*e, '=');
    if (eq == NULL) continue;
    const opt_desc_t *d = opt_find(*e, (size_t)(eq - *e));
    if (d == NULL) {
      opt_warn(*e, "unknown option (see `tiershim options`); ignored", NULL);
      warnings++;
      continue;
    }
    ts_config_t trial = *cfg; /* a bad value leaves cfg untouched */
    const char *why = opt_apply(d, eq + 1, &trial);
    if (why) { opt_warn(*e, why, d->def); warnings++; }
    else *cfg = trial;
  }
  return warnings;
}

/* ---- printing ---------------------------------------------------------- */

void ts_options_print_table(int fd, bool markdown) {
  char storage[1024];
  ts_buf_t b;
  if (markdown) {
    static const char head[] = "| variable | default | unit | what it does |\n|---|---|---|---|\n";
    (void)ts_prim_write_all(fd, head, sizeof head - 1);
  }
  for (size_t i = 0; i < OPT_COUNT; i++) {
    const opt_desc_t *d = &opt_table[i];
    ts_buf_init(&b, storage, sizeof storage);
    if (markdown) {
      const char *cells[] = {"| `" OPT_PREFIX, d->name, "` | `", d->def, "` | ", d->unit, " | ",
                             d->doc, " |\n"};
      for (size_t k = 0; k < sizeof cells / sizeof cells[0]; k++) ts_buf_puts(&b, cells[k]);
    } else {
      const char *cells[] = {OPT_PREFIX, d->name, " (default ", d->def, "; ", d->unit, ")\n    ",
                             d->doc, "\n"};
      for (size_t k = 0; k < sizeof cells / sizeof cells[0]; k++) ts_buf_puts(&b, cells[k]);
    }
    (void)ts_prim_write_all(fd, b.p, b.len);
  }
}

static void config_line(const char *name, const char *val) {
  TS_MSG_BEGIN(b, storage);
  ts_buf_puts(&b, "option " OPT_PREFIX);
  ts_buf_puts(&b, name);
  ts_buf_puts(&b, "=");
  ts_buf_puts(&b, val);
  ts_msg_end(&b);
}

void ts_options_print_config(const ts_config_t *cfg) {
  char v[64];
  ts_buf_t b;
  config_line("ENABLE", cfg->enable ? "1" : "0");
  ts_buf_init(&b, v, sizeof v);
  ts_buf_i64(&b, cfg->verbose);
  config_line("VERBOSE", v);
  if (cfg->stats_mode == TS_STATS_JSON) {
    TS_MSG_BEGIN(m, storage);
    ts_buf_puts(&m, "option " OPT_PREFIX "STATS=json:");
    ts_buf_puts(&m, cfg->stats_path);
    ts_msg_end(&m);
  } else {
    config_line("STATS", cfg->stats_mode == TS_STATS_TEXT ? "1" : "0");
  }
  config_line("PUBLISH", cfg->publish ? "1" : "0");
  const struct { const char *name; size_t v; } sizes[] = {
      {"LARGE_MIN", cfg->large_min}, {"RETAIN_MAX", cfg->retain_max},
      {"MMAP_MIN", cfg->mmap_min},   {"MMAP_MAX", cfg->mmap_max}, {"VA", cfg->va},
      {"THP_SPARSE_MIN", cfg->thp_sparse_min}, {"THP_PROBE_MIN", cfg->thp_probe_min},
      {"THP_GROWN", cfg->thp_grown}};
  for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
    ts_buf_init(&b, v, sizeof v);
    ts_buf_size(&b, sizes[i].v);
    config_line(sizes[i].name, v);
  }
  config_line("THP", ts_thp_names[cfg->thp & 3]);
  config_line("HEAP_THP", cfg->heap_thp ? "1" : "0");
  ts_buf_init(&b, v, sizeof v);
  ts_buf_i64(&b, cfg->heap_decommit_ms);
  config_line("HEAP_DECOMMIT_DELAY", v);
  config_line("PLACE_MMAP", cfg->place_mmap ? "1" : "0");
  config_line("THP_WARM", cfg->thp_warm ? "1" : "0");
  config_line("MUNMAP", cfg->munmap_strict ? "strict" : "release");
  config_line("HOT", ts_hot_names[cfg->hot & 1]);
  ts_buf_init(&b, v, sizeof v);
  ts_buf_puts(&b, ts_bulk_names[cfg->bulk % 5]);
  for (int i = 0; i < cfg->bulk_nweights; i++) {
    ts_buf_puts(&b, i ? "," : ":");
    ts_buf_u64(&b, cfg->bulk_weights[i]);
  }
  config_line("BULK", v);
  ts_buf_init(&b, v, sizeof v);
  ts_buf_size(&b, cfg->bulk_min);
  config_line("BULK_MIN", v);
  ts_buf_init(&b, v, sizeof v);
  ts_buf_size(&b, cfg->fast_reserve);
  config_line("FAST_RESERVE", v);
  config_line("FAST_NODES", cfg->fast_nodes);
  config_line("SLOW_NODES", cfg->slow_nodes);
  config_line("SYSFS_ROOT", cfg->sysfs_root);
  ts_buf_init(&b, v, sizeof v);
  ts_buf_i64(&b, cfg->migrate_threads);
  config_line("MIGRATE_THREADS", v);
  ts_buf_init(&b, v, sizeof v);
  ts_buf_size(&b, cfg->migrate_rate);
  config_line("MIGRATE_RATE", v);
  config_line("PROMOTE", cfg->promote ? "1" : "0");
  ts_buf_init(&b, v, sizeof v);
  ts_buf_size(&b, cfg->promote_rate);
  config_line("PROMOTE_RATE", v);
  config_line("COLD_READS", cfg->cold_reads ? "1" : "0");
  config_line("UNMAP", cfg->unmap == TS_UNMAP_PLUGIN ? cfg->unmap_plugin : ts_unmap_names[cfg->unmap & 3]);
  ts_buf_init(&b, v, sizeof v);
  ts_buf_i64(&b, cfg->unmap_batch);
  config_line("UNMAP_BATCH", v);
  ts_buf_init(&b, v, sizeof v);
  ts_buf_i64(&b, cfg->unmap_delay_ms);
  config_line("UNMAP_DELAY", v);
  config_line("UNMAP_ADAPT", cfg->unmap_adapt ? "1" : "0");
  ts_buf_init(&b, v, sizeof v);
  ts_buf_size(&b, cfg->unmap_lazy);
  config_line("UNMAP_LAZY", v);
  config_line("PROFILE", cfg->profile ? "1" : "0");
  ts_buf_init(&b, v, sizeof v);
  ts_buf_size(&b, cfg->profile_min);
  config_line("PROFILE_MIN", v);
  ts_buf_init(&b, v, sizeof v);
  ts_buf_i64(&b, cfg->profile_sample);
  config_line("PROFILE_SAMPLE", v);
  config_line("RULES", cfg->rules_path);
}
