#!/bin/bash
# stats_json.sh LIB SMALL_PROG VERSION
# TIERSHIM_STATS=json:PATH (with %p), its safety rules, and TIERSHIM_STATS=1.
set -u
. "$(dirname "$0")/it_lib.sh"
LIB=$1 PROG=$2 VERSION=$3
it_clean_env
it_tmpdir

# reference: the program without the shim
"$PROG" --exit 3 >"$TMP/ref.out" 2>"$TMP/ref.err"
[ $? -eq 3 ] || it_fail "small_prog without the shim: expected exit 3"

# --- 1. json:PATH with %p ---------------------------------------------------
mkdir "$TMP/j"
LD_PRELOAD=$LIB TIERSHIM_STATS="json:$TMP/j/s.%p.json" "$PROG" --pid --exit 3 >"$TMP/1.out" 2>"$TMP/1.err"
rc=$?
[ $rc -eq 3 ] || it_fail "TIERSHIM_STATS=json: exit code: expected 3 got $rc"
pid=$(sed -n 's/^pid=//p' "$TMP/1.out")
files=$(cd "$TMP/j" && ls)
if [ "$files" != "s.$pid.json" ]; then
  it_fail "TIERSHIM_STATS=json:$TMP/j/s.%p.json: expected exactly the file s.$pid.json got: '$(echo $files)'"
  [ -s "$TMP/1.err" ] && it_show "$TMP/1.err" stderr
else
  if it_python - "$TMP/j/s.$pid.json" "$pid" "$VERSION" >"$TMP/py.out" 2>&1 <<'PY'
import json, sys
path, pid, version = sys.argv[1], int(sys.argv[2]), sys.argv[3]
text = open(path).read()
try:
    d = json.loads(text)
except ValueError as e:
    print("FAIL: %s: expected valid JSON got %s; content: %r" % (path, e, text[:300])); sys.exit(1)
bad = []
if not isinstance(d, dict):
    print("FAIL: expected a JSON object got %s" % type(d).__name__); sys.exit(1)
INT = "int"; NUM = "number"; STR = "string"; BOOL = "bool"
keys = {"version": STR, "pid": INT, "wall_seconds": NUM, "anon_rss_bytes": INT,
        "anon_huge_bytes": INT, "thp_coverage": NUM, "vma_count": INT,
        "minor_faults": INT, "major_faults": INT, "tlb_shootdowns": INT,
        "malloc_calls": INT, "free_calls": INT, "large_allocs": INT,
        "mmap_calls": INT, "munmap_calls": INT, "mremap_calls": INT,
        "madvise_calls": INT, "bootstrap_allocs": INT, "threads_created": INT,
        "enabled": BOOL}
def ok(v, t):
    if t == INT: return type(v) is int
    if t == NUM: return type(v) in (int, float)
    if t == STR: return type(v) is str
    return type(v) is bool
for k, t in keys.items():
    if k not in d: bad.append("key %s: expected present got missing" % k)
    elif not ok(d[k], t): bad.append("key %s: expected %s got %s (%r)" % (k, t, type(d[k]).__name__, d[k]))
# Objects appear only where documented (docs/stats.md): "placement", "tiers".
nested = [k for k, v in d.items() if isinstance(v, (dict, list)) and k not in ("placement", "tiers", "migration", "unmap")]
if nested: bad.append("expected no nested values except placement, tiers, migration and unmap got %s" % nested)
u = d.get("unmap")
ukeys = {"backend": STR, "release_mode": STR, "shootdown_source": STR, "kmod_version": STR}
for k in ("ranges", "bytes", "calls", "batches", "failures", "batch", "delay_ms", "scale", "grows",
          "shrinks", "decays", "decay_bytes", "kmod_flags", "kmod_shootdowns", "lazy_limit", "lazy_pending", "lazy_settles",
          "lazy_cancelled"):
    ukeys[k] = INT
if not isinstance(u, dict): bad.append("unmap: expected an object got %r" % (u,))
else:
    for k, ty in ukeys.items():
        if k not in u: bad.append("unmap.%s: expected present got missing" % k)
        elif not ok(u[k], ty): bad.append("unmap.%s: expected %s got %r" % (k, ty, u[k]))
    if "shootdowns" not in u or not (u["shootdowns"] is None or type(u["shootdowns"]) is int):
        bad.append("unmap.shootdowns: expected int or null got %r" % (u.get("shootdowns"),))
    elif u.get("backend") != "batch": bad.append("unmap.backend: expected batch (the default) got %r" % (u.get("backend"),))
t = d.get("tiers")
tkeys = {"status": STR, "why": STR, "source": STR, "fast_nodes": STR, "slow_nodes": STR,
         "task_policy": STR, "hot_policy": STR, "bulk_policy": STR, "bulk_per_range": BOOL}
for k in ("hot_bound_bytes", "bulk_bound_bytes", "binds", "bind_failures", "stacks_bound"):
    tkeys[k] = INT
