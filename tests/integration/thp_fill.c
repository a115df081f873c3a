/* thp_fill: a large uninitialised block the program fills ends up in huge
 * pages, and nothing is populated behind the program's back.
 *
 * A multi-threaded program (a second, idle thread: tiershim's collapse
 * thread may run) mallocs two 128 MiB blocks:
 *   - `idle` is never touched: after a while not one page of it may be
 *     resident (no background work populates memory a program allocates
 *     whole and fills later, such as a KV cache);
 *   - `data` is written once, densely: it must end up with huge pages over
 *     at least 90% of its whole 2 MiB blocks within 30 s, at fault time
 *     (THP fault, or auto with free memory) or collapsed after the fill
 *     (THP collapse: the collapse thread waits while the program faults
 *     memory in, then rebuilds the blocks), with its content intact.
 * With a size of 256 MiB or more (argv[1], in MiB), on a VM whose balloon
 * reports free pages, auto fills `data` on small pages and collapses it
 * afterwards (policy/thp_fill.c): the same checks hold.
 * The program's own threads keep their nice value (0) and any task tiershim
 * started runs at nice 19; with TIERSHIM_THP=collapse there is one.
 * Prints which of the two it saw. Exit 77 when THP is off or the kernel
 * has no MADV_COLLAPSE (before 6.1), 1 on a failure. */
#include "it_common.h"

#include <dirent.h>
#include <pthread.h>
#include <stdbool.h>
#include <time.h>
#include <unistd.h>

#define MIB ((size_t)1 << 20)
static size_t LEN = 128 * MIB; /* argv[1]: another size in MiB */
#define PMD (2 * MIB)

static volatile pid_t idle_tid;

static void *idle_thread(void *arg) {
  (void)arg;
  idle_tid = gettid();
  for (;;) pause();
  return NULL;
}

/* The nice value of task tid (field 19 of /proc/self/task/TID/stat, after
 * the parenthesised name); 99 when unreadable. */
static int task_nice(const char *tid) {
  char path[64], buf[512];
  snprintf(path, sizeof path, "/proc/self/task/%s/stat", tid);
  FILE *f = fopen(path, "r");
  if (f == NULL) return 99;
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = 0;
  char *p = strrchr(buf, ')');
  int nice = 99;
  for (int field = 3; p != NULL && field <= 19; field++) {
    p = strchr(p + 1, ' ');
    if (p != NULL && field == 19) nice = atoi(p + 1);
  }
  return nice;
}

/* The program's two threads at nice 0, every other task at 19; returns the
 * number of others, or -1 after printing a failure. */
static int check_nice(void) {
  DIR *d = opendir("/proc/self/task");
  if (d == NULL) return 0;
  int others = 0, bad = 0;
  for (struct dirent *e; (e = readdir(d)) != NULL;) {
    if (e->d_name[0] == '.') continue;
    pid_t tid = (pid_t)atoi(e->d_name);
    int nice = task_nice(e->d_name), want = tid == getpid() || tid == idle_tid ? 0 : 19;
    if (nice != want) {
      printf("FAIL: task %d runs at nice %d (expected %d: %s)\n", (int)tid, nice, want,
             want == 0 ? "the program's own thread" : "a thread of tiershim's");
      bad = 1;
    }
    others += want == 19;
  }
  closedir(d);
  return bad ? -1 : others;
}

/* AnonHugePages (kB) of the VMAs of /proc/self/smaps within [lo, hi):
 * exact for whole blocks (a huge page lies in one VMA). The file is read
 * in pieces while the collapse thread changes the VMAs, so a VMA may show
 * up twice or grown: one that starts before the end of the last is skipped,
 * and none counts more than its overlap with [lo, hi). Never too much; a
 * read that counts too little is retried by the caller. */
static long huge_kb_in(uintptr_t lo, uintptr_t hi) {
  FILE *f = fopen("/proc/self/smaps", "r");
  if (f == NULL) return -1;
  char line[512];
  bool in = false;
  unsigned long last_end = 0, cap = 0;
  long kb = 0;
  while (fgets(line, sizeof line, f)) {
    unsigned long a, b;
    long v;
    if (sscanf(line, "%lx-%lx ", &a, &b) == 2 && strchr(line, '-') < strchr(line, ' ')) {
      in = a < hi && b > lo && a >= last_end;
      if (b > last_end) last_end = b;
      cap = in ? ((b < hi ? b : hi) - (a > lo ? a : lo)) / 1024 : 0;
    } else if (in && sscanf(line, "AnonHugePages: %ld kB", &v) == 1) {
      kb += (unsigned long)v < cap ? v : (long)cap;
    }
  }
  fclose(f);
  return kb;
}

int main(int argc, char **argv) {
  if (argc > 1) LEN = (size_t)atol(argv[1]) * MIB;
  if (!it_thp_collapse_usable()) {
    printf("thp_fill: skip: THP off or no MADV_COLLAPSE\n");
    return 77;
  }
  pthread_t t;
  if (pthread_create(&t, NULL, idle_thread, NULL) != 0) return 1;
  char *idle = malloc(LEN), *data = malloc(LEN);
  if (idle == NULL || data == NULL) return 1;
  uintptr_t lo = ((uintptr_t)data + PMD - 1) & ~(PMD - 1), hi = ((uintptr_t)data + LEN) & ~(PMD - 1);
  /* the block's VMA may hold other memory (placed neighbours, a merged
   * mapping): count what it gains */
  long base = huge_kb_in(lo, hi);
  for (size_t i = 0; i < LEN; i += 4096) data[i] = (char)(i / 4096 * 31 + 7);
  memset(data + 1, 0x5a, 100); /* some bytes beyond the first of a page */
  long whole_kb = (long)((hi - lo) / 1024), at_fault = huge_kb_in(lo, hi) - base, huge = at_fault;
  for (int i = 0; i < 300 && huge * 10 < whole_kb * 9; i++) {
    struct timespec ts = {0, 100 * 1000 * 1000};
    nanosleep(&ts, NULL);
    huge = huge_kb_in(lo, hi) - base;
  }
  int fail = 0;
  const char *thp = getenv("TIERSHIM_THP");
  int others = check_nice();
  if (others < 0) fail = 1;
  else if (thp != NULL && strcmp(thp, "collapse") == 0 && others == 0) {
    printf("FAIL: TIERSHIM_THP=collapse, but no thread of tiershim's runs\n");
    fail = 1;
  }
  size_t idle_res = it_resident_pages(idle, LEN);
  if (idle_res != 0) {
    printf("FAIL: %zu pages of the untouched block are resident (expected 0)\n", idle_res);
    fail = 1;
  }
  if (huge * 10 < whole_kb * 9) {
    printf("FAIL: %ld of %ld kB of the filled block's whole blocks are huge after 30 s (expected >= 90%%)\n",
           huge, whole_kb);
    fail = 1;
  }
  for (size_t i = 0; i < LEN; i += 4096)
    if (data[i] != (char)(i / 4096 * 31 + 7) || (i == 0 && data[1] != 0x5a)) {
      printf("FAIL: byte %zu changed\n", i);
      fail = 1;
      break;
    }
  printf("thp_fill: %s: %ld of %ld kB huge right after the fill, %ld later; untouched block: %zu pages resident;"
         " %d task(s) of tiershim's at nice 19\n",
         at_fault * 10 >= whole_kb * 9 ? "huge at fault time" : "collapsed after the fill", at_fault, whole_kb,
         huge, idle_res, others);
  return fail;
}
