#!/usr/bin/env python3
"""Record SCALE-Sim v3 ground truth for ewssim by running SCALE-Sim itself.

Two suites:

* ``calc`` (default): InterfaceBandwidth CALC (plus four USER runs for contrast)
  -> tests/data/scalesim_v3/cases.json
* ``user``: InterfaceBandwidth USER (real read/write buffers, stalls)
  -> tests/data/scalesim_v3/user_cases.json.

Every run of both suites stores the exact .cfg text given to SCALE-Sim (``cfg_text``), so tests
can read it with ewssim's own .cfg loader.

SCALE-Sim is NOT a dependency of ewssim.  It lives in its own virtual environment, given with
``--venv DIR`` or ``$SCALESIM_VENV`` (no default), created with

    python3 -m venv VENV
    VENV/bin/pip install 'numpy==1.26.4' 'scalesim==3.0.0'     # v3 crashes on numpy >= 2

This script needs only the standard library (Python >= 3.10); every SCALE-Sim run is a separate
``nice -n 10`` subprocess of the venv's interpreter, one at a time.  Configs, topologies and
SCALE-Sim's report folders go to a scratch directory (``--scratch DIR``; by default a fresh
temporary directory that is deleted at the end unless ``--keep-scratch``).

The ``peer_resnet50`` entry of cases.json (a peer's full ResNet-50 run, too slow to repeat here)
is rebuilt from ``--peer DIR`` (which must hold mlperf_Resnet50_32x32_ws.json) if given;
otherwise the entry already in the output file is kept unchanged.

Usage:
    SCALESIM_VENV=/path/to/venv python3 benchmarks/scalesim_gen.py            # calc suite
    python3 benchmarks/scalesim_gen.py --venv VENV --suite user                 # user suite
    python3 benchmarks/scalesim_gen.py --venv VENV --only ws8x8                 # re-run a subset
    python3 benchmarks/scalesim_gen.py --suite user --list                      # list and cost

With ``--only``, the selected cases are re-run and replaced inside the existing output file; all
other cases (and the file's other entries) are kept as they are.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DATA_DIR = REPO / "tests" / "data" / "scalesim_v3"
PEER_FILE = "mlperf_Resnet50_32x32_ws.json"
EXPECTED_VERSION = "3.0.0"

CONV_HEADER = (
    "Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter,"
    " Strides,"
)
GEMM_HEADER = "Layer, M, N, K,"

# ---------------------------------------------------------------------------------------------
# Workloads.  Conv rows: name, H, W, R, S, C, K, stride (SCALE-Sim uses the same stride for both
# axes).  Every row ends in a comma: SCALE-Sim drops the last comma-separated field of each row.
# ---------------------------------------------------------------------------------------------
CONV_A = [
    "cA_12x10_k3_s1, 12, 10, 3, 3, 4, 10, 1,",  # non-square ifmap
    "cB_10x10_k3_s2, 10, 10, 3, 3, 2, 5, 2,",  # (H-R)/s = 3.5 -> ceil rounding matters
    "cC_14x11_k5_s2, 14, 11, 5, 5, 3, 7, 2,",
    "cD_16x16_k7_s2, 16, 16, 7, 7, 3, 8, 2,",  # conv1-like, (16-7)/2 = 4.5
    "cE_8x8_k1_s1, 8, 8, 1, 1, 16, 20, 1,",  # 1x1
    "cF_15x15_k1_s2, 15, 15, 1, 1, 8, 12, 2,",  # 1x1 stride 2 (downsample)
    "cG_17x13_k3_s4, 17, 13, 3, 3, 2, 6, 4,",  # stride 4, both axes round up
]
CONV_B = [
    "cH_11x9_k7x3_s1, 11, 9, 7, 3, 2, 5, 1,",  # non-square filter
    "cI_9x12_k1x5_s1, 9, 12, 1, 5, 3, 4, 1,",  # non-square filter
    "cJ_6x6_k3_c1_n1, 6, 6, 3, 3, 1, 1, 1,",  # Kr=9, N=1: heavily under-utilised
    "cK_20x20_k5_s4, 20, 20, 5, 5, 1, 3, 4,",  # (20-5)/4 = 3.75
    "cL_7x7_k7_T1, 7, 7, 7, 7, 2, 3, 1,",  # filter == ifmap: T = 1
    "cM_13x13_k3_s3, 13, 13, 3, 3, 3, 4, 3,",  # stride 3
    "cN_8x8_k2_s2, 8, 8, 2, 2, 4, 6, 2,",  # even filter
]
CONV_SMALL = [  # under-utilised folds on most arrays (Kr < rows and/or N < cols)
    "cS1_6x5_k3_c1_n2, 6, 5, 3, 3, 1, 2, 1,",
    "cS2_5x7_k1_c3_n3, 5, 7, 1, 1, 3, 3, 1,",
    "cS3_9x9_k3_c2_n7_s2, 9, 9, 3, 3, 2, 7, 2,",
]
CONV_BIG32 = [  # a few layers sized for a 32x32 array (several folds each way)
    "cP1_12x12_k3_c8_n40, 12, 12, 3, 3, 8, 40, 1,",
    "cP2_16x16_k7_c3_n64_s2, 16, 16, 7, 7, 3, 64, 2,",
    "cP3_10x10_k1_c48_n33, 10, 10, 1, 1, 48, 33, 1,",
]
GEMM_A = [  # Layer, M, N, K
    "g1_m16_n10_k20, 16, 10, 20,",
    "g2_m5_n40_k3, 5, 40, 3,",
    "g3_m33_n7_k64, 33, 7, 64,",
    "g4_m1_n16_k16, 1, 16, 16,",
    "g5_m40_n1_k1, 40, 1, 1,",
    "g6_m24_n24_k24, 24, 24, 24,",
]

# The .cfg of the calc suite (SCALE-Sim's configs/scale.cfg with the fields below filled in).
CFG_TEMPLATE = """[general]
run_name = {run_name}

[architecture_presets]
ArrayHeight:    {array_rows}
ArrayWidth:     {array_cols}
IfmapSramSzkB:   {ifmap_sram_kb}
FilterSramSzkB:  {filter_sram_kb}
OfmapSramSzkB:   {ofmap_sram_kb}
IfmapOffset:    0
FilterOffset:   10000000
OfmapOffset:    20000000
Bandwidth : {bandwidth}
Dataflow : {dataflow}
MemoryBanks:   1
ReadRequestBuffer: 32
WriteRequestBuffer: 32

