#!/bin/bash
# fetch-kernel.sh CACHE_DIR
#
# Downloads the guest kernel that TS_VM_KERNEL names (default 6.1) into
# CACHE_DIR and prepares it for the VM test bed:
#   6.1   Debian 12's generic kernel (linux-image-6.1.0-N-amd64, N found
#         with the host's apt-cache)
#   6.12  the newest linux-image-6.12.*+deb12-amd64 of bookworm-backports
#   sid   the kernel linux-image-amd64 depends on in sid (7.x); its image,
#         modules and binary packages
# bookworm-backports and sid are read through a private apt configuration
# under TS_VM_APT_DIR (default CACHE_DIR/../apt): the host's sources are
# never changed and nothing is installed, the packages are only unpacked.
#   CACHE_DIR/vmlinux        uncompressed kernel (boots faster under TCG);
#                            a copy of the bzImage if it cannot be extracted
#   CACHE_DIR/root/          the unpacked .debs (lib/modules/VERSION, depmod run)
#   CACHE_DIR/kernel-version the kernel release, e.g. 6.1.0-56-amd64
# Idempotent: a second run reuses what is there. Prints the kernel version.
#
# Exit 77 (with a one-line reason on stderr) when the kernel package cannot
# be found or downloaded (no network, no apt); 1 on any other problem.
# TS_VM_KERNEL_PKG=linux-image-... overrides the package choice.
set -euo pipefail

die()  { echo "fetch-kernel: $*" >&2; exit 1; }
skip() { echo "fetch-kernel: SKIP: $*" >&2; exit 77; }