if not isinstance(t, dict): bad.append("tiers: expected an object got %r" % (t,))
else:
    for k, ty in tkeys.items():
        if k not in t: bad.append("tiers.%s: expected present got missing" % k)
        elif not ok(t[k], ty): bad.append("tiers.%s: expected %s got %r" % (k, ty, t[k]))
    if not isinstance(t.get("tiers"), list) or not isinstance(t.get("nodes"), list):
        bad.append("tiers.tiers and tiers.nodes: expected lists got %r" % (t,))
    elif t["nodes"]:
        n = t["nodes"][0]
        for k in ("node", "tier", "total_bytes", "free_bytes", "bulk_resident_bytes",
                  "hot_resident_bytes", "page_table_bytes"):
            if type(n.get(k)) is not int: bad.append("tiers.nodes[0].%s: expected int got %r" % (k, n.get(k)))
pkeys = {"state": STR, "thp_mode": STR, "thp_reason": STR, "release_mode": STR}
for k in ("placed_mmaps", "placed_bytes", "pmd_aligned", "placed_mallocs", "malloc_fallbacks",
          "mmap_fallbacks", "regions", "vma_count_regions", "retained_bytes", "reused",
          "released_bytes", "release_calls", "collapse_ok", "collapse_fail", "collapse_bytes",
          "thp_advise_ok", "thp_advise_fail", "region_rss_bytes", "region_huge_bytes",
          "region_live_bytes", "region_committed_bytes", "heap_thp_bytes", "heap_thp_fail"):
    pkeys[k] = INT
p = d.get("placement")
if not isinstance(p, dict): bad.append("placement: expected an object got %r" % (p,))
else:
    for k, t in pkeys.items():
        if k not in p: bad.append("placement.%s: expected present got missing" % k)
        elif not ok(p[k], t): bad.append("placement.%s: expected %s got %r" % (k, t, p[k]))
def chk(cond, msg):
    if not cond: bad.append(msg)
if not bad:
    chk(d["pid"] == pid, "pid: expected %d (from the file name and getpid()) got %r" % (pid, d["pid"]))
    chk(d["version"] == version, "version: expected %r got %r" % (version, d["version"]))
    chk(d["malloc_calls"] > 0, "malloc_calls: expected > 0 got %r" % d["malloc_calls"])
    chk(d["free_calls"] > 0, "free_calls: expected > 0 got %r" % d["free_calls"])
    chk(d["large_allocs"] >= 2, "large_allocs: expected >= 2 (300 KiB and 2 MiB blocks) got %r" % d["large_allocs"])
    chk(0 <= d["thp_coverage"] <= 1, "thp_coverage: expected 0..1 got %r" % d["thp_coverage"])
    chk(d["vma_count"] > 0, "vma_count: expected > 0 got %r" % d["vma_count"])
    chk(d["anon_rss_bytes"] > 0, "anon_rss_bytes: expected > 0 got %r" % d["anon_rss_bytes"])
    chk(0 <= d["anon_huge_bytes"], "anon_huge_bytes: expected >= 0 got %r" % d["anon_huge_bytes"])
    chk(d["wall_seconds"] >= 0, "wall_seconds: expected >= 0 got %r" % d["wall_seconds"])
    chk(d["minor_faults"] > 0, "minor_faults: expected > 0 got %r" % d["minor_faults"])
    chk(d["major_faults"] >= 0, "major_faults: expected >= 0 got %r" % d["major_faults"])
    chk(d["enabled"] is True, "enabled: expected true got %r" % d["enabled"])
for b in bad: print("FAIL: stats JSON: " + b)
if bad: print("content: " + text[:2000]); sys.exit(1)
print("JSON ok: %d keys, malloc_calls=%d vma_count=%d thp_coverage=%s" % (len(d), d["malloc_calls"], d["vma_count"], d["thp_coverage"]))
PY
  then it_pass "TIERSHIM_STATS=json:...%p.json: $(cat "$TMP/py.out")"
  else cat "$TMP/py.out"; IT_FAILED=1
  fi
fi
grep -v '^pid=' "$TMP/1.out" | cmp -s - "$TMP/ref.out" \
  || it_fail "TIERSHIM_STATS=json: expected stdout unchanged got: $(head -c 300 "$TMP/1.out")"
grep -q '^tiershim' "$TMP/1.err" && it_fail "TIERSHIM_STATS=json: expected nothing from tiershim on stderr got: $(head -c 300 "$TMP/1.err")"

# --- 2. a symlink at the target path is not followed ------------------------
f0=$IT_FAILED
printf 'original\n' >"$TMP/victim"
ln -s "$TMP/victim" "$TMP/link.json"
LD_PRELOAD=$LIB TIERSHIM_STATS="json:$TMP/link.json" "$PROG" --exit 5 >"$TMP/2.out" 2>"$TMP/2.err"
rc=$?
[ $rc -eq 5 ] || it_fail "stats path is a symlink: exit code: expected 5 got $rc"
[ "$(cat "$TMP/victim")" = original ] \
  || it_fail "stats path is a symlink: expected the file behind it unchanged got: $(head -c 200 "$TMP/victim")"
[ -L "$TMP/link.json" ] && [ "$(readlink "$TMP/link.json")" = "$TMP/victim" ] \
  || it_fail "stats path is a symlink: expected the symlink itself left alone got it replaced"
