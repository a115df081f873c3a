#!/bin/bash
# integration.tiers_fake: tier discovery and its failure modes on this
# one-node machine, through fake sysfs trees (TIERSHIM_SYSFS_ROOT).
#  - real /sys, one node: tiers "single", no binding at all, nothing printed
#  - a fake DRAM + CXL tree: tiers on; binding to node 0 works; binding to
#    node 1 (absent here) fails, is counted, and the program's output is
#    unchanged (degrades to plain behaviour)
#  - malformed tree, bad override: one warning line, program runs
# usage: tiers_fake.sh LIB PROBE
. "$(dirname "$0")/it_lib.sh"
LIB=$1 PROBE=$2
it_clean_env
it_tmpdir

# fake_tree DIR: node0 (CPUs, 8 GiB) in memory_tier4, node1 (no CPUs, 16 GiB) in memory_tier22
fake_tree() {
  local d=$1 n
  mkdir -p "$d/devices/system/node" "$d/devices/virtual/memory_tiering/memory_tier4" \
    "$d/devices/virtual/memory_tiering/memory_tier22"
  echo 0-1 >"$d/devices/system/node/has_memory"
  echo 0 >"$d/devices/system/node/has_cpu"
  for n in 0 1; do
    mkdir -p "$d/devices/system/node/node$n"
    printf 'Node %d MemTotal:  %d kB\nNode %d MemFree:  %d kB\nNode %d PageTables: 100 kB\n' \
      $n $(( (n + 1) * 8388608 )) $n 4000000 $n >"$d/devices/system/node/node$n/meminfo"
  done
  echo "10 20" >"$d/devices/system/node/node0/distance"
  echo "20 10" >"$d/devices/system/node/node1/distance"
  echo 0 >"$d/devices/virtual/memory_tiering/memory_tier4/nodelist"
  echo 1 >"$d/devices/virtual/memory_tiering/memory_tier22/nodelist"
}

ref=$(env -u LD_PRELOAD "$PROBE" workload)
[ -n "$ref" ] || it_fail "the probe runs without the shim"

# stats VAR... : runs the probe's workload under the shim, JSON stats into $TMP/s.json
stats() {
  env LD_PRELOAD="$LIB" TIERSHIM_STATS=json:$TMP/s.json "$@" "$PROBE" workload >"$TMP/out" 2>"$TMP/err"
}
field() { it_python -c "import json,sys; t=json.load(open('$TMP/s.json'))['tiers']; print(eval(sys.argv[1]))" "$1"; }

stats
[ "$(cat "$TMP/out")" = "$ref" ] && it_pass "real /sys: output unchanged" || it_fail "real /sys: output changed"
[ "$(field "t['status']")" = single ] && it_pass "real /sys: tiers single" || it_fail "real /sys: status $(field "t['status']")"
[ "$(field "t['binds']")" = 0 ] && it_pass "real /sys: no mbind call" || it_fail "real /sys: $(field "t['binds']") binds"
[ ! -s "$TMP/err" ] && it_pass "real /sys: nothing printed" || { it_fail "real /sys: stderr not empty"; it_show "$TMP/err" stderr; }

fake_tree "$TMP/sys"
stats TIERSHIM_SYSFS_ROOT="$TMP/sys" TIERSHIM_BULK=fast
[ "$(cat "$TMP/out")" = "$ref" ] && it_pass "fake 2-tier, bulk=fast: output unchanged" || it_fail "bulk=fast: output changed"
[ "$(field "t['status']"),$(field "t['fast_nodes']"),$(field "t['slow_nodes']")" = "on,0,1" ] \
  && it_pass "fake 2-tier: tiers on, fast 0, slow 1" || it_fail "fake 2-tier: $(field "t")"
[ "$(field "t['bind_failures']")" = 0 ] && [ "$(field "t['bulk_bound_bytes']>0 and t['hot_bound_bytes']>0")" = True ] \
  && it_pass "bulk=fast: hot and bulk bound to node 0, no failure" || it_fail "bulk=fast: $(field "t")"
[ "$(field "t['nodes'][0]['bulk_resident_bytes']>0")" = True ] \
  && it_pass "stats: bulk resident bytes sampled on node 0" || it_fail "stats: $(field "t['nodes']")"

