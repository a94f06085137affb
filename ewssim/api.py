"""The Python face of ewssim: what the CLI calls and what a notebook imports (re-exported by
``ewssim/__init__.py``).

* :func:`load_arch` / :func:`preset` -- an architecture, checked; ``arch.replace("KEY", v)``
  overrides a field;
* :func:`load_workload` -- a zoo network or a topology file;
* :func:`compress` -- compress a network's weights (synthetic or from a file);
* :func:`simulate` -> :class:`RunResult` (per-layer DataFrame, totals, a short summary);
* :func:`weight_formats` -- the per-layer weight formats a compressed architecture replays
  (from a compressed directory, the analytic plan, or synthetic weights compressed on the fly).

:func:`ewssim.compare.compare` and :func:`ewssim.sweep.run_sweep` build on these.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ewssim import config as _config
from ewssim.area import AreaReport
from ewssim.compress import (
    CompressedNetwork,
    Settings,
    compress_network,
    load_network_dir,
    save_network,
)
from ewssim.compress.io import FORMAT_VERSION
from ewssim.compress.plan import LayerFormat, formats_from_compressed, plan_network
from ewssim.config import ArchConfig
from ewssim.dataflow import TRAFFIC_FIELDS, Hardware, dataflow_of, resolve
from ewssim.dataflow.base import TRAFFIC_UNITS
from ewssim.energy import EFFICIENCY_COLUMNS, ENERGY_COLUMNS, EnergyModel
from ewssim.engine.lifetimes import plan_graph
from ewssim.engine.reuse import Reuse
from ewssim.engine.sim import LayerResult, Progress
from ewssim.engine.sim import simulate as _simulate
from ewssim.engine.stalls import CAUSES as STALL_CAUSES
from ewssim.errors import InputError
from ewssim.hw.vector import VectorResult
from ewssim.tech import TechTable
from ewssim.tech import load as load_tech
from ewssim.workload import load_network
from ewssim.workload.layers import Network

#: derived byte columns: each is a sum of Traffic counters
SUM_COLUMNS = {
    "dram_read_bytes": ("dram_act_read_bytes", "dram_weight_read_bytes"),
    "dram_write_bytes": ("dram_out_write_bytes",),
    "l2_read_bytes": ("l2_act_read_bytes", "l2_weight_read_bytes", "l2_psum_read_bytes"),
    "l2_write_bytes": ("l2_out_write_bytes", "dram_act_read_bytes", "dram_weight_read_bytes"),
}
#: every counter column of the run table, in order: the derived sums, then each Traffic field
TRAFFIC_COLUMNS = [*SUM_COLUMNS, *TRAFFIC_FIELDS]
#: stall cycles by cause (docs/model-reference.md §4): they add up to stall_cycles
STALL_COLUMNS = [f"stall_{c}_cycles" for c in STALL_CAUSES]
#: the unit of every numeric column of the run table and of the totals
COLUMN_UNITS: dict[str, str] = {
    "M": "output pixels", "Kr": "reduction elements", "N": "output channels",
    "compute_cycles": "cycles", "stall_cycles": "cycles", "total_cycles": "cycles",
    "macs": "MACs", "utilization": "fraction of physical PE-cycles", "tiles": "tiles",
    "weight_load_cycles": "cycles", **dict.fromkeys(SUM_COLUMNS, "B"), **TRAFFIC_UNITS,
    **{f"stall_{c}_cycles": "cycles" for c in STALL_CAUSES},
    **{c: "pJ" for c in ENERGY_COLUMNS}, **dict.fromkeys(EFFICIENCY_COLUMNS, "TOPS/W"),
    "area_mm2": "mm2", "runtime_ms": "ms", "vector_cycles": "cycles",
    "residual_bytes": "B", "residual_dram_bytes": "B", "vector_nodes": "nodes",
}

#: where a compressed architecture's weights come from without --compressed
WEIGHT_SOURCES = ("analytic", "synthetic")


# ----------------------------------------------------------------------------- inputs

def stall_causes(totals: dict) -> list[tuple[str, int]]:
    """(cause, cycles) of a run's stalls, largest first, the causes that occurred
    (model-reference §4.5); ``totals``: :attr:`RunResult.totals` or a layers.csv row."""
    got = [(c.replace("_", " "), int(totals.get(f"stall_{c}_cycles", 0))) for c in STALL_CAUSES]
    return sorted([g for g in got if g[1]], key=lambda g: -g[1])


def preset(name: str) -> ArchConfig:
    """A preset architecture (any case): ``ews``, ``mvq``, ``s2ta-aw``, ...
    (:func:`ewssim.config.preset_names`)."""
    return _config.preset(name)


def load_arch(spec: str | Path | ArchConfig, *, array: str | tuple[int, int] | None = None,
              overrides: dict[str, Any] | Iterable[str] | None = None) -> ArchConfig:
    """A preset name, an architecture TOML file or an ArchConfig, checked, with ``array``
    (``"32x32"``) and ``overrides`` (``{"memory.dram_bytes_per_cycle": 8}`` or
    ``["memory.dram_bytes_per_cycle=8"]``, as ``--set``) applied."""
    a = _config.load(spec)
    if array is not None:
        rows, cols = _config.parse_array(array) if isinstance(array, str) else array
        a = a.with_array(rows, cols)
    if overrides:
        items = overrides if isinstance(overrides, dict) else dict(
            _config.parse_set(s) for s in overrides)
        a = a.replace(items, source="--set")
    return a


#: older name of :func:`load_arch`
resolve_arch = load_arch


def with_activation_profile(arch: ArchConfig, profile: str) -> ArchConfig:
    """``arch`` reading its input-activation densities from ``profile`` (a CSV, an .npz or
    "default")."""
    return arch.replace("activations.profile", str(profile), source="--activations")


def load_workload(workload: str | Path | Network,
                  input_shape: tuple[int, ...] | str | None = None) -> Network:
    """A zoo network (any case), a topology CSV, an ONNX model (``input_shape`` fixes its
    input, e.g. ``(1, 3, 640, 640)`` or ``"1,3,640,640"``), or a Network."""
    if isinstance(workload, Network):
        return workload
    if input_shape is not None:
        from ewssim.workload.onnx import parse_input_shape

        input_shape = parse_input_shape(input_shape)
    return load_network(str(workload), input_shape=input_shape)


resolve_workload = load_workload


# ----------------------------------------------------------------------------- weights

def compression_settings(arch: ArchConfig) -> Settings:
    w = arch.weights
    return Settings(format=w.weight_format, fit=w.fit, seed=w.seed,
                    int8_if_larger=w.int8_if_larger,
                    source=f"arch {arch.name}: [weights]").checked()


def cache_dir() -> Path:
    """Where synthetic weights compressed on the fly are kept: ``$EWSSIM_CACHE``, else
    ``$XDG_CACHE_HOME/ewssim/compressed`` (``~/.cache/ewssim/compressed``)."""
    if os.environ.get("EWSSIM_CACHE"):
        return Path(os.environ["EWSSIM_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "ewssim" / "compressed"


def _cache_key(net: Network, s: Settings) -> str:
    shapes = [(la.name, la.weight_shape) for la in net.layers if la.has_weights]
    text = json.dumps([FORMAT_VERSION, net.name, shapes, s.as_dict()], sort_keys=True,
                      default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def check_formats(arch: ArchConfig, formats: dict[str, LayerFormat], source: str) -> None:
    """Every compressed layer must be stored in the format the architecture's weight path
    decodes: any difference (method, N:M, d, k, mask encoding, codebook groups) changes
    cycles, bytes, energy or area, so it is refused, naming both values."""
    want = arch.weights.weight_format
    for f in formats.values():
        if f.format.int8:
            continue
        diff = want.differences(f.format)
        if diff:
            fld, arch_v, file_v = diff[0]
            key = "format" if fld == "method" else fld
            raise InputError(f"layer '{f.name}': compressed as {f.format.describe()}, the "
                             f"architecture decodes {want.describe()} ({fld} {file_v} vs "
                             f"{arch_v})", source=source, field=f"weights.{key}",
                             allowed=f"{file_v} (or recompress with {arch_v})")


def compressed_network(arch: ArchConfig, net: Network, *, compressed: str | Path | None = None,
                       weights: str = "analytic",
                       cache: str | Path | None = None) -> CompressedNetwork | None:
    """The compressed layers a run replays (for functional checks): the ``--compressed``
    directory, or the cached synthetic compression; ``None`` for INT8 or analytic runs."""
    if arch.weights.weight_format.int8:
        return None
    if compressed is not None:
        return load_network_dir(compressed)
    if weights != "synthetic":
        return None
    where = Path(cache or cache_dir()) / _cache_key(net, compression_settings(arch))
    return load_network_dir(where) if (where / "manifest.json").is_file() else None


def weight_formats(arch: ArchConfig, net: Network, *, compressed: str | Path | None = None,
                   weights: str = "analytic",
                   progress: Callable[[int, int, str], None] | None = None,
                   cache: str | Path | None = None,
                   ) -> tuple[dict[str, LayerFormat] | None, str]:
    """(per-layer formats or ``None`` for an INT8 architecture, a sentence saying where from).

    Without ``compressed``: ``weights="analytic"`` (default) plans every layer's format
    exactly as the compressor would, without k-means (same cycles, bytes and energy);
    ``"synthetic"`` compresses seeded synthetic weights (cached in ``cache`` or
    :func:`cache_dir`).  Both apply the same per-layer fit rule."""
    onnx_weights = str(weights).lower().endswith(".onnx")
    if weights not in WEIGHT_SOURCES and not onnx_weights:
        raise InputError(f"unknown weight source {weights!r}", field="--weights",
                         allowed=", ".join(WEIGHT_SOURCES) + " or an .onnx model")
    if arch.weights.weight_format.int8:
        if compressed is not None:
            raise InputError("an INT8 architecture does not replay compressed layers",
                             field="--compressed", allowed="an architecture with "
                             "weights.format = vq/mvq/casec/ssvq/dbb (e.g. --arch mvq)")
        return None, "INT8 weights"
    if compressed is not None:
        cn = load_network_dir(compressed)
        formats = formats_from_compressed(net, cn, str(compressed))
        check_formats(arch, formats, str(compressed))
        return formats, f"replaying compressed layers from {compressed}"
    s = compression_settings(arch)
    if onnx_weights:  # the model's own weights, compressed on the fly (not cached)
        cn = compress_network(net, str(weights), s, progress=progress)
        return ({cl.name: LayerFormat.from_compressed(cl) for cl in cn.layers},
                f"weights of {weights} compressed on the fly with {s.format.describe()}")
    if weights == "analytic":
        return plan_network(net, s), (f"analytic {s.format.describe()}: the compressor's "
                                      f"format and fit rule without k-means")
    where = Path(cache or cache_dir()) / _cache_key(net, s)
    how = (f"synthetic weights (seed {s.seed}) compressed on the fly with "
           f"{s.format.describe()}")
    if (where / "manifest.json").is_file():
        try:
            cn = load_network_dir(where)
            return formats_from_compressed(net, cn, str(where)), how + f", cached in {where}"
        except InputError:
            pass  # a damaged cache entry is recomputed below
    cn = compress_network(net, "synthetic", s, progress=progress)
    try:
        save_network(cn, where)
        how += f", cached in {where}"
    except (OSError, InputError):
        pass  # the cache is an optimisation only
    return {cl.name: LayerFormat.from_compressed(cl) for cl in cn.layers}, how


def compress(workload: str | Network, method: str = "mvq", *, weights: str = "synthetic",
             out: str | Path | None = None,
             progress: Callable[[int, int, str], None] | None = None,
             **settings) -> CompressedNetwork:
    """Compress ``workload``'s weights (``weights``: "synthetic", or an .npz/.npy/.safetensors
    file or directory) with ``method`` (mvq, vq, casec, ssvq, int8, dbb) and the keyword
    settings of :meth:`ewssim.compress.Settings.for_method` (a setting the method has no use
    for, such as ``k`` for dbb, is refused); written to ``out`` if given."""
    net = load_workload(workload)
    s = Settings.for_method(method, strict=True, **settings)
    cn = compress_network(net, weights, s, progress=progress)
    if out is not None:
        save_network(cn, out)
    return cn


# ----------------------------------------------------------------------------- results

_ROW_HEAD = ("layer", "type", "M", "Kr", "N", "compute_cycles", "stall_cycles", "total_cycles",
             "macs", "utilization", "tiles", "weight_load_cycles", "mapping")


def _row(r: LayerResult | VectorResult, hw: Hardware, em: EnergyModel | None = None) -> dict:
    t = r.traffic
    if isinstance(r, VectorResult):
        # a vector operator: no GEMM, no tiles; "mapping" says where it ran
        row = {"layer": r.op.name, "type": r.op.op, "M": 0, "Kr": 0, "N": 0,
               "macs": 0, "tiles": 0, "weight_load_cycles": 0,
               "mapping": "fused" if r.fused else "vector"}
    else:
        layer = r.mapping.layer
        g = layer.gemm
        row = {"layer": layer.name, "type": layer.kind, "M": g.m, "Kr": g.kr, "N": g.n,
               "macs": layer.macs, "tiles": len(r.mapping.schedule),
               "weight_load_cycles": int(r.mapping.schedule.load_cycles.sum()),
               "mapping": r.mapping.name}
    row.update({
        "compute_cycles": r.compute_cycles, "stall_cycles": r.stall_cycles,
        "total_cycles": r.total_cycles,
        "utilization": (t.executed_macs / (r.total_cycles * hw.physical_pes)
                        if r.total_cycles else 0.0),
    })
    row = {k: row[k] for k in _ROW_HEAD}
    for cause in STALL_CAUSES:
        row[f"stall_{cause}_cycles"] = int(r.stalls.get(cause, 0))
    counts = t.as_dict()
    for col, parts in SUM_COLUMNS.items():
        row[col] = sum(counts[p] for p in parts)
    row.update(counts)
    if em is not None:
        # energy is a separate step on the engine's counts (ewssim/energy)
        row.update(em.energy(row, r.total_cycles))
        row.update(em.efficiency(row["macs"], row["executed_macs"], row["energy_pJ"],
                                 r.total_cycles))
        row["area_mm2"] = em.area.total_mm2
    row["notes"] = "; ".join(r.notes)
    return row


def _kept_why(note: str) -> str:
    """The part of a layer's notes that says why it stayed INT8."""
    part = next(p for p in str(note).split("; ") if "kept INT8" in p)
    return part.split(": kept INT8")[0]


