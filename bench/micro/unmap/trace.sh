#!/usr/bin/env bash
# bench/micro/unmap/trace.sh [--reps N] [--seconds S] [--retain-max SIZE] [--lazy SIZE] [BUILD_DIR]
#
# Where the TLB-shootdown rounds of the unmap bench come from, in the
# two-tier guest: the kernel's function tracer records a stack for every
# call of native_flush_tlb_multi (one call: one round of flush IPIs to the
# other CPUs running the mm) made by unmap_bench, and the stacks are
# folded into the kernel path that asked for the flush: the module's
# release (a zap per range), the module's lazy drain, a THP split inside a
# zap, a madvise, a munmap, a copy-on-write of the zero page, exit.
# Cells: glibc, tiershim batch, kmod, kmod with lazy release (every
# tiershim cell with TIERSHIM_RETAIN_MAX), round-robin.
#   --reps N          rounds (default 3)
#   --seconds S       length of each run (default 2)
#   --retain-max SIZE TIERSHIM_RETAIN_MAX of the tiershim cells (default 16M)
#   --lazy SIZE       TIERSHIM_UNMAP_LAZY of the lazy cell (default: --retain-max)
#   BUILD_DIR         default build: libtiershim.so, bench/micro/unmap_bench and
#                     kmod/tiershim.ko (kmod-KERNEL/ for TS_VM_KERNEL=KERNEL)
# Extra cells through the environment: TRACE_ENV='NAME:VAR=V,VAR=V;...' adds
# tiershim lazy cells with those variables (e.g. 'mi25:MIMALLOC_DECOMMIT_DELAY=25').
# Prints a Markdown report and writes bench/results/unmap-trace-guest[-KERNEL].md.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../../.." && pwd)
# shellcheck disable=SC2034  # bench_tag is read by bench/lib.sh
bench_tag=unmap_trace
usage() { sed -n '2,/^set -e/p' "$0" | sed '$d; s/^# \{0,1\}//'; }
. "$root/bench/lib.sh"

