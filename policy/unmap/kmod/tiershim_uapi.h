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
  __u32 flags;     /* in: 0 */
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

#define TS_KMOD_IOC_MAGIC 0xDA
#define TS_KMOD_IOC_INFO _IOR(TS_KMOD_IOC_MAGIC, 0, struct ts_kmod_info)
#define TS_KMOD_IOC_RELEASE _IOWR(TS_KMOD_IOC_MAGIC, 1, struct ts_kmod_release)
#define TS_KMOD_IOC_STATS _IOR(TS_KMOD_IOC_MAGIC, 2, struct ts_kmod_stats)

#endif
