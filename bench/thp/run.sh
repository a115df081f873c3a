#!/usr/bin/env bash
# tiershim THP placement benchmark: the large-buffer pattern of inference
# runtimes (ts_thp_pattern) under glibc, the peer allocators and tiershim's
# THP modes. See README.md beside this file.
#
#   bench/thp/run.sh [--quick] [--reps N] [BUILD_DIR]
#
# BUILD_DIR (default: build) must hold libtiershim.so, tiershim and
# bench/thp/ts_thp_pattern. Prints one Markdown report and writes it to
# bench/results/thp-<date>-<time>-<host>.md as well; progress goes to stderr.
# Exits 1 if a run failed or the checksums differ (after writing the report).
set -Eeuo pipefail
trap 'printf "run.sh: error: command failed at line %s: %s\n" "$LINENO" "$BASH_COMMAND" >&2' ERR

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)

. "$here/../lib.sh"

usage() {
  cat <<'EOF'
usage: bench/thp/run.sh [--quick] [--reps N] [BUILD_DIR]
  --quick    3 rounds and 3 waves per run instead of 6: about a minute
  --reps N   interleaved rounds (default 5; 3 with --quick)
  BUILD_DIR  the CMake build directory to measure (default: build)
EOF
}

# --------------------------------------------------------------------------
# Arguments
# --------------------------------------------------------------------------
bench_args --quick "$@"
quick=$short

# The pattern: ~1.25 GiB live at every wave's peak. The full run's 6 waves
# take 1-3 s per run (glibc, whose 4 KiB faults dominate, being slowest).
live=1280M passes=8
if ((quick)); then waves=3; else waves=6; fi
pat_args=(-w "$waves" -l "$live" -p "$passes")
cell_timeout=180   # s; a hung run fails instead of stalling the benchmark

# --------------------------------------------------------------------------
# The build under test
# --------------------------------------------------------------------------
# A relative BUILD_DIR is taken from the current directory, or else from the
# repository root (so `run.sh build` works from anywhere).
bench_build bench/thp/ts_thp_pattern
pattern=$build/bench/thp/ts_thp_pattern
for tool in timeout sort awk sed grep tr uname date; do
  type -P "$tool" >/dev/null || die "'$tool' not found (coreutils/awk/sed/grep are needed)"
done

# --------------------------------------------------------------------------
# Configurations. kind: glibc, peer or tiershim. A peer whose library is not
# installed, or a glibc without the hugetlb tunable, is skipped with a note.
# env: NAME=VALUE words (no spaces in values) set for that configuration.
# --------------------------------------------------------------------------

declare -A title lib want kind cfgenv pkg thp_req
cfgs=() skipped=()
add_cfg() {  # KEY KIND TITLE LIB WANT ENV
  cfgs+=("$1"); kind[$1]=$2; title[$1]=$3; lib[$1]=$4; want[$1]=$5; cfgenv[$1]=$6
}
add_peer() {  # KEY TITLE SONAME PACKAGE ENV
  local path
  if path=$(find_lib "$3"); then
    add_cfg "$1" peer "$2" "$path" "${3%%.so*}" "$5"; pkg[$1]=$4
  else
    skipped+=("$2 ($3 not found; \`apt-get install $4\` or \`make deps\`)")
  fi
}

add_cfg glibc glibc "glibc" "" libc.so ""
ldso=$(find_lib "ld-linux-$(uname -m | tr _ -).so.2" 2>/dev/null || true)
[[ -n $ldso ]] || ldso=$(ls /lib64/ld-linux*.so.2 2>/dev/null | head -n1 || true)
if [[ -n $ldso ]] && "$ldso" --list-tunables 2>/dev/null | grep -q '^glibc\.malloc\.hugetlb:'; then
  add_cfg glibc-thp glibc "glibc hugetlb=1" "" libc.so "GLIBC_TUNABLES=glibc.malloc.hugetlb=1"
else
  skipped+=("glibc hugetlb=1 (this glibc has no glibc.malloc.hugetlb tunable; it needs 2.35 or later)")
