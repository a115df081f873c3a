// SPDX-License-Identifier: GPL-2.0
/*
 * Deferred release for tiershim.ko (TS_KMOD_REL_LAZY, TS_KMOD_IOC_LAZY,
 * TS_KMOD_IOC_SETTLE; tiershim_uapi.h).
 *
 * Why deferral and not LUF: clearing PTEs without flushing needs an
 * mmu_gather the caller finishes later (tlb_gather_mmu, unmap_page_range),
 * and none of Debian's 6.1, 6.12 or 7.2 exports one; every exported zap
 * opens and finishes its own gather, and tlb_finish_mmu flushes
 * (README.md, "Lazy release", has the lines). So the module does the other
 * thing that saves shootdowns: it does not zap yet. Parked ranges stay
 * mapped and owned by the process (no page is freed, so none can be reused
 * by anyone else while a stale TLB entry might still point at it), and are
 * zapped later, all at once, ideally while no other CPU runs the mm (then
 * the flush is local: no IPI). Ranges reused before that are taken out of
 * the set (SETTLE) and never zapped at all.
 *
 * Locking: lz->lock (a mutex, per file) serialises the set; the mmap read
 * lock is taken inside it, never the other way round; copies from and to
 * user space happen outside both.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/cpumask.h>
#include <linux/mm.h>
#include <linux/mmap_lock.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

#include "ts_lazy.h"
#include "compat.h"

/* One more than the set holds: a settle that splits a range in a full set
 * overflows by one, and the set is drained then. */
#define TS_LAZY_CAP (TS_KMOD_LAZY_MAX + 1)

void ts_lazy_init(struct ts_lazy *lz)
{
	mutex_init(&lz->lock);
}

void ts_lazy_reset(struct ts_lazy *lz)
{
	mutex_lock(&lz->lock);
	kvfree(lz->v);
	kvfree(lz->tmp);
	lz->v = lz->tmp = NULL;
	lz->n = 0;
	lz->bytes = lz->limit = 0;
	lz->parked = lz->cancelled = lz->drained = lz->dropped = lz->drains = 0;
	mutex_unlock(&lz->lock);
}

/*
 * Would a flush of mm now interrupt no other CPU? True when every CPU of
 * mm_cpumask(mm) but this one is in lazy TLB mode: the test
 * native_flush_tlb_multi() makes (should_flush_tlb(); zaps free no page
 * tables, so freed_tables is false). Racy exactly as the kernel's own: a
 * CPU switching to the mm right after costs one IPI, never correctness.
 */
static bool ts_mm_quiet(struct mm_struct *mm)
{
	unsigned int cpu, self = get_cpu();
	bool quiet = true;

	for_each_cpu(cpu, mm_cpumask(mm)) {
		if (cpu != self && !READ_ONCE(per_cpu(cpu_tlbstate_shared, cpu).is_lazy)) {
			quiet = false;
			break;
		}
	}
	put_cpu();
	return quiet;
}

/*
 * Zaps every pending range still covered by acceptable VMAs and empties
 * the set. A range whose VMA changed since it was parked (munmap, mlock,
 * userfaultfd) is dropped: it is not ours to zap any more. Caller holds
 * lz->lock and the mmap read lock.
 */
static void ts_lazy_zap_all(struct ts_lazy *lz, struct mm_struct *mm)
{
	u64 zapped = 0;
	u32 i;

	for (i = 0; i < lz->n; i++) {
		unsigned long a = lz->v[i].addr, e = a + lz->v[i].len;

		if (ts_check_range(mm, a, e) == 0) {
			ts_zap_range(mm, a, e);
			zapped += e - a;
		} else {
			lz->dropped += e - a;
		}
	}
	if (zapped)
		lz->drains++;
	lz->drained += zapped;
	lz->n = 0;
	lz->bytes = 0;
}

