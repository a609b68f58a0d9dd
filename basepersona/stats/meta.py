"""Random-effects pooling of one gap across frames (DerSimonian-Laird), with tau^2 and I^2."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from .intervals import CONFIDENCE, normal_quantile

METHOD = "DerSimonian-Laird random effects"
# Below this many frames the interval is Hartung-Knapp-Sidik-Jonkman: the normal DL interval treats
# tau^2 as known, and with 2-4 estimates its uncertainty is what matters (simulated DL-normal coverage
# with heterogeneity: 0.79 / 0.85 / 0.87 for 2 / 3 / 4 frames; HKSJ 1.0 / 0.99 / 0.96, conservative).
HKSJ_BELOW = 5


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
    interval: str = "normal"   # or "HKSJ t" (fewer than HKSJ_BELOW estimates)

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def dersimonian_laird(estimates, variances, confidence: float = CONFIDENCE,
                      hartung_knapp: bool | None = None) -> Pooled:
    """Pool estimates with known sampling variances; studies with no finite positive variance are left out.

    The interval is normal, or Hartung-Knapp-Sidik-Jonkman (t on k - 1 df, variance scale floored at 1)
    when hartung_knapp is True, or by default when 2 <= k < HKSJ_BELOW. se is the interval's SE."""
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
        # sum(w) - sum(w^2)/sum(w), written as sum_i w_i * (the others' weights) / sum(w): the plain form
        # cancels to 0 when one study's variance is tiny (a near-constant gap), and tau^2 became inf
        others = np.array([np.sum(np.delete(w, i)) for i in range(k)])
        tau2 = max(0.0, (q - (k - 1)) / (np.sum(w * others) / np.sum(w)))
        i2 = max(0.0, (q - (k - 1)) / q) if q > 0 else 0.0
        q_p = float(stats.chi2.sf(q, k - 1))
    else:
        tau2, i2, q_p = 0.0, np.nan, np.nan
        note = (note + "; " if note else "") + "one estimate: no heterogeneity to estimate"
    w_random = 1 / (v + tau2)
    estimate = float(np.sum(w_random * y) / np.sum(w_random))
    se = float(np.sqrt(1 / np.sum(w_random)))
    if hartung_knapp is None:
        hartung_knapp = 1 < k < HKSJ_BELOW
    if hartung_knapp and k > 1:
        # HKSJ: rescale the variance by the weighted spread of the estimates around the pooled one and
        # use t on k - 1 df. The scale is floored at 1 (the "modified" HKSJ): unfloored, estimates that
        # happen to agree closely give an interval narrower than DL's, which is not conservative.
        scale = float(np.sum(w_random * (y - estimate) ** 2) / (k - 1))
        se = se * np.sqrt(max(1.0, scale))
        critical = float(stats.t.ppf(0.5 + confidence / 2, k - 1))
        p_value = float(2 * stats.t.sf(abs(estimate) / se, k - 1))
        interval = "HKSJ t"
    else:
        critical = normal_quantile(confidence)
        p_value = float(2 * stats.norm.sf(abs(estimate) / se))
        interval = "normal"
    return Pooled(estimate, se, estimate - critical * se, estimate + critical * se, p_value, float(tau2), float(i2),
                  q, q_p, k, fixed, note=note, interval=interval)
