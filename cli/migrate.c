/* tiershim migrate: move another process's pages to one node, like
 * numactl's `migratepages`, but batched and split across threads by the
 * migration engine (policy/migrate.c).
 *
 *   tiershim migrate --pid PID --to NODE [--from NODE] [--threads N]
 *                    [--rate BYTES/s] [--all] [--json]
 *
 * Which mappings of /proc/PID/maps are moved:
 *  - anonymous memory: no path, [heap], [stack], [anon:NAME], and shared
 *    anonymous memory ("/dev/zero (deleted)"), whatever its permissions
 *    except none at all;
 *  - private writable file mappings (a library's .data, a MAP_PRIVATE
 *    file written to): their written pages are anonymous copies; pages not
 *    yet written are the file's page cache, which MPOL_MF_MOVE moves only
 *    where this process alone maps them;
 *  - with --all, also shared and read-only file mappings (code, mmap'd model
 *    weights: the page cache of other processes too), and the move uses
 *    MPOL_MF_MOVE_ALL (pages mapped by other processes; CAP_SYS_NICE).
 *    Without --all they are left alone: moving page cache moves it under
 *    every process that maps it.
 * Never moved: no-access mappings (guard pages, reservations: nothing there
 * a program reads), the kernel's special mappings ([vdso], [vvar],
 * [vsyscall], [uprobes], ...: not migratable) and mappings of device files
 * under /dev (VM_IO/VM_PFNMAP memory, which maps does not flag: a device
 * path is the sign), except /dev/zero and /dev/shm.
 *
 * Exit status: 0 when the request ran (pages that still failed after the
 * engine's retry are counted in the summary, by errno: a page can be busy
 * for a moment); 1 when it could not run (no such process, no permission,
 * a node without memory); 2 for usage errors. The CLI is not the shim:
 * stdio and malloc are fine here. */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "policy/migrate.h"
#include "base/prim.h"
#include "policy/tiers.h"

#define EXIT_USAGE 2
#define HAS_MEMORY "/sys/devices/system/node/has_memory"

int ts_cli_migrate(int argc, char **argv);

#define MIG_USAGE \
  "usage: tiershim migrate --pid PID --to NODE [--from NODE] [--threads N] [--rate BYTES/s] [--all] [--json]\n"

static int mig_usage(const char *problem, const char *arg) {
  fprintf(stderr, "tiershim migrate: %s%s\n" MIG_USAGE, problem, arg);
  return EXIT_USAGE;
}

static int mig_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int mig_error(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("tiershim migrate: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  return 1;
}

/* A whole non-negative number below limit; false if s is anything else. */
static bool parse_int(const char *s, long limit, int *out) {
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno || end == s || *end != '\0' || v < 0 || v >= limit || s[0] == '-' || s[0] == '+') return false;
  *out = (int)v;
  return true;
}

/* BYTES/s: a number with an optional K, M, G or T (powers of 1024),
 * optionally followed by "B"/"iB" and "/s": 500M, 1.5G, 2GiB/s, 1000000. */
static bool parse_rate(const char *s, uint64_t *out) {
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  if (errno || end == s || v < 0 || s[0] == '-') return false;
  double mul = 1;
  switch (*end) {
  case 'k': case 'K': mul = 1024.0; end++; break;
  case 'm': case 'M': mul = 1024.0 * 1024; end++; break;
  case 'g': case 'G': mul = 1024.0 * 1024 * 1024; end++; break;
  case 't': case 'T': mul = 1024.0 * 1024 * 1024 * 1024; end++; break;
  default: break;
  }
  if (mul > 1 && end[0] == 'i' && end[1] == 'B') end += 2;
  else if (end[0] == 'B') end++;
  if (strcmp(end, "/s") == 0) end += 2;
  if (*end != '\0') return false;
  v *= mul;
  if (v >= 1.8e19) return false;
  *out = (uint64_t)v;
  return true;
}

/* The memory nodes, from sysfs; false (and why in errno) if unreadable. */
static bool memory_nodes(uint64_t *mask) {
  char text[512];
  FILE *f = fopen(HAS_MEMORY, "r");
  if (f == NULL) return false;
  size_t n = fread(text, 1, sizeof text - 1, f);
  fclose(f);
  text[n] = '\0';
  while (n > 0 && (text[n - 1] == '\n' || text[n - 1] == ' ')) text[--n] = '\0';
  if (ts_nodelist_parse(text, mask) != 0) {
    errno = EINVAL;
    return false;
  }
  return true;
}

static int bad_node(int node, uint64_t mem) {
  char list[256];
  ts_nodelist_format(mem, list, sizeof list);
  return mig_error("node %d has no memory (memory nodes: %s)", node, list[0] ? list : "none");
}

