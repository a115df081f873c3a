#!/bin/bash
# bench/tiers/luf_footprint.sh [--thp always|madvise|never] [--reps N] [BUILD_DIR]
#
# The memory the LUF experiment's share column divides by, on the host:
# what tier_sample counts (as in the guest) for one ts_llama process (the
# guest's driver and arguments, mmap off, more requests so it runs long
# enough) 5 s after the start, and its small-object heap, under
# glibc, plain mimalloc and tiershim tuned (luf.sh's TUNED). With --thp the
# host's THP mode is set for the run and put back after (root; the guest
# runs `always`). Medians of N runs (default 3), interleaved.
#   BUILD_DIR  default: build
# Environment: LUF_TUNED="TIERSHIM_X=v ..." the tuned cell's settings, as for luf.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
thp= reps=3
while [[ $# -gt 0 ]]; do
  case $1 in
    --thp) thp=$2; shift 2 ;;
    --reps) reps=$2; shift 2 ;;
    -h|--help) sed -n '2,/^set -e/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) break ;;
  esac
done
build=$(cd "${1:-$root/build}" && pwd)
bench_tag=luf_footprint
. "$root/bench/lib.sh"
bench_tool ts_tier_sample bench/tiers/tier_sample
eval "$(bash "$root/bench/llama/setup.sh" --model 200m | sed -n 's/^\(model_200m\|driver\|bins\)=/\1=/p')"
mimalloc=$(ls /usr/lib/x86_64-linux-gnu/libmimalloc.so.2 2>/dev/null || true)
tuned=${LUF_TUNED:-TIERSHIM_BULK=fast TIERSHIM_THP=off TIERSHIM_FAST_RESERVE=64M}
knob=/sys/kernel/mm/transparent_hugepage/enabled
if [[ -n $thp ]]; then
  old=$(sed 's/.*\[\(.*\)\].*/\1/' "$knob")
  echo "$thp" >"$knob"
fi
work=$(mktemp -d)
trap 'rm -rf "$work"; [[ -n $thp ]] && echo "$old" >"$knob"' EXIT

# one LABEL ENV...: "LABEL SAMPLED HEAP" in KiB. SAMPLED is what the
# guest's share column divides by, measured by the same program
# (tier_sample: anonymous mappings of 1 MiB or more resident, every heap
# among them). HEAP is the small-object heap: glibc's brk heap, or the
# anonymous mappings below 1 << 44 (mimalloc reserves its arenas there, the
# placement window lies near the top).
one() {
  local label=$1; shift
  env "$@" "$driver" --model "$model_200m" --bins "$bins" --mmap off --requests 300 --gen 8 \
    --prompt-max 10 --threads 1 --ctx 512 --seed 1 >"$work/out" 2>&1 &
  local pid=$!
  sleep 5
  local s h
  s=$("$build/bench/tiers/tier_sample" "" "$pid" | tr ' ' '\n' | awk -F= '$1 ~ /^anon_n/ { t += $2 } END { print int(t / 1024) }')
  h=$(awk '/ anon=/ && (/ heap/ || length($1) <= 11) { kb = 4; for (i = 3; i <= NF; i++) { split($i, kv, "="); if (kv[1] == "kernelpagesize_kB") kb = kv[2]; if (kv[1] == "anon") a = kv[2] } t += a * kb } END { print t + 0 }' "/proc/$pid/numa_maps")
  kill "$pid"; wait "$pid" 2>/dev/null || true
  [[ -n $s ]] || { echo "$label gone before 5 s" >&2; return 1; }
  echo "$label $s $h"
}

for ((r = 1; r <= reps; r++)); do
  one glibc X=1
  [[ -n $mimalloc ]] && one mimalloc LD_PRELOAD="$mimalloc"
  one tiershim_tuned LD_PRELOAD="$build/libtiershim.so" $tuned
done >"$work/all"
echo "THP $(sed 's/.*\[\(.*\)\].*/\1/' "$knob"); KiB sampled as in the guest (tier_sample), median of $reps; in brackets the small-object heap (sampled too: glibc's brk heap, mimalloc's arenas; plain mimalloc keeps every block there)"
for label in glibc mimalloc tiershim_tuned; do
  awk -v l="$label" '$1 == l { print $2, $3 }' "$work/all" | sort -n |
    awk -v l="$label" '{ a[NR] = $1; h[NR] = $2 } END { if (NR) { m = int((NR + 1) / 2); printf "%-15s %8d (%d)\n", l, a[m], h[m] } }'
done
