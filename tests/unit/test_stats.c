/* Stats rendering (JSON read back), path expansion and the safe writer. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "minijson.h"
#include "observe/stats.h"
#include "base/procfs.h"

static ts_stats_snapshot_t sample(void) {
  ts_stats_snapshot_t s = {0};
  s.pid = 4242;
  s.enabled = true;
  s.wall_seconds = 12.5;
  s.proc.anon_rss_bytes = 4u << 20;
  s.proc.anon_huge_bytes = 3u << 20;
  s.proc.vma_count = 77;
  s.proc.minor_faults = 1000;
  s.proc.major_faults = 2;
  s.tlb_known = true;
  s.tlb_shootdowns = 31;
  for (int i = 0; i < TS_CTR_COUNT; i++) s.ctr[i] = 100 + (uint64_t)i;
  return s;
}

static const char *const keys[] = {
    "version", "pid", "enabled", "wall_seconds", "anon_rss_bytes", "anon_huge_bytes",
    "thp_coverage", "vma_count", "minor_faults", "major_faults", "tlb_shootdowns",
    "publish_failures", "malloc_calls", "free_calls", "large_allocs", "mmap_calls", "munmap_calls",
    "mremap_calls", "madvise_calls", "bootstrap_allocs", "threads_created"};

Test(stats, json_round_trip) {
  ts_stats_snapshot_t s = sample();
  char buf[4096];
  size_t n = ts_stats_render_json(&s, buf, sizeof buf);
  cr_assert_lt(n, sizeof buf);
  cr_assert_eq(strlen(buf), n);
  mj_doc_t doc;
  cr_assert(mj_parse(buf, &doc), "not valid flat JSON:\n%s", buf);
  int flat = 0; /* nested objects (migration) are checked by their own tests */
  for (int i = 0; i < doc.n; i++) flat += strchr(doc.item[i].key, '.') == NULL;
  cr_assert_eq(flat, (int)(sizeof keys / sizeof keys[0]), "key count");
  cr_assert_not_null(mj_get(&doc, "migration.requests"));
  cr_assert_not_null(mj_get(&doc, "migration.failed_eacces"));
  cr_assert_not_null(mj_get(&doc, "migration.auto_promoted_bytes"));
  for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
    cr_assert_not_null(mj_get(&doc, keys[i]), "missing key %s", keys[i]);
  cr_assert_str_eq(mj_get(&doc, "version")->str, TIERSHIM_VERSION);
  cr_assert_eq(mj_get(&doc, "pid")->num, 4242);
  cr_assert_eq(mj_get(&doc, "enabled")->b, true);
  cr_assert_float_eq(mj_get(&doc, "wall_seconds")->num, 12.5, 1e-9);
  cr_assert_float_eq(mj_get(&doc, "thp_coverage")->num, 0.75, 1e-9);
  cr_assert_eq(mj_get(&doc, "tlb_shootdowns")->num, 31);
  cr_assert_eq(mj_get(&doc, "malloc_calls")->num, 100 + TS_CTR_MALLOC);
  cr_assert_eq(mj_get(&doc, "threads_created")->num, 100 + TS_CTR_THREADS);
}

Test(stats, json_edge_values) {
  ts_stats_snapshot_t s = sample();
  s.tlb_known = false;
  s.proc.anon_rss_bytes = 0; /* coverage must not divide by zero */
  s.ctr[TS_CTR_FREE] = UINT64_MAX;
  char buf[4096];
  ts_stats_render_json(&s, buf, sizeof buf);
  mj_doc_t doc;
  cr_assert(mj_parse(buf, &doc), "%s", buf);
  cr_assert_eq(mj_get(&doc, "tlb_shootdowns")->type, MJ_NULL);
  cr_assert_eq(mj_get(&doc, "thp_coverage")->num, 0);
  cr_assert(strstr(buf, "\"free_calls\": 18446744073709551615") != NULL, "%s", buf);
}

