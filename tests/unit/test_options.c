/* The options table: every kind of value, good and bad. */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>

#include "capture.h"
#include "base/options.h"

static int parse(ts_config_t *cfg, char *entry, capture_t *cap) {
  char *env[] = {"PATH=/usr/bin", entry, "TIERSHIMX=not-ours", NULL};
  capture_begin(cap);
  int warnings = ts_options_parse(cfg, env, false);
  int lines = capture_end(cap);
  cr_assert_eq(warnings, lines, "one line per warning");
  return warnings;
}

Test(options, defaults) {
  ts_config_t cfg;
  char *env[] = {NULL};
  cr_assert_eq(ts_options_parse(&cfg, env, false), 0);
  cr_assert(cfg.enable);
  cr_assert_eq(cfg.verbose, 0);
  cr_assert_eq(cfg.stats_mode, TS_STATS_OFF);
  cr_assert_eq(cfg.large_min, 256 * 1024);
  cr_assert(!cfg.secure);
}

Test(options, sizes_with_suffixes) {
  struct { const char *in; size_t want; } ok[] = {
      {"4096", 4096}, {"64K", 64 << 10}, {"64k", 64 << 10}, {"2M", 2 << 20},
      {"2MiB", 2 << 20}, {"1G", 1ul << 30}, {"1gb", 1ul << 30}, {"1T", 1ul << 40}};
  for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
    size_t v = 0;
    const char *why = ts_parse_size(ok[i].in, 4096, (size_t)1 << 40, &v);
    cr_assert_null(why, "%s: %s", ok[i].in, why);
    cr_assert_eq(v, ok[i].want, "%s -> %zu", ok[i].in, v);
  }
}

Test(options, bad_sizes_keep_default_with_one_warning) {
  const char *bad[] = {"banana", "", "-5", "12Q", "1.5M", "2MM", "99999999999G",
                       "184467440737095516160", "1K", "2T", " 64K", "64K "};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    char entry[64];
    snprintf(entry, sizeof entry, "TIERSHIM_LARGE_MIN=%s", bad[i]);
    ts_config_t cfg;
    capture_t cap;
    cr_assert_eq(parse(&cfg, entry, &cap), 1, "'%s' should warn once", bad[i]);
    cr_assert_eq(cfg.large_min, 256 * 1024, "'%s' must keep the default", bad[i]);
    cr_assert(strncmp(cap.text, "tiershim: TIERSHIM_LARGE_MIN=", 29) == 0, "%s", cap.text);
    cr_assert(strstr(cap.text, "; using 256K\n") != NULL, "%s", cap.text);
  }
}

/* A space is no unit: "1 " once read as 1 << 50 (strchr finds the NUL
 * that ' ' & ~0x20 becomes), so "0 " passed as 0 wherever 0 is allowed.
 * Whatever the range, a malformed size is rejected as malformed. */
Test(options, malformed_sizes_are_not_sizes) {
  const char *bad[] = {"1 ", "0 ", " 1", "1 M", "0 B", "1MM", "1M ", "1\t", "1K\v",
                       "18446744073709551616", "16777216T"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    size_t v = 7;
    const char *why = ts_parse_size(bad[i], 0, SIZE_MAX, &v);
    cr_assert_not_null(why, "'%s' parsed as %zu", bad[i], v);
    cr_assert_eq(v, 7, "'%s' must leave the value alone", bad[i]);
    cr_assert(strstr(why, "not a size") || strstr(why, "too large") || strstr(why, "not a number"),
              "'%s': %s", bad[i], why);
  }
  const char *names[] = {"RETAIN_MAX", "MIGRATE_RATE", "VA", "PROFILE_MIN"};
  for (size_t n = 0; n < sizeof names / sizeof names[0]; n++)
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
      char entry[96];
      snprintf(entry, sizeof entry, "TIERSHIM_%s=%s", names[n], bad[i]);
      ts_config_t cfg, def;
      ts_config_defaults(&def);
      capture_t cap;
      cr_assert_eq(parse(&cfg, entry, &cap), 1, "'%s' should warn once", entry);
      cr_assert_eq(memcmp(&cfg, &def, sizeof cfg), 0, "'%s' must keep every default", entry);
      cr_assert(strstr(cap.text, "above the maximum") == NULL, "'%s': %s", entry, cap.text);
    }
}

Test(options, good_values_apply) {
  ts_config_t cfg;
  capture_t cap;
  cr_assert_eq(parse(&cfg, "TIERSHIM_LARGE_MIN=1M", &cap), 0);
  cr_assert_eq(cfg.large_min, 1 << 20);
  cr_assert_eq(parse(&cfg, "TIERSHIM_ENABLE=off", &cap), 0);
  cr_assert(!cfg.enable);
  cr_assert_eq(parse(&cfg, "TIERSHIM_VERBOSE=1", &cap), 0);
  cr_assert_eq(cfg.verbose, 1);
}

