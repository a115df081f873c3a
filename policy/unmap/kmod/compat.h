/* SPDX-License-Identifier: GPL-2.0 */
/*
 * compat.h: everything in tiershim.ko that depends on the kernel version.
 * tiershim_kmod.c uses only what is defined here for:
 *
 *   ts_zap_range()        MADV_DONTNEED on a range covered by checked VMAs
 *   ts_flush_tlb_info_head, ts_tlb_state_shared_head, cpu_tlbstate_shared
 *                         the heads of two x86 structs hidden from modules,
 *                         read by the shootdown kprobe
 *   ts_flush_hits_lazy()  whether native_flush_tlb_multi() interrupts lazy
 *                         CPUs too
 *
 * Written for, and checked against the sources of, these kernels (Debian's
 * builds; README.md says which source lines):
 *   6.1.y   Debian 12              (6.1.192, linux-source-6.1 6.1.192-3)
 *   6.12.y  bookworm-backports     (6.12.95, linux-source-6.12 6.12.95-1~bpo12+1)
 *   7.2.y   sid                    (7.2.13,  linux-source-7.2 7.2.13-1)
 * Any other series between 6.1 and 7.2 is refused unless the build passes
 * TS_KMOD_UNCHECKED=1 (make TS_KMOD_UNCHECKED=1, or the environment of
 * build.sh): the version keys below cover its API, but nobody built it or
 * compared its sources. Below 6.1 or from 7.3 on, the build fails.
 *
 * The struct heads are not trusted on faith: ts_layout_check.c compiles
 * the kernel's own definitions (as the kernel proper sees them) next to
 * these copies and fails the build if an offset or size differs.
 */
#ifndef TIERSHIM_COMPAT_H
#define TIERSHIM_COMPAT_H

#include <linux/version.h>
#include <linux/mm.h>
#include <linux/percpu.h>
#include <linux/types.h>
#include <asm/cpufeature.h>

/* ---- which kernels ---------------------------------------------------------- */

#if LINUX_VERSION_CODE < KERNEL_VERSION(6, 1, 0) || LINUX_VERSION_CODE >= KERNEL_VERSION(7, 3, 0)
#error "tiershim.ko is written for Linux 6.1 <= version < 7.3 (checked: 6.1.y, 6.12.y, 7.2.y)"
#endif

#define TS_SERIES(a, b) (LINUX_VERSION_CODE >= KERNEL_VERSION(a, b, 0) && \
			 LINUX_VERSION_CODE < KERNEL_VERSION(a, (b) + 1, 0))
#if !(TS_SERIES(6, 1) || TS_SERIES(6, 12) || TS_SERIES(7, 2)) && !defined(TS_KMOD_UNCHECKED)
#error "tiershim.ko was checked on 6.1.y, 6.12.y and 7.2.y only; build with TS_KMOD_UNCHECKED=1 to try this series"
#endif

/* The kprobe reads x86-64 argument registers and x86's TLB structs. */
#ifndef CONFIG_X86_64
#error "tiershim.ko is x86-64 only"
#endif

/* ---- zap ------------------------------------------------------------------------- */

/*
 * The exported "remove user pages in a range" function of each version
 * (mm/memory.c):
 *
 *   < 6.3   zap_page_range(vma, start, size)              EXPORT_SYMBOL_GPL
 *           One mmu_gather for the whole range: it walks on from vma
 *           through the maple tree (6.1.192: mm/memory.c:1741-1762), so a
 *           range over several VMAs costs one TLB flush.
 *   6.3     zap_page_range() removed ("mm: remove zap_page_range and create
 *           zap_vma_pages"); zap_page_range_single(vma, addr, size, details)
 *           exported instead, for a range inside ONE vma (6.12.95:
 *           mm/memory.c:1915-1938; zap_vma_pages() in include/linux/mm.h:
 *           2426 zaps a whole vma, not a range). madvise(MADV_DONTNEED)
 *           calls it per VMA with details = NULL (6.12.95 mm/madvise.c:845).
 *   7.x     renamed zap_vma_range(vma, addr, size), one vma, no details
 *           (7.2.13: mm/memory.c:2241-2250, include/linux/mm.h:3115). The
 *           version that renamed it was not checked here (7.1 by third-party
 *           reports), so Kbuild probes include/linux/mm.h for it and defines
 *           TS_HAVE_ZAP_VMA_RANGE; the checked series must agree with it.
 *
 * So from 6.3 on, a range over k VMAs is k zaps (k gathers, up to k
 * flushes), exactly like madvise() of that range in those kernels; within
 * one VMA it is one zap and one flush, as on 6.1.
 */
