#!/bin/bash
# matrix.sh LIB GENTEXT
#
# The real-program matrix (tests/matrix/README.md): each program's stdout and
# exit code under the shim, in each main policy, must be byte-identical to a
# run without the shim. Programs: python3 (a stdlib test subset), node, git,
# gcc, sqlite3, sort, grep, xz. Every shim run writes TIERSHIM_STATS json and
# at least one of its processes must show malloc_calls > 0. A program that is
# not installed is skipped (SKIP line, not a failure). Prints a table:
# program x policy -> pass/fail and seconds.
#
# Environment (for local runs):
#   TS_MATRIX_MB=N            size of the sort/grep/xz input (default 100)
#   TS_MATRIX_PROGRAMS="a b"  a subset of: python3 node git gcc sqlite3 sort grep xz
#   TS_MATRIX_POLICIES="a b"  a subset of the policies below
set -u
. "$(dirname "$0")/../integration/it_lib.sh"
LIB=$1
GENTEXT=$2
it_clean_env
it_tmpdir
export LC_ALL=C PYTHONHASHSEED=0 TZ=UTC

MB=${TS_MATRIX_MB:-100}
PROGRAMS=${TS_MATRIX_PROGRAMS:-"python3 node git gcc sqlite3 sort grep xz"}
ALL_POLICIES="default thp_collapse bulk_interleave unmap_munmap unmap_kmod munmap_strict"
POLICIES=${TS_MATRIX_POLICIES:-$ALL_POLICIES}
LIMIT=180   # seconds per run

policy_env() {
  case "$1" in
    default)         echo "" ;;
    thp_collapse)    echo "TIERSHIM_THP=collapse" ;;
    bulk_interleave) echo "TIERSHIM_BULK=interleave" ;;
    unmap_munmap)    echo "TIERSHIM_UNMAP=munmap" ;;
    unmap_kmod)      echo "TIERSHIM_UNMAP=kmod" ;;
    munmap_strict)   echo "TIERSHIM_MUNMAP=strict" ;;
    *) echo "BAD" ;;
  esac
}
for p in $POLICIES; do
  [ "$(policy_env "$p")" != BAD ] || { echo "FAIL: matrix: unknown policy '$p' (known: $ALL_POLICIES)"; exit 2; }
done

declare -A RESULT TIME
SKIPPED=""

# run_one PROG FUNC POLICY: runs FUNC in a fresh directory, plainly
# (POLICY=base) or under the shim with POLICY's settings; stdout, stderr,
# exit code and seconds land in $TMP/PROG.POLICY.*
run_one() {
  local prog=$1 func=$2 pol=$3 rc t0 t1 envs
  local wd="$TMP/run/$prog.$pol"
  rm -rf "$TMP/run"; mkdir -p "$wd" "$TMP/stats/$prog.$pol"
  t0=$(date +%s.%N)
  if [ "$pol" = base ]; then
    ( cd "$wd" && export TMPDIR="$wd" MXPOL=$pol; timeout -k 10 $LIMIT bash -c "$(declare -f "$func"); $func" ) \
      >"$TMP/$prog.$pol.out" 2>"$TMP/$prog.$pol.err"
    rc=$?
  else
    envs=$(policy_env "$pol")
    # only the programs FUNC runs are preloaded: bash -c starts under the
    # shim too, which is one more real program
    ( cd "$wd" && export TMPDIR="$wd" MXPOL=$pol ${envs:+$envs} LD_PRELOAD="$LIB" \
        TIERSHIM_STATS="json:$TMP/stats/$prog.$pol/s.%p.json";
      timeout -k 10 $LIMIT bash -c "$(declare -f "$func"); $func" ) \
      >"$TMP/$prog.$pol.out" 2>"$TMP/$prog.$pol.err"
    rc=$?
  fi
  t1=$(date +%s.%N)
  echo "$rc" >"$TMP/$prog.$pol.rc"
  TIME[$prog.$pol]=$(echo "$t0 $t1" | awk '{printf "%.1f", $2-$1}')
  rm -rf "$TMP/run"
}