Test(stats, truncation_reports_needed_length) {
  ts_stats_snapshot_t s = sample();
  char big[4096], small[64];
  size_t full = ts_stats_render_json(&s, big, sizeof big);
  size_t n = ts_stats_render_json(&s, small, sizeof small);
  cr_assert_eq(n, full);
  cr_assert_eq(strlen(small), sizeof small - 1);
  cr_assert(strncmp(small, big, sizeof small - 1) == 0);
}

Test(stats, text_summary) {
  ts_stats_snapshot_t s = sample();
  char buf[2048];
  ts_stats_render_text(&s, buf, sizeof buf);
  cr_assert(strncmp(buf, "tiershim: stats pid 4242", 24) == 0, "%s", buf);
  cr_assert(strstr(buf, "(75.0%)") != NULL, "%s", buf);
  cr_assert(strstr(buf, "tlb shootdowns 31") != NULL, "%s", buf);
  for (char *p = buf; (p = strchr(p, '\n')) && p[1]; p++)
    cr_assert(strncmp(p + 1, "tiershim: ", 10) == 0, "every line prefixed");
}

/* Live stats (observe/publish.c): a page's owner is told from a later
 * process of the same pid by /proc/PID/stat field 22, counted after the
 * command, which may hold spaces and parentheses. */
Test(stats, publish_start_ticks) {
  cr_assert_eq(ts_procfs_start_ticks("123 (cat) R 1 123 123 0 -1 4194304 90 0 0 0 0 0 0 0 20 0 1 0 "
                                      "98765 5000000 100 18446744073709551615"), 98765);
  cr_assert_eq(ts_procfs_start_ticks("7 (a b) c)) S 1 7 7 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 42 1 2"), 42);
  cr_assert_eq(ts_procfs_start_ticks("7 (short) S 1 2"), 0);
  cr_assert_eq(ts_procfs_start_ticks("no parenthesis"), 0);
}

Test(stats, expand_path) {
  char out[64];
  cr_assert(ts_stats_expand_path("/tmp/s.%p.json", 99, out, sizeof out));
  cr_assert_str_eq(out, "/tmp/s.99.json");
  cr_assert(ts_stats_expand_path("a%%p%p%", 7, out, sizeof out));
  cr_assert_str_eq(out, "a%p7%");
  cr_assert(!ts_stats_expand_path("/a/very/long/path/that/does/not/fit/%p/in/sixteen", 1, out, 16));
}

static char tmpdir[64];

static void mkdir_tmp(void) {
  strcpy(tmpdir, "/tmp/ts-unit-XXXXXX");
  cr_assert_not_null(mkdtemp(tmpdir));
}

static void rm_tmp(void) {
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
  cr_assert_eq(system(cmd), 0);
}

TestSuite(stats_file, .init = mkdir_tmp, .fini = rm_tmp);

Test(stats_file, writes_and_replaces_own_file) {
  char path[128];
  snprintf(path, sizeof path, "%s/s.json", tmpdir);
  cr_assert_eq(ts_stats_write_file(path, "first version, longer\n", 22), 0);
  cr_assert_eq(ts_stats_write_file(path, "second\n", 7), 0);
  char buf[64] = {0};
  int fd = open(path, O_RDONLY);
  cr_assert_eq(read(fd, buf, sizeof buf), 7, "truncated before writing");
  close(fd);
  cr_assert_str_eq(buf, "second\n");
}

Test(stats_file, refuses_symlink) {
  char target[128], link[128];
  snprintf(target, sizeof target, "%s/victim", tmpdir);
  snprintf(link, sizeof link, "%s/s.json", tmpdir);
  int fd = open(target, O_CREAT | O_WRONLY, 0600);
  cr_assert_eq(write(fd, "keep", 4), 4);
  close(fd);
  cr_assert_eq(symlink(target, link), 0);
  cr_assert_eq(ts_stats_write_file(link, "x", 1), -ELOOP);
  struct stat st;
  cr_assert_eq(stat(target, &st), 0);
  cr_assert_eq(st.st_size, 4, "the symlink target is untouched");
}

