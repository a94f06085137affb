"""Input-activation density per layer (hardware-model spec §4.4: S2TA-AW takes it as an input).

An :class:`ActivationProfile` maps every layer of a network to the density of its input
activations: the fraction of non-zero values, in ``(0, 1]``.  Three sources:

* :func:`load_activation_csv` -- a ``layer,density`` CSV (``#`` comments, blank lines allowed);
* :func:`load_activation_npz` -- real activation tensors, one array per layer name in an ``.npz``;
  density = ``count_nonzero / size``;
* :func:`default_activation_profile` -- the documented default rule below.

Default rule (docs/workloads.md, "Activation density"):

* the network's first layer reads the image: **1.0**;
* a network with activation x activation ``matmul`` layers is a transformer (GELU, softmax and
  LayerNorm outputs have no exact zeros): **1.0** for every layer;
* a layer whose input is a global average pool (a ``linear`` layer on one token whose ``in_c``
  equals the ``out_c`` of the previous layer, which has a spatial output > 1x1 -- ResNet's ``fc``,
  MobileNet-V2's classifier): **1.0** (an average of post-ReLU values is almost never 0)
  [engineering estimate];
* a layer after MobileNet-V2's linear bottleneck (its previous layer is a 1x1, ``groups = 1``
  conv directly after a depthwise conv: the projection has no activation): **1.0**;
* every other layer reads a ReLU output: :data:`POST_RELU_DENSITY` = **0.56**, i.e. 44 % zeros,
  the average fraction of zero input activations of convolutional layers measured by Cnvlutin
  (J. Albericio et al., "Cnvlutin: Ineffectual-Neuron-Free Deep Neural Network Computing",
  ISCA 2016; the figure is also quoted by S. Shi and X. Chu, arXiv:1704.07724, 2017).

The layer model does not record activation functions, so the structural tests above are
heuristics; a profile (CSV or measured tensors) overrides them.

Activation DBB (S2TA-AW): the dynamic activation pruning unit keeps the top ``NNZ_a`` of every
block of ``BZ`` activations; :func:`nnz_per_block` picks ``NNZ_a = max(1, ceil(density * BZ))``,
which keeps, on average, every non-zero of the layer.
"""

from __future__ import annotations

import math
import os
import zipfile
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ewssim.errors import InputError
from ewssim.workload.layers import Layer, Network

#: Input density of a layer after ReLU: 1 - 0.44 (Cnvlutin, ISCA 2016: on average 44 % of the
#: input activations of convolutional layers are zero).
POST_RELU_DENSITY = 0.56
#: Input density of the first layer (the image), transformer layers, and inputs without ReLU.
DENSE = 1.0
DEFAULT_SOURCE = ("default rule: first layer 1.0, transformer 1.0, after global pool or linear "
                  "bottleneck 1.0, after ReLU 0.56 (Cnvlutin ISCA 2016: 44% zeros)")


def nnz_per_block(density: float, bz: int) -> int:
    """Activation-DBB non-zeros per block of ``bz``: ``max(1, ceil(density * bz))`` (at most
    ``bz``).  S2TA-AW keeps the top-NNZ_a activations of each block; NNZ_a >= density * BZ keeps,
    on average, every non-zero."""
    if isinstance(bz, bool) or not isinstance(bz, int) or bz < 1:
        raise ValueError(f"block size must be a positive integer, got {bz!r}")
    if not (0.0 <= density <= 1.0):
        raise ValueError(f"density must be in [0, 1], got {density!r}")
    # tolerate float noise such as 0.375 * 8 = 3.0000000000000004
    return min(bz, max(1, math.ceil(density * bz - 1e-9)))