[ $# -eq 1 ] || die "usage: fetch-kernel.sh CACHE_DIR"
cache=$1
mkdir -p "$cache"
cache=$(cd "$cache" && pwd)

# Fast path: a complete cache from an earlier run (the package choice is not
# re-checked then, so an offline machine keeps working from its cache).
if [ -z "${TS_VM_KERNEL_PKG:-}" ] && [ -s "$cache/kernel-version" ] && [ -s "$cache/vmlinux" ] \
   && [ -s "$cache/root/lib/modules/$(cat "$cache/kernel-version")/modules.dep" ]; then
  cat "$cache/kernel-version"
  exit 0
fi

# One fetch at a time per cache (parallel ctest runs of several vm.* tests).
if command -v flock >/dev/null; then
  exec 9>"$cache/.lock"
  flock 9
fi

command -v apt-cache >/dev/null && command -v apt-get >/dev/null || skip "apt-get/apt-cache not available to fetch a Debian kernel"
command -v dpkg-deb >/dev/null || skip "dpkg-deb not available"
command -v depmod >/dev/null || [ -x /sbin/depmod ] || skip "depmod not installed (package kmod)"
DEPMOD=$(command -v depmod || echo /sbin/depmod)

# ---- which package ----------------------------------------------------------
kernel=${TS_VM_KERNEL:-6.1}
. "$(dirname "${BASH_SOURCE[0]}")/kernel-apt.sh"
kapt_init "$kernel" "${TS_VM_APT_DIR:-$cache/../apt}" || skip "$kapt_why"
pkg=${TS_VM_KERNEL_PKG:-}
[ -n "$pkg" ] || pkg=$(kapt_image_pkg) || true
[ -n "$pkg" ] || skip "no kernel package for TS_VM_KERNEL=$kernel known to apt ($kapt_why)"
kver=${pkg#linux-image-}

# Complete cache for exactly this package?
if [ -s "$cache/kernel-version" ] && [ "$(cat "$cache/kernel-version")" = "$kver" ] \
   && [ -s "$cache/vmlinux" ] && [ -s "$cache/root/lib/modules/$kver/modules.dep" ]; then
  echo "$kver"
  exit 0
fi

# ---- download ---------------------------------------------------------------
# The image, and the packages newer kernels split it into (sid: linux-binary-*
# holds vmlinuz, linux-modules-* the modules, linux-base-* modules.order etc.).
pkgs=("$pkg")
for part in base binary modules; do
  kapt_known "linux-$part-$kver" && pkgs+=("linux-$part-$kver")
done
debs=()
for p in "${pkgs[@]}"; do
  deb=$(ls "$cache"/"${p}"_*.deb 2>/dev/null | head -n1 || true)
  if [ -z "$deb" ]; then
    dl=$(mktemp -d "$cache/dl.XXXXXX")
    # apt-get download as root warns that it runs unsandboxed: harmless.
    if ! (cd "$dl" && kapt_get download -q "$p") >"$dl/log" 2>&1; then
      # "E: Failed to fetch URL  Temporary failure resolving 'deb.debian.org'"
      reason=$(grep '^E:' "$dl/log" | tail -n1 | sed 's/^E: Failed to fetch [^ ]*  *//; s/^E: //' || true)
      rm -rf "$dl"
      skip "apt-get download $p failed (${reason:-no network?})"
    fi
    mv "$dl"/"${p}"_*.deb "$cache"/ || die "downloaded .deb not found"
    rm -rf "$dl"
    deb=$(ls "$cache"/"${p}"_*.deb | head -n1)
  fi
  debs+=("$deb")
done

# ---- unpack -----------------------------------------------------------------
rm -rf "$cache/root" "$cache/root.tmp"
for deb in "${debs[@]}"; do
  dpkg-deb -x "$deb" "$cache/root.tmp" || die "dpkg-deb -x $deb failed"
done
# merged /usr (sid): the modules under usr/lib/modules
if [ ! -d "$cache/root.tmp/lib/modules/$kver" ] && [ -d "$cache/root.tmp/usr/lib/modules/$kver" ]; then
  mkdir -p "$cache/root.tmp/lib"
  mv "$cache/root.tmp/usr/lib/modules" "$cache/root.tmp/lib/modules"
fi
[ -d "$cache/root.tmp/lib/modules/$kver" ] || die "no lib/modules/$kver in ${debs[*]}"
vmlinuz="$cache/root.tmp/boot/vmlinuz-$kver"
[ -f "$vmlinuz" ] || vmlinuz="$cache/root.tmp/lib/modules/$kver/vmlinuz"
[ -f "$vmlinuz" ] || die "no vmlinuz for $kver in ${debs[*]}"
"$DEPMOD" -b "$cache/root.tmp" "$kver" || die "depmod failed"

# ---- uncompressed vmlinux: the xz stream after FD 37 7A 58 5A 00 (6.1), or ---
# ---- the zstd frame after 28 B5 2F FD (6.12 and later) ----------------------
rm -f "$cache/vmlinux" "$cache/vmlinux.tmp"
extracted=0
unpack_at() { # unpack_at MAGIC DECOMPRESSOR...: the first stream that is an ELF
  local off
  for off in $(LC_ALL=C grep -obUaP "$1" "$vmlinuz" 2>/dev/null | cut -d: -f1 | head -n4); do
    # (tail dies of SIGPIPE once the decompressor has its stream: not an error)
    if { tail -c +$((off + 1)) "$vmlinuz" || true; } | "${@:2}" >"$cache/vmlinux.tmp" 2>/dev/null; \
       [ "$(head -c4 "$cache/vmlinux.tmp" | od -An -tx1 | tr -d ' \n')" = 7f454c46 ]; then
      return 0
    fi
  done
  return 1
}
if unpack_at '\xFD7zXZ\x00' xz -dc --single-stream; then
  extracted=1
elif command -v zstd >/dev/null && unpack_at '\x28\xB5\x2F\xFD' zstd -dcq; then
  extracted=1
fi
if [ $extracted = 1 ]; then
  mv "$cache/vmlinux.tmp" "$cache/vmlinux"
else
  rm -f "$cache/vmlinux.tmp"
  echo "fetch-kernel: could not extract an uncompressed vmlinux; booting the bzImage" >&2
  cp "$vmlinuz" "$cache/vmlinux"
fi
cp "$vmlinuz" "$cache/vmlinuz"

mv "$cache/root.tmp" "$cache/root"
echo "$kver" >"$cache/kernel-version"
echo "$kver"
