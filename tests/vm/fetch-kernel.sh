#!/bin/bash
# fetch-kernel.sh CACHE_DIR
#
# Downloads the current Debian 12 generic kernel (linux-image-6.1.0-N-amd64,
# N found with apt-cache) into CACHE_DIR and prepares it for the VM test bed:
#   CACHE_DIR/vmlinux        uncompressed kernel (boots faster under TCG);
#                            a copy of the bzImage if it cannot be extracted
#   CACHE_DIR/root/          the unpacked .deb (lib/modules/VERSION, depmod run)
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
pkg=${TS_VM_KERNEL_PKG:-}
if [ -z "$pkg" ]; then
  # The meta package names the current ABI: Depends: linux-image-6.1.0-56-amd64
  pkg=$(apt-cache depends linux-image-amd64 2>/dev/null \
        | sed -n 's/^ *Depends: \(linux-image-6\.1\.0-[0-9]*-amd64\)$/\1/p' | head -n1 || true)
fi
if [ -z "$pkg" ]; then
  pkg=$(apt-cache search --names-only '^linux-image-6\.1\.0-[0-9]+-amd64$' 2>/dev/null \
        | awk '{print $1}' | sort -V | tail -n1 || true)
fi
[ -n "$pkg" ] || skip "no linux-image-6.1.0-N-amd64 package known to apt (run apt-get update?)"
kver=${pkg#linux-image-}

# Complete cache for exactly this package?
if [ -s "$cache/kernel-version" ] && [ "$(cat "$cache/kernel-version")" = "$kver" ] \
   && [ -s "$cache/vmlinux" ] && [ -s "$cache/root/lib/modules/$kver/modules.dep" ]; then
  echo "$kver"
  exit 0
fi

# ---- download ---------------------------------------------------------------
deb=$(ls "$cache"/"${pkg}"_*.deb 2>/dev/null | head -n1 || true)
if [ -z "$deb" ]; then
  dl=$(mktemp -d "$cache/dl.XXXXXX")
  # apt-get download as root warns that it runs unsandboxed: harmless.
  if ! (cd "$dl" && apt-get download -q "$pkg") >"$dl/log" 2>&1; then
    # "E: Failed to fetch URL  Temporary failure resolving 'deb.debian.org'"
    reason=$(grep '^E:' "$dl/log" | tail -n1 | sed 's/^E: Failed to fetch [^ ]*  *//; s/^E: //' || true)
    rm -rf "$dl"
    skip "apt-get download $pkg failed (${reason:-no network?})"
  fi
  mv "$dl"/"${pkg}"_*.deb "$cache"/ || die "downloaded .deb not found"
  rm -rf "$dl"
  deb=$(ls "$cache"/"${pkg}"_*.deb | head -n1)
fi

# ---- unpack -----------------------------------------------------------------
rm -rf "$cache/root" "$cache/root.tmp"
dpkg-deb -x "$deb" "$cache/root.tmp" || die "dpkg-deb -x $deb failed"
[ -d "$cache/root.tmp/lib/modules/$kver" ] || die "no lib/modules/$kver in $deb"
vmlinuz="$cache/root.tmp/boot/vmlinuz-$kver"
[ -f "$vmlinuz" ] || die "no boot/vmlinuz-$kver in $deb"
"$DEPMOD" -b "$cache/root.tmp" "$kver" || die "depmod failed"

# ---- uncompressed vmlinux: the xz stream after FD 37 7A 58 5A 00 ------------
rm -f "$cache/vmlinux" "$cache/vmlinux.tmp"
extracted=0
for off in $(LC_ALL=C grep -obUaP '\xFD7zXZ\x00' "$vmlinuz" 2>/dev/null | cut -d: -f1 | head -n4); do
  # (tail dies of SIGPIPE once xz has its single stream: not an error)
  if { tail -c +$((off + 1)) "$vmlinuz" || true; } | xz -dc --single-stream >"$cache/vmlinux.tmp" 2>/dev/null \
     && [ "$(head -c4 "$cache/vmlinux.tmp" | od -An -tx1 | tr -d ' \n')" = 7f454c46 ]; then
    extracted=1
    break
  fi
done
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
