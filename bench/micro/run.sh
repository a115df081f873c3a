#!/usr/bin/env bash
# tiershim micro-benchmark: small-object churn under each allocator, and the
# start-up cost of `tiershim run`. See README.md beside this file.
#
#   bench/micro/run.sh [--demo] [--reps N] [BUILD_DIR]
#
# BUILD_DIR (default: build) must hold libtiershim.so, tiershim and
# bench/micro/{ts_churn,ts_spawn_time}. Prints one Markdown report and writes
# it to bench/results/micro-<date>-<host>.md as well; progress goes to stderr.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)

. "$here/../lib.sh"

usage() {
  cat <<'EOF'
usage: bench/micro/run.sh [--demo] [--reps N] [BUILD_DIR]
  --demo     fewer ops and rounds: the whole run takes well under 2 minutes
  --reps N   interleaved rounds of the churn runs (default 5; 3 with --demo)
  BUILD_DIR  the CMake build directory to measure (default: build)
EOF
}

# --------------------------------------------------------------------------
# Arguments
# --------------------------------------------------------------------------
bench_args --demo "$@"
demo=$short

# Ops per thread for each workload: a measured loop of roughly 0.3-1.5 s per
# run (full) or 0.1-0.3 s (demo) on a current x86 core, glibc being slowest.
if ((demo)); then
  ops_1t=10M ops_2t=5M ops_x=3M start_rounds=25
else
  ops_1t=50M ops_2t=25M ops_x=12M start_rounds=60
fi
cell_timeout=300   # s; a hung allocator fails the run instead of stalling it

