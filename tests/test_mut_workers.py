"""Exact behaviour of the worker pool and its array compaction (ewssim/engine/workers.py)
that equal results alone do not show, since a task that fails in a worker is run again in
the caller: tasks really run in worker processes, a task that fails only in a worker is
reported, the narrowest type at its limits, arrays that are not int64 left alone, fields
after a non-init field, objects without arrays not copied, the processor count off Linux.
Written to kill surviving mutants (docs/testing.md)."""

from __future__ import annotations

import dataclasses
import multiprocessing as mp
import os

import numpy as np
import pytest

from ewssim.engine import workers
from ewssim.engine.workers import TaskPool, compact, expand

PARENT = os.getpid()


def _pid(state, i):
    return state, os.getpid()


def _fails_in_a_worker(_state, i):
    if os.getpid() != PARENT:
        raise ValueError("worker")
    return i


needs_fork = pytest.mark.skipif("fork" not in mp.get_all_start_methods(),
                                reason="no fork start method")


@needs_fork
def test_two_jobs_run_tasks_in_worker_processes():
    assert TaskPool.can_fork(2) and not TaskPool.can_fork(1)
    with TaskPool(2, "shared") as pool:
        for i in range(4):
            pool.submit(i, _pid, i)
        got = [r for _, r in pool.finished()]
    assert len(got) == 4
    assert all(state == "shared" and pid != PARENT for state, pid in got)


def test_one_job_runs_tasks_here():
    with TaskPool(1, "shared") as pool:
        pool.submit(0, _pid, 0)
        assert [r for _, r in pool.finished()] == [("shared", PARENT)]


@needs_fork
def test_a_task_failing_only_in_a_worker_is_reported():
    with TaskPool(2, None) as pool:
        pool.submit(7, _fails_in_a_worker, 7)
        with pytest.raises(RuntimeError) as exc:
            list(pool.finished())
    assert str(exc.value) == "task 7 failed in a worker process, then not when run again"


def test_narrowest_type_at_its_limits():
    for values, dtype in (([-128, 127], np.int8), ([-129, 0], np.int16), ([0, 128], np.int16),
                          ([-32768, 32767], np.int16), ([0, 32768], np.int32),
                          ([-2**31, 2**31 - 1], np.int32)):
        c = compact(np.array(values, np.int64))
        assert isinstance(c, workers._Narrow) and c.a.dtype == dtype, values
        back = expand(c)
        assert back.dtype == np.int64 and back.tolist() == values
    wide = np.array([0, 2**31], np.int64)
    assert compact(wide) is wide


def test_arrays_that_are_not_int64_are_left_alone():
    for a in (np.array([0.5, 2.0]), np.array([1, 2], np.int32), np.array([True, False]),
              np.zeros(0, np.int64)):
        assert compact(a) is a


@dataclasses.dataclass
class _Holder:
    tag: str
    derived: int = dataclasses.field(init=False, default=0)
    arr: np.ndarray = dataclasses.field(default_factory=lambda: np.arange(3, dtype=np.int64))


def test_fields_after_a_non_init_field_are_compacted_and_nothing_is_copied_needlessly():
    c = compact(_Holder("x"))
    assert isinstance(c.arr, workers._Narrow) and c.arr.a.dtype == np.int8
    assert expand(c).arr.tolist() == [0, 1, 2]
    plain = _Holder("y", arr=np.array([0.5]))
    assert compact(plain) is plain


def test_processors_off_linux(monkeypatch):
    monkeypatch.delattr(os, "sched_getaffinity", raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 3)
    assert workers.default_jobs() == 3
    monkeypatch.setattr(os, "cpu_count", lambda: None)
    assert workers.default_jobs() == 1


def _unpicklable(_state, i):
    return lambda: i                    # a result that cannot be sent back from a worker


@needs_fork
def test_a_result_that_cannot_cross_back_is_reported_not_waited_for():
    """The worker computes it but cannot send it: the pool hears of it (rather than waiting
    for ever), runs the task here, where it succeeds, and says so."""
    with TaskPool(2, None) as pool:
        pool.submit(0, _unpicklable, 5)
        with pytest.raises(RuntimeError) as exc:
            list(pool.finished())
    assert str(exc.value) == "task 0 failed in a worker process, then not when run again"


def _meet(barrier, i):
    barrier.wait(timeout=30)        # every job's task at once, or none
    return os.getpid()


@needs_fork
def test_the_pool_has_one_process_per_job():
    """More jobs than processors: one task per job meets the others at a barrier, which only
    a pool of that many processes lets them all reach (a pool sized by the processor count
    would leave one waiting until the barrier breaks)."""
    jobs = (os.cpu_count() or 1) + 1
    barrier = mp.get_context("fork").Barrier(jobs)
    with TaskPool(jobs, barrier) as pool:
        for i in range(jobs):
            pool.submit(i, _meet, i)
        pids = {pid for _, pid in pool.finished()}
    assert len(pids) == jobs and PARENT not in pids
