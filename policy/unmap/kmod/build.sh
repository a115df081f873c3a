#!/bin/bash
# build.sh OUTDIR [KVER]
#
# Builds tiershim.ko, the tiershim kernel module, into OUTDIR for the kernel
# release KVER and prints the .ko's path on stdout (everything else goes to
# stderr). Without KVER: the kernel the VM test bed boots, picked as
# tests/vm/fetch-kernel.sh picks it, by TS_VM_KERNEL:
#   6.1 (default)  Debian 12's kernel: TS_VM_KERNEL_PKG, else the package
#                  linux-image-amd64 depends on (host apt), else the newest
#                  /usr/src/linux-headers-6.1.0-*-amd64, e.g. 6.1.0-57-amd64
#   6.12           the newest linux-image-6.12.*+deb12-amd64 of
#                  bookworm-backports, e.g. 6.12.95+deb12-amd64
#   sid            the kernel linux-image-amd64 depends on in sid, e.g.
#                  7.2.13+deb14-amd64
# (6.12 and sid are looked up with tests/vm/kernel-apt.sh, through a private
# apt configuration under TS_VM_APT_DIR, default OUTDIR/../vm-cache/apt: for
# OUTDIR BUILD/kmod*, the directory fetch-kernel.sh uses for BUILD/vm-cache/*.)
#
# Where it builds, by KVER:
#   headers installed (/usr/src/linux-headers-KVER or /lib/modules/KVER/build)
#   and their compiler present: on this machine, as before;
#   6.1.0-N-amd64: as root, `apt-get install linux-headers-KVER` first;
#   *+deb12-amd64 (bookworm-backports, built with gcc-12): the headers,
#     common headers and kbuild packages are downloaded and unpacked (not
#     installed) into CACHE/headers/KVER, and built against there;
#   anything else (sid's 7.x, built with a gcc Debian 12 does not have and
#     linked against a newer glibc): inside a Debian sid chroot, made with
#     debootstrap on first use and kept (TS_KMOD_CHROOT, default CACHE/sid;
#     about 700 MB with the headers), where linux-headers-KVER is installed.
#     Needs root, debootstrap and the network the first time.
# CACHE is TS_KMOD_CACHE, default /var/cache/tiershim-kmod as root, else
# ~/.cache/tiershim-kmod.
#
# The sources are copied into OUTDIR (kbuild writes its objects next to
# them; in the chroot, into a directory under its /tmp) and built with
#   make -C HEADERS M=DIR TS_VERSION=x.y.z modules
# TS_VERSION is project(tiershim VERSION x.y.z) of the top CMakeLists.txt.
# The result must say vermagic KVER (modinfo), else the build fails. The
# build is skipped when the sources, KVER, the version and this script hash
# the same as at the last successful build.
#
# Exit 77 with a one-line reason on stderr ("kmod: SKIP: ...") when the
# headers, make, the kernel's compiler, debootstrap, root (for the chroot)
# or the network are missing, so a test can count it as skipped.
# TS_KMOD_W=1 builds with W=1 (extra warnings). TS_KMOD_UNCHECKED=1 lets a
# kernel series other than 6.1, 6.12, 7.2 (between 6.1 and 7.3) build; see
# compat.h. TS_KMOD_MIRROR: the Debian mirror for debootstrap (default
# http://deb.debian.org/debian).
set -euo pipefail

die()  { echo "kmod: $*" >&2; exit 1; }
skip() { echo "kmod: SKIP: $*" >&2; exit 77; }
say()  { echo "kmod: $*" >&2; }

