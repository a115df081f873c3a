#!/bin/bash
# tests/fuzz/mmap_fuzz.sh --lib LIB --bin MMAP_OPS [options]: differential
# fuzzing of the interposed mmap family (tests/fuzz/mmap_ops.c): each op
# program runs without the shim (the kernel's answer) and under
# LD_PRELOAD=LIB; a crash, a hang or any difference in the output is a
# finding. Its program is saved and minimised (delta debugging over the op
# lines) in OUT/<mode>-<seed>/. Exits 1 when anything was found.
#
#   --corpus DIR     first replay every DIR/*.txt (committed reproducers, each
#                    run in each mode, not minimised: they are already small)
#   --sweep          then the systematic sweep (mmap_ops --gen sweepN: every
#                    op with every hostile address and length), then the seeds
#   --seeds A-B      seeds A..B (default 1-20; 0-0: none)
#   --time SECS      instead of --seeds: new seeds until SECS have passed
#   --ops N          ops per program (default 150)
#   --modes "M..."   strict (TIERSHIM_MUNMAP=strict, everything compared) and
#                    release (the default MUNMAP: holes not probed, maps lines
#                    left out); default "strict release"
#   --env "V=X ..."  more environment for the shim runs (TIERSHIM_THP=off, ...)
#   --mlock          programs with mlock/munlock too (the ctest run has it)
#   --program FILE   run one program (a reproducer) in each mode, show and
#                    minimise what differs
#   --timeout S      per run (default 10); a run past it is a hang
#   --op-timeout S   per op under the shim (default 2): an op still running
#                    after S seconds is a hang
#   --continue N     after a finding, drop the op where it showed and run the
#                    rest again, up to N times per program and mode (default
#                    3): one bug does not hide the others
#   --new-only       go on past new findings only (the quick ctest run)
#   --max-findings N stop after N different findings (kind and op; default:
#                    no limit)
#   --no-minimize    save findings as they are
#   --minimize-limit N  runs per minimisation at most (default 400)
#   --check-plain    run each program twice without the shim: the outputs
#                    must be identical (the driver is deterministic)
#   --out DIR        default build/fuzz/mmap
set -u
root=$(cd "$(dirname "$0")/../.." && pwd)
LIB='' BIN='' corpus='' sweep=0 seeds=1-20 secs='' ops=150 modes="strict release" extra_env='' mlock='' program=
timeout_s=10 op_timeout=2 minimize=1 check_plain=0 out=$root/build/fuzz/mmap cont=3 new_only=0 max_findings=0 min_limit=400
while (($#)); do
  case $1 in
    --lib) LIB=$2; shift 2 ;;
    --bin) BIN=$2; shift 2 ;;
    --corpus) corpus=$2; shift 2 ;;
    --sweep) sweep=1; shift ;;
    --seeds) seeds=$2; shift 2 ;;
    --time) secs=$2; shift 2 ;;
    --ops) ops=$2; shift 2 ;;
    --modes) modes=$2; shift 2 ;;
    --env) extra_env=$2; shift 2 ;;
    --mlock) mlock=--mlock; shift ;;
    --program) program=$2; shift 2 ;;
    --timeout) timeout_s=$2; shift 2 ;;
    --op-timeout) op_timeout=$2; shift 2 ;;
    --no-minimize) minimize=0; shift ;;
    --continue) cont=$2; shift 2 ;;
    --new-only) new_only=1; shift ;;
    --minimize-limit) min_limit=$2; shift 2 ;;
    --max-findings) max_findings=$2; shift 2 ;;
    --check-plain) check_plain=1; shift ;;
    --out) out=$2; shift 2 ;;
    -h|--help) sed -n '2,41p' "$0"; exit 0 ;;
    *) echo "mmap_fuzz: unknown argument $1" >&2; exit 2 ;;
  esac
done
[[ -f $LIB && -x $BIN ]] || { echo "mmap_fuzz: need --lib LIB and --bin MMAP_OPS (got '$LIB' '$BIN')" >&2; exit 2; }
# Start clean: no LD_PRELOAD or TIERSHIM_* from the caller.
unset LD_PRELOAD
for v in $(env | sed -n 's/^\(TIERSHIM_[A-Za-z0-9_]*\)=.*/\1/p'); do unset "$v"; done
mkdir -p "$out"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/mmap_fuzz.XXXXXX") || exit 2
trap 'rm -rf "$tmp"' EXIT

mode_args() { [[ $1 == release ]] && echo --release; }
mode_env() { [[ $1 == strict ]] && echo TIERSHIM_MUNMAP=strict; }

