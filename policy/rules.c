/* Placement rules: the parser, the glob matcher and rule lookup; see
 * rules.h and docs/rules.md.
 *
 * This runs inside the shim's initialisation: no malloc, no stdio, no errno
 * (strerror is out too: it may load a message catalogue). A line is cut into
 * whitespace-separated tokens that point into the caller's text, so nothing
 * is copied until a rule is known to be good. Every token is checked on its
 * own, so one line can report several problems; the only problems not
 * reported are consequences of another ("no action" after a bad one). */
#define _GNU_SOURCE
#include "policy/rules.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <strings.h>

#include "base/buf.h"
#include "base/options.h"
#include "base/prim.h"

#define RULES_QUOTE_MAX 48 /* of a token quoted in a message */
#define RULES_SIZE_TEXT 32 /* a size's text, copied to NUL-terminate it */
#define RULES_MSG_POST 96  /* ": MIN <ts_parse_size's reason>" */

/* A run of the caller's text: not NUL-terminated. */
typedef struct rules_tok_s {
  const char *p;
  size_t n;
} rules_tok_t;

/* Fields seen on a line: each at most once. */
enum { RULES_SEEN_SIZE = 1, RULES_SEEN_TIER = 2, RULES_SEEN_THP = 4 };

typedef struct rules_ctx_s {
  ts_rules_t *out;
  ts_rules_error_t *errs;
  int max_errs;
  int nerrs;
  int line;          /* the current line, 1-based */
  int line_errs;     /* errors on the current line */
  int nrules;        /* good rules so far, past TS_RULES_MAX too */
} rules_ctx_t;

static const char *const rules_thp_names[3] = {"off", "on", "collapse"};

/* ---------------------------------------------------------------------------
   Tokens and messages
--------------------------------------------------------------------------- */

static bool rules_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f'; }

/* Is t exactly the word w? */
static bool rules_is(rules_tok_t t, const char *w) { return t.n == strlen(w) && memcmp(t.p, w, t.n) == 0; }

/* Does t start with w? */
static bool rules_starts(rules_tok_t t, const char *w) {
  size_t n = strlen(w);
  return t.n >= n && memcmp(t.p, w, n) == 0;
}

static rules_tok_t rules_after(rules_tok_t t, size_t k) { return (rules_tok_t){t.p + k, t.n - k}; }

/* The next token of [*pp, end), or false at the end of the line or at a
 * comment ('#' starting a token). */
static bool rules_next(const char **pp, const char *end, rules_tok_t *t) {
  const char *p = *pp;
  while (p < end && rules_space(*p)) p++;
  if (p == end || *p == '#') { *pp = end; return false; }
  const char *s = p;
  while (p < end && !rules_space(*p)) p++;
  *pp = p;
  *t = (rules_tok_t){s, (size_t)(p - s)};
  return true;
}

/* 'token', shortened past RULES_QUOTE_MAX: enough to find it on the line. */
static void rules_put_quoted(ts_buf_t *b, rules_tok_t t) {
  ts_buf_putc(b, '\'');
  ts_buf_putn(b, t.p, t.n > RULES_QUOTE_MAX ? RULES_QUOTE_MAX : t.n);
  if (t.n > RULES_QUOTE_MAX) ts_buf_puts(b, "...");
  ts_buf_putc(b, '\'');
}

/* Counts an error and stores it while there is room: "<pre>'<tok>'<post>"
 * (no quote when tok is NULL). */
static void rules_fail(rules_ctx_t *c, const char *pre, const rules_tok_t *tok, const char *post) {
  c->line_errs++;
  if (c->nerrs++ >= c->max_errs) return;
  ts_rules_error_t *e = &c->errs[c->nerrs - 1];
  e->line = c->line;
  ts_buf_t b;
  ts_buf_init(&b, e->msg, sizeof e->msg);
  ts_buf_puts(&b, pre);
  if (tok != NULL) rules_put_quoted(&b, *tok);
  ts_buf_puts(&b, post);
}

/* As rules_fail, with a number after pre: "line too long (600 chars...". */
static void rules_fail_num(rules_ctx_t *c, const char *pre, uint64_t v, const char *post) {
  char num[64];
  ts_buf_t b;
  ts_buf_init(&b, num, sizeof num);
  ts_buf_puts(&b, pre);
  ts_buf_u64(&b, v);
  rules_fail(c, num, NULL, post);
}

