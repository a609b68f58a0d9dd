"""A boundary-respecting interval for a paired, query-clustered difference of two rates (MOVER).

Many tables at once: every argument is (tables x queries). The difference p1 - p2 gets Zou and
Donner's MOVER interval (method of variance estimates recovery; for one sample per query it is
Newcombe's hybrid interval for paired proportions, his method 10, with Jeffreys' intervals in place of
his Wilson ones):

    low  = d - sqrt((p1 - l1)^2 + (u2 - p2)^2 - 2 r (p1 - l1)(u2 - p2))
    high = d + sqrt((u1 - p1)^2 + (p2 - l2)^2 - 2 r (u1 - p1)(p2 - l2))

with (l, u) each rate's own interval (Jeffreys' with one sample per query, the query-clustered Wilson
of intervals.py otherwise) and r the correlation of the two rate estimates over queries (from their
per-query influences, so the query clusters and the pairing both enter). Because each rate's bounds
lie in [0, 1], the difference's bounds lie in [-1, 1]; because a rate of 0 still has an upper bound
above 0, a table without a single success gets a real interval instead of the Wald [0, 0].

Why Jeffreys with one sample per query: Wilson's far bound errs wide for a rare rate, and MOVER passes
that on (3 % vs 1 % on 100 queries covered 0.98); Jeffreys' is closer to nominal (0.96). With several
samples per query the clustered interval stays: its far bound hedges for clustering that a rare outcome
cannot show, which strongly clustered designs need (docs/STATS.md, "Coverage of rates, gaps ...").
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import stats

from .intervals import CONFIDENCE, clustered_wilson, jeffreys_interval, wilson_interval


def rate_bounds(successes, counts, confidence: float = CONFIDENCE,
                ingredient: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Each table's rate interval as the rates table prints it: Wilson when no query has two samples,
    query-clustered Wilson otherwise (NaN with fewer than two queries there). ingredient: as a gap's
    MOVER takes it, Jeffreys' in place of Wilson's when no query has two samples (module docstring)."""
    successes, counts = np.atleast_2d(np.asarray(successes, float)), np.atleast_2d(np.asarray(counts, float))
    levels = np.broadcast_to(np.asarray(confidence, float), counts.shape[:1])  # a level per table
    independent = counts.max(axis=1) <= 1
    unclustered = jeffreys_interval if ingredient else wilson_interval
    low, high = unclustered(successes.sum(axis=1), counts.sum(axis=1), levels)
    clustered = ~independent & ((counts > 0).sum(axis=1) >= 2)
    if clustered.any():
        c_low, c_high = clustered_wilson(successes[clustered], counts[clustered], levels[clustered])[:2]
        low, high = low.copy(), high.copy()
        low[clustered], high[clustered] = c_low, c_high
    unusable = ~independent & ~clustered
    return np.where(unusable, np.nan, low), np.where(unusable, np.nan, high)