[layout]
IfmapCustomLayout: False
IfmapSRAMBankBandwidth: {sram_bank_bandwidth}
IfmapSRAMBankNum: {sram_bank_num}
IfmapSRAMBankPort: 2
FilterCustomLayout: False
FilterSRAMBankBandwidth: {sram_bank_bandwidth}
FilterSRAMBankNum: {sram_bank_num}
FilterSRAMBankPort: 2

[sparsity]
SparsitySupport : false
SparseRep : ellpack_block
OptimizedMapping : false
BlockSize : 8
RandomNumberGeneratorSeed : 40

[run_presets]
InterfaceBandwidth: {interface_bandwidth}
UseRamulatorTrace: False
"""


def _case(
    cid,
    rows,
    cols,
    layers,
    fmt="conv",
    sram=(64, 64, 64),
    bw_mode="CALC",
    bandwidth=10,
    bank_bw=10,
    bank_num=10,
    note="",
):
    config = {
        "array_rows": rows,  # ArrayHeight
        "array_cols": cols,  # ArrayWidth
        "ifmap_sram_kb": sram[0],
        "filter_sram_kb": sram[1],
        "ofmap_sram_kb": sram[2],
        "dataflow": "ws",
        "interface_bandwidth": bw_mode,
        "bandwidth": bandwidth,  # [architecture_presets] Bandwidth (used in USER mode only)
        "sram_bank_bandwidth": bank_bw,  # [layout] Ifmap/FilterSRAMBankBandwidth
        "sram_bank_num": bank_num,  # [layout] Ifmap/FilterSRAMBankNum
    }
    return {
        "id": cid,
        "note": note,
        "config": config,
        "cfg_text": CFG_TEMPLATE.format(run_name=cid, **config),  # exactly what SCALE-Sim reads
        "format": fmt,
        "topology_header": CONV_HEADER if fmt == "conv" else GEMM_HEADER,
        "topology_rows": list(layers),
    }


CASES = [
    # --- main sweep: CALC mode, 64 kB SRAMs --------------------------------------------------
    _case("ws8x8_convA", 8, 8, CONV_A),
    _case("ws8x8_convB", 8, 8, CONV_B),
    _case("ws8x8_small", 8, 8, CONV_SMALL),
    _case("ws8x8_gemm", 8, 8, GEMM_A, fmt="gemm"),
    _case("ws16x8_convA", 16, 8, CONV_A),
    _case("ws8x16_convA", 8, 16, CONV_A, note="transpose of ws16x8_convA: rows vs cols convention"),
    _case("ws16x8_gemm", 16, 8, GEMM_A, fmt="gemm"),
    _case("ws8x24_convB", 8, 24, CONV_B),
    _case("ws8x24_gemm", 8, 24, GEMM_A, fmt="gemm"),
    _case("ws4x4_convA", 4, 4, CONV_A),
    _case("ws4x4_convB", 4, 4, CONV_B),
    _case("ws4x4_gemm", 4, 4, GEMM_A, fmt="gemm"),
    _case("ws3x5_convB", 3, 5, CONV_B),
    _case("ws3x5_small", 3, 5, CONV_SMALL),
    _case("ws3x5_gemm", 3, 5, GEMM_A, fmt="gemm"),
    _case("ws5x3_convB", 5, 3, CONV_B, note="transpose of ws3x5_convB"),
    _case("ws16x16_convA", 16, 16, CONV_A),
    _case("ws16x16_small", 16, 16, CONV_SMALL),
    _case("ws16x16_gemm", 16, 16, GEMM_A, fmt="gemm"),
    _case("ws32x32_big", 32, 32, CONV_BIG32),
    _case("ws32x32_small", 32, 32, CONV_SMALL + ["cE_8x8_k1_s1, 8, 8, 1, 1, 16, 20, 1,"]),
    _case("ws32x32_gemm", 32, 32, GEMM_A, fmt="gemm"),
    _case(
        "ws1x1_tiny",
        1,
        1,
        ["cS1_6x5_k3_c1_n2, 6, 5, 3, 3, 1, 2, 1,", "g_as_conv_4x3, 4, 3, 1, 3, 1, 2, 1,"],
    ),
    _case("ws2x7_small", 2, 7, CONV_SMALL),
    # --- topology-format corner cases ----------------------------------------------------------
    _case(
        "ws8x8_single_cA",
        8,
        8,
        CONV_A[:1],
        note="layer run alone: must equal the same layer inside ws8x8_convA (no cross-layer state)",
    ),
    _case(
        "ws8x8_sparsity_col",
        8,
        8,
        [
            "sp11_12x10_k3_s1, 12, 10, 3, 3, 4, 10, 1, 1:1,",
            "sp24_12x10_k3_s1, 12, 10, 3, 3, 4, 10, 1, 2:4,",
        ],
        note="trailing N:M sparsity column with SparsitySupport=false",
    ),
    _case(
        "ws8x8_depthwise_DP",
        8,
        8,
        ["conv_DP_10x10_k3_c3, 10, 10, 3, 3, 3, 4, 1,"],
        note="a layer name containing 'DP' is split into C layers with C=1",
    ),
    _case(
        "ws8x8_gemm_sparsity_col",
        8,
        8,
        ["gs_m16_n10_k20, 16, 10, 20, 2:4,"],
        fmt="gemm",
        note="GEMM row with the optional N:M column, SparsitySupport=false",
    ),
    # --- SRAM size (CALC mode) -------------------------------------------------------------------
    _case("ws8x8_sram1k_convA", 8, 8, CONV_A, sram=(1, 1, 1)),
    _case("ws8x8_sram1k_gemm", 8, 8, GEMM_A, fmt="gemm", sram=(1, 1, 1)),
    _case("ws32x32_sram1k_big", 32, 32, CONV_BIG32, sram=(1, 1, 1)),
    _case("ws16x16_sram_mixed", 16, 16, CONV_A, sram=(2, 1, 4)),
    _case("ws8x8_sram1024k_convA", 8, 8, CONV_A, sram=(1024, 1024, 1024)),
    # --- USER bandwidth mode (for contrast; stalls may appear) ---------------------------------
    _case("ws8x8_user_bw10_convA", 8, 8, CONV_A, bw_mode="USER", bandwidth=10, bank_bw=10),
    _case(
        "ws8x8_user_bw1_sram1k_small",
        8,
        8,
        CONV_SMALL + CONV_A[:2],
        sram=(1, 1, 1),
        bw_mode="USER",
        bandwidth=1,
        bank_bw=1,
        bank_num=1,
    ),
    _case(
        "ws4x4_user_bw2_sram1k_gemm",
        4,
        4,
        GEMM_A,
        fmt="gemm",
        sram=(1, 1, 1),
        bw_mode="USER",
        bandwidth=2,
        bank_bw=2,
        bank_num=1,
    ),
    _case(
        "ws16x16_user_bw4_sram1k_convA",
        16,
        16,
        CONV_A,
        sram=(1, 1, 1),
        bw_mode="USER",
        bandwidth=4,
        bank_bw=4,
        bank_num=1,
    ),
    # --- real layers of SCALE-Sim's mlperf ResNet-50, its 32x32 config (cross-check of the peer)
    _case(
        "ws32x32_resnet50_layers",
        32,
        32,
        [
            "Conv1, 224, 224, 7, 7, 3, 64, 2,",
            "CB2a_1, 56, 56, 1, 1, 64, 64, 1,",
            "CB5a_1, 14, 14, 1, 1, 1024, 512, 2,",
        ],
        note="rows copied from mlperf_Resnet50.csv; must equal the same rows of peer_resnet50",
    ),
]


def _random_cases(seed: int = 20240611) -> list[dict]:
    """A seeded random sweep: for each array, 6 conv layers and 3 GEMM layers."""
    rng = random.Random(seed)
    arrays = [
        (8, 8),
        (16, 8),
        (8, 24),
        (32, 32),
        (4, 4),
        (3, 5),
        (16, 16),
        (2, 7),
        (12, 6),
        (7, 9),
        (1, 4),
        (6, 1),
    ]
    out = []
    for rows, cols in arrays:
        conv = []
        for i in range(6):
            r, s = rng.choice([1, 2, 3, 5, 7]), rng.choice([1, 2, 3, 5, 7])
            if rng.random() < 0.5:
                s = r
            st = rng.choice([1, 1, 2, 2, 3, 4])
            h, w = rng.randint(r, r + 18), rng.randint(s, s + 18)
            c, k = rng.randint(1, 12), rng.randint(1, 40)
            conv.append(
                f"r{i}_{h}x{w}_k{r}x{s}_c{c}_n{k}_s{st}, {h}, {w}, {r}, {s}, {c}, {k}, {st},"
            )
        gemm = []
        for i in range(3):
            m, n, kk = rng.randint(1, 60), rng.randint(1, 60), rng.randint(1, 90)
            gemm.append(f"rg{i}_m{m}_n{n}_k{kk}, {m}, {n}, {kk},")
        out.append(
            _case(f"rand_ws{rows}x{cols}_conv", rows, cols, conv, note=f"random sweep, seed {seed}")
        )
        out.append(
            _case(
                f"rand_ws{rows}x{cols}_gemm",
                rows,
                cols,
                gemm,
                fmt="gemm",
                note=f"random sweep, seed {seed}",
            )
        )
    return out


CASES += _random_cases()

# ---------------------------------------------------------------------------------------------
# USER suite: InterfaceBandwidth USER.  In this mode SCALE-Sim reads the ifmap/filter DRAM
# bandwidth from [layout] IfmapSRAMBankBandwidth / FilterSRAMBankBandwidth (words/cycle) and the
# ofmap drain bandwidth from the first value of [architecture_presets] Bandwidth.
# ---------------------------------------------------------------------------------------------
USER_CFG_TEMPLATE = """[general]
run_name = {run_name}

