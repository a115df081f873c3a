"""Markdown tables, a CSV of every run, and gnuplot bar charts.

Cells are medians over the interleaved rounds; the throughput column also
shows the spread ((max - min) / 2 over the median) so a reader can tell a
real difference from this machine's noise.
"""
import csv
import os
import shutil
import statistics
import subprocess

MIB = 1024.0


def median(vals):
    vals = [v for v in vals if isinstance(v, (int, float))]
    return statistics.median(vals) if vals else None


def medians(runs):
    """runs[w][c] = list of measurement dicts -> med[w][c][key] = median."""
    med = {}
    for w, by_cfg in runs.items():
        med[w] = {}
        for c, rs in by_cfg.items():
            keys = {k for r in rs for k, v in r.items() if isinstance(v, (int, float))}
            med[w][c] = {k: median([r.get(k) for r in rs]) for k in keys}
    return med


def _fmt(fmt, v, scale=1.0):
    return "-" if v is None else fmt % (v / scale)


def _spread(rs, key):
    vals = [r[key] for r in rs if isinstance(r.get(key), (int, float))]
    m = median(vals)
    return "" if not m or len(vals) < 2 else f" ±{50 * (max(vals) - min(vals)) / m:.0f}%"


def table(engine, w, cfgs, runs, med, calls):
    m0 = engine.metrics[0]
    syscalls = bool(calls.get(w))
    head = ["configuration"] + [m.title for m in engine.metrics] + [
        "minor faults", "anon MiB", "AnonHuge MiB", "THP cover", "peak RSS MiB",
        "TLB shootdowns"] + (["mmap", "munmap", "madvise"] if syscalls else [])
    rows = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for c in cfgs:
        if c.key not in med[w]:
            continue
        d, rs = med[w][c.key], runs[w][c.key]
        cells = [c.title, _fmt(m0.fmt, d.get(m0.key)) + _spread(rs, m0.key)]
        cells += [_fmt(m.fmt, d.get(m.key)) for m in engine.metrics[1:]]
        cov = d.get("thp_coverage")
        sc = calls.get(w, {}).get(c.key, {})
        cells += [_fmt("%.0f", d.get("minor_faults")), _fmt("%.0f", d.get("anon_kb"), MIB),
                  _fmt("%.0f", d.get("anon_huge_kb"), MIB),
                  "-" if cov is None else f"{100 * cov:.0f}%",
                  _fmt("%.0f", d.get("max_rss_kb"), MIB), _fmt("%.0f", d.get("tlb_shootdowns"))]
        if syscalls:
            cells += [str(sc.get(k, "-")) for k in ("mmap", "munmap", "madvise")]
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows)


def targets_md(items):
    if not items:
        return "_No targets apply to this run (they need the full-size mmap-off/arena-off " \
               "workload with tiershim and its peers)._"
    rows = ["| target | measured | verdict |", "|---|---|---|"]
    rows += [f"| {t} | {v} | {'met' if ok else '**missed**'} |" for t, v, ok in items]
    return "\n".join(rows)


def write_csv(path, runs):
    keys = ["workload", "config", "round"]
    flat = []
    for w, by_cfg in runs.items():
        for c, rs in by_cfg.items():
            for i, r in enumerate(rs):
                row = {"workload": w, "config": c, "round": i + 1}
                row.update({k: v for k, v in r.items() if isinstance(v, (int, float, str))})
                flat.append(row)
                keys += [k for k in row if k not in keys]
    with open(path, "w", newline="") as f:
        wr = csv.DictWriter(f, fieldnames=keys)
        wr.writeheader()
        wr.writerows(flat)


def plots(outdir, prefix, engine, workloads, cfgs, med):
    """One PNG per metric: a bar per configuration, one cluster per workload.
    Returns the file names written (none when gnuplot is missing)."""
    if not shutil.which("gnuplot"):
        return []
    charts = [(engine.throughput, engine.metrics[0].title, 1.0),
              ("minor_faults", "minor faults (thousands)", 1000.0),
              ("thp_coverage", "AnonHugePages / anonymous RSS (%)", 0.01),
              ("max_rss_kb", "peak RSS (MiB)", MIB)]
    names = []
    for key, label, scale in charts:
        dat = os.path.join(outdir, f"{prefix}-{key}.dat")
        with open(dat, "w") as f:
            f.write("config " + " ".join(f'"{w.title}"' for w in workloads) + "\n")
            for c in cfgs:
                vals = [med[w.key].get(c.key, {}).get(key) for w in workloads]
                f.write(f'"{c.title}" ' + " ".join(
                    "NaN" if v is None else f"{v / scale:.4g}" for v in vals) + "\n")
        png = f"{prefix}-{key}.png"
        cols = " , ".join(f"'{dat}' using {i + 2}:xtic(1) title columnheader({i + 2})"
                          for i in range(len(workloads)))
        script = (f"set terminal pngcairo size 900,420 font ',9'; set output '{os.path.join(outdir, png)}';"
                  f"set title '{engine.title}: {label}'; set style data histograms;"
                  "set style histogram clustered gap 1; set style fill solid 0.8 border -1;"
                  "set xtics rotate by -30; set yrange [0:*]; set grid ytics; set key top left;"
                  f"plot {cols}")
        p = subprocess.run(["gnuplot", "-e", script], capture_output=True, text=True)
        os.unlink(dat)
        if p.returncode == 0:
            names.append(png)
    return names
