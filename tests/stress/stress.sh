#!/bin/bash
# stress.sh LIB STRESS VARIANT
#
# Runs the stress program (tests/stress/stress.c) in one configuration:
# under the shim (LD_PRELOAD=LIB, set here for the program only, never for
# this script) with the TIERSHIM_* settings of VARIANT, or plainly (glibc,
# the reference). Checks the program's exit code and summary, and from
# TIERSHIM_STATS=json that the shim was active and what it retained.
#
#   VARIANT: default thp_fault thp_collapse thp_off bulk_interleave bulk_slow
#            bulk_fast bulk_weighted rules (callsite tracing of 1 in 64 small
#            allocations and every large one, and rule actions, under load)
#            unmap_munmap unmap_batch unmap_kmod munmap_strict rss glibc
#
# Environment: TS_STRESS_LONG=1 runs 10x the operations; TS_STRESS_THREADS,
# TS_STRESS_OPS and TS_STRESS_SEED override the defaults (4, 40000, 1).
set -u
. "$(dirname "$0")/../integration/it_lib.sh"
LIB=$1
BIN=$2
VARIANT=$3
it_clean_env
it_tmpdir

THREADS=${TS_STRESS_THREADS:-4}
OPS=${TS_STRESS_OPS:-40000}
SEED=${TS_STRESS_SEED:-1}
LIMIT=240
if [ "${TS_STRESS_LONG:-0}" = 1 ]; then OPS=$((OPS * 10)); LIMIT=1400; fi

RETAIN=256M        # TIERSHIM_RETAIN_MAX's default
SHIM=1
ENV=()
EXPECT=""          # what the stats must show for this variant (checked below)
case "$VARIANT" in
  default)         ;;
  thp_fault)       ENV=(TIERSHIM_THP=fault) ;;
  thp_collapse)    ENV=(TIERSHIM_THP=collapse) ;;
  thp_off)         ENV=(TIERSHIM_THP=off) ;;
  bulk_interleave) ENV=(TIERSHIM_BULK=interleave) ;;
  bulk_slow)       ENV=(TIERSHIM_BULK=slow) ;;
  bulk_fast)       ENV=(TIERSHIM_BULK=fast) ;;
  bulk_weighted)   ENV=(TIERSHIM_BULK=weighted) ;;
  rules)           ENV=(TIERSHIM_RULES="$(cd "$(dirname "$0")" && pwd)/stress.rules" TIERSHIM_PROFILE_SAMPLE=64) ;;
  unmap_munmap)    ENV=(TIERSHIM_UNMAP=munmap); EXPECT=backend:munmap ;;
  unmap_batch)     ENV=(TIERSHIM_UNMAP=batch); EXPECT=backend:batch ;;
  unmap_kmod)      ENV=(TIERSHIM_UNMAP=kmod); EXPECT=backend:kmod ;;
  munmap_strict)   ENV=(TIERSHIM_MUNMAP=strict) ;;
  rss)             ENV=(TIERSHIM_RETAIN_MAX=64M); RETAIN=64M ;;
  glibc)           SHIM=0 ;;
  *) echo "FAIL: stress.sh: unknown variant '$VARIANT'"; exit 2 ;;
esac

ARGS=(-s "$SEED" "$THREADS" "$OPS")
if [ $SHIM = 1 ]; then
  ARGS=(-r "$RETAIN" "${ARGS[@]}")
  RUN=(env "${ENV[@]}" LD_PRELOAD="$LIB" TIERSHIM_STATS="json:$TMP/stats.%p.json" "$BIN" "${ARGS[@]}")
else
  RUN=(env "$BIN" "${ARGS[@]}")
fi
REPRO="${ENV[*]}${ENV:+ }$( [ $SHIM = 1 ] && echo "LD_PRELOAD=$LIB ")$BIN ${ARGS[*]}"
echo "stress.$VARIANT: $REPRO"

t0=$(date +%s.%N)
timeout -k 10 "$LIMIT" "${RUN[@]}" >"$TMP/out" 2>"$TMP/err"
rc=$?
t1=$(date +%s.%N)
cat "$TMP/out"
grep -v '^stress: ' "$TMP/err" | head -30
SECS=$(echo "$t0 $t1" | awk '{printf "%.1f", $2-$1}')

if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
  it_fail "stress.$VARIANT: expected the program to finish within $LIMIT s got a timeout (hang? deadlock?); reproduce: $REPRO"
elif [ $rc -ne 0 ]; then
  it_fail "stress.$VARIANT: expected exit 0 got $rc; reproduce: $REPRO"
  it_show "$TMP/err" "stderr"
fi
SUMMARY=$(grep '^stress: shim=' "$TMP/out")
[ -n "$SUMMARY" ] || it_fail "stress.$VARIANT: expected a 'stress: shim=...' summary line got none"
if [ $SHIM = 1 ]; then
  echo "$SUMMARY" | grep -q 'shim=yes' ||
    it_fail "stress.$VARIANT: expected the program to see the shim (shim=yes) got: $SUMMARY"
