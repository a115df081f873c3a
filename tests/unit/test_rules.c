/* Placement rules (policy/rules.c): the parser on good files (each field),
 * every class of error with its line number, all-or-nothing, the limits,
 * reading files, the glob matcher, first-match-wins lookup and formatting. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/options.h"
#include "policy/rules.h"

#define NERRS 16

static ts_rules_t rs;
static ts_rules_error_t errs[NERRS];

static int parse(const char *text) { return ts_rules_parse(text, strlen(text), &rs, errs, NERRS); }

/* text parses to exactly n rules. */
static void parse_ok(const char *text, int n) {
  int e = parse(text);
  cr_assert_eq(e, 0, "%d errors, first line %d: %s", e, errs[0].line, errs[0].msg);
  cr_assert_eq(rs.n, n, "%d rules, not %d", rs.n, n);
}

/* text has exactly one error, at line, whose message contains needle. */
static void parse_err(const char *text, int line, const char *needle) {
  int e = parse(text);
  cr_assert_eq(e, 1, "'%s': %d errors (first: %d: %s)", text, e, errs[0].line, errs[0].msg);
  cr_assert_eq(errs[0].line, line, "'%s': error at line %d, not %d: %s", text, errs[0].line, line, errs[0].msg);
  cr_assert_not_null(strstr(errs[0].msg, needle), "'%s': '%s' lacks '%s'", text, errs[0].msg, needle);
  cr_assert_eq(rs.n, 0);
}

TestSuite(rules);

/* ---- good files --------------------------------------------------------- */

Test(rules, example_file) {
  parse_ok("# comment; blank lines ignored; '#' after whitespace starts a trailing comment\n"
           "sym:llama_kv_cache*            tier=fast thp=on\n"
           "\n"
           "lib:libonnxruntime.so*  size=1M..  tier=slow   # the arena\n"
           "sym:*ggml_backend_cpu_buffer*  size=256K..64M  tier=interleave thp=collapse\n"
           "*                        size=..64K   tier=fast\n",
           4);
  const ts_rule_t *r = rs.rule;
  cr_assert_eq(r[0].kind, TS_RULE_SYM);
  cr_assert_str_eq(r[0].pattern, "llama_kv_cache*");
  cr_assert_eq(r[0].min, 0);
  cr_assert_eq(r[0].max, SIZE_MAX);
  cr_assert_eq(r[0].tier, TS_BULK_FAST);
  cr_assert_eq(r[0].thp, TS_RULE_THP_ON);
  cr_assert_eq(r[0].line, 2);
  cr_assert_eq(r[1].kind, TS_RULE_LIB);
  cr_assert_str_eq(r[1].pattern, "libonnxruntime.so*");
  cr_assert_eq(r[1].min, 1 << 20);
  cr_assert_eq(r[1].max, SIZE_MAX);
  cr_assert_eq(r[1].tier, TS_BULK_SLOW);
  cr_assert_eq(r[1].thp, TS_RULE_THP_NONE);
  cr_assert_eq(r[1].line, 4);
  cr_assert_str_eq(r[2].pattern, "*ggml_backend_cpu_buffer*");
  cr_assert_eq(r[2].min, 256 << 10);
  cr_assert_eq(r[2].max, 64 << 20);
  cr_assert_eq(r[2].tier, TS_BULK_INTERLEAVE);
  cr_assert_eq(r[2].thp, TS_RULE_THP_COLLAPSE);
  cr_assert_eq(r[3].kind, TS_RULE_ANY);
  cr_assert_str_eq(r[3].pattern, "*");
  cr_assert_eq(r[3].min, 0);
  cr_assert_eq(r[3].max, 64 << 10);
  cr_assert_eq(r[3].line, 6);
}

Test(rules, empty_and_comment_only) {
  parse_ok("", 0);
  parse_ok("\n\n   \n\t\n", 0);
  parse_ok("# nothing\n   # indented comment\n#\n", 0);
  cr_assert_eq(ts_rules_parse(NULL, 0, &rs, errs, NERRS), 0);
}

