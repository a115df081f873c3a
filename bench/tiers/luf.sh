#!/bin/bash
# bench/tiers/luf.sh [--rounds N] [--quick] [--modes "off on"] [--dram MB]
#                    [--model 200m|1.1b] [BUILD_DIR]
#
# The TLB-shootdown experiment of tiered inference (the LUF paper's setup,
# scaled to the two-tier qemu guest): llama.cpp, two processes at once,
# DRAM smaller than the working set, NUMA balancing in tiering mode
# (numa_balancing=2), demotion on, no swap. Cells: glibc, jemalloc,
# tiershim (defaults) and tiershim tuned for tiering (TUNED below). Per run:
# the guest's TLB shootdown IPIs (/proc/interrupts), the promotion,
# demotion, NUMA-hinting and migration counters of /proc/vmstat, the share
# of the weights and the other large buffers on the fast tier (numa_maps
# samples every SAMPLE_S seconds: tier_sample.c), the generated tokens'
# digests (identical in every cell). Interleaved rounds, medians.
#   --rounds N   interleaved rounds (default 3; 1 with --quick)
#   --quick      1 round, 1 request per process: a smoke run
#   --modes M    llama.cpp's weight loading: "off" (anonymous memory, the
#                default), "on" (page cache) or "off on"
#   --rounds-on N  rounds of mode on (default: --rounds)
#   --dram MB    node 0's memory left to the workload (default 320: the
#                working set of two 200m processes is about 560 MiB)
#   --model M    the generated llama model: 200m (default; TinyLlama's
#                architecture, 12 layers of width 1024, 215 MB) or 1.1b
#                (TinyLlama's shape, 1.17 GB: under qemu TCG on 2 host cores
#                one 2-token request took over 270 s, too slow for rounds;
#                use it with --dram 768 where the guest runs faster)
#   BUILD_DIR    default: build
# Environment (for exploring; the defaults are what docs/results.md reports):
#   LUF_TUNED="TIERSHIM_X=v ..."  the tuned cell's settings
#   LUF_CELLS="glibc tuned"       which cells run (glibc jemalloc tiershim tuned)
#   LUF_REQUESTS, LUF_GEN         requests and tokens per process (2 and 8)
#   LUF_IDLE=0                    no idle-floor run;  LUF_DEBUG=1: LUFDBG lines
#                                 (watermarks, reclaim counters each sample, and
#                                 each mapping's pages per node at the third)
#   LUF_SAMPLE_S=S                seconds between samples (default 5)
#   LUF_COMPACT=1                 compact all memory before every run (each
#                                 cell alike): a run then starts without the
#                                 free-memory fragmentation the previous left
# Writes bench/results/luf-guest[-KERNEL].md (TS_VM_KERNEL picks the guest's
# kernel: tests/vm/README.md). Needs llama.cpp (make engines) and qemu (make
# deps); generates the model (bench/llama/setup.sh --model M) if missing.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
bench_tag=luf
usage() { sed -n '2,/^set -e/p' "$0" | sed '$d; s/^# \{0,1\}//'; }
. "$root/bench/lib.sh"

rounds='' rounds_on='' quick=0 modes=off dram=320 size=200m build=build
while (($#)); do
  case $1 in
    --rounds) rounds=$2; shift ;;
    --quick) quick=1 ;;
    --modes) modes=$2; shift ;;
    --dram) dram=$2; shift ;;
    --model) size=$2; shift ;;
    --rounds-on) rounds_on=$2; shift ;;
    -h|--help) usage; exit 0 ;;
    -*) usage >&2; die "unknown option: $1" ;;
    *) build=$1 ;;
  esac
  shift
done
[[ -z $rounds ]] && rounds=$((quick ? 1 : 3))
[[ $rounds =~ ^[1-9][0-9]*$ ]] || die "--rounds takes a positive integer, not '$rounds'"
[[ $dram =~ ^[1-9][0-9]*$ ]] || die "--dram takes MiB, not '$dram'"
for m in $modes; do [[ $m == on || $m == off ]] || die "--modes takes off and/or on, not '$m'"; done
requests=${LUF_REQUESTS:-$((quick ? 1 : 2))} gen=${LUF_GEN:-8}
bench_build
bench_tool ts_tier_sample bench/tiers/tier_sample

