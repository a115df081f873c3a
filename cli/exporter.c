/* tiershim exporter [--listen HOST:PORT]: the live stats of every tiershim
 * process this user may read (all of them for root) as Prometheus text
 * exposition (format 0.0.4) on GET /metrics. One thread, one request at a
 * time (poll, a 2 s limit per request): a scrape is cheap and rare.
 *
 * Names (docs/operations.md): a key of the stats document (docs/stats.md)
 * becomes tiershim_<key> at the top level and tiershim_<object>_<key> in
 * an object; counters get _total, milliseconds become _seconds, a ratio
 * _ratio. Labels: pid and comm on every series; the per-node and per-tier
 * arrays of "tiers" give tiershim_node_* {node, tier} and tiershim_tier_*
 * {tier}. Strings go to tiershim_info's labels. Callsites (profile.top)
 * are not exported: their labels would be unbounded. */
#define _GNU_SOURCE
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cli/page.h"

#define EXIT_USAGE 2

int ts_cli_exporter(int argc, char **argv);

#define EXP_USAGE "usage: tiershim exporter [--listen HOST:PORT]   (default 127.0.0.1:9464; port 0: any free one)\n"

static int exp_usage(const char *problem, const char *arg) { return ts_cli_usage("exporter", EXP_USAGE, problem, arg); }

/* Keys whose values go up and down (gauges); every other number is a
 * counter. Paths as flattened, arrays without their index. */
static const char *const exp_gauges[] = {
    "wall_seconds", "anon_rss_bytes", "anon_huge_bytes", "thp_coverage", "vma_count",
    "placement.regions", "placement.vma_count_regions", "placement.retained_bytes",
    "placement.region_rss_bytes", "placement.region_huge_bytes", "placement.region_live_bytes",
    "placement.region_committed_bytes", "placement.heap_thp_bytes", "placement.sparse_bytes",
    "placement.thp_grown", "placement.thp_grown_faults", "placement.thp_grown_rss",
    "tiers.hot_bound_bytes", "tiers.bulk_bound_bytes", "tiers.fast_reserve_bytes", "tiers.bulk_per_range",
    "migration.auto_promote", "migration.spilled_pending_bytes",
    "unmap.batch", "unmap.delay_ms", "unmap.scale", "unmap.kmod_flags", "unmap.lazy_limit", "unmap.lazy_pending",
    "profile.rules_loaded", "profile.callsites", "profile.sample", "profile.min_bytes",
    "node", "tier"};

/* Renames toward Prometheus's conventions (base units, no _count suffix
 * on what is not a histogram). */
static const struct { const char *key, *name; double scale; } exp_renames[] = {
    {"vma_count", "vmas", 1}, {"placement.vma_count_regions", "placement_region_vmas", 1},
    {"thp_coverage", "thp_coverage_ratio", 1}, {"unmap.delay_ms", "unmap_delay_seconds", 1e-3},
    {"unmap.lazy_limit", "unmap_lazy_limit_bytes", 1}, {"unmap.lazy_pending", "unmap_lazy_pending_bytes", 1},
    {"placement.thp_grown_rss", "placement_thp_grown_rss_bytes", 1},
    {"placement.thp_grown", "placement_thp_grown", 1}};

typedef struct exp_family_s {
  char *name, *help;
  bool counter;
  char *body;
  size_t len, cap;
} exp_family_t;

typedef struct exp_out_s {
  exp_family_t *f;
  int n, cap;
} exp_out_t;

static void exp_append(char **buf, size_t *len, size_t *cap, const char *fmt, ...) {
  va_list ap;
  for (;;) {
    va_start(ap, fmt);
    int need = vsnprintf(*buf ? *buf + *len : NULL, *buf ? *cap - *len : 0, fmt, ap);
    va_end(ap);
    if (*buf && (size_t)need < *cap - *len) { *len += (size_t)need; return; }
    *cap = (*cap + (size_t)need + 1) * 2;
    *buf = realloc(*buf, *cap);
  }
}

static exp_family_t *exp_family(exp_out_t *o, const char *name, bool counter, const char *help) {
  for (int i = 0; i < o->n; i++)
    if (strcmp(o->f[i].name, name) == 0) return &o->f[i];
  if (o->n == o->cap) o->f = realloc(o->f, sizeof *o->f * (size_t)(o->cap = o->cap ? o->cap * 2 : 128));
  o->f[o->n] = (exp_family_t){strdup(name), strdup(help), counter, NULL, 0, 0};
  return &o->f[o->n++];
}

