#!/usr/bin/env python3
"""Load time of llama.cpp 1.1B (mmap off) and ONNX Runtime BERT-base per
allocator, with the host's page-reporting state recorded per run.

    bench/serving/load.py [--rounds N] [--configs a,b] [--engines llama,onnx]
                          [--no-server-thread] [--quick] [BUILD]

Every round runs every configuration once, in an order rotated by the
round (never all runs of one configuration back to back: the memory a run
frees is what the next one faults, and on a VM whose balloon reports free
memory to the host that decides the cost of its faults). Per run: the load
time the driver measures (model file to a ready context), its huge-page
coverage once the requests are done, its minor faults, and the state of
free page reporting: whether the balloon reports (virtio feature bit 5),
and, where the kernel exposes them, the KiB it reported during the run
(/sys/module/page_reporting/parameters/reported_kib, a counter some
kernels add). Writes bench/results/serving-load.md and prints it.

llama.cpp runs with --server-thread by default: one idle thread exists
before the model loads, as llama-server's HTTP thread does (tiershim's
default never starts its collapse thread in a program that is still
single-threaded; docs/design.md)."""
import argparse
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
from common import cfgmod, free_huge_mib, revision, setup  # noqa: E402

REPORTED = "/sys/module/page_reporting/parameters/reported_kib"


def reporting_feature():
    d = "/sys/bus/virtio/drivers/virtio_balloon"
    try:
        for name in os.listdir(d):
            f = os.path.join(d, name, "features")
            if os.path.exists(f):
                bits = open(f).read().strip()
                return "yes" if len(bits) > 5 and bits[5] == "1" else "no"
    except OSError:
        pass
    return "no balloon"


