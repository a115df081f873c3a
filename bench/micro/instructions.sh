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

count() { # LIB OPS -> instructions executed
  LD_PRELOAD=$1 valgrind --tool=callgrind --callgrind-out-file=/dev/null "$churn" -n "$2" -W 0 2>&1 \
    | sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}

echo "| allocator | instructions per op |"
echo "|---|---:|"
for name in mimalloc tiershim; do
  a=$(count "${libs[$name]}" 1000000)
  b=$(count "${libs[$name]}" 2000000)
  echo "| $name | $(( (b - a) / 1000000 )) |"
done