/* A label value: backslash, double quote and newline escaped. */
static void exp_escape(const char *s, char *out, size_t cap) {
  size_t n = 0;
  for (; *s && n + 3 < cap; s++) {
    if (*s == '\\' || *s == '"') { out[n++] = '\\'; out[n++] = *s; }
    else if (*s == '\n') { out[n++] = '\\'; out[n++] = 'n'; }
    else out[n++] = *s;
  }
  out[n] = '\0';
}

static void exp_sample(exp_out_t *o, const char *name, bool counter, const char *help, const char *labels,
                       const char *value) {
  exp_family_t *f = exp_family(o, name, counter, help);
  exp_append(&f->body, &f->len, &f->cap, "%s{%s} %s\n", name, labels, value);
}

static bool exp_in(const char *const *list, size_t n, const char *key) {
  for (size_t i = 0; i < n; i++)
    if (strcmp(list[i], key) == 0) return true;
  return false;
}

/* One leaf of a process's document. */
static void exp_leaf(exp_out_t *o, const ts_jdoc_t *d, const ts_jv_t *v, const char *base_labels) {
  if (v->type == TS_JV_NULL || v->type == TS_JV_STR) return;
  char key[256], labels[512], name[300], help[400], value[64];
  snprintf(labels, sizeof labels, "%s", base_labels);
  const char *path = v->path;
  /* tiers.nodes.N.key and tiers.tiers.N.key: per node and per tier */
  int idx;
  char leaf[128];
  if (sscanf(path, "tiers.nodes.%d.%127s", &idx, leaf) == 2) {
    char k[96];
    snprintf(k, sizeof k, "tiers.nodes.%d.node", idx);
    double node = ts_json_num(d, k, -1);
    snprintf(k, sizeof k, "tiers.nodes.%d.tier", idx);
    double tier = ts_json_num(d, k, -1);
    if (strcmp(leaf, "node") == 0 || strcmp(leaf, "tier") == 0) return;
    snprintf(key, sizeof key, "node.%s", leaf);
    snprintf(labels, sizeof labels, "%s,node=\"%.0f\",tier=\"%.0f\"", base_labels, node, tier);
  } else if (sscanf(path, "tiers.tiers.%d.%127s", &idx, leaf) == 2) {
    if (strcmp(leaf, "index") == 0) return;
    snprintf(key, sizeof key, "tier.%s", leaf);
    snprintf(labels, sizeof labels, "%s,tier=\"%d\"", base_labels, idx);
  } else if (strncmp(path, "profile.top.", 12) == 0) {
    return;
  } else {
    snprintf(key, sizeof key, "%s", path);
  }
  const char *last = strrchr(key, '.');
  last = last ? last + 1 : key;
  bool gauge = v->type == TS_JV_BOOL || exp_in(exp_gauges, sizeof exp_gauges / sizeof *exp_gauges, key) ||
               strncmp(key, "node.", 5) == 0 || strncmp(key, "tier.", 5) == 0 || strcmp(last, "kernel_tier") == 0;
  double scale = 1;
  char stem[256];
  snprintf(stem, sizeof stem, "%s", key);
  for (char *c = stem; *c; c++)
    if (*c == '.') *c = '_';
  for (size_t i = 0; i < sizeof exp_renames / sizeof *exp_renames; i++)
    if (strcmp(exp_renames[i].key, key) == 0) {
      snprintf(stem, sizeof stem, "%s", exp_renames[i].name);
      scale = exp_renames[i].scale;
    }
  size_t sl = strlen(stem);
  bool has_total = sl > 6 && strcmp(stem + sl - 6, "_total") == 0;
  snprintf(name, sizeof name, "tiershim_%s%s", stem, !gauge && !has_total ? "_total" : "");
  snprintf(help, sizeof help, "tiershim live stats: %s%s (docs/stats.md)%s", strncmp(key, "node.", 5) == 0 || strncmp(key, "tier.", 5) == 0 ? "tiers." : "",
           key, scale != 1 ? ", in seconds" : "");
  if (scale != 1) snprintf(value, sizeof value, "%.6g", v->num * scale);
  else snprintf(value, sizeof value, "%s", v->type == TS_JV_BOOL ? (v->num != 0 ? "1" : "0") : v->raw);
  exp_sample(o, name, !gauge, help, labels, value);
}

