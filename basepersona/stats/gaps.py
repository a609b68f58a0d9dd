"""The compliance (or AF) gap, training minus unmonitored, paired by query."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
from scipy import stats

from .intervals import CONFIDENCE, binomial_se, normal_quantile
from .paired import UNINFORMATIVE, gap_bounds, inverted_p_value, reaches_the_edge
from .table import RunTable

MOVER_METHOD = "paired MOVER (query-clustered)"
SCALE = "probability points (difference of proportions; x100 = percentage points)"


class GapSums(NamedTuple):
    """Per-query successes and counts in the two conditions, aligned on one query list."""

    yt: np.ndarray  # successes, training
    nt: np.ndarray  # samples, training
    yu: np.ndarray  # successes, unmonitored
    nu: np.ndarray  # samples, unmonitored


def gap_sums(table: RunTable, outcome: str, training: str = "training", unmonitored: str = "unmonitored") -> GapSums:
    """Per-query successes and counts of ``outcome`` in the two conditions of a table (input of paired_gap);
    from records and labels in memory, ``basepersona.gap`` builds the table and the sums for you."""
    return GapSums(*table.query_sums(outcome, training), *table.query_sums(outcome, unmonitored))


def query_contributions(sums: GapSums) -> tuple[float, np.ndarray, np.ndarray]:
    """The gap and, per query, its additive share and its influence (share minus its expectation).

    gap = sum(yt)/Nt - sum(yu)/Nu = sum over queries of (yt_q/Nt - yu_q/Nu): the per-query shares.
    The influence (yt_q - pt nt_q)/Nt - (yu_q - pu nu_q)/Nu sums to zero and gives the cluster-robust
    variance of the gap with training and unmonitored samples of a query kept together (paired).
    """
    total_t, total_u = sums.nt.sum(), sums.nu.sum()
    pt, pu = sums.yt.sum() / total_t, sums.yu.sum() / total_u
    share = sums.yt / total_t - sums.yu / total_u
    influence = (sums.yt - pt * sums.nt) / total_t - (sums.yu - pu * sums.nu) / total_u
    return pt - pu, share, influence


def gap_influence(sums: GapSums, query_ids: list[str]) -> dict[str, float]:
    """Each query's influence on the gap (query_contributions), for the queries with samples: what two
    runs' gaps share through their common queries (stats/analysis.py pools frames with it)."""
    if sums.nt.sum() == 0 or sums.nu.sum() == 0:
        return {}  # no gap (a condition without samples): nothing to share
    present = (sums.nt > 0) | (sums.nu > 0)
    influence = query_contributions(sums)[2]
    return {query: float(value) for query, value, keep in zip(query_ids, influence, present) if keep}


def clustered_se(influence: np.ndarray, present: np.ndarray) -> float:
    clusters = int(present.sum())
    if clusters < 2:
        return float("nan")
    return float(np.sqrt(clusters / (clusters - 1) * np.sum(influence[present] ** 2)))


@dataclass
class Difference:
    """A difference of proportions with its interval and test, on the probability scale."""

    estimate: float
    se: float
    low: float
    high: float
    p_value: float
    test: str
    n_queries: int
    method: str
    training: float = float("nan")
    unmonitored: float = float("nan")
    exact: dict[str, float] = field(default_factory=dict)
    note: str = ""
    scale: str = SCALE
    uninformative: bool = False

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def _empty(reason: str, method: str) -> Difference:
    return Difference(np.nan, np.nan, np.nan, np.nan, np.nan, "none", 0, method, note=reason)


# Boschloo's test maximises over a nuisance parameter; scipy's cost grows steeply with the arm size
# (0.14 s at 100 per arm, about 4 s at 400 on a 2-core box), so beyond this it runs only when asked.
BOSCHLOO_MAX_PER_ARM = 100


def exact_independent_tests(sums: GapSums, boschloo: bool | None = None) -> dict[str, float]:
    """Exact tests for one sample per query: Fisher (and Boschloo) on the 2x2 table, exact McNemar on pairs.

    boschloo: None runs it up to BOSCHLOO_MAX_PER_ARM samples per condition, True always, False never.
    """
    kt, kn_t, ku, kn_u = sums.yt.sum(), sums.nt.sum(), sums.yu.sum(), sums.nu.sum()
    table = np.array([[kt, kn_t - kt], [ku, kn_u - ku]], dtype=np.int64)
    result = {"fisher_p": float(stats.fisher_exact(table).pvalue)}
    if boschloo is None:
        boschloo = max(kn_t, kn_u) <= BOSCHLOO_MAX_PER_ARM
    if boschloo:
        # boschloo_exact divides by zero on a table with an empty column; both rates equal there anyway
        result["boschloo_p"] = 1.0 if (table.sum(axis=0) == 0).any() else float(stats.boschloo_exact(table).pvalue)
    result["mcnemar_exact_p"] = mcnemar_exact(sums)
    return result


