#!/usr/bin/env bash
# bench/micro/unmap/run.sh [--reps N] [--quick] [--guest] [--threads LIST] [--seconds S]
#                          [--retain-max SIZE] [--lazy SIZE] [--no-numa-balancing] [BUILD_DIR]
#
# TLB shootdowns and throughput of freeing and reallocating mid-size
# buffers (64 KiB-4 MiB), per allocator: glibc, jemalloc, tcmalloc,
# mimalloc and tiershim with each unmap backend (TIERSHIM_UNMAP=munmap,
# batch, kmod, and kmod with lazy release), plus an idle baseline (a sleep: the shootdowns of everything
# else on the machine). See README.md beside this file.
#   --reps N        interleaved rounds (default 5; 3 with --quick)
#   --quick         3 rounds of 1 s runs: about 30 s on the host (85 s without)
#   --guest         run the same matrix in the two-tier qemu guest of
#                   tests/vm (Debian 6.1 kernel, 2 vCPUs) instead of on the
#                   host; loads BUILD_DIR/kmod/tiershim.ko there if it exists
#   --threads LIST  comma-separated thread counts (default 2: one worker and
#                   one other-work thread); e.g. 1,2,4
#   --seconds S     length of each measured run (default 2; 1 with --quick)
#   --retain-max SIZE  TIERSHIM_RETAIN_MAX for every tiershim cell (e.g. 16M,
#                   below the working set: tiershim has to release); the
#                   report is then unmap-<kind>-retainSIZE.md
#   --lazy SIZE     TIERSHIM_UNMAP_LAZY of the ts-kmod-lazy cell (default:
#                   the --retain-max value, else 16M)
#   --no-numa-balancing  (with --guest) kernel.numa_balancing=0 in the guest
#                   before the runs: its scans flush the TLBs of every
#                   allocator's process alike (vm.kmod turns it off too);
#                   the report says so and goes to unmap-KIND[-retainSIZE]-nonuma.md
#   BUILD_DIR       the build to measure (default: build); needs
#                   libtiershim.so, tiershim and bench/micro/unmap_bench
# Prints a Markdown report per kernel and writes it to
# bench/results/unmap-<host|guest|guest-KERNEL>.md (TS_VM_KERNEL picks the
# guest's kernel: tests/vm/README.md); progress goes to stderr. Exit status
# 1 when a run failed (a corrupt buffer, a crash) or a preload did not take.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../../.." && pwd)
# shellcheck disable=SC2034  # bench_tag is read by bench/lib.sh
bench_tag=unmap_bench
usage() { sed -n '2,/^set -e/p' "$0" | sed '$d; s/^# \{0,1\}//'; }
. "$root/bench/lib.sh"

