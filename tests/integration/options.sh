#!/bin/bash
# options.sh LIB SMALL_PROG
# Invalid TIERSHIM_* values: exactly one warning line each, the program's
# output and exit code unchanged, the default used. TIERSHIM_VERBOSE=1
# prints the configuration. TIERSHIM_ENABLE=0 keeps the interposition but
# turns the policies (large path) off. Valid LARGE_MIN values take effect.
set -u
. "$(dirname "$0")/it_lib.sh"
LIB=$1 PROG=$2
it_clean_env
it_tmpdir

run() { # run NAME [VAR=VALUE...]: small_prog --report --exit 4 under the shim
  local name=$1; shift
  env "$@" LD_PRELOAD="$LIB" "$PROG" --report --exit 4 >"$TMP/$name.out" 2>"$TMP/$name.err"
  echo $? >"$TMP/$name.rc"
}

run base
[ "$(cat "$TMP/base.rc")" = 4 ] || it_fail "baseline: exit code: expected 4 got $(cat "$TMP/base.rc")"
want="shim=found enabled=1 malloc_rise=ok large_delta=2"
grep -q "^$want " "$TMP/base.out" \
  || it_fail "baseline (defaults): expected a report line starting '$want' (300 KiB and 2 MiB >= 256 KiB, 100 KiB not) got: $(grep '^shim=' "$TMP/base.out")"
[ -s "$TMP/base.err" ] && it_fail "baseline: expected nothing on stderr got: $(head -c 300 "$TMP/base.err")"

check_bad() { # check_bad VAR VALUE
  local var=$1 val=$2 name f0=$IT_FAILED
  name=bad_$(echo "$var$val" | tr -c 'A-Za-z0-9' _)
  run "$name" "$var=$val"
  local rc n line
  rc=$(cat "$TMP/$name.rc")
  [ "$rc" = 4 ] || it_fail "$var=$val: exit code: expected 4 got $rc"
  cmp -s "$TMP/$name.out" "$TMP/base.out" || {
    it_fail "$var=$val: expected stdout identical to the default run (default used) got:"
    diff "$TMP/base.out" "$TMP/$name.out"
  }
  n=$(grep -c '^tiershim: ' "$TMP/$name.err")
  if [ "$n" -ne 1 ]; then
    it_fail "$var=$val: expected exactly 1 'tiershim:' line on stderr got $n:"; cat "$TMP/$name.err"
  fi
  n=$(grep -c -v '^tiershim: ' "$TMP/$name.err")
  [ "$n" -eq 0 ] || { it_fail "$var=$val: expected no other stderr output got:"; cat "$TMP/$name.err"; }
  line=$(grep -m1 '^tiershim: ' "$TMP/$name.err")
  case $line in
    "tiershim: $var=$val: "?*"; using "?*) ;;
    *) it_fail "$var=$val: expected the warning 'tiershim: $var=$val: <why>; using <default>' got '$line'";;
  esac
  [ $IT_FAILED -eq $f0 ] && it_pass "$var=$val -> '$line'"
}

check_bad TIERSHIM_LARGE_MIN banana
check_bad TIERSHIM_LARGE_MIN 12Q
check_bad TIERSHIM_LARGE_MIN -5
check_bad TIERSHIM_LARGE_MIN 99999999999G
check_bad TIERSHIM_ENABLE maybe
check_bad TIERSHIM_ENABLE 2
check_bad TIERSHIM_VERBOSE 9
check_bad TIERSHIM_VERBOSE x
check_bad TIERSHIM_STATS bogus

# two bad values at once: one line each
run two TIERSHIM_LARGE_MIN=banana TIERSHIM_ENABLE=maybe
n=$(grep -c '^tiershim: TIERSHIM_' "$TMP/two.err")
[ "$n" -eq 2 ] || { it_fail "two bad values: expected 2 warning lines got $n:"; cat "$TMP/two.err"; }
cmp -s "$TMP/two.out" "$TMP/base.out" || it_fail "two bad values: expected stdout unchanged"

# TIERSHIM_VERBOSE=1: the effective configuration, all lines 'tiershim:'
f0=$IT_FAILED
run verbose TIERSHIM_VERBOSE=1 TIERSHIM_LARGE_MIN=1M
[ "$(cat "$TMP/verbose.rc")" = 4 ] || it_fail "TIERSHIM_VERBOSE=1: exit code: expected 4"
n=$(grep -c '^tiershim:' "$TMP/verbose.err")
[ "$n" -ge 1 ] || it_fail "TIERSHIM_VERBOSE=1: expected configuration lines starting with 'tiershim:' got none"
n=$(grep -c -v '^tiershim:' "$TMP/verbose.err")
[ "$n" -eq 0 ] || { it_fail "TIERSHIM_VERBOSE=1: expected only 'tiershim:' lines on stderr got:"; cat "$TMP/verbose.err"; }
grep -qi 'large' "$TMP/verbose.err" \
  || { it_fail "TIERSHIM_VERBOSE=1: expected the configuration to mention the large threshold (LARGE_MIN) got:"; cat "$TMP/verbose.err"; }
grep -i 'large' "$TMP/verbose.err" | grep -Eqi '1M|1048576|1024K|1 ?MiB' \
  || { it_fail "TIERSHIM_VERBOSE=1 TIERSHIM_LARGE_MIN=1M: expected the effective value (1M / 1048576) in the configuration got:"; cat "$TMP/verbose.err"; }
