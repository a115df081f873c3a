/* Placement rules (TIERSHIM_RULES=FILE): which tier and huge-page mode an
 * allocation gets, chosen by the symbols and libraries of its call stack
 * and by its size. One rule per line, the first that matches wins:
 *
 *   sym:llama_kv_cache*            tier=fast thp=on
 *   lib:libonnxruntime.so*  size=1M..  tier=slow
 *   *                        size=..64K   tier=fast
 *
 * docs/rules.md has the format, the matching and the error messages.
 *
 * The parser is a pure function of the text: no allocation, no stdio, no
 * errno, small stack frames, so the shim can run it during initialisation
 * inside malloc. A file with any error yields no rules at all (a half-read
 * rule set places memory in ways nobody wrote down). */
#ifndef TS_RULES_H
#define TS_RULES_H

#include <stdbool.h>
#include <stddef.h>

#define TS_RULES_MAX 64          /* rules per file */
#define TS_RULE_PAT_MAX 128      /* a glob: 1..127 chars, NUL-terminated */
#define TS_RULE_WEIGHTS_MAX 64   /* tier=weighted:W,...; as TS_NODES_MAX */
#define TS_RULES_LINE_MAX 512    /* chars per line, the newline excluded */
#define TS_RULES_FILE_MAX 65536  /* bytes per file */
#define TS_RULES_MSG 160

typedef enum { TS_RULE_ANY, TS_RULE_SYM, TS_RULE_LIB } ts_rule_kind_t;

/* tier: a ts_bulk_mode_t (base/options.h), or none. */
enum { TS_RULE_TIER_NONE = -1 };
enum { TS_RULE_THP_NONE = -1, TS_RULE_THP_OFF = 0, TS_RULE_THP_ON = 1, TS_RULE_THP_COLLAPSE = 2 };

typedef struct ts_rule_s {
  ts_rule_kind_t kind;
  char pattern[TS_RULE_PAT_MAX]; /* the glob after sym:/lib:, "*" for ANY */
  size_t min, max;               /* [min, max); max = SIZE_MAX when open */
  int tier;                      /* TS_RULE_TIER_NONE or a ts_bulk_mode_t */
  int nweights;                  /* tier=weighted:W,...; 0 = the kernel's weights */
  unsigned char weights[TS_RULE_WEIGHTS_MAX];
  int thp;                       /* TS_RULE_THP_* */
  int line;                      /* 1-based line in the file */
} ts_rule_t;

/* ~15 KiB: callers keep it static. */
typedef struct ts_rules_s {
  int n;
  ts_rule_t rule[TS_RULES_MAX];
} ts_rules_t;

typedef struct ts_rules_error_s {
  int line; /* 0: the whole file (cannot be read, too large) */
  char msg[TS_RULES_MSG];
} ts_rules_error_t;

/* Parses len bytes of text (need not be NUL-terminated). Returns the number
 * of errors found, all of them, though only the first max_errs are stored
 * in errs (which may be NULL when max_errs is 0). 0: out holds the rules;
 * otherwise out->n is 0. */
int ts_rules_parse(const char *text, size_t len, ts_rules_t *out, ts_rules_error_t *errs, int max_errs);

/* Reads path and parses it. When it cannot be read or is larger than
 * TS_RULES_FILE_MAX: returns -errno (-EFBIG when too large), out->n is 0 and
 * errs[0] (if max_errs > 0) says why, at line 0. Otherwise as
 * ts_rules_parse. Not reentrant: the file is read into one static buffer. */
int ts_rules_load(const char *path, ts_rules_t *out, ts_rules_error_t *errs, int max_errs);

/* Glob match of the whole of s: '*' any run of bytes (empty too), '?' one
 * byte, everything else itself (case-sensitive, no classes, no escapes).
 * O(len(pat) * len(s)) at worst, no recursion. NULL matches nothing. */
bool ts_glob_match(const char *pat, const char *s);

/* One frame of a call stack: its symbol (NULL or "" when unknown) and the
 * basename of the object it lies in ("libllama.so"; NULL or "" unknown). */
typedef struct ts_frame_name_s {
  const char *sym;
  const char *lib;
} ts_frame_name_t;

/* The first rule matching an allocation of size bytes made from frames, or
 * NULL. sym:/lib: rules match when any frame's known name matches: an
 * unknown name matches no glob, not even "*". */
const ts_rule_t *ts_rules_match(const ts_rules_t *r, const ts_frame_name_t *f, int nframes, size_t size);

/* The rule as one line of the file's syntax ("sym:llama_* size=1M.. tier=fast"),
 * normalised: parsing it gives the same rule. Returns the length (see buf.h). */
size_t ts_rule_format(const ts_rule_t *r, char *buf, size_t cap);

#endif
