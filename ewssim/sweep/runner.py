"""Running a sweep: expand the spec, skip what the database has, simulate the rest in parallel.

Executors: ``local`` (a :class:`concurrent.futures.ProcessPoolExecutor` with the ``spawn``
context), ``dask`` (``dask.distributed``: a scheduler address, or a local cluster) and
``inline`` (this process; for debugging).  Workers only simulate and return the result; the
parent writes each one to the database as it arrives.

A task is a few points of one workload that differ only in the L2 size, largest first: the
worker simulates them with one :class:`~ewssim.engine.reuse.Reuse`, so each point uses the
layer plans and runs of the ones before it where its L2 does not change them (the results are
those of simulating each point alone).  Groups are cut so that there are at least four tasks
per worker (or one per point).
"""

from __future__ import annotations

import functools
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from ewssim.engine.reuse import DRAM_FIELDS, L2_FIELDS
from ewssim.errors import EwssimError, InputError
from ewssim.sweep.metrics import available_metrics
from ewssim.sweep.spec import Point, SweepSpec, canonical_json, config_keys, nested
from ewssim.sweep.store import Store

EXECUTORS = ("local", "dask", "inline")
#: keys of RunResult.totals that duplicate a results column (stored once)
_RENAME = {"workload": "network"}


@dataclass
class SweepSummary:
    total: int = 0              # points x workloads in the spec
    already: int = 0            # found in the database
    ran: int = 0                # simulated now
    skipped: int = 0            # invalid or outside a constraint (recorded, not simulated)
    errors: int = 0             # simulations that raised (recorded, retried on a rerun)
    seconds: float = 0.0
    error_reasons: list[str] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.ran / self.seconds if self.seconds > 0 else 0.0


# ----------------------------------------------------------------------------- worker side

@functools.lru_cache(maxsize=16)
def _network(path: str):
    from ewssim.workload import load_network

    return load_network(path)


def simulate_points(tasks: list[dict]) -> list[dict]:
    """Run a group of points that differ only in the L2 and DRAM channel fields (in a worker,
    in :func:`_groups`' order), sharing one :class:`~ewssim.engine.reuse.Reuse`.  Never
    raises: problems come back as a status."""
    from ewssim.engine.reuse import Reuse

    reuse = Reuse()
    return [simulate_point(t, reuse) for t in tasks]


def simulate_point(task: dict, reuse=None) -> dict:
    """Run one point (in a worker).  Never raises: problems come back as a status."""
    t0 = time.perf_counter()
    out = {"point_id": task["point_id"], "status": "ok", "reason": "", "totals": None,
           "layers": None}
    try:
        from ewssim import api
        from ewssim import config as _config

        arch = _config.from_dict(task["config"], source="point")
        res = api.simulate(arch, _network(task["workload_path"]), weights=task["weights"],
                           reuse=reuse)
        out["totals"] = {_RENAME.get(k, k): _plain(v) for k, v in res.totals.items()}
        if task["per_layer"]:
            out["layers"] = [{k: _plain(v) for k, v in r.items()}
                             for r in res.layers.to_dict("records")]
    except InputError as exc:
        out.update(status="skipped", reason=f"not simulated: {exc}")
    except Exception as exc:  # noqa: BLE001 - a bug in one point must not end the sweep
        out.update(status="error", reason=f"{type(exc).__name__}: {exc}".splitlines()[0])
    out["seconds"] = time.perf_counter() - t0
    return out


def _plain(v):
    return v.item() if hasattr(v, "item") and not isinstance(v, str | bytes) else v


def _import_simulator() -> None:
    import ewssim.api  # noqa: F401


def _worker_init(parent_pid: int) -> None:
    """Pool workers exit on their own when the parent dies (e.g. SIGKILL): no orphans."""
    def watch() -> None:
        while True:
            time.sleep(0.5)
            if os.getppid() != parent_pid:
                os._exit(0)

    threading.Thread(target=watch, daemon=True).start()


# ----------------------------------------------------------------------------- executors

