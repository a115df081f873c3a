#!/bin/bash
# publish.sh LIB CLI PROG: live stats (observe/publish.h, docs/operations.md).
# A program under the shim publishes /dev/shm/tiershim.<uid>/<pid> (file
# 0600 in a 0700 directory); `tiershim stat PID --json` parses and its
# malloc_calls rise between two reads; the text form shows the age; with
# TIERSHIM_PUBLISH=0 there is no file; the file goes when the program exits;
# stale pages (a pid that cannot exist; a live pid with another start time)
# are ignored and removed by `tiershim top --once`, and a new page sweeps
# the pages of dead processes of its directory; another uid's page is
# not readable by a non-root reader (run as root: the program as nobody,
# the reader as daemon, with setpriv), and root reads it.
set -u
. "$(dirname "$0")/it_lib.sh"
LIB=$1 CLI=$2 PROG=$3
it_clean_env
it_tmpdir
uid=$(id -u)
dir=/dev/shm/tiershim.$uid

start() { # start [ENV...]: the program under the shim, its pid in $pid
  env LD_PRELOAD="$LIB" "$@" "$PROG" 30 &
  pid=$!
  PIDS="$PIDS $pid"
}
wait_file() { # wait_file PATH: up to 5 s
  for _ in $(seq 50); do [ -e "$1" ] && return 0; sleep 0.1; done
  return 1
}
json_get() { # json_get KEY < json
  it_python -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"
}

start
page=$dir/$pid
if wait_file "$page"; then
  it_pass "page $page created"
  fm=$(stat -c %a "$page") dm=$(stat -c %a "$dir")
  [ "$fm" = 600 ] && [ "$dm" = 700 ] && it_pass "file mode $fm, directory mode $dm" \
    || it_fail "file mode $fm (want 600), directory mode $dm (want 700)"
else
  it_fail "no page $page after 5 s"
fi
sleep 0.7 # the first refresh is on the first large allocation; then every 500 ms
if "$CLI" stat "$pid" --json >"$TMP/s1.json" 2>"$TMP/s1.err" && m1=$(json_get malloc_calls <"$TMP/s1.json"); then
  sleep 1.2
  "$CLI" stat "$pid" --json >"$TMP/s2.json" 2>&1
  m2=$(json_get malloc_calls <"$TMP/s2.json" 2>/dev/null || echo 0)
  [ "$m1" -gt 0 ] && [ "$m2" -gt "$m1" ] && it_pass "stat --json parses; malloc_calls $m1 then $m2" \
    || it_fail "stat --json: malloc_calls $m1 then $m2 (want > 0 and rising)"
  p=$(json_get pid <"$TMP/s2.json")
  [ "$p" = "$pid" ] && it_pass "the document is the process's (pid $p)" || it_fail "document pid $p, want $pid"
else
  it_fail "tiershim stat $pid --json failed"; it_show "$TMP/s1.err" stderr; it_show "$TMP/s1.json" stdout
fi
"$CLI" stat "$pid" >"$TMP/text" 2>&1
grep -q "data .* s old" "$TMP/text" && grep -q "malloc_calls=" "$TMP/text" \
  && it_pass "stat text: the summary and the age of the data" || { it_fail "stat text"; it_show "$TMP/text" text; }
"$CLI" stat "$pid" --interval 0.3 >"$TMP/interval" 2>&1 &
ipid=$!
sleep 1; kill $ipid 2>/dev/null; wait $ipid 2>/dev/null
n=$(grep -c "s old" "$TMP/interval")
[ "$n" -ge 2 ] && it_pass "stat --interval 0.3: $n reports in 1 s" || it_fail "stat --interval: $n reports"

# TIERSHIM_PUBLISH=0
main=$pid
start TIERSHIM_PUBLISH=0
off=$pid pid=$main
sleep 1
if [ -e "$dir/$off" ]; then it_fail "TIERSHIM_PUBLISH=0: $dir/$off exists"
else it_pass "TIERSHIM_PUBLISH=0: no page"; fi
"$CLI" stat "$off" >/dev/null 2>"$TMP/off.err"; rc=$?
[ $rc = 1 ] && grep -q "pid $off" "$TMP/off.err" && it_pass "stat of an unpublished pid: exit 1 naming it" \
  || it_fail "stat $off: exit $rc, '$(cat "$TMP/off.err")'"
kill -TERM "$off"; wait "$off"

# exit removes the page
kill -TERM "$pid"; wait "$pid"; rc=$?
[ $rc = 0 ] || it_fail "the program exited $rc"
[ ! -e "$page" ] && it_pass "page removed at exit" || it_fail "$page still there after exit"

