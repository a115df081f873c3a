#!/usr/bin/env bash
# check.sh must fail on each kind of finding: a tree with one violation of
# each rule at a time, and the clean tree it starts from.
set -u
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fresh() {
  rm -rf "$tmp/t" && mkdir -p "$tmp/t/base" "$tmp/t/policy" "$tmp/t/alloc" "$tmp/t/shim" "$tmp/t/cli"
  printf '#include "base/a.h"\nint a(void) { return 0; }\n' > "$tmp/t/base/a.c"
  printf '#include "base/a.h"\n#include "policy/p.h"\n' > "$tmp/t/alloc/x.c"
  printf '#include "alloc/x.h"\n#include "policy/p.h"\n' > "$tmp/t/shim/s.c"
  printf '/* pthread_create(&t, ...) in a comment is fine */\nint p(void);\n' > "$tmp/t/policy/p.c"
}
expect() { # expect RC WHY
  "$here/check.sh" "$tmp/t" > "$tmp/out" 2>&1
  rc=$?
  if [ "$rc" != "$1" ]; then echo "selftest: $2: check.sh exited $rc, wanted $1"; cat "$tmp/out"; exit 1; fi
}
fresh; expect 0 "a clean tree"
fresh; printf '#include "alloc/x.h"\n' >> "$tmp/t/policy/p.c"; expect 1 "policy/ including alloc/"
fresh; printf '#include "shim/shim.h"\n' > "$tmp/t/base/b.h"; expect 1 "a base/ header including shim/"
fresh; printf '#include "shim/shim.h"\n' > "$tmp/t/cli/c.c"; expect 1 "cli/ including shim/"
fresh; printf 'void f(void) { pthread_create (0, 0, 0, 0); }\n' >> "$tmp/t/alloc/x.c"; expect 1 "alloc/ calling pthread_create"
fresh; printf 'void f(void) { pthread_create(0, 0, 0, 0); }\n' >> "$tmp/t/shim/s.c"; expect 0 "shim/ may call pthread_create"
fresh; seq 1 601 | sed 's/.*/int v&;/' >> "$tmp/t/base/a.c"; expect 1 "a .c file of 603 lines"
fresh; seq 1 610 | sed 's/.*/int v&;/' > "$tmp/t/base/a.h"; expect 0 "a long header is not a .c file"
echo "selftest: check.sh fails on each rule and passes a clean tree"
