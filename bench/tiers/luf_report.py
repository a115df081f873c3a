"""luf_report.py LINES OUT COMMAND TUNED SECONDS MODEL REQUESTS: the Markdown report of
bench/tiers/luf.sh from the guest's LUF, LUFINFO, LUFERR and SAMPLE lines."""
import re
import statistics
import sys
import time

lines_path, out_path, command, tuned, took, model, requests = sys.argv[1:8]
runs, samples, info, errors = [], [], [], []
for line in open(lines_path):
    line = line.strip()
    kind = line.split(" ", 1)[0]
    kv = dict(re.findall(r"(\w+)=(\S+)", line))
    if kind == "LUF":
        runs.append(kv)
    elif kind == "SAMPLE":
        samples.append(kv)
    elif kind == "LUFINFO":
        info.append(line[len("LUFINFO "):])
    elif kind == "LUFERR":
        errors.append(line)

CELLS = ["glibc", "jemalloc", "tiershim", "tuned"]
NAMES = {"glibc": "glibc", "jemalloc": "jemalloc", "tiershim": "tiershim (defaults)",
         "tuned": "tiershim tuned"}


def num(v):
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def node_sums(cell, mode, rnd, what):
    """Per sample time, the sampled bytes of both processes together:
    [on node 0, in all]."""
    by_t = {}
    for s in samples:
        if (s["cell"], s["mode"], s["round"]) != (cell, mode, rnd):
            continue
        n0, n1 = int(s[what + "_n0"]), int(s[what + "_n1"])
        a = by_t.setdefault(s["t"], [0, 0])
        a[0] += n0
        a[1] += n0 + n1
    return list(by_t.values())


def fast_share(cell, mode, rnd, what):
    """Mean over the run's samples of node 0's share of the sampled bytes,
    or None when nothing was sampled."""
    shares = [n0 / total for n0, total in node_sums(cell, mode, rnd, what) if total > 0]
    return statistics.mean(shares) if shares else None


def fast_mib(cell, mode, rnd, what):
    """Means over the run's samples of the sampled MiB on node 0 and in all:
    a cell that holds as much on the fast tier as another but has more
    memory sampled shows a lower share."""
    sums = node_sums(cell, mode, rnd, what)
    if not sums:
        return None, None
    return (statistics.mean(n0 for n0, _ in sums) / 2**20, statistics.mean(t for _, t in sums) / 2**20)


def med(vals):
    vals = [v for v in vals if v is not None]
    return statistics.median(vals) if vals else None


def fmt(v, f="%.0f"):
    return "-" if v is None else (f % v)


def pct(v):
    return "-" if v is None else "%.1f%%" % (100 * v)


idle = [r for r in runs if r["cell"] == "idle"]
idle_rate = med([num(r["tlb"]) / max(num(r["seconds"]), 1) for r in idle])
runs = [r for r in runs if r["cell"] != "idle"]
modes = []
for r in runs:
    if r["mode"] not in modes:
        modes.append(r["mode"])

out = ["# TLB shootdowns of tiered inference (the LUF experiment, two-tier guest)", ""]
out.append("- %s UTC; command: `%s`; took %s s" % (time.strftime("%Y-%m-%d %H:%M", time.gmtime()), command, took))
for i in info:
    out.append("- guest: " + i)
out.append("- workload: llama.cpp, the generated %s model (llama architecture, Q8_0, bench/llama/gen_gguf.py) "
           "read from a file on an ext2 disk, "
           "two processes at once, 1 thread each, `--requests %s --gen 8 --prompt-max 10 --ctx 512` (short prompts: under qemu TCG a token costs hundreds of times the host's CPU time), seeds 1 and 2;" % (model, requests) + " NUMA balancing in tiering mode, "
           "demotion on, no swap; node 0 (DRAM, the CPUs) reduced to the `dram_target_mb` above by huge pages "
           "reserved on it, node 1 the slow tier (3 GiB)")
out.append("- tiershim tuned: `%s`" % tuned)
out.append("- every cell is the median over the rounds (cells interleaved, order rotated per round)")
out.append("")