# --------------------------------------------------------------------------
# Arguments
# --------------------------------------------------------------------------
short=0 reps="" guest=0 threads=2 seconds="" build=build retain="" lazy="" nonuma=0
while (($#)); do
  case $1 in
    --quick) short=1 ;;
    --guest) guest=1 ;;
    --reps) (($# >= 2)) || die "--reps needs a number"; reps=$2; shift ;;
    --reps=*) reps=${1#--reps=} ;;
    --threads) (($# >= 2)) || die "--threads needs a list"; threads=$2; shift ;;
    --threads=*) threads=${1#--threads=} ;;
    --seconds) (($# >= 2)) || die "--seconds needs a number"; seconds=$2; shift ;;
    --seconds=*) seconds=${1#--seconds=} ;;
    --retain-max) (($# >= 2)) || die "--retain-max needs a size"; retain=$2; shift ;;
    --retain-max=*) retain=${1#--retain-max=} ;;
    --lazy) (($# >= 2)) || die "--lazy needs a size"; lazy=$2; shift ;;
    --lazy=*) lazy=${1#--lazy=} ;;
    --no-numa-balancing) nonuma=1 ;;
    -h|--help) usage; exit 0 ;;
    -*) usage >&2; die "unknown option: $1" ;;
    *) build=$1 ;;
  esac
  shift
done
[[ -z $reps ]] && reps=$((short ? 3 : 5))
[[ $reps =~ ^[1-9][0-9]*$ ]] || die "--reps takes a positive integer, not '$reps'"
[[ $threads =~ ^[1-9][0-9]*(,[1-9][0-9]*)*$ ]] || die "--threads takes a list like 1,2,4, not '$threads'"
[[ -z $seconds ]] && seconds=$((short ? 1 : 2))
[[ $seconds =~ ^[0-9]+(\.[0-9]+)?$ ]] && awk -v s="$seconds" 'BEGIN { exit !(s > 0) }' ||
  die "--seconds takes a positive number, not '$seconds'"
for v in "$retain" "$lazy"; do
  [[ -z $v || $v =~ ^[0-9]+[KMG]?$ ]] || die "--retain-max and --lazy take a size like 16M, not '$v'"
done
[[ -z $lazy ]] && lazy=${retain:-16M}
kernel=$( ((guest)) && echo guest || echo host)
# The guest's kernel (tests/vm/README.md): 6.1's module is BUILD/kmod, the
# others' BUILD/kmod-KERNEL; their reports are unmap-guest-KERNEL.md.
gk=${TS_VM_KERNEL:-6.1} kmod_dir=$build/kmod
if ((guest)) && [[ $gk != 6.1 ]]; then kernel=guest-$gk kmod_dir=$build/kmod-$gk; fi

bench_build bench/micro/unmap_bench
bench=$build/bench/micro/unmap_bench
for tool in awk sed sort timeout; do
  type -P "$tool" >/dev/null || die "'$tool' not found"
done
[[ -x /usr/bin/python3 ]] || die "/usr/bin/python3 is needed for the report"

# --------------------------------------------------------------------------
# Allocators (cells): a missing peer is skipped with a note.
# --------------------------------------------------------------------------
cells=(glibc)
declare -A plib=()
skipped=()
add_peer() {  # NAME SONAME DEBIAN_PACKAGE
  local path
  if path=$(find_lib "$2"); then
    cells+=("$1"); plib[$1]=$path
  else
    skipped+=("$1 ($2 not found; \`apt-get install $3\` or \`make deps\`)")
    say "note: skipping $1: $2 not found (apt-get install $3, or make deps)"
  fi
}
add_peer jemalloc libjemalloc.so.2 libjemalloc2
add_peer tcmalloc libtcmalloc_minimal.so.4 libtcmalloc-minimal4
add_peer mimalloc libmimalloc.so.2 libmimalloc2.0
cells+=(ts-munmap ts-batch ts-kmod ts-kmod-lazy idle)

work=$(mktemp -d "${TMPDIR:-/tmp}/ts-unmap.XXXXXX")
trap 'rm -rf "$work"' EXIT

# --------------------------------------------------------------------------
# The matrix, in POSIX sh so that the same script runs on the host and in
# the guest (busybox). Round r runs every cell once for every thread count,
# the cell order rotated by r (ABAB..., never all runs of one allocator in
# a row). One line per run:
#   UB cell=KEY threads=T rep=R rc=RC <unmap_bench's line> [ts_... stats]
# --------------------------------------------------------------------------
if ((guest)); then
  g_bench=/ts/build/unmap_bench g_tslib=/ts/build/libtiershim.so g_kmod=/ts/tiershim.ko
  declare -A g_plib=()
  for c in "${!plib[@]}"; do g_plib[$c]=/ts/build/${plib[$c]##*/}; done
else
  # shellcheck disable=SC2154  # tslib is set by bench_build (bench/lib.sh)
  g_bench=$bench g_tslib=$tslib g_kmod=""
  declare -A g_plib=()
  for c in "${!plib[@]}"; do g_plib[$c]=${plib[$c]}; done
fi
{
  echo '#!/bin/sh'
  echo '# generated by bench/micro/unmap/run.sh: the measurement matrix'
  printf 'BENCH=%q TSLIB=%q KMOD=%q REPS=%s SECS=%s PREFAULT=%s\n' "$g_bench" "$g_tslib" "$g_kmod" "$reps" "$seconds" "$guest"
  printf 'THREADS="%s" CELLS="%s"\n' "${threads//,/ }" "${cells[*]}"
  printf 'RETAIN=%q LAZY=%q NONUMA=%s\n' "$retain" "$lazy" "$nonuma"
  printf 'LIB_jemalloc=%q LIB_tcmalloc=%q LIB_mimalloc=%q\n' \
    "${g_plib[jemalloc]:-}" "${g_plib[tcmalloc]:-}" "${g_plib[mimalloc]:-}"
  cat <<'MATRIX'
T=${TMPDIR:-/tmp}/ts-unmap-m.$$
mkdir -p "$T" || exit 2
echo "UBINFO kernel=$(uname -r) cpus=$(grep -c '^processor' /proc/cpuinfo) tlb_line=$(grep -c 'TLB:' /proc/interrupts)"
if [ -n "$KMOD" ]; then
  if [ -f "$KMOD" ]; then
    if insmod "$KMOD" 2>"$T/err"; then echo "UBINFO kmod=loaded"
    else echo "UBINFO kmod=insmod_failed: $(head -c 300 "$T/err" | tr '\n' ' ')"; fi
  else
    echo "UBINFO kmod=not_built"
  fi
fi
if [ -e /dev/tiershim ]; then echo "UBINFO dev_tiershim=present"; else echo "UBINFO dev_tiershim=absent"; fi
if [ "$NONUMA" = 1 ]; then echo 0 >/proc/sys/kernel/numa_balancing 2>/dev/null; fi
echo "UBINFO numa_balancing=$(cat /proc/sys/kernel/numa_balancing 2>/dev/null || echo na)"
if [ "$PREFAULT" = 1 ]; then echo "UBINFO $("$BENCH" --prefault 2>&1 | tail -n 1)"; fi

# The numbers of tiershim's JSON stats, as NAME=VALUE: the `unmap` object's
# (ts_backend ts_ranges ts_bytes ts_calls ts_batches ts_shootdowns) when
# there is one, and the placement's release and collapse counters (a
# MADV_COLLAPSE flushes the TLBs too). Spaces in a string
# value become '_'.
ts_stats() {
  [ -s "$1" ] || { echo " ts_stats=absent"; return; }
  tr -d '\n' <"$1" | awk '
    function grab(s, key, name,   v) {
      if (match(s, "\"" key "\": *(\"[^\"]*\"|-?[0-9.eE+]+|null|true|false)")) {
        v = substr(s, RSTART, RLENGTH); sub(/^"[^"]*": */, "", v); gsub(/"/, "", v); gsub(/ /, "_", v)
        return " " name "=" v
      }
      return ""
    }
    {
      s = $0; out = grab(s, "release_calls", "ts_release_calls") grab(s, "released_bytes", "ts_released_bytes") \
        grab(s, "collapse_ok", "ts_collapse_ok") grab(s, "collapse_fail", "ts_collapse_fail")
      p = index(s, "\"unmap\"")
      if (p == 0) { print out " ts_unmap=absent"; exit }
      u = substr(s, p); b = index(u, "{"); d = 0; obj = ""
      for (k = b; b > 0 && k <= length(u); k++) {
        ch = substr(u, k, 1)
        if (ch == "{") d++
        else if (ch == "}") { d--; if (d == 0) { obj = substr(u, b, k - b + 1); break } }
      }
      if (obj == "") { print out " ts_unmap=unreadable"; exit }
      out = out " ts_unmap=present"
      n = split("backend ranges bytes calls batches shootdowns kmod_shootdowns lazy_limit lazy_settles lazy_cancelled", keys, " ")
      for (i = 1; i <= n; i++) out = out grab(obj, keys[i], "ts_" keys[i])
      print out
    }'
}

run_cell() {  # CELL THREADS ROUND
  c=$1 t=$2 extra=""
  rm -f "$T/stats.json" "$T/err"
  case $c in
    idle) out=$("$BENCH" --idle --seconds "$SECS" 2>"$T/err"); rc=$? ;;
    glibc) out=$(env -u LD_PRELOAD "$BENCH" --threads "$t" --seconds "$SECS" 2>"$T/err"); rc=$? ;;
    jemalloc|tcmalloc|mimalloc)
      eval "lib=\$LIB_$c"
      out=$(env LD_PRELOAD="$lib" "$BENCH" --threads "$t" --seconds "$SECS" 2>"$T/err"); rc=$? ;;
    ts-*)
      be=${c#ts-} lz=0
      if [ "$be" = kmod-lazy ]; then be=kmod lz=$LAZY; fi
      out=$(env LD_PRELOAD="$TSLIB" TIERSHIM_UNMAP="$be" TIERSHIM_UNMAP_LAZY="$lz" ${RETAIN:+TIERSHIM_RETAIN_MAX=$RETAIN} \
            TIERSHIM_STATS="json:$T/stats.json" "$BENCH" --threads "$t" --seconds "$SECS" 2>"$T/err"); rc=$?
      extra=$(ts_stats "$T/stats.json") ;;
    *) out="" rc=99 ;;
  esac
  echo "UB cell=$c threads=$t rep=$3 rc=$rc $(echo "$out" | tail -n 1)$extra"
  if [ -s "$T/err" ]; then head -n 3 "$T/err" | sed "s/^/UBERR cell=$c threads=$t rep=$3: /"; fi
}

