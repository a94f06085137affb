"""Weight sources: seeded synthetic tensors, or arrays from files a user brings.

``open_weights(spec, network, seed)`` returns an object with ``get(layer) -> float32 array`` of
``layer.weight_shape``:

* ``"synthetic"`` -- :class:`SyntheticWeights`: He-scaled (std ``sqrt(2/fan_in)``) Student-t
  values (``df = 4``, unit variance, heavy tails) times a per-output-channel log-normal scale
  (``sigma = 0.5``), seeded per layer by ``(seed, crc32(layer name))`` so a layer's weights do
  not depend on the other layers.
* a ``.npz`` file, a ``.npy`` file (single weighted layer), a directory of ``<layer>.npy`` files,
  or a ``.safetensors`` file (read directly: 8-byte little-endian header length, JSON header, raw
  buffer; dtypes F64, F32, F16, BF16).
* an ``.onnx`` model -- :class:`OnnxWeights`: the model's own weights, by layer name (the
  workload must be the same model, imported with :mod:`ewssim.workload.onnx`).

Matching arrays to layers (files): **by name** when any array key equals a weighted layer's name
or ``<name>.weight`` -- then every weighted layer must be found; otherwise **by order**: the file
must hold exactly one array per weighted layer, taken in file order (``.npz`` archive order,
``.safetensors`` data-offset order, directory sorted by name).  An array of the layer's shape, or
``(out_c, in_c)`` for a 1x1 layer (a PyTorch linear weight), is accepted; anything else is an
InputError naming the layer and both shapes.
"""

from __future__ import annotations

import json
import os
import struct
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ewssim.errors import InputError

SYNTHETIC = "synthetic"


class SyntheticWeights:
    """Seeded synthetic weights with realistic statistics (see the module docstring)."""

    def __init__(self, seed: int = 0, df: float = 4.0, channel_sigma: float = 0.5):
        self.seed = int(seed)
        self.df = float(df)
        self.channel_sigma = float(channel_sigma)
        self.description = f"synthetic(seed={self.seed}, student-t df={self.df:g}, " \
                           f"log-normal channel sigma={self.channel_sigma:g})"

    def get(self, layer) -> np.ndarray:
        o, c, r, s = layer.weight_shape
        rng = np.random.default_rng([self.seed, zlib.crc32(layer.name.encode())])
        std = np.sqrt(2.0 / (c * r * s))
        t = rng.standard_t(self.df, size=(o, c, r, s)) * np.sqrt((self.df - 2.0) / self.df)
        ch = rng.lognormal(0.0, self.channel_sigma, size=(o, 1, 1, 1))
        return (t * std * ch).astype(np.float32)


# --------------------------------------------------------------------------- safetensors
_ST_DTYPES = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "BF16": "bf16", "I8": "i1",
              "I16": "<i2", "I32": "<i4", "I64": "<i8", "U8": "u1"}


def read_safetensors_header(path: str | os.PathLike) -> tuple[dict, int]:
    """(tensor entries in data-offset order, byte offset of the data buffer)."""
    src = str(path)
    try:
        with open(path, "rb") as f:
            head = f.read(8)
            if len(head) != 8:
                raise InputError("too short for a safetensors header", source=src,
                                 field="header")
            (hlen,) = struct.unpack("<Q", head)
            size = os.fstat(f.fileno()).st_size
            if hlen > size - 8 or hlen > 100_000_000:
                raise InputError(f"header length {hlen} exceeds the file", source=src,
                                 field="header")
            header = json.loads(f.read(hlen).decode("utf-8"))
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror or exc}", source=src, field="file") from None
    except ValueError as exc:
        raise InputError(f"header is not valid JSON: {exc}", source=src, field="header") from None
    if not isinstance(header, dict):
        raise InputError("header must be a JSON object", source=src, field="header")
    header.pop("__metadata__", None)
    buf = size - 8 - hlen
    entries = {}
    for key, e in header.items():
        try:
            dtype, shape, (b, e_) = e["dtype"], [int(v) for v in e["shape"]], e["data_offsets"]
        except (TypeError, KeyError, ValueError):
            raise InputError("needs dtype, shape and data_offsets", source=src,
                             field=key) from None
        if dtype not in _ST_DTYPES:
            raise InputError(f"unsupported dtype {dtype!r}", source=src, field=key,
                             allowed=", ".join(_ST_DTYPES))
        item = 2 if dtype == "BF16" else np.dtype(_ST_DTYPES[dtype]).itemsize
        if not (isinstance(b, int) and isinstance(e_, int) and 0 <= b <= e_ <= buf) or \
                e_ - b != item * int(np.prod(shape)):
            raise InputError(f"data_offsets {[b, e_]} do not fit shape {shape} of {dtype} in a "
                             f"{buf}-byte buffer (truncated file?)", source=src, field=key)
        entries[key] = {"dtype": dtype, "shape": shape, "begin": b, "end": e_}
    entries = dict(sorted(entries.items(), key=lambda kv: kv[1]["begin"]))
    return entries, 8 + hlen


