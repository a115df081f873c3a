#!/usr/bin/env bash
# thp_probe.sh LIB PROG: runs thp_probe (thp_probe.c) under tiershim and
# checks what its stats measured: the weights-like block and the seven
# filled ones dense (block_probes_dense 8), the untouched KV-like block and
# the sparse probe (block_probes_sparse 2). Only in THP auto mode, where
# probes exist.
set -u
. "$(dirname "$0")/it_lib.sh"
LIB=$1 PROG=$2
it_clean_env
it_tmpdir
out=$(TIERSHIM_STATS=json:$TMP/s.json LD_PRELOAD=$LIB "$PROG")
rc=$?
echo "$out"
[ $rc = 77 ] && exit 77
[ $rc = 0 ] && it_pass "sparse block: resident pages within 4x the touched ones" || it_fail "thp_probe exited $rc"
read -r mode dense sparse < <(it_python -c "import json,sys; p=json.load(open(sys.argv[1]))['placement']
print(p['thp_mode'], p['block_probes_dense'], p['block_probes_sparse'])" "$TMP/s.json")
if [ "$mode" != auto ]; then
  it_info "THP mode $mode: no probes to check"
elif [ "$dense" = 8 ] && [ "$sparse" = 2 ]; then
  it_pass "measured: 8 large blocks dense, 2 sparse (one untouched when the next was asked for)"
else
  it_fail "expected block_probes_dense 8 and block_probes_sparse 2, got $dense and $sparse"
fi
it_finish "thp_probe"
