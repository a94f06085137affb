"""8-bit symmetric quantisation: one float32 scale per tensor, int8 values in [-127, 127].

``scale = max|a| / 127`` (1.0 for an all-zero tensor), ``q = clip(rint(a / scale), -127, 127)``.
-128 is never produced, so negation (SSVQ signs) cannot overflow.
"""

from __future__ import annotations

import numpy as np

QMAX = 127


def symmetric_scale(a: np.ndarray) -> np.float32:
    amax = float(np.max(np.abs(a))) if a.size else 0.0
    return np.float32(amax / QMAX) if amax > 0 else np.float32(1.0)


def quantize_symmetric(a: np.ndarray, scale: np.float32 | None = None) -> tuple[np.ndarray,
                                                                               np.float32]:
    """``a`` -> (int8 array, float32 scale)."""
    a = np.asarray(a, dtype=np.float32)
    s = symmetric_scale(a) if scale is None else np.float32(scale)
    q = np.clip(np.rint(a / s), -QMAX, QMAX).astype(np.int8)
    return q, s


def quantize_codebooks(cb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(G, k, d)`` float codebooks -> int8 ``(G, k, d)`` and float32 scales ``(G,)``."""
    q = np.empty(cb.shape, dtype=np.int8)
    scales = np.empty(cb.shape[0], dtype=np.float32)
    for g in range(cb.shape[0]):
        q[g], scales[g] = quantize_symmetric(cb[g])
    return q, scales
