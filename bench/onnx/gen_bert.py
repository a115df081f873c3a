#!/usr/bin/python3
"""Writes a randomly initialised BERT encoder as ONNX for the allocator benchmark.

  /usr/bin/python3 bench/onnx/gen_bert.py --size base|tiny --out PATH [--seed N]

No model hub is reachable here, so the model is built from scratch: the same
graph shape as bert-base-uncased (or a tiny one for tests) with random weights.
Allocator behaviour depends on tensor shapes, not on the weights' values.
Only standard opset-17 ops are used, as a plain export would give. ORT 1.30's
graph optimiser then fuses the scaled Q.K^T (FusedMatMul) and the GELU
(BiasGelu) but not attention or Add+LayerNorm, so every layer still allocates
its [batch, heads, seq, seq] score tensors: the churn the benchmark is after.
The file is a pure function of (size, seed): same bytes on every run.
Needs Debian's python3-onnx and python3-numpy (hence /usr/bin/python3).
"""
import argparse
import math
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

SIZES = {
    # layers, hidden, heads, ffn, vocab, max positions
    "base": dict(layers=12, hidden=768, heads=12, ffn=3072, vocab=30522, maxpos=512),
    # Same vocabulary as base so that one driver fits both.
    "tiny": dict(layers=2, hidden=128, heads=2, ffn=512, vocab=30522, maxpos=512),
}


class Builder:
    def __init__(self, seed):
        self.rng = np.random.default_rng(seed)  # PCG64: stable across numpy versions
        self.nodes, self.inits, self.n = [], [], 0

    def weight(self, name, shape, std=0.02):
        a = self.rng.standard_normal(shape, dtype=np.float32) * np.float32(std)
        self.inits.append(numpy_helper.from_array(a, name))
        return name

    def const(self, name, a):
        self.inits.append(numpy_helper.from_array(np.asarray(a), name))
        return name

    def op(self, op_type, inputs, **attrs):
        self.n += 1
        out = f"{op_type.lower()}_{self.n}"
        self.nodes.append(helper.make_node(op_type, inputs, [out], name=out, **attrs))
        return out

    def linear(self, x, name, n_in, n_out):
        w = self.weight(f"{name}.weight", (n_in, n_out))
        b = self.const(f"{name}.bias", np.zeros(n_out, np.float32))
        return self.op("Add", [self.op("MatMul", [x, w]), b])

    def layer_norm(self, x, name, h):
        g = self.const(f"{name}.weight", np.ones(h, np.float32))
        b = self.const(f"{name}.bias", np.zeros(h, np.float32))
        return self.op("LayerNormalization", [x, g, b], axis=-1, epsilon=1e-12)


def build(size, seed):
    c = SIZES[size]
    h, nh, ffn = c["hidden"], c["heads"], c["ffn"]
    hd = h // nh
    g = Builder(seed)

    # Shared constants.
    g.const("c_one", np.float32(1.0))
    g.const("c_half", np.float32(0.5))
    g.const("c_neg", np.float32(-10000.0))  # additive mask, as HF BERT exports
    g.const("c_sqrt2", np.float32(math.sqrt(2.0)))
    g.const("c_scale", np.float32(1.0 / math.sqrt(hd)))
    g.const("c_zero1", np.array([0], np.int64))
    g.const("c_axis0", np.array([0], np.int64))
    g.const("c_axes12", np.array([1, 2], np.int64))
    g.const("c_split_heads", np.array([0, 0, nh, hd], np.int64))
    g.const("c_merge_heads", np.array([0, 0, h], np.int64))

    # Embeddings: word + position (sliced to seq) + token type 0.
    word = g.op("Gather", [g.weight("embeddings.word", (c["vocab"], h)), "input_ids"], axis=0)
    seq = g.op("Shape", ["input_ids"], start=1, end=2)
    pos = g.op("Slice", [g.weight("embeddings.position", (c["maxpos"], h)), "c_zero1", seq, "c_axis0"])
    x = g.op("Add", [g.op("Add", [word, pos]), g.weight("embeddings.token_type0", (h,))])
    x = g.layer_norm(x, "embeddings.norm", h)

    # Mask [B,S] int64 -> additive bias [B,1,1,S]: 0 for tokens, -10000 for padding.
    m = g.op("Unsqueeze", [g.op("Cast", ["attention_mask"], to=TensorProto.FLOAT), "c_axes12"])
    bias = g.op("Mul", [g.op("Sub", ["c_one", m]), "c_neg"])

    for i in range(c["layers"]):
        p = f"layer{i}"

        def heads(t, perm):
            return g.op("Transpose", [g.op("Reshape", [t, "c_split_heads"])], perm=perm)

        q = heads(g.linear(x, f"{p}.q", h, h), [0, 2, 1, 3])  # [B,nh,S,hd]
        k = heads(g.linear(x, f"{p}.k", h, h), [0, 2, 3, 1])  # [B,nh,hd,S]
        v = heads(g.linear(x, f"{p}.v", h, h), [0, 2, 1, 3])
        s = g.op("Add", [g.op("Mul", [g.op("MatMul", [q, k]), "c_scale"]), bias])
        a = g.op("MatMul", [g.op("Softmax", [s], axis=-1), v])
        a = g.op("Reshape", [g.op("Transpose", [a], perm=[0, 2, 1, 3]), "c_merge_heads"])
        x = g.layer_norm(g.op("Add", [g.linear(a, f"{p}.o", h, h), x]), f"{p}.attn_norm", h)

        f = g.linear(x, f"{p}.ffn_in", h, ffn)
        # Exact GELU: 0.5 x (1 + erf(x / sqrt 2)).
        f = g.op("Mul", [g.op("Mul", [f, "c_half"]),
                         g.op("Add", [g.op("Erf", [g.op("Div", [f, "c_sqrt2"])]), "c_one"])])
        x = g.layer_norm(g.op("Add", [g.linear(f, f"{p}.ffn_out", ffn, h), x]), f"{p}.ffn_norm", h)

    g.nodes.append(helper.make_node("Identity", [x], ["last_hidden_state"], name="output"))

    ids = helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "seq"])
    mask = helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch", "seq"])
    out = helper.make_tensor_value_info("last_hidden_state", TensorProto.FLOAT, ["batch", "seq", h])
    graph = helper.make_graph(g.nodes, f"bert_{size}", [ids, mask], [out], initializer=g.inits)
    model = helper.make_model(graph, producer_name="tiershim-gen_bert",
                              opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8  # the IR that came with opset 17: loadable by any ORT since 1.13
    return model


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", choices=sorted(SIZES), required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    if a.seed < 0:
        ap.error("--seed must be >= 0")
    if not os.path.isdir(os.path.dirname(os.path.abspath(a.out))):
        ap.error(f"no directory for --out {a.out}")

    model = build(a.size, a.seed)
    data = model.SerializeToString()
    if len(data) >= 2**31:
        sys.exit("gen_bert: model over protobuf's 2 GB limit")
    # The checker wants the proto, not bytes; a bad graph should fail here, not
    # in the middle of a benchmark.
    onnx.checker.check_model(model)

    # Write beside the target and rename, so a killed run never leaves a
    # truncated model that setup.sh would take as present.
    tmp = a.out + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, a.out)
    print(f"gen_bert: wrote {a.out} ({len(data) / 1e6:.1f} MB, {a.size}, seed {a.seed})",
          file=sys.stderr)


if __name__ == "__main__":
    main()
