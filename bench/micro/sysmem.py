#!/usr/bin/env python3
"""What a program's own memory calls, and a small program, cost under each
allocator: ts_sysmem (sysmem.c) in interleaved rounds. See README.md here.

  python3 bench/micro/sysmem.py [--reps N] [--quick] [BUILD_DIR]

Cells are medians over the rounds with half the min-max range as a percentage;
round r starts the allocator order at the r-th one. A run that crashes is
reported as such (mimalloc and jemalloc never move the program break, so a
program that writes below its first break faults under them)."""
import argparse
import datetime
import os
import platform
import resource
import statistics
import subprocess
import sys

LIBDIR = "/usr/lib/x86_64-linux-gnu"
PEERS = [("mimalloc", "libmimalloc.so.2"), ("jemalloc", "libjemalloc.so.2"),
         ("tcmalloc", "libtcmalloc_minimal.so.4")]
# name, ts_sysmem arguments, the figure of merit, its unit, higher is better
CASES = [
    ("mmap, sparse (stress-ng --mmaphuge)", ["mmap-sparse", "-n", "60"], "ops_per_s", "mmaps/s", True),
    ("mmap, dense", ["mmap-dense", "-n", "3"], "ops_per_s", "mmaps/s", True),
    ("brk (stress-ng --brk)", ["brk", "-n", "500000"], "ops_per_s", "ops/s", True),
    ("threads come and go, 2 at a time", ["threads", "-n", "1000000", "-t", "2"], "ops_per_s", "allocs/s", True),
    ("small program, 1 MiB heap: anon RSS", ["rss", "-k", "1024"], "rss_anon_kb", "KiB", False),
    ("small program, 4 MiB heap: anon RSS", ["rss", "-k", "4096"], "rss_anon_kb", "KiB", False),
    ("small program, 4 MiB heap: file RSS", ["rss", "-k", "4096"], "rss_file_kb", "KiB", False),
    ("start-up: `true`, CPU per process", None, "cpu_us", "us", False),
]
SPAWNS = 100  # `true` runs per start-up sample


def spawn_cpu_us(cmd, lib):
    """CPU (user + system) per run of cmd, in microseconds, over SPAWNS runs."""
    env = dict(os.environ)
    env.pop("LD_PRELOAD", None)
    if lib:
        env["LD_PRELOAD"] = lib
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    for _ in range(SPAWNS):
        subprocess.run(cmd, env=env, check=True)
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ((r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)) / SPAWNS * 1e6


def fields(line):
    return dict(kv.split("=", 1) for kv in line.split() if "=" in kv)


def run_once(tool, lib, args):
    if args is None:
        return {"cpu_us": spawn_cpu_us(["true"], lib)}
    env = dict(os.environ)
    env.pop("LD_PRELOAD", None)
    if lib:
        env["LD_PRELOAD"] = lib
    try:
        p = subprocess.run([tool] + args, env=env, capture_output=True, text=True, timeout=300)
    except subprocess.TimeoutExpired:
        return None
    if p.returncode != 0:
        return None
    f = fields(p.stdout.strip().splitlines()[-1])
    want = os.path.basename(lib).split(".so")[0] if lib else "libc"
    if not f.get("malloc_from", "").startswith(want) and args is not None:
        sys.exit(f"sysmem.py: under {lib or 'glibc'} malloc comes from {f.get('malloc_from')}: the preload did not take")
    return f


def cell(vals):
    if not vals:
        return "crash"
    m = statistics.median(vals)
    spread = (max(vals) - min(vals)) / 2 / m * 100 if m else 0
    return f"{m:,.0f} ±{spread:.0f}%"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reps", type=int, default=8)
    ap.add_argument("--quick", action="store_true", help="3 rounds")
    ap.add_argument("build", nargs="?", default="build")
    a = ap.parse_args()
    reps = 3 if a.quick else a.reps
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    build = a.build if os.path.isdir(a.build) else os.path.join(root, a.build)
    tool = os.path.join(build, "bench/micro/ts_sysmem")
    tslib = os.path.realpath(os.path.join(build, "libtiershim.so"))
    for f in (tool, tslib):
        if not os.path.exists(f):
            sys.exit(f"sysmem.py: {f} missing (build first: make build)")
    allocs = [("glibc", ""), ("tiershim", tslib)]
    allocs += [(n, os.path.join(LIBDIR, s)) for n, s in PEERS if os.path.exists(os.path.join(LIBDIR, s))]
    res = {(c[0], n): [] for c in CASES for n, _ in allocs}
    cli = os.path.join(build, "tiershim")
    run_cpu = []
    for r in range(reps):
        order = allocs[r % len(allocs):] + allocs[:r % len(allocs)]
        for name, args, key, _, _ in CASES:
            for n, lib in order:
                f = run_once(tool, lib, args)
                if f is not None:
                    res[(name, n)].append(float(f[key]))
                print(f"round {r + 1}/{reps} {name} {n}: {f[key] if f else 'crash'}", file=sys.stderr)
        if os.path.exists(cli):
            run_cpu.append(spawn_cpu_us([cli, "run", "--", "true"], ""))
    names = [n for n, _ in allocs]
    out = [f"# ts_sysmem: the program's own memory calls and small programs, {reps} interleaved rounds",
           "", f"`python3 bench/micro/sysmem.py --reps {reps} {a.build}` on {platform.node()}, "
           f"{datetime.date.today()}, kernel {platform.release()}.", "",
           "| case | unit | " + " | ".join(names) + " | tiershim vs mimalloc | tiershim vs glibc |",
           "|---|---|" + "---:|" * (len(names) + 2)]
    for name, _, _, unit, higher in CASES:
        row = [cell(res[(name, n)]) for n in names]
        ts, mi, gl = (res[(name, n)] for n in ("tiershim", "mimalloc", "glibc"))
        def rel(o):
            if not ts or not o:
                return "-"
            t, b = statistics.median(ts), statistics.median(o)
            return f"{t / b:.2f}x" if higher else f"{t - b:+,.0f} {unit}"
        out.append(f"| {name} | {unit} | " + " | ".join(row) + f" | {rel(mi)} | {rel(gl)} |")
    if run_cpu:
        gl = statistics.median(res[(CASES[-1][0], "glibc")])
        out += ["", f"`tiershim run -- true`: {cell(run_cpu)} us of CPU per process "
                f"({statistics.median(run_cpu) - gl:+,.0f} us over plain `true`; the CLI's exec included)."]
    text = "\n".join(out) + "\n"
    print(text)
    os.makedirs(os.path.join(root, "bench/results"), exist_ok=True)
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M")
    with open(os.path.join(root, f"bench/results/sysmem-{stamp}-{platform.node()}.md"), "w") as fh:
        fh.write(text)


if __name__ == "__main__":
    main()
