#!/bin/bash
# tests/fuzz/run.sh [--time SECONDS] [TARGET...]: builds the libFuzzer
# targets with clang (ASan + UBSan) into build/fuzz and runs each for
# SECONDS (default 300) on a copy of its committed seed corpus. Exits
# non-zero when a target finds a crash (the reproducer is left in
# build/fuzz/). Targets: options nodelist tiers rules, and mmap: not a
# libFuzzer target but the differential mmap-family fuzzer (mmap_fuzz.sh:
# the systematic sweep, then random op programs for SECONDS, each run with
# and without the shim; a difference, crash or hang fails, minimised in
# build/fuzz/mmap/), on the CMake build in build/.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
secs=300
targets=()
while (($#)); do
  case $1 in
    --time) secs=$2; shift 2 ;;
    -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
    *) targets+=("$1"); shift ;;
  esac
done
((${#targets[@]})) || targets=(options nodelist tiers rules mmap)
if [[ " ${targets[*]} " != " mmap " ]]; then
  command -v clang >/dev/null || { echo "fuzz: clang not installed (apt-get install clang)" >&2; exit 77; }
fi
out=$root/build/fuzz
mkdir -p "$out"
inc=(-I"$root" -I"$root/include")
common=("$root/base/buf.c" "$root/base/msg.c" "$root/base/nodes.c" "$root/base/prim.c" "$root/base/prim_numa.c")
declare -A srcs=(
  [options]="$root/base/options.c"
  [nodelist]=""
  [tiers]="$root/policy/tiers.c"
  [rules]="$root/policy/rules.c $root/base/options.c"
)
# Inputs longer than 512 bytes where the limits need them (rules: the
# 512-char line, the 65th rule).
declare -A maxlen=([rules]=4096)
rc=0
for t in "${targets[@]}"; do
  if [[ $t == mmap ]]; then
    build=$root/build
    { cmake -S "$root" -B "$build" && cmake --build "$build" -j 2 --target tiershim it_mmap_ops; } >"$out/build_mmap.log" 2>&1 ||
      { echo "fuzz: mmap: build failed (log: $out/build_mmap.log)"; rc=1; continue; }
    echo "fuzz: mmap for ${secs}s"
    if ! bash "$root/tests/fuzz/mmap_fuzz.sh" --lib "$build/libtiershim.so" --bin "$build/tests/integration/mmap_ops" \
        --sweep --mlock --continue 20 --time "$secs" --out "$out/mmap" >"$out/fuzz_mmap.log" 2>&1; then
      echo "fuzz: mmap FOUND A DIFFERENCE (log: $out/fuzz_mmap.log, programs: $out/mmap/)"; rc=1
    fi
    grep '^mmap_fuzz:' "$out/fuzz_mmap.log" | tail -n 1 | sed "s/^/fuzz: $t: /"
    continue
  fi
  [[ -v srcs[$t] ]] || { echo "fuzz: unknown target $t" >&2; exit 2; }
  bin=$out/fuzz_$t
  # shellcheck disable=SC2086
  clang -g -O1 -std=gnu11 -DTIERSHIM_VERSION='"fuzz"' -fsanitize=fuzzer,address,undefined \
    -fno-sanitize-recover=undefined "${inc[@]}" "$root/tests/fuzz/fuzz_$t.c" ${srcs[$t]} "${common[@]}" -o "$bin"
  corpus=$out/corpus_$t
  rm -rf "$corpus" && mkdir -p "$corpus" && cp "$root/tests/fuzz/corpus/$t/"* "$corpus/"
  echo "fuzz: $t for ${secs}s"
  if ! (cd "$out" && "$bin" -max_total_time="$secs" -max_len="${maxlen[$t]:-512}" -print_final_stats=1 "$corpus" 2>"$out/fuzz_$t.log"); then
    echo "fuzz: $t FOUND A CRASH (log: $out/fuzz_$t.log)"; rc=1
  fi
  grep -E "stat::number_of_executed_units|stat::new_units_added" "$out/fuzz_$t.log" | sed "s/^/fuzz: $t: /"
done
exit $rc
