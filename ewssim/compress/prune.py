"""N:M magnitude pruning along the sub-vector (input-channel) axis.

Positions are cut into groups of ``M`` consecutive input channels (``M`` divides ``d``, so a group
never straddles two sub-vectors); in every group the ``N`` largest magnitudes are kept.  Ties are
broken towards the lower channel index (stable sort), so zero padding at the channel end is pruned
before a real zero weight.
"""

from __future__ import annotations

import numpy as np


def nm_mask(x: np.ndarray, n: int, m: int) -> np.ndarray:
    """Boolean keep-mask of ``x``'s shape; the last axis is cut into groups of ``m``."""
    if x.shape[-1] % m:
        raise ValueError(f"last axis {x.shape[-1]} is not a multiple of M={m}")
    g = np.abs(x).reshape(-1, m)
    keep = np.zeros(g.shape, dtype=bool)
    if n >= m:
        keep[:] = True
    else:
        order = np.argsort(-g, axis=1, kind="stable")
        np.put_along_axis(keep, order[:, :n], True, axis=1)
    return keep.reshape(x.shape)


def check_nm(mask: np.ndarray, n: int, m: int) -> np.ndarray:
    """Indices of M-groups whose count of kept positions is not exactly ``n`` (empty = valid)."""
    counts = mask.reshape(-1, m).sum(axis=1)
    return np.flatnonzero(counts != n)
