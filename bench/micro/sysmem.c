/* ts_sysmem: what a program's own memory calls, and a small program, cost
 * under the allocator that LD_PRELOAD picked (bench/micro/sysmem.sh).
 *
 *   ts_sysmem mmap-sparse|mmap-dense [-n ROUNDS]
 *       anonymous mmaps of 2 MiB and 16 MiB, half private, half shared,
 *       64 live at a time, touched one page in 64 (sparse: stress-ng's
 *       --mmaphuge pattern) or every page (dense), then unmapped tail page
 *       first
 *   ts_sysmem brk [-n OPS]
 *       stress-ng's --brk pattern: the break grows by a page 7 times, is set
 *       to itself, shrinks by a page; each new page's last byte and the byte
 *       below the old break are written
 *   ts_sysmem rss [-k KIB]
 *       a small program: KIB of 48-byte objects, written; prints the
 *       process's anonymous and file RSS (/proc/self/status)
 *   ts_sysmem threads [-n OPS] [-t THREADS]
 *       threads are created and exit continually: each allocates blocks of
 *       16 B-4 KiB that the main thread frees, then exits; THREADS at a time
 *
 * One line out: ops_per_s= cpu_s= wall_s= minflt= maxrss_kb= [rss_anon_kb=
 * rss_file_kb=] malloc_from=. Links only libc and pthread. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define MIB ((size_t)1 << 20)
#define PG ((size_t)4096)

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static double cpu_s(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (double)ru.ru_utime.tv_sec + (double)ru.ru_stime.tv_sec + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1e-6;
}

static volatile uint64_t sink;

/* ---- mmap ----------------------------------------------------------------- */

static long run_mmap(long rounds, size_t stride) {
  enum { LIVE = 64 };
  static const size_t sizes[] = {2 * MIB, 16 * MIB};
  char *p[LIVE];
  size_t len[LIVE];
  long ops = 0;
  for (long r = 0; r < rounds; r++) {
    for (int i = 0; i < LIVE; i++) {
      len[i] = sizes[i % 2];
      int flags = MAP_ANONYMOUS | (((i / 2 + r) % 2) ? MAP_PRIVATE : MAP_SHARED);
      p[i] = mmap(NULL, len[i], PROT_READ | PROT_WRITE, flags, -1, 0);
      if (p[i] == MAP_FAILED) {
        perror("mmap");
        exit(1);
      }
      uint64_t v = (uint64_t)r * 131 + (uint64_t)i;
      for (size_t o = 0; o < len[i]; o += stride) *(uint64_t *)(p[i] + o) = v++;
      ops++;
    }
    for (int i = 0; i < LIVE; i++) {
      uint64_t v = (uint64_t)r * 131 + (uint64_t)i;
      for (size_t o = 0; o < len[i]; o += stride)
        if (*(uint64_t *)(p[i] + o) != v++) {
          fprintf(stderr, "ts_sysmem: mapping %d holds the wrong data\n", i);
          exit(1);
        }
      munmap(p[i] + len[i] - PG, PG);
      munmap(p[i], len[i] - PG);
    }
  }
  return ops;
}

/* ---- brk ------------------------------------------------------------------ */

static void *volatile keep;

static long run_brk(long n) {
  keep = malloc(64); /* a program has allocated before it plays with the break (volatile: not elided) */
  free(keep);
  char *start = sbrk(0);
  long ops = 0;
  for (long i = 0; i < n; i++) {
    char *p;
    int k = (int)(i % 9);
    if (i % 9000 == 8999 && brk(start) != 0) { /* a bounded heap: back to the start now and then */
      perror("brk");
      exit(1);
    }
    if (k < 7) {
      p = sbrk((intptr_t)PG);
      if (p != (void *)-1) {
        p[-1] = 1;
        p[PG - 1] = 2;
      }
    } else {
      p = sbrk(0);
      if (brk(k == 7 ? p : p - PG) != 0) p = (void *)-1;
    }
    if (p == (void *)-1) {
      if (brk(start) != 0) {
        perror("brk");
        exit(1);
      }
      continue;
    }
    ops++;
  }
  (void)brk(start);
  return ops;
}

/* ---- a small program -------------------------------------------------------- */