goal_lines = []
for mode in modes:
    label = "weights loaded without mmap (anonymous memory)" if mode == "off" else "weights mmapped (page cache)"
    out.append("## mmap %s: %s" % (mode, label))
    out.append("")
    out.append("| cell | TLB shootdowns | vs glibc | idle floor | pgpromote_success | pgdemote (kswapd + direct) | "
               "numa_hint_faults | numa_pte_updates | pgmigrate_success | weights on fast tier | "
               "other large anon on fast tier | seconds | tokens/s (each) | tokens |")
    out.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    base = None
    digests = set()
    rows = {}
    for cell in CELLS:
        rs = [r for r in runs if r["cell"] == cell and r["mode"] == mode]
        if not rs:
            continue
        tlb = med([num(r["tlb"]) for r in rs])
        dem = med([(num(r.get("pgdemote_kswapd")) or 0) + (num(r.get("pgdemote_direct")) or 0) for r in rs])
        w_key = "file" if mode == "on" else "anon"
        wshare = med([fast_share(cell, mode, r["round"], w_key) for r in rs])
        oshare = med([fast_share(cell, mode, r["round"], "anon") for r in rs]) if mode == "on" else None
        tps = med([((num(r.get("gen_tps1")) or 0) + (num(r.get("gen_tps2")) or 0)) / 2 for r in rs])
        ok = all(r["rc"] == "0,0" for r in rs)
        for r in rs:
            digests.add((r.get("check1"), r.get("check2")))
        if cell == "glibc":
            base = tlb
        vs = "-" if not base or tlb is None else "%.1f%%" % (100 * tlb / base)
        secs = med([num(r["seconds"]) for r in rs])
        floor = None if idle_rate is None or secs is None else idle_rate * secs
        rows[cell] = (tlb, wshare, floor)
        out.append("| %s%s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
            NAMES[cell], "" if ok else " (a run failed)", fmt(tlb), vs, fmt(floor),
            fmt(med([num(r.get("pgpromote_success")) for r in rs])), fmt(dem),
            fmt(med([num(r.get("numa_hint_faults")) for r in rs])),
            fmt(med([num(r.get("numa_pte_updates")) for r in rs])),
            fmt(med([num(r.get("pgmigrate_success")) for r in rs])),
            pct(wshare), pct(oshare) if mode == "on" else "(in the weights column)",
            fmt(med([num(r["seconds"]) for r in rs])), fmt(tps, "%.2f"),
            "same" if len(digests) == 1 else "DIFFER"))
    out.append("")
    out.append("Tokens identical in every run of this mode: %s." % (
        "yes (`%s`, `%s`)" % next(iter(digests)) if len(digests) == 1 else "NO: %s" % sorted(digests)))
    if "glibc" in rows and "tuned" in rows and rows["glibc"][0] is not None and \
            rows["glibc"][2] is not None and rows["glibc"][0] <= 2 * rows["glibc"][2]:
        goal_lines.append("- mmap %s: glibc's own run sends no more than twice the idle floor (%s vs %s): "
                          "no shootdowns to cut here, the comparison says nothing" % (
                              mode, fmt(rows["glibc"][0]), fmt(rows["glibc"][2])))
    elif "glibc" in rows and "tuned" in rows and rows["glibc"][0]:
        (gt, gs, _), (tt, ts, _) = rows["glibc"], rows["tuned"]
        met1 = tt <= 0.10 * gt
        met2 = gs is None or (ts is not None and ts >= gs - 0.005)
        goal_lines.append("- mmap %s: tuned sends %.1f%% of glibc's shootdowns (goal <= 10%%: %s); weights on the "
                          "fast tier %s vs glibc's %s (goal: at least glibc's: %s)" % (
                              mode, 100 * tt / gt, "**met**" if met1 else "**NOT met**", pct(ts), pct(gs),
                              "**met**" if met2 else "**NOT met**"))
    out.append("")

out.append("## Per round")
out.append("")
out.append("The fast-tier share of each run, and the sampled memory behind it (means over the run's "
           "samples, both processes): MiB on node 0 / MiB in all.")
out.append("")
for mode in sorted({r["mode"] for r in runs}):
    w_key = "file" if mode == "on" else "anon"
    for cell in CELLS:
        rs = sorted((r for r in runs if r["cell"] == cell and r["mode"] == mode), key=lambda r: int(r["round"]))
        if not rs:
            continue
        parts = []
        for r in rs:
            sh = fast_share(cell, mode, r["round"], w_key)
            n0, tot = fast_mib(cell, mode, r["round"], w_key)
            parts.append("%s (%s / %s)" % (pct(sh), fmt(n0), fmt(tot)))
        out.append("- mmap %s, %s: %s" % (mode, NAMES[cell], "; ".join(parts)))
out.append("")

out.append("## Goal")
out.append("")
out += goal_lines or ["- (no glibc and tuned runs to compare)"]
out.append("")
out.append("Idle: %s TLB shootdowns per second with no workload (median of %d runs of two "
           "processes that sleep 60 s, sampled like the others); *idle floor* is that rate times the cell's seconds: what the guest sends anyway." % (
               fmt(idle_rate, "%.2f"), len(idle)))
out.append("")
out.append("Columns: *TLB shootdowns*: the change of the guest's `TLB:` line of /proc/interrupts (both vCPUs) "
           "over the run of both processes; the other counters are /proc/vmstat deltas over the same run. "
           "*weights on fast tier*: the mean over the run's samples (every 5 s, both processes) of node 0's "
           "share of the weights' resident pages, from /proc/PID/numa_maps (tier_sample.c says why not `move_pages` queries: on 6.1 they hide the pages NUMA balancing is scanning): with mmap off, "
           "every private anonymous mapping of at least 1 MiB resident (weights, KV cache, compute buffers, and the "
           "small-object heap, whichever allocator's it is: glibc's brk heap and mimalloc's arenas alike); with "
           "mmap on, the model file's mapping, and the anonymous mappings in the next column.")
if errors:
    out += ["", "## Errors", "", "```"] + errors + ["```"]
out += ["", "## Raw runs", "", "```"] + [" ".join("%s=%s" % kv for kv in r.items()) for r in runs] + ["```"]
open(out_path, "w").write("\n".join(out) + "\n")
print("\n".join(out))
