/* SPDX-License-Identifier: (GPL-2.0 WITH Linux-syscall-note) OR MIT */
/* The interface between tiershim's kmod unmap backend (user space,
 * policy/unmap/backend_kmod.c) and the tiershim kernel module
 * (policy/unmap/kmod/tiershim_kmod.c). Shared by both: fixed-width types,
 * no pointers (addresses travel as __u64), no padding holes.
 *
 * The device is /dev/tiershim (misc, mode 0600 by default: see the module's
 * `mode` parameter). Opening it registers the opener's mm; every ioctl on the
 * file must come from a task of that same mm (-EPERM otherwise: a file
 * inherited across fork names the parent, reopen it in the child). Only that
 * mm is ever read or changed. */
#ifndef TIERSHIM_UAPI_H
#define TIERSHIM_UAPI_H

#include <linux/ioctl.h>
#include <linux/types.h>

#define TS_KMOD_ABI 1            /* bumped on any incompatible change */
#define TS_KMOD_DEVICE "/dev/tiershim"
#define TS_KMOD_MAX_RANGES 1024u /* the largest vector RELEASE takes */

/* TS_KMOD_IOC_INFO: what the module and the running kernel do. */
struct ts_kmod_info {
  __u32 abi;          /* TS_KMOD_ABI of the module */
  __u32 flags;        /* TS_KMOD_F_* */
  __u32 max_ranges;   /* TS_KMOD_MAX_RANGES of the module */
  __u32 reserved;     /* 0 */
  char version[32];   /* the module's version, NUL-terminated */
};
#define TS_KMOD_F_SHOOTDOWNS 0x1u /* shootdown accounting is live (STATS counts) */
#define TS_KMOD_F_LUF 0x2u        /* the kernel defers unmap flushes LUF-style */
#define TS_KMOD_F_LAZY 0x4u       /* RELEASE takes TS_KMOD_REL_LAZY; LAZY and SETTLE exist */

/* One range of the caller's address space: page-aligned, len > 0. */
struct ts_kmod_range {
  __u64 addr;
  __u64 len;
};

/* TS_KMOD_IOC_RELEASE: MADV_DONTNEED semantics over a vector of ranges,
 * under one mmap-lock acquisition. The vector must be sorted by address
 * and non-overlapping, 1..max_ranges long. Every range is checked before
 * any is released: all of them are released, or none (an error).
 *   -EINVAL  n out of bounds, flags != 0, unaligned or empty range, range
 *            wrapping or beyond the user address space, unsorted or
 *            overlapping ranges, a VMA that MADV_DONTNEED refuses
 *            (locked, hugetlb, PFN/IO/mixed map, userfaultfd-armed)
 *   -EFAULT  the vector cannot be read, or a range is not wholly mapped
 *   -EPERM   the caller's mm is not the one that opened the file
 *   -ENOMEM  no memory to copy a vector of more than 16 ranges
 *   -EINTR   a fatal signal came while waiting for the mmap lock
 * (open() of the device fails with -ENOSPC when 256 files are open at once,
 * system-wide, or when the caller's effective uid, root excepted, holds
 * max_per_uid of them already (a module parameter, default 64); and with
 * -EPERM in a kernel thread.) */
struct ts_kmod_release {
  __u64 ranges;    /* in: user address of struct ts_kmod_range[n] */
  __u32 n;         /* in */
  __u32 flags;     /* in: 0 or TS_KMOD_REL_LAZY (a module without TS_KMOD_F_LAZY: -EINVAL) */
  __u64 bytes;     /* out: bytes released */
  __u64 flushes;   /* out: shootdowns sent for this mm during the call (0 when not accounted) */
};

/* TS_KMOD_IOC_STATS: totals for the file's mm since it was opened. */
struct ts_kmod_stats {
  __u64 flushes;   /* remote TLB flushes (shootdown rounds) sent for this mm */
  __u64 targets;   /* CPUs those rounds targeted (excluding the sender) */
  __u64 releases;  /* successful RELEASE calls */
  __u64 ranges;    /* ranges they released */
  __u64 bytes;     /* bytes they released */
};

