#!/usr/bin/python3
"""Smoke test of the serving benchmarks' moving parts, with the tiny models.

  serving_smoke.py BUILD_DIR

- ts_llama's serving options (--latency, --gen-min, --reuse): under glibc
  and under tiershim the same tokens, a ttft_ms and one tok_ms entry per
  further token on every request, an RSS per request, follow-up turns that
  really continue the KV cache (cont=1 lines), generation lengths that vary;
- the ONNX driver's per-request RSS;
- serve.py's soak section end to end on 12 requests (its report's drift and
  output columns);
- ts_fragmenter --once with a cap: it starts, prints its ready line, exits 0
  (as root only: it reads physical frame numbers).
Exits 77 (skipped) when the engines are not prepared (`make engines`).
"""
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "bench", "serving"))
import common as cm  # noqa: E402

failures = []


def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what, flush=True)
    if not ok:
        failures.append(what)


def llama(build, glibc, ts):
    model = os.path.join(ROOT, "bench", "llama", "cache", "models", "llama-tiny.gguf")
    v = cm.setup("llama/setup.sh", "--tiny")
    cmd = [v["driver"], "--model", model, "--bins", v["bins"], "--requests", "8", "--gen", "6",
           "--gen-min", "2", "--reuse", "3", "--prompt-max", "20", "--latency", "--server-thread"]
    ref, res = cm.run(glibc, cmd, 300), cm.run(ts, cmd, 300)
    check(cm.output_of(ref) == cm.output_of(res), "llama: same tokens under glibc and tiershim")
    rows = [cm.fields(l) for l in res["lines"]]
    check(len(rows) == 8, f"llama: 8 request lines ({len(rows)})")
    check(all(float(r["ttft_ms"]) > 0 and int(r["rss_kb"]) > 0 for r in rows), "llama: ttft_ms and rss_kb on every request")
    check(all(len([x for x in r["tok_ms"].split(",") if x != "-"]) == int(r["gen_tokens"]) - 1 for r in rows),
          "llama: one tok_ms per token after the first")
    check([r["cont"] for r in rows] == ["0", "1", "1", "0", "1", "1", "0", "1"], "llama: --reuse 3 continues 2 of 3 turns")
    check(len({r["gen_tokens"] for r in rows}) > 1, "llama: --gen-min varies the generation length")


def onnx(glibc, ts):
    model = os.path.join(ROOT, "bench", "onnx", "cache", "models", "bert-tiny.onnx")
    cmd = ["node", os.path.join(ROOT, "bench", "onnx", "driver.js"), "--model", model, "--requests", "4",
           "--mix", "1x16,2x32"]
    ref, res = cm.run(glibc, cmd, 300), cm.run(ts, cmd, 300)
    check(cm.output_of(ref) == cm.output_of(res), "onnx: same sums under glibc and tiershim")
    check(all(int(cm.fields(l)["rss_kb"]) > 0 for l in res["lines"]), "onnx: rss_kb on every request")


def soak(build):
    """Its reports go to a scratch directory: the ones in bench/results are
    the committed measurements."""
    with tempfile.TemporaryDirectory(prefix="ts-serving-smoke-") as out:
        p = subprocess.run([sys.executable, os.path.join(ROOT, "bench", "serving", "serve.py"), "soak",
                            "--engines", "onnx", "--configs", "glibc,tiershim", "--requests", "12",
                            "--model-onnx", "tiny", "--out", out, build],
                           capture_output=True, text=True, timeout=600)
        check(os.path.exists(os.path.join(out, "serving-soak.md")), "serve.py soak: report written to --out")
    check(p.returncode == 0, f"serve.py soak runs (exit {p.returncode}) {p.stderr[-300:]}")
    rows = [l for l in p.stdout.splitlines() if l.startswith("| onnx |")]
    check(len(rows) == 2 and all("%" in r for r in rows), "serve.py soak: a row with drift per configuration")
    check("Outputs identical to glibc's: yes" in p.stdout, "serve.py soak: outputs identical")


def fragmenter(build):
    exe = os.path.join(build, "bench", "serving", "ts_fragmenter")
    if os.geteuid() != 0:
        print("skip ts_fragmenter: not root")
        return
    p = subprocess.run([exe, "--once", "--max-mib", "64"], capture_output=True, text=True, timeout=120)
    check(p.returncode == 0 and p.stdout.startswith("ready "), f"ts_fragmenter --once: {p.stdout[:120]!r} {p.stderr[-200:]}")


def main():
    build = os.path.abspath(sys.argv[1])
    for f in ("bench/llama/cache/ts_llama", "bench/llama/cache/models/llama-tiny.gguf",
              "bench/onnx/cache/models/bert-tiny.onnx"):
        if not os.path.exists(os.path.join(ROOT, f)):
            print(f"SKIP: {f} missing (make engines)")
            return 77
    cfgs, _ = cm.cfgmod.all_configs(os.path.join(build, "libtiershim.so"))
    glibc, ts = cm.cfgmod.select(cfgs, "glibc,tiershim")
    llama(build, glibc, ts)
    onnx(glibc, ts)
    soak(build)
    fragmenter(build)
    print("FAILED: " + "; ".join(failures) if failures else "all passed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
