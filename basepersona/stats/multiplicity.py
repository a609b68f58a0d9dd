"""Adjusted p-values across a family of tests (frames, variants). NaN p-values stay NaN and do not count."""

from __future__ import annotations

import numpy as np


def _sorted_finite(p_values) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(p as floats, an all-NaN result to fill, the positions of the finite p-values from smallest up)."""
    p = np.asarray(p_values, dtype=float)
    idx = np.flatnonzero(np.isfinite(p))
    return p, np.full(p.shape, np.nan), idx[np.argsort(p[idx], kind="stable")]


def holm(p_values) -> np.ndarray:
    """Holm step-down: the k-th smallest of m p-values times (m - k + 1), made monotone, capped at 1."""
    p, out, order = _sorted_finite(p_values)
    m = order.size
    stepped = np.maximum.accumulate(p[order] * (m - np.arange(m)))
    out[order] = np.minimum(stepped, 1.0)
    return out


def benjamini_hochberg(p_values) -> np.ndarray:
    """Benjamini-Hochberg false discovery rate: p_(k) m / k, made monotone from the largest down."""
    p, out, order = _sorted_finite(p_values)
    m = order.size
    scaled = p[order] * m / np.arange(1, m + 1)
    out[order] = np.minimum(np.minimum.accumulate(scaled[::-1])[::-1], 1.0)
    return out
