#!/usr/bin/python3
"""Deterministic generator of random-weight llama.cpp models (GGUF v3).

Why: the llama.cpp benchmark needs real models, but this machine cannot
download any. The allocator only cares about the shape of the work (tensor
sizes, mmap/alloc pattern, KV cache, matmul traffic), not about the quality
of the text, so a model with random Q8_0 weights and a synthetic SentencePiece
vocabulary is enough. Output is byte-for-byte identical for a given
(--size, --seed), so benchmark runs are comparable across machines/sessions.

Shapes (architecture "llama", Q8_0 for 2-D weights, F32 norm vectors):
  1.1b  TinyLlama-1.1B: n_embd 2048, 22 layers, 32 heads, 4 KV heads,
        n_ff 5632, vocab 32000, ctx 2048  -> ~1.17 GB
  200m  n_embd 1024, 12 layers, 16 heads, 4 KV heads, n_ff 2816,
        vocab 32000, ctx 2048             -> ~215 MB (bench/tiers/luf.sh:
        the 1.1B's architecture at a size the qemu guest decodes in time)
  tiny  n_embd 512, 8 layers, 8 heads, 4 KV heads, n_ff 1408,
        vocab 32000, ctx 2048             -> ~60 MB
All: head dim 64 (rope dimension 64), rms eps 1e-5, rope freq base 10000.

Usage: /usr/bin/python3 bench/llama/gen_gguf.py --size tiny|200m|1.1b --out PATH
       [--seed N]   (needs only the stdlib and numpy; writes PATH.tmp, then
       renames it to PATH)
"""
import argparse
import itertools
import os
import struct
import sys
import time

import numpy as np

SHAPES = {
    "tiny": dict(n_embd=512, n_layer=8, n_head=8, n_head_kv=4, n_ff=1408),
    "200m": dict(n_embd=1024, n_layer=12, n_head=16, n_head_kv=4, n_ff=2816),
    "1.1b": dict(n_embd=2048, n_layer=22, n_head=32, n_head_kv=4, n_ff=5632),
}
N_VOCAB, N_CTX, HEAD_DIM = 32000, 2048, 64
ALIGN = 32
F32, Q8_0 = 0, 8  # ggml type ids
# GGUF metadata value types
T_U32, T_I32, T_F32, T_BOOL, T_STR, T_ARR = 4, 5, 6, 7, 8, 9
# Random int8 quants are uniform on [-127, 127]: std = sqrt((255^2-1)/12)
Q_STD = 73.6
# Weight std: 0.02 (GPT-2 style init) keeps each layer's contribution to the
# residual stream O(0.1-1), so activations stay finite; the embedding std is
# larger so the current token still matters after 22 layers and greedy
# generation does not collapse onto one token.
STD_MATRIX, STD_EMBD = 0.02, 0.5

# ---------------------------------------------------------------- vocabulary
WORDS = """the of and to a in is it you that he was for on are with as I his
they be at one have this from or had by hot word but what some we can out other
were all there when up use your how said an each she which do their time if will
way about many then them write would like so these her long make thing see him two
has look more day could go come did number sound no most people my over know water
than call first who may down side been now find any new work part take get place
made live where after back little only round man year came show every good me give
our under name very through just form sentence great think say help low line differ
turn cause much mean before move right boy old too same tell does set three want air
well also play small end put home read hand port large spell add even land here must
big high such follow act why ask men change went light kind off need house picture
try us again animal point mother world near build self earth father head stand own
page should country found answer school grow study still learn plant cover food sun
four between state keep eye never last let thought city tree cross farm hard start
might story saw far sea draw left late run while press close night real life few
north open seem together next white children begin got walk example ease paper group
always music those both mark often letter until mile river car feet care second book
carry took science eat room friend began idea fish mountain stop once base hear horse
cut sure watch color face wood main enough plain girl usual young ready above ever red
list though feel talk bird soon body dog family direct pose leave song measure door
product black short numeral class wind question happen complete ship area half rock
order fire south problem piece told knew pass since top whole king space heard best
hour better true during hundred five remember step early hold west ground interest
reach fast verb sing listen six table travel less morning ten simple several vowel
toward war lay against pattern slow center love person money serve appear road map
rain rule govern pull cold notice voice unit power town fine certain fly fall lead
cry dark machine note wait plan figure star box noun field rest correct able pound
done beauty drive stood contain front teach week final gave green oh quick develop
ocean warm free minute strong special mind behind clear tail produce fact street inch
multiply nothing course stay wheel full force blue object decide surface deep moon
island foot system busy test record boat common gold possible plane stead dry wonder
laugh thousand ago ran check game shape equate miss brought heat snow tire bring yes
distant fill east paint language among upon brown fox jumps lazy princess dragon
forest castle""".split()
SUFFIXES = "s es ed ing er est ly tion ness ment able ful less ous ive al".split()
SINGLES = list("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
               ".,!?;:'\"-()[]{}/@#$%&*+=<>_~`^|\\")