fi
add_peer jemalloc "jemalloc thp:always" libjemalloc.so.2 libjemalloc2 "MALLOC_CONF=thp:always,metadata_thp:always"
add_peer tcmalloc "tcmalloc" libtcmalloc_minimal.so.4 libtcmalloc-minimal4 ""
add_peer mimalloc "mimalloc" libmimalloc.so.2 libmimalloc2.0 ""
add_peer mimalloc-lp "mimalloc large OS pages" libmimalloc.so.2 libmimalloc2.0 "MIMALLOC_LARGE_OS_PAGES=1"
for m in fault collapse off; do
  add_cfg "ts-$m" tiershim "tiershim THP=$m" "$tslib" libtiershim "TIERSHIM_THP=$m"
  thp_req[ts-$m]=$m
done
add_cfg tiershim tiershim "tiershim (default)" "$tslib" libtiershim ""
thp_req[tiershim]=""
peers=()   # what tiershim's compute time is compared with
for c in "${cfgs[@]}"; do [[ ${kind[$c]} == tiershim ]] || peers+=("$c"); done
for s in "${skipped[@]}"; do say "note: skipping $s"; done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/ts-thp.XXXXXX")
trap 'rm -rf "$tmp"' EXIT


# JSON, without a JSON tool: tiershim's documents are flat but for the
# "placement" object, and their key names are unique within an object.
json_placement() {  # FILE -> the text of its "placement" object, on one line; nothing if none
  [[ -f $1 ]] || return 0
  tr '\n' ' ' <"$1" | awk '{
    i = index($0, "\"placement\""); if (i == 0) exit
    s = substr($0, i); j = index(s, "{"); if (j == 0) exit
    s = substr(s, j); d = 0
    for (k = 1; k <= length(s); k++) {
      c = substr(s, k, 1)
      if (c == "{") d++
      else if (c == "}" && --d == 0) { print substr(s, 1, k); exit }
    }
  }'
}
json_val() {  # TEXT KEY -> its value (quotes stripped); nothing if absent
  grep -oE "\"$2\"[[:space:]]*:[[:space:]]*(\"[^\"]*\"|[^,}]*)" <<<"$1" | head -n1 |
    sed 's/^[^:]*:[[:space:]]*//; s/[[:space:]]*$//; s/^"\(.*\)"$/\1/' || true
}

# median min max of the numbers in file $1 (non-numbers ignored); "- - -"
# when there is none.
stats() {
  { [[ -f $1 ]] && grep -E '^-?[0-9.]+(e[-+]?[0-9]+)?$' "$1" || true; } | sort -g | awk '{ v[NR] = $1 }
    END {
      if (NR == 0) { print "- - -"; exit }
      m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
      print m, v[1], v[NR]
    }'
}
median() { stats "$1" | awk '{ print $1 }'; }
fmt() {  # FORMAT SCALE FILE -> median/SCALE in FORMAT, or "-"
  local m; m=$(median "$3")
  [[ $m == - ]] && { printf -- '-'; return; }
  calc "$1" "$m / $2"
}
cell_spread() {  # FORMAT FILE -> "median ±spread%", or "-"
  local m lo hi; read -r m lo hi < <(stats "$2")
  [[ $m == - ]] && { printf -- '-'; return; }
  awk -v m="$m" -v lo="$lo" -v hi="$hi" -v f="$1" \
    'BEGIN { printf f " ±%.0f%%", m, (m > 0 ? 50 * (hi - lo) / m : 0) }'
}

# --------------------------------------------------------------------------
# One run of configuration $1 in round $2: checks, then one value per metric
# appended to $tmp/v.CFG.METRIC (p.CFG.KEY and x.CFG.KEY: tiershim's placement
# stats at the peak and at exit). Sets $progress to a one-line summary. Runs
# in this shell (not in $(...)): it updates ref_sum and failed.
# --------------------------------------------------------------------------
metrics=(thp_coverage anon_rss_bytes anon_huge_bytes vma_count minor_faults compute_s
         alloc_max_us touch_max_us tlb_shootdowns wall_s live_bytes touch_s alloc_s nivcsw
         alloc_faults)
pkeys=(state thp_mode thp_reason release_mode placed_mmaps placed_bytes pmd_aligned
       placed_mallocs malloc_fallbacks mmap_fallbacks regions vma_count_regions retained_bytes
       reused released_bytes release_calls collapse_ok collapse_fail collapse_bytes
       thp_advise_ok thp_advise_fail region_rss_bytes region_huge_bytes region_live_bytes
       region_committed_bytes)