#if TS_SERIES(7, 2) && !defined(TS_HAVE_ZAP_VMA_RANGE)
#error "7.2 exports zap_vma_range(), but the Kbuild probe did not find it in include/linux/mm.h"
#endif
#if (TS_SERIES(6, 1) || TS_SERIES(6, 12)) && defined(TS_HAVE_ZAP_VMA_RANGE)
#error "the Kbuild probe found zap_vma_range() in a 6.1/6.12 kernel: not the API this was checked against"
#endif

/*
 * [start, end) must be covered by VMAs without a gap (ts_check_range() made
 * sure, under the mmap lock the caller still holds).
 */
static inline void ts_zap_range(struct mm_struct *mm, unsigned long start, unsigned long end)
{
#if LINUX_VERSION_CODE < KERNEL_VERSION(6, 3, 0)
	zap_page_range(find_vma(mm, start), start, end - start);
#else
	while (start < end) {
		struct vm_area_struct *vma = find_vma(mm, start);
		unsigned long stop = min(end, vma->vm_end);

#ifdef TS_HAVE_ZAP_VMA_RANGE
		zap_vma_range(vma, start, stop - start);
#else
		zap_page_range_single(vma, start, stop - start, NULL);
#endif
		start = stop;
	}
#endif
}

/* ---- shootdown accounting ------------------------------------------------------- */

/*
 * No kernel interface says, per mm, how many flush IPI rounds were sent and
 * to how many CPUs: /proc/vmstat's nr_tlb_remote_flush (DEBUG_TLBFLUSH only)
 * is system-wide, and the tlb_flush tracepoint (not exported to modules in
 * any of the three) carries a reason and a page count but neither the mm
 * nor the CPUs. So the module keeps its kprobe on
 *   native_flush_tlb_multi(const struct cpumask *, const struct flush_tlb_info *)
 * (the same name and prototype in all three: arch/x86/mm/tlb.c, 6.1.192:935,
 * 6.12.95:950, 7.2.13:1326) and reads the heads of two structs that
 * arch/x86/include/asm/tlbflush.h keeps under #ifndef MODULE:
 *
 *   struct flush_tlb_info   6.1.192:187-212, 6.12.95:201-226, 7.2.13:227-252
 *       mm, start, end, new_tlb_gen, initiating_cpu, stride_shift,
 *       freed_tables, trim_cpumask: the same members in the same order in
 *       all three (only mm and freed_tables are read);
 *   struct tlb_state_shared 6.1.192:140-157, 6.12.95:154-171, 7.2.13:155-172
 *       bool is_lazy, its only member in all three;
 *   cpu_tlbstate_shared     EXPORT_PER_CPU_SYMBOL in arch/x86/mm/tlb.c
 *       (6.1.192:932-933, 6.12.95:947-948, 7.2.13:1323-1324).
 *
 * ts_layout_check.c verifies these heads against the real definitions at
 * every build.
 */
struct ts_flush_tlb_info_head {
	struct mm_struct *mm;	/* NULL: a kernel-range or whole-TLB flush */
	unsigned long start;
	unsigned long end;
	u64 new_tlb_gen;
	unsigned int initiating_cpu;
	u8 stride_shift;
	u8 freed_tables;
};

struct ts_tlb_state_shared_head {
	bool is_lazy;
};

#ifndef TS_LAYOUT_CHECK		/* ts_layout_check.c sees the real declaration */
DECLARE_PER_CPU_SHARED_ALIGNED(struct ts_tlb_state_shared_head, cpu_tlbstate_shared);
#endif

/*
 * Whether native_flush_tlb_multi() sends its IPI to every CPU of the mask,
 * lazy ones included, instead of asking should_flush_tlb() per CPU:
 *   6.1.192  tlb.c:960  if (info->freed_tables)
 *   6.12.95  tlb.c:975  if (info->freed_tables)
 *   7.2.13   tlb.c:1351 if (info->freed_tables || mm_in_asid_transition(info->mm))
 * mm_in_asid_transition() (7.2.13 tlbflush.h:310-316, CONFIG_BROADCAST_TLB_FLUSH,
 * AMD INVLPGB) is hidden from modules too; it reads mm->context.asid_transition
 * (asm/mmu.h, visible), done here the same way. mm is the mm being flushed,
 * which the flushing caller keeps alive for the whole call.
 */
static inline bool ts_flush_hits_lazy(const struct ts_flush_tlb_info_head *info,
				      struct mm_struct *mm)
{
	if (READ_ONCE(info->freed_tables))
		return true;
#ifdef CONFIG_BROADCAST_TLB_FLUSH
	if (cpu_feature_enabled(X86_FEATURE_INVLPGB) && READ_ONCE(mm->context.asid_transition))
		return true;
#endif
	return false;
}

#endif /* TIERSHIM_COMPAT_H */
