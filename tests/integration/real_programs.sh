#!/bin/bash
# real_programs.sh LIB
# Real programs produce byte-identical output (and exit code) with and
# without LD_PRELOAD of the library: python3, node, sort (100 MB, spilling),
# gcc, sqlite3. Each preloaded run writes TIERSHIM_STATS=json:...%p.json and
# every stats file must show malloc_calls > 0 (the shim was active).
set -u
. "$(dirname "$0")/it_lib.sh"
LIB=$1
it_clean_env
it_tmpdir
export LC_ALL=C PYTHONHASHSEED=0

# The real interpreter, not a pyenv/virtualenv wrapper script.
PY=$(python3 -c 'import sys; print(sys.executable)' 2>/dev/null)
[ -n "$PY" ] || PY=python3

# run_pair NAME FUNC: runs "FUNC base" plainly and "FUNC shim" with the shim
# (in subshells, so only the programs FUNC execs are preloaded); compares
# stdout byte for byte and the exit codes; checks the stats files.
run_pair() {
  local name=$1 func=$2 brc src f0=$IT_FAILED t0 t1 t2
  mkdir -p "$TMP/stats-$name"
  t0=$(date +%s.%N)
  ( "$func" base ) >"$TMP/$name.base.out" 2>"$TMP/$name.base.err"
  brc=$?
  t1=$(date +%s.%N)
  ( export LD_PRELOAD="$LIB" TIERSHIM_STATS="json:$TMP/stats-$name/s.%p.json"; "$func" shim ) \
    >"$TMP/$name.shim.out" 2>"$TMP/$name.shim.err"
  src=$?
  t2=$(date +%s.%N)
  if [ $brc -ne $src ]; then
    it_fail "$name: exit code: expected $brc (without the shim) got $src (with)"
    it_show "$TMP/$name.shim.err" "stderr with the shim"
  fi
  if ! cmp -s "$TMP/$name.base.out" "$TMP/$name.shim.out"; then
    it_fail "$name: stdout: expected identical with and without the shim got a difference:"
    diff "$TMP/$name.base.out" "$TMP/$name.shim.out" | head -20
  fi
  [ $brc -eq 0 ] || { it_fail "$name: the program itself failed (exit $brc) without the shim"; it_show "$TMP/$name.base.err" stderr; }
  [ -s "$TMP/$name.base.out" ] || it_fail "$name: expected some output got none"
  grep '^tiershim:' "$TMP/$name.shim.err" | head -3
  # the shim was active: stats files, each with malloc_calls > 0
  if ! it_python - "$TMP/stats-$name" >"$TMP/$name.stats" 2>&1 <<'PY'
import json, os, sys
d = sys.argv[1]
files = sorted(os.listdir(d))
if not files:
    print("FAIL: expected at least one stats file (TIERSHIM_STATS=json:...%p.json) got none: the shim was not active"); sys.exit(1)
bad = 0; total = 0
for f in files:
    try:
        j = json.load(open(os.path.join(d, f)))
    except Exception as e:
        print("FAIL: %s: expected valid JSON got %s" % (f, e)); bad += 1; continue
    if not (isinstance(j.get("malloc_calls"), int) and j["malloc_calls"] > 0):
        print("FAIL: %s: expected malloc_calls > 0 got %r" % (f, j.get("malloc_calls"))); bad += 1
    else:
        total += j["malloc_calls"]
print("%d process(es), %d malloc calls" % (len(files), total))
sys.exit(1 if bad else 0)
PY
  then
    it_fail "$name: shim activity: $(cat "$TMP/$name.stats")"
  fi
  if [ $IT_FAILED -eq $f0 ]; then
    it_pass "$name: identical output ($(wc -c <"$TMP/$name.shim.out") bytes, exit $src); shim: $(tail -1 "$TMP/$name.stats"); $(echo "$t0 $t1 $t2" | awk '{printf "%.1f s without, %.1f s with", $2-$1, $3-$2}')"
  fi
}

# ---- python3 ----------------------------------------------------------------
cat >"$TMP/alloc.py" <<'PYEOF'
import hashlib, json, random
rng = random.Random(20240601)
h = hashlib.sha256()
words = ["".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(1, 12)))
         for _ in range(50000)]
d = {}
for i, w in enumerate(words):
    d.setdefault(w, []).append(i)
big = {"k%d" % i: {"v": [rng.random() for _ in range(8)], "s": words[i % len(words)] * 3,
                   "n": list(range(i % 50))} for i in range(30000)}
doc = json.dumps(big, sort_keys=True)
h.update(doc.encode())
back = json.loads(doc)
assert back == big
lst = sorted(words, key=lambda w: (len(w), w))
h.update("\n".join(lst).encode())
s = "".join(reversed(lst))
h.update(s.encode())
sets = [set(rng.randrange(10**6) for _ in range(1000)) for _ in range(100)]
inter = sorted(set.union(*sets))[:1000]
h.update(repr(inter).encode())
bytes_ = bytearray()
for i in range(200000):
    bytes_ += i.to_bytes(4, "little")
h.update(bytes(bytes_))
print("json bytes:", len(doc))
print("distinct words:", len(d))
print("sha256:", h.hexdigest())
PYEOF
prog_python() { "$PY" "$TMP/alloc.py"; }
run_pair python3 prog_python

