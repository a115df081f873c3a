/* tiershim: the command-line front end.
 *
 *   tiershim run [--stats FILE|-] [--set NAME=VALUE]... -- CMD [ARGS]...
 *   tiershim options [--markdown]
 *   tiershim topo [--sysfs ROOT] [--fast LIST] [--slow LIST] [--json]
 *   tiershim migrate --pid PID --to NODE [--from NODE] [--threads N] [--rate BYTES/s] [--all] [--json]
 *   tiershim rules check FILE
 *   tiershim stat PID [--json] [--interval S]
 *   tiershim top [--interval S] [--once]
 *   tiershim exporter [--listen HOST:PORT]
 *   tiershim version
 *
 * Every subcommand answers --help (or -h) with its usage on stdout, exit 0.
 *
 * `run` puts the library's absolute path first in LD_PRELOAD and execs the
 * command, so the exit code is the program's own. The CLI itself does not
 * link the shim: it runs on glibc's allocator. */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/options.h"
#include "base/thread.h"
#include "include/tiershim.h"

#define LIB_NAME "libtiershim.so"
#define EXIT_USAGE 2

int ts_cli_topo(int argc, char **argv); /* topo.c */
int ts_cli_migrate(int argc, char **argv); /* migrate.c */
int ts_cli_rules(int argc, char **argv); /* rules.c */
int ts_cli_stat(int argc, char **argv); /* stat.c */
int ts_cli_top(int argc, char **argv); /* top.c */
int ts_cli_exporter(int argc, char **argv); /* exporter.c */

/* Each subcommand's usage, for `tiershim CMD --help` and the general one. */
static const struct { const char *cmd, *usage, *what; } cli_usage[] = {
    {"run", "tiershim run [--stats FILE|-] [--set NAME=VALUE]... -- CMD [ARGS]...",
     "run CMD with tiershim preloaded; --stats - prints a summary at exit,\n"
     "--stats FILE writes JSON (%p = pid); --set sets a TIERSHIM_ option"},
    {"options", "tiershim options [--markdown]", "every TIERSHIM_* variable"},
    {"topo", "tiershim topo [--sysfs ROOT] [--fast LIST] [--slow LIST] [--json]",
     "memory tiers, nodes, THP and kernel features as the shim sees them"},
    {"migrate", "tiershim migrate --pid PID --to NODE [--from NODE] [--threads N] [--rate BYTES/s] [--all] [--json]",
     "move another process's pages to NODE (numactl's migratepages, batched\n"
     "and in parallel); --all: page cache too, with MPOL_MF_MOVE_ALL"},
    {"rules", "tiershim rules check FILE", "parse a TIERSHIM_RULES file and print its rules, or every error"},
    {"stat", "tiershim stat PID [--json] [--interval S]",
     "the live stats of a running process under tiershim (docs/operations.md):\n"
     "the exit report's summary and the age of the data, or --json the JSON\n"
     "document; --interval S repeats every S seconds"},
    {"top", "tiershim top [--interval S] [--once]",
     "every live tiershim process of this user (every user's for root), sorted\n"
     "by anonymous RSS, refreshed every S seconds (default 2); q and Enter quits;\n"
     "--once prints one table"},
    {"exporter", "tiershim exporter [--listen HOST:PORT]",
     "Prometheus metrics of every live tiershim process at http://HOST:PORT/metrics\n"
     "(default 127.0.0.1:9464; port 0 picks a free port and prints it)"},
    {"version", "tiershim version", "the version"},
};
#define CLI_NCMDS (sizeof cli_usage / sizeof cli_usage[0])

static void print_usage_of(FILE *f, size_t i, bool what) {
  fprintf(f, "usage: %s\n", cli_usage[i].usage);
  if (!what) return;
  for (const char *l = cli_usage[i].what; *l;) {
    const char *nl = strchr(l, '\n');
    int n = nl ? (int)(nl - l) : (int)strlen(l);
    fprintf(f, "    %.*s\n", n, l);
    l += n + (nl != NULL);
  }
}

