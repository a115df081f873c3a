#!/bin/bash
# kernel-report.sh [BUILD_DIR]: the per-kernel tables of docs/tiers.md and
# docs/migration.md, read from the guest logs a `make test-kernels` run left
# in BUILD_DIR/vm-logs (vm.NAME: NAME.log on 6.1, NAME-KERNEL.log on the
# others). Prints Markdown; a kernel whose logs are missing is left out.
set -uo pipefail
build=${1:-build}
logs=$build/vm-logs
[ -d "$logs" ] || { echo "kernel-report: no $logs (run make test-kernels first)" >&2; exit 1; }

suffix() { [ "$1" = 6.1 ] && echo "" || echo "-$1"; }
release() { sed -n 's/.*TS_VM_BOOTED kernel=\([^ ]*\).*/\1/p' "$1" | head -n1; }
# after NAME-PATTERN: the first line matching LINE-PATTERN after the INFO line of a run
after() { awk -v n="$2" -v l="$3" 'index($0, "INFO: == " n) { on = 1; next } on && $0 ~ l { print; exit }' "$1"; }
field() { sed -n "s/.* $2=\([^ ]*\).*/\1/p" <<<"$1" | head -n1; }

kernels=()
for k in 6.1 6.12 sid; do [ -f "$logs/tiers$(suffix $k).log" ] && kernels+=("$k"); done
[ ${#kernels[@]} -gt 0 ] || { echo "kernel-report: no tiers logs in $logs" >&2; exit 1; }

echo "### Placement per node (vm.tiers, vm.tiers_online; 4 KiB pages by move_pages query)"
echo
echo "| kernel | hot: small objects node 0/1 | thread stack node 0/1 | bulk=interleave node 0/1 | bulk=weighted:3,1 node 0/1 | bulk=slow node 0/1 | page tables KiB node 0/1 (bulk=slow, 512 MiB touched) | kernel weights 3:1: policy of bulk=weighted / weighted:3,1 / weighted:1,3 |"
echo "|---|---|---|---|---|---|---|---|"
for k in "${kernels[@]}"; do
  t=$logs/tiers$(suffix $k).log o=$logs/tiers_online$(suffix $k).log
  small=$(after "$t" "hot: small objects" "small_pages") stack=$(after "$t" "hot: small objects" "stack_pages")
  il=$(after "$t" "bulk=interleave splits" "split node0") w31=$(after "$t" "bulk=weighted:3,1 splits" "split node0")
  slow=$(after "$t" "bulk=slow puts" "split node0")
  pt=""
  [ -f "$o" ] && pt=$(after "$o" "page tables on node 0" "page_tables_kb_delta")
  pol() { sed -n "s/^PASS: $1: policy '\([^']*\)'.*/\1/p" "$t" | head -n1; }
  kw="$(pol "weighted, the kernel's weights 3:1") / $(pol "weighted:3,1, as the kernel's") / $(pol "weighted:1,3, not the kernel's: by 2 MiB blocks")"
  [ "$kw" = " /  / " ] && kw="no MPOL_WEIGHTED_INTERLEAVE: $(pol "weighted:3,1 without MPOL_WEIGHTED_INTERLEAVE: by 2 MiB blocks")"
  printf '| %s | %s/%s | %s/%s | %s/%s | %s/%s | %s/%s | %s/%s | %s |\n' "$(release "$t")" \
    "$(field "$small" node0)" "$(field "$small" node1)" "$(field "$stack" node0)" "$(field "$stack" node1)" \
    "$(field "$il" node0)" "$(field "$il" node1)" "$(field "$w31" node0)" "$(field "$w31" node1)" \
    "$(field "$slow" node0)" "$(field "$slow" node1)" "$(field "$pt" node0)" "$(field "$pt" node1)" "$kw"
done
echo
echo "### Migration (vm.migrate: the engine through the API, 2 workers and 1)"
echo
echo "| kernel | 256 MiB of huge pages to node 1: 2 workers / 1 | to node 0: 2 / 1 | 64 MiB of 4 KiB pages to node 1: 2 / 1 | background promotion |"
echo "|---|---|---|---|---|"
for k in "${kernels[@]}"; do
  m=$logs/migrate$(suffix $k).log
  [ -f "$m" ] || continue
  rate() { awk -v n="$2" -v l="$3" 'index($0, "INFO: == " n) { on = 1; next } on && index($0, l) && /MB\/s/ { sub(/.*, /, ""); print; exit }' "$m"; }
  two="demote and promote through the API" one="one worker gives the same result"
  auto=$(grep -c "PASS: at least 90% of the spilled pages promoted back" "$m")
  printf '| %s | %s / %s | %s / %s | %s / %s | %s |\n' "$(release "$m")" \
    "$(rate "$m" "$two" "256 MiB huge to node 1: pages")" "$(rate "$m" "$one" "256 MiB huge to node 1: pages")" \
    "$(rate "$m" "$two" "256 MiB huge to node 0: pages")" "$(rate "$m" "$one" "256 MiB huge to node 0: pages")" \
    "$(rate "$m" "$two" "64 MiB 4K to node 1: pages")" "$(rate "$m" "$one" "64 MiB 4K to node 1: pages")" \
    "$([ "$auto" -gt 0 ] && echo '>= 90% promoted back' || echo 'not checked')"
done
