#!/bin/sh
# Builds the Debian packages out of tree, so the checkout stays clean:
#   debian/build-debs.sh OUTDIR
# copies the source (git's tracked and untracked-but-not-ignored files, or,
# without git, everything but build*/ and obj-*/) to OUTDIR/src, runs
# `dpkg-buildpackage -us -uc -b` there, and leaves the .debs, .changes and
# .buildinfo in OUTDIR (dpkg-buildpackage writes them to src's parent) and
# its log in OUTDIR/build.log. `make deb` runs it with OUTDIR build/deb.
set -eu
[ $# = 1 ] || { echo "usage: build-debs.sh OUTDIR" >&2; exit 2; }
top=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$1"
out=$(cd "$1" && pwd)
case $out/ in "$top"/debian/*) echo "build-debs: OUTDIR inside debian/" >&2; exit 2 ;; esac
rm -rf "$out/src"
rm -f "$out"/*.deb "$out"/*.changes "$out"/*.buildinfo
mkdir "$out/src"
if git -C "$top" rev-parse --git-dir >/dev/null 2>&1; then
  (cd "$top" && git ls-files -co --exclude-standard -z | xargs -0 cp --parents -t "$out/src" 2>/dev/null) \
    || { echo "build-debs: copying the source failed" >&2; exit 1; }
else
  (cd "$top" && tar --exclude='./build*' --exclude='./obj-*' -cf - .) | (cd "$out/src" && tar -xf -)
fi
# files git lists but the worktree lacks (deleted, not committed) are skipped by cp above
cd "$out/src"
if ! dpkg-buildpackage -us -uc -b >"$out/build.log" 2>&1; then
  tail -n 40 "$out/build.log" >&2
  echo "build-debs: dpkg-buildpackage failed (log: $out/build.log)" >&2
  exit 1
fi
ls "$out"/*.deb
