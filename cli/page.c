/* Reading live-stats pages; see page.h. */
#define _GNU_SOURCE
#include "cli/page.h"

#include "base/procfs.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

const char *ts_page_status_str(ts_page_status_t st) {
  switch (st) {
  case TS_PAGE_OK: return "ok";
  case TS_PAGE_NONE: return "no live-stats page (not under tiershim, TIERSHIM_PUBLISH=0, or not running)";
  case TS_PAGE_DENIED: return "its live-stats page is not readable by this user (another uid's: run as root)";
  case TS_PAGE_STALE: return "its live-stats page is stale (the process has gone); removed";
  case TS_PAGE_BAD: return "its live-stats page has a layout this tiershim does not know";
  }
  return "?";
}

static uint64_t now_ns(clockid_t id) {
  struct timespec ts;
  clock_gettime(id, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Is the page's process the one that wrote it? Gone (ESRCH), a later
 * process of the same pid (another start time), or the same process after
 * an exec into a program that does not map the page (its maps do not name
 * it) means stale. What cannot be read (another uid's /proc) counts as
 * alive. */
static bool page_alive(const ts_pub_header_t *h, const char *path) {
  /* A writer in another pid namespace (a container sharing /dev/shm) wrote
   * a pid this reader cannot look up: never judged, never removed. */
  struct stat ns;
  if (h->pidns != 0 && stat("/proc/self/ns/pid", &ns) == 0 && (uint64_t)ns.st_ino != h->pidns) return true;
  if (kill(h->pid, 0) != 0 && errno == ESRCH) return false;
  char proc[64], buf[4096];
  snprintf(proc, sizeof proc, "/proc/%d/stat", (int)h->pid);
  FILE *f = fopen(proc, "re");
  if (f == NULL) return errno != ENOENT;
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = '\0';
  if (n > 0 && ts_procfs_start_ticks(buf) != h->start_ticks) return false;
  snprintf(proc, sizeof proc, "/proc/%d/maps", (int)h->pid);
  f = fopen(proc, "re");
  if (f == NULL) return true;
  char *line = NULL;
  size_t cap = 0;
  bool mapped = false, any = false;
  size_t plen = strlen(path);
  while (!mapped && getline(&line, &cap, f) > 0) {
    any = true;
    char *p = strstr(line, path);
    mapped = p != NULL && (p[plen] == '\n' || p[plen] == ' ' || p[plen] == '\0');
  }
  free(line);
  fclose(f);
  return mapped || !any; /* an unreadable maps (EACCES on read) says nothing */
}

/* The sequence lock, reader's side (publish.c has the writer's): an even
 * sequence, the copies, an acquire fence, the same sequence again. */
static bool page_copy(const volatile char *base, size_t size, ts_page_t *out) {
  const ts_pub_header_t *h = (const ts_pub_header_t *)base;
  for (int tries = 0; tries < 2000; tries++) {
    uint64_t s1 = __atomic_load_n(&h->seq, __ATOMIC_ACQUIRE);
    if (s1 & 1) {
      struct timespec ts = {0, 500000};
      nanosleep(&ts, NULL);
      continue;
    }
    memcpy(&out->h, (const void *)base, sizeof out->h);
    ts_pub_header_t *c = &out->h;
    bool sane = c->json_off >= sizeof *c && c->json_len < TS_PUB_JSON_MAX && c->text_off >= sizeof *c &&
                c->text_len < TS_PUB_TEXT_MAX && (size_t)c->json_off + c->json_len < size &&
                (size_t)c->text_off + c->text_len < size;
    if (sane) {
      memcpy(out->json, (const void *)(base + c->json_off), c->json_len);
      out->json[c->json_len] = '\0';
      memcpy(out->text, (const void *)(base + c->text_off), c->text_len);
      out->text[c->text_len] = '\0';
    }
    __atomic_thread_fence(__ATOMIC_ACQUIRE);
    uint64_t s2 = __atomic_load_n(&h->seq, __ATOMIC_RELAXED);
    if (s1 == s2) return sane;
  }
  return false;
}

ts_page_status_t ts_page_read(const char *path, ts_page_t *out) {
  memset(out, 0, sizeof *out);
  snprintf(out->path, sizeof out->path, "%s", path);
  int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return errno == EACCES || errno == EPERM ? TS_PAGE_DENIED : TS_PAGE_NONE;
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || (size_t)st.st_size < TS_PUB_HEADER) {
    close(fd);
    return TS_PAGE_BAD;
  }
  size_t size = (size_t)st.st_size;
  void *m = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
  close(fd);
  if (m == MAP_FAILED) return TS_PAGE_BAD;
  const ts_pub_header_t *h = m;
  ts_page_status_t st_out = TS_PAGE_BAD;
  if (h->magic == TS_PUB_MAGIC && h->layout == TS_PUB_LAYOUT && h->header_size >= sizeof *h) {
    out->json = malloc(TS_PUB_JSON_MAX);
    out->text = malloc(TS_PUB_TEXT_MAX);
    if (out->json && out->text && page_copy(m, size, out)) st_out = TS_PAGE_OK;
  }
  munmap(m, size);
  if (st_out == TS_PAGE_OK && !page_alive(&out->h, path)) {
    (void)unlink(path); /* fails where the directory is not ours: fine */
    st_out = TS_PAGE_STALE;
  }
  if (st_out != TS_PAGE_OK) {
    ts_page_free(out);
    return st_out;
  }
  out->age_s = out->h.updated_mono_ns == 0 ? -1.0
               : (double)(int64_t)(now_ns(CLOCK_MONOTONIC) - out->h.updated_mono_ns) / 1e9;
  return TS_PAGE_OK;
}

void ts_page_free(ts_page_t *p) {
  free(p->json);
  free(p->text);
  p->json = p->text = NULL;
}

/* The directories to look in: the caller's uid's, then (root) the rest. */
static int page_dirs(char ***out) {
  int n = 0;
  char **v = NULL;
  char own[64];
  snprintf(own, sizeof own, TS_PUB_PREFIX "%u", (unsigned)geteuid());
  v = realloc(v, sizeof *v * (size_t)(n + 1));
  v[n++] = strdup(own);
  DIR *d = geteuid() == 0 ? opendir(TS_PUB_ROOT) : NULL;
  for (struct dirent *e; d != NULL && (e = readdir(d)) != NULL;) {
    if (strncmp(e->d_name, TS_PUB_PREFIX, strlen(TS_PUB_PREFIX)) != 0 || strcmp(e->d_name, own) == 0) continue;
    v = realloc(v, sizeof *v * (size_t)(n + 1));
    v[n++] = strdup(e->d_name);
  }
  if (d) closedir(d);
  *out = v;
  return n;
}

ts_page_status_t ts_page_read_pid(int pid, ts_page_t *out) {
  char **dirs;
  int nd = page_dirs(&dirs);
  ts_page_status_t best = TS_PAGE_NONE;
  for (int i = 0; i < nd; i++) {
    char path[128];
    snprintf(path, sizeof path, TS_PUB_ROOT "/%s/%d", dirs[i], pid);
    ts_page_status_t st = best == TS_PAGE_OK ? TS_PAGE_NONE : ts_page_read(path, out);
    if (st == TS_PAGE_OK || best == TS_PAGE_NONE) best = st;
  }
  /* Not root: another uid's directory cannot be listed; its page is there
   * only if a directory of another uid holds it, which stat can tell. */
  if (best == TS_PAGE_NONE && geteuid() != 0) {
    char proc[64];
    struct stat st;
    snprintf(proc, sizeof proc, "/proc/%d", pid);
    if (stat(proc, &st) == 0 && st.st_uid != geteuid()) {
      char path[128];
      snprintf(path, sizeof path, TS_PUB_ROOT "/" TS_PUB_PREFIX "%u/%d", (unsigned)st.st_uid, pid);
      if (lstat(path, &st) == 0 || errno == EACCES) best = TS_PAGE_DENIED;
    }
  }
  for (int i = 0; i < nd; i++) free(dirs[i]);
  free(dirs);
  return best;
}

int ts_page_read_all(ts_page_t **out) {
  char **dirs;
  int nd = page_dirs(&dirs), n = 0;
  ts_page_t *v = NULL;
  for (int i = 0; i < nd; i++) {
    char dpath[128];
    snprintf(dpath, sizeof dpath, TS_PUB_ROOT "/%s", dirs[i]);
    DIR *d = opendir(dpath);
    for (struct dirent *e; d != NULL && (e = readdir(d)) != NULL;) {
      char *end;
      long pid = strtol(e->d_name, &end, 10);
      if (*end != '\0' || pid <= 0 || e->d_name[0] == '0') continue;
      char path[400];
      snprintf(path, sizeof path, "%s/%s", dpath, e->d_name);
      ts_page_t p;
      if (ts_page_read(path, &p) != TS_PAGE_OK) continue;
      v = realloc(v, sizeof *v * (size_t)(n + 1));
      v[n++] = p;
    }
    if (d) closedir(d);
    free(dirs[i]);
  }
  free(dirs);
  *out = v;
  return n;
}

void ts_page_free_all(ts_page_t *pages, int n) {
  for (int i = 0; i < n; i++) ts_page_free(&pages[i]);
  free(pages);
}

/* ---- JSON ------------------------------------------------------------------ */

typedef struct jp_s {
  const char *s;
  ts_jdoc_t *doc;
  char path[512];
} jp_t;

static void jp_ws(jp_t *p) { while (*p->s && isspace((unsigned char)*p->s)) p->s++; }

static void jp_add(jp_t *p, ts_jv_type_t type, char *raw, double num) {
  ts_jdoc_t *d = p->doc;
  if (d->n == d->cap) {
    d->cap = d->cap ? d->cap * 2 : 256;
    d->v = realloc(d->v, sizeof *d->v * (size_t)d->cap);
  }
  d->v[d->n++] = (ts_jv_t){strdup(p->path), type, raw, num};
}

static char *jp_string(jp_t *p) {
  if (*p->s != '"') return NULL;
  p->s++;
  size_t cap = 64, n = 0;
  char *out = malloc(cap);
  while (*p->s && *p->s != '"') {
    char c = *p->s++;
    if (c == '\\') {
      c = *p->s++;
      switch (c) {
      case 'n': c = '\n'; break;
      case 't': c = '\t'; break;
      case 'r': c = '\r'; break;
      case 'b': c = '\b'; break;
      case 'f': c = '\f'; break;
      case 'u': {
        unsigned v = 0;
        for (int i = 0; i < 4 && isxdigit((unsigned char)*p->s); i++, p->s++)
          v = v * 16 + (unsigned)(isdigit((unsigned char)*p->s) ? *p->s - '0' : (tolower(*p->s) - 'a' + 10));
        c = v < 0x80 ? (char)v : '?';
        break;
      }
      case '\0': free(out); return NULL;
      default: break; /* \" \\ \/ */
      }
    }
    if (n + 2 > cap) out = realloc(out, cap *= 2);
    out[n++] = c;
  }
  if (*p->s != '"') { free(out); return NULL; }
  p->s++;
  out[n] = '\0';
  return out;
}

static bool jp_value(jp_t *p, int depth);

static bool jp_child(jp_t *p, const char *key, int depth) {
  size_t len = strlen(p->path);
  if (len + strlen(key) + 2 >= sizeof p->path) return false;
  if (len) strcat(p->path, ".");
  strcat(p->path, key);
  bool ok = jp_value(p, depth + 1);
  p->path[len] = '\0';
  return ok;
}

static bool jp_value(jp_t *p, int depth) {
  if (depth > 32) return false;
  jp_ws(p);
  char c = *p->s;
  if (c == '{' || c == '[') {
    p->s++;
    jp_ws(p);
    char close = c == '{' ? '}' : ']';
    if (*p->s == close) { p->s++; return true; }
    for (int i = 0;; i++) {
      jp_ws(p);
      char idx[24], *key = idx;
      if (c == '{') {
        if ((key = jp_string(p)) == NULL) return false;
        jp_ws(p);
        if (*p->s++ != ':') { free(key); return false; }
      } else {
        snprintf(idx, sizeof idx, "%d", i);
      }
      bool ok = jp_child(p, key, depth);
      if (key != idx) free(key);
      if (!ok) return false;
      jp_ws(p);
      if (*p->s == ',') { p->s++; continue; }
      if (*p->s == close) { p->s++; return true; }
      return false;
    }
  }
  if (c == '"') {
    char *v = jp_string(p);
    if (v == NULL) return false;
    jp_add(p, TS_JV_STR, v, 0);
    return true;
  }
  static const struct { const char *w; ts_jv_type_t t; double v; } words[] = {
      {"true", TS_JV_BOOL, 1}, {"false", TS_JV_BOOL, 0}, {"null", TS_JV_NULL, 0}};
  for (size_t i = 0; i < 3; i++)
    if (strncmp(p->s, words[i].w, strlen(words[i].w)) == 0) {
      p->s += strlen(words[i].w);
      jp_add(p, words[i].t, strdup(words[i].w), words[i].v);
      return true;
    }
  char *end;
  double v = strtod(p->s, &end);
  if (end == p->s) return false;
  jp_add(p, TS_JV_NUM, strndup(p->s, (size_t)(end - p->s)), v);
  p->s = end;
  return true;
}

bool ts_json_flatten(const char *text, ts_jdoc_t *doc) {
  memset(doc, 0, sizeof *doc);
  jp_t p = {.s = text, .doc = doc};
  bool ok = jp_value(&p, 0);
  jp_ws(&p);
  return ok && *p.s == '\0';
}

const ts_jv_t *ts_json_get(const ts_jdoc_t *doc, const char *path) {
  for (int i = 0; i < doc->n; i++)
    if (strcmp(doc->v[i].path, path) == 0) return &doc->v[i];
  return NULL;
}

double ts_json_num(const ts_jdoc_t *doc, const char *path, double dflt) {
  const ts_jv_t *v = ts_json_get(doc, path);
  return v && (v->type == TS_JV_NUM || v->type == TS_JV_BOOL) ? v->num : dflt;
}

void ts_json_free(ts_jdoc_t *doc) {
  for (int i = 0; i < doc->n; i++) {
    free(doc->v[i].path);
    free(doc->v[i].raw);
  }
  free(doc->v);
  memset(doc, 0, sizeof *doc);
}

const char *ts_fmt_bytes(double b, char *buf, size_t cap) {
  static const char *const unit[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  while (b >= 1024 && u < 4) { b /= 1024; u++; }
  snprintf(buf, cap, u == 0 ? "%.0f %s" : "%.1f %s", b, unit[u]);
  return buf;
}

double ts_parse_interval(const char *s) {
  char *end;
  double v = strtod(s, &end);
  return (end != s && *end == '\0' && v > 0 && v <= 86400) ? v : -1;
}

int ts_cli_usage(const char *cmd, const char *usage, const char *problem, const char *arg) {
  fprintf(stderr, "tiershim %s: ", cmd);
  fprintf(stderr, problem, arg);
  fprintf(stderr, "\n%s", usage);
  return 2;
}