ref_sum="" ref_where="" progress=""
failed=0
note() { echo "$*" >>"$tmp/notes"; say "note: $*"; }
note_once() { grep -qxF -- "$*" "$tmp/notes" 2>/dev/null || note "$*"; }

run_once() {
  local c=$1 r=$2 out rc=0 from sum k v pl err=$tmp/err.$c.$r
  local -a e=(env -u LD_PRELOAD -u GLIBC_TUNABLES -u MALLOC_CONF -u MIMALLOC_LARGE_OS_PAGES
              -u TIERSHIM_THP -u TIERSHIM_STATS)
  local -a extra=() args=("${pat_args[@]}")
  [[ -n ${lib[$c]} ]] && e+=("LD_PRELOAD=${lib[$c]}")
  [[ -n ${cfgenv[$c]} ]] && read -ra extra <<<"${cfgenv[$c]}"
  if [[ ${kind[$c]} == tiershim ]]; then
    extra+=("TIERSHIM_STATS=json:$tmp/exit.$c.$r.json")
    args+=(-j "$tmp/peak.$c.$r.json")
  fi
  # timeout first: env then execs the pattern with the preload, so the
  # pattern is the only process that runs under the allocator under test
  # (a preloaded timeout would write tiershim's exit stats over the
  # pattern's, from the same file name).
  out=$(timeout "$cell_timeout" "${e[@]}" "${extra[@]}" "$pattern" "${args[@]}" 2>"$err") || rc=$?
  if ((rc != 0)); then
    failed=$((failed + 1))
    echo "$r" >>"$tmp/fail.$c"
    note "${title[$c]}, round $r: exit $rc$( ((rc == 124)) && echo " (timed out after ${cell_timeout}s)")$( ((rc > 128 && rc != 124)) && echo " (signal $((rc - 128)))"); stderr: $(tail -n 3 "$err" | tr '\n' ' ')"
    progress="$c FAILED (exit $rc)"
    return 0
  fi
  from=$(field malloc_from "$out")
  [[ $from == "${want[$c]}"* ]] ||
    die "under ${title[$c]}, malloc comes from '$from', not ${want[$c]}*: the preload (${lib[$c]:-none}) did not take"
  # Settings the allocator did not take are configuration errors, not numbers.
  if [[ ${kind[$c]} == peer ]] && grep -q '<jemalloc>' "$err"; then
    die "jemalloc rejected MALLOC_CONF (${cfgenv[$c]}): $(head -n 2 "$err" | tr '\n' ' ')"
  fi
  if grep -q '^tiershim: ' "$err"; then
    while IFS= read -r v; do note_once "${title[$c]}, stderr: $v"; done < <(grep '^tiershim: ' "$err" | sort -u)
  fi
  for k in "${metrics[@]}"; do field "$k" "$out" >>"$tmp/v.$c.$k"; done
  echo "$(field alloc_max_us "$out") $(field alloc_max_at "$out") $(field alloc_max_csw "$out") $(field alloc_max_faults "$out")" >>"$tmp/wa.$c"
  echo "$(field touch_max_us "$out") $(field touch_max_at "$out") $(field touch_max_csw "$out")" >>"$tmp/wt.$c"
  sum=$(field checksum "$out")
  if [[ -z $ref_sum ]]; then
    ref_sum=$sum ref_where="${title[$c]}, round $r"
  elif [[ $sum != "$ref_sum" ]]; then
    echo "${title[$c]}, round $r: checksum $sum, but $ref_where gave $ref_sum" >>"$tmp/mismatch"
    say "run.sh: CHECKSUM MISMATCH: ${title[$c]}, round $r: $sum, $ref_where: $ref_sum"
  fi
  if [[ ${kind[$c]} == tiershim ]]; then
    [[ -s $tmp/exit.$c.$r.json ]] ||
      note_once "${title[$c]}: no JSON stats file at exit (TIERSHIM_STATS=json:... wrote nothing)"
    [[ $(field tiershim_json "$out") == written ]] ||
      note_once "${title[$c]}: no stats snapshot at the peak (tiershim_json=$(field tiershim_json "$out")); placement columns come from the exit file"
    pl=$(json_placement "$tmp/peak.$c.$r.json")
    [[ -n $pl ]] || pl=$(json_placement "$tmp/exit.$c.$r.json")
    for k in "${pkeys[@]}"; do
      v=$(json_val "$pl" "$k"); [[ -n $v ]] && echo "$v" >>"$tmp/p.$c.$k"
    done
    pl=$(json_placement "$tmp/exit.$c.$r.json")
    for k in "${pkeys[@]}"; do
      v=$(json_val "$pl" "$k"); [[ -n $v ]] && echo "$v" >>"$tmp/x.$c.$k"
    done
    for k in peak exit; do
      v=$(json_val "$(json_placement "$tmp/$k.$c.$r.json")" thp_mode)
      if [[ -n $v && -n ${thp_req[$c]} && $v != "${thp_req[$c]}" ]]; then
        note_once "${title[$c]}: placement.thp_mode is '$v' in the stats at the $k, not the '${thp_req[$c]}' asked for"
      fi
    done
    v=$(json_val "$(json_placement "$tmp/peak.$c.$r.json")" state)
    k=$(json_val "$(json_placement "$tmp/exit.$c.$r.json")" state)
    if [[ -n $v && -n $k && $v != "$k" ]]; then
      note_once "${title[$c]}: placement.state is '$v' at the peak but '$k' at exit"
    fi
  fi
  progress=$(printf '%s cov %.1f%% faults %s compute %s s alloc_max %s us wall %s s' "$c" \
    "$(calc '%.4f' "$(field thp_coverage "$out") * 100")" "$(field minor_faults "$out")" \
    "$(field compute_s "$out")" "$(field alloc_max_us "$out")" "$(field wall_s "$out")")
}