Test(stats_file, refuses_fifo_and_other_owner) {
  char fifo[128], other[128];
  snprintf(fifo, sizeof fifo, "%s/fifo", tmpdir);
  cr_assert_eq(mkfifo(fifo, 0600), 0);
  int r = ts_stats_write_file(fifo, "x", 1); /* ENXIO: no reader (O_NONBLOCK) */
  cr_assert(r == -EINVAL || r == -ENXIO, "no blocking, no writing: %d", r);
  if (geteuid() != 0) cr_skip_test("chown needs root");
  snprintf(other, sizeof other, "%s/other", tmpdir);
  int fd = open(other, O_CREAT | O_WRONLY, 0666);
  cr_assert_eq(write(fd, "theirs", 6), 6);
  close(fd);
  cr_assert_eq(chown(other, 65534, 65534), 0);
  cr_assert_eq(ts_stats_write_file(other, "x", 1), -EPERM);
  struct stat st;
  cr_assert_eq(stat(other, &st), 0);
  cr_assert_eq(st.st_size, 6, "another user's file is untouched");
}

/* Files in tmpdir other than the ones named: a temporary left behind. */
static int stray_files(const char *keep1, const char *keep2) {
  DIR *d = opendir(tmpdir);
  cr_assert_not_null(d);
  int n = 0;
  for (struct dirent *e; (e = readdir(d)) != NULL;) {
    if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
    if ((keep1 && !strcmp(e->d_name, keep1)) || (keep2 && !strcmp(e->d_name, keep2))) continue;
    cr_log_warn("stray file %s", e->d_name);
    n++;
  }
  closedir(d);
  return n;
}

static void put(const char *path, const char *text) {
  int fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0644);
  cr_assert_geq(fd, 0);
  cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
  close(fd);
}

/* A hard link to another file (/etc/shadow, planted in a shared directory)
 * must not be written through, whoever owns the file. */
Test(stats_file, refuses_hard_linked_target) {
  char victim[128], path[128];
  snprintf(victim, sizeof victim, "%s/victim", tmpdir);
  snprintf(path, sizeof path, "%s/s.json", tmpdir);
  put(victim, "keep");
  cr_assert_eq(link(victim, path), 0);
  cr_assert_eq(ts_stats_write_file(path, "x", 1), -EMLINK);
  struct stat st;
  cr_assert_eq(stat(victim, &st), 0);
  cr_assert_eq(st.st_size, 4, "the other name's file is untouched");
  cr_assert_eq(st.st_nlink, 2, "the link is left as it was");
  cr_assert_eq(stray_files("victim", "s.json"), 0, "no temporary file left behind");
}

/* The report is written to a fresh file (mode 0600, whatever the umask)
 * that replaces the target in one rename: a reader of the old file keeps
 * its whole contents, and nothing is ever truncated in place. */
Test(stats_file, replaces_with_a_fresh_0600_file) {
  char path[128];
  snprintf(path, sizeof path, "%s/s.json", tmpdir);
  mode_t old_umask = umask(0);
  cr_assert_eq(ts_stats_write_file(path, "first\n", 6), 0);
  umask(old_umask);
  struct stat st1, st2;
  cr_assert_eq(stat(path, &st1), 0);
  cr_assert_eq(st1.st_mode & 07777, 0600, "mode %o", st1.st_mode & 07777);
  int old = open(path, O_RDONLY);
  cr_assert_geq(old, 0);
  cr_assert_eq(ts_stats_write_file(path, "second, longer\n", 15), 0);
  cr_assert_eq(stat(path, &st2), 0);
  cr_assert_neq(st1.st_ino, st2.st_ino, "replaced by a new file, not rewritten in place");
  cr_assert_eq(st2.st_mode & 07777, 0600);
  char buf[32] = {0};
  cr_assert_eq(pread(old, buf, sizeof buf, 0), 6, "the old file was truncated");
  cr_assert_str_eq(buf, "first\n");
  close(old);
  memset(buf, 0, sizeof buf);
  int fd = open(path, O_RDONLY);
  cr_assert_eq(read(fd, buf, sizeof buf), 15);
  close(fd);
  cr_assert_str_eq(buf, "second, longer\n");
  cr_assert_eq(stray_files("s.json", NULL), 0, "no temporary file left behind");
}

