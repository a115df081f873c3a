# Sourced by guest tests (busybox ash, inside the VM) as: . /ts/lib.sh
# Same conventions as tests/integration/it_lib.sh: PASS:/FAIL: lines, the
# exit status says whether every check passed.

VM_FAILED=0
vm_fail() { echo "FAIL: $*"; VM_FAILED=1; }
vm_pass() { echo "PASS: $*"; }
vm_info() { echo "INFO: $*"; }
# vm_check DESCRIPTION COMMAND...: PASS/FAIL on the command's status
vm_check() { local d=$1; shift; if "$@"; then vm_pass "$d"; else vm_fail "$d"; fi; }
# vm_show FILE LABEL: a file's first 40 lines, for a failure message
vm_show() { echo "----- $2 -----"; head -n 40 "$1"; echo "----- end $2 -----"; }
# vm_node_of_tier_rank K: nodelist of the K-th memory tier (0 = fastest)
vm_tier_nodelist() {
  ls -d /sys/devices/virtual/memory_tiering/memory_tier* 2>/dev/null \
    | sed 's/.*memory_tier//' | sort -n | sed -n "$(( $1 + 1 ))p" \
    | while read -r t; do cat "/sys/devices/virtual/memory_tiering/memory_tier$t/nodelist"; done
}
# vm_run NAME CMD...: runs CMD, shows its output indented, PASS/FAIL on rc 0
vm_run() {
  local name=$1; shift
  vm_info "== $name: $*"
  "$@" >/tmp/vm_run.out 2>&1; local rc=$?
  sed 's/^/   /' /tmp/vm_run.out
  vm_check "$name (rc=$rc)" [ $rc -eq 0 ]
}
vm_finish() {
  if [ "$VM_FAILED" -ne 0 ]; then echo "${1:-$TS_TEST_NAME}: FAILED"; exit 1; fi
  echo "${1:-$TS_TEST_NAME}: all checks passed"
  exit 0
}
