#!/bin/sh
# vm.kmod, part 2: the shim with TIERSHIM_UNMAP=kmod against the real module.
#  - the placement pattern (tests/integration/placement.c) with the kmod
#    backend: the unmap stats name kmod, count shootdowns from the module
#    (source "backend"), release through it with no failure; huge-page
#    coverage and retention as on the host; with RETAIN_MAX=32M retained
#    stays under the hard limit (64M) and memory goes back in batches;
#  - the unmap churn probe and stress_threads run correct under kmod;
#  - the same churn under munmap and batch, for the record: release calls
#    per backend (the module counts shootdowns only for kmod);
#  - lazy release (TIERSHIM_UNMAP_LAZY): kmod_lazy stress (threads, pattern
#    and zero checks, a fork) with RETAIN_MAX under its working set, the
#    module unloaded and loaded again between two passes, stress_threads;
#  - a user at the module's per-uid cap gets batch, silently;
#  - dmesg has no new warning; the module unloads.
. /ts/lib.sh
BAD_RE='WARNING|BUG|Oops|general protection|Bad rss-counter|Bad page'
bad0=$(dmesg | grep -cE "$BAD_RE")
lsmod 2>/dev/null | grep -q '^tiershim ' || insmod /ts/tiershim.ko
vm_check "the module is loaded" [ -c /dev/tiershim ]
LIB=$TS_BUILD/libtiershim.so

# key FILE NAME: an integer or string value of the JSON stats (one key a line)
key() { sed -n "s/^ *\"$2\": \"\{0,1\}\([^\",]*\)\"\{0,1\},\{0,1\}$/\1/p" "$1" | head -n 1; }
# ukey FILE NAME: a key of the unmap object (the last object of the file)
ukey() { sed -n '/"unmap": {/,$p' "$1" > /tmp/u.json; key /tmp/u.json "$2"; }
field() { sed -n "s/.*\b$1=\([0-9.]*\).*/\1/p" | head -n 1; }

LD_PRELOAD=$LIB TIERSHIM_UNMAP=kmod TIERSHIM_THP=fault TIERSHIM_STATS=json:/tmp/p.json \
  "$TS_BUILD/placement" >/tmp/p.out 2>/tmp/p.err
rc=$?
vm_check "placement pattern under kmod (rc=$rc)" [ $rc -eq 0 ]
vm_info "$(tr '\n' ' ' </tmp/p.out)"
be=$(ukey /tmp/p.json backend) src=$(ukey /tmp/p.json shootdown_source)
vm_check "unmap backend is kmod (got '$be'), shootdowns from the module (got '$src')" [ "$be" = kmod -a "$src" = backend ]
vm_check "no warning on stderr" [ ! -s /tmp/p.err ]
[ -s /tmp/p.err ] && vm_show /tmp/p.err stderr
cov=$(field coverage </tmp/p.out)
thp=$(cat /sys/kernel/mm/transparent_hugepage/enabled)
case $thp in
  *"[never]"*) vm_info "THP disabled in the guest: coverage not checked" ;;
  *) vm_check "huge-page coverage $cov >= 0.80" awk -v c="$cov" 'BEGIN { exit !(c >= 0.80) }' ;;
esac

LD_PRELOAD=$LIB TIERSHIM_UNMAP=kmod TIERSHIM_RETAIN_MAX=32M TIERSHIM_STATS=json:/tmp/r.json \
  "$TS_BUILD/placement" >/tmp/r.out 2>&1
rc=$?
ret=$(field retained_bytes </tmp/r.out) rel=$(ukey /tmp/r.json bytes) calls=$(ukey /tmp/r.json calls)
ranges=$(ukey /tmp/r.json ranges) fails=$(ukey /tmp/r.json failures) sd=$(ukey /tmp/r.json shootdowns)
vm_info "RETAIN_MAX=32M under kmod: retained $ret, released $rel bytes, $ranges ranges in $calls ioctls, $sd shootdowns counted by the module, $fails failures"
vm_check "retention under kmod: rc=$rc, retained <= 64 MiB, released > 0, no failure" \
  [ $rc -eq 0 -a "${ret:-999999999999}" -le $((64 << 20)) -a "${rel:-0}" -gt 0 -a "${fails:-1}" -eq 0 ]

for be in kmod batch munmap; do
  LD_PRELOAD=$LIB TIERSHIM_UNMAP=$be TIERSHIM_RETAIN_MAX=32M TIERSHIM_STATS=json:/tmp/c.$be.json \
    "$TS_BUILD/unmap_probe" churn >/tmp/c.$be.out 2>&1
  rc=$?
  vm_check "unmap churn under $be (rc=$rc)" [ $rc -eq 0 ] && grep -qx ok /tmp/c.$be.out
  vm_info "churn $be: $(ukey /tmp/c.$be.json ranges) ranges, $(ukey /tmp/c.$be.json calls) calls ($(ukey /tmp/c.$be.json release_mode)), shootdowns $(ukey /tmp/c.$be.json shootdowns) ($(ukey /tmp/c.$be.json shootdown_source))"
done