set -- $CELLS
n=$#
r=0
while [ "$r" -lt "$REPS" ]; do
  for t in $THREADS; do
    i=0
    while [ "$i" -lt "$n" ]; do
      j=$(( (i + r) % n + 1 ))
      eval "c=\${$j}"
      run_cell "$c" "$t" $((r + 1))
      i=$((i + 1))
    done
  done
  r=$((r + 1))
done
rm -rf "$T"
echo "UBDONE"
MATRIX
} >"$work/unmap_bench.sh"

# --------------------------------------------------------------------------
# Run it
# --------------------------------------------------------------------------
busy_ticks() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9 }' /proc/stat; }
child_ticks() { awk '{ print $16 + $17 }' /proc/$$/stat; }   # cutime + cstime
progress() {  # the UB lines, summarised on stderr as they come
  local line c t r
  while IFS= read -r line; do
    printf '%s\n' "$line"
    case $line in
      "UB "*)
        c=$(field cell "$line") t=$(field threads "$line") r=$(field rep "$line")
        if [[ $c == idle ]]; then
          say "[round $r/$reps] idle: tlb=$(field tlb "$line") in $(field seconds "$line") s"
        else
          say "[round $r/$reps] threads=$t $c: rc=$(field rc "$line") tlb/1k=$(field tlb_per_1k_frees "$line") ops/s=$(field ops_per_s "$line")"
        fi ;;
      UBERR*|UBINFO*) say "${line}" ;;
    esac
  done
}
ncells=${#cells[@]}
nthreads=$(tr ',' '\n' <<<"$threads" | wc -l)
load_begin=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo "?")
t0=$(date +%s) b0=$(busy_ticks) c0=$(child_ticks)
if ((guest)); then
  vm_files=(--bin "$bench")
  for c in "${!plib[@]}"; do vm_files+=(--bin "${plib[$c]}"); done
  kmod=$kmod_dir/tiershim.ko
  if [[ -f $kmod ]]; then
    vm_files+=(--file "$kmod:/ts/tiershim.ko")
    say "carrying $kmod into the guest (insmod /ts/tiershim.ko)"
  else
    say "note: no $kmod (policy/unmap/kmod/build.sh $kmod_dir builds it): 'tiershim kmod' falls back to batch in the guest"
  fi
  # TCG: a run takes its --seconds plus a slow start (exec, loader, warm-up).
  vm_timeout=$(awk -v n="$((ncells * reps * nthreads))" -v s="$seconds" 'BEGIN { printf "%d", 240 + n * (s + 4) }')
  say "booting the two-tier guest: $((ncells * reps * nthreads)) runs of ${seconds} s (limit $vm_timeout s; console: $build/vm-logs/unmap_bench.log)"
  rc=0
  bash "$root/tests/vm/run.sh" --build "$build" --name unmap_bench --timeout "$vm_timeout" \
    "${vm_files[@]}" "$work/unmap_bench.sh" >"$work/vm.out" 2>&1 || rc=$?
  awk '$0 == "TS_VM_BEGIN unmap_bench.sh" { on = 1; next } /^TS_VM_RESULT unmap_bench.sh/ { exit } on' \
    "$build/vm-logs/unmap_bench.log" 2>/dev/null | tr -d '\r' | progress >"$work/raw" 2>/dev/null || true
  if ((rc == 77)); then
    tail -n 5 "$work/vm.out" >&2; die "the guest cannot run on this machine (skip)"
  elif ! grep -q '^UBDONE' "$work/raw"; then
    tail -n 60 "$work/vm.out" >&2; die "the guest run did not finish (rc=$rc; log: $build/vm-logs/unmap_bench.log)"
  fi
  say "guest: $(grep -c '^UB ' "$work/raw") runs"