static int no_permission(int pid, const char *what) {
  /* move_pages and /proc/PID/maps both check ptrace access (kernel 4.13
   * on); CAP_SYS_NICE alone was the rule before, and still is for --all */
  return mig_error("no permission to %s of process %d: moving another user's pages needs the same user or root "
                   "(CAP_SYS_PTRACE; CAP_SYS_NICE too for --all)",
                   what, pid);
}

/* ---- the process ---------------------------------------------------------
 * /proc/PID/maps and move_pages(2) name the process by its pid, and a pid is
 * given to a new process once the old one is reaped. So the command opens a
 * pidfd first and checks it, without waiting, before reading the maps,
 * before moving and after: while the pidfd has not become readable the
 * process has not exited, so it has not been reaped, and its pid named it
 * all along. A zombie (exited, not yet reaped) counts as exited: its maps
 * read empty. The start time (field 22 of /proc/PID/stat) is compared as
 * well, which is all there is on kernels without pidfd_open (before 5.3).
 * What remains: a pid reused before the command started names the new
 * process, as with any command that takes a pid; and if the process exits
 * during the move and its pid is reused at once, pages of the successor may
 * have moved before the last check reports the exit. */
typedef struct mig_target_s {
  int pid, pidfd; /* pidfd -1: none (old kernel) */
  unsigned long long start;
} mig_target_t;

/* The start time in clock ticks since boot; false if the process is gone. */
static bool start_time(int pid, unsigned long long *out) {
  char path[64], text[1024];
  snprintf(path, sizeof path, "/proc/%d/stat", pid);
  FILE *f = fopen(path, "r");
  if (f == NULL) return false;
  size_t n = fread(text, 1, sizeof text - 1, f);
  fclose(f);
  text[n] = '\0';
  const char *p = strrchr(text, ')'); /* after the command name, which may hold anything */
  for (int field = 2; p != NULL && field < 22; field++) p = strchr(p + 1, ' ');
  return p != NULL && sscanf(p + 1, "%llu", out) == 1;
}

/* 0, or ESRCH: no such process, or it has exited (zombie included). */
static int target_open(int pid, mig_target_t *t) {
  t->pid = pid;
  t->pidfd = ts_prim_pidfd_open(pid);
  if (t->pidfd == -ESRCH) return ESRCH;
  if (t->pidfd < 0) t->pidfd = -1;
  return start_time(pid, &t->start) ? 0 : ESRCH;
}

/* Whether the process opened is still running under its pid. */
static bool target_alive(const mig_target_t *t) {
  struct pollfd p = {.fd = t->pidfd, .events = POLLIN};
  if (t->pidfd >= 0 && poll(&p, 1, 0) != 0) return false; /* readable: it exited */
  unsigned long long start;
  return start_time(t->pid, &start) && start == t->start;
}

static int target_gone(const mig_target_t *t, const char *when) {
  return mig_error("process %d has exited%s", t->pid, when);
}

/* ---- the ranges ----------------------------------------------------------- */

typedef struct mig_ranges_s {
  ts_mrange_t *r;
  size_t n, cap;
  uint64_t bytes;
  size_t skipped; /* mappings left alone */
} mig_ranges_t;

/* Whether a mapping of maps is one to move; see the top of this file. */
static bool mapping_wanted(const char *perms, const char *path, bool all) {
  if (perms[0] != 'r' && perms[1] != 'w' && perms[2] != 'x') return false; /* no access */
  bool shared = perms[3] == 's', writable = perms[1] == 'w';
  if (path[0] == '\0') return true;                       /* anonymous */
  if (path[0] == '[') {                                   /* [heap], [stack], [anon:x] */
    return strcmp(path, "[heap]") == 0 || strncmp(path, "[stack", 6) == 0 || strncmp(path, "[anon:", 6) == 0;
  }
  if (strncmp(path, "/dev/zero", 9) == 0) return true;  /* shared anonymous memory */
  if (strncmp(path, "/dev/", 5) == 0 && strncmp(path, "/dev/shm/", 9) != 0) return false; /* devices */
  if (!shared && writable) return true;                   /* private writable file mapping */
  return all;                                             /* page cache: only with --all */
}

static bool add_range(mig_ranges_t *rs, uintptr_t lo, uintptr_t hi) {
  if (rs->n > 0 && rs->r[rs->n - 1].addr + rs->r[rs->n - 1].len == lo) {
    rs->r[rs->n - 1].len += hi - lo; /* adjacent VMAs (a split by mprotect/mbind): one range */
  } else {
    if (rs->n == rs->cap) {
      size_t cap = rs->cap ? rs->cap * 2 : 64;
      ts_mrange_t *r = realloc(rs->r, cap * sizeof *r);
      if (r == NULL) return false;
      rs->r = r;
      rs->cap = cap;
    }
    rs->r[rs->n++] = (ts_mrange_t){.addr = lo, .len = hi - lo};
  }
  rs->bytes += hi - lo;
  return true;
}

