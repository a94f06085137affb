"""SSVQ (sign-split vector quantisation, ICCV 2025): the sign of every weight is split off
(1 bit per kept weight) and k-means runs on the magnitudes ``|W|``, so codewords are
non-negative.  Inference weight = ``codeword[index] * sign``; in hardware the sign bits travel
with the indices and the weight loader negates conditionally.

Sign bits are stored for the kept positions only (all positions when ``N = M``), in sub-vector
order; bit 1 means negative.
"""

from __future__ import annotations

import numpy as np


def split_signs(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``x`` -> (magnitudes, negative-mask)."""
    return np.abs(x), x < 0
