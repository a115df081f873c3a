"""The engines: how each is prepared, the workloads run on it, the
columns of its report and the targets of issue 4.

A workload is one driver command line. Each engine has a full size (the
benchmark models) and a small size (the tiny models: demo and smoke test).
"""
import os
import subprocess
from dataclasses import dataclass

BENCH = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@dataclass
class Workload:
    key: str
    title: str
    cmd: list          # the timed run
    short_cmd: list    # the strace run: same workload, fewer requests


@dataclass
class Metric:
    key: str           # field of a run's measurements
    title: str
    fmt: str
    scale: float = 1.0
    higher_is_better: bool = True


def _setup(script, arg):
    """Runs an engine's setup.sh; returns its NAME=VALUE lines as a dict."""
    argv = [os.path.join(BENCH, script)] + ([arg] if arg else [])
    p = subprocess.run(argv, stdout=subprocess.PIPE, text=True)
    if p.returncode != 0:
        raise SystemExit(f"run.py: error: {' '.join([script] + argv[1:])} failed "
                         f"(exit {p.returncode})")
    return dict(l.split("=", 1) for l in p.stdout.splitlines() if "=" in l)


class Llama:
    name = "llama"
    title = "llama.cpp"
    default_workloads = "off,on"
    default_configs = None      # every configuration
    metrics = [Metric("gen_tps", "gen tok/s", "%.2f"),
               Metric("prompt_tps", "prompt tok/s", "%.1f"),
               Metric("load_s", "load s", "%.2f", higher_is_better=False),
               Metric("cpu_ms_per_gen_token", "CPU ms/gen tok", "%.1f", higher_is_better=False)]
    throughput = "gen_tps"

    def __init__(self, size, requests=None, gen=None, threads=1):
        self.size = size            # "full" (1.1B Q8_0) or "small" (tiny)
        self.requests = requests or (4 if size == "full" else 3)
        self.gen = gen or (32 if size == "full" else 16)
        self.threads = threads

    def prepare(self):
        v = _setup("llama/setup.sh", "--bench" if self.size == "full" else "--tiny")
        self.model = v["model_1_1b" if self.size == "full" else "model_tiny"]
        self.driver, self.bins = v["driver"], v["bins"]
        self.model_desc = ("TinyLlama-1.1B shape, Q8_0" if self.size == "full"
                           else "tiny llama (512 x 8 layers), Q8_0")

    def workloads(self, which=("off", "on")):
        out = []
        for mm in which:
            base = [self.driver, "--model", self.model, "--bins", self.bins, "--mmap", mm,
                    "--threads", str(self.threads), "--gen", str(self.gen)]
            out.append(Workload(f"mmap-{mm}", f"mmap {mm}",
                                base + ["--requests", str(self.requests)],
                                base + ["--requests", "1"]))
        return out

    def describe(self):
        return (f"model {os.path.basename(self.model)} ({self.model_desc}); "
                f"{self.requests} requests of 6-69 prompt words, {self.gen} sampled tokens each "
                f"(top-k 40, top-p 0.95, temperature 0.8, seed per request); "
                f"{self.threads} thread(s)")

    @staticmethod
    def targets(med, peers):
        """Issue 4's llama.cpp targets, on the mmap-off workload."""
        w = "mmap-off"
        if w not in med or "tiershim" not in med[w]:
            return []
        ts, g = med[w]["tiershim"], med[w].get("glibc", {})
        out = [("AnonHugePages >= 98% of anonymous RSS", f"{100 * ts['thp_coverage']:.1f}%",
                ts["thp_coverage"] >= 0.98)]
        if "jemalloc-thp" in med[w]:
            j = med[w]["jemalloc-thp"]["minor_faults"]
            out.append(("minor faults <= jemalloc thp:always",
                        f"{ts['minor_faults']:.0f} vs {j:.0f}", ts["minor_faults"] <= j))
        if g:
            r = ts["load_s"] / g["load_s"]
            out.append(("load seconds <= 1.05x glibc", f"{r:.2f}x", r <= 1.05))
        pv = [(med[w][p]["cpu_ms_per_gen_token"], p) for p in peers if p in med[w]]
        if pv:
            best = min(pv)
            out.append(("CPU per generated token <= best peer",
                        f"{ts['cpu_ms_per_gen_token']:.1f} ms vs {best[0]:.1f} ({best[1]})",
                        ts["cpu_ms_per_gen_token"] <= best[0]))
        return out