Test(stats_file, refuses_a_directory_and_a_missing_directory) {
  char path[160];
  snprintf(path, sizeof path, "%s/d", tmpdir);
  cr_assert_eq(mkdir(path, 0700), 0);
  cr_assert_eq(ts_stats_write_file(path, "x", 1), -EINVAL);
  snprintf(path, sizeof path, "%s/no/s.json", tmpdir);
  cr_assert_eq(ts_stats_write_file(path, "x", 1), -ENOENT);
  cr_assert_eq(stray_files("d", NULL), 0);
}

Test(stats, json_placement_object) {
  ts_stats_snapshot_t s = sample();
  s.placement = (ts_stats_placement_t){.present = true, .state = "on", .thp_mode = "fault",
                                       .thp_reason = "as \"configured\"", .release_mode = "madvise",
                                       .placed_mmaps = 7, .region_huge_bytes = 4u << 20,
                                       .vma_count_regions = 2, .collapse_ok = 3};
  char buf[8192];
  size_t n = ts_stats_render_json(&s, buf, sizeof buf);
  cr_assert_lt(n, sizeof buf);
  mj_doc_t doc;
  cr_assert(mj_parse(buf, &doc), "not valid JSON:\n%s", buf);
  cr_assert_str_eq(mj_get(&doc, "placement.thp_mode")->str, "fault");
  cr_assert_str_eq(mj_get(&doc, "placement.thp_reason")->str, "as \"configured\"");
  cr_assert_eq(mj_get(&doc, "placement.placed_mmaps")->num, 7);
  cr_assert_eq(mj_get(&doc, "placement.region_huge_bytes")->num, 4u << 20);
  cr_assert_eq(mj_get(&doc, "placement.collapse_ok")->num, 3);
  cr_assert_not_null(mj_get(&doc, "placement.region_committed_bytes"));
  cr_assert_not_null(mj_get(&doc, "malloc_calls"), "top-level keys still there");
  char text[4096];
  ts_stats_render_text(&s, text, sizeof text);
  cr_assert(strstr(text, "tiershim:   placement on, thp fault") != NULL, "%s", text);
}

static int count_char(const char *s, char c) {
  int n = 0;
  for (; *s; s++) n += (*s == c);
  return n;
}

