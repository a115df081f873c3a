"""One measured run of an engine driver under one allocator configuration.

What a run collects, and from where:
- the driver's RESULT line: throughput, load seconds, its output digest
  (`check`), and Anonymous/AnonHugePages from /proc/self/smaps_rollup read
  by the driver itself after its last request, while the engine is alive;
- /usr/bin/time -v: peak RSS, minor faults, CPU seconds of the whole process;
- the TLB line of /proc/interrupts before and after (system-wide: shootdowns
  of other processes count too, which is why runs are interleaved);
- tiershim's JSON stats, for tiershim configurations.
System-call counts come from a separate, shorter run under strace -f -c:
tracing slows every call, so it never touches the timed runs.
"""
import glob
import json
import os
import re
import subprocess
import tempfile

from configs import clean_env

TIME = "/usr/bin/time"
COUNTED_CALLS = ("mmap", "munmap", "madvise", "mremap", "mprotect", "process_madvise")


class RunError(Exception):
    pass


def tlb_total():
    """Sum of the TLB shootdown interrupts over all CPUs; None without the line."""
    try:
        with open("/proc/interrupts") as f:
            for line in f:
                if line.lstrip().startswith("TLB:"):
                    return sum(int(w) for w in line.split()[1:] if w.isdigit())
    except OSError:
        pass
    return None


def _number(v):
    try:
        return int(v)
    except ValueError:
        try:
            return float(v)
        except ValueError:
            return v


def parse_result(stdout):
    for line in reversed(stdout.splitlines()):
        if line.startswith("RESULT "):
            return {k: _number(v) for k, v in
                    (w.split("=", 1) for w in line.split()[1:] if "=" in w)}
    return None


_TIME_KEYS = {"Maximum resident set size (kbytes)": "max_rss_kb",
              "Minor (reclaiming a frame) page faults": "minor_faults",
              "Major (requiring I/O) page faults": "major_faults",
              "User time (seconds)": "user_s",
              "System time (seconds)": "sys_s",
              "Voluntary context switches": "vol_cs"}


def parse_time_v(path):
    out = {}
    with open(path) as f:
        for line in f:
            name, _, val = line.strip().rpartition(": ")
            if name in _TIME_KEYS:
                out[_TIME_KEYS[name]] = _number(val)
    if "user_s" in out:
        out["proc_cpu_s"] = round(out["user_s"] + out["sys_s"], 3)
    return out


def _env_words(cfg, extra):
    words = [f"{k}={v}" for k, v in sorted({**cfg.env, **extra}.items())]
    if cfg.preload:
        words.append(f"LD_PRELOAD={cfg.preload}")
    return words


# Timings and RSS in the per-request lines (prompt_ms=, gen_ms=, ms=,
# rss_kb=): they differ from run to run and allocator to allocator, so they
# are left out of the outputs compared.
_TIMING = re.compile(r"\s*\b(?:\w*ms|rss_kb)=\S+")


def _tail(text, n=8):
    return "\n".join(text.strip().splitlines()[-n:])


def _tiershim_stats(d):
    """The tiershim JSON document of the driver process (the largest, when a
    helper process wrote one too)."""
    files = sorted(glob.glob(os.path.join(d, "ts-stats-*.json")), key=os.path.getsize)
    if not files:
        return None
    with open(files[-1]) as f:
        return json.load(f)


def run_once(cfg, cmd, timeout):
    """Runs CMD under CFG once; returns the merged measurements."""
    with tempfile.TemporaryDirectory(prefix="ts-eng-") as d:
        extra = {}
        if cfg.kind == "tiershim":
            extra["TIERSHIM_STATS"] = f"json:{d}/ts-stats-%p.json"
        tfile = os.path.join(d, "time.txt")
        # `env` after time, so /usr/bin/time itself runs without the preload.
        argv = [TIME, "-v", "-o", tfile, "env", *_env_words(cfg, extra), *cmd]
        t0 = tlb_total()
        try:
            p = subprocess.run(argv, env=clean_env(), capture_output=True, text=True,
                               timeout=timeout)
        except subprocess.TimeoutExpired:
            raise RunError(f"{cfg.key}: timed out after {timeout} s: {' '.join(cmd)}")
        t1 = tlb_total()
        res = parse_result(p.stdout)
        if p.returncode != 0 or res is None:
            raise RunError(f"{cfg.key}: exit {p.returncode}, "
                           f"{'no RESULT line' if res is None else 'failed'}: {' '.join(cmd)}\n"
                           f"{_tail(p.stderr)}")
        want = os.path.basename(cfg.preload).split(".so")[0] if cfg.preload else "libc.so"
        if not str(res.get("malloc_from", want)).startswith(want):
            raise RunError(f"{cfg.key}: malloc comes from {res['malloc_from']}, not {want}: "
                           f"the preload did not take")
        res.update(parse_time_v(tfile))
        res["tlb_shootdowns"] = None if t0 is None or t1 is None else t1 - t0
        if res.get("anon_kb", -1) > 0:
            res["thp_coverage"] = round(res["anon_huge_kb"] / res["anon_kb"], 4)
        res["outputs"] = [_TIMING.sub("", l) for l in p.stdout.splitlines()
                          if not l.startswith("RESULT ")]
        if cfg.kind == "tiershim":
            st = _tiershim_stats(d)
            if st is None:
                raise RunError(f"{cfg.key}: tiershim wrote no stats: did the preload take?\n"
                               f"{_tail(p.stderr)}")
            res["tiershim"] = st
        return res


_STRACE_ROW = re.compile(r"^\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:(\d+)\s+)?(\w+)\s*$")


def strace_counts(cfg, cmd, timeout):
    """Calls to each of COUNTED_CALLS in one traced run (all threads)."""
    with tempfile.TemporaryDirectory(prefix="ts-strace-") as d:
        out = os.path.join(d, "strace.txt")
        argv = ["strace", "-f", "-c", "-o", out, "-e", "trace=" + ",".join(COUNTED_CALLS),
                "env", *_env_words(cfg, {}), *cmd]
        try:
            p = subprocess.run(argv, env=clean_env(), capture_output=True, text=True,
                               timeout=timeout)
        except subprocess.TimeoutExpired:
            raise RunError(f"{cfg.key}: strace run timed out after {timeout} s")
        if p.returncode != 0:
            raise RunError(f"{cfg.key}: strace run failed (exit {p.returncode}):\n{_tail(p.stderr)}")
        counts = {c: 0 for c in COUNTED_CALLS}
        with open(out) as f:
            for line in f:
                m = _STRACE_ROW.match(line)
                if m and m.group(3) in counts:
                    counts[m.group(3)] = int(m.group(1))
        return counts