[ $# -ge 1 ] && [ $# -le 2 ] || die "usage: build.sh OUTDIR [KVER]"
case ${BASH_SOURCE[0]} in */*) src=${BASH_SOURCE[0]%/*} ;; *) src=. ;; esac
src=$(cd "$src" && pwd)
out=$1
kver=${2:-}
kernel=${TS_VM_KERNEL:-6.1}
case $kernel in 6.1|6.12|sid) ;; *) die "TS_VM_KERNEL=$kernel: not one of 6.1, 6.12, sid" ;; esac
mkdir -p "$out"
out=$(cd "$out" && pwd)
aptdir=${TS_VM_APT_DIR:-$out/../vm-cache/apt}
if [ -n "${TS_KMOD_CACHE:-}" ]; then cache=$TS_KMOD_CACHE
elif [ "$(id -u)" = 0 ]; then cache=/var/cache/tiershim-kmod
else cache=${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/tiershim-kmod
fi
unchecked=0
[ "${TS_KMOD_UNCHECKED:-0}" = 1 ] && unchecked=1

# ---- the version: one place, the CMake project ---------------------------------
ver=$(sed -n 's/^project(tiershim VERSION \([0-9][0-9.]*\).*/\1/p' "$src/../../../CMakeLists.txt" 2>/dev/null || true)
ver=${ver:-${TS_VERSION:-}}
[[ $ver =~ ^[0-9]+(\.[0-9]+)*$ ]] || die "no version: no project(tiershim VERSION ...) in $src/../../../CMakeLists.txt and no TS_VERSION"

# ---- which kernel ---------------------------------------------------------------
kapt=$src/../../../tests/vm/kernel-apt.sh
kapt_ready=''
kapt_for() {   # kapt_for 6.1|6.12|sid: apt access to that suite (tests/vm/kernel-apt.sh)
  [ "$kapt_ready" = "$1" ] && return 0
  [ -f "$kapt" ] || skip "tests/vm/kernel-apt.sh not found: cannot look up the $1 kernel (pass KVER)"
  # shellcheck source=/dev/null
  . "$kapt"
  kapt_init "$1" "$aptdir" || skip "${kapt_why:-apt access to the $1 suite failed}"
  kapt_ready=$1
}

# 6.1: the package fetch-kernel.sh boots (kernel-apt.sh says which), else,
# offline or from a copy of this directory alone, the newest 6.1 headers.
guest_kver_61() {
  local pkg=${TS_VM_KERNEL_PKG:-}
  if [ -z "$pkg" ] && [ -f "$kapt" ] && command -v apt-cache >/dev/null; then
    kapt_for 6.1
    pkg=$(kapt_image_pkg 2>/dev/null) || pkg=''
  fi
  if [ -z "$pkg" ]; then   # offline: the newest 6.1 headers installed
    pkg=$(ls -d /usr/src/linux-headers-6.1.0-*-amd64 2>/dev/null | sort -V | tail -n1 || true)
    pkg=${pkg##*/}
  fi
  [ -n "$pkg" ] || return 1
  pkg=${pkg#linux-image-}
  echo "${pkg#linux-headers-}"
}

if [ -z "$kver" ]; then
  if [ "$kernel" = 6.1 ]; then
    kver=$(guest_kver_61) || skip "cannot tell the guest kernel version (no apt-cache, no /usr/src/linux-headers-6.1.0-*-amd64)"
  elif [ -n "${TS_VM_KERNEL_PKG:-}" ]; then
    kver=${TS_VM_KERNEL_PKG#linux-image-}
  else
    kapt_for "$kernel"
    pkg=$(kapt_image_pkg) || skip "${kapt_why:-no kernel package for TS_VM_KERNEL=$kernel}"
    kver=${pkg#linux-image-}
  fi
fi
[[ $kver =~ ^[0-9][A-Za-z0-9.+_~-]*$ ]] || die "KVER '$kver' does not look like a kernel release"

# ---- where: this machine, unpacked backports headers, or the sid chroot -------------
cc_of() {   # the compiler a headers tree was built with (CONFIG_CC_VERSION_TEXT)
  # (auto.conf has it unquoted: CONFIG_CC_VERSION_TEXT=gcc-12 (Debian 12.2.0-14...) 12.2.0)
  sed -n 's/^CONFIG_CC_VERSION_TEXT="\{0,1\}\([^ "]*\).*/\1/p' "$1/include/config/auto.conf" 2>/dev/null || true
}
host_hdr() {
  local d
  for d in "/usr/src/linux-headers-$kver" "/lib/modules/$kver/build"; do
    [ -f "$d/Makefile" ] && { echo "$d"; return 0; }
  done
  return 1
}

# Downloads and unpacks bookworm-backports' headers for kver into
# CACHE/headers/kver (the -amd64, -common and kbuild packages, as their
# Depends name them); prints the headers directory.
unpack_bpo_headers() {
  local root=$cache/headers/$kver dir tmp deb dep p
  dir=$root/usr/src/linux-headers-$kver
  if [ -f "$root/.complete" ] && [ -f "$dir/Makefile" ]; then echo "$dir"; return 0; fi
  kapt_for 6.12
  mkdir -p "$cache/headers" || skip "cannot create $cache/headers"
  tmp=$(mktemp -d "$cache/headers/.$kver.XXXXXX")
  (cd "$tmp" && kapt_get download -q "linux-headers-$kver") >"$tmp/log" 2>&1 \
    || { p=$(grep '^E:' "$tmp/log" | tail -n1 || true); rm -rf "$tmp"
         skip "apt-get download linux-headers-$kver (bookworm-backports) failed: ${p:-no network?}"; }
  deb=$(ls "$tmp"/linux-headers-"$kver"_*.deb)
  dep=$(dpkg-deb -f "$deb" Depends | tr ',|' '\n\n' | sed 's/^ *//; s/ .*//' \
        | grep -E '^linux-(headers-.*-common|kbuild-.*)$' || true)
  [ -n "$dep" ] || die "$deb depends on no linux-headers-*-common / linux-kbuild-* package"
  for p in $dep; do
    (cd "$tmp" && kapt_get download -q "$p") >>"$tmp/log" 2>&1 \
      || { rm -rf "$tmp"; skip "apt-get download $p (bookworm-backports) failed (no network?)"; }
  done
  mkdir "$tmp/root"
  for deb in "$tmp"/*.deb; do dpkg-deb -x "$deb" "$tmp/root" || die "dpkg-deb -x $deb failed"; done
  [ -f "$tmp/root/usr/src/linux-headers-$kver/Makefile" ] || die "no usr/src/linux-headers-$kver/Makefile in the packages"
  # The -amd64 Makefile includes /usr/src/linux-headers-...-common/Makefile by
  # absolute path; point it at the unpacked copy (the other links are relative).
  rm -rf "$root"
  sed -i "s#^include /usr/src/#include $root/usr/src/#" "$tmp/root/usr/src/linux-headers-$kver/Makefile"
  mv "$tmp/root" "$root"
  rm -rf "$tmp"
  touch "$root/.complete"
  echo "$dir"
}

mode='' hdr=''
if hdr=$(host_hdr) && command -v "$(cc_of "$hdr")" >/dev/null 2>&1; then
  mode=host
elif [[ $kver =~ ^6\.1\.0-[0-9]+-amd64$ ]]; then
  mode=host
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    say "installing linux-headers-$kver"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "linux-headers-$kver" >&2 \
      || { apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive \
           apt-get install -y -qq --no-install-recommends "linux-headers-$kver" >&2; } || true
  fi
  hdr=$(host_hdr) || skip "no kernel headers in /usr/src/linux-headers-$kver (apt-get install linux-headers-$kver)"
elif [[ $kver == *+deb12-* ]]; then
  mode=host
  hdr=$(unpack_bpo_headers)
else
  mode=chroot
fi

files=(tiershim_kmod.c ts_lazy.c ts_lazy.h tiershim_uapi.h compat.h ts_layout_check.c Kbuild)
key=$( { echo "kver $kver mode $mode version $ver W=${TS_KMOD_W:-0} unchecked=$unchecked"
         cd "$src" && sha256sum "${files[@]}" build.sh; } | sha256sum | cut -d' ' -f1)
if [ -f "$out/tiershim.ko" ] && [ "$(cat "$out/.build-key" 2>/dev/null)" = "$key" ]; then
  say "$out/tiershim.ko up to date ($kver)"
  echo "$out/tiershim.ko"
  exit 0
fi
rm -f "$out/.build-key" "$out/tiershim.ko"

margs=(TS_VERSION="$ver")
[ "${TS_KMOD_W:-0}" = 1 ] && margs+=(W=1)
[ $unchecked = 1 ] && margs+=(TS_KMOD_UNCHECKED=1)

if [ $mode = host ]; then
  command -v make >/dev/null || skip "make not installed"
  cc=$(cc_of "$hdr")
  command -v "${cc:-gcc}" >/dev/null || skip "${cc:-gcc}, the compiler $kver was built with, is not installed"
  # Debian's headers carry vmlinux for BTF: kbuild then runs pahole, which
  # linux-kbuild depends on. Without it, build the module without BTF.
  if [ -f "$hdr/vmlinux" ] && grep -q '^CONFIG_DEBUG_INFO_BTF_MODULES=y' "$hdr/include/config/auto.conf" 2>/dev/null \
     && ! command -v pahole >/dev/null; then
    say "warning: pahole not installed (apt-get install dwarves): building without BTF"
    margs+=(CONFIG_DEBUG_INFO_BTF_MODULES=)
  fi
  for f in "${files[@]}"; do cp "$src/$f" "$out/$f"; done
  if ! make -C "$hdr" M="$out" "${margs[@]}" modules >"$out/build.log" 2>&1; then
    cat "$out/build.log" >&2
    die "make -C $hdr M=$out modules failed"
  fi
else
  # ---- the sid chroot -----------------------------------------------------------
  [ "$(id -u)" = 0 ] || skip "building for $kver needs a Debian sid chroot, which needs root"
  command -v unshare >/dev/null && command -v chroot >/dev/null || skip "unshare/chroot not available"
  root=${TS_KMOD_CHROOT:-$cache/sid}
  mkdir -p "${root%/*}" || skip "cannot create ${root%/*}"
  exec 8>"$root.lock"
  command -v flock >/dev/null && flock 8
  # Every command in the chroot runs in a private mount namespace with its
  # own /proc (objtool reads /proc/self): nothing stays mounted afterwards.
  inchroot() {
    unshare --mount --propagation private --pid --fork --mount-proc="$root/proc" \
      chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 \
      DEBIAN_FRONTEND=noninteractive "$@"
  }
  # The chroot's apt follows the host's on Release dates: a host configured
  # for a frozen mirror snapshot (Acquire::Check-Valid-Until "false") gets
  # the same in the chroot, else sid's expired InRelease stops apt there.
  capt=()
  for o in Check-Valid-Until Check-Date; do
    [ "$(apt-config dump 2>/dev/null | sed -n "s/^Acquire::$o \"\(.*\)\";$/\1/p" | tail -n1)" = false ] \
      && capt+=(-o "Acquire::$o=false")
  done
  if [ ! -f "$root/.tiershim-chroot" ]; then
    command -v debootstrap >/dev/null || skip "debootstrap not installed, needed for a sid chroot to build $kver (apt-get install debootstrap)"
    say "creating the sid chroot $root (debootstrap, once)"
    rm -rf "$root.tmp"
    t0=$(date +%s)
    if ! debootstrap --variant=minbase sid "$root.tmp" "${TS_KMOD_MIRROR:-http://deb.debian.org/debian}" >"$root.debootstrap.log" 2>&1; then
      why=$(grep -E '^(E|W):' "$root.debootstrap.log" | tail -n1 || true)
      rm -rf "$root.tmp"
      skip "debootstrap sid failed (${why:-see $root.debootstrap.log}; no network?)"
    fi
    rm -rf "$root"
    mv "$root.tmp" "$root"
    echo "sid chroot made by policy/unmap/kmod/build.sh in $(( $(date +%s) - t0 )) s" >"$root/.tiershim-chroot"
    touch "$root/.apt-updated"   # debootstrap left fresh package lists
  fi
  if ! inchroot sh -c "[ -f /usr/src/linux-headers-$kver/Makefile ]"; then
    if [ -z "$(find "$root/.apt-updated" -mmin -1440 2>/dev/null)" ] || \
       ! inchroot apt-cache show "linux-headers-$kver" >/dev/null 2>&1; then
      inchroot apt-get -q ${capt[@]+"${capt[@]}"} update >"$root.apt.log" 2>&1 \
        || skip "apt-get update in the sid chroot failed ($(grep -E '^(E|W):' "$root.apt.log" | tail -n1 || true); no network?)"
      touch "$root/.apt-updated"
    fi
    say "installing linux-headers-$kver in the sid chroot"
    inchroot apt-get -q ${capt[@]+"${capt[@]}"} install -y --no-install-recommends make "linux-headers-$kver" >"$root.apt.log" 2>&1 \
      || skip "cannot install linux-headers-$kver in the sid chroot ($(grep '^E:' "$root.apt.log" | tail -n1 || true))"
    inchroot apt-get clean || true
  fi
  hdr=/usr/src/linux-headers-$kver
  work=$(mktemp -d "$root/tmp/tiershim-kmod.XXXXXX")
  trap 'rm -rf "$work"' EXIT
  for f in "${files[@]}"; do cp "$src/$f" "$work/$f"; cp "$src/$f" "$out/$f"; done
  if ! inchroot make -C "$hdr" M="/tmp/${work##*/}" "${margs[@]}" modules >"$out/build.log" 2>&1; then
    cat "$out/build.log" >&2
    die "make -C $hdr M=/tmp/${work##*/} modules failed in the sid chroot $root"
  fi
  cp "$work/tiershim.ko" "$out/tiershim.ko"
  hdr="$root$hdr (sid chroot)"
fi

grep -E 'warning:|error:' "$out/build.log" >&2 || true
[ -f "$out/tiershim.ko" ] || die "no tiershim.ko after the build (see $out/build.log)"
if command -v modinfo >/dev/null || [ -x /sbin/modinfo ]; then
  vm=$("$(command -v modinfo || echo /sbin/modinfo)" -F vermagic "$out/tiershim.ko" | cut -d' ' -f1)
  [ "$vm" = "$kver" ] || { rm -f "$out/tiershim.ko"; die "tiershim.ko says vermagic '$vm', not $kver"; }
fi
echo "$key" > "$out/.build-key"
say "built $out/tiershim.ko for $kver against $hdr"
echo "$out/tiershim.ko"
