"""Compressed weights: N:M pruning, masked k-means (MVQ), VQ, SSVQ, INT8, S2TA DBB, the format.

See docs/compression.md.  The modules, from the description down:

* :mod:`~ewssim.compress.format` -- :class:`WeightFormat`, the one description of a format;
* :mod:`~ewssim.compress.compressor` -- :func:`compress_layer`, :func:`compress_network` and
  their :class:`Settings` (a format + fit rule + k-means settings);
* :mod:`~ewssim.compress.layer` -- :class:`CompressedLayer`, :class:`CompressedNetwork`;
* :mod:`~ewssim.compress.io` -- the versioned files (:func:`save_layer`, :func:`load_layer`,
  :func:`save_network`, :func:`load_network_dir`);
* :mod:`~ewssim.compress.codecs` -- bit packing and mask encodings;
* :mod:`~ewssim.compress.plan` -- the per-layer :class:`LayerFormat` the simulator replays;
* kmeans, prune, quant, ssvq, layout, weights (sources), metrics (bits and ratios).
"""

from .compressor import Settings, compress_layer, compress_network, layer_row, network_report
from .format import (
    FITS,
    MASK_ENCODINGS,
    METHOD_DEFAULTS,
    METHODS,
    WeightFormat,
)
from .io import FORMAT_VERSION, decode, load_layer, load_network_dir, save_layer, save_network
from .kmeans import kmeans
from .layer import CompressedLayer, CompressedNetwork
from .metrics import FORMULA, LayerBits
from .prune import nm_mask
from .weights import FileWeights, SyntheticWeights, open_weights

__all__ = [
    "FITS", "FORMAT_VERSION", "FORMULA", "MASK_ENCODINGS", "METHODS", "METHOD_DEFAULTS",
    "CompressedLayer", "CompressedNetwork", "FileWeights", "LayerBits", "Settings",
    "SyntheticWeights", "WeightFormat", "compress_layer", "compress_network", "decode", "kmeans",
    "layer_row", "load_layer", "load_network_dir", "network_report", "nm_mask", "open_weights",
    "save_layer", "save_network",
]