[architecture_presets]
ArrayHeight:    {array_rows}
ArrayWidth:     {array_cols}
IfmapSramSzkB:   {ifmap_sram_kb}
FilterSramSzkB:  {filter_sram_kb}
OfmapSramSzkB:   {ofmap_sram_kb}
IfmapOffset:    {ifmap_offset}
FilterOffset:   {filter_offset}
OfmapOffset:    {ofmap_offset}
Bandwidth : {bandwidth}
Dataflow : {dataflow}
MemoryBanks:   {memory_banks}
ReadRequestBuffer: {read_request_buffer}
WriteRequestBuffer: {write_request_buffer}

[layout]
IfmapCustomLayout: False
IfmapSRAMBankBandwidth: {ifmap_bank_bandwidth}
IfmapSRAMBankNum: {ifmap_bank_num}
IfmapSRAMBankPort: {ifmap_bank_port}
FilterCustomLayout: False
FilterSRAMBankBandwidth: {filter_bank_bandwidth}
FilterSRAMBankNum: {filter_bank_num}
FilterSRAMBankPort: {filter_bank_port}

[sparsity]
SparsitySupport : false
SparseRep : ellpack_block
OptimizedMapping : false
BlockSize : 8
RandomNumberGeneratorSeed : 40

[run_presets]
InterfaceBandwidth: USER
UseRamulatorTrace: False
"""

# extra small layers for the USER suite
CONV_U = [
    "cT1_5x5_k5_c4_n12, 5, 5, 5, 5, 4, 12, 1,",  # T = 1, Kr = 100
    "cDup_14x14_k3_c1_n6_s1, 14, 14, 3, 3, 1, 6, 1,",  # C = 1: many repeated ifmap addresses
    "cDup2_12x12_k5_c2_n4_s1, 12, 12, 5, 5, 2, 4, 1,",
]


def _ucase(
    cid,
    rows,
    cols,
    layers,
    fmt="conv",
    sram=(1, 1, 1),
    bw=4,
    ibw=None,
    fbw=None,
    inum=1,
    fnum=None,
    iport=2,
    fport=2,
    offsets=(0, 10000000, 20000000),
    note="",
    expect_error=False,
):
    """A USER-mode run.  bw: [architecture_presets] Bandwidth (str or int; only the first value
    is used, for the ofmap drain); ibw/fbw: Ifmap/FilterSRAMBankBandwidth (default bw)."""
    first_bw = int(str(bw).split(",")[0])
    ibw = first_bw if ibw is None else ibw
    fbw = ibw if fbw is None else fbw
    fnum = inum if fnum is None else fnum
    config = {
        "array_rows": rows,
        "array_cols": cols,
        "ifmap_sram_kb": sram[0],
        "filter_sram_kb": sram[1],
        "ofmap_sram_kb": sram[2],
        "ifmap_offset": offsets[0],
        "filter_offset": offsets[1],
        "ofmap_offset": offsets[2],
        "bandwidth": str(bw),
        "dataflow": "ws",
        "memory_banks": 1,
        "read_request_buffer": 32,
        "write_request_buffer": 32,
        "ifmap_bank_bandwidth": ibw,
        "ifmap_bank_num": inum,
        "ifmap_bank_port": iport,
        "filter_bank_bandwidth": fbw,
        "filter_bank_num": fnum,
        "filter_bank_port": fport,
        "interface_bandwidth": "USER",
    }
    case = {
        "id": cid,
        "note": note,
        "config": config,
        "cfg_text": USER_CFG_TEMPLATE.format(run_name=cid, **config),
        "format": fmt,
        "topology_header": CONV_HEADER if fmt == "conv" else GEMM_HEADER,
        "topology_rows": list(layers),
    }
    if expect_error:  # SCALE-Sim is expected to reject this configuration
        case["expect_error"] = True
    return case


def _user_cases() -> list[dict]:
    cA, cC, cD, cE = CONV_A[0], CONV_A[2], CONV_A[3], CONV_A[4]
    g1, g3, g6 = GEMM_A[0], GEMM_A[2], GEMM_A[5]
    out = []
    # 1. one bandwidth for everything, small SRAMs: from heavy stalls to none
    for b in (1, 2, 4, 8, 16, 32, 64):
        out.append(_ucase(f"u_bw{b}_8x8_conv", 8, 8, [cA, cE, cD], sram=(2, 2, 2), bw=b))
    for b in (1, 3, 8, 64):
        out.append(_ucase(f"u_bw{b}_8x8_gemm", 8, 8, [g1, g3, g6], fmt="gemm", bw=b))
    # 2. ofmap (write buffer) only: large read SRAMs and read bandwidth
    for b in (1, 2, 3, 5, 8, 13):
        out.append(
            _ucase(f"u_ofmap_bw{b}", 8, 8, [cA, cE, cD], sram=(64, 64, 1), bw=b, ibw=64, fbw=64)
        )
    out.append(_ucase("u_ofmap2k_bw1", 8, 8, [cA, cE], sram=(64, 64, 2), bw=1, ibw=64, fbw=64))
    # 3. ifmap read buffer only
    for b in (1, 2, 5, 10):
        out.append(
            _ucase(f"u_ifmap_bw{b}", 8, 8, [cA, cE, cC], sram=(1, 64, 64), bw=64, ibw=b, fbw=64)
        )
    # 4. filter read buffer only
    for b in (1, 2, 5, 10):
        out.append(
            _ucase(
                f"u_filter_bw{b}",
                8,
                8,
                [cD, cC, CONV_BIG32[0]],
                sram=(64, 1, 64),
                bw=64,
                ibw=64,
                fbw=b,
            )
        )
    # 5. bank count and ports (no custom layout): expected to change nothing
    for inum, fnum, ip, fp in ((1, 1, 2, 2), (2, 4, 1, 1), (4, 2, 4, 8)):
        out.append(
            _ucase(
                f"u_banks_i{inum}f{fnum}_p{ip}{fp}",
                8,
                8,
                [cA, cE],
                bw=4,
                inum=inum,
                fnum=fnum,
                iport=ip,
                fport=fp,
                note="same as u_banks_i1f1_p22 except bank count / ports",
            )
        )
    # 6. different ifmap and filter read bandwidths
    for ib, fb in ((2, 16), (16, 2)):
        out.append(_ucase(f"u_ibw{ib}_fbw{fb}", 8, 8, [cA, cD], bw=8, ibw=ib, fbw=fb))
    # 7. a Bandwidth list (only the first value is read); 8. other address offsets
    out.append(
        _ucase("u_bwlist_4_16", 8, 8, [cA, cE], bw="4,16", note="= u_banks_i1f1_p22 but list")
    )
    out.append(
        _ucase(
            "u_offsets",
            8,
            8,
            [cA, cE],
            bw=4,
            offsets=(123, 0, 7),
            note="= u_banks_i1f1_p22 but offsets",
        )
    )
    # 9. configurations SCALE-Sim rejects
    out.append(
        _ucase(
            "u_err_sram0k", 8, 8, [cE], sram=(0, 1, 1), bw=4, note="0 kB SRAM", expect_error=True
        )
    )
    out.append(
        _ucase(
            "u_err_bank_bw5_num2",
            8,
            8,
            [cE],
            bw=5,
            inum=2,
            note="bandwidth % banks != 0",
            expect_error=True,
        )
    )
    # 10. array shapes, tiny SRAMs
    shapes = [(1, 1), (2, 7), (4, 4), (8, 16), (16, 8), (16, 16), (32, 32), (3, 5), (6, 1), (1, 4)]
    for r, c in shapes:
        out.append(_ucase(f"u_arr{r}x{c}_small", r, c, CONV_SMALL + [cE], bw=2))
        out.append(_ucase(f"u_arr{r}x{c}_gemm", r, c, GEMM_A[:4], fmt="gemm", bw=3))
    # 11. large SRAMs: no stalls expected
    out.append(_ucase("u_32x32_sram256k", 32, 32, CONV_BIG32, sram=(256, 256, 256), bw=10))
    # 12. multi-layer: does state carry across layers?
    out.append(_ucase("u_multi_cA_cD_cA", 8, 8, [cA, cD, cA], bw=2))
    out.append(_ucase("u_multi_cA_alone", 8, 8, [cA], bw=2))
    # 13. depthwise (name contains DP)
    out.append(
        _ucase("u_depthwise_DP", 8, 8, ["conv_DP_10x10_k3_c3, 10, 10, 3, 3, 3, 4, 1,"], bw=2)
    )
    # 14. T = 1, Kr < rows, N < cols; repeated ifmap addresses
    for r, c in ((8, 8), (16, 16)):
        out.append(_ucase(f"u_edge_{r}x{c}", r, c, [CONV_B[4], CONV_B[3], CONV_U[0]], bw=1))
    for r, c in ((4, 4), (8, 8)):
        out.append(_ucase(f"u_dup_{r}x{c}", r, c, CONV_U[1:], bw=3))
    # 15. odd SRAM sizes
    for kb in (3, 5, 7):
        out.append(_ucase(f"u_sram{kb}k", 8, 8, [cA, cD], sram=(kb, kb, kb), bw=2))
    # 16. medium layers: real ResNet-50 rows (mlperf_Resnet50.csv) and scaled-down ones
    out.append(
        _ucase(
            "um_r50_32x32_64k",
            32,
            32,
            [
                "CB2a_1, 56, 56, 1, 1, 64, 64, 1,",
                "CB3a_1, 56, 56, 1, 1, 256, 128, 2,",
                "CB5a_1, 14, 14, 1, 1, 1024, 512, 2,",
            ],
            sram=(64, 64, 64),
            bw=10,
            inum=10,
            note="rows of mlperf_Resnet50.csv, 64 kB SRAMs, bandwidth 10",
        )
    )
    mid = [
        "s3x3_14x14_c64_n64, 14, 14, 3, 3, 64, 64, 1,",
        "Conv1_crop, 64, 64, 7, 7, 3, 64, 2,",
    ]
    out.append(_ucase("um_32x32_16k", 32, 32, mid, sram=(16, 16, 16), bw=8))
    out.append(_ucase("um_32x32_4k", 32, 32, mid, sram=(4, 4, 4), bw=4))
    out.append(
        _ucase(
            "um_16x16_mixed",
            16,
            16,
            [
                "s3x3_7x7_c128_n64, 7, 7, 3, 3, 128, 64, 1,",
                "s7x7_12x12_c3_n16, 12, 12, 7, 7, 3, 16, 1,",
            ],
            sram=(8, 4, 2),
            bw=2,
            ibw=16,
            fbw=4,
        )
    )
    return out


def _random_user_cases(seed: int = 20250301) -> list[dict]:
    """Seeded random USER runs: random SRAM sizes, bandwidths and bank counts per array."""
    rng = random.Random(seed)
    arrays = [
        (1, 1), (2, 7), (4, 4), (8, 8), (8, 16), (16, 8),
        (16, 16), (32, 32), (3, 5), (6, 1), (1, 4), (12, 6),
    ]  # fmt: skip
    sizes = [1, 1, 1, 2, 2, 3, 4, 6, 8, 16, 64]
    bws = [1, 2, 3, 4, 5, 6, 8, 10, 12, 16, 20, 32, 64]
    out = []
    for rows, cols in arrays:
        for run in range(3):
            fmt = "gemm" if run == 2 else "conv"
            layers = []
            for i in range(4 if fmt == "conv" else 3):
                if fmt == "conv":
                    r = rng.choice([1, 2, 3, 5])
                    s = r if rng.random() < 0.6 else rng.choice([1, 2, 3, 5])
                    st = rng.choice([1, 1, 2, 3])
                    h, w = rng.randint(r, r + 12), rng.randint(s, s + 12)
                    c, k = rng.randint(1, 8), rng.randint(1, 24)
                    layers.append(
                        f"r{i}_{h}x{w}_k{r}x{s}_c{c}_n{k}_s{st}, "
                        f"{h}, {w}, {r}, {s}, {c}, {k}, {st},"
                    )
                else:
                    m, n, kk = rng.randint(1, 40), rng.randint(1, 40), rng.randint(1, 60)
                    layers.append(f"rg{i}_m{m}_n{n}_k{kk}, {m}, {n}, {kk},")
            sram = tuple(rng.choice(sizes) for _ in range(3))
            ibw, fbw, obw = (rng.choice(bws) for _ in range(3))
            inum = rng.choice([d for d in (1, 2, 4) if ibw % d == 0])
            fnum = rng.choice([d for d in (1, 2, 4) if fbw % d == 0])
            out.append(
                _ucase(
                    f"ur_{rows}x{cols}_{run}",
                    rows,
                    cols,
                    layers,
                    fmt=fmt,
                    sram=sram,
                    bw=obw,
                    ibw=ibw,
                    fbw=fbw,
                    inum=inum,
                    fnum=fnum,
                    note=f"random USER sweep, seed {seed}",
                )
            )
    return out


def _random_user_cases_medium(seed: int = 20250302) -> list[dict]:
    """Seeded random USER runs with medium layers on larger arrays, a wider range of SRAM sizes
    and bandwidths (up to 512 words/cycle)."""
    rng = random.Random(seed)
    arrays = [(8, 8), (16, 16), (32, 32), (8, 32), (32, 8), (4, 16), (16, 4), (12, 20)]
    sizes = [1, 2, 3, 4, 8, 16, 32]
    bws = [1, 2, 4, 5, 8, 10, 16, 32, 64, 100, 512]
    out = []
    for rows, cols in arrays:
        for run in range(3):
            fmt = "gemm" if run == 2 else "conv"
            layers = []
            for i in range(3):
                if fmt == "conv":
                    r = rng.choice([1, 1, 3, 3, 5, 7])
                    st = rng.choice([1, 1, 2])
                    h = w = rng.randint(max(r, 6), 24)
                    c, k = rng.randint(1, 24), rng.randint(4, 72)
                    layers.append(
                        f"m{i}_{h}x{w}_k{r}_c{c}_n{k}_s{st}, {h}, {w}, {r}, {r}, {c}, {k}, {st},"
                    )
                else:
                    m, n, kk = rng.randint(8, 160), rng.randint(4, 90), rng.randint(8, 200)
                    layers.append(f"mg{i}_m{m}_n{n}_k{kk}, {m}, {n}, {kk},")
            sram = tuple(rng.choice(sizes) for _ in range(3))
            ibw, fbw, obw = (rng.choice(bws) for _ in range(3))
            out.append(
                _ucase(
                    f"urm_{rows}x{cols}_{run}",
                    rows,
                    cols,
                    layers,
                    fmt=fmt,
                    sram=sram,
                    bw=obw,
                    ibw=ibw,
                    fbw=fbw,
                    inum=rng.choice([d for d in (1, 2, 4) if ibw % d == 0]),
                    fnum=rng.choice([d for d in (1, 2, 4) if fbw % d == 0]),
                    note=f"random USER sweep, medium layers, seed {seed}",
                )
            )
    return out


USER_CASES = _user_cases() + _random_user_cases() + _random_user_cases_medium()

# ---------------------------------------------------------------------------------------------
# Searched cases: random one-layer runs on which a mutant of ewssim/hw/scalesim_mem.py (a
# surviving mutmut mutant, docs/testing.md) reports other values than the unmutated model.
# Recording them lets SCALE-Sim itself decide between the two.  Per case: id, rows, cols,
# format, topology row, interface, (ifmap, filter, ofmap) SRAM kB, and for USER the
# (ifmap, filter, ofmap) bandwidths and the (ifmap, filter) bank counts; the comment names the
# mutants it tells apart.
# ---------------------------------------------------------------------------------------------
SEARCHED = [
    # _nth_ifmap_line _44, _50
    ("s_nth_a", 7, 2, "gemm", "g_m46_n28_k48, 46, 28, 48,", "CALC", (2, 1, 64), None, None),
    # _nth_ifmap_line _51, _calc_ifmap_dram _19
    ("s_nth_b", 2, 2, "gemm", "g_m28_n2_k52, 28, 2, 52,", "CALC", (1, 1, 4), None, None),
    # _nth_ifmap_line _41
    ("s_nth_c", 5, 3, "conv", "x_17x12_k3_c5_n30_s3, 17, 12, 3, 3, 5, 30, 3,", "CALC",
     (1, 2, 2), None, None),
    # _calc_filter_dram _11
    ("s_fdram_a", 6, 1, "conv", "x_17x12_k5_c10_n4_s3, 17, 12, 5, 5, 10, 4, 3,", "CALC",
     (8, 2, 8), None, None),
    # _calc_filter_dram _16, _27
    ("s_fdram_b", 1, 1, "conv", "x_8x9_k3_c5_n22_s1, 8, 9, 3, 3, 5, 22, 1,", "CALC",
     (4, 1, 2), None, None),
    # _calc_ifmap_dram _11 (a GEMM whose M*K equals the group size, 1,000 words at 2 kB)
    ("s_idram_a", 4, 8, "gemm", "g_m200_n20_k5, 200, 20, 5,", "CALC", (2, 2, 1), None, None),
    # _calc_ifmap_dram _33 (a 3x3 conv touching exactly 500 words, the group size at 1 kB)
    ("s_idram_b", 1, 1, "conv", "x_50x5_k3_c2_n1_s1, 50, 5, 3, 3, 2, 1, 1,", "CALC",
     (1, 1, 1), None, None),
    # _nth_ifmap_line _16, _27 (M = 1)
    ("s_nth_d", 4, 4, "gemm", "g_m1_n24_k1999, 1, 24, 1999,", "CALC", (2, 2, 1), None, None),
    # USER: _IfmapStream.positions _20 (an element counted among those before it)
    ("s_u_pos", 7, 2, "conv", "x_7x14_k3_c6_n27_s1, 7, 14, 3, 3, 6, 27, 1,", "USER",
     (1, 64, 4), (2, 10, 8), (1, 2)),
    # USER: _in_pieces _10 (a key at a window piece's first position)
    ("s_u_pieces", 1, 6, "conv", "x_8x15_k2_c3_n13_s1, 8, 15, 2, 2, 3, 13, 1,", "USER",
     (2, 3, 4), (3, 6, 3), (1, 2)),
    # USER: _IfmapStream.valid _29 (one tap, K = 1, and a window that refills)
    ("s_u_valid", 2, 2, "gemm", "g_m700_n3_k1, 700, 3, 1,", "USER", (1, 1, 1), (1, 1, 4),
     (1, 1)),
    # USER: _IfmapStream.key_at _10 (fewer stream rows than array rows: M = 1 on 64 rows)
    ("s_u_keyat", 64, 4, "gemm", "g_m1_n8_k2000, 1, 8, 2000,", "USER", (1, 1, 1), (2, 4, 4),
     (1, 1)),
    # USER: _IfmapStream.count_t _24 (taps whose last output row reads outside the ifmap)
    ("s_u_count", 4, 4, "conv", "x_18x6_k5_c4_n5_s3, 18, 6, 5, 5, 4, 5, 3,", "USER",
     (1, 8, 4), (5, 16, 6), (1, 1)),
    # USER: _Probes.__init__ _14 .. _20 (a filter SRAM probe on a line with its own refill)
    ("s_u_probe", 5, 3, "conv", "x_18x14_k5_c7_n30_s1, 18, 14, 5, 5, 7, 30, 1,", "USER",
     (2, 1, 64), (2, 5, 6), (2, 1)),
    # USER: _line_loop _44 (an ifmap SRAM probe on a line where only another operand waits)
    ("s_u_loop", 1, 3, "conv", "x_6x8_k5_c8_n3_s2, 6, 8, 5, 5, 8, 3, 2,", "USER",
     (3, 2, 1), (32, 3, 8), (4, 1)),
    # USER: _line_loop _92, _94, _113 (one column: the last line's largest stall is a read's)
    ("s_u_last", 1, 1, "conv", "x_11x11_k2_c3_n8_s1, 11, 11, 2, 2, 3, 8, 1,", "USER",
     (2, 64, 1), (1, 3, 16), (1, 1)),
    # USER: _IfmapStream.positions _18 (holes before an element on its diagonal: taps whose
    # last output column reads outside the ifmap)
    ("s_u_holes", 37, 10, "conv", "x_2x65_k2_c8_n4_s2, 2, 65, 2, 2, 8, 4, 2,", "USER",
     (2, 1, 64), (3, 5, 10), (1, 1)),
    # USER: _WriteBuffer.line _8 (a line that leaves exactly one word free during a drain)
    ("s_u_wb", 1, 6, "conv", "x_16x16_k1_c5_n24_s1, 16, 16, 1, 1, 5, 24, 1,", "USER",
     (1, 1, 1), (4, 4, 5), (1, 1)),
    # USER: _WriteBuffer.line _21 (a line that stalls twice: 600 columns write more words
    # in one line than a drain frees in a 1 kB ofmap SRAM)
    ("s_u_wb2", 4, 600, "gemm", "g_m716_n594_k1, 716, 594, 1,", "USER", (64, 64, 1),
     (64, 64, 3), (1, 1)),
    # USER: _WriteBuffer.next_event_line _13 (one word left free during a drain, found at a
    # line with a read refill, and a next line that writes one word)
    ("s_u_wb3", 3, 5, "gemm", "g_m45_n47_k78, 45, 47, 78,", "USER", (1, 1, 1), (4, 10, 1),
     (1, 1)),
]


def _searched(interface: str) -> list[dict]:
    out = []
    for cid, rows, cols, fmt, row, iface, sram, bws, banks in SEARCHED:
        if iface != interface:
            continue
        note = "searched: tells a scalesim_mem.py mutant from the model (docs/testing.md)"
        if iface == "CALC":
            out.append(_case(cid, rows, cols, [row], fmt=fmt, sram=sram, note=note))
        else:
            out.append(_ucase(cid, rows, cols, [row], fmt=fmt, sram=sram, bw=bws[2],
                              ibw=bws[0], fbw=bws[1], inum=banks[0], fnum=banks[1], note=note))
    return out


CASES += _searched("CALC")
USER_CASES += _searched("USER")

SUITES = {
    "calc": (CASES, "cases.json"),
    "user": (USER_CASES, "user_cases.json"),
}



CALC_DESCRIPTION = (
    "Ground truth from SCALE-Sim v3 (weight-stationary). Per run: the exact .cfg text "
    "(cfg_text) and the topology rows; per layer: the rows of COMPUTE_REPORT.csv, "
    "BANDWIDTH_REPORT.csv and DETAILED_ACCESS_REPORT.csv exactly as SCALE-Sim wrote them "
    "(LayerID dropped, header names stripped)."
)

# Runs inside the SCALE-Sim venv.  Same as `python -m scalesim.scale -c CFG -t TOPO -l LAYOUT
# -p OUT -i conv|gemm`, except that traces are not written (scale.py always writes them).
RUNNER = """
import sys
from scalesim.scale_sim import scalesim
cfg, topo, layout, out, fmt = sys.argv[1:6]
s = scalesim(save_disk_space=True, verbose=False, config=cfg, topology=topo, layout=layout,
             input_type_gemm=(fmt == 'gemm'))
