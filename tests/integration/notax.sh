#!/usr/bin/env bash
# notax.sh LIB SYSMEM MIMALLOC: what a program does with its own memory calls,
# and a small program, costs what it costs without tiershim (issue 20).
#  - a small program's anonymous RSS is at most 256 KiB over raw mimalloc's,
#    and it never flips to huge pages (thp_grown 0);
#  - the program's own mmaps used sparsely (stress-ng --mmaphuge's pattern)
#    hold at most 2x glibc's peak RSS (a huge page per touched 2 MiB made it
#    30x), and were measured as sparse;
#  - the same mmaps filled densely are learned (4 dense probes) and then get
#    huge pages: fewer faults than glibc's.
set -u
. "$(dirname "$0")/it_lib.sh"
LIB=$1 SYSMEM=$2 MIMALLOC=$3
it_clean_env
it_tmpdir

field() { sed -n "s/.*\b$1=\([0-9]*\).*/\1/p" | head -1; }
jfield() { it_python -c "import json,sys; d=json.load(open(sys.argv[1])); print(d['placement'][sys.argv[2]])" "$1" "$2"; }

# 1. a small program
mi=$(LD_PRELOAD=$MIMALLOC "$SYSMEM" rss -k 1024 | field rss_anon_kb)
ts=$(TIERSHIM_STATS=json:$TMP/rss.json LD_PRELOAD=$LIB "$SYSMEM" rss -k 1024 | field rss_anon_kb)
grown=$(jfield "$TMP/rss.json" thp_grown)
if [ -n "$mi" ] && [ -n "$ts" ] && [ $((ts - mi)) -le 256 ] && [ "$grown" = 0 ]; then
  it_pass "small program: anon RSS $ts KiB, raw mimalloc $mi KiB (+$((ts - mi)) KiB, limit 256), no huge-page flip"
else
  it_fail "small program: expected anon RSS <= mimalloc's ($mi KiB) + 256 KiB and thp_grown 0, got $ts KiB, thp_grown $grown"
fi

# 2. the program's own mmaps, used sparsely
gl=$("$SYSMEM" mmap-sparse -n 10 | field maxrss_kb)
ts=$(TIERSHIM_STATS=json:$TMP/sparse.json LD_PRELOAD=$LIB "$SYSMEM" mmap-sparse -n 10 | field maxrss_kb)
sparse=$(jfield "$TMP/sparse.json" mmap_probes_sparse)
if [ -n "$gl" ] && [ -n "$ts" ] && [ "$ts" -le $((2 * gl)) ] && [ "${sparse:-0}" -gt 0 ]; then
  it_pass "sparse mmaps: peak RSS $ts KiB, glibc $gl KiB (limit 2x); $sparse probes found sparse"
else
  it_fail "sparse mmaps: expected peak RSS <= 2x glibc's ($gl KiB) and sparse probes > 0, got $ts KiB, ${sparse:-none} probes"
fi

# 3. the same, filled densely: learned, then huge pages
gl=$("$SYSMEM" mmap-dense -n 3 | field minflt)
ts=$(TIERSHIM_STATS=json:$TMP/dense.json LD_PRELOAD=$LIB "$SYSMEM" mmap-dense -n 3 | field minflt)
dense=$(jfield "$TMP/dense.json" mmap_probes_dense)
if [ -n "$gl" ] && [ -n "$ts" ] && [ $((ts * 100)) -le $((gl * 85)) ] && [ "${dense:-0}" -ge 4 ]; then
  it_pass "dense mmaps: $ts faults, glibc $gl (limit 85%); $dense probes found dense"
else
  it_fail "dense mmaps: expected faults <= 85% of glibc's ($gl) and >= 4 dense probes, got $ts faults, ${dense:-none} probes"
fi
it_finish "notax"