else
  say "host: $((ncells * reps * nthreads)) runs of ${seconds} s ($build)"
  sh "$work/unmap_bench.sh" | progress >"$work/raw"
  grep -q '^UBDONE' "$work/raw" || die "the matrix did not finish"
fi
wall=$(( $(date +%s) - t0 ))
other=$(awk -v b="$(( $(busy_ticks) - b0 ))" -v c="$(( $(child_ticks) - c0 ))" -v w="$wall" -v hz="$(getconf CLK_TCK)" \
  -v n="$(nproc)" 'BEGIN { o = (b - c) / hz; if (o < 0) o = 0; printf "%.0f s of CPU outside this benchmark (%.0f%% of %d CPUs)", o, (w > 0 ? 100 * o / (w * n) : 0), n }')
say "done in $wall s; host: $other"

# --------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------
rev=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo "no commit")
[[ -n $(git -C "$root" status --porcelain 2>/dev/null || true) ]] && rev+=" + local changes"
meta=$work/meta
{
  echo "kernel_kind=$kernel"
  echo "host=$(uname -n)"
  echo "host_kernel=$(uname -r)"
  echo "cpu=$(awk -F': *' '/^model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null || true)"
  echo "nproc=$(nproc)"
  echo "date=$(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "load=$load_begin"
  echo "wall=$wall"
  echo "other=$other"
  echo "build=$build"
  echo "rev=$rev"
  echo "reps=$reps"
  echo "seconds=$seconds"
  echo "threads=$threads"
  echo "quick=$short"
  echo "retain=$retain"
  echo "lazy=$lazy"
  echo "nonuma=$nonuma"
  echo "dev_tiershim_host=$([[ -e /dev/tiershim ]] && echo present || echo absent)"
  for c in "${!plib[@]}"; do
    case $c in jemalloc) p=libjemalloc2 ;; tcmalloc) p=libtcmalloc-minimal4 ;; mimalloc) p=libmimalloc2.0 ;; esac
    echo "peer_$c=$(readlink -f "${plib[$c]}") ($p $(dpkg-query -W -f='${Version}' "$p" 2>/dev/null || echo '?'))"
  done
  for s in ${skipped[@]+"${skipped[@]}"}; do echo "skipped=$s"; done
  envs=$(env | grep '^\(TIERSHIM\|MIMALLOC\|MALLOC_CONF\|TCMALLOC\|GLIBC_TUNABLES\)' | tr '\n' ' ' || true)
  echo "envs=$envs"
} >"$meta"
out=$root/bench/results/unmap-$kernel${retain:+-retain$retain}$( ((nonuma)) && echo -nonuma || true).md
mkdir -p "$(dirname "$out")"
rc=0
/usr/bin/python3 - "$work/raw" "$meta" "$out" <<'PY' || rc=$?
import re, sys, statistics
raw, metaf, out = sys.argv[1:4]
meta = {}
for l in open(metaf):
    k, _, v = l.rstrip("\n").partition("=")
    meta.setdefault(k, []).append(v)
