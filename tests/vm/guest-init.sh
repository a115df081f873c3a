#!/bin/busybox sh
# /init of the VM test bed's initramfs (see tests/vm/README.md).
#
# 1. mounts proc, sysfs, devtmpfs;
# 2. turns the memmap=2G!4G emulated PMEM (NUMA node 1) into a CPU-less,
#    slow-tier system-RAM node through nd_pmem -> devdax -> kmem;
# 3. runs every guest test in /ts/tests.list with the markers run.sh parses:
#      TS_VM_BEGIN <name>
#      ...the test's output...
#      TS_VM_RESULT <name> rc=<N>
#    then TS_VM_DONE, and powers off.
# Kernel command line variables (passed to init as environment):
#   ts_test_timeout=S  per-test limit inside the guest (default 600)
#   ts_online=STATE    how node 1's memory is onlined: online_movable (the
#                      default: only movable user pages land there) or
#                      online_kernel (ZONE_NORMAL: page tables and slab can
#                      land there too, as with memhp_default_state=online)

export PATH=/ts/build:/bin:/sbin:/usr/bin:/usr/sbin
export HOME=/root TMPDIR=/tmp
umask 022

/bin/busybox mkdir -p /proc /sys /dev /tmp /run /root
/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t sysfs sysfs /sys
/bin/busybox mount -t devtmpfs devtmpfs /dev 2>/dev/null
[ -c /dev/console ] && exec </dev/console >/dev/console 2>&1
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts 2>/dev/null
mount -t tmpfs -o mode=1777 tmpfs /dev/shm 2>/dev/null
mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
hostname tsvm 2>/dev/null

echo "TS_VM_BOOTED kernel=$(uname -r) uptime=$(cut -d' ' -f1 /proc/uptime)"

# ---- two tiers: PMEM -> devdax -> kmem ---------------------------------------
setup_err=
step() { # step DESCRIPTION COMMAND...: runs it once, records the first failure
  [ -n "$setup_err" ] && return 1
  d=$1; shift
  if ! "$@"; then setup_err="$d"; echo "TS_VM_SETUP step failed: $d"; return 1; fi
}
wait_for() { # wait_for PATH: up to ~5 s for a sysfs entry to appear
  i=0
  while [ ! -e "$1" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
  [ -e "$1" ]
}
wr() { echo "$1" > "$2"; }

for m in nd_e820 nd_pmem dax_pmem device_dax kmem; do
  step "modprobe $m" modprobe $m
done
ND=/sys/bus/nd
step "region0 appears" wait_for $ND/devices/region0/dax_seed
step "namespace0.0 appears" wait_for $ND/devices/namespace0.0
if [ -z "$setup_err" ] && [ -e $ND/drivers/nd_pmem/namespace0.0 ]; then
  step "nd_pmem unbind" wr namespace0.0 $ND/drivers/nd_pmem/unbind
fi
if [ -z "$setup_err" ]; then
  D=$(cat $ND/devices/region0/dax_seed)
  step "dax seed ($D)" test -n "$D" -a -e "$ND/devices/$D"
  step "$D uuid"      wr "$(cat /proc/sys/kernel/random/uuid)" $ND/devices/$D/uuid
  step "$D mode"      wr pmem $ND/devices/$D/mode
  step "$D align"     wr 2097152 $ND/devices/$D/align
  step "$D namespace" wr namespace0.0 $ND/devices/$D/namespace
  step "$D bind"      wr $D $ND/drivers/dax_pmem/bind
  step "dax0.0 appears" wait_for /sys/bus/dax/devices/dax0.0
  if [ -z "$setup_err" ] && [ -e /sys/bus/dax/drivers/device_dax/dax0.0 ]; then
    step "device_dax unbind" wr dax0.0 /sys/bus/dax/drivers/device_dax/unbind
  fi
  step "kmem new_id"  wr dax0.0 /sys/bus/dax/drivers/kmem/new_id
fi
if [ -z "$setup_err" ]; then
  n=0
  online=${ts_online:-online_movable}
  for m in /sys/devices/system/memory/memory*/state; do
    if grep -q offline "$m"; then
      echo "$online" > "$m" || setup_err="$online $m"
      n=$((n + 1))
    fi
  done
  echo "TS_VM_SETUP onlined $n memory blocks ($online)"
fi
for t in /sys/devices/virtual/memory_tiering/memory_tier*; do
  [ -e "$t/nodelist" ] && echo "TS_VM_TIER ${t##*/} nodelist=$(cat "$t/nodelist")"
done
for n in /sys/devices/system/node/node[0-9]*; do
  echo "TS_VM_NODE ${n##*/} cpus=$(cat "$n/cpulist") $(sed -n 's/.*\(MemTotal:\) *\([0-9]*\) kB/\1 \2 kB/p' "$n/meminfo")"
done
echo "TS_VM_THP enabled=$(cat /sys/kernel/mm/transparent_hugepage/enabled 2>/dev/null)"
if [ -n "$setup_err" ]; then
  echo "TS_VM_SETUP failed: $setup_err"
  dmesg | tail -n 40
else
  echo "TS_VM_SETUP ok uptime=$(cut -d' ' -f1 /proc/uptime)"
fi

# ---- tests ---------------------------------------------------------------------
export TS_BUILD=/ts/build TS_VM=1
tmo=${ts_test_timeout:-600}
unset ts_test_timeout
any_failed=0
while read -r name; do
  [ -n "$name" ] || continue
  echo "TS_VM_BEGIN $name"
  cd /tmp || true
  TS_TEST_NAME=$name timeout -s KILL "$tmo" /bin/sh "/ts/tests/$name" </dev/null 2>&1
  rc=$?
  cd /
  echo "TS_VM_RESULT $name rc=$rc"
  [ $rc -eq 0 ] || any_failed=1
done < /ts/tests.list
if [ $any_failed -ne 0 ]; then
  echo "TS_VM_DMESG_BEGIN"
  dmesg | tail -n 40
  echo "TS_VM_DMESG_END"
fi
echo "TS_VM_DONE uptime=$(cut -d' ' -f1 /proc/uptime)"
sync
poweroff -f
# not reached; if it is, exiting init panics and panic=-1 + -no-reboot ends qemu
sleep 5
