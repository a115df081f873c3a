#!/usr/bin/env bash
# fault.sh FAULT_LIB LIB PROBE: fault injection (docs/reliability.md).
#  - fault_probe under the tiershim_fault build with TS_FAULTS at 2% and 10%,
#    several seeds, under the default, THP=collapse, UNMAP=munmap and a small
#    RETAIN_MAX (releases all the time): every run completes with correct
#    memory (or NULL with ENOMEM), injected faults > 0, and the stats count
#    the failures the shim absorbed;
#  - under `ulimit -v` with the shipped library: malloc returns NULL with
#    ENOMEM, and the program recovers after freeing.
# TS_FAULT_LONG=1: 10x the operations and more seeds.
set -u
. "$(dirname "$0")/../integration/it_lib.sh"
FLIB=$1 LIB=$2 PROBE=$3
it_clean_env
it_tmpdir
rounds=1500 seeds="1 2 3"
[ -n "${TS_FAULT_LONG:-}" ] && rounds=15000 seeds="1 2 3 4 5 6 7 8"
total_ops=0 total_inj=0 runs=0

json() { it_python -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$@"; }

run() { # NAME PERMILLE SEED [VAR=VALUE...]
  local name=$1 rate=$2 seed=$3; shift 3
  env LD_PRELOAD="$FLIB" TS_FAULTS="$rate:$seed" TIERSHIM_STATS="json:$TMP/$name.json" "$@" \
    "$PROBE" inject "$rounds" 2 "$seed" >"$TMP/$name.out" 2>"$TMP/$name.err"
  local rc=$? line inj ops
  line=$(grep '^tiershim: faults injected:' "$TMP/$name.err")
  inj=$(sed 's/.*injected://' <<<"$line" | tr ' ' '\n' | sed -n 's/.*=\([0-9]*\)\/.*/\1/p' | paste -sd+ | bc)
  ops=$(sed -n 's/^ok ops=\([0-9]*\).*/\1/p' "$TMP/$name.out")
  if [ $rc -ne 0 ] || [ -z "$ops" ]; then
    it_fail "$name: rc=$rc: $(head -3 "$TMP/$name.out")"; it_show "$TMP/$name.err" stderr; return
  fi
  [ "${inj:-0}" -gt 0 ] || { it_fail "$name: no fault was injected ($line)"; return; }
  local absorbed
  absorbed=$(json "$TMP/$name.json" 'd["placement"]["malloc_fallbacks"]+d["placement"]["mmap_fallbacks"]+d["unmap"]["failures"]+d["placement"]["collapse_fail"]+d["placement"]["thp_advise_fail"]+d["placement"]["heap_thp_fail"]')
  total_ops=$((total_ops + ops)) total_inj=$((total_inj + inj)) runs=$((runs + 1))
  it_pass "$name: $(cat "$TMP/$name.out"); $inj faults injected (${line#*injected: }); absorbed in stats: $absorbed"
}

for s in $seeds; do
  run "default.2pct.s$s" 20 "$s"
  run "default.10pct.s$s" 100 "$s"
done
run collapse.10pct 100 11 TIERSHIM_THP=collapse
run munmap.10pct 100 12 TIERSHIM_UNMAP=munmap
run retain.10pct 100 13 TIERSHIM_RETAIN_MAX=8M
run strict.10pct 100 14 TIERSHIM_MUNMAP=strict
run all.50pct 500 15
it_info "fault injection: $runs runs, $total_ops operations, $total_inj faults injected and survived"

# Under an address-space limit the shim's window cannot be reserved: it
# runs on mimalloc alone, and malloc must fail cleanly.
out=$(ulimit -v 1000000; LD_PRELOAD="$LIB" "$PROBE" ulimit 2>&1); rc=$?
[ $rc -eq 0 ] && it_pass "ulimit -v 1000000 (976 MiB): $out" || it_fail "ulimit -v: rc=$rc: $out"
out=$(ulimit -v 1000000; "$PROBE" ulimit 2>&1); rc=$?
it_info "glibc under the same limit: $out"

it_finish fault
