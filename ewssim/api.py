"""The Python face of ewssim: what the CLI calls and what users script against.

``simulate(arch, workload)`` -> :class:`RunResult` with a per-layer DataFrame and totals.
``weight_formats(arch, network, ...)`` -> the per-layer weight formats a codebook architecture
replays (from a compressed directory, from synthetic weights compressed on the fly, or from the
analytic plan, which gives the same formats without running k-means).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ewssim import config as _config
from ewssim.area import AreaReport
from ewssim.compress import Settings, compress_network, load_network_dir, save_network
from ewssim.compress.format import FORMAT_VERSION
from ewssim.compress.plan import LayerFormat, formats_from_compressed, plan_network
from ewssim.config import ArchConfig
from ewssim.energy import EFFICIENCY_COLUMNS, ENERGY_COLUMNS, EnergyModel
from ewssim.engine.sim import LayerResult, Progress
from ewssim.engine.sim import simulate as _simulate
from ewssim.errors import InputError
from ewssim.tech import TechTable
from ewssim.tech import load as load_tech
from ewssim.workload import load_network
from ewssim.workload.layers import Network

#: per-layer and total columns, in order; the unit is in every name (utilization is a fraction)
TRAFFIC_COLUMNS = [
    "dram_read_bytes", "dram_write_bytes", "dram_act_read_bytes", "dram_weight_read_bytes",
    "dram_out_write_bytes",
    "l2_read_bytes", "l2_write_bytes", "l2_act_read_bytes", "l2_weight_read_bytes",
    "l2_psum_read_bytes", "l2_out_write_bytes",
    "l1_act_read_bytes", "l1_weight_read_bytes", "l1_psum_read_bytes", "l1_out_write_bytes",
    "int8_weight_bytes", "crf_reads", "crf_reload_bytes", "lzc_decodes", "executed_macs",
    "wrf_writes", "wrf_reads", "arf_writes", "arf_reads", "act_hops", "psum_hops",
    "prf_accesses", "mux_selects",
]
CYCLE_COLUMNS = ["compute_cycles", "stall_cycles", "total_cycles", "macs", "utilization"]
#: energy (pJ, total and per component), efficiency and whole-accelerator area columns
ENERGY_AREA_COLUMNS = [*ENERGY_COLUMNS, *EFFICIENCY_COLUMNS, "area_mm2"]


def resolve_arch(arch: str | ArchConfig, array: str | tuple[int, int] | None = None) -> ArchConfig:
    a = arch if isinstance(arch, ArchConfig) else _config.load(arch)
    if array is not None:
        rows, cols = _config.parse_array(array) if isinstance(array, str) else array
        a = _config.validate(a.with_array(rows, cols), source="--array")
    return a


def with_activation_profile(arch: ArchConfig, profile: str) -> ArchConfig:
    """``arch`` reading its input-activation densities from ``profile`` (a CSV, an .npz or
    "default")."""
    import dataclasses

    return dataclasses.replace(arch, activations=dataclasses.replace(arch.activations,
                                                                      profile=str(profile)))


def resolve_workload(workload: str | Network) -> Network:
    return workload if isinstance(workload, Network) else load_network(workload)


WEIGHT_SOURCES = ("synthetic", "analytic")


def compression_settings(arch: ArchConfig) -> Settings:
    w = arch.weights
    return Settings.for_method(w.format, nm=w.n_m, k=w.k, d=w.d, mask_encoding=w.mask_encoding,
                               codebook_groups=w.codebook_groups, fit=w.fit, seed=w.seed,
                               source=f"arch {arch.name}: [weights]")


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "ewssim" / "compressed"


def _cache_key(net: Network, s: Settings) -> str:
    shapes = [(la.name, la.weight_shape) for la in net.layers if la.has_weights]
    text = json.dumps([FORMAT_VERSION, net.name, shapes, s.as_dict()], sort_keys=True,
                      default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def check_formats(arch: ArchConfig, formats: dict[str, LayerFormat], source: str) -> None:
    """Every compressed layer must be what the architecture's weight path decodes."""
    w = arch.weights
    for f in formats.values():
        if f.dense:
            continue
        checks = [("method", f.method, w.format), ("nm", f.nm, w.n_m)]
        if f.codebook:
            checks += [("d", f.d, w.d), ("k", f.k, w.k)]
        for fld, have, want in checks:
            if have != want:
                raise InputError(f"layer '{f.name}': compressed with {fld} = {have}, the "
                                 f"architecture decodes {fld} = {want}", source=source,
                                 field=f"weights.{'format' if fld == 'method' else fld}",
                                 allowed=f"{have} (or recompress with {want})")


