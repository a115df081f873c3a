#!/bin/bash
# bench/tiers/guest_llama.sh [BUILD_DIR]: llama.cpp (the tiny generated model,
# weights loaded without mmap) in the two-tier qemu guest of tests/vm, once
# without tiershim and once per TIERSHIM_BULK policy. Reports where the
# process's memory sat per node (tiershim's stats: bulk and hot residency,
# sampled with move_pages), the generated tokens' digest (identical in every run), and writes bench/results/tiers-guest-llama.md.
#
# The guest's nodes run at the same speed under TCG: this measures placement,
# not timing. Needs `bash bench/llama/setup.sh --tiny` (make engines) and
# qemu (make deps). About 2 minutes.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
bench_tag=guest_llama
usage() { echo "usage: bench/tiers/guest_llama.sh [BUILD_DIR]"; }
build=${1:-build}
[[ $build == -h || $build == --help ]] && { usage; exit 0; }
. "$root/bench/lib.sh"
[[ $build != /* && -d $root/$build ]] && build=$root/$build
build=$(cd "$build" && pwd)
[[ -f $build/libtiershim.so ]] || die "no libtiershim.so in $build"

eval "$(bash "$root/bench/llama/setup.sh" --tiny 2>/dev/null | sed -n 's/^\(model_tiny\|driver\|bins\)=/\1=/p')"
[[ -x ${driver:-} && -f ${model_tiny:-} ]] || die "llama.cpp not prepared: run bash bench/llama/setup.sh --tiny"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
files=(--file "$model_tiny:/ts/model.gguf")
guest_ggml_files "$bins"

cat >"$work/llama.sh" <<'GUEST'
#!/bin/sh
# In the guest: one run per configuration, figures as RUN lines.
D=$TS_BUILD/ts_llama
ARGS="--model /ts/model.gguf --bins /ts/bins --mmap off --requests 2 --gen 16 --threads 2"
one() { # NAME ENV...
  name=$1; shift
  env "$@" TIERSHIM_STATS=json:/tmp/$name.json $D $ARGS >/tmp/$name.out 2>/tmp/$name.err || { echo "RUN $name failed"; tail -5 /tmp/$name.err; return; }
  check=$(sed -n 's/^RESULT.* check=\([0-9a-f]*\).*/\1/p' /tmp/$name.out)
  anon=$(sed -n 's/^RESULT.* anon_kb=\([0-9]*\).*/\1/p' /tmp/$name.out)
  line="RUN $name check=$check anon_kb=$anon"
  if [ -s /tmp/$name.json ]; then
    nodes=$(sed -n '/"nodes": \[/,/\]/p' /tmp/$name.json | sed -n 's/.*"node": \([0-9]*\),.*"bulk_resident_bytes": \([0-9]*\), "hot_resident_bytes": \([0-9]*\).*/n\1_bulk=\2 n\1_hot=\3/p' | tr '\n' ' ')
    line="$line $nodes policy=$(sed -n 's/.*"bulk_policy": "\([^"]*\)".*/\1/p' /tmp/$name.json | tr ' ' '_')"
  fi
  echo "$line"
}
one glibc
one default LD_PRELOAD=$TS_BUILD/libtiershim.so
one slow LD_PRELOAD=$TS_BUILD/libtiershim.so TIERSHIM_BULK=slow
one fast LD_PRELOAD=$TS_BUILD/libtiershim.so TIERSHIM_BULK=fast
one interleave LD_PRELOAD=$TS_BUILD/libtiershim.so TIERSHIM_BULK=interleave
one weighted31 LD_PRELOAD=$TS_BUILD/libtiershim.so TIERSHIM_BULK=weighted:3,1
GUEST

say "booting the two-tier guest (console: $build/vm-logs/llama.log)"
bash "$root/tests/vm/run.sh" --build "$build" --name llama --timeout 600 --bin "$driver" "${files[@]}" \
  "$work/llama.sh" >"$work/run.out" 2>&1 || { cat "$work/run.out"; die "the guest run failed"; }
grep '^RUN ' "$build/vm-logs/llama.log" | tr -d '\r' >"$work/runs"
[[ -s $work/runs ]] || { cat "$work/run.out"; die "no RUN lines in the guest's output"; }

out=$root/bench/results/tiers-guest-llama.md
mkdir -p "$(dirname "$out")"
/usr/bin/python3 - "$work/runs" "$out" <<'PY'
import re, sys
rows = []
for line in open(sys.argv[1]):
    kv = dict(re.findall(r'(\w+)=(\S+)', line))
    kv["name"] = line.split()[1]
    rows.append(kv)
mib = lambda k, r: "%.1f" % (int(r[k]) / 2**20) if k in r else "-"
digests = {r.get("check") for r in rows}
lines = ["# llama.cpp in the two-tier guest (tests/vm)", "",
         "Command: `bash bench/tiers/guest_llama.sh build`. Tiny generated model, weights loaded",
         "without mmap (anonymous memory), 2 requests x 16 tokens, 2 threads. Node 0: DRAM with the",
         "CPUs (memory_tier4); node 1: CPU-less PMEM as RAM (memory_tier22). Residency from",
         "tiershim's stats at exit (a move_pages query over its regions and the heap's mappings).",
         "Page tables: see vm.tiers_online (docs/tiers.md).", "",
         "| run | bulk policy | bulk on node 0 MiB | bulk on node 1 MiB | hot on node 0 MiB | hot on node 1 MiB | tokens digest |",
         "|---|---|---|---|---|---|---|"]
for r in rows:
    pol = r["policy"].replace("_", " ") if "policy" in r else ("(no tiershim)" if r["name"] == "glibc" else "-")
    lines.append("| %s | %s | %s | %s | %s | %s | `%s` |" % (
        r["name"], pol, mib("n0_bulk", r), mib("n1_bulk", r), mib("n0_hot", r), mib("n1_hot", r),
        r.get("check", "failed")))
lines += ["", "Same tokens in every run: %s." % ("yes" if len(digests) == 1 and None not in digests else "NO: %s" % sorted(map(str, digests)))]
open(sys.argv[2], "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
PY
say "wrote $out"
