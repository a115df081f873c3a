#!/bin/sh
# vm.kmod: the tiershim kernel module (policy/unmap/kmod, /ts/tiershim.ko
# here) in the guest's Debian kernel (6.1, 6.12 or 7.2: TS_VM_KERNEL). Runs
# inside the VM (busybox sh).
#  1. insmod + rmmod 100 times; /dev/tiershim is crw------- (mode 0600) each
#     time; mode=0660 is honoured, mode=01777 refused, shootdowns=0 works
#  1b. the per-uid slot cap (max_per_uid, default 64; root exempt) and
#     the LUF report: only a symbol kprobes can register counts as present
#     (luf_symbol= adds one to look for)
#  2. kmod_probe: INFO, RELEASE semantics, the bad-argument suite, fork,
#     the slot table, two threads at once
#  3. shootdowns counted with a thread spinning on CPU 1 (figures printed)
#  3b. kmod_lazy probe: the deferred release (TS_KMOD_REL_LAZY, LAZY, SETTLE)
#  4. an open file blocks rmmod; after rmmod, /dev/tiershim is gone (ENOENT)
#  5. the kernel log has no new WARNING/BUG/Oops/general protection lines
. /ts/lib.sh

KO=/ts/tiershim.ko
P=$TS_BUILD/kmod_probe
BAD_RE='WARNING|BUG|Oops|general protection|Bad rss-counter|Bad page'

fails() { ! "$@"; }
dev_mode() { ls -l /dev/tiershim 2>/dev/null | cut -c1-10; }
uptime_s() { cut -d' ' -f1 /proc/uptime; }
loaded() { grep -q '^tiershim ' /proc/modules; }

vm_check "tiershim.ko is in the initrd" [ -f $KO ]
[ -f $KO ] || vm_finish kmod
vm_info "$(modinfo $KO 2>/dev/null | grep -E '^(version|vermagic|parm):' | tr '\n' ' ')"
bad_at_start=$(dmesg | grep -cE "$BAD_RE")

# ---- 1. load and unload --------------------------------------------------------
t0=$(uptime_s)
i=0 problems=0
while [ $i -lt 100 ]; do
  if ! insmod $KO 2>/tmp/insmod.err; then
    problems=$((problems + 1)); echo "iteration $i: insmod failed: $(cat /tmp/insmod.err)"; break
  fi
  m=$(dev_mode)
  [ "$m" = crw------- ] || { problems=$((problems + 1)); echo "iteration $i: /dev/tiershim mode '$m'"; }
  if ! rmmod tiershim; then problems=$((problems + 1)); echo "iteration $i: rmmod failed"; break; fi
  [ ! -e /dev/tiershim ] || { problems=$((problems + 1)); echo "iteration $i: /dev/tiershim left behind"; }
  i=$((i + 1))
done
vm_check "insmod + rmmod 100 times, /dev/tiershim crw------- each time ($i cycles, $problems problems)" \
  [ $i -eq 100 -a $problems -eq 0 ]
vm_info "100 load/unload cycles: $(awk -v a="$t0" -v b="$(uptime_s)" 'BEGIN { printf "%.1f", b - a }') s"

m=
insmod $KO mode=0660 && m=$(dev_mode) && rmmod tiershim
vm_check "mode=0660 gives crw-rw---- (got '$m')" [ "$m" = crw-rw---- ]
vm_check "mode=01777 is refused" fails insmod $KO mode=01777
vm_check "not loaded after the refused load" fails loaded
out=
insmod $KO shootdowns=0 && out=$($P info 2>&1) && rmmod tiershim
sd0=no
case $out in *"shootdowns=0"*) sd0=yes ;; esac
vm_check "shootdowns=0 loads without shootdown accounting" [ $sd0 = yes ]

# ---- 1b. per-uid cap, LUF report -------------------------------------------------------
param() { cat /sys/module/tiershim/parameters/$1 2>/dev/null; }
if insmod $KO mode=0666; then
  vm_check "max_per_uid defaults to 64 (got '$(param max_per_uid)')" [ "$(param max_per_uid)" = 64 ]
  vm_run "per-uid cap, default 64" $P uidcap 64
  rmmod tiershim
else
  vm_fail "insmod mode=0666"