LD_PRELOAD=$LIB TIERSHIM_UNMAP=kmod TIERSHIM_RETAIN_MAX=16M "$TS_BUILD/stress_threads" 100000 4 >/tmp/s.out 2>&1
rc=$?
vm_check "stress_threads 4 x 100000 under kmod (rc=$rc)" [ $rc -eq 0 ]
[ $rc -eq 0 ] || vm_show /tmp/s.out output

# Lazy release: 4 threads allocate, check and free 64 KiB-1 MiB blocks with
# RETAIN_MAX=4M (far below their working set), so released memory is parked
# and reused all the time; thread 0 forks halfway. Twice, with the module
# unloaded and loaded again in between.
LZ="TIERSHIM_UNMAP=kmod TIERSHIM_UNMAP_LAZY=8M TIERSHIM_RETAIN_MAX=4M"
for pass in 1 2; do
  t0=$(cut -d' ' -f1 /proc/uptime)
  env LD_PRELOAD=$LIB $LZ TIERSHIM_STATS=json:/tmp/lz$pass.json "$TS_BUILD/kmod_lazy" stress 4 250 \
    >/tmp/lz$pass.out 2>&1
  rc=$?
  grep -q FAIL /tmp/lz$pass.out && rc=1
  vm_check "lazy stress pass $pass: 4 threads x 250, fork, zero corruptions (rc=$rc)" [ $rc -eq 0 ]
  [ $rc -eq 0 ] || vm_show /tmp/lz$pass.out output
  vm_info "lazy pass $pass ($(awk -v a="$t0" -v b="$(cut -d' ' -f1 /proc/uptime)" 'BEGIN { printf "%.1f", b - a }') s): limit $(ukey /tmp/lz$pass.json lazy_limit), settles $(ukey /tmp/lz$pass.json lazy_settles), cancelled $(ukey /tmp/lz$pass.json lazy_cancelled) bytes, $(ukey /tmp/lz$pass.json ranges) ranges in $(ukey /tmp/lz$pass.json calls) calls, shootdowns $(ukey /tmp/lz$pass.json shootdowns), failures $(ukey /tmp/lz$pass.json failures)"
  lim=$(ukey /tmp/lz$pass.json lazy_limit) set=$(ukey /tmp/lz$pass.json lazy_settles)
  vm_check "lazy pass $pass: lazy release on (limit ${lim:-?}) and reused ranges settled (${set:-?})" \
    [ "${lim:-0}" = $((8 << 20)) -a "${set:-0}" -gt 0 ]
  if [ $pass = 1 ]; then
    vm_check "rmmod, insmod between the passes" sh -c 'rmmod tiershim && insmod /ts/tiershim.ko'
  fi
done
env LD_PRELOAD=$LIB $LZ "$TS_BUILD/stress_threads" 10000 4 >/tmp/ls.out 2>&1
rc=$?
vm_check "stress_threads 4 x 10000 under lazy kmod (rc=$rc)" [ $rc -eq 0 ]
[ $rc -eq 0 ] || vm_show /tmp/ls.out output

# A user at the module's per-uid cap (max_per_uid=1, one file held open):
# the shim's open fails with ENOSPC and it uses batch, silently like
# without the module; TIERSHIM_VERBOSE=1 says why.
rmmod tiershim && insmod /ts/tiershim.ko mode=0666 max_per_uid=1
mkdir -p /tmp/cap && chmod 777 /tmp/cap
for v in 0 1; do
  "$TS_BUILD/kmod_probe" as 1000 sh -c 'exec 3<>/dev/tiershim || exit 9
    LD_PRELOAD=$1 TIERSHIM_UNMAP=kmod TIERSHIM_VERBOSE=$2 TIERSHIM_STATS=json:/tmp/cap/s$2.json "$3" churn' \
    sh "$LIB" $v "$TS_BUILD/unmap_probe" >/tmp/cap/o$v 2>/tmp/cap/e$v
  echo $? >/tmp/cap/rc$v
done
be=$(ukey /tmp/cap/s0.json backend)
vm_check "uid 1000 at its cap: TIERSHIM_UNMAP=kmod runs on batch (got '$be', rc=$(cat /tmp/cap/rc0))" \
  [ "$be" = batch -a "$(cat /tmp/cap/rc0)" = 0 ]
vm_check "uid 1000 at its cap: nothing on stderr" [ ! -s /tmp/cap/e0 ]
[ -s /tmp/cap/e0 ] && vm_show /tmp/cap/e0 stderr
vm_check "uid 1000 at its cap, TIERSHIM_VERBOSE=1: the fallback says no free slot" grep -q 'no free slot' /tmp/cap/e1
grep -q 'no free slot' /tmp/cap/e1 || vm_show /tmp/cap/e1 stderr

bad1=$(dmesg | grep -cE "$BAD_RE")
vm_check "no new WARNING/BUG/Oops in dmesg ($bad0 before, $bad1 after)" [ "$bad1" -eq "$bad0" ]
vm_check "rmmod after the shim's processes are gone" rmmod tiershim
vm_finish kmod_shim
