/* /proc parsers, on fixed text and on this process. */
#include <criterion/criterion.h>
#include <stdlib.h>

#include "base/procfs.h"

Test(procfs, kb_fields) {
  const char *text = "55d0-7ffd ---p 00000000 00:00 0 [rollup]\n"
                     "Rss:               11732 kB\n"
                     "Anonymous:          2048 kB\n"
                     "AnonHugePages:      1024 kB\n";
  cr_assert_eq(ts_procfs_kb_field(text, "Anonymous:"), 2048u * 1024);
  cr_assert_eq(ts_procfs_kb_field(text, "AnonHugePages:"), 1024u * 1024);
  cr_assert_eq(ts_procfs_kb_field(text, "Shmem:"), 0);
}

Test(procfs, tlb_line) {
  uint64_t sum = 0;
  cr_assert(ts_procfs_tlb_line(" TLB:      12345        678   TLB shootdowns", &sum));
  cr_assert_eq(sum, 13023);
  cr_assert(ts_procfs_tlb_line("TLB: 0 0 0 0 TLB shootdowns", &sum));
  cr_assert_eq(sum, 0);
  cr_assert(!ts_procfs_tlb_line(" RES:  1  2  Rescheduling interrupts", &sum));
}

Test(procfs, this_process) {
  void *volatile p = malloc(8 << 20);
  memset(p, 1, 8 << 20);
  ts_procfs_t pf;
  ts_procfs_read(&pf);
  cr_assert_geq(pf.anon_rss_bytes, 8u << 20, "anon rss %lu", (unsigned long)pf.anon_rss_bytes);
  cr_assert_gt(pf.vma_count, 5);
  cr_assert_gt(pf.minor_faults, 1000, "touching 8 MiB faults");
  free(p);
}
