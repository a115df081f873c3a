#!/usr/bin/env bash
# packaging.deb: the Debian packages, built and installed the Debian way.
#
#   tests/packaging/deb.sh BUILD_DIR
#
# 1. builds the packages out of tree (debian/build-debs.sh: a copy of the
#    source under BUILD_DIR/packaging/debs/src, dpkg-buildpackage -us -uc -b);
# 2. lintian on the .changes: no errors (warnings are listed);
# 3. a fresh Debian 12 chroot: debootstrap --variant=minbase bookworm,
#    from a tarball cached in BUILD_DIR/deb-cache (made with --make-tarball
#    on first use, then --unpack-tarball), with the host's Debian sources
#    (the guest kernel's headers may come from bookworm-updates/-security);
# 4. there: apt-get install ./*.deb (the dependencies from the archive), then
#    - tiershim run --stats - -- python3 -c 'print(sum(range(10**6)))':
#      the program's output and the stats summary on stderr;
#    - a program built with cc $(pkg-config --cflags --libs tiershim) that
#      calls tiershim_version/tiershim_stats_get (tests/packaging/consumer);
#    - the same program built with CMake's find_package(tiershim);
#    - dkms build of tiershim-dkms for the guest kernel (tests/vm boots
#      Debian 12's linux-image-amd64: linux-image-6.1.0-N-amd64), with
#      linux-headers-6.1.0-N-amd64 installed from the archive in the chroot.
# /proc is mounted in the chroot (objtool and dkms read it) and unmounted
# by a trap; the chroot is deleted afterwards (TS_DEB_KEEP=1 keeps it).
# The .debs apt downloads are kept in BUILD_DIR/deb-cache/archives.
#
# Exit 77 with one "packaging.deb: SKIP: ..." line when this cannot run: not
# root, debootstrap/dpkg-buildpackage or the build dependencies missing,
# or no network to the archive. TS_DEB_MIRROR: the mirror for debootstrap
# (default: the host's, else http://deb.debian.org/debian).
set -euo pipefail
export LC_ALL=C
t_start=$(date +%s)
say()  { echo "packaging.deb: $*"; }
skip() { echo "packaging.deb: SKIP: $*"; exit 77; }
fail() { echo "packaging.deb: FAIL: $*"; exit 1; }
lap()  { say "$1 ($(( $(date +%s) - ${2:-$t_start} )) s)"; }