class Onnx:
    name = "onnx"
    title = "ONNX Runtime"
    default_workloads = "off,on"
    default_configs = None
    metrics = [Metric("inf_per_s", "inferences/s", "%.2f"),
               Metric("load_s", "load s", "%.2f", higher_is_better=False),
               Metric("cpu_s", "CPU s (loop)", "%.1f", higher_is_better=False)]
    throughput = "inf_per_s"

    def __init__(self, size, requests=None, threads=1, mix=None):
        self.size = size
        # Full: one request of each shape, batch {8,16,32} x sequence {64..512}
        # capped at 2048-4096 tokens a request, so a run takes about 30 s
        # at 1 thread here (the whole matrix: about 30 minutes).
        self.mix = mix or ("8x64,16x64,32x64,8x128,16x128,8x256,8x512"
                           if size == "full" else "2x16,4x32,2x64")
        self.requests = requests or (7 if size == "full" else 6)
        self.threads = threads

    def prepare(self):
        v = _setup("onnx/setup.sh", "--base" if self.size == "full" else "--tiny")
        self.model = v["model_base" if self.size == "full" else "model_tiny"]
        self.driver, self.node = v["driver"], v.get("node", "node")
        self.model_desc = "BERT-base shape" if self.size == "full" else "BERT tiny (2 x 128)"

    def workloads(self, which=("off", "on")):
        out = []
        for ar in which:
            base = [self.node, self.driver, "--model", self.model, "--arena", ar,
                    "--threads", str(self.threads), "--mix", self.mix]
            out.append(Workload(f"arena-{ar}", f"arena {ar}",
                                base + ["--requests", str(self.requests)],
                                base + ["--requests", "2"]))
        return out

    def describe(self):
        return (f"model {os.path.basename(self.model)} ({self.model_desc}); {self.requests} "
                f"inferences cycling batch x sequence {self.mix}; {self.threads} intra-op "
                f"thread(s), spinning off")

    @staticmethod
    def targets(med, peers):
        """Issue 4's ONNX Runtime targets, on the arena-off workload."""
        w = "arena-off"
        if w not in med or "tiershim" not in med[w]:
            return []
        ts = med[w]["tiershim"]
        out = []
        pv = [(med[w][p]["inf_per_s"], p) for p in peers if p in med[w]]
        if pv:
            best = max(pv)
            out.append(("inferences/s >= best peer",
                        f"{ts['inf_per_s']:.2f} vs {best[0]:.2f} ({best[1]})", ts["inf_per_s"] >= best[0]))
        rv = [(med[w][p]["max_rss_kb"], p) for p in peers if p in med[w]]
        if rv:
            low = min(rv)
            r = ts["max_rss_kb"] / low[0]
            out.append(("peak RSS <= 1.1x the lowest peer", f"{r:.2f}x ({low[1]})", r <= 1.1))
        return out


def _throughput_targets(med, peers, w, key, unit):
    """Issue 20's targets on workload W: throughput >= the best peer's, peak
    RSS <= 1.1x the lowest peer's."""
    if w not in med or "tiershim" not in med[w]:
        return []
    ts, out = med[w]["tiershim"], []
    pv = [(med[w][p][key], p) for p in peers if p in med[w]]
    if pv:
        best = max(pv)
        out.append((f"{w}: {unit} >= best peer", f"{ts[key]:.2f} vs {best[0]:.2f} ({best[1]})",
                    ts[key] >= best[0]))
    rv = [(med[w][p]["max_rss_kb"], p) for p in peers if p in med[w]]
    if rv:
        low = min(rv)
        r = ts["max_rss_kb"] / low[0]
        out.append((f"{w}: peak RSS <= 1.1x the lowest peer",
                    f"{ts['max_rss_kb'] / 1024:.0f} MiB vs {low[0] / 1024:.0f} MiB ({low[1]}): "
                    f"{r:.2f}x", r <= 1.1))
    return out


