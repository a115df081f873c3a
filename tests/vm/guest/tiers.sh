#!/bin/sh
# vm.tiers: tier discovery and placement on a real two-tier machine (node 0:
# DRAM with the CPUs, memory_tier4; node 1: CPU-less PMEM as RAM, a lower
# tier). Runs inside the VM; tier_probe does the measuring.
. /ts/lib.sh

P=$TS_BUILD/tier_probe
SHIM=$TS_BUILD/libtiershim.so
# shim ENV... -- ARGS: tier_probe under the shim with TIERSHIM_ settings
shim() {
  envs=""
  while [ "$1" != "--" ]; do envs="$envs $1"; shift; done
  shift
  env LD_PRELOAD=$SHIM $envs "$P" "$@"
}

# ---- discovery ----------------------------------------------------------
"$TS_BUILD/tiershim" topo >/tmp/topo 2>&1
sed 's/^/   /' /tmp/topo
vm_check "tiershim topo says tiered" grep -qi 'tiered' /tmp/topo
env LD_PRELOAD=$SHIM TIERSHIM_VERBOSE=1 TIERSHIM_STATS=json:/tmp/d.json "$P" workload >/dev/null 2>/tmp/verbose
grep 'tiers:' /tmp/verbose | sed 's/^/   /'
vm_check "the shim finds the fast tier {0}" grep -q '"fast_nodes": "0"' /tmp/d.json
vm_check "the shim finds the slow tier {1}" grep -q '"slow_nodes": "1"' /tmp/d.json

# ---- hot class ------------------------------------------------------------
vm_run "hot: small objects, stacks, metadata on node 0" shim TIERSHIM_BULK=slow -- hot
vm_run "hot, program prefers node 1 itself: still node 0" shim -- hot hostile
vm_run "control: TIERSHIM_HOT=default lets them follow the program to node 1" \
  shim TIERSHIM_HOT=default -- hot hostile expect=1

# Page tables: tests/vm/guest/tiers_online.sh (node 1 as ZONE_NORMAL; here
# it is ZONE_MOVABLE, where page tables can never go).

# ---- bulk policies --------------------------------------------------------
vm_run "bulk=interleave splits 1:1" shim TIERSHIM_BULK=interleave -- split 256 1:1
vm_run "bulk=weighted:1,1 splits 1:1" shim TIERSHIM_BULK=weighted:1,1 -- split 256 1:1
vm_run "bulk=weighted:3,1 splits 3:1" shim TIERSHIM_BULK=weighted:3,1 -- split 256 3:1
vm_run "bulk=slow puts bulk on node 1" shim TIERSHIM_BULK=slow -- split 256 0:1
vm_run "bulk=fast, more than node 0 holds: spills, no OOM" shim TIERSHIM_BULK=fast TIERSHIM_STATS=json:/tmp/spill.json -- spill 2560
vm_info "spill stats: $(grep -o '"bulk_spilled_bytes": [0-9]*\|"fast_reserve_bytes": [0-9]*' /tmp/spill.json | tr '\n' ' ')"

# ---- the stats ------------------------------------------------------------
env LD_PRELOAD=$SHIM TIERSHIM_BULK=slow TIERSHIM_STATS=json:/tmp/stats.json "$P" split 64 0:1 >/dev/null 2>&1
sed -n '/"tiers"/,$p' /tmp/stats.json | sed 's/^/   /' | head -40
vm_check "stats: tiers on" grep -q '"status": "on"' /tmp/stats.json
env LD_PRELOAD=$SHIM TIERSHIM_STATS=json:/tmp/hot.json "$P" hot >/dev/null 2>&1
vm_check "stats: the probe's thread stack was bound" grep -q '"stacks_bound": [1-9]' /tmp/hot.json
vm_check "stats: bulk resident on node 1" \
  sh -c "sed -n '/\"nodes\": \\[/,\$p' /tmp/stats.json | grep -q '\"node\": 1, .*\"bulk_resident_bytes\": [1-9]'"

# ---- NUMA balancing skips what tiershim placed ------------------------------
# The kernel scans only VMAs whose policy migrates on fault (vma_policy_mof),
# and tiershim's task and bulk policies do not (docs/design.md). Mode 1
# 3 (normal and tiering) scans the pages the probe moved to the slow node.
hint() { awk '$1 == "numa_hint_faults" { print $2 }' /proc/vmstat; }
# The scan starts 1 s after exec and comes once a second at best: make it
# start at once and come every 100 ms, so 4 s of touching are many passes
# (and, with THP, one fault per 2 MiB per pass is still plenty).
nbdir=/sys/kernel/debug/sched/numa_balancing
[ -d "$nbdir" ] || mount -t debugfs none /sys/kernel/debug 2>/dev/null
nbset() { # NAME VALUE: remembers the old value in nbold_NAME
  [ -w "$nbdir/$1" ] || return 0
  eval "nbold_$1=\$(cat $nbdir/$1)"
  echo "$2" >"$nbdir/$1"
}
if [ -w /proc/sys/kernel/numa_balancing ]; then
  nb=$(cat /proc/sys/kernel/numa_balancing)
  echo 3 >/proc/sys/kernel/numa_balancing
  nbset scan_delay_ms 0; nbset scan_period_min_ms 100; nbset scan_period_max_ms 400
  h0=$(hint); "$P" touch 4 64 >/tmp/touch.out; h1=$(hint)
  vm_info "control: $(cat /tmp/touch.out)"
  env LD_PRELOAD=$SHIM "$P" touch 4 64 >/dev/null; h2=$(hint)
  env LD_PRELOAD=$SHIM TIERSHIM_HOT=default TIERSHIM_BULK=default "$P" touch 4 64 >/dev/null; h3=$(hint)
  for k in scan_delay_ms scan_period_min_ms scan_period_max_ms; do
    eval "v=\${nbold_$k:-}"; [ -n "$v" ] && echo "$v" >"$nbdir/$k"
  done
  echo "$nb" >/proc/sys/kernel/numa_balancing
  ctl=$((h1 - h0)) ts=$((h2 - h1)) esc=$((h3 - h2))
  vm_info "NUMA hinting faults over 4 s of touching 64 MiB (scan every 100-400 ms): no tiershim $ctl, tiershim $ts, tiershim HOT=default BULK=default $esc"
  vm_check "control: NUMA balancing scans a process without tiershim (faults >= 50)" [ "$ctl" -ge 50 ]
  vm_check "tiershim's policies keep the process out of the scans (under 2% of the control's faults)" [ $((ts * 50)) -lt "$ctl" ]
  vm_check "HOT=default BULK=default leaves it to NUMA balancing (faults >= 10)" [ "$esc" -ge 10 ]
else
  vm_info "no /proc/sys/kernel/numa_balancing: NUMA balancing check skipped"
fi

# ---- same output whatever the policy --------------------------------------
ref=$("$P" workload)
vm_info "without the shim: $ref"
for b in default fast slow interleave weighted:3,1; do
  got=$(env LD_PRELOAD=$SHIM TIERSHIM_BULK=$b "$P" workload 2>&1)
  vm_check "workload output identical with bulk=$b" [ "$got" = "$ref" ]
done
got=$(env LD_PRELOAD=$SHIM TIERSHIM_HOT=default TIERSHIM_BULK_MIN=1M TIERSHIM_BULK=slow "$P" workload 2>&1)
vm_check "workload output identical with per-range binding (BULK_MIN=1M)" [ "$got" = "$ref" ]
vm_finish
