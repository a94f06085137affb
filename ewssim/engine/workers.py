"""The independent pieces of one simulation, spread over worker processes.

:func:`ewssim.engine.sim.simulate` is made of independent pieces: choosing each layer's mapping
(every candidate of a layer runs alone) and running each segment of layers between two vector
operators, which can start as soon as its layers are planned.  With ``jobs`` > 1 they run in
that many forked worker processes (:class:`TaskPool`); each piece is the same computation
wherever it runs, so the results are identical to ``jobs = 1`` (a test runs both).

Workers are forked: they inherit the network and the hardware, are sent a task's own
arguments and return its result, pickled.  A piece that raises in a worker is run again in the
calling process, so that its error is raised there as it would be without workers; of several,
the one with the lowest key.  Where ``fork`` is not available (not on Linux or macOS), the
pieces run one after the other in the calling process.
"""

from __future__ import annotations

import dataclasses
import multiprocessing as mp
import queue
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

#: what the forked workers inherit: the shared state of the current :class:`TaskPool`
_STATE: Any = None


def _work(key, fn: Callable, args: tuple) -> tuple[Any, bool, Any]:
    try:
        return key, True, fn(_STATE, *args)
    except Exception:  # noqa: BLE001 - re-raised in the caller by running the task there
        return key, False, None


class TaskPool:
    """Tasks ``fn(state, *args)``, each under a key; new tasks may be submitted while others
    run.  ``fn`` must be a module-level function; ``state`` is shared (inherited by the forked
    workers, not sent)."""

    @staticmethod
    def can_fork(jobs: int) -> bool:
        """Whether a pool of ``jobs`` runs its tasks in worker processes."""
        return jobs > 1 and "fork" in mp.get_all_start_methods()

    def __init__(self, jobs: int, state: Any):
        self.state = state
        self.parallel = self.can_fork(jobs)
        self.jobs = jobs
        self._ready: deque = deque()          # (key, result) done in this process
        self._results: queue.Queue = queue.Queue()
        self._pending = 0
        self._failed: dict[Any, tuple[Callable, tuple]] = {}
        self._specs: dict[Any, tuple[Callable, tuple]] = {}   # tasks sent to a worker
        self._pool = None

    def __enter__(self) -> TaskPool:
        global _STATE
        if self.parallel:
            _STATE = self.state
            self._pool = mp.get_context("fork").Pool(self.jobs)
        return self

    def __exit__(self, *exc) -> None:
        global _STATE
        if self._pool is not None:
            self._pool.terminate()
            self._pool.join()
            self._pool = None
            _STATE = None

    def submit(self, key, fn: Callable, *args) -> None:
        if self._pool is None:
            try:
                self._ready.append((key, fn(self.state, *args)))
            except Exception:  # noqa: BLE001 - raised by finished(), in key order
                self._failed[key] = (fn, args)
            return
        self._pending += 1
        self._specs[key] = (fn, args)
        self._pool.apply_async(_work, (key, fn, args), callback=self._results.put,
                               error_callback=lambda _exc: self._results.put((key, False,
                                                                              None)))

    def finished(self) -> Iterator[tuple[Any, Any]]:
        """``(key, result)`` of every task, as they finish, including tasks submitted while
        iterating.  Once all have finished, the lowest-keyed task that raised raises (run
        again here if it raised in a worker)."""
        while self._ready or self._pending:
            if self._ready:
                yield self._ready.popleft()
                continue
            key, ok, res = self._results.get()
            self._pending -= 1
            spec = self._specs.pop(key)
            if ok:
                yield key, res
            else:
                self._failed[key] = spec
        if self._failed:
            key = min(self._failed)
            self._raise(key)

    def _raise(self, key) -> None:
        fn, args = self._failed[key]
        fn(self.state, *args)
        raise RuntimeError(f"task {key} failed in a worker process, then not when run again")


class _Narrow:
    """An ``int64`` array sent in a narrower integer type (:func:`compact`)."""

    __slots__ = ("a",)

    def __init__(self, a: np.ndarray):
        self.a = a


def compact(x):
    """``x`` (dataclasses, lists, tuples, arrays) with every ``int64`` array held in the
    narrowest integer type that holds its values: what crosses between processes shrinks
    (VGG-16 on 8x8: 530 MB of mappings); :func:`expand` restores it exactly."""
    if isinstance(x, np.ndarray):
        if x.dtype == np.int64 and x.size:
            lo, hi = int(x.min()), int(x.max())
            for t in (np.int8, np.int16, np.int32):
                info = np.iinfo(t)
                if info.min <= lo and hi <= info.max:
                    return _Narrow(x.astype(t))
        return x
    if isinstance(x, list | tuple):
        return type(x)(compact(v) for v in x)
    if dataclasses.is_dataclass(x) and not isinstance(x, type):
        return _map_fields(x, compact)
    return x


def expand(x):
    """The inverse of :func:`compact`."""
    if isinstance(x, _Narrow):
        return x.a.astype(np.int64)
    if isinstance(x, list | tuple):
        return type(x)(expand(v) for v in x)
    if dataclasses.is_dataclass(x) and not isinstance(x, type):
        return _map_fields(x, expand)
    return x


def _map_fields(x, fn):
    changed = {}
    for f in dataclasses.fields(x):
        if not f.init:
            continue
        v = getattr(x, f.name)
        w = fn(v)
        if w is not v:
            changed[f.name] = w
    return dataclasses.replace(x, **changed) if changed else x


def default_jobs() -> int:
    """The processors this process may use."""
    import os

    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:       # not on Linux
        return os.cpu_count() or 1
