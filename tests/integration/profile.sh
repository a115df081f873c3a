#!/usr/bin/env bash
# profile.sh LIB PROBE CLI: callsite attribution and placement rules
# (docs/rules.md) on profile_probe's known callsites.
#  - TIERSHIM_PROFILE=1: every callsite is attributed to its function, from
#    the main thread and from another thread; counts and bytes exact for the
#    traced sizes, estimated (1 in N) for the small ones; live bytes, frees
#    and lifetimes; the report at exit names the functions;
#  - rules: a rule matches its callsite and size range only (first match
#    wins, rule_line), and its action is visible: thp=off on alloc_weights
#    leaves its blocks without huge pages (THP=fault gives the rest huge
#    pages); tier rules count as hits (one node here: nothing to move);
#  - a malformed rules file: one warning naming the line, rules off, the
#    program runs and its output is unchanged;
#  - `tiershim rules check`: exit 0 with the rules, exit 1 with every error
#    line-numbered.
set -u
. "$(dirname "$0")/it_lib.sh"
LIB=$1 PROBE=$2 CLI=$3
it_clean_env
it_tmpdir

q() { it_python - "$@" <<'PY'
import json, sys
d = json.load(open(sys.argv[1])); p = d["profile"]; what = sys.argv[2]
def site(fn):
    for c in p["top"]:
        if c["frames"] and c["frames"][0].startswith(fn + "+"): return c
    return None
if what == "site":
    c = site(sys.argv[3]); k = sys.argv[4]
    print("missing" if c is None else ("null" if c[k] is None else c[k]))
else:
    print(p[what])
PY
}

out=$(LD_PRELOAD=$LIB TIERSHIM_PROFILE=1 TIERSHIM_THP=fault "$PROBE" --stats "$TMP/p.json" 2>"$TMP/p.err")
[ "$out" = ok ] || it_fail "profile_probe under TIERSHIM_PROFILE=1: expected ok got '$out'"
chk() { # DESCRIPTION ACTUAL OP EXPECTED
  if [ "$2" "$3" "$4" ] 2>/dev/null; then it_pass "$1: $2"; else it_fail "$1: expected $3 $4 got $2"; fi
}
chk "alloc_weights: count" "$(q "$TMP/p.json" site alloc_weights count)" -eq 4
chk "alloc_weights: live bytes" "$(q "$TMP/p.json" site alloc_weights live_bytes)" -eq $((32 << 20))
chk "alloc_kv (another thread): count" "$(q "$TMP/p.json" site alloc_kv count)" -eq 16
chk "alloc_kv: bytes" "$(q "$TMP/p.json" site alloc_kv bytes)" -eq $((16 << 20))
chk "alloc_scratch: count" "$(q "$TMP/p.json" site alloc_scratch count)" -eq 1000
chk "alloc_scratch: frees" "$(q "$TMP/p.json" site alloc_scratch frees)" -eq 1000
chk "alloc_scratch: live bytes" "$(q "$TMP/p.json" site alloc_scratch live_bytes)" -eq 0
small=$(q "$TMP/p.json" site alloc_small count)
[ "$small" != missing ] && [ "$small" -ge 60000 ] && [ "$small" -le 140000 ] \
  && it_pass "alloc_small: 100,000 allocations estimated as $small (1 in $(q "$TMP/p.json" sample))" \
  || it_fail "alloc_small: expected an estimate of 100,000 (+-40%) got $small"
hc=$(q "$TMP/p.json" site alloc_weights huge_coverage)
awk -v h="$hc" 'BEGIN { exit !(h != "null" && h + 0 >= 0.9) }' \
  && it_pass "alloc_weights: huge-page coverage $hc under THP=fault" || it_fail "alloc_weights: expected huge-page coverage >= 0.9 got $hc"
grep -q '^tiershim:       alloc_weights+0x' "$TMP/p.err" && grep -q '^tiershim: profile: ' "$TMP/p.err" \
  && it_pass "the report at exit names the functions" || { it_fail "no report naming alloc_weights"; it_show "$TMP/p.err" stderr; }

