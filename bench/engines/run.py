#!/usr/bin/python3
"""Real-engine benchmark: llama.cpp, ONNX Runtime or PyTorch under glibc, the
peer allocators and tiershim, side by side. See bench/llama/README.md,
bench/onnx/README.md and bench/torch/README.md; their run.sh call this.

Rounds are interleaved: round r runs every configuration once, in an order
rotated by r, so drift in the machine's load spreads over all of them.
Every run's output digest must equal glibc's: an allocator that changes
what the engine computes fails the bench (exit 1, after the report).
"""
import argparse
import datetime
import json
import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import configs  # noqa: E402
import measure  # noqa: E402
import report  # noqa: E402
from workloads import ENGINES  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def say(msg):
    print(msg, file=sys.stderr, flush=True)


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--engine", choices=sorted(ENGINES), required=True)
    ap.add_argument("--size", choices=("full", "small"), default="full",
                    help="full: the benchmark model; small: the tiny model (default full)")
    ap.add_argument("--reps", type=int, help="interleaved rounds (default 3; 5 with --demo)")
    ap.add_argument("--configs", default="",
                    help="comma list of configurations (default all; torch: issue 20's seven)")
    ap.add_argument("--workloads",
                    help="llama: mmap off/on; onnx: arena off/on (default off,on); "
                         "torch: encoder/decoder (default encoder,decoder)")
    ap.add_argument("--requests", type=int, help="requests per run (engine default)")
    ap.add_argument("--threads", type=int, default=1, help="engine threads (default 1)")
    ap.add_argument("--no-strace", action="store_true", help="skip the system-call counts")
    ap.add_argument("--timeout", type=int, default=900, help="seconds per run (default 900)")
    ap.add_argument("--out", help="output directory (default bench/results/<date>-<host>)")
    ap.add_argument("--name", help="file-name prefix of the report (default the engine's name)")
    ap.add_argument("--demo", action="store_true",
                    help="the demo: small model, glibc vs tiershim, first workload, no strace")
    ap.add_argument("build", nargs="?", default="build", help="tiershim build dir (default build)")
    a = ap.parse_args()
    if a.reps is None:
        a.reps = 5 if a.demo else 3
    if a.reps < 1:
        ap.error("--reps must be at least 1")
    a.workloads = a.workloads or ENGINES[a.engine].default_workloads
    if a.demo:
        a.size, a.configs, a.no_strace = "small", a.configs or "glibc,tiershim", True
        a.workloads = a.workloads.split(",")[0]
    return a


def find_build(b):
    if not os.path.isabs(b) and not os.path.isdir(b) and os.path.isdir(os.path.join(ROOT, b)):
        b = os.path.join(ROOT, b)
    lib = os.path.join(os.path.abspath(b), "libtiershim.so")
    if not os.path.isfile(lib):
        raise SystemExit(f"run.py: error: {lib} not found: build first "
                         f"(make build, or cmake -S . -B {b} && cmake --build {b})")
    return lib


def check_outputs(ref, res, where):
    """None when RES computed what REF did, else a one-line description."""
    if res.get("check") == ref.get("check"):
        return None
    for a, b in zip(ref["outputs"], res["outputs"]):
        if a != b:
            return f"{where}: output differs from glibc's:\n  glibc: {a[:160]}\n  this:  {b[:160]}"
    return f"{where}: check {res.get('check')} != glibc's {ref.get('check')}"


def run_matrix(a, eng, cfgs, wls):
    runs = {w.key: {c.key: [] for c in cfgs} for w in wls}
    refs, bad = {}, []
    for w in wls:   # glibc's reference output first, untimed
        say(f"reference run: {w.title} under glibc")
        refs[w.key] = measure.run_once(cfgs[0], w.cmd, a.timeout)
    n = len(cfgs)
    for r in range(a.reps):
        for w in wls:
            line = f"[round {r + 1}/{a.reps}] {w.title}:"
            for i in range(n):
                c = cfgs[(i + r) % n]
                res = measure.run_once(c, w.cmd, a.timeout)
                err = check_outputs(refs[w.key], res, f"{c.title}, {w.title}, round {r + 1}")
                if err:
                    bad.append(err)
                    say("MISMATCH " + err)
                runs[w.key][c.key].append(res)
                line += f" {c.key} {res.get(eng.throughput, 0):.2f}"
            say(line)
    return runs, bad


def strace_matrix(a, cfgs, wls):
    calls = {}
    for w in wls:
        calls[w.key] = {}
        for c in cfgs:
            say(f"strace: {w.title} under {c.key}")
            calls[w.key][c.key] = measure.strace_counts(c, w.short_cmd, a.timeout)
    return calls


