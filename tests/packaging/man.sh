#!/usr/bin/env bash
# packaging.man: cli/gen-man.sh on this build's CLI gives tiershim(1) and a
# page per subcommand, and man(1) renders each without a warning (what
# lintian's manpage checks look at).
#   man.sh GEN_MAN TIERSHIM_BINARY OUTDIR
set -euo pipefail
gen=$1 bin=$2 out=$3
rm -rf "$out"
sh "$gen" "$bin" "$out"
subs=$("$bin" --help | sed -n 's/^  tiershim \([a-z][a-z-]*\).*/\1/p' | sort -u)
for s in $subs; do [ -s "$out/tiershim-$s.1" ] || { echo "man: no tiershim-$s.1"; exit 1; }; done
[ -s "$out/tiershim.1" ] || { echo "man: no tiershim.1"; exit 1; }
command -v man >/dev/null || { echo "man: SKIP: man-db not installed (the pages were generated)"; exit 77; }
bad=0
for f in "$out"/*.1; do
  w=$(LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -E UTF-8 -l -Tutf8 -Z "$f" 2>&1 >/dev/null) || true
  if [ -n "$w" ]; then echo "man: ${f##*/}: $w"; bad=1; fi
done
# re-runnable: a second run gives the same files
sh "$gen" "$bin" "$out.again"
diff -r "$out" "$out.again" >/dev/null || { echo "man: a second run of gen-man.sh differs"; bad=1; }
rm -rf "$out.again"
[ $bad = 0 ] && echo "man: $(ls "$out" | wc -l) pages ($(ls "$out" | tr '\n' ' ')), no warnings, reproducible"
exit $bad