# --------------------------------------------------------------------------
# Sanity: the CLI runs the pattern under libtiershim and writes its stats.
# --------------------------------------------------------------------------
out=$(env -u LD_PRELOAD -u TIERSHIM_STATS "$cli" run --stats "$tmp/cli.json" -- \
      "$pattern" -w 1 -l 64M -p 1 -j "$tmp/cli-peak.json" 2>"$tmp/cli.err") ||
  die "'$cli run -- ts_thp_pattern' failed: $(tail -n 3 "$tmp/cli.err")"
[[ $(field malloc_from "$out") == libtiershim* ]] ||
  die "under '$cli run', malloc comes from '$(field malloc_from "$out")', not libtiershim: the CLI did not preload the library"
grep -q '"version"' "$tmp/cli.json" 2>/dev/null ||
  die "'$cli run --stats FILE' wrote no JSON stats"
if [[ -z $(json_placement "$tmp/cli.json") ]]; then
  note "this libtiershim reports no \"placement\" stats object (placement engine not in this build?): the placement columns show -"
fi

# --------------------------------------------------------------------------
# The runs, interleaved: round r runs every configuration once, the order
# rotated by r, so drift in the machine's load (the second core is often
# someone else's) and in free huge pages spreads over all configurations.
# --------------------------------------------------------------------------
n=${#cfgs[@]}
say "thp: ${#cfgs[@]} configurations x $reps rounds, ts_thp_pattern ${pat_args[*]} ($build)"
t_begin=$(date +%s)
rev=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo "no commit")
if [[ -n $(git -C "$root" status --porcelain 2>/dev/null || true) ]]; then rev+=" + local changes"; fi
load_begin=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo "?")
free_begin=$(awk '/^MemAvailable:/ { printf "%.1f", $2 / 1048576 }' /proc/meminfo 2>/dev/null || echo "?")
for ((r = 1; r <= reps; r++)); do
  for ((i = 0; i < n; i++)); do
    c=${cfgs[(i + r - 1) % n]}
    run_once "$c" "$r"
    say "[round $r/$reps] $progress"
  done
done
t_end=$(date +%s)

