#!/usr/bin/env bash
# unmap.sh LIB PROBE PLUGIN BAD_PLUGIN: the unmap backends (docs/unmap.md).
#  - munmap: nothing is retained, one call per released range;
#  - batch (default): releases are batched, fewer calls than ranges when
#    the kernel takes a vector; decay returns idle memory after the window;
#  - kmod without the module: the batch backend, silently (the line only
#    under TIERSHIM_VERBOSE); a missing plugin, a plugin of another ABI, a
#    bad value: one warning each, the batch backend, a correct run;
#  - a plugin backend is used, and its own count of released bytes agrees
#    with tiershim's stats;
#  - as root (a privileged process, as under sudo -E or /etc/ld.so.preload):
#    only a root-owned plugin that neither group nor others can write, in a
#    directory likewise, and not through a symlink, is loaded; every other
#    is refused with one warning (batch). The same plugin owned by nobody
#    still loads in a process of nobody's.
set -u
. "$(dirname "$0")/it_lib.sh"
LIB=$1 PROBE=$2 PLUGIN=$3 BAD=$4
it_clean_env
unset TIERSHIM_UNMAP
it_tmpdir

# run NAME [VAR=VALUE...] -- ARGS: the probe under the shim, stats in $TMP/NAME.json
run() {
  local name=$1; shift
  local envs=()
  while [ "$1" != -- ]; do envs+=("$1"); shift; done
  shift
  env LD_PRELOAD="$LIB" TIERSHIM_STATS="json:$TMP/$name.json" TIERSHIM_RETAIN_MAX=32M "${envs[@]}" \
    "$PROBE" "$@" >"$TMP/$name.out" 2>"$TMP/$name.err"
  local rc=$?
  if [ $rc -ne 0 ] || ! grep -qx ok "$TMP/$name.out"; then
    it_fail "$name: the probe failed (rc=$rc)"; it_show "$TMP/$name.err" stderr; return 1
  fi
}
# u NAME KEY: a key of the unmap object (or of placement with p.KEY)
u() {
  it_python - "$TMP/$1.json" "$2" <<'PY'
import json, sys
d = json.load(open(sys.argv[1])); k = sys.argv[2]
v = d["placement"][k[2:]] if k.startswith("p.") else d["unmap"][k]
print("null" if v is None else v)
PY
}
warns() { grep -c '^tiershim: TIERSHIM_UNMAP=' "$TMP/$1.err"; }

run munmap TIERSHIM_UNMAP=munmap -- churn && {
  r=$(u munmap ranges) c=$(u munmap calls) ret=$(u munmap p.retained_bytes)
  [ "$(u munmap backend)" = munmap ] && [ "$r" -gt 100 ] && [ "$c" -ge "$r" ] && [ "$ret" -eq 0 ] \
    && it_pass "munmap: $r ranges released in $c calls, nothing retained" \
    || it_fail "munmap: expected backend munmap, calls >= ranges > 100, retained 0 got $(cat "$TMP/munmap.json" | tr -d '\n' | head -c 600)"
}

run batch -- churn && {
  r=$(u batch ranges) c=$(u batch calls) mode=$(u batch release_mode)
  [ "$(u batch backend)" = batch ] && [ "$(warns batch)" -eq 0 ] \
    && it_pass "batch: $r ranges in $c calls ($mode), batch $(u batch batch), shootdowns $(u batch shootdowns) ($(u batch shootdown_source))" \
    || it_fail "batch: expected the default backend, no warning"
  case $mode in
    process_madvise*) [ "$c" -lt "$r" ] && it_pass "batch: vectors: $c calls < $r ranges" \
                        || it_fail "batch: with $mode expected fewer calls than ranges got $c >= $r" ;;
    *) it_info "batch: this kernel releases one range per call ($mode)" ;;
  esac
  mc=$(u munmap calls)
  [ "$c" -lt "$mc" ] && it_pass "batch: $c release calls vs munmap's $mc for the same program" \
    || it_fail "batch: expected fewer release calls than munmap ($mc) got $c"
}

