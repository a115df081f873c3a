#!/usr/bin/env bash
# placement.sh LIB PROG: the placement engine on an inference-like pattern.
#  - THP fault mode: huge-page coverage of the anonymous memory above a safe
#    floor (the real figure is printed), VMAs of the regions <= 1 per 256 MiB
#    of live heap (+2), minor faults far below glibc's;
#  - retention: with TIERSHIM_RETAIN_MAX=32M the retained bytes stay under the
#    hard limit (twice it: partial 2 MiB edges are kept until then) and memory
#    goes back in batches;
#  - retention follows live memory: buffers that grow from request to
#    request (--shapes) leave at most an eighth of RETAIN_MAX plus the last
#    buffer retained, not the sum of all of them;
#  - the small-object heap's segments are advised for huge pages in fault
#    mode (heap_thp_bytes > 0), and not with TIERSHIM_HEAP_THP=0.
# Skips (77) when the kernel has THP disabled.
set -u
. "$(dirname "$0")/it_lib.sh"
LIB=$1 PROG=$2
it_clean_env
thp=$(cat /sys/kernel/mm/transparent_hugepage/enabled 2>/dev/null || echo "[never]")
case $thp in *"[never]"*) echo "SKIP: THP is disabled on this kernel ($thp)"; exit 77;; esac

field() { sed -n "s/.*\b$1=\([0-9.]*\).*/\1/p" | head -1; }

plain=$(env -u LD_PRELOAD "$PROG") || it_fail "the pattern without the shim failed"
shim=$(LD_PRELOAD=$LIB TIERSHIM_THP=fault "$PROG") || it_fail "the pattern under the shim failed"
it_info "glibc:    $(echo "$plain" | head -1)"
it_info "tiershim: $(echo "$shim" | tr '\n' ' ')"

# Under TIERSHIM_UNMAP=munmap (the baseline backend: every freed range goes
# back at once, nothing is reused) coverage and faults come from the
# placement alone, not from retention: lower bars.
cov_floor=0.80 fault_div=10
if [ "${TIERSHIM_UNMAP:-}" = munmap ]; then cov_floor=0.25 fault_div=1; it_info "TIERSHIM_UNMAP=munmap: no retention"; fi
cov=$(echo "$shim" | field coverage)
awk -v c="$cov" -v f=$cov_floor 'BEGIN { exit !(c >= f) }' \
  && it_pass "huge-page coverage under tiershim (THP=fault): $cov (floor $cov_floor)" \
  || it_fail "huge-page coverage under tiershim: expected >= $cov_floor got $cov"

live=$(echo "$shim" | field live_bytes); vmas=$(echo "$shim" | field vma_count_regions)
max_vmas=$(( live / (256 << 20) + 2 ))
[ "${vmas:-999}" -le "$max_vmas" ] \
  && it_pass "region VMAs: $vmas for $((live >> 20)) MiB live (limit $max_vmas)" \
  || it_fail "region VMAs: expected <= $max_vmas got $vmas"

pf=$(echo "$plain" | field minor_faults); sf=$(echo "$shim" | field minor_faults)
[ $(( sf * fault_div )) -le "$pf" ] \
  && it_pass "minor faults: tiershim $sf, glibc $pf (tiershim <= 1/$fault_div)" \
  || it_fail "minor faults: expected tiershim <= 1/$fault_div of glibc's ($pf) got $sf"

ret=$(LD_PRELOAD=$LIB TIERSHIM_RETAIN_MAX=32M "$PROG") || it_fail "the pattern with RETAIN_MAX=32M failed"
retained=$(echo "$ret" | field retained_bytes); released=$(echo "$ret" | field released_bytes)
calls=$(echo "$ret" | field release_calls)
[ "$retained" -le $((64 << 20)) ] && [ "$released" -gt 0 ] && [ "$calls" -gt 0 ] \
  && it_pass "retention: retained $((retained >> 20)) MiB (hard limit 64), released $((released >> 20)) MiB in $calls calls" \
  || it_fail "retention: retained=$retained released=$released calls=$calls (RETAIN_MAX=32M)"
heap=$(echo "$shim" | field heap_thp_bytes)
noheap=$(LD_PRELOAD=$LIB TIERSHIM_THP=fault TIERSHIM_HEAP_THP=0 "$PROG" | field heap_thp_bytes)
[ "${heap:-0}" -gt 0 ] && [ "${noheap:-1}" -eq 0 ] \
  && it_pass "small-object heap advised for huge pages: $((heap >> 20)) MiB (0 with HEAP_THP=0)" \
  || it_fail "heap_thp_bytes: expected > 0 (THP=fault) and 0 (HEAP_THP=0), got ${heap:-none} and ${noheap:-none}"

shp=$(LD_PRELOAD=$LIB "$PROG" --shapes) || it_fail "the growing-shapes pattern failed"
retained=$(echo "$shp" | field retained_bytes); released=$(echo "$shp" | field released_bytes)
# Freed: 24+32+40+48+56 = 200 MiB, all of it retained without the trade rule;
# with it at most 256M/8 + the last 56 MiB + partial 2 MiB edges (~90 MiB).
[ "$retained" -le $((100 << 20)) ] && [ "$released" -gt 0 ] \
  && it_pass "growing shapes: retained $((retained >> 20)) MiB of 200 freed (limit 100), released $((released >> 20)) MiB" \
  || it_fail "growing shapes: retained=$retained released=$released (expected <= 100 MiB retained)"
it_finish placement
