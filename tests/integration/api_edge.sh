#!/bin/bash
# api_edge.sh LIB API_EDGE_BIN
# 1. api_edge --semantics without the shim (glibc 2.36) and with the shim:
#    both must pass and their stdout (one line per observed behaviour) must
#    be identical.
# 2. api_edge --full under the shim (stats counters, large path, ...).
set -u
. "$(dirname "$0")/it_lib.sh"
LIB=$1 BIN=$2
it_clean_env
it_tmpdir

"$BIN" --semantics >"$TMP/glibc.out" 2>"$TMP/glibc.err"
rc=$?
if [ $rc -ne 0 ]; then
  it_fail "api_edge --semantics without the shim (plain glibc): expected exit 0 got $rc (the test's glibc expectations are wrong)"
  it_show "$TMP/glibc.err" "stderr (glibc)"
fi

LD_PRELOAD=$LIB "$BIN" --semantics >"$TMP/shim.out" 2>"$TMP/shim.err"
rc=$?
if [ $rc -ne 0 ]; then
  it_fail "api_edge --semantics under the shim: expected exit 0 got $rc"
  it_show "$TMP/shim.err" "stderr (shim)"
fi

if ! diff -u --label glibc --label tiershim "$TMP/glibc.out" "$TMP/shim.out" >"$TMP/diff"; then
  it_fail "api_edge --semantics: expected identical stdout with and without the shim got a difference:"
  cat "$TMP/diff"
else
  it_pass "api_edge --semantics: $(wc -l <"$TMP/shim.out") behaviours identical to glibc"
fi
[ -s "$TMP/shim.out" ] || it_fail "api_edge --semantics under the shim: expected output got none"

# Again with a tiny large-path threshold, so that most blocks of the same
# checks take the large path: still exactly glibc's behaviour.
LD_PRELOAD=$LIB TIERSHIM_LARGE_MIN=4K "$BIN" --semantics >"$TMP/shim4k.out" 2>"$TMP/shim4k.err"
rc=$?
if [ $rc -ne 0 ]; then
  it_fail "api_edge --semantics under the shim with TIERSHIM_LARGE_MIN=4K: expected exit 0 got $rc"
  it_show "$TMP/shim4k.err" "stderr (shim, LARGE_MIN=4K)"
fi
if ! diff -u --label glibc --label "tiershim LARGE_MIN=4K" "$TMP/glibc.out" "$TMP/shim4k.out" >"$TMP/diff4k"; then
  it_fail "api_edge --semantics with TIERSHIM_LARGE_MIN=4K: expected identical stdout with and without the shim got a difference:"
  cat "$TMP/diff4k"
else
  it_pass "api_edge --semantics with TIERSHIM_LARGE_MIN=4K: identical to glibc"
fi

LD_PRELOAD=$LIB "$BIN" --full >"$TMP/full.out" 2>"$TMP/full.err"
rc=$?
grep '^INFO' "$TMP/full.err"
if [ $rc -ne 0 ]; then
  it_fail "api_edge --full under the shim: expected exit 0 got $rc"
  grep -v '^INFO' "$TMP/full.err"
else
  it_pass "api_edge --full (stats counters, large path, aligned_alloc vs the running glibc)"
fi
it_finish api_edge