class _Executor:
    """``run(tasks)`` yields results in completion order, keeping a bounded window in flight
    (a task: a list of points, :func:`simulate_points`; a result: the list of theirs)."""

    name = "inline"
    workers = 1

    def run(self, tasks: list[list[dict]]) -> Iterator[list[dict]]:
        for t in tasks:
            yield simulate_points(t)

    def warm(self) -> None:
        """Start the workers (they import the simulator) before the first task."""

    def close(self) -> None:
        pass


class _LocalExecutor(_Executor):
    name = "local"

    def __init__(self, workers: int):
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor

        self.workers = workers
        self.pool = ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn"),
                                        initializer=_worker_init, initargs=(os.getpid(),))

    def warm(self) -> None:
        for _ in range(self.workers):
            self.pool.submit(_import_simulator)

    def run(self, tasks: list[list[dict]]) -> Iterator[list[dict]]:
        from concurrent.futures import FIRST_COMPLETED, wait
        from concurrent.futures.process import BrokenProcessPool

        it = iter(tasks)
        window = 4 * self.workers
        pending = set()
        try:
            for t in it:
                pending.add(self.pool.submit(simulate_points, t))
                if len(pending) >= window:
                    break
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                results = sorted((f.result() for f in done), key=lambda r: r[0]["point_id"])
                for r in results:
                    nxt = next(it, None)
                    if nxt is not None:
                        pending.add(self.pool.submit(simulate_points, nxt))
                    yield r
        except BrokenProcessPool:
            raise EwssimError("a worker process died (out of memory? killed?); every finished "
                              "point is saved: rerun the same command to resume") from None
        finally:
            for f in pending:
                f.cancel()

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)


def _dask():
    try:
        import dask.distributed as dd
    except ImportError:
        raise InputError("the dask executor needs dask.distributed", field="--executor",
                         allowed="local, or `pip install 'ewssim[dask]'`") from None
    return dd


class _DaskExecutor(_Executor):
    name = "dask"

    def __init__(self, workers: int, scheduler: str | None, timeout: float = 5.0):
        dd = _dask()
        self.cluster = None
        if scheduler:
            try:
                self.client = dd.Client(scheduler, timeout=timeout)
            except (OSError, TimeoutError, ValueError) as exc:
                raise InputError(f"cannot reach the dask scheduler at {scheduler!r} within "
                                 f"{timeout:g} s ({type(exc).__name__})", field="--scheduler",
                                 allowed="the address of a running dask scheduler, e.g. "
                                         "tcp://host:8786") from None
            info = self.client.scheduler_info()
            self.workers = max(1, sum(w.get("nthreads", 1)
                                      for w in info.get("workers", {}).values()))
        else:
            self.cluster = dd.LocalCluster(n_workers=workers, threads_per_worker=1,
                                           processes=True, dashboard_address=None)
            self.client = dd.Client(self.cluster)
            self.workers = workers

    def run(self, tasks: list[list[dict]]) -> Iterator[list[dict]]:
        dd = _dask()
        it = iter(tasks)
        window = 4 * self.workers
        first = [self.client.submit(simulate_points, t, pure=False)
                 for t in _take(it, window)]
        ac = dd.as_completed(first)
        for f in ac:
            nxt = next(it, None)
            if nxt is not None:
                ac.add(self.client.submit(simulate_points, nxt, pure=False))
            yield f.result()

    def close(self) -> None:
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()


def _take(it: Iterator, n: int) -> list:
    out = []
    for x in it:
        out.append(x)
        if len(out) >= n:
            break
    return out


def make_executor(name: str, workers: int | None = None, scheduler: str | None = None,
                  timeout: float = 5.0) -> _Executor:
    if name not in EXECUTORS:
        raise InputError(f"unknown executor {name!r}", field="--executor",
                         allowed=", ".join(EXECUTORS))
    workers = workers if workers is not None else (os.cpu_count() or 1)
    if workers < 1:
        raise InputError(f"{workers} workers", field="--workers", allowed="integer >= 1")
    if scheduler and name != "dask":
        raise InputError("a scheduler address needs the dask executor", field="--scheduler",
                         allowed="--executor dask")
    if name == "inline":
        return _Executor()
    if name == "local":
        return _LocalExecutor(workers)
    return _DaskExecutor(workers, scheduler, timeout)


# ----------------------------------------------------------------------------- the sweep

