/* tiershim rules check: parse a placement-rules file (TIERSHIM_RULES) with
 * the shim's own parser (policy/rules.c) and say what the shim would make
 * of it, before a long run finds out.
 *
 *   tiershim rules check FILE
 *
 * Good file: "FILE: N rules" and each rule as the parser understood it
 * (normalised: sizes in K/M/G, defaults left out), exit 0. Otherwise every
 * error as "FILE:LINE: problem" on stderr (compiler style, so editors can
 * jump to it), then the verdict, exit 1; 2 for usage errors. The CLI is not
 * the shim: stdio is fine here. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/rules.h"

#define EXIT_USAGE 2
#define RULES_CLI_ERRS 1000 /* every error a 64 KiB file of 512-char lines can hold, and more */

int ts_cli_rules(int argc, char **argv);

/* problem: a printf format taking arg. */
static int rules_usage(const char *problem, const char *arg) {
  fprintf(stderr, "tiershim rules: ");
  fprintf(stderr, problem, arg);
  fprintf(stderr, "\nusage: tiershim rules check FILE\n");
  return EXIT_USAGE;
}

static void rules_print(const char *path, const ts_rules_t *rs) {
  printf("%s: %d rule%s\n", path, rs->n, rs->n == 1 ? "" : "s");
  for (int i = 0; i < rs->n; i++) {
    char line[TS_RULES_LINE_MAX + 1];
    ts_rule_format(&rs->rule[i], line, sizeof line);
    printf("  line %d: %s\n", rs->rule[i].line, line);
  }
}

static int rules_check(const char *path) {
  static ts_rules_t rs;
  static ts_rules_error_t errs[RULES_CLI_ERRS];
  int n = ts_rules_load(path, &rs, errs, RULES_CLI_ERRS);
  if (n < 0) {
    fprintf(stderr, "%s: %s\n", path, errs[0].msg);
    return EXIT_FAILURE;
  }
  if (n == 0) {
    rules_print(path, &rs);
    return EXIT_SUCCESS;
  }
  for (int i = 0; i < n && i < RULES_CLI_ERRS; i++) fprintf(stderr, "%s:%d: %s\n", path, errs[i].line, errs[i].msg);
  if (n > RULES_CLI_ERRS) fprintf(stderr, "%s: %d more errors not shown\n", path, n - RULES_CLI_ERRS);
  fprintf(stderr, "%s: %d error%s; tiershim would run without rules\n", path, n, n == 1 ? "" : "s");
  return EXIT_FAILURE;
}

int ts_cli_rules(int argc, char **argv) {
  if (argc == 0) return rules_usage("missing subcommand%s", "");
  if (strcmp(argv[0], "check") != 0) return rules_usage("unknown subcommand '%s'", argv[0]);
  if (argc < 2) return rules_usage("check: missing FILE%s", "");
  if (argc > 2) return rules_usage("check: one FILE only, unexpected '%s'", argv[2]);
  return rules_check(argv[1]);
}
