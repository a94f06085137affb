"""Sub-vector layout of a weight tensor (hardware-model spec section 2, [model]).

A weight tensor has PyTorch order ``(out_c, in_c/groups, kh, kw)``.  Sub-vectors run along the
input-channel axis (the reduction axis): for output channel ``o`` and kernel tap ``(r, s)`` the
channels ``c .. c+d-1`` form one sub-vector.  Sub-vectors are numbered in the order
``(o, r, s, c // d)`` (channel block fastest), so the ``L/d`` sub-vectors of one hardware *line*
(one output channel along the reduction axis) are consecutive.

When ``d`` does not divide the channel count and the layer is padded (``fit="pad"``), the channel
axis is zero-padded at its end to ``ceil(C/d)*d``; :func:`from_subvectors` crops it again.
"""

from __future__ import annotations

import numpy as np


def padded_channels(channels: int, d: int) -> int:
    """Channels after zero-padding to a multiple of ``d``."""
    return -(-channels // d) * d


def to_subvectors(w: np.ndarray, d: int) -> np.ndarray:
    """``(O, C, R, S)`` -> ``(O*R*S*ceil(C/d), d)`` sub-vectors (zero padding at channel end)."""
    o, c, r, s = w.shape
    cp = padded_channels(c, d)
    t = np.transpose(w, (0, 2, 3, 1))
    if cp != c:
        t = np.pad(t, ((0, 0), (0, 0), (0, 0), (0, cp - c)))
    return np.ascontiguousarray(t).reshape(-1, d)


def from_subvectors(x: np.ndarray, shape: tuple[int, int, int, int], d: int) -> np.ndarray:
    """Inverse of :func:`to_subvectors`: crop the padding, back to ``(O, C, R, S)``."""
    o, c, r, s = shape
    cp = padded_channels(c, d)
    t = x.reshape(o, r, s, cp)[..., :c]
    return np.ascontiguousarray(np.transpose(t, (0, 3, 1, 2)))


def real_positions(shape: tuple[int, int, int, int], d: int) -> np.ndarray:
    """Boolean ``(n_sub, d)``: True where a sub-vector position is a real weight (not padding)."""
    o, c, r, s = shape
    cp = padded_channels(c, d)
    row = np.arange(cp) < c
    return np.broadcast_to(row, (o * r * s, cp)).reshape(-1, d)
