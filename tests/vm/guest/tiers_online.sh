#!/bin/sh
# vm.tiers_online: node 1 onlined as ZONE_NORMAL (memhp_default_state=online,
# the configuration in which page tables and slab can land on CXL and slow
# llama.cpp down). Page tables follow the faulting thread's task policy:
# the shim's preferred-fast task policy keeps them on node 0 while bulk=slow
# data goes to node 1; the control shows they would follow a slow policy.
. /ts/lib.sh

P=$TS_BUILD/tier_probe
SHIM=$TS_BUILD/libtiershim.so
grep -q 'Normal' /proc/zoneinfo && vm_info "node 1 zones: $(grep '^Node 1' /proc/zoneinfo | tr '\n' ' ')"

echo never >/sys/kernel/mm/transparent_hugepage/enabled
vm_run "control: a program preferring node 1 gets its page tables there" "$P" pagetables 512 self-slow
vm_run "page tables on node 0, bulk=slow data on node 1" \
  env LD_PRELOAD=$SHIM TIERSHIM_BULK=slow "$P" pagetables 512
echo always >/sys/kernel/mm/transparent_hugepage/enabled
vm_finish