@dataclass(repr=False)
class RunResult:
    """A simulated run: ``layers`` (one row per layer, units in :data:`COLUMN_UNITS`),
    ``totals``, the architecture and the resolved hardware.  Printing it gives a short
    summary, not the table.

    ``layers`` may be given as the table's rows (dicts with the same keys in the same
    order): the DataFrame is then made when it is first read, and ``totals`` alone (a sweep
    point) never makes it."""

    arch: ArchConfig
    network: Network
    layers: pd.DataFrame
    results: list[LayerResult] | None = None
    tech: TechTable | None = None
    weights: str = ""
    hardware: Hardware | None = None

    @property
    def hw(self) -> Hardware:
        if self.hardware is None:
            self.hardware = resolve(self.arch)
        return self.hardware

    @functools.cached_property
    def energy_model(self) -> EnergyModel:
        return EnergyModel(self.hw, self.tech)

    @property
    def area(self) -> AreaReport:
        return self.energy_model.area

    @functools.cached_property
    def _residuals(self) -> tuple[int, int]:
        """(bytes of residual tensors, of which through DRAM): the engine's tensor lifetimes,
        decided once per run."""
        gp = plan_graph(self.network, self.hw)
        return gp.residual_bytes, gp.residual_spilled_bytes

    def _rows_only(self) -> list[dict] | None:
        """The table's rows while its DataFrame has not been made (else ``None``)."""
        rows = self.__dict__.get("_rows")
        return rows if rows and self.__dict__.get("_layers") is None else None

    def _columns(self, names: list[str], dtype) -> np.ndarray:
        """Columns ``names`` of the table as one C-contiguous (column, row) array."""
        rows = self._rows_only()
        if rows is not None:
            return np.array([[r[c] for r in rows] for c in names], dtype=dtype)
        return np.ascontiguousarray(self.layers[names].to_numpy(dtype=dtype).T)

    @property
    def totals(self) -> dict:
        rows = self._rows_only()
        lazy = rows is not None
        n_rows = len(rows) if lazy else len(self.layers)
        tot: dict = {"arch": self.arch.name, "workload": self.network.name,
                     "array": f"{self.arch.array.rows}x{self.arch.array.cols}",
                     "layers": len(self.network.layers), "vector_nodes": n_rows - len(
                         self.network.layers)}
        # whole columns at once (a pandas sum per column costs more than a small run);
        # the float columns are summed as pandas does (numpy's pairwise sum of each column)
        ints = ["compute_cycles", "stall_cycles", "total_cycles", "macs", "tiles",
                "weight_load_cycles", *STALL_COLUMNS, *TRAFFIC_COLUMNS]
        tot.update(zip(ints, self._columns(ints, np.int64).sum(axis=1).tolist(),
                       strict=True))
        vec = np.isin(self._columns(["mapping"], object)[0], ("vector", "fused"))
        tot["vector_cycles"] = int(self._columns(["total_cycles"], np.int64)[0][vec].sum())
        tot["residual_bytes"], tot["residual_dram_bytes"] = self._residuals
        pes = self.hw.physical_pes
        tot["utilization"] = (tot["executed_macs"] / (tot["total_cycles"] * pes)
                              if tot["total_cycles"] else 0.0)
        tot["runtime_ms"] = tot["total_cycles"] / (self.arch.clock_mhz * 1e3)
        if "energy_pJ" in (rows[0] if lazy else self.layers):
            em = self.energy_model
            sums = self._columns(ENERGY_COLUMNS, np.float64)
            tot.update(zip(ENERGY_COLUMNS, sums.sum(axis=1).tolist(), strict=True))
            tot.update(em.efficiency(tot["macs"], tot["executed_macs"], tot["energy_pJ"],
                                     tot["total_cycles"]))
            tot["area_mm2"] = em.area.total_mm2
        return tot

    def summary(self) -> str:
        """A few lines: what ran, cycles, energy, area."""
        t = self.totals
        lines = [f"{self.network.name} on {self.arch.name} ({t['array']} array, "
                 f"{self.hw.dataflow} dataflow, {t['layers']} layers"
                 + (f" + {t['vector_nodes']} vector operators" if t["vector_nodes"] else "")
                 + (f"; weights: {self.weights}" if self.weights else "") + ")",
                 f"  total cycles {t['total_cycles']:,} (compute {t['compute_cycles']:,}, "
                 f"stalls {t['stall_cycles']:,}"
                 + "".join(f"; {c} {n:,}" for c, n in stall_causes(t))
                 + f"), utilization {t['utilization']:.3f}",
                 f"  DRAM {t['dram_read_bytes'] + t['dram_write_bytes']:,} B"]
        if t["vector_cycles"] or t["residual_bytes"]:
            lines.insert(2, f"  vector unit {t['vector_cycles']:,} cycles; residual tensors "
                            f"{t['residual_bytes']:,} B ({t['residual_dram_bytes']:,} B "
                            "through DRAM)")
        kept = [(n, note) for n, note in zip(self.layers["layer"], self.layers["notes"],
                                             strict=True) if "kept INT8" in str(note)]
        if kept:
            shown = "; ".join(f"{n} ({_kept_why(note)})" for n, note in kept[:4])
            lines.append(f"  kept INT8: {len(kept)} layer(s): {shown}"
                         + (f"; ... ({len(kept) - 4} more in layers.csv notes)"
                            if len(kept) > 4 else ""))
        if "energy_pJ" in t:
            dram_line = 3 if (t["vector_cycles"] or t["residual_bytes"]) else 2
            lines[dram_line] += (f", energy {t['energy_pJ'] / 1e6:,.1f} uJ, "
                                 f"{t['tops_per_w_dense']:.3f} TOPS/W (dense-equiv.), "
                                 f"area {t['area_mm2']:.3f} mm2")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"<RunResult\n{self.summary()}\n(.layers: {len(self.layers)} rows; .totals)>"

    def _repr_html_(self) -> str:
        import html

        return "<pre>" + html.escape(self.summary()) + "</pre>"

    def write(self, out: str | Path, extra: dict | None = None) -> Path:
        """``layers.csv`` and ``summary.json`` into ``out`` (each written to a temp name
        first); ``extra`` adds keys to summary.json (e.g. a functional check's result)."""
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        tmp = out / ".layers.csv.tmp"
        self.layers.to_csv(tmp, index=False)
        tmp.replace(out / "layers.csv")
        tmp = out / ".summary.json.tmp"
        summary = {"totals": self.totals, "weights": self.weights,
                   "units": {k: v for k, v in COLUMN_UNITS.items()
                             if k in self.layers or k in ("runtime_ms", "vector_cycles",
                                                          "residual_bytes",
                                                          "residual_dram_bytes")}}
        if "energy_pJ" in self.layers:
            summary["area"] = self.area.as_json()
            summary["tech"] = self.energy_model.tech.name
        summary["arch_toml"] = _config.to_toml(self.arch, comments=False)
        summary.update(extra or {})
        tmp.write_text(json.dumps(summary, indent=1) + "\n")
        tmp.replace(out / "summary.json")
        return out


