"""Worker processes (`jobs`) change how long a run takes, never what it gives."""

from __future__ import annotations

import pandas as pd
import pytest

from ewssim import api
from ewssim.engine.workers import run_tasks
from ewssim.errors import InputError


def _square(state, t):
    if t in state:
        raise ValueError(f"task {t} is bad")
    return t * t


@pytest.mark.parametrize("jobs", [1, 2, 3])
def test_every_task_once_with_its_result(jobs):
    got = dict(run_tasks(_square, (), [5, 1, 4, 2, 3], jobs))
    assert got == {5: 25, 1: 1, 4: 16, 2: 4, 3: 9}


@pytest.mark.parametrize("jobs", [1, 2])
def test_the_lowest_failing_task_raises_after_the_others_ran(jobs):
    seen = []
    with pytest.raises(ValueError, match="task 2 is bad"):
        for t, r in run_tasks(_square, {2, 4}, [4, 3, 2, 1], jobs):
            seen.append((t, r))
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