def compressed_network(arch: ArchConfig, net: Network, *, compressed: str | Path | None = None,
                       weights: str = "synthetic"):
    """The compressed layers a run replays (for functional checks): the ``--compressed``
    directory, or the cached synthetic compression; ``None`` for INT8 or analytic runs."""
    if not arch.weights.compressed:
        return None
    if compressed is not None:
        return load_network_dir(compressed)
    if weights != "synthetic":
        return None
    where = cache_dir() / _cache_key(net, compression_settings(arch))
    return load_network_dir(where) if (where / "manifest.json").is_file() else None


def weight_formats(arch: ArchConfig, net: Network, *, compressed: str | Path | None = None,
                   weights: str = "synthetic",
                   progress: Callable[[int, int, str], None] | None = None,
                   ) -> tuple[dict[str, LayerFormat] | None, str]:
    """(per-layer formats or ``None`` for an INT8 architecture, a sentence saying where from)."""
    if not arch.weights.compressed:
        if compressed is not None:
            raise InputError("an INT8 architecture does not replay compressed layers",
                             field="--compressed", allowed="an architecture with "
                             "weights.format = vq/mvq/casec/ssvq (e.g. --arch mvq)")
        return None, "INT8 weights"
    if compressed is not None:
        cn = load_network_dir(compressed)
        formats = formats_from_compressed(net, cn, str(compressed))
        check_formats(arch, formats, str(compressed))
        return formats, f"replaying compressed layers from {compressed}"
    s = compression_settings(arch)
    if weights == "analytic":
        return plan_network(net, s), (f"analytic {s.method} format (k={s.k}, d={s.d}, "
                                      f"N:M={s.n_m[0]}:{s.n_m[1]}; no k-means)")
    if weights != "synthetic":
        raise InputError(f"unknown weight source {weights!r}", field="--weights",
                         allowed=", ".join(WEIGHT_SOURCES))
    where = cache_dir() / _cache_key(net, s)
    how = (f"synthetic weights (seed {s.seed}) compressed on the fly with {s.method} "
           f"(k={s.k}, d={s.d}, N:M={s.n_m[0]}:{s.n_m[1]})")
    if (where / "manifest.json").is_file():
        try:
            cn = load_network_dir(where)
            return formats_from_compressed(net, cn, str(where)), how + f", cached in {where}"
        except InputError:
            pass  # a damaged cache entry is recomputed below
    cn = compress_network(net, "synthetic", s, progress=progress)
    try:
        save_network(cn, where)
    except (OSError, InputError):
        pass  # the cache is an optimisation only
    return {cl.name: LayerFormat.from_compressed(cl) for cl in cn.layers}, how


def _row(r: LayerResult, arch: ArchConfig, em: EnergyModel | None = None) -> dict:
    layer = r.mapping.layer
    t = r.traffic
    pes = arch.physical_pes
    g = layer.gemm
    row = {
        "layer": layer.name, "type": layer.kind, "M": g.m, "Kr": g.kr, "N": g.n,
        "compute_cycles": r.compute_cycles, "stall_cycles": r.stall_cycles,
        "total_cycles": r.total_cycles, "macs": layer.macs,
        "utilization": t.executed_macs / (r.total_cycles * pes) if r.total_cycles else 0.0,
        "tiles": len(r.mapping.schedule),
        "weight_load_cycles": int(r.mapping.schedule.load_cycles.sum()),
    }
    row["dram_read_bytes"] = t.dram_act_read_bytes + t.dram_weight_read_bytes
    row["dram_write_bytes"] = t.dram_out_write_bytes
    row["l2_read_bytes"] = t.l2_act_read_bytes + t.l2_weight_read_bytes + t.l2_psum_read_bytes
    row["l2_write_bytes"] = t.l2_out_write_bytes + t.dram_act_read_bytes + \
        t.dram_weight_read_bytes
    row.update(t.as_dict())
    if em is not None:
        # energy is a separate step on the engine's counts (ewssim/energy)
        row.update(em.energy(row, r.total_cycles))
        row.update(em.efficiency(row["macs"], row["executed_macs"], row["energy_pJ"],
                                 r.total_cycles))
        row["area_mm2"] = em.area.total_mm2
    row["notes"] = "; ".join(r.notes)
    return row


