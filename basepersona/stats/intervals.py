"""Intervals for a proportion: Wilson (independent samples), query-clustered, and the papers' 1 sigma."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

CONFIDENCE = 0.95


def normal_quantile(confidence: float = CONFIDENCE) -> float:
    return float(stats.norm.ppf(0.5 + confidence / 2))


def wilson_interval(successes, n, confidence: float = CONFIDENCE) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval (vectorised); NaN where n == 0. n may be fractional (effective sizes)."""
    return wilson_with_quantile(successes, n, normal_quantile(confidence))


def wilson_with_quantile(successes, n, quantile) -> tuple[np.ndarray, np.ndarray]:
    """Wilson's score interval with a given critical value (a t quantile in place of z; may be an array)."""
    successes, n = np.asarray(successes, dtype=float), np.asarray(n, dtype=float)
    z2 = np.asarray(quantile, dtype=float) ** 2
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
    clustered: Wilson's interval at the effective sample size n / deff (Korn-Graubard style), deff the
    cluster-robust variance over the binomial one, with a t quantile whose degrees of freedom lie
    between queries - 1 and the effective size (see clustered_wilson for why). It keeps Wilson's good
    behaviour near 0 and 1 instead of a Wald interval that collapses there.
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
    low, high, deff, _ = clustered_wilson(successes[None, :], counts[None, :], confidence)
    note = ("all outcomes identical: design effect not estimable, Wilson on the queries (as if ICC = 1)"
            if p in (0.0, 1.0) else "")
    return Proportion(p, float(low[0]), float(high[0]), se, int(n), k, n_queries, method, float(deff[0]), note)


def clustered_wilson(successes: np.ndarray, counts: np.ndarray, confidence: float = CONFIDENCE):
    """The query-clustered interval for many tables at once: rows are tables, columns queries.

    Returns (low, high, design effect, degrees of freedom) per row; rows need at least two queries
    with samples. Wilson's score interval at the effective size n / deff, deff = cluster-robust
    variance / binomial variance floored at 1 (all outcomes identical: deff = n / G, i.e. Wilson on
    the G queries as if ICC = 1), with a t quantile in place of z.

    Why the degrees of freedom move between G - 1 and n / deff - 1: the cluster-robust variance rests
    on G queries, so t_{G-1} is right when that variance drives the interval; but where the data look
    nearly independent (deff near 1) the interval is Wilson's, whose variance p(1-p)/n is a known
    function of p, and t_{G-1} then only over-covers (0.98-0.99 with 10 queries in simulation). The
    design effect is trustworthy only when the rarer outcome is spread over many queries: with one
    or two queries holding every success, deff comes out near 1 whatever the true ICC. So the df
    grow from G - 1 towards the effective size by the squared share of queries showing the rarer
    outcome. Chosen by simulated coverage over p x queries x samples x ICC (docs/STATS.md).
    """
    successes, counts = np.asarray(successes, float), np.asarray(counts, float)
    present = counts > 0
    n_queries = present.sum(axis=1)
    n, k = counts.sum(axis=1), successes.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = k / n
        residual = np.where(present, successes - p[:, None] * counts, 0.0)
        variance = n_queries / (n_queries - 1) * np.sum(residual ** 2, axis=1) / n ** 2
        identical = (p == 0) | (p == 1)
        deff = np.where(identical, n / n_queries, np.maximum(1.0, variance / (p * (1 - p) / n)))
        rarer = np.where((p <= 0.5)[:, None], successes, counts - successes)
        spread = (rarer > 0).sum(axis=1) / n_queries
        df = n_queries - 1 + np.maximum(0.0, n / deff - n_queries) * spread ** 2
        quantile = stats.t.ppf(0.5 + confidence / 2, df)
    low, high = wilson_with_quantile(k / deff, n / deff, quantile)
    return low, high, deff, df
