#!/bin/bash
# cli.sh CLI LIB SMALL_PROG VERSION OTHER_PRELOAD_SO
# The tiershim command line: version, options, run (LD_PRELOAD handling,
# --set, --stats, exit codes) and its errors. The CLI itself never runs
# under LD_PRELOAD here (except where an unrelated library is preloaded to
# check that an existing LD_PRELOAD entry is kept).
set -u
. "$(dirname "$0")/it_lib.sh"
CLI=$1 LIB=$2 PROG=$3 VERSION=$4 OTHER=$5
it_clean_env
it_tmpdir
LIBREAL=$(readlink -f "$LIB")

# expect_rc NAME WANT_RC [--msg] -- CMD...: runs CMD, checks its exit code
# (and with --msg that stderr has a 'tiershim:' message).
expect_rc() {
  local name=$1 want=$2 msg=0 rc f0=$IT_FAILED
  shift 2
  [ "$1" = --msg ] && { msg=1; shift; }
  [ "$1" = -- ] && shift
  "$@" >"$TMP/$name.out" 2>"$TMP/$name.err"
  rc=$?
  if [ "$rc" -ne "$want" ]; then
    it_fail "$name: '$*': expected exit $want got $rc"
    it_show "$TMP/$name.err" stderr
  fi
  if [ $msg -eq 1 ] && ! grep -q '^tiershim:' "$TMP/$name.err"; then
    it_fail "$name: '$*': expected a 'tiershim:' message on stderr got: '$(head -c 300 "$TMP/$name.err")'"
  fi
  [ $IT_FAILED -eq $f0 ]
}

# version
if expect_rc version 0 -- "$CLI" version; then
  grep -qF "$VERSION" "$TMP/version.out" \
    && it_pass "tiershim version: $(head -1 "$TMP/version.out")" \
    || it_fail "tiershim version: expected '$VERSION' in the output got '$(cat "$TMP/version.out")'"
fi

# options: every TIERSHIM_ variable
if expect_rc options 0 -- "$CLI" options; then
  f0=$IT_FAILED
  for v in TIERSHIM_ENABLE TIERSHIM_VERBOSE TIERSHIM_STATS TIERSHIM_LARGE_MIN; do
    grep -q "$v" "$TMP/options.out" || it_fail "tiershim options: expected $v listed got:$(echo; cat "$TMP/options.out")"
  done
  [ $IT_FAILED -eq $f0 ] && it_pass "tiershim options lists TIERSHIM_ENABLE, _VERBOSE, _STATS, _LARGE_MIN"
fi

# run: exit code passes through
expect_rc exit7 7 -- "$CLI" run -- sh -c 'exit 7' && it_pass "tiershim run -- sh -c 'exit 7' -> 7"
expect_rc exit0 0 -- "$CLI" run -- true && it_pass "tiershim run -- true -> 0"