class Torch:
    """PyTorch (Debian's python3-torch) running models bench/torch/driver.py
    builds from a seed: no files to prepare beyond the package itself."""
    name = "torch"
    issue = 20
    title = "PyTorch CPU"
    metrics = [Metric("per_s", "inf/s or tok/s", "%.2f"),
               Metric("load_s", "load s", "%.2f", higher_is_better=False),
               Metric("cpu_s", "CPU s (loop)", "%.1f", higher_is_better=False)]
    throughput = "per_s"
    default_workloads = "encoder,decoder"
    # Issue 20's matrix; the other tiershim variants stay available via --configs.
    default_configs = ("glibc", "glibc-hugetlb", "jemalloc", "jemalloc-torch", "tcmalloc",
                       "mimalloc", "tiershim")

    install = True      # setup.sh may apt-get python3-torch / OpenBLAS (not in tests)

    def __init__(self, size, requests=None, threads=1, gen=None):
        self.size = size
        # Full: about 20 s a run at 1 thread here (encoder 8 inferences of
        # ~600 tokens on average, decoder 4 x 32 tokens), so the default matrix
        # (7 configurations x 2 workloads x 3 rounds) takes about 20 minutes.
        self.requests = requests
        self.gen = gen or (32 if size == "full" else 8)
        self.threads = threads

    def prepare(self):
        v = _setup("torch/setup.sh", None if self.install else "--no-install")
        self.python, self.driver = v["python"], v["driver"]
        self.version = f"{v['torch']} (python3-torch {v['deb']}, {v['blas']})"
        self.model_desc = ("BERT-base shape encoder (12 x 768, 12 heads, FFN 3072); decoder "
                           "12 x 768, vocabulary 30,522" if self.size == "full"
                           else "tiny (2 x 64, 4 heads, FFN 256, vocabulary 8,192)")

    def _requests(self, model):
        if self.requests:
            return self.requests
        return {"encoder": 8, "decoder": 4}[model] if self.size == "full" else 4

    def workloads(self, which=("encoder", "decoder")):
        out = []
        for m in which:
            if m not in ("encoder", "decoder"):
                raise SystemExit(f"run.py: error: torch workloads are encoder and decoder, not {m!r}")
            base = [self.python, self.driver, "--model", m, "--threads", str(self.threads),
                    "--size", "full" if self.size == "full" else "tiny", "--gen", str(self.gen)]
            unit = "inferences/s" if m == "encoder" else "generated tokens/s"
            out.append(Workload(m, f"{m} ({unit}, {self.threads} thread(s))",
                                base + ["--requests", str(self._requests(m))],
                                base + ["--requests", "1"]))
        return out

    def describe(self):
        return (f"PyTorch {self.version} models generated from seed 1234 ({self.model_desc}); "
                f"encoder: {self._requests('encoder')} inferences of batch 1-8 x sequence "
                f"16-256 (seeded, rows padded); decoder: {self._requests('decoder')} greedy "
                f"generations of {self.gen} tokens after 8-128-token prompts, KV cache grown by "
                f"torch.cat; torch.set_num_threads({self.threads})")

    @staticmethod
    def targets(med, peers):
        return (_throughput_targets(med, peers, "encoder", "per_s", "inferences/s") +
                _throughput_targets(med, peers, "decoder", "per_s", "tokens/s"))


ENGINES = {"llama": Llama, "onnx": Onnx, "torch": Torch}
