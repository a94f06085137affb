"""The compressed layer as the weight loader sees it (:class:`CompressedLayer`) and a network of
them (:class:`CompressedNetwork`).  Storage on disk is :mod:`ewssim.compress.io`; the bit-level
codecs are :mod:`ewssim.compress.codecs`; the format itself is one
:class:`~ewssim.compress.format.WeightFormat`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from .codecs import decode_mask, unpack_bits
from .format import INT8, WeightFormat
from .layout import from_subvectors, padded_channels
from .metrics import LayerBits


@dataclass(eq=False)
class CompressedLayer:
    """One compressed layer.

    Sub-vector ``i`` covers output channel ``o``, tap ``(r, s)`` and channels ``c*d .. c*d+d-1``
    with ``i = ((o*kh + r)*kw + s)*(Cp/d) + c`` (``Cp`` = channels after padding).  INT8 layers
    only carry ``int8_weights`` and ``scale``.

    dbb (S2TA density-bound blocks): a sub-vector is one block of ``d = M`` channels;
    ``kept_values`` holds its ``N`` kept int8 weights (ascending positions), the mask says where
    they are, ``scale`` is one per-layer scale; no indices, no codebook.
    """

    name: str
    format: WeightFormat
    weight_shape: tuple[int, int, int, int]
    scale: np.ndarray
    indices: np.ndarray | None = None
    codebook: np.ndarray | None = None
    mask_data: np.ndarray | None = None
    sign_data: np.ndarray | None = None
    int8_weights: np.ndarray | None = None
    kept_values: np.ndarray | None = None
    fit: str = "int8"
    note: str = ""
    stats: dict = field(default_factory=dict)

    # ---------------------------------------------------------------- shape facts
    @property
    def n_weights(self) -> int:
        return int(np.prod(self.weight_shape))

    @property
    def channels(self) -> int:
        return self.weight_shape[1]

    @property
    def padded_channels(self) -> int:
        f = self.format
        return self.channels if f.int8 else padded_channels(self.channels, f.d)

    @property
    def subvectors_per_out_channel(self) -> int:
        _, _, r, s = self.weight_shape
        return r * s * self.padded_channels // self.format.d

    @property
    def n_sub(self) -> int:
        return 0 if self.format.int8 else self.weight_shape[0] * self.subvectors_per_out_channel

    @property
    def bits(self) -> LayerBits:
        return self.format.layer_bits(self.weight_shape)

    def _need_subvectors(self) -> None:
        if self.format.int8:
            raise ValueError(f"layer {self.name!r} is INT8: it has no sub-vectors")

    def _need_codebook(self) -> None:
        self._need_subvectors()
        if not self.format.codebook:
            raise ValueError(f"layer {self.name!r} is {self.format.method}: it has no codebook")

    # ---------------------------------------------------------------- decoded fields
    @cached_property
    def _mask(self) -> np.ndarray:
        self._need_subvectors()
        f = self.format
        if not f.pruned:
            return np.ones((self.n_sub, f.d), dtype=bool)
        return decode_mask(self.mask_data, self.n_sub, f.d, *f.nm, f.mask_encoding, self.name)

    def mask(self) -> np.ndarray:
        """Bool ``(n_sub, d)``: kept positions (all True when not pruned)."""
        return self._mask

    @cached_property
    def _signs(self) -> np.ndarray:
        self._need_subvectors()
        neg = np.zeros((self.n_sub, self.format.d), dtype=bool)
        if self.format.signs:
            m = self.mask()
            neg[m] = unpack_bits(self.sign_data, int(m.sum()), self.name, "signs").astype(bool)
        return neg

    def signs(self) -> np.ndarray:
        """Bool ``(n_sub, d)``: True where the weight is negated (ssvq; False elsewhere)."""
        return self._signs

    def subvector_group(self) -> np.ndarray:
        """Codebook group of every sub-vector, int64 ``(n_sub,)`` (output channels in G blocks)."""
        self._need_codebook()
        per_group = self.n_sub // self.format.codebook_groups
        return np.arange(self.n_sub, dtype=np.int64) // per_group

    def index_grid(self) -> np.ndarray:
        """Indices as ``(out_c, kh, kw, Cp/d)``."""
        self._need_codebook()
        o, _, r, s = self.weight_shape
        return self.indices.reshape(o, r, s, self.padded_channels // self.format.d)

    def codewords(self) -> np.ndarray:
        """int8 ``(n_sub, d)``: the CRF read, ``codebook[group, index]``."""
        self._need_codebook()
        return self.codebook[self.subvector_group(), self.indices.astype(np.int64)]

    def values(self) -> np.ndarray:
        """int8 ``(n_sub, d)``: what the loader emits, ``codeword ⊙ mask (∘ sign)``; dbb: the
        kept values scattered to their positions, zeros elsewhere."""
        if self.format.dbb:
            v = np.zeros((self.n_sub, self.format.d), dtype=np.int8)
            v[self.mask()] = self.kept_values.ravel()
            return v
        v = np.where(self.mask(), self.codewords(), np.int8(0))
        if self.format.signs:
            v = np.where(self.signs(), -v, v)
        return v.astype(np.int8)

    def nonzeros(self) -> tuple[np.ndarray, np.ndarray]:
        """Per sub-vector, the ``N*d/M`` kept (position-in-sub-vector, int8 value) pairs, as two
        ``(n_sub, N*d/M)`` arrays (positions ascending): the sparse array's operands."""
        m = self.mask()
        per = int(m[0].sum()) if m.shape[0] else 0
        pos = np.nonzero(m)[1].reshape(-1, per)
        return pos, np.take_along_axis(self.values(), pos, axis=1)

    def scale_per_out_channel(self) -> np.ndarray:
        """float32 ``(out_c,)``: dequantisation scale of every output channel."""
        o = self.weight_shape[0]
        return np.repeat(self.scale.astype(np.float32), o // len(self.scale))

    def decode(self) -> tuple[np.ndarray, np.ndarray]:
        """(int8 weights ``(out_c, in_c/g, kh, kw)``, float32 scale per output channel
        ``(out_c,)``): what the hardware computes with; real weight = ``w[o] * scale[o]``."""
        if self.format.int8:
            return self.int8_weights, self.scale_per_out_channel()
        return from_subvectors(self.values(), self.weight_shape, self.format.d), \
            self.scale_per_out_channel()

    def dequantize(self) -> np.ndarray:
        """float32 reconstruction ``(out_c, in_c/g, kh, kw)``."""
        w, s = self.decode()
        return w.astype(np.float32) * s[:, None, None, None]


def int8_layer(name: str, weights: np.ndarray, scale: np.ndarray, *, fit: str = "int8",
               note: str = "", stats: dict | None = None) -> CompressedLayer:
    """An INT8 layer (no decoder)."""
    return CompressedLayer(name=name, format=INT8, weight_shape=tuple(weights.shape),
                           scale=np.asarray(scale, np.float32), int8_weights=weights, fit=fit,
                           note=note, stats=dict(stats or {}))


@dataclass
class CompressedNetwork:
    """The compressed weighted layers of a network, in network order."""

    name: str
    layers: list[CompressedLayer]
    settings: dict = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)  # layers without weights (matmul)

    def __getitem__(self, name: str) -> CompressedLayer:
        for la in self.layers:
            if la.name == name:
                return la
        raise KeyError(name)

    def __iter__(self):
        return iter(self.layers)

    def __len__(self) -> int:
        return len(self.layers)

    @property
    def bits(self) -> LayerBits:
        total = LayerBits(weights=0)
        for la in self.layers:
            total = total + la.bits
        return total

    def stat_total(self, key: str) -> float | None:
        vals = [la.stats.get(key) for la in self.layers]
        return None if any(v is None for v in vals) else float(sum(vals))
