#!/bin/bash
# secure.sh SECURE_PROBE LIB_REAL_FILE LIB_SONAME
# 1. Messages (docs/design.md, "Messages"): a program that closes fd 2 and
#    opens a file of its own under that number never receives tiershim's
#    exit-time output there; the stderr it started with still does.
# 2. AT_SECURE (setuid) programs ignore every TIERSHIM_* variable.
#    Installs a setuid-root copy of secure_probe (linked against libtiershim,
#    RUNPATH /tmp/tiershim-secure-test) and runs it as nobody.
set -u
. "$(dirname "$0")/it_lib.sh"
PROBE=$1 LIBFILE=$2 SONAME=$3
it_clean_env
it_tmpdir

# ---- 1. messages never land in a file the program opened as fd 2 ----------
# msg_run NAME VAR=VALUE...: the probe closes fd 2 and opens $TMP/NAME.file
# as fd 2; its real stderr is $TMP/NAME.err
msg_run() {
  local name=$1
  shift
  env "$@" LD_PRELOAD="$LIBFILE" "$PROBE" reopen "$TMP/$name.file" >"$TMP/$name.out" 2>"$TMP/$name.err"
  echo $? >"$TMP/$name.rc"
}
msg_file_clean() { # msg_file_clean NAME WHAT
  [ "$(cat "$TMP/$1.rc")" = 0 ] || { it_fail "$2: the probe exited $(cat "$TMP/$1.rc")"; it_show "$TMP/$1.err" stderr; }
  if grep -q 'tiershim' "$TMP/$1.file"; then
    it_fail "$2: tiershim wrote into the file the program opened as fd 2:"; it_show "$TMP/$1.file" "$1.file"
  fi
  grep -qx "the program's own line" "$TMP/$1.file" || it_fail "$2: the program's own line is missing from its file"
}
NODIR=$TMP/no-such-dir/s.json
f0=$IT_FAILED
msg_run profile TIERSHIM_PROFILE=1
msg_file_clean profile "TIERSHIM_PROFILE=1"
grep -q '^tiershim: profile:' "$TMP/profile.err" \
  || { it_fail "TIERSHIM_PROFILE=1: expected the profile report on the stderr the program started with got:"; it_show "$TMP/profile.err" stderr; }
msg_run stats_text TIERSHIM_STATS=1
msg_file_clean stats_text "TIERSHIM_STATS=1"
grep -q '^tiershim: stats' "$TMP/stats_text.err" \
  || { it_fail "TIERSHIM_STATS=1: expected the summary on the stderr the program started with"; it_show "$TMP/stats_text.err" stderr; }
msg_run late_warn "TIERSHIM_STATS=json:$NODIR"
msg_file_clean late_warn "TIERSHIM_STATS=json:(no such directory)"
msg_run late_warn_kept "TIERSHIM_STATS=json:$NODIR" TIERSHIM_PROFILE=1
msg_file_clean late_warn_kept "TIERSHIM_STATS=json:(no such directory) TIERSHIM_PROFILE=1"
grep -q '^tiershim: stats not written' "$TMP/late_warn_kept.err" \
  || { it_fail "with the profile report wanted, the exit-time warning goes to the kept stderr: got"; it_show "$TMP/late_warn_kept.err" stderr; }
# control: the same warning reaches stderr when the program leaves fd 2 alone
env TIERSHIM_STATS=json:"$NODIR" LD_PRELOAD="$LIBFILE" "$PROBE" >"$TMP/control_warn.out" 2>"$TMP/control_warn.err"
grep -q '^tiershim: stats not written' "$TMP/control_warn.err" \
  || { it_fail "control: expected 'tiershim: stats not written' on stderr got:"; it_show "$TMP/control_warn.err" stderr; }
[ $IT_FAILED -eq $f0 ] && it_pass "messages: profile report, stats summary and exit-time warnings never land in a file reopened as fd 2 (4 runs); the original stderr gets them"

# ---- 2. secure execution -------------------------------------------------------
if [ "$(id -u)" -ne 0 ]; then
  echo "SKIP: the rest of secure.sh must run as root (it installs a setuid-root probe)"
  [ $IT_FAILED -eq 0 ] && exit 77
  it_finish secure
fi
if ! command -v setpriv >/dev/null 2>&1; then
  echo "SKIP: setpriv (util-linux) is missing: cannot run the probe as nobody"
  [ $IT_FAILED -eq 0 ] && exit 77
  it_finish secure
fi
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