M = lambda k, d="": meta.get(k, [d])[0]
lines = [l.rstrip("\n") for l in open(raw)]
kv = lambda l: dict(re.findall(r'(\w+)=(\S*)', l))
runs = [kv(l) for l in lines if l.startswith("UB ")]
info = {}
for l in lines:
    if l.startswith("UBINFO kmod="):
        info["kmod"] = l[len("UBINFO kmod="):]
    elif l.startswith("UBINFO "):
        info.update(kv(l))
errs = [l for l in lines if l.startswith("UBERR")]

label = {"glibc": "glibc", "jemalloc": "jemalloc", "tcmalloc": "tcmalloc", "mimalloc": "mimalloc",
         "ts-munmap": "tiershim munmap", "ts-batch": "tiershim batch (default)", "ts-kmod": "tiershim kmod",
         "ts-kmod-lazy": "tiershim kmod lazy (UNMAP_LAZY=%s)" % M("lazy")}
want = {"glibc": "libc.so", "jemalloc": "libjemalloc", "tcmalloc": "libtcmalloc", "mimalloc": "libmimalloc",
        "ts-munmap": "libtiershim", "ts-batch": "libtiershim", "ts-kmod": "libtiershim", "ts-kmod-lazy": "libtiershim"}
peers = ["glibc", "jemalloc", "tcmalloc", "mimalloc"]
order = [c for c in label if any(r["cell"] == c for r in runs)]
dev = info.get("dev_tiershim", "absent")
if dev != "present":
    label["ts-kmod"] = "tiershim kmod (no /dev/tiershim: batch fallback)"
    label["ts-kmod-lazy"] = "tiershim kmod lazy (no /dev/tiershim: batch fallback)"

def num(v):
    try:
        return float(v)
    except (TypeError, ValueError):
        return None

def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None

def fmt(v, f="%.2f"):
    return "n/a" if v is None else f % v