Test(stats, json_tiers_object) {
  ts_stats_snapshot_t s = sample();
  s.tiers = (ts_stats_tiers_t){.present = true, .status = "on", .why = "kernel tiers: \"4\" (0)",
                               .source = "memory_tiering", .task_policy = "set",
                               .hot_policy = "preferred-many 0", .bulk_policy = "preferred-many 1",
                               .bulk_bytes = 64u << 20, .binds = 5, .bind_fail = 1, .stacks = 2,
                               .ntiers = 2, .nnodes = 2};
  strcpy(s.tiers.fast_nodes, "0");
  strcpy(s.tiers.slow_nodes, "1");
  s.tiers.tier[0].kernel_id = 4;
  strcpy(s.tiers.tier[0].nodes, "0");
  s.tiers.tier[1].kernel_id = 22;
  strcpy(s.tiers.tier[1].nodes, "1");
  s.tiers.node[0] = (ts_stats_tier_node_t){.node = 0, .tier = 0, .hot_resident_bytes = 4096};
  s.tiers.node[1] = (ts_stats_tier_node_t){.node = 1, .tier = 1, .bulk_resident_bytes = 8192,
                                           .page_table_bytes = 12288};
  char buf[8192];
  size_t n = ts_stats_render_json(&s, buf, sizeof buf);
  cr_assert_lt(n, sizeof buf);
  cr_assert_eq(count_char(buf, '{'), count_char(buf, '}'), "%s", buf);
  cr_assert_eq(count_char(buf, '['), count_char(buf, ']'), "%s", buf);
  const char *want[] = {"\"tiers\": {\n    \"status\": \"on\"", "\"why\": \"kernel tiers: \\\"4\\\" (0)\"",
                        "\"bulk_per_range\": false", "\"bind_failures\": 1", "\"stacks_bound\": 2",
                        "{\"index\": 1, \"kernel_tier\": 22, \"nodes\": \"1\", \"bulk_resident_bytes\": 0",
                        "{\"node\": 1, \"tier\": 1, \"total_bytes\": 0, \"free_bytes\": 0, "
                        "\"bulk_resident_bytes\": 8192, \"hot_resident_bytes\": 0, \"page_table_bytes\": 12288}"};
  for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
    cr_assert(strstr(buf, want[i]) != NULL, "missing %s in\n%s", want[i], buf);
  char text[4096];
  ts_stats_render_text(&s, text, sizeof text);
  cr_assert(strstr(text, "tiershim:   tiers on: fast 0, slow 1; hot preferred-many 0, bulk preferred-many 1;"
                         " bind failures 1\n") != NULL, "%s", text);
  cr_assert(strstr(text, "tiershim:     node 1: bulk 0.0 MiB, hot 0.0 MiB, page tables 0.0 MiB\n") != NULL,
            "%s", text);
}

/* The keys of each object of the stats document, in order: the top level
 * (name "") and its nested objects. */
#define KEYS_OBJS 8
#define KEYS_MAX 64
typedef struct keys_s {
  char name[32];
  int n;
  char key[KEYS_MAX][40];
} keys_t;

typedef struct keys_doc_s {
  int n;
  keys_t obj[KEYS_OBJS];
} keys_doc_t;

static keys_t *keys_obj(keys_doc_t *d, const char *name, size_t len) {
  for (int i = 0; i < d->n; i++)
    if (strlen(d->obj[i].name) == len && strncmp(d->obj[i].name, name, len) == 0) return &d->obj[i];
  cr_assert_lt(d->n, KEYS_OBJS, "too many objects");
  keys_t *o = &d->obj[d->n++];
  cr_assert_lt(len, sizeof o->name);
  memcpy(o->name, name, len);
  o->name[len] = '\0';
  o->n = 0;
  return o;
}

static void keys_add(keys_t *o, const char *key, size_t len) {
  cr_assert_lt(o->n, KEYS_MAX, "too many keys in %s", o->name);
  cr_assert_lt(len, sizeof o->key[0]);
  memcpy(o->key[o->n], key, len);
  o->key[o->n++][len] = '\0';
}

/* docs/stats.md: after "## Keys", the first table is the top level and
 * each "### `name` (an object)" section's table is that object; a row's
 * first cell names one key or several, each in backticks. */
static void keys_from_doc(keys_doc_t *d) {
  FILE *f = fopen(TS_SOURCE_DIR "/docs/stats.md", "r");
  cr_assert_not_null(f, "cannot read docs/stats.md");
  char line[2048];
  keys_t *cur = NULL;
  while (fgets(line, sizeof line, f)) {
    if (strncmp(line, "## ", 3) == 0) cur = strcmp(line, "## Keys\n") == 0 ? keys_obj(d, "", 0) : NULL;
    if (strncmp(line, "### `", 5) == 0 && strstr(line, "(an object)")) {
      const char *end = strchr(line + 5, '`');
      cr_assert_not_null(end, "%s", line);
      cur = keys_obj(d, line + 5, (size_t)(end - line - 5));
    }
    if (cur == NULL || strncmp(line, "| `", 3) != 0) continue;
    const char *cell_end = strchr(line + 1, '|');
    cr_assert_not_null(cell_end, "%s", line);
    for (const char *p = line + 1; (p = strchr(p, '`')) && p < cell_end;) {
      const char *q = strchr(p + 1, '`');
      cr_assert(q && q < cell_end, "unbalanced backticks: %s", line);
      keys_add(cur, p + 1, (size_t)(q - p - 1));
      p = q + 1;
    }
  }
  fclose(f);
}

