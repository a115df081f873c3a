/* ts_llama: a small llama.cpp driver for allocator benchmarks.
 *
 * Why C and not node-llama-cpp's JS API: V8's own heap and mmap traffic
 * would be measured with the engine, and under LD_PRELOAD every allocator
 * would also be serving node. This links the libllama/libggml that the npm
 * package ships (header from the package's source bundle; see setup.sh).
 *
 * It loads a GGUF model (mmap on or off), runs N requests whose prompt
 * lengths vary per request, samples with a seeded chain, and prints:
 *   req I prompt_tokens=P gen_tokens=G prompt_ms=.. gen_ms=.. tokens=T,T,..
 *   RESULT load_s=.. prompt_tps=.. gen_tps=.. ... check=<hex> anon_kb=..
 * `check` hashes every generated token, so "same tokens with and without
 * the shim" is one string comparison. anon_kb/anon_huge_kb are read from
 * /proc/self/smaps_rollup after the last request, with the model and the
 * context still alive: the engine's steady state, not its teardown.
 */
#define BENCH_NAME "ts_llama"
#include "../bench_util.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <unistd.h>

#include "ggml-backend.h"
#include "llama.h"

typedef struct drv_opts {
  const char *model, *bins;
  bool mmap, verbose, server_thread, latency;
  int requests, gen, gen_min, threads, ctx, prompt_max, reuse;
  uint32_t seed;
} drv_opts_t;

static void usage(FILE *f) {
  fputs("usage: ts_llama --model PATH [--bins DIR] [--mmap on|off] [--requests N]\n"
        "                [--gen N] [--threads N] [--ctx N] [--seed N] [--prompt-max N]\n"
        "                [--gen-min N] [--reuse K] [--latency] [--server-thread] [--verbose]\n"
        "  --prompt-max N  prompts of 6..N words (default 69; 6..69)\n"
        "  --gen-min N  generate N..--gen tokens, drawn per request (default: always --gen)\n"
        "  --reuse K    context reuse: a request continues the previous one's KV cache\n"
        "               (a follow-up turn) unless its index is a multiple of K or the\n"
        "               context is full (default 1: every request starts empty)\n"
        "  --latency    per request: ttft_ms (prompt and first token) and tok_ms, the\n"
        "               latency of every further token; and rss_kb after it\n"
        "  --server-thread  start one idle thread before loading, as llama-server does\n"
        "               (its HTTP thread answers /health while the model loads)\n"
        "  --bins DIR   directory of the ggml CPU backends (default: $TS_LLAMA_BINS)\n"
        "  defaults: --mmap on --requests 4 --gen 32 --threads 1 --ctx 1024 --seed 42\n",
        f);
}

/* A failure of the engine: exit 1 (die() is for usage errors, exit 2). */
static _Noreturn void fail(const char *what, const char *arg) {
  fprintf(stderr, "ts_llama: %s%s%s\n", what, arg ? ": " : "", arg ? arg : "");
  exit(1);
}

static int int_arg(const char *name, const char *v, int lo, int hi) {
  char *end;
  errno = 0;
  long n = strtol(v, &end, 10);
  if (errno || *end || end == v || n < lo || n > hi)
    die("%s takes an integer in [%d, %d], not '%s'", name, lo, hi, v);
  return (int)n;
}