Test(rules, tiers) {
  static const struct { const char *text; int tier; } cases[] = {
      {"* tier=default", TS_BULK_DEFAULT}, {"* tier=fast", TS_BULK_FAST},
      {"* tier=slow", TS_BULK_SLOW},       {"* tier=interleave", TS_BULK_INTERLEAVE},
      {"* tier=weighted", TS_BULK_WEIGHTED}, {"* tier=SLOW", TS_BULK_SLOW}, /* values as TIERSHIM_BULK: any case */
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    parse_ok(cases[i].text, 1);
    cr_assert_eq(rs.rule[0].tier, cases[i].tier, "%s", cases[i].text);
    cr_assert_eq(rs.rule[0].nweights, 0);
    cr_assert_eq(rs.rule[0].thp, TS_RULE_THP_NONE);
  }
}

Test(rules, weights) {
  parse_ok("* tier=weighted:3,1,255", 1);
  cr_assert_eq(rs.rule[0].tier, TS_BULK_WEIGHTED);
  cr_assert_eq(rs.rule[0].nweights, 3);
  cr_assert_eq(rs.rule[0].weights[0], 3);
  cr_assert_eq(rs.rule[0].weights[1], 1);
  cr_assert_eq(rs.rule[0].weights[2], 255);
  char line[400] = "* tier=weighted:1";
  for (int i = 1; i < 64; i++) strcat(line, ",2");
  parse_ok(line, 1);
  cr_assert_eq(rs.rule[0].nweights, 64);
  strcat(line, ",2");
  parse_err(line, 1, "too many weights");
}

Test(rules, thp) {
  static const struct { const char *text; int thp; } cases[] = {
      {"* thp=on", TS_RULE_THP_ON}, {"* thp=off", TS_RULE_THP_OFF}, {"* thp=collapse", TS_RULE_THP_COLLAPSE},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    parse_ok(cases[i].text, 1);
    cr_assert_eq(rs.rule[0].thp, cases[i].thp);
    cr_assert_eq(rs.rule[0].tier, TS_RULE_TIER_NONE);
  }
}

Test(rules, sizes) {
  static const struct { const char *text; size_t min, max; } cases[] = {
      {"* size=1M.. thp=on", 1 << 20, SIZE_MAX},
      {"* size=..64K thp=on", 0, 64 << 10},
      {"* size=0..1 thp=on", 0, 1},
      {"* size=1536..2k thp=on", 1536, 2048},
      {"* size=1G..1T thp=on", (size_t)1 << 30, (size_t)1 << 40},
      {"* size=4KiB..8MB thp=on", 4096, 8 << 20}, /* ts_parse_size's suffixes */
      {"* size=..18446744073709551615 thp=on", 0, SIZE_MAX},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    parse_ok(cases[i].text, 1);
    cr_assert_eq(rs.rule[0].min, cases[i].min, "%s", cases[i].text);
    cr_assert_eq(rs.rule[0].max, cases[i].max, "%s", cases[i].text);
  }
}

Test(rules, field_order_and_whitespace) {
  parse_ok("\t lib:libggml*\tthp=off   size=2M..\ttier=slow \r\n", 1);
  cr_assert_eq(rs.rule[0].kind, TS_RULE_LIB);
  cr_assert_str_eq(rs.rule[0].pattern, "libggml*");
  cr_assert_eq(rs.rule[0].min, 2 << 20);
  cr_assert_eq(rs.rule[0].tier, TS_BULK_SLOW);
  cr_assert_eq(rs.rule[0].thp, TS_RULE_THP_OFF);
  parse_ok("* tier=fast", 1); /* no newline at the end */
  parse_ok("* tier=fast\r\n* tier=slow\r\n", 2);
  cr_assert_eq(rs.rule[1].line, 2);
}

Test(rules, hash_inside_a_token) {
  /* Only a '#' that starts a token is a comment. */
  parse_ok("sym:op#1 tier=fast #comment tier=nonsense", 1);
  cr_assert_str_eq(rs.rule[0].pattern, "op#1");
  parse_err("* tier=fast#comment", 1, "unknown tier 'tier=fast#comment'");
}

