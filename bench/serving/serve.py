#!/usr/bin/env python3
"""Serving-grade measurements of llama.cpp and ONNX Runtime per allocator:
tail latency on fragmented memory, a soak of 2,000 requests, 1 and 2 threads.

    bench/serving/serve.py latency [--rounds N] [--configs a,b] [--engines llama,onnx]
                                   [--conditions frag:machine,...] [BUILD]
    bench/serving/serve.py soak    [--requests N] [--configs a,b] [--engines ..] [BUILD]
    bench/serving/serve.py threads [--rounds N] [--configs a,b] [--engines ..] [BUILD]
    bench/serving/serve.py all --quick [BUILD]     (make bench-serving-quick)

latency: every configuration runs the engine's request stream in each
condition, a fragmenter (bench/serving/ts_fragmenter: free memory plentiful,
no free 2 MiB block) on or off, THP defrag at the machine's setting or
`always`; rounds rotate the configurations. llama.cpp 1.1B (mmap off):
time to first token and every further token's latency; ONNX Runtime
BERT-base (arena off): every inference. Latencies of all rounds are pooled
into p50, p99 and max. Direct compaction stalls and huge-page fallbacks are
the kernel's vmstat deltas over the run.

soak: N requests (2,000) per engine and configuration, RSS sampled after
every request: drift after warm-up (the first 10%), peak RSS, outputs.

threads: 1 and 2 threads, wall and CPU per token (or inference).

Reports go to bench/results/serving-<section>.md and stdout."""
import argparse
import json
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common as cm  # noqa: E402

PEERS = "glibc,jemalloc,tcmalloc,mimalloc,tiershim"
# latency: tiershim's THP modes too (auto is the default)
LAT_CONFIGS = PEERS + ",ts-collapse,ts-fault"
# Small and medium BERT shapes: per-inference latency is what a serving
# endpoint sees, and 2,000 of them fit in a few minutes.
ONNX_MIX = "1x16,4x64,2x128,1x32,8x32,2x64,1x128,4x16"
# The soak's shapes: the same kinds, smaller on average (2,000 of them per
# configuration in about 4 minutes here).
SOAK_MIX = "1x16,2x32,1x64,4x16,2x64,1x128,8x16,1x32"
LLAMA_LAT = ["--gen", "16", "--gen-min", "8", "--prompt-max", "40"]
LLAMA_SOAK = ["--gen", "8", "--gen-min", "1", "--prompt-max", "24", "--reuse", "4"]


def say(msg):
    print(msg, file=sys.stderr, flush=True)


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("section", choices=("latency", "soak", "threads", "all"))
    ap.add_argument("build", nargs="?", default="build")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--configs", default=None, help=f"default {PEERS}; latency: {LAT_CONFIGS}")
    ap.add_argument("--engines", default="llama,onnx")
    ap.add_argument("--conditions", default="off:machine,on:machine,off:always,on:always",
                    help="fragmenter:defrag pairs (latency)")
    ap.add_argument("--requests", type=int, default=None,
                    help="requests per run (latency: 8 llama / 24 onnx; soak: 2000)")
    ap.add_argument("--out", default=os.path.join(cm.ROOT, "bench", "results"),
                    help="directory of the reports (default bench/results)")
    ap.add_argument("--model-llama", default="200m", help="soak: llama.cpp model size (gen_gguf.py)")
    ap.add_argument("--model-onnx", default="base", help="soak: BERT size (gen_bert.py)")
    ap.add_argument("--baseline", metavar="LIB",
                    help="another libtiershim.so (an older build) as configuration ts-base")
    ap.add_argument("--quick", action="store_true",
                    help="glibc and tiershim, one round, the fragmented condition only, "
                         "200 soak requests: under 10 minutes")
    a = ap.parse_intermixed_args()
    if a.quick:
        a.rounds, a.configs, a.conditions = 1, "glibc,tiershim", "on:machine"
    a.configs = a.configs or (LAT_CONFIGS if a.section == "latency" else PEERS)
    a.tslib = os.path.abspath(os.path.join(a.build, "libtiershim.so"))
    if not os.path.exists(a.tslib):
        sys.exit(f"serve.py: error: {a.tslib} is missing (cmake --build {a.build})")
    cfgs, a.skipped = cm.cfgmod.all_configs(a.tslib)
    cfgs.append(cm.cfgmod.Config("ts-fault", "tiershim THP=fault", "tiershim", a.tslib, {"TIERSHIM_THP": "fault"}))
    cfgs.append(cm.cfgmod.Config("ts-noprobe", "tiershim THP_PROBE_MIN=0", "tiershim", a.tslib,
                                 {"TIERSHIM_THP_PROBE_MIN": "0"}))
    cfgs.append(cm.cfgmod.Config("ts-nowarm", "tiershim THP_WARM=0", "tiershim", a.tslib,
                                 {"TIERSHIM_THP_WARM": "0"}))
    if a.baseline:
        cfgs.append(cm.cfgmod.Config("ts-base", "tiershim baseline (" + a.baseline + ")", "tiershim",
                                     os.path.abspath(a.baseline)))
        if "ts-base" not in a.configs.split(","):
            a.configs += ",ts-base"
    a.cfgs = cm.cfgmod.select(cfgs, a.configs)
    a.engines = [e for e in a.engines.split(",") if e]
    return a