static void parse_args(int argc, char **argv, drv_opts_t *o) {
  *o = (drv_opts_t){.bins = getenv("TS_LLAMA_BINS"), .mmap = true, .requests = 4,
                    .gen = 32, .gen_min = -1, .threads = 1, .ctx = 1024, .seed = 42,
                    .prompt_max = 69, .reuse = 1};
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(a, "-h") || !strcmp(a, "--help")) { usage(stdout); exit(0); }
    if (!strcmp(a, "--verbose")) { o->verbose = true; continue; }
    if (!strcmp(a, "--server-thread")) { o->server_thread = true; continue; }
    if (!strcmp(a, "--latency")) { o->latency = true; continue; }
    if (!v) { usage(stderr); fprintf(stderr, "ts_llama: %s needs a value\n", a); exit(2); }
    i++;
    if (!strcmp(a, "--model")) o->model = v;
    else if (!strcmp(a, "--bins")) o->bins = v;
    else if (!strcmp(a, "--mmap")) {
      if (strcmp(v, "on") && strcmp(v, "off")) { fprintf(stderr, "ts_llama: --mmap on|off\n"); exit(2); }
      o->mmap = !strcmp(v, "on");
    } else if (!strcmp(a, "--requests")) o->requests = int_arg(a, v, 1, 100000);
    else if (!strcmp(a, "--gen")) o->gen = int_arg(a, v, 1, 100000);
    else if (!strcmp(a, "--gen-min")) o->gen_min = int_arg(a, v, 1, 100000);
    else if (!strcmp(a, "--reuse")) o->reuse = int_arg(a, v, 1, 100000);
    else if (!strcmp(a, "--threads")) o->threads = int_arg(a, v, 1, 1024);
    else if (!strcmp(a, "--ctx")) o->ctx = int_arg(a, v, 64, 1 << 20);
    else if (!strcmp(a, "--prompt-max")) o->prompt_max = int_arg(a, v, 6, 200);
    else if (!strcmp(a, "--seed")) o->seed = (uint32_t)int_arg(a, v, 0, 0x7fffffff);
    else { usage(stderr); fprintf(stderr, "ts_llama: unknown option %s\n", a); exit(2); }
  }
  if (!o->model) { usage(stderr); exit(2); }
  if (!o->bins) die("no backend directory: pass --bins or set TS_LLAMA_BINS");
}

static uint64_t fnv1a(uint64_t h, const void *p, size_t n) {
  const unsigned char *b = p;
  for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 0x100000001b3ull;
  return h;
}

/* Prompt I: 6..max words (69 by default) drawn from a fixed list, so prompt
 * lengths (and the engine's per-request buffers) differ from one request
 * to the next. */
static void make_prompt(uint32_t seed, int i, int max, char *buf, size_t cap) {
  static const char *const words[] = {
      "once", "upon", "a", "time", "the", "quick", "brown", "fox", "jumped", "over",
      "lazy", "dog", "and", "then", "memory", "page", "huge", "tier", "server", "model",
      "token", "cache", "river", "mountain", "city", "light", "stone", "music", "number", "story",
      "garden", "window", "morning", "silver", "engine", "paper", "winter", "ocean"};
  uint64_t s = ((uint64_t)seed << 32) ^ (uint64_t)i;
  int n = 6 + (int)(rnd_next(&s) % (uint64_t)(max - 5));
  size_t len = 0;
  buf[0] = '\0';
  for (int w = 0; w < n; w++) {
    const char *word = words[rnd_next(&s) % (sizeof words / sizeof *words)];
    int k = snprintf(buf + len, cap - len, "%s%s", w ? " " : "", word);
    if (k < 0 || (size_t)k >= cap - len) break;
    len += (size_t)k;
  }
}

static bool no_progress(float progress, void *data) {
  (void)progress, (void)data;
  return true; /* keep loading; the default callback prints dots to stderr */
}

static void quiet_log(enum ggml_log_level level, const char *text, void *data) {
  (void)data;
  if (level >= GGML_LOG_LEVEL_ERROR) fputs(text, stderr);
}

/* Anonymous, AnonHugePages and Rss in KiB from /proc/self/smaps_rollup. */
static void read_rollup(long *anon, long *huge, long *rss) {
  char line[256];
  FILE *f = fopen("/proc/self/smaps_rollup", "r");
  *anon = *huge = *rss = -1;
  if (!f) return;
  while (fgets(line, sizeof line, f)) {
    sscanf(line, "Anonymous: %ld kB", anon);
    sscanf(line, "AnonHugePages: %ld kB", huge);
    sscanf(line, "Rss: %ld kB", rss);
  }
  fclose(f);
}

