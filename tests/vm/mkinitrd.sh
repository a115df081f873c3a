#!/bin/bash
# mkinitrd.sh --cache KERNEL_CACHE --build BUILD_DIR --out INITRD
#             [--bin PATH]... [--file SRC:DEST]... [--kmod NAME]... GUEST_TEST.sh...
#
# Builds the VM test bed's initramfs (gzip'd newc cpio):
#   /init                     tests/vm/guest-init.sh
#   /bin/busybox + applets    (busybox --list-full symlinks)
#   /lib/modules/KVER/        drivers/{nvdimm,dax,acpi/nfit} + --kmod NAMEs (?NAME: only where that kernel has it),
#                             their dependencies, depmod'ed
#   /ts/build/                BUILD_DIR/libtiershim.so*, BUILD_DIR/tiershim,
#                             and every --bin PATH (by basename)
#   /ts/tests/NAME, /ts/tests.list   the guest tests, in order
#   /ts/lib.sh                tests/vm/guest/lib.sh (helpers for guest tests)
#   every shared library those binaries need (ldd, at their host paths, so
#   the guest's loader finds them without LD_LIBRARY_PATH), including
#   /lib64/ld-linux-x86-64.so.2
#   --file SRC:DEST           any other file (e.g. an out-of-tree .ko)
# KERNEL_CACHE is what fetch-kernel.sh prepared. The initrd is rebuilt only
# when the content hash of its inputs changed (INITRD.key holds it).
set -euo pipefail

case ${BASH_SOURCE[0]} in */*) VM_DIR=${BASH_SOURCE[0]%/*} ;; *) VM_DIR=. ;; esac
VM_DIR=$(cd "$VM_DIR" && pwd)
die() { echo "mkinitrd: $*" >&2; exit 1; }

cache='' build='' out=''
bins=() files=() kmods=() tests=()
while [ $# -gt 0 ]; do
  case $1 in
    --cache) cache=$2; shift 2 ;;
    --build) build=$2; shift 2 ;;
    --out)   out=$2; shift 2 ;;
    --bin)   bins+=("$2"); shift 2 ;;
    --file)  files+=("$2"); shift 2 ;;
    --kmod)  kmods+=("$2"); shift 2 ;;
    -h|--help) sed -n '2,/^set -e/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    --) shift; tests+=("$@"); break ;;
    -*) die "unknown option $1" ;;
    *) tests+=("$1"); shift ;;
  esac
done
[ -n "$cache" ] && [ -n "$build" ] && [ -n "$out" ] || die "--cache, --build and --out are required"
[ -s "$cache/kernel-version" ] || die "no kernel in $cache (run fetch-kernel.sh)"
kver=$(cat "$cache/kernel-version")
modroot=$cache/root/lib/modules/$kver
[ -s "$modroot/modules.dep" ] || die "no modules.dep in $modroot"
[ ${#tests[@]} -gt 0 ] || die "no guest test given"

# ---- the inventory: DEST -> SRC (files) and DEST -> TARGET (symlinks) --------
declare -A F=() L=()
add_file() { # add_file SRC DEST
  [ -f "$1" ] || die "missing file $1"
  F["${2#/}"]=$(readlink -f "$1")
}
elfs=()      # host paths whose shared libraries must come along

busybox=
for b in /bin/busybox /usr/bin/busybox "$(command -v busybox || true)"; do
  [ -n "$b" ] && [ -x "$b" ] && { busybox=$b; break; }
done
[ -n "$busybox" ] || die "busybox not found (package busybox-static)"
add_file "$busybox" bin/busybox
elfs+=("$busybox")   # busybox-static needs nothing; a dynamic one gets its libs
while read -r applet; do
  [ -n "$applet" ] && [ "$applet" != bin/busybox ] && L["$applet"]=/bin/busybox
done < <("$busybox" --list-full)

add_file "$VM_DIR/guest-init.sh" init
add_file "$VM_DIR/guest/lib.sh" ts/lib.sh

# tiershim build outputs: the library (with its soname links) and the CLI
shopt -s nullglob
libs=("$build"/libtiershim.so*)
shopt -u nullglob
[ ${#libs[@]} -gt 0 ] || die "no libtiershim.so* in $build (build first)"
for f in "${libs[@]}"; do
  if [ -L "$f" ]; then L["ts/build/${f##*/}"]=$(readlink "$f"); else add_file "$f" "ts/build/${f##*/}"; elfs+=("$f"); fi
done
[ -x "$build/tiershim" ] || die "no tiershim CLI in $build (build first)"
add_file "$build/tiershim" ts/build/tiershim
elfs+=("$build/tiershim")
for b in ${bins[@]+"${bins[@]}"}; do
  [ -f "$b" ] || die "--bin $b: no such file"
  add_file "$b" "ts/build/${b##*/}"
  elfs+=("$b")
done
for fd in ${files[@]+"${files[@]}"}; do
  src=${fd%%:*} dst=${fd#*:}
  [ "$src" != "$fd" ] && [ -n "$dst" ] || die "--file wants SRC:DEST, got $fd"
  add_file "$src" "$dst"
done
testlist=
for t in "${tests[@]}"; do
  n=${t##*/}
  [ -z "${F[ts/tests/$n]:-}" ] || die "two guest tests named $n"
  add_file "$t" "ts/tests/$n"
  testlist+="$n"$'\n'
done

# shared libraries: ldd already lists the transitive closure; copy each at
# the path the host loader resolved it to (a default search directory, or
# the RUNPATH a build-tree binary carries), plus the interpreter.
for e in "${elfs[@]}"; do
  out_ldd=$(ldd "$e" 2>&1) || { case $out_ldd in *"not a dynamic"*|*"statically linked"*) continue ;; esac; die "ldd $e: $out_ldd"; }
  while read -r line; do
    case $line in
      *"=> not found"*) die "ldd $e: ${line%% *} not found" ;;
      *"=> /"*) p=${line#*=> }; p=${p%% (*} ;;
      /*) p=${line%% (*} ;;
      *) continue ;;
    esac
    add_file "$p" "$p"   # a plain file at the name the loader opens
  done <<<"$out_ldd"
done

# kernel modules: the dax/kmem route and their dependencies
declare -A M=()
while read -r m; do M["${m#$modroot/}"]=1; done < <(
  find "$modroot/kernel/drivers/nvdimm" "$modroot/kernel/drivers/dax" \
       "$modroot/kernel/drivers/acpi/nfit" -name '*.ko*' 2>/dev/null)
for k in ${kmods[@]+"${kmods[@]}"}; do
  optional=0
  [[ $k == \?* ]] && { optional=1; k=${k#\?}; }
  rel=$(awk -F: -v n="$k" '{ f = $1; sub(/.*\//, "", f); sub(/\.ko.*/, "", f); gsub(/-/, "_", f);
          m = n; gsub(/-/, "_", m); if (f == m) { print $1; exit } }' "$modroot/modules.dep")
  if [ -z "$rel" ]; then
    # Built into this kernel (6.12 has virtio_pci built in, 6.1 a module):
    # nothing to add, and modprobe in the guest succeeds.
    if grep -q "/${k//-/_}\.ko" <(sed 's/-/_/g' "$modroot/modules.builtin" 2>/dev/null); then
      echo "mkinitrd: --kmod $k: built into $kver" >&2
      continue
    fi
    ((optional)) && { echo "mkinitrd: --kmod ?$k: not in $kver, skipped" >&2; continue; }
    die "--kmod $k: no such module in $kver"
  fi
  M["$rel"]=1
