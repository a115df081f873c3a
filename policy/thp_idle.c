/* Does the machine have a CPU to spare for a collapse? See thp_int.h.
 *
 * A collapse costs CPU: a compaction where memory is fragmented, the copy
 * of 2 MiB, and on a VM the host's backing of the new page. After llama.cpp
 * 1.1B loaded its model on small pages (thp_fill.c), collapsing its 560
 * blocks took 2.9 s of CPU. The collapse thread runs beside the program,
 * so where every CPU is busy (an engine with a thread per CPU, or other
 * programs) that CPU comes out of someone's share: llama.cpp with 2
 * threads on 2 CPUs ran at 0.74x glibc's tokens/s while its model was
 * being collapsed (docs/results.md, "1 and 2 threads").
 *
 * So a collapse starts only while the machine has had a CPU to spare:
 * at least half a CPU idle on average over the last WINDOW_NS, counting
 * what the collapse thread itself used as idle (else collapsing on the
 * one idle CPU would look like a busy machine and stop itself). The idle
 * time is /proc/stat's (idle and iowait, all CPUs). A sample of the
 * runnable count (/proc/loadavg) was tried first and let most collapses
 * through: the threads of a busy engine wait for each other many times a
 * second, and a sample often falls in such a gap.
 * A machine that never idles must still get its huge pages, so while no
 * CPU is spare the thread runs collapses on a budget: BUSY_SHARE_PCT of one
 * CPU, measured on its own CPU clock. llama.cpp's 2.9 s of collapses then
 * spread over half a minute of a busy machine, and a 320 MiB block still
 * collapses in seconds (tests/integration/thp_fill.load beside two
 * CPU-bound processes on 2 CPUs: 6 s).
 *
 * Only the collapse thread calls this: no lock. */
#define _GNU_SOURCE
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/prim.h"
#include "policy/thp.h"
#include "policy/thp_int.h"

#define BUSY_SHARE_PCT 10
#define BUDGET_MIN_NS (2 * 1000000ull)   /* about one collapse */
#define BUDGET_MAX_NS (100 * 1000000ull) /* what a quiet spell may save up */

#define WINDOW_NS (50 * 1000000ull)

/* /proc/stat's first line, "cpu  user nice system idle iowait irq ...":
 * idle + iowait in clock ticks, or -1 */
int64_t ts_thp_stat_idle_ticks(const char *text) {
  if (strncmp(text, "cpu ", 4) != 0) return -1;
  const char *p = text + 4;
  int64_t v[5];
  for (int i = 0; i < 5; i++) {
    while (*p == ' ') p++;
    if (*p < '0' || *p > '9') return -1;
    v[i] = 0;
    for (; *p >= '0' && *p <= '9'; p++) v[i] = v[i] * 10 + (*p - '0');
  }
  return v[3] + v[4];
}

static uint64_t thread_cpu_ns(void) {
  struct timespec t;
  if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t) != 0) return 0;
  return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

static uint64_t idle_last_ns, idle_last_cpu;
static int64_t idle_budget_ns = BUDGET_MIN_NS; /* a collapse that overran leaves a debt */
static bool idle_on_budget; /* the last collapse allowed ran on the budget */
static uint64_t win_ns, win_cpu;
static int64_t win_idle = -1;
static bool win_spare = true;

/* The budget grows by the share of the wall time since the last call and
 * pays for the CPU this thread used since, if that went to a collapse
 * allowed on the budget. */
static void budget_update(uint64_t now, uint64_t cpu) {
  if (idle_last_ns != 0) {
    uint64_t gained = (now - idle_last_ns) / 100 * BUSY_SHARE_PCT;
    idle_budget_ns += gained > BUDGET_MAX_NS ? (int64_t)BUDGET_MAX_NS : (int64_t)gained;
    if (idle_on_budget) idle_budget_ns -= (int64_t)(cpu - idle_last_cpu);
    if (idle_budget_ns > (int64_t)BUDGET_MAX_NS) idle_budget_ns = BUDGET_MAX_NS;
  }
  idle_last_ns = now;
  idle_last_cpu = cpu;
}

/* Was half a CPU spare over the window that ends now? Decided once per
 * WINDOW_NS; in between, the last verdict stands. */
static bool window_spare(uint64_t now, uint64_t cpu, int64_t idle_ticks, long hz) {
  if (idle_ticks < 0 || hz <= 0) return true; /* no /proc/stat: as before this gate */
  if (win_idle >= 0 && now - win_ns < WINDOW_NS) return win_spare;
  if (win_idle >= 0 && idle_ticks >= win_idle) {
    uint64_t idle_ns = (uint64_t)(idle_ticks - win_idle) * (1000000000ull / (uint64_t)hz) + (cpu - win_cpu);
    win_spare = idle_ns * 2 >= now - win_ns;
  }
  win_ns = now, win_cpu = cpu, win_idle = idle_ticks;
  return win_spare;
}

bool ts_thp_idle_decide(uint64_t now, uint64_t thread_cpu, int64_t idle_ticks, long hz) {
  budget_update(now, thread_cpu);
  idle_on_budget = false;
  if (window_spare(now, thread_cpu, idle_ticks, hz)) return true;
  if (idle_budget_ns >= (int64_t)BUDGET_MIN_NS) {
    idle_on_budget = true;
    return true;
  }
  __atomic_add_fetch(&ts_thp_stats.collapse_waited_cpu, 1, __ATOMIC_RELAXED);
  return false;
}

void ts_thp_idle_reset(void) {
  idle_last_ns = idle_last_cpu = 0;
  idle_budget_ns = BUDGET_MIN_NS;
  idle_on_budget = false;
  win_ns = win_cpu = 0;
  win_idle = -1;
  win_spare = true;
}

bool thp_cpu_spare(void) {
  static long hz;
  if (hz == 0) hz = sysconf(_SC_CLK_TCK);
  uint64_t now = ts_prim_clock_ns();
  int64_t idle = win_idle; /* within the window the verdict stands: /proc/stat is not read */
  if (idle < 0 || now - win_ns >= WINDOW_NS) {
    char text[256]; /* the first line is all we need (the kernel renders the whole file) */
    idle = ts_prim_read_file("/proc/stat", text, sizeof text) > 0 ? ts_thp_stat_idle_ticks(text) : -1;
  }
  return ts_thp_idle_decide(now, thread_cpu_ns(), idle, hz);
}
