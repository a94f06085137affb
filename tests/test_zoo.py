"""The network zoo reproduces the published totals exactly (reference-data.md section 1)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from ewssim.errors import InputError
from ewssim.workload import load_network, zoo_names
from ewssim.workload.topology import zoo_dir

# network: (MACs, params, layer rows) -- batch 1, 224x224; MACs of conv/linear/matmul only.
PUBLISHED = {
    "resnet18": (1_814_073_344, 11_689_512, 21),
    "resnet50": (4_089_184_256, 25_557_032, 54),
    "vgg16": (15_470_264_320, 138_357_544, 16),
    "alexnet": (714_188_480, 61_100_840, 8),
    "mobilenet_v2": (300_774_272, 3_504_872, 53),
    "deit_tiny": (1_253_683_200, 5_717_416, 74),
    # TinyLlama-1.1B: its published parameter count; MACs from its config (test below)
    "tinyllama-1.1b-prefill": (519_756_578_816, 1_100_048_384, 199),
    "tinyllama-1.1b-decode": (1_080_647_680, 1_100_048_384, 199),
}


def test_tinyllama_totals_from_its_config():
    """The MACs above, from the HF config alone (hidden 2048, 22 layers, 32 heads of 64, 4 KV
    heads, MLP 5632, vocabulary 32000): per token q, o (2048 x 2048), k, v (2048 x 256) and
    gate, up, down (2048 x 5632); attention 2 x 32 heads x 64 x keys per query token; the LM
    head once.  Parameters: + embedding, 2 RMSNorms per layer and the final one."""
    h, n, heads, hd, kv, mlp, vocab = 2048, 22, 32, 64, 256, 5632, 32000
    per_token = 2 * h * h + 2 * h * kv + 3 * h * mlp
    for name, tokens, keys in (("tinyllama-1.1b-prefill", 512, 512),
                               ("tinyllama-1.1b-decode", 1, 513)):
        net = load_network(name)
        assert net.macs == n * (tokens * per_token + 2 * heads * tokens * hd * keys) + h * vocab
        assert net.params == vocab * h + n * (per_token + 2 * h) + h + h * vocab == \
            1_100_048_384
    decode = load_network("tinyllama-1.1b-decode")
    cache = [la for la in decode.layers if la.kind == "matmul"]
    assert len(cache) == 44 and all(la.operand == "dram" for la in cache)
    # the KV cache of one layer: K and V, 4 KV heads x 64 x 513 keys, INT8
    assert sum(la.input_bytes() - la.batch * la.in_h * la.in_c for la in cache[:2]) == \
        2 * 4 * 64 * 513


def test_zoo_names():
    assert zoo_names() == sorted([*PUBLISHED, "tiny", "ppocr-det"])


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_published_totals(name):
    macs, params, n = PUBLISHED[name]
    net = load_network(name)
    assert net.name == name
    assert net.macs == macs
    assert net.params == params
    assert len(net) == n


def test_case_insensitive_and_path():
    a = load_network("ResNet50")
    b = load_network(str(zoo_dir() / "resnet50.csv"))
    assert a.macs == b.macs and len(a) == len(b)


def test_unknown_name_lists_zoo():
    with pytest.raises(InputError) as ei:
        load_network("resnet51")
    msg = str(ei.value)
    assert "resnet51" in msg and "field 'network'" in msg
    for name in PUBLISHED:
        assert name in msg


def test_directory_is_not_a_network(tmp_path):
    with pytest.raises(InputError, match="not a file"):
        load_network(str(tmp_path))


def test_structure_details():
    r50 = {la.name: la for la in load_network("resnet50")}
    # v1.5: the stride-2 of stage 2..4 sits on the 3x3 conv2
    assert r50["layer2.0.conv2"].stride_h == 2 and r50["layer2.0.conv1"].stride_h == 1
    assert r50["layer2.0.downsample.0"].stride_h == 2
    mb = load_network("mobilenet_v2")
    dws = [la for la in mb if la.is_depthwise]
    assert len(dws) == 17 and all(la.gemm.kr == 9 for la in dws)
    deit = load_network("deit_tiny")
    mm = [la for la in deit if la.kind == "matmul"]
    assert len(mm) == 24 and all(la.batch == 3 and la.weights == 0 for la in mm)
    assert sum(la.macs for la in mm) == 12 * 2 * 3 * 197 * 197 * 64
    tiny = load_network("tiny")
    assert {la.kind for la in tiny} == {"conv", "linear", "matmul"}
    assert any(la.is_depthwise for la in tiny)


def test_zoo_files_cite_sources():
    for name in PUBLISHED:
        head = (zoo_dir() / f"{name}.csv").read_text().splitlines()[0]
        assert head.startswith("#") and any(src in head for src in ("torchvision", "timm",
                                                                  "HF TinyLlama"))


def test_generator_matches_shipped_files():
    script = Path(__file__).resolve().parents[1] / "scripts" / "gen_zoo.py"
    if not script.is_file():
        pytest.skip("scripts/ not available")
    spec = importlib.util.spec_from_file_location("gen_zoo", script)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    for name, fn in mod.NETS.items():
        assert mod.render(name, fn()) == (zoo_dir() / f"{name}.csv").read_text(), name