def _safetensors_reader(path: Path) -> tuple[list[str], Callable[[str], np.ndarray]]:
    entries, base = read_safetensors_header(path)

    def get(key: str) -> np.ndarray:
        e = entries[key]
        with open(path, "rb") as f:
            f.seek(base + e["begin"])
            raw = f.read(e["end"] - e["begin"])
        if e["dtype"] == "BF16":
            a = (np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16).view(np.float32)
        else:
            a = np.frombuffer(raw, dtype=_ST_DTYPES[e["dtype"]])
        return a.reshape(e["shape"])

    return list(entries), get


# --------------------------------------------------------------------------- file sources
def _npz_reader(path: Path) -> tuple[list[str], Callable[[str], np.ndarray]]:
    src = str(path)
    try:
        npz = np.load(path, allow_pickle=False)
        if not isinstance(npz, np.lib.npyio.NpzFile):
            raise ValueError("not an .npz archive")
        keys = list(npz.files)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise InputError(f"not a readable .npz archive ({type(exc).__name__}: {exc})",
                         source=src, field="file") from None

    def get(key: str) -> np.ndarray:
        try:
            return npz[key]
        except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile, zlib.error) as exc:
            raise InputError(f"corrupt or truncated array ({type(exc).__name__}: {exc})",
                             source=src, field=key) from None

    return keys, get


def _npy_reader(path: Path, keys: list[str], files: list[Path]):
    table = dict(zip(keys, files, strict=True))

    def get(key: str) -> np.ndarray:
        try:
            a = np.load(table[key], allow_pickle=False)
        except (OSError, ValueError, EOFError) as exc:
            raise InputError(f"not a readable .npy file ({type(exc).__name__}: {exc})",
                             source=str(table[key]), field="file") from None
        if not isinstance(a, np.ndarray):
            raise InputError("not a single array", source=str(table[key]), field="file")
        return a

    return keys, get