[[ $size == 200m || $size == 1.1b ]] || die "--model takes 200m or 1.1b, not '$size'"
eval "$(bash "$root/bench/llama/setup.sh" --model "$size" | sed -n 's/^\(model_[0-9a-z_]*\|driver\|bins\)=/\1=/p')"
mvar=model_${size//./_}
model=${!mvar:-}
[[ -x ${driver:-} && -f ${model:-} ]] || die "llama.cpp or the $size model not prepared: bash bench/llama/setup.sh --model $size"
jemalloc=$(find_lib libjemalloc.so.2) || die "jemalloc not found (apt-get install libjemalloc2; make deps)"

# The model goes in as a read-only disk: 1.1 GiB would not fit the initrd,
# which unpacks into the 2 GiB DRAM node. It is a file on an ext2
# filesystem there, as on a server: the page cache of a raw block device is
# GFP_USER and can never reach a slow tier onlined ZONE_MOVABLE, a file's
# can (docs/tiers.md, "Cold reads").
command -v mke2fs >/dev/null || PATH=$PATH:/sbin:/usr/sbin
command -v mke2fs >/dev/null || die "mke2fs not found (apt-get install e2fsprogs)"
img=$root/bench/llama/cache/models/$(basename "$model" .gguf).ext2.img
if [[ ! -f $img || $img -ot $model ]]; then
  say "writing the model disk $img"
  dir=$(mktemp -d)
  cp --reflink=auto "$model" "$dir/"
  kb=$(( $(stat -c %s "$model") / 1024 * 105 / 100 + 16384 ))
  rm -f "$img.tmp"
  mke2fs -q -F -t ext2 -m 0 -d "$dir" "$img.tmp" "${kb}k" || { rm -rf "$dir"; die "mke2fs failed"; }
  rm -rf "$dir"
  mv "$img.tmp" "$img"
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
files=(--file "$jemalloc:/ts/jemalloc/libjemalloc.so.2")
guest_ggml_files "$bins"

# TUNED: bulk memory fills the fast tier down to a reserve of 64 MiB, then
# the slow tier; a range is decided again, 8 MiB at a time, as a read fills
# it, and the reads' page cache goes to the slow tier (docs/tiers.md, "Cold
# reads"). Every placed range carries a VMA policy without MPOL_F_MOF, so
# NUMA balancing does not scan it ("NUMA balancing and TLB shootdowns").
# THP off: no collapse thread (each MADV_COLLAPSE flushes) and no
# fault-time compaction, which wakes kswapd on the fast node. The reserve:
# the automatic one (128 MiB on a node this small) holds less on the fast
# tier; below 64 MiB two processes loading at once reach the watermarks,
# where kswapd demotes, each demotion of a mapped page a shootdown.
# No TIERSHIM_PROMOTE: it fills the fast tier to its watermarks too (the
# other configurations' single rounds are in docs/tiers.md; LUF_TUNED="..."
# runs another).
TUNED=${LUF_TUNED:-"TIERSHIM_BULK=fast TIERSHIM_THP=off TIERSHIM_FAST_RESERVE=64M"}
cat >"$work/luf.env" <<EOF
CELLS="${LUF_CELLS:-glibc jemalloc tiershim tuned}"
MODES="$modes"
ROUNDS=$rounds
ROUNDS_ON=${rounds_on:-$rounds}
DRAM_MB=$dram
REQUESTS=$requests
GEN=$gen
PROMPT_MAX=10
SAMPLE_S=${LUF_SAMPLE_S:-5}
DEBUG=${LUF_DEBUG:-0}
IDLE=${LUF_IDLE:-1}
COMPACT=${LUF_COMPACT:-0}
CELL_glibc=""
CELL_jemalloc="LD_PRELOAD=/ts/jemalloc/libjemalloc.so.2"
CELL_tiershim="LD_PRELOAD=/ts/build/libtiershim.so"
CELL_tuned="LD_PRELOAD=/ts/build/libtiershim.so $TUNED"
EOF
files+=(--file "$work/luf.env:/ts/luf.env")

kernel=${TS_VM_KERNEL:-6.1}
suffix=$([[ $kernel == 6.1 ]] || echo "-$kernel")
nmodes=$(wc -w <<<"$modes")
tmo=$((600 + rounds * nmodes * 4 * (quick ? 150 : 300)))
say "booting the two-tier guest ($kernel, slow tier 3 GiB, DRAM for the workload ${dram} MiB); $rounds round(s) x ${nmodes} mode(s) x 4 cells; limit ${tmo} s"
t0=$SECONDS
TS_VM_SLOW_MB=3072 TS_VM_DISK=$img TS_VM_MIN_AVAIL_MB=6144 \
  bash "$root/tests/vm/run.sh" --build "$build" --name "luf$suffix" --timeout "$tmo" \
  --bin "$driver" --bin "$build/bench/tiers/tier_sample" --kmod virtio_blk --kmod virtio_pci --kmod ext4 --kmod '?crc32c_generic' "${files[@]}" \
  "$root/bench/tiers/luf_guest.sh" >"$work/run.out" 2>&1 || { tail -40 "$work/run.out"; die "the guest run failed"; }
log=$build/vm-logs/luf$suffix.log
grep -E '^(LUF|LUFINFO|LUFERR|LUFDBG|SAMPLE) ' "$log" >"$work/lines" || true
grep -q '^LUF ' "$work/lines" || { tail -40 "$log"; die "no LUF lines in the guest's output"; }

out=$root/bench/results/luf-guest$suffix.md
/usr/bin/python3 "$root/bench/tiers/luf_report.py" "$work/lines" "$out" \
  "$([[ $kernel == 6.1 ]] || echo "TS_VM_KERNEL=$kernel ")bash bench/tiers/luf.sh$( ((quick)) && echo ' --quick')$([[ $size != 200m ]] && echo " --model $size")$([[ $dram != 320 ]] && echo " --dram $dram")$([[ $rounds != 3 && $quick == 0 ]] && echo " --rounds $rounds")$([[ $modes != off ]] && echo " --modes '$modes'")$([[ -n $rounds_on ]] && echo " --rounds-on $rounds_on") $(basename "$build")" \
  "$TUNED" "$((SECONDS - t0))" "$size" "$requests"
say "wrote $out"
