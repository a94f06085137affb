"""`ewssim workload list|show`: output, JSON, errors (exit 2, one stderr line)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from ewssim.cli import main

SS = ("Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, "
      "Strides,\nConv1, 224, 224, 7, 7, 3, 64, 2,\nFC6, 1, 1, 1, 1, 2048, 1000, 1,\n")


def run(capsys, *argv):
    rc = main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


def test_list(capsys):
    rc, out, err = run(capsys, "workload", "list")
    assert rc == 0 and err == ""
    assert "4,089,184,256" in out and "25,557,032" in out
    for name in ("resnet18", "resnet50", "vgg16", "alexnet", "mobilenet_v2", "deit_tiny"):
        assert name in out
    assert "MACs" in out.splitlines()[0]


def test_show_table(capsys):
    rc, out, err = run(capsys, "workload", "show", "tiny")
    assert rc == 0 and err == ""
    header = next(line for line in out.splitlines() if line.startswith("#"))
    for col in ("layer", "type", "shape", "M", "Kr", "N", "MACs", "weights"):
        assert col in header
    assert "dw2" in out and "g8" in out and "2x[64x16]@[16x64]" in out
    assert "total MACs" in out and "174,240" in out


def test_show_json_resnet50(capsys):
    rc, out, err = run(capsys, "workload", "show", "resnet50", "--json")
    assert rc == 0 and err == ""
    d = json.loads(out)
    assert set(d) == {"name", "layers", "macs", "params", "weights", "vector_ops", "vector_work"}
    assert d["macs"] == 4089184256 and d["params"] == 25557032
    assert len(d["layers"]) == 54
    ops = [v["type"] for v in d["vector_ops"]]
    assert ops.count("add") == 16 and ops.count("relu") == 49
    assert ops.count("maxpool") == ops.count("globalavgpool") == 1
    assert d["vector_work"] == sum(v["work"] for v in d["vector_ops"])
    adds = [v for v in d["vector_ops"] if v["type"] == "add"]
    assert adds[0]["inputs"] == ["layer1.0.conv3", "layer1.0.downsample.0"]
    first = d["layers"][0]
    for key in ("name", "type", "m", "kr", "n", "macs", "weights", "params", "in_h", "in_w",
                "in_c", "out_c", "kernel_h", "kernel_w", "stride_h", "pad_h", "groups"):
        assert key in first
    assert (first["m"], first["kr"], first["n"]) == (112 * 112, 147, 64)
    assert sum(la["macs"] for la in d["layers"]) == d["macs"]


def test_show_scalesim_file(capsys, tmp_path):
    p = tmp_path / "ss.csv"
    p.write_text(SS)
    rc, out, _ = run(capsys, "workload", "show", str(p), "--json")
    d = json.loads(out)
    assert rc == 0 and d["name"] == "ss" and len(d["layers"]) == 2
    # SCALE-Sim rounds the output size up
    assert (d["layers"][0]["m"], d["layers"][0]["kr"]) == (110 * 110, 147)


@pytest.mark.parametrize(
    "content, needle",
    [
        (None, "unknown network"),
        ("name,type,in_h,in_w,in_c,out_c,colour\na,conv,4,4,3,5,red\n", ":1: field 'colour'"),
        ("name,type,in_h,in_w,in_c,out_c\na,conv,4,4,0,5\n", ":2: field 'in_c'"),
        ("name,type,in_h,in_w,in_c,out_c,groups\na,conv,4,4,6,4,4\n", ":2: field 'groups'"),
        (SS.replace("7, 7, 3", "7, 700, 3"), ":2: field 'Filter Width'"),
    ],
)
def test_errors_one_line_exit_2(capsys, tmp_path, content, needle):
    arg = "no_such_net"
    if content is not None:
        p = tmp_path / "bad.csv"
        p.write_text(content)
        arg = str(p)
    rc, out, err = run(capsys, "workload", "show", arg)
    assert rc == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("ewssim: error: ")
    assert needle in err and "Traceback" not in err


def test_missing_subcommand_exits_2(capsys):
    with pytest.raises(SystemExit) as ei:
        main(["workload"])
    assert ei.value.code == 2
    assert capsys.readouterr().err.count("\n") == 1


def test_subprocess_json():
    r = subprocess.run([sys.executable, "-m", "ewssim", "workload", "show", "resnet50", "--json"],
                       capture_output=True, text=True, timeout=60, check=False)
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert (d["macs"], d["params"]) == (4089184256, 25557032)