reps=3 seconds=2 retain=16M lazy="" build=build
while (($#)); do
  case $1 in
    --reps) (($# >= 2)) || die "--reps needs a number"; reps=$2; shift ;;
    --seconds) (($# >= 2)) || die "--seconds needs a number"; seconds=$2; shift ;;
    --retain-max) (($# >= 2)) || die "--retain-max needs a size"; retain=$2; shift ;;
    --lazy) (($# >= 2)) || die "--lazy needs a size"; lazy=$2; shift ;;
    -h|--help) usage; exit 0 ;;
    -*) usage >&2; die "unknown option: $1" ;;
    *) build=$1 ;;
  esac
  shift
done
[[ $reps =~ ^[1-9][0-9]*$ ]] || die "--reps takes a positive integer, not '$reps'"
[[ $seconds =~ ^[1-9][0-9]*$ ]] || die "--seconds takes a whole number of seconds, not '$seconds'"
for v in "$retain" "$lazy"; do
  [[ -z $v || $v =~ ^[0-9]+[KMG]?$ ]] || die "--retain-max and --lazy take a size like 16M, not '$v'"
done
[[ -z $lazy ]] && lazy=$retain
gk=${TS_VM_KERNEL:-6.1} kmod=$build/kmod/tiershim.ko suffix=""
[[ $gk != 6.1 ]] && kmod=$build/kmod-$gk/tiershim.ko suffix=-$gk
bench=$build/bench/micro/unmap_bench
for f in "$bench" "$build/libtiershim.so" "$kmod"; do
  [[ -e $f ]] || die "$f is missing (cmake --build $build; policy/unmap/kmod/build.sh ${kmod%/*})"
done
extra=${TRACE_ENV:-}
[[ -z $extra || $extra =~ ^[A-Za-z0-9_-]+:[A-Za-z0-9_]+=[A-Za-z0-9]+(,[A-Za-z0-9_]+=[A-Za-z0-9]+)*(\;[A-Za-z0-9_-]+:[A-Za-z0-9_]+=[A-Za-z0-9]+(,[A-Za-z0-9_]+=[A-Za-z0-9]+)*)*$ ]] ||
  die "TRACE_ENV takes 'NAME:VAR=V,VAR=V;...', not '$extra'"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# The guest script (busybox sh). One "TR" line per run, then the folded
# stacks "TS count cell rep path".
cat >"$work/unmap_trace.sh" <<EOF
#!/bin/sh
REPS=$reps SECS=$seconds RETAIN=$retain LAZY=$lazy EXTRA='$extra'
EOF
cat >>"$work/unmap_trace.sh" <<'EOF'
B=/ts/build/unmap_bench L=/ts/build/libtiershim.so
insmod /ts/tiershim.ko || { echo "TRERR insmod failed"; exit 1; }
mount -t tracefs none /sys/kernel/tracing 2>/dev/null
TR=/sys/kernel/tracing
[ -e $TR/set_ftrace_filter ] || { echo "TRERR no function tracer"; exit 1; }
echo 0 >$TR/tracing_on
echo 16384 >$TR/buffer_size_kb
echo native_flush_tlb_multi >$TR/set_ftrace_filter || { echo "TRERR native_flush_tlb_multi not traceable"; exit 1; }
echo function >$TR/current_tracer
echo 1 >$TR/options/func_stack_trace
echo "TRINFO kernel=$(uname -r) numa_balancing=$(cat /proc/sys/kernel/numa_balancing)"
cells="glibc ts-batch ts-kmod ts-kmod-lazy"
IFS=';'; for e in $EXTRA; do cells="$cells x-${e%%:*}"; done; unset IFS
run() {  # CELL REP
  case $1 in
    glibc) set -- "$@" A=1 ;;
    ts-batch) set -- "$@" LD_PRELOAD=$L TIERSHIM_UNMAP=batch TIERSHIM_RETAIN_MAX=$RETAIN ;;
    ts-kmod) set -- "$@" LD_PRELOAD=$L TIERSHIM_UNMAP=kmod TIERSHIM_RETAIN_MAX=$RETAIN ;;
    ts-kmod-lazy) set -- "$@" LD_PRELOAD=$L TIERSHIM_UNMAP=kmod TIERSHIM_UNMAP_LAZY=$LAZY TIERSHIM_RETAIN_MAX=$RETAIN ;;
    x-*) n=${1#x-}; IFS=';'; for e in $EXTRA; do [ "${e%%:*}" = "$n" ] && v=${e#*:}; done; unset IFS
         set -- "$@" LD_PRELOAD=$L TIERSHIM_UNMAP=kmod TIERSHIM_UNMAP_LAZY=$LAZY TIERSHIM_RETAIN_MAX=$RETAIN $(echo "$v" | tr ',' ' ') ;;
  esac
  c=$1 r=$2; shift 2
  echo >$TR/trace
  echo 1 >$TR/tracing_on
  o=$(env "$@" $B --threads 2 --seconds $SECS | tail -n 1)
  echo 0 >$TR/tracing_on
  echo "TR cell=$c rep=$r $o"
  # A stack: the call line, "<stack trace>", then " => frame" lines. The
  # path is the first frames below the flush machinery, innermost first.
  awk -v c="$c" -v r="$r" '
    function out() { if (on) n_[s]++ }
    /native_flush_tlb_multi <-/ { out(); on = ($0 ~ /unmap_bench-/); s = ""; k = 0; next }
    /<stack trace>/ { next }
    on && /=> / { sub(/.*=> /, "")
                  if ($0 !~ /ftrace|native_flush|flush_tlb_mm_range|exc_page_fault|handle_mm_fault|do_user_addr_fault|do_syscall_64|entry_SYSCALL/ && k < 6) { s = s (k ? "<" : "") $0; k++ }
                  next }
    { out(); on = 0 }
    END { out(); for (x in n_) print "TS", n_[x], c, r, x }' $TR/trace
}
rep=1
while [ $rep -le $REPS ]; do
  for c in $cells; do run $c $rep; done
  rep=$((rep + 1))
done
echo TRDONE
EOF

say "booting the two-tier guest (kernel $gk): $reps rounds of 4+ cells x ${seconds} s (console: $build/vm-logs/unmap_trace.log)"
rc=0
bash "$root/tests/vm/run.sh" --build "$build" --name unmap_trace --timeout $((240 + reps * 8 * (seconds + 6))) \
  --bin "$bench" --file "$kmod:/ts/tiershim.ko" "$work/unmap_trace.sh" >"$work/vm.out" 2>&1 || rc=$?
