#!/usr/bin/python3
"""PyTorch CPU inference driver for the allocator matrix (bench/engines).

  driver.py --model encoder|decoder [--size full|tiny] [--threads N]
            [--requests N] [--gen N] [--seed S]

Builds the model from a fixed seed (random weights, nothing downloaded),
runs the requests under torch.inference_mode, prints one line per request
(its output digest; `ms=` is stripped by the runner before outputs are
compared) and a RESULT line: per_s (inferences/s for the encoder, generated
tokens/s for the decoder), load_s (model construction), cpu_s (process CPU
over the request loop), the digest of all outputs (check), Anonymous,
AnonHugePages and Rss from /proc/self/smaps_rollup after the last request,
and malloc_from (the object that provides malloc, proof a preload took).
"""
import argparse
import ctypes
import gc
import hashlib
import os
import random
import sys
import time
import warnings

import torch
from torch import nn

# BERT-base / GPT-2-small shapes; tiny is for the smoke test.
SIZES = {"full": dict(layers=12, hidden=768, heads=12, ffn=3072, vocab=30522, max_pos=512),
         "tiny": dict(layers=2, hidden=64, heads=4, ffn=256, vocab=8192, max_pos=512)}


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", choices=("encoder", "decoder"), required=True)
    ap.add_argument("--size", choices=tuple(SIZES), default="full")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--requests", type=int, default=8)
    ap.add_argument("--gen", type=int, default=32, help="decoder: tokens generated a request")
    ap.add_argument("--seed", type=int, default=1234)
    return ap.parse_args()


def init_weights(model, seed):
    """Seeded BERT-style init; every layer gets its own weights (nn.TransformerEncoder
    deep-copies one layer, which would make all layers identical)."""
    g = torch.Generator().manual_seed(seed)
    for name, p in model.named_parameters():
        if p.dim() >= 2:
            p.data.normal_(0.0, 0.02, generator=g)
        elif name.endswith("bias"):
            p.data.uniform_(-0.02, 0.02, generator=g)
        else:                                   # LayerNorm gains
            p.data.fill_(1.0)


class Encoder(nn.Module):
    """BERT-like: token + position embeddings, LayerNorm, nn.TransformerEncoder
    (its eval fast path with nested tensors when rows are padded, as torch.nn users get)."""

    def __init__(self, c):
        super().__init__()
        self.tok = nn.Embedding(c["vocab"], c["hidden"])
        self.pos = nn.Embedding(c["max_pos"], c["hidden"])
        self.norm = nn.LayerNorm(c["hidden"])
        layer = nn.TransformerEncoderLayer(c["hidden"], c["heads"], c["ffn"], activation="gelu",
                                           batch_first=True, norm_first=False)
        self.enc = nn.TransformerEncoder(layer, c["layers"])

    def forward(self, ids, pad):
        x = self.norm(self.tok(ids) + self.pos(torch.arange(ids.shape[1]))[None])
        return self.enc(x, src_key_padding_mask=pad)


class Block(nn.Module):
    """One pre-norm decoder block with the naive HF-style KV cache: the past keys
    and values grow by torch.cat every step (a new, larger tensor each time)."""

    def __init__(self, c):
        super().__init__()
        h = c["hidden"]
        self.heads = c["heads"]
        self.ln1, self.ln2 = nn.LayerNorm(h), nn.LayerNorm(h)
        self.qkv, self.proj = nn.Linear(h, 3 * h), nn.Linear(h, h)
        self.fc1, self.fc2 = nn.Linear(h, c["ffn"]), nn.Linear(c["ffn"], h)

    def forward(self, x, past):
        B, T, H = x.shape
        q, k, v = self.qkv(self.ln1(x)).split(H, dim=2)
        q, k, v = (t.view(B, T, self.heads, -1).transpose(1, 2) for t in (q, k, v))
        if past is not None:
            k, v = torch.cat([past[0], k], dim=2), torch.cat([past[1], v], dim=2)
        att = (q @ k.transpose(-1, -2)) / (k.shape[-1] ** 0.5)
        if T > 1:   # prefill: causal mask; a single new token sees everything
            n = k.shape[2]
            att = att.masked_fill(torch.ones(T, n, dtype=torch.bool).triu(n - T + 1), float("-inf"))
        y = (att.softmax(-1) @ v).transpose(1, 2).reshape(B, T, H)
        x = x + self.proj(y)
        x = x + self.fc2(nn.functional.gelu(self.fc1(self.ln2(x))))
        return x, (k, v)