ONSETS = "b c d f g h j k l m n p r s t v w z br ch cl cr dr fl gr pl sh st th tr".split()
VOWELS = "a e i o u ai ea ee oo ou".split()


def pseudo_words():
    """Endless deterministic stream of English-looking syllable words."""
    syl = [o + v for o in ONSETS for v in VOWELS]
    for n in itertools.count(1):
        for parts in itertools.product(syl, repeat=n):
            yield "".join(parts)


def build_vocab():
    """SPM vocab: <unk> <s> </s>, 256 byte tokens, then normal pieces.

    llama.cpp's SPM tokenizer only merges two adjacent symbols if their
    concatenation is itself a token, so every word enters with all of its
    prefixes ("▁q", "▁qu", ... "▁quick"): the vocab is prefix-closed and
    whole words are reachable by merges. Scores fall with the id, so the
    hand-written English pieces win over the synthetic filler.
    """
    tokens = ["<unk>", "<s>", "</s>"] + ["<0x%02X>" % b for b in range(256)]
    types = [2, 3, 3] + [6] * 256
    seen = set(tokens)

    def add(piece):
        if piece not in seen and len(tokens) < N_VOCAB:
            seen.add(piece)
            tokens.append(piece)
            types.append(1)

    for piece in ["\u2581"] + SINGLES + ["\u2581" + c for c in SINGLES]:
        add(piece)
    words = WORDS + [w.capitalize() for w in WORDS]
    for word in itertools.chain(SUFFIXES, ("\u2581" + w for w in words),
                                ("\u2581" + w for w in pseudo_words())):
        if len(tokens) >= N_VOCAB:
            break
        for k in range(1, len(word) + 1):  # shortest first keeps closure
            add(word[:k])
    scores = [0.0] * 259 + [-float(i) for i in range(len(tokens) - 259)]
    return tokens, scores, types


# --------------------------------------------------------------- GGUF writer
def gstr(s):
    b = s.encode("utf-8")
    return struct.pack("<Q", len(b)) + b


def kv(key, vtype, val):
    """One metadata pair; arrays are given as (item_type, list)."""
    out = gstr(key) + struct.pack("<I", vtype)
    if vtype == T_STR:
        return out + gstr(val)
    if vtype != T_ARR:
        return out + struct.pack({T_U32: "<I", T_I32: "<i", T_F32: "<f",
                                  T_BOOL: "<?"}[vtype], val)
    itype, items = val
    out += struct.pack("<IQ", itype, len(items))
    if itype == T_STR:
        return out + b"".join(gstr(s) for s in items)
    return out + np.asarray(items, {T_F32: "<f4", T_I32: "<i4"}[itype]).tobytes()


def metadata(size, hp):
    tokens, scores, types = build_vocab()
    a = "llama."
    return [
        kv("general.architecture", T_STR, "llama"),
        kv("general.name", T_STR, "tiershim-random-%s" % size),
        kv("general.alignment", T_U32, ALIGN),
        kv("general.file_type", T_U32, 7),  # LLAMA_FTYPE_MOSTLY_Q8_0
        kv(a + "context_length", T_U32, N_CTX),
        kv(a + "embedding_length", T_U32, hp["n_embd"]),
        kv(a + "block_count", T_U32, hp["n_layer"]),
        kv(a + "feed_forward_length", T_U32, hp["n_ff"]),
        kv(a + "attention.head_count", T_U32, hp["n_head"]),
        kv(a + "attention.head_count_kv", T_U32, hp["n_head_kv"]),
        kv(a + "rope.dimension_count", T_U32, HEAD_DIM),
        kv(a + "attention.layer_norm_rms_epsilon", T_F32, 1e-5),
        kv(a + "rope.freq_base", T_F32, 10000.0),
        kv(a + "vocab_size", T_U32, N_VOCAB),
        kv("tokenizer.ggml.model", T_STR, "llama"),
        kv("tokenizer.ggml.tokens", T_ARR, (T_STR, tokens)),
        kv("tokenizer.ggml.scores", T_ARR, (T_F32, scores)),
        kv("tokenizer.ggml.token_type", T_ARR, (T_I32, types)),
        kv("tokenizer.ggml.bos_token_id", T_U32, 1),
        kv("tokenizer.ggml.eos_token_id", T_U32, 2),
        kv("tokenizer.ggml.unknown_token_id", T_U32, 0),
        kv("tokenizer.ggml.add_bos_token", T_BOOL, True),
        kv("tokenizer.ggml.add_eos_token", T_BOOL, False),
    ]