Test(rules, pattern_lengths) {
  char line[300];
  snprintf(line, sizeof line, "sym:%0127d tier=fast", 0);
  parse_ok(line, 1);
  cr_assert_eq(strlen(rs.rule[0].pattern), 127);
  snprintf(line, sizeof line, "lib:%0128d tier=fast", 0);
  parse_err(line, 1, "pattern too long (128 chars, at most 127)");
  parse_ok("sym:? tier=fast", 1);
}

/* ---- errors --------------------------------------------------------------- */

Test(rules, error_unknown_action) {
  parse_err("# x\n\nsym:foo tir=fast\n", 3, "unknown action 'tir=fast' (expected tier=...");
  parse_err("sym:foo tier=fast placement=x", 1, "unknown action 'placement=x'");
}

Test(rules, error_trailing_text) {
  parse_err("sym:foo tier=fast fast", 1, "unexpected 'fast'");
  parse_err("sym:foo tier=fast lib:bar", 1, "unexpected 'lib:bar'");
}

Test(rules, error_duplicates) {
  parse_err("* tier=fast tier=slow", 1, "duplicate 'tier=slow'");
  parse_err("* thp=on thp=on", 1, "duplicate 'thp=on'");
  parse_err("* size=1.. size=..2 thp=on", 1, "duplicate 'size=..2'");
}

Test(rules, error_no_action) {
  parse_err("sym:foo", 1, "no action");
  parse_err("\nsym:foo size=1M.. # tier=fast\n", 2, "no action (add tier=... or thp=...)");
}

Test(rules, error_sizes) {
  parse_err("* size=1X.. thp=on", 1, "bad size 'size=1X..': MIN not a size");
  parse_err("* size=..lots thp=on", 1, "bad size 'size=..lots': MAX not a number");
  parse_err("* size=-1.. thp=on", 1, "MIN negative");
  parse_err("* size=1M thp=on", 1, "expected size=MIN..MAX");
  parse_err("* size= thp=on", 1, "expected size=MIN..MAX");
  parse_err("* size=.. thp=on", 1, "give MIN, MAX or both");
  parse_err("* size=64M..1M thp=on", 1, "empty size range 'size=64M..1M'");
  parse_err("* size=1M..1M thp=on", 1, "empty size range");
  parse_err("* size=..0 thp=on", 1, "empty size range");
  parse_err("* size=99999999999999999999.. thp=on", 1, "too large");
  parse_err("* size=1..2..3 thp=on", 1, "MAX not a size");
  parse_err("* size=16777216T.. thp=on", 1, "too large");
  parse_err("* size=123456789012345678901234567890123.. thp=on", 1, "MIN too long");
  /* Both sides bad: two errors on one line. */
  cr_assert_eq(parse("* size=x..y thp=on"), 2);
}

Test(rules, error_patterns) {
  parse_err("sym: tier=fast", 1, "empty glob in 'sym:'");
  parse_err("lib: tier=fast", 1, "empty glob in 'lib:'");
  parse_err("llama_* tier=fast", 1, "bad pattern 'llama_*' (expected sym:GLOB, lib:GLOB or *)");
  parse_err("file:x tier=fast", 1, "bad pattern 'file:x'");
  parse_err("** tier=fast", 1, "bad pattern '**'");
  parse_err("SYM:x tier=fast", 1, "bad pattern 'SYM:x'");
  parse_err("tier=fast", 1, "missing pattern before 'tier=fast'");
  /* The field in place of a pattern is checked too. */
  cr_assert_eq(parse("tier=quick"), 2);
  cr_assert(strstr(errs[1].msg, "unknown tier 'tier=quick'") != NULL, "%s", errs[1].msg);
}

Test(rules, error_values) {
  parse_err("* tier=quick", 1, "unknown tier 'tier=quick' (expected fast, slow, interleave, default or weighted");
  parse_err("* tier=", 1, "unknown tier");
  parse_err("* thp=yes", 1, "unknown thp 'thp=yes' (expected on, off or collapse)");
  parse_err("* tier=weighted:", 1, "bad weights");
  parse_err("* tier=weighted:0", 1, "bad weights 'tier=weighted:0' (each 1-255");
  parse_err("* tier=weighted:256", 1, "bad weights");
  parse_err("* tier=weighted:1,,2", 1, "bad weights");
  parse_err("* tier=weighted:1,", 1, "bad weights");
  parse_err("* tier=weighted:1;2", 1, "bad weights");
  parse_err("* tier=weighted:99999999999", 1, "bad weights");
}

