"""Intervals for a proportion: Wilson (independent samples), query-clustered, and the papers' 1 sigma."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats

CONFIDENCE = 0.95
# the near bound's design effect may go below 1, down to this (clustered_wilson says why)
NEAR_DEFF_FLOOR = 0.7
# the far bound counts a query's samples as at most this many independent ones, in the proportion of
# queries without the rarer outcome (clustered_wilson says why)
HIDDEN_CLUSTER_SAMPLES = 4.0
# below this many queries the far bound's df is not grown (clustered_wilson says why)
FEW_QUERIES = 10


def normal_quantile(confidence: float = CONFIDENCE) -> float:
    return float(stats.norm.ppf(0.5 + confidence / 2))


def wilson_interval(successes, n, confidence: ArrayLike = CONFIDENCE) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval (vectorised, confidence too); NaN where n == 0. n may be fractional (effective
    sizes)."""
    return wilson_with_quantile(successes, n, stats.norm.ppf(0.5 + np.asarray(confidence, float) / 2))


def wilson_with_quantile(successes, n, quantile) -> tuple[np.ndarray, np.ndarray]:
    """Wilson's score interval with a given critical value (a t quantile in place of z; may be an array)."""
    successes, n = np.asarray(successes, dtype=float), np.asarray(n, dtype=float)
    z2 = np.asarray(quantile, dtype=float) ** 2
    with np.errstate(invalid="ignore", divide="ignore"):
        p = successes / n
        centre = (p + z2 / (2 * n)) / (1 + z2 / n)
        half = np.sqrt(z2) / (1 + z2 / n) * np.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    low, high = np.clip(centre - half, 0, 1), np.clip(centre + half, 0, 1)
    # the bound at a boundary count is exactly 0 (or 1); rounding left 3e-17 with some numpy builds
    low, high = np.where(successes <= 0, 0.0, low), np.where(successes >= n, 1.0, high)
    empty = n <= 0
    return np.where(empty, np.nan, low), np.where(empty, np.nan, high)