tr -d '\r' <"$build/vm-logs/unmap_trace.log" | grep -E '^(TR|TS|TRINFO|TRERR|TRDONE)( |$)' >"$work/raw" || true
((rc == 77)) && { tail -n 5 "$work/vm.out" >&2; die "the guest cannot run on this machine (skip)"; }
grep -q '^TRDONE' "$work/raw" || { grep '^TRERR' "$work/raw" >&2 || tail -n 40 "$work/vm.out" >&2; die "the guest run did not finish (rc=$rc)"; }

mkdir -p "$root/bench/results"
report=$root/bench/results/unmap-trace-guest$suffix.md
python3 - "$work/raw" "$reps" "$seconds" "$retain" "$lazy" "$(git -C "$root" rev-parse --short HEAD)" >"$report" <<'PY'
import collections, statistics, sys
raw, reps, secs, retain, lazy, rev = sys.argv[1:7]
runs = collections.defaultdict(list)   # cell -> [(frees, rounds)]
paths = collections.defaultdict(collections.Counter)  # cell -> path -> count over all reps
info = ""
order = []
def kind(p):
    if "ts_lazy_zap_all" in p and "__split_huge_pmd" in p: return "THP split in the module's lazy drain"
    if "__split_huge_pmd" in p: return "THP split in a zap (%s)" % ("module" if "ts_" in p else "madvise")
    if "ts_lazy_zap_all" in p: return "module: lazy drain, a zap per pending range"
    if "ts_lazy_release" in p: return "module: lazy release over its limit, a zap per new range"
    if "ts_ioc_release" in p or "ts_zap" in p: return "module: release, a zap per range"
    if "do_madvise" in p: return "madvise (heap decommit, the program, batch backend)"
    if "process_madvise" in p: return "process_madvise (batch backend)"
    if "munmap" in p: return "munmap"
    if "mmap_region" in p: return "mmap over an existing mapping"
    if "wp_page_copy" in p: return "first write after a read (zero-page copy-on-write)"
    if "mprotect" in p: return "mprotect"
    if "exit_mmap" in p: return "exit"
    return "other: " + p
for line in open(raw):
    f = line.split()
    if f[0] == "TRINFO": info = line[7:].strip()
    elif f[0] == "TR":
        kv = dict(x.split("=", 1) for x in f[1:] if "=" in x)
        c = kv["cell"]
        if c not in order: order.append(c)
        runs[c].append((int(kv.get("frees", 0)), int(kv.get("tlb", 0))))
    elif f[0] == "TS":
        paths[f[2]][kind(" ".join(f[4:]))] += int(f[1])
med = lambda xs: statistics.median(xs) if xs else 0
def per1k(c): return med([1000.0 * t / fr for fr, t in runs[c] if fr])
g = per1k("glibc") or 1
print("# Where the shootdown rounds of the unmap bench come from (guest)\n")
print("- command: `bash bench/micro/unmap/trace.sh --reps %s --seconds %s --retain-max %s --lazy %s` at %s" % (reps, secs, retain, lazy, rev))
print("- guest: %s; every call of native_flush_tlb_multi by unmap_bench traced with its kernel stack (ftrace)" % info)
print("- TLB column: the TLB line of /proc/interrupts over each run (median of %s runs); the paths: sums over all runs\n" % reps)
print("| cell | frees / run | shootdowns / 1,000 frees | % of glibc's |")
print("|---|---:|---:|---:|")
for c in order:
    print("| %s | %d | %.1f | %.1f%% |" % (c, med([fr for fr, _ in runs[c]]), per1k(c), 100 * per1k(c) / g))
print("\nFlush rounds by the path that asked for them (sum over the runs):\n")
kinds = sorted({k for c in order for k in paths[c]}, key=lambda k: -sum(paths[c][k] for c in order))
print("| path | " + " | ".join(order) + " |")
print("|---|" + "---:|" * len(order))
for k in kinds:
    print("| %s | %s |" % (k, " | ".join(str(paths[c][k]) for c in order)))
print("| **all traced** | %s |" % " | ".join(str(sum(paths[c].values())) for c in order))
PY
cat "$report"
say "report: $report"
