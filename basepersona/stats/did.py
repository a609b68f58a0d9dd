"""Base vs chat (or frame vs frame): difference of two gaps on the same queries, paired by query."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .gaps import SCALE, GapSums, clustered_se, query_contributions
from .intervals import CONFIDENCE

EXACT_FLIPS_UP_TO = 12  # enumerate all 2^G sign flips for this many queries or fewer


@dataclass
class DiffInDiff:
    estimate: float          # gap(first) - gap(second)
    gap_first: float
    gap_second: float
    se: float                # analytic query-clustered SE (for reference and power planning)
    low: float               # cluster-bootstrap percentile interval
    high: float
    p_value: float           # sign-flip permutation test over queries
    n_queries: int
    n_boot: int
    n_perm: int
    note: str = ""
    scale: str = SCALE

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def _bootstrap_gaps(sums: GapSums, weights: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return weights @ sums.yt / (weights @ sums.nt) - weights @ sums.yu / (weights @ sums.nu)


def _sign_flips(n_queries: int, n_perm: int, rng: np.random.Generator) -> np.ndarray:
    if n_queries <= EXACT_FLIPS_UP_TO:
        codes = np.arange(2 ** n_queries)[:, None] >> np.arange(n_queries) & 1
        return 1.0 - 2.0 * codes
    return 2.0 * rng.integers(0, 2, size=(n_perm, n_queries)) - 1.0


def difference_in_differences(first: GapSums, second: GapSums, *, n_boot: int = 2000, n_perm: int = 2000,
                              seed: int = 0, confidence: float = CONFIDENCE) -> DiffInDiff:
    """gap(first) - gap(second) where both sums are aligned on the same queries.

    Interval: cluster bootstrap, resampling queries (with all their samples in both conditions of both
    models together, which keeps the pairing). Test: sign-flip permutation of each query's additive
    share of the difference, valid when a query's share is symmetric about zero under the null.
    """
    sizes = [s.sum() for s in (first.nt, first.nu, second.nt, second.nu)]
    if min(sizes) == 0:
        return DiffInDiff(*[np.nan] * 6, np.nan, 0, 0, 0, note="a condition of one run has no labelled samples")
    gap_a, share_a, infl_a = query_contributions(first)
    gap_b, share_b, infl_b = query_contributions(second)
    estimate = gap_a - gap_b
    present = (first.nt + first.nu + second.nt + second.nu) > 0
    n_queries = int(present.sum())
    se = clustered_se(infl_a - infl_b, present)
    if n_queries < 2:
        return DiffInDiff(estimate, gap_a, gap_b, se, np.nan, np.nan, np.nan, n_queries, 0, 0,
                          note="one query only: no between-query variation to resample")
    rng = np.random.default_rng(seed)
    keep = np.flatnonzero(present)
    a = GapSums(*(x[keep] for x in first))
    b = GapSums(*(x[keep] for x in second))
    # bootstrap weights = how often each query is drawn; bincount of drawn indices beats rng.multinomial
    drawn = rng.integers(0, n_queries, (n_boot, n_queries)) + (np.arange(n_boot) * n_queries)[:, None]
    weights = np.bincount(drawn.ravel(), minlength=n_boot * n_queries).reshape(n_boot, n_queries).astype(float)
    boot = _bootstrap_gaps(a, weights) - _bootstrap_gaps(b, weights)
    # resampling G queries gives a variance (G-1)/G too small; widen the draws around the estimate to match
    boot = estimate + (boot[np.isfinite(boot)] - estimate) * np.sqrt(n_queries / (n_queries - 1))
    note = ""
    if boot.size < n_boot:
        note = f"{n_boot - boot.size} bootstrap draws lacked a condition and were dropped"
    tail = (1 - confidence) / 2
    low, high = np.quantile(boot, [tail, 1 - tail]) if boot.size else (np.nan, np.nan)
    shares = (share_a - share_b)[keep]
    flips = _sign_flips(n_queries, n_perm, rng)
    permuted = flips @ shares
    # the observed sign pattern is one of the permutations; a tolerance keeps float ties as ties
    extreme = np.sum(np.abs(permuted) >= abs(shares.sum()) - 1e-12)
    if n_queries <= EXACT_FLIPS_UP_TO:
        p_value, n_perm = extreme / flips.shape[0], flips.shape[0]
    else:
        p_value = (extreme + 1) / (n_perm + 1)
    return DiffInDiff(estimate, gap_a, gap_b, se, float(low), float(high), float(p_value), n_queries, n_boot,
                      n_perm, note)