/* The rendered document: keys at depth 1 go to the top level, unless their
 * value is an object, whose own keys (depth 2) then follow; the keys of the
 * arrays' members (deeper) are not checked here. */
static void keys_from_json(const char *json, keys_doc_t *d) {
  keys_t *top = keys_obj(d, "", 0), *cur = NULL;
  int depth = 0;
  for (const char *p = json; *p; p++) {
    if (*p == '{' || *p == '[') depth++;
    else if (*p == '}' || *p == ']') depth--;
    if (*p != '"') continue;
    const char *s = ++p;
    while (*p && *p != '"') p += (*p == '\\' && p[1]) ? 2 : 1;
    cr_assert_eq(*p, '"', "unterminated string");
    const char *v = p + 1;
    while (*v == ' ') v++;
    if (*v != ':') continue; /* a value, not a key */
    for (v++; *v == ' '; v++) {}
    if (depth == 1 && *v == '{') cur = keys_obj(d, s, (size_t)(p - s));
    else if (depth == 1) keys_add(top, s, (size_t)(p - s));
    else if (depth == 2) keys_add(cur, s, (size_t)(p - s));
  }
}

static void keys_same(const keys_t *json, const keys_t *doc) {
  const char *what = json->name[0] ? json->name : "the top level";
  for (int i = 0; i < json->n && i < doc->n; i++)
    cr_assert_str_eq(json->key[i], doc->key[i], "%s, key %d: rendered \"%s\", docs/stats.md has \"%s\"", what,
                     i, json->key[i], doc->key[i]);
  cr_assert_eq(json->n, doc->n, "%s: %d keys rendered, %d in docs/stats.md (first extra: \"%s\")", what,
               json->n, doc->n, json->n > doc->n ? json->key[doc->n] : doc->key[json->n]);
}

/* Every object present, every array with a member: all keys rendered. */
static void sample_all(ts_stats_snapshot_t *s) {
  *s = sample();
  s->placement.present = true;
  s->tiers = (ts_stats_tiers_t){.present = true, .status = "on", .ntiers = 1, .nnodes = 1};
  s->unmap.present = true;
  s->profile = (ts_stats_profile_t){.present = true, .ntop = 1};
  s->profile.top[0].nframes = 1;
  strcpy(s->profile.top[0].frame[0], "f+0x1 (a {b} [c] \"d\": e)");
}

/* The key lists (observe/stats_fields.h, base/counters.h, unmap.h) and
 * docs/stats.md name the same keys in the same order, object by object,
 * and the objects come in the order of the doc's sections. */
Test(stats, keys_in_documented_order) {
  static ts_stats_snapshot_t s;
  sample_all(&s);
  static char buf[32768];
  size_t n = ts_stats_render_json(&s, buf, sizeof buf);
  cr_assert_lt(n, sizeof buf);
  static keys_doc_t doc, json;
  keys_from_doc(&doc);
  keys_from_json(buf, &json);
  cr_assert_geq(doc.n, 6, "docs/stats.md: the top level and 5 objects, found %d", doc.n);
  for (int i = 0; i < json.n && i < doc.n; i++)
    cr_assert_str_eq(json.obj[i].name, doc.obj[i].name, "object %d: rendered \"%s\", docs/stats.md has \"%s\"", i,
                     json.obj[i].name, doc.obj[i].name);
  cr_assert_eq(json.n, doc.n, "%d objects rendered (top level included), %d in docs/stats.md", json.n, doc.n);
  for (int i = 0; i < json.n; i++) keys_same(&json.obj[i], &doc.obj[i]);
}
