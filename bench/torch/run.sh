#!/usr/bin/env bash
# The torch benchmark: prepares the engine and models offline (setup.sh), then
# runs the allocator matrix (bench/engines/run.py; --help lists the options).
#   bench/torch/run.sh [--reps N] [--configs a,b] [--size small] ... [BUILD_DIR]
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
exec /usr/bin/python3 "$here/../engines/run.py" --engine torch "$@"