@dataclass(frozen=True)
class ActivationProfile(Mapping):
    """Input-activation density of every layer, ``{layer name: density in (0, 1]}``.

    Behaves as a read-only mapping in network order; ``source`` says where it came from."""

    network: str
    densities: dict[str, float]
    source: str = ""
    rules: dict[str, str] = field(default_factory=dict)  # layer -> why (default rule only)

    def __getitem__(self, name: str) -> float:
        return self.densities[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self.densities)

    def __len__(self) -> int:
        return len(self.densities)

    def density(self, layer: Layer | str) -> float:
        return self.densities[layer if isinstance(layer, str) else layer.name]

    def nnz_per_block(self, layer: Layer | str, bz: int) -> int:
        """Activation-DBB NNZ_a of ``layer`` for blocks of ``bz`` (:func:`nnz_per_block`)."""
        return nnz_per_block(self.density(layer), bz)

    def mean(self, network: Network | None = None) -> float:
        """Plain mean over layers, or MAC-weighted over ``network``'s layers."""
        if network is None:
            return float(np.mean(list(self.densities.values())))
        macs = [(la.macs, self.densities[la.name]) for la in network.layers]
        total = sum(m for m, _ in macs)
        return sum(m * d for m, d in macs) / total if total else 0.0


# --------------------------------------------------------------------------- default rule
def _default_rule(net: Network, i: int) -> tuple[float, str]:
    la = net.layers[i]
    if i == 0:
        return DENSE, "first layer (image input)"
    if any(x.kind == "matmul" for x in net.layers):
        return DENSE, "transformer (GELU/softmax/LayerNorm: no exact zeros)"
    prev = net.layers[i - 1]
    if (la.kind == "linear" and la.in_h * la.in_w == 1 and la.in_c == prev.out_c
            and prev.out_h * prev.out_w > 1):
        return DENSE, "after global average pooling"
    if (i >= 2 and prev.kind == "conv" and prev.groups == 1
            and (prev.kernel_h, prev.kernel_w) == (1, 1) and net.layers[i - 2].is_depthwise):
        return DENSE, "after a linear bottleneck (projection without activation)"
    return POST_RELU_DENSITY, "after ReLU (Cnvlutin, ISCA 2016: 44% zeros)"


def default_activation_profile(network: Network) -> ActivationProfile:
    """The documented default (module docstring): 1.0 or 0.56 per layer, with the reason."""
    dens, why = {}, {}
    for i, la in enumerate(network.layers):
        dens[la.name], why[la.name] = _default_rule(network, i)
    return ActivationProfile(network.name, dens, DEFAULT_SOURCE, why)


# --------------------------------------------------------------------------- CSV profile
def _check_density(v: float, *, source: str, line: int | None, fld: str) -> float:
    if not (math.isfinite(v) and 0.0 < v <= 1.0):
        raise InputError(f"density {v!r} is outside (0, 1]", source=source, line=line,
                         field=fld, allowed="0 < density <= 1 (fraction of non-zero values)")
    return v


def parse_activation_csv(text: str, network: Network, source: str = "<text>") -> ActivationProfile:
    """Parse a ``layer,density`` profile; every layer of ``network`` exactly once."""
    names = {la.name for la in network.layers}
    found: dict[str, float] = {}
    header_seen = False
    for no, raw in enumerate(text.splitlines(), start=1):
        s = raw.split("#", 1)[0].strip()
        if not s:
            continue
        f = [x.strip() for x in s.split(",")]
        if f and f[-1] == "" and len(f) == 3:
            f = f[:2]  # a trailing comma
        if not header_seen:
            if [x.lower() for x in f] != ["layer", "density"]:
                raise InputError(f"header is {s!r}", source=source, line=no, field="header",
                                 allowed="layer,density")
            header_seen = True
            continue
        if len(f) != 2:
            raise InputError(f"{len(f)} fields, expected 2", source=source, line=no,
                             field="layer,density", allowed="<layer name>,<density>")
        name, text_v = f
        if name not in names:
            raise InputError(f"unknown layer {name!r} (not in network {network.name!r})",
                             source=source, line=no, field="layer",
                             allowed="a layer name of the network")
        if name in found:
            raise InputError(f"layer {name!r} appears twice", source=source, line=no,
                             field="layer", allowed="each layer once")
        try:
            v = float(text_v)
        except ValueError:
            raise InputError(f"{text_v!r} is not a number", source=source, line=no,
                             field="density", allowed="0 < density <= 1") from None
        found[name] = _check_density(v, source=source, line=no, fld="density")
    if not header_seen:
        raise InputError("no header row", source=source, field="header", allowed="layer,density")
    missing = [la.name for la in network.layers if la.name not in found]
    if missing:
        more = f" (+{len(missing) - 3} more)" if len(missing) > 3 else ""
        raise InputError(f"no density for {len(missing)} layer(s) of {network.name!r}: "
                         f"{', '.join(missing[:3])}{more}", source=source, field="layer",
                         allowed="one row per layer of the network")
    dens = {la.name: found[la.name] for la in network.layers}
    return ActivationProfile(network.name, dens, source)