def baseline_arg(a):
    return f" --baseline {a.baseline}" if a.baseline else ""


def header(a, title, command):
    thp = open(os.path.join(cm.THP, "enabled")).read().strip()
    return [f"# {title} (bench/serving/serve.py)", "",
            f"- {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, tree {cm.revision()}, kernel "
            f"{os.uname().release}, {os.cpu_count()} CPUs, THP enabled: {thp}; load average at the end "
            f"{os.getloadavg()[0]:.1f}",
            f"- command: `{command}`", ""]


def write(a, name, md, runs=None):
    """The report in A.out, and the runs behind it as JSON (for a closer
    look; the reports are what gets committed)."""
    text = "\n".join(md) + "\n"
    os.makedirs(a.out, exist_ok=True)
    if runs is not None:
        with open(os.path.join(a.out, f"serving-{name}.json"), "w") as f:
            json.dump({"|".join(map(str, k)): v for k, v in runs.items()}, f)
    with open(os.path.join(a.out, f"serving-{name}.md"), "w") as f:
        f.write(text)
    print(text)


def fmt(v, spec=".1f"):
    return "n/a" if v is None else format(v, spec)


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def check_same(ref, res, where, bad):
    """Outputs must equal glibc's (same thread count)."""
    if ref is not None and cm.output_of(res) != ref:
        bad.append(where)


# --- latency ---------------------------------------------------------------

def lat_samples(engine, res):
    """(first-token or inference latencies, further-token latencies) in ms.
    Request 0 is the warm-up (the engine builds its graph and buffers on
    the first request, under every allocator) and is left out."""
    first, rest = [], []
    for line in res["lines"][1:]:
        f = cm.fields(line)
        if engine == "onnx":
            first.append(float(f["ms"]))
        else:
            first.append(float(f["ttft_ms"]))
            if f.get("tok_ms", "-") != "-":
                rest += [float(x) for x in f["tok_ms"].split(",")]
    return first, rest


def latency(a):
    n = {"llama": a.requests or 8, "onnx": a.requests or 24}
    cmds = {"llama": cm.engine_cmd("llama", "1.1b", 1, n["llama"], LLAMA_LAT),
            "onnx": cm.engine_cmd("onnx", "base", 1, n["onnx"], ["--mix", ONNX_MIX])}
    conds = [tuple(c.split(":")) for c in a.conditions.split(",")]
    runs, refs, bad, ready = {}, {}, [], {}
    for frag, dfg in conds:
        with cm.defrag(dfg), cm.fragmenter(a.build, frag == "on") as line:
            ready[(frag, dfg)] = line
            for r in range(a.rounds):
                order = a.cfgs[r % len(a.cfgs):] + a.cfgs[:r % len(a.cfgs)]
                for e in a.engines:
                    for c in order:
                        if frag == "on":
                            cm.wait_fragmented()
                        res = cm.run(c, cmds[e], 1800)
                        runs.setdefault((e, frag, dfg, c.key), []).append(res)
                        if c.key == "glibc":
                            refs.setdefault(e, cm.output_of(res))
                        check_same(refs.get(e), res, f"{e} {c.key} {frag}/{dfg} round {r + 1}", bad)
                        first, rest = lat_samples(e, res)
                        say(f"latency {e} frag={frag} defrag={dfg} round {r + 1} {c.key}: "
                            f"p50 {fmt(cm.pct(first, 50))} max {fmt(max(first))} ms, "
                            f"stalls {res['compact_stall']}, coverage {fmt(res.get('thp_coverage'), '.3f')}")
    cmd = (f"python3 bench/serving/serve.py latency --rounds {a.rounds} --configs {a.configs}{baseline_arg(a)} "
           f"--engines {','.join(a.engines)} --conditions {a.conditions}")
    md = header(a, "Tail latency on fragmented memory", cmd)
    md += [f"- llama.cpp 1.1B Q8_0 mmap off, {n['llama']} requests of 8-16 tokens per run "
           f"(`{' '.join(LLAMA_LAT)}`); ONNX Runtime BERT-base arena off, {n['onnx']} inferences "
           f"per run, shapes {ONNX_MIX}; {a.rounds} rounds pooled, configurations rotated",
           "- fragmenter: " + "; ".join(f"{k[0]}/{k[1]}: {v}" for k, v in ready.items() if v), ""]
    for e in a.engines:
        for frag, dfg in conds:
            md += lat_table(a, e, frag, dfg, runs)
    md += lat_goals(a, conds, runs)
    md += [f"Outputs identical to glibc's: {'yes' if not bad else 'NO: ' + '; '.join(bad)}", "",
           "Columns: latencies pooled over rounds (nearest-rank percentiles), each run's first request "
           "left out as the warm-up. llama.cpp: TTFT is the "
           "prompt's decode and the first token's sampling; token is every further token. Stalls: "
           "/proc/vmstat compact_stall over the run (direct compactions, system-wide), fallbacks: "
           "thp_fault_fallback; coverage: AnonHugePages over anonymous RSS after the requests; "
           "load: the driver's model load time (median)."]
    write(a, "latency", md, runs)


