#!/bin/bash
# fidelity.sh LIB FIDELITY_BIN GROUP
# What a program observes of its memory under tiershim is the kernel's and
# glibc's (fidelity.c lists the cases). GROUP:
#   zero     stray writes never show through memory handed out as zero, in
#            every THP mode and unmap backend, 1 and 4 threads, and strict
#   signals  200,000 handlers calling the mmap family, 200,000 calling large
#            malloc/free, and forks from handlers: none hangs
#   kernel   vmaflags, dontfork, badargs, brk: stdout identical to the run
#            without the shim, in the default mode, strict, each THP mode
#   limits   RLIMIT_MEMLOCK, RLIMIT_DATA, RLIMIT_AS, sparse touches
set -u
. "$(dirname "$0")/it_lib.sh"
LIB=$1 BIN=$2 GROUP=$3
it_clean_env
it_tmpdir

# run NAME [VAR=VALUE...] -- CASE [N]: under the shim, checks exit 0
run() {
  local name=$1 vars=(); shift
  while [ $# -gt 0 ] && [ "$1" != -- ]; do vars+=("$1"); shift; done
  shift
  local t0=$SECONDS
  env "${vars[@]}" LD_PRELOAD="$LIB" "$BIN" "$@" >"$TMP/$name.out" 2>"$TMP/$name.err"
  local rc=$?
  if [ $rc -ne 0 ]; then
    it_fail "fidelity $* (${vars[*]}): expected exit 0 got $rc"
    grep -m 10 -h . "$TMP/$name.err" "$TMP/$name.out"
  else
    it_pass "fidelity $* (${vars[*]}) in $((SECONDS - t0)) s: $(tail -n 2 "$TMP/$name.out" | tr '\n' ' ')"
  fi
}

# kernel CASE [VAR=VALUE...]: stdout under the shim equals the plain run's
kernel() {
  local c=$1; shift
  local name="k_${c}_$(echo "$*" | tr -c 'A-Za-z0-9' _)"
  env LD_PRELOAD="$LIB" "$@" "$BIN" "$c" >"$TMP/$name.out" 2>"$TMP/$name.err"
  local rc=$?
  if [ $rc -ne 0 ]; then
    it_fail "fidelity $c under the shim ($*): expected exit 0 got $rc"
    head -n 20 "$TMP/$name.err"
  elif ! diff -u --label "kernel (no shim)" --label "tiershim $*" "$TMP/plain_$c.out" "$TMP/$name.out" >"$TMP/$name.diff"; then
    it_fail "fidelity $c ($*): expected stdout identical to the run without the shim got a difference:"
    head -n 40 "$TMP/$name.diff"
  else
    it_pass "fidelity $c ($*): $(wc -l <"$TMP/$name.out") lines identical to the kernel's"
  fi
}

case $GROUP in
zero)
  for thp in auto fault collapse off; do
    for unmap in batch munmap kmod; do
      run "zero_${thp}_$unmap" TIERSHIM_THP=$thp TIERSHIM_UNMAP=$unmap -- zero 4
    done
  done
  run zero_one -- zero 1
  run zero_strict TIERSHIM_MUNMAP=strict -- zero 4
  run zero_retain TIERSHIM_RETAIN_MAX=2M -- zero 4
  ;;
signals)
  run signals -- signals 200000
  run sigmalloc -- sigmalloc 200000
  run sigfork -- sigfork 2000
  run sigfork_thp_off TIERSHIM_THP=off -- sigfork 1000
  ;;
kernel)
  for c in vmaflags dontfork badargs brk; do
    "$BIN" "$c" >"$TMP/plain_$c.out" 2>"$TMP/plain_$c.err" ||
      { it_fail "fidelity $c without the shim: expected exit 0 got $? (the test's expectations are wrong)"; continue; }
    kernel "$c"
    kernel "$c" TIERSHIM_MUNMAP=strict
    for thp in fault collapse off; do kernel "$c" TIERSHIM_THP=$thp; done
    kernel "$c" TIERSHIM_UNMAP=munmap
  done
  ;;
limits)
  for c in memlock limits aslimit; do
    "$BIN" "$c" >"$TMP/plain_$c.out" 2>&1 || it_fail "fidelity $c without the shim: expected exit 0 got $?"
    run "$c" -- "$c"
  done
  run sparse -- sparse
  run sparse_fault TIERSHIM_THP=fault -- sparse
  ;;
*) echo "fidelity.sh: unknown group $GROUP"; exit 2 ;;
esac
it_finish "fidelity $GROUP"