/* Reads /proc/PID/maps. Returns 0 or an errno (ENOENT: no such process). */
static int read_ranges(int pid, bool all, mig_ranges_t *rs) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/maps", pid);
  FILE *f = fopen(path, "r");
  if (f == NULL) return errno;
  char *line = NULL;
  size_t cap = 0;
  ssize_t len;
  errno = 0;
  while ((len = getline(&line, &cap, f)) > 0) {
    if (line[len - 1] == '\n') line[--len] = '\0';
    unsigned long lo, hi;
    char perms[8];
    int path_at = 0;
    /* start-end perms offset dev inode [path] */
    if (sscanf(line, "%lx-%lx %7s %*s %*s %*s %n", &lo, &hi, perms, &path_at) < 3 || strlen(perms) < 4) continue;
    const char *p = path_at > 0 && path_at <= len ? line + path_at : "";
    if (!mapping_wanted(perms, p, all)) {
      rs->skipped++;
      continue;
    }
    if (hi > lo && !add_range(rs, lo, hi)) {
      free(line);
      fclose(f);
      return ENOMEM;
    }
  }
  int err = ferror(f) ? (errno ? errno : EIO) : 0;
  free(line);
  fclose(f);
  return err;
}

/* ---- output ------------------------------------------------------------- */

static void print_failed(const ts_migrate_result_t *res) {
  printf("%" PRIu64, res->pages_failed);
  if (res->pages_failed == 0) return;
  printf(" (");
  bool first = true;
  for (int i = 0; i < TS_MIG_NERR; i++) {
    if (res->err[i] == 0) continue;
    printf("%s%s %" PRIu64, first ? "" : ", ", ts_mig_err_names[i], res->err[i]);
    first = false;
  }
  printf(")");
}

static void print_text(int pid, const ts_migrate_req_t *q, const mig_ranges_t *rs, const ts_migrate_result_t *res) {
  double s = (double)res->ns * 1e-9, bytes = (double)res->pages_moved * 4096.0;
  printf("tiershim migrate: pid %d", pid);
  if (q->from >= 0) printf(", node %d", q->from);
  printf(" -> node %d: moved %" PRIu64 " pages (%.1f MiB), already there %" PRIu64 ", absent %" PRIu64
         ", failed ",
         q->target, res->pages_moved, bytes / (1024.0 * 1024.0), res->pages_already, res->pages_absent);
  print_failed(res);
  printf(", threads %d, %.3f s, %.2f GB/s (%zu ranges, %.1f MiB mapped)\n", res->threads, s,
         s > 0 ? bytes / s / 1e9 : 0.0, rs->n, (double)rs->bytes / (1024.0 * 1024.0));
}

static void print_json(int pid, const ts_migrate_req_t *q, const mig_ranges_t *rs, const ts_migrate_result_t *res) {
  double s = (double)res->ns * 1e-9, bytes = (double)res->pages_moved * 4096.0;
  printf("{\"pid\": %d, \"to\": %d, \"from\": %d, \"move_all\": %s, \"rate\": %" PRIu64
         ", \"ranges\": %zu, \"mapped_bytes\": %" PRIu64 ", \"skipped_mappings\": %zu,\n"
         " \"pages_moved\": %" PRIu64 ", \"bytes_moved\": %" PRIu64 ", \"pages_already\": %" PRIu64
         ", \"pages_absent\": %" PRIu64 ", \"pages_failed\": %" PRIu64 ", \"pages_retried\": %" PRIu64
         ",\n \"failed_by_errno\": {",
         pid, q->target, q->from, q->move_all ? "true" : "false", q->rate, rs->n, rs->bytes, rs->skipped,
         res->pages_moved, res->pages_moved * 4096, res->pages_already, res->pages_absent, res->pages_failed,
         res->pages_retried);
  for (int i = 0; i < TS_MIG_NERR; i++) printf("%s\"%s\": %" PRIu64, i ? ", " : "", ts_mig_err_names[i], res->err[i]);
  printf("},\n \"moved_from\": {");
  bool first = true;
  for (int n = 0; n < 64; n++) {
    if (res->moved_from[n] == 0) continue;
    printf("%s\"%d\": %" PRIu64, first ? "" : ", ", n, res->moved_from[n]);
    first = false;
  }
  printf("}, \"calls\": %" PRIu64 ", \"threads\": %d, \"seconds\": %.6f, \"gb_per_s\": %.4f}\n", res->calls,
         res->threads, s, s > 0 ? bytes / s / 1e9 : 0.0);
}