# --------------------------------------------------------------------------
# The build under test
# --------------------------------------------------------------------------
# A relative BUILD_DIR is taken from the current directory, or else from the
# repository root (so `run.sh build` works from anywhere).
if [[ $build != /* && ! -d $build && -d $root/$build ]]; then build=$root/$build; fi
bench_build bench/micro/ts_churn bench/micro/ts_spawn_time
churn=$build/bench/micro/ts_churn
spawn=$build/bench/micro/ts_spawn_time
true_bin=$(type -P true) || die "no 'true' program on PATH"
for tool in timeout sort awk sed uname date; do
  type -P "$tool" >/dev/null || die "'$tool' not found (coreutils/awk/sed are needed)"
done

# --------------------------------------------------------------------------
# Allocators: glibc is "no preload"; a peer whose library is not installed
# is skipped with a note.
# --------------------------------------------------------------------------

declare -A lib want pkg
allocs=(glibc tiershim)
lib[glibc]=""                  want[glibc]=libc.so
lib[tiershim]=$tslib           want[tiershim]=libtiershim
skipped=()
add_peer() {  # NAME SONAME DEBIAN_PACKAGE
  local path
  if path=$(find_lib "$2"); then
    allocs+=("$1"); lib[$1]=$path; want[$1]=${2%%.so*}; pkg[$1]=$3
  else
    skipped+=("$1 ($2 not found; \`apt-get install $3\` or \`make deps\`)")
  fi
}
add_peer mimalloc libmimalloc.so.2 libmimalloc2.0
add_peer jemalloc libjemalloc.so.2 libjemalloc2
add_peer tcmalloc libtcmalloc_minimal.so.4 libtcmalloc-minimal4
for s in "${skipped[@]}"; do say "note: skipping $s"; done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/ts-micro.XXXXXX")
trap 'rm -rf "$tmp"' EXIT


# One ts_churn run under allocator $1; the rest are ts_churn's arguments.
# Prints its output line. Fails if the preload did not take: a silent
# fallback to glibc would be measured as the peer.
churn_once() {
  local a=$1 out from rc=0; shift
  if [[ -z ${lib[$a]} ]]; then
    out=$(env -u LD_PRELOAD timeout "$cell_timeout" "$churn" "$@") || rc=$?
  else
    out=$(env LD_PRELOAD="${lib[$a]}" timeout "$cell_timeout" "$churn" "$@") || rc=$?
  fi
  ((rc == 0)) || die "ts_churn $* under $a failed (exit $rc${out:+: $out})"
  from=$(field malloc_from "$out")
  [[ $from == "${want[$a]}"* ]] ||
    die "under $a, malloc comes from '$from', not ${want[$a]}*: LD_PRELOAD=${lib[$a]} did not take"
  printf '%s\n' "$out"
}

# median min max p90 of the numbers in file $1 (p90: nearest rank), the same
# definitions as ts_spawn_time's.
stats() {
  sort -g "$1" | awk '{ v[NR] = $1 }
    END {
      if (NR == 0) { print "nan nan nan nan"; exit }
      m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
      print m, v[1], v[NR], v[int((9 * NR + 9) / 10)]
    }'
}
median() { stats "$1" | awk '{ print $1 }'; }

# --------------------------------------------------------------------------
# Sanity: the CLI runs, and what it runs gets tiershim's malloc.
# --------------------------------------------------------------------------
env -u LD_PRELOAD "$cli" run -- "$true_bin" >&2 ||
  die "'$cli run -- $true_bin' failed: the CLI does not work in this build"
out=$(env -u LD_PRELOAD "$cli" run -- "$churn" -n 1000) ||
  die "'$cli run -- ts_churn' failed${out:+: $out}"
from=$(field malloc_from "$out")
[[ $from == libtiershim* ]] ||
  die "under '$cli run', malloc comes from '$from', not libtiershim: the CLI did not preload the library"

# --------------------------------------------------------------------------
# Churn, interleaved: round r runs every workload under every allocator
# once, the allocator order rotated by r, so drift in the machine's load
# (the second core is often someone else's) spreads over all allocators.
# --------------------------------------------------------------------------
workloads=(1t 2t 2tx)
declare -A wl_title wl_args
wl_title[1t]="1 thread"                       wl_args[1t]="-t 1 -n $ops_1t"
wl_title[2t]="2 threads"                      wl_args[2t]="-t 2 -n $ops_2t"
wl_title[2tx]="2 threads, cross-thread free"  wl_args[2tx]="-t 2 -x -n $ops_x"

say "churn: ${#allocs[@]} allocators x ${#workloads[@]} workloads x $reps rounds ($build)"
t_begin=$(date +%s)
load_begin=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo "?")
n=${#allocs[@]}
for ((r = 0; r < reps; r++)); do
  for w in "${workloads[@]}"; do
    line="[round $((r + 1))/$reps] ${w}:"
    for ((i = 0; i < n; i++)); do
      a=${allocs[(i + r) % n]}
      read -ra args <<<"${wl_args[$w]}"
      out=$(churn_once "$a" "${args[@]}")
      ops=$(field ops_per_s "$out")
      echo "$ops" >>"$tmp/$a.$w"
      calc '%.3f\n' "$(field cpu_s "$out") / $(field wall_s "$out")" >>"$tmp/par.$w"
      line+=" $a $(calc '%.1f' "$ops / 1e6")"
    done
    say "$line"
  done
done

# --------------------------------------------------------------------------
# Start-up, interleaved the same way: one sample of each command per round.
# ts_spawn_time itself never runs under a preload; -e gives the preload to
# the child only.
# --------------------------------------------------------------------------
starts=(plain cli preload)
declare -A st_title
st_title[plain]="\`true\`"
st_title[cli]="\`tiershim run -- true\`"
st_title[preload]="\`LD_PRELOAD=libtiershim.so true\`"
spawn_once() {  # KEY: prints the samples, in microseconds
  local -a cmd
  case $1 in
    plain)   cmd=(1 "$true_bin") ;;
    cli)     cmd=(1 "$cli" run -- "$true_bin") ;;
    preload) cmd=(-e "LD_PRELOAD=$tslib" 1 "$true_bin") ;;
  esac
  env -u LD_PRELOAD "$spawn" -w 0 -v "${cmd[@]}" | sed -n 's/^sample_us=//p'
}
say "start-up: ${#starts[@]} commands x $start_rounds rounds"
for k in "${starts[@]}"; do spawn_once "$k" >/dev/null; done   # warm caches
for ((r = 0; r < start_rounds; r++)); do
  for ((i = 0; i < ${#starts[@]}; i++)); do
    k=${starts[(i + r) % ${#starts[@]}]}
    spawn_once "$k" >>"$tmp/start.$k"
  done
done
t_end=$(date +%s)

# --------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------
cell() {  # FILE -> "median ±spread%" in M ops/s
  stats "$1" | awk '{ printf "%.2f ±%.0f%%", $1 / 1e6, ($1 > 0 ? 50 * ($3 - $2) / $1 : 0) }'
}
ratio() {  # A B WORKLOAD [DIGITS] -> median(A) / median(B) as "0.97x", or n/a
  if [[ -f $tmp/$1.$3 && -f $tmp/$2.$3 ]]; then
    calc "%.${4:-2}fx" "$(median "$tmp/$1.$3") / $(median "$tmp/$2.$3")"
  else
    printf 'n/a'
  fi
}
verdict() {  # VALUE OP LIMIT -> PASS/FAIL/n/a
  [[ $1 == n/a* ]] && { printf 'n/a'; return; }
  awk -v v="${1%x}" -v l="$3" "BEGIN { print ((v $2 l) ? \"PASS\" : \"FAIL\") }"
}

report() {
  local host cpu kern rev envs a w k s v d med lo p90 base base_med
  host=$(uname -n)
  cpu=$(awk -F': *' '/^model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null || true)
  kern=$(uname -sr)
  rev=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo "no commit")
  if [[ -n $(git -C "$root" status --porcelain 2>/dev/null || true) ]]; then rev+=" + local changes"; fi

  echo "# tiershim micro-benchmark ($( ((demo)) && echo demo || echo full ) run)"
  echo
  echo "- $(date -u '+%Y-%m-%d %H:%M UTC'), host \`$host\`: ${cpu:-unknown CPU}, $(nproc) CPUs, $kern; load average at start $load_begin; took $((t_end - t_begin)) s"
  echo "- build \`$build\` (tree: $rev)"
  echo "- churn (\`ts_churn\`): sizes 8..1024 B skewed small, 1000 live blocks per thread, ~10% realloc, ~5% calloc;" \
       "1 thread \`-n $ops_1t\`, 2 threads \`-n $ops_2t\` each, cross-thread free \`-x -n $ops_x\` each (25% of the frees by the other thread)"
  echo "- $reps interleaved rounds (every allocator once per round, order rotated); a cell is the median in M ops/s, ± half the min-max range relative to the median"
  for a in "${allocs[@]}"; do
    [[ -n ${pkg[$a]:-} ]] || continue
    echo "- $a: \`$(readlink -f "${lib[$a]}")\` (${pkg[$a]} $(dpkg-query -W -f='${Version}' "${pkg[$a]}" 2>/dev/null || echo "?"))"
  done
  for s in "${skipped[@]}"; do echo "- skipped: $s"; done
  envs=$(env | grep '^\(TIERSHIM\|MIMALLOC\)_' | tr '\n' ' ' || true)
  [[ -z $envs ]] || echo "- allocator settings from the environment: \`$envs\`"
  echo
  echo "## Churn (M ops/s, higher is better)"
  echo
  printf '| allocator |'; for w in "${workloads[@]}"; do printf ' %s |' "${wl_title[$w]}"; done; echo
  printf '|---|'; for w in "${workloads[@]}"; do printf -- '---:|'; done; echo
  for a in "${allocs[@]}"; do
    printf '| %s |' "$a"
    for w in "${workloads[@]}"; do printf ' %s |' "$(cell "$tmp/$a.$w")"; done
    echo
  done
  for base in mimalloc glibc; do
    printf '| **tiershim / %s** |' "$base"
    for w in "${workloads[@]}"; do printf ' %s |' "$(ratio tiershim "$base" "$w")"; done
    echo
  done
  echo
  echo "Parallelism of the 2-thread runs (CPU s / wall s, median over all allocators; 2.0 = both cores busy with the benchmark throughout):" \
       "2 threads $(median "$tmp/par.2t"), cross-thread free $(median "$tmp/par.2tx")."
  echo
  echo "## Start-up (\`$true_bin\`, $start_rounds samples each, interleaved)"
  echo
  echo "| command | median ms | min ms | p90 ms | median over \`true\`, ms |"
  echo "|---|---:|---:|---:|---:|"
  base_med=$(median "$tmp/start.plain")
  for k in "${starts[@]}"; do
    read -r med lo _ p90 < <(stats "$tmp/start.$k")
    if [[ $k == plain ]]; then d="-"; else d=$(calc '%+.2f' "($med - $base_med) / 1000"); fi
    printf '| %s | %s | %s | %s | %s |\n' "${st_title[$k]}" \
      "$(calc '%.2f' "$med / 1000")" "$(calc '%.2f' "$lo / 1000")" "$(calc '%.2f' "$p90 / 1000")" "$d"
  done
  echo
  echo "## Targets"
  echo
  echo "| target | measured | |"
  echo "|---|---:|---|"
  for w in "${workloads[@]}"; do
    v=$(ratio tiershim mimalloc "$w" 3)
    echo "| tiershim >= 0.95x mimalloc, churn ${wl_title[$w]} | $v | $(verdict "$v" '>=' 0.95) |"
  done
  for w in "${workloads[@]}"; do
    v=$(ratio tiershim glibc "$w" 3)
    echo "| tiershim >= glibc, churn ${wl_title[$w]} | $v | $(verdict "$v" '>=' 1.0) |"
  done
  v=$(calc '%+.2f' "($(median "$tmp/start.cli") - $base_med) / 1000")
  echo "| \`tiershim run -- true\` <= 2 ms over \`true\` | $v ms | $(verdict "$v" '<=' 2.0) |"
  echo
  echo "Timings on a shared machine move by 15-30% from run to run: read a FAIL within that of the target as \"re-run\", not as a regression."
}

report >"$tmp/report.md"
results=$root/bench/results
mkdir -p "$results"
dest=$results/micro-$(date +%Y%m%d-%H%M%S)-$(uname -n).md
cp "$tmp/report.md" "$dest"
cat "$tmp/report.md"
say "written to $dest"
