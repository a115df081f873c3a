/* A parser for flat JSON objects (string, number, true/false/null values),
 * enough to read the stats document back. Strict: any syntax error fails. */
#ifndef TS_TEST_MINIJSON_H
#define TS_TEST_MINIJSON_H

#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MJ_MAX 96

typedef enum { MJ_NUM, MJ_STR, MJ_BOOL, MJ_NULL } mj_type_t;

typedef struct {
  char key[96];
  mj_type_t type;
  double num;
  char str[128];
  bool b;
} mj_item_t;

typedef struct {
  int n;
  mj_item_t item[MJ_MAX];
} mj_doc_t;

static const char *mj_ws(const char *p) { while (isspace((unsigned char)*p)) p++; return p; }

static const char *mj_string(const char *p, char *out, size_t cap) {
  if (*p++ != '"') return NULL;
  size_t n = 0;
  while (*p && *p != '"') {
    if (*p == '\\') p++;
    if (n + 1 < cap) out[n++] = *p;
    p++;
  }
  out[n] = '\0';
  return *p == '"' ? p + 1 : NULL;
}

/* Parses one object at p; nested objects (one level) are flattened into
 * "outer.inner" keys. Returns the position after it, or NULL. */
static const char *mj_object(const char *p, mj_doc_t *doc, const char *prefix) {
  p = mj_ws(p);
  if (*p++ != '{') return NULL;
  for (;;) {
    p = mj_ws(p);
    if (*p == '}') break;
    if (doc->n == MJ_MAX) return NULL;
    mj_item_t *it = &doc->item[doc->n++];
    char key[64];
    if (!(p = mj_string(p, key, sizeof key))) return NULL;
    snprintf(it->key, sizeof it->key, "%s%s", prefix, key);
    p = mj_ws(p);
    if (*p++ != ':') return NULL;
    p = mj_ws(p);
    if (*p == '{' && prefix[0] == '\0') {
      char inner[80];
      snprintf(inner, sizeof inner, "%s.", key);
      doc->n--;
      if (!(p = mj_object(p, doc, inner))) return NULL;
    } else if (*p == '"') { it->type = MJ_STR; if (!(p = mj_string(p, it->str, sizeof it->str))) return NULL; }
    else if (!strncmp(p, "true", 4)) { it->type = MJ_BOOL; it->b = true; p += 4; }
    else if (!strncmp(p, "false", 5)) { it->type = MJ_BOOL; it->b = false; p += 5; }
    else if (!strncmp(p, "null", 4)) { it->type = MJ_NULL; p += 4; }
    else {
      char *end;
      it->type = MJ_NUM;
      it->num = strtod(p, &end);
      if (end == p) return NULL;
      p = end;
    }
    p = mj_ws(p);
    if (*p == ',') { p++; continue; }
    if (*p != '}') return NULL;
  }
  return p + 1;
}

/* Returns true when text is one object (flat, or with one level of nested
 * objects); fills doc. */
static bool mj_parse(const char *text, mj_doc_t *doc) {
  doc->n = 0;
  const char *end = mj_object(text, doc, "");
  return end != NULL && *mj_ws(end) == '\0';
}

static const mj_item_t *mj_get(const mj_doc_t *doc, const char *key) {
  for (int i = 0; i < doc->n; i++) if (!strcmp(doc->item[i].key, key)) return &doc->item[i];
  return NULL;
}

#endif