Test(rules, error_control_bytes) {
  static const char text[] = "* tier=fast\nsym:a\0b tier=fast\n";
  cr_assert_eq(ts_rules_parse(text, sizeof text - 1, &rs, errs, NERRS), 1);
  cr_assert_eq(errs[0].line, 2);
  cr_assert(strstr(errs[0].msg, "control character (byte 0)") != NULL, "%s", errs[0].msg);
  parse_err("sym:a\x1b[0m tier=fast", 1, "control character (byte 27)");
  parse_err("* tier=fast\x7f", 1, "byte 127");
}

Test(rules, long_tokens_are_quoted_short) {
  char line[400];
  snprintf(line, sizeof line, "* tier=%0300d", 0);
  cr_assert_eq(parse(line), 1);
  cr_assert(strstr(errs[0].msg, "...'") != NULL, "%s", errs[0].msg);
  cr_assert_lt(strlen(errs[0].msg), sizeof errs[0].msg);
}

Test(rules, every_error_reported_and_nothing_kept) {
  int e = parse("sym:a tier=fast\n"
                "sym:b tir=fast\n"
                "lib:c tier=slow\n"
                "d tier=slow\n"
                "* size=2..1 thp=on\n"
                "sym:e thp=on\n");
  cr_assert_eq(e, 3);
  cr_assert_eq(errs[0].line, 2);
  cr_assert_eq(errs[1].line, 4);
  cr_assert_eq(errs[2].line, 5);
  cr_assert_eq(rs.n, 0, "a file with an error gives no rules");
}

Test(rules, max_errs_stores_some_counts_all) {
  const char *text = "a\nb\nc\nd\ne\n";
  ts_rules_error_t two[2];
  cr_assert_eq(ts_rules_parse(text, strlen(text), &rs, two, 2), 5);
  cr_assert_eq(two[0].line, 1);
  cr_assert_eq(two[1].line, 2);
  cr_assert_eq(ts_rules_parse(text, strlen(text), &rs, NULL, 0), 5);
  cr_assert_eq(ts_rules_parse(text, strlen(text), &rs, NULL, 3), 5); /* no array: nothing stored */
}

Test(rules, length_not_nul) {
  /* Parsing stops at len: the rest of the buffer is not the file. */
  const char *text = "* tier=fast\ngarbage";
  cr_assert_eq(ts_rules_parse(text, 12, &rs, errs, NERRS), 0);
  cr_assert_eq(rs.n, 1);
  cr_assert_eq(ts_rules_parse(text, 9, &rs, errs, NERRS), 1); /* "* tier=f" */
}

/* ---- limits --------------------------------------------------------------- */

/* n rules "sym:fN tier=fast", each after a comment line. */
static char *many_rules(int n) {
  char *text = malloc((size_t)n * 40 + 1), *p = text;
  for (int i = 0; i < n; i++) p += sprintf(p, "# rule %d\nsym:f%d tier=fast\n", i, i);
  return text;
}

Test(rules, limit_64_rules) {
  char *text = many_rules(64);
  parse_ok(text, 64);
  cr_assert_str_eq(rs.rule[63].pattern, "f63");
  cr_assert_eq(rs.rule[63].line, 128);
  free(text);
  text = many_rules(66);
  parse_err(text, 130, "a 65th rule (at most 64 per file)"); /* once, at the 65th */
  free(text);
}

Test(rules, limit_line_length) {
  char line[600];
  int pad = 512 - (int)strlen("* tier=fast #");
  snprintf(line, sizeof line, "* tier=fast #%0*d", pad, 0);
  cr_assert_eq(strlen(line), 512);
  parse_ok(line, 1);
  strcat(line, "0");
  parse_err(line, 1, "line too long (513 chars, at most 512)");
  char two[700];
  snprintf(two, sizeof two, "* tier=fast\n%s\n* tier=slow\n", line);
  parse_err(two, 2, "line too long");
}

