"""Worker processes (`jobs`) change how long a run takes, never what it gives."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ewssim import api
from ewssim.engine.workers import TaskPool
from ewssim.errors import InputError


def _square(bad, t):
    if t in bad:
        raise ValueError(f"task {t} is bad")
    return t * t


def _run(jobs, bad, tasks, then=()):
    """Submit ``tasks``; when task 1 finishes, submit ``then`` too (as a segment is submitted
    once its layers are planned)."""
    got = []
    with TaskPool(jobs, bad) as pool:
        for t in tasks:
            pool.submit(t, _square, t)
        for key, res in pool.finished():
            got.append((key, res))
            if key == 1:
                for t in then:
                    pool.submit(t, _square, t)
    return got


@pytest.mark.parametrize("jobs", [1, 2, 3])
def test_every_task_once_with_its_result_even_those_submitted_late(jobs):
    got = _run(jobs, set(), [5, 1, 4, 2, 3], then=[7, 6])
    assert sorted(got) == [(1, 1), (2, 4), (3, 9), (4, 16), (5, 25), (6, 36), (7, 49)]


@pytest.mark.parametrize("jobs", [1, 2])
def test_the_lowest_failing_task_raises_after_the_others_ran(jobs):
    seen = []
    with pytest.raises(ValueError, match="task 2 is bad"), TaskPool(jobs, {2, 4, 6}) as pool:
        for t in [4, 3, 2, 1]:
            pool.submit(t, _square, t)
        for key, res in pool.finished():
            seen.append((key, res))
            if key == 1:
                pool.submit(6, _square, 6)
    assert sorted(seen) == [(1, 1), (3, 9)]


def test_a_graph_network_is_the_same_with_two_workers():
    """ResNet-18: repeated layers (planned once), vector operators between segments."""
    one = api.simulate("ews", "resnet18", array="16x16", jobs=1)
    two = api.simulate("ews", "resnet18", array="16x16", jobs=2)
    pd.testing.assert_frame_equal(one.layers, two.layers, check_exact=True)
    assert one.totals == two.totals
    assert [r.mapping.name for r in one.results if hasattr(r, "mapping")] == \
        [r.mapping.name for r in two.results if hasattr(r, "mapping")]


def test_no_mapping_fits_names_the_same_layer_with_workers():
    """The first layer (in network order) that fits nowhere is the one reported."""
    msgs = []
    for jobs in (1, 2):
        with pytest.raises(InputError) as exc:
            api.simulate("ews", "resnet18", array="16x16", jobs=jobs,
                         overrides={"memory.l1_act_bytes": 256})
        msgs.append(str(exc.value))
    assert msgs[0] == msgs[1]
    assert "layer 'conv1'" in msgs[0]


def test_mappings_cross_processes_compact_and_come_back_equal():
    from ewssim.config import preset
    from ewssim.engine import sim
    from ewssim.engine.workers import _Narrow, compact, expand
    from ewssim.workload.layers import Layer

    arch = preset("ews").replace({"array.rows": 8, "array.cols": 8})
    m = sim.plan(Layer("c", "conv", 12, 12, 40, 24, kernel_h=3, kernel_w=3, pad_h=1, pad_w=1),
                 arch)
    small = compact(m)
    assert isinstance(small.schedule.release, _Narrow)              # -1 .. a few hundred
    assert small.schedule.release.a.dtype == np.int16
    assert isinstance(small.blocks.w_kind, _Narrow) and small.blocks.w_kind.a.dtype == np.int8
    back = expand(small)
    assert sim._equal(back, m)                                      # values and dtypes
    big = np.array([0, 2**40], np.int64)                            # needs all 64 bits
    assert compact(big) is big
    assert sim._equal(expand(compact([np.array([-129, 5], np.int64)])),
                      [np.array([-129, 5], np.int64)])


@pytest.mark.parametrize("value", ["0", "-1", "two"])
def test_run_jobs_must_be_a_positive_integer(value, capsys):
    from ewssim.cli import main

    with pytest.raises(SystemExit) as exc:       # argparse's own exit, status 2
        main(["run", "--arch", "ews", "--workload", "tiny", "--jobs", value])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"ewssim run: error: argument --jobs: invalid jobs '{value}' "
                   "(an integer >= 1)"]