def _row(p: Point) -> dict:
    row = {"point_id": p.point_id, "idx": p.idx, "config_id": p.config_id,
           "workload": p.workload, "status": p.status, "reason": p.reason,
           "axes": canonical_json(p.assignment), "preset": p.preset,
           "array": f"{p.arch.array.rows}x{p.arch.array.cols}" if p.arch else None}
    row.update(p.config)
    row.update(p.metrics)
    return row


def _task(spec: SweepSpec, p: Point) -> dict:
    return {"point_id": p.point_id, "workload_path": spec.workload_path(p.workload),
            "config": nested(p.config), "weights": spec.weights,
            "per_layer": spec.per_layer}


def _groups(points: list[Point], size: int) -> list[list[Point]]:
    """The points in tasks: those of one workload that differ only in the L2 and DRAM channel
    fields, by DRAM channel and then largest L2 first (what a
    :class:`~ewssim.engine.reuse.Reuse` keeps), cut into tasks of at most ``size`` points (in
    the order of each group's first point)."""
    by: dict = {}
    shared = L2_FIELDS + DRAM_FIELDS
    for p in points:
        rest = {k: v for k, v in p.config.items() if k not in shared}
        by.setdefault((p.workload, canonical_json(rest)), []).append(p)
    out = []
    for g in by.values():
        g.sort(key=lambda p: (*(p.config[k] for k in DRAM_FIELDS),
                              -p.arch.memory.l2_bytes, -p.arch.memory.l2_act_fraction, p.idx))
        out += [g[i:i + size] for i in range(0, len(g), size)]
    return out


def run_sweep(spec: SweepSpec, out: str | Path, *, executor: str = "local",
              workers: int | None = None, scheduler: str | None = None,
              progress: Callable[[int, int, str], None] | None = None,
              scheduler_timeout: float = 5.0) -> SweepSummary:
    """Simulate every point of ``spec`` not yet in ``out``; write each as it finishes."""
    t0 = time.perf_counter()
    started = time.time()
    store = Store(out, spec.canonical_json, spec.hash)
    have = store.check()                          # read-only; refuses another spec's file
    ex = make_executor(executor, workers, scheduler, scheduler_timeout)  # before any write
    try:
        ex.warm()                                 # workers start while the points expand
        points = spec.points()
        ids = {p.point_id for p in points}
        stray = [pid for pid in have if pid not in ids]
        if stray:
            raise InputError(f"{len(stray)} stored point(s) are not points of this spec (e.g. "
                             f"{stray[0]}): the point expansion changed (another ewssim "
                             "version?)", source=str(out), field="--out",
                             allowed="a new --out file")
        todo = [p for p in points if have.get(p.point_id) not in ("ok", "skipped")]
        summary = SweepSummary(total=len(points), already=len(points) - len(todo))
        store.open(config_keys(), available_metrics())
        skipped = [p for p in todo if p.status == "skipped"]
        if skipped:
            store.write([_row(p) for p in skipped])
            summary.skipped += len(skipped)
        sim = [p for p in todo if p.status == "pending"]
        by_id = {p.point_id: p for p in sim}
        per_task = max(1, -(-len(sim) // (4 * ex.workers)))   # at least 4 tasks per worker
        done = 0
        if progress:
            progress(0, len(sim), "")
        for res in (r for group in ex.run([[_task(spec, p) for p in g]
                                           for g in _groups(sim, per_task)])
                    for r in group):
            p = by_id[res["point_id"]]
            row = _row(p)
            row["status"], row["reason"] = res["status"], res["reason"]
            if res["totals"]:
                row.update({k: v for k, v in res["totals"].items() if k not in row})
            layers = {p.point_id: res["layers"]} if res["layers"] else None
            store.write([row], layers, {p.point_id: res["seconds"]})
            done += 1
            if res["status"] == "ok":
                summary.ran += 1
            elif res["status"] == "skipped":
                summary.skipped += 1
            else:
                summary.errors += 1
                summary.error_reasons.append(f"{p.point_id}: {res['reason']}")
            if progress:
                progress(done, len(sim), p.workload)
        summary.seconds = time.perf_counter() - t0
        store.log_run(started, ex.name, ex.workers, summary.ran)
    finally:
        ex.close()
        store.close()
    return summary