grep -q 'large_delta=1 ' "$TMP/verbose.out" || it_fail "TIERSHIM_VERBOSE=1: program report changed: $(grep shim= "$TMP/verbose.out")"
[ $IT_FAILED -eq $f0 ] && { it_pass "TIERSHIM_VERBOSE=1 prints the configuration:"; sed 's/^/    /' "$TMP/verbose.err"; }
run verbose0 TIERSHIM_VERBOSE=0
[ -s "$TMP/verbose0.err" ] && it_fail "TIERSHIM_VERBOSE=0: expected silence got: $(head -c 300 "$TMP/verbose0.err")"
run verbose2 TIERSHIM_VERBOSE=2
[ "$(cat "$TMP/verbose2.rc")" = 4 ] || it_fail "TIERSHIM_VERBOSE=2: exit code: expected 4"
cmp -s "$TMP/verbose2.out" "$TMP/base.out" || it_fail "TIERSHIM_VERBOSE=2: expected stdout unchanged"
grep -q -v '^tiershim:' "$TMP/verbose2.err" && { it_fail "TIERSHIM_VERBOSE=2: expected only 'tiershim:' lines on stderr got:"; head "$TMP/verbose2.err"; }

# TIERSHIM_ENABLE=0: still interposed, policies off
f0=$IT_FAILED
run disabled TIERSHIM_ENABLE=0
[ "$(cat "$TMP/disabled.rc")" = 4 ] || it_fail "TIERSHIM_ENABLE=0: exit code: expected 4"
want="shim=found enabled=0 malloc_rise=ok large_delta=0 large_total=0"
grep -qx "$want" "$TMP/disabled.out" \
  || it_fail "TIERSHIM_ENABLE=0: expected '$want' (interposed: stats found, malloc_calls rises; tiershim_enabled()=0; large_allocs stays 0) got '$(grep '^shim=' "$TMP/disabled.out")'"
[ -s "$TMP/disabled.err" ] && it_fail "TIERSHIM_ENABLE=0: expected nothing on stderr got: $(head -c 300 "$TMP/disabled.err")"
[ $IT_FAILED -eq $f0 ] && it_pass "TIERSHIM_ENABLE=0: $(grep '^shim=' "$TMP/disabled.out")"
run enabled1 TIERSHIM_ENABLE=1
cmp -s "$TMP/enabled1.out" "$TMP/base.out" || it_fail "TIERSHIM_ENABLE=1: expected the same as the default"

# valid TIERSHIM_LARGE_MIN values take effect (blocks: 100 KiB, 300 KiB, 2 MiB)
f0=$IT_FAILED
for spec in 1M:1 1048576:1 64K:3 65536:3 1G:0 2M:1 3M:0 300K:2; do
  val=${spec%:*} want=${spec#*:}
  run "lm_$val" "TIERSHIM_LARGE_MIN=$val"
  got=$(sed -n 's/.* large_delta=\([0-9]*\).*/\1/p' "$TMP/lm_$val.out")
  if [ "$got" != "$want" ]; then
    it_fail "TIERSHIM_LARGE_MIN=$val: expected large_delta=$want got '$got'"
  fi
  [ -s "$TMP/lm_$val.err" ] && it_fail "TIERSHIM_LARGE_MIN=$val (valid): expected no warning got: $(cat "$TMP/lm_$val.err")"
done
[ $IT_FAILED -eq $f0 ] && it_pass "valid TIERSHIM_LARGE_MIN values (1M 1048576 64K 65536 1G 2M 3M 300K) take effect"
# TIERSHIM_HEAP_DECOMMIT_DELAY sets mimalloc's decommit delay (250 ms by
# default, mimalloc's own is 25); a MIMALLOC_ setting of the user wins, in
# any case and under its old name; ENABLE=0 leaves mimalloc's default.
f0=$IT_FAILED
hd() { # hd WANT VAR=VALUE...
  local want=$1 got; shift
  got=$(env "$@" LD_PRELOAD="$LIB" "$PROG" --heap-delay 2>"$TMP/hd.err" | sed -n 's/^heap_decommit_delay=//p')
  [ "$got" = "$want" ] || it_fail "heap decommit delay with '$*': expected $want got '$got'"
  [ -s "$TMP/hd.err" ] && it_fail "heap decommit delay with '$*': expected nothing on stderr got: $(head -c 300 "$TMP/hd.err")"
}
got=$("$PROG" --heap-delay | sed -n 's/^heap_decommit_delay=//p')
[ "$got" = absent ] || it_fail "without the shim: expected no mimalloc got '$got'"
hd 250 A=1
hd 40 TIERSHIM_HEAP_DECOMMIT_DELAY=40
hd 0 TIERSHIM_HEAP_DECOMMIT_DELAY=0
hd 7 MIMALLOC_DECOMMIT_DELAY=7
hd 7 TIERSHIM_HEAP_DECOMMIT_DELAY=40 mimalloc_decommit_delay=7
hd 9 MIMALLOC_RESET_DELAY=9
hd 25 TIERSHIM_ENABLE=0
[ $IT_FAILED -eq $f0 ] && it_pass "TIERSHIM_HEAP_DECOMMIT_DELAY: 250 by default, the value set, a MIMALLOC_ setting wins, ENABLE=0 leaves mimalloc's 25"
check_bad TIERSHIM_HEAP_DECOMMIT_DELAY soon

it_finish options