s.run_scale(top_path=out)
"""

PROBE = """
import importlib.metadata as m
print(m.version('scalesim'), m.version('numpy'))
import scalesim.scale_sim  # noqa
"""

VENV_HELP = (
    "Create one with:\n  python3 -m venv VENV\n"
    f"  VENV/bin/pip install 'numpy==1.26.4' 'scalesim=={EXPECTED_VERSION}'\n"
    "and pass it with --venv VENV or SCALESIM_VENV=VENV."
)


def resolve_venv(arg: Path | None) -> Path:
    """The SCALE-Sim venv: --venv, else $SCALESIM_VENV; stop with a clear message otherwise."""
    if arg is not None:
        return arg
    env = os.environ.get("SCALESIM_VENV", "").strip()
    if env:
        return Path(env)
    sys.exit("ERROR: no SCALE-Sim venv given (use --venv DIR or set SCALESIM_VENV).\n" + VENV_HELP)


def venv_python(venv: Path) -> Path:
    py = venv / "bin" / "python"
    if not py.exists():
        sys.exit(f"ERROR: SCALE-Sim venv not found: {py} does not exist.\n" + VENV_HELP)
    r = subprocess.run([str(py), "-c", PROBE], capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(
            f"ERROR: scalesim is not importable in {venv}: "
            f"{(r.stderr.strip().splitlines() or ['?'])[-1]}\n"
            f"Install it with: {venv}/bin/pip install 'numpy==1.26.4' "
            f"'scalesim=={EXPECTED_VERSION}'"
        )
    return py


def probe_versions(py: Path) -> tuple[str, str]:
    out = subprocess.run([str(py), "-c", PROBE], capture_output=True, text=True, check=True).stdout
    ver, npver = out.split()[:2]
    if ver != EXPECTED_VERSION:
        print(
            f"WARNING: scalesim {ver} installed, data is meant for {EXPECTED_VERSION}",
            file=sys.stderr,
        )
    if int(npver.split(".")[0]) >= 2:
        print(
            f"WARNING: numpy {npver}: SCALE-Sim v3 is known to crash on numpy >= 2", file=sys.stderr
        )
    return ver, npver


def _num(tok: str):
    tok = tok.strip()
    try:
        return int(tok)
    except ValueError:
        return float(tok)


def read_report(path: Path) -> list[dict]:
    """Parse one SCALE-Sim report CSV (header and rows end in ', ')."""
    with open(path, newline="") as f:
        rows = [r for r in csv.reader(f) if r]
    header = [h.strip() for h in rows[0] if h.strip()]
    out = []
    for r in rows[1:]:
        vals = [v for v in r if v.strip()]
        out.append({h: _num(v) for h, v in zip(header, vals, strict=False)})
    return out


def expanded_layer_names(case: dict) -> list[str]:
    """Layer names in SCALE-Sim's order (a conv row named '*DP*' is split per channel)."""
    names = []
    for row in case["topology_rows"]:
        f = [x.strip() for x in row.split(",")]
        if case["format"] == "conv" and "DP" in f[0]:
            names += [f"{f[0]}Channel_{i}" for i in range(int(f[5]))]
        else:
            names.append(f[0])
    return names


