#!/bin/bash
# validate.sh: checks the deployment files of this folder with what a Debian
# 12 machine offers (docs/operations.md, "What was checked here"):
#   - the Kubernetes manifests parse as YAML (python3-yaml), are the kinds
#     they claim, and keep what the docs rely on (LD_PRELOAD in the server's
#     env, /dev/shm shared with the exporter, one pid namespace in the pod);
#   - the scrape configuration: promtool check config;
#   - the Grafana dashboard: valid JSON, a datasource variable, and every
#     query accepted by promtool check rules (each as a recording rule);
#   - the systemd drop-in: systemd-analyze verify on a throwaway unit, with
#     no warning about the drop-in.
# A check whose tool is missing is reported as SKIP. Exit 1 on any failure.
set -u
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
bad=0
ok() { echo "PASS: $*"; }
no() { echo "FAIL: $*"; bad=1; }

if python3 -c 'import yaml' 2>/dev/null; then
  python3 - "$here" <<'PY' && ok "manifests: YAML, kinds and the fields the docs rely on" || no "manifests"
import sys, yaml
d = sys.argv[1]
pod, = yaml.safe_load_all(open(d + "/tiershim-pod.yaml"))
ds, = yaml.safe_load_all(open(d + "/tiershim-daemonset.yaml"))
assert (pod["apiVersion"], pod["kind"]) == ("v1", "Pod")
assert (ds["apiVersion"], ds["kind"]) == ("apps/v1", "DaemonSet")
spec = pod["spec"]
assert spec["shareProcessNamespace"] is True
shm = [v["name"] for v in spec["volumes"] if v.get("emptyDir", {}).get("medium") == "Memory"]
assert shm, "no in-memory emptyDir"
for c in spec["containers"]:
    assert any(m["name"] in shm and m["mountPath"] == "/dev/shm" for m in c["volumeMounts"]), c["name"]
server = spec["containers"][0]
assert any(e["name"] == "LD_PRELOAD" and e["value"].endswith("libtiershim.so.0") for e in server["env"])
assert any(c.get("command", [])[:2] == ["/usr/bin/tiershim", "exporter"] for c in spec["containers"])
t = ds["spec"]["template"]
assert ds["spec"]["selector"]["matchLabels"].items() <= t["metadata"]["labels"].items()
assert t["spec"]["hostPID"] is True
assert t["spec"]["volumes"][0]["hostPath"]["path"] == "/dev/shm"
PY
else
  echo "SKIP: manifests: python3-yaml not installed"
fi

if command -v promtool >/dev/null; then
  promtool check config "$here/prometheus-scrape.yml" >"$tmp/out" 2>&1 && ok "promtool check config" \
    || { no "promtool check config"; cat "$tmp/out"; }
else
  echo "SKIP: scrape config and dashboard queries: promtool (package prometheus) not installed"
fi

python3 - "$here/grafana-tiershim.json" "$tmp/rules.yml" <<'PY' && ok "dashboard: JSON, datasource variable, queries extracted" || no "dashboard"
import json, sys
d = json.load(open(sys.argv[1]))
v = {x["name"]: x for x in d["templating"]["list"]}
assert v["datasource"]["type"] == "datasource" and v["datasource"]["query"] == "prometheus"
rules = []
for p in d["panels"]:
    assert p["datasource"]["uid"] == "${datasource}"
    for t in p["targets"]:
        e = t["expr"].replace("$comm", ".*").replace("$instance", ".*")
        rules.append("      - record: tiershim:panel%d_%s\n        expr: %s\n" % (p["id"], t["refId"], json.dumps(e)))
assert len(rules) >= 8
open(sys.argv[2], "w").write("groups:\n  - name: dashboard\n    rules:\n" + "".join(rules))
PY
if command -v promtool >/dev/null && [ -s "$tmp/rules.yml" ]; then
  promtool check rules "$tmp/rules.yml" >"$tmp/out" 2>&1 && ok "dashboard queries: promtool check rules" \
    || { no "dashboard queries"; cat "$tmp/out"; }
fi

if command -v systemd-analyze >/dev/null; then
  mkdir -p "$tmp/units/demo.service.d"
  cp "$here/tiershim.conf" "$tmp/units/demo.service.d/"
  printf '[Unit]\nDescription=demo\n[Service]\nExecStart=/bin/true\n' >"$tmp/units/demo.service"
  SYSTEMD_UNIT_PATH="$tmp/units:" systemd-analyze verify --man=no "$tmp/units/demo.service" >"$tmp/out" 2>&1
  rc=$?
  if [ $rc = 0 ] && ! grep -q "tiershim.conf" "$tmp/out"; then ok "systemd-analyze verify: the drop-in"
  else no "systemd-analyze verify (rc $rc)"; cat "$tmp/out"; fi
else
  echo "SKIP: drop-in: systemd-analyze not installed"
fi
exit $bad
