/* libFuzzer target: the placement-rules parser (policy/rules.c). The input
 * is a rules file. Whatever it says, parsing must not crash, and:
 *  - every error names a line of the input (or 0, the whole file) and has
 *    a terminated message; a file with errors gives no rules;
 *  - without errors, every rule is well-formed: a kind, a pattern of
 *    1..127 bytes without whitespace, min < max, at least one action, tier
 *    and thp in range, lines ascending, at most 64 rules;
 *  - formatting the rules and parsing the result gives the same rules;
 *  - a pattern matches its own text (each byte matches itself, '?' any
 *    byte, '*' a run), so lookup with that name and the rule's minimum size
 *    finds this rule or an earlier one. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "policy/rules.h"

#define MAX_ERRS 32

static bool same_rule(const ts_rule_t *a, const ts_rule_t *b) {
  return a->kind == b->kind && strcmp(a->pattern, b->pattern) == 0 && a->min == b->min && a->max == b->max &&
         a->tier == b->tier && a->nweights == b->nweights &&
         memcmp(a->weights, b->weights, (size_t)a->nweights) == 0 && a->thp == b->thp;
}

static void check_rule(const ts_rule_t *r, int lines, int prev_line) {
  if (r->kind != TS_RULE_ANY && r->kind != TS_RULE_SYM && r->kind != TS_RULE_LIB) abort();
  size_t n = strnlen(r->pattern, TS_RULE_PAT_MAX);
  if (n == 0 || n >= TS_RULE_PAT_MAX) abort();
  for (size_t i = 0; i < n; i++)
    if ((unsigned char)r->pattern[i] <= ' ' || r->pattern[i] == 0x7f) abort();
  if (r->kind == TS_RULE_ANY && strcmp(r->pattern, "*") != 0) abort();
  if (r->min >= r->max) abort();
  if (r->tier == TS_RULE_TIER_NONE && r->thp == TS_RULE_THP_NONE) abort();
  if (r->tier < TS_RULE_TIER_NONE || r->tier > 4 || r->thp < TS_RULE_THP_NONE || r->thp > TS_RULE_THP_COLLAPSE) abort();
  if (r->nweights < 0 || r->nweights > TS_RULE_WEIGHTS_MAX || (r->nweights > 0 && r->tier != 4)) abort();
  for (int i = 0; i < r->nweights; i++)
    if (r->weights[i] == 0) abort();
  if (r->line <= prev_line || r->line > lines) abort();
}

/* Format every rule, one per line, and parse that again. */
static void check_round_trip(const ts_rules_t *rs) {
  static char text[TS_RULES_MAX * (TS_RULES_LINE_MAX + 1)];
  static ts_rules_t again;
  static ts_rules_error_t errs[MAX_ERRS];
  size_t len = 0;
  for (int i = 0; i < rs->n; i++) {
    size_t n = ts_rule_format(&rs->rule[i], text + len, TS_RULES_LINE_MAX + 1);
    if (n > TS_RULES_LINE_MAX) abort();
    len += n;
    text[len++] = '\n';
  }
  if (ts_rules_parse(text, len, &again, errs, MAX_ERRS) != 0 || again.n != rs->n) abort();
  for (int i = 0; i < rs->n; i++)
    if (!same_rule(&again.rule[i], &rs->rule[i]) || again.rule[i].line != i + 1) abort();
}

static void check_match(const ts_rules_t *rs) {
  for (int i = 0; i < rs->n; i++) {
    const ts_rule_t *r = &rs->rule[i];
    if (!ts_glob_match(r->pattern, r->pattern)) abort();
    ts_frame_name_t f = {r->pattern, r->pattern};
    const ts_rule_t *m = ts_rules_match(rs, &f, 1, r->min);
    if (m == NULL || m > r) abort();
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static ts_rules_t rs;
  static ts_rules_error_t errs[MAX_ERRS];
  int lines = 0;
  for (size_t i = 0; i < size; i++) lines += data[i] == '\n';
  if (size > 0 && data[size - 1] != '\n') lines++;
  int nerrs = ts_rules_parse((const char *)data, size, &rs, errs, MAX_ERRS);
  if (nerrs < 0) abort();
  for (int i = 0; i < nerrs && i < MAX_ERRS; i++) {
    if (errs[i].line < 0 || errs[i].line > lines || (errs[i].line == 0 && size <= TS_RULES_FILE_MAX)) abort();
    if (i > 0 && errs[i].line < errs[i - 1].line) abort();
    if (!memchr(errs[i].msg, 0, sizeof errs[i].msg) || errs[i].msg[0] == '\0') abort();
  }
  if (nerrs > 0) {
    if (rs.n != 0) abort();
    return 0;
  }
  if (rs.n < 0 || rs.n > TS_RULES_MAX) abort();
  for (int i = 0; i < rs.n; i++) check_rule(&rs.rule[i], lines, i > 0 ? rs.rule[i - 1].line : 0);
  check_round_trip(&rs);
  check_match(&rs);
  return 0;
}