/* A file of size bytes: one rule, then comment lines. */
static char *big_file(size_t size) {
  char *text = malloc(size + 1);
  memset(text, '#', size);
  memcpy(text, "* tier=fast\n", 12);
  for (size_t i = 12 + 100; i < size; i += 101) text[i] = '\n';
  text[size] = '\0';
  return text;
}

Test(rules, limit_file_size) {
  char *text = big_file(TS_RULES_FILE_MAX);
  cr_assert_eq(ts_rules_parse(text, TS_RULES_FILE_MAX, &rs, errs, NERRS), 0);
  cr_assert_eq(rs.n, 1);
  free(text);
  text = big_file(TS_RULES_FILE_MAX + 1);
  cr_assert_eq(ts_rules_parse(text, TS_RULES_FILE_MAX + 1, &rs, errs, NERRS), 1);
  cr_assert_eq(errs[0].line, 0);
  cr_assert(strstr(errs[0].msg, "file too large (65537 bytes, at most 64 KiB)") != NULL, "%s", errs[0].msg);
  cr_assert_eq(rs.n, 0);
  free(text);
}

/* ---- files ---------------------------------------------------------------- */

static char path[64];

static void write_file(const char *text, size_t len) {
  strcpy(path, "/tmp/ts-rules-XXXXXX");
  int fd = mkstemp(path);
  cr_assert_geq(fd, 0);
  cr_assert_eq(write(fd, text, len), (ssize_t)len);
  close(fd);
}

Test(rules, load_good_and_bad) {
  const char *good = "sym:llama_* tier=fast\n";
  write_file(good, strlen(good));
  cr_assert_eq(ts_rules_load(path, &rs, errs, NERRS), 0);
  cr_assert_eq(rs.n, 1);
  unlink(path);
  const char *bad = "sym:llama_* tier=fast\nsym:x\n";
  write_file(bad, strlen(bad));
  cr_assert_eq(ts_rules_load(path, &rs, errs, NERRS), 1);
  cr_assert_eq(errs[0].line, 2);
  cr_assert_eq(rs.n, 0);
  unlink(path);
}

Test(rules, load_failures) {
  cr_assert_eq(ts_rules_load("/nonexistent/rules", &rs, errs, NERRS), -ENOENT);
  cr_assert_eq(errs[0].line, 0);
  cr_assert_str_eq(errs[0].msg, "cannot read: no such file");
  cr_assert_eq(ts_rules_load("/tmp", &rs, errs, NERRS), -EISDIR);
  cr_assert_str_eq(errs[0].msg, "cannot read: is a directory");
  cr_assert_eq(ts_rules_load("", &rs, errs, NERRS), -ENOENT);
  cr_assert_eq(ts_rules_load("/nonexistent", &rs, NULL, 0), -ENOENT);
  char *text = big_file(TS_RULES_FILE_MAX);
  write_file(text, TS_RULES_FILE_MAX);
  cr_assert_eq(ts_rules_load(path, &rs, errs, NERRS), 0, "%s", errs[0].msg);
  cr_assert_eq(rs.n, 1);
  unlink(path);
  free(text);
  text = big_file(TS_RULES_FILE_MAX + 1);
  write_file(text, TS_RULES_FILE_MAX + 1);
  cr_assert_eq(ts_rules_load(path, &rs, errs, NERRS), -EFBIG);
  cr_assert_eq(errs[0].line, 0);
  cr_assert(strstr(errs[0].msg, "larger than 64 KiB") != NULL, "%s", errs[0].msg);
  cr_assert_eq(rs.n, 0);
  unlink(path);
  free(text);
}

Test(rules, load_refuses_a_fifo_without_blocking, .timeout = 10) {
  char dir[] = "/tmp/ts-rules-XXXXXX";
  cr_assert_not_null(mkdtemp(dir));
  snprintf(path, sizeof path, "%s/fifo", dir);
  cr_assert_eq(mkfifo(path, 0600), 0);
  cr_assert_eq(ts_rules_load(path, &rs, errs, NERRS), -EINVAL); /* no writer: a blocking open would hang */
  cr_assert_str_eq(errs[0].msg, "cannot read: not a regular file");
  unlink(path);
  rmdir(dir);
}

