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

# ---- cold reads: page cache of large reads into placed memory -------------
# A ram disk (brd): page cache that can be dropped, as a model's disk has.
# A block device's own page cache is GFP_USER, so it can reach node 1 only
# here, where node 1 is ZONE_NORMAL (a file's page cache is movable and
# reaches a ZONE_MOVABLE tier too: bench/tiers/luf.sh). The probe maps the
# cache after reading to see where the read put it, and counts the page
# tables the read's destination grew (THP is off: 4 KiB pages).
if modprobe brd rd_nr=1 rd_size=131072 && [ -b /dev/ram0 ]; then
  "$P" coldfill /dev/ram0 96 >/dev/null
  for api in read pread fread; do
    vm_run "cold read ($api): page cache on node 1; buffer and its page tables on node 0" \
      env LD_PRELOAD=$SHIM TIERSHIM_STATS=json:/tmp/cold.json "$P" coldread /dev/ram0 96 $api 1
  done
  vm_check "stats: the cold reads are counted" grep -q '"cold_reads": [1-9]' /tmp/cold.json
  vm_run "control: TIERSHIM_COLD_READS=0 leaves the page cache on node 0" \
    env LD_PRELOAD=$SHIM TIERSHIM_COLD_READS=0 "$P" coldread /dev/ram0 96 read 0
  vm_run "control: without tiershim the page cache is on node 0" "$P" coldread /dev/ram0 96 read 0
else
  vm_fail "modprobe brd: no ram disk for the cold-read checks"
fi
echo always >/sys/kernel/mm/transparent_hugepage/enabled
vm_finish
