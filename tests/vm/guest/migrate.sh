#!/bin/sh
# vm.migrate: the migration engine through tiershim's API (mig_probe) in
# the two-tier guest: demote/promote with every page landing and contents
# intact, writers during migration, partial failures reported, and
# background promotion of spilled bulk ranges.
. /ts/lib.sh

P=$TS_BUILD/mig_probe
SHIM=$TS_BUILD/libtiershim.so
run() { # NAME CMD...
  name=$1; shift
  vm_info "== $name: $*"
  "$@" >/tmp/out 2>&1; rc=$?
  sed 's/^/   /' /tmp/out
  vm_check "$name (rc=$rc)" [ $rc -eq 0 ]
}
run "demote and promote through the API" env LD_PRELOAD=$SHIM TIERSHIM_MIGRATE_THREADS=2 "$P" api
run "one worker gives the same result" env LD_PRELOAD=$SHIM TIERSHIM_MIGRATE_THREADS=1 "$P" api
run "writers during migration lose nothing" env LD_PRELOAD=$SHIM "$P" writers
run "partial failures are reported" env LD_PRELOAD=$SHIM "$P" partial
run "TIERSHIM_MIGRATE_RATE paces the engine" env LD_PRELOAD=$SHIM TIERSHIM_MIGRATE_RATE=32M "$P" rate
run "spilled bulk ranges are promoted back" env LD_PRELOAD=$SHIM TIERSHIM_BULK=fast TIERSHIM_PROMOTE=1 \
  TIERSHIM_PROMOTE_RATE=256M TIERSHIM_RETAIN_MAX=0 "$P" auto
vm_finish