else
  echo "$SUMMARY" | grep -q 'shim=no' ||
    it_fail "stress.glibc: expected no shim (shim=no) got: $SUMMARY"
fi

# Any tiershim warning is a failure (kmod without the module falls back to
# batch silently: the line only under TIERSHIM_VERBOSE)
if [ $SHIM = 1 ]; then
  grep '^tiershim:' "$TMP/err" >"$TMP/warn"
  if [ -s "$TMP/warn" ]; then
    it_fail "stress.$VARIANT: expected no tiershim warnings got:"
    head -5 "$TMP/warn"
  fi
fi

# The shim's stats: one document from the main process (fork children
# _exit, so they write none), malloc_calls > 0, retention within twice
# RETAIN_MAX at exit, the configured modes in effect.
if [ $SHIM = 1 ]; then
  if ! it_python - "$TMP" "$VARIANT" "$RETAIN" "${EXPECT:-}" >"$TMP/stats.txt" 2>&1 <<'PY'
import json, os, sys
d, variant, retain, expect = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
mult = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
retain_b = int(retain[:-1]) * mult[retain[-1]] if retain[-1] in mult else int(retain)
files = sorted(f for f in os.listdir(d) if f.startswith("stats.") and f.endswith(".json"))
bad = []
if len(files) != 1:
    print("FAIL: stats: expected exactly one JSON document (the main process) got %d: %s" % (len(files), files))
    sys.exit(1)
j = json.load(open(os.path.join(d, files[0])))
mc = j.get("malloc_calls")
if not (isinstance(mc, int) and mc > 0):
    bad.append("expected malloc_calls > 0 got %r (the shim was not active)" % (mc,))
pl, um, ti = j.get("placement", {}), j.get("unmap", {}), j.get("tiers", {})
ret = pl.get("retained_bytes")
if not isinstance(ret, int) or ret > 2 * retain_b:
    bad.append("expected placement.retained_bytes <= 2 x RETAIN_MAX (%d) got %r" % (2 * retain_b, ret))
if not (isinstance(pl.get("placed_mallocs"), int) and pl["placed_mallocs"] > 0):
    bad.append("expected placement.placed_mallocs > 0 (large blocks placed) got %r" % pl.get("placed_mallocs"))
if pl.get("state") != "on":
    bad.append("expected placement.state 'on' got %r" % pl.get("state"))
if expect.startswith("backend:"):
    want = expect.split(":", 1)[1]
    got = um.get("backend")
    if want == "kmod" and not os.path.exists("/dev/tiershim"):
        want = "batch"   # documented fallback without the module
    if got != want:
        bad.append("expected unmap.backend %r got %r" % (want, got))
thp = pl.get("thp_mode")
if variant.startswith("thp_"):
    want = variant[4:]
    if thp != want:
        # THP never (or no MADV_COLLAPSE) changes the mode: accepted when the reason says so
        print("INFO: THP mode: asked %s, effective %s (%s)" % (want, thp, pl.get("thp_reason")))
        if not (thp in ("off", "fault") and pl.get("thp_reason")):
            bad.append("expected thp_mode %r (or a fallback with a reason) got %r" % (want, thp))
print("stats: malloc_calls=%d free_calls=%s large_allocs=%s placed_mallocs=%s reused=%s "
      "retained_bytes=%s (limit %d) released_bytes=%s region_rss_bytes=%s region_huge_bytes=%s "
      "thp_mode=%s unmap.backend=%s unmap.release_mode=%s tiers.status=%s bulk_policy=%s" % (
      mc or 0, j.get("free_calls"), j.get("large_allocs"), pl.get("placed_mallocs"), pl.get("reused"),
      ret, 2 * retain_b, pl.get("released_bytes"), pl.get("region_rss_bytes"),
      pl.get("region_huge_bytes"), thp, um.get("backend"), um.get("release_mode"),
      ti.get("status"), ti.get("bulk_policy")))
for b in bad:
    print("FAIL: stats: " + b)
sys.exit(1 if bad else 0)
PY
  then
    it_fail "stress.$VARIANT: stats: $(grep FAIL "$TMP/stats.txt" | tr '\n' ' ')"
  fi
  cat "$TMP/stats.txt"
fi

if [ $IT_FAILED -eq 0 ]; then
  it_pass "stress.$VARIANT: $(echo "$SUMMARY" | grep -o 'ops=[0-9]*') $(echo "$SUMMARY" | grep -o 'forks=[0-9]*') $(echo "$SUMMARY" | grep -o 'verified_blocks=[0-9]*') $(echo "$SUMMARY" | grep -o 'peak_rss_kib=[0-9]*'), $SECS s"
fi
it_finish "stress.$VARIANT"