# check_stats DIR: every file valid JSON, at least one process with
# malloc_calls > 0; prints "N process(es), M malloc calls" or FAIL lines.
check_stats() {
  it_python - "$1" <<'PY'
import json, os, sys
d = sys.argv[1]
files = sorted(os.listdir(d))
if not files:
    print("FAIL: expected at least one stats file (TIERSHIM_STATS=json:...%p.json) got none: the shim was not active"); sys.exit(1)
bad = 0; active = 0; total = 0
for f in files:
    try:
        j = json.load(open(os.path.join(d, f)))
    except Exception as e:
        print("FAIL: %s: expected valid JSON got %s" % (f, e)); bad += 1; continue
    mc = j.get("malloc_calls")
    if isinstance(mc, int) and mc > 0:
        active += 1; total += mc
if active == 0:
    print("FAIL: expected malloc_calls > 0 in at least one of %d stats file(s) got none" % len(files)); bad += 1
print("%d process(es), %d with malloc_calls > 0, %d malloc calls" % (len(files), active, total))
sys.exit(1 if bad else 0)
PY
}

# filter_out POST BASE: BASE.out (through POST, when given) -> BASE.cmp
filter_out() {
  if [ -n "$1" ]; then "$1" <"$2.out"; else cat "$2.out"; fi >"$2.cmp"
}

# matrix_program PROG FUNC [POST]: the base run, then one run per policy.
# POST (optional, "" for none) names a function that filters stdout before
# comparison.
matrix_program() {
  local prog=$1 func=$2 post=${3:-} pol brc src f0 base rfunc
  echo "---- $prog ----"
  run_one "$prog" "$func" base
  brc=$(cat "$TMP/$prog.base.rc")
  filter_out "$post" "$TMP/$prog.base"
  RESULT[$prog.base]=ok
  if [ "$brc" -ne 0 ] || [ ! -s "$TMP/$prog.base.cmp" ]; then
    it_fail "$prog: the program itself failed without the shim (exit $brc, $(wc -c <"$TMP/$prog.base.cmp") bytes of output): the comparison means nothing"
    it_show "$TMP/$prog.base.err" "stderr without the shim"
    RESULT[$prog.base]=FAIL
  fi
  for pol in $POLICIES; do
    f0=$IT_FAILED
    base=base rfunc=$func
    run_one "$prog" "$rfunc" "$pol"
    src=$(cat "$TMP/$prog.$pol.rc")
    filter_out "$post" "$TMP/$prog.$pol"
    if [ "$src" -ne "$brc" ]; then
      it_fail "$prog [$pol]: exit code: expected $brc (without the shim) got $src"
      it_show "$TMP/$prog.$pol.err" "stderr [$pol]"
    fi
    if ! cmp -s "$TMP/$prog.$base.cmp" "$TMP/$prog.$pol.cmp"; then
      it_fail "$prog [$pol]: stdout: expected identical to the run without the shim got a difference:"
      diff "$TMP/$prog.$base.cmp" "$TMP/$prog.$pol.cmp" | head -20
    fi
    # tiershim's own messages: none expected (kmod without the module falls
    # back to batch silently)
    grep '^tiershim:' "$TMP/$prog.$pol.err" | sort | uniq -c | head -5 >"$TMP/$prog.$pol.warn"
    if [ -s "$TMP/$prog.$pol.warn" ]; then
      it_fail "$prog [$pol]: expected no tiershim warnings got:"
      cat "$TMP/$prog.$pol.warn"
    fi
    if ! check_stats "$TMP/stats/$prog.$pol" >"$TMP/$prog.$pol.stats" 2>&1; then
      it_fail "$prog [$pol]: shim activity: $(grep FAIL "$TMP/$prog.$pol.stats" | head -3 | tr '\n' ' ')"
    fi
    if [ $IT_FAILED -eq $f0 ]; then
      RESULT[$prog.$pol]=pass
      echo "  $pol: identical ($(wc -c <"$TMP/$prog.$pol.cmp") bytes compared, exit $src), ${TIME[$prog.$pol]} s (base ${TIME[$prog.base]} s); $(tail -1 "$TMP/$prog.$pol.stats")"
    else
      RESULT[$prog.$pol]=FAIL
    fi
    rm -rf "$TMP/stats/$prog.$pol"
  done
}

