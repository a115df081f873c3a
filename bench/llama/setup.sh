#!/usr/bin/env bash
# Prepares the llama.cpp bench offline, idempotently, under bench/llama/cache/
# (ignored by git):
#   npm/        node-llama-cpp and its prebuilt linux-x64 libraries, pinned
#   src/        llama.h and the ggml headers, from the package's git bundle
#   ts_llama    driver.c built against the shipped libllama
#   models/     generated GGUF models (gen_gguf.py): tiny, and 1.1b or 200m
#               (bench/tiers/luf.sh) on request
#
#   bench/llama/setup.sh [--tiny|--bench|--model SIZE|--all]     (default --tiny)
#
# Prints the paths it prepared as NAME=VALUE lines on stdout (for scripts);
# progress goes to stderr.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cache=${TS_LLAMA_CACHE:-$here/cache}
ver=3.22.1
py=/usr/bin/python3

bench_tag=setup
. "$here/../lib.sh" # say, die, gen_models

models=(tiny)
case ${1:---tiny} in
  --tiny) ;;
  --bench) models=(1.1b) ;;
  --model) [[ -n ${2:-} ]] || die "--model needs a size (gen_gguf.py --help)"; models=("$2") ;;
  --all) models=(tiny 1.1b) ;;
  -h|--help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  *) die "unknown option '$1' (--tiny, --bench, --model SIZE or --all)" ;;
esac

for t in npm node git cc; do
  type -P "$t" >/dev/null || die "'$t' not found: run \`make deps\` first"
done
[[ -x $py ]] && "$py" -c 'import numpy' 2>/dev/null ||
  die "$py with numpy not found: run \`make deps\` (python3-numpy)"

# npm: pinned versions, no install scripts (the postinstall would look for
# a GPU build) and no download at run time.
pkg=$cache/npm/node_modules/node-llama-cpp/package.json
if ! grep -q "\"version\": \"$ver\"" "$pkg" 2>/dev/null ||
   [[ ! -d $cache/npm/node_modules/@node-llama-cpp/linux-x64 ]]; then
  say "installing node-llama-cpp@$ver (about 85 MB)"
  mkdir -p "$cache/npm"
  printf '{ "name": "ts-llama-bench", "private": true }\n' >"$cache/npm/package.json"
  (cd "$cache/npm" && NODE_LLAMA_CPP_SKIP_DOWNLOAD=true npm install --no-audit --no-fund \
     --ignore-scripts --omit=optional --loglevel=error \
     "node-llama-cpp@$ver" "@node-llama-cpp/linux-x64@$ver" >&2) ||
    die "npm install failed (is the npm registry reachable?)"
fi
bins=$cache/npm/node_modules/@node-llama-cpp/linux-x64/bins/linux-x64
[[ -f $bins/libllama.v0.5.0.so ]] || die "no libllama in $bins: unexpected package layout"

# Headers of the exact source the libraries were built from.
bundle=$cache/npm/node_modules/node-llama-cpp/llama/gitRelease.bundle
if [[ ! -f $cache/src/include/llama.h || $bundle -nt $cache/src/include/llama.h ]]; then
  say "extracting llama.h and the ggml headers from the package's source bundle"
  rm -rf "$cache/src" "$cache/src.git"
  git clone -q --bare "$bundle" "$cache/src.git"
  mkdir -p "$cache/src"
  git --git-dir="$cache/src.git" archive HEAD include ggml/include | tar -x -C "$cache/src"
  touch "$cache/src/include/llama.h"   # archive keeps commit times: older than the bundle
  rm -rf "$cache/src.git"
fi

drv=$cache/ts_llama
if [[ ! -x $drv || $here/driver.c -nt $drv || $here/../bench_util.h -nt $drv ||
      $cache/src/include/llama.h -nt $drv ]]; then
  say "building ts_llama"
  cc -std=c11 -O2 -Wall -Wextra -pthread -o "$drv.tmp" "$here/driver.c" -ldl \
     -I"$cache/src/include" -I"$cache/src/ggml/include" \
     "$bins/libllama.v0.5.0.so" "$bins/libggml.v0.5.0.so" "$bins/libggml-base.so" \
     -Wl,-rpath,"$bins"
  mv "$drv.tmp" "$drv"
fi

gen_models "$cache/models" llama gguf "$here/gen_gguf.py" "${models[@]}"
printf 'driver=%s\nbins=%s\n' "$drv" "$bins"