# --------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------
verdict() {  # VALUE OP LIMIT -> PASS/FAIL/n/a
  [[ $1 == - || $1 == n/a* || -z $3 || $3 == - ]] && { printf 'n/a'; return; }
  awk -v v="$1" -v l="$3" "BEGIN { print ((v $2 l) ? \"PASS\" : \"FAIL\") }"
}
spread() {  # FILE -> half the min-max range over the median, as a fraction
  stats "$1" | awk '{ if ($1 == "-" || $1 <= 0) print 0; else print ($3 - $2) / (2 * $1) }'
}
thp_sys() { cat "/sys/kernel/mm/transparent_hugepage/$1" 2>/dev/null | sed 's/.*\[\(.*\)\].*/\1/' || echo "?"; }

row_title() {  # CFG -> the row's title; the default row says which mode auto picked
  local m
  if [[ $1 == tiershim ]]; then
    m=$(sort -u "$tmp/p.tiershim.thp_mode" 2>/dev/null | tr '\n' '/' | sed 's,/$,,' || true)
    [[ -n $m ]] && { printf 'tiershim (default: %s)' "$m"; return; }
  fi
  printf '%s' "${title[$1]}"
}

report() {
  local host cpu kern envs c v m lim best bestc ratio sp fails
  host=$(uname -n)
  cpu=$(awk -F': *' '/^model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null || true)
  kern=$(uname -sr)
  local mthp; mthp=$(grep -l '\[\(always\|madvise\)\]' /sys/kernel/mm/transparent_hugepage/hugepages-*/enabled 2>/dev/null |
                     sed 's,.*/hugepages-\([0-9]*kB\)/.*,\1,' | grep -v '^2048kB$' | tr '\n' ' ' || true)

  echo "# tiershim THP placement benchmark ($( ((quick)) && echo quick || echo full ) run)"
  echo
  echo "- $(date -u '+%Y-%m-%d %H:%M UTC'), host \`$host\`: ${cpu:-unknown CPU}, $(nproc) CPUs, $kern; load average at start $load_begin, MemAvailable ${free_begin} GiB; took $((t_end - t_begin)) s"
  echo "- THP: enabled=$(thp_sys enabled), defrag=$(thp_sys defrag), khugepaged/defrag=$(cat /sys/kernel/mm/transparent_hugepage/khugepaged/defrag 2>/dev/null || echo "?"), max_ptes_none=$(cat /sys/kernel/mm/transparent_hugepage/khugepaged/max_ptes_none 2>/dev/null || echo "?")${mthp:+; mTHP sizes on: $mthp}"
  echo "- build \`$build\` (tree at the start of the run: $rev; libtiershim.so built $(date -u -r "$tslib" '+%Y-%m-%d %H:%M:%S UTC' 2>/dev/null || echo "?"))"
  echo "- pattern: \`ts_thp_pattern ${pat_args[*]}\`: $waves waves filling ${live} live each (peak $(fmt '%.0f' 1048576 "$tmp/v.glibc.live_bytes") MiB), half of the buffers by malloc and half by direct mmap; $passes compute passes per wave"
  echo "- $reps interleaved rounds (every configuration once per round, order rotated); a cell is the median over the rounds; compute s also shows ± half the min-max range relative to the median"
  for c in "${cfgs[@]}"; do
    [[ -n ${pkg[$c]:-} ]] || continue
    echo "- ${title[$c]}: \`$(readlink -f "${lib[$c]}")\` (${pkg[$c]} $(dpkg-query -W -f='${Version}' "${pkg[$c]}" 2>/dev/null || echo "?"))${cfgenv[$c]:+, \`${cfgenv[$c]}\`}"
  done
  echo "- glibc $(ldd --version 2>/dev/null | awk 'NR == 1 { print $NF }')${cfgenv[glibc-thp]:+; hugetlb row: \`${cfgenv[glibc-thp]}\`}"
  for c in "${skipped[@]}"; do echo "- skipped: $c"; done
  envs=$(env | grep '^\(TIERSHIM\|MIMALLOC\|MALLOC_CONF\|GLIBC_TUNABLES\)' | grep -v '^TIERSHIM_\(THP\|STATS\)=' | tr '\n' ' ' || true)
  [[ -z $envs ]] || echo "- settings inherited from the environment (all rows that read them): \`$envs\`"
  echo
  echo "## Results (at the peak: after the last wave's compute passes, before the final frees)"
  echo
  echo "| configuration | huge-page coverage % | anon RSS MiB | VMAs | minor faults | compute s | alloc max µs | touch max µs | TLB shootdowns | wall s | region VMAs | retained MiB | released MiB | collapse ok/fail |"
  echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
  for c in "${cfgs[@]}"; do
    fails=""; [[ -f $tmp/fail.$c ]] && fails=" ($(wc -l <"$tmp/fail.$c") of $reps runs FAILED)"
    printf '| %s%s | %s | %s | %s | %s | %s | %s | %s | %s | %s |' "$(row_title "$c")" "$fails" \
      "$(fmt '%.1f' 0.01 "$tmp/v.$c.thp_coverage")" \
      "$(fmt '%.0f' 1048576 "$tmp/v.$c.anon_rss_bytes")" \
      "$(fmt '%.0f' 1 "$tmp/v.$c.vma_count")" \
      "$(fmt '%.0f' 1 "$tmp/v.$c.minor_faults")" \
      "$(cell_spread '%.3f' "$tmp/v.$c.compute_s")" \
      "$(fmt '%.0f' 1 "$tmp/v.$c.alloc_max_us")" \
      "$(fmt '%.0f' 1 "$tmp/v.$c.touch_max_us")" \
      "$(fmt '%.0f' 1 "$tmp/v.$c.tlb_shootdowns")" \
      "$(fmt '%.2f' 1 "$tmp/v.$c.wall_s")"
    if [[ ${kind[$c]} == tiershim ]]; then
      printf ' %s | %s | %s | %s / %s |\n' \
        "$(fmt '%.0f' 1 "$tmp/p.$c.vma_count_regions")" \
        "$(fmt '%.1f' 1048576 "$tmp/p.$c.retained_bytes")" \
        "$(fmt '%.1f' 1048576 "$tmp/p.$c.released_bytes")" \
        "$(fmt '%.0f' 1 "$tmp/p.$c.collapse_ok")" "$(fmt '%.0f' 1 "$tmp/p.$c.collapse_fail")"
    else
      printf '  |  |  |  |\n'
    fi
  done
  echo
  echo "Coverage is AnonHugePages / Anonymous of /proc/self/smaps_rollup; VMAs are the lines of /proc/self/maps (the whole process); minor faults are for the whole run up to the peak; alloc max is the longest single malloc or mmap call, touch max the longest first touch of one buffer (faults included); TLB shootdowns are system-wide (the \`TLB:\` line of /proc/interrupts) from start to peak. The last four columns come from tiershim's \`placement\` stats snapshotted at the peak (\`tiershim_stats_json()\`); \`-\` means the library did not report them."
  echo
  echo "### tiershim placement stats at exit (\`TIERSHIM_STATS=json:...\`, after the final frees)"
  echo
  echo "| configuration | thp_mode | placed mmaps / mallocs | fallbacks mmap / malloc | PMD-aligned | regions | region VMAs | reused | retained MiB | released MiB | release calls | collapse ok / fail | collapsed MiB | region RSS MiB | region huge MiB | region committed MiB |"
  echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
  for c in "${cfgs[@]}"; do
    [[ ${kind[$c]} == tiershim ]] || continue
    m=$(sort -u "$tmp/x.$c.thp_mode" 2>/dev/null | tr '\n' '/' | sed 's,/$,,' || true)
    printf '| %s | %s | %s / %s | %s / %s | %s | %s | %s | %s | %s | %s | %s | %s / %s | %s | %s | %s | %s |\n' "${title[$c]}" "${m:--}" \
      "$(fmt '%.0f' 1 "$tmp/x.$c.placed_mmaps")" "$(fmt '%.0f' 1 "$tmp/x.$c.placed_mallocs")" \
      "$(fmt '%.0f' 1 "$tmp/x.$c.mmap_fallbacks")" "$(fmt '%.0f' 1 "$tmp/x.$c.malloc_fallbacks")" \
      "$(fmt '%.0f' 1 "$tmp/x.$c.pmd_aligned")" "$(fmt '%.0f' 1 "$tmp/x.$c.regions")" \
      "$(fmt '%.0f' 1 "$tmp/x.$c.vma_count_regions")" "$(fmt '%.0f' 1 "$tmp/x.$c.reused")" \
      "$(fmt '%.1f' 1048576 "$tmp/x.$c.retained_bytes")" "$(fmt '%.1f' 1048576 "$tmp/x.$c.released_bytes")" \
      "$(fmt '%.0f' 1 "$tmp/x.$c.release_calls")" \
      "$(fmt '%.0f' 1 "$tmp/x.$c.collapse_ok")" "$(fmt '%.0f' 1 "$tmp/x.$c.collapse_fail")" \
      "$(fmt '%.1f' 1048576 "$tmp/x.$c.collapse_bytes")" \
      "$(fmt '%.1f' 1048576 "$tmp/x.$c.region_rss_bytes")" "$(fmt '%.1f' 1048576 "$tmp/x.$c.region_huge_bytes")" \
      "$(fmt '%.1f' 1048576 "$tmp/x.$c.region_committed_bytes")"
  done
  echo
  for c in "${cfgs[@]}"; do
    [[ ${kind[$c]} == tiershim && -f $tmp/x.$c.state ]] || continue
    echo "- ${title[$c]}: state \`$(sort -u "$tmp/x.$c.state" | tr '\n' '/' | sed 's,/$,,')\`, thp_mode \`$(sort -u "$tmp/x.$c.thp_mode" 2>/dev/null | tr '\n' '/' | sed 's,/$,,' || true)\` ($(sort -u "$tmp/x.$c.thp_reason" 2>/dev/null | tr '\n' '/' | sed 's,/$,,' || true)), release \`$(sort -u "$tmp/x.$c.release_mode" 2>/dev/null | tr '\n' '/' | sed 's,/$,,' || true)\`"
  done
  echo
  echo "### Worst stalls over all rounds"
  echo
  echo "The single worst allocation call and first touch of each configuration over all its runs (the table above has medians of each run's worst), which call it was, the context switches of the thread during it (*v* voluntary: it slept on a lock, mmap_lock or compaction; *i* involuntary: preempted, a busy CPU) and the page faults taken inside the allocation call (an allocator zeroing or pre-faulting on the request path). Medians over the runs: alloc s and touch s (sums of all calls and touches), faults in alloc calls (all calls), nivcsw (the process's involuntary switches)."
  echo
  echo "| configuration | worst alloc µs | call:bytes | switches | faults in it | worst touch µs | call:bytes | switches | alloc s | touch s | faults in alloc calls | nivcsw |"
  echo "|---|---:|---|---|---:|---:|---|---|---:|---:|---:|---:|"
  for c in "${cfgs[@]}"; do
    [[ -s $tmp/wa.$c ]] || continue
    read -r wa_us wa_at wa_csw wa_flt < <(sort -g -r "$tmp/wa.$c" | head -n1)
    read -r wt_us wt_at wt_csw < <(sort -g -r "$tmp/wt.$c" | head -n1)
    printf '| %s | %.0f | %s | %s | %s | %.0f | %s | %s | %s | %s | %s | %s |\n' "${title[$c]}" \
      "$wa_us" "$wa_at" "$wa_csw" "${wa_flt:--}" "$wt_us" "$wt_at" "$wt_csw" \
      "$(fmt '%.3f' 1 "$tmp/v.$c.alloc_s")" "$(fmt '%.2f' 1 "$tmp/v.$c.touch_s")" \
      "$(fmt '%.0f' 1 "$tmp/v.$c.alloc_faults")" "$(fmt '%.0f' 1 "$tmp/v.$c.nivcsw")"
  done
  echo
  echo "## Targets (tiershim default row unless said otherwise)"
  echo
  echo "| target | measured | limit | |"
  echo "|---|---:|---:|---|"
  v=$(fmt '%.1f' 0.01 "$tmp/v.tiershim.thp_coverage")
  echo "| huge-page coverage >= 95% of anonymous memory | $v% | 95% | $(verdict "$v" '>=' 95) |"
  v=$(fmt '%.0f' 1 "$tmp/p.tiershim.vma_count_regions")
  lim=$(fmt '%.2f' 268435456 "$tmp/v.tiershim.live_bytes")
  echo "| region VMAs <= 1 per 256 MiB live ($(fmt '%.0f' 1048576 "$tmp/v.tiershim.live_bytes") MiB) | $v | $lim | $(verdict "$v" '<=' "$lim") |"
  v=$(fmt '%.0f' 1 "$tmp/v.tiershim.minor_faults")
  lim=$(fmt '%.0f' 20 "$tmp/v.glibc.minor_faults")
  echo "| minor faults <= 1/20 of glibc's | $v | $lim | $(verdict "$v" '<=' "$lim") |"
  best="" bestc=""
  for c in "${peers[@]}"; do
    m=$(median "$tmp/v.$c.compute_s")
    [[ $m == - ]] && continue
    if [[ -z $best ]] || awk -v a="$m" -v b="$best" 'BEGIN { exit !(a < b) }'; then best=$m bestc=$c; fi
  done
  m=$(median "$tmp/v.tiershim.compute_s")
  if [[ -n $best && $m != - ]]; then
    ratio=$(calc '%.3f' "$m / $best")
    sp=$(awk -v a="$(spread "$tmp/v.tiershim.compute_s")" -v b="$(spread "$tmp/v.$bestc.compute_s")" \
         'BEGIN { print (a > b ? a : b) }')
    if awk -v r="$ratio" 'BEGIN { exit !(r <= 1.05) }'; then v=PASS
    elif awk -v r="$ratio" -v s="$sp" 'BEGIN { exit !(r <= 1 + s) }'; then v="FAIL, within noise (±$(calc '%.0f' "$sp * 100")%): re-run"
    else v=FAIL; fi
    echo "| compute no slower than the best peer (${title[$bestc]}, $(calc '%.3f' "$best") s) | ${ratio}x | 1.05x | $v |"
  else
    echo "| compute no slower than the best peer | - | 1.05x | n/a |"
  fi
  v=$(fmt '%.0f' 1 "$tmp/v.ts-collapse.alloc_max_us")
  m=$(fmt '%.0f' 1 "$tmp/v.ts-fault.alloc_max_us")
  lim=$( [[ $m == - ]] && echo - || calc '%.0f' "($m * 1.5 > $m + 50) ? $m * 1.5 : $m + 50")
  echo "| THP=collapse: no request-path stall, alloc max <= 1.5x THP=fault's ($m µs; THP=off, no collapse thread: $(fmt '%.0f' 1 "$tmp/v.ts-off.alloc_max_us") µs; touch max: collapse $(fmt '%.0f' 1 "$tmp/v.ts-collapse.touch_max_us") µs, fault $(fmt '%.0f' 1 "$tmp/v.ts-fault.touch_max_us") µs) | $v µs | $lim µs | $(verdict "$v" '<=' "$lim") |"
  echo
  echo "Timings on a shared machine move by 15-30% from run to run: read a timing FAIL within that of its limit as \"re-run\", not as a regression. The counts (coverage, VMAs, faults) barely move."
  echo
  echo "## Checks"
  echo
  if [[ -s $tmp/mismatch ]]; then
    echo "- **CHECKSUM MISMATCH**: the compute pass read different data under different configurations:"
    sed 's/^/  - /' "$tmp/mismatch"
  elif [[ -n $ref_sum ]]; then
    echo "- checksum \`$ref_sum\` identical in all $((n * reps - failed)) completed runs"
  fi
  if ((failed)); then echo "- **$failed run(s) FAILED** (see the notes)"; fi
  echo "- every run's malloc came from the expected object (glibc rows: libc; peers: the preloaded library; tiershim rows: libtiershim); \`tiershim run\` preloads libtiershim and writes JSON stats"
  if [[ -s $tmp/notes ]]; then
    echo "- notes:"
    sed 's/^/  - /' "$tmp/notes"
  fi
}

report >"$tmp/report.md"
results=$root/bench/results
mkdir -p "$results"
dest=$results/thp-$(date +%Y%m%d-%H%M%S)-$(uname -n).md
cp "$tmp/report.md" "$dest"
cat "$tmp/report.md"
say "written to $dest"
if [[ -s $tmp/mismatch ]]; then say "run.sh: FAILED: checksum mismatch (see the report)"; exit 1; fi
if ((failed)); then say "run.sh: FAILED: $failed run(s) did not complete (see the report)"; exit 1; fi
