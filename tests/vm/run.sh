#!/bin/bash
# run.sh --build BUILD_DIR [--bin PATH]... [--file SRC:DEST]... [--kmod NAME]...
#        [--cache DIR] [--timeout S] [--name NAME] GUEST_TEST.sh...
#
# Boots a two-tier VM (qemu TCG, q35, 2 vCPUs, node 0 = 2 GiB DRAM with the
# CPUs, node 1 = 2 GiB emulated PMEM onlined through dax/kmem as a CPU-less
# slow-tier node), runs the guest tests in order in ONE boot and reports.
#   --build   the tiershim build dir (libtiershim.so*, tiershim CLI go along)
#   --bin     an extra binary for the guest, at /ts/build/<basename>
#   --file    any other file, SRC on the host, DEST in the guest
#   --kmod    an extra module of the Debian kernel (with its dependencies; ?NAME: if it has one)
#   --cache   kernel + initrd cache (default BUILD_DIR/vm-cache/linux-KERNEL)
#   --timeout whole-run limit in seconds (default 240)
#   --name    log/initrd name (default: first guest test's name)
# Console log: BUILD_DIR/vm-logs/NAME.log. Exit status: 0 when every test
# printed TS_VM_RESULT rc=0 and the guest got to TS_VM_DONE; 77 (skip) when
# qemu is missing, the kernel cannot be downloaded, or the host lacks the
# memory; 1 otherwise.
# Environment: TS_VM_KERNEL (the guest kernel: 6.1, the default, 6.12 or
# sid; see fetch-kernel.sh), TS_VM_QEMU (qemu binary, default qemu-system-x86_64),
# TS_VM_APPEND (extra kernel command line), TS_VM_VERBOSE=1 (stream the
# console while it runs), TS_VM_MIN_AVAIL_MB (default 3072), TS_VM_SLOW_MB
# (size of the slow node 1, default 2048; node 0 stays 2 GiB), TS_VM_DISK (a
# raw image attached read-only as a virtio disk, /dev/vda in the guest once
# virtio_pci and virtio_blk are loaded: pass --kmod virtio_blk --kmod
# virtio_pci; for files too large for the initrd, such as models).
set -uo pipefail

case ${BASH_SOURCE[0]} in */*) VM_DIR=${BASH_SOURCE[0]%/*} ;; *) VM_DIR=. ;; esac
VM_DIR=$(cd "$VM_DIR" && pwd)
say()  { echo "vm: $*"; }
fail() { echo "vm: FAIL: $*"; exit 1; }
skip() { echo "vm: SKIP: $*"; exit 77; }
now()  { date +%s.%N; }
dt()   { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

build='' cache='' timeout=240 name=''
bins=() files=() kmods=() tests=()
while [ $# -gt 0 ]; do
  case $1 in
    --build)   build=$2; shift 2 ;;
    --cache)   cache=$2; shift 2 ;;
    --timeout) timeout=$2; shift 2 ;;
    --name)    name=$2; shift 2 ;;
    --bin)     bins+=(--bin "$2"); shift 2 ;;
    --file)    files+=(--file "$2"); shift 2 ;;
    --kmod)    kmods+=(--kmod "$2"); shift 2 ;;
    -h|--help) sed -n '2,/^set -u/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    --) shift; tests+=("$@"); break ;;
    -*) fail "unknown option $1 (see --help)" ;;
    *) tests+=("$1"); shift ;;
  esac
done

# ---- can this machine run it at all? (skips) ----------------------------------
qemu=${TS_VM_QEMU:-qemu-system-x86_64}
command -v "$qemu" >/dev/null 2>&1 || skip "$qemu not installed (apt-get install qemu-system-x86)"
avail_mb=$(awk '/^MemAvailable:/ { print int($2 / 1024) }' /proc/meminfo 2>/dev/null || echo 0)
[ "${avail_mb:-0}" -ge "${TS_VM_MIN_AVAIL_MB:-3072}" ] \
  || skip "only ${avail_mb} MiB of host memory available; the 4 GiB guest wants ${TS_VM_MIN_AVAIL_MB:-3072}"

# ---- arguments (problems here are failures) ------------------------------------
[ -n "$build" ] || fail "--build BUILD_DIR is required"
[ -d "$build" ] || fail "build dir $build does not exist"
build=$(cd "$build" && pwd)
[ ${#tests[@]} -gt 0 ] || fail "no guest test given"
for t in "${tests[@]}"; do [ -f "$t" ] || fail "guest test $t not found"; done
[ -n "$name" ] || { name=${tests[0]##*/}; name=${name%.sh}; }
kernel=${TS_VM_KERNEL:-6.1}
cache=${cache:-$build/vm-cache/linux-$kernel}
mkdir -p "$cache" "$build/vm-logs" || fail "cannot create $cache"
log=$build/vm-logs/$name.log
initrd=$cache/initrd-$name.gz

