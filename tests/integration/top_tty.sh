#!/bin/bash
# top_tty.sh LIB CLI PROG: `tiershim top` in a real terminal (a tmux pane):
# the screen shows the header and the program's pid; `q` and Enter quits,
# and the pane's process is gone. Skips (77) when tmux cannot be had.
set -u
. "$(dirname "$0")/it_lib.sh"
LIB=$1 CLI=$2 PROG=$3
it_clean_env
it_tmpdir
if ! it_need tmux tmux; then
  echo "SKIP: top_tty: tmux is not installed and cannot be installed (apt-get install tmux)"
  exit 77
fi
SOCK=$TMP/tmux.sock
IT_CLEANUP='tmux -S "$SOCK" kill-server 2>/dev/null'

it_start_published "$LIB" "$PROG" 30

pane=$(TERM=xterm tmux -S "$SOCK" -f /dev/null new-session -d -P -F '#{pane_pid}' -s top -x 150 -y 40 \
        "$CLI" top --interval 0.5)
if [ -z "$pane" ]; then
  it_fail "tmux new-session did not start"
  it_finish top_tty
fi
seen=0
for _ in $(seq 50); do
  tmux -S "$SOCK" capture-pane -p -t top >"$TMP/screen" 2>/dev/null
  if grep -q "tiershim top" "$TMP/screen" && grep -q "ANON RSS" "$TMP/screen" && grep -qE "^ *$pid +publish_prog" "$TMP/screen"; then
    seen=1
    break
  fi
  sleep 0.1
done
[ $seen = 1 ] && it_pass "the pane shows the header and pid $pid" || { it_fail "screen"; it_show "$TMP/screen" screen; }
grep -q "q and Enter" "$TMP/screen" && it_pass "the screen says how to quit" || it_fail "no quit hint on screen"
tmux -S "$SOCK" send-keys -t top q Enter
gone=0
for _ in $(seq 50); do
  kill -0 "$pane" 2>/dev/null || { gone=1; break; }
  sleep 0.1
done
[ $gone = 1 ] && it_pass "q Enter: top (pid $pane) exited" || it_fail "top still running 5 s after q Enter"
kill -TERM "$pid"; wait "$pid"
it_finish top_tty