/* The type is checked on the descriptor the rules are read from. Checked
 * on the path first, a path that became a FIFO between the check and the
 * open blocked start-up until a writer came, and was then read as an empty
 * rules file. A thread swaps a FIFO and a regular file under the path
 * (RENAME_EXCHANGE) while rules are loaded from it, and opens the FIFO for
 * writing each time to release a load blocked on it. */
static char swap_path[64], swap_other[64];
static atomic_bool swap_stop;
static atomic_long swap_flips;

static void *swapper(void *arg) {
  (void)arg;
  bool fifo_at_path = false;
  while (!atomic_load(&swap_stop)) {
    if (renameat2(AT_FDCWD, swap_path, AT_FDCWD, swap_other, RENAME_EXCHANGE) != 0) break;
    fifo_at_path = !fifo_at_path;
    atomic_fetch_add(&swap_flips, 1);
    int fd = open(fifo_at_path ? swap_path : swap_other, O_WRONLY | O_NONBLOCK);
    if (fd >= 0) close(fd); /* a reader had it open */
  }
  return NULL;
}

Test(rules, load_checks_the_file_it_reads, .timeout = 60) {
  const char *good = "sym:llama_* tier=fast\n";
  write_file(good, strlen(good));
  strcpy(swap_path, path);
  snprintf(swap_other, sizeof swap_other, "%s.fifo", swap_path);
  cr_assert_eq(mkfifo(swap_other, 0600), 0);
  /* twice: the file system takes it, and the regular file is back at the path */
  if (renameat2(AT_FDCWD, swap_path, AT_FDCWD, swap_other, RENAME_EXCHANGE) != 0 ||
      renameat2(AT_FDCWD, swap_path, AT_FDCWD, swap_other, RENAME_EXCHANGE) != 0) {
    unlink(swap_path);
    unlink(swap_other);
    cr_skip_test("RENAME_EXCHANGE: %s", strerror(errno));
  }
  pthread_t t;
  atomic_store(&swap_stop, false);
  cr_assert_eq(pthread_create(&t, NULL, swapper, NULL), 0);
  /* 1.5 s of loads (a few hundred thousand), or until one reads the FIFO */
  int loaded = 0, refused = 0, empty = 0, other = 0;
  struct timespec t0, now;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  do {
    for (int i = 0; i < 1000; i++) {
      int r = ts_rules_load(swap_path, &rs, errs, NERRS);
      if (r == 0 && rs.n == 1) loaded++;
      else if (r == -EINVAL) refused++;
      else if (r == 0) empty++; /* read from the FIFO */
      else other++;
    }
    clock_gettime(CLOCK_MONOTONIC, &now);
  } while (empty == 0 && (now.tv_sec - t0.tv_sec) * 1000000000L + (now.tv_nsec - t0.tv_nsec) < 1500000000L);
  atomic_store(&swap_stop, true);
  pthread_join(t, NULL);
  unlink(swap_path);
  unlink(swap_other);
  cr_log_info("%ld flips: %d loaded, %d refused, %d read from the FIFO, %d other", atomic_load(&swap_flips),
              loaded, refused, empty, other);
  cr_assert_eq(empty, 0, "%d loads opened the FIFO and read it as an empty rules file", empty);
  cr_assert_eq(other, 0);
  cr_assert_gt(loaded, 0);
  cr_assert_gt(refused, 0);
}

/* ---- glob ----------------------------------------------------------------- */