def layer_cost(case: dict) -> int:
    """Rough cost of a case: demand-matrix lines x (rows + cols), summed over layers."""
    c = case["config"]
    rows, cols = c["array_rows"], c["array_cols"]
    cost = 0
    for row in case["topology_rows"]:
        f = [x.strip() for x in row.split(",")]
        if case["format"] == "gemm":
            m, n, k = int(f[1]), int(f[2]), int(f[3])
            t, kr, nf = m, k, n
        else:
            h, w, r, s, ch, nf, st = (int(x) for x in f[1:8])
            t = math.ceil((h - r + st) / st) * math.ceil((w - s + st) / st)
            kr = r * s * ch
        folds = math.ceil(kr / rows) * math.ceil(nf / cols)
        cost += folds * (2 * rows + cols + t - 2) * (rows + cols)
    return cost


def run_case(py: Path, case: dict, scratch: Path) -> dict:
    d = scratch / case["id"]
    if d.exists():
        shutil.rmtree(d)
    d.mkdir(parents=True)
    run_name = case["id"]
    (d / "scale.cfg").write_text(case["cfg_text"])
    (d / "topology.csv").write_text(
        case["topology_header"] + "\n" + "\n".join(case["topology_rows"]) + "\n"
    )
    # No custom layout is used; SCALE-Sim still opens a layout file, so give it a header-only one.
    (d / "layout.csv").write_text("Layer name, unused,\n")
    cmd = [
        "nice",
        "-n",
        "10",
        str(py),
        "-c",
        RUNNER,
        str(d / "scale.cfg"),
        str(d / "topology.csv"),
        str(d / "layout.csv"),
        str(d / "out"),
        case["format"],
    ]
    t0 = time.time()
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=d)
    wall = time.time() - t0
    res = dict(case)
    res["wall_s"] = round(wall, 2)
    if r.returncode != 0:
        res["error"] = (r.stderr or r.stdout).strip().splitlines()[-1:]
        return res
    rep = d / "out" / run_name
    comp = read_report(rep / "COMPUTE_REPORT.csv")
    bw = read_report(rep / "BANDWIDTH_REPORT.csv")
    acc = read_report(rep / "DETAILED_ACCESS_REPORT.csv")
    names = expanded_layer_names(case)
    assert len(names) == len(comp), (names, comp)
    layers = []
    for name, c, b, a in zip(names, comp, bw, acc, strict=True):
        c = {k: v for k, v in c.items() if k != "LayerID"}
        b = {k: v for k, v in b.items() if k != "LayerID"}
        a = {k: v for k, v in a.items() if k != "LayerID"}
        layers.append(
            {"name": name, "compute_report": c, "bandwidth_report": b, "detailed_access_report": a}
        )
    res["layers"] = layers
    return res