def read_int(path):
    try:
        return int(open(path).read().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def run_one(cmd, env, timeout):
    r0 = read_int(REPORTED)
    fh = free_huge_mib()
    t0 = time.time()
    p = subprocess.run(["/usr/bin/time", "-f", "TIME minflt=%R maxrss=%M"] + cmd, env=env,
                       capture_output=True, text=True, timeout=timeout)
    wall = time.time() - t0
    r1 = read_int(REPORTED)
    res = {"rc": p.returncode, "wall": wall, "free_huge_mib": fh,
           "reported_mib": (r1 - r0) / 1024 if r0 is not None and r1 is not None else None}
    for line in (p.stdout + p.stderr).splitlines():
        if line.startswith("RESULT ") or line.startswith("TIME "):
            for kv in line.split()[1:]:
                if "=" in kv:
                    k, v = kv.split("=", 1)
                    try:
                        res[k] = float(v)
                    except ValueError:
                        res[k] = v
    if p.returncode != 0:
        res["err"] = (p.stderr or p.stdout)[-300:]
    return res


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("build", nargs="?", default="build")
    ap.add_argument("--rounds", type=int, default=9)
    ap.add_argument("--configs", default="glibc,jemalloc,tcmalloc,mimalloc,tiershim,ts-fault")
    ap.add_argument("--engines", default="llama,onnx")
    ap.add_argument("--no-server-thread", action="store_true")
    ap.add_argument("--quick", action="store_true", help="3 rounds, glibc and tiershim only")
    ap.add_argument("--baseline", metavar="LIB", help="another libtiershim.so (an older build) as "
                    "configuration ts-base, e.g. to show a change loads no slower")
    a = ap.parse_args()
    if a.quick:
        a.rounds, a.configs = 3, "glibc,tiershim"
    tslib = os.path.abspath(os.path.join(a.build, "libtiershim.so"))
    if not os.path.exists(tslib):
        sys.exit(f"load.py: error: {tslib} is missing (cmake --build {a.build})")
    cfgs, skipped = cfgmod.all_configs(tslib)
    cfgs.append(cfgmod.Config("ts-fault", "tiershim THP=fault", "tiershim", tslib, {"TIERSHIM_THP": "fault"}))
    if a.baseline:
        cfgs.append(cfgmod.Config("ts-base", "tiershim baseline (" + a.baseline + ")", "tiershim",
                                  os.path.abspath(a.baseline)))
        if "ts-base" not in a.configs.split(","):
            a.configs += ",ts-base"
    cfgs = cfgmod.select(cfgs, a.configs)
    engines = []
    if "llama" in a.engines:
        v = setup("llama/setup.sh", "--bench")
        cmd = [v["driver"], "--model", v["model_1_1b"], "--bins", v["bins"], "--mmap", "off",
               "--requests", "2", "--gen", "16"] + ([] if a.no_server_thread else ["--server-thread"])
        engines.append(("llama.cpp 1.1B Q8_0, mmap off", cmd))
    if "onnx" in a.engines:
        v = setup("onnx/setup.sh", "--base")
        cmd = [v.get("node", "node"), v["driver"], "--model", v["model_base"], "--arena", "off",
               "--threads", "1", "--requests", "4"]
        engines.append(("ONNX Runtime BERT-base, arena off", cmd))
    rows = {}  # (engine, cfg) -> [res]
    for r in range(a.rounds):
        order = cfgs[r % len(cfgs):] + cfgs[:r % len(cfgs)]
        for ename, cmd in engines:
            for c in order:
                env = cfgmod.clean_env()
                env.update(c.env)
                if c.preload:
                    env["LD_PRELOAD"] = c.preload
                res = run_one(cmd, env, 900)
                res["round"] = r + 1
                rows.setdefault((ename, c.key), []).append(res)
                print(f"round {r + 1} {ename[:10]} {c.key}: load {res.get('load_s', '?')} s, "
                      f"reported {res['reported_mib']} MiB, rc {res['rc']}", file=sys.stderr)
    print(report(a, cfgs, engines, rows, skipped))


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def report(a, cfgs, engines, rows, skipped):
    rev = revision()
    md = ["# Load time per allocator (bench/serving/load.py)", "",
          f"- {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, tree {rev}, kernel {os.uname().release}, "
          f"{os.cpu_count()} CPUs; THP enabled/defrag: "
          f"{open('/sys/kernel/mm/transparent_hugepage/enabled').read().strip()} / "
          f"{open('/sys/kernel/mm/transparent_hugepage/defrag').read().strip()}",
          f"- free page reporting by the balloon: {reporting_feature()}; "
          f"reported KiB counter: {'yes' if os.path.exists(REPORTED) else 'not exposed by this kernel'}",
          f"- {a.rounds} rounds, configurations rotated per round; llama.cpp "
          f"{'without' if a.no_server_thread else 'with'} --server-thread",
          f"- command: `python3 bench/serving/load.py --rounds {a.rounds} --engines {a.engines} "
          f"--configs {a.configs}{' --no-server-thread' if a.no_server_thread else ''}"
          f"{' --baseline ' + a.baseline if a.baseline else ''}`", ""]
    for ename, _ in engines:
        md += [f"## {ename}", "",
               "| configuration | load s median | min | max | huge-page coverage (end) | minor faults | "
               "MiB reported to the host during the run (median) | free 2 MiB blocks before (MiB, median) |",
               "|---|---:|---:|---:|---:|---:|---:|---:|"]
        for c in cfgs:
            rs = rows.get((ename, c.key), [])
            ls = [x.get("load_s") for x in rs if isinstance(x.get("load_s"), float)]
            cov = [x["anon_huge_kb"] / x["anon_kb"] for x in rs
                   if isinstance(x.get("anon_huge_kb"), float) and x.get("anon_kb")]
            if not ls:
                md.append(f"| {c.title} | failed: {rs[0].get('err', '?')[:80] if rs else 'no run'} |||||||")
                continue
            m = med([x.get("reported_mib") for x in rs])
            md.append(f"| {c.title} | {med(ls):.3f} | {min(ls):.3f} | {max(ls):.3f} | "
                      f"{(100 * med(cov)):.1f}% | {med([x.get('minflt') for x in rs]):.0f} | "
                      f"{'n/a' if m is None else f'{m:.0f}'} | {med([x['free_huge_mib'] for x in rs]):.0f} |"
                      if cov else
                      f"| {c.title} | {med(ls):.3f} | {min(ls):.3f} | {max(ls):.3f} | n/a | "
                      f"{med([x.get('minflt') for x in rs]):.0f} | {'n/a' if m is None else f'{m:.0f}'} | "
                      f"{med([x['free_huge_mib'] for x in rs]):.0f} |")
        g = [x.get("load_s") for x in rows.get((ename, "glibc"), []) if isinstance(x.get("load_s"), float)]
        t = [x.get("load_s") for x in rows.get((ename, "tiershim"), []) if isinstance(x.get("load_s"), float)]
        if g and t:
            md += ["", f"tiershim / glibc: median {med(t) / med(g):.2f}x; worst round {max(t):.3f} s against "
                   f"glibc's worst {max(g):.3f} s ({'within' if max(t) <= max(g) else 'beyond'}). "
                   "Per round (load s, glibc / tiershim): "
                   + ", ".join(f"{x:.2f}/{y:.2f}" for x, y in zip(g, t)), ""]
        md.append("")
    if skipped:
        md += ["Skipped: " + "; ".join(skipped), ""]
    md.append("Columns: load s is the driver's (model file to a ready context); coverage is AnonHugePages "
              "over anonymous RSS read by the driver after its requests; minor faults from "
              "/usr/bin/time; reported MiB is the change of the kernel's page-reporting counter over the run "
              "(free memory the guest gave back to the host: the next first touch of it costs a host fault).")
    text = "\n".join(md) + "\n"
    os.makedirs(os.path.join(ROOT, "bench", "results"), exist_ok=True)
    with open(os.path.join(ROOT, "bench", "results", "serving-load.md"), "w") as f:
        f.write(text)
    return text


if __name__ == "__main__":
    main()
