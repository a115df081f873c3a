#!/bin/bash
# run_retry.sh BUILD_DIR: the VM harness's own test (ctest vm.harness_retry).
#
# run.sh boots a guest again when its kernel died before our init printed
# TS_VM_BOOTED (multi-threaded TCG, see run.sh), and only then. This drives
# run.sh with a fake qemu (TS_VM_QEMU) and a fake kernel cache, so no guest
# boots, and checks four cases:
#   1. a reset with no kernel message, then an int3 Oops, then a good boot:
#      passes, after exactly 3 boots;
#   2. a kernel that panics after our init ran: fails, after 1 boot;
#   3. three early deaths in a row: fails, after 3 boots (no endless retry);
#   4. a good first boot: passes, after 1 boot.
set -euo pipefail
build=$(cd "$1" && pwd)
vm_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# A kernel cache fetch-kernel.sh takes as complete, with one dax module for
# mkinitrd (the files are never booted).
kv=0.0-fake
mods=$tmp/cache/root/lib/modules/$kv
mkdir -p "$mods/kernel/drivers/dax"
: >"$mods/kernel/drivers/dax/kmem.ko"
echo "kernel/drivers/dax/kmem.ko:" >"$mods/modules.dep"
echo "$kv" >"$tmp/cache/kernel-version"
echo fake >"$tmp/cache/vmlinux"
echo 'echo guest test' >"$tmp/t.sh"

# The fake qemu prints the console of boot N from $tmp/boots (one word a
# line: reset, oops, late or good) and counts its boots in $tmp/count.
cat >"$tmp/qemu" <<'Q'
#!/bin/bash
d=$(dirname "$0")
n=$(( $(cat "$d/count" 2>/dev/null || echo 0) + 1 )); echo $n >"$d/count"
# As the real console: a quiet kernel prints nothing, so init's first line
# follows SeaBIOS's last without a newline.
printf 'SeaBIOS (fake)\nBooting from ROM..'

case $(sed -n "${n}p" "$d/boots") in
  reset) echo ;;
  oops)  echo; echo "[    2.38] Oops: int3: 0000 [#1] SMP NOPTI"; echo "Kernel panic - not syncing: Fatal exception" ;;
  late)  echo "TS_VM_BOOTED kernel=fake uptime=1"; echo "Kernel panic - not syncing: Attempted to kill init!" ;;
  good)  printf '%s\n' "TS_VM_BOOTED kernel=fake uptime=1" "TS_VM_SETUP ok" "TS_VM_BEGIN t.sh" \
                 "guest test" "TS_VM_RESULT t.sh rc=0" "TS_VM_DONE uptime=2" ;;
esac
exit 0
Q
chmod +x "$tmp/qemu"

fails=0
case_() { # case_ NAME WANT_RC WANT_BOOTS BOOT...
  local name=$1 want_rc=$2 want_n=$3 rc=0; shift 3
  printf '%s\n' "$@" >"$tmp/boots"; rm -f "$tmp/count"
  TS_VM_QEMU=$tmp/qemu TS_VM_MIN_AVAIL_MB=0 bash "$vm_dir/run.sh" --build "$build" \
    --cache "$tmp/cache" --name "harness-$name" --timeout 30 "$tmp/t.sh" >"$tmp/out" 2>&1 || rc=$?
  local n; n=$(cat "$tmp/count" 2>/dev/null || echo 0)
  if [ "$rc" = "$want_rc" ] && [ "$n" = "$want_n" ]; then
    echo "ok: $name (rc=$rc after $n boot(s))"
  else
    echo "FAIL: $name: rc=$rc after $n boot(s), want rc=$want_rc after $want_n"; cat "$tmp/out"
    fails=$((fails + 1))
  fi
}
case_ early-deaths-then-good 0 3 reset oops good
case_ panic-after-init       1 1 late good good
case_ three-early-deaths     1 3 reset oops reset good
case_ good-first-boot        0 1 good reset reset
[ $fails = 0 ]
