// SPDX-License-Identifier: GPL-2.0
/*
 * tiershim: /dev/tiershim, a vectored MADV_DONTNEED for the tiershim
 * allocator shim, with per-process TLB shootdown accounting.
 *
 * The interface is tiershim_uapi.h; README.md next to this file explains
 * which kernel functions are called and why that is safe. Written for
 * Debian's 6.1.y, 6.12.y and 7.2.y kernels (x86-64), using exported symbols
 * only; what differs between them is in compat.h.
 *
 *   open()                 registers the opener's mm in a slot (at most
 *                          max_per_uid slots per effective uid, root exempt)
 *   TS_KMOD_IOC_INFO       ABI, flags (shootdown accounting, LUF), version
 *   TS_KMOD_IOC_RELEASE    validate a vector of ranges, then zap them all
 *                          under one mmap_read_lock (all or nothing)
 *   TS_KMOD_IOC_STATS      the slot's counters
 *   TS_KMOD_IOC_LAZY       the limit of deferred ("lazy") release (ts_lazy.c)
 *   TS_KMOD_IOC_SETTLE     take a range out of the pending set, or drain it
 *   release()              frees the slot
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/atomic.h>
#include <linux/cpumask.h>
#include <linux/fs.h>
#include <linux/kprobes.h>
#include <linux/miscdevice.h>
#include <linux/mm.h>
#include <linux/mmap_lock.h>
#include <linux/module.h>
#include <linux/sched.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <linux/string.h>
#include <linux/uaccess.h>
#include <linux/uidgid.h>
#include <linux/cred.h>
#include <linux/userfaultfd_k.h>

#include "tiershim_uapi.h"
#include "compat.h"
#include "ts_lazy.h"

/* From the project version (CMakeLists.txt), passed by Kbuild. */
#ifndef TS_VERSION
#error "TS_VERSION is not defined: make ... TS_VERSION=x.y.z (build.sh and dkms.conf pass it)"
#endif
#define TS_SLOTS 256	/* open files at once, system-wide */
#define TS_SMALL 16	/* vectors up to this long are copied onto the stack */

/* What 6.1's MADV_DONTNEED refuses (locked, PFN map), plus hugetlb, which
 * madvise takes since 5.18 but whose 6.1.y fixes live in the madvise path
 * rather than in zap_page_range(), and I/O and mixed (device) maps: none of
 * them is memory an allocator hands back. */
#define TS_VM_REFUSED (VM_LOCKED | VM_HUGETLB | VM_PFNMAP | VM_IO | VM_MIXEDMAP)

static ushort mode = 0600;
module_param(mode, ushort, 0444);
MODULE_PARM_DESC(mode, "permissions of /dev/tiershim (default 0600)");

/*
 * The table is shared by every user who may open the device. Without a cap
 * per user, one user could hold all 256 slots (one per open file) and make
 * everyone else's open fail. Root is exempt: it can unload the module
 * anyway, and a root service with many worker processes is the common
 * case for the kmod backend.
 */
static uint max_per_uid = 64;
module_param(max_per_uid, uint, 0444);
MODULE_PARM_DESC(max_per_uid, "open files (slots) per effective uid, root exempt (1..256, default 64)");

static bool shootdowns = true;
module_param(shootdowns, bool, 0444);
MODULE_PARM_DESC(shootdowns,
		 "count TLB shootdowns per process with a kprobe on native_flush_tlb_multi (default 1)");

/*
 * One open file. The mm pointer is the slot's identity: the kprobe handler
 * compares it locklessly and never dereferences it. mmgrab() keeps the
 * mm_struct allocated while the slot holds it, so the pointer cannot be
 * reused by another process's mm and match by accident.
 */
struct ts_slot {
	struct mm_struct *mm;	/* NULL: free */
	kuid_t uid;		/* the opener's effective uid */
	atomic64_t flushes;	/* shootdown rounds sent for mm */
	atomic64_t targets;	/* CPUs they targeted, sender excluded */
	atomic64_t releases;
	atomic64_t ranges;
	atomic64_t bytes;
	struct ts_lazy lazy;	/* ranges released lazily, not zapped yet */
};

static struct ts_slot ts_slots[TS_SLOTS];
static unsigned int ts_nslots;	/* slots [0, ts_nslots) may be in use */
static DEFINE_SPINLOCK(ts_slots_lock);
static u32 ts_flags;		/* TS_KMOD_F_*, fixed at load */

/* ---- shootdown accounting -------------------------------------------------- */

