"""What the serving benchmarks share: the engines' commands, one measured run
of a driver, the kernel's counters around it, THP defrag and the fragmenter.

A run is measured from outside: /usr/bin/time -v (peak RSS, faults, CPU),
/proc/vmstat deltas (direct compaction stalls, huge-page faults and their
fallbacks: system-wide, which is why runs are interleaved), and the driver's
own lines (per-request latency and RSS, the RESULT line)."""
import contextlib
import math
import os
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "bench", "engines"))
import configs as cfgmod  # noqa: E402
import measure  # noqa: E402

THP = "/sys/kernel/mm/transparent_hugepage"
# The vmstat counters a run reports: compact_stall is a direct compaction
# (an allocation that stalled to defragment), thp_fault_fallback a huge-page
# fault that got small pages instead.
VMSTAT = ("compact_stall", "compact_fail", "compact_success", "thp_fault_alloc",
          "thp_fault_fallback", "thp_collapse_alloc", "thp_collapse_alloc_failed")


def setup(script, *args):
    """Runs bench/<script> ARGS; returns its key=value lines as a dict."""
    out = subprocess.run(["bash", os.path.join(ROOT, "bench", script), *args], check=True,
                         capture_output=True, text=True).stdout
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


def vmstat():
    out = {}
    with open("/proc/vmstat") as f:
        for line in f:
            k, v = line.split()
            if k in VMSTAT:
                out[k] = int(v)
    return out


def free_huge_mib():
    """Free memory in blocks of 2 MiB or more (/proc/buddyinfo, order >= 9)."""
    total = 0
    with open("/proc/buddyinfo") as f:
        for line in f:
            counts = [int(x) for x in line.split()[4:]]
            total += sum(c << o for o, c in enumerate(counts) if o >= 9)
    return total * 4 // 1024


def mem_free_mib():
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemFree:"):
                return int(line.split()[1]) // 1024
    return None


def run(cfg, cmd, timeout):
    """CMD under configuration CFG once: the driver's stdout lines, its RESULT,
    /usr/bin/time's figures and the vmstat deltas. Raises measure.RunError."""
    with tempfile.TemporaryDirectory(prefix="ts-serve-") as d:
        tfile = os.path.join(d, "time.txt")
        argv = [measure.TIME, "-v", "-o", tfile, "env", *measure._env_words(cfg, {}), *cmd]
        v0, fh = vmstat(), free_huge_mib()
        t0 = time.time()
        try:
            p = subprocess.run(argv, env=cfgmod.clean_env(), capture_output=True, text=True,
                               timeout=timeout)
        except subprocess.TimeoutExpired:
            raise measure.RunError(f"{cfg.key}: timed out after {timeout} s: {' '.join(cmd)}")
        wall, v1 = time.time() - t0, vmstat()
        res = measure.parse_result(p.stdout)
        if p.returncode != 0 or res is None:
            raise measure.RunError(f"{cfg.key}: exit {p.returncode}: {' '.join(cmd)}\n"
                                   f"{measure._tail(p.stderr)}")
        res.update(measure.parse_time_v(tfile))
        res.update({k: v1[k] - v0.get(k, 0) for k in v1})
        res["wall_s"], res["free_huge_mib_before"] = wall, fh
        if res.get("anon_kb", -1) > 0:
            res["thp_coverage"] = res["anon_huge_kb"] / res["anon_kb"]
        res["lines"] = [l for l in p.stdout.splitlines() if l.startswith("req ")]
        return res


def fields(line):
    """key=value words of a driver's line as a dict of strings."""
    return dict(w.split("=", 1) for w in line.split() if "=" in w)


def output_of(res):
    """What must be identical under every allocator: the tokens or sums of
    every request (not its timings or RSS)."""
    keep = ("tokens", "sum", "prompt_tokens", "gen_tokens", "batch", "seq")
    return [" ".join(f"{k}={v}" for k, v in fields(l).items() if k in keep) for l in res["lines"]] \
        + [str(res.get("check"))]