def tiershim_md(cfgs, wls, runs):
    rows = ["| workload | configuration | THP mode | placed mallocs | placed mmaps | placed mmap MiB "
            "| large allocs | released MiB | retained MiB (exit) | heap THP MiB |",
            "|---|---|---|---|---|---|---|---|---|---|"]
    for w in wls:
        for c in cfgs:
            rs = runs[w.key].get(c.key) or []
            if c.kind != "tiershim" or not rs:
                continue
            st = rs[-1]["tiershim"]
            p = st.get("placement", {})
            rows.append(f"| {w.title} | {c.title} | {p.get('thp_mode')} | {p.get('placed_mallocs')} "
                        f"| {p.get('placed_mmaps')} | {p.get('placed_bytes', 0) / 2**20:.0f} "
                        f"| {st.get('large_allocs')} | {p.get('released_bytes', 0) / 2**20:.0f} "
                        f"| {p.get('retained_bytes', 0) / 2**20:.0f} "
                        f"| {p.get('heap_thp_bytes', 0) / 2**20:.0f} |")
    return "\n".join(rows)


def write_report(a, eng, cfgs, wls, runs, calls, bad, skipped, t_wall):
    host = socket.gethostname()
    out = a.out or os.path.join(ROOT, "bench", "results",
                                f"{datetime.date.today().isoformat()}-{host}")
    os.makedirs(out, exist_ok=True)
    prefix = a.name or eng.name + ("-demo" if a.demo else "" if a.size == "full" else "-small")
    med = report.medians(runs)
    peers = [c.key for c in cfgs if c.kind != "tiershim"]
    pngs = report.plots(out, prefix, eng, wls, cfgs, med)
    cmd = " ".join(["bench/engines/run.py"] + sys.argv[1:])
    md = [f"# {eng.title} under each allocator ({host}, {datetime.date.today().isoformat()})", "",
          f"Command: `{cmd}`  ", f"Workload: {eng.describe()}.  ",
          f"Medians of {a.reps} interleaved round(s); {t_wall / 60:.1f} min in all. "
          f"Kernel {os.uname().release}, THP enabled="
          f"{open('/sys/kernel/mm/transparent_hugepage/enabled').read().split('[')[1].split(']')[0]}, "
          f"{os.cpu_count()} CPUs, load average at start {a.load0}.", ""]
    if skipped:
        md += ["Skipped: " + "; ".join(skipped) + ".", ""]
    for w in wls:
        md += [f"## {w.title}", "", report.table(eng, w.key, cfgs, runs, med, calls), ""]
    md += ["Columns: anon/AnonHuge MiB from /proc/self/smaps_rollup read by the driver after its "
           "last request; minor faults, peak RSS from /usr/bin/time -v; TLB shootdowns are the "
           "change of /proc/interrupts' TLB line (system-wide) over the run" +
           ("." if a.no_strace else "; mmap/munmap/madvise count calls in a separate one-request "
            "run under `strace -f -c` (all threads; tiershim's own calls included)."), "",
           "## tiershim's placement", "", tiershim_md(cfgs, wls, runs), "",
           f"## Targets (issue {getattr(eng, 'issue', 4)})", "",
           report.targets_md(eng.targets(med, peers) if a.size == "full" else []), "",
           "## Outputs", "",
           ("**MISMATCH**: " + "; ".join(bad)) if bad else
           f"Every run of every configuration computed exactly what glibc did "
           f"(output digest `{runs[wls[0].key]['glibc'][0].get('check')}` for {wls[0].title})."]
    if pngs:
        md += ["", "## Plots", ""] + [f"![{p}]({p})" for p in pngs]
    text = "\n".join(md) + "\n"
    with open(os.path.join(out, prefix + ".md"), "w") as f:
        f.write(text)
    report.write_csv(os.path.join(out, prefix + "-runs.csv"), runs)
    with open(os.path.join(out, prefix + "-medians.json"), "w") as f:
        json.dump({"command": cmd, "medians": med, "syscalls": calls, "mismatches": bad}, f, indent=1)
    print(text)
    say(f"report: {os.path.join(out, prefix + '.md')}")


def main():
    a = parse_args()
    tslib = find_build(a.build)
    eng = ENGINES[a.engine](a.size, requests=a.requests, threads=a.threads)
    eng.prepare()
    all_cfgs, skipped = configs.all_configs(tslib)
    cfgs = configs.select(all_cfgs, a.configs, eng.default_configs)
    for s in skipped:
        say("note: skipping " + s)
    wls = eng.workloads(tuple(a.workloads.split(",")))
    a.load0 = open("/proc/loadavg").read().split()[0]
    t0 = time.time()
    say(f"{eng.title}: {len(cfgs)} configurations x {len(wls)} workloads x {a.reps} rounds")
    try:
        runs, bad = run_matrix(a, eng, cfgs, wls)
        calls = {} if a.no_strace else strace_matrix(a, cfgs, wls)
    except measure.RunError as e:
        raise SystemExit(f"run.py: error: {e}")
    write_report(a, eng, cfgs, wls, runs, calls, bad, skipped, time.time() - t0)
    if bad:
        say(f"run.py: error: {len(bad)} run(s) computed something other than glibc did")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