def _get_layers(run: RunResult) -> pd.DataFrame:
    df = run.__dict__.get("_layers")
    if df is None:
        df = run.__dict__["_layers"] = pd.DataFrame(run.__dict__["_rows"])
    return df


def _set_layers(run: RunResult, value) -> None:
    if isinstance(value, pd.DataFrame):
        run.__dict__.update(_layers=value, _rows=None)
    else:
        run.__dict__.update(_layers=None, _rows=list(value))


RunResult.layers = property(_get_layers, _set_layers,     # after @dataclass made __init__
                            doc="One row per layer and vector operator (a DataFrame).")


def simulate(arch: str | ArchConfig, workload: str | Network, *,
             array: str | tuple[int, int] | None = None,
             overrides: dict[str, Any] | Iterable[str] | None = None,
             progress: Progress | None = None,
             formats: dict[str, LayerFormat] | None = None,
             compressed: str | Path | None = None, weights: str = "analytic",
             tech: str | Path | TechTable | None = None,
             mapping: str | dict[str, str] | None = None,
             batch: int | None = None, jobs: int = 1, reuse: Reuse | None = None
             ) -> RunResult:
    """Simulate ``workload`` on ``arch`` (checked again, whatever made it).  A compressed
    architecture takes its per-layer weight formats from ``formats``, else from
    :func:`weight_formats` (``compressed`` / ``weights``).  Energy and area are priced
    afterwards from the engine's counts with the technology table ``tech`` (default: 40 nm,
    :mod:`ewssim.tech`).  ``mapping`` pins the mapping candidate of every layer (a name such
    as ``stream``) or of some layers (layer name -> candidate name); the notes column says
    which was chosen and why.  ``batch`` runs the network on that many inputs
    (:meth:`~ewssim.workload.layers.Network.with_batch`).  ``jobs`` > 1 plans the layers and
    runs the segments in that many worker processes (same results;
    :mod:`ewssim.engine.workers`).  ``reuse``: a :class:`~ewssim.engine.reuse.Reuse` shared by
    calls that differ only in the L2 size (e.g. an L2 sweep, largest first): each uses the
    layer plans and runs of the earlier ones where its L2 does not change them (same
    results)."""
    a = load_arch(arch, array=array, overrides=overrides)
    net = load_workload(workload)
    if batch is not None:
        net = net.with_batch(batch)
    how = "given formats"
    if formats is None:
        formats, how = weight_formats(a, net, compressed=compressed, weights=weights)
    flow = dataflow_of(a)
    hw = flow.resolve(a)     # ``a`` is checked (load_arch)
    t = load_tech(tech)
    em = EnergyModel(hw, t)  # built first: a bad table fails before the engine runs
    gp = plan_graph(net, hw)
    results = _simulate(net, hw, progress=progress, formats=formats, flow=flow,
                        mapping=mapping, jobs=jobs, reuse=reuse, graph=gp)
    run = RunResult(arch=a, network=net, layers=[_row(r, hw, em) for r in results],
                    results=results, tech=t, weights=how, hardware=hw)
    # what the run's totals read again, computed once here (functools.cached_property)
    run.__dict__.update(energy_model=em, _residuals=(gp.residual_bytes,
                                                     gp.residual_spilled_bytes))
    return run