/*
 * The heads of struct flush_tlb_info and struct tlb_state_shared, which the
 * kernel hides from modules, are in compat.h (checked per version, and
 * against the real definitions at build time by ts_layout_check.c).
 *
 * The CPUs native_flush_tlb_multi() will interrupt: every CPU of the mask
 * but the sender, except those in lazy TLB mode, which it skips unless page
 * tables were freed (or, on 7.x with INVLPGB, the mm is changing to a
 * global ASID: ts_flush_hits_lazy()). Racy against a CPU entering or
 * leaving lazy mode, as the kernel's own test is.
 */
static long ts_flush_targets(const struct cpumask *mask, const struct ts_flush_tlb_info_head *info,
			     struct mm_struct *mm)
{
	unsigned int cpu, self = raw_smp_processor_id();
	bool all = ts_flush_hits_lazy(info, mm);
	long n = 0;

	for_each_cpu(cpu, mask)
		if (cpu != self && (all || !READ_ONCE(per_cpu(cpu_tlbstate_shared, cpu).is_lazy)))
			n++;
	return n;
}

/*
 * Entry of native_flush_tlb_multi(const struct cpumask *cpumask,
 * const struct flush_tlb_info *info) (arch/x86/mm/tlb.c): a remote flush
 * for info->mm. It counts as a shootdown round when it interrupts at least
 * one CPU. Runs with preemption disabled, possibly with interrupts off: no
 * locks, no sleeping, atomics only.
 */
static int ts_flush_pre(struct kprobe *p, struct pt_regs *regs)
{
	const struct cpumask *mask = (const struct cpumask *)regs->di;
	const struct ts_flush_tlb_info_head *info = (const void *)regs->si;
	struct mm_struct *mm = info ? READ_ONCE(info->mm) : NULL;
	unsigned int i, n = READ_ONCE(ts_nslots);
	long targets = -1;

	if (!mm)	/* kernel-range or batched reclaim flushes */
		return 0;
	for (i = 0; i < n; i++) {
		if (READ_ONCE(ts_slots[i].mm) != mm)
			continue;
		if (targets < 0)
			targets = ts_flush_targets(mask, info, mm);
		if (targets == 0)
			return 0;	/* every other CPU lazy: no IPI */
		atomic64_inc(&ts_slots[i].flushes);
		atomic64_add(targets, &ts_slots[i].targets);
	}
	return 0;
}

static struct kprobe ts_flush_kp = {
	.symbol_name = "native_flush_tlb_multi",
	.pre_handler = ts_flush_pre,
};

/* ---- LUF detection ------------------------------------------------------- */

/*
 * LUF (Lazy Unmap Flush, Byungchul Park / SK hynix, not in mainline) has no
 * Kconfig symbol of its own in v10-v12 of the series: it rides on
 * CONFIG_ARCH_WANT_BATCHED_UNMAP_TLB_FLUSH, which every x86 kernel has. So
 * look for functions only the series adds, by registering a kprobe on
 * each: register_kprobe() resolves the name through kallsyms (static
 * functions too). Only a registration that succeeds counts. Its errors
 * (kernel/kprobes.c, 6.1) say little about the symbol: -ENOENT when the
 * lookup fails, but also when the symbol's module is going away;
 * -EINVAL for a blacklisted or non-text address; -EILSEQ, -EBUSY, -ENOMEM;
 * and -EOPNOTSUPP for every name when CONFIG_KPROBES is off. Counting all
 * but -ENOENT as "present" reported LUF on any such kernel. A symbol that
 * exists but cannot be probed is missed instead: the flag is a positive
 * claim, made only when the kernel proved it.
 */
static const char *const ts_luf_symbols[] = {
	"luf_flush",			/* v10-v12, mm/rmap.c */
	"try_to_unmap_luf",		/* v10, mm/rmap.c */
	"luf_takeoff_check_and_fold",	/* v12, the page allocator side */
	"arch_tlbbatch_check_done",	/* v12, arch/x86/mm/tlb.c */
};

static char *luf_symbol;
module_param(luf_symbol, charp, 0444);
MODULE_PARM_DESC(luf_symbol, "one more symbol whose presence means LUF (a later version of the series)");

static struct kprobe ts_probe_kp;

static bool ts_symbol_exists(const char *name)
{
	int ret;

	memset(&ts_probe_kp, 0, sizeof(ts_probe_kp));
	ts_probe_kp.symbol_name = name;
	ret = register_kprobe(&ts_probe_kp);
	if (ret == 0)
		unregister_kprobe(&ts_probe_kp);
	else if (ret != -ENOENT)
		pr_info("LUF: kprobe on %s: %d, not counted as present\n", name, ret);
	return ret == 0;
}

