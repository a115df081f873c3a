#!/bin/sh
# vm.smoke: the test bed itself works. Runs inside the VM (busybox sh).
#  - two memory tiers: the top one holds node 0, another holds node 1
#  - node 1 is the CPU-less PMEM node, > 1 GiB
#  - the tiershim CLI runs; the shim preloads into a dynamic program and
#    prints its stats; mbind/move_pages place pages on either node
. /ts/lib.sh

tiers=$(ls -d /sys/devices/virtual/memory_tiering/memory_tier* 2>/dev/null | wc -l)
vm_info "$tiers memory tiers: $(for t in /sys/devices/virtual/memory_tiering/memory_tier*; do printf '%s=%s ' "${t##*/}" "$(cat "$t/nodelist")"; done)"
vm_check "at least two memory tiers" [ "$tiers" -ge 2 ]
top=$(vm_tier_nodelist 0)
vm_check "the first tier's nodelist is 0 (got '$top')" [ "$top" = 0 ]
other=0
k=1
while [ $k -lt "$tiers" ]; do
  [ "$(vm_tier_nodelist $k)" = 1 ] && other=1
  k=$((k + 1))
done
vm_check "a lower tier's nodelist is 1" [ $other = 1 ]

n1=/sys/devices/system/node/node1
kb=$(sed -n 's/.*MemTotal: *\([0-9]*\) kB/\1/p' $n1/meminfo 2>/dev/null)
vm_check "node1 MemTotal ${kb:-?} kB > 1 GiB" [ "${kb:-0}" -gt 1048576 ]
cpus=$(cat $n1/cpulist 2>/dev/null || echo missing)
vm_check "node1 has no CPUs (cpulist '$cpus')" [ -z "$cpus" ]

out=$("$TS_BUILD/tiershim" version 2>&1); rc=$?
vm_check "tiershim version: rc=$rc '$out'" [ $rc -eq 0 -a -n "$out" ]

LD_PRELOAD=$TS_BUILD/libtiershim.so TIERSHIM_STATS=1 "$TS_BUILD/alloc_probe" >/tmp/probe.out 2>/tmp/probe.err
rc=$?
vm_check "alloc_probe under the shim exits 0 (rc=$rc)" [ $rc -eq 0 ]
vm_check "alloc_probe printed ok" grep -qx ok /tmp/probe.out
vm_check "the shim printed its stats on stderr" grep -q '^tiershim: .*stats' /tmp/probe.err
[ $VM_FAILED = 0 ] || { vm_show /tmp/probe.out stdout; vm_show /tmp/probe.err stderr; }

"$TS_BUILD/alloc_probe" bind >/tmp/bind.out 2>&1
rc=$?
cat /tmp/bind.out
vm_check "mbind to node 1, move_pages to node 0 (rc=$rc)" [ $rc -eq 0 ]
vm_check "alloc_probe bind printed ok" grep -qx ok /tmp/bind.out

vm_finish smoke
