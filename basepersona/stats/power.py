"""Power planning for paired query designs: queries x samples per query to detect a gap or a DiD.

Model: a query's samples in one condition are binary with success rate p and intra-query correlation
ICC, so the mean of m samples has variance p(1-p)(1 + (m-1) ICC)/m (the design effect). The per-query
difference training - unmonitored subtracts the covariance of the two condition means, which only the
between-query part can carry: pair_corr * ICC * sd_t * sd_u. pair_corr = 0 (the default) ignores that
benefit of pairing and is conservative. A difference in gaps (base vs chat) adds the two models'
per-query variances (their covariance is ignored, again conservative). Two-sided test at level alpha,
t quantiles on queries - 1 degrees of freedom; power from the noncentral t.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from scipy import optimize, stats

from ..errors import UserError


def design_effect(samples_per_query: int, icc: float) -> float:
    return 1 + (samples_per_query - 1) * icc


@dataclass(frozen=True)
class Assumptions:
    rate: float = 0.5        # unmonitored rate (0.5 maximises the variance: a conservative default)
    icc: float = 0.1
    pair_corr: float = 0.0
    alpha: float = 0.05
    did: bool = False        # plan for a difference of two gaps (base vs chat) instead of one gap
    other_gap: float = 0.0   # DiD only: the gap of the comparison model

    def check(self) -> None:
        if not 0 < self.rate < 1:
            raise UserError(f"--rate must lie strictly between 0 and 1 (got {self.rate})")
        if not 0 <= self.icc <= 1:
            raise UserError(f"--icc must lie in [0, 1] (got {self.icc})")
        if not -1 <= self.pair_corr <= 1:
            raise UserError(f"--pair-corr must lie in [-1, 1] (got {self.pair_corr})")
        if not 0 < self.alpha < 1:
            raise UserError(f"--alpha must lie in (0, 1) (got {self.alpha})")


def _gap_variance(rate: float, gap: float, m: int, a: Assumptions) -> float:
    """Variance of one query's training - unmonitored difference of sample means."""
    p_train = rate + gap
    if not 0 <= p_train <= 1:
        raise UserError(f"rate {rate} + gap {gap} leaves [0, 1]; choose another --rate")
    var_t, var_u = p_train * (1 - p_train), rate * (1 - rate)
    within = (var_t + var_u) * design_effect(m, a.icc) / m
    return max(within - 2 * a.pair_corr * a.icc * math.sqrt(var_t * var_u), 0.0)


def per_query_variance(effect: float, m: int, a: Assumptions) -> float:
    if not a.did:
        return _gap_variance(a.rate, effect, m, a)
    return _gap_variance(a.rate, a.other_gap + effect, m, a) + _gap_variance(a.rate, a.other_gap, m, a)


def power(effect: float, queries: int, m: int, a: Assumptions) -> float:
    """Power of the two-sided paired t-test over queries, from the noncentral t.

    The statistic's distribution under the effect is noncentral t on G - 1 df with noncentrality
    effect / sqrt(variance / G); both tails count (same as statsmodels' TTestPower). A shifted central
    t, used before, overstates power by up to a few points at small G.
    """
    if queries < 2:
        return float("nan")
    variance = per_query_variance(effect, m, a)
    if variance == 0:
        return 1.0 if effect else 0.0
    df = queries - 1
    noncentrality = abs(effect) / math.sqrt(variance / queries)
    critical = stats.t.ppf(1 - a.alpha / 2, df)
    value = float(stats.nct.sf(critical, df, noncentrality) + stats.nct.cdf(-critical, df, noncentrality))
    if not math.isfinite(value):
        # scipy's nct returns NaN far in the tail (noncentrality in the tens): power is 1 to double precision
        # there, and the normal tail says so without the numerical trouble
        value = float(stats.norm.sf(critical - noncentrality))
    return value


def queries_needed(effect: float, target_power: float, m: int, a: Assumptions) -> int:
    """Smallest number of queries whose power reaches the target."""
    a.check()
    if effect == 0:
        raise UserError("--gap must be non-zero: a zero effect is never detected")
    if not 0 < target_power < 1:
        raise UserError(f"--power must lie in (0, 1) (got {target_power})")
    if m < 1:
        raise UserError(f"--samples-per-query must be at least 1 (got {m})")
    variance = per_query_variance(effect, m, a)
    z_sum = stats.norm.ppf(1 - a.alpha / 2) + stats.norm.ppf(target_power)
    queries = max(2, math.ceil(z_sum ** 2 * variance / effect ** 2))  # normal start, then t correction
    while power(effect, queries, m, a) < target_power:
        queries += 1
    return queries


def detectable_effect(queries: int, target_power: float, m: int, a: Assumptions) -> float:
    """Smallest positive gap (or difference in gaps) detected with the target power; NaN if none fits."""
    a.check()
    if queries < 2:
        raise UserError(f"--queries must be at least 2 (got {queries})")
    base = a.rate if not a.did else a.rate + a.other_gap
    largest = 1 - base
    if largest <= 0 or power(largest, queries, m, a) < target_power:
        return float("nan")
    return float(optimize.brentq(lambda e: power(e, queries, m, a) - target_power, 1e-9, largest, xtol=1e-10))


def plan_rows(effect: float, target_power: float, a: Assumptions, samples_options=(1, 2, 4, 8, 16, 32)) -> list[dict]:
    """Queries needed for each number of samples per query, with total samples and the design effect."""
    rows = []
    for m in samples_options:
        queries = queries_needed(effect, target_power, m, a)
        rows.append({"samples_per_query": m, "design_effect": design_effect(m, a.icc), "queries": queries,
                     "total_samples": queries * m * 2 * (2 if a.did else 1)})
    return rows