skip() { echo "SKIP: $1: $2"; SKIPPED="$SKIPPED $1"; }
have() { command -v "$1" >/dev/null 2>&1; }
want() { case " $PROGRAMS " in *" $1 "*) return 0 ;; esac; return 1; }

# ---- inputs (made once, without the shim) -----------------------------------
if want sort || want grep || want xz; then
  t0=$(date +%s.%N)
  "$GENTEXT" $((MB * 1024 * 1024)) 1 >"$TMP/text.in" || { echo "FAIL: matrix: gentext failed"; exit 1; }
  echo "input: $(wc -c <"$TMP/text.in") bytes, $(wc -l <"$TMP/text.in") lines ($(echo "$t0 $(date +%s.%N)" | awk '{printf "%.1f", $2-$1}') s)"
  # grep -F patterns: 200 words of the text
  head -c 200000 "$TMP/text.in" | tr ' ' '\n' | grep -E '^[a-z]{4,}$' | sort -u | head -200 >"$TMP/words.txt"
fi
export TEXT="$TMP/text.in" WORDS="$TMP/words.txt" MXTMP="$TMP"

# ---- python3: a stdlib test subset ------------------------------------------
PY_TESTS="test_json test_re test_collections test_heapq test_bisect test_textwrap"
if want python3; then
  MX_PY=""
  for c in "$(python3 -c 'import sys; print(sys.executable)' 2>/dev/null)" /usr/bin/python3; do
    [ -n "$c" ] && [ -x "$c" ] || continue
    if "$c" -c "import test.libregrtest, $(echo $PY_TESTS | sed 's/\(test_[a-z]*\)/test.\1/g; s/ /, /g')" 2>/dev/null; then
      MX_PY=$c; break
    fi
  done
  if [ -z "$MX_PY" ]; then
    skip python3 "no python3 with the stdlib test suite (Debian: apt-get install libpython3.11-testsuite)"
  else
    export MX_PY PY_TESTS
    echo "python3: $MX_PY ($("$MX_PY" -V 2>&1))"
    prog_python3() { "$MX_PY" -m test -j1 --randseed 1 $PY_TESTS 2>&1; }
    # the pass/fail lines, without clocks, load averages and durations
    post_python3() {
      sed -E -e 's/^[0-9]+:[0-9]{2}:[0-9]{2} //' -e 's/^load avg: [0-9.]+ //' \
             -e 's/ \([0-9.]+ (sec|ms)\)//g' -e 's/ \(([0-9]+ min )?[0-9]+ sec\)//g' |
        grep -E '^\[ *[0-9]+/[0-9]+(/[0-9]+)?\] test_|^== Tests result|^All [0-9]+ tests OK|^[0-9]+ tests? (OK|failed|skipped|altered)|^Total tests:|^Total test files:|^Result:|^    test_'
    }
    matrix_program python3 prog_python3 post_python3
  fi
fi

# ---- node: build, sort and JSON-roundtrip objects, print a hash -------------
if want node; then
  if ! have node; then
    skip node "'node' is not installed (Debian: apt-get install nodejs)"
  else
    cat >"$TMP/work.js" <<'JSEOF'
const crypto = require("crypto");
let seed = 20240601;
function rnd() { seed = (seed * 1103515245 + 12345) % 2147483648; return seed / 2147483648; }
const h = crypto.createHash("sha256");
const objs = [];
for (let i = 0; i < 300000; i++)
  objs.push({ id: i, name: "n" + Math.floor(rnd() * 1e6), score: Math.floor(rnd() * 1e9),
              tags: [i % 7, i % 11, "t" + (i % 13)], nested: { a: i % 3, b: "x".repeat(i % 17) } });