/* Reads the maps and moves, checking between steps that the process is
 * still the one opened. */
static int mig_run(const mig_target_t *t, const ts_migrate_req_t *q, bool json, uint64_t mem) {
  int pid = t->pid;
  if (!target_alive(t)) return target_gone(t, "");
  mig_ranges_t rs = {0};
  int err = read_ranges(pid, q->move_all, &rs);
  if (err == 0 && !target_alive(t)) err = ESRCH; /* the maps may be another process's */
  if (err != 0) {
    free(rs.r);
    if (err == ENOENT || err == ESRCH) return target_gone(t, "");
    if (err == EACCES || err == EPERM) return no_permission(pid, "read the memory map");
    return mig_error("cannot read /proc/%d/maps: %s", pid, strerror(err));
  }
  ts_migrate_result_t res;
  int rc = rs.n ? ts_migrate(rs.r, rs.n, q, &res) : 0;
  if (rs.n == 0) memset(&res, 0, sizeof res);
  if (rc == 0 && !target_alive(t)) rc = -ESRCH;
  int status = 0;
  switch (-rc) {
  case 0: break;
  case ESRCH: status = target_gone(t, " (during the migration)"); break;
  case EPERM: case EACCES:
    status = q->move_all ? mig_error("no permission: --all (MPOL_MF_MOVE_ALL, pages other processes map too) needs "
                             "CAP_SYS_NICE")
                 : no_permission(pid, "move the pages");
    break;
  case ENODEV: status = bad_node(q->target, mem); break;
  default: status = mig_error("move_pages failed: %s", strerror(-rc)); break;
  }
  if (status == 0) {
    if (json) print_json(pid, q, &rs, &res);
    else print_text(pid, q, &rs, &res);
  }
  free(rs.r);
  return status;
}

/* ---- the command -------------------------------------------------------- */

int ts_cli_migrate(int argc, char **argv) {
  int pid = -1, to = -1, from = -1, threads = 0;
  uint64_t rate = 0;
  bool all = false, json = false;
  for (int i = 0; i < argc; i++) {
    const char *a = argv[i];
    bool has_value = i + 1 < argc;
    if (strcmp(a, "--all") == 0) all = true;
    else if (strcmp(a, "--json") == 0) json = true;
    else if (strcmp(a, "--pid") == 0 && has_value) {
      if (!parse_int(argv[++i], 1L << 22, &pid) || pid == 0) return mig_usage("--pid wants a process id, got ", argv[i]);
    } else if (strcmp(a, "--to") == 0 && has_value) {
      if (!parse_int(argv[++i], 1024, &to)) return mig_usage("--to wants a node number, got ", argv[i]);
    } else if (strcmp(a, "--from") == 0 && has_value) {
      if (!parse_int(argv[++i], 1024, &from)) return mig_usage("--from wants a node number, got ", argv[i]);
    } else if (strcmp(a, "--threads") == 0 && has_value) {
      if (!parse_int(argv[++i], TS_MIG_THREADS_MAX + 1, &threads) || threads < 1)
        return mig_usage("--threads wants 1 to 64, got ", argv[i]);
    } else if (strcmp(a, "--rate") == 0 && has_value) {
      if (!parse_rate(argv[++i], &rate)) return mig_usage("--rate wants BYTES/s (e.g. 500M, 2G), got ", argv[i]);
    } else {
      return mig_usage("unknown or incomplete option ", a);
    }
  }
  if (pid < 0) return mig_usage("--pid is required", "");
  if (to < 0) return mig_usage("--to is required", "");
  if (threads == 0) {
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    threads = cpus < 1 ? 1 : cpus < 4 ? (int)cpus : 4;
  }

  /* Nodes first: a typo in --to should not need a live process to show. */
  uint64_t mem = 0;
  if (!memory_nodes(&mem)) return mig_error("cannot read %s: %s", HAS_MEMORY, strerror(errno));
  if (to >= 64 || !(mem >> to & 1)) return bad_node(to, mem);
  if (from >= 0 && (from >= 64 || !(mem >> from & 1))) return bad_node(from, mem);

  mig_target_t t;
  if (target_open(pid, &t) != 0) return mig_error("no such process: %d", pid);
  ts_migrate_req_t q = {.pid = pid, .target = to, .from = from, .threads = threads, .rate = rate, .move_all = all};
  int status = mig_run(&t, &q, json, mem);
  if (t.pidfd >= 0) close(t.pidfd);
  return status;
}
