# Sourced by the integration shell tests. Not executable on its own.
#
# Every test script receives the paths it needs as arguments (CMake passes
# $<TARGET_FILE:...>), starts from a clean environment (no LD_PRELOAD, no
# TIERSHIM_* inherited from ctest or the user) and applies LD_PRELOAD
# explicitly where the shim is wanted.

IT_FAILED=0
it_fail() { echo "FAIL: $*"; IT_FAILED=1; }
it_pass() { echo "PASS: $*"; }
it_info() { echo "INFO: $*"; }

# IT_UNMAP (set by the per-backend variants of a test in CMakeLists.txt)
# survives as TIERSHIM_UNMAP: the same test runs under every unmap backend.
it_clean_env() {
  unset LD_PRELOAD
  local v
  for v in $(env | sed -n 's/^\(TIERSHIM_[A-Za-z0-9_]*\)=.*/\1/p'); do unset "$v"; done
  if [ -n "${IT_UNMAP:-}" ]; then export TIERSHIM_UNMAP=$IT_UNMAP; fi
}

# it_tmpdir: creates $TMP and removes it at exit (plus any extra cleanup
# registered in IT_CLEANUP).
# Background processes a test adds to PIDS are terminated (and reaped) there
# too, after IT_CLEANUP.
IT_CLEANUP=
PIDS=
it_tmpdir() {
  TMP=$(mktemp -d "${TMPDIR:-/tmp}/tiershim-it.XXXXXX") || { echo "FAIL: mktemp -d"; exit 1; }
  trap 'eval "$IT_CLEANUP"; if [ -n "$PIDS" ]; then kill -TERM $PIDS 2>/dev/null; wait $PIDS 2>/dev/null; fi; rm -rf "$TMP"' EXIT
}

# it_show FILE LABEL: prints a file (first 40 lines) for a failure message.
it_show() {
  echo "----- $2 -----"
  head -n 40 "$1"
  echo "----- end $2 -----"
}

# it_start_published LIB PROG ARGS...: starts PROG under the shim in the
# background, adds it to $PIDS (which the test's IT_CLEANUP kills), waits
# until its live-stats page exists and has had a first refresh; sets $pid.
it_start_published() {
  local lib=$1; shift
  env LD_PRELOAD="$lib" "$@" &
  pid=$!
  PIDS="$PIDS $pid"
  for _ in $(seq 50); do [ -e "/dev/shm/tiershim.$(id -u)/$pid" ] && break; sleep 0.1; done
  sleep 0.7 # a first refresh
}

# it_python: python3 without the shim (used to check the shim's output).
it_python() { env -u LD_PRELOAD python3 "$@"; }

it_finish() {
  if [ "$IT_FAILED" -ne 0 ]; then
    echo "$1: FAILED"
    exit 1
  fi
  echo "$1: all checks passed"
  exit 0
}

# it_need CMD PKG: true when CMD is there, else tries to install Debian's
# PKG (root only; its service, if any, not started: a policy-rc.d that
# refuses every start while apt runs). False when it cannot be had.
it_need() {
  command -v "$1" >/dev/null 2>&1 && return 0
  [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null || return 1
  local prc=/usr/sbin/policy-rc.d had=0
  [ -e $prc ] && had=1
  [ $had = 1 ] || printf '#!/bin/sh\nexit 101\n' > $prc && chmod +x $prc
  { DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$2" ||
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$2"; }
  } >/dev/null 2>&1
  [ $had = 1 ] || rm -f $prc
  command -v "$1" >/dev/null 2>&1
}

# it_free_port: a TCP port free on 127.0.0.1 now.
it_free_port() {
  it_python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
