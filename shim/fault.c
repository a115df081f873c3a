/* Fault injection for the reliability tests (docs/reliability.md). Built
 * only into the tiershim_fault variant of the shim (TS_FAULT_INJECT); the
 * shipped library has none of it. With TS_FAULTS=PERMILLE[:SEED[:OPS]] in
 * the environment, each mmap, madvise, MADV_COLLAPSE, mbind/set_mempolicy,
 * move_pages and process_madvise the shim makes (or forwards) fails with
 * probability PERMILLE/1000, with an errno the kernel can give for it. OPS
 * is a bit mask over ts_fault_op_t (default: all). At exit one line on
 * stderr says what was injected. Not a TIERSHIM_ variable: the options
 * table would reject it in the shipped library, and rightly. */
#include "shim/shim.h"

#ifdef TS_FAULT_INJECT
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include "base/msg.h"
#include "base/options.h"
#include "base/prim.h"

static uint32_t fault_permille, fault_ops = (1u << TS_FAULT_NOPS) - 1;
static uint64_t fault_seed, fault_seq;
static uint64_t fault_calls[TS_FAULT_NOPS], fault_hits[TS_FAULT_NOPS];

static const char *const fault_names[TS_FAULT_NOPS] = {"mmap", "madvise", "collapse", "mbind",
                                                       "move_pages", "process_madvise"};
/* What the kernel can answer for each; the first is the most common. */
static const int fault_errs[TS_FAULT_NOPS][4] = {
    {ENOMEM, EAGAIN, ENOMEM, EAGAIN}, {EAGAIN, EINVAL, ENOMEM, EAGAIN},
    {EAGAIN, EINVAL, ENOMEM, EBUSY},  {EINVAL, ENOMEM, EIO, EINVAL},
    {ENOMEM, EBUSY, EAGAIN, ENOMEM},  {EINVAL, ENOMEM, EAGAIN, EINVAL}};

static uint64_t splitmix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

static int fault_hook(ts_fault_op_t op) {
  __atomic_fetch_add(&fault_calls[op], 1, __ATOMIC_RELAXED);
  if (!(fault_ops & (1u << op))) return 0;
  uint64_t r = splitmix(fault_seed + __atomic_fetch_add(&fault_seq, 1, __ATOMIC_RELAXED));
  if (r % 1000 >= fault_permille) return 0;
  __atomic_fetch_add(&fault_hits[op], 1, __ATOMIC_RELAXED);
  return -fault_errs[op][(r >> 20) & 3];
}

void ts_fault_init(void) {
  const char *s = getenv("TS_FAULTS");
  if (s == NULL || *s == '\0') return;
  char *end;
  fault_permille = (uint32_t)strtoul(s, &end, 10);
  if (*end == ':') fault_seed = strtoull(end + 1, &end, 10);
  if (*end == ':') fault_ops = (uint32_t)strtoul(end + 1, &end, 0);
  if (fault_permille > 1000) fault_permille = 1000;
  ts_prim_fault = fault_hook;
}

void ts_fault_report(void) {
  if (ts_prim_fault == NULL) return;
  ts_prim_fault = NULL; /* exit paths keep working normally */
  TS_MSG_BEGIN(b, storage);
  ts_buf_puts(&b, "faults injected:");
  for (int i = 0; i < TS_FAULT_NOPS; i++) {
    ts_buf_putc(&b, ' ');
    ts_buf_puts(&b, fault_names[i]);
    ts_buf_putc(&b, '=');
    ts_buf_u64(&b, fault_hits[i]);
    ts_buf_putc(&b, '/');
    ts_buf_u64(&b, fault_calls[i]);
  }
  ts_msg_end(&b);
}
#else
void ts_fault_init(void) {}
void ts_fault_report(void) {}
#endif