static void exp_process(exp_out_t *o, const ts_page_t *p) {
  char comm[2 * TS_PUB_COMM_MAX + 1], labels[160];
  exp_escape(p->h.comm, comm, sizeof comm);
  snprintf(labels, sizeof labels, "pid=\"%d\",comm=\"%s\"", (int)p->h.pid, comm);
  char age[32];
  snprintf(age, sizeof age, "%.3f", p->age_s);
  if (p->age_s < 0) return; /* no data yet */
  exp_sample(o, "tiershim_stats_age_seconds", false, "Seconds since the process last refreshed its live stats",
             labels, age);
  ts_jdoc_t d;
  if (!ts_json_flatten(p->json, &d)) return;
  /* the strings that say how the process runs, as labels of one series */
  static const struct { const char *path, *label; } info[] = {
      {"version", "version"}, {"placement.state", "placement"}, {"placement.thp_mode", "thp_mode"},
      {"unmap.backend", "unmap_backend"}, {"tiers.status", "tiers"}, {"tiers.fast_nodes", "fast_nodes"},
      {"tiers.slow_nodes", "slow_nodes"}};
  char il[1024];
  size_t n = (size_t)snprintf(il, sizeof il, "%s", labels);
  for (size_t i = 0; i < sizeof info / sizeof *info && n < sizeof il; i++) {
    const ts_jv_t *v = ts_json_get(&d, info[i].path);
    char esc[256];
    exp_escape(v && v->type == TS_JV_STR ? v->raw : "", esc, sizeof esc);
    n += (size_t)snprintf(il + n, sizeof il - n, ",%s=\"%s\"", info[i].label, esc);
  }
  exp_sample(o, "tiershim_info", false, "How the process runs under tiershim (value 1; the labels say)", il, "1");
  for (int i = 0; i < d.n; i++) exp_leaf(o, &d, &d.v[i], labels);
  ts_json_free(&d);
}

/* The whole exposition, malloc'd. */
static char *exp_render(size_t *len) {
  ts_page_t *pages;
  int n = ts_page_read_all(&pages);
  exp_out_t o = {0};
  for (int i = 0; i < n; i++) exp_process(&o, &pages[i]);
  ts_page_free_all(pages, n);
  char *buf = NULL;
  size_t l = 0, cap = 0;
  exp_append(&buf, &l, &cap, "# HELP tiershim_processes Live tiershim processes this exporter can read\n"
                             "# TYPE tiershim_processes gauge\ntiershim_processes %d\n", n);
  for (int i = 0; i < o.n; i++) {
    exp_family_t *f = &o.f[i];
    exp_append(&buf, &l, &cap, "# HELP %s %s\n# TYPE %s %s\n%s", f->name, f->help, f->name,
               f->counter ? "counter" : "gauge", f->body);
    free(f->name);
    free(f->help);
    free(f->body);
  }
  free(o.f);
  *len = l;
  return buf;
}

static void exp_send(int fd, const char *status, const char *type, const char *body, size_t len) {
  char head[256];
  int h = snprintf(head, sizeof head,
                   "HTTP/1.0 %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n", status,
                   type, len);
  if (write(fd, head, (size_t)h) != h) return;
  for (size_t off = 0; off < len;) {
    ssize_t w = write(fd, body + off, len - off);
    if (w <= 0) return;
    off += (size_t)w;
  }
}

