/* Re-entry from signal handlers; see reentry.h. */
#include "base/reentry.h"

__thread unsigned ts_busy __attribute__((tls_model("initial-exec")));
__thread ts_defer_q_t ts_defer_q __attribute__((tls_model("initial-exec")));
void (*ts_defer_hook)(const ts_defer_op_t *op);
uint64_t ts_defer_pushed, ts_defer_refused;

/* The slot is reserved before it is filled: a handler nested in this one
 * takes the next slot. Nothing drains while a push is half done, since
 * draining needs the count at zero and a pushing handler runs with it up. */
bool ts_defer_push(ts_defer_kind_t kind, uintptr_t addr, size_t len, int arg) {
  unsigned i = ts_defer_q.n;
  if (i >= TS_DEFER_MAX) {
    __atomic_fetch_add(&ts_defer_refused, 1, __ATOMIC_RELAXED);
    return false;
  }
  ts_defer_q.n = i + 1;
  __atomic_signal_fence(__ATOMIC_SEQ_CST);
  ts_defer_q.op[i] = (ts_defer_op_t){.kind = kind, .arg = arg, .addr = addr, .len = len};
  __atomic_signal_fence(__ATOMIC_SEQ_CST);
  __atomic_fetch_add(&ts_defer_pushed, 1, __ATOMIC_RELAXED);
  return true;
}

/* Runs with the count raised, so the hook's own locks do not drain again;
 * a handler that interrupts the drain queues behind it and is picked up,
 * also one that lands between the last check and the count's drop. */
void ts_defer_drain(void) {
  for (;;) {
    ts_busy_enter();
    unsigned i = 0;
    for (;;) {
      unsigned n = __atomic_load_n(&ts_defer_q.n, __ATOMIC_RELAXED);
      if (i < n) {
        ts_defer_op_t op = ts_defer_q.op[i++];
        if (ts_defer_hook) ts_defer_hook(&op);
        continue;
      }
      if (__atomic_compare_exchange_n(&ts_defer_q.n, &n, 0, false, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) break;
    }
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    ts_busy--;
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    if (ts_busy != 0 || ts_defer_q.n == 0) return;
  }
}