class Decoder(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.tok = nn.Embedding(c["vocab"], c["hidden"])
        self.pos = nn.Embedding(c["max_pos"], c["hidden"])
        self.blocks = nn.ModuleList(Block(c) for _ in range(c["layers"]))
        self.ln = nn.LayerNorm(c["hidden"])
        self.head = nn.Linear(c["hidden"], c["vocab"], bias=False)

    def forward(self, ids, start, past):
        x = self.tok(ids) + self.pos(torch.arange(start, start + ids.shape[1]))[None]
        new = []
        for i, b in enumerate(self.blocks):
            x, kv = b(x, past[i] if past else None)
            new.append(kv)
        return self.head(self.ln(x[:, -1])), new


def digest(t):
    """16 hex digits of sha256 over the tensor's raw bytes: any changed bit shows."""
    return hashlib.sha256(t.contiguous().numpy().tobytes()).hexdigest()[:16]


def encoder_requests(c, n, rng):
    """Dynamic shapes: batch 1-8, sequence 16-256, rows padded to random lengths."""
    for _ in range(n):
        B, S = rng.randint(1, 8), rng.randint(16, 256)
        ids = torch.tensor([[rng.randrange(c["vocab"]) for _ in range(S)] for _ in range(B)])
        lens = [S] + [rng.randint(S // 2, S) for _ in range(B - 1)]
        pad = torch.arange(S)[None] >= torch.tensor(lens)[:, None]
        yield ids, pad


def run_encoder(model, c, a, rng, h):
    """Returns (count, seconds); one inference per request."""
    run_s = 0.0
    for i, (ids, pad) in enumerate(encoder_requests(c, a.requests, rng)):
        t0 = time.perf_counter()
        out = model(ids, pad)
        dt = time.perf_counter() - t0
        run_s += dt
        d = digest(out)
        h.update(d.encode())
        print(f"req {i} batch={ids.shape[0]} seq={ids.shape[1]} ms={1e3 * dt:.1f} sum={d}")
    return a.requests, run_s


def run_decoder(model, c, a, rng, h):
    """Greedy generation of a.gen tokens for prompts of 8-128 tokens; returns
    (generated tokens, seconds, prefill included)."""
    run_s = 0.0
    for i in range(a.requests):
        P = rng.randint(8, 128)
        ids = torch.tensor([[rng.randrange(c["vocab"]) for _ in range(P)]])
        t0 = time.perf_counter()
        logits, past = model(ids, 0, None)
        toks = []
        for _ in range(a.gen):
            nxt = logits.argmax(-1, keepdim=True)
            toks.append(int(nxt))
            logits, past = model(nxt, P + len(toks) - 1, past)
        dt = time.perf_counter() - t0
        run_s += dt
        d = hashlib.sha256((",".join(map(str, toks)) + digest(logits)).encode()).hexdigest()[:16]
        h.update(d.encode())
        print(f"req {i} prompt={P} gen={a.gen} ms={1e3 * dt:.1f} tokens={toks[:8]} sum={d}")
        del past, logits
    return a.requests * a.gen, run_s


def smaps_rollup():
    r = {"Anonymous": -1, "AnonHugePages": -1, "Rss": -1}
    try:
        with open("/proc/self/smaps_rollup") as f:
            for line in f:
                k, _, v = line.partition(":")
                if k in r:
                    r[k] = int(v.split()[0])
    except OSError:
        pass
    return r


class DlInfo(ctypes.Structure):
    _fields_ = [("fname", ctypes.c_char_p), ("fbase", ctypes.c_void_p),
                ("sname", ctypes.c_char_p), ("saddr", ctypes.c_void_p)]


class PhdrInfo(ctypes.Structure):
    _fields_ = [("addr", ctypes.c_void_p), ("name", ctypes.c_char_p)]


def loaded_objects(libc):
    """Paths of the loaded shared objects in link-map order, which is the
    global symbol search order (preloads right after the program)."""
    names = []
    cb_t = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(PhdrInfo), ctypes.c_size_t, ctypes.c_void_p)

    def cb(info, size, data):
        n = info.contents.name
        if n:
            names.append(n.decode())
        return 0
    libc.dl_iterate_phdr(cb_t(cb), None)
    return names


def malloc_from():
    """Base name of the first object in the global search order that defines
    malloc (dlsym on its own handle lands in itself): the runner checks it
    against the configuration's preload. dladdr(&malloc) would name the
    python3 executable, whose PLT entry is malloc's canonical address."""
    libc = ctypes.CDLL(None)
    libc.dlopen.restype = libc.dlsym.restype = ctypes.c_void_p
    libc.dlopen.argtypes = [ctypes.c_char_p, ctypes.c_int]
    libc.dlsym.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
    for path in loaded_objects(libc):
        h = libc.dlopen(path.encode(), 0x4 | 0x1)      # RTLD_NOLOAD | RTLD_LAZY
        p = h and libc.dlsym(h, b"malloc")
        info = DlInfo()
        if p and libc.dladdr(ctypes.c_void_p(p), ctypes.byref(info)) and \
                info.fname and os.path.realpath(info.fname.decode()) == os.path.realpath(path):
            return os.path.basename(path)
    return "unknown"


def main():
    a = parse_args()
    # nn.TransformerEncoder's nested-tensor fast path warns that it is a prototype, once.
    warnings.filterwarnings("ignore", message=".*nested tensors is in prototype.*")
    torch.set_num_threads(a.threads)
    torch.set_num_interop_threads(1)
    c = SIZES[a.size]
    t0 = time.perf_counter()
    torch.manual_seed(a.seed)
    model = (Encoder if a.model == "encoder" else Decoder)(c)
    init_weights(model, a.seed)
    model.eval()
    load_s = time.perf_counter() - t0
    rng, h = random.Random(a.seed), hashlib.sha256()
    cpu0 = time.process_time()
    with torch.inference_mode():
        n, run_s = (run_encoder if a.model == "encoder" else run_decoder)(model, c, a, rng, h)
    cpu_s = time.process_time() - cpu0
    gc.collect()
    m = smaps_rollup()     # the model is still alive here
    print(f"RESULT load_s={load_s:.3f} run_s={run_s:.3f} count={n} per_s={n / run_s:.3f} "
          f"cpu_s={cpu_s:.3f} check={h.hexdigest()[:16]} anon_kb={m['Anonymous']} "
          f"anon_huge_kb={m['AnonHugePages']} rss_kb={m['Rss']} malloc_from={malloc_from()} "
          f"threads={torch.get_num_threads()} torch={torch.__version__}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