def lat_table(a, e, frag, dfg, runs):
    first_name = "TTFT ms" if e == "llama" else "inference ms"
    md = [f"## {'llama.cpp 1.1B' if e == 'llama' else 'ONNX Runtime BERT-base'}, fragmenter {frag}, "
          f"defrag {dfg}", "",
          f"| configuration | {first_name} p50 | p99 | max |"
          + (" token ms p50 | p99 | max |" if e == "llama" else "")
          + " load s | coverage | stalls | fallbacks | minor faults | free 2 MiB before |",
          "|---|" + "---:|" * (3 + (3 if e == "llama" else 0) + 6)]
    for c in a.cfgs:
        rs = runs.get((e, frag, dfg, c.key), [])
        if not rs:
            continue
        first, rest = [], []
        for r in rs:
            f1, f2 = lat_samples(e, r)
            first += f1
            rest += f2
        row = f"| {c.title} | {fmt(cm.pct(first, 50))} | {fmt(cm.pct(first, 99))} | {fmt(max(first))} |"
        if e == "llama":
            row += f" {fmt(cm.pct(rest, 50), '.2f')} | {fmt(cm.pct(rest, 99), '.2f')} | {fmt(max(rest), '.2f')} |"
        cov = med([r.get("thp_coverage") for r in rs])
        row += (f" {fmt(med([r.get('load_s') for r in rs]), '.2f')} | {fmt(None if cov is None else 100 * cov)}% |"
                f" {sum(r['compact_stall'] for r in rs)} | {sum(r['thp_fault_fallback'] for r in rs)} |"
                f" {med([r.get('minor_faults') for r in rs]):.0f} |"
                f" {med([r['free_huge_mib_before'] for r in rs]):.0f} MiB |")
        md.append(row)
    return md + [""]


def cfg_is_ts(a, key):
    return any(c.key == key and c.kind == "tiershim" for c in a.cfgs)


def lat_goals(a, conds, runs):
    """Per engine and fragmented condition: tiershim's p99 against glibc's and
    the best peer's, and its coverage."""
    md = ["## Goal: with the fragmenter, tiershim p99 <= best peer and <= 1.05x glibc, coverage >= 90%", "",
          "Peers: the other allocators (jemalloc, tcmalloc, mimalloc, where measured); glibc is its own bound.", ""]
    for e in a.engines:
        for frag, dfg in conds:
            if frag != "on":
                continue
            p99 = {}
            for c in a.cfgs:
                rs = runs.get((e, frag, dfg, c.key), [])
                lat = [x for r in rs for x in lat_samples(e, r)[1 if e == "llama" else 0]]
                if lat:
                    p99[c.key] = (cm.pct(lat, 99), med([r.get("thp_coverage") for r in rs]))
            if "tiershim" not in p99 or "glibc" not in p99:
                continue
            t, g = p99["tiershim"], p99["glibc"]
            peers = {k: v for k, v in p99.items() if k != "glibc" and not cfg_is_ts(a, k)}
            best = min(peers.items(), key=lambda kv: kv[1][0]) if peers else ("glibc", g)
            what = "token" if e == "llama" else "inference"
            md.append(f"- {e}, defrag {dfg}: {what} p99 tiershim {t[0]:.2f} ms, glibc {g[0]:.2f} ms "
                      f"({t[0] / g[0]:.3f}x), best peer {best[0]} {best[1][0]:.2f} ms "
                      f"({t[0] / best[1][0]:.3f}x); coverage {100 * (t[1] or 0):.1f}%: "
                      f"{'met' if t[0] <= 1.05 * g[0] and t[0] <= best[1][0] and (t[1] or 0) >= 0.9 else 'not met'}")
            md += lat_paired(a, e, frag, dfg, runs)
    return md + [""]


