"""Intervals for a proportion: Wilson (independent samples), query-clustered, and the papers' 1 sigma."""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
from scipy import stats

CONFIDENCE = 0.95


def normal_quantile(confidence: float = CONFIDENCE) -> float:
    return float(stats.norm.ppf(0.5 + confidence / 2))


@functools.lru_cache(maxsize=1024)
def t_matched_level(confidence: float, df: int) -> float:
    """The confidence whose normal quantile is the t quantile (df) of `confidence`: Wilson with a t quantile."""
    return float(2 * stats.norm.cdf(stats.t.ppf(0.5 + confidence / 2, df)) - 1)


def wilson_interval(successes, n, confidence: float = CONFIDENCE) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval (vectorised); NaN where n == 0. n may be fractional (effective sizes)."""
    successes, n = np.asarray(successes, dtype=float), np.asarray(n, dtype=float)
    z2 = normal_quantile(confidence) ** 2
    with np.errstate(invalid="ignore", divide="ignore"):
        p = successes / n
        centre = (p + z2 / (2 * n)) / (1 + z2 / n)
        half = np.sqrt(z2) / (1 + z2 / n) * np.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    low, high = np.clip(centre - half, 0, 1), np.clip(centre + half, 0, 1)
    empty = n <= 0
    return np.where(empty, np.nan, low), np.where(empty, np.nan, high)


def binomial_se(p, n) -> np.ndarray:
    """The papers' 1 sigma: sqrt(p(1-p)/n), ignoring that samples of one query are correlated."""
    p, n = np.asarray(p, dtype=float), np.asarray(n, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, np.sqrt(p * (1 - p) / n), np.nan)


def cluster_robust_se_of_ratio(successes: np.ndarray, counts: np.ndarray) -> float:
    """SE of sum(y)/sum(n) with queries as clusters (the sandwich estimator with the G/(G-1) factor).

    Equals the cluster-robust SE of an intercept-only regression (statsmodels cov_type="cluster").
    """
    present = counts > 0
    clusters = int(present.sum())
    total = counts.sum()
    if clusters < 2 or total <= 0:
        return float("nan")
    p = successes.sum() / total
    residual = successes[present] - p * counts[present]
    return float(np.sqrt(clusters / (clusters - 1) * np.sum(residual ** 2)) / total)


@dataclass
class Proportion:
    """A rate with its interval; `method` says which interval, `note` why it may be degenerate."""

    estimate: float
    low: float
    high: float
    se: float
    n: int              # samples with a value
    successes: float
    n_queries: int
    method: str
    design_effect: float = float("nan")
    note: str = ""

    def as_dict(self) -> dict:
        return dict(self.__dict__)


METHODS = ("auto", "wilson", "clustered", "binomial_se")


def proportion(successes: np.ndarray, counts: np.ndarray, method: str = "auto",
               confidence: float = CONFIDENCE) -> Proportion:
    """A rate from per-query successes and counts.

    auto: Wilson when every query has at most one sample (independent draws), clustered otherwise.
    clustered: Wilson interval at the effective sample size n / deff, where the design effect deff is
    the cluster-robust variance over the binomial one (Korn-Graubard style; deff floored at 1 so the
    interval is never narrower than treating samples as independent), with the t quantile on
    queries - 1 degrees of freedom in place of z: the variance is estimated from G queries, not n
    samples. It keeps Wilson's good behaviour near 0 and 1 instead of a Wald interval that collapses
    there. When every outcome is identical the design effect cannot be estimated; the interval is
    then Wilson on the queries (G clusters as if each were one sample: the worst case ICC = 1).
    binomial_se: estimate +- z * sqrt(p(1-p)/n), the papers' error bars (for comparison with them).
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}")
    successes, counts = np.asarray(successes, float), np.asarray(counts, float)
    n, k = float(counts.sum()), float(successes.sum())
    n_queries = int((counts > 0).sum())
    if n == 0:
        return Proportion(np.nan, np.nan, np.nan, np.nan, 0, 0.0, 0, method, note="no samples in this cell")
    p = k / n
    if method == "auto":
        method = "clustered" if counts.max() > 1 else "wilson"
    z = normal_quantile(confidence)
    if method == "binomial_se":
        se = float(binomial_se(p, n))
        return Proportion(p, p - z * se, p + z * se, se, int(n), k, n_queries, method)
    if method == "wilson":
        low, high = wilson_interval(k, n, confidence)
        return Proportion(p, float(low), float(high), float(binomial_se(p, n)), int(n), k, n_queries, method, 1.0)
    se = cluster_robust_se_of_ratio(successes, counts)
    if n_queries < 2:
        return Proportion(p, np.nan, np.nan, se, int(n), k, n_queries, method,
                          note="one query only: a query-clustered interval needs at least two queries")
    note = ""
    level = t_matched_level(confidence, n_queries - 1)
    if p in (0.0, 1.0):
        deff = n / n_queries
        note = "all outcomes identical: design effect not estimable, Wilson on the queries (as if ICC = 1)"
    else:
        deff = max(1.0, se ** 2 / (p * (1 - p) / n))
    low, high = wilson_interval(k / deff, n / deff, level)
    return Proportion(p, float(low), float(high), se, int(n), k, n_queries, method, deff, note)