# classify MODE PROG PREFIX: runs PROG without and with the shim; writes
# PREFIX.plain/.shim (+ .err) and sets VERDICT (same, diff, crash, hang,
# harness), SIG (the kind of finding and the op it happened at) and OPIDX
# (that op's index in the program).
classify() {
  local mode=$1 prog=$2 p=$3 rc op line last
  OPIDX=
  # shellcheck disable=SC2046
  { timeout -k 2 "$timeout_s" "$BIN" --run "$prog" $(mode_args "$mode") >"$p.plain" 2>"$p.plain.err"; } 2>/dev/null
  rc=$?
  if ((rc != 0)); then
    VERDICT=harness SIG="harness:plain-rc$rc"
    return
  fi
  # (the braces keep bash's "Segmentation fault" job message out of the log)
  # shellcheck disable=SC2046,SC2086
  { timeout -k 2 "$timeout_s" env $(mode_env "$mode") $extra_env LD_PRELOAD="$LIB" \
    "$BIN" --run "$prog" --shim --op-timeout "$op_timeout" $(mode_args "$mode") >"$p.shim" 2>"$p.shim.err"; } 2>/dev/null
  rc=$?
  if [[ $mode == release ]]; then
    grep -v '^~ ' "$p.plain" >"$p.pf"; grep -v '^~ ' "$p.shim" >"$p.sf"
  else
    cp "$p.plain" "$p.pf"; cp "$p.shim" "$p.sf"
  fi
  # the first line that differs (none when the shim's output stops early)
  line=$(cmp "$p.pf" "$p.sf" 2>/dev/null | sed -n 's/.* line \([0-9]*\).*/\1/p')
  if ((rc != 0)); then
    last=$(grep '^#' "$p.shim" | tail -n 1)
    op=$(echo "$last" | awk '{print $2}')
    OPIDX=${last%% *}
    OPIDX=${OPIDX#\#}
    local at
    at=$(grep -n '^#' "$p.sf" | tail -n 1 | cut -d: -f1)
    if [[ -z $line || -z $at ]] || ((line >= at)); then # nothing differed before it
      if ((rc == 137 || rc == 124)); then
        VERDICT=hang SIG="hang:$op"
      elif ((rc > 128)); then
        VERDICT=crash SIG="crash:sig$((rc - 128)):$op"
      else
        VERDICT=crash SIG="crash:rc$rc:$op"
      fi
      return
    fi
  elif [[ -z $line ]] && cmp -s "$p.pf" "$p.sf"; then
    VERDICT=same SIG=
    return
  fi
  if [[ -z $line ]]; then # one output is a prefix of the other: the first line only one has
    local np ns
    np=$(wc -l <"$p.pf") ns=$(wc -l <"$p.sf")
    line=$(( (np < ns ? np : ns) + 1 ))
  fi
  # the op whose output differs first, and what differs: its result, the
  # probed pages, or the maps view
  last=$(head -n "$line" "$p.pf" | grep '^#' | tail -n 1)
  op=$(echo "$last" | awk '{print $2}')
  OPIDX=${last%% *}
  OPIDX=${OPIDX#\#}
  # the signature: the op, what differs, and the answers (kernel/shim), e.g.
  # diff:madvise:EINVAL/0 or diff:munmap:EINVAL:pages
  local what=pages kres sres
  kres=$(echo "$last" | sed 's/.* = //; s/-1 //; s/MAP_FAILED //; s/ /_/g; s/[0-9][0-9]*_/N_/g')
  case $(sed -n "${line}p" "$p.pf") in
    '#'*) what=result ;;
    *maps:*) what=maps ;;
  esac
  if [[ $what == result ]]; then
    sres=$(sed -n "${line}p" "$p.sf" | sed 's/.* = //; s/-1 //; s/MAP_FAILED //; s/ /_/g; s/[0-9][0-9]*_/N_/g')
    SIG="diff:$op:$kres/$sres"
  else
    SIG="diff:$op:$kres:$what"
  fi
  VERDICT='diff'
}