/* ---------------------------------------------------------------------------
   Fields
--------------------------------------------------------------------------- */

/* sym:GLOB, lib:GLOB or *. False if t is not a pattern at all (the caller
 * then says what it is). */
static bool rules_pattern(rules_ctx_t *c, rules_tok_t t, ts_rule_t *r) {
  rules_tok_t glob;
  if (rules_is(t, "*")) { r->kind = TS_RULE_ANY; glob = t; }
  else if (rules_starts(t, "sym:")) { r->kind = TS_RULE_SYM; glob = rules_after(t, 4); }
  else if (rules_starts(t, "lib:")) { r->kind = TS_RULE_LIB; glob = rules_after(t, 4); }
  else return false;
  if (glob.n == 0) rules_fail(c, "empty glob in ", &t, " (sym: and lib: want a name or a glob)");
  else if (glob.n >= TS_RULE_PAT_MAX) rules_fail_num(c, "pattern too long (", glob.n, " chars, at most 127)");
  else { memcpy(r->pattern, glob.p, glob.n); r->pattern[glob.n] = '\0'; }
  return true;
}

/* One side of size=MIN..MAX; empty is fine (the caller keeps the default). */
static bool rules_size_side(rules_ctx_t *c, rules_tok_t whole, rules_tok_t side, const char *which, size_t *v) {
  if (side.n == 0) return true;
  char text[RULES_SIZE_TEXT];
  const char *why = "too long";
  if (side.n < sizeof text) {
    memcpy(text, side.p, side.n);
    text[side.n] = '\0';
    why = ts_parse_size(text, 0, SIZE_MAX, v);
  }
  if (why == NULL) return true;
  char post[RULES_MSG_POST];
  ts_buf_t b;
  ts_buf_init(&b, post, sizeof post);
  ts_buf_puts(&b, ": ");
  ts_buf_puts(&b, which);
  ts_buf_puts(&b, " ");
  ts_buf_puts(&b, why);
  rules_fail(c, "bad size ", &whole, post);
  return false;
}

/* size=MIN..MAX, either side empty: [MIN, MAX). */
static void rules_size(rules_ctx_t *c, rules_tok_t t, ts_rule_t *r) {
  rules_tok_t v = rules_after(t, 5);
  const char *dots = v.n >= 2 ? memmem(v.p, v.n, "..", 2) : NULL;
  if (dots == NULL) {
    rules_fail(c, "bad size ", &t, " (expected size=MIN..MAX, e.g. size=1M.. or size=..64K)");
    return;
  }
  rules_tok_t lo = {v.p, (size_t)(dots - v.p)}, hi = {dots + 2, v.n - lo.n - 2};
  if (lo.n == 0 && hi.n == 0) {
    rules_fail(c, "bad size ", &t, " (give MIN, MAX or both: size=1M.., size=..64K)");
    return;
  }
  size_t min = 0, max = SIZE_MAX;
  bool ok = rules_size_side(c, t, lo, "MIN", &min);
  ok = rules_size_side(c, t, hi, "MAX", &max) && ok;
  if (!ok) return;
  if (min >= max) { rules_fail(c, "empty size range ", &t, " (MIN is inclusive, MAX exclusive: MIN < MAX)"); return; }
  r->min = min;
  r->max = max;
}

/* W,W,...: each 1-255, at most TS_RULE_WEIGHTS_MAX. */
static void rules_weights(rules_ctx_t *c, rules_tok_t t, rules_tok_t w, ts_rule_t *r) {
  int n = 0;
  size_t i = 0;
  for (;;) {
    unsigned v = 0, digits = 0;
    for (; i < w.n && w.p[i] >= '0' && w.p[i] <= '9'; i++, digits++)
      if (v <= 255) v = v * 10 + (unsigned)(w.p[i] - '0');
    if (digits == 0 || v < 1 || v > 255) { rules_fail(c, "bad weights ", &t, " (each 1-255, separated by commas)"); return; }
    if (n == TS_RULE_WEIGHTS_MAX) { rules_fail(c, "too many weights in ", &t, " (at most 64)"); return; }
    r->weights[n++] = (unsigned char)v;
    if (i == w.n) break;
    if (w.p[i++] != ',') { rules_fail(c, "bad weights ", &t, " (each 1-255, separated by commas)"); return; }
  }
  r->nweights = n;
  r->tier = TS_BULK_WEIGHTED;
}