const doc = JSON.stringify(objs);
h.update(doc);
const back = JSON.parse(doc);
back.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : a.id - b.id));
h.update(JSON.stringify(back.slice(0, 5000)));
const m = new Map();
for (const o of back) m.set(o.name, (m.get(o.name) || 0) + 1);
h.update(String(m.size));
const f = new Float64Array(1 << 20);
for (let i = 0; i < f.length; i++) f[i] = rnd();
f.sort();
h.update(Buffer.from(f.buffer));
const bufs = [];
for (let i = 0; i < 3000; i++) bufs.push(Buffer.alloc(1024 + (i % 97) * 1024, i % 256));
h.update(Buffer.concat(bufs));
let s = [];
for (let i = 0; i < 200000; i++) s.push(String.fromCharCode(97 + (i % 26)).repeat(1 + i % 5));
h.update(s.join("|"));
console.log("json bytes:", doc.length);
console.log("distinct names:", m.size);
console.log("sha256:", h.digest("hex"));
JSEOF
    prog_node() { node "$MXTMP/work.js"; }
    matrix_program node prog_node
  fi
fi

# ---- git: init, add, commit, log, gc on a local repository ------------------
if want git; then
  if ! have git; then
    skip git "'git' is not installed (Debian: apt-get install git)"
  else
    mkdir -p "$TMP/gitsrc/src" "$TMP/gitsrc/doc"
    it_python - "$TMP/gitsrc" <<'PYEOF'
import os, random, sys
rng = random.Random(77)
root = sys.argv[1]
for i in range(300):
    d = "src" if i % 3 else "doc"
    lines = ["line %d of file %d: %s" % (k, i, "".join(rng.choice("abcdefgh ") for _ in range(rng.randint(5, 70))))
             for k in range(rng.randint(20, 400))]
    open(os.path.join(root, d, "f%03d.txt" % i), "w").write("\n".join(lines) + "\n")
PYEOF
    prog_git() {
      export HOME="$PWD/home" GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null \
        GIT_AUTHOR_NAME="Matrix Test" GIT_AUTHOR_EMAIL=matrix@example.org \
        GIT_COMMITTER_NAME="Matrix Test" GIT_COMMITTER_EMAIL=matrix@example.org \
        GIT_AUTHOR_DATE="2024-06-01T12:00:00 +0000" GIT_COMMITTER_DATE="2024-06-01T12:00:00 +0000"
      mkdir -p home repo && cd repo || return 1
      git init -q -b main . || return 1
      cp -r "$MXTMP/gitsrc/." . || return 1
      git add -A && git commit -q -m "initial import" || return 1
      for f in src/f0[0-4]*.txt; do sed -i 's/a/A/g' "$f"; done
      git mv doc/f000.txt doc/renamed.txt && git rm -q src/f299.txt || return 1
      git commit -q -am "second: edits, a rename, a removal" || return 1
      git checkout -q -b topic && echo "topic line" >>doc/renamed.txt && git commit -q -am "topic" || return 1
      git checkout -q main && git merge -q --no-ff -m "merge topic" topic || return 1
      git log --stat --format='%H %an %ad %s' --date=iso
      git diff --stat HEAD~2 HEAD
      git ls-tree -r HEAD | sha256sum
      git blame -s doc/renamed.txt | sha256sum
      git grep -c 'line 1[0-9] ' HEAD -- src | tail -5
      git -c pack.threads=1 gc -q || return 1
      git count-objects -v
      git fsck --full --no-progress 2>&1
      git rev-parse HEAD HEAD~1 HEAD~2
    }
    matrix_program git prog_git
  fi
fi

# ---- gcc: compile a generated 1,000-line C file, run it, cmp the objects ----
if want gcc; then
  if ! have gcc; then
    skip gcc "'gcc' is not installed (Debian: apt-get install gcc)"
  else
    it_python - "$TMP/gen.c" <<'PYEOF'
import random, sys
rng = random.Random(1000)
out = ["#include <stdio.h>", "#include <stdlib.h>", "#include <string.h>", "",
       "struct rec { unsigned long k; double v; char name[16]; };",
       "static int cmp_rec(const void *a, const void *b) {",
       "  const struct rec *x = a, *y = b;",
       "  return x->k < y->k ? -1 : x->k > y->k;", "}", ""]