def load_activation_csv(path: str | os.PathLike, network: Network) -> ActivationProfile:
    """Read a ``layer,density`` CSV profile (see :func:`parse_activation_csv`)."""
    try:
        text = Path(path).read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read: {getattr(exc, 'strerror', None) or exc}",
                         source=str(path), field="file") from None
    return parse_activation_csv(text, network, str(path))


# --------------------------------------------------------------------------- activation tensors
def load_activation_npz(path: str | os.PathLike, network: Network) -> ActivationProfile:
    """Densities measured on real activation tensors: an ``.npz`` with one array per layer
    name (the layer's input, any batch size: its size must be a multiple of
    ``in_h * in_w * in_c``, except for matmul layers); density = ``count_nonzero / size``."""
    src = str(path)
    names = [la.name for la in network.layers]
    by_name = {la.name: la for la in network.layers}
    try:
        npz = np.load(path, allow_pickle=False)
        if not isinstance(npz, np.lib.npyio.NpzFile):
            raise ValueError("not an .npz archive")
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise InputError(f"not a readable .npz archive ({type(exc).__name__}: {exc})",
                         source=src, field="file") from None
    dens: dict[str, float] = {}
    with npz:
        keys = list(npz.files)
        for key in keys:
            if key not in by_name:
                raise InputError(f"array {key!r} is not a layer of network {network.name!r}",
                                 source=src, field=key, allowed="one array per layer name")
        missing = [n for n in names if n not in keys]
        if missing:
            more = f" (+{len(missing) - 3} more)" if len(missing) > 3 else ""
            raise InputError(f"no activation array for {len(missing)} layer(s): "
                             f"{', '.join(missing[:3])}{more}", source=src, field=missing[0],
                             allowed="one array per layer name")
        for name in names:
            try:
                a = npz[name]
            except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile,
                    zlib.error) as exc:
                raise InputError(f"corrupt or truncated array ({type(exc).__name__}: {exc})",
                                 source=src, field=name) from None
            if a.dtype.kind not in "biuf":
                raise InputError(f"dtype {a.dtype} is not numeric", source=src, field=name)
            la = by_name[name]
            per = la.in_h * la.in_w * la.in_c
            if a.size == 0 or (la.kind != "matmul" and a.size % per):
                raise InputError(f"{a.size} values are not a batch of layer inputs "
                                 f"({la.in_h}x{la.in_w}x{la.in_c} = {per} each)", source=src,
                                 field=name, allowed=f"a multiple of {per} values")
            if a.dtype.kind == "f" and not np.isfinite(a).all():
                raise InputError("contains NaN or infinity", source=src, field=name)
            v = np.count_nonzero(a) / a.size
            if v == 0:
                raise InputError("is all zeros: density 0 is outside (0, 1]", source=src,
                                 field=name, allowed="at least one non-zero value")
            dens[name] = float(v)
    return ActivationProfile(network.name, dens, f"{src} (measured: count_nonzero/size)")


# --------------------------------------------------------------------------- one entry point
def load_activation_profile(spec: str | os.PathLike | None, network: Network) -> ActivationProfile:
    """``None`` or ``"default"`` -> the default rule; a ``.csv`` -> a profile; an ``.npz`` ->
    measured activation tensors."""
    if spec is None or str(spec) == "default":
        return default_activation_profile(network)
    p = Path(spec)
    if p.suffix.lower() == ".csv":
        return load_activation_csv(p, network)
    if p.suffix.lower() == ".npz":
        return load_activation_npz(p, network)
    raise InputError(f"unsupported activation source {p.suffix or str(spec)!r}", source=str(spec),
                     field="activations", allowed="default, a .csv profile or an .npz of tensors")
