"""Adjusted p-values across a family of tests (frames, variants). NaN p-values stay NaN and do not count."""

from __future__ import annotations

import numpy as np


def _finite(p_values) -> tuple[np.ndarray, np.ndarray]:
    p = np.asarray(p_values, dtype=float)
    return p, np.flatnonzero(np.isfinite(p))


def holm(p_values) -> np.ndarray:
    """Holm step-down: the k-th smallest of m p-values times (m - k + 1), made monotone, capped at 1."""
    p, idx = _finite(p_values)
    out = np.full(p.shape, np.nan)
    if idx.size == 0:
        return out
    order = idx[np.argsort(p[idx], kind="stable")]
    m = order.size
    stepped = np.maximum.accumulate(p[order] * (m - np.arange(m)))
    out[order] = np.minimum(stepped, 1.0)
    return out


def benjamini_hochberg(p_values) -> np.ndarray:
    """Benjamini-Hochberg false discovery rate: p_(k) m / k, made monotone from the largest down."""
    p, idx = _finite(p_values)
    out = np.full(p.shape, np.nan)
    if idx.size == 0:
        return out
    order = idx[np.argsort(p[idx], kind="stable")]
    m = order.size
    scaled = p[order] * m / np.arange(1, m + 1)
    out[order] = np.minimum(np.minimum.accumulate(scaled[::-1])[::-1], 1.0)
    return out