static bool ts_luf_detect(void)
{
	unsigned int i;

	/* In case a later version of the series gives it a name. */
	if (IS_ENABLED(CONFIG_LUF) || IS_ENABLED(CONFIG_LUF_DEBUG))
		return true;
	for (i = 0; i < ARRAY_SIZE(ts_luf_symbols); i++)
		if (ts_symbol_exists(ts_luf_symbols[i]))
			return true;
	return luf_symbol && *luf_symbol && ts_symbol_exists(luf_symbol);
}

/* ---- slots ------------------------------------------------------------------- */

/* Slots held by uid. Caller holds ts_slots_lock. */
static unsigned int ts_slots_of(kuid_t uid)
{
	unsigned int i, n = 0;

	for (i = 0; i < ts_nslots; i++)
		if (ts_slots[i].mm && uid_eq(ts_slots[i].uid, uid))
			n++;
	return n;
}

/* A free slot for mm, or NULL: the table is full, or uid (unless root)
 * holds max_per_uid slots already. */
static struct ts_slot *ts_slot_claim(struct mm_struct *mm, kuid_t uid)
{
	struct ts_slot *s = NULL;
	unsigned int i;

	spin_lock(&ts_slots_lock);
	if (uid_eq(uid, GLOBAL_ROOT_UID) || ts_slots_of(uid) < max_per_uid) {
		for (i = 0; i < TS_SLOTS; i++) {
			if (!ts_slots[i].mm) {
				s = &ts_slots[i];
				break;
			}
		}
	}
	if (s) {
		atomic64_set(&s->flushes, 0);
		atomic64_set(&s->targets, 0);
		atomic64_set(&s->releases, 0);
		atomic64_set(&s->ranges, 0);
		atomic64_set(&s->bytes, 0);
		s->uid = uid;
		mmgrab(mm);
		/* Counters first, then the mm the kprobe matches on. */
		smp_wmb();
		WRITE_ONCE(s->mm, mm);
		if (i >= ts_nslots)
			WRITE_ONCE(ts_nslots, i + 1);
	}
	spin_unlock(&ts_slots_lock);
	return s;
}

static void ts_slot_free(struct ts_slot *s)
{
	struct mm_struct *mm = s->mm;
	unsigned int n;

	spin_lock(&ts_slots_lock);
	WRITE_ONCE(s->mm, NULL);
	for (n = ts_nslots; n > 0 && !ts_slots[n - 1].mm; n--)
		;
	WRITE_ONCE(ts_nslots, n);
	spin_unlock(&ts_slots_lock);
	mmdrop(mm);
}

/* ---- RELEASE ----------------------------------------------------------------- */

/* Every range page-aligned, non-empty, inside the user address space,
 * sorted and disjoint. Sums the bytes. */
static int ts_validate(const struct ts_kmod_range *r, u32 n, u64 *bytes)
{
	u64 prev_end = 0, total = 0;
	u32 i;

	for (i = 0; i < n; i++) {
		u64 a = r[i].addr, len = r[i].len, end = a + len;

		if (!len || ((a | len) & ~PAGE_MASK))
			return -EINVAL;
		if (end < a || end > TASK_SIZE_MAX)
			return -EINVAL;
		if (a < prev_end)	/* unsorted or overlapping */
			return -EINVAL;
		prev_end = end;
		total += len;
	}
	*bytes = total;
	return 0;
}

/* Merges ranges that touch (a.end == b.addr), in place: each merged range
 * is one ts_zap_range() call, so one TLB flush instead of several (per VMA
 * from 6.3 on: see compat.h). */
static u32 ts_coalesce(struct ts_kmod_range *r, u32 n)
{
	u32 i, k = 0;

	for (i = 1; i < n; i++) {
		if (r[i].addr == r[k].addr + r[k].len)
			r[k].len += r[i].len;
		else
			r[++k] = r[i];
	}
	return k + 1;
}

static bool ts_vma_ok(struct vm_area_struct *vma)
{
	if (vma->vm_flags & TS_VM_REFUSED)
		return false;
	/* madvise would call userfaultfd_remove(), which may drop mmap_lock. */
	if (userfaultfd_armed(vma))
		return false;
#ifdef CONFIG_USERFAULTFD
	if (vma->vm_userfaultfd_ctx.ctx)
		return false;
#endif
	return true;
}

/* [start, end) wholly covered by acceptable VMAs. Caller holds mmap_lock. */
int ts_check_range(struct mm_struct *mm, unsigned long start, unsigned long end)
{
	unsigned long addr = start;

	while (addr < end) {
		struct vm_area_struct *vma = find_vma(mm, addr);

		if (!vma || vma->vm_start > addr)
			return -EFAULT;		/* a hole */
		if (!ts_vma_ok(vma))
			return -EINVAL;
		addr = vma->vm_end;
	}
	return 0;
}

