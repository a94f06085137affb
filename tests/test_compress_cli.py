"""`ewssim compress` and `ewssim compress inspect` end to end on small networks."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ewssim.cli import main
from ewssim.compress import load_network_dir

CSV = """name,type,in_h,in_w,in_c,out_c,kernel_h,kernel_w,stride_h,stride_w,pad_h,pad_w,groups
stem,conv,16,16,3,16,3,3,1,1,1,1,1
body,conv,16,16,16,32,3,3,2,2,1,1,1
dw,conv,8,8,32,32,3,3,1,1,1,1,32
head,linear,1,1,32,10,1,1,1,1,0,0,1
"""


@pytest.fixture
def csv(tmp_path):
    p = tmp_path / "net.csv"
    p.write_text(CSV)
    return p


def _run(capsys, *argv):
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def test_compress_and_inspect_csv(tmp_path, csv, capsys):
    out = tmp_path / "out"
    rc, text, err = _run(capsys, "compress", "--workload", csv, "--method", "mvq", "--nm", "1:4",
                         "--k", "16", "--d", "8", "--weights", "synthetic", "--seed", "1",
                         "--mask-encoding", "positions", "--out", out)
    assert rc == 0, err
    assert "compressed net" in text and "vs FP32" in text
    cn = load_network_dir(out)
    assert [la.format.method for la in cn] == ["int8", "mvq", "int8", "mvq"]
    assert cn["body"].format.mask_encoding == "positions" and cn["body"].format.k == 16
    rc, text, err = _run(capsys, "compress", "inspect", out)
    assert rc == 0, err
    lines = text.splitlines()
    header = next(line for line in lines if line.startswith("layer"))
    for col in ("total[bit]", "vsFP32[x]", "vsINT8[x]", "SSE_all[w^2]", "SSE_kept[w^2]",
                "bits/weight"):
        assert col in header
    assert any(line.startswith("TOTAL") for line in lines)
    assert "storage bits = n_sub*ceil(log2 k)" in text
    assert "in_c/groups=3 is not a multiple of d=8" in text
    rc, text, _ = _run(capsys, "compress", "inspect", out, "--json")
    rep = json.loads(text)
    assert [r["name"] for r in rep["layers"]] == ["stem", "body", "dw", "head"]
    tot = rep["total"]
    assert tot["total_bits"] == sum(r["total_bits"] for r in rep["layers"])
    assert tot["ratio_fp32"] == tot["weights"] * 32 / tot["total_bits"]


def test_zoo_tiny_all_methods(tmp_path, capsys):
    for method in ("mvq", "vq", "ssvq", "casec", "dense"):
        out = tmp_path / method
        rc, _, err = _run(capsys, "compress", "--workload", "tiny", "--method", method,
                          "--k", "4", "--out", out)
        assert rc == 0, err
        cn = load_network_dir(out)
        assert cn.settings["method"] == {"dense": "int8"}.get(method, method)
        for la in cn:
            w8, scale = la.decode()
            assert w8.dtype == np.int8 and scale.shape == (la.weight_shape[0],)


@pytest.mark.parametrize("args,field", [
    (["--k", "12"], "--k"),
    (["--k", "1024"], "--k"),
    (["--d", "6"], "--d"),
    (["--nm", "1:x"], "--nm"),
    (["--nm", "3:2"], "--nm"),
    (["--method", "vq", "--nm", "1:4"], "--nm"),
    (["--fit", "error"], "--d"),
    (["--codebook-groups", "3"], "--codebook-groups"),
])
def test_bad_input_exit_2_one_line(tmp_path, csv, capsys, args, field):
    out = tmp_path / "out"
    rc, _, err = _run(capsys, "compress", "--workload", csv, "--out", out, *args)
    assert rc == 2
    assert err.count("\n") == 1 and f"field '{field}'" in err, err
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["net.csv"]


def test_bad_weights_midway_leaves_out_clean(tmp_path, csv, capsys):
    w = tmp_path / "w.npz"
    np.savez(w, stem=np.ones((16, 3, 3, 3), np.float32), body=np.ones((32, 16, 3, 3), np.float32),
             dw=np.ones((32, 1, 3, 3), np.float32), head=np.ones((10, 31), np.float32))
    out = tmp_path / "out"
    rc, _, err = _run(capsys, "compress", "--workload", csv, "--k", "16", "--weights", w,
                      "--out", out)
    assert rc == 2 and err.count("\n") == 1
    assert "w.npz" in err and "head" in err and "(10, 31)" in err
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["net.csv", "w.npz"]


def test_inspect_errors(tmp_path, capsys):
    rc, _, err = _run(capsys, "compress", "inspect", tmp_path / "none")
    assert rc == 2 and err.count("\n") == 1 and "none" in err
    rc, _, err = _run(capsys, "compress", "--out", tmp_path / "o")
    assert rc == 2 and "field '--workload" in err
