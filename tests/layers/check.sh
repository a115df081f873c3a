#!/usr/bin/env bash
# The layer order, checked on the source tree (docs/design.md, "Layout"):
#   include/ < base/ < policy/ < alloc/ < observe/ < shim/, and cli/ beside shim/
# Fails (exit 1, one line per finding) on
#   - an #include of a project header from a higher layer (or of shim/ from cli/);
#   - a call of pthread_create in base/, policy/, alloc/ or observe/: tiershim's
#     own threads start through base/thread.h (libc's, signals masked);
#   - a product .c file over 600 lines.
# Usage: check.sh [SOURCE_DIR]   (default: the tree this script is in)
set -u
root=${1:-$(cd "$(dirname "$0")/../.." && pwd)}
cd "$root" || exit 2
max_lines=600
rank() {
  case $1 in
    include) echo 0 ;; base) echo 1 ;; policy) echo 2 ;; alloc) echo 3 ;;
    observe) echo 4 ;; shim|cli) echo 5 ;; *) echo -1 ;;
  esac
}
layers="base policy alloc observe shim cli"
bad=0
report() { echo "layers: $*"; bad=1; }

files=$(for d in $layers; do [ -d "$d" ] && find "$d" -name '*.[ch]'; done | sort)
[ -n "$files" ] || { echo "layers: no sources under $root"; exit 2; }

for f in $files; do
  from=${f%%/*}
  rf=$(rank "$from")
  # includes: "dir/..." with a project layer as dir
  while IFS=: read -r line inc; do
    to=${inc%%/*}
    rt=$(rank "$to")
    [ "$rt" -lt 0 ] && continue
    if [ "$rt" -gt "$rf" ] || { [ "$from" = cli ] && [ "$to" = shim ]; }; then
      report "$f:$line includes $inc: $to/ is above $from/"
    fi
  done < <(grep -n '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' "$f" | sed -E 's/^([0-9]+):.*"([^"]*)".*/\1:\2/')
  # pthread_create calls below shim/ (comments stripped by the preprocessor)
  case $from in
    base|policy|alloc|observe)
      if gcc -fpreprocessed -dD -E -P -x c "$f" 2>/dev/null | grep -qE '\bpthread_create[[:space:]]*\('; then
        report "$f calls pthread_create: start tiershim's threads with ts_thread_spawn (base/thread.h)"
      fi ;;
  esac
  case $f in
    *.c) n=$(wc -l < "$f"); [ "$n" -gt "$max_lines" ] && report "$f has $n lines (at most $max_lines: split it by concern)" ;;
  esac
done
[ "$bad" = 0 ] && echo "layers: $(echo "$files" | wc -l) files, includes go down only, no direct pthread_create below shim/, no .c over $max_lines lines"
exit "$bad"
