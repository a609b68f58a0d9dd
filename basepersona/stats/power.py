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

import numpy as np
from scipy import integrate, optimize, stats

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


def _two_sided_nct_power(critical: float, df: int, noncentrality: float) -> float:
    """P(|T| > critical) for T noncentral t on df degrees of freedom, by adaptive quadrature.

    T = (Z + d) / W with W = sqrt(chi2_df / df), so P(|T| > c) = E_W[Phi(d - c W) + Phi(-d - c W)].
    Integrating over W avoids scipy's nct, which returns NaN (or garbage) for cdf(-c) far in the
    tail: the fallback that replaced a NaN term by a normal tail gave 0.937 where the truth is 0.793,
    and 3.8e-7 where it is 0.457 (issue 14). Both terms are lower normal tails or values near 1, so
    neither loses precision by cancellation; the W-range left out holds under 1e-15 of its mass.
    """
    low, high = (math.sqrt(stats.chi2.ppf(1e-16, df) / df), math.sqrt(stats.chi2.isf(1e-16, df) / df))
    # log density of W: sqrt(df) times the chi density at w sqrt(df), written out (quad calls it often)
    log_constant = (df / 2) * math.log(df / 2) + math.log(2) - math.lgamma(df / 2)
    root_half = math.sqrt(0.5)

    def integrand(w: float) -> float:
        density = math.exp(log_constant + (df - 1) * math.log(w) - df * w * w / 2)
        upper = 0.5 * math.erfc(-(noncentrality - critical * w) * root_half)  # Phi(d - c w)
        lower = 0.5 * math.erfc((noncentrality + critical * w) * root_half)   # Phi(-d - c w)
        return density * (upper + lower)

    # break at the density's mode and where the upper term turns from ~1 to ~0, so quad sees both features
    points = sorted(x for x in {math.sqrt(max(df - 1, 0) / df), noncentrality / critical} if low < x < high)
    value, _ = integrate.quad(integrand, low, high, points=points or None, epsabs=1e-13, epsrel=1e-12, limit=500)
    return float(min(1.0, max(0.0, value)))


def power(effect: float, queries: int, m: int, a: Assumptions) -> float:
    """Power of the two-sided paired t-test over queries, from the noncentral t.

    The statistic's distribution under the effect is noncentral t on G - 1 df with noncentrality
    effect / sqrt(variance / G); both tails count (same as statsmodels' TTestPower). A shifted central
    t, used before, overstates power by up to a few points at small G. With fewer than two queries
    no paired test exists: power 0.
    """
    if queries < 2:
        return 0.0
    variance = per_query_variance(effect, m, a)
    if variance == 0:
        return 1.0 if effect else 0.0
    df = queries - 1
    noncentrality = abs(effect) / math.sqrt(variance / queries)
    critical = float(stats.t.ppf(1 - a.alpha / 2, df))
    return _two_sided_nct_power(critical, df, noncentrality)


def _normal_queries(effect: float, target_power: float, m: int, a: Assumptions) -> int:
    """The normal-approximation design size: a starting point for the exact search, not the answer."""
    z_sum = stats.norm.ppf(1 - a.alpha / 2) + stats.norm.ppf(target_power)
    return max(2, math.ceil(z_sum ** 2 * per_query_variance(effect, m, a) / effect ** 2))


def queries_needed(effect: float, target_power: float, m: int, a: Assumptions) -> int:
    """Smallest number of queries whose power reaches the target (power rises with the queries).

    The normal approximation can be above or below the answer (it ignores the t's heavier tails but
    also its noncentral skew), so the search brackets the answer from there in both directions and
    then bisects."""
    a.check()
    if effect == 0:
        raise UserError("--gap must be non-zero: a zero effect is never detected")
    if not 0 < target_power < 1:
        raise UserError(f"--power must lie in (0, 1) (got {target_power})")
    if m < 1:
        raise UserError(f"--samples-per-query must be at least 1 (got {m})")
    if per_query_variance(effect, m, a) == 0:
        return 2
    reaches = lambda queries: power(effect, queries, m, a) >= target_power  # noqa: E731
    guess = _normal_queries(effect, target_power, m, a)
    if reaches(guess):  # step down until a size fails (1 always does: no paired test)
        high, step = guess, 1
        while high - step >= 2 and reaches(high - step):
            high, step = high - step, 2 * step
        low = max(1, high - step)
    else:  # step up until a size reaches the target
        low, step = guess, 1
        while not reaches(low + step):
            low, step = low + step, 2 * step
        high = low + step
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (low, middle) if reaches(middle) else (middle, high)
    return max(2, high)


def detectable_effect(queries: int, target_power: float, m: int, a: Assumptions) -> float:
    """Smallest positive gap (or difference in gaps) detected with the target power.

    inf when even the largest possible effect (the rate moving to 1) is not detected with that power:
    too few queries for the test at this alpha (e.g. 2 queries at alpha 0.01)."""
    a.check()
    if queries < 2:
        raise UserError(f"--queries must be at least 2 (got {queries})")
    base = a.rate if not a.did else a.rate + a.other_gap
    largest = 1 - base
    if largest <= 0:
        return math.inf
    # Power need not rise all the way to the largest effect: with pairing, a rate pushed towards 1
    # loses the between-query covariance that pairing removes, so the variance can grow faster than
    # the effect. A grid finds the first effect that reaches the target; brentq refines below it.
    first = next((e for e in largest * np.linspace(0, 1, 65)[1:] if power(e, queries, m, a) >= target_power), None)
    if first is None:
        return math.inf
    below = first - largest / 64
    if below <= 0:
        below = 1e-9
    return float(optimize.brentq(lambda e: power(e, queries, m, a) - target_power, below, first, xtol=1e-10))


def plan_rows(effect: float, target_power: float, a: Assumptions, samples_options=(1, 2, 4, 8, 16, 32)) -> list[dict]:
    """Queries needed for each number of samples per query, with total samples and the design effect."""
    rows = []
    for m in samples_options:
        queries = queries_needed(effect, target_power, m, a)
        rows.append({"samples_per_query": m, "design_effect": design_effect(m, a.icc), "queries": queries,
                     "total_samples": queries * m * 2 * (2 if a.did else 1)})
    return rows
