#!/bin/sh
# vm.migrate: the migration engine through tiershim's API (mig_probe) in
# the two-tier guest: demote/promote with every page landing and contents
# intact, writers during migration, partial failures reported, and
# background promotion of spilled bulk ranges.
. /ts/lib.sh

P=$TS_BUILD/mig_probe
SHIM=$TS_BUILD/libtiershim.so
vm_run "demote and promote through the API" env LD_PRELOAD=$SHIM TIERSHIM_MIGRATE_THREADS=2 "$P" api
vm_run "one worker gives the same result" env LD_PRELOAD=$SHIM TIERSHIM_MIGRATE_THREADS=1 "$P" api
vm_run "writers during migration lose nothing" env LD_PRELOAD=$SHIM "$P" writers
vm_run "partial failures are reported" env LD_PRELOAD=$SHIM "$P" partial
vm_run "TIERSHIM_MIGRATE_RATE paces the engine" env LD_PRELOAD=$SHIM TIERSHIM_MIGRATE_RATE=32M "$P" rate
vm_run "spilled bulk ranges are promoted back" env LD_PRELOAD=$SHIM TIERSHIM_BULK=fast TIERSHIM_PROMOTE=1 \
  TIERSHIM_PROMOTE_RATE=256M TIERSHIM_RETAIN_MAX=0 "$P" auto
vm_finish