bad = []
good = {}   # (cell, threads) -> list of run dicts
idle = []
for r in runs:
    c, t = r.get("cell"), r.get("threads")
    if c == "idle":
        if r.get("rc") == "0":
            idle.append(r)
        else:
            bad.append("idle round %s: rc=%s" % (r.get("rep"), r.get("rc")))
        continue
    if r.get("rc") != "0":
        bad.append("%s, %s threads, round %s: exit status %s" % (label.get(c, c), t, r.get("rep"), r.get("rc")))
        continue
    if not r.get("malloc_from", "").startswith(want.get(c, "?")):
        bad.append("%s, %s threads, round %s: malloc came from %s, not %s*: the preload did not take"
                   % (label.get(c, c), t, r.get("rep"), r.get("malloc_from"), want.get(c)))
        continue
    good.setdefault((c, t), []).append(r)

idle_run = med([num(r.get("tlb")) for r in idle])
idle_s = med([num(r.get("seconds")) for r in idle])
idle_ps = med([num(r.get("tlb_per_s")) for r in idle])
kind = M("kernel_kind")
quick = M("quick") == "1"
doc = ["# TLB shootdowns of freeing mid-size buffers, per allocator (%s kernel)" % kind, ""]
if kind == "guest":
    doc.append("- %s; guest: qemu TCG, 2 vCPUs, kernel %s (%s CPUs); host `%s`, kernel %s, %s CPUs; during the run the host spent %s"
               % (M("date"), info.get("kernel", "?"), info.get("cpus", "?"), M("host"), M("host_kernel"), M("nproc"), M("other")))
    doc.append("- kernel.numa_balancing in the guest: %s" % info.get("numa_balancing", "?"))
    doc.append("- tiershim.ko in the guest: %s; /dev/tiershim: %s; before the runs, `unmap_bench --prefault` wrote once "
               "to %s MiB of the guest's free memory (%s s)" % (info.get("kmod", "not carried"), dev,
                                                           info.get("prefault_mb", "?"), info.get("seconds", "?")))
else:
    doc.append("- %s, host `%s`: %s, %s CPUs, kernel %s; load average at start %s; %s"
               % (M("date"), M("host"), M("cpu") or "unknown CPU", M("nproc"), M("host_kernel"), M("load"), M("other")))
    doc.append("- /dev/tiershim: %s" % dev)
doc.append("- build `%s` (tree: %s); `bench/micro/unmap/run.sh%s%s --reps %s --threads %s --seconds %s%s --lazy %s`; took %s s"
           % (M("build"), M("rev"), " --guest" if kind == "guest" else "", " --quick" if quick else "",
              M("reps"), M("threads"), M("seconds"), (" --retain-max " + M("retain")) if M("retain") else "",
              M("lazy") + (" --no-numa-balancing" if M("nonuma") == "1" else ""), M("wall")))
if M("retain"):
    doc.append("- every tiershim cell ran with `TIERSHIM_RETAIN_MAX=%s`" % M("retain"))
doc.append("- workload: `unmap_bench --threads T --seconds %s`: T-1 workers (at least 1) each free the oldest of 8 live buffers "
           "and malloc a new one, 64 KiB-4 MiB log-uniform, every page written; with T >= 2 one more thread keeps writing "
           "its own 16 MiB (4 KiB pages) on another CPU. Threads pinned round-robin." % M("seconds"))
doc.append("- %s interleaved rounds (every allocator once per round, order rotated); every cell is the median over the rounds" % M("reps"))
for k in sorted(meta):
    if k.startswith("peer_"):
        doc.append("- %s: `%s`" % (k[5:], M(k)))
for s in meta.get("skipped", []):
    doc.append("- skipped: %s" % s)
if M("envs").strip():
    doc.append("- allocator settings from the environment: `%s`" % M("envs").strip())
doc.append("")