/* tier=fast|slow|interleave|default|weighted[:W,...], as TIERSHIM_BULK. */
static void rules_tier(rules_ctx_t *c, rules_tok_t t, ts_rule_t *r) {
  rules_tok_t v = rules_after(t, 5);
  for (int m = 0; m < 5; m++)
    if (v.n == strlen(ts_bulk_names[m]) && strncasecmp(v.p, ts_bulk_names[m], v.n) == 0) {
      r->tier = m;
      return;
    }
  if (v.n >= 9 && strncasecmp(v.p, "weighted:", 9) == 0) { rules_weights(c, t, rules_after(v, 9), r); return; }
  rules_fail(c, "unknown tier ", &t, " (expected fast, slow, interleave, default or weighted[:W,...])");
}

/* thp=on|off|collapse. */
static void rules_thp(rules_ctx_t *c, rules_tok_t t, ts_rule_t *r) {
  rules_tok_t v = rules_after(t, 4);
  for (int m = 0; m < 3; m++)
    if (v.n == strlen(rules_thp_names[m]) && strncasecmp(v.p, rules_thp_names[m], v.n) == 0) {
      r->thp = m;
      return;
    }
  rules_fail(c, "unknown thp ", &t, " (expected on, off or collapse)");
}

/* Is t a field (size=, tier=, thp=)? Then it is parsed into r once. */
static bool rules_field(rules_ctx_t *c, rules_tok_t t, ts_rule_t *r, unsigned *seen) {
  unsigned bit;
  if (rules_starts(t, "size=")) bit = RULES_SEEN_SIZE;
  else if (rules_starts(t, "tier=")) bit = RULES_SEEN_TIER;
  else if (rules_starts(t, "thp=")) bit = RULES_SEEN_THP;
  else return false;
  if (*seen & bit) { rules_fail(c, "duplicate ", &t, " (each of size=, tier= and thp= at most once)"); return true; }
  *seen |= bit;
  if (bit == RULES_SEEN_SIZE) rules_size(c, t, r);
  else if (bit == RULES_SEEN_TIER) rules_tier(c, t, r);
  else rules_thp(c, t, r);
  return true;
}

/* A token after the pattern that is no field. */
static void rules_unknown(rules_ctx_t *c, rules_tok_t t) {
  if (memchr(t.p, '=', t.n) != NULL) rules_fail(c, "unknown action ", &t, " (expected tier=..., thp=... or size=...)");
  else rules_fail(c, "unexpected ", &t, " (expected size=..., tier=..., thp=... or a # comment)");
}

/* ---------------------------------------------------------------------------
   Lines
--------------------------------------------------------------------------- */

/* Control bytes other than whitespace: binary junk, or a NUL that would cut
 * a pattern short. */
static bool rules_check_bytes(rules_ctx_t *c, const char *p, size_t n) {
  for (size_t i = 0; i < n; i++) {
    unsigned char ch = (unsigned char)p[i];
    if ((ch < 0x20 && !rules_space((char)ch)) || ch == 0x7f) {
      rules_fail_num(c, "control character (byte ", ch, ") in the line");
      return false;
    }
  }
  return true;
}

static void rules_add(rules_ctx_t *c, const ts_rule_t *r) {
  if (++c->nrules == TS_RULES_MAX + 1) rules_fail(c, "a 65th rule (at most 64 per file)", NULL, "");
  if (c->out->n < TS_RULES_MAX) c->out->rule[c->out->n++] = *r;
}

static void rules_line(rules_ctx_t *c, const char *p, size_t n) {
  c->line_errs = 0;
  if (n > TS_RULES_LINE_MAX) { rules_fail_num(c, "line too long (", n, " chars, at most 512)"); return; }
  if (!rules_check_bytes(c, p, n)) return;
  const char *end = p + n;
  rules_tok_t t;
  if (!rules_next(&p, end, &t)) return; /* blank or comment */
  ts_rule_t r = {.min = 0, .max = SIZE_MAX, .tier = TS_RULE_TIER_NONE, .thp = TS_RULE_THP_NONE, .line = c->line};
  unsigned seen = 0;
  if (!rules_pattern(c, t, &r)) {
    /* A rule starting with a field forgot its pattern: check the field too. */
    bool field = rules_starts(t, "size=") || rules_starts(t, "tier=") || rules_starts(t, "thp=");
    if (field) rules_fail(c, "missing pattern before ", &t, " (a rule starts with sym:GLOB, lib:GLOB or *)");
    else rules_fail(c, "bad pattern ", &t, " (expected sym:GLOB, lib:GLOB or *)");
    if (field) rules_field(c, t, &r, &seen);
  }
  while (rules_next(&p, end, &t))
    if (!rules_field(c, t, &r, &seen)) rules_unknown(c, t);
  if (c->line_errs > 0) return;
  if (r.tier == TS_RULE_TIER_NONE && r.thp == TS_RULE_THP_NONE) {
    rules_fail(c, "no action (add tier=... or thp=...)", NULL, "");
    return;
  }
  rules_add(c, &r);
}

