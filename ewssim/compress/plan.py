"""The weight format of each layer, as the simulator needs it.

A :class:`LayerFormat` is one layer's :class:`~ewssim.compress.format.WeightFormat` with its
exact storage bits and the compressor's note.  It comes either from a compressed file
(:meth:`LayerFormat.from_compressed`, replaying real indices and masks) or analytically
(:func:`plan_network`), which applies the compressor's own fit rule
(:func:`ewssim.compress.compressor.fit_rule`) and bit accounting
(:meth:`WeightFormat.layer_bits`), so both give the same format for the same settings: timing
and traffic never depend on the codeword values.

For ``dbb`` (S2TA density-bound blocks) a *sub-vector* is one block of ``d = M`` consecutive
input channels (the reduction axis, as the other methods): per block the loader reads ``N``
int8 values and the block's mask, and the layer's overhead is its one 32-bit scale.
"""

from __future__ import annotations

from dataclasses import dataclass

from ewssim.compress.compressor import Settings, fit_rule
from ewssim.compress.format import INT8, WeightFormat
from ewssim.compress.layer import CompressedLayer, CompressedNetwork
from ewssim.compress.metrics import LayerBits
from ewssim.errors import InputError
from ewssim.workload.layers import Layer, Network


@dataclass(frozen=True)
class LayerFormat:
    """One weighted layer's format, its exact storage and why it was kept INT8 (``note``)."""

    name: str
    format: WeightFormat
    bits: LayerBits
    note: str = ""

    @property
    def total_bytes(self) -> int:
        return (self.bits.total + 7) // 8

    @property
    def codebook_bytes(self) -> int:
        """Codebooks and scales, read once per layer."""
        return (self.bits.codebook_bits + self.bits.scale_bits + 7) // 8

    @classmethod
    def from_compressed(cls, cl: CompressedLayer) -> LayerFormat:
        return cls(name=cl.name, format=cl.format, bits=cl.bits, note=cl.note)


def plan_layer(layer: Layer, s: Settings) -> LayerFormat:
    """The format the compressor would give ``layer`` under settings ``s`` (no k-means)."""
    shape = layer.weight_shape
    note = ""
    if not s.format.int8:
        keep_int8, note = fit_rule(layer.name, shape, s, small_layer_fallback=True)
        if not keep_int8:
            return LayerFormat(layer.name, s.format, s.format.layer_bits(shape), note)
    return LayerFormat(layer.name, INT8, INT8.layer_bits(shape), note)


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