# ---- kernel, initrd ------------------------------------------------------------
t0=$(now)
kver=$(bash "$VM_DIR/fetch-kernel.sh" "$cache" 2>"$cache/fetch.err"); rc=$?
case $rc in
  0) ;;
  77) skip "$(tail -n1 "$cache/fetch.err" | sed 's/^fetch-kernel: SKIP: //')" ;;
  *) cat "$cache/fetch.err"; fail "fetch-kernel.sh failed (rc=$rc)" ;;
esac
say "kernel $kver ($(dt "$t0") s)"
t0=$(now)
bash "$VM_DIR/mkinitrd.sh" --cache "$cache" --build "$build" --out "$initrd" \
  ${bins[@]+"${bins[@]}"} ${files[@]+"${files[@]}"} ${kmods[@]+"${kmods[@]}"} "${tests[@]}" 2>&1 \
  || fail "mkinitrd.sh failed"
say "initrd $initrd ($(dt "$t0") s)"

# ---- boot ------------------------------------------------------------------------
guest_tmo=$(( timeout > 60 ? timeout - 30 : timeout / 2 ))  # per test, in the guest
slow_mb=${TS_VM_SLOW_MB:-2048}
case $slow_mb in ''|*[!0-9]*) fail "TS_VM_SLOW_MB=$slow_mb: a size in MiB" ;; esac
[ "$slow_mb" -ge 512 ] && [ $((slow_mb % 128)) = 0 ] || fail "TS_VM_SLOW_MB=$slow_mb: at least 512, a multiple of 128 (memory block size)"
disk=()
if [ -n "${TS_VM_DISK:-}" ]; then
  [ -f "$TS_VM_DISK" ] || fail "TS_VM_DISK=$TS_VM_DISK: no such file"
  disk=(-drive "file=$TS_VM_DISK,if=virtio,format=raw,readonly=on")
fi
# Node 1 sits above 4 GiB on q35 (node 0's 2 GiB fill the low memory), so
# memmap=SIZE!4G turns exactly node 1 into emulated PMEM.
append="console=ttyS0 panic=-1 memmap=${slow_mb}M!4G quiet ts_test_timeout=$guest_tmo ${TS_VM_APPEND:-}"
# shellcheck disable=SC2054  # commas belong to qemu options
qargs=(-M q35 -accel tcg,thread=multi -cpu max -smp 2 -m $((2048 + slow_mb))M
  -object memory-backend-ram,id=m0,size=2G -object memory-backend-ram,id=m1,size=${slow_mb}M
  -numa node,nodeid=0,cpus=0-1,memdev=m0 -numa node,nodeid=1,memdev=m1
  -numa dist,src=0,dst=1,val=20
  ${disk[@]+"${disk[@]}"} -nographic -nic none -vga none -no-reboot -kernel "$cache/vmlinux" -initrd "$initrd" -append "$append")
say "booting: $qemu ${qargs[*]}"
say "console log: $log"
# Line-buffered, so the log can be followed while the guest runs.
unbuf=; command -v stdbuf >/dev/null 2>&1 && unbuf='stdbuf -oL'