def peer_resnet50(peer_dir: Path) -> dict:
    csv_path = DATA_DIR / "mlperf_Resnet50.csv"
    js = peer_dir / PEER_FILE
    if not csv_path.exists() or not js.exists():
        sys.exit(f"ERROR: --peer: need {js} and {csv_path}")
    peer = json.loads(js.read_text())
    rows = [ln.strip() for ln in csv_path.read_text().splitlines()[1:] if ln.strip()]
    totals = peer["total_cycles_per_layer"]
    assert len(rows) == len(totals)
    return {
        "source": "SCALE-Sim's own topologies/conv_nets/mlperf_Resnet50.csv (MIT, unchanged; copy "
        "beside this file); per-layer Total Cycles from a peer run of scalesim 3.0.0 with "
        "its configs/scale.cfg (32x32, ws, 64 kB SRAMs, CALC), wall 857.6 s, 11.3 GB peak",
        "config": {
            "array_rows": 32,
            "array_cols": 32,
            "ifmap_sram_kb": 64,
            "filter_sram_kb": 64,
            "ofmap_sram_kb": 64,
            "dataflow": "ws",
            "interface_bandwidth": "CALC",
            "bandwidth": 10,
            "sram_bank_bandwidth": 10,
        },
        "format": "conv",
        "topology_file": "mlperf_Resnet50.csv",
        "layers": [
            {"topology_row": r, "total_cycles": t} for r, t in zip(rows, totals, strict=True)
        ],
        "scalesim_version": peer.get("scalesim_version"),
    }