cat >"$TMP/good.rules" <<'R'
# profile_probe's callsites
sym:alloc_kv                 tier=fast
sym:alloc_weights size=4M..  tier=slow thp=off
sym:alloc_scratch size=..64K tier=interleave
R
out=$(LD_PRELOAD=$LIB TIERSHIM_RULES="$TMP/good.rules" TIERSHIM_THP=fault "$PROBE" --stats "$TMP/r.json" 2>"$TMP/r.err")
[ "$out" = ok ] && [ ! -s "$TMP/r.err" ] || { it_fail "under good rules: '$out'"; it_show "$TMP/r.err" stderr; }
chk "rules loaded" "$(q "$TMP/r.json" rules_loaded)" -eq 3
chk "rule hits (4 weights + 16 kv; scratch is outside its size range)" "$(q "$TMP/r.json" rule_hits)" -eq 20
chk "alloc_weights matched line 3" "$(q "$TMP/r.json" site alloc_weights rule_line)" -eq 3
chk "alloc_kv matched line 2" "$(q "$TMP/r.json" site alloc_kv rule_line)" -eq 2
chk "alloc_scratch matched nothing" "$(q "$TMP/r.json" site alloc_scratch rule_line)" -eq 0
hc=$(q "$TMP/r.json" site alloc_weights huge_coverage)
awk -v h="$hc" 'BEGIN { exit !(h != "null" && h + 0 == 0) }' \
  && it_pass "thp=off: alloc_weights without huge pages ($hc; the others keep theirs)" \
  || it_fail "thp=off: expected alloc_weights' huge-page coverage 0 got $hc"

printf '# bad\nsym:alloc_kv tier=fast\nsym:alloc_weights tir=slow\nlib: thp=on\n' >"$TMP/bad.rules"
out=$(LD_PRELOAD=$LIB TIERSHIM_RULES="$TMP/bad.rules" "$PROBE" --stats "$TMP/b.json" 2>"$TMP/b.err")
warn=$(grep -c '^tiershim: TIERSHIM_RULES=' "$TMP/b.err")
[ "$out" = ok ] && [ "$warn" -eq 1 ] && grep -q "bad.rules:3: " "$TMP/b.err" \
  && [ "$(q "$TMP/b.json" rules_loaded)" -eq 0 ] && [ "$(q "$TMP/b.json" rule_hits)" -eq 0 ] \
  && it_pass "malformed rules: the program runs, one warning: $(cat "$TMP/b.err")" \
  || { it_fail "malformed rules: expected ok, one warning naming line 3, no rules"; it_show "$TMP/b.err" stderr; }

mkfifo "$TMP/fifo.rules"
out=$(LD_PRELOAD=$LIB TIERSHIM_RULES="$TMP/fifo.rules" timeout 30 "$PROBE" 2>"$TMP/f.err"); rc=$?
[ $rc -eq 0 ] && [ "$out" = ok ] && grep -q 'not a regular file' "$TMP/f.err" \
  && it_pass "a FIFO as the rules file: start-up does not wait for a writer; $(cat "$TMP/f.err")" \
  || { it_fail "a FIFO as the rules file: rc=$rc (124: blocked)"; it_show "$TMP/f.err" stderr; }

"$CLI" rules check "$TMP/good.rules" >"$TMP/c1.out" 2>&1; rc=$?
[ $rc -eq 0 ] && grep -q '3 rules' "$TMP/c1.out" && it_pass "rules check (good): rc 0, $(head -1 "$TMP/c1.out")" \
  || { it_fail "rules check (good): rc=$rc"; it_show "$TMP/c1.out" output; }
"$CLI" rules check "$TMP/bad.rules" >"$TMP/c2.out" 2>&1; rc=$?
[ $rc -eq 1 ] && grep -q 'bad.rules:3: ' "$TMP/c2.out" && grep -q 'bad.rules:4: ' "$TMP/c2.out" \
  && it_pass "rules check (bad): rc 1, every error line-numbered: $(grep -c 'bad.rules:[0-9]' "$TMP/c2.out") errors" \
  || { it_fail "rules check (bad): expected rc 1 and errors on lines 3 and 4, got rc=$rc"; it_show "$TMP/c2.out" output; }

it_finish profile
