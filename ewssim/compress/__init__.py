"""Compressed weights: N:M pruning, masked k-means (MVQ), VQ, SSVQ, INT8, S2TA DBB, the format.

See docs/compression.md.  Main entry points:

* :func:`compress_layer`, :func:`compress_network` -> :class:`CompressedLayer` /
  :class:`CompressedNetwork`
* :func:`save_layer`, :func:`load_layer`, :func:`save_network`, :func:`load_network_dir`,
  :func:`decode`
* :func:`layer_bits` / :class:`LayerBits` (storage accounting), :func:`network_report`
* :func:`open_weights` (synthetic or file weights)
"""

from .api import (
    METHOD_DEFAULTS,
    Settings,
    compress_layer,
    compress_network,
    layer_row,
    network_report,
)
from .format import (
    FITS,
    FORMAT_VERSION,
    METHODS,
    CompressedLayer,
    CompressedNetwork,
    decode,
    load_layer,
    load_network_dir,
    save_layer,
    save_network,
)
from .kmeans import kmeans
from .metrics import FORMULA, MASK_ENCODINGS, LayerBits, layer_bits
from .prune import nm_mask
from .weights import FileWeights, SyntheticWeights, open_weights

__all__ = [
    "FITS", "FORMAT_VERSION", "FORMULA", "MASK_ENCODINGS", "METHODS", "METHOD_DEFAULTS",
    "CompressedLayer", "CompressedNetwork", "FileWeights", "LayerBits", "Settings",
    "SyntheticWeights", "compress_layer", "compress_network", "decode", "kmeans", "layer_bits",
    "layer_row", "load_layer", "load_network_dir", "network_report", "nm_mask", "open_weights",
    "save_layer", "save_network",
]