def _dump(doc: dict, suite: str) -> str:
    if suite == "calc":  # the historical layout of cases.json
        return json.dumps(doc, indent=1) + "\n"
    # user suite: one line per key, one line per layer (compact, still diff-friendly)
    parts = [f" {json.dumps(k)}: {json.dumps(v)}" for k, v in doc.items() if k != "cases"]
    blocks = []
    for case in doc["cases"]:
        body = [f"  {json.dumps(k)}: {json.dumps(v)}" for k, v in case.items() if k != "layers"]
        if "layers" in case:
            lines = ",\n".join("   " + json.dumps(L) for L in case["layers"])
            body.append(f'  "layers": [\n{lines}\n  ]')
        blocks.append(" {\n" + ",\n".join(body) + "\n }")
    parts.append(' "cases": [\n' + ",\n".join(blocks) + "\n ]")
    return "{\n" + ",\n".join(parts) + "\n}\n"


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--suite", choices=sorted(SUITES), default="calc")
    ap.add_argument("--venv", type=Path, default=None, help="SCALE-Sim venv ($SCALESIM_VENV)")
    ap.add_argument("--scratch", type=Path, default=None, help="default: a temporary directory")
    ap.add_argument("--keep-scratch", action="store_true", help="keep the temporary directory")
    ap.add_argument("--out", type=Path, default=None, help="default: tests/data/scalesim_v3/...")
    ap.add_argument("--peer", type=Path, default=None, help=f"directory holding {PEER_FILE}")
    ap.add_argument("--only", default="", help="run only cases whose id starts with this prefix")
    ap.add_argument("--list", action="store_true")
    args = ap.parse_args()

    suite_cases, default_name = SUITES[args.suite]
    out_path = args.out or DATA_DIR / default_name
    cases = [c for c in suite_cases if c["id"].startswith(args.only)]
    if args.list:
        for c in cases:
            print(f"{c['id']:32s} {len(c['topology_rows']):2d} rows  cost~{layer_cost(c):>10,d}")
        print(f"{len(cases)} cases, total cost ~ {sum(layer_cost(c) for c in cases):,d}")
        return
    if not cases:
        sys.exit(f"ERROR: no {args.suite} case id starts with {args.only!r}")

    py = venv_python(resolve_venv(args.venv))
    ver, npver = probe_versions(py)
    old = json.loads(out_path.read_text()) if out_path.exists() else {}
    if args.only and not old:
        sys.exit(f"ERROR: --only updates an existing file, and {out_path} does not exist")

    scratch = args.scratch
    if scratch is None:
        scratch = Path(tempfile.mkdtemp(prefix="scalesim_v3_"))
    print(f"scratch directory: {scratch}", flush=True)
    results = []
    t_all = time.time()
    try:
        for c in cases:
            res = run_case(py, c, scratch)
            status = (
                "ERROR " + " ".join(res["error"])
                if "error" in res
                else " ".join(
                    f"{L['compute_report']['Total Cycles']}"
                    + (f"/{L['compute_report']['Stall Cycles']}" if args.suite == "user" else "")
                    for L in res["layers"]
                )
            )
            print(f"{c['id']:32s} {res['wall_s']:7.2f}s  {status}", flush=True)
            results.append(res)
    finally:
        if args.scratch is None and not args.keep_scratch:
            shutil.rmtree(scratch, ignore_errors=True)
    total_wall = time.time() - t_all

    if args.only:  # replace the re-run cases, keep everything else
        new = {r["id"]: r for r in results}
        merged = [new.pop(c["id"], None) for c in old.get("cases", [])]
        merged = [m if m is not None else c for m, c in zip(merged, old["cases"], strict=True)]
        merged += list(new.values())
        order = {c["id"]: i for i, c in enumerate(suite_cases)}
        merged.sort(key=lambda r: order.get(r["id"], len(order)))
        results = merged
        total_wall = sum(r.get("wall_s", 0.0) for r in results)

    doc = {
        "description": CALC_DESCRIPTION,
        "generated_by": "benchmarks/scalesim_gen.py"
        + ("" if args.suite == "calc" else f" --suite {args.suite}"),
        "scalesim_version": ver,
        "numpy_version": npver,
        "python_version_scalesim_venv": subprocess.run(
            [str(py), "-c", "import sys; print(sys.version.split()[0])"],
            capture_output=True,
            text=True,
        ).stdout.strip(),
        "total_wall_s": round(total_wall, 1),
        "cases": results,
    }
    if args.suite == "user":
        doc["description"] = (
            "Ground truth from SCALE-Sim v3 (weight-stationary), InterfaceBandwidth USER. Per run: "
            "the exact .cfg text (cfg_text), the topology rows, and per layer the rows of "
            "COMPUTE_REPORT.csv, BANDWIDTH_REPORT.csv and DETAILED_ACCESS_REPORT.csv exactly as "
            "SCALE-Sim wrote them (LayerID dropped, header names stripped). Runs SCALE-Sim "
            "rejects carry 'error' (last line of its stderr) instead of 'layers'."
        )
    if args.suite == "calc":
        if args.peer is not None:
            doc["peer_resnet50"] = peer_resnet50(args.peer)
        else:
            doc["peer_resnet50"] = old.get("peer_resnet50")
            if doc["peer_resnet50"] is None:
                print("note: no --peer and no earlier peer_resnet50 entry: left empty")
    if old and args.only:  # keep the recorded versions if they did not change
        for k in ("scalesim_version", "numpy_version", "python_version_scalesim_venv"):
            if old.get(k) not in (None, doc[k]):
                print(f"WARNING: {k} was {old[k]}, now {doc[k]}", file=sys.stderr)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(_dump(doc, args.suite))
    n_layers = sum(len(r.get("layers", [])) for r in results)
    n_err = sum("error" in r for r in results)
    print(
        f"wrote {out_path}: {len(results)} cases, {n_layers} layers, {n_err} errors, "
        f"{total_wall:.0f} s"
    )


if __name__ == "__main__":
    main()