static int ts_lazy_drain(struct ts_lazy *lz, struct mm_struct *mm)
{
	if (!lz->n)
		return 0;
	if (mmap_read_lock_killable(mm))
		return -EINTR;	/* the set stays as it was */
	ts_lazy_zap_all(lz, mm);
	mmap_read_unlock(mm);
	return 0;
}

static void ts_lazy_swap(struct ts_lazy *lz, u32 n)
{
	struct ts_kmod_range *t = lz->v;
	u64 bytes = 0;
	u32 i;

	lz->v = lz->tmp;
	lz->tmp = t;
	lz->n = n;
	for (i = 0; i < n; i++)
		bytes += lz->v[i].len;
	lz->bytes = bytes;
}

/* The set becomes set U seg (seg sorted, disjoint; the union may overlap:
 * a range released again while pending), sorted and coalesced. The caller
 * made sure lz->n + nseg <= TS_KMOD_LAZY_MAX. */
static void ts_lazy_merge(struct ts_lazy *lz, const struct ts_kmod_range *seg, u32 nseg)
{
	struct ts_kmod_range *out = lz->tmp;
	u32 i = 0, j = 0, k = 0;

	while (i < lz->n || j < nseg) {
		struct ts_kmod_range x;

		if (j >= nseg || (i < lz->n && lz->v[i].addr <= seg[j].addr))
			x = lz->v[i++];
		else
			x = seg[j++];
		if (k && out[k - 1].addr + out[k - 1].len >= x.addr) {
			u64 end = max(out[k - 1].addr + out[k - 1].len, x.addr + x.len);

			out[k - 1].len = end - out[k - 1].addr;
		} else {
			out[k++] = x;
		}
	}
	ts_lazy_swap(lz, k);
}

/* Takes [a, e) out of the set without zapping; the bytes taken. */
static u64 ts_lazy_cancel(struct ts_lazy *lz, u64 a, u64 e)
{
	struct ts_kmod_range *out = lz->tmp;
	u64 cancelled = 0;
	u32 i, k = 0;

	for (i = 0; i < lz->n; i++)	/* only where still needed */
		if (lz->v[i].addr < e && lz->v[i].addr + lz->v[i].len > a)
			break;
	if (i == lz->n)
		return 0;
	for (i = 0; i < lz->n; i++) {
		u64 xa = lz->v[i].addr, xe = xa + lz->v[i].len;

		if (xe <= a || xa >= e) {
			out[k++] = lz->v[i];
			continue;
		}
		cancelled += min(xe, e) - max(xa, a);
		if (xa < a)
			out[k++] = (struct ts_kmod_range){ xa, a - xa };
		if (xe > e)
			out[k++] = (struct ts_kmod_range){ e, xe - e };
	}
	ts_lazy_swap(lz, k);
	lz->cancelled += cancelled;
	return cancelled;
}

/*
 * RELEASE with TS_KMOD_REL_LAZY, after ts_validate() and ts_coalesce().
 * 0: nothing pending afterwards; 1: the set holds ranges (these among
 * them); or an error, with the set as it was and nothing zapped.
 */
long ts_lazy_release(struct ts_lazy *lz, struct mm_struct *mm, const struct ts_kmod_range *seg, u32 nseg)
{
	u64 bytes = 0;
	bool drain;
	long ret = 0;
	u32 i;

	for (i = 0; i < nseg; i++)
		bytes += seg[i].len;
	mutex_lock(&lz->lock);
	if (!lz->limit) {	/* lazy off: an ordinary release */
		ret = ts_zap(mm, seg, nseg);
		goto out;
	}
	drain = ts_mm_quiet(mm) || lz->bytes + bytes > lz->limit || lz->n + nseg > TS_KMOD_LAZY_MAX;
	if (mmap_read_lock_killable(mm)) {
		ret = -EINTR;
		goto out;
	}
	for (i = 0; i < nseg && !ret; i++)	/* all or nothing, as RELEASE */
		ret = ts_check_range(mm, seg[i].addr, seg[i].addr + seg[i].len);
	if (!ret && drain) {
		for (i = 0; i < nseg; i++)
			ts_zap_range(mm, seg[i].addr, seg[i].addr + seg[i].len);
		ts_lazy_zap_all(lz, mm);
	} else if (!ret) {
		ts_lazy_merge(lz, seg, nseg);
		lz->parked += bytes;
		ret = 1;
	}
	mmap_read_unlock(mm);
out:
	mutex_unlock(&lz->lock);
	return ret;
}