verdicts = []
for t in M("threads").split(","):
    rows = {c: good[(c, t)] for c in order if (c, t) in good}
    if not rows:
        continue
    med_of = lambda c, k: med([num(r.get(k)) for r in rows.get(c, [])])
    tlbk = {c: med_of(c, "tlb_per_1k_frees") for c in rows}
    ops = {c: med_of(c, "ops_per_s") for c in rows}
    peer_ops = {c: ops[c] for c in peers if c in ops and ops[c] is not None}
    best = max(peer_ops, key=peer_ops.get) if peer_ops else None
    g = tlbk.get("glibc")
    sentk = {c: med_of(c, "sent_per_1k_frees") for c in rows}
    gs = sentk.get("glibc")
    nt = int(t)
    doc.append("## %d thread%s (%s)" % (nt, "" if nt == 1 else "s",
               "1 worker, no other-work thread: the mm runs on one CPU" if nt == 1 else
               "%d worker%s + 1 other-work thread" % (nt - 1, "" if nt == 2 else "s")))
    doc.append("")
    doc.append("| allocator | TLB shootdowns / 1,000 frees | vs glibc | rounds sent / 1,000 frees | vs glibc "
               "| ops/s (frees) | vs best peer | CPU s (workers) | other work passes/s | minor faults / free | RSS MiB "
               "| idle floor / 1,000 frees |")
    doc.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for c in rows:
        frees = med_of(c, "frees")
        mf = med([num(r.get("minflt")) / max(num(r.get("frees")) or 1, 1) for r in rows[c] if num(r.get("minflt")) is not None])
        floor = idle_ps * med_of(c, "seconds") * 1000 / frees if (idle_ps is not None and frees) else None
        vs_g = tlbk[c] * 100 / g if (g and tlbk[c] is not None) else None
        vs_gs = sentk[c] * 100 / gs if (gs and sentk[c] is not None) else None
        vs_b = ops[c] / peer_ops[best] if (best and ops[c] is not None and peer_ops[best]) else None
        doc.append("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
            label[c], fmt(tlbk[c], "%.3f"), fmt(vs_g, "%.1f%%") if c != "glibc" else "100%",
            fmt(sentk[c], "%.3f"), fmt(vs_gs, "%.1f%%") if c != "glibc" else "100%",
            "n/a" if ops[c] is None else "{:,.0f}".format(ops[c]),
            fmt(vs_b, "%.2fx"), fmt(med_of(c, "cpu_s"), "%.2f"), fmt(med_of(c, "other_work_per_s"), "%.0f"),
            fmt(mf, "%.2f"), fmt(None if med_of(c, "rss_kb") is None else med_of(c, "rss_kb") / 1024, "%.0f"),
            fmt(floor, "%.3f")))
    doc.append("| idle (sleep %s s) | %s per sleep (%s/s) | | | | | | | | | | |" % (
        fmt(idle_s, "%.1f"), fmt(idle_run, "%.0f"), fmt(idle_ps, "%.1f")))
    doc.append("")
    # tiershim's own account of its releases
    tsrows = [c for c in rows if c.startswith("ts-")]
    if any(r.get("ts_unmap") == "present" for c in tsrows for r in rows[c]):
        doc.append("tiershim's `unmap` stats (medians per run; `TIERSHIM_STATS=json`):")
        doc.append("")
        doc.append("| allocator | backend | ranges | bytes | calls | batches | shootdowns (in releases) | module: all rounds of the process | lazy settles | lazy cancelled bytes |")
        doc.append("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
        for c in tsrows:
            rs = [r for r in rows[c] if r.get("ts_unmap") == "present"]
            if not rs:
                doc.append("| %s | (no unmap object) | | | | | | | | |" % label[c])
                continue
            backends = sorted(set(r.get("ts_backend", "?") for r in rs))
            cell = lambda k: fmt(med([num(r.get(k)) for r in rs]), "%.0f")
            doc.append("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (label[c], ", ".join(backends), cell("ts_ranges"),
                       cell("ts_bytes"), cell("ts_calls"), cell("ts_batches"), cell("ts_shootdowns"),
                       cell("ts_kmod_shootdowns") if backends == ["kmod"] else "n/a",
                       cell("ts_lazy_settles"), cell("ts_lazy_cancelled")))
        doc.append("")
    elif tsrows:
        rc_ = med([num(r.get("ts_release_calls")) for c in tsrows for r in rows[c]])
        unknown = any("TIERSHIM_UNMAP" in e and "unknown" in e for e in errs)
        doc.append("tiershim's stats have no `unmap` object in this build%s; its placement `release_calls` per run, "
                   "median: %s." % (" and it does not know TIERSHIM_UNMAP yet (`unknown option`, see the raw output): "
                                    "the three tiershim rows all ran its default" if unknown else "", fmt(rc_, "%.0f")))
        doc.append("")
    if "ts-batch" in rows and best:
        x = ops["ts-batch"] / peer_ops[best] if (ops["ts-batch"] is not None and peer_ops[best]) else None
        ok2 = x is not None and x >= 1.0
        def share(v, base):
            if v is None or base is None:
                return None, "n/a (no figure)"
            if base == 0:
                return None, "n/a (glibc caused none)"
            p = v * 100 / base
            return p <= 3.0, "%.1f%% (**%s**)" % (p, "met" if p <= 3.0 else "NOT met")
        ok1, s1 = share(tlbk.get("ts-batch"), g)
        ok1s, s1s = share(sentk.get("ts-batch"), gs)
        line = ("Target (%d thread%s): tiershim batch <= 3%% of glibc's shootdowns per 1,000 frees: by the TLB line %s, "
                "by the rounds the process sent %s; ops/s >= the best peer (%s, %s): %s (**%s**). Overall, by the TLB "
                "line: **%s**." % (
                    nt, "" if nt == 1 else "s", s1, s1s, best, "{:,.0f}".format(peer_ops[best]), fmt(x, "%.2fx"),
                    "met" if ok2 else "NOT met", "met" if ok1 and ok2 else "NOT met"))
        if nt == 1:
            line += " (With one thread nothing needs shooting down: the tables with 2 or more threads are the ones the target is about.)"
        if g is not None and idle_ps is not None and "glibc" in rows:
            gfloor = idle_ps * med_of("glibc", "seconds") * 1000 / (med_of("glibc", "frees") or 1)
            if gfloor > 0.25 * g:
                line += (" Careful: the idle floor (%.1f per 1,000 of glibc's frees) is %.0f%% of glibc's own figure: "
                         "the TLB line was dominated by other processes; trust the rounds sent." % (gfloor, 100 * gfloor / g if g else 0))
        doc.append(line)
        doc.append("")
        verdicts.append(line)
    if "ts-kmod-lazy" in rows and "ts-batch" in rows and gs:
        lz, bt = sentk.get("ts-kmod-lazy"), ops.get("ts-batch")
        p = None if lz is None else lz * 100 / gs
        fr = None if (ops.get("ts-kmod-lazy") is None or not bt) else ops["ts-kmod-lazy"] / bt
        line = ("Lazy release (%d thread%s): tiershim kmod lazy <= 3%% of glibc's rounds sent: %s (**%s**); frees/s "
                ">= tiershim batch: %s (**%s**)." % (nt, "" if nt == 1 else "s", fmt(p, "%.1f%%"),
                "met" if p is not None and p <= 3.0 else "NOT met", fmt(fr, "%.2fx"),
                "met" if fr is not None and fr >= 1.0 else "NOT met"))
        doc.append(line)
        doc.append("")
        verdicts.append(line)