def engine_cmd(engine, model, threads, requests, extra=()):
    """The driver command of ENGINE (llama or onnx) with MODEL (a setup size)."""
    if engine == "llama":
        v = setup("llama/setup.sh", "--model", model)
        path = os.path.join(ROOT, "bench", "llama", "cache", "models", f"llama-{model}.gguf")
        return [v["driver"], "--model", path, "--bins", v["bins"], "--mmap", "off",
                "--threads", str(threads), "--requests", str(requests), "--server-thread",
                "--latency", *extra]
    v = setup("onnx/setup.sh", "--" + model)
    path = os.path.join(ROOT, "bench", "onnx", "cache", "models", f"bert-{model}.onnx")
    return [v.get("node", "node"), v["driver"], "--model", path, "--arena", "off",
            "--threads", str(threads), "--requests", str(requests), *extra]


def set_defrag(value):
    """Sets THP defrag; returns the previous setting (None when not writable)."""
    path = os.path.join(THP, "defrag")
    cur = open(path).read().split("[")[1].split("]")[0]
    if value == cur:
        return cur
    try:
        with open(path, "w") as f:
            f.write(value)
    except OSError as e:
        raise SystemExit(f"serve.py: error: cannot set THP defrag to {value}: {e} (run as root)")
    return cur


@contextlib.contextmanager
def defrag(value):
    prev = set_defrag(value) if value != "machine" else None
    try:
        yield
    finally:
        if prev:
            set_defrag(prev)


PROACTIVE = "/proc/sys/vm/compaction_proactiveness"
# Pages the fragmenter keeps in each 2 MiB block: a direct compaction must
# migrate that many to free one (1 would make compaction nearly free; a
# machine that has run for days has blocks partly used by many owners).
FRAG_KEEP = 64


@contextlib.contextmanager
def fragmenter(build, on):
    """Runs ts_fragmenter while the block runs (when ON): free memory stays
    plentiful, but in blocks smaller than 2 MiB. kcompactd's proactive
    compaction is turned off meanwhile (and restored): it would undo the
    state in the background and the fragmenter would spend a CPU taking the
    blocks back. Yields its ready line."""
    if not on:
        yield None
        return
    exe = os.path.join(os.path.abspath(build), "bench", "serving", "ts_fragmenter")
    if not os.path.exists(exe):
        raise SystemExit(f"serve.py: error: {exe} is missing (cmake --build {build})")
    prev = open(PROACTIVE).read().strip()
    with open(PROACTIVE, "w") as f:
        f.write("0")
    p = subprocess.Popen([exe, "--keep", str(FRAG_KEEP)], stdout=subprocess.PIPE, text=True)
    try:
        ready = p.stdout.readline().strip()
        if not ready.startswith("ready"):
            raise SystemExit(f"serve.py: error: ts_fragmenter did not start: {ready!r}")
        yield f"{ready} keep={FRAG_KEEP}"
    finally:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout=60)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
        with open(PROACTIVE, "w") as f:
            f.write(prev)
        settle()


def wait_fragmented(limit_s=15):
    """Before a run with the fragmenter: the previous run's exit freed its
    huge pages as whole 2 MiB blocks, and the next run would fault them
    before the fragmenter's refresh (every 2 s) takes them back."""
    t0 = time.time()
    while free_huge_mib() > 64 and time.time() - t0 < limit_s:
        time.sleep(0.5)


def settle(want_mib=1024, limit_s=120):
    """After the fragmenter: its freed pages sit on the per-CPU free lists
    and keep blocks split for a minute or so; the next condition starts once
    free 2 MiB blocks are back (or after LIMIT_S)."""
    t0 = time.time()
    while free_huge_mib() < want_mib and time.time() - t0 < limit_s:
        time.sleep(2)


def pct(xs, q):
    """The Q-th percentile (nearest rank) of XS; None when empty."""
    xs = sorted(xs)
    if not xs:
        return None
    return xs[max(0, min(len(xs) - 1, math.ceil(q / 100 * len(xs)) - 1))]


def revision():
    rev = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True,
                         text=True).stdout.strip()
    if subprocess.run(["git", "-C", ROOT, "status", "--porcelain", "--untracked-files=no"],
                      capture_output=True, text=True).stdout.strip():
        rev += " + local changes"
    return rev