/*
 * Checks every range, then zaps every range, under one read lock: nothing
 * can add, remove or change a VMA in between (that takes the write lock),
 * so the call is all or nothing. ts_zap_range() (compat.h) is what
 * MADV_DONTNEED does under the same lock: zap_page_range() on 6.1, which
 * walks on across VMAs by itself; one zap_page_range_single() or
 * zap_vma_range() per VMA from 6.3 on.
 */
int ts_zap(struct mm_struct *mm, const struct ts_kmod_range *seg, u32 nseg)
{
	u32 i;
	int ret = 0;

	if (mmap_read_lock_killable(mm))
		return -EINTR;
	for (i = 0; i < nseg && !ret; i++)
		ret = ts_check_range(mm, seg[i].addr, seg[i].addr + seg[i].len);
	for (i = 0; i < nseg && !ret; i++)
		ts_zap_range(mm, seg[i].addr, seg[i].addr + seg[i].len);
	mmap_read_unlock(mm);
	return ret;
}

static long ts_ioc_release(struct ts_slot *s, struct ts_kmod_release __user *uarg)
{
	struct ts_kmod_range small[TS_SMALL], *r = small;
	struct ts_kmod_release req;
	u64 out[2] = { 0, 0 }, bytes = 0, f0;
	u32 nseg;
	long ret;

	/* out[] is written over bytes and flushes, which are adjacent. */
	BUILD_BUG_ON(offsetof(struct ts_kmod_release, flushes) !=
		     offsetof(struct ts_kmod_release, bytes) + sizeof(req.bytes));
	BUILD_BUG_ON(sizeof(out) != sizeof(req.bytes) + sizeof(req.flushes));
	if (copy_from_user(&req, uarg, sizeof(req)))
		return -EFAULT;
	if ((req.flags & ~TS_KMOD_REL_LAZY) || !req.n || req.n > TS_KMOD_MAX_RANGES)
		return -EINVAL;
	/* An argument we cannot write back fails now, before any release. */
	if (copy_to_user(&uarg->bytes, out, sizeof(out)))
		return -EFAULT;
	if (req.n > TS_SMALL) {
		r = kvmalloc_array(req.n, sizeof(*r), GFP_KERNEL);
		if (!r)
			return -ENOMEM;
	}
	ret = -EFAULT;
	if (copy_from_user(r, u64_to_user_ptr(req.ranges), (size_t)req.n * sizeof(*r)))
		goto out;
	ret = ts_validate(r, req.n, &bytes);
	if (ret)
		goto out;
	nseg = ts_coalesce(r, req.n);
	f0 = atomic64_read(&s->flushes);
	if (req.flags & TS_KMOD_REL_LAZY)
		ret = ts_lazy_release(&s->lazy, current->mm, r, nseg);	/* 0 or 1: pending */
	else
		ret = ts_zap(current->mm, r, nseg);
	if (ret < 0)
		goto out;
	atomic64_inc(&s->releases);
	atomic64_add(req.n, &s->ranges);
	atomic64_add(bytes, &s->bytes);
	out[0] = bytes;
	out[1] = (ts_flags & TS_KMOD_F_SHOOTDOWNS) ? atomic64_read(&s->flushes) - f0 : 0;
	/* Only a concurrent munmap of the argument gets here. */
	if (copy_to_user(&uarg->bytes, out, sizeof(out)))
		ret = -EFAULT;
out:
	if (r != small)
		kvfree(r);
	return ret;
}

/* ---- INFO, STATS -------------------------------------------------------------- */

static long ts_ioc_info(struct ts_kmod_info __user *uarg)
{
	struct ts_kmod_info info = {
		.abi = TS_KMOD_ABI,
		.flags = ts_flags,
		.max_ranges = TS_KMOD_MAX_RANGES,
	};

	strscpy(info.version, TS_VERSION, sizeof(info.version));
	return copy_to_user(uarg, &info, sizeof(info)) ? -EFAULT : 0;
}

static long ts_ioc_stats(struct ts_slot *s, struct ts_kmod_stats __user *uarg)
{
	struct ts_kmod_stats st = {
		.flushes = atomic64_read(&s->flushes),
		.targets = atomic64_read(&s->targets),
		.releases = atomic64_read(&s->releases),
		.ranges = atomic64_read(&s->ranges),
		.bytes = atomic64_read(&s->bytes),
	};

	return copy_to_user(uarg, &st, sizeof(st)) ? -EFAULT : 0;
}

/* ---- file operations ---------------------------------------------------------- */