if runs and all(r.get("sent", "na") == "na" for r in runs if r.get("cell") != "idle"):
    doc.append("No *rounds sent* in this run: the tracepoint tlb:tlb_flush was not reachable (tracefs is not mounted "
               "at /sys/kernel/tracing or /sys/kernel/debug/tracing, or perf events are not permitted: as root, "
               "`mount -t tracefs nodev /sys/kernel/tracing`). The TLB line alone is system-wide.")
    doc.append("")
doc.append("Columns: *TLB shootdowns*: the change of the `TLB:` line of /proc/interrupts (all CPUs) over the "
           "measured loop, per 1,000 frees: the flush IPIs actually received, but system-wide, so other processes' "
           "count too. *idle floor*: what the idle sleeps' median rate would add to a run of that allocator (idle "
           "shootdowns/s x its run's seconds x 1,000 / its frees); a figure near its floor is noise. *rounds sent*: "
           "the shootdown rounds this process started (perf counter on the tracepoint tlb:tlb_flush, reason "
           "TLB_REMOTE_SEND_IPI, all its threads): blind to other processes, but it counts a round even when no IPI "
           "went out in the end (the other CPU was not running the process, or was a preempted vCPU), so it can "
           "exceed the TLB line; n/a without tracefs or the permission. *vs glibc*: the median over glibc's. "
           "*vs best peer*: ops/s over the best of glibc, jemalloc, tcmalloc, mimalloc. *CPU s*: the workers' "
           "user+system time (RUSAGE_THREAD), out of %s s wall per run. *other work passes/s*: the other-work "
           "thread's passes over its 16 MiB (its throughput: shootdowns and a busy second CPU slow it)." % M("seconds"))
if bad:
    doc += ["", "## Failed runs (left out of the tables)", ""] + ["- " + b for b in bad]
doc += ["", "## Raw output", "", "```"] + [l for l in lines if l.startswith(("UB ", "UBINFO", "UBERR"))] + ["```"]
open(out, "w").write("\n".join(doc) + "\n")
print("\n".join(doc[:doc.index("## Raw output")]).rstrip())
sys.exit(1 if bad else 0)
PY
say "written to $out"
exit "$rc"