# stale pages: copies of a live page, one with a pid that cannot exist, one
# with a live pid (this shell) and another start time
start
wait_file "$dir/$pid" && sleep 0.7
pid_max=$(cat /proc/sys/kernel/pid_max)
fake=$((pid_max + 1))
it_python - "$dir/$pid" "$dir/$fake" "$dir/$$" "$$" <<'PY'
import struct, sys
src, dead, recycled, live = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
d = bytearray(open(src, 'rb').read())
# header: magic u64, layout u32, header_size u32, file_size u64, pid i32 (offset 24),
# uid u32, start_ticks u64 (offset 32)
struct.pack_into('<i', d, 24, int(dead.rsplit('/', 1)[1])); open(dead, 'wb').write(d)
struct.pack_into('<i', d, 24, live); struct.pack_into('<Q', d, 32, 1); open(recycled, 'wb').write(d)
PY
"$CLI" top --once >"$TMP/top" 2>&1
if grep -qw "$pid" "$TMP/top" && ! grep -qw "$fake" "$TMP/top" && ! grep -qE "^ *$$ " "$TMP/top"; then
  it_pass "top --once lists the program and not the stale pages"
else
  it_fail "top --once"; it_show "$TMP/top" top
fi
[ ! -e "$dir/$fake" ] && [ ! -e "$dir/$$" ] && it_pass "stale pages removed by the reader" \
  || it_fail "stale pages left: $(ls "$dir")"
# a new publisher sweeps the pages of dead processes of its directory
cp "$dir/$pid" "$TMP/page"
it_python - "$TMP/page" "$dir/$fake" <<'PY'
import struct, sys
d = bytearray(open(sys.argv[1], 'rb').read())
struct.pack_into('<i', d, 24, int(sys.argv[2].rsplit('/', 1)[1])); open(sys.argv[2], 'wb').write(d)
PY
kill -TERM "$pid"; wait "$pid"
start
wait_file "$dir/$pid"
[ ! -e "$dir/$fake" ] && it_pass "a new page sweeps a dead process's page" \
  || it_fail "dead process's page $dir/$fake left after a new page was made"
# a shell (dash ends with _exit: no destructor) never reaches a slow path,
# so it makes no page and leaves none behind
env LD_PRELOAD="$LIB" sh -c 'echo $$ > "$1"; exit 0' sh "$TMP/shpid"
[ -s "$TMP/shpid" ] && [ ! -e "$dir/$(cat "$TMP/shpid")" ] && it_pass "a short shell leaves no page" \
  || it_fail "a page left by sh (pid $(cat "$TMP/shpid"))"
kill -TERM "$pid"; wait "$pid"

# another uid's page
if [ "$uid" != 0 ]; then
  echo "SKIP: other-uid check: needs root to run the program as another user (running as uid $uid)"
elif ! command -v setpriv >/dev/null; then
  echo "SKIP: other-uid check: setpriv (util-linux) missing"
elif ! setpriv --reuid=nobody --regid=nogroup --clear-groups test -r "$LIB" -a -x "$PROG" 2>/dev/null; then
  echo "SKIP: other-uid check: nobody cannot reach $PROG or $LIB (build tree not world-readable)"
else
  setpriv --reuid=nobody --regid=nogroup --clear-groups env LD_PRELOAD="$LIB" "$PROG" 30 &
  npid=$!
  PIDS="$PIDS $npid"
  nuid=$(id -u nobody)
  if wait_file "/dev/shm/tiershim.$nuid/$npid"; then
    sleep 0.7
    setpriv --reuid=daemon --regid=daemon --clear-groups "$CLI" stat "$npid" >/dev/null 2>"$TMP/deny.err"; rc=$?
    [ $rc = 1 ] && grep -q "not readable" "$TMP/deny.err" \
      && it_pass "another uid's page: not readable by a non-root reader (exit 1: $(cat "$TMP/deny.err"))" \
      || it_fail "non-root reader of nobody's page: exit $rc, '$(cat "$TMP/deny.err")'"
    setpriv --reuid=daemon --regid=daemon --clear-groups "$CLI" top --once >"$TMP/dtop" 2>&1
    grep -qw "$npid" "$TMP/dtop" && it_fail "daemon's top lists nobody's process" \
      || it_pass "a non-root top lists only its own uid's processes"
    "$CLI" stat "$npid" --json >"$TMP/root.json" 2>&1 && [ "$(json_get pid <"$TMP/root.json")" = "$npid" ] \
      && it_pass "root reads nobody's page" || { it_fail "root cannot read nobody's page"; it_show "$TMP/root.json" out; }
  else
    it_fail "no page for the program run as nobody"
  fi
  kill -TERM "$npid"; wait "$npid"
fi
it_finish publish