/* --help or -h among a subcommand's arguments (before `--` for run, whose
 * command's own --help is the command's). */
static bool wants_help(int argc, char **argv) {
  for (int i = 0; i < argc && strcmp(argv[i], "--") != 0; i++)
    if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) return true;
  return false;
}

static void die_usage(const char *fmt, const char *arg) {
  fprintf(stderr, "tiershim: ");
  fprintf(stderr, fmt, arg);
  fprintf(stderr, "\n");
  for (size_t i = 0; i < CLI_NCMDS; i++) fprintf(stderr, "%s %s\n", i ? "      " : "usage:", cli_usage[i].usage);
  exit(EXIT_USAGE);
}

/* The library sits beside the binary in a build tree, and in the libdir
 * relative to the bindir once installed. The soname (libtiershim.so.0)
 * first: a distribution package of the CLI has it, while the unversioned
 * link belongs to the development package. */
#ifndef TS_SONAME
#define TS_SONAME LIB_NAME
#endif
static char *find_library(void) {
  char exe[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n <= 0) return NULL;
  exe[n] = '\0';
  char *slash = strrchr(exe, '/');
  if (slash == NULL) return NULL;
  *slash = '\0';
  const char *rel[] = {"", "/../" TS_REL_LIBDIR, "/../lib"};
  const char *names[] = {TS_SONAME, LIB_NAME};
  for (size_t i = 0; i < sizeof rel / sizeof rel[0]; i++)
    for (size_t j = 0; j < sizeof names / sizeof names[0]; j++) {
      char cand[PATH_MAX * 2];
      snprintf(cand, sizeof cand, "%s%s/%s", exe, rel[i], names[j]);
      char *real = realpath(cand, NULL);
      if (real != NULL) return real;
    }
  return NULL;
}

static bool preload_has(const char *list, const char *lib) {
  size_t n = strlen(lib);
  for (const char *p = list; (p = strstr(p, lib)) != NULL; p += n)
    if ((p == list || p[-1] == ':' || p[-1] == ' ') && (p[n] == '\0' || p[n] == ':' || p[n] == ' '))
      return true;
  return false;
}

static void set_preload(const char *lib) {
  const char *old = getenv("LD_PRELOAD");
  if (old == NULL || *old == '\0') {
    setenv("LD_PRELOAD", lib, 1);
    return;
  }
  if (preload_has(old, lib)) return;
  char *v;
  if (asprintf(&v, "%s:%s", lib, old) < 0) exit(EXIT_FAILURE);
  setenv("LD_PRELOAD", v, 1);
  free(v);
}

/* --set NAME=VALUE: NAME with or without the TIERSHIM_ prefix. The value is
 * checked with the library's own parser, so a typo fails here, loudly. */
static void apply_set(const char *arg) {
  const char *eq = strchr(arg, '=');
  if (eq == NULL || eq == arg) die_usage("--set needs NAME=VALUE, got '%s'", arg);
  const char *name = strncmp(arg, "TIERSHIM_", 9) == 0 ? arg + 9 : arg;
  if (!ts_options_known(name, (size_t)(eq - name)))
    die_usage("--set %s: unknown option (see `tiershim options`)", arg);
  char *entry;
  if (asprintf(&entry, "TIERSHIM_%s", name) < 0) exit(EXIT_FAILURE);
  char *env[] = {entry, NULL};
  ts_config_t trial;
  if (ts_options_parse(&trial, env, false) != 0) exit(EXIT_USAGE); /* it said why */
  entry[9 + (eq - name)] = '\0';
  setenv(entry, entry + 9 + (eq - name) + 1, 1);
  free(entry);
}

static void apply_stats(const char *arg) {
  if (strcmp(arg, "-") == 0) {
    setenv("TIERSHIM_STATS", "1", 1);
    return;
  }
  char *v;
  if (asprintf(&v, "json:%s", arg) < 0) exit(EXIT_FAILURE);
  setenv("TIERSHIM_STATS", v, 1);
  free(v);
}