run decay TIERSHIM_UNMAP_DELAY=200 TIERSHIM_RETAIN_MAX=256M -- decay && {
  d=$(u decay decays) db=$(u decay decay_bytes) ret=$(u decay p.retained_bytes)
  [ "$d" -ge 1 ] && [ "$db" -ge $((30 << 20)) ] && [ "$ret" -le $((32 << 20)) ] \
    && it_pass "decay: $d windows released $((db >> 20)) MiB of idle memory; $((ret >> 20)) MiB retained (floor 32)" \
    || it_fail "decay: expected >= 1 decay of >= 30 MiB and <= 32 MiB retained got decays=$d bytes=$db retained=$ret"
}
run nodecay TIERSHIM_UNMAP_DELAY=0 TIERSHIM_RETAIN_MAX=256M -- decay && {
  [ "$(u nodecay decays)" -eq 0 ] && [ "$(u nodecay p.retained_bytes)" -ge $((60 << 20)) ] \
    && it_pass "UNMAP_DELAY=0: no decay, the 64 MiB stay retained" \
    || it_fail "UNMAP_DELAY=0: expected no decay and >= 60 MiB retained got $(u nodecay decays), $(u nodecay p.retained_bytes)"
}

if [ ! -e /dev/tiershim ]; then
  run kmod TIERSHIM_UNMAP=kmod -- churn && {
    [ "$(u kmod backend)" = batch ] && [ "$(warns kmod)" -eq 0 ] \
      && it_pass "kmod without the module: batch, silently" \
      || { it_fail "kmod without the module: expected batch and no warning"; it_show "$TMP/kmod.err" stderr; }
  }
  run kmodv TIERSHIM_UNMAP=kmod TIERSHIM_VERBOSE=1 -- churn && {
    grep -q '^tiershim: TIERSHIM_UNMAP=kmod: /dev/tiershim not found' "$TMP/kmodv.err" \
      && it_pass "kmod without the module, TIERSHIM_VERBOSE=1: $(grep '^tiershim: TIERSHIM_UNMAP' "$TMP/kmodv.err")" \
      || { it_fail "kmod without the module under VERBOSE: expected the fallback line"; it_show "$TMP/kmodv.err" stderr; }
  }
fi

run missing TIERSHIM_UNMAP=/nonexistent/plugin.so -- churn && {
  [ "$(u missing backend)" = batch ] && [ "$(warns missing)" -eq 1 ] \
    && it_pass "missing plugin: one warning, batch" || { it_fail "missing plugin"; it_show "$TMP/missing.err" stderr; }
}
run badabi TIERSHIM_UNMAP="$BAD" -- churn && {
  [ "$(u badabi backend)" = batch ] && grep -q 'ABI version mismatch' "$TMP/badabi.err" && [ "$(warns badabi)" -eq 1 ] \
    && it_pass "plugin of another ABI: refused with one warning, batch" \
    || { it_fail "plugin of another ABI"; it_show "$TMP/badabi.err" stderr; }
}
run bogus TIERSHIM_UNMAP=fast -- churn && {
  grep -q '^tiershim: TIERSHIM_UNMAP=fast: not munmap, batch, kmod' "$TMP/bogus.err" && [ "$(u bogus backend)" = batch ] \
    && it_pass "TIERSHIM_UNMAP=fast: the options table's warning, batch" || { it_fail "bad value"; it_show "$TMP/bogus.err" stderr; }
}

run plugin TIERSHIM_UNMAP="$PLUGIN" -- churn && {
  line=$(grep '^unmap_plugin:' "$TMP/plugin.err")
  pb=$(sed -n 's/.*bytes=\([0-9]*\).*/\1/p' <<<"$line")
  [ "$(u plugin backend)" = counting ] && [ "${pb:-0}" -gt 0 ] && [ "$pb" -eq "$(u plugin bytes)" ] \
    && [ "$(warns plugin)" -eq 0 ] \
    && it_pass "plugin: used ($line), tiershim counted the same $(u plugin bytes) bytes" \
    || { it_fail "plugin: expected backend counting with matching bytes got '$line' vs $(u plugin bytes)"; it_show "$TMP/plugin.err" stderr; }
}