boot() {
  if [ "${TS_VM_VERBOSE:-0}" = 1 ]; then
    timeout -k 5 "$timeout" "$qemu" "${qargs[@]}" </dev/null 2>&1 | $unbuf tr -d '\r' | tee "$log"
  else
    timeout -k 5 "$timeout" "$qemu" "${qargs[@]}" </dev/null 2>&1 | $unbuf tr -d '\r' >"$log"
  fi
  return "${PIPESTATUS[0]}"
}
t0=$(now)
boot; qrc=$?
# Multi-threaded TCG can run a stale translation of kernel text that the
# guest is live-patching (text_poke_bp's int3), and the guest kernel then
# dies in early boot, before our init runs: "Oops: int3" (6.12 in
# sched_clock_cpu, 7.2 in ktime_get_real_ts64, about 1 boot in 20 beside a
# CPU hog), or so early that it resets before its console is up (qemu exits
# 0 with nothing past SeaBIOS). Nothing of ours was tested then, so boot
# again, at most twice; a guest that reached our init (TS_VM_BOOTED, the
# first line init prints) is judged as it is. The marker is not at the start
# of its line: a quiet kernel prints nothing, so it follows SeaBIOS's
# "Booting from ROM.." without a newline.
died_early() {
  ! grep -q 'TS_VM_BOOTED kernel=' "$log" &&
    { [ "$qrc" = 0 ] || grep -qE 'Kernel panic|Oops:' "$log"; }
}
for again in 1 2; do
  died_early || break
  why=$(grep -m1 -E 'Oops:|Kernel panic' "$log" || true)
  say "the guest kernel died before init (${why:-reset with no kernel message}): boot $((again + 1))"
  cp "$log" "$log.boot$again"
  boot; qrc=$?
done
boot_s=$(dt "$t0")

# ---- report ----------------------------------------------------------------------
show_tail() { echo "----- console log, last ${2:-60} lines ($log) -----"; tail -n "${2:-60}" "$1"; echo "----- end -----"; }
grep -oE 'TS_VM_(BOOTED|TIER|NODE|THP|SETUP) .*' "$log" | sed 's/^/vm: guest: /'
problems=0
if [ "$qrc" = 124 ] || [ "$qrc" = 137 ]; then
  say "FAIL: timed out after $timeout s"; problems=1
elif [ "$qrc" != 0 ]; then
  say "FAIL: $qemu exited with status $qrc"; problems=1
fi
grep -q '^TS_VM_SETUP ok' "$log" || { say "FAIL: two-tier setup did not complete in the guest"; problems=1; }
pass=0
for t in "${tests[@]}"; do
  n=${t##*/}
  out=$(awk -v n="$n" '$0 == "TS_VM_BEGIN " n { on = 1; next } on && index($0, "TS_VM_RESULT " n " rc=") == 1 { exit } on' "$log")
  res=$(sed -n "s/^TS_VM_RESULT $n rc=\([0-9]*\)\$/\1/p" "$log" | head -n1)
  lines=$(printf '%s\n' "$out" | wc -l)
  echo "----- $n (guest output) -----"
  if [ "$lines" -gt 300 ]; then echo "[... $((lines - 300)) lines, see $log]"; fi
  printf '%s\n' "$out" | tail -n 300
  if [ -z "$res" ]; then
    echo "----- $n: no result -----"; problems=1
  elif [ "$res" != 0 ]; then
    echo "----- $n: FAILED rc=$res -----"; [ $problems = 1 ] || problems=2
  else
    echo "----- $n: passed -----"; pass=$((pass + 1))
  fi
done
grep -q '^TS_VM_DONE' "$log" || { say "FAIL: the guest never reached TS_VM_DONE"; problems=1; }
if [ $problems -ne 0 ]; then
  if [ $problems = 2 ]; then  # only failed tests: the guest's kernel log may tell why
    echo "----- guest dmesg (tail) -----"
    sed -n '/^TS_VM_DMESG_BEGIN$/,/^TS_VM_DMESG_END$/p' "$log" | sed '1d;$d'
    echo "----- end -----"
  else
    show_tail "$log" 80
  fi
  say "FAILED: $pass/${#tests[@]} guest tests passed (boot+tests $boot_s s)"
  exit 1
fi
say "PASS: ${#tests[@]} guest test(s) (boot+tests $boot_s s, guest $(sed -n 's/^TS_VM_DONE uptime=//p' "$log") s uptime)"
exit 0