nf = 0
while len(out) < 960:
    i = nf; nf += 1
    ops = ["+", "-", "*", "^", "|"]
    body = ["static unsigned long f%d(unsigned long x, int n) {" % i,
            "  unsigned long acc = %dUL;" % rng.randrange(1, 1 << 30),
            "  for (int i = 0; i < n; i++) {"]
    for _ in range(rng.randint(2, 6)):
        body.append("    acc = (acc %s (x >> %d)) * %dUL + (unsigned long)i;" % (rng.choice(ops), rng.randrange(1, 17), rng.randrange(3, 999, 2)))
    body.append("    if ((acc & %d) == %d) x ^= acc >> 3;" % (rng.choice([7, 15, 31]), rng.randrange(0, 7)))
    body += ["  }", "  return acc ^ x;", "}", ""]
    out += body
out += ["int main(void) {",
        "  unsigned long s = 1;",
        "  struct rec *r = malloc(50000 * sizeof *r);",
        "  if (!r) return 1;"]
for i in range(nf):
    out.append("  s = s * 31 + f%d(s + %d, %d);" % (i, i, 50 + i % 200))
out += ["  for (int i = 0; i < 50000; i++) { s = s * 6364136223846793005UL + 1442695040888963407UL;",
        "    r[i].k = s >> 20; r[i].v = (double)(s % 1000) / 7.0; snprintf(r[i].name, sizeof r[i].name, \"r%d\", i); }",
        "  qsort(r, 50000, sizeof *r, cmp_rec);",
        "  double t = 0; for (int i = 0; i < 50000; i += 97) t += r[i].v;",
        "  printf(\"functions=%d s=%lu first=%lu last=%lu t=%.3f name=%s\\n\", " + str(nf) + ", s, r[0].k, r[49999].k, t, r[25000].name);",
        "  free(r);", "  return 0;", "}"]
open(sys.argv[1], "w").write("\n".join(out) + "\n")
PYEOF
    echo "gcc: generated $(wc -l <"$TMP/gen.c") lines of C"
    # stdout carries the object's hash; the objects are also kept for cmp
    prog_gcc() {
      gcc -O2 -Wall -c -o gen.o "$MXTMP/gen.c" || return $?
      gcc -o gen gen.o || return $?
      ./gen || return $?
      sha256sum <gen.o
      cp gen.o "$MXTMP/gen.$MXPOL.o"
    }
    matrix_program gcc prog_gcc
    for pol in $POLICIES; do
      [ -f "$TMP/gen.$pol.o" ] || continue
      if cmp -s "$TMP/gen.base.o" "$TMP/gen.$pol.o"; then
        echo "  gcc [$pol]: gen.o identical to the base run's ($(wc -c <"$TMP/gen.$pol.o") bytes)"
      else
        it_fail "gcc [$pol]: expected gen.o identical to the one compiled without the shim got: $(cmp "$TMP/gen.base.o" "$TMP/gen.$pol.o" 2>&1 | head -1)"
        RESULT[gcc.$pol]=FAIL
      fi
    done
    rm -f "$TMP"/gen.*.o
  fi
fi

