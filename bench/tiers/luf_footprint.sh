#!/bin/bash
# bench/tiers/luf_footprint.sh [--thp always|madvise|never] [--reps N] [BUILD_DIR]
#
# The memory the LUF experiment's share column divides by, on the host: the
# anonymous memory in mappings of 1 MiB or more of one ts_llama process
# (the guest's driver and arguments, mmap off, more requests so it runs
# long enough), sampled from /proc/PID/smaps 5 s after the start, under
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
eval "$(bash "$root/bench/llama/setup.sh" --model 200m | sed -n 's/^\(model_200m\|driver\|bins\)=/\1=/p')"
mimalloc=$(ls /usr/lib/x86_64-linux-gnu/libmimalloc.so.2 2>/dev/null || true)
tuned=${LUF_TUNED:-TIERSHIM_BULK=fast TIERSHIM_THP=off TIERSHIM_FAST_RESERVE=64M}
knob=/sys/kernel/mm/transparent_hugepage/enabled
if [[ -n $thp ]]; then
  old=$(sed 's/.*\[\(.*\)\].*/\1/' "$knob")
  echo "$thp" >"$knob"
  trap 'echo "$old" >"$knob"' EXIT
fi
work=$(mktemp -d)
trap 'rm -rf "$work"; [[ -n $thp ]] && echo "$old" >"$knob"' EXIT

# one LABEL ENV...: KiB of anonymous memory in mappings of >= 1 MiB, and
# of those, the brk heap's and mimalloc's arenas' (below 1 << 44)
one() {
  local label=$1; shift
  env "$@" "$driver" --model "$model_200m" --bins "$bins" --mmap off --requests 300 --gen 8 \
    --prompt-max 10 --threads 1 --ctx 512 --seed 1 >"$work/out" 2>&1 &
  local pid=$!
  sleep 5
  cp "/proc/$pid/smaps" "$work/smaps" 2>/dev/null || { echo "$label gone before 5 s" >&2; return 1; }
  kill "$pid"; wait "$pid" 2>/dev/null || true
  /usr/bin/python3 - "$work/smaps" "$label" <<'EOF'
import re, sys
rows, cur = [], None
for line in open(sys.argv[1]):
    m = re.match(r"^([0-9a-f]+)-([0-9a-f]+) \S+ \S+ \S+ \d+\s*(.*)$", line)
    if m:
        lo, hi = int(m.group(1), 16), int(m.group(2), 16)
        cur = [hi - lo, lo, m.group(3), 0]
        rows.append(cur)
    elif line.startswith("Anonymous:") and cur:
        cur[3] = int(line.split()[1])
big = [r for r in rows if r[0] >= 1 << 20 and r[3] > 0]
heap = sum(r[3] for r in big if r[2] == "[heap]" or r[1] < 1 << 44)
print("%s %d %d" % (sys.argv[2], sum(r[3] for r in big), heap))
EOF
}

for ((r = 1; r <= reps; r++)); do
  one glibc X=1
  [[ -n $mimalloc ]] && one mimalloc LD_PRELOAD="$mimalloc"
  one tiershim_tuned LD_PRELOAD="$build/libtiershim.so" $tuned
done >"$work/all"
echo "THP $(sed 's/.*\[\(.*\)\].*/\1/' "$knob"); KiB of anonymous memory in mappings of 1 MiB or more, median of $reps (of which in the brk heap or mimalloc's arenas: plain mimalloc keeps every block there)"
for label in glibc mimalloc tiershim_tuned; do
  awk -v l="$label" '$1 == l { print $2, $3 }' "$work/all" | sort -n |
    awk -v l="$label" '{ a[NR] = $1; h[NR] = $2 } END { if (NR) { m = int((NR + 1) / 2); printf "%-15s %8d (%d)\n", l, a[m], h[m] } }'
done
