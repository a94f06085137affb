#!/usr/bin/env python3
"""Write the network zoo (``workloads/*.csv``) from the reference model definitions.

The CSVs are the shipped artefact; this script only documents how they were made and lets them be
regenerated (``python scripts/gen_zoo.py``; ``--check`` compares instead of writing).  Layer names
follow the module names of the source definitions so every row can be traced back:

* torchvision ``models/resnet.py`` (resnet18, resnet50 = v1.5), ``models/vgg.py`` (vgg16, cfg "D",
  no batch norm), ``models/alexnet.py``, ``models/mobilenetv2.py`` (width 1.0);
* timm ``models/deit.py`` / ``models/vision_transformer.py`` (``deit_tiny_patch16_224``).

Batch-norm layers have two parameters per channel (weight, bias; running statistics are buffers,
not parameters); they are added to the ``extra_params`` of the convolution they follow.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "workloads"

COLUMNS = ("name", "type", "in_h", "in_w", "in_c", "out_c", "kernel_h", "kernel_w",
           "stride_h", "stride_w", "pad_h", "pad_w", "groups", "bias", "extra_params", "batch",
           "operand", "inputs", "out_h", "out_w")
#: columns left out of a file when every row has this value
DEFAULTS = {"batch": 1, "operand": "previous", "inputs": "", "out_h": "", "out_w": ""}


def conv(rows, name, h, c, k, r=1, s=1, pad=0, groups=1, bias=0, bn=True, kind="conv",
         extra=0, batch=1, w=None, operand="previous", inputs=""):
    """Append a conv row; return the output height (square maps unless ``w`` is given).
    ``inputs``: the rows it reads (space-separated; empty: the previous row)."""
    w = h if w is None else w
    rows.append(dict(name=name, type=kind, in_h=h, in_w=w, in_c=c, out_c=k, kernel_h=r,
                     kernel_w=r if kind != "matmul" else 1, stride_h=s, stride_w=s, pad_h=pad,
                     pad_w=pad, groups=groups, bias=bias,
                     extra_params=(2 * k if bn else 0) + extra, batch=batch,
                     operand=operand, inputs=inputs, out_h="", out_w=""))
    return (h + 2 * pad - r) // s + 1


def vec(rows, name, op, h, c, w=None, r=1, s=1, pad=0, inputs="", batch=1, out_c=None,
        out_h=None, out_w=None):
    """Append a vector-operator row (no MACs, no parameters: a norm's parameters stay with
    the layer it feeds); return its output height.  Pools size their output like a layer."""
    w = h if w is None else w
    rows.append(dict(name=name, type=op, in_h=h, in_w=w, in_c=c,
                     out_c=c if out_c is None else out_c, kernel_h=r, kernel_w=r, stride_h=s,
                     stride_w=s, pad_h=pad, pad_w=pad, groups=1, bias=0, extra_params=0,
                     batch=batch, operand="previous", inputs=inputs,
                     out_h="" if out_h is None else out_h, out_w="" if out_w is None else out_w))
    return (h + 2 * pad - r) // s + 1 if out_h is None else out_h


def pool(h, r, s, pad=0):
    return (h + 2 * pad - r) // s + 1


# --------------------------------------------------------------------------- ResNet
def resnet(block: str, layers: list[int]) -> list[dict]:
    rows: list[dict] = []
    h = conv(rows, "conv1", 224, 3, 64, r=7, s=2, pad=3)        # + bn1
    vec(rows, "relu", "relu", h, 64)
    h = vec(rows, "maxpool", "maxpool", h, 64, r=3, s=2, pad=1)
    x = "maxpool"                                                # the block input
    inplanes = 64
    exp = 1 if block == "basic" else 4
    for li, (planes, n) in enumerate(zip((64, 128, 256, 512), layers, strict=True), start=1):
        for bi in range(n):
            stride = 2 if (li > 1 and bi == 0) else 1
            p = f"layer{li}.{bi}"
            if block == "basic":
                ho = conv(rows, f"{p}.conv1", h, inplanes, planes, r=3, s=stride, pad=1,
                          inputs=x)
                vec(rows, f"{p}.relu1", "relu", ho, planes)
                conv(rows, f"{p}.conv2", ho, planes, planes, r=3, s=1, pad=1)
                last = f"{p}.conv2"
            else:  # Bottleneck v1.5: the stride sits on the 3x3 conv
                conv(rows, f"{p}.conv1", h, inplanes, planes, r=1, inputs=x)
                vec(rows, f"{p}.relu1", "relu", h, planes)
                ho = conv(rows, f"{p}.conv2", h, planes, planes, r=3, s=stride, pad=1)
                vec(rows, f"{p}.relu2", "relu", ho, planes)
                conv(rows, f"{p}.conv3", ho, planes, planes * exp, r=1)
                last = f"{p}.conv3"
            short = x
            if stride != 1 or inplanes != planes * exp:
                conv(rows, f"{p}.downsample.0", h, inplanes, planes * exp, r=1, s=stride,
                     inputs=x)
                short = f"{p}.downsample.0"
            vec(rows, f"{p}.add", "add", ho, planes * exp, inputs=f"{last} {short}")
            vec(rows, f"{p}.relu", "relu", ho, planes * exp)
            x = f"{p}.relu"
            inplanes = planes * exp
            h = ho
    vec(rows, "avgpool", "globalavgpool", h, 512 * exp, out_h=1, out_w=1)
    conv(rows, "fc", 1, 512 * exp, 1000, bias=1, bn=False, kind="linear")
    return rows


# --------------------------------------------------------------------------- VGG-16
def vgg16() -> list[dict]:
    rows: list[dict] = []
    cfg = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]
    h, c, i = 224, 3, 0
    for v in cfg:
        if v == "M":
            h = vec(rows, f"features.{i}", "maxpool", h, c, r=2, s=2)
        else:
            h = conv(rows, f"features.{i}", h, c, v, r=3, pad=1, bias=1, bn=False)
            c = v
            i += 1
            vec(rows, f"features.{i}", "relu", h, c)
        i += 1
    # avgpool is adaptive 7x7 (identity at 224x224); flatten 512*7*7 = 25088 (a view)
    conv(rows, "classifier.0", 1, 512 * 7 * 7, 4096, bias=1, bn=False, kind="linear")
    vec(rows, "classifier.1", "relu", 1, 4096)
    conv(rows, "classifier.3", 1, 4096, 4096, bias=1, bn=False, kind="linear")
    vec(rows, "classifier.4", "relu", 1, 4096)
    conv(rows, "classifier.6", 1, 4096, 1000, bias=1, bn=False, kind="linear")
    return rows


# --------------------------------------------------------------------------- AlexNet
def alexnet() -> list[dict]:
    rows: list[dict] = []
    h = conv(rows, "features.0", 224, 3, 64, r=11, s=4, pad=2, bias=1, bn=False)   # 55
    vec(rows, "features.1", "relu", h, 64)
    h = vec(rows, "features.2", "maxpool", h, 64, r=3, s=2)                        # 27
    h = conv(rows, "features.3", h, 64, 192, r=5, pad=2, bias=1, bn=False)         # 27
    vec(rows, "features.4", "relu", h, 192)
    h = vec(rows, "features.5", "maxpool", h, 192, r=3, s=2)                       # 13
    h = conv(rows, "features.6", h, 192, 384, r=3, pad=1, bias=1, bn=False)
    vec(rows, "features.7", "relu", h, 384)
    h = conv(rows, "features.8", h, 384, 256, r=3, pad=1, bias=1, bn=False)
    vec(rows, "features.9", "relu", h, 256)
    h = conv(rows, "features.10", h, 256, 256, r=3, pad=1, bias=1, bn=False)       # 13
    vec(rows, "features.11", "relu", h, 256)
    h = vec(rows, "features.12", "maxpool", h, 256, r=3, s=2)                      # 6
    assert h == 6  # adaptive avg-pool 6x6 is then the identity
    conv(rows, "classifier.1", 1, 256 * 6 * 6, 4096, bias=1, bn=False, kind="linear")
    vec(rows, "classifier.2", "relu", 1, 4096)
    conv(rows, "classifier.4", 1, 4096, 4096, bias=1, bn=False, kind="linear")
    vec(rows, "classifier.5", "relu", 1, 4096)
    conv(rows, "classifier.6", 1, 4096, 1000, bias=1, bn=False, kind="linear")
    return rows


# --------------------------------------------------------------------------- MobileNet-V2
def mobilenet_v2() -> list[dict]:
    rows: list[dict] = []
    h = conv(rows, "features.0.0", 224, 3, 32, r=3, s=2, pad=1)
    vec(rows, "features.0.2", "clip", h, 32)                     # ReLU6
    x = "features.0.2"
    inp, fi = 32, 1
    settings = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2),
                (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]
    for t, c, n, s in settings:
        for i in range(n):
            stride = s if i == 0 else 1
            hidden = inp * t
            p = f"features.{fi}.conv"
            j = 0
            if t != 1:
                conv(rows, f"{p}.0.0", h, inp, hidden, r=1, inputs=x)
                vec(rows, f"{p}.0.2", "clip", h, hidden)
                j = 1
            ho = conv(rows, f"{p}.{j}.0", h, hidden, hidden, r=3, s=stride, pad=1,
                      groups=hidden, inputs="" if t != 1 else x)
            vec(rows, f"{p}.{j}.2", "clip", ho, hidden)
            conv(rows, f"{p}.{j + 1}", ho, hidden, c, r=1)        # + bn at {j+2}
            x = f"{p}.{j + 1}"
            if stride == 1 and inp == c:
                vec(rows, f"features.{fi}.add", "add", ho, c,
                    inputs=f"{p}.{j + 1} {rows_input(rows, p)}")
                x = f"features.{fi}.add"
            inp, h, fi = c, ho, fi + 1
    conv(rows, f"features.{fi}.0", h, inp, 1280, r=1, inputs=x)
    vec(rows, f"features.{fi}.2", "clip", h, 1280)
    vec(rows, "avgpool", "globalavgpool", h, 1280, out_h=1, out_w=1)
    conv(rows, "classifier.1", 1, 1280, 1000, bias=1, bn=False, kind="linear")
    return rows


def rows_input(rows: list[dict], prefix: str) -> str:
    """The tensor the first row of block ``prefix`` reads (its input)."""
    first = next(r for r in rows if r["name"].startswith(prefix))
    return first["inputs"]


# --------------------------------------------------------------------------- DeiT-tiny
def deit_tiny() -> list[dict]:
    rows: list[dict] = []
    dim, depth, heads, mlp, patch = 192, 12, 3, 768, 16
    tokens = (224 // patch) ** 2 + 1          # 196 patches + cls token = 197
    hd = dim // heads                         # 64
    ln = 2 * dim                              # LayerNorm weight + bias
    # patch embedding conv 16x16/16 (bias); cls token (dim) and position embedding (tokens*dim)
    conv(rows, "patch_embed.proj", 224, 3, dim, r=patch, s=patch, bias=1, bn=False,
         extra=dim + tokens * dim)
    # flatten + transpose are views; the cls token is concatenated, the position embedding added
    vec(rows, "cls_token.concat", "concat", tokens - 1, dim, w=1, out_h=tokens, out_w=1)
    vec(rows, "pos_embed.add", "add", tokens, dim, w=1)
    x = "pos_embed.add"
    for b in range(depth):
        p = f"blocks.{b}"
        vec(rows, f"{p}.norm1", "layernorm", tokens, dim, w=1, inputs=x)
        conv(rows, f"{p}.attn.qkv", tokens, dim, 3 * dim, bias=1, bn=False, kind="linear",
             extra=ln, w=1)                                          # + norm1's parameters
        conv(rows, f"{p}.attn.qk", tokens, hd, tokens, bn=False, kind="matmul", batch=heads,
             w=1, inputs=f"{p}.attn.qkv {p}.attn.qkv")               # Q K^T per head
        vec(rows, f"{p}.attn.softmax", "softmax", tokens, tokens, w=1, batch=heads)
        conv(rows, f"{p}.attn.av", tokens, tokens, hd, bn=False, kind="matmul", batch=heads,
             w=1, inputs=f"{p}.attn.softmax {p}.attn.qkv")           # softmax(.) V per head
        conv(rows, f"{p}.attn.proj", tokens, dim, dim, bias=1, bn=False, kind="linear", w=1)
        vec(rows, f"{p}.add1", "add", tokens, dim, w=1, inputs=f"{p}.attn.proj {x}")
        vec(rows, f"{p}.norm2", "layernorm", tokens, dim, w=1)
        conv(rows, f"{p}.mlp.fc1", tokens, dim, mlp, bias=1, bn=False, kind="linear",
             extra=ln, w=1)                                          # + norm2's parameters
        vec(rows, f"{p}.mlp.act", "gelu", tokens, mlp, w=1)
        conv(rows, f"{p}.mlp.fc2", tokens, mlp, dim, bias=1, bn=False, kind="linear", w=1)
        vec(rows, f"{p}.add2", "add", tokens, dim, w=1, inputs=f"{p}.mlp.fc2 {p}.add1")
        x = f"{p}.add2"
    # final norm (on all tokens), the cls token sliced out, head on it
    vec(rows, "norm", "layernorm", tokens, dim, w=1)
    vec(rows, "cls.slice", "slice", tokens, dim, w=1, out_h=1)
    conv(rows, "head", 1, dim, 1000, bias=1, bn=False, kind="linear", extra=ln)
    return rows


# --------------------------------------------------------------------------- LLaMA decoders
#: TinyLlama-1.1B (HF config of TinyLlama/TinyLlama-1.1B-intermediate-step-1431k-3T):
#: hidden 2048, 22 layers, 32 heads (head dim 64), 4 KV heads, MLP 5632, vocabulary 32000,
#: RMSNorm, untied embedding and LM head, no biases.
TINYLLAMA = dict(hidden=2048, layers=22, heads=32, kv_heads=4, mlp=5632, vocab=32000)
#: the shipped instances: a 512-token prompt, and one decoded token with those 512 in context
TINYLLAMA_CONTEXT = 512


def llama(hidden: int, layers: int, heads: int, kv_heads: int, mlp: int, vocab: int,
          phase: str, context: int) -> list[dict]:
    """A LLaMA-style decoder (HF ``modeling_llama``) as layer rows.

    ``prefill``: ``context`` prompt tokens at once; ``decode``: one new token attending to
    ``context`` cached ones plus itself.  Per layer: input RMSNorm (``hidden`` params, in
    q_proj's extra_params) -> q/k/v projections -> attention -> o_proj -> post-attention RMSNorm
    (in gate_proj's) -> gate/up projections -> SiLU * up -> down projection.  Grouped-query
    attention: the ``heads / kv_heads`` query heads that share a KV head are one matmul's rows,
    so a matmul's ``batch`` is the KV heads and its stationary operand is exactly the KV cache
    (K^T: head_dim x keys, V: keys x head_dim).  Prefill counts the full (unmasked) score
    matrix, as MAC counts usually do.  The embedding is a lookup (its table in the first row's
    extra_params); the final RMSNorm and the LM head run on the last token only (the one whose
    logits generation needs)."""
    hd = hidden // heads
    group = heads // kv_heads
    kv = kv_heads * hd
    tokens = context if phase == "prefill" else 1
    keys = context if phase == "prefill" else context + 1
    cache = "previous" if phase == "prefill" else "dram"     # decode reads the KV cache
    rows: list[dict] = []

    def lin(name, d_in, d_out, extra=0, m=tokens, inputs=""):
        conv(rows, name, m, d_in, d_out, bn=False, kind="linear", extra=extra, w=1,
             inputs=inputs)
    x = "input"                                                        # embeddings (a lookup)
    for i in range(layers):
        p = f"model.layers.{i}"
        vec(rows, f"{p}.input_layernorm", "rmsnorm", tokens, hidden, w=1, inputs=x)
        n1 = f"{p}.input_layernorm"
        lin(f"{p}.self_attn.q_proj", hidden, hidden,
            extra=hidden + (vocab * hidden if i == 0 else 0))          # + input_layernorm
        lin(f"{p}.self_attn.k_proj", hidden, kv, inputs=n1)
        lin(f"{p}.self_attn.v_proj", hidden, kv, inputs=n1)
        # RoPE (elementwise on q and k) is not listed; decode reads K and V from the cache
        qk_in = f"{p}.self_attn.q_proj" + ("" if cache == "dram" else f" {p}.self_attn.k_proj")
        conv(rows, f"{p}.self_attn.qk", tokens * group, hd, keys, bn=False, kind="matmul",
             batch=kv_heads, w=1, operand=cache, inputs=qk_in)        # Q K^T per KV head
        vec(rows, f"{p}.self_attn.softmax", "softmax", tokens * group, keys, w=1,
            batch=kv_heads)
        av_in = f"{p}.self_attn.softmax" + ("" if cache == "dram" else f" {p}.self_attn.v_proj")
        conv(rows, f"{p}.self_attn.av", tokens * group, keys, hd, bn=False, kind="matmul",
             batch=kv_heads, w=1, operand=cache, inputs=av_in)        # softmax(.) V
        lin(f"{p}.self_attn.o_proj", hidden, hidden)
        vec(rows, f"{p}.add1", "add", tokens, hidden, w=1, inputs=f"{p}.self_attn.o_proj {x}")
        vec(rows, f"{p}.post_attention_layernorm", "rmsnorm", tokens, hidden, w=1)
        n2 = f"{p}.post_attention_layernorm"
        lin(f"{p}.mlp.gate_proj", hidden, mlp, extra=hidden)           # + post_attention_ln
        vec(rows, f"{p}.mlp.act", "silu", tokens, mlp, w=1)
        lin(f"{p}.mlp.up_proj", hidden, mlp, inputs=n2)
        vec(rows, f"{p}.mlp.mul", "mul", tokens, mlp, w=1,
            inputs=f"{p}.mlp.act {p}.mlp.up_proj")
        lin(f"{p}.mlp.down_proj", mlp, hidden)
        vec(rows, f"{p}.add2", "add", tokens, hidden, w=1, inputs=f"{p}.mlp.down_proj {p}.add1")
        x = f"{p}.add2"
    if tokens > 1:
        vec(rows, "last_token", "slice", tokens, hidden, w=1, out_h=1, inputs=x)
        x = "last_token"
    vec(rows, "model.norm", "rmsnorm", 1, hidden, w=1, inputs=x)
    lin("lm_head", hidden, vocab, extra=hidden, m=1)                   # + final norm
    return rows


def tiny() -> list[dict]:
    rows: list[dict] = []
    h = conv(rows, "conv1", 16, 3, 8, r=3, s=2, pad=1)                 # 8x8x8
    h = conv(rows, "dw2", h, 8, 8, r=3, pad=1, groups=8)              # depthwise
    h = conv(rows, "pw2", h, 8, 16, r=1)
    conv(rows, "tok", h * h, 16, 16, bias=1, bn=False, kind="linear", w=1)
    conv(rows, "attn", h * h, 16, h * h, bn=False, kind="matmul", batch=2, w=1)
    conv(rows, "fc", 1, 16, 10, bias=1, bn=False, kind="linear")
    return rows


HEADERS = {
    "resnet18": [
        "ResNet-18, torchvision.models.resnet18 (torchvision/models/resnet.py: BasicBlock,",
        "layers [2, 2, 2, 2]). Input 224x224x3, batch 1.",
        "conv1 7x7/2 pad 3 -> ReLU -> 3x3/2 max-pool pad 1 -> 4 stages of blocks (conv, ReLU,",
        "conv, residual add with the block input or its 1x1 downsample, ReLU) -> global avg-pool",
        "-> fc 512->1000 (bias). Batch norm is folded into each conv; extra_params = its",
        "weight+bias (2 per channel). MACs count conv/fc only (no pool, add, ReLU).",
    ],
    "resnet50": [
        "ResNet-50 v1.5, torchvision.models.resnet50 (torchvision/models/resnet.py: Bottleneck,",
        "layers [3, 4, 6, 3], expansion 4; the stride sits on the 3x3 conv2 of each bottleneck).",
        "Input 224x224x3, batch 1. conv1 7x7/2 pad 3 -> ReLU -> 3x3/2 max-pool pad 1 -> stages",
        "(each block ends in a residual add and ReLU) -> global avg-pool -> fc 2048->1000 (bias).",
        "BN folded into each conv; extra_params = BN weight+bias of the BN after each conv.",
    ],
    "vgg16": [
        "VGG-16 without batch norm, torchvision.models.vgg16 (torchvision/models/vgg.py, cfg 'D').",
        "Input 224x224x3, batch 1. 3x3 pad 1 convs with bias and ReLU, 2x2/2 max-pools;",
        "adaptive avg-pool 7x7 is the identity at 224; classifier 25088->4096->4096->1000 (bias).",
    ],
    "alexnet": [
        "AlexNet, torchvision.models.alexnet (torchvision/models/alexnet.py; 64-192-384-256-256",
        "channels, the 'one weird trick' variant). Input 224x224x3, batch 1.",
        "conv 11x11/4 pad 2 -> 55x55; ReLUs; 3x3/2 max-pools -> 27 -> 13 -> 6; adaptive",
        "avg-pool 6x6 (identity here); classifier 9216->4096->4096->1000, all with bias.",
    ],
    "mobilenet_v2": [
        "MobileNet-V2 width 1.0, torchvision.models.mobilenet_v2",
        "(torchvision/models/mobilenetv2.py; inverted residual settings t,c,n,s = 1,16,1,1",
        "6,24,2,2 6,32,3,2 6,64,4,2 6,96,3,1 6,160,3,2 6,320,1,1). Input 224x224x3, batch 1.",
        "Depthwise 3x3 convs have groups = channels. Convs have no bias; extra_params = BN",
        "weight+bias of the BN after each conv. ReLU6 as clip; residual adds where stride is 1",
        "and channels match; global avg-pool; classifier: dropout + linear 1280->1000 (bias).",
    ],
    "deit_tiny": [
        "DeiT-tiny, timm deit_tiny_patch16_224 (timm/models/deit.py, vision_transformer.py):",
        "patch 16, dim 192, depth 12, 3 heads (head dim 64), MLP 768, 197 tokens (196 + cls).",
        "patch_embed.proj: 16x16/16 conv (bias); its extra_params = cls token (192) + position",
        "embedding (197*192); cls token concatenated, position embedding added. Each block:",
        "norm1 (LayerNorm, 2*192 params, in qkv's extra_params) -> qkv linear -> per head",
        "Q K^T (197x64 @ 64x197), softmax, A V (197x197 @ 197x64) as matmul rows with batch = 3",
        "heads (no weights) -> proj -> residual add -> norm2 (in fc1's extra_params) -> fc1 ->",
        "GELU -> fc2 -> residual add. Final norm (in head's extra_params); head 192->1000 on the",
        "cls token only (sliced out). MACs include the attention matmuls and the head; softmax,",
        "GELU, LayerNorm and residual adds are vector operators (no MACs).",
    ],
    "tinyllama-1.1b-prefill": [
        "TinyLlama-1.1B, prefill of a 512-token prompt (HF TinyLlama/TinyLlama-1.1B-intermediate-",
        "step-1431k-3T config: hidden 2048, 22 layers, 32 heads of 64, 4 KV heads, MLP 5632 SiLU,",
        "vocabulary 32000, RMSNorm, untied LM head, no biases; transformers modeling_llama.py).",
        "Attention as matmul rows per KV head (batch = 4; the 8 query heads sharing a KV head are",
        "its rows), the full 512x512 score matrix counted. Embedding table (a lookup) in the first",
        "row's extra_params, RMSNorms in the next projection's; final norm + LM head on the last",
        "token. RMSNorm, softmax, SiLU * up and residual adds are vector operators (no MACs);",
        "RoPE is not listed.",
    ],
    "tinyllama-1.1b-decode": [
        "TinyLlama-1.1B (HF TinyLlama/TinyLlama-1.1B-intermediate-step-1431k-3T), decode of one",
        "token with 512 tokens in the KV cache (so 513 keys); same model and conventions as",
        "tinyllama-1.1b-prefill. Every projection is a GEMV (M = 1);",
        "qk/av read the KV cache from DRAM as their stationary operand (operand = dram; K^T",
        "64x513 and V 513x64 per KV head, INT8); the new token's own K/V row is in it.",
    ],
    "tiny": [
        "tiny: a small made-up network for tests (not a published model): a strided conv, a",
        "depthwise conv, a pointwise conv, a linear over 64 tokens, a 2-head matmul and a head.",
    ],
}

NETS = {
    "resnet18": lambda: resnet("basic", [2, 2, 2, 2]),
    "resnet50": lambda: resnet("bottleneck", [3, 4, 6, 3]),
    "vgg16": vgg16,
    "alexnet": alexnet,
    "mobilenet_v2": mobilenet_v2,
    "deit_tiny": deit_tiny,
    "tinyllama-1.1b-prefill": lambda: llama(**TINYLLAMA, phase="prefill",
                                            context=TINYLLAMA_CONTEXT),
    "tinyllama-1.1b-decode": lambda: llama(**TINYLLAMA, phase="decode",
                                           context=TINYLLAMA_CONTEXT),
    "tiny": tiny,
}

# Published totals (reference-data.md section 1), checked before writing.
EXPECTED = {
    "resnet18": (1_814_073_344, 11_689_512),
    "resnet50": (4_089_184_256, 25_557_032),
    "vgg16": (15_470_264_320, 138_357_544),
    "alexnet": (714_188_480, 61_100_840),
    "mobilenet_v2": (300_774_272, 3_504_872),
    "deit_tiny": (1_253_683_200, 5_717_416),
    # parameters: TinyLlama-1.1B's published count; MACs from its config in closed form:
    # 22 * (tokens * per-token projections + 2 * 32 heads * tokens * 64 * keys) + LM head
    "tinyllama-1.1b-prefill": (519_756_578_816, 1_100_048_384),
    "tinyllama-1.1b-decode": (1_080_647_680, 1_100_048_384),
}


def render(name: str, rows: list[dict]) -> str:
    cols = [c for c in COLUMNS if c not in DEFAULTS or any(r[c] != DEFAULTS[c] for r in rows)]
    table = [cols] + [[str(r[c]) for c in cols] for r in rows]
    widths = [max(len(t[i]) for t in table) for i in range(len(cols))]
    lines = [f"# {t}" for t in HEADERS[name]]
    lines.append("# Generated by scripts/gen_zoo.py; format: docs/workloads.md.")
    if name in EXPECTED:
        m, p = EXPECTED[name]
        lines.append(f"# Totals: {m:,} MACs, {p:,} parameters "
                     "(weights + biases + norms/embeddings).")
    for t in table:
        lines.append(", ".join(v.rjust(w) if i > 1 else v.ljust(w)
                               for i, (v, w) in enumerate(zip(t, widths, strict=True))).rstrip())
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="compare with workloads/, do not write")
    args = ap.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    from ewssim.workload.topology import parse_topology_text

    status = 0
    for name, fn in NETS.items():
        text = render(name, fn())
        net = parse_topology_text(text, source=f"{name}.csv", name=name)
        if name in EXPECTED and (net.macs, net.params) != EXPECTED[name]:
            print(f"{name}: got {net.macs:,} MACs / {net.params:,} params, "
                  f"expected {EXPECTED[name][0]:,} / {EXPECTED[name][1]:,}", file=sys.stderr)
            status = 1
        path = OUT / f"{name}.csv"
        if args.check:
            if not path.exists() or path.read_text() != text:
                print(f"{path} differs from the generator", file=sys.stderr)
                status = 1
        elif status == 0:
            path.write_text(text)
        print(f"{name:13s} {len(net):4d} layers {net.macs:>16,} MACs {net.params:>13,} params")
    return status


if __name__ == "__main__":
    raise SystemExit(main())
