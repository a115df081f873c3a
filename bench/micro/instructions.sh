#!/usr/bin/env bash
# Instructions per churn operation under callgrind: a deterministic measure
# of the wrapper's fast-path cost, immune to the timing noise of a shared
# machine. Runs ts_churn at two op counts and reports the difference per op,
# so start-up and warm-up cancel out.
#   bench/micro/instructions.sh [BUILD_DIR]     (needs valgrind: apt-get install valgrind)
set -euo pipefail
build=${1:-build}
churn=$build/bench/micro/ts_churn
command -v valgrind >/dev/null || { echo "instructions.sh: valgrind is not installed" >&2; exit 1; }
[ -x "$churn" ] || { echo "instructions.sh: $churn missing (build first)" >&2; exit 1; }
libdir=/usr/lib/x86_64-linux-gnu
declare -A libs=([mimalloc]=$libdir/libmimalloc.so.2 [tiershim]=$(realpath "$build/libtiershim.so"))

count() { # LIB OPS [ARGS...] -> instructions executed
  local lib=$1 ops=$2
  shift 2
  LD_PRELOAD=$lib valgrind --tool=callgrind --callgrind-out-file=/dev/null "$churn" -n "$ops" -W 0 "$@" 2>&1 \
    | sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}

# per_op LIB OPS THREADS [ARGS...]: the difference between OPS and 2*OPS per
# thread, over the ops it added (OPS * THREADS).
per_op() {
  local lib=$1 ops=$2 threads=$3
  shift 3
  local a b
  a=$(count "$lib" "$ops" -t "$threads" "$@")
  b=$(count "$lib" $((2 * ops)) -t "$threads" "$@")
  echo $(((b - a) / (ops * threads)))
}

# The cross-thread column (-t 2 -x: a quarter of the blocks freed by the
# other thread) is less exact: callgrind runs one thread at a time, and how
# often a producer finds the ring full depends on where it switches threads
# (about +-2 instructions per op between runs).
echo "| allocator | 1 thread | 2 threads, cross-thread free (-t 2 -x) |"
echo "|---|---:|---:|"
for name in mimalloc tiershim; do
  echo "| $name | $(per_op "${libs[$name]}" 1000000 1) | $(per_op "${libs[$name]}" 500000 2 -x) |"
done
