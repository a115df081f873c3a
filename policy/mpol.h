/* The kernel's mempolicy numbers (include/uapi/linux/mempolicy.h), spelled
 * out: Debian 12's headers lack MPOL_WEIGHTED_INTERLEAVE (6.9), and the
 * shim must build on old headers and run on new kernels. */
#ifndef TS_MPOL_H
#define TS_MPOL_H

enum {
  TS_MPOL_DEFAULT = 0,
  TS_MPOL_PREFERRED = 1,
  TS_MPOL_BIND = 2,
  TS_MPOL_INTERLEAVE = 3,
  TS_MPOL_LOCAL = 4,
  TS_MPOL_PREFERRED_MANY = 5,        /* 5.15 */
  TS_MPOL_WEIGHTED_INTERLEAVE = 6,   /* 6.9 */
};

/* mbind flags */
#define TS_MPOL_MF_STRICT (1u << 0)
#define TS_MPOL_MF_MOVE (1u << 1)

/* get_mempolicy flags */
#define TS_MPOL_F_NODE (1u << 0)
#define TS_MPOL_F_ADDR (1u << 1)

#endif
