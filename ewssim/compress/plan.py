"""The weight format of each layer, as the simulator needs it.

A :class:`LayerFormat` says how one layer's weights are stored and decoded: method, ``d``, ``k``,
N:M, mask encoding, codebook groups and the exact storage bits.  It comes either from a
compressed file (:meth:`LayerFormat.from_compressed`, replaying real indices and masks) or
analytically (:func:`plan_network`), which applies the compressor's own fit rule
(:func:`ewssim.compress.api.fit_rule`) and bit accounting (:func:`layer_bits`), so both give the
same format for the same settings: timing and traffic never depend on the codeword values.

``method == "dbb"`` (S2TA density-bound blocks) has no codebook: a *sub-vector* is one block of
``d = M`` consecutive input channels (the reduction axis, as the other methods), ``k = 1``, one
codebook group; per block the loader reads ``N`` int8 values and the block's mask
(:attr:`LayerFormat.subvector_bits` = ``N*8`` + mask bits), and the layer's overhead is its one
32-bit scale (:attr:`LayerFormat.codebook_bytes` = 4).  Use :attr:`LayerFormat.codebook` (not
``not dense``) to ask whether a layer goes through a codebook.
"""

from __future__ import annotations

from dataclasses import dataclass

from ewssim.compress.api import Settings, fit_rule
from ewssim.compress.format import VQ_METHODS, CompressedLayer, CompressedNetwork
from ewssim.compress.metrics import LayerBits, layer_bits, subvector_bits
from ewssim.errors import InputError
from ewssim.workload.layers import Layer, Network


@dataclass(frozen=True)
class LayerFormat:
    name: str
    method: str                 # dense | vq | mvq | casec | ssvq | dbb
    d: int = 1                  # sub-vector length (dbb: the block size M)
    k: int = 1                  # codewords (dbb: 1, no codebook)
    nm: tuple[int, int] = (1, 1)
    mask_encoding: str = "bitmap"
    codebook_groups: int = 1
    bits: LayerBits | None = None
    note: str = ""

    @property
    def dense(self) -> bool:
        return self.method == "dense"

    @property
    def pruned(self) -> bool:
        return not self.dense and self.nm[0] < self.nm[1]

    @property
    def signs(self) -> bool:
        return self.method == "ssvq"

    @property
    def dbb(self) -> bool:
        """S2TA density-bound blocks: kept int8 values + mask, no codebook."""
        return self.method == "dbb"

    @property
    def codebook(self) -> bool:
        """The weights are indices into an int8 codebook (VQ family: mvq, casec, vq, ssvq)."""
        return self.method in VQ_METHODS

    @property
    def kept_per_subvector(self) -> int:
        """Non-zero (kept) weights per sub-vector: ``N*d/M`` (``d`` when not pruned)."""
        n, m = self.nm
        return self.d * n // m if self.pruned else self.d

    @property
    def subvector_bits(self) -> int:
        """Bits the loader reads from L1 per sub-vector: index + mask (+ signs); dbb: per block
        ``N`` int8 values + the block's mask bits."""
        if self.dense:
            return 0
        n, m = self.nm
        return subvector_bits(k=self.k, d=self.d, n=n, m=m, mask_encoding=self.mask_encoding,
                              signs=self.signs, values=self.dbb)

    @property
    def total_bytes(self) -> int:
        return (self.bits.total + 7) // 8

    @property
    def codebook_bytes(self) -> int:
        return (self.bits.codebook_bits + self.bits.scale_bits + 7) // 8

    @classmethod
    def from_compressed(cls, cl: CompressedLayer) -> LayerFormat:
        return cls(name=cl.name, method=cl.method, d=cl.d, k=cl.k, nm=tuple(cl.nm),
                   mask_encoding=cl.mask_encoding if cl.is_pruned else "bitmap",
                   codebook_groups=cl.codebook_groups, bits=cl.bits, note=cl.note)


def plan_layer(layer: Layer, s: Settings) -> LayerFormat:
    """The format the compressor would give ``layer`` under settings ``s`` (no k-means)."""
    shape = layer.weight_shape
    if s.method == "dbb":
        s = s.checked()  # k = 1, d = M, G = 1
    if s.method != "dense":
        keep_dense, note = fit_rule(layer.name, shape, s, small_layer_fallback=True)
        if not keep_dense:
            return LayerFormat(name=layer.name, method=s.method, d=s.d, k=s.k, nm=s.n_m,
                               mask_encoding=s.mask_encoding, codebook_groups=s.codebook_groups,
                               bits=layer_bits(s.method, shape, nm=s.n_m, k=s.k, d=s.d,
                                               mask_encoding=s.mask_encoding,
                                               codebook_groups=s.codebook_groups), note=note)
    else:
        note = ""
    return LayerFormat(name=layer.name, method="dense", bits=layer_bits("dense", shape),
                       note=note)


def plan_network(network: Network, s: Settings) -> dict[str, LayerFormat]:
    return {la.name: plan_layer(la, s) for la in network.layers if la.has_weights}


def formats_from_compressed(network: Network, cn: CompressedNetwork,
                            source: str) -> dict[str, LayerFormat]:
    """Match a compressed network to the workload, layer by layer (one-line errors)."""
    weighted = [la for la in network.layers if la.has_weights]
    by_name = {cl.name: cl for cl in cn.layers}
    if len(cn.layers) != len(weighted):
        raise InputError(f"{len(cn.layers)} compressed layers for {len(weighted)} weighted "
                         f"layers of {network.name}", source=source, field="layers",
                         allowed=f"a compression of {network.name}")
    out = {}
    for la in weighted:
        cl = by_name.get(la.name)
        if cl is None:
            raise InputError(f"no compressed layer for layer '{la.name}'", source=source,
                             field="layers", allowed=f"a compression of {network.name}")
        if tuple(cl.weight_shape) != tuple(la.weight_shape):
            raise InputError(f"layer '{la.name}': compressed weights have shape "
                             f"{tuple(cl.weight_shape)}, the workload needs "
                             f"{tuple(la.weight_shape)}", source=source, field="weight_shape")
        out[la.name] = LayerFormat.from_compressed(cl)
    return out