Test(options, bools_and_ints) {
  const char *bad_bool[] = {"maybe", "2", "", "yess"};
  for (size_t i = 0; i < 4; i++) {
    char entry[64];
    snprintf(entry, sizeof entry, "TIERSHIM_ENABLE=%s", bad_bool[i]);
    ts_config_t cfg;
    capture_t cap;
    cr_assert_eq(parse(&cfg, entry, &cap), 1, "%s", entry);
    cr_assert(cfg.enable);
    cr_assert(strstr(cap.text, "; using 1\n") != NULL, "%s", cap.text);
  }
  const char *bad_int[] = {"2", "9", "-1", "x", "1.0", "99999999999999999999"};
  for (size_t i = 0; i < 6; i++) {
    char entry[64];
    snprintf(entry, sizeof entry, "TIERSHIM_VERBOSE=%s", bad_int[i]);
    ts_config_t cfg;
    capture_t cap;
    cr_assert_eq(parse(&cfg, entry, &cap), 1, "%s", entry);
    cr_assert_eq(cfg.verbose, 0);
  }
}

Test(options, stats_modes) {
  ts_config_t cfg;
  capture_t cap;
  cr_assert_eq(parse(&cfg, "TIERSHIM_STATS=1", &cap), 0);
  cr_assert_eq(cfg.stats_mode, TS_STATS_TEXT);
  cr_assert_eq(parse(&cfg, "TIERSHIM_STATS=json:/tmp/s.%p.json", &cap), 0);
  cr_assert_eq(cfg.stats_mode, TS_STATS_JSON);
  cr_assert_str_eq(cfg.stats_path, "/tmp/s.%p.json");
  cr_assert_eq(parse(&cfg, "TIERSHIM_STATS=json:", &cap), 1);
  cr_assert_eq(cfg.stats_mode, TS_STATS_OFF);
  cr_assert_eq(parse(&cfg, "TIERSHIM_STATS=yaml:/x", &cap), 1);
  static char longpath[TS_STATS_PATH_MAX + 32] = "TIERSHIM_STATS=json:/";
  memset(longpath + 21, 'a', TS_STATS_PATH_MAX);
  cr_assert_eq(parse(&cfg, longpath, &cap), 1);
  cr_assert(strstr(cap.text, "path too long") != NULL);
}

Test(options, unknown_names_warn_and_are_ignored) {
  ts_config_t cfg;
  capture_t cap;
  cr_assert_eq(parse(&cfg, "TIERSHIM_STAT=1", &cap), 1);
  cr_assert(strstr(cap.text, "unknown option") != NULL);
  cr_assert_eq(cfg.stats_mode, TS_STATS_OFF);
}

Test(options, secure_ignores_environment) {
  char *env[] = {"TIERSHIM_ENABLE=0", "TIERSHIM_STATS=1", "TIERSHIM_LARGE_MIN=banana", NULL};
  ts_config_t cfg;
  capture_t cap;
  capture_begin(&cap);
  cr_assert_eq(ts_options_parse(&cfg, env, true), 0);
  cr_assert_eq(capture_end(&cap), 0, "no message at all: %s", cap.text);
  cr_assert(cfg.enable);
  cr_assert_eq(cfg.stats_mode, TS_STATS_OFF);
  cr_assert(cfg.secure);
}

Test(options, known_names) {
  cr_assert(ts_options_known("LARGE_MIN", 9));
  cr_assert(ts_options_known("TIERSHIM_LARGE_MIN", 18));
  cr_assert(!ts_options_known("LARGE_MI", 8));
  cr_assert(!ts_options_known("NOPE", 4));
}

/* docs/options.md carries the table generated from the code. */
Test(options, docs_match_table) {
  int fd = memfd_create("table", 0);
  ts_options_print_table(fd, true);
  char table[16384];
  ssize_t n = pread(fd, table, sizeof table - 1, 0);
  close(fd);
  cr_assert_gt(n, 0);
  table[n] = '\0';
  FILE *f = fopen(TS_SOURCE_DIR "/docs/options.md", "r");
  cr_assert_not_null(f, "docs/options.md missing");
  static char doc[65536];
  size_t m = fread(doc, 1, sizeof doc - 1, f);
  fclose(f);
  doc[m] = '\0';
  cr_assert(strstr(doc, table) != NULL,
            "docs/options.md is out of date; regenerate with `build/tiershim options --markdown`");
}
