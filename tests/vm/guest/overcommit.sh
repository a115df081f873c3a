#!/bin/sh
# vm.smoke, second part: strict overcommit (vm.overcommit_memory=2), which
# the host's tests cannot set (it is machine-wide). Memory a program unmapped
# must leave Committed_AS under tiershim as without it (docs/design.md,
# Placement: Limits): fidelity's overcommit case, without and with the shim.
. /ts/lib.sh

old=$(cat /proc/sys/vm/overcommit_memory)
echo 2 > /proc/sys/vm/overcommit_memory
echo 90 > /proc/sys/vm/overcommit_ratio
vm_run "overcommit=2 without the shim" "$TS_BUILD/fidelity" overcommit
vm_run "overcommit=2 under the shim" env LD_PRELOAD="$TS_BUILD/libtiershim.so" "$TS_BUILD/fidelity" overcommit
echo "$old" > /proc/sys/vm/overcommit_memory
vm_finish overcommit