@dataclass
class RunResult:
    arch: ArchConfig
    network: Network
    layers: pd.DataFrame
    results: list[LayerResult] | None = None
    tech: TechTable | None = None

    @property
    def energy_model(self) -> EnergyModel:
        return EnergyModel(self.arch, self.tech)

    @property
    def area(self) -> AreaReport:
        return self.energy_model.area

    @property
    def totals(self) -> dict:
        df = self.layers
        tot: dict = {"arch": self.arch.name, "workload": self.network.name,
                     "array": f"{self.arch.array.rows}x{self.arch.array.cols}",
                     "layers": len(df)}
        for c in ["compute_cycles", "stall_cycles", "total_cycles", "macs", "tiles",
                  "weight_load_cycles", *TRAFFIC_COLUMNS]:
            tot[c] = int(df[c].sum())
        pes = self.arch.physical_pes
        tot["utilization"] = (tot["executed_macs"] / (tot["total_cycles"] * pes)
                              if tot["total_cycles"] else 0.0)
        tot["runtime_ms"] = tot["total_cycles"] / (self.arch.clock_mhz * 1e3)
        if "energy_pJ" in df:
            em = self.energy_model
            for c in ENERGY_COLUMNS:
                tot[c] = float(df[c].sum())
            tot.update(em.efficiency(tot["macs"], tot["executed_macs"], tot["energy_pJ"],
                                     tot["total_cycles"]))
            tot["area_mm2"] = em.area.total_mm2
        return tot

    def write(self, out: str | Path) -> Path:
        """``layers.csv`` and ``summary.json`` into ``out`` (each written to a temp name first)."""
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        tmp = out / ".layers.csv.tmp"
        self.layers.to_csv(tmp, index=False)
        tmp.replace(out / "layers.csv")
        tmp = out / ".summary.json.tmp"
        summary = {"totals": self.totals}
        if "energy_pJ" in self.layers:
            summary["area"] = self.area.as_json()
            summary["tech"] = self.energy_model.tech.name
        summary["arch_toml"] = _config.to_toml(self.arch, comments=False)
        tmp.write_text(json.dumps(summary, indent=1) + "\n")
        tmp.replace(out / "summary.json")
        return out


def simulate(arch: str | ArchConfig, workload: str | Network, *,
             array: str | tuple[int, int] | None = None,
             progress: Progress | None = None,
             formats: dict[str, LayerFormat] | None = None,
             compressed: str | Path | None = None, weights: str = "synthetic",
             tech: str | Path | TechTable | None = None) -> RunResult:
    """Simulate ``workload`` on ``arch``.  A codebook architecture takes its per-layer weight
    formats from ``formats``, else from :func:`weight_formats` (``compressed`` / ``weights``).
    Energy and area are priced afterwards from the engine's counts with the technology table
    ``tech`` (default: 40 nm, :mod:`ewssim.tech`)."""
    a = resolve_arch(arch, array)
    net = resolve_workload(workload)
    if formats is None:
        formats, _ = weight_formats(a, net, compressed=compressed, weights=weights)
    t = load_tech(tech)
    em = EnergyModel(a, t)  # built first: a bad table fails before the engine runs
    results = _simulate(net, a, progress=progress, formats=formats)
    df = pd.DataFrame([_row(r, a, em) for r in results])
    return RunResult(arch=a, network=net, layers=df, results=results, tech=t)


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

    arch = result.arch
    layers = {cl.name: cl for cl in compressed.layers} if compressed is not None else {}
    checked, skipped = [], []
    items = result.results or []
    for i, r in enumerate(items):
        layer = r.mapping.layer
        cl = layers.get(layer.name)
        needs_weights = arch.weights.compressed and layer.has_weights
        if layer.macs > max_macs or (needs_weights and cl is None):
            skipped.append(layer.name)
        else:
            weights = None if cl is None or cl.is_dense else cl
            act_dbb = None
            if arch.activations.dbb and weights is not None and cl.method == "dbb" and \
                    cl.is_pruned:
                act_dbb = (arch.activations.block, r.mapping.schedule.slot_cycles)
            _check(layer, r.mapping, seed, weights=weights, act_dbb=act_dbb)
            checked.append(layer.name)
        if progress:
            progress(i + 1, len(items), layer.name)
    return checked, skipped
