"""The independent pieces of one simulation, spread over worker processes.

Two steps of :func:`ewssim.engine.sim.simulate` are independent pieces: choosing each layer's
mapping (every candidate of a layer runs alone) and running each segment of layers between two
vector operators.  With ``jobs`` > 1 they run in that many forked worker processes; the pieces
and the simulation they belong to are the same, so the results are identical to ``jobs = 1``
(a test runs both).

Workers are forked (they inherit the network, the hardware and the mappings; nothing is sent
to them but a task index) and return their result pickled.  A piece that raises in a worker is
run again in the calling process, so that its error is raised there as it would be without
workers (the first such piece in task order, whatever the number of workers).  Where ``fork``
is not available (not on Linux or macOS), the pieces run one after the other.
"""

from __future__ import annotations

import multiprocessing as mp
from collections.abc import Callable, Iterator
from typing import Any

#: what the forked workers inherit: (function, shared state) of the current :func:`run_tasks`
_JOB: tuple[Callable, Any] | None = None


def _work(task: int) -> tuple[int, bool, Any]:
    fn, state = _JOB
    try:
        return task, True, fn(state, task)
    except Exception:  # noqa: BLE001 - re-raised in the caller by running the task there
        return task, False, None


def run_tasks(fn: Callable[[Any, int], Any], state: Any, tasks: list[int],
              jobs: int) -> Iterator[tuple[int, Any]]:
    """``(task, fn(state, task))`` for every task, in the order they finish (``tasks`` in the
    order to start them: the longest first balances the workers best).  ``fn`` must be a
    module-level function.  When tasks raise, the error of the lowest-numbered one is raised
    after the others have run: the same error whatever ``jobs``."""
    global _JOB
    failed: dict[int, Exception | None] = {}
    if jobs <= 1 or len(tasks) <= 1 or "fork" not in mp.get_all_start_methods():
        for t in tasks:
            try:
                res = fn(state, t)
            except Exception as exc:  # noqa: BLE001 - raised below, in task order
                failed[t] = exc
                continue
            yield t, res
    else:
        _JOB = (fn, state)
        try:
            with mp.get_context("fork").Pool(min(jobs, len(tasks))) as pool:
                for t, ok, res in pool.imap_unordered(_work, tasks):
                    if ok:
                        yield t, res
                    else:
                        failed[t] = None
        finally:
            _JOB = None
    if failed:
        t = min(failed)
        if failed[t] is not None:
            raise failed[t]
        fn(state, t)              # the worker's error, raised here
        raise RuntimeError(f"task {t} failed in a worker process but not when run again")


def default_jobs() -> int:
    """The processors this process may use."""
    import os

    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:       # not on Linux
        return os.cpu_count() or 1