def lat_paired(a, e, frag, dfg, runs):
    """The same comparison round by round: the host's speed moves by 10-50%
    within minutes here, and a slow stretch that catches one configuration's
    run moves the pooled p99. A round's runs follow each other, so the ratio
    of p99s within a round is the firmer figure."""
    per = {}
    for c in a.cfgs:
        for i, r in enumerate(runs.get((e, frag, dfg, c.key), [])):
            lat = lat_samples(e, r)[1 if e == "llama" else 0]
            if lat:
                per.setdefault(i, {})[c.key] = cm.pct(lat, 99)
    vs_g, vs_best = [], []
    for i in sorted(per):
        rd = per[i]
        peers = [v for k, v in rd.items() if k != "glibc" and not cfg_is_ts(a, k)]
        if "tiershim" in rd and "glibc" in rd:
            vs_g.append(rd["tiershim"] / rd["glibc"])
            if peers:
                vs_best.append(rd["tiershim"] / min(peers))
    if len(vs_g) < 2:
        return []
    rng = lambda xs: f"{med(xs):.3f}x ({min(xs):.3f}-{max(xs):.3f})"
    line = f"  - round by round ({len(vs_g)} rounds): tiershim p99 / glibc's {rng(vs_g)}"
    if vs_best:
        line += f", / the lowest of the round's peers {rng(vs_best)}"
    return [line + "; per round: " + ", ".join(
        " ".join(f"{k} {v:.1f}" for k, v in sorted(per[i].items())) for i in sorted(per))]


# --- soak ------------------------------------------------------------------

