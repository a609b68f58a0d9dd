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
                      hartung_knapp: bool | None = None, covariance=None, shared_df: float | None = None) -> Pooled:
    """Pool estimates with known sampling variances; studies with no finite positive variance are left out.

    The interval is normal, or Hartung-Knapp-Sidik-Jonkman (t on k - 1 df, variance scale floored at 1)
    when hartung_knapp is True, or by default when 2 <= k < HKSJ_BELOW. se is the interval's SE.

    covariance: the estimates' full sampling covariance matrix V (its diagonal `variances`), for
    estimates that share data, as frames scored on the same queries do. The weights stay the usual
    1 / (v + tau^2); V enters where independence was assumed: the variance of the weighted mean
    (w' (V + tau^2 I) w / (sum w)^2), the expectation of Q without heterogeneity (tr(W V) - w'Vw /
    sum w, k - 1 for a diagonal V) in the moment estimate of tau^2 and in I^2, and Q's null
    distribution (a weighted sum of chi-squares, matched in mean and variance by a scaled chi-square).
    GLS weights V^-1 were tried: with V estimated from 30 queries they covered 0.89-0.94 against
    0.92-0.94 for these (5 and 8 frames, simulated; tests/test_stats_families.py), and 0.54-0.86 as
    if independent. With a diagonal V everything is the usual DerSimonian-Laird."""
    y, v = np.asarray(estimates, float), np.asarray(variances, float)
    usable = np.isfinite(y) & np.isfinite(v) & (v > 0)
    note = ""
    if (~usable).any():
        note = f"{int((~usable).sum())} estimate(s) without a positive finite variance left out"
    y, v = y[usable], v[usable]
    k = int(y.size)
    if k == 0:
        nan = float("nan")
        return Pooled(nan, nan, nan, nan, nan, nan, nan, nan, nan, 0, nan,
                      note=(note + "; " if note else "") + "nothing to pool")
    sampling = np.diag(v) if covariance is None else np.asarray(covariance, float)[np.ix_(usable, usable)]
    w = 1 / v
    fixed = float(np.sum(w * y) / np.sum(w))
    q = float(np.sum(w * (y - fixed) ** 2))
    if k > 1:
        if covariance is None:
            expected, q_p = k - 1.0, float(stats.chi2.sf(q, k - 1))
        else:
            # Q = y' P y with P = W - w w' / sum(w); without heterogeneity it is distributed as
            # sum(lambda chi2_1), lambda the eigenvalues of P V (k - 1 ones when V = diag(v))
            shares = np.linalg.eigvals((np.diag(w) - np.outer(w, w) / np.sum(w)) @ sampling).real
            expected = float(shares.sum())
            scale, df = np.sum(shares ** 2) / expected, expected ** 2 / np.sum(shares ** 2)
            q_p = float(stats.chi2.sf(q / scale, df))
        # sum(w) - sum(w^2)/sum(w), written as sum_i w_i * (the others' weights) / sum(w): the plain form
        # cancels to 0 when one study's variance is tiny (a near-constant gap), and tau^2 became inf
        others = np.array([np.sum(np.delete(w, i)) for i in range(k)])
        tau2 = max(0.0, (q - expected) / (np.sum(w * others) / np.sum(w)))
        i2 = max(0.0, (q - expected) / q) if q > 0 else 0.0
    else:
        tau2, i2, q_p = 0.0, np.nan, np.nan
        note = (note + "; " if note else "") + "one estimate: no heterogeneity to estimate"
    w_random = 1 / (v + tau2)
    estimate = float(np.sum(w_random * y) / np.sum(w_random))
    se = float(np.sqrt(w_random @ (sampling + tau2 * np.eye(k)) @ w_random) / np.sum(w_random))
    if hartung_knapp is None:  # (shared_df: with 5 or more estimates, t on shared_df degrees of freedom instead of z)
        hartung_knapp = 1 < k < HKSJ_BELOW
    if hartung_knapp and k > 1:
        # HKSJ: the variance from the weighted spread of the estimates around the pooled one, t on
        # k - 1 df. Never below the model's (the "modified" HKSJ): unfloored, estimates that happen
        # to agree closely give an interval narrower than DL's, which is not conservative; and the
        # error that shared queries put into every frame alike does not show in their spread.
        spread = float(np.sum(w_random * (y - estimate) ** 2) / ((k - 1) * np.sum(w_random)))
        se = float(np.sqrt(max(se ** 2, spread)))
        critical = float(stats.t.ppf(0.5 + confidence / 2, k - 1))
        p_value = float(2 * stats.t.sf(abs(estimate) / se, k - 1))
        interval = "HKSJ t"
    elif shared_df:
        # estimates sharing G queries: their common error is one sample of G queries, so t on G - 1 df
        critical = float(stats.t.ppf(0.5 + confidence / 2, shared_df))
        p_value = float(2 * stats.t.sf(abs(estimate) / se, shared_df))
        interval = f"t on {shared_df:g} df (shared queries)"
    else:
        critical = normal_quantile(confidence)
        p_value = float(2 * stats.norm.sf(abs(estimate) / se))
        interval = "normal"
    method = METHOD if covariance is None else METHOD + ", covariance of shared queries"
    return Pooled(estimate, se, estimate - critical * se, estimate + critical * se, p_value, float(tau2), float(i2),
                  q, q_p, k, fixed, method=method, note=note, interval=interval)
