"""Random-effects pooling of one gap across frames (DerSimonian-Laird), with tau^2 and I^2."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from .intervals import CONFIDENCE, normal_quantile

METHOD = "DerSimonian-Laird random effects"


@dataclass
class Pooled:
    estimate: float
    se: float
    low: float
    high: float
    p_value: float
    tau2: float        # between-frame variance of the true gap
    i2: float          # share of the spread that is heterogeneity rather than sampling noise
    q: float           # Cochran's Q
    q_p_value: float
    k: int             # studies (frames) pooled
    fixed_estimate: float
    method: str = METHOD
    note: str = ""

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def dersimonian_laird(estimates, variances, confidence: float = CONFIDENCE) -> Pooled:
    """Pool estimates with known sampling variances; studies with no finite positive variance are left out."""
    y, v = np.asarray(estimates, float), np.asarray(variances, float)
    usable = np.isfinite(y) & np.isfinite(v) & (v > 0)
    note = ""
    if (~usable).any():
        note = f"{int((~usable).sum())} estimate(s) without a positive finite variance left out"
    y, v = y[usable], v[usable]
    k = int(y.size)
    if k == 0:
        return Pooled(*[np.nan] * 9, 0, np.nan, note=(note + "; " if note else "") + "nothing to pool")
    w = 1 / v
    fixed = float(np.sum(w * y) / np.sum(w))
    q = float(np.sum(w * (y - fixed) ** 2))
    if k > 1:
        tau2 = max(0.0, (q - (k - 1)) / (np.sum(w) - np.sum(w ** 2) / np.sum(w)))
        i2 = max(0.0, (q - (k - 1)) / q) if q > 0 else 0.0
        q_p = float(stats.chi2.sf(q, k - 1))
    else:
        tau2, i2, q_p = 0.0, np.nan, np.nan
        note = (note + "; " if note else "") + "one estimate: no heterogeneity to estimate"
    w_random = 1 / (v + tau2)
    estimate = float(np.sum(w_random * y) / np.sum(w_random))
    se = float(np.sqrt(1 / np.sum(w_random)))
    z = normal_quantile(confidence)
    p_value = float(2 * stats.norm.sf(abs(estimate) / se))
    return Pooled(estimate, se, estimate - z * se, estimate + z * se, p_value, float(tau2), float(i2), q, q_p, k,
                  fixed, note=note)
