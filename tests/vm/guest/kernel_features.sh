#!/bin/sh
# vm.tiers (every guest kernel): what the kernel has, tiershim sees and uses.
# The features each kernel must have follow from its release (Debian's
# 6.1, bookworm-backports' 6.12, sid's newest), `tiershim topo --json` must
# report exactly those, and where the kernel has one tiershim must take it:
#   - weighted interleave (6.9): TIERSHIM_BULK=weighted uses the kernel's
#     MPOL_WEIGHTED_INTERLEAVE with the kernel's weights, and with explicit
#     weights that match them; other explicit weights (and older kernels)
#     split the range by 2 MiB blocks. Pages per node: move_pages query.
#   - process_madvise on our own mm (6.13), PIDFD_SELF (6.15): the release
#     mode of the unmap backend.
. /ts/lib.sh

P=$TS_BUILD/tier_probe
SHIM=$TS_BUILD/libtiershim.so
rel=$(uname -r)
ma=${rel%%.*} rest=${rel#*.} mi=${rest%%[!0-9]*}
at_least() { [ "$ma" -gt "$1" ] || { [ "$ma" -eq "$1" ] && [ "$mi" -ge "$2" ]; }; }
yes_if() { if at_least "$1" "$2"; then echo true; else echo false; fi; }
vm_info "kernel $rel"

# ---- tiershim topo: one line per feature, each right for this kernel -----
"$TS_BUILD/tiershim" topo >/tmp/topo.txt 2>&1
sed -n '/^features/,$p' /tmp/topo.txt | sed 's/^/   /'
"$TS_BUILD/tiershim" topo --json >/tmp/topo.json 2>&1
feature() { grep -o "\"$1\": [a-z]*" /tmp/topo.json | sed 's/.*: //'; }
for f in madv_collapse:6.1 preferred_many:5.15 mthp:6.8 weighted_interleave:6.9 process_madvise_self:6.13 \
         pidfd_self:6.15 process_madvise_batched_flush:6.16 weighted_interleave_auto:6.16; do
  name=${f%%:*} v=${f#*:}
  want=$(yes_if "${v%%.*}" "${v#*.}")
  got=$(feature "$name")
  vm_check "topo: $name is $want on $rel (since $v): '$got'" [ "$got" = "$want" ]
  vm_check "topo: a text line for $name" grep -q "^  $name " /tmp/topo.txt
done

# ---- weighted interleave ---------------------------------------------------
wi=/sys/kernel/mm/mempolicy/weighted_interleave
policy() { grep -o '"bulk_policy": "[^"]*"' "$1" | sed 's/.*: "//; s/"$//'; }
# weighted RUN-NAME SETTING FRACTION POLICY-WORDS: pages per node, and the policy
weighted() {
  vm_run "$1" env LD_PRELOAD=$SHIM TIERSHIM_BULK=$2 TIERSHIM_STATS=json:/tmp/w.json "$P" split 256 "$3"
  vm_check "$1: policy '$(policy /tmp/w.json)' is $4" sh -c "grep -q '\"bulk_policy\": \"$4' /tmp/w.json"
}
if at_least 6 9; then
  [ -w "$wi/auto" ] && echo false > "$wi/auto"
  echo 3 > "$wi/node0" && echo 1 > "$wi/node1"
  vm_info "kernel weights: node0 $(cat $wi/node0), node1 $(cat $wi/node1)"
  weighted "weighted, the kernel's weights 3:1" weighted 3:1 weighted-interleave
  weighted "weighted:3,1, as the kernel's" weighted:3,1 3:1 weighted-interleave
  weighted "weighted:1,3, not the kernel's: by 2 MiB blocks" weighted:1,3 1:3 "weighted by 2 MiB blocks"
  echo 1 > "$wi/node0" && echo 1 > "$wi/node1"
else
  weighted "weighted:3,1 without MPOL_WEIGHTED_INTERLEAVE: by 2 MiB blocks" weighted:3,1 3:1 \
    "weighted by 2 MiB blocks"
fi

# ---- how retained memory goes back ----------------------------------------
if at_least 6 15; then mode='process_madvise(PIDFD_SELF)'
elif at_least 6 13; then mode='process_madvise(pidfd)'
else mode=madvise; fi
env LD_PRELOAD=$SHIM TIERSHIM_RETAIN_MAX=0 TIERSHIM_STATS=json:/tmp/r.json "$P" workload >/dev/null 2>&1
got=$(grep -o '"release_mode": "[^"]*"' /tmp/r.json | head -n1 | sed 's/.*: "//; s/"$//')
vm_check "release mode on $rel: '$got' is '$mode'" [ "$got" = "$mode" ]
vm_info "unmap: $(sed -n '/"unmap"/,/}/p' /tmp/r.json | grep -o '"\(ranges\|calls\|batches\)": [0-9]*' | tr '\n' ' ')"

vm_finish kernel_features.sh
