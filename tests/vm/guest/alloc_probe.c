/* alloc_probe: a small dynamic program for the VM test bed's guest tests.
 *
 *   alloc_probe          malloc 64 MiB in 1 MiB pieces, touch, free; "ok"
 *   alloc_probe bind     mbind a 16 MiB anonymous mapping to node 1, touch
 *                        it, check with move_pages that every page is on
 *                        node 1, move them all to node 0, check again; "ok"
 *
 * Raw syscalls only (no libnuma): the guest holds just what ldd finds.
 * Prints PASS:/FAIL: per step; exits 1 on any failure.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#define MPOL_BIND 2
#define MPOL_MF_MOVE (1 << 1)

static int failed;

static void check(int ok, const char *what)
{
    printf("%s: %s\n", ok ? "PASS" : "FAIL", what);
    if (!ok)
        failed = 1;
}

static int run_malloc(void)
{
    enum { N = 64, SZ = 1 << 20 };
    char *p[N];
    for (int i = 0; i < N; i++) {
        p[i] = malloc(SZ);
        if (!p[i]) {
            printf("FAIL: malloc #%d of 1 MiB\n", i);
            return 1;
        }
        memset(p[i], i + 1, SZ);
    }
    long sum = 0;
    for (int i = 0; i < N; i++)
        sum += p[i][SZ / 2] + p[i][SZ - 1];
    for (int i = 0; i < N; i++)
        free(p[i]);
    check(sum == 2L * (N * (N + 1) / 2), "64 x 1 MiB malloc, touch, free");
    return failed;
}

/* move_pages(pid 0) over every page of [p, p+len): with nodes NULL it
 * queries, else it moves. Returns the number of pages whose status is
 * `want`, or -1 if the call failed. */
static long move_or_query(char *p, size_t len, const int *nodes, int want, const char *what)
{
    long pg = sysconf(_SC_PAGESIZE);
    unsigned long n = len / pg;
    void **pages = calloc(n, sizeof *pages);
    int *status = calloc(n, sizeof *status);
    if (!pages || !status)
        return -1;
    for (unsigned long i = 0; i < n; i++) {
        pages[i] = p + i * pg;
        status[i] = -12345;
    }
    long r = syscall(SYS_move_pages, 0, n, pages, nodes, status, nodes ? MPOL_MF_MOVE : 0);
    if (r < 0) {
        printf("INFO: %s: move_pages: %s\n", what, strerror(errno));
        free(pages), free(status);
        return -1;
    }
    unsigned long good = 0, first_bad = n;
    for (unsigned long i = 0; i < n; i++) {
        if (status[i] == want)
            good++;
        else if (first_bad == n)
            first_bad = i;
    }
    if (good != n)
        printf("INFO: %s: %lu/%lu pages report node %d (first other: page %lu, status %d); "
               "move_pages returned %ld\n", what, good, n, want, first_bad, status[first_bad], r);
    free(pages), free(status);
    return (long)good;
}

static int run_bind(void)
{
    const size_t len = 16 << 20;
    long pg = sysconf(_SC_PAGESIZE);
    unsigned long n = len / pg;
    char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        printf("FAIL: mmap 16 MiB: %s\n", strerror(errno));
        return 1;
    }
    unsigned long mask = 1UL << 1;  /* node 1 */
    long r = syscall(SYS_mbind, p, len, MPOL_BIND, &mask, sizeof mask * 8 + 1, 0);
    check(r == 0, "mbind 16 MiB to node 1");
    if (r != 0) {
        printf("INFO: mbind: %s\n", strerror(errno));
        return 1;
    }
    memset(p, 0x5a, len);
    check(move_or_query(p, len, NULL, 1, "query") == (long)n,
          "all pages of the mbind(node 1) mapping on node 1");

    int *nodes = calloc(n, sizeof *nodes);  /* all 0 */
    if (!nodes)
        return 1;
    /* the mapping's policy still says node 1: drop it so the move sticks */
    syscall(SYS_mbind, p, len, 0 /* MPOL_DEFAULT */, NULL, 0, 0);
    /* Per-page -EBUSY is legitimate (e.g. the tail pages of a THP whose head
     * is already queued, a page still in a per-CPU LRU batch): the query
     * afterwards is what counts; retry a few times for stragglers. */
    long moved = move_or_query(p, len, nodes, 0, "move_pages to node 0");
    check(moved >= 0, "move_pages to node 0 succeeds");
    long on0 = move_or_query(p, len, NULL, 0, "query");
    for (int tries = 0; on0 >= 0 && on0 != (long)n && tries < 5; tries++) {
        usleep(100000);
        move_or_query(p, len, nodes, 0, "move_pages retry");
        on0 = move_or_query(p, len, NULL, 0, "query");
    }
    check(on0 == (long)n, "all pages on node 0 after move_pages");
    int intact = 1;
    for (size_t i = 0; i < len; i += pg)
        intact &= p[i] == 0x5a && p[i + pg - 1] == 0x5a;
    check(intact, "contents intact after migration");
    free(nodes);
    munmap(p, len);
    return failed;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    int rc;
    if (argc > 1 && strcmp(argv[1], "bind") == 0)
        rc = run_bind();
    else if (argc > 1)
        return fprintf(stderr, "usage: %s [bind]\n", argv[0]), 2;
    else
        rc = run_malloc();
    if (rc == 0 && !failed)
        printf("ok\n");
    return rc || failed;
}