# ---- node -------------------------------------------------------------------
if command -v node >/dev/null 2>&1; then
  prog_node() {
    node -e '
const crypto = require("crypto");
let seed = 12345;
function rnd() { seed = (seed * 1103515245 + 12345) % 2147483648; return seed / 2147483648; }
const h = crypto.createHash("sha256");
const objs = [];
for (let i = 0; i < 200000; i++) objs.push({ id: i, name: "n" + Math.floor(rnd() * 1e6), tags: [i % 7, i % 11, "t" + (i % 13)] });
const doc = JSON.stringify(objs);
h.update(doc);
const back = JSON.parse(doc);
back.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : a.id - b.id));
h.update(back.slice(0, 1000).map(o => o.name).join(","));
const m = new Map();
for (const o of back) m.set(o.name, (m.get(o.name) || 0) + 1);
h.update(String(m.size));
let s = "";
for (let i = 0; i < 100000; i++) s += String.fromCharCode(97 + (i % 26));
h.update(s);
const bufs = [];
for (let i = 0; i < 2000; i++) bufs.push(Buffer.alloc(1024 + (i % 64) * 1024, i % 256));
h.update(Buffer.concat(bufs));
console.log("json bytes:", doc.length);
console.log("distinct names:", m.size);
console.log("sha256:", h.digest("hex"));
'
  }
  run_pair node prog_node
else
  echo "SKIP: node: 'node' is not installed (apt-get install nodejs); node check not run"
fi

# ---- sort: 100 MB, LC_ALL=C, -S 50M so that it spills to temporary files ------
it_python - "$TMP/sort.in" <<'PYEOF'
import random, sys
rng = random.Random(4242)
target = 100 * 1024 * 1024
out = open(sys.argv[1], "w")
written = 0
hexs = rng.randbytes(target // 2 + 1024).hex()
pos = 0
lines = []
while written < target:
    n = 8 + rng.randrange(120)
    line = hexs[pos:pos + n]
    pos += n
    if pos + 200 > len(hexs):
        pos = 0
    if rng.randrange(10) == 0:
        line = "dup-" + line[:10]
    lines.append(line)
    written += len(line) + 1
    if len(lines) >= 100000:
        out.write("\n".join(lines) + "\n"); lines = []
if lines:
    out.write("\n".join(lines) + "\n")
PYEOF
[ -s "$TMP/sort.in" ] || it_fail "sort: could not generate the input file"
mkdir -p "$TMP/sorttmp"
prog_sort() {
  sort -S 50M -T "$TMP/sorttmp" -o "$TMP/sort.$1.txt" "$TMP/sort.in" || return $?
  wc -l <"$TMP/sort.$1.txt"
  sort -c -S 50M -T "$TMP/sorttmp" "$TMP/sort.$1.txt" && echo "sorted: yes"
}
run_pair sort prog_sort
if ! cmp -s "$TMP/sort.base.txt" "$TMP/sort.shim.txt"; then
  it_fail "sort: expected identical 100 MB output files with and without the shim got: $(cmp "$TMP/sort.base.txt" "$TMP/sort.shim.txt" 2>&1 | head -1)"
else
  it_pass "sort: $(wc -c <"$TMP/sort.shim.txt")-byte outputs identical"
fi
rm -f "$TMP/sort.in" "$TMP/sort.base.txt" "$TMP/sort.shim.txt"

# ---- gcc --------------------------------------------------------------------
cat >"$TMP/prog.c" <<'CEOF'
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
struct node { struct node *next; unsigned long v; char name[24]; };
static int cmp(const void *a, const void *b) {
  unsigned long x = *(const unsigned long *)a, y = *(const unsigned long *)b;
  return x < y ? -1 : x > y;
}
int main(void) {
  enum { N = 200000 };
  unsigned long *a = malloc(N * sizeof *a), seed = 7, sum = 0;
  struct node *head = NULL;
  for (int i = 0; i < N; i++) {
    seed = seed * 6364136223846793005UL + 1442695040888963407UL;
    a[i] = seed >> 20;
    if (i % 10 == 0) {
      struct node *n = malloc(sizeof *n);
      n->v = a[i]; n->next = head; snprintf(n->name, sizeof n->name, "node%d", i);
      head = n;
    }
  }
  qsort(a, N, sizeof *a, cmp);
  for (int i = 0; i < N; i += 1000) sum = sum * 31 + a[i];
  unsigned long nodes = 0;
  while (head) { struct node *n = head; head = n->next; sum ^= n->v + strlen(n->name); nodes++; free(n); }
  free(a);
  printf("nodes=%lu sum=%lu\n", nodes, sum);
  return 0;
}
CEOF
prog_gcc() {
  gcc -O2 -S -o "$TMP/prog.$1.s" "$TMP/prog.c" || return $?
  gcc -O2 -o "$TMP/prog.$1" "$TMP/prog.c" || return $?
  "$TMP/prog.$1"
}
run_pair gcc prog_gcc
if ! cmp -s "$TMP/prog.base.s" "$TMP/prog.shim.s"; then
  it_fail "gcc -O2 -S: expected identical assembly with and without the shim got:"
  diff "$TMP/prog.base.s" "$TMP/prog.shim.s" | head -20
else
  it_pass "gcc -O2 -S: identical assembly ($(wc -l <"$TMP/prog.shim.s") lines)"
fi

# ---- sqlite3 ----------------------------------------------------------------
if command -v sqlite3 >/dev/null 2>&1; then
  awk 'BEGIN {
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
    print "UPDATE t SET val = val + 1 WHERE grp % 3 = 0;"
    print "DELETE FROM t WHERE grp % 5 = 1;"
    print "SELECT count(*), sum(val) FROM t;"
    print "SELECT group_concat(id) FROM (SELECT id FROM t ORDER BY val DESC, id LIMIT 100);"
    print "PRAGMA integrity_check;"
  }' >"$TMP/work.sql"
  prog_sqlite() { sqlite3 "$TMP/db.$1" <"$TMP/work.sql"; }
  run_pair sqlite3 prog_sqlite
else
  it_fail "sqlite3: not installed (apt-get install sqlite3)"
fi

it_finish real_programs