stats TIERSHIM_SYSFS_ROOT="$TMP/sys" TIERSHIM_BULK=slow
[ "$(cat "$TMP/out")" = "$ref" ] && it_pass "bulk=slow to an absent node: output unchanged" || it_fail "bulk=slow: output changed"
[ "$(field "t['bind_failures']>0")" = True ] && it_pass "bulk=slow to an absent node: failures counted ($(field "t['bind_failures']"))" \
  || it_fail "bulk=slow: no failure counted: $(field "t")"

stats TIERSHIM_SYSFS_ROOT="$TMP/sys" TIERSHIM_BULK=weighted:3,1 TIERSHIM_BULK_MIN=1M
[ "$(cat "$TMP/out")" = "$ref" ] && it_pass "weighted, per-range binding: output unchanged" || it_fail "weighted: output changed"
[ "$(field "t['bulk_per_range']")" = True ] && it_pass "BULK_MIN above LARGE_MIN: binding per range" || it_fail "per range: $(field "t")"

# Cold reads: switching to the absent slow node fails, so each read runs
# under the thread's own policy (counted), and reads what it should.
head -c $((16 << 20)) /dev/zero >"$TMP/cold"
env -u LD_PRELOAD "$PROBE" coldfill "$TMP/cold" 16 >/dev/null || it_fail "coldfill"
for api in read pread fread; do
  env LD_PRELOAD="$LIB" TIERSHIM_SYSFS_ROOT="$TMP/sys" TIERSHIM_STATS=json:$TMP/s.json \
    "$PROBE" coldread "$TMP/cold" 16 $api 0 >"$TMP/out" 2>&1
  rc=$?
  grep -q "FAIL" "$TMP/out" && rc=1
  [ $rc = 0 ] && [ "$(field "t['cold_read_refused']>0 and t['cold_reads']==0")" = True ] \
    && it_pass "cold read ($api) to an absent slow node: the bytes read, the refusal counted" \
    || { it_fail "cold read ($api): rc=$rc $(field "{k: t[k] for k in t if k.startswith('cold')}")"; it_show "$TMP/out" out; }
done

# The program's own mempolicy is left alone (numactl); bind-to-node-0 works here.
if command -v numactl >/dev/null; then
  env LD_PRELOAD="$LIB" TIERSHIM_SYSFS_ROOT="$TMP/sys" TIERSHIM_STATS=json:$TMP/s.json \
    numactl --preferred=0 "$PROBE" workload >"$TMP/out" 2>&1
  case "$(field "t['task_policy']")" in
    left\ alone*) it_pass "numactl's task policy left alone" ;;
    *) it_fail "task policy under numactl: $(field "t['task_policy']")" ;;
  esac
fi

mkdir -p "$TMP/bad"; cp -r "$TMP/sys/." "$TMP/bad/"
echo "zz" >"$TMP/bad/devices/virtual/memory_tiering/memory_tier22/nodelist"
stats TIERSHIM_SYSFS_ROOT="$TMP/bad"
[ "$(cat "$TMP/out")" = "$ref" ] && it_pass "malformed tree: output unchanged" || it_fail "malformed: output changed"
[ "$(grep -c '^tiershim: .*memory_tier22/nodelist.*tier placement off' "$TMP/err")" = 1 ] \
  && it_pass "malformed tree: one warning naming the file" || { it_fail "malformed tree warning"; it_show "$TMP/err" stderr; }
[ "$(field "t['status']")" = error ] && it_pass "malformed tree: status error" || it_fail "malformed: $(field "t['status']")"

stats TIERSHIM_FAST_NODES=0 TIERSHIM_SLOW_NODES=1
[ "$(cat "$TMP/out")" = "$ref" ] && it_pass "override naming a node without memory: output unchanged" || it_fail "override: output changed"
[ "$(grep -c '^tiershim: .*tier placement off' "$TMP/err")" = 1 ] \
  && it_pass "override naming a node without memory: one warning" || { it_fail "override warning"; it_show "$TMP/err" stderr; }
stats TIERSHIM_FAST_NODES=0-x
[ "$(grep -c '^tiershim: TIERSHIM_FAST_NODES=0-x: not a node list' "$TMP/err")" = 1 ] \
  && it_pass "malformed override: one option warning" || { it_fail "malformed override warning"; it_show "$TMP/err" stderr; }

it_finish tiers_fake