def check_functional(result: RunResult, *, max_macs: int = 20_000_000, seed: int = 0,
                     compressed=None,
                     progress: Progress | None = None) -> tuple[list[str], list[str]]:
    """Execute every layer's mapping tile by tile on seeded random INT8 activations and compare
    the outputs with a plain convolution, exactly (:mod:`ewssim.engine.functional`).  INT8
    layers use seeded random weights; compressed layers (``compressed``: the
    :class:`~ewssim.compress.CompressedNetwork` the run replays) run the weights the loader
    model decodes, against ``decode()``; on a time-unrolled S2TA-AW array the activations are
    DBB-pruned first.  Layers above ``max_macs``, and compressed layers without their
    compressed weights (analytic formats), are skipped.  Returns (checked, skipped) layer
    names; a mismatch raises :class:`~ewssim.errors.EwssimError` naming the layer and the
    first differing element."""
    from ewssim.engine.functional import check_functional as _check

    hw = result.hw
    layers = {cl.name: cl for cl in compressed.layers} if compressed is not None else {}
    checked, skipped = [], []
    items = result.results or []
    compressed_arch = not hw.weight_format.int8
    for i, r in enumerate(items):
        if isinstance(r, VectorResult):
            continue
        layer = r.mapping.layer
        cl = layers.get(layer.name)
        if layer.macs > max_macs or (compressed_arch and layer.has_weights and cl is None):
            skipped.append(layer.name)
        else:
            weights = None if cl is None or cl.format.int8 else cl
            act_dbb = None
            if r.mapping.lhw is not None and r.mapping.lhw.time_unrolled:
                act_dbb = (hw.act_block, r.mapping.schedule.slot_cycles)
            _check(layer, r.mapping, seed, weights=weights, act_dbb=act_dbb)
            checked.append(layer.name)
        if progress:
            progress(i + 1, len(items), layer.name)
    return checked, skipped