[ $# = 1 ] || { echo "usage: deb.sh BUILD_DIR" >&2; exit 2; }
src=$(cd "$(dirname "$0")/../.." && pwd)
mkdir -p "$1"
build=$(cd "$1" && pwd)
work=$build/packaging
cache=$build/deb-cache

[ "$(id -u)" = 0 ] || skip "needs root (debootstrap, chroot, mount)"
for c in debootstrap dpkg-buildpackage chroot mount umount; do
  command -v "$c" >/dev/null || skip "$c not installed (make deps installs debootstrap and dpkg-dev)"
done
(cd "$src" && dpkg-checkbuilddeps) >"$build/.deb-builddeps.log" 2>&1 \
  || skip "build dependencies missing: $(sed -n 's/.*Unmet build dependencies: //p' "$build/.deb-builddeps.log") (make deps installs them)"

mkdir -p "$work" "$cache/archives"
# ctest shows a passing test's output only with -V: keep it in a file too
exec > >(tee "$work/deb.log") 2>&1
exec 9>"$cache/.lock"
command -v flock >/dev/null && flock 9

# ---- 1. build -------------------------------------------------------------------
t=$(date +%s)
"$src/debian/build-debs.sh" "$work/debs" >/dev/null || fail "building the packages failed (log: $work/debs/build.log)"
debs=()
for p in libtiershim0 tiershim libtiershim-dev; do debs+=("$(ls "$work/debs/${p}_"*_amd64.deb)"); done
debs+=("$(ls "$work/debs/tiershim-dkms_"*_all.deb)")
version=$(dpkg-deb -f "${debs[0]}" Version)
lap "built ${debs[*]##*/}" "$t"

# ---- 2. lintian -----------------------------------------------------------------
if command -v lintian >/dev/null; then
  t=$(date +%s)
  lrc=0
  lintian --pedantic --display-info "$work/debs/"*.changes >"$work/lintian.txt" 2>&1 || lrc=$?
  # 1: tags at the fail-on level (errors, counted below); 2 and up: lintian failed
  [ $lrc -le 1 ] || fail "lintian exited $lrc: $(tail -n 5 "$work/lintian.txt")"
  grep -v '^N:' "$work/lintian.txt" | grep -E '^[EWIPX]:' | sed 's/^/  /' || true
  nerr=$(grep -c '^E:' "$work/lintian.txt" || true)
  nwarn=$(grep -c '^W:' "$work/lintian.txt" || true)
  [ "$nerr" = 0 ] || fail "lintian: $nerr errors ($work/lintian.txt)"
  lap "lintian --pedantic: 0 errors, $nwarn warnings, $(grep -c '^[IP]:' "$work/lintian.txt" || true) info/pedantic tags" "$t"
else
  say "lintian not installed: its check is skipped (apt-get install lintian)"
fi

# ---- 3. the chroot ----------------------------------------------------------------
mirror=${TS_DEB_MIRROR:-}
if [ -z "$mirror" ]; then
  mirror=$(sed -n 's/^URIs: *\(http[^ ]*\/debian\)\/\{0,1\} *$/\1/p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -n1)
  [ -n "$mirror" ] || mirror=$(sed -n 's/^deb \(http[^ ]*\/debian\)\/\{0,1\} bookworm .*/\1/p' /etc/apt/sources.list 2>/dev/null | head -n1)
  mirror=${mirror:-http://deb.debian.org/debian}
fi
tarball=$cache/bookworm-minbase.tgz
if [ ! -s "$tarball" ]; then
  t=$(date +%s)
  say "making $tarball (debootstrap --make-tarball, once)"
  rm -rf "$cache/mk.tmp"
  if ! debootstrap --variant=minbase --make-tarball="$tarball.tmp" bookworm "$cache/mk.tmp" "$mirror" \
       >"$cache/debootstrap.log" 2>&1; then
    why=$(grep -E '^(E|W):' "$cache/debootstrap.log" | tail -n1 || true)
    rm -rf "$cache/mk.tmp" "$tarball.tmp"
    skip "debootstrap bookworm from $mirror failed (${why:-see $cache/debootstrap.log}; no network to the archive?)"
  fi
  rm -rf "$cache/mk.tmp"
  mv "$tarball.tmp" "$tarball"
  lap "tarball made" "$t"
fi

root=$(mktemp -d "$work/chroot.XXXXXX")
mounted=()
cleanup() {
  local m rc=$?
  for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do
    m=${mounted[i]}
    umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || echo "packaging.deb: cannot unmount $m" >&2
  done
  if grep -q " $root/" /proc/self/mounts; then
    echo "packaging.deb: something is still mounted under $root: not deleting it" >&2
  elif [ "${TS_DEB_KEEP:-0}" = 1 ]; then
    echo "packaging.deb: chroot kept in $root (TS_DEB_KEEP=1)" >&2
  else
    rm -rf "$root"
  fi
  echo "packaging.deb: exit $rc after $(( $(date +%s) - t_start )) s"
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

t=$(date +%s)
debootstrap --variant=minbase --unpack-tarball="$tarball" bookworm "$root" "$mirror" >"$work/debootstrap.log" 2>&1 \
  || fail "debootstrap --unpack-tarball failed (see $work/debootstrap.log)"
lap "fresh bookworm chroot from the cached tarball" "$t"

mount -t proc proc "$root/proc"; mounted+=("$root/proc")
if [ ! -c "$root/dev/null" ]; then mount --bind /dev "$root/dev"; mounted+=("$root/dev"); fi
# no services start in the chroot
printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"; chmod 755 "$root/usr/sbin/policy-rc.d"
# the host's Debian sources (bookworm-updates, -security: the current
# kernel ABI's headers) and its setting for a frozen snapshot's dates
if [ -f /etc/apt/sources.list.d/debian.sources ] && [ -z "${TS_DEB_MIRROR:-}" ]; then
  cp /etc/apt/sources.list.d/debian.sources "$root/etc/apt/sources.list.d/debian.sources"
  : >"$root/etc/apt/sources.list"
fi
for o in Check-Valid-Until Check-Date; do
  [ "$(apt-config dump 2>/dev/null | sed -n "s/^Acquire::$o \"\(.*\)\";$/\1/p" | tail -n1)" = false ] \
    && echo "Acquire::$o \"false\";" >>"$root/etc/apt/apt.conf.d/99tiershim-test"
done
echo 'APT::Install-Recommends "false";' >>"$root/etc/apt/apt.conf.d/99tiershim-test"
echo 'Binary::apt::APT::Keep-Downloaded-Packages "true";' >>"$root/etc/apt/apt.conf.d/99tiershim-test"

inchroot() {
  chroot "$root" /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    HOME=/root LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive "$@"
}
apt_in() {  # apt_in LOGNAME COMMAND...: in the chroot, with the .deb cache
  local log=$work/apt-$1.log; shift
  cp -l "$cache/archives/"*.deb "$root/var/cache/apt/archives/" 2>/dev/null \
    || cp "$cache/archives/"*.deb "$root/var/cache/apt/archives/" 2>/dev/null || true
  local rc=0
  inchroot "$@" >"$log" 2>&1 || rc=$?
  cp -n "$root/var/cache/apt/archives/"*.deb "$cache/archives/" 2>/dev/null || true
  return $rc
}

t=$(date +%s)
apt_in update apt-get -q update || skip "apt-get update in the chroot failed ($(grep -E '^(E|W):' "$work/apt-update.log" | tail -n1); no network to the archive?)"
# The guest kernel: what linux-image-amd64 depends on (tests/vm/fetch-kernel.sh)
kpkg=${TS_VM_KERNEL_PKG:-$(inchroot apt-cache depends linux-image-amd64 | sed -n 's/^ *Depends: \(linux-image-6\.1\.0-[0-9]*-amd64\)$/\1/p' | head -n1)}
kver=${kpkg#linux-image-}
[ -n "$kver" ] || fail "cannot tell the guest kernel (apt-cache depends linux-image-amd64 in the chroot)"
tools=(python3 gcc libc6-dev make cmake pkg-config)
headers=()
if inchroot apt-cache show "linux-headers-$kver" >/dev/null 2>&1; then headers=("linux-headers-$kver"); fi
apt_in tools apt-get -q install -y "${tools[@]}" ${headers[@]+"${headers[@]}"} \
  || fail "apt-get install ${tools[*]} ${headers[*]} failed in the chroot ($(grep '^E:' "$work/apt-tools.log" | tail -n1))"
lap "chroot: apt-get install ${tools[*]} ${headers[*]}" "$t"

t=$(date +%s)
mkdir -p "$root/tmp/debs" "$root/tmp/consumer"
cp "${debs[@]}" "$root/tmp/debs/"
cp "$src/tests/packaging/consumer/"* "$root/tmp/consumer/"
names=("${debs[@]##*/}")
apt_in debs sh -c 'cd /tmp/debs && apt-get -q install -y ./*.deb' \
  || fail "apt-get install ./*.deb failed in the chroot ($(grep '^E:' "$work/apt-debs.log" | tail -n1))"
for p in libtiershim0 tiershim libtiershim-dev tiershim-dkms libmimalloc2.0 dkms; do
  inchroot dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q 'ok installed' || fail "$p is not installed in the chroot ($work/apt-debs.log)"
done
lap "chroot: apt-get install ./*.deb (${names[*]})" "$t"

# ---- 4. the checks ------------------------------------------------------------------
t=$(date +%s)
out=$(inchroot tiershim run --stats - -- python3 -c 'print(sum(range(10**6)))' 2>"$work/run.err") \
  || fail "tiershim run ... python3 exited $? (stderr: $(head -c 500 "$work/run.err"))"
[ "$out" = 499999500000 ] || fail "python3 under tiershim printed '$out', not 499999500000"
grep -q '^tiershim: stats pid [0-9]' "$work/run.err" || fail "no stats summary on stderr: $(head -c 500 "$work/run.err")"
grep -E '^tiershim:   calls malloc_calls=[1-9]' "$work/run.err" >/dev/null || fail "the stats summary counts no malloc calls: $(cat "$work/run.err")"
say "ok: tiershim run --stats - -- python3: $out, $(grep -o 'malloc_calls=[0-9]*' "$work/run.err")"
inchroot man -w tiershim-run >/dev/null 2>&1 || [ -f "$root/usr/share/man/man1/tiershim-run.1.gz" ] || fail "no man page tiershim-run(1)"
[ -f "$root/usr/share/bash-completion/completions/tiershim" ] || fail "no bash completion"

inchroot sh -c 'cd /tmp/consumer && cc -DTS_EXPECT_VERSION="\"$(pkg-config --modversion tiershim)\"" consumer.c -o pc-consumer $(pkg-config --cflags --libs tiershim) && ./pc-consumer' \
  >"$work/pkgconfig.log" 2>&1 || fail "the pkg-config program: $(cat "$work/pkgconfig.log")"
say "ok: cc \$(pkg-config --cflags --libs tiershim): $(tail -n1 "$work/pkgconfig.log")"

inchroot sh -c 'cmake -S /tmp/consumer -B /tmp/consumer/b && cmake --build /tmp/consumer/b && /tmp/consumer/b/consumer' \
  >"$work/cmake.log" 2>&1 || fail "the find_package(tiershim) program: $(tail -n 20 "$work/cmake.log")"
say "ok: CMake find_package(tiershim): $(tail -n1 "$work/cmake.log")"
lap "user-space checks" "$t"

t=$(date +%s)
dkms_ok=skipped
if [ ${#headers[@]} = 0 ]; then
  say "SKIP (dkms only): linux-headers-$kver is not in the chroot's archive"
else
  # The package's postinst may already have built it (dkms autoinstall for the
  # kernels with headers); build again from scratch so the check is ours.
  inchroot dkms status >"$work/dkms.log" 2>&1 || true
  if grep -q "tiershim/$version, $kver, .*: \(built\|installed\)" "$work/dkms.log"; then
    inchroot dkms unbuild "tiershim/$version" -k "$kver" >>"$work/dkms.log" 2>&1 \
      || inchroot dkms remove "tiershim/$version" -k "$kver" >>"$work/dkms.log" 2>&1 || true
    inchroot sh -c "dkms status | grep -q 'tiershim/$version' || dkms add tiershim/$version" >>"$work/dkms.log" 2>&1 || true
  fi
  inchroot dkms build "tiershim/$version" -k "$kver" >>"$work/dkms.log" 2>&1 \
    || fail "dkms build tiershim/$version -k $kver: $(tail -n 30 "$work/dkms.log")"
  ko=$(ls "$root/var/lib/dkms/tiershim/$version/$kver/x86_64/module/"tiershim.ko* 2>/dev/null | head -n1)
  [ -n "$ko" ] || fail "dkms build said ok but no tiershim.ko under /var/lib/dkms/tiershim/$version/$kver"
  vm=$(inchroot modinfo -F vermagic "${ko#"$root"}" 2>/dev/null | cut -d' ' -f1 || true)
  mv=$(inchroot modinfo -F version "${ko#"$root"}" 2>/dev/null || true)
  [ "$vm" = "$kver" ] || fail "tiershim.ko has vermagic '$vm', not $kver"
  [ "$mv" = "$version" ] || fail "tiershim.ko has version '$mv', not $version"
  dkms_ok=ok
  say "ok: dkms build tiershim/$version -k $kver: ${ko##*/}, vermagic $vm, version $mv"
fi
[ -f "$root/lib/udev/rules.d/60-tiershim.rules" ] || fail "no udev rule 60-tiershim.rules"
[ -f "$root/usr/lib/modules-load.d/tiershim.conf" ] || fail "no modules-load.d/tiershim.conf"
inchroot getent group tiershim >/dev/null || fail "the postinst made no group tiershim"
lap "dkms: $dkms_ok" "$t"

lap "PASS: packages $version built, lintian clean, installed and used in a fresh bookworm chroot"