int ts_rules_parse(const char *text, size_t len, ts_rules_t *out, ts_rules_error_t *errs, int max_errs) {
  rules_ctx_t c = {.out = out, .errs = errs, .max_errs = errs != NULL && max_errs > 0 ? max_errs : 0};
  out->n = 0;
  if (len > TS_RULES_FILE_MAX) {
    rules_fail_num(&c, "file too large (", len, " bytes, at most 64 KiB)");
    return c.nerrs;
  }
  if (text == NULL || len == 0) return 0;
  const char *p = text, *end = text + len;
  while (p < end) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    const char *eol = nl != NULL ? nl : end;
    c.line++;
    rules_line(&c, p, (size_t)(eol - p));
    p = nl != NULL ? nl + 1 : end;
  }
  if (c.nerrs > 0) out->n = 0; /* all or nothing */
  return c.nerrs;
}

/* ---------------------------------------------------------------------------
   Files
--------------------------------------------------------------------------- */

/* strerror's words for what opening a file can fail with. */
static const char *rules_errno_text(int err) {
  switch (err) {
  case ENOENT: return "no such file";
  case EACCES: return "permission denied";
  case EISDIR: return "is a directory";
  case ENOTDIR: return "a directory in the path is not one";
  case ELOOP: return "too many symbolic links";
  case ENAMETOOLONG: return "file name too long";
  case EFBIG: return "larger than 64 KiB (the limit)";
  case EINVAL: return "not a regular file";
  default: return NULL;
  }
}

static int rules_load_fail(int err, ts_rules_error_t *errs, int max_errs) {
  if (errs == NULL || max_errs <= 0) return -err;
  errs[0].line = 0;
  ts_buf_t b;
  ts_buf_init(&b, errs[0].msg, sizeof errs[0].msg);
  const char *text = rules_errno_text(err);
  ts_buf_puts(&b, "cannot read: ");
  if (text != NULL) ts_buf_puts(&b, text);
  else { ts_buf_puts(&b, "errno "); ts_buf_u64(&b, (uint64_t)err); }
  return -err;
}

/* Reads up to cap - 1 bytes of fd and NUL-terminates them. */
static ssize_t rules_read_fd(int fd, char *buf, size_t cap) {
  size_t got = 0;
  while (got + 1 < cap) {
    long r = ts_prim_pread(fd, buf + got, cap - 1 - got, got);
    if (r == -EINTR) continue;
    if (r < 0) return r;
    if (r == 0) break;
    got += (size_t)r;
  }
  buf[got] = '\0';
  return (ssize_t)got;
}

int ts_rules_load(const char *path, ts_rules_t *out, ts_rules_error_t *errs, int max_errs) {
  /* One byte past the limit tells "too large" from "exactly 64 KiB", one
   * more for the NUL. Static: 64 KiB is too much stack for a thread that
   * may be inside malloc. */
  static char text[TS_RULES_FILE_MAX + 2];
  out->n = 0;
  if (path == NULL || path[0] == '\0') return rules_load_fail(ENOENT, errs, max_errs);
  /* Only a regular file: a FIFO would block start-up until a writer came, a
   * directory reads as EISDIR, a device as anything. The type is checked
   * on the descriptor that is read, so a path swapped after the check
   * cannot be read; O_NONBLOCK keeps the open itself from waiting for a
   * FIFO's writer. Symlinks are followed, as before. */
  int fd = ts_prim_open(path, O_RDONLY | O_NONBLOCK, 0);
  if (fd < 0) return rules_load_fail(-fd, errs, max_errs);
  struct stat st;
  int err = ts_prim_fstat(fd, &st);
  ssize_t got = 0;
  if (err == 0 && S_ISDIR(st.st_mode)) err = -EISDIR;
  else if (err == 0 && !S_ISREG(st.st_mode)) err = -EINVAL;
  else if (err == 0) got = rules_read_fd(fd, text, sizeof text);
  ts_prim_close(fd);
  if (err == 0 && got < 0) err = (int)got;
  if (err != 0) return rules_load_fail(-err, errs, max_errs);
  if ((size_t)got > TS_RULES_FILE_MAX) return rules_load_fail(EFBIG, errs, max_errs);
  return ts_rules_parse(text, (size_t)got, out, errs, max_errs);
}