done
[ ${#M[@]} -gt 0 ] || die "no dax/nvdimm modules in $modroot"
for rel in "${!M[@]}"; do
  for d in $(awk -F: -v m="$rel" '$1 == m { print $2; exit }' "$modroot/modules.dep"); do M["$d"]=1; done
done
for rel in "${!M[@]}"; do add_file "$modroot/$rel" "lib/modules/$kver/$rel"; done
for f in modules.order modules.builtin modules.builtin.modinfo; do
  [ -f "$modroot/$f" ] && add_file "$modroot/$f" "lib/modules/$kver/$f"
done

# ---- content hash: skip the work when nothing changed ------------------------
key=$( {
  echo "v1 $kver"
  printf '%s' "$testlist"
  for d in "${!L[@]}"; do echo "L $d ${L[$d]}"; done | LC_ALL=C sort
  for d in "${!F[@]}"; do echo "F $d ${F[$d]}"; done | LC_ALL=C sort
  for d in "${!F[@]}"; do echo "${F[$d]}"; done | LC_ALL=C sort -u | tr '\n' '\0' | xargs -0 sha256sum
} | sha256sum | cut -d' ' -f1 )
if [ -s "$out" ] && [ "$(cat "$out.key" 2>/dev/null)" = "$key" ]; then
  echo "mkinitrd: $out up to date (${#F[@]} files)" >&2
  exit 0
fi

# ---- stage and pack ------------------------------------------------------------
stage=$(mktemp -d "${TMPDIR:-/tmp}/ts-vm-initrd.XXXXXX")
trap 'rm -rf "$stage" "$stage.gz"' EXIT
mkdir -p "$stage"/{bin,sbin,usr/bin,usr/sbin,proc,sys,dev,tmp,run,root,etc,mnt,ts/build,ts/tests}
chmod 1777 "$stage/tmp"
for d in "${!F[@]}"; do
  mkdir -p "$stage/$(dirname "$d")"
  case $d in # compressed modules (6.12 and later): loaded as plain .ko
    *.ko.xz) xz -dc "${F[$d]}" > "$stage/${d%.xz}" ;;
    *.ko.zst) zstd -dcq "${F[$d]}" > "$stage/${d%.zst}" ;;
    *) cp "${F[$d]}" "$stage/$d" ;;
  esac
done
for d in "${!L[@]}"; do
  mkdir -p "$stage/$(dirname "$d")"
  [ -e "$stage/$d" ] || [ -L "$stage/$d" ] || ln -s "${L[$d]}" "$stage/$d"
done
chmod 755 "$stage/init" "$stage"/ts/tests/*
printf '%s' "$testlist" > "$stage/ts/tests.list"
echo 'root:x:0:0:root:/root:/bin/sh' > "$stage/etc/passwd"
echo 'root:x:0:' > "$stage/etc/group"
: > "$stage/etc/fstab"
depmod -b "$stage" "$kver" 2>/dev/null || /sbin/depmod -b "$stage" "$kver" || die "depmod failed"

# /dev/console must exist before init runs (devtmpfs is mounted by init
# itself); a hand-written newc entry avoids needing mknod (root).
newc() { # newc NAME MODE RMAJ RMIN (no data)
  local ns=$(( ${#1} + 1 ))
  printf '070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X' \
    0 "$2" 0 0 1 0 0 0 0 "$3" "$4" "$ns" 0
  printf '%s\0' "$1"
  local pad=$(( (4 - (110 + ns) % 4) % 4 ))
  [ $pad -eq 0 ] || head -c $pad /dev/zero
}
{
  newc dev $((0040755)) 0 0
  newc dev/console $((0020600)) 5 1
  newc 'TRAILER!!!' 0 0 0
  (cd "$stage" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet)
} | gzip -1 > "$stage.gz"
mv "$stage.gz" "$out"
echo "$key" > "$out.key"
echo "mkinitrd: $out: ${#F[@]} files, $(( $(stat -c %s "$out") / 1024 )) KiB" >&2