/* Deferred ("lazy") release, ABI 1 still: a module that advertises
 * TS_KMOD_F_LAZY in INFO takes these; an older one refuses the flag
 * (-EINVAL) and has neither ioctl (-ENOTTY).
 *
 * RELEASE with TS_KMOD_REL_LAZY validates the vector as above (all or
 * nothing), then, while the file's lazy limit is 0 (the default), releases
 * it at once and returns 0. Otherwise the ranges are released now together
 * with every pending one (a "drain") when that costs no shootdown (no other
 * CPU runs the mm: the racy test native_flush_tlb_multi makes), when the
 * pending bytes would pass the limit, or when the pending set (1024 ranges,
 * sorted, coalesced) would overflow; the call then returns 0. Else they are
 * parked: still mapped, still the process's own pages (a stray access reads
 * the process's old bytes, never another process's data), nothing flushed;
 * the call returns 1. So the return value says whether anything is pending
 * afterwards. bytes is the vector's bytes either way.
 *
 * The caller must settle (TS_KMOD_IOC_SETTLE) any range it reuses, remaps,
 * unmaps or changes the protection or policy of while it may be pending: a
 * later drain zaps by address. */
#define TS_KMOD_REL_LAZY 0x1u
#define TS_KMOD_LAZY_MAX 1024u   /* pending ranges per file */

/* TS_KMOD_IOC_LAZY: sets the file's limit on pending bytes (0 = lazy off,
 * which drains everything), or with TS_KMOD_LAZY_QUERY only reads. A limit
 * below the pending bytes drains. Out: the pending set and the totals. */
struct ts_kmod_lazy {
  __u64 limit;     /* in (ignored with TS_KMOD_LAZY_QUERY); out: the limit now */
  __u32 flags;     /* in: 0 or TS_KMOD_LAZY_QUERY */
  __u32 npending;  /* out: pending ranges */
  __u64 pending;   /* out: pending bytes */
  __u64 parked;    /* out: bytes ever parked */
  __u64 cancelled; /* out: bytes settled before a drain (never zapped by the module) */
  __u64 drained;   /* out: pending bytes a drain zapped */
  __u64 dropped;   /* out: pending bytes a drain skipped (its VMA changed) */
  __u64 drains;    /* out: drains that zapped something */
};
#define TS_KMOD_LAZY_QUERY 0x1u

/* TS_KMOD_IOC_SETTLE: [addr, addr + len) is about to be reused: its overlap
 * with the pending set leaves the set unreleased (the pages stay, with
 * whatever they hold: the caller zeroes what must read zero). len == 0 (and
 * addr == 0) drains the whole set instead. A settle that finds the mm idle
 * on every other CPU drains what remains (it costs no shootdown).
 *   -EINVAL  flags != 0, unaligned, wrapping or beyond the user address
 *            space, addr != 0 with len == 0; no lazy support (-ENOTTY)
 *   -EINTR   a fatal signal while a drain waited for the mmap lock */
struct ts_kmod_settle {
  __u64 addr;      /* in */
  __u64 len;       /* in: 0 = drain all */
  __u32 flags;     /* in: 0 */
  __u32 npending;  /* out: pending ranges afterwards */
  __u64 cancelled; /* out: pending bytes the call took out of the set unzapped */
  __u64 pending;   /* out: pending bytes afterwards */
};

#define TS_KMOD_IOC_MAGIC 0xDA
#define TS_KMOD_IOC_INFO _IOR(TS_KMOD_IOC_MAGIC, 0, struct ts_kmod_info)
#define TS_KMOD_IOC_RELEASE _IOWR(TS_KMOD_IOC_MAGIC, 1, struct ts_kmod_release)
#define TS_KMOD_IOC_STATS _IOR(TS_KMOD_IOC_MAGIC, 2, struct ts_kmod_stats)
#define TS_KMOD_IOC_LAZY _IOWR(TS_KMOD_IOC_MAGIC, 3, struct ts_kmod_lazy)
#define TS_KMOD_IOC_SETTLE _IOWR(TS_KMOD_IOC_MAGIC, 4, struct ts_kmod_settle)

#endif