/* One request: read the request line and headers (2 s at most), answer. */
static void exp_serve(int fd) {
  char req[4096] = "";
  size_t got = 0;
  while (got < sizeof req - 1 && !strstr(req, "\r\n\r\n") && !strstr(req, "\n\n")) {
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    if (poll(&pfd, 1, 2000) <= 0) return;
    ssize_t r = read(fd, req + got, sizeof req - 1 - got);
    if (r <= 0) break;
    got += (size_t)r;
    req[got] = '\0';
  }
  req[got] = '\0';
  char method[16], path[1024];
  if (sscanf(req, "%15s %1023s", method, path) != 2) {
    exp_send(fd, "400 Bad Request", "text/plain", "bad request\n", 12);
    return;
  }
  char *q = strchr(path, '?');
  if (q) *q = '\0';
  bool get = strcmp(method, "GET") == 0, head = strcmp(method, "HEAD") == 0;
  if (!get && !head) {
    exp_send(fd, "405 Method Not Allowed", "text/plain", "GET only\n", 9);
  } else if (strcmp(path, "/metrics") == 0) {
    size_t len;
    char *body = exp_render(&len);
    exp_send(fd, "200 OK", "text/plain; version=0.0.4; charset=utf-8", body, head ? 0 : len);
    free(body);
  } else if (strcmp(path, "/") == 0) {
    static const char page[] = "tiershim exporter: the metrics are at /metrics\n";
    exp_send(fd, "200 OK", "text/plain", page, head ? 0 : sizeof page - 1);
  } else {
    exp_send(fd, "404 Not Found", "text/plain", "not found: try /metrics\n", 24);
  }
}

static volatile sig_atomic_t exp_stop;
static void exp_on_signal(int sig) { (void)sig; exp_stop = 1; }

int ts_cli_exporter(int argc, char **argv) {
  const char *listen_at = "127.0.0.1:9464";
  for (int i = 0; i < argc; i++) {
    if (strcmp(argv[i], "--listen") == 0 || strcmp(argv[i], "-l") == 0) {
      if (i + 1 == argc) return exp_usage("%s needs HOST:PORT", argv[i]);
      listen_at = argv[++i];
    } else return exp_usage("unexpected argument '%s'", argv[i]);
  }
  /* HOST:PORT, HOST maybe [v6] */
  char host[256];
  const char *colon = strrchr(listen_at, ':');
  if (colon == NULL || colon == listen_at || colon[1] == '\0' || (size_t)(colon - listen_at) >= sizeof host)
    return exp_usage("--listen %s: not HOST:PORT", listen_at);
  memcpy(host, listen_at, (size_t)(colon - listen_at));
  host[colon - listen_at] = '\0';
  if (host[0] == '[' && host[strlen(host) - 1] == ']') {
    memmove(host, host + 1, strlen(host));
    host[strlen(host) - 1] = '\0';
  }
  char *end;
  long port = strtol(colon + 1, &end, 10);
  if (*end != '\0' || port < 0 || port > 65535) return exp_usage("--listen %s: not a port number", listen_at);
  struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE}, *ai;
  int e = getaddrinfo(host, colon + 1, &hints, &ai);
  if (e != 0) {
    fprintf(stderr, "tiershim exporter: --listen %s: %s\n" EXP_USAGE, listen_at, gai_strerror(e));
    return EXIT_USAGE;
  }
  int s = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  if (s >= 0) setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (s < 0 || bind(s, ai->ai_addr, ai->ai_addrlen) != 0 || listen(s, 16) != 0) {
    fprintf(stderr, "tiershim exporter: cannot listen on %s: %s\n", listen_at, strerror(errno));
    freeaddrinfo(ai);
    return 1;
  }
  freeaddrinfo(ai);
  struct sockaddr_storage sa;
  socklen_t sl = sizeof sa;
  char h[128] = "?", p[16] = "?";
  if (getsockname(s, (struct sockaddr *)&sa, &sl) == 0)
    getnameinfo((struct sockaddr *)&sa, sl, h, sizeof h, p, sizeof p, NI_NUMERICHOST | NI_NUMERICSERV);
  fprintf(stderr, "tiershim exporter: listening on %s%s%s:%s, metrics at /metrics\n", strchr(h, ':') ? "[" : "", h,
          strchr(h, ':') ? "]" : "", p);
  signal(SIGPIPE, SIG_IGN);
  struct sigaction act = {.sa_handler = exp_on_signal};
  sigaction(SIGINT, &act, NULL);
  sigaction(SIGTERM, &act, NULL);
  while (!exp_stop) {
    struct pollfd pfd = {.fd = s, .events = POLLIN};
    if (poll(&pfd, 1, 1000) <= 0) continue;
    int c = accept4(s, NULL, NULL, SOCK_CLOEXEC);
    if (c < 0) continue;
    exp_serve(c);
    close(c);
  }
  close(s);
  return 0;
}
