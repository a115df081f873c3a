#!/bin/sh
# vm.tiers, part 2: placement rules by callsite on the two-tier machine.
# profile_probe (tests/integration) allocates from known functions; a rules
# file sends alloc_weights to the slow tier and alloc_kv (from another
# thread) to the fast one under TIERSHIM_BULK=interleave, and a control run
# without rules leaves both interleaved. Residency comes from the profile
# object of the stats, taken while the blocks are live (a move_pages query
# over up to 64 pages of each callsite).
. /ts/lib.sh
P=$TS_BUILD/profile_probe
SHIM=$TS_BUILD/libtiershim.so

cat >/tmp/tier.rules <<'R'
sym:alloc_weights  tier=slow
sym:alloc_kv       tier=fast
R
"$TS_BUILD/tiershim" rules check /tmp/tier.rules | sed 's/^/   /'

# nodes FILE FUNCTION: the "nodes" value of that callsite in the stats
nodes() { grep "\"$2+" "$1" | sed -n 's/.*"nodes": "\([^"]*\)".*/\1/p' | head -n 1; }
pct() { echo "$1" | tr ',' '\n' | sed -n "s/^$2:\([0-9]*\)%$/\1/p"; }

env LD_PRELOAD=$SHIM TIERSHIM_BULK=interleave TIERSHIM_RULES=/tmp/tier.rules "$P" --stats /tmp/r.json >/tmp/r.out 2>/tmp/r.err
rc=$?
vm_check "profile_probe under rules (rc=$rc)" [ $rc -eq 0 ]
[ -s /tmp/r.err ] && vm_show /tmp/r.err stderr
w=$(nodes /tmp/r.json alloc_weights) k=$(nodes /tmp/r.json alloc_kv)
hits=$(sed -n 's/.*"rule_hits": \([0-9]*\).*/\1/p' /tmp/r.json)
vm_info "rules: alloc_weights on $w, alloc_kv on $k, $hits rule hits"
vm_check "tier=slow: alloc_weights >= 90% on node 1 ('$w')" [ "$(pct "$w" 1)" -ge 90 ] 2>/dev/null
vm_check "tier=fast: alloc_kv (another thread) >= 90% on node 0 ('$k')" [ "$(pct "$k" 0)" -ge 90 ] 2>/dev/null
vm_check "20 rule hits (4 weights + 16 kv)" [ "${hits:-0}" -eq 20 ]

env LD_PRELOAD=$SHIM TIERSHIM_BULK=interleave TIERSHIM_PROFILE=1 "$P" --stats /tmp/c.json >/tmp/c.out 2>/tmp/c.err
w=$(nodes /tmp/c.json alloc_weights) k=$(nodes /tmp/c.json alloc_kv)
vm_info "control (no rules, bulk interleave): alloc_weights on $w, alloc_kv on $k"
vm_check "control: alloc_weights spread over both nodes ('$w')" [ "$(pct "$w" 0)" -ge 20 -a "$(pct "$w" 1)" -ge 20 ] 2>/dev/null
grep -A4 '#1 ' /tmp/c.err | sed 's/^/   /'
vm_finish rules
