/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The deferred ("lazy") release of tiershim.ko: a per-file set of ranges
 * released by RELEASE with TS_KMOD_REL_LAZY but not zapped yet
 * (tiershim_uapi.h has the contract, README.md the reasons). Internal to
 * the module: tiershim_kmod.c owns the slots and calls in here.
 */
#ifndef TS_LAZY_H
#define TS_LAZY_H

#include <linux/mm_types.h>
#include <linux/mutex.h>
#include <linux/types.h>

#include "tiershim_uapi.h"

struct ts_lazy {
	struct mutex lock;		/* taken before the mmap lock, never after */
	struct ts_kmod_range *v;	/* pending: sorted, disjoint, not touching */
	struct ts_kmod_range *tmp;	/* scratch of the same size, for merges */
	u32 n;
	u64 bytes, limit;
	u64 parked, cancelled, drained, dropped, drains;
};

/* tiershim_kmod.c: [start, end) covered by VMAs MADV_DONTNEED treats as
 * plain memory (0, -EFAULT, -EINVAL); ts_zap() checks then zaps a vector
 * under one mmap_read_lock. */
int ts_check_range(struct mm_struct *mm, unsigned long start, unsigned long end);
int ts_zap(struct mm_struct *mm, const struct ts_kmod_range *seg, u32 nseg);

void ts_lazy_init(struct ts_lazy *lz);	/* at load, once per slot */
void ts_lazy_reset(struct ts_lazy *lz);	/* at close: the set is dropped, not zapped */
long ts_lazy_release(struct ts_lazy *lz, struct mm_struct *mm, const struct ts_kmod_range *seg, u32 nseg);
long ts_ioc_lazy(struct ts_lazy *lz, struct mm_struct *mm, struct ts_kmod_lazy __user *uarg);
long ts_ioc_settle(struct ts_lazy *lz, struct mm_struct *mm, struct ts_kmod_settle __user *uarg);

#endif
