#!/bin/bash
# numa_ctor.sh LIB NUMA_CTOR_BIN
# Runs numa_ctor (linked with -lnuma) under the shim with TIERSHIM_STATS=1:
# it must succeed and the stats summary must appear on stderr.
set -u
LIB=$1 BIN=$2
unset LD_PRELOAD TIERSHIM_ENABLE TIERSHIM_VERBOSE TIERSHIM_STATS TIERSHIM_LARGE_MIN
TMP=$(mktemp -d) || exit 1
trap 'rm -rf "$TMP"' EXIT
fail=0
LD_PRELOAD=$LIB TIERSHIM_STATS=1 "$BIN" >"$TMP/out" 2>"$TMP/err"
rc=$?
cat "$TMP/out"
if [ $rc -ne 0 ]; then
  echo "FAIL: numa_ctor under the shim: expected exit 0 got $rc; stderr:"; cat "$TMP/err"
  fail=1
fi
if ! grep -q '^tiershim: stats' "$TMP/err"; then
  echo "FAIL: numa_ctor with TIERSHIM_STATS=1: expected a 'tiershim: stats' line on stderr got:"
  cat "$TMP/err"
  fail=1
fi
if grep -q '^FAIL' "$TMP/err"; then
  echo "FAIL: numa_ctor reported failures:"; grep '^FAIL' "$TMP/err"; fail=1
fi
[ $fail -eq 0 ] && echo "PASS: numa_ctor (libnuma constructor + numa_alloc_local under the shim)"
exit $fail