def tensor_list(hp):
    """(name, ne, type, std) in file order; ne is ggml order (ne0 = row)."""
    e, ff = hp["n_embd"], hp["n_ff"]
    e_kv = hp["n_head_kv"] * HEAD_DIM
    ts = [("token_embd.weight", [e, N_VOCAB], Q8_0, STD_EMBD)]
    for i in range(hp["n_layer"]):
        b = "blk.%d." % i
        ts += [(b + "attn_norm.weight", [e], F32, None),
               (b + "attn_q.weight", [e, e], Q8_0, STD_MATRIX),
               (b + "attn_k.weight", [e, e_kv], Q8_0, STD_MATRIX),
               (b + "attn_v.weight", [e, e_kv], Q8_0, STD_MATRIX),
               (b + "attn_output.weight", [e, e], Q8_0, STD_MATRIX),
               (b + "ffn_norm.weight", [e], F32, None),
               (b + "ffn_gate.weight", [e, ff], Q8_0, STD_MATRIX),
               (b + "ffn_up.weight", [e, ff], Q8_0, STD_MATRIX),
               (b + "ffn_down.weight", [ff, e], Q8_0, STD_MATRIX)]
    ts += [("output_norm.weight", [e], F32, None),
           ("output.weight", [e, N_VOCAB], Q8_0, STD_MATRIX)]
    return ts


def nbytes(ne, gtype):
    n = int(np.prod(ne))
    if gtype == F32:
        return 4 * n
    assert ne[0] % 32 == 0, "Q8_0 rows must be a multiple of 32"
    return n // 32 * 34


def pad(n):
    return (n + ALIGN - 1) // ALIGN * ALIGN


def write_q8_0(f, n_blocks, std, rng, chunk=1 << 18):
    """Random Q8_0 blocks, built directly (no float quantisation).

    Block = fp16 scale d, then 32 int8 quants; value = d * q. One d per
    tensor sets the std; chunks keep memory at ~9 MB per chunk.
    """
    d = np.frombuffer(np.float16(std / Q_STD).tobytes(), np.uint8)
    for start in range(0, n_blocks, chunk):
        nb = min(chunk, n_blocks - start)
        blk = np.empty((nb, 34), np.uint8)
        blk[:, :2] = d
        blk[:, 2:] = np.frombuffer(rng.bytes(nb * 32), np.uint8).reshape(nb, 32)
        q = blk[:, 2:].view(np.int8)
        np.maximum(q, -127, out=q)  # -128 is outside the Q8_0 range
        f.write(blk.data)


def write_gguf(path, size, seed):
    hp = SHAPES[size]
    kvs = metadata(size, hp)
    tensors = tensor_list(hp)
    head = bytearray(struct.pack("<4sIQQ", b"GGUF", 3, len(tensors), len(kvs)))
    head += b"".join(kvs)
    offset = 0  # offsets are relative to the (aligned) data section
    for name, ne, gtype, _ in tensors:
        head += gstr(name) + struct.pack("<I", len(ne))
        head += struct.pack("<%dQ" % len(ne), *ne) + struct.pack("<IQ", gtype, offset)
        offset += pad(nbytes(ne, gtype))
    head += bytes(pad(len(head)) - len(head))
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(head)
        for idx, (name, ne, gtype, std) in enumerate(tensors):
            n = nbytes(ne, gtype)
            if gtype == F32:  # norm weights: 1.0, i.e. plain RMS norm
                f.write(np.ones(ne[0], "<f4").tobytes())
            else:  # per-tensor stream: contents do not depend on chunking
                write_q8_0(f, n // 34, std, np.random.default_rng([seed, idx]))
            f.write(bytes(pad(n) - n))
    os.replace(tmp, path)


def main():
    ap = argparse.ArgumentParser(
        description="Write a random-weight llama GGUF (Q8_0) model for "
                    "offline llama.cpp benchmarks. Deterministic per "
                    "(size, seed).")
    ap.add_argument("--size", required=True, choices=sorted(SHAPES),
                    help="tiny (~60 MB) or 1.1b (TinyLlama shape, ~1.17 GB)")
    ap.add_argument("--out", required=True, help="output .gguf path")
    ap.add_argument("--seed", type=int, default=1234,
                    help="weight RNG seed (default 1234); vocab is fixed")
    args = ap.parse_args()
    t0 = time.time()
    write_gguf(args.out, args.size, args.seed)
    mb = os.path.getsize(args.out) / 1e6
    print("gen_gguf: %s %.1f MB in %.1f s" % (args.out, mb, time.time() - t0),
          file=sys.stderr)


if __name__ == "__main__":
    main()
