/* publish_prog [MAX_SECONDS]: a long-running program for the live-stats
 * tests (publish.sh, top_tty.sh, exporter.sh). Every 100 ms it makes a
 * large allocation (the large path, whose tick refreshes the page) and a
 * few small ones; it returns from main, so destructors run and the page is
 * removed, on SIGTERM or SIGINT or after MAX_SECONDS (default 60). */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static volatile sig_atomic_t stop;
static void on_signal(int sig) { (void)sig; stop = 1; }

int main(int argc, char **argv) {
  int max_s = argc > 1 ? atoi(argv[1]) : 60;
  struct sigaction act;
  memset(&act, 0, sizeof act);
  act.sa_handler = on_signal;
  sigaction(SIGTERM, &act, NULL);
  sigaction(SIGINT, &act, NULL);
  volatile char sink = 0;
  for (int i = 0; !stop && i < max_s * 10; i++) {
    char *big = malloc(1 << 20);
    if (big) { big[0] = (char)i; sink ^= big[0]; }
    free(big);
    for (int k = 0; k < 50; k++) free(malloc(64 + (size_t)k));
    struct timespec ts = {0, 100 * 1000 * 1000};
    nanosleep(&ts, NULL);
  }
  return sink & 0;
}