class FileWeights:
    """Weights read from a user's file, matched to the network's weighted layers."""

    def __init__(self, path: str | os.PathLike, network):
        p = Path(path)
        self.path = p
        self.description = str(p)
        src = str(p)
        if p.is_dir():
            files = sorted(p.glob("*.npy"))
            keys, self._read = _npy_reader(p, [f.stem for f in files], files)
        elif not p.exists():
            raise InputError("no such file or directory", source=src, field="--weights",
                             allowed="synthetic or a .npz/.npy/.safetensors file or a directory")
        elif p.suffix == ".npz":
            keys, self._read = _npz_reader(p)
        elif p.suffix == ".npy":
            keys, self._read = _npy_reader(p, [p.stem], [p])
        elif p.suffix == ".safetensors":
            keys, self._read = _safetensors_reader(p)
        else:
            raise InputError(f"unsupported weight file type {p.suffix!r}", source=src,
                             field="--weights", allowed=".npz, .npy, .safetensors, directory")
        weighted = [la for la in network.layers if la.has_weights]
        keyset = set(keys)
        named = {la.name: (la.name if la.name in keyset else f"{la.name}.weight")
                 for la in weighted}
        if any(v in keyset for v in named.values()):
            self.matching = "name"
            for la in weighted:
                if named[la.name] not in keyset:
                    raise InputError(f"no array for layer '{la.name}' (matching by name: "
                                     f"expected key '{la.name}' or '{la.name}.weight')",
                                     source=src, field=la.name)
            self._key = named
        else:
            self.matching = "order"
            if len(keys) != len(weighted):
                raise InputError(f"holds {len(keys)} arrays whose names match no layer; matching "
                                 f"by order needs one per weighted layer ({len(weighted)})",
                                 source=src, field="arrays")
            self._key = {la.name: key for la, key in zip(weighted, keys, strict=True)}
        self.description += f" (matched by {self.matching})"

    def key_for(self, layer) -> str:
        return self._key[layer.name]

    def get(self, layer) -> np.ndarray:
        key = self._key[layer.name]
        a = self._read(key)
        want = tuple(layer.weight_shape)
        if a.ndim == 2 and want[2:] == (1, 1) and a.shape == want[:2]:
            a = a.reshape(want)
        if tuple(a.shape) != want:
            raise InputError(f"layer '{layer.name}': weights have shape {tuple(a.shape)} but the "
                             f"layer needs {want}", source=str(self.path), field=key)
        if a.dtype.kind not in "fiu":
            raise InputError(f"layer '{layer.name}': dtype {a.dtype} is not numeric",
                             source=str(self.path), field=key)
        a = a.astype(np.float32)
        if not np.isfinite(a).all():
            raise InputError(f"layer '{layer.name}': weights contain NaN or infinity",
                             source=str(self.path), field=key)
        return a


class OnnxWeights:
    """A model's own weights from its ONNX file (:func:`ewssim.workload.onnx.import_onnx`:
    batch norms folded into the convs, transposed convs phase-decomposed), matched to the
    network's weighted layers by name.  The import the network came from is reused when this
    process made it; otherwise the model is imported again (``input_shape``, else the file's
    own input shape, else one read off the network's first layer)."""

    def __init__(self, path: str | os.PathLike, network, input_shape=None):
        from ewssim.workload.onnx import cached_imports, import_onnx

        src = str(path)
        weighted = [la for la in network.layers if la.has_weights]

        def fits(imp) -> bool:
            return all(la.name in imp.weights and imp.weights[la.name].shape == la.weight_shape
                       for la in weighted)

        imp = next((c for c in cached_imports(path) if fits(c)), None)
        if imp is None:
            imp = import_onnx(path, input_shape or _onnx_input_shape(src, network))
        if not imp.has_weights:
            raise InputError("the model has no weights (stripped initializers or missing "
                             "external data)", source=src, field="--weights",
                             allowed="--weights synthetic, or a .npz/.npy/.safetensors file")
        for la in weighted:
            w = imp.weights.get(la.name)
            if w is None:
                raise InputError(f"the model has no layer '{la.name}' (the workload is not "
                                 "this model?)", source=src, field=la.name,
                                 allowed="the workload imported from the same .onnx file")
            if w.shape != la.weight_shape:
                raise InputError(f"layer '{la.name}': weights have shape {w.shape} but the "
                                 f"layer needs {la.weight_shape}", source=src, field=la.name)
        self.path = Path(path)
        self._weights = imp.weights
        self.description = (f"{src} (the model's own weights, batch norms folded, "
                            f"{len(weighted)} layers)")

    def get(self, layer) -> np.ndarray:
        return self._weights[layer.name]


def _onnx_input_shape(src: str, network):
    """The file's static input shape (None: let the importer read it), or NCHW from the first
    conv layer reading the network input."""
    from ewssim.workload.graph import INPUT

    for node in network.graph_nodes:
        if INPUT in network.inputs_of(node.name) and getattr(node, "kind", "") == "conv":
            return (node.batch, node.in_c, node.in_h, node.in_w)
    return None


def open_weights(spec: str | os.PathLike | None, network, seed: int = 0):
    """``"synthetic"`` (or None) -> :class:`SyntheticWeights`; an ``.onnx`` file ->
    :class:`OnnxWeights`; another path -> :class:`FileWeights`."""
    if spec is None or str(spec) == SYNTHETIC:
        return SyntheticWeights(seed)
    if str(spec).lower().endswith(".onnx"):
        return OnnxWeights(spec, network)
    return FileWeights(spec, network)
