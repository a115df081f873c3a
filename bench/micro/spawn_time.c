/* ts_spawn_time: how long it takes to run a command, start to reaped exit.
 *
 *   ts_spawn_time [-e NAME=VALUE]... [-w WARMUP] [-v] N CMD [ARGS...]
 *
 * Runs CMD N times, one after the other, with posix_spawnp and waitpid, and
 * times each run with CLOCK_MONOTONIC from just before the spawn to just
 * after the reap. For `true` that is almost entirely exec, dynamic loading
 * and the start-up of whatever is preloaded, which is what run.sh compares:
 * `true` against `tiershim run -- true`.
 *
 * -e sets a variable for the child only: `-e LD_PRELOAD=lib.so` measures the
 * preload without also preloading it into this program or paying for an
 * `env` exec in every sample. -w runs CMD that many times untimed first
 * (default 1: page cache, dynamic loader caches). -v prints every sample as
 * `sample_us=...` before the summary, for a caller that pools samples from
 * several runs (run.sh interleaves commands in rounds).
 *
 * Output: median_us=... min_us=... p90_us=... max_us=... mean_us=... n=...
 * Exit status 1 if any run of CMD fails: a timing of a failing command says
 * nothing about start-up.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define MAX_SETS 64

static void die(int code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("ts_spawn_time: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  exit(code);
}

static double now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec * 1e-3;
}

static long parse_long(const char *s, const char *what, long min) {
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno != 0 || end == s || *end != '\0' || v < min) die(2, "bad %s: '%s'", what, s);
  return v;
}

/* environ with each NAME=VALUE of sets replacing (or adding to) its entry. */
static char **child_env(char **sets, int nsets) {
  size_t n = 0;
  while (environ[n] != NULL) n++;
  char **env = calloc(n + (size_t)nsets + 1, sizeof(char *));
  if (env == NULL) die(2, "out of memory");
  size_t m = 0;
  for (size_t i = 0; i < n; i++) {
    int replaced = 0;
    for (int j = 0; j < nsets && !replaced; j++) {
      size_t len = (size_t)(strchr(sets[j], '=') - sets[j]) + 1;
      replaced = (strncmp(environ[i], sets[j], len) == 0);
    }
    if (!replaced) env[m++] = environ[i];
  }
  for (int j = 0; j < nsets; j++) env[m++] = sets[j];
  env[m] = NULL;
  return env;
}

/* One run of argv; returns its wall time in microseconds. */
static double run_once(char **argv, char **env) {
  pid_t pid;
  int status;
  double t0 = now_us();
  int err = posix_spawnp(&pid, argv[0], NULL, NULL, argv, env);
  if (err != 0) die(1, "cannot run %s: %s", argv[0], strerror(err));
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) die(1, "waitpid: %s", strerror(errno));
  }
  double t1 = now_us();
  if (WIFSIGNALED(status)) die(1, "%s killed by signal %d", argv[0], WTERMSIG(status));
  if (WEXITSTATUS(status) != 0) die(1, "%s exited with %d", argv[0], WEXITSTATUS(status));
  return t1 - t0;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* Median (mean of the two middle samples when n is even) and the nearest-rank
   90th percentile, the same definitions run.sh uses when it pools samples. */
static void summarize(double *s, long n) {
  double sum = 0;
  for (long i = 0; i < n; i++) sum += s[i];
  qsort(s, (size_t)n, sizeof(double), cmp_double);
  double median = (n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2);
  long p90 = (9 * n + 9) / 10;  /* ceil(0.9 n), 1-based */
  printf("median_us=%.1f min_us=%.1f p90_us=%.1f max_us=%.1f mean_us=%.1f n=%ld\n",
         median, s[0], s[p90 - 1], s[n - 1], sum / (double)n, n);
}

static void usage(FILE *f) {
  fprintf(f, "usage: ts_spawn_time [-e NAME=VALUE]... [-w WARMUP] [-v] N CMD [ARGS...]\n");
}

int main(int argc, char **argv) {
  char *sets[MAX_SETS];
  int nsets = 0, verbose = 0, c;
  long warmup = 1;
  /* '+': stop at the first non-option, so CMD's own options stay CMD's. */
  while ((c = getopt(argc, argv, "+e:w:vh")) != -1) {
    switch (c) {
      case 'e':
        if (strchr(optarg, '=') == NULL || optarg[0] == '=') die(2, "-e takes NAME=VALUE");
        if (nsets == MAX_SETS) die(2, "too many -e");
        sets[nsets++] = optarg;
        break;
      case 'w': warmup = parse_long(optarg, "warm-up count", 0); break;
      case 'v': verbose = 1; break;
      case 'h': usage(stdout); return 0;
      default: usage(stderr); return 2;
    }
  }
  if (argc - optind < 2) { usage(stderr); return 2; }
  long n = parse_long(argv[optind], "run count", 1);
  char **cmd = &argv[optind + 1];
  char **env = child_env(sets, nsets);

  double *samples = malloc((size_t)n * sizeof(double));
  if (samples == NULL) die(2, "out of memory");
  for (long i = 0; i < warmup; i++) run_once(cmd, env);
  for (long i = 0; i < n; i++) samples[i] = run_once(cmd, env);
  if (verbose) {
    for (long i = 0; i < n; i++) printf("sample_us=%.1f\n", samples[i]);
  }
  summarize(samples, n);
  free(samples);
  free(env);
  return 0;
}