static long ts_ioctl(struct file *f, unsigned int cmd, unsigned long arg)
{
	struct ts_slot *s = f->private_data;
	void __user *uarg = (void __user *)arg;

	if (cmd != TS_KMOD_IOC_INFO && cmd != TS_KMOD_IOC_RELEASE && cmd != TS_KMOD_IOC_STATS &&
	    cmd != TS_KMOD_IOC_LAZY && cmd != TS_KMOD_IOC_SETTLE)
		return -ENOTTY;
	/* Inherited over fork, passed over a socket, kept across exec. */
	if (current->mm != s->mm)
		return -EPERM;
	switch (cmd) {
	case TS_KMOD_IOC_INFO:
		return ts_ioc_info(uarg);
	case TS_KMOD_IOC_RELEASE:
		return ts_ioc_release(s, uarg);
	case TS_KMOD_IOC_LAZY:
		return ts_ioc_lazy(&s->lazy, s->mm, uarg);
	case TS_KMOD_IOC_SETTLE:
		return ts_ioc_settle(&s->lazy, s->mm, uarg);
	default:
		return ts_ioc_stats(s, uarg);
	}
}

static int ts_open(struct inode *inode, struct file *f)
{
	struct ts_slot *s;

	if (!current->mm || (current->flags & PF_KTHREAD))
		return -EPERM;
	s = ts_slot_claim(current->mm, current_euid());
	if (!s)
		return -ENOSPC;
	f->private_data = s;
	return 0;
}

/* The last close; may run in another task (an fd passed on, or exit). */
static int ts_release(struct inode *inode, struct file *f)
{
	struct ts_slot *s = f->private_data;

	/* Pending pages stay mapped: the process keeps them until it munmaps
	 * them or exits (exit_mmap frees them, flushing as it always does). */
	ts_lazy_reset(&s->lazy);
	ts_slot_free(s);
	return 0;
}

static const struct file_operations ts_fops = {
	.owner = THIS_MODULE,	/* no unload while a file is open */
	.open = ts_open,
	.release = ts_release,
	.unlocked_ioctl = ts_ioctl,
	.compat_ioctl = compat_ptr_ioctl,	/* fixed-width structs, no pointers */
	.llseek = noop_llseek,
};

static struct miscdevice ts_misc = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "tiershim",
	.fops = &ts_fops,
};

/* ---- load, unload ----------------------------------------------------------------- */

static int __init ts_init(void)
{
	unsigned int i;
	int ret;

	if (mode & ~0777) {
		pr_err("mode=%#o: only permission bits (0..0777)\n", mode);
		return -EINVAL;
	}
	if (max_per_uid < 1 || max_per_uid > TS_SLOTS) {
		pr_err("max_per_uid=%u: 1..%u\n", max_per_uid, TS_SLOTS);
		return -EINVAL;
	}
	ts_misc.mode = mode;
	for (i = 0; i < TS_SLOTS; i++)
		ts_lazy_init(&ts_slots[i].lazy);
	ts_flags |= TS_KMOD_F_LAZY;
	if (ts_luf_detect())
		ts_flags |= TS_KMOD_F_LUF;
	if (shootdowns) {
		ret = register_kprobe(&ts_flush_kp);
		if (ret == 0)
			ts_flags |= TS_KMOD_F_SHOOTDOWNS;
		else
			pr_info("no shootdown accounting: kprobe on %s: %d\n",
				ts_flush_kp.symbol_name, ret);
	}
	ret = misc_register(&ts_misc);
	if (ret) {
		if (ts_flags & TS_KMOD_F_SHOOTDOWNS)
			unregister_kprobe(&ts_flush_kp);
		return ret;
	}
	pr_info("version %s: /dev/tiershim mode %#o, %u files per uid, shootdowns %s, LUF %s\n",
		TS_VERSION, mode, max_per_uid, (ts_flags & TS_KMOD_F_SHOOTDOWNS) ? "counted" : "not counted",
		(ts_flags & TS_KMOD_F_LUF) ? "detected" : "not detected");
	return 0;
}

static void __exit ts_exit(void)
{
	misc_deregister(&ts_misc);
	/* Waits for running handlers: none can run in freed module text. */
	if (ts_flags & TS_KMOD_F_SHOOTDOWNS)
		unregister_kprobe(&ts_flush_kp);
}

module_init(ts_init);
module_exit(ts_exit);

MODULE_LICENSE("GPL");
MODULE_AUTHOR("tiershim");
MODULE_DESCRIPTION("tiershim: vectored MADV_DONTNEED and per-process TLB shootdown accounting");
MODULE_VERSION(TS_VERSION);
