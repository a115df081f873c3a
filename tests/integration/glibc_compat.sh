#!/bin/bash
# glibc_compat.sh LIB BIN CASE [SECONDS [VAR=VALUE]]
# Runs one case of glibc_compat (see glibc_compat.c) twice:
#  1. without the shim: must pass (the expectation is what glibc 2.36 does);
#  2. with LD_PRELOAD=LIB and --shim: must pass too;
#  3. with VAR=VALUE given: under the shim again with that setting.
# Each run is limited to SECONDS (default 60) of wall time by timeout(1); the
# fork cases also stop themselves after 20 s without progress.
set -u
. "$(dirname "$0")/it_lib.sh"
LIB=$1 BIN=$2 CASE=$3 SECS=${4:-60} EXTRA=${5:-}
it_clean_env
it_tmpdir

run() { # run LABEL [ENV...] -- ARGS...
  local label=$1; shift
  local start=$SECONDS rc
  timeout -k 5 "$SECS" env "$@" >"$TMP/$label.out" 2>&1
  rc=$?
  local took=$((SECONDS - start))
  if [ $rc -eq 0 ]; then
    sed "s/^/[$label] /" "$TMP/$label.out"
    it_pass "glibc_compat $CASE $label (${took} s)"
  else
    head -n 80 "$TMP/$label.out" | sed "s/^/[$label] /"
    case $rc in
      124|137) it_fail "glibc_compat $CASE $label: expected exit 0 within $SECS s got killed by the timeout (hang)";;
      *) it_fail "glibc_compat $CASE $label: expected exit 0 got $rc";;
    esac
  fi
}

run glibc "$BIN" "$CASE"
if [ "$IT_FAILED" -ne 0 ]; then
  echo "INFO: the case fails under plain glibc: its expectation is wrong (or this glibc differs from 2.36)"
fi
run tiershim LD_PRELOAD="$LIB" "$BIN" "$CASE" --shim
if [ -n "$EXTRA" ]; then
  run "tiershim-$EXTRA" "$EXTRA" LD_PRELOAD="$LIB" "$BIN" "$CASE" --shim
fi
it_finish "glibc_compat $CASE"