typedef struct drv_totals {
  long prompt_tokens, gen_tokens;
  double prompt_s, gen_s;
  uint64_t check;
  int n_past; /* tokens in the KV cache, for --reuse */
} drv_totals_t;

/* Request I's generation length: --gen, or drawn from --gen-min..--gen. */
static int gen_count(const drv_opts_t *o, int i) {
  if (o->gen_min < 0 || o->gen_min >= o->gen) return o->gen;
  uint64_t s = ((uint64_t)o->seed << 32) ^ (uint64_t)i ^ 0x6a09e667f3bcc909ull;
  return o->gen_min + (int)(rnd_next(&s) % (uint64_t)(o->gen - o->gen_min + 1));
}

/* Resident set in KiB from /proc/self/statm: cheap enough to read per request. */
static long statm_rss_kb(void) {
  long size, res = -1;
  FILE *f = fopen("/proc/self/statm", "r");
  if (!f) return -1;
  if (fscanf(f, "%ld %ld", &size, &res) != 2) res = -1;
  fclose(f);
  return res < 0 ? -1 : res * (sysconf(_SC_PAGESIZE) / 1024);
}

/* --latency's fields: time to first token, then every further token's. */
static void print_latency(double ttft_s, const double *tok_s, int n) {
  printf(" ttft_ms=%.2f tok_ms=", ttft_s * 1e3);
  for (int k = 0; k < n; k++) printf("%s%.2f", k ? "," : "", tok_s[k] * 1e3);
  if (!n) fputs("-", stdout);
  printf(" rss_kb=%ld", statm_rss_kb());
}

/* Whether request I continues the previous one's KV cache (--reuse): a
 * follow-up turn of N prompt tokens, where the context has room for it. */
static bool continues(const drv_opts_t *o, const drv_totals_t *t, int i, int n, int gen) {
  return o->reuse > 1 && i % o->reuse && t->n_past + n + gen <= o->ctx;
}

static void run_request(const drv_opts_t *o, struct llama_context *ctx,
                        const struct llama_vocab *vocab, int i, drv_totals_t *t) {
  char text[1024];
  llama_token toks[1024];
  int gen = gen_count(o, i);
  make_prompt(o->seed, i, o->prompt_max, text, sizeof text);
  int n = llama_tokenize(vocab, text, (int32_t)strlen(text), toks, 1024, false, false);
  bool cont = n > 0 && continues(o, t, i, n, gen);
  if (!cont) /* a new conversation: with the BOS token */
    n = llama_tokenize(vocab, text, (int32_t)strlen(text), toks, 1024, true, false);
  if (n <= 0) fail("tokenization failed", text);
  if (n + gen > o->ctx) fail("prompt plus generation exceeds --ctx", NULL);

  /* A new conversation starts from an empty KV cache; a follow-up turn
   * appends to it. Each request has its own seeded sampler. */
  if (!cont) {
    llama_memory_clear(llama_get_memory(ctx), true);
    t->n_past = 0;
  }
  struct llama_sampler *smpl = llama_sampler_chain_init(llama_sampler_chain_default_params());
  llama_sampler_chain_add(smpl, llama_sampler_init_top_k(40));
  llama_sampler_chain_add(smpl, llama_sampler_init_top_p(0.95f, 1));
  llama_sampler_chain_add(smpl, llama_sampler_init_temp(0.8f));
  llama_sampler_chain_add(smpl, llama_sampler_init_dist(o->seed + (uint32_t)i));

  double t0 = now_s();
  if (llama_decode(ctx, llama_batch_get_one(toks, n))) fail("llama_decode failed on the prompt", NULL);
  t->n_past += n;
  double t1 = now_s(), last = t1, ttft = 0;
  double tok_s[1024];
  int ntok = 0;
  printf("req %d prompt_tokens=%d", i, n);
  if (o->reuse > 1) printf(" cont=%d", cont);
  char list[8 * 1024];
  size_t len = 0;
  int g = 0;
  for (; g < gen; g++) {
    llama_token tok = llama_sampler_sample(smpl, ctx, -1);
    double now = now_s();
    if (!g) ttft = now - t0;
    else if (ntok < 1024) tok_s[ntok++] = now - last;
    last = now;
    t->check = fnv1a(t->check, &tok, sizeof tok);
    int k = snprintf(list + len, sizeof list - len, "%s%d", g ? "," : "", tok);
    if (k > 0 && (size_t)k < sizeof list - len) len += (size_t)k;
    if (llama_vocab_is_eog(vocab, tok)) { g++; break; }
    if (llama_decode(ctx, llama_batch_get_one(&tok, 1))) fail("llama_decode failed", NULL);
    t->n_past++;
  }
  double t2 = now_s();
  printf(" gen_tokens=%d prompt_ms=%.1f gen_ms=%.1f", g, (t1 - t0) * 1e3, (t2 - t1) * 1e3);
  if (o->latency) print_latency(ttft, tok_s, ntok);
  printf(" tokens=%s\n", len ? list : "-");
  llama_sampler_free(smpl);
  t->prompt_tokens += n;
  t->gen_tokens += g;
  t->prompt_s += t1 - t0;
  t->gen_s += t2 - t1;
}