def soak(a):
    n = a.requests or (200 if a.quick else 2000)
    cmds = {e: cm.engine_cmd(e, a.model_llama if e == "llama" else a.model_onnx, 1, n,
                             LLAMA_SOAK if e == "llama" else ["--mix", SOAK_MIX]) for e in a.engines}
    runs, refs, bad = {}, {}, []
    for e in a.engines:
        for c in a.cfgs:
            t0 = time.time()
            res = cm.run(c, cmds[e], 7200)
            runs[(e, c.key)] = res
            if c.key == "glibc":
                refs[e] = cm.output_of(res)
            check_same(refs.get(e), res, f"{e} {c.key}", bad)
            d = drift(res)
            say(f"soak {e} {c.key}: {n} requests in {time.time() - t0:.0f} s, peak RSS "
                f"{res['max_rss_kb'] / 1024:.0f} MiB, drift {d[0]:+.2f}% (max {d[1]:+.2f}%)")
    cmd = (f"python3 bench/serving/serve.py soak --requests {n} --configs {a.configs}{baseline_arg(a)} "
           f"--engines {','.join(a.engines)}")
    md = header(a, f"Soak: {n} requests per engine", cmd)
    md += [f"- llama.cpp {a.model_llama} Q8_0 mmap off, `{' '.join(LLAMA_SOAK)}` (prompts 6-24 words, 1-8 tokens, "
           "every 4th request a new conversation, the others follow-up turns on the same KV cache); "
           f"ONNX Runtime BERT-{a.model_onnx} arena off, shapes {SOAK_MIX}", "",
           "| engine | configuration | RSS after warm-up MiB | at the end | drift | max drift | "
           "peak RSS MiB | peak / lowest peer | minor faults |", "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for e in a.engines:
        low = min([r["max_rss_kb"] for (e2, k), r in runs.items() if e2 == e and k != "tiershim"]
                  or [r["max_rss_kb"] for (e2, k), r in runs.items() if e2 == e])
        for c in a.cfgs:
            r = runs.get((e, c.key))
            if not r:
                continue
            w, end = rss_points(r)
            d = drift(r)
            md.append(f"| {e} | {c.title} | {w / 1024:.1f} | {end / 1024:.1f} | {d[0]:+.2f}% | {d[1]:+.2f}% | "
                      f"{r['max_rss_kb'] / 1024:.1f} | {r['max_rss_kb'] / low:.3f}x | {r['minor_faults']} |")
    md += ["", f"Outputs identical to glibc's: {'yes' if not bad else 'NO: ' + '; '.join(bad)}", "",
           "Drift: RSS at the end (median of the last 5% of requests) against RSS after warm-up (median "
           "of requests 10-15%); max drift: the highest single sample after warm-up against the same. "
           "RSS is /proc/self/statm read by the driver after every request. Lowest peer: the lowest peak "
           "RSS among the configurations other than tiershim."]
    write(a, "soak", md, runs)


def rss_series(res):
    return [int(cm.fields(l)["rss_kb"]) for l in res["lines"] if "rss_kb=" in l]


def rss_points(res):
    s = rss_series(res)
    n = len(s)
    warm = statistics.median(s[n // 10: max(n // 10 + 1, 3 * n // 20)])
    end = statistics.median(s[n - max(1, n // 20):])
    return warm, end


def drift(res):
    s = rss_series(res)
    warm, end = rss_points(res)
    return 100 * (end - warm) / warm, 100 * (max(s[len(s) // 10:]) - warm) / warm


# --- threads ---------------------------------------------------------------

def threads(a):
    n = {"llama": a.requests or 6, "onnx": a.requests or 24}
    runs, refs, bad = {}, {}, []
    for r in range(a.rounds):
        for t in (1, 2):
            order = a.cfgs[r % len(a.cfgs):] + a.cfgs[:r % len(a.cfgs)]
            for e in a.engines:
                cmd = cm.engine_cmd(e, "1.1b" if e == "llama" else "base", t, n[e],
                                    LLAMA_LAT if e == "llama" else ["--mix", ONNX_MIX])
                for c in order:
                    res = cm.run(c, cmd, 1800)
                    runs.setdefault((e, t, c.key), []).append(res)
                    if c.key == "glibc":
                        refs.setdefault((e, t), cm.output_of(res))
                    check_same(refs.get((e, t)), res, f"{e} {t} threads {c.key} round {r + 1}", bad)
                    say(f"threads {e} {t}T round {r + 1} {c.key}: {per_unit(e, res)}")
    cmd = (f"python3 bench/serving/serve.py threads --rounds {a.rounds} --configs {a.configs}{baseline_arg(a)} "
           f"--engines {','.join(a.engines)}")
    md = header(a, "1 and 2 threads", cmd)
    md += [f"- llama.cpp 1.1B mmap off, {n['llama']} requests (`{' '.join(LLAMA_LAT)}`); ONNX Runtime "
           f"BERT-base arena off, {n['onnx']} inferences, shapes {ONNX_MIX}; {a.rounds} rounds, medians", "",
           "| engine | configuration | 1 thread: per s | CPU ms per unit | 2 threads: per s | "
           "CPU ms per unit | 2T speed-up |", "|---|---|---:|---:|---:|---:|---:|"]
    for e in a.engines:
        for c in a.cfgs:
            cells = []
            for t in (1, 2):
                rs = runs.get((e, t, c.key), [])
                cells.append((med([rate(e, x) for x in rs]), med([cpu_ms(e, x) for x in rs])))
            sp = cells[1][0] / cells[0][0] if cells[0][0] and cells[1][0] else None
            md.append(f"| {e} | {c.title} | {fmt(cells[0][0], '.2f')} | {fmt(cells[0][1])} | "
                      f"{fmt(cells[1][0], '.2f')} | {fmt(cells[1][1])} | {fmt(sp, '.2f')} |")
    md += ["", f"Outputs identical to glibc's at the same thread count: "
           f"{'yes' if not bad else 'NO: ' + '; '.join(bad)}", "",
           "Units: llama.cpp generated tokens (gen_tps; CPU is the request loop's per generated token, "
           "prompt work included), ONNX inferences (inf_per_s; CPU of the process per inference)."]
    write(a, "threads", md, runs)


def rate(e, res):
    return res.get("gen_tps") if e == "llama" else res.get("inf_per_s")


def cpu_ms(e, res):
    if e == "llama":
        return res.get("cpu_ms_per_gen_token")
    return 1e3 * res["cpu_s"] / res["inferences"] if res.get("inferences") else None


def per_unit(e, res):
    return f"{fmt(rate(e, res), '.2f')}/s, {fmt(cpu_ms(e, res))} ms CPU per unit"


def main():
    a = parse_args()
    t0 = time.time()
    for s in (("latency", "soak", "threads") if a.section == "all" else (a.section,)):
        {"latency": latency, "soak": soak, "threads": threads}[s](a)
    say(f"serve.py: done in {time.time() - t0:.0f} s")


if __name__ == "__main__":
    main()