def influences(successes: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rates and per-query influences (y_q - p n_q) / N of sum(y) / sum(n), per table."""
    total = counts.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = successes.sum(axis=1) / total
        return rate, (successes - rate[:, None] * counts) / total[:, None]


def correlation(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Correlation of two estimates from their per-query influences (0 where either does not vary)."""
    covariance = np.sum(first * second, axis=1)
    scale = np.sqrt(np.sum(first ** 2, axis=1) * np.sum(second ** 2, axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(scale > 0, np.clip(covariance / scale, -1, 1), 0.0)


def mover(first, first_low, first_high, second, second_low, second_high, r):
    """MOVER bounds of first - second from each estimate's bounds and their correlation r."""
    below_1, above_1 = first - first_low, first_high - first
    below_2, above_2 = second - second_low, second_high - second
    difference = first - second
    low = difference - np.sqrt(np.maximum(below_1 ** 2 + above_2 ** 2 - 2 * r * below_1 * above_2, 0))
    high = difference + np.sqrt(np.maximum(above_1 ** 2 + below_2 ** 2 - 2 * r * above_1 * below_2, 0))
    return low, high


def with_t_interval(estimate, low, high, influence, n_queries, confidence: float, limit: float):
    """The union of an interval with estimate +- t_{G-1} x the cluster-robust SE, clipped to +-limit.

    MOVER rests on each rate's interval and errs wide where outcomes are rare; with common outcomes and
    10 queries it under-covers a little (0.92-0.93 simulated) where the paired t interval holds 0.95.
    The union keeps whichever is wider on each side, so neither failure remains. A bound MOVER could
    not give (NaN) stays NaN."""
    with np.errstate(invalid="ignore", divide="ignore"):
        se = np.sqrt(n_queries / (n_queries - 1) * np.sum(influence ** 2, axis=1))
        half = stats.t.ppf(0.5 + confidence / 2, n_queries - 1) * se
    low = np.where(np.isnan(low), np.nan, np.fmin(low, estimate - half))
    high = np.where(np.isnan(high), np.nan, np.fmax(high, estimate + half))
    return np.clip(low, -limit, limit), np.clip(high, -limit, limit)


def gap_bounds(yt, nt, yu, nu, confidence: Any = CONFIDENCE) -> tuple[np.ndarray, ...]:
    """(gap, low, high, r) per table for rate(training) - rate(unmonitored), paired by query.

    confidence may be an array with one level per table (inverted_p_value evaluates many at once)."""
    yt, nt, yu, nu = (np.atleast_2d(np.asarray(x, float)) for x in (yt, nt, yu, nu))
    pt, influence_t = influences(yt, nt)
    pu, influence_u = influences(yu, nu)
    r = correlation(np.nan_to_num(influence_t), np.nan_to_num(influence_u))
    low_t, high_t = rate_bounds(yt, nt, confidence, ingredient=True)
    low_u, high_u = rate_bounds(yu, nu, confidence, ingredient=True)
    low, high = mover(pt, low_t, high_t, pu, low_u, high_u, r)
    n_queries = ((nt > 0) | (nu > 0)).sum(axis=1)
    influence = np.nan_to_num(influence_t) - np.nan_to_num(influence_u)
    low, high = with_t_interval(pt - pu, low, high, influence, n_queries, confidence, 1.0)
    return pt - pu, low, high, r


def reaches_the_edge(estimate: float, low: float, high: float, limit: float) -> bool:
    """Whether an interval runs into an end of the possible range that its estimate is not at: then it
    was clipped there and says little beyond the sign (e.g. two queries), so a report calls it
    uninformative rather than drawing it."""
    edge = limit - 1e-12
    return bool((low <= -edge < estimate) or (high >= edge > estimate))


UNINFORMATIVE = "uninformative (too few queries): the interval runs into the end of the possible range"


def inverted_p_value(bounds_at, estimate: float, rounds: int = 6, points: int = 48) -> float:
    """Two-sided p-value of "no difference" from an interval: 1 - the largest confidence whose interval
    still excludes 0. bounds_at(levels) -> (lows, highs) for an array of confidence levels. The test
    then agrees with the interval at every level: p < 1 - confidence exactly when it excludes 0.

    The interval widens with the level, so the levels excluding 0 form a run from below; each round
    evaluates a grid of levels in one vectorised call and keeps the cell where exclusion stops
    (48^6 refines the level to ~1e-10 in six calls, where a scalar root finder needed about 40)."""
    if not np.isfinite(estimate) or estimate == 0:
        return 1.0
    # the unit is 1 - level (the p-value), on a log scale: small p-values need relative precision
    low_log, high_log = np.log(1e-12), np.log(1 - 1e-9)
    for _ in range(rounds):
        grid = np.linspace(low_log, high_log, points)
        lows, highs = bounds_at(1 - np.exp(grid))
        excludes = (lows > 0) if estimate > 0 else (highs < 0)  # True where the level excludes 0
        if excludes[0]:  # excluded even at the widest level tried
            return float(np.exp(grid[0]))
        if not excludes[-1]:
            return 1.0
        first = int(np.argmax(excludes))  # first p-level (from small p) where 0 is excluded
        low_log, high_log = grid[first - 1], grid[first]
    return float(np.exp(high_log))