/* The stand-in for a server's listener thread: it waits until exit. */
static void *server_idle(void *arg) {
  (void)arg;
  for (;;) pause();
  return NULL;
}

int main(int argc, char **argv) {
  drv_opts_t o;
  parse_args(argc, argv, &o);
  pthread_t listener;
  if (o.server_thread && pthread_create(&listener, NULL, server_idle, NULL) != 0) fail("pthread_create", NULL);
  if (!o.verbose) llama_log_set(quiet_log, NULL);
  ggml_backend_load_all_from_path(o.bins);
  llama_backend_init();

  double t0 = now_s();
  struct llama_model_params mp = llama_model_default_params();
  mp.load_mode = o.mmap ? LLAMA_LOAD_MODE_MMAP : LLAMA_LOAD_MODE_NONE;
  if (!o.verbose) mp.progress_callback = no_progress;
  struct llama_model *model = llama_model_load_from_file(o.model, mp);
  if (!model) fail("cannot load the model", o.model);
  struct llama_context_params cp = llama_context_default_params();
  cp.n_ctx = (uint32_t)o.ctx;
  cp.n_batch = cp.n_ubatch = 512;
  cp.n_threads = cp.n_threads_batch = o.threads;
  cp.no_perf = true;
  struct llama_context *ctx = llama_init_from_model(model, cp);
  if (!ctx) fail("cannot create a context", NULL);
  double load_s = now_s() - t0, load_cpu = cpu_s();

  const struct llama_vocab *vocab = llama_model_get_vocab(model);
  drv_totals_t t = {.check = 0xcbf29ce484222325ull};
  for (int i = 0; i < o.requests; i++) run_request(&o, ctx, vocab, i, &t);
  double req_cpu = cpu_s() - load_cpu;

  long anon, huge, rss;
  read_rollup(&anon, &huge, &rss);
  printf("RESULT load_s=%.3f prompt_tokens=%ld gen_tokens=%ld prompt_tps=%.2f gen_tps=%.2f "
         "req_cpu_s=%.3f cpu_s=%.3f cpu_ms_per_gen_token=%.2f check=%016" PRIx64
         " anon_kb=%ld anon_huge_kb=%ld rss_kb=%ld malloc_from=%s\n",
         load_s, t.prompt_tokens, t.gen_tokens, t.prompt_tokens / t.prompt_s,
         t.gen_tokens / t.gen_s, req_cpu, cpu_s(), 1e3 * req_cpu / (double)t.gen_tokens, t.check,
         anon, huge, rss, malloc_from());
  fflush(stdout);
  llama_free(ctx);
  llama_model_free(model);
  llama_backend_free();
  return 0;
}