# ---- privileged processes: which plugin files are trusted ------------------------
if [ "$(id -u)" -ne 0 ]; then
  it_info "not root: the privileged plugin checks are not run"
  it_finish unmap
fi
P=$TMP/plugins          # root:root 0755
mkdir -m 755 "$P" "$P/gw-dir" && chmod 775 "$P/gw-dir"
chmod 755 "$TMP"        # mktemp's 0700 would keep nobody out
plug() { # plug NAME MODE [OWNER]: a copy of the counting plugin
  cp "$PLUGIN" "$P/$1" && chmod "$2" "$P/$1" && chown "${3:-root:root}" "$P/$1"
}
plug good.so 644
plug gw.so 664
plug ww.so 646
plug nobody.so 644 65534:65534
cp "$PLUGIN" "$P/gw-dir/in.so" && chmod 644 "$P/gw-dir/in.so"
ln -s good.so "$P/link.so"
priv_ok=0 priv_no=0
refused() { # refused NAME FILE WHY: one warning naming WHY, the batch backend
  run "$1" TIERSHIM_UNMAP="$2" -- churn || return
  if [ "$(u "$1" backend)" = batch ] && [ "$(warns "$1")" -eq 1 ] && grep -q "$3" "$TMP/$1.err" \
     && ! grep -q '^unmap_plugin:' "$TMP/$1.err"; then
    priv_no=$((priv_no + 1))
  else
    it_fail "root, $2: expected refused ($3), batch, one warning got backend $(u "$1" backend)"
    it_show "$TMP/$1.err" stderr
  fi
}
refused gw "$P/gw.so" 'writable by group or others'
refused ww "$P/ww.so" 'writable by group or others'
refused nobody "$P/nobody.so" 'not owned by root'
refused gwdir "$P/gw-dir/in.so" 'its directory'
refused link "$P/link.so" 'symlink'
run good TIERSHIM_UNMAP="$P/good.so" -- churn && {
  if [ "$(u good backend)" = counting ] && [ "$(warns good)" -eq 0 ] && grep -q '^unmap_plugin:' "$TMP/good.err"; then
    priv_ok=1
  else
    it_fail "root, a root-owned 0644 plugin in a 0755 root directory: expected it used got $(u good backend)"
    it_show "$TMP/good.err" stderr
  fi
}
[ $priv_no -eq 5 ] && [ $priv_ok -eq 1 ] \
  && it_pass "root: group/world-writable, nobody-owned, in a group-writable directory and symlinked plugins refused (5 warnings, batch); a root-owned 0644 one used"
# not privileged: a user's own plugin is the user's business
if command -v setpriv >/dev/null 2>&1; then
  mkdir -m 777 "$TMP/nb"
  # (LD_PRELOAD set after setpriv: setpriv itself runs as root)
  setpriv --reuid=65534 --regid=65534 --clear-groups env LD_PRELOAD="$LIB" TIERSHIM_STATS="json:$TMP/nb/s.json" \
    TIERSHIM_UNMAP="$P/nobody.so" TIERSHIM_RETAIN_MAX=32M "$PROBE" churn >"$TMP/nb.out" 2>"$TMP/nb.err"
  if grep -qx ok "$TMP/nb.out" && grep -q '^unmap_plugin:' "$TMP/nb.err" && ! grep -q '^tiershim:' "$TMP/nb.err"; then
    it_pass "as nobody (not privileged): nobody's own plugin is used"
  else
    it_fail "as nobody: expected nobody's plugin used without a warning"; it_show "$TMP/nb.err" stderr
  fi
fi

it_finish unmap