static long status_kb(const char *key) {
  FILE *f = fopen("/proc/self/status", "r");
  char line[256];
  long v = -1;
  size_t n = strlen(key);
  while (f && fgets(line, sizeof line, f))
    if (strncmp(line, key, n) == 0) v = strtol(line + n, NULL, 10);
  if (f) fclose(f);
  return v;
}

typedef struct node_s {
  struct node_s *next;
  char pad[40];
} node_t;

static long run_rss(long kib) {
  node_t *head = NULL;
  for (long i = 0; i < kib * 1024 / (long)sizeof(node_t); i++) {
    node_t *x = malloc(sizeof *x);
    memset(x->pad, (int)i, sizeof x->pad);
    x->next = head;
    head = x;
  }
  long n = 0;
  for (node_t *x = head; x; x = x->next) n++;
  sink = (uint64_t)n;
  return n;
}

/* ---- threads come and go ---------------------------------------------------- */

enum { PER_THREAD = 256 };

typedef struct {
  pthread_t t;
  void *blocks[PER_THREAD];
  uint64_t seed;
} worker_t;

static void *worker(void *arg) {
  worker_t *w = arg;
  uint64_t s = w->seed;
  for (int i = 0; i < PER_THREAD; i++) {
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    size_t len = 16 + (size_t)((s >> 33) % 4081);
    char *b = malloc(len);
    b[0] = b[len - 1] = (char)i;
    w->blocks[i] = b;
  }
  return NULL;
}

static long run_threads(long n, int threads) {
  worker_t *w = calloc((size_t)threads, sizeof *w);
  long ops = 0;
  for (long round = 0; ops < n; round++) {
    for (int i = 0; i < threads; i++) {
      w[i].seed = (uint64_t)(round * threads + i + 1);
      if (pthread_create(&w[i].t, NULL, worker, &w[i]) != 0) {
        perror("pthread_create");
        exit(1);
      }
    }
    for (int i = 0; i < threads; i++) {
      pthread_join(w[i].t, NULL);
      for (int j = 0; j < PER_THREAD; j++) free(w[i].blocks[j]); /* freed by another thread */
      ops += PER_THREAD;
    }
  }
  free(w);
  return ops;
}

/* ---------------------------------------------------------------------------- */

static const char *malloc_from(void) {
  Dl_info info;
  void *f = dlsym(RTLD_DEFAULT, "malloc");
  if (f == NULL || dladdr(f, &info) == 0 || info.dli_fname == NULL) return "unknown";
  const char *s = strrchr(info.dli_fname, '/');
  return s ? s + 1 : info.dli_fname;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: ts_sysmem mmap-sparse|mmap-dense|brk|rss|threads [-n N] [-k KIB] [-t THREADS]\n");
    return 2;
  }
  const char *mode = argv[1];
  long n = 0, kib = 1024;
  int threads = 2, opt;
  optind = 2;
  while ((opt = getopt(argc, argv, "n:k:t:")) != -1) {
    if (opt == 'n') n = atol(optarg);
    else if (opt == 'k') kib = atol(optarg);
    else if (opt == 't') threads = atoi(optarg);
    else return 2;
  }
  double w0 = now_s(), c0 = cpu_s();
  long ops;
  if (!strcmp(mode, "mmap-sparse")) ops = run_mmap(n ? n : 20, 64 * PG);
  else if (!strcmp(mode, "mmap-dense")) ops = run_mmap(n ? n : 4, PG);
  else if (!strcmp(mode, "brk")) ops = run_brk(n ? n : 2000000);
  else if (!strcmp(mode, "rss")) ops = run_rss(kib);
  else if (!strcmp(mode, "threads")) ops = run_threads(n ? n : 2000000, threads);
  else {
    fprintf(stderr, "ts_sysmem: unknown mode %s\n", mode);
    return 2;
  }
  double wall = now_s() - w0, cpu = cpu_s() - c0;
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  printf("ops_per_s=%.0f cpu_s=%.3f wall_s=%.4f minflt=%ld maxrss_kb=%ld", ops / wall, cpu, wall, ru.ru_minflt,
         ru.ru_maxrss);
  if (!strcmp(mode, "rss")) printf(" rss_anon_kb=%ld rss_file_kb=%ld", status_kb("RssAnon:"), status_kb("RssFile:"));
  printf(" malloc_from=%s\n", malloc_from());
  return 0;
}
