#!/usr/bin/env bash
# Prepares the PyTorch bench, idempotently. Nothing is downloaded at run
# time: the models are built by driver.py from a seed.
#   - python3-torch (Debian 12: 1.13.1) when /usr/bin/python3 cannot import torch;
#   - an optimized BLAS when libblas.so.3 is the reference one: Debian's torch
#     does its matrix products through the libblas.so.3 alternative, and
#     --no-install-recommends leaves the netlib BLAS (about 5 GFLOP/s here,
#     against 80 for OpenBLAS), under which the allocator would not matter.
#     libopenblas0-openmp shares torch's libgomp, so torch.set_num_threads
#     governs it too.
#
#   bench/torch/setup.sh [--no-install]
#
# --no-install: only check (exit 1 when torch does not import; a reference
# BLAS only warns: the tiny models of the tests do not need a fast one). Prints the
# paths it prepared as NAME=VALUE lines on stdout; progress goes to stderr.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
py=/usr/bin/python3
bench_tag=setup
. "$here/../lib.sh" # say, die

install=1
case ${1:-} in
  "") ;;
  --no-install) install=0 ;;
  -h|--help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  *) die "unknown option '$1' (--no-install)" ;;
esac

apt_install() {
  local sudo=""
  ((install)) || die "$* not installed (setup.sh --no-install)"
  [[ $(id -u) = 0 ]] || sudo=sudo
  say "installing $* (Debian archive)"
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "$@" >&2 ||
    { $sudo apt-get update -qq >&2 &&
      DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "$@" >&2; } ||
    die "apt-get install $* failed"
}

[[ -x $py ]] || die "$py not found: run \`make deps\`"
version() { "$py" -c 'import torch; print(torch.__version__)'; }
ver=$(version 2>/dev/null) || {
  apt_install python3-torch
  ver=$(version) || die "$py cannot import torch even after installing python3-torch"
}

blas=$(readlink -f "/usr/lib/$(uname -m)-linux-gnu/libblas.so.3" || true)
if [[ $blas == */blas/libblas.so.3 ]]; then
  ((install)) && apt_install libopenblas0-openmp
  blas=$(readlink -f "/usr/lib/$(uname -m)-linux-gnu/libblas.so.3")
  [[ $blas != */blas/libblas.so.3 ]] ||
    say "warning: libblas.so.3 is still the reference BLAS (alternative in manual mode?): torch will be slow"
fi

deb=$(dpkg-query -W -f='${Version}' python3-torch 2>/dev/null || echo "not from Debian")
printf 'python=%s\ndriver=%s\ntorch=%s\ndeb=%s\nblas=%s\n' "$py" "$here/driver.py" "$ver" "$deb" \
  "$(basename "$(dirname "$blas")")"
