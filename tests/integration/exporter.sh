#!/bin/bash
# exporter.sh LIB CLI PROG: `tiershim exporter` on a free loopback port:
# /metrics has the program's tiershim_malloc_calls_total{pid=...}, other
# paths 404, `promtool check metrics` accepts it; then Debian's prometheus
# (the binary, not the service) scrapes it every second and its query API
# returns the program's value. Skips (77), with a line saying so, only when
# the prometheus package cannot be installed (after the checks without it).
set -u
. "$(dirname "$0")/it_lib.sh"
LIB=$1 CLI=$2 PROG=$3
it_clean_env
it_tmpdir

it_start_published "$LIB" "$PROG" 50

"$CLI" exporter --listen 127.0.0.1:0 2>"$TMP/exp.err" &
epid=$!
PIDS="$PIDS $epid"
port=
for _ in $(seq 50); do
  port=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\),.*/\1/p' "$TMP/exp.err")
  [ -n "$port" ] && break
  sleep 0.1
done
[ -n "$port" ] || { it_fail "the exporter did not say its port"; it_show "$TMP/exp.err" stderr; it_finish exporter; }
it_info "exporter on 127.0.0.1:$port"
fetch() { # fetch PATH: body to stdout; the status on fd 3
  it_python - "http://127.0.0.1:$port$1" <<'PY'
import sys, urllib.request, urllib.error
try:
    r = urllib.request.urlopen(sys.argv[1], timeout=5); body = r.read(); code = r.status
except urllib.error.HTTPError as e:
    body = e.read(); code = e.code
sys.stdout.write(body.decode()); sys.stderr.write("%d\n" % code)
PY
}
fetch /metrics >"$TMP/metrics" 2>"$TMP/code"
[ "$(cat "$TMP/code")" = 200 ] && it_pass "GET /metrics: 200" || it_fail "GET /metrics: $(cat "$TMP/code")"
line=$(grep -E "^tiershim_malloc_calls_total\{pid=\"$pid\",comm=\"publish_prog\"\} [0-9]+$" "$TMP/metrics")
if [ -n "$line" ] && [ "${line##* }" -gt 0 ]; then it_pass "$line"
else it_fail "no tiershim_malloc_calls_total line for pid $pid"; it_show "$TMP/metrics" metrics; fi
grep -q '^# TYPE tiershim_malloc_calls_total counter$' "$TMP/metrics" && grep -q '^# HELP tiershim_anon_rss_bytes ' "$TMP/metrics" \
  && it_pass "HELP and TYPE lines" || it_fail "HELP/TYPE lines missing"
fetch /nope >/dev/null 2>"$TMP/code"
[ "$(cat "$TMP/code")" = 404 ] && it_pass "GET /nope: 404" || it_fail "GET /nope: $(cat "$TMP/code")"

if ! it_need promtool prometheus; then
  echo "SKIP: exporter: the prometheus package (promtool, prometheus) cannot be installed: promtool and the Prometheus round trip not run"
  [ "$IT_FAILED" = 0 ] && exit 77
  it_finish exporter
fi
if promtool check metrics <"$TMP/metrics" >"$TMP/promtool" 2>&1; then
  it_pass "promtool check metrics: clean"
else
  it_fail "promtool check metrics"; it_show "$TMP/promtool" promtool
fi

# A real Prometheus, scraping every second.
pport=$(it_free_port)
cat >"$TMP/prom.yml" <<YML
global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: tiershim
    static_configs:
      - targets: ['127.0.0.1:$port']
YML
prometheus --config.file="$TMP/prom.yml" --storage.tsdb.path="$TMP/tsdb" \
  --web.listen-address="127.0.0.1:$pport" >"$TMP/prom.log" 2>&1 &
PIDS="$PIDS $!"
query() {
  it_python - "http://127.0.0.1:$pport/api/v1/$1" "$pid" <<'PY'
import json, sys, urllib.request
try:
    d = json.load(urllib.request.urlopen(sys.argv[1], timeout=3))
except Exception:
    sys.exit(1)
if "targets" in sys.argv[1]:
    print(" ".join(t["health"] for t in d["data"]["activeTargets"]))
else:
    for r in d["data"]["result"]:
        if r["metric"].get("pid") == sys.argv[2]:
            print(r["value"][1])
PY
}
up=
for _ in $(seq 60); do
  up=$(query targets 2>/dev/null)
  [ "$up" = up ] && break
  sleep 0.5
done
[ "$up" = up ] && it_pass "prometheus: the exporter target is up" \
  || { it_fail "prometheus: target health '$up'"; it_show "$TMP/prom.log" prometheus; }
val=
for _ in $(seq 20); do
  val=$(query 'query?query=tiershim_malloc_calls_total' 2>/dev/null)
  [ -n "$val" ] && break
  sleep 0.5
done
if [ -n "$val" ] && [ "${val%.*}" -gt 0 ]; then
  it_pass "prometheus query: tiershim_malloc_calls_total{pid=\"$pid\"} = $val"
else
  it_fail "prometheus query: no value for pid $pid ('$val')"
fi
kill -TERM "$pid"; wait "$pid"
it_finish exporter