def jeffreys_interval(successes, n, confidence: ArrayLike = CONFIDENCE) -> tuple[np.ndarray, np.ndarray]:
    """Jeffreys' interval: Beta(k + 1/2, n - k + 1/2) quantiles, with the usual ends (0 at k = 0, 1 at
    k = n); vectorised, confidence too; NaN where n == 0. Closer to nominal than Wilson's for rare
    rates, where Wilson's far bound errs wide (the paired gap's MOVER uses it, stats/paired.py)."""
    successes, n = np.broadcast_arrays(np.asarray(successes, dtype=float), np.asarray(n, dtype=float))
    # scipy's beta quantile can fail to converge deep in the tail (the levels a p-value inversion
    # tries reach 1 - 1e-12); the tail stops at 1e-20, where the bounds sit at the ends anyway
    tail = np.broadcast_to(np.maximum((1 - np.asarray(confidence, dtype=float)) / 2, 1e-20), n.shape)
    failures = n - successes
    # the boundary counts' bounds are fixed (0 or 1): a stand-in count keeps scipy off them
    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Error in function boost", RuntimeWarning)
        low = stats.beta.ppf(tail, np.where(successes > 0, successes, 1.0) + 0.5, np.maximum(failures, 0) + 0.5)
        high = stats.beta.isf(tail, np.maximum(successes, 0) + 0.5, np.where(failures > 0, failures, 1.0) + 0.5)
    low, high = np.where(successes <= 0, 0.0, low), np.where(failures <= 0, 1.0, high)
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
               confidence: float = CONFIDENCE, denominator: str = "samples") -> Proportion:
    """A rate from per-query successes and counts; `denominator` names what the counts count (for the
    note of an empty cell, e.g. "in-persona samples").

    auto: Wilson when every query has at most one sample (independent draws), clustered otherwise.
    clustered: Wilson's interval at the effective sample size n / deff (Korn-Graubard style), deff the
    cluster-robust variance over the binomial one, with t quantiles: the bound toward 1/2 hedged for
    a design effect the data cannot show when the rarer outcome sits in few queries, the other on the
    effective size (see clustered_wilson for why). It keeps Wilson's good behaviour near 0 and 1
    instead of a Wald interval that collapses there.
    binomial_se: estimate +- z * sqrt(p(1-p)/n), the papers' error bars (for comparison with them).
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}")
    successes, counts = np.asarray(successes, float), np.asarray(counts, float)
    n, k = float(counts.sum()), float(successes.sum())
    n_queries = int((counts > 0).sum())
    if n == 0:
        return Proportion(np.nan, np.nan, np.nan, np.nan, 0, 0.0, 0, method, note=f"no {denominator} in this cell")
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


def clustered_wilson(successes: np.ndarray, counts: np.ndarray, confidence: ArrayLike = CONFIDENCE,
                     hidden_cluster_samples: float = HIDDEN_CLUSTER_SAMPLES):
    """The query-clustered interval for many tables at once: rows are tables, columns queries.

    Returns (low, high, design effect, degrees of freedom) per row, the degrees of freedom as two
    columns (of the low and of the high bound); rows need at least two queries with samples.
    Wilson's score interval at the effective size n / deff, deff = cluster-robust variance /
    binomial variance floored at 1 (all outcomes identical: deff = n / G, i.e. Wilson on the G
    queries as if ICC = 1), each bound with its own t quantile in place of z. Inside, the bound
    on the rare side (the near one) floors deff at NEAR_DEFF_FLOOR instead of 1, and the other at
    1 - (1 - NEAR_DEFF_FLOOR) * share^2 (share below); the returned deff is floored at 1.

    Why two quantiles: a rare outcome is skewed, and its estimated variance grows with the
    estimate. Tables that fall short of the truth hold the rarer outcome in few queries, where the
    clustering cannot show (deff comes out near 1 whatever the ICC): the bound toward 1/2 (the high
    bound of a rate below 1/2) has to carry that uncertainty. Tables above the truth overstate the
    variance, so the bound on the rare side needs no hedge: t on n / deff - 1 df, and deff as
    estimated even below 1. With few queries an estimate under 1 (outcomes spread more evenly than
    binomial draws) is as likely as one above when the samples are independent; the floor at 1 only
    ever widened this bound, which over-covered independent designs with 10 queries (0.971-0.978).
    Without it, misses over four simulated grids (196 cells) fell from 19 to 7 and the lowest
    coverage did not move; floors of 0.7, 0.5 and 0.3 gave the same grids, 0.9 and 0.8 less. The
    far bound hedges for clustering hidden in few queries, which cannot hide where the rarer outcome
    shows in every query: there its floor goes down to the same 0.7 (by share^2), which took the
    last independent-sample miss (p = 1/2, 10 x 4: 0.971) into the band (7 -> 6 misses; a reach of
    0.5 instead of 0.3 cost an under-coverage). The df growth factor share^2 / deff is capped at 1
    so that a deff below 1 never grows the df past n / deff - 1.

    The far bound's df: the Satterthwaite df of the cluster-robust variance, 2 (sum e^2)^2 /
    var(sum e^2) from the spread of the queries' squared residuals (about twice the count of the
    rarer outcome when it is sparse, near G when it is spread), capped at G - 1; then grown towards
    n / deff - 1 by share^2 / deff, share the share of queries showing the rarer outcome: where the
    data look independent (deff 1) and the rarer outcome is everywhere, the interval is Wilson's,
    whose variance is a known function of p, and a t_{G-1} would only over-cover (0.98-0.99 with 10
    queries); the larger the estimated deff, the more the variance is the G queries' own estimate and
    the less the growth applies. At a rate of exactly 1/2 both bounds take the far df (swapping the
    outcomes mirrors the interval). Chosen by simulated and exact coverage over p x queries x samples
    x ICC (docs/STATS.md).

    The far bound's design effect is also at least m / hidden_cluster_samples x (1 - share), m the
    mean samples per query: a query's samples count as at most four independent ones, in the
    proportion of queries that do not show the rarer outcome. The t quantile's hedge does not grow
    with m, but what hidden clustering does to the rate does: with 20 samples per query and ICC 0.5,
    a true 5 % gives one success in one of 10 queries in 8 % of tables, which look independent
    (deff ~ 1) and got an upper bound of 0.03 (coverage 0.87; 19 of 60 cells under 93 % on
    benchmarks/gap_coverage.py --grid clustered, now none). With m <= 4 the term stays below 1 and
    changes nothing. hidden_cluster_samples=np.inf gives the rule before (benchmarks compare them).

    With fewer than FEW_QUERIES queries the far df is not grown: the design effect then comes from
    so few queries' residuals that a table looking independent (deff near 1) says little, and taking
    its variance as Wilson's known one under-covered (40 of 192 cells with 3-8 queries under 93 %, down
    to 0.87 at p = 1/2, 3 x 10, ICC 0.5; with t on the Satterthwaite df alone, 1, at 0.917). The grids the
    rule was tuned on start at 10 queries and are unchanged.
    """
    successes, counts = np.asarray(successes, float), np.asarray(counts, float)
    present = counts > 0
    n_queries = present.sum(axis=1)
    n, k = counts.sum(axis=1), successes.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = k / n
        squared = np.where(present, successes - p[:, None] * counts, 0.0) ** 2
        total = squared.sum(axis=1)
        variance = n_queries / (n_queries - 1) * total / n ** 2
        identical = (p == 0) | (p == 1)
        estimated = variance / (p * (1 - p) / n)
        deff = np.where(identical, n / n_queries, np.maximum(1.0, estimated))
        # Satterthwaite: var(sum e^2) estimated as G times the sample variance of the e_g^2
        spread_of_squares = np.sum(np.where(present, (squared - (total / n_queries)[:, None]) ** 2, 0.0), axis=1)
        satterthwaite = 2 * total ** 2 / (n_queries / (n_queries - 1) * spread_of_squares)
        base = np.where(identical, n_queries - 1.0,
                        np.clip(np.nan_to_num(satterthwaite, nan=np.inf), 1.0, n_queries - 1.0))
        shown_success = (successes > 0).sum(axis=1) / n_queries
        shown_failure = ((counts - successes > 0) & present).sum(axis=1) / n_queries
        spread = np.where(p < 0.5, shown_success, np.where(p > 0.5, shown_failure,
                                                           np.minimum(shown_success, shown_failure)))
        # below 1 the estimate is believed on the near bound, and on the far one as far as the rarer
        # outcome shows in every query (see the docstring)
        # clustering that the rarer outcome in few queries cannot show, as a design effect: it grows with
        # the samples per query (the t quantile's hedge does not) and vanishes as the outcome shows everywhere
        hidden = n / n_queries / hidden_cluster_samples * (1 - spread)
        far_deff = np.where(identical, deff,
                            np.maximum.reduce([1 - (1 - NEAR_DEFF_FLOOR) * spread ** 2, estimated, hidden]))
        growth = np.where(n_queries >= FEW_QUERIES, np.minimum(1.0, spread ** 2 / far_deff), 0.0)
        far = base + np.maximum(0.0, n / far_deff - 1 - base) * growth
        near_deff = np.where(identical | (p == 0.5), far_deff, np.maximum(NEAR_DEFF_FLOOR, estimated))
        near = np.where(p == 0.5, far, np.maximum(far, n / near_deff - 1))
        level = 0.5 + np.asarray(confidence, float) / 2
        far_low, far_high = wilson_with_quantile(k / far_deff, n / far_deff, stats.t.ppf(level, far))
        near_low, near_high = wilson_with_quantile(k / near_deff, n / near_deff, stats.t.ppf(level, near))
    below = p < 0.5  # the rare side is 0: the low bound is the near one
    low, high = np.where(below, near_low, far_low), np.where(below, far_high, near_high)
    df = np.stack([np.where(below, near, far), np.where(below, far, near)], axis=1)
    return low, high, deff, df
