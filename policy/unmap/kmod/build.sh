#!/bin/bash
# build.sh OUTDIR [KVER]
#
# Builds tiershim.ko, the tiershim kernel module, into OUTDIR for the kernel
# KVER (default: the Debian 12 kernel the VM test bed boots, found like
# tests/vm/fetch-kernel.sh does: TS_VM_KERNEL_PKG, else the package that
# linux-image-amd64 depends on, e.g. 6.1.0-56-amd64). The sources are copied
# into OUTDIR (kbuild writes its objects next to them) and built with
#   make -C /usr/src/linux-headers-$KVER M=OUTDIR modules
# The build is skipped when the sources, KVER and this script hash the same
# as at the last successful build. Prints the path of the .ko on stdout.
#
# Headers missing: as root, `apt-get install -y linux-headers-$KVER` is tried;
# if they are still missing (or make/gcc are), exits 77 with a one-line
# reason on stderr ("kmod: SKIP: ..."), so a test can count it as skipped.
# TS_KMOD_W=1 builds with W=1 (extra warnings).
set -euo pipefail

die()  { echo "kmod: $*" >&2; exit 1; }
skip() { echo "kmod: SKIP: $*" >&2; exit 77; }

[ $# -ge 1 ] && [ $# -le 2 ] || die "usage: build.sh OUTDIR [KVER]"
case ${BASH_SOURCE[0]} in */*) src=${BASH_SOURCE[0]%/*} ;; *) src=. ;; esac
src=$(cd "$src" && pwd)
out=$1
kver=${2:-}

guest_kver() {
  local pkg=${TS_VM_KERNEL_PKG:-}
  if [ -z "$pkg" ] && command -v apt-cache >/dev/null; then
    pkg=$(apt-cache depends linux-image-amd64 2>/dev/null \
          | sed -n 's/^ *Depends: \(linux-image-6\.1\.0-[0-9]*-amd64\)$/\1/p' | head -n1 || true)
  fi
  if [ -z "$pkg" ]; then   # offline: the newest 6.1 headers installed
    pkg=$(ls -d /usr/src/linux-headers-6.1.0-*-amd64 2>/dev/null | sort -V | tail -n1 || true)
    pkg=${pkg##*/}
  fi
  [ -n "$pkg" ] || return 1
  pkg=${pkg#linux-image-}
  echo "${pkg#linux-headers-}"
}
[ -n "$kver" ] || kver=$(guest_kver) || skip "cannot tell the guest kernel version (no apt-cache, no /usr/src/linux-headers-6.1.0-*-amd64)"

hdr=/usr/src/linux-headers-$kver
if [ ! -f "$hdr/Makefile" ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "kmod: installing linux-headers-$kver" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "linux-headers-$kver" >&2 \
    || { apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive \
         apt-get install -y -qq --no-install-recommends "linux-headers-$kver" >&2; } || true
fi
[ -f "$hdr/Makefile" ] || skip "no kernel headers in $hdr (apt-get install linux-headers-$kver)"
command -v make >/dev/null || skip "make not installed"
cc=$(sed -n 's/^CONFIG_CC_VERSION_TEXT="\([^ ]*\) .*/\1/p' "$hdr/include/config/auto.conf" 2>/dev/null || true)
command -v "${cc:-gcc}" >/dev/null || skip "${cc:-gcc}, the compiler $kver was built with, is not installed"

files=(tiershim_kmod.c tiershim_uapi.h Kbuild)
mkdir -p "$out"
out=$(cd "$out" && pwd)
key=$( { echo "kver $kver W=${TS_KMOD_W:-0}"; cd "$src" && sha256sum "${files[@]}" build.sh; } | sha256sum | cut -d' ' -f1)
if [ -f "$out/tiershim.ko" ] && [ "$(cat "$out/.build-key" 2>/dev/null)" = "$key" ]; then
  echo "kmod: $out/tiershim.ko up to date ($kver)" >&2
  echo "$out/tiershim.ko"
  exit 0
fi

rm -f "$out/.build-key" "$out/tiershim.ko"
for f in "${files[@]}"; do cp "$src/$f" "$out/$f"; done
w=()
[ "${TS_KMOD_W:-0}" = 1 ] && w=(W=1)
if ! make -C "$hdr" M="$out" ${w[@]+"${w[@]}"} modules >"$out/build.log" 2>&1; then
  cat "$out/build.log" >&2
  die "make -C $hdr M=$out modules failed"
fi
grep -E 'warning:|error:' "$out/build.log" >&2 || true
[ -f "$out/tiershim.ko" ] || die "no tiershim.ko after the build (see $out/build.log)"
echo "$key" > "$out/.build-key"
echo "kmod: built $out/tiershim.ko for $kver" >&2
echo "$out/tiershim.ko"