static int cmd_run(int argc, char **argv) {
  int i = 0;
  for (; i < argc && strcmp(argv[i], "--") != 0; i++) {
    if (strcmp(argv[i], "--stats") == 0 && i + 1 < argc) apply_stats(argv[++i]);
    else if (strcmp(argv[i], "--set") == 0 && i + 1 < argc) apply_set(argv[++i]);
    else if (argv[i][0] == '-') die_usage("run: unknown or incomplete option '%s'", argv[i]);
    else die_usage("run: missing `--` before the command '%s'", argv[i]);
  }
  if (i == argc) die_usage("run: missing `--` and a command%s", "");
  if (i + 1 == argc) die_usage("run: no command after `--`%s", "");
  char *lib = find_library();
  if (lib == NULL) {
    fprintf(stderr, "tiershim: cannot find " LIB_NAME " next to this program or in ../%s\n",
            TS_REL_LIBDIR);
    return EXIT_FAILURE;
  }
  set_preload(lib);
  free(lib);
  char **cmd = argv + i + 1;
  execvp(cmd[0], cmd);
  int err = errno;
  fprintf(stderr, "tiershim: %s: %s\n", cmd[0], err == ENOENT ? "command not found" : strerror(err));
  return err == ENOENT ? 127 : 126; /* as shells do */
}

static int cmd_options(int argc, char **argv) {
  bool markdown = argc > 0 && strcmp(argv[0], "--markdown") == 0;
  if (argc > (markdown ? 1 : 0)) die_usage("options: unexpected argument '%s'", argv[argc - 1]);
  fflush(stdout);
  ts_options_print_table(STDOUT_FILENO, markdown);
  return 0;
}

int main(int argc, char **argv) {
  ts_thread_use_libc(); /* tiershim migrate: the workers */
  if (argc < 2) die_usage("missing command%s", "");
  const char *cmd = argv[1];
  if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
    printf("tiershim %s: an allocator shim for CPU inference workloads\n\n", TIERSHIM_VERSION);
    for (size_t i = 0; i < CLI_NCMDS; i++) {
      printf("  %s\n", cli_usage[i].usage);
      for (const char *l = cli_usage[i].what; *l;) {
        const char *nl = strchr(l, '\n');
        int n = nl ? (int)(nl - l) : (int)strlen(l);
        printf("      %.*s\n", n, l);
        l += n + (nl != NULL);
      }
    }
    printf("\n  tiershim CMD --help: the usage of CMD\n");
    return 0;
  }
  for (size_t i = 0; i < CLI_NCMDS; i++)
    if (strcmp(cmd, cli_usage[i].cmd) == 0 && wants_help(argc - 2, argv + 2)) {
      print_usage_of(stdout, i, true);
      return 0;
    }
  if (strcmp(cmd, "run") == 0) return cmd_run(argc - 2, argv + 2);
  if (strcmp(cmd, "options") == 0) return cmd_options(argc - 2, argv + 2);
  if (strcmp(cmd, "topo") == 0) return ts_cli_topo(argc - 2, argv + 2);
  if (strcmp(cmd, "migrate") == 0) return ts_cli_migrate(argc - 2, argv + 2);
  if (strcmp(cmd, "rules") == 0) return ts_cli_rules(argc - 2, argv + 2);
  if (strcmp(cmd, "stat") == 0) return ts_cli_stat(argc - 2, argv + 2);
  if (strcmp(cmd, "top") == 0) return ts_cli_top(argc - 2, argv + 2);
  if (strcmp(cmd, "exporter") == 0) return ts_cli_exporter(argc - 2, argv + 2);
  if (strcmp(cmd, "version") == 0) {
    if (argc > 2) die_usage("version: unexpected argument '%s'", argv[2]);
    printf("tiershim %s\n", TIERSHIM_VERSION);
    return 0;
  }
  die_usage("unknown command '%s'", cmd);
  return EXIT_USAGE;
}
