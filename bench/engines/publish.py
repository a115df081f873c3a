#!/usr/bin/python3
"""Publishes engine bench reports into docs/results.md.

  bench/engines/publish.py RESULTS_DIR [NAME ...]      (default NAME: llama onnx)

Copies RESULTS_DIR/NAME.md (each report a bench run wrote) and its PNG plots
into docs/results/, and rewrites docs/results.md: the fixed introduction
below, then each report with its headings shifted one level down. bench/
results/ is not committed; docs/results/ is, so the figures the docs quote
stay with the tree that produced them.
"""
import os
import re
import shutil
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DOCS = os.path.join(ROOT, "docs")

INTRO = """# Results

The latest full runs of the real-engine benchmarks on the development machine (2 cores,
often shared, so timings are noisy: each cell is a median of interleaved rounds, the
throughput column shows the spread, and counts - faults, huge-page bytes, system calls - are
the firmer figures). Each section names the command that produced it; from a fresh clone,
`make bench-llama`, `make bench-onnx` and `make bench-torch` run the same. Reports, CSVs of
every run and plots of later runs go to `bench/results/<date>-<host>/`;
`bench/engines/publish.py DIR` puts one here.

The analysis - what tiershim meets, what it misses and why - is in the closing notes of
issue 4 and in the "Reading the results" section at the end.
"""


def shift_headings(md):
    return re.sub(r"^(#+) ", lambda m: "#" + m.group(1) + " ", md, flags=re.M)


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    src, names = sys.argv[1], sys.argv[2:] or ["llama", "onnx"]
    dst = os.path.join(DOCS, "results")
    os.makedirs(dst, exist_ok=True)
    parts = [INTRO]
    for n in names:
        with open(os.path.join(src, n + ".md")) as f:
            md = f.read()
        for png in re.findall(r"\]\(([^)]+\.png)\)", md):
            shutil.copy(os.path.join(src, png), os.path.join(dst, png))
        md = re.sub(r"\]\(([^)/]+\.png)\)", r"](results/\1)", md)
        parts.append(shift_headings(md))
    tail = os.path.join(DOCS, "results-notes.md")
    if os.path.exists(tail):
        with open(tail) as f:
            parts.append(f.read())
    with open(os.path.join(DOCS, "results.md"), "w") as f:
        f.write("\n".join(parts))
    print(f"wrote {os.path.join(DOCS, 'results.md')} and {len(os.listdir(dst))} plot(s) in {dst}")


if __name__ == "__main__":
    main()