def mcnemar_exact(sums: GapSums) -> float:
    """Exact McNemar test on the queries with one sample in each condition (binomial test of discordant pairs)."""
    paired = (sums.nt == 1) & (sums.nu == 1)
    discordant_t = int(((sums.yt == 1) & (sums.yu == 0) & paired).sum())
    discordant_u = int(((sums.yt == 0) & (sums.yu == 1) & paired).sum())
    discordant = discordant_t + discordant_u
    return 1.0 if discordant == 0 else float(stats.binomtest(discordant_t, discordant).pvalue)


def binomial_gap_se(sums: GapSums) -> float:
    """The papers' error bar of a gap: independent binomial SEs of the two rates added in quadrature."""
    pt, pu = sums.yt.sum() / sums.nt.sum(), sums.yu.sum() / sums.nu.sum()
    return float(np.hypot(binomial_se(pt, sums.nt.sum()), binomial_se(pu, sums.nu.sum())))


def paired_gap(sums: GapSums, method: str = "auto", confidence: float = CONFIDENCE,
               boschloo: bool | None = None, denominator: str = "labelled samples") -> Difference:
    """Gap = rate(training) - rate(unmonitored) with a paired, query-clustered interval and its test.

    The interval is MOVER (stats/paired.py): it combines the two rates' own intervals (Wilson with one
    sample per query, query-clustered Wilson otherwise) with the correlation of the two rates over
    queries. It stays inside [-1, 1] and keeps a real width when a rare outcome never shows, where the
    paired t (Wald) interval it replaces collapsed to [0, 0] (coverage 0.70-0.85 at 3 % vs 1 %). The
    p-value inverts that interval, so the two never disagree about excluding 0; with one sample per
    query the exact McNemar, Fisher and Boschloo p-values are kept alongside in `exact`.
    method="binomial_se" gives the papers' independent-binomial error bar (normal interval, z test).
    denominator names what the counts count, for the note when a condition has none.
    """
    if sums.nt.sum() == 0 or sums.nu.sum() == 0:
        which = "training" if sums.nt.sum() == 0 else "unmonitored"
        return _empty(f"not estimable: no {denominator} in the {which} condition", method)
    estimate, _, influence = query_contributions(sums)
    pt, pu = sums.yt.sum() / sums.nt.sum(), sums.yu.sum() / sums.nu.sum()
    present = (sums.nt > 0) | (sums.nu > 0)
    n_queries = int(present.sum())
    independent = sums.nt.max() <= 1 and sums.nu.max() <= 1
    exact = exact_independent_tests(sums, boschloo) if independent else {}
    if method == "binomial_se":
        se = binomial_gap_se(sums)
        z = normal_quantile(confidence)
        p_value = float(2 * stats.norm.sf(abs(estimate) / se)) if se > 0 else float(estimate == 0)
        low, high = np.clip([estimate - z * se, estimate + z * se], -1, 1)
        return Difference(estimate, se, float(low), float(high), p_value, "z (independent binomial)",
                          n_queries, method, pt, pu, exact)
    method = MOVER_METHOD
    se = clustered_se(influence, present)
    if n_queries < 2:
        return Difference(estimate, se, np.nan, np.nan, np.nan, "none", n_queries, method, pt, pu, exact,
                          note="uninformative (too few queries): one query, and a paired interval needs two")

    def bounds_at(levels) -> tuple[np.ndarray, np.ndarray]:  # one copy of the table per confidence level
        levels = np.atleast_1d(levels)
        yt, nt, yu, nu = (np.broadcast_to(x, (levels.size, x.size)) for x in sums)
        _, low, high, _ = gap_bounds(yt, nt, yu, nu, levels)
        return low, high

    low, high = (float(x[0]) for x in bounds_at(confidence))
    if not (np.isfinite(low) and np.isfinite(high)):
        return Difference(estimate, se, np.nan, np.nan, np.nan, "none", n_queries, method, pt, pu, exact,
                          note="not estimable: a condition has samples in only one query")
    p_value = inverted_p_value(bounds_at, estimate)
    notes = []
    if not ((sums.nt > 0) & (sums.nu > 0)).any():
        notes.append("no query has samples in both conditions: the conditions are not paired")
    if pt == pu and pt in (0.0, 1.0):
        notes.append(f"all labels equal (every sample {'1' if pt else '0'} in both conditions): the interval "
                     "is as wide as the two rates' intervals allow")
    elif se == 0:
        notes.append("every query shifts by the same amount (no between-query spread); the interval comes "
                     "from the two rates' intervals")
    uninformative = reaches_the_edge(estimate, low, high, 1.0)
    if uninformative:
        notes.append(UNINFORMATIVE)
    return Difference(estimate, se, low, high, p_value, "interval inverted (paired MOVER)", n_queries, method,
                      pt, pu, exact, note="; ".join(notes), uninformative=uninformative)
