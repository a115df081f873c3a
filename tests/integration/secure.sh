#!/bin/bash
# secure.sh SECURE_PROBE LIB_REAL_FILE LIB_SONAME
# AT_SECURE (setuid) programs ignore every TIERSHIM_* variable.
# Installs a setuid-root copy of secure_probe (linked against libtiershim,
# RUNPATH /tmp/tiershim-secure-test) and runs it as nobody.
set -u
. "$(dirname "$0")/it_lib.sh"
PROBE=$1 LIBFILE=$2 SONAME=$3
it_clean_env
if [ "$(id -u)" -ne 0 ]; then
  echo "SKIP: secure.sh must run as root (it installs a setuid-root probe)"; exit 77
fi
if ! command -v setpriv >/dev/null 2>&1; then
  echo "SKIP: setpriv (util-linux) is missing: cannot run the probe as nobody"; exit 77
fi
it_tmpdir
D=/tmp/tiershim-secure-test
IT_CLEANUP='rm -rf "$D"'
rm -rf "$D"
mkdir -m 755 "$D" && chown root:root "$D" || { it_fail "cannot create $D"; it_finish secure; }
cp "$PROBE" "$D/secure_probe"
cp "$LIBFILE" "$D/$(basename "$LIBFILE")"
[ "$(basename "$LIBFILE")" = "$SONAME" ] || ln -s "$(basename "$LIBFILE")" "$D/$SONAME"
chown root:root "$D"/*
chmod 755 "$D/secure_probe" "$D/$(basename "$LIBFILE")"

# the probe must load the library from $D
readelf -d "$D/secure_probe" | grep -q "NEEDED.*\[$SONAME\]" \
  || it_fail "secure_probe: expected DT_NEEDED $SONAME got: $(readelf -d "$D/secure_probe" | grep NEEDED)"
readelf -d "$D/secure_probe" | grep -Eq "(RPATH|RUNPATH).*\[$D\]" \
  || it_fail "secure_probe: expected RUNPATH [$D] got: $(readelf -d "$D/secure_probe" | grep -E 'RPATH|RUNPATH')"
if ! ldd "$D/secure_probe" | grep -q "$D/$SONAME"; then
  it_fail "secure_probe: expected $SONAME resolved from $D got:"; ldd "$D/secure_probe"
fi

ENVV="TIERSHIM_ENABLE=0 TIERSHIM_STATS=1 TIERSHIM_VERBOSE=1 TIERSHIM_LARGE_MIN=banana"
run_probe() { # run_probe NAME
  env -i PATH=/usr/bin:/bin $ENVV \
    setpriv --reuid=65534 --regid=65534 --clear-groups "$D/secure_probe" >"$TMP/$1.out" 2>"$TMP/$1.err"
  echo $? >"$TMP/$1.rc"
}

# 1. control: the same copy without setuid, as nobody: the variables apply
f0=$IT_FAILED
run_probe control
[ "$(cat "$TMP/control.rc")" = 0 ] || { it_fail "control run (no setuid) as nobody: expected exit 0 got $(cat "$TMP/control.rc")"; it_show "$TMP/control.err" stderr; }
grep -qx 'at_secure=0' "$TMP/control.out" || it_fail "control run: expected at_secure=0 got '$(grep at_secure "$TMP/control.out")'"
grep -qx 'enabled=0' "$TMP/control.out" \
  || it_fail "control run (no setuid) with TIERSHIM_ENABLE=0: expected enabled=0 got '$(grep enabled "$TMP/control.out")'"
grep -q '^tiershim: TIERSHIM_LARGE_MIN=banana' "$TMP/control.err" \
  || { it_fail "control run with TIERSHIM_LARGE_MIN=banana: expected the warning line got:"; cat "$TMP/control.err"; }
grep -q '^tiershim: stats' "$TMP/control.err" \
  || { it_fail "control run with TIERSHIM_STATS=1: expected the 'tiershim: stats' summary got:"; cat "$TMP/control.err"; }
[ $IT_FAILED -eq $f0 ] && it_pass "control (not setuid, as nobody): enabled=0, $(grep -c '^tiershim:' "$TMP/control.err") 'tiershim:' lines"

# 2. setuid root, run as nobody: AT_SECURE, the variables are ignored
f0=$IT_FAILED
chmod 4755 "$D/secure_probe"
run_probe setuid
chmod 755 "$D/secure_probe"
[ "$(cat "$TMP/setuid.rc")" = 0 ] || { it_fail "setuid run: expected exit 0 got $(cat "$TMP/setuid.rc")"; it_show "$TMP/setuid.err" stderr; }
if ! grep -qx 'at_secure=1' "$TMP/setuid.out"; then
  it_fail "setuid run: expected at_secure=1 (setuid-root probe run by nobody) got '$(grep at_secure "$TMP/setuid.out")': is /tmp mounted nosuid or no_new_privs set?"
fi
grep -qx 'enabled=1' "$TMP/setuid.out" \
  || it_fail "setuid run with TIERSHIM_ENABLE=0: expected enabled=1 (variables ignored under AT_SECURE) got '$(grep enabled "$TMP/setuid.out")'"
if grep -q 'tiershim:' "$TMP/setuid.err"; then
  it_fail "setuid run: expected no 'tiershim:' line on stderr (TIERSHIM_STATS/VERBOSE/LARGE_MIN ignored) got:"
  cat "$TMP/setuid.err"
fi
[ $IT_FAILED -eq $f0 ] && it_pass "setuid (AT_SECURE) as nobody: enabled=1 and no 'tiershim:' output despite $ENVV"
it_finish secure