# ---- sqlite3: create, insert 100k rows, index, aggregate --------------------
if want sqlite3; then
  if ! have sqlite3; then
    skip sqlite3 "'sqlite3' is not installed (Debian: apt-get install sqlite3)"
  else
    awk 'BEGIN {
      print "PRAGMA journal_mode=WAL;"
      print "CREATE TABLE t(id INTEGER PRIMARY KEY, grp INTEGER, name TEXT, val INTEGER, note TEXT);"
      print "BEGIN;"
      for (i = 1; i <= 100000; i++)
        printf "INSERT INTO t VALUES(%d,%d,%c%s%d%c,%d,%c%s%c);\n", i, (i * 7919) % 1000, 39, "name", (i * 31) % 977, 39, (i * 104729) % 100003, 39, substr("abcdefghijklmnopqrstuvwxyz0123456789", 1 + i % 30, 1 + i % 7), 39
      print "COMMIT;"
      print "CREATE INDEX t_grp ON t(grp);"
      print "CREATE INDEX t_name ON t(name, val);"
      print "SELECT count(*), sum(val), min(name), max(name) FROM t;"
      print "SELECT grp, count(*), sum(val), max(note) FROM t GROUP BY grp ORDER BY grp LIMIT 50;"
      print "SELECT name, count(*) AS c, sum(val) FROM t GROUP BY name ORDER BY c DESC, name LIMIT 50;"
      print "SELECT note, count(*), total(val) FROM t WHERE grp BETWEEN 100 AND 300 GROUP BY note ORDER BY note;"
      print "SELECT a.grp, count(*) FROM t a JOIN t b ON a.grp = b.grp AND a.id < b.id WHERE a.grp < 20 GROUP BY a.grp ORDER BY a.grp;"
      print "UPDATE t SET val = val + 1 WHERE grp % 3 = 0;"
      print "DELETE FROM t WHERE grp % 5 = 1;"
      print "SELECT count(*), sum(val) FROM t;"
      print "SELECT group_concat(id) FROM (SELECT id FROM t ORDER BY val DESC, id LIMIT 100);"
      print "VACUUM;"
      print "PRAGMA integrity_check;"
    }' >"$TMP/work.sql"
    prog_sqlite3() { sqlite3 db <"$MXTMP/work.sql"; }
    matrix_program sqlite3 prog_sqlite3
  fi
fi

# ---- sort, grep, xz on the generated text -----------------------------------
if want sort; then
  prog_sort() {
    sort -S 64M -T . -o sorted "$TEXT" || return $?
    sha256sum <sorted
    sort -c -S 64M -T . sorted && echo "sorted: yes"
    rm -f sorted
    cut -d' ' -f1 "$TEXT" | sort -S 64M -T . | uniq -c | sort -k1,1nr -k2 | head -20
  }
  matrix_program sort prog_sort
fi

if want grep; then
  prog_grep() {
    grep -c 'ba' "$TEXT"
    grep -E '(ka|mo)[a-z]*v[aeiou] [a-z]+ [0-9]+$' "$TEXT" | sha256sum
    grep -i -v -E 'a|e' "$TEXT" | sha256sum
    grep -o -w '[a-z]*ty[a-z]*' "$TEXT" | head -100000 | sha256sum
    grep -c -F -f "$WORDS" "$TEXT"
    grep -n -m 20 -w "$(head -1 "$WORDS")" "$TEXT"
  }
  matrix_program grep prog_grep
fi

if want xz; then
  if ! have xz; then
    skip xz "'xz' is not installed (Debian: apt-get install xz-utils)"
  else
    # preset 0 (256 KiB dictionary): preset 6 takes minutes per run on 100 MB
    prog_xz() {
      xz -T1 -0 -c "$TEXT" >t.xz || return $?
      sha256sum <t.xz
      xz -T1 -d -c t.xz | sha256sum
      xz -t t.xz && echo "xz -t: ok"
      rm -f t.xz
    }
    matrix_program xz prog_xz
    if [ -n "${RESULT[xz.base]:-}" ]; then
      want_sum=$(sha256sum <"$TMP/text.in")
      grep -qx -- "$want_sum" "$TMP/xz.base.out" ||
        it_fail "xz: expected decompression to give back the input ($want_sum) got: $(sed -n 2p "$TMP/xz.base.out")"
    fi
  fi
fi

# ---- the table ----------------------------------------------------------------
echo
printf '%-9s %-10s' program "base (s)"
for pol in $POLICIES; do printf ' %-18s' "$pol"; done
echo
for prog in $PROGRAMS; do
  if [ -z "${RESULT[$prog.base]:-}" ]; then
    printf '%-9s %-10s' "$prog" skipped; echo; continue
  fi
  printf '%-9s %-10s' "$prog" "${TIME[$prog.base]}$( [ "${RESULT[$prog.base]}" = ok ] || echo '!')"
  for pol in $POLICIES; do
    printf ' %-18s' "${RESULT[$prog.$pol]:-?} ${TIME[$prog.$pol]:-}"
  done
  echo
done
[ -z "$SKIPPED" ] || echo "skipped:$SKIPPED"
it_finish matrix
