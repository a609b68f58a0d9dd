"""Base vs chat (or frame vs frame): difference of two gaps on the same queries, paired by query."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .gaps import SCALE, GapSums, clustered_se, query_contributions
from .paired import UNINFORMATIVE, correlation, gap_bounds, influences, mover, reaches_the_edge, with_t_interval
from .intervals import CONFIDENCE

SAME_SAMPLES = ("same samples on both sides (identical counts on every query): the difference in gaps is 0 by "
                "construction, not evidence; no interval or test")
EXACT_FLIPS_UP_TO = 12  # enumerate all 2^G sign flips for this many queries or fewer


@dataclass
class DiffInDiff:
    estimate: float          # gap(first) - gap(second)
    gap_first: float
    gap_second: float
    se: float                # analytic query-clustered SE (for reference and power planning)
    low: float               # MOVER interval from the two gaps' paired intervals (stats/paired.py)
    high: float
    p_value: float           # sign-flip permutation test over queries
    n_queries: int
    n_boot: int
    n_perm: int
    note: str = ""
    scale: str = SCALE
    uninformative: bool = False

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def _sign_flips(n_queries: int, n_perm: int, rng: np.random.Generator) -> np.ndarray:
    if n_queries <= EXACT_FLIPS_UP_TO:
        codes = np.arange(2 ** n_queries)[:, None] >> np.arange(n_queries) & 1
        return 1.0 - 2.0 * codes
    return 2.0 * rng.integers(0, 2, size=(n_perm, n_queries)) - 1.0


def did_bounds(first: GapSums, second: GapSums, confidence: float = CONFIDENCE) -> tuple[np.ndarray, np.ndarray]:
    """The interval of gap(first) - gap(second) for many tables at once (arrays tables x queries, or one
    table as 1-d arrays): MOVER from the two gaps' intervals and their correlation over queries,
    joined with the t interval on G - 1 df, inside [-2, 2]."""
    first, second = (GapSums(*(np.atleast_2d(np.asarray(x, float)) for x in sums)) for sums in (first, second))
    gap_a, low_a, high_a, _ = gap_bounds(*first, confidence)
    gap_b, low_b, high_b, _ = gap_bounds(*second, confidence)
    influence_a = [np.nan_to_num(influences(y, n)[1]) for y, n in ((first.yt, first.nt), (first.yu, first.nu))]
    influence_b = [np.nan_to_num(influences(y, n)[1]) for y, n in ((second.yt, second.nt), (second.yu, second.nu))]
    gap_influence_a, gap_influence_b = influence_a[0] - influence_a[1], influence_b[0] - influence_b[1]
    low, high = mover(gap_a, low_a, high_a, gap_b, low_b, high_b, correlation(gap_influence_a, gap_influence_b))
    n_queries = ((first.nt + first.nu + second.nt + second.nu) > 0).sum(axis=1)
    return with_t_interval(gap_a - gap_b, low, high, gap_influence_a - gap_influence_b, n_queries, confidence, 2.0)


def difference_in_differences(first: GapSums, second: GapSums, *, n_boot: int = 0, n_perm: int = 2000,
                              seed: int = 0, confidence: float = CONFIDENCE,
                              denominator: str = "labelled samples") -> DiffInDiff:
    """gap(first) - gap(second) where both sums are aligned on the same queries.

    Interval: MOVER once more, from each gap's paired interval (the one the gaps table prints) and the
    correlation of the two gaps over queries (their per-query influences), joined with the t interval
    on G - 1 df (paired.with_t_interval says why). It stays in [-2, 2] and
    never has zero width; the cluster bootstrap it replaces under-covered with few queries (0.911 at
    10, 0.935 at 40) and gave [-1, -1] for a table of identical labels. n_boot is kept for callers and
    ignored. Test: sign-flip permutation of each query's additive share of the difference, valid when
    a query's share is symmetric about zero under the null. denominator names what the counts count.
    """
    sizes = [s.sum() for s in (first.nt, first.nu, second.nt, second.nu)]
    if min(sizes) == 0:
        nan = float("nan")
        return DiffInDiff(nan, nan, nan, nan, nan, nan, nan, 0, 0, 0,
                          note=f"not estimable: a condition of one run has no {denominator}")
    gap_a, share_a, infl_a = query_contributions(first)
    gap_b, share_b, infl_b = query_contributions(second)
    estimate = gap_a - gap_b
    present = (first.nt + first.nu + second.nt + second.nu) > 0
    n_queries = int(present.sum())
    se = clustered_se(infl_a - infl_b, present)
    if n_queries < 2:
        return DiffInDiff(estimate, gap_a, gap_b, se, np.nan, np.nan, np.nan, n_queries, 0, 0,
                          note="uninformative (too few queries): one query, no between-query variation")
    if np.any(infl_a != 0) and all(np.array_equal(a, b) for a, b in zip(first, second)):
        # a run against itself (or a copy): labels that vary, yet the same counts on every query. (Two
        # runs whose labels are all equal can match by chance; they keep their real interval.)
        return DiffInDiff(0.0, gap_a, gap_b, 0.0, np.nan, np.nan, np.nan, n_queries, 0, 0, note=SAME_SAMPLES)
    low, high = (float(x[0]) for x in did_bounds(first, second, confidence))
    note = ""
    if not (np.isfinite(low) and np.isfinite(high)):
        note = "not estimable: a condition of one run has samples in only one query"
    uninformative = reaches_the_edge(estimate, low, high, 2.0)
    if uninformative:
        note = UNINFORMATIVE
    rng = np.random.default_rng(seed)
    keep = np.flatnonzero(present)
    shares = (share_a - share_b)[keep]
    flips = _sign_flips(n_queries, n_perm, rng)
    permuted = flips @ shares
    # the observed sign pattern is one of the permutations; a tolerance keeps float ties as ties
    extreme = np.sum(np.abs(permuted) >= abs(shares.sum()) - 1e-12)
    if n_queries <= EXACT_FLIPS_UP_TO:
        p_value, n_perm = extreme / flips.shape[0], flips.shape[0]
    else:
        p_value = (extreme + 1) / (n_perm + 1)
    return DiffInDiff(estimate, gap_a, gap_b, se, low, high, float(p_value), n_queries, 0,
                      n_perm, note, uninformative=uninformative)