grep -q '^tiershim:' "$TMP/2.err" \
  || it_fail "stats path is a symlink: expected a 'tiershim:' warning on stderr got: '$(cat "$TMP/2.err")'"
cmp -s "$TMP/2.out" "$TMP/ref.out" || it_fail "stats path is a symlink: expected stdout unchanged"
# dangling symlink: must not create its target
ln -s "$TMP/created-through-link" "$TMP/dangling.json"
LD_PRELOAD=$LIB TIERSHIM_STATS="json:$TMP/dangling.json" "$PROG" --exit 5 >"$TMP/2b.out" 2>"$TMP/2b.err"
rc=$?
[ $rc -eq 5 ] || it_fail "stats path is a dangling symlink: exit code: expected 5 got $rc"
[ -e "$TMP/created-through-link" ] \
  && it_fail "stats path is a dangling symlink: expected its target not created got a file"
[ $IT_FAILED -eq $f0 ] && it_pass "symlink at the stats path not followed (warning: $(grep -m1 '^tiershim:' "$TMP/2.err"))"

# --- 3. a file owned by another user is not overwritten ---------------------
if [ "$(id -u)" -eq 0 ] && getent passwd nobody >/dev/null; then
  f0=$IT_FAILED
  printf 'theirs\n' >"$TMP/owned.json"
  chown nobody "$TMP/owned.json"
  LD_PRELOAD=$LIB TIERSHIM_STATS="json:$TMP/owned.json" "$PROG" --exit 6 >"$TMP/3.out" 2>"$TMP/3.err"
  rc=$?
  [ $rc -eq 6 ] || it_fail "stats file owned by nobody: exit code: expected 6 got $rc"
  [ "$(cat "$TMP/owned.json")" = theirs ] \
    || it_fail "stats file owned by nobody: expected it not overwritten got: $(head -c 200 "$TMP/owned.json")"
  [ "$(stat -c %U "$TMP/owned.json")" = nobody ] \
    || it_fail "stats file owned by nobody: expected owner nobody got $(stat -c %U "$TMP/owned.json") (replaced)"
  cmp -s "$TMP/3.out" "$TMP/ref.out" || it_fail "stats file owned by nobody: expected stdout unchanged"
  [ $IT_FAILED -eq $f0 ] && it_pass "stats file owned by another user not overwritten (stderr: $(grep -m1 '^tiershim:' "$TMP/3.err"))"
else
  it_info "not root: the 'file owned by another user' check is skipped"
fi

# --- 4. an unwritable stats path changes nothing for the program -----------
LD_PRELOAD=$LIB TIERSHIM_STATS="json:$TMP/no/such/dir/s.json" "$PROG" --exit 9 >"$TMP/4.out" 2>"$TMP/4.err"
rc=$?
[ $rc -eq 9 ] || it_fail "stats path in a missing directory: exit code: expected 9 got $rc"
cmp -s "$TMP/4.out" "$TMP/ref.out" || it_fail "stats path in a missing directory: expected stdout unchanged"

# --- 5. TIERSHIM_STATS=1: summary on stderr, stdout unchanged ---------------
LD_PRELOAD=$LIB TIERSHIM_STATS=1 "$PROG" --exit 3 >"$TMP/5.out" 2>"$TMP/5.err"
rc=$?
[ $rc -eq 3 ] || it_fail "TIERSHIM_STATS=1: exit code: expected 3 got $rc"
if cmp -s "$TMP/5.out" "$TMP/ref.out"; then :; else
  it_fail "TIERSHIM_STATS=1: expected stdout unchanged got:"; cat "$TMP/5.out"
fi
first=$(grep -m1 '^tiershim' "$TMP/5.err")
case $first in
  "tiershim: stats"*) it_pass "TIERSHIM_STATS=1: summary on stderr ($(grep -c '^tiershim' "$TMP/5.err") lines), stdout unchanged";;
  *) it_fail "TIERSHIM_STATS=1: expected the summary's first line to start with 'tiershim: stats' got '$first'"
     it_show "$TMP/5.err" stderr;;
esac
LD_PRELOAD=$LIB TIERSHIM_STATS=0 "$PROG" --exit 3 >"$TMP/6.out" 2>"$TMP/6.err"
[ -s "$TMP/6.err" ] && it_fail "TIERSHIM_STATS=0: expected nothing on stderr got: $(head -c 300 "$TMP/6.err")"
# --- 7. a program that closes stderr at exit still gets its summary --------
# coreutils' close_stdout (an atexit handler) closes fd 2 before tiershim's
# destructor runs; the summary must reach the stderr the program started with.
LD_PRELOAD=$LIB TIERSHIM_STATS=1 /bin/cat /dev/null 2>"$TMP/7.err"
if grep -q '^tiershim: stats pid' "$TMP/7.err"; then
  it_pass "TIERSHIM_STATS=1: summary written although cat closed stderr at exit"
else
  it_fail "TIERSHIM_STATS=1 cat: expected the summary on stderr, got: $(head -c 300 "$TMP/7.err")"
fi
it_finish stats_json