Test(rules, glob) {
  static const struct { const char *pat, *s; bool match; } cases[] = {
      {"", "", true},          {"", "a", false},        {"*", "", true},         {"*", "anything", true},
      {"**", "", true},        {"**", "ab", true},      {"?", "", false},        {"?", "a", true},
      {"?", "ab", false},      {"??", "ab", true},      {"a", "a", true},        {"a", "A", false},
      {"a*", "a", true},       {"a*", "abc", true},     {"a*", "ba", false},     {"*a", "ba", true},
      {"*a", "ab", false},     {"a*c", "abbbc", true},  {"a*c", "abbbd", false}, {"a*b*c", "axbyc", true},
      {"a*b*c", "acb", false}, {"*?", "", false},       {"*?", "x", true},       {"?*?", "x", false},
      {"llama_kv_cache*", "llama_kv_cache_init", true},  {"*ggml_backend_cpu_buffer*", "ggml_backend_cpu_buffer_type_alloc_buffer", true},
      {"libonnxruntime.so*", "libonnxruntime.so.1.17.0", true}, {"[ab]", "[ab]", true}, {"[ab]", "a", false},
      {"a\\*", "a\\bc", true}, {"*.so", "libc.so.6", false}, {"*x*", "aaaaxaaaa", true}, {"a**b", "ab", true},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
    cr_assert_eq(ts_glob_match(cases[i].pat, cases[i].s), cases[i].match, "'%s' vs '%s'", cases[i].pat, cases[i].s);
  cr_assert(!ts_glob_match(NULL, "a"));
  cr_assert(!ts_glob_match("*", NULL));
}

/* A naive recursive matcher takes exponential time on these; ours,
 * pattern length times string length. */
Test(rules, glob_pathological, .timeout = 10) {
  size_t n = 100000;
  char *s = malloc(n + 2);
  memset(s, 'a', n);
  s[n] = '\0';
  cr_assert(!ts_glob_match("a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b", s));
  cr_assert(ts_glob_match("a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a", s));
  cr_assert(!ts_glob_match("*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b*", s));
  s[n] = 'b';
  s[n + 1] = '\0';
  cr_assert(ts_glob_match("a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b", s));
  char pat[128];
  memset(pat, '?', sizeof pat - 1);
  pat[sizeof pat - 1] = '\0';
  pat[0] = pat[63] = pat[126] = '*';
  cr_assert(ts_glob_match(pat, s));
  free(s);
}

/* ---- matching ------------------------------------------------------------- */

static const ts_frame_name_t llama_frames[] = {
    {"ggml_aligned_malloc", "libggml-base.so"},
    {"llama_kv_cache_init", "libllama.so"},
    {NULL, "libllama.so"},
    {"main", "llama-cli"},
};
#define NLLAMA (int)(sizeof llama_frames / sizeof llama_frames[0])

Test(rules, match_first_wins) {
  parse_ok("sym:llama_kv_cache* tier=fast\n"
           "lib:libllama.so tier=slow\n"
           "* tier=interleave\n",
           3);
  cr_assert_eq(ts_rules_match(&rs, llama_frames, NLLAMA, 4096), &rs.rule[0]);
  cr_assert_eq(ts_rules_match(&rs, llama_frames + 2, 2, 4096), &rs.rule[1]);
  cr_assert_eq(ts_rules_match(&rs, llama_frames + 3, 1, 4096), &rs.rule[2]);
  cr_assert_eq(ts_rules_match(&rs, NULL, 0, 4096), &rs.rule[2]);
}

Test(rules, match_kinds) {
  parse_ok("lib:llama_kv_cache* tier=fast\n" /* a symbol's name as a library: never */
           "sym:libllama.so tier=slow\n",
           2);
  cr_assert_null(ts_rules_match(&rs, llama_frames, NLLAMA, 4096));
  parse_ok("sym:main thp=on\n", 1);
  cr_assert_eq(ts_rules_match(&rs, llama_frames, NLLAMA, 4096), &rs.rule[0]); /* any frame, the last too */
}

Test(rules, match_unknown_names) {
  parse_ok("sym:* tier=fast\nlib:* tier=slow\n", 2);
  ts_frame_name_t unknown[] = {{NULL, NULL}, {"", ""}};
  cr_assert_null(ts_rules_match(&rs, unknown, 2, 4096), "an unknown name matches no glob, not even *");
  ts_frame_name_t lib_only[] = {{NULL, "libfoo.so"}};
  cr_assert_eq(ts_rules_match(&rs, lib_only, 1, 4096), &rs.rule[1]);
  parse_ok("* thp=off\n", 1);
  cr_assert_eq(ts_rules_match(&rs, unknown, 2, 4096), &rs.rule[0], "* needs no names");
  cr_assert_null(ts_rules_match(NULL, unknown, 2, 4096));
}

Test(rules, match_size_bounds) {
  parse_ok("* size=64K..1M tier=fast\n"
           "* size=1M.. tier=slow\n"
           "* size=..4K tier=interleave\n",
           3);
  const ts_rule_t *r = rs.rule;
  cr_assert_eq(ts_rules_match(&rs, NULL, 0, 0), &r[2]);
  cr_assert_eq(ts_rules_match(&rs, NULL, 0, 4095), &r[2]);
  cr_assert_null(ts_rules_match(&rs, NULL, 0, 4096), "MAX is exclusive");
  cr_assert_null(ts_rules_match(&rs, NULL, 0, 65535));
  cr_assert_eq(ts_rules_match(&rs, NULL, 0, 65536), &r[0], "MIN is inclusive");
  cr_assert_eq(ts_rules_match(&rs, NULL, 0, (1 << 20) - 1), &r[0]);
  cr_assert_eq(ts_rules_match(&rs, NULL, 0, 1 << 20), &r[1]);
  cr_assert_eq(ts_rules_match(&rs, NULL, 0, SIZE_MAX), &r[1], "an open MAX takes every size");
}

Test(rules, match_size_then_name) {
  parse_ok("sym:llama_kv_cache* size=..1M tier=fast\n"
           "sym:llama_kv_cache* tier=slow\n",
           2);
  cr_assert_eq(ts_rules_match(&rs, llama_frames, NLLAMA, 1000), &rs.rule[0]);
  cr_assert_eq(ts_rules_match(&rs, llama_frames, NLLAMA, 1 << 20), &rs.rule[1]);
}

/* ---- formatting ----------------------------------------------------------- */

Test(rules, format) {
  static const struct { const char *in, *out; } cases[] = {
      {"sym:llama_kv_cache*   tier=fast   thp=on", "sym:llama_kv_cache* tier=fast thp=on"},
      {"lib:libonnxruntime.so* size=1048576.. tier=SLOW", "lib:libonnxruntime.so* size=1M.. tier=slow"},
      {"* thp=collapse size=256K..64M", "* size=256K..64M thp=collapse"},
      {"* size=0..1536 tier=weighted:001,2", "* size=..1536 tier=weighted:1,2"},
      {"* size=0.. tier=weighted", "* tier=weighted"},
      {"sym:a#b thp=off # comment", "sym:a#b thp=off"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    parse_ok(cases[i].in, 1);
    char buf[TS_RULES_LINE_MAX + 1];
    size_t n = ts_rule_format(&rs.rule[0], buf, sizeof buf);
    cr_assert_str_eq(buf, cases[i].out);
    cr_assert_eq(n, strlen(cases[i].out));
  }
  char small[8];
  size_t need = ts_rule_format(&rs.rule[0], small, sizeof small);
  cr_assert_eq(need, strlen("sym:a#b thp=off"), "returns the length it needed");
  cr_assert_str_eq(small, "sym:a#b");
}

static bool same_rule(const ts_rule_t *a, const ts_rule_t *b) {
  return a->kind == b->kind && strcmp(a->pattern, b->pattern) == 0 && a->min == b->min && a->max == b->max &&
         a->tier == b->tier && a->nweights == b->nweights && memcmp(a->weights, b->weights, (size_t)a->nweights) == 0 &&
         a->thp == b->thp;
}

Test(rules, format_round_trip) {
  parse_ok("sym:llama_kv_cache* tier=fast thp=on\n"
           "lib:libonnxruntime.so* size=1M.. tier=slow\n"
           "sym:*ggml_backend_cpu_buffer* size=256K..64M tier=interleave thp=collapse\n"
           "* size=..64K tier=weighted:1,3,255\n"
           "sym:? size=1536..18446744073709551614 thp=off\n",
           5);
  static ts_rules_t first;
  first = rs;
  char text[4096] = "";
  for (int i = 0; i < first.n; i++) {
    char line[TS_RULES_LINE_MAX + 1];
    ts_rule_format(&first.rule[i], line, sizeof line);
    strcat(text, line);
    strcat(text, "\n");
  }
  parse_ok(text, first.n);
  for (int i = 0; i < first.n; i++) cr_assert(same_rule(&rs.rule[i], &first.rule[i]), "rule %d", i);
}