# The smallest program (1-minimal, within the run limit) whose finding has
# signature WANT, from PROG whose finding showed at op AT: the ops after AT
# go first (they cannot matter), then everything but the mappings' creation
# and op AT is tried, then ddmin over what is left. Leaves $tmp/min.txt.
minimise() {
  local mode=$1 prog=$2 want=$3 at=$4
  local -a lines cand
  mapfile -t lines < <(grep -v '^[[:space:]]*\(#\|$\)' "$prog")
  local n=2 len i chunk tries=0 reduced
  if [[ $at =~ ^[0-9]+$ ]] && ((at < ${#lines[@]})); then
    lines=("${lines[@]:0:at+1}")
    cand=()
    for ((i = 0; i < at; i++)); do [[ ${lines[i]} == slot* || ${lines[i]} == map* ]] && cand+=("${lines[i]}"); done
    cand+=("${lines[at]}")
    printf '%s\n' "${cand[@]}" >"$tmp/cand.txt"
    tries=1
    classify "$mode" "$tmp/cand.txt" "$tmp/c"
    [[ $SIG == "$want" ]] && lines=("${cand[@]}")
  fi
  while (( ${#lines[@]} >= 2 && tries < min_limit )); do
    len=${#lines[@]}
    chunk=$(( (len + n - 1) / n ))
    reduced=0
    for ((i = 0; i < len && tries < min_limit; i += chunk)); do
      cand=("${lines[@]:0:i}" "${lines[@]:i+chunk}")
      ((${#cand[@]})) || continue
      printf '%s\n' "${cand[@]}" >"$tmp/cand.txt"
      tries=$((tries + 1))
      classify "$mode" "$tmp/cand.txt" "$tmp/c"
      if [[ $SIG == "$want" ]]; then
        lines=("${cand[@]}")
        n=$(( n > 2 ? n - 1 : 2 ))
        reduced=1
        break
      fi
    done
    if ((!reduced)); then
      ((n >= len)) && break
      n=$(( 2 * n < len ? 2 * n : len ))
    fi
  done
  printf '%s\n' "${lines[@]}" >"$tmp/min.txt"
  MIN_TRIES=$tries
}

findings=0 distinct=0 programs=0 ops_run=0 skipped=0 harness=0
declare -A seen
report() { # report MODE SEED PROG TAG
  local mode=$1 seed=$2 prog=$3 dir
  dir=$out/$mode-$4
  rm -rf "$dir" && mkdir -p "$dir"
  cp "$prog" "$dir/program.txt"
  cp "$tmp/r.plain" "$dir/plain.out"; cp "$tmp/r.shim" "$dir/shim.out"; cp "$tmp/r.shim.err" "$dir/shim.err"
  local sig=$SIG first=0
  [[ -z ${seen[$sig]:-} ]] && first=1
  seen[$sig]=$(( ${seen[$sig]:-0} + 1 ))
  if [[ $VERDICT == harness ]]; then
    harness=$((harness + 1))
    echo "HARNESS ERROR: $mode seed $seed: the run without the shim failed (the driver's model is wrong):"
    sed 's/^/  /' "$tmp/r.plain.err" | head -n 5
    return
  fi
  findings=$((findings + 1))
  echo "FINDING: $mode seed $seed: $sig at op #$OPIDX (program: $dir/program.txt)"
  if ((!first)); then
    echo "  (seen before: not shown again)"
    return
  fi
  distinct=$((distinct + 1))
  show "$mode" "$tmp/r"
  ((minimize)) || return
  local verdict=$VERDICT
  minimise "$mode" "$prog" "$sig" "$OPIDX"
  cp "$tmp/min.txt" "$dir/min.txt"
  classify "$mode" "$dir/min.txt" "$dir/min"
  echo "  minimised to $(wc -l <"$dir/min.txt") ops in $MIN_TRIES runs ($dir/min.txt):"
  sed 's/^/  | /' "$dir/min.txt"
  [[ $SIG == "$sig" ]] || echo "  (the minimised program gives $SIG)"
  show "$mode" "$dir/min"
  VERDICT=$verdict
}

# show MODE PREFIX: the difference, or how the shim run ended
show() {
  local mode=$1 p=$2
  case $VERDICT in
    diff)
      echo "  kernel (-) vs tiershim (+), first difference:"
      diff -U 2 "$p.pf" "$p.sf" | sed -n '4,$p' | head -n 16 | sed 's/^/    /' ;;
    hang)
      echo "  tiershim: no answer: $(grep '^#' "$p.shim" | tail -n 1)"
      echo "  kernel: $(grep -F "$(grep '^#' "$p.shim" | tail -n 1 | sed 's/ = .*//')" "$p.plain" | head -n 1)" ;;
    crash)
      echo "  tiershim run died ($SIG) in: $(grep '^#' "$p.shim" | tail -n 1)"
      echo "  kernel: $(grep -F "$(grep '^#' "$p.shim" | tail -n 1 | sed 's/ = .*//')" "$p.plain" | head -n 1)"
      grep -v '^$' "$p.shim.err" | head -n 3 | sed 's/^/    /' ;;
    *) ;;
  esac
}

one_program() { # one_program SEED PROG
  local seed=$1 prog=$2 mode
  programs=$((programs + 1))
  if ((check_plain)); then
    "$BIN" --run "$prog" >"$tmp/d1" 2>/dev/null; "$BIN" --run "$prog" >"$tmp/d2" 2>/dev/null
    if ! cmp -s "$tmp/d1" "$tmp/d2"; then
      harness=$((harness + 1))
      echo "HARNESS ERROR: seed $seed: two runs without the shim differ (not deterministic):"
      diff "$tmp/d1" "$tmp/d2" | head -n 6 | sed 's/^/  /'
    fi
  fi
  local round idx verdict tag
  for mode in $modes; do
    grep -v '^[[:space:]]*\(#\|$\)' "$prog" >"$tmp/cur.txt"
    for ((round = 0; round <= cont; round++)); do
      classify "$mode" "$tmp/cur.txt" "$tmp/r"
      if ((round == 0)); then
        ops_run=$((ops_run + $(grep -c '^#' "$tmp/r.plain")))
        skipped=$((skipped + $(grep -c '^#.* = skip' "$tmp/r.plain")))
      fi
      [[ $VERDICT == same ]] && break
      verdict=$VERDICT idx=$OPIDX tag=$seed
      ((round)) && tag=$seed+$round
      local before=$distinct
      report "$mode" "$seed" "$tmp/cur.txt" "$tag" # (minimising overwrites VERDICT, OPIDX)
      ((max_findings && distinct >= max_findings)) && return
      [[ $verdict == harness || -z $idx ]] && break
      ((new_only && distinct == before)) && break
      sed -i "$((idx + 1))d" "$tmp/cur.txt" # drop the op where it showed, run the rest again
    done
  done
}

start=$SECONDS
if [[ -n $program ]]; then # one reproducer: each mode, minimised unless --no-minimize
  for mode in $modes; do
    classify "$mode" "$program" "$tmp/r"
    echo "$mode: $VERDICT${SIG:+ $SIG}"
    [[ $VERDICT == same ]] && continue
    report "$mode" program "$program" program
  done
  exit $((findings > 0))
fi
if [[ -n $corpus ]]; then # the reproducers: every one, whatever --max-findings says
  for f in "$corpus"/*.txt; do
    programs=$((programs + 1))
    for mode in $modes; do
      classify "$mode" "$f" "$tmp/r"
      ops_run=$((ops_run + $(grep -c '^#' "$tmp/r.plain")))
      [[ $VERDICT == same ]] && continue
      unset "seen[$SIG]" # show each reproducer's difference
      saved_min=$minimize minimize=0
      report "$mode" "$(basename "$f" .txt)" "$f" "corpus-$(basename "$f" .txt)"
      minimize=$saved_min
    done
  done
  echo "mmap_fuzz: corpus $corpus: $programs programs, $findings findings"
  distinct=0 # the cap counts from here
  for s in "${!seen[@]}"; do unset "seen[$s]"; done
fi
# shellcheck disable=SC2086
if ((sweep)); then
  for ((chunk = 0; ; chunk++)); do
    ((max_findings && distinct >= max_findings)) && break
    "$BIN" --gen "sweep$chunk" $mlock >"$tmp/prog.txt" || break
    one_program "sweep$chunk" "$tmp/prog.txt"
  done
fi
# shellcheck disable=SC2086
if [[ -n $secs ]]; then
  seed=$(( $(date +%s) % 1000000 * 1000 ))
  echo "mmap_fuzz: ${secs}s from seed $seed, modes: $modes"
  while (( SECONDS - start < secs )) && ! ((max_findings && distinct >= max_findings)); do
    "$BIN" --gen "$seed" --ops "$ops" $mlock >"$tmp/prog.txt"
    one_program "$seed" "$tmp/prog.txt"
    seed=$((seed + 1))
  done
else
  lo=${seeds%-*} hi=${seeds#*-}
  ((lo == 0 && hi == 0)) && hi=-1
  for ((seed = lo; seed <= hi; seed++)); do
    ((max_findings && distinct >= max_findings)) && break
    "$BIN" --gen "$seed" --ops "$ops" $mlock >"$tmp/prog.txt"
    one_program "$seed" "$tmp/prog.txt"
  done
fi
echo "mmap_fuzz: $programs programs, $ops_run ops run ($skipped skipped as unsafe or ambiguous) in $((SECONDS - start))s," \
  "modes: $modes; $findings findings ($distinct different), $harness harness errors"
for s in "${!seen[@]}"; do echo "  $s: ${seen[$s]}"; done | sort
((findings || harness)) && exit 1
exit 0