static void ts_lazy_report(struct ts_lazy *lz, struct ts_kmod_lazy *o)
{
	o->limit = lz->limit;
	o->npending = lz->n;
	o->pending = lz->bytes;
	o->parked = lz->parked;
	o->cancelled = lz->cancelled;
	o->drained = lz->drained;
	o->dropped = lz->dropped;
	o->drains = lz->drains;
}

/* The buffers, on the first limit above 0 (32 KiB; freed at close). */
static int ts_lazy_alloc(struct ts_lazy *lz)
{
	if (lz->v)
		return 0;
	lz->v = kvmalloc_array(TS_LAZY_CAP, sizeof(*lz->v), GFP_KERNEL);
	lz->tmp = kvmalloc_array(TS_LAZY_CAP, sizeof(*lz->tmp), GFP_KERNEL);
	if (lz->v && lz->tmp)
		return 0;
	kvfree(lz->v);
	kvfree(lz->tmp);
	lz->v = lz->tmp = NULL;
	return -ENOMEM;
}

long ts_ioc_lazy(struct ts_lazy *lz, struct mm_struct *mm, struct ts_kmod_lazy __user *uarg)
{
	struct ts_kmod_lazy req;
	long ret = 0;

	if (copy_from_user(&req, uarg, sizeof(req)))
		return -EFAULT;
	if (req.flags & ~TS_KMOD_LAZY_QUERY)
		return -EINVAL;
	mutex_lock(&lz->lock);
	if (!(req.flags & TS_KMOD_LAZY_QUERY)) {
		if (req.limit)
			ret = ts_lazy_alloc(lz);
		if (!ret && lz->bytes > req.limit)
			ret = ts_lazy_drain(lz, mm);
		if (!ret)
			lz->limit = req.limit;
	}
	ts_lazy_report(lz, &req);
	mutex_unlock(&lz->lock);
	if (!ret && copy_to_user(uarg, &req, sizeof(req)))
		ret = -EFAULT;
	return ret;
}

long ts_ioc_settle(struct ts_lazy *lz, struct mm_struct *mm, struct ts_kmod_settle __user *uarg)
{
	struct ts_kmod_settle req;
	u64 end;
	long ret = 0;

	if (copy_from_user(&req, uarg, sizeof(req)))
		return -EFAULT;
	end = req.addr + req.len;
	if (req.flags || ((req.addr | req.len) & ~PAGE_MASK) || end < req.addr || end > TASK_SIZE_MAX ||
	    (!req.len && req.addr))
		return -EINVAL;
	req.cancelled = 0;
	mutex_lock(&lz->lock);
	if (lz->n > TS_KMOD_LAZY_MAX)	/* a drain cut short by a fatal signal */
		ret = ts_lazy_drain(lz, mm);
	if (!ret && req.len)
		req.cancelled = ts_lazy_cancel(lz, req.addr, end);
	if (!ret && lz->n && (!req.len || lz->n > TS_KMOD_LAZY_MAX || ts_mm_quiet(mm)))
		ret = ts_lazy_drain(lz, mm);
	req.npending = lz->n;
	req.pending = lz->bytes;
	mutex_unlock(&lz->lock);
	if (copy_to_user(uarg, &req, sizeof(req)))
		ret = ret ? ret : -EFAULT;
	return ret;
}