fi
if insmod $KO mode=0666 max_per_uid=8 2>/tmp/insmod.err; then
  vm_run "per-uid cap, max_per_uid=8" $P uidcap 8
  rmmod tiershim
else
  vm_fail "insmod max_per_uid=8: $(cat /tmp/insmod.err)"
fi
vm_check "max_per_uid=0 is refused" fails insmod $KO max_per_uid=0
loaded && rmmod tiershim
vm_check "max_per_uid=257 is refused" fails insmod $KO max_per_uid=257
loaded && rmmod tiershim
# luf_flags SYMBOL: the module loaded with luf_symbol=SYMBOL; prints luf=N
luf_flags() {
  insmod $KO luf_symbol="$1" 2>/tmp/insmod.err || { echo "insmod: $(cat /tmp/insmod.err)"; return; }
  $P flags | sed -n 's/.*\(luf=[01]\).*/\1/p'
  rmmod tiershim
}
# find_vma: a function every supported kernel has (zap_page_range, used
# before, is gone from 6.3 on)
vm_info "kallsyms: find_vma $(grep -c ' find_vma$' /proc/kallsyms), get_kprobe $(grep -c ' get_kprobe$' /proc/kallsyms)"
l=$(luf_flags ts_no_such_symbol)
vm_check "luf_symbol=ts_no_such_symbol: LUF not reported (got '$l')" [ "$l" = luf=0 ]
l=$(luf_flags find_vma)
vm_check "luf_symbol=find_vma (a symbol kprobes registers): LUF reported (got '$l')" [ "$l" = luf=1 ]
# get_kprobe exists but is NOKPROBE_SYMBOL: register_kprobe says -EINVAL,
# which proves nothing about the symbol kprobes would look for
l=$(luf_flags get_kprobe)
vm_check "luf_symbol=get_kprobe (kprobes refuses it, -EINVAL): LUF not reported (got '$l')" [ "$l" = luf=0 ]

# ---- 2, 3. the module at work -------------------------------------------------------
vm_check "insmod tiershim.ko" insmod $KO
loaded || { vm_show /tmp/insmod.err insmod; vm_finish kmod; }
vm_info "$(grep '^tiershim ' /proc/modules)"
# Hugetlb pages for the hugetlb case of badargs; NUMA balancing off so that
# its scans do not add flushes to the shootdown counts.
echo 4 > /proc/sys/vm/nr_hugepages 2>/dev/null
echo 0 > /proc/sys/kernel/numa_balancing 2>/dev/null
vm_info "native_flush_tlb_multi in kallsyms: $(grep -c ' native_flush_tlb_multi$' /proc/kallsyms)"
vm_run "INFO" $P info
vm_run "RELEASE semantics" $P release
vm_run "bad arguments" $P badargs
vm_run "fork: inherited fd" $P fork
vm_run "slot table" $P slots
vm_run "two threads" $P threads
vm_run "shootdowns" $P shootdowns
vm_run "lazy release" $TS_BUILD/kmod_lazy probe

# ---- 4. unload ------------------------------------------------------------------------
exec 3<>/dev/tiershim
vm_check "rmmod refused while /dev/tiershim is open" fails rmmod tiershim 2>/dev/null
exec 3>&-
vm_check "rmmod after the last close" rmmod tiershim
vm_check "/dev/tiershim is gone" [ ! -e /dev/tiershim ]
vm_run "open after rmmod" $P enoent

# ---- 5. the kernel log ---------------------------------------------------------------
echo "----- the module's kernel log lines (counted) -----"
dmesg | grep -i tiershim | sed 's/^\[[^]]*\] *//' | sort | uniq -c
echo "----- end -----"
bad_at_end=$(dmesg | grep -cE "$BAD_RE")
[ "$bad_at_end" -eq "$bad_at_start" ] || dmesg | grep -E "$BAD_RE"
vm_check "no new WARNING/BUG/Oops/general protection in dmesg ($bad_at_start before, $bad_at_end after)" \
  [ "$bad_at_end" -eq "$bad_at_start" ]
[ "$bad_at_start" -eq 0 ] || vm_info "already in the log at boot: $(dmesg | grep -E "$BAD_RE" | head -n 3)"

vm_finish kmod