ENVV="TIERSHIM_ENABLE=0 TIERSHIM_STATS=1 TIERSHIM_VERBOSE=1 TIERSHIM_LARGE_MIN=banana MIMALLOC_VERBOSE=1 MIMALLOC_SHOW_STATS=1"
MI_RE='^mimalloc:|heap stats'  # what mimalloc prints for MIMALLOC_VERBOSE / _SHOW_STATS
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
grep -Eq "$MI_RE" "$TMP/control.err" \
  || { it_fail "control run with MIMALLOC_VERBOSE=1: expected mimalloc's own lines (the heap reads its variables) got:"; it_show "$TMP/control.err" stderr; }
[ $IT_FAILED -eq $f0 ] && it_pass "control (not setuid, as nobody): enabled=0, $(grep -c '^tiershim:' "$TMP/control.err") 'tiershim:' lines, $(grep -Ec "$MI_RE" "$TMP/control.err") of mimalloc's"

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
# mimalloc reads MIMALLOC_* from environ in its own constructor, which runs
# before any of tiershim's (shim/secure.c pins its options first)
if grep -Eq "$MI_RE" "$TMP/setuid.err"; then
  it_fail "setuid run: expected no mimalloc output (MIMALLOC_VERBOSE/SHOW_STATS ignored under AT_SECURE) got:"
  it_show "$TMP/setuid.err" stderr
fi
[ $IT_FAILED -eq $f0 ] && it_pass "setuid (AT_SECURE) as nobody: enabled=1 and no 'tiershim:' output despite $ENVV"

# ---- 3. privileged without AT_SECURE (root, sudo -E): the stats file ----------
# The report is a fresh 0600 file renamed over the target: a hard link or a
# symlink at the target is refused, an existing file is replaced (a new
# inode), never truncated in place.
f0=$IT_FAILED
S=$TMP/stats
mkdir -m 755 "$S"
stats_run() { # stats_run NAME PATH: the probe as root with TIERSHIM_STATS=json:PATH
  env TIERSHIM_STATS=json:"$2" LD_PRELOAD="$LIBFILE" "$PROBE" >"$TMP/$1.out" 2>"$TMP/$1.err"
}
echo keep >"$S/victim"
ln "$S/victim" "$S/hard.json"
stats_run hard "$S/hard.json"
[ "$(cat "$S/victim")" = keep ] || it_fail "json:hard link: the linked file was written: '$(head -c 80 "$S/victim")'"
grep -q "^tiershim: stats not written to $S/hard.json: it has other hard links" "$TMP/hard.err" \
  || { it_fail "json:hard link: expected the refusal on stderr"; it_show "$TMP/hard.err" stderr; }
echo keep >"$S/victim2"
ln -s "$S/victim2" "$S/sym.json"
stats_run sym "$S/sym.json"
[ "$(cat "$S/victim2")" = keep ] || it_fail "json:symlink: the symlink's target was written"
[ -L "$S/sym.json" ] || it_fail "json:symlink: the symlink was replaced"
grep -q "^tiershim: stats not written to $S/sym.json: it is a symlink" "$TMP/sym.err" \
  || { it_fail "json:symlink: expected the refusal on stderr"; it_show "$TMP/sym.err" stderr; }
(umask 022 && stats_run fresh "$S/fresh.json")
m=$(stat -c %a "$S/fresh.json" 2>/dev/null)
[ "$m" = 600 ] || it_fail "json:fresh file: expected mode 600 (umask 022) got '$m'"
it_python -c 'import json,sys; json.load(open(sys.argv[1]))' "$S/fresh.json" 2>/dev/null \
  || it_fail "json:fresh file: not valid JSON"
printf 'an old report\n' >"$S/old.json"
chmod 644 "$S/old.json"
ino0=$(stat -c %i "$S/old.json")
exec 3<"$S/old.json"
stats_run old "$S/old.json"
ino1=$(stat -c %i "$S/old.json")
old_now=$(cat <&3)
exec 3<&-
[ "$ino0" != "$ino1" ] || it_fail "json:existing root-owned file: expected a new file (inode $ino0 before and after)"
[ "$old_now" = "an old report" ] || it_fail "json:existing file: the old file was truncated or rewritten: '$old_now'"
grep -q '"malloc_calls"' "$S/old.json" || it_fail "json:existing file: the new report is not there"
[ "$(stat -c %a "$S/old.json")" = 600 ] || it_fail "json:existing file: the replacement is not mode 600"
[ -z "$(find "$S" -name '.tiershim-stats.*')" ] || it_fail "temporary files left behind: $(ls -a "$S")"
[ $IT_FAILED -eq $f0 ] && it_pass "stats as root: hard link and symlink refused, fresh file mode 600, existing file replaced (inode $ino0 -> $ino1), old contents intact"
it_finish secure