/* ---------------------------------------------------------------------------
   Matching
--------------------------------------------------------------------------- */

/* The classic two-pointer matcher: on a mismatch, go back to just after the
 * last '*' and let it swallow one more byte. Only the last star matters
 * (what an earlier star matched can never need to change), which is why
 * this is O(len(pat) * len(s)) instead of exponential. */
bool ts_glob_match(const char *pat, const char *s) {
  if (pat == NULL || s == NULL) return false;
  const char *star = NULL, *resume = NULL;
  while (*s != '\0') {
    if (*pat == '*') { star = ++pat; resume = s; continue; }
    if (*pat != '\0' && (*pat == '?' || *pat == *s)) { pat++; s++; continue; }
    if (star == NULL) return false;
    pat = star;
    s = ++resume;
  }
  while (*pat == '*') pat++;
  return *pat == '\0';
}

static bool rules_name_match(const char *pat, const char *name) {
  return name != NULL && name[0] != '\0' && ts_glob_match(pat, name);
}

static bool rules_frames_match(const ts_rule_t *r, const ts_frame_name_t *f, int nframes) {
  if (r->kind == TS_RULE_ANY) return true;
  for (int i = 0; i < nframes; i++)
    if (rules_name_match(r->pattern, r->kind == TS_RULE_SYM ? f[i].sym : f[i].lib)) return true;
  return false;
}

const ts_rule_t *ts_rules_match(const ts_rules_t *rs, const ts_frame_name_t *f, int nframes, size_t size) {
  if (rs == NULL) return NULL;
  if (f == NULL) nframes = 0;
  for (int i = 0; i < rs->n; i++) {
    const ts_rule_t *r = &rs->rule[i];
    /* max == SIZE_MAX is "no upper bound", so it takes SIZE_MAX itself. */
    if (size < r->min || (size >= r->max && r->max != SIZE_MAX)) continue;
    if (rules_frames_match(r, f, nframes)) return r;
  }
  return NULL;
}

/* ---------------------------------------------------------------------------
   Formatting
--------------------------------------------------------------------------- */

static void rules_put_tier(ts_buf_t *b, const ts_rule_t *r) {
  ts_buf_puts(b, " tier=");
  ts_buf_puts(b, ts_bulk_names[r->tier]);
  for (int i = 0; i < r->nweights; i++) {
    ts_buf_putc(b, i == 0 ? ':' : ',');
    ts_buf_u64(b, r->weights[i]);
  }
}

size_t ts_rule_format(const ts_rule_t *r, char *buf, size_t cap) {
  ts_buf_t b;
  ts_buf_init(&b, buf, cap);
  if (r->kind == TS_RULE_SYM) ts_buf_puts(&b, "sym:");
  if (r->kind == TS_RULE_LIB) ts_buf_puts(&b, "lib:");
  ts_buf_puts(&b, r->kind == TS_RULE_ANY ? "*" : r->pattern);
  if (r->min != 0 || r->max != SIZE_MAX) {
    ts_buf_puts(&b, " size=");
    if (r->min != 0) ts_buf_size(&b, r->min);
    ts_buf_puts(&b, "..");
    if (r->max != SIZE_MAX) ts_buf_size(&b, r->max);
  }
  if (r->tier >= TS_BULK_DEFAULT && r->tier <= TS_BULK_WEIGHTED) rules_put_tier(&b, r);
  if (r->thp >= TS_RULE_THP_OFF && r->thp <= TS_RULE_THP_COLLAPSE) {
    ts_buf_puts(&b, " thp=");
    ts_buf_puts(&b, rules_thp_names[r->thp]);
  }
  return b.need;
}
