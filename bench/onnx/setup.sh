#!/usr/bin/env bash
# Prepares the ONNX Runtime bench offline, idempotently, under
# bench/onnx/cache/ (ignored by git):
#   npm/        onnxruntime-node, pinned (its prebuilt linux CPU library)
#   models/     generated BERT encoders (gen_bert.py): tiny, and base on request
#
#   bench/onnx/setup.sh [--tiny|--base|--all]     (default --tiny)
#
# Prints the paths it prepared as NAME=VALUE lines on stdout (for scripts);
# progress goes to stderr.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cache=$here/cache
ver=1.30.0
py=/usr/bin/python3

bench_tag=setup
. "$here/../lib.sh" # say, die, gen_models

models=(tiny)
case ${1:---tiny} in
  --tiny) ;;
  --base) models=(base) ;;
  --all) models=(tiny base) ;;
  -h|--help) sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  *) die "unknown option '$1' (--tiny, --base or --all)" ;;
esac
(($# <= 1)) || die "one option at most (--tiny, --base or --all)"

for t in npm node; do
  type -P "$t" >/dev/null || die "'$t' not found: run \`make deps\` first"
done
[[ -x $py ]] && "$py" -c 'import numpy, onnx' 2>/dev/null ||
  die "$py with numpy and onnx not found: run \`make deps\` (python3-numpy, python3-onnx)"

# npm: pinned version. ONNXRUNTIME_NODE_INSTALL=skip stops the postinstall
# from fetching the CUDA provider (it fails offline); the CPU library ships
# inside the package. The binding is checked as well as the version, so an
# interrupted install is redone rather than taken as present.
mods=$cache/npm/node_modules
pkg=$mods/onnxruntime-node/package.json
binding=$mods/onnxruntime-node/bin/napi-v6/linux/$(node -p process.arch)/onnxruntime_binding.node
if ! grep -q "\"version\": \"$ver\"" "$pkg" 2>/dev/null || [[ ! -f $binding ]]; then
  say "installing onnxruntime-node@$ver (about 290 MB unpacked)"
  mkdir -p "$cache/npm"
  printf '{ "name": "ts-onnx-bench", "private": true }\n' >"$cache/npm/package.json"
  (cd "$cache/npm" && ONNXRUNTIME_NODE_INSTALL=skip npm install --no-audit --no-fund --no-package-lock \
     --loglevel=error "onnxruntime-node@$ver" >&2) ||
    die "npm install failed (is the npm registry reachable?)"
  [[ -f $binding ]] || die "no $binding after install: unexpected package layout"
fi
# A binding that does not load (wrong glibc, missing library) fails here
# instead of in the middle of a benchmark.
node -e 'require(process.argv[1])' "$mods/onnxruntime-node" ||
  die "onnxruntime-node in $mods does not load (remove $cache/npm and rerun)"

gen_models "$cache/models" bert onnx "$here/gen_bert.py" "${models[@]}"
printf 'driver=%s\nnode=%s\n' "$here/driver.js" "$(type -P node)"
