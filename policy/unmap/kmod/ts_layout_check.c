// SPDX-License-Identifier: GPL-2.0
/*
 * Build-time check only (no code, no data): compat.h's copies of the heads
 * of struct flush_tlb_info and struct tlb_state_shared against the kernel's
 * own definitions, for the headers this module is being built with.
 *
 * arch/x86/include/asm/tlbflush.h declares both under #ifndef MODULE, so
 * this one file is compiled as the kernel proper would see the header:
 * MODULE is undefined before anything is included. Nothing here is called
 * or linked against; a layout that moved fails the build instead of making
 * the kprobe read the wrong bytes.
 */
#undef MODULE

#include <linux/build_bug.h>
#include <linux/stddef.h>
#include <asm/tlbflush.h>

#define TS_LAYOUT_CHECK
#include "compat.h"

#define TS_SAME(real, copy, field)						\
	static_assert(offsetof(struct real, field) == offsetof(struct copy, field) &&	\
		      sizeof_field(struct real, field) == sizeof_field(struct copy, field), \
		      "compat.h: struct " #real "." #field " moved or changed size")

TS_SAME(flush_tlb_info, ts_flush_tlb_info_head, mm);
TS_SAME(flush_tlb_info, ts_flush_tlb_info_head, start);
TS_SAME(flush_tlb_info, ts_flush_tlb_info_head, end);
TS_SAME(flush_tlb_info, ts_flush_tlb_info_head, new_tlb_gen);
TS_SAME(flush_tlb_info, ts_flush_tlb_info_head, initiating_cpu);
TS_SAME(flush_tlb_info, ts_flush_tlb_info_head, stride_shift);
TS_SAME(flush_tlb_info, ts_flush_tlb_info_head, freed_tables);
TS_SAME(tlb_state_shared, ts_tlb_state_shared_head, is_lazy);

/* The per-CPU copy is read at the kernel's offsets: its type must agree. */
static_assert(__same_type(((struct tlb_state_shared *)0)->is_lazy,
			  ((struct ts_tlb_state_shared_head *)0)->is_lazy),
	      "compat.h: tlb_state_shared.is_lazy is no longer a bool");