# run: LD_PRELOAD with the library's absolute path first
check_preload() { # check_preload NAME: checks LD_PRELOAD= in $TMP/NAME.out; sets FIRST, REST
  local lp
  lp=$(sed -n 's/^LD_PRELOAD=//p' "$TMP/$1.out")
  FIRST=$(echo "$lp" | tr ': ' '\n\n' | sed -n 1p)
  REST=$(echo "$lp" | tr ': ' '\n\n' | sed -n '2,$p')
  if [ -z "$lp" ]; then
    it_fail "$1: expected LD_PRELOAD in the child's environment got none"; return 1
  fi
  case $FIRST in
    /*) ;;
    *) it_fail "$1: expected an absolute library path first in LD_PRELOAD got '$lp'"; return 1;;
  esac
  if [ "$(readlink -f "$FIRST")" != "$LIBREAL" ]; then
    it_fail "$1: expected LD_PRELOAD to start with the library ($LIB) got '$lp'"; return 1
  fi
  return 0
}
if expect_rc env 0 -- "$CLI" run -- env; then
  check_preload env && it_pass "tiershim run -- env: LD_PRELOAD=$(sed -n 's/^LD_PRELOAD=//p' "$TMP/env.out")"
fi
# an existing LD_PRELOAD entry is kept, after the library
if expect_rc env2 0 -- env LD_PRELOAD="$OTHER" "$CLI" run -- env; then
  if check_preload env2; then
    if echo "$REST" | grep -qxF "$OTHER"; then
      it_pass "existing LD_PRELOAD kept after the library: $(sed -n 's/^LD_PRELOAD=//p' "$TMP/env2.out")"
    else
      it_fail "existing LD_PRELOAD=$OTHER: expected it kept after the library got '$(sed -n 's/^LD_PRELOAD=//p' "$TMP/env2.out")'"
    fi
  fi
fi
# the program really runs under the shim
if expect_rc report 0 -- "$CLI" run -- "$PROG" --report; then
  grep -q '^shim=found enabled=1 ' "$TMP/report.out" \
    && it_pass "tiershim run -- small_prog: shim active ($(grep '^shim=' "$TMP/report.out"))" \
    || it_fail "tiershim run -- small_prog --report: expected 'shim=found enabled=1' got '$(grep '^shim=' "$TMP/report.out")'"
fi

# --set
for form in LARGE_MIN TIERSHIM_LARGE_MIN; do
  if expect_rc "set_$form" 0 -- "$CLI" run --set "$form=1M" -- env; then
    grep -qx 'TIERSHIM_LARGE_MIN=1M' "$TMP/set_$form.out" \
      && it_pass "--set $form=1M -> TIERSHIM_LARGE_MIN=1M in the child" \
      || it_fail "--set $form=1M: expected TIERSHIM_LARGE_MIN=1M in the child's environment got '$(grep TIERSHIM "$TMP/set_$form.out")'"
  fi
done
if expect_rc set_effect 0 -- "$CLI" run --set LARGE_MIN=1M --set ENABLE=1 -- "$PROG" --report; then
  grep -q ' large_delta=1 ' "$TMP/set_effect.out" \
    && it_pass "--set LARGE_MIN=1M takes effect (large_delta=1)" \
    || it_fail "--set LARGE_MIN=1M: expected large_delta=1 (only the 2 MiB block) got '$(grep '^shim=' "$TMP/set_effect.out")'"
fi

# --stats -
if expect_rc stats_stderr 0 -- "$CLI" run --stats - -- "$PROG"; then
  grep -q '^tiershim: stats' "$TMP/stats_stderr.err" \
    && it_pass "--stats -: summary on stderr" \
    || it_fail "--stats -: expected a 'tiershim: stats' line on stderr got '$(head -c 300 "$TMP/stats_stderr.err")'"
  grep -q '^small_prog: hello' "$TMP/stats_stderr.out" || it_fail "--stats -: expected the program's stdout unchanged"
fi
# --stats FILE
if expect_rc stats_file 0 -- "$CLI" run --stats "$TMP/cli-stats.json" -- "$PROG"; then
  if [ ! -s "$TMP/cli-stats.json" ]; then
    it_fail "--stats FILE: expected $TMP/cli-stats.json written got none"
  elif it_python -c '
import json, sys
d = json.load(open(sys.argv[1]))
assert isinstance(d, dict) and d.get("malloc_calls", 0) > 0, "malloc_calls: expected > 0 got %r" % d.get("malloc_calls")
' "$TMP/cli-stats.json" 2>"$TMP/cli-json.err"; then
    it_pass "--stats FILE writes a JSON document with malloc_calls > 0"
  else
    it_fail "--stats FILE: expected valid JSON with malloc_calls > 0: $(tail -1 "$TMP/cli-json.err"); content: $(head -c 300 "$TMP/cli-stats.json")"
  fi
fi

# errors
expect_rc unknown 2 --msg -- "$CLI" frobnicate && it_pass "unknown command -> 2: $(head -1 "$TMP/unknown.err")"
expect_rc nodash 2 --msg -- "$CLI" run "$PROG" && it_pass "run without '--' -> 2: $(head -1 "$TMP/nodash.err")"
expect_rc noprog 127 --msg -- "$CLI" run -- "$TMP/no-such-program" && it_pass "nonexistent program -> 127: $(head -1 "$TMP/noprog.err")"
expect_rc nopath 127 --msg -- "$CLI" run -- tiershim-no-such-command-in-path \
  && it_pass "command not in PATH -> 127"
printf '#!/bin/sh\necho should not run\n' >"$TMP/not-executable"
chmod 644 "$TMP/not-executable"
expect_rc noexec 126 --msg -- "$CLI" run -- "$TMP/not-executable" && it_pass "non-executable file -> 126: $(head -1 "$TMP/noexec.err")"
grep -q 'should not run' "$TMP/noexec.out" && it_fail "non-executable file: expected it not run"

# migrate --pid acts only on the process it opened (a pidfd): one that has
# exited, reaped or not (a zombie keeps its pid, and /proc/PID/maps of a
# zombie reads empty), is refused, never reported as migrated.
node=$(sed 's/[-,].*//' /sys/devices/system/node/has_memory 2>/dev/null)
if [ -n "$node" ]; then
  sleep 0 & gone=$!
  wait $gone
  if expect_rc mig_reaped 1 -- "$CLI" migrate --pid $gone --to "$node"; then
    grep -q "no such process: $gone" "$TMP/mig_reaped.err" && [ ! -s "$TMP/mig_reaped.out" ] \
      && it_pass "migrate --pid of an exited, reaped pid -> 1: $(head -1 "$TMP/mig_reaped.err")" \
      || { it_fail "migrate --pid of a reaped pid: expected 'no such process' and no summary"; it_show "$TMP/mig_reaped.err" stderr; }
  fi
  # a child that exits while its parent (now `sleep 30`) never waits for it.
  # The child exits only once the parent has become `sleep`: had it exited
  # before the exec, the shell could have reaped it (no zombie, a flaky test
  # on a busy machine). In sh, $$ in the subshell is still the parent's pid.
  sh -c '(while [ "$(cat /proc/$$/comm 2>/dev/null)" != sleep ]; do sleep 0.05; done) &
         echo $! >"$1"; exec sleep 30' sh "$TMP/zombie.pid" & zparent=$!
  zpid=
  for _ in $(seq 200); do
    zpid=$(cat "$TMP/zombie.pid" 2>/dev/null)
    [ -n "$zpid" ] && grep -q '^State:.*Z' "/proc/$zpid/status" 2>/dev/null && break
    sleep 0.1
  done
  if [ -n "$zpid" ] && grep -q '^State:.*Z' "/proc/$zpid/status" 2>/dev/null; then
    if expect_rc mig_zombie 1 -- "$CLI" migrate --pid "$zpid" --to "$node"; then
      grep -q "process $zpid has exited" "$TMP/mig_zombie.err" && [ ! -s "$TMP/mig_zombie.out" ] \
        && it_pass "migrate --pid of an exited, unreaped pid (zombie) -> 1: $(head -1 "$TMP/mig_zombie.err")" \
        || { it_fail "migrate --pid of a zombie: expected 'has exited' and no summary"; it_show "$TMP/mig_zombie.err" stderr; }
    else
      it_show "$TMP/mig_zombie.out" stdout
    fi
  else
    it_fail "could not make a zombie to migrate (pid '$zpid')"
  fi
  kill "$zparent" 2>/dev/null
  wait "$zparent" 2>/dev/null
  sleep 5 & live=$!
  expect_rc mig_live 0 -- "$CLI" migrate --pid $live --to "$node" \
    && grep -q "pid $live -> node $node" "$TMP/mig_live.out" \
    && it_pass "migrate --pid of a live process -> 0: $(head -1 "$TMP/mig_live.out")"
  kill $live 2>/dev/null
  wait $live 2>/dev/null
else
  it_info "no /sys/devices/system/node/has_memory: migrate cases skipped"
fi
# --help/-h: every subcommand prints its usage on stdout and exits 0 (run:
# only before `--`, after it the option is the command's); errors name the
# bad argument.
for sub in run options topo migrate rules stat top exporter version; do
  for h in --help -h; do
    if expect_rc "help_${sub}${h}" 0 -- "$CLI" "$sub" "$h"; then
      if grep -q "^usage: tiershim $sub" "$TMP/help_${sub}${h}.out" && [ ! -s "$TMP/help_${sub}${h}.err" ]; then
        it_pass "tiershim $sub $h: usage on stdout, exit 0"
      else
        it_fail "tiershim $sub $h: expected 'usage: tiershim $sub' on stdout, nothing on stderr; got '$(head -c 200 "$TMP/help_${sub}${h}.out")' / '$(head -c 200 "$TMP/help_${sub}${h}.err")'"
      fi
    fi
  done
done
expect_rc help_migrate_late 0 -- "$CLI" migrate --pid 1 --help
expect_rc help_run_cmd 0 -- "$CLI" run -- sh -c 'echo "$1"' sh --help \
  && grep -qx -- --help "$TMP/help_run_cmd.out" \
  && it_pass "tiershim run -- CMD --help: the --help is the command's" \
  || it_fail "tiershim run -- CMD --help: expected the command to get --help, got '$(cat "$TMP/help_run_cmd.out")'"
for bad in "stat --bogus" "stat 12x" "stat 1 --interval -3" "top --bogus" "top --interval x" "exporter --listen nocolon" "exporter --what"; do
  set -- $bad
  arg=${bad##* }
  if expect_rc "bad_${1}" 2 -- "$CLI" $bad; then
    grep -qF -- "$arg" "$TMP/bad_${1}.err" && it_pass "tiershim $bad: exit 2 naming '$arg'" \
      || it_fail "tiershim $bad: the message does not name '$arg': $(head -c 200 "$TMP/bad_${1}.err")"
  fi
done
expect_rc stat_nopage 1 -- "$CLI" stat 999999999
grep -q "999999999" "$TMP/stat_nopage.err" && it_pass "tiershim stat of a pid without a page: exit 1 naming the pid" \
  || it_fail "tiershim stat 999999999: the message does not name the pid: $(cat "$TMP/stat_nopage.err")"

it_finish cli
