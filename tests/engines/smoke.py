#!/usr/bin/python3
"""Smoke test: the real engines under tiershim, with the tiny generated models.

  smoke.py llama|onnx|torch BUILD_DIR

Runs the engine's driver once under glibc and once under tiershim (the
bench's own run function, so what it checks is what the bench measures) on
both workloads, and asserts:
- the outputs are identical (generated token ids / output-tensor digests);
- tiershim's stats are those of a process it served: the preload took,
  placement is on, the large path and the placement engine were used;
- llama.cpp with mmap off: the weights land on huge pages when the kernel
  allows THP (tiershim takes fewer minor faults than glibc, and
  AnonHugePages is not zero).
Exits 77 (skipped) when the engines are not prepared: `make engines`
(torch: when /usr/bin/python3 cannot import torch, i.e. python3-torch could
not be installed).
"""
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "bench", "engines"))
import configs  # noqa: E402
import measure  # noqa: E402
from workloads import ENGINES  # noqa: E402

PREPARED = {"llama": ["bench/llama/cache/ts_llama", "bench/llama/cache/models/llama-tiny.gguf"],
            "onnx": ["bench/onnx/cache/npm/node_modules/onnxruntime-node/package.json",
                     "bench/onnx/cache/models/bert-tiny.onnx"]}
failures = []


def torch_missing():
    """Why the torch engine cannot run here, or None (setup.sh --no-install
    checks without installing anything)."""
    p = subprocess.run([os.path.join(ROOT, "bench", "torch", "setup.sh"), "--no-install"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    return None if p.returncode == 0 else (p.stderr.strip().splitlines() or ["?"])[-1]


def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what, flush=True)
    if not ok:
        failures.append(what)


def thp_possible():
    try:
        with open("/sys/kernel/mm/transparent_hugepage/enabled") as f:
            return "[never]" not in f.read()
    except OSError:
        return False


def smoke(engine, w, glibc, ts):
    ref = measure.run_once(glibc, w.cmd, 600)
    res = measure.run_once(ts, w.cmd, 600)
    check(ref["check"] == res["check"] and ref["outputs"] == res["outputs"],
          f"{w.title}: identical outputs with and without tiershim ({ref['check']})")
    st, pl = res["tiershim"], res["tiershim"].get("placement", {})
    check(st.get("enabled") is True and pl.get("state") == "on",
          f"{w.title}: tiershim served the process, placement on "
          f"(enabled={st.get('enabled')}, state={pl.get('state')!r})")
    check(st.get("malloc_calls", 0) > 100 and st.get("free_calls", 0) > 0,
          f"{w.title}: malloc/free went through tiershim ({st.get('malloc_calls')} mallocs)")
    check(st.get("large_allocs", 0) >= 1 and pl.get("placed_mallocs", 0) >= 1,
          f"{w.title}: large blocks placed ({st.get('large_allocs')} large, "
          f"{pl.get('placed_mallocs')} placed)")
    check(st.get("bootstrap_allocs", 99) <= 2, f"{w.title}: bootstrap arena barely used")
    if engine == "llama" and w.key == "mmap-off" and thp_possible():
        check(res["anon_huge_kb"] > 0,
              f"{w.title}: AnonHugePages {res['anon_huge_kb']} kB > 0 under tiershim")
        check(res["minor_faults"] < ref["minor_faults"],
              f"{w.title}: minor faults {res['minor_faults']} < glibc's {ref['minor_faults']}")


def main():
    if len(sys.argv) != 3 or sys.argv[1] not in ENGINES:
        sys.exit(f"usage: smoke.py {'|'.join(ENGINES)} BUILD_DIR")
    engine, build = sys.argv[1], os.path.abspath(sys.argv[2])
    if engine == "torch":
        why = torch_missing()
        if why:
            print(f"SKIP: torch is not prepared ({why}): run `make engines` "
                  f"(apt-get install python3-torch)")
            sys.exit(77)
    missing = [p for p in PREPARED.get(engine, []) if not os.path.exists(os.path.join(ROOT, p))]
    if missing:
        print(f"SKIP: {engine} is not prepared ({missing[0]} missing): run `make engines`")
        sys.exit(77)
    eng = ENGINES[engine]("small")
    eng.install = False     # a test installs nothing (torch: the tiny models need no fast BLAS)
    eng.prepare()
    cfgs, _ = configs.all_configs(os.path.join(build, "libtiershim.so"))
    glibc, ts = configs.select(cfgs, "glibc,tiershim")
    for w in eng.workloads():
        smoke(engine, w, glibc, ts)
    if failures:
        sys.exit(f"{len(failures)} check(s) failed")
    print("all checks passed")


if __name__ == "__main__":
    main()
