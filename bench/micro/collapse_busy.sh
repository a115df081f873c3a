#!/usr/bin/env bash
# Runs ts_collapse_busy (collapse_busy.c) under glibc, tiershim, tiershim with
# THP=fault (huge pages at fault time: no collapses) and optionally an older
# build, in interleaved rounds, and prints the medians.
#
#   bench/micro/collapse_busy.sh [--rounds N] [--threads T] [--mib M] [--seconds S]
#                                [--baseline LIB] [BUILD]
set -euo pipefail
rounds=4 threads=2 mib=600 seconds=12 baseline="" build=build
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) rounds=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --mib) mib=$2; shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    --baseline) baseline=$(realpath "$2"); shift 2 ;;
    -h|--help) sed -n '2,7p' "$0"; exit 0 ;;
    *) build=$1; shift ;;
  esac
done
prog=$build/bench/micro/ts_collapse_busy
lib=$(realpath "$build/libtiershim.so")
[ -x "$prog" ] && [ -f "$lib" ] || { echo "collapse_busy.sh: build $build first" >&2; exit 2; }
configs=(glibc tiershim ts-fault)
[ -n "$baseline" ] && configs+=(ts-base)
out=$(mktemp)
trap 'rm -f "$out"' EXIT
run() { # config
  local env=()
  case "$1" in
    glibc) ;;
    tiershim) env=(LD_PRELOAD="$lib") ;;
    ts-fault) env=(LD_PRELOAD="$lib" TIERSHIM_THP=fault) ;;
    ts-base) env=(LD_PRELOAD="$baseline") ;;
  esac
  env "${env[@]}" "$prog" --threads "$threads" --mib "$mib" --seconds "$seconds" | sed -n "s/^RESULT /$1 /p"
}
for ((r = 0; r < rounds; r++)); do
  n=${#configs[@]}
  for ((k = 0; k < n; k++)); do
    c=${configs[$(((r + k) % n))]}
    line=$(run "$c")
    echo "round $((r + 1)) $line"
    echo "$line" >> "$out"
  done
done
echo "medians of $rounds rounds ($threads threads, $mib MiB, $seconds s):"
/usr/bin/python3 - "$out" "${configs[@]}" <<'PY'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    f = line.split()
    rows.setdefault(f[0], []).append(dict(kv.split("=") for kv in f[1:]))
for c in sys.argv[2:]:
    v = lambda k: [float(r[k]) for r in rows.get(c, [])]
    t = v("tokens_per_s")
    if t:
        f1, rest = v("first1_per_s"), v("rest_per_s")
        ratio = [a / b for a, b in zip(f1, rest) if b > 0]
        print(f"  {c:9s} tokens/s {statistics.median(t):7.2f} ({min(t):.2f}-{max(t):.2f})  "
              f"first s / the rest {statistics.median(ratio):.2f} ({min(ratio):.2f}-{max(ratio):.2f})  "
              f"cpu_s {statistics.median(v('cpu_s')):6.2f}  fill_s {statistics.median(v('fill_s')):6.3f}")
PY
